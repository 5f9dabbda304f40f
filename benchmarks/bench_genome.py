"""Genome-wide benchmark (issue 9 at 25 kb, issue 18 at 10 kb): simulated hg38 autosomes.

    python benchmarks/bench_genome.py                      # all 22 autosomes at 25 kb (~115,000 bins)
    python benchmarks/bench_genome.py --res 10000          # the same at 10 kb (~290,000 bins)
    python benchmarks/bench_genome.py --quick              # smoke test: two small chromosomes
    python benchmarks/bench_genome.py --steps report       # rewrite GENOME.md from saved records

Each resolution keeps its records in its own work folder (``benchmarks/_work/genome`` for
25 kb, ``genome_10kb`` for 10 kb); the report step writes GENOME.md with one section per
resolution that has records, each with its own targets (:data:`TARGETS`).

Steps (``--steps``, in order; each saves its record in ``<work>/genome.json`` so a later
call can resume or only re-report):

* ``simulate`` -- ``simulate_data.py --genome hg38`` under ``rusage.py`` (wall time, peak RSS).
* ``pipeline`` -- ``run_pipeline.sh --chrom all --force`` under ``rusage.py``; per-stage wall
  time parsed from the ``[pipeline] <stage>: done in N s`` lines, per-stage peak RSS from
  polling ``/proc`` (sum of the RSS of the pipeline's process tree, every ``--poll`` s),
  and the load average sampled during the run.
* ``accuracy`` -- compartment calls vs the planted ``truth.tsv``, per chromosome arm (hg38
  centromere midpoints), on bins called A/B in both.
* ``scaling`` -- ``compute_compartments.py`` and ``build_graph.py`` on one chromosome at a time
  for chromosomes of different sizes; time ∝ bins^k fitted by log-log least squares (start-up
  cost, measured with ``--help``, subtracted).
* ``report`` -- ``GENOME.md`` and the log-log plot ``genome_scaling.png`` beside it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

import benchlib  # noqa: E402  (puts scripts/ on sys.path)
from benchlib import BENCH, ROOT, loglog_fit, mb, num, secs  # noqa: E402

import common  # noqa: E402
from compare_embeddings import md_table  # noqa: E402
from compute_compartments import arm_regions  # noqa: E402
from common import load_centromeres  # noqa: E402

log = logging.getLogger("chromatin_gnn.bench_genome")

STEPS = ("simulate", "pipeline", "accuracy", "scaling", "report")
CELLS = benchlib.CELLS
#: Per resolution: (whole-pipeline wall s, peak RSS MB, issue). 25 kb: issue 9; 10 kb: issue 18.
TARGETS = {25000: (30 * 60, 12 * 1024, 9), 10000: (45 * 60, 16 * 1024, 18)}
#: Resolutions reported, in GENOME.md's order.
REPORTED = (10000, 25000)


def targets_for(res: int) -> tuple[int, int, int]:
    """(wall s, RSS MB, issue) of ``res``; a resolution without its own targets takes 10 kb's."""
    return TARGETS.get(res, TARGETS[10000])


def run_res(rec: dict) -> int:
    """Resolution of a record: its ``config.res``, else the ``--res`` of its simulation (25 kb)."""
    cfg = rec.get("config", {})
    if cfg.get("res"):
        return int(cfg["res"])
    sim = list(cfg.get("sim_args", []))
    return int(sim[sim.index("--res") + 1]) if "--res" in sim else 25000


def kb(res: int) -> str:
    return f"{res / 1000:g} kb"
TARGET_AGREEMENT = 0.95
#: Arms with fewer scored bins are listed but not held to the target.
MIN_ARM_BINS = 40
FULL_SIM = ("--genome", "hg38")
QUICK_SIM = ("--chrom", "chr21", "chr22", "--pericentromere-bp", "16000000", "--depth", "4000000",
             "--n-b2a", "30", "--n-a2b", "20")
STAGE_RE = re.compile(r"\[pipeline\] (\w+): (running|done in (\d+) s)")


# ----------------------------------------------------------------------------
# process-tree polling
# ----------------------------------------------------------------------------
def _proc_table(cpu: bool = False) -> dict[int, tuple]:
    """``pid -> (ppid, rss_bytes)`` of every readable process; with ``cpu`` also the CPU
    seconds of the process and of its waited-for children (utime + stime + cutime + cstime)."""
    page = os.sysconf("SC_PAGE_SIZE")
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        out[int(d)] = ((int(fields[1]), int(fields[21]) * page, sum(map(int, fields[11:15])) / tick) if cpu
                       else (int(fields[1]), int(fields[21]) * page))
    return out


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by ``root``'s process tree: every live process's own time plus
    that of the children it has waited for (which are no longer in the tree), so no process
    is counted twice."""
    table = _proc_table(cpu=True)
    children: dict[int, list[int]] = {}
    for pid, v in table.items():
        children.setdefault(v[0], []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += table.get(pid, (0, 0, 0.0))[2]
        todo.extend(children.get(pid, []))
    return total


def tree_rss(root: int) -> int:
    """Summed RSS (bytes) of ``root`` and all its descendants."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += table.get(pid, (0, 0))[1]
        todo.extend(children.get(pid, []))
    return total


def run_pipeline(cmd: Sequence[Any], *, log_file: Path, rec_file: Path, poll: float = 1.0) -> dict:
    """Run the pipeline under ``rusage.py``; stage times, per-stage peak RSS and load averages.

    Returns the rusage record plus ``stages`` (name -> ``wall_s``, ``peak_rss_mb``) and
    ``load_avg`` (samples of the 1-minute load average).
    """
    stages: dict[str, dict] = {}
    state = {"stage": None, "cpu0": 0.0}
    loads: list[float] = []
    with open(log_file, "w") as fh:
        proc = subprocess.Popen(benchlib.rusage_argv(cmd, rec_file), cwd=ROOT, stdout=fh, stderr=subprocess.PIPE, text=True,
                                env=benchlib.child_env())

        def poller() -> None:
            last_load = 0.0
            while proc.poll() is None:
                cur = state["stage"]
                if cur is not None:
                    rss = tree_rss(proc.pid) / 2**20
                    s = stages[cur]
                    s["peak_rss_mb"] = max(s.get("peak_rss_mb", 0.0), rss)
                if time.monotonic() - last_load >= 15:
                    loads.append(os.getloadavg()[0])
                    last_load = time.monotonic()
                time.sleep(poll)

        th = threading.Thread(target=poller, daemon=True)
        th.start()
        for line in proc.stderr:
            fh.write(line)
            fh.flush()
            m = STAGE_RE.search(line)
            if m:
                log.info("pipeline: %s", line.strip().removeprefix("[pipeline] "))
                name = m.group(1)
                stages.setdefault(name, {})
                cpu = tree_cpu(proc.pid)
                if m.group(3) is None:
                    state["stage"], state["cpu0"] = name, cpu
                else:
                    stages[name]["wall_s"] = float(m.group(3))
                    stages[name]["cpu_s"] = cpu - state["cpu0"]  # the stage's processes, all waited for
                    state["stage"] = None
                common.write_json(rec_file.with_suffix(".partial.json"),
                                  {"stages": stages, "load_avg": loads})
        proc.wait()
        th.join()
    rec = json.loads(rec_file.read_text())
    if rec["rc"] != 0:
        raise benchlib.failure("pipeline", rec["rc"], log_file)
    return {**rec, "stages": stages, "load_avg": loads}


# ----------------------------------------------------------------------------
# accuracy per arm
# ----------------------------------------------------------------------------
def arm_labels(bins: pd.DataFrame, centromeres: dict[str, tuple[int, int]]) -> np.ndarray:
    """Arm name (``chr1p``/``chr1q``, or the chromosome) per bin, as compute_compartments splits."""
    out = np.empty(len(bins), dtype=object)
    for chrom, idx in bins.groupby("chrom", sort=False).indices.items():
        for name, lo, hi in arm_regions(chrom, bins["start"].to_numpy()[idx],
                                        centromere=centromeres.get(chrom)):
            out[idx[lo:hi]] = name
    return out


def arm_agreement(calls: pd.DataFrame, truth: pd.DataFrame, cell: str, *,
                  centromeres: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Per arm: bins scored (A/B in both the calls and the truth) and the fraction that agree."""
    t = truth[["chrom", "start", f"compartment_{cell}"]].rename(columns={f"compartment_{cell}": "truth"})
    m = calls[["chrom", "start", "compartment"]].merge(t, on=["chrom", "start"], how="inner")
    if len(m) != len(calls):
        raise common.DataError(f"compartment calls for {cell} do not match truth.tsv bins; "
                               "simulate and call at the same resolution")
    m["arm"] = arm_labels(m, centromeres)
    ok = m["compartment"].isin(["A", "B"]) & m["truth"].isin(["A", "B"])
    m = m[ok].assign(agree=lambda d: d["compartment"] == d["truth"])
    g = m.groupby("arm", sort=False)["agree"]
    return pd.DataFrame({"cell": cell, "bins": g.size(), "agreement": g.mean()}).reset_index()


def accuracy(raw: Path, results: Path, tag: str) -> dict:
    """Per-arm agreement of both cells' calls with ``truth.tsv``, and the summary."""
    truth = pd.read_csv(raw / "truth.tsv", sep="\t")
    cens = load_centromeres("hg38")
    arms = pd.concat([arm_agreement(pd.read_csv(results / c / f"compartments_{tag}.csv"), truth, c,
                                    centromeres=cens) for c in CELLS], ignore_index=True)
    held = arms[arms["bins"] >= MIN_ARM_BINS]
    pooled = {c: float((d["agreement"] * d["bins"]).sum() / d["bins"].sum())
              for c, d in arms.groupby("cell")}
    return {"arms": arms.to_dict("records"), "pooled": pooled,
            "min_arm": float(held["agreement"].min()), "n_arms_held": int(len(held)),
            "n_arms_below": int((held["agreement"] < TARGET_AGREEMENT).sum())}


# ----------------------------------------------------------------------------
# per-chromosome scaling
# ----------------------------------------------------------------------------
def scaling(raw: Path, chroms: Sequence[str], *, repeat: int = 3, res: int = 25000) -> dict:
    """Median in-process seconds per chromosome of the per-chromosome work of the two
    contact stages: ``hicio.read_cis`` (pixels + balancing), ``build_graph.cis_edges``
    (pipeline defaults: 5 Mb, ≥ 10 contacts) and ``compute_compartments.call_compartments``
    (per arm, CTCF orientation), on the first cell's cooler at ``res``."""
    import build_graph
    import compute_compartments as cc
    import hicio

    cell = CELLS[0]
    clr = hicio.open_cooler(str(raw / f"{cell}.mcool"), res=res)
    sizes = {c: int(n) for c, n in clr.chromsizes.items()}
    cens = cc.chrom_centromeres(sizes, list(chroms), assembly="auto")
    bins = hicio.bin_table(clr, list(chroms))
    track = hicio.read_tracks([raw / f"{cell}_{benchlib.MARKS[0]}.bw"], bins, allow_missing=True)[:, 0]
    offset = dict(zip(chroms, np.cumsum([0, *bins.groupby("chrom", sort=False).size()[list(chroms)]])))
    rows, load0 = [], os.getloadavg()
    for c in chroms:
        t_read, block = benchlib.time_call(lambda: hicio.read_cis(clr, c, allow_empty=True), repeat=repeat)
        t_edges, _ = benchlib.time_call(
            lambda: build_graph.cis_edges(block, max_dist=5_000_000, min_contacts=10), repeat=repeat)
        tr = track[offset[c]:offset[c] + block.n]
        regions = cc.arm_regions(c, block.start, centromere=cens[c])
        t_comp, _ = benchlib.time_call(lambda: cc.call_compartments(block, tr, regions=regions),
                                       repeat=repeat)
        rows += [{"function": f, "chrom": c, "seconds": t["s"], "min_s": t["min"], "max_s": t["max"],
                  "pixels": len(block.count)}
                 for f, t in (("read_cis", t_read), ("cis_edges", t_edges),
                              ("call_compartments", t_comp))]
        log.info("scaling: %s %d bins: read %.2f s, edges %.2f s, compartments %.2f s",
                 c, block.n, t_read["s"], t_edges["s"], t_comp["s"])
    return {"rows": rows, "repeat": repeat, "load_avg": [list(load0), list(os.getloadavg())]}


#: Which pipeline stage runs each script (for CPU samples taken from outside the run).
SCRIPT_STAGE = {"build_graph": "graph", "compute_compartments": "compartments", "compute_insulation": "insulation",
                "train_vgae": "train", "encode_graph": "encode", "call_subcompartments": "subcompartments",
                "visualize_embeddings": "visualize", "differential": "differential",
                "compare_embeddings": "compare", "make_report": "report"}


def cpu_from_samples(path: Path) -> dict[str, float]:
    """CPU seconds per stage from a side poller's JSONL samples (``done_s``: CPU of the pipeline
    shell's waited-for children; ``live_s``: its live tree; ``scripts``: the scripts running).

    Each rise of ``done_s`` (a finished process, exact) goes to the stage of the script seen
    running in the sample before it; the stage still running at the last sample adds its
    ``live_s``. Used for a run measured before :func:`run_pipeline` recorded CPU itself.
    """
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    rows = [r for r in rows if "done_s" in r]
    out: dict[str, float] = {}
    for a, b in zip(rows, rows[1:]):
        rise = b["done_s"] - a["done_s"]
        names = [SCRIPT_STAGE[n] for n in a.get("scripts", []) if n in SCRIPT_STAGE]
        if rise > 0 and names:
            out[names[0]] = out.get(names[0], 0.0) + rise
    if rows:
        names = [SCRIPT_STAGE[n] for n in rows[-1].get("scripts", []) if n in SCRIPT_STAGE]
        if names:
            out[names[0]] = out.get(names[0], 0.0) + rows[-1]["live_s"]
    return out


TQDM_RE = re.compile(r"(\d+)/(\d+) \[(?:(\d+):)?(\d+):(\d+)")


def chrom_times_from_log(path: Path, chroms: Sequence[str]) -> list[dict]:
    """Per-chromosome seconds from a stage log's tqdm bar (``k/N [mm:ss``; 1-s resolution).

    The pipeline's graph and compartments stages run each script once per cell, each with
    a bar over the chromosomes; the first chromosome of each run also carries one-off
    set-up and is flagged ``first``. Returns ``{run, chrom, seconds, first}`` rows.
    """
    rows, run, last = [], -1, {}
    for line in path.read_text(errors="replace").replace("\r", "\n").splitlines():
        m = TQDM_RE.search(line)
        if not m or int(m.group(2)) != len(chroms):
            continue
        k = int(m.group(1))
        t = int(m.group(3) or 0) * 3600 + int(m.group(4)) * 60 + int(m.group(5))
        if k == 0:
            run, last = run + 1, {0: 0}
        elif k - 1 in last and k not in last:
            last[k] = t
            rows.append({"run": run, "chrom": chroms[k - 1], "seconds": t - last[k - 1],
                         "first": k == 1})
    return rows


def scaling_fits(series: dict[str, pd.DataFrame]) -> dict[str, tuple[float, float]]:
    """``(k, log_a)`` of ``seconds = a · bins^k`` per series (:func:`benchlib.loglog_fit`)."""
    return {n: loglog_fit(d["bins"], d["seconds"]) for n, d in series.items()}


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------
def scaling_figure(series: dict[str, pd.DataFrame], fits: dict[str, tuple[float, float]], *, res: int = 25000):
    """Log-log plot of seconds vs bins per series (``bins``, ``seconds`` columns) and its fit."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for (name, d), marker in zip(series.items(), "os^vDx"):
        k, log_a = fits[name]
        pts = ax.loglog(d["bins"], d["seconds"], marker, ls="none", label=f"{name} (k = {k:.2f})")
        x = np.geomspace(d["bins"].min(), d["bins"].max(), 20)
        ax.loglog(x, np.exp(log_a) * x ** k, "-", color=pts[0].get_color(), lw=1)
    ax.set(xlabel=f"bins in the chromosome ({kb(res)})", ylabel="seconds per chromosome",
           title=f"Cost by chromosome size ({kb(res)})")
    ax.legend(fontsize=7)
    return fig


def scaling_series(rec: dict) -> dict[str, pd.DataFrame]:
    """``bins``/``seconds`` per series: the in-process per-chromosome timings and the
    per-chromosome times inside the genome run (first chromosome and 0-s entries dropped)."""
    out = {}
    if rec.get("scaling"):
        for name, d in pd.DataFrame(rec["scaling"]["rows"]).groupby("function", sort=False):
            out[name] = d
    for stage, rows in (rec.get("pipeline") or {}).get("per_chrom", {}).items():
        d = pd.DataFrame(rows)
        if len(d):
            d = d[~d["first"]].groupby(["chrom", "bins"], as_index=False)["seconds"].mean()
            out[f"{stage} stage, in genome run"] = d[d["seconds"] > 0]
    return {k: v for k, v in out.items() if len(v) >= 2}


def partial_pipeline(path: Path) -> dict:
    """A pipeline record from the progress file of a run that has not finished: finished
    stages' times plus the time since the current stage started (the file's last write)."""
    part = json.loads(path.read_text())
    done = sum(s.get("wall_s", 0) for s in part["stages"].values())
    running = time.time() - path.stat().st_mtime
    for s in part["stages"].values():
        if s.get("wall_s") is None:
            s["wall_s_so_far"] = running
    return {**part, "incomplete": True, "wall_s": done + running,
            "peak_rss_mb": max([s.get("peak_rss_mb", 0) for s in part["stages"].values()] or [0]) or None}


def _pass(ok: bool | None) -> str:
    return "n/a" if ok is None else "**pass**" if ok else "**FAIL**"


STAGE_HEADER = ["Stage", "Wall s", "Peak RSS MB"]
CPU_HEADER = [*STAGE_HEADER, "CPU s (user + sys)"]


def _cpu(rec: dict | None) -> float | None:
    return None if not rec or rec.get("user_s") is None else rec["user_s"] + rec.get("sys_s", 0.0)


def has_cpu(rec: dict) -> bool:
    """Whether the pipeline record holds per-stage CPU seconds (runs measured since they were added)."""
    return any("cpu_s" in s for s in ((rec.get("pipeline") or {}).get("stages") or {}).values())


def stage_rows(rec: dict) -> list[list]:
    """Stage, wall s, peak RSS MB (and CPU s where the record has it): the simulation, each
    pipeline stage, the whole pipeline."""
    sim, pipe = rec.get("simulate"), rec.get("pipeline")
    cpu = has_cpu(rec)
    extra = (lambda v: [secs(v)]) if cpu else (lambda v: [])
    rows = []
    if sim:
        rows.append(["simulate (separate run)", secs(sim["wall_s"]), mb(sim["peak_rss_mb"]), *extra(_cpu(sim))])
    if pipe:
        for name, s in pipe["stages"].items():
            wall = (secs(s["wall_s"]) if s.get("wall_s") is not None
                    else f">{secs(s['wall_s_so_far'])} (running)" if s.get("wall_s_so_far") is not None else "n/a")
            rows.append([name, wall, mb(s.get("peak_rss_mb")), *extra(s.get("cpu_s"))])
        rows.append(["**whole pipeline**" + (" (not finished)" if pipe.get("incomplete") else ""),
                     (">" if pipe.get("incomplete") else "") + secs(pipe["wall_s"]), mb(pipe["peak_rss_mb"]),
                     *extra(_cpu(pipe))])
    return rows


def target_rows(rec: dict) -> list[list]:
    """Target, measured, pass/FAIL for the issue's three targets (those of the record's resolution)."""
    sim, pipe, acc = rec.get("simulate"), rec.get("pipeline"), rec.get("accuracy")
    target_wall, target_rss, _ = targets_for(run_res(rec))
    wall_ok = (None if not pipe else pipe["wall_s"] <= target_wall if not pipe.get("incomplete")
               else False if pipe["wall_s"] > target_wall else None)
    rss = [x for x in [pipe and pipe["peak_rss_mb"], sim and sim["peak_rss_mb"],
                       *[s.get("peak_rss_mb") for s in (pipe or {}).get("stages", {}).values()]] if x]
    wall = "not run"
    if pipe:
        wall = secs(pipe["wall_s"]) + " s" + (f" ({secs(pipe['wall_s'] + sim['wall_s'])} s with the simulation "
                                              "before it)" if sim else "")
    unfinished = bool(pipe and pipe.get("incomplete"))
    if unfinished:
        wall = ">" + wall + ", not finished"
    rss_ok = None if not rss else False if max(rss) > target_rss else None if unfinished else True
    # an unfinished run shows a target missed, never one met
    trows = [[f"Whole pipeline ≤ {target_wall // 60} min", wall,
              "not shown (run unfinished)" if unfinished and wall_ok is None else _pass(wall_ok)],
             [f"Peak RSS ≤ {target_rss // 1024} GB (simulate and pipeline)",
              (f"{max(rss):.0f} MB" + (" so far (pipeline not finished)" if unfinished else ""))
              if rss else "not run",
              "not shown (run unfinished)" if unfinished and rss_ok is None else _pass(rss_ok)]]
    if acc:
        trows.append([f"Per-arm agreement with truth ≥ 95% (arms with ≥ {MIN_ARM_BINS} scored bins, both cells)",
                      f"min {acc['min_arm']:.3f}; {acc['n_arms_below']} of {acc['n_arms_held']} arms below; "
                      "pooled " + ", ".join(f"{c} {v:.3f}" for c, v in acc["pooled"].items()),
                      _pass(acc["n_arms_below"] == 0)])
    else:
        trows.append(["Per-arm agreement ≥ 95%", "not run", "n/a"])
    return trows


def cost_by_size(rec: dict, fits: dict[str, tuple[float, float]], *, genome_run: bool = True) -> list[str]:
    """Markdown lines: the per-chromosome cost tables and the fitted exponents (by bins and,
    for the in-process series, by pixels)."""
    sc, pipe = rec.get("scaling"), rec.get("pipeline")
    lines: list[str] = []
    if sc:
        df = pd.DataFrame(sc["rows"])
        wide = df.pivot_table(index=["chrom", "bins", "pixels"], columns="function",
                              values="seconds", sort=False).reset_index()
        funcs = list(wide.columns[3:])
        lines += ["Per-chromosome work, timed in one process (median of "
                  f"{sc['repeat']} calls; no start-up or file writing) on `{CELLS[0]}`: "
                  "`hicio.read_cis` (pixels + balancing, shared by both stages), "
                  "`build_graph.cis_edges` (5 Mb, ≥ 10 contacts) and "
                  "`compute_compartments.call_compartments` (per arm, CTCF-oriented). Load average "
                  "(1/5/15 min) at start {}, at end {}.".format(
                      *[[round(x, 2) for x in la] for la in sc["load_avg"]]), "",
                  md_table(["Chrom", "Bins", "Pixels", *[f"{f} s" for f in funcs]],
                           [[r[0], int(r[1]), int(r[2]), *r[3:]]
                            for r in wide.itertuples(index=False)]), ""]
    pc = (pipe or {}).get("per_chrom", {}) if genome_run else {}
    if pc:
        t = pd.concat([pd.DataFrame(r).assign(stage=st) for st, r in pc.items() if r])
        wide = t.pivot_table(index=["chrom", "bins"], columns="stage", values="seconds",
                             aggfunc="mean", sort=False).reset_index()
        lines += ["In the genome run: seconds per chromosome read from each stage's progress bar "
                  "(1-s resolution; mean of the two cells; the first chromosome of each run "
                  "also carries set-up and is left out of the fit, as are 0-s entries).", "",
                  md_table(["Chrom", "Bins", *[f"{c} s" for c in wide.columns[2:]]],
                           [list(r) for r in wide.itertuples(index=False)]), ""]
    lines += ["Fitted exponents, time ∝ bins^k (least squares of log s on log bins): "
              + "; ".join(f"{n} k = {k:.2f}" for n, (k, _) in fits.items()) + "."]
    if sc:
        df = pd.DataFrame(sc["rows"])
        per_chrom = df.drop_duplicates("chrom")
        k_pix, _ = loglog_fit(per_chrom["bins"], per_chrom["pixels"])
        per_pixel = {f: loglog_fit(d["pixels"], d["seconds"])[0]
                     for f, d in df.groupby("function", sort=False)}
        lines += ["", f"The pixels themselves grow as bins^{k_pix:.2f} (a longer chromosome has more "
                  "long-range contacts to store and read), so a stage that is linear in pixels "
                  "shows a bin exponent above 1. Against the pixel count, time ∝ pixels^k: "
                  + "; ".join(f"{f} k = {k:.2f}" for f, k in per_pixel.items()) + "."]
    return lines


def when(rec: dict) -> str:
    """'simulated <UTC>; pipeline started <UTC>' from the records (what is known)."""
    sim, pipe = rec.get("simulate") or {}, rec.get("pipeline") or {}
    out = []
    if sim.get("start"):
        t = dt.datetime.fromtimestamp(sim["start"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        out.append(f"simulation started {t}")
    if pipe.get("started_utc"):
        out.append(f"pipeline started {pipe['started_utc']}"
                   + (" (not finished when this was written)" if pipe.get("incomplete") else ""))
    return "; ".join(out) or "time not recorded"


def render_run(rec: dict, *, figure: Path) -> list[str]:
    """One resolution's section of GENOME.md from its saved records (missing steps are
    reported as such)."""
    cfg, mach = rec["config"], rec.get("machine", {})
    sim, pipe = rec.get("simulate"), rec.get("pipeline")
    acc, sc = rec.get("accuracy"), rec.get("scaling")
    res = run_res(rec)
    wall_t, rss_t, issue = targets_for(res)
    lines = [f"## {kb(res)}: issue {issue} targets (≤ {wall_t // 60} min, ≤ {rss_t // 1024} GB)", "",
             f"When: {when(rec)}.  ",
             f"Command: `{cfg['command']}`  ", f"Pipeline flags: `{' '.join(cfg['pipeline_args'])}`  ",
             f"Dataset: `simulate_data.py {' '.join(cfg['sim_args'])}` "
             f"({num(cfg.get('n_bins'), ',')} bins at {kb(res)}, {cfg.get('n_chroms', 'n/a')} chromosomes).",
             "", "### Machine", "",
             f"{mach.get('cores')} cores ({mach.get('cores_usable')} usable), {mach.get('ram_gib')} GiB RAM, "
             f"{mach.get('cpu')}; {mach.get('os')}; Python {mach.get('python')}; git {mach.get('git')}.  ",
             "The machine is shared with other engineers' jobs: a load average above the core count "
             "means times longer than an idle machine would give.  "]
    if pipe and pipe.get("load_avg"):
        la = pipe["load_avg"]
        lines.append(f"1-min load average during the pipeline run: mean {np.mean(la):.2f}, "
                     f"min {min(la):.2f}, max {max(la):.2f} ({len(la)} samples, every 15 s) on "
                     f"{mach.get('cores')} cores.")
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in rec.get("versions", {}).items()), ""]

    lines += ["### Stages", ""]
    rows = stage_rows(rec)
    if sim and sim.get("measured_with"):
        lines += [f"The simulate figure was measured with {sim['measured_with']}.", ""]
    lines += [md_table(CPU_HEADER if has_cpu(rec) else STAGE_HEADER, rows) if rows else "Not run.", "",
              "Stage wall times are the pipeline's own `[pipeline] <stage>: done in N s` lines; "
              "per-stage peak RSS is the summed RSS of the pipeline's process tree, polled every "
              f"{cfg['poll']} s (a peak shorter than that can be missed); the whole-pipeline peak is "
              "`getrusage(RUSAGE_CHILDREN).ru_maxrss` (the largest single process, exact).", ""]

    lines += ["### Targets", "", md_table(["Target", "Measured", "Result"], target_rows(rec)), ""]
    if cfg.get("note"):
        lines += [cfg["note"], ""]

    if acc:
        arms = pd.DataFrame(acc["arms"])
        wide = arms.pivot_table(index="arm", columns="cell", values=["bins", "agreement"], sort=False)
        arows = [[arm] + [int(wide.loc[arm, ("bins", c)]) if ("bins", c) in wide.columns else None
                          for c in CELLS] + [wide.loc[arm, ("agreement", c)] for c in CELLS]
                 for arm in wide.index]
        lines += ["### Compartment agreement per arm", "",
                  "Calls `results/<cell>/compartments_all.csv` vs `truth.tsv`, on bins that are A/B in "
                  "both; arms split at the hg38 centromere midpoint as `compute_compartments` does.", "",
                  md_table(["Arm"] + [f"bins {c}" for c in CELLS] + [f"agreement {c}" for c in CELLS],
                           arows), ""]

    series = scaling_series(rec)
    if series:
        fits = scaling_fits(series)
        common.save_figure(scaling_figure(series, fits, res=res), figure)
        lines += ["### Cost by chromosome size", "", *cost_by_size(rec, fits), "", f"![scaling]({figure.name})", ""]
    return lines


def figure_name(res: int, *, quick: bool = False) -> str:
    """``genome_scaling.png`` (25 kb, the first record), else ``genome_scaling_<res>kb.png``."""
    return ("genome_scaling" + ("" if res == 25000 else f"_{res // 1000}kb")
            + ("_quick" if quick else "") + ".png")


SECTION_RE = re.compile(r"^## (\d+(?:\.\d+)?) kb: ", re.M)
OLD_TITLE = "# Genome-wide benchmark (issue 9 targets)"


def carried_sections(text: str) -> dict[int, str]:
    """Each resolution's section of an existing GENOME.md (res -> Markdown), to carry over a
    run whose records are not on this machine. The one-run file written before ``--res``
    (title :data:`OLD_TITLE`) is the 25 kb section, its headings moved down one level."""
    if text.startswith(OLD_TITLE):
        body = text[len(OLD_TITLE):].strip("\n")
        body = re.sub(r"^## ", "### ", body, flags=re.M)
        t = TARGETS[25000]
        return {25000: f"## 25 kb: issue 9 targets (≤ {t[0] // 60} min, ≤ {t[1] // 1024} GB)\n\n{body}\n"}
    heads = list(SECTION_RE.finditer(text))
    out = {}
    for k, m in enumerate(heads):
        sec = text[m.start():heads[k + 1].start() if k + 1 < len(heads) else len(text)]
        head, _, rest = sec.partition("\n")
        rest = re.sub(r"\A\s*\*Carried over unchanged[^\n]*\n", "", rest)  # the note render adds
        out[int(round(float(m.group(1)) * 1000))] = f"{head}\n\n{rest.strip(chr(10))}\n"
    return out


def render(runs: dict[int, dict], *, out: Path, quick: bool = False,
           carried: dict[int, str] | None = None) -> str:
    """GENOME.md: one section per resolution with records (``runs``: res -> records), in
    :data:`REPORTED` order; figures beside ``out``. ``carried`` (res -> Markdown, from
    :func:`carried_sections`) fills in resolutions without records, marked as carried over."""
    carried = {r: t for r, t in (carried or {}).items() if r not in runs}
    order = [r for r in REPORTED if r in runs or r in carried] + sorted(
        r for r in {*runs, *carried} if r not in REPORTED)
    lines = ["# Genome-wide benchmark: simulated hg38 autosomes", "",
             "Each section is one resolution's run with its own targets (10 kb: issue 18; 25 kb: "
             "issue 9), saying what was run and when. `python benchmarks/bench_genome.py --res R` "
             "measures one (records under `benchmarks/_work/genome` for 25 kb, `genome_10kb` for 10 kb); "
             "`--steps report` rewrites this file from every resolution's saved records.", ""]
    for res in order:
        if res in runs:
            lines += render_run(runs[res], figure=out.with_name(figure_name(res, quick=quick)))
            continue
        head, _, rest = carried[res].partition("\n")
        lines += [head, "", f"*Carried over unchanged from the previous {out.name}: this run's records "
                  f"(`{work_dir(res).relative_to(ROOT)}`) are not on the machine that wrote this file.*",
                  rest.rstrip("\n"), ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------
def load_records(work: Path) -> dict:
    """The saved records of earlier steps in ``work``: ``genome.json`` (the combined record
    of older runs) overlaid by the per-key ``record_<key>.json`` files."""
    store = work / "genome.json"
    rec = json.loads(store.read_text()) if store.is_file() else {}
    for f in work.glob("record_*.json"):
        rec[f.stem.removeprefix("record_")] = json.loads(f.read_text())
    return rec


def md_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table after ``heading`` in ``text`` (cells stripped)."""
    at = text.find(heading)
    if at < 0:
        return []
    rows, started = [], False
    for line in text[at + len(heading):].splitlines():
        if line.startswith("|"):
            started = True
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif started:
            break
    return rows[2:]  # header and separator


def _run_section(sec: benchlib.Section, rec: dict, res: int, *, remeasured: bool) -> dict:
    """One resolution's part of section 6 from its records: what ran, load, stages, targets."""
    mach, cfg_g = rec.get("machine", {}), rec.get("config", {})
    wall_t, rss_t, issue = targets_for(res)
    sec.add(f"### {kb(res)} (issue {issue}: ≤ {wall_t // 60} min, ≤ {rss_t // 1024} GB)",
            f"`run_pipeline.sh {' '.join(cfg_g.get('pipeline_args', []))}` on "
            f"`simulate_data.py {' '.join(cfg_g.get('sim_args', []))}` ({num(cfg_g.get('n_bins'), ',')} bins, "
            f"{cfg_g.get('n_chroms', 'n/a')} chromosomes), measured by `python benchmarks/bench_genome.py"
            + ("" if res == 25000 else f" --res {res}") + f"` ({when(rec)}; git `{mach.get('git', 'n/a')}`); "
            + ("re-measured in this run." if remeasured else
               "reported from its saved records (`--with-genome` re-measures). Details, per-arm table and "
               "cost by chromosome size: [GENOME.md](GENOME.md)."))
    la = (rec["pipeline"].get("load_avg") or [])
    if la:
        sec.add(f"1-min load average during that run: mean {np.mean(la):.2f} (min {min(la):.2f}, max "
                f"{max(la):.2f}) on {mach.get('cores')} cores.")
    stages = stage_rows(rec)
    sec.table(CPU_HEADER if has_cpu(rec) else STAGE_HEADER, stages)
    targets = target_rows(rec)
    sec.table(["Target", "Measured", "Result"], targets)
    series = scaling_series(rec)
    if series:
        fits = scaling_fits(series)
        sec.add("**Cost by chromosome size** (the per-chromosome times inside the genome run are in "
                "GENOME.md).", *[ln for ln in cost_by_size(rec, fits, genome_run=False) if ln],
                f"![cost by chromosome size]({figure_name(res)})")
        sec.headline.append([f"Genome-wide {kb(res)}: scaling exponents by chromosome, time ∝ bins^k",
                             "; ".join(f"{n} {k:.2f}" for n, (k, _) in fits.items()), "see section 6"])
    sec.headline += [[f"Genome-wide {kb(res)}: {t[0]}", t[1], t[2]] for t in targets]
    return {"targets": targets, "stages": stages, "source": "records"}


def section(cfg: benchlib.Config, *, genome_md: Path | None = BENCH / "GENOME.md") -> benchlib.Section:
    """Section 6 of RESULTS.md: the targets and stage table of each resolution's genome-wide run
    (25 kb, issue 9; 10 kb, issue 18).

    A run takes half an hour or more, so ``benchmarks/run.py`` reports the records that
    ``bench_genome.py`` saved under ``benchmarks/_work/genome`` (25 kb) and ``genome_10kb``
    and re-measures the 25 kb run only with ``--with-genome``. A resolution without records on
    this machine is copied from its section of ``genome_md`` (GENOME.md: stages and targets
    tables, marked as copied); ``genome_md=None`` never copies. ``data``: ``targets`` and
    ``stages`` of the 25 kb run (as before) and ``runs``: ``{"25 kb": {...}, "10 kb": {...}}``
    with ``targets``, ``stages`` and ``source`` (``records`` or ``GENOME.md``).
    """
    sec = benchlib.Section("genome", "6. Genome-wide: simulated hg38 autosomes at 25 kb (issue 9) "
                                     "and 10 kb (issue 18)")
    if cfg.quick:
        sec.add("Skipped with `--quick`.")
        return sec
    if cfg.with_genome:
        log.info("genome: bench_genome.py (about half an hour)")
        subprocess.run([sys.executable, str(Path(__file__)), "--work", str(cfg.work / "genome"), "-q"],
                       check=True, env=benchlib.child_env())
    carried = (carried_sections(genome_md.read_text())
               if genome_md is not None and genome_md.is_file() else {})
    runs = {}
    for res in (25000, 10000):
        rec = load_records(cfg.work / work_dir(res).name)
        wall_t, rss_t, issue = targets_for(res)
        if rec.get("pipeline"):
            runs[kb(res)] = _run_section(sec, rec, res, remeasured=cfg.with_genome and res == 25000)
            continue
        text = carried.get(res, "")
        stages, targets = md_rows(text, "### Stages"), md_rows(text, "### Targets")
        if targets:
            when_line = next((ln.removeprefix("When: ").rstrip(" .") for ln in text.splitlines()
                              if ln.startswith("When: ")), None)
            sec.add(f"### {kb(res)} (issue {issue}: ≤ {wall_t // 60} min, ≤ {rss_t // 1024} GB)",
                    f"Copied from [GENOME.md](GENOME.md) ({when_line or 'see there for when it was run'}): "
                    "the run's records are not on this machine. `python benchmarks/bench_genome.py"
                    + ("" if res == 25000 else f" --res {res}") + "` re-measures it.")
            if stages:
                sec.table(CPU_HEADER if stages and len(stages[0]) == 4 else STAGE_HEADER, stages)
            sec.table(["Target", "Measured", "Result"], targets)
            sec.headline += [[f"Genome-wide {kb(res)}: {t[0]}", t[1], t[2]] for t in targets]
            runs[kb(res)] = {"targets": targets, "stages": stages, "source": "GENOME.md"}
            continue
        sec.add(f"### {kb(res)} (issue {issue}: ≤ {wall_t // 60} min, ≤ {rss_t // 1024} GB)",
                "Not measured on this machine yet: `python benchmarks/bench_genome.py"
                + ("" if res == 25000 else f" --res {res}") + "` fills this part"
                + (", or `python benchmarks/run.py --with-genome`." if res == 25000 else "."))
        sec.headline.append([f"Genome-wide pipeline (hg38 autosomes, {kb(res)})", "not measured",
                             "`python benchmarks/bench_genome.py" + ("" if res == 25000 else f" --res {res}")
                             + "`"])
    first = runs.get(kb(25000), {})
    sec.data = {"targets": first.get("targets", []), "stages": first.get("stages", []), "runs": runs}
    return sec


def work_dir(res: int, *, quick: bool = False) -> Path:
    """``benchmarks/_work/genome`` (25 kb, the first record) or ``genome_<res>kb``; ``_quick`` appended."""
    name = "genome" if res == 25000 else f"genome_{res // 1000}kb"
    return BENCH / "_work" / (name + ("_quick" if quick else ""))


def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="two small chromosomes (smoke test)")
    p.add_argument("--res", type=int, default=25000,
                   help="resolution (bp) of the simulation and the pipeline; each resolution keeps its "
                        "own work folder (benchmarks/_work/genome, genome_10kb, ...)")
    p.add_argument("--out", default=str(BENCH / "GENOME.md"), help="the Markdown report")
    p.add_argument("--work", default=None, help="work folder [benchmarks/_work/genome(_quick)]")
    p.add_argument("--raw", default=None, help="simulated data folder [<work>/raw]")
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS), help="steps to run")
    p.add_argument("--pipeline-args", default="",
                   help="extra run_pipeline.sh flags, e.g. \"--epochs 5 --n-perm 100\"")
    p.add_argument("--scaling-chroms", nargs="+", default=None,
                   help="chromosomes for the cost series [all simulated]")
    p.add_argument("--repeat", type=int, default=3, help="timed calls per chromosome (median)")
    p.add_argument("--poll", type=float, default=1.0, help="RSS polling interval (s)")
    p.add_argument("--note", default="", help="a paragraph added under the targets table")
    p.add_argument("--cpu-log", default=None,
                   help="report: per-stage CPU seconds from a side poller's JSONL samples (for a run "
                        "measured before the pipeline step recorded CPU; see cpu_from_samples)")
    return p


def _run(args: argparse.Namespace) -> None:
    work = Path(args.work or work_dir(args.res, quick=args.quick))
    work.mkdir(parents=True, exist_ok=True)
    raw = Path(args.raw) if args.raw else work / "raw"
    # one record file per key, so that concurrent steps never overwrite each other's results
    # (genome.json: the combined record of older runs, overlaid by the per-key files)
    rec = load_records(work)
    res_args = [] if args.res == 25000 else ["--res", str(args.res)]
    sim_args = list(QUICK_SIM if args.quick else FULL_SIM) + res_args
    pipe_args = ["--chrom", "all", *res_args, *args.pipeline_args.split()]
    rec["config"] = {**rec.get("config", {}), "res": args.res, "command": " ".join(["python", *(a if len(a) < 100 else "'…'" for a in sys.argv)]),
                     "sim_args": sim_args, "poll": args.poll, "raw": str(raw),
                     **({"pipeline_args": pipe_args} if "pipeline" in args.steps else {}),
                     **({"note": args.note} if args.note else {})}
    rec["config"].setdefault("pipeline_args", pipe_args)
    if args.pipeline_args and "pipeline" not in args.steps:  # the flags of a run still going
        rec["config"]["pipeline_args"] = pipe_args

    def save() -> None:
        for key, value in rec.items():
            common.write_json(work / f"record_{key}.json", value)

    if "simulate" in args.steps:
        log.info("simulate: %s", " ".join(sim_args))
        _, rec["simulate"] = benchlib.simulate(raw, sim_args, log_dir=work)
        save()
    if "pipeline" in args.steps:
        common.require_file(raw / "truth.tsv", "simulated truth table (run the simulate step)")
        rec["machine"], rec["versions"] = benchlib.machine_info(), benchlib.versions()
        cmd = ["bash", ROOT / "run_pipeline.sh", "--raw", raw, "--processed", work / "processed",
               "--results", work / "results", "--force", *pipe_args]
        started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        rec["pipeline"] = run_pipeline(cmd, log_file=work / "pipeline.log",
                                       rec_file=work / "pipeline.rusage.json", poll=args.poll)
        rec["pipeline"]["started_utc"] = started
        save()
    truth = pd.read_csv(raw / "truth.tsv", sep="\t", usecols=["chrom", "start"])
    rec["config"].update(n_bins=len(truth), n_chroms=int(truth["chrom"].nunique()))
    n_bins = truth.groupby("chrom", sort=False).size()
    logs = work / "results" / "logs"

    def add_per_chrom(pipe: dict | None) -> None:
        if pipe and (logs / "compartments.log").is_file():
            pipe["per_chrom"] = {
                st: [{**r, "bins": int(n_bins[r["chrom"]])}
                     for r in chrom_times_from_log(logs / f"{st}.log", list(n_bins.index))]
                for st in ("graph", "compartments")}

    add_per_chrom(rec.get("pipeline"))
    if "accuracy" in args.steps:
        rec["accuracy"] = accuracy(raw, work / "results", "all")
        save()
    if "scaling" in args.steps:
        chroms = args.scaling_chroms or list(n_bins.index)
        sc = scaling(raw, chroms, repeat=args.repeat, res=args.res)
        for r in sc["rows"]:
            r["bins"] = int(n_bins[r["chrom"]])
        rec["scaling"] = sc
        save()
    if "report" in args.steps:
        rec.setdefault("machine", benchlib.machine_info())
        rec.setdefault("versions", benchlib.versions())
        partial = work / "pipeline.rusage.partial.json"  # a run still going (or killed)
        view = ({**rec, "pipeline": partial_pipeline(partial)}
                if "pipeline" not in rec and partial.is_file() else rec)
        add_per_chrom(view.get("pipeline"))
        if args.cpu_log and view.get("pipeline") and not has_cpu(view):
            cpu = cpu_from_samples(Path(args.cpu_log))
            for name, st in view["pipeline"]["stages"].items():
                if name in cpu:
                    st["cpu_s"] = cpu[name]
            view["pipeline"]["cpu_from"] = "samples every 5 s of a side poller"
            if view is rec:
                save()
        out = Path(args.out)
        runs, inputs = {args.res: view}, sorted(work.glob("record_*.json"))
        if not args.quick and not args.work:  # the other resolutions' saved runs, beside this one
            for r in REPORTED:
                other = work_dir(r)
                if r != args.res and (other / "record_config.json").is_file():
                    runs[r] = load_records(other)
                    inputs += sorted(other.glob("record_*.json"))
        carried = carried_sections(out.read_text()) if out.is_file() else {}
        text = render(runs, out=out, quick=args.quick, carried=carried)
        with common.atomic_output(out) as tmp:
            tmp.write_text(text)
        common.write_provenance(out, common.provenance(args, inputs=inputs))
        log.info("wrote %s", out)
    save()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
