"""Outputs the next stage can trust: a stage killed mid-write leaves its previous output intact,
and JSON outputs are strict (no NaN)."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT, run_script, toy_graph

# Runs encode_graph with np.save slowed down: it writes half the array, says so,
# then waits to be killed -- a deterministic "mid-write" moment.
SLOW_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, {scripts!r})
    def half_then_wait(fh, arr, *a, **k):
        fh.write(arr.tobytes()[: arr.nbytes // 2]); fh.flush()
        print("WRITING", flush=True)
        time.sleep(120)
    np.save = half_then_wait
    import encode_graph
    sys.exit(encode_graph.main(sys.argv[1:]))
""").format(scripts=str(ROOT / "scripts"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import common
    import train_vgae

    d = tmp_path_factory.mktemp("interrupt")
    common.save_pt(d / "g.pt", toy_graph(80))
    assert train_vgae.main(["--graph", str(d / "g.pt"), "--epochs", "2", "--outdir", str(d / "m"), "-q"]) == 0
    return d


@pytest.fixture
def encoded(trained, tmp_path):
    import encode_graph

    out = tmp_path / "out" / "emb.npy"
    args = [str(a) for a in ("--model", trained / "m" / "model.pt", "--graph", trained / "g.pt", "--out", out)]
    assert encode_graph.main([*args, "-q"]) == 0
    return out, args


def _kill_mid_write(args, sig) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, *args, "--bn", "refit"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "WRITING"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _temps(folder):
    return [p for p in folder.iterdir() if ".tmp-" in p.name]


def test_sigterm_mid_write_keeps_old_output_and_leaves_no_partial_file(encoded):
    out, args = encoded
    before = out.read_bytes()
    proc = _kill_mid_write(args, signal.SIGTERM)
    assert proc.returncode == 130, proc.stderr
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr
    assert out.read_bytes() == before
    assert _temps(out.parent) == []


def test_sigkill_leftover_is_never_read_and_is_swept_on_rerun(encoded):
    out, args = encoded
    before, inode = out.read_bytes(), out.stat().st_ino
    proc = _kill_mid_write(args, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert out.read_bytes() == before          # the real name still holds the complete old file
    assert np.load(out).shape[0] == 80
    assert len(_temps(out.parent)) == 1        # SIGKILL cannot clean up: the hidden temp remains...
    run_script("encode_graph", *args, "--bn", "refit", check=True)
    assert _temps(out.parent) == []            # ...until the stage runs again and replaces cleanly
    assert out.stat().st_ino != inode          # replaced by a new, complete file


def test_json_outputs_are_strict(tmp_path):
    """NaN/inf never reach a JSON output as the non-standard ``NaN``/``Infinity``: Python floats,
    NumPy scalars (float64 is a float subclass, so json's default hook never sees it) and arrays."""
    import json

    import common

    path = common.write_json(tmp_path / "m.json", {"a": np.float64("nan"), "b": float("inf"),
                                                   "c": [np.nan, 1.5], "d": np.array([2.0, np.inf]),
                                                   "e": np.float32(0.5)})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": None, "c": [None, 1.5], "d": [2.0, None], "e": 0.5}
