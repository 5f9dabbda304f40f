"""Shared fixtures. Data are generated here, never downloaded."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
REAL = ROOT.parent / "shared" / "data" / "real"

os.environ.setdefault("MPLBACKEND", "Agg")


def run_script(name: str, *args: str, cwd: Path | None = None, check: bool = False,
               timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``scripts/<name>.py`` in a subprocess, as a user would."""
    proc = subprocess.run([sys.executable, str(SCRIPTS / f"{name}.py"), *map(str, args)],
                          cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not REAL.is_dir():
        pytest.skip("../shared/data/real is absent")
    return REAL


#: Small but complete simulated dataset used across the test-suite:
#: a 12 Mb "chr21" at 25 kb (480 bins) with a 2 Mb unmappable block at its start.
SIM_SMALL_ARGS = ("--length", "12000000", "--pericentromere-bp", "2000000",
                  "--n-b2a", "25", "--n-a2b", "18", "--seed", "7")


@pytest.fixture(scope="session")
def sim_small(tmp_path_factory) -> Path:
    """Directory holding GM12878/IMR90 .mcool + 4 bigWigs + truth.tsv (small)."""
    import simulate_data

    out = tmp_path_factory.mktemp("sim_small")
    rc = simulate_data.main(["--out", str(out), "-q", *SIM_SMALL_ARGS])
    assert rc == 0, "simulate_data failed"
    return out


def assert_clean_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Bad input: non-zero exit, no traceback, exactly one ``error:`` line holding ``fragments``."""
    assert proc.returncode != 0, f"expected failure, got 0:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ": error: " in ln]
    assert len(errors) == 1, f"expected one error line:\n{proc.stderr}"
    for frag in fragments:
        assert frag in errors[0], f"{frag!r} not in {errors[0]!r}"
    return errors[0]
