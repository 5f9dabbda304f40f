"""The benchmark suite: a quick run of one cheap section, and its helpers.

No timing is asserted anywhere: only that the suite runs and writes its tables.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, assert_clean_error

sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_scaling  # noqa: E402
import bench_stages  # noqa: E402
import rusage  # noqa: E402

RUN = ROOT / "benchmarks" / "run.py"


def run_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUN), *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_quick_naive_section_writes_tables(tmp_path):
    out = tmp_path / "res" / "RESULTS.md"
    proc = run_bench("--quick", "--only", "naive", "--out", out, "--work", tmp_path / "work", "-q")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith("# Benchmarks")
    assert "| What | Value | Baseline / note |" in text  # headline table
    assert "## 2. Against naive approaches" in text
    assert "| Task | Size | Ours | Naive / other | Ratio |" in text
    for task in ("bigWig mean per bin", "Pixels + balancing", "Per-bin cosine/L2/L1", "Compartments"):
        assert f"| {task}" in text
    assert "Packages: python" in text and "cores" in text
    prov = json.loads(Path(f"{out}.provenance.json").read_text())
    assert prov["parameters"]["only"] == ["naive"]
    assert "naive" in json.loads((tmp_path / "work" / "results.json").read_text())


def test_bad_flag_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = run_bench("--only", "naive", "--repeat", "0", "--out", out, "--work", tmp_path / "work")
    assert_clean_error(proc, "--repeat")
    assert not out.exists()


def test_rusage_records_the_childs_peak_memory(tmp_path):
    rec = rusage.run([sys.executable, "-c", "b = bytearray(120 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
    assert rec["rc"] == 0
    assert rec["peak_rss_mb"] >= 120
    assert rec["wall_s"] > 0


def test_pipeline_calls_are_labelled_and_aggregated():
    def call(script, *args, wall=1.0, rss=100.0):
        return bench_stages.label({"argv": ["python", f"scripts/{script}.py", *args], "wall_s": wall,
                                   "peak_rss_mb": rss})
    runs = [{"calls": [call("build_graph", "--mcool", "raw/GM12878.mcool", wall=w),
                       call("build_graph", "--mcool", "raw/IMR90.mcool", wall=2 * w, rss=300),
                       call("make_report", "--headline", wall=0.5)]} for w in (1.0, 3.0, 2.0)]
    cmds = bench_stages.per_command(runs)
    assert [c["command"] for c in cmds] == ["build_graph.py GM12878", "build_graph.py IMR90",
                                            "make_report.py --headline"]
    assert cmds[0]["wall_s"] == 2.0 and cmds[0]["n"] == 3
    stages = bench_stages.per_stage(runs)
    assert stages[0] == {"stage": "graph", "wall_s": 6.0, "peak_rss_mb": 300.0}
    assert stages[1]["stage"] == "report"


def test_pipeline_ratio_uses_the_floor_timed_beside_each_run():
    runs = [{"whole": {"wall_s": w, "user_s": u, "sys_s": 1.0}} for w, u in ((40.0, 29.0), (90.0, 31.0), (36.0, 39.0))]
    floors = [{"wall_s": f, "user_s": 2.5, "sys_s": 0.5} for f in (4.0, 6.0, 3.0)]  # run 2 ran under load
    r = bench_stages.ratio_to_floor(runs, floors)
    assert r["ratios"] == [10.0, 15.0, 12.0] and r["median"] == 12.0 and (r["min"], r["max"]) == (10.0, 15.0)
    assert r["cpu_ratios"] == [10.0, 32 / 3, 40 / 3] and r["cpu_median"] == 32 / 3


def test_umap_layout_overlap_is_one_for_the_same_neighbourhoods_only():
    import bench_umap
    import numpy as np

    rng = np.random.default_rng(0)
    xy = rng.normal(size=(200, 2))
    turned = xy @ np.array([[0.0, -1.0], [1.0, 0.0]]) * 3 + 5  # rotated, scaled, shifted: same neighbours
    assert bench_umap.knn_overlap(xy, turned) == 1.0
    assert bench_umap.knn_overlap(xy, rng.normal(size=(200, 2))) < 0.3


def test_sparse_e1_table_reads_the_childrens_records(tmp_path):
    import bench_sparse_e1 as b
    import numpy as np

    e1 = np.linspace(-1, 1, 50)
    for solver, (wall, cpu, sign) in zip(b.SOLVERS, ((2.0, 1.0, 1), (3.0, 1.5, 1), (8.0, 4.0, -1))):
        np.save(tmp_path / f"{solver}.npy", sign * e1 + (0.01 * np.arange(50) if sign > 0 else 0))
        (tmp_path / f"{solver}.json").write_text(json.dumps({"solve_s": wall}))
        (tmp_path / f"{solver}.log.rusage.json").write_text(json.dumps(
            {"wall_s": wall + 1, "user_s": cpu, "sys_s": 0.0, "peak_rss_mb": 100.0}))
    res = b.collect(tmp_path, chrom="chr1", res=10_000)
    a = res["solvers"]["ours-cooltools"]["agreement"]
    assert a["r"] < -0.99 and a["sign_agreement"] < 0.2  # a flipped E1 is reported, not hidden
    assert "4×" in b.table(res) and res["n_bins"] == 50


@pytest.mark.parametrize("k", [1.0, 2.0])
def test_fitted_exponent_of_a_power_law(k):
    x = [500, 1000, 2000, 5000]
    assert bench_scaling.slope(x, [3e-4 * v**k for v in x]) == pytest.approx(k)


def _genome_records(work: Path, *, wall_s: float, min_arm: float, incomplete: bool = False) -> None:
    stages = {"graph": {"wall_s": 30.0, "peak_rss_mb": 700.0}, "train": {"wall_s": wall_s - 30, "peak_rss_mb": 2300.0}}
    recs = {"config": {"pipeline_args": ["--chrom", "all"], "sim_args": ["--genome", "hg38"], "n_bins": 115009,
                       "n_chroms": 22},
            "machine": {"git": "abc1234", "cores": 2},
            "simulate": {"wall_s": 300.0, "peak_rss_mb": 2100.0},
            "pipeline": {"stages": stages, "wall_s": wall_s, "peak_rss_mb": 2300.0, "load_avg": [1.0, 2.0],
                         **({"incomplete": True} if incomplete else {})},
            "accuracy": {"min_arm": min_arm, "n_arms_below": int(min_arm < 0.95), "n_arms_held": 78,
                         "pooled": {"GM12878": 0.99, "IMR90": 0.99}}}
    work.mkdir(parents=True)
    for key, value in recs.items():
        (work / f"record_{key}.json").write_text(json.dumps(value))


@pytest.mark.parametrize("wall_s, min_arm, incomplete, want", [
    (1200.0, 0.99, False, ["**pass**", "**pass**", "**pass**"]),
    (2000.0, 0.99, False, ["**FAIL**", "**pass**", "**pass**"]),
    # unfinished: a limit already passed fails; nothing is claimed met
    (1900.0, 0.90, True, ["**FAIL**", "not shown (run unfinished)", "**FAIL**"]),
    (600.0, 0.99, True, ["not shown (run unfinished)", "not shown (run unfinished)", "**pass**"]),
])
def test_genome_section_reports_targets_from_saved_records(tmp_path, wall_s, min_arm, incomplete, want):
    """run.py's genome section reads bench_genome.py's records; the pass/FAIL logic of each target."""
    import bench_genome
    from benchlib import Config

    _genome_records(tmp_path / "genome", wall_s=wall_s, min_arm=min_arm, incomplete=incomplete)
    sec = bench_genome.section(Config(work=tmp_path))
    assert [row[2] for row in sec.data["targets"]] == want
    text = sec.markdown()
    assert "115,009 bins" in text and "| **whole pipeline**" in text and "2300" in text
    assert f"{wall_s + 300:.0f} s with the simulation" in text


def test_genome_section_without_records_says_how_to_measure(tmp_path):
    import bench_genome
    from benchlib import Config

    sec = bench_genome.section(Config(work=tmp_path), genome_md=None)
    assert "bench_genome.py" in sec.markdown() and sec.headline[0][1] == "not measured"


def test_genome_section_holds_each_resolution_with_its_own_targets(tmp_path):
    """10 kb records are held to issue 18's targets (45 min, 16 GB); a resolution without records
    is copied from GENOME.md's section for it, marked as copied."""
    import bench_genome
    from benchlib import Config

    _genome_records(tmp_path / "genome_10kb", wall_s=2000.0, min_arm=0.99)  # 33 min: fails 30, passes 45
    cfg = json.loads((tmp_path / "genome_10kb" / "record_config.json").read_text())
    (tmp_path / "genome_10kb" / "record_config.json").write_text(json.dumps({**cfg, "res": 10000}))
    md = tmp_path / "GENOME.md"
    md.write_text(bench_genome.OLD_TITLE + "\n\n## Stages\n\n| Stage | Wall s | Peak RSS MB |\n|---|---|---|\n"
                  "| graph | 20 | 654 |\n\n## Targets\n\n| Target | Measured | Result |\n|---|---|---|\n"
                  "| Whole pipeline ≤ 30 min | 378 s | **pass** |\n")
    sec = bench_genome.section(Config(work=tmp_path), genome_md=md)
    runs = sec.data["runs"]
    assert runs["25 kb"]["source"] == "GENOME.md" and runs["25 kb"]["targets"] == [
        ["Whole pipeline ≤ 30 min", "378 s", "**pass**"]]
    assert runs["10 kb"]["source"] == "records"
    assert [r[0] for r in runs["10 kb"]["targets"]][:2] == ["Whole pipeline ≤ 45 min",
                                                            "Peak RSS ≤ 16 GB (simulate and pipeline)"]
    assert [r[2] for r in runs["10 kb"]["targets"]] == ["**pass**", "**pass**", "**pass**"]
    assert "Copied from [GENOME.md]" in sec.markdown()


def test_genome_cpu_per_stage_from_side_samples(tmp_path):
    """A finished process's CPU (a rise of the shell's waited-for children) goes to the stage of the
    script seen running before it; the stage still running adds its live CPU; stage rows gain a CPU column."""
    import bench_genome

    rows = [{"t": 0, "done_s": 0.0, "live_s": 5.0, "scripts": ["build_graph"]},
            {"t": 5, "done_s": 10.0, "live_s": 1.0, "scripts": ["build_graph"]},
            {"t": 10, "done_s": 20.0, "live_s": 0.0, "scripts": ["compute_compartments"]},
            {"t": 15, "done_s": 20.0, "live_s": 7.0, "scripts": ["compute_compartments"]}]
    log = tmp_path / "cpu.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert bench_genome.cpu_from_samples(log) == {"graph": 20.0, "compartments": 7.0}
    rec = {"pipeline": {"stages": {"graph": {"wall_s": 30.0, "peak_rss_mb": 10.0, "cpu_s": 20.0}},
                        "wall_s": 30.0, "peak_rss_mb": 10.0, "user_s": 15.0, "sys_s": 5.0}}
    assert bench_genome.stage_rows(rec) == [["graph", "30", "10", "20"], ["**whole pipeline**", "30", "10", "20"]]
    assert bench_genome.tree_cpu(os.getpid()) > 0


def _ablation_table():
    import pandas as pd

    ds = dict(dataset="simulated, hard", seed=0, rule="q0.2-1Mb")
    rows = [dict(ds, what="E1", probe=0.90), dict(ds, what="AkX", probe=0.92),
            dict(ds, rule="count", what="AkX", probe=0.91), dict(ds, what="untrained jk", probe=0.88)]
    rows += [dict(ds, what="VGAE jk / structure", model_seed=ms, probe=p, matched_auc=0.6, cn_auc=0.55,
                  best_epoch=300) for ms, p in ((0, 0.93), (1, 0.91), (2, 0.95))]
    return pd.DataFrame(rows)


def test_ablation_verdict_reports_seed_zero_and_the_spread_over_model_seeds():
    import bench_ablation

    lines = bench_ablation.verdict(_ablation_table())
    row = next(line for line in lines if line.startswith("| simulated, hard"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "0.930"  # model seed 0, the pipeline's own run
    assert cells[3] == "0.920 (AkX, q0.2-1Mb)"  # best baseline over every graph
    assert cells[4] == "+0.010"
    assert cells[5] == "+0.010 ± 0.020 (2 of 3)"
    assert "2 of 3 runs at least the best baseline" in lines[-1]


def test_ablation_variants_are_scored_against_the_same_best_baseline():
    import pandas as pd

    import bench_ablation

    table = _ablation_table()
    variants = pd.DataFrame([dict(dataset="simulated, hard", seed=0, rule="q0.2-1Mb", what="variant layers=3",
                                  model_seed=ms, probe=0.90, matched_auc=0.5, cn_auc=0.55) for ms in (0, 1, 2)])
    lines = bench_ablation.variants_table(table, variants)
    default = next(line for line in lines if line.startswith("| default"))
    assert "+0.010 ± 0.020 | 2 of 3 | -0.010 | – | 3 of 3 |" in default
    assert "| layers=3 | -0.020 ± 0.000 | 0 of 3 | -0.020 | – | 0 of 3 |" in lines
