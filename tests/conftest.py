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
#: The easy model (the original simulator: binary A/B, CTCF + H3K27me3), so the suite's
#: expected numbers hold; tests of the realistic default simulate their own data.
SIM_SMALL_ARGS = ("--difficulty", "easy", "--length", "12000000", "--pericentromere-bp", "2000000",
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


# ----------------------------------------------------------------------------
# toy contact graph in the graph .pt format (model / train / encode tests)
# ----------------------------------------------------------------------------
def toy_graph(n: int = 120, *, n_masked: int = 12, feature_names=("CTCF", "H3K27me3"),
              seed: int = 0, max_dist: int = 30, block: int = 10, res: int = 25_000) -> dict:
    """A graph dict per docs/FORMATS.md: distance decay x A/B checkerboard, first bins masked.

    Compartments alternate every ``block`` bins (A first); H3K27me3 is high in B.
    Masked bins keep their edges here so that consumers must drop them.
    """
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    s = np.where((np.arange(n) // block) % 2 == 0, 1.0, -1.0)
    i, j = np.triu_indices(n, 1)
    near = (j - i) <= max_dist
    i, j = i[near], j[near]
    p = np.clip(0.9 * (j - i) ** -0.6 * (1 + 0.7 * s[i] * s[j]), 0, 1)
    hit = rng.random(p.size) < p
    i, j, w = i[hit], j[hit], np.log1p(p[hit] * rng.gamma(4, 0.25, hit.sum()))
    x = np.stack([rng.gamma(2.0, 1.0, n), 2 + 3 * (s < 0) + rng.normal(0, 0.5, n)], 1)
    x = np.concatenate([x, rng.normal(size=(n, max(0, len(feature_names) - 2)))], 1)[:, :len(feature_names)]
    mask = np.arange(n) >= n_masked
    x[~mask] = 0
    start = np.arange(n, dtype=np.int64) * res
    # build_graph's compartment target: E1..E3-like columns (E1 = the A/B sign), 0 / region -1 if masked
    target = np.stack([0.8 * s, 0.3 * np.cos(np.arange(n) / 7), 0.2 * rng.normal(size=n)], 1) * mask[:, None]
    return {"format": "chromatin-gnn/graph", "format_version": 1,
            "x": torch.tensor(x, dtype=torch.float32), "feature_names": list(feature_names),
            "edge_index": torch.tensor(np.r_[[np.r_[i, j]], [np.r_[j, i]]], dtype=torch.long),
            "edge_weight": torch.tensor(np.r_[w, w], dtype=torch.float32),
            "mask": torch.tensor(mask), "chroms": ["chr21"], "chrom_id": torch.zeros(n, dtype=torch.long),
            "start": torch.tensor(start), "end": torch.tensor(start + res), "resolution": res,
            "edge_transform": "log1p", "provenance": {},
            "compartment_target": torch.tensor(target, dtype=torch.float32),
            "compartment_region": torch.tensor(np.where(mask, 0, -1), dtype=torch.long)}


def call_main(main, *args: str) -> subprocess.CompletedProcess:
    """Run a step's ``main(argv)`` in this process (no interpreter start-up), capturing its output.

    Returns a ``CompletedProcess`` so :func:`assert_clean_error` applies unchanged.
    """
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            rc = main([*map(str, args)])
        except SystemExit as exc:  # argparse errors
            rc = exc.code
    return subprocess.CompletedProcess(["main", *map(str, args)], rc, out.getvalue(), err.getvalue())


def closed_port() -> int:
    """A local TCP port with nothing listening (for offline-download tests)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PickleBomb:
    """Unpickling this creates ``marker``: safe (``weights_only``) loading must refuse it."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))
