"""run_pipeline.sh end to end on a small simulated dataset with fast settings."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, SIM_SMALL_ARGS, closed_port

pytestmark = pytest.mark.slow

FAST = ("--epochs", "40", "--patience", "10", "--n-perm", "200")


def pipeline(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    e = dict(os.environ, CHROMATIN_GNN_PYTHON=sys.executable, MPLBACKEND="Agg")
    e.update(env or {})
    return subprocess.run(["bash", str(ROOT / "run_pipeline.sh"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=e)


def dirs(base: Path, raw: Path | None = None) -> list[str]:
    return ["--raw", str(raw or base / "raw"), "--processed", str(base / "processed"),
            "--results", str(base / "results")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    # --jobs 2: the per-cell and independent steps run side by side, whatever the machine's cores
    proc = pipeline(*dirs(base), "--sim-args", " ".join(SIM_SMALL_ARGS), *FAST, "--jobs", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return base, proc


DOCUMENTED = [
    "raw/GM12878.mcool", "raw/IMR90.mcool", "raw/truth.tsv", "raw/GM12878_CTCF.bw",
    "processed/GM12878_chr21.pt", "processed/IMR90_chr21.pt",
    "results/GM12878/compartments_chr21.csv", "results/IMR90/compartments_chr21.csv",
    "results/GM12878/model.pt", "results/GM12878/emb.npy", "results/GM12878/emb.tsv",
    "results/GM12878/metrics.json", "results/GM12878/training_curve.png",
    "results/IMR90/emb.npy", "results/IMR90/emb.tsv",
    "results/figures/umap_GM12878_compartment.png", "results/figures/umap_GM12878_position.png",
    "results/figures/umap_IMR90_compartment.png", "results/figures/umap_IMR90_position.png",
    "results/figures/umap_joint.png", "results/figures/umap_silhouette.tsv",
    "results/figures/umap_silhouette.json",
    "results/figures/chr21_delta.png", "results/figures/chr21_delta.csv",
    "results/figures/chr21_summary.json", "results/figures/chr21_switches.bed",
    "results/figures/chr21_delta.bedGraph",
    "results/report.md",
]


def test_every_documented_output_exists(run):
    base, proc = run
    missing = [p for p in DOCUMENTED if not (base / p).is_file()]
    assert not missing, missing
    for stage in ("simulate", "graph", "compartments", "train", "encode", "visualize", "compare", "report"):
        assert (base / "results" / "logs" / f"{stage}.log").is_file(), stage
    assert "Results:" in proc.stdout and "report.md" in proc.stdout


def test_outputs_are_bin_aligned_and_report_has_numbers(run):
    base, _ = run
    comp = pd.read_csv(base / "results/GM12878/compartments_chr21.csv")
    emb = np.load(base / "results/IMR90/emb.npy")
    assert len(comp) == emb.shape[0] == 480
    metrics = json.loads((base / "results/GM12878/metrics.json").read_text())
    report = (base / "results/report.md").read_text()
    assert f"{metrics['test_auc']:.3f}" in report
    assert "umap_GM12878_compartment.png" in report


def test_rerun_skips_fresh_stages_and_only_reruns_one(run):
    base, _ = run
    again = pipeline(*dirs(base), *FAST)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "train: up to date, skipped" in again.stderr
    summary = base / "results/figures/chr21_summary.json"
    before = summary.stat().st_mtime_ns
    only = pipeline(*dirs(base), *FAST, "--only", "compare", "--min-run", "2")
    assert only.returncode == 0, only.stderr[-2000:]
    assert "compare: running" in only.stderr
    assert "train:" not in only.stderr and "graph:" not in only.stderr
    assert summary.stat().st_mtime_ns > before


def test_failed_stage_is_named_with_its_log(run, tmp_path):
    base, _ = run
    proc = pipeline(*dirs(tmp_path, raw=base / "raw"), "--only", "train")
    assert proc.returncode != 0
    assert "stage 'train' failed" in proc.stderr and "train.log" in proc.stderr


def test_real_data_without_bigwigs_offline_lists_urls(run, tmp_path):
    base, _ = run
    raw = tmp_path / "raw"
    raw.mkdir()
    for cell in ("GM12878", "IMR90"):
        shutil.copy(base / "raw" / f"{cell}.mcool", raw)
    url = f"http://127.0.0.1:{closed_port()}/files"
    proc = pipeline(*dirs(tmp_path, raw=raw), env={"CHROMATIN_GNN_ENCODE_URL": url})
    assert proc.returncode != 0
    assert "stage 'download' failed" in proc.stderr
    log = (tmp_path / "results/logs/download.log").read_text()
    assert f"{url}/ENCFF741BAQ/@@download/ENCFF741BAQ.bigWig" in log
    assert str(raw / "IMR90_H3K27me3.bw") in log
    assert not list(raw.glob("*.bw")), "a failed download left a bigWig behind"


def test_two_runs_in_parallel_do_not_interfere(run, tmp_path):
    base, _ = run
    args = ("--from", "graph", "--to", "encode", "--epochs", "5")
    procs = [subprocess.Popen(["bash", str(ROOT / "run_pipeline.sh"), *dirs(tmp_path / n, raw=base / "raw"), *args,
                               "--seed", str(seed)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, CHROMATIN_GNN_PYTHON=sys.executable, MPLBACKEND="Agg"))
             for n, seed in (("a", 1), ("b", 2))]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    ea = np.load(tmp_path / "a/results/GM12878/emb.npy")
    eb = np.load(tmp_path / "b/results/GM12878/emb.npy")
    assert ea.shape == eb.shape and not np.array_equal(ea, eb)
    for n, seed in (("a", 1), ("b", 2)):
        assert f"--seed {seed}" in (tmp_path / n / "results/logs/train.log").read_text()
        assert not (tmp_path / n / "results/logs/visualize.log").exists()   # --to encode
        assert not [p for p in (tmp_path / n).rglob("*") if ".tmp-" in p.name]


def test_one_step_at_a_time_gives_the_same_outputs(run, tmp_path):
    """--jobs 1 (serial) and the fixture's --jobs 2 (side by side) write byte-identical outputs."""
    import torch

    base, _ = run
    proc = pipeline(*dirs(tmp_path, raw=base / "raw"), *FAST, "--jobs", "1", "--from", "graph", "--to", "encode")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for f in ("results/GM12878/compartments_chr21.csv", "results/IMR90/compartments_chr21.csv",
              "results/IMR90/insulation_chr21.bedGraph", "results/GM12878/emb.npy", "results/IMR90/emb.npy"):
        assert (tmp_path / f).read_bytes() == (base / f).read_bytes(), f
    for cell in ("GM12878", "IMR90"):
        a, b = (torch.load(d / f"processed/{cell}_chr21.pt", weights_only=True) for d in (base, tmp_path))
        assert a.keys() == b.keys()
        for k, v in a.items():
            if k == "provenance":  # paths and times differ
                continue
            assert (torch.equal(v, b[k]) if torch.is_tensor(v) else v == b[k]), (cell, k)
    # serial: each stage's log holds cell 1's output before cell 2's, as in the side-by-side run
    for d in (base, tmp_path):
        log = (d / "results/logs/compartments.log").read_text()
        assert log.index("GM12878/compartments_chr21.csv") < log.index("IMR90/compartments_chr21.csv")


def test_failed_steps_side_by_side_each_name_their_log(run, tmp_path):
    """The three steps after encode run together: each failure is named, and nothing after them runs."""
    base, _ = run
    proc = pipeline(*dirs(tmp_path, raw=base / "raw"), *FAST, "--jobs", "2", "--from", "subcompartments")
    assert proc.returncode != 0
    for stage in ("subcompartments", "visualize", "differential"):
        assert f"stage '{stage}' failed" in proc.stderr and f"{stage}.log" in proc.stderr, stage
    assert "compare:" not in proc.stderr and "report:" not in proc.stderr
    assert not list((tmp_path / "results/logs").glob(".cell*")), "per-cell scratch logs left behind"


@pytest.mark.parametrize("flag,value,message", [
    ("--jobs", "0", "--jobs must be a positive integer, got '0'"),
    ("--threads", "two", "--threads must be a positive integer, got 'two'"),
])
def test_bad_parallelism_flags(flag, value, message, tmp_path):
    proc = pipeline(*dirs(tmp_path), flag, value)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr
