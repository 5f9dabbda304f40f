"""Section 1: wall time and peak RSS of every pipeline stage, and of the whole pipeline.

``run_pipeline.sh`` runs on the default data in fresh folders, ``repeat`` times. Its
``$PY`` is a shim (``CHROMATIN_GNN_PYTHON``) that runs each step under
``benchmarks/rusage.py``, so every step's command is a child of its own small
wrapper process and gets its own wall time and peak RSS, measured inside the real
pipeline; the pipeline itself runs under another wrapper for the total.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import Sequence

from benchlib import (BENCH, ROOT, Config, Section, finished_run1, log, mb, num, plural, run_measured,
                      secs, spread, summarise)

#: Script stem -> pipeline stage, in pipeline order.
STAGE_OF = {"simulate_data": "simulate", "download_data": "download", "build_graph": "graph",
            "compute_compartments": "compartments", "compute_insulation": "insulation",
            "train_vgae": "train", "encode_graph": "encode", "call_subcompartments": "subcompartments",
            "visualize_embeddings": "visualize", "differential": "differential",
            "compare_embeddings": "compare", "make_report": "report"}


#: What every torch step imports before any work (the start-up floor).
FLOOR = "import torch, torch_geometric"


def pipeline_args(cfg: Config) -> list[str]:
    """Flags for run_pipeline.sh: none on the default data; tiny data and few epochs with --quick."""
    if not cfg.quick:
        return []
    return ["--sim-args", " ".join(cfg.sim_args), "--epochs", "3", "--n-perm", "50"]


def write_shim(path: Path, log_file: Path) -> Path:
    """An executable 'python' that runs the real one under rusage.py, appending to ``log_file``."""
    py, wrapper = sys.executable, BENCH / "rusage.py"
    path.write_text(f'#!/bin/sh\nexec "{py}" "{wrapper}" --append "{log_file}" -- "{py}" "$@"\n')
    path.chmod(0o755)
    return path


def label(rec: dict) -> dict:
    """Add ``stage`` and a short ``command`` (script plus the cell or graph it works on)."""
    argv = rec["argv"]
    if len(argv) > 1 and argv[1] == "-c":  # the pipeline's own inline Python (e.g. reading a JSON)
        return dict(rec, stage="(pipeline)", command="python -c")
    name = Path(argv[1]).stem if len(argv) > 1 else Path(argv[0]).name
    detail = next((Path(argv[argv.index(f) + 1]).stem for f in ("--mcool", "--graph")
                   if f in argv[:-1]), "--headline" if "--headline" in argv else "")
    return dict(rec, stage=STAGE_OF.get(name, name), command=f"{name}.py {detail}".strip())


def pipeline_run(cfg: Config, run_dir: Path, extra: Sequence[str] = ()) -> dict:
    """One measured ``run_pipeline.sh`` (plus ``extra`` flags) in fresh folders under ``run_dir``."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    calls = run_dir / "calls.jsonl"
    shim = write_shim(run_dir / "python", calls)
    cmd = ["bash", ROOT / "run_pipeline.sh", "--raw", run_dir / "raw", "--processed",
           run_dir / "processed", "--results", run_dir / "results", *pipeline_args(cfg), *extra]
    whole = run_measured(cmd, log_file=run_dir / "pipeline.log", env={"CHROMATIN_GNN_PYTHON": str(shim)})
    (run_dir / "bench_args.json").write_text(json.dumps({"sim_args": cfg.sim_args,
                                                         "pipeline": pipeline_args(cfg)}))
    return {"whole": whole, "calls": [label(json.loads(x)) for x in calls.read_text().splitlines()]}


def default_run(cfg: Config) -> Path:
    """A finished pipeline run on the default data (``work/stages/run1``), made when absent."""
    if finished_run1(cfg) != {"sim_args": cfg.sim_args, "pipeline": pipeline_args(cfg)}:
        log.info("running the pipeline once on the default data (%s)", cfg.run1)
        pipeline_run(cfg, cfg.run1)
    return cfg.run1


def per_command(runs: list[dict]) -> list[dict]:
    """Each step command's :func:`summarise` over the runs, in pipeline order."""
    order = list(dict.fromkeys(c["command"] for r in runs for c in r["calls"]))
    stage = {c["command"]: c["stage"] for r in runs for c in r["calls"]}
    return [dict(summarise([c for r in runs for c in r["calls"] if c["command"] == cmd]),
                 command=cmd, stage=stage[cmd]) for cmd in order]


def per_stage(runs: list[dict]) -> list[dict]:
    """Per pipeline stage: median over runs of the summed wall time and of the largest peak RSS."""
    stages = list(dict.fromkeys(c["stage"] for r in runs for c in r["calls"]))
    out = []
    for s in stages:
        walls = [sum(c["wall_s"] for c in r["calls"] if c["stage"] == s) for r in runs]
        rss = [max(c["peak_rss_mb"] for c in r["calls"] if c["stage"] == s) for r in runs]
        out.append({"stage": s, "wall_s": statistics.median(walls), "peak_rss_mb": statistics.median(rss)})
    return out


def cpu_per_stage(runs: list[dict]) -> dict[str, float]:
    """Per pipeline stage: median over runs of its commands' summed CPU time (user + system),
    which a loaded machine inflates far less than wall time."""
    stages = list(dict.fromkeys(c["stage"] for r in runs for c in r["calls"]))
    return {s: statistics.median(sum(_cpu(c) for c in r["calls"] if c["stage"] == s) for r in runs)
            for s in stages}


def ratio_to_floor(runs: list[dict], floors: list[dict]) -> dict:
    """Each pipeline run's wall time over the floor timed just before it (median, min, max), and
    the same ratio in CPU time (user + system, the pipeline's children included), which a
    loaded machine inflates far less than wall time."""
    r = [run["whole"]["wall_s"] / f["wall_s"] for run, f in zip(runs, floors)]
    cpu = [_cpu(run["whole"]) / _cpu(f) for run, f in zip(runs, floors) if _cpu(f)]
    return {"median": statistics.median(r), "min": min(r), "max": max(r), "ratios": r,
            "cpu_median": statistics.median(cpu) if cpu else None, "cpu_ratios": cpu}


#: Floor timings before each pipeline run; the median one is used (one import can be slowed by a
#: cold page cache or a neighbour's burst).
FLOOR_REPEAT = 3


def timed_floor(cfg: Config) -> dict:
    """The start-up floor timed :data:`FLOOR_REPEAT` times; the record with the median wall time."""
    recs = [run_measured([sys.executable, "-c", FLOOR], log_file=cfg.dir("stages") / "floor.log")
            for _ in range(FLOOR_REPEAT)]
    return sorted(recs, key=lambda r: r["wall_s"])[len(recs) // 2]


def _cpu(rec: dict) -> float:
    return rec.get("user_s", 0.0) + rec.get("sys_s", 0.0)


def section(cfg: Config) -> Section:
    """Run the pipeline ``cfg.repeat`` times and tabulate its stages."""
    sec = Section("stages", "1. Pipeline stages on the default data")
    runs, floors, serial = [], [], []
    for k in range(cfg.repeat):
        log.info("stages: pipeline run %d of %d", k + 1, cfg.repeat)
        # the floor is timed right before each pipeline run, so the ratio sees the same load
        floors.append(timed_floor(cfg))
        runs.append(pipeline_run(cfg, cfg.work / "stages" / f"run{k + 1}"))
        # and one step at a time (--jobs 1): the fixed costs without the side-by-side steps
        serial.append(pipeline_run(cfg, cfg.work / "stages" / f"serial{k + 1}", ["--jobs", "1"]))
    floor = summarise(floors)
    whole = summarise([r["whole"] for r in runs])
    times_floor = ratio_to_floor(runs, floors)
    times_serial = ratio_to_floor(serial, floors)
    jobs = min(os.cpu_count() or 1, 4)
    cmds, stages, cpu = per_command(runs), per_stage(runs), cpu_per_stage(runs)
    total, total_cpu = whole["wall_s"], statistics.median(_cpu(r["whole"]) for r in runs)
    metrics = json.loads((cfg.run1 / "results" / "GM12878" / "metrics.json").read_text())
    data = " ".join(["bash run_pipeline.sh --raw R --processed P --results S", *pipeline_args(cfg)])
    n_bins = sum(1 for _ in open(cfg.run1 / "raw" / "truth.tsv")) - 1
    sec.add(f"`{data}` in fresh folders, {plural(len(runs), 'run')} (the simulate stage makes the "
            f"data: chr21 at 25 kb, {n_bins:,} bins, both cell lines). Each step runs as the only child of a "
            "`benchmarks/rusage.py` wrapper (the pipeline's `$PY`), so its peak RSS is its own "
            "(`getrusage(RUSAGE_CHILDREN).ru_maxrss`). Times are medians (min–max) over the runs; "
            f"training ran {metrics['epochs_run']} epochs (best epoch {metrics['best_epoch']}"
            f"{', stopped early' if metrics.get('stopped_early') else ''}).")
    sec.table(["Stage", "Command", "Wall s", "Peak RSS MB"],
              [[c["stage"], f"`{c['command']}`", spread(c), mb(c["peak_rss_mb"])] for c in cmds]
              + [["(start-up floor)", f"`python -c \"{FLOOR}\"`", spread(floor), mb(floor["peak_rss_mb"])]])
    sec.table(["Stage", "Wall s (sum of its commands)", "Share of pipeline", "CPU s (user + system)",
               "Peak RSS MB"],
              [[s["stage"], secs(s["wall_s"]), f"{s['wall_s'] / total:.0%}", secs(cpu[s["stage"]]),
                mb(s["peak_rss_mb"])] for s in stages]
              + [["**whole pipeline**", spread(whole), "100%", secs(total_cpu), mb(whole["peak_rss_mb"])]])
    slow = max(stages, key=lambda s: s["wall_s"])
    sec.add(f"The slowest stage is **{slow['stage']}** ({slow['wall_s'] / total:.0%} of the pipeline). "
            "The start-up floor row is a bare interpreter importing torch and torch_geometric: every "
            f"step that needs torch pays about {secs(floor['wall_s'])} s and {mb(floor['peak_rss_mb'])} MB before "
            "doing any work. It is timed just before each pipeline run (median of three), and the whole pipeline takes "
            f"**{times_floor['median']:.1f}× the start-up floor** (median of the runs' ratios; "
            f"{times_floor['min']:.1f}–{times_floor['max']:.1f}×; target ≤ 12×); in CPU time "
            f"(user + system) {num(times_floor['cpu_median'], '.1f')}×. The default runs up to {jobs} steps "
            "side by side (`--jobs`, this machine's cores), one thread each, so the stage rows above sum "
            "more wall time than the pipeline takes. Run one step at a time (`--jobs 1`, beside each "
            f"default run; same outputs) it takes **{times_serial['median']:.1f}×** the floor "
            f"({times_serial['min']:.1f}–{times_serial['max']:.1f}×; {secs(summarise([r['whole'] for r in serial])['wall_s'])} s).")
    n = f"median of {len(runs)}"
    sec.headline += [
        [f"Stage wall time, s ({n} pipeline runs)", ", ".join(f"{s['stage']} {secs(s['wall_s'])}"
                                                              for s in stages), ""],
        ["Stage peak RSS, MB", ", ".join(f"{s['stage']} {mb(s['peak_rss_mb'])}" for s in stages), ""],
        ["Whole pipeline (`run_pipeline.sh`, fresh folders)",
         f"{secs(total)} s, peak RSS {mb(whole['peak_rss_mb'])} MB", n],
        ["Whole pipeline ÷ start-up floor (`import torch, torch_geometric`, timed beside each run)",
         f"{times_floor['median']:.1f}× (CPU time: {num(times_floor['cpu_median'], '.1f')}×)",
         f"target ≤ 12×; floor {secs(floor['wall_s'])} s; one step at a time (`--jobs 1`) "
         f"{times_serial['median']:.1f}×"]]
    sec.data = {"runs": runs, "per_command": cmds, "per_stage": stages, "cpu_per_stage": cpu, "whole": whole,
                "floor": floor, "serial": serial, "times_serial": times_serial,
                "times_floor": times_floor}
    return sec
