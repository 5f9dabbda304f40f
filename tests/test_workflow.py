"""workflow/Snakefile: the fan-out over cells x chromosomes (dry runs), config errors,
and one real local run on the small simulated data with ``--cores 2``."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

SNAKEFILE = ROOT / "workflow" / "Snakefile"
MARKS = ("CTCF", "H3K27me3")


def snakemake(workdir: Path, config: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the workflow in ``workdir`` (its .snakemake/ goes there) with ``config`` as --configfile."""
    cfg = workdir / "test_config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--configfile", str(cfg),
                           "--directory", str(workdir), "--cores", "2", *args],
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ, MPLBACKEND="Agg"))


def dry_run(workdir: Path, config: dict) -> tuple[dict[str, int], list[str]]:
    """Job counts per rule and the shell commands of a ``-n -p`` run."""
    proc = snakemake(workdir, config, "-n", "-p")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    stats = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    return counts, re.findall(r"^Shell command: (.+)$", out, re.M)


def touch_inputs(raw: Path, cells) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    for c in cells:
        for name in (f"{c}.mcool", *(f"{c}_{m}.bw" for m in MARKS)):
            (raw / name).touch()


def test_dry_run_fans_out_over_cells_and_chromosomes(tmp_path):
    touch_inputs(tmp_path / "raw", ["GM12878", "IMR90"])
    (tmp_path / "other").mkdir()
    for f in ("k562.mcool", "k562_ctcf.bw", "K562_H3K27me3.bw"):
        (tmp_path / ("other" if f.islower() else "raw") / f).touch()
    config = {"raw": "raw", "reference_cell": "GM12878", "chroms": ["chr21", ["chr1", "chr2"]],
              "cells": {"GM12878": None, "IMR90": {},
                        "K562": {"mcool": "other/k562.mcool::resolutions/25000",
                                 "bigwigs": {"CTCF": "other/k562_ctcf.bw"}}}}
    counts, cmds = dry_run(tmp_path, config)
    # 3 cells x 2 chromosome tags; the model per tag; 2 other cells x 2 tags per comparison step
    assert counts == {"build_graph": 6, "compartments": 6, "train": 2, "encode": 4, "visualize": 4,
                      "compare": 4, "report": 4, "all": 1, "total": 31}
    graph = [c for c in cmds if "build_graph.py" in c]
    assert sum("--chrom chr1 chr2 " in c for c in graph) == 3
    assert any("--mcool other/k562.mcool::resolutions/25000 " in c and
               "--bigwigs other/k562_ctcf.bw raw/K562_H3K27me3.bw " in c and
               "--out data/processed/K562_chr1_chr2.pt" in c for c in graph)
    assert all("--feature-names CTCF H3K27me3" in c for c in graph)
    encode = [c for c in cmds if "encode_graph.py" in c]
    assert sum("--model results/chr1_chr2/GM12878/model.pt --graph data/processed/K562_chr1_chr2.pt" in c
               for c in encode) == 1
    assert any("--label1 GM12878 --label2 IMR90" in c and "--prefix results/chr21/figures/GM12878_vs_IMR90/chr21"
               in c for c in cmds)
    assert not any("--truth" in c for c in cmds)  # no truth.tsv in raw/
    assert not (tmp_path / "results").exists() and (tmp_path / ".snakemake").is_dir()


def test_dry_run_simulates_the_default_data(tmp_path):
    config = {"raw": "raw", "simulate": True, "sim_args": "--length 12000000", "epochs": 5}
    counts, cmds = dry_run(tmp_path, config)
    assert counts["simulate"] == 1 and counts["build_graph"] == 2 and counts["report"] == 1
    (sim,) = [c for c in cmds if "simulate_data.py" in c]
    assert "--out raw --cells GM12878 IMR90 --seed 0" in sim and "--length 12000000" in sim
    assert all("--truth raw/truth.tsv" in c for c in cmds if "compare_embeddings.py" in c)
    assert any("--epochs 5 " in c for c in cmds if "train_vgae.py" in c)


@pytest.mark.parametrize("override, fragment", [
    ({"reference_cell": "HeLa"}, "reference_cell 'HeLa' is not in cells"),
    ({"cells": ["A", "B", "C"], "reference_cell": "A", "simulate": True}, "simulate: true makes exactly two cells"),
    ({"chroms": ["chr1/2"]}, "chromosome tag 'chr1/2' is not a plain file name"),
    ({"chroms": ["chr1", "chr1"]}, "repeats the tag 'chr1'"),
    ({"chroms": []}, "chroms is empty"),
    ({"cells": ["GM12878", "my cells/IMR90"]}, "cell name 'my cells/IMR90' is not a plain file name"),
    ({"truth": "missing/truth.tsv"}, "truth 'missing/truth.tsv' not found"),
    ({"res": "25kb"}, "res must be a positive integer"),
    ({"cells": {"GM12878": {"bigwigs": {"H3K4me3": "x.bw"}}, "IMR90": None}}, "must map marks"),
])
def test_config_errors_are_one_clear_message(tmp_path, override, fragment):
    proc = snakemake(tmp_path, {"raw": "raw", **override}, "-n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    (line,) = [ln for ln in out.splitlines() if ln.startswith("config: ")]
    assert fragment in line and "Traceback" not in out, out
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()


@pytest.mark.slow
def test_runs_locally_on_simulated_data(tmp_path, sim_small):
    config = {"raw": str(sim_small), "processed": "processed", "results": "results", "chroms": ["chr21"],
              "epochs": 5, "patience": 5, "n_perm": 50, "args": {"visualize": "--no-joint"}}
    proc = snakemake(tmp_path, config)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    res, fig = tmp_path / "results", tmp_path / "results/chr21/figures/GM12878_vs_IMR90"
    expected = [tmp_path / "processed/GM12878_chr21.pt", tmp_path / "processed/IMR90_chr21.pt",
                *(res / f"chr21/{c}/compartments_chr21.csv" for c in ("GM12878", "IMR90")),
                *(res / f"chr21/GM12878/{f}" for f in ("model.pt", "emb.npy", "metrics.json", "training_curve.png")),
                res / "chr21/IMR90/emb.npy", fig / "umap_silhouette.json", fig / "umap_IMR90_compartment.png",
                fig / "chr21_summary.json", fig / "chr21_delta.png", res / "chr21/report_GM12878_vs_IMR90.md"]
    assert [p for p in expected if not p.is_file()] == []
    assert not (fig / "umap_joint.png").exists()  # args.visualize reached the script
    for rule in ("build_graph", "compartments", "encode", "visualize", "compare", "report"):
        assert (res / f"logs/{rule}/IMR90_chr21.log").is_file() and (res / f"benchmarks/{rule}/IMR90_chr21.tsv").is_file()
    assert (res / "logs/train/GM12878_chr21.log").is_file()
    assert json.loads((fig / "chr21_summary.json").read_text())["truth"]["filtered"]["planted"] > 0
    report = (res / "chr21/report_GM12878_vs_IMR90.md").read_text()
    assert "(GM12878, IMR90; chr21)" in report and "![Training curve](GM12878/training_curve.png)" in report
    again = snakemake(tmp_path, config, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    counts, _ = dry_run(tmp_path, {**config, "n_perm": 60})  # a changed setting re-runs only its jobs
    assert counts == {"compare": 1, "report": 1, "all": 1, "total": 3}
