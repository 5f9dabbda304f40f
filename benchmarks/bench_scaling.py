"""Section 4: time and peak memory of each stage against the number of bins and edges.

Two series of simulated data: one chromosome of growing size at 25 kb, and chr21 at
decreasing bin sizes. Both simulate contacts only up to ``MAX_DIST`` apart (simulating
every pair of a 20,000-bin chromosome takes an hour here, see RESULTS.md), which is
also below build_graph's 5 Mb edge limit, so pixels and edges grow linearly with bins.
Each stage is a child process under rusage.py (start-up and imports included); the
slowest stage at the largest size is re-run under cProfile.
"""
from __future__ import annotations

import json
import pstats
import shutil
from pathlib import Path

import numpy as np

from benchlib import ROOT, Config, Section, log, loglog_fit, mb, measure, script, secs  # first: puts scripts/ on sys.path

import common  # noqa: E402

MAX_DIST = 3_000_000
QUICK_MAX_DIST = 1_000_000
#: simulate_data's default contact density at 25 kb (480,000 per Mb), without its cap.
DEPTH_PER_BIN = 12_000
STAGES = ("simulate", "build_graph", "compartments", "train", "encode")
#: Fit exponents over the size series from this many bins up (smaller runs are start-up bound).
FIT_FROM_BINS = 2000
#: Epochs of the in-process epoch timing (bench_train.epoch_seconds; the median epoch is taken).
EPOCH_TIMING_EPOCHS = 8


def max_dist(cfg: Config) -> int:
    """Longest simulated contact; shorter for --quick's tiny chromosomes, so they keep non-contacts."""
    return QUICK_MAX_DIST if cfg.quick else MAX_DIST


def datasets(cfg: Config) -> list[dict]:
    """The simulated datasets: ``series``, ``name``, ``res`` and simulate_data flags."""
    common_args = ["--zoom", "--max-dist", str(max_dist(cfg)), "--n-b2a", "0", "--n-a2b", "0", "--n-sub-switch", "0",
                   "--seed", "0"]
    sizes = (200, 400) if cfg.quick else cfg.sizes
    resolutions = (100_000, 50_000) if cfg.quick else cfg.resolutions
    out = [{"series": "size", "name": f"{n} bins", "res": 25_000,
            "args": ["--length", str(n * 25_000), "--pericentromere-bp", "1000000",
                     "--depth", str(DEPTH_PER_BIN * n), *common_args]} for n in sizes]
    chr21 = list(cfg.sim_args[:4]) if cfg.quick else []  # quick: the small chr21
    out += [{"series": "resolution", "name": f"chr21 @ {r // 1000} kb", "res": r,
             "args": [*chr21, "--res", str(r), *common_args]} for r in resolutions]
    return out


def stage_commands(d: Path, res: int, work: Path, epochs: int) -> dict[str, list[str]]:
    """The measured command of each stage on the simulated folder ``d`` (GM12878)."""
    g, t = work / "graph.pt", work / "train"
    hic = ["--mcool", d / "GM12878.mcool", "--chrom", "chr21", "--res", res]
    return {
        "build_graph": script("build_graph", *hic, "--bigwigs", d / "GM12878_CTCF.bw",
                              d / "GM12878_H3K27me3.bw", "--out", g, "-q"),
        "compartments": script("compute_compartments", *hic, "--bigwig_orient", d / "GM12878_CTCF.bw",
                               "--out", work / "compartments.csv", "-q"),
        "train": script("train_vgae", "--graph", g, "--epochs", epochs, "--patience", epochs,
                        "--outdir", t, "--seed", 0, "-q"),
        "encode": script("encode_graph", "--model", t / "model.pt", "--graph", g, "--out", work / "emb.npy",
                         "-q"),
    }


def run_dataset(cfg: Config, ds: dict, base: Path) -> dict:
    """Simulate one dataset and measure every stage on it."""
    slug = ds["name"].replace(" @ ", "_").replace(" ", "_")
    d, work, logs = base / "data" / slug, base / "out" / slug, base / "logs" / slug
    for p in (work, logs):
        p.mkdir(parents=True, exist_ok=True)
    log.info("scaling: %s", ds["name"])
    sim = script("simulate_data", "--out", d, *ds["args"], "-q")
    rep = cfg.scaling_repeat
    res = {"simulate": measure(sim, cfg=cfg, log_file=logs / "simulate.log", repeat=rep,
                               before=lambda: shutil.rmtree(d, ignore_errors=True))}
    cmds = stage_commands(d, ds["res"], work, cfg.scaling_epochs)
    for stage, cmd in cmds.items():
        res[stage] = measure(cmd, cfg=cfg, log_file=logs / f"{stage}.log", repeat=rep)
    g = common.load_graph(work / "graph.pt")
    metrics = json.loads((work / "train" / "metrics.json").read_text())
    from bench_train import epoch_seconds

    import model as vgae

    epoch_wall, epoch_cpu = epoch_seconds(vgae.prepare_graph(g), epochs=EPOCH_TIMING_EPOCHS)
    sim_summary = json.loads((d / "simulation.json").read_text())["summary"]
    return dict(ds, stages=res, commands={"simulate": sim, **cmds}, bins=int(g["x"].shape[0]),
                usable=int(g["mask"].sum()), edges=int(g["edge_index"].shape[1] // 2),
                pixels=int(sim_summary["n_pixels"]["GM12878"]),
                s_per_epoch=metrics["train_seconds"] / metrics["epochs_run"], epoch_s=epoch_wall,
                epoch_cpu_s=epoch_cpu)


def slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of log y on log x (:func:`benchlib.loglog_fit`; NaN with fewer than two points)."""
    return loglog_fit(x, y)[0]


def fit_points(points: list[dict]) -> list[dict]:
    """The size-series points the exponents are fitted on: from :data:`FIT_FROM_BINS` bins up
    (all of the series when fewer than two are that large)."""
    size = [p for p in points if p["series"] == "size"]
    fit = [p for p in size if p["bins"] >= FIT_FROM_BINS]
    return fit if len(fit) >= 2 else size


def exponents(points: list[dict]) -> dict[str, dict[str, float]]:
    """Fitted exponents of wall time (vs bins and vs edges) and peak RSS (vs bins), per stage."""
    fit = fit_points(points)
    col = lambda key, st=None: [p[key] if st is None else p["stages"][st][key] for p in fit]  # noqa: E731
    return {st: {"time_vs_bins": slope(col("bins"), col("wall_s", st)),
                 "time_vs_edges": slope(col("edges"), col("wall_s", st)),
                 "rss_vs_bins": slope(col("bins"), col("peak_rss_mb", st)),
                 "fit_bins": [min(col("bins")), max(col("bins"))]} for st in STAGES}


def figure(points: list[dict], exps: dict):
    """Log-log wall time and peak RSS against bins; exponents in the legend."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    for k, st in enumerate(STAGES):
        colour = f"C{k}"
        for series, style in (("size", dict(marker="o", ls="-")),
                              ("resolution", dict(marker="s", ls=":", mfc="none"))):
            pts = sorted((p for p in points if p["series"] == series), key=lambda p: p["bins"])
            x = [p["bins"] for p in pts]
            e = exps[st]
            lab = (f"{st}: time ∝ bins^{e['time_vs_bins']:.2f} (edges^{e['time_vs_edges']:.2f})",
                   f"{st}: RSS ∝ bins^{e['rss_vs_bins']:.2f}") if series == "size" else (None, None)
            axes[0].plot(x, [p["stages"][st]["wall_s"] for p in pts], color=colour, label=lab[0], **style)
            axes[1].plot(x, [p["stages"][st]["peak_rss_mb"] for p in pts], color=colour, label=lab[1], **style)
    axes[0].set(xscale="log", yscale="log", xlabel="bins", ylabel="wall time (s)",
                title="Wall time per stage (o — size series at 25 kb; □ … chr21 at 100/50/25/10 kb)")
    axes[1].set(xscale="log", yscale="log", xlabel="bins", ylabel="peak RSS (MB)", title="Peak RSS per stage")
    for ax in axes:
        ax.legend(fontsize=7, frameon=False, loc="upper left")
        ax.grid(True, which="both", alpha=0.2)
        ax.title.set_fontsize(9)
    return fig


def profile(cmd: list[str], out: Path, *, top: int = 12) -> dict:
    """Re-run ``cmd`` (``python script ...``) under cProfile.

    Returns the top functions by self time (``self``), the project's own functions by
    cumulative time (``ours``), the profiled seconds (``total``), those inside the script's
    ``main`` (``main``) and ``where``: ``(function, seconds)`` of the project's functions
    below the entry points (those holding < 90% of ``main``), most expensive first.
    """
    import subprocess

    prof = out / "profile.out"
    with open(out / "profile.log", "w") as fh:
        subprocess.run([cmd[0], "-m", "cProfile", "-o", str(prof), *cmd[1:]], cwd=ROOT, stdout=fh,
                       stderr=subprocess.STDOUT, check=True)
    st = pstats.Stats(str(prof))
    items = st.stats.items()  # type: ignore[attr-defined]

    def name(key):
        file, line, fn = key
        short = file.split("site-packages/")[-1] if "site-packages/" in file else \
            str(Path(file).relative_to(ROOT)) if file.startswith(str(ROOT)) else file
        return f"`{short}:{line}({fn})`" if line else f"`{fn}`"

    ours = sorted((kv for kv in items if kv[0][0].startswith(str(ROOT / "scripts")) and kv[0][2] != "<module>"),
                  key=lambda kv: -kv[1][3])
    main = next((kv[1][3] for kv in ours if kv[0][2] == "main"), ours[0][1][3] if ours else 0.0)
    row = lambda kv: [name(kv[0]), kv[1][1], f"{kv[1][2]:.2f}", f"{kv[1][3]:.2f}"]  # noqa: E731
    return {"self": [row(kv) for kv in sorted(items, key=lambda kv: -kv[1][2])[:top]],
            "ours": [row(kv) for kv in ours[:top]], "total": float(st.total_tt),  # type: ignore[attr-defined]
            "main": float(main),
            "where": [(f"{Path(kv[0][0]).stem}.{kv[0][2]}", float(kv[1][3]))
                      for kv in ours if kv[1][3] < 0.9 * main][:6]}


def scaling_runs(cfg: Config) -> str:
    """How many runs stand behind each scaling figure, in words."""
    if cfg.scaling_repeat == 1:
        return ("one run per point (`--scaling-repeat 1`, the default, keeps the suite near 20 minutes; "
                "the exponents are fitted across sizes, which pools their noise; `--scaling-repeat 3` "
                "takes medians)")
    return (f"the median of {cfg.scaling_repeat} runs (`n`), or one run where a run takes more than "
            f"{cfg.budget_s / cfg.scaling_repeat:.0f} s")


def section(cfg: Config) -> Section:
    sec = Section("scaling", "4. Scaling with bins and edges")
    base = cfg.dir("scaling")
    points = [run_dataset(cfg, ds, base) for ds in datasets(cfg)]
    exps = exponents(points)
    fig_path = cfg.figure_dir / "scaling.png"
    common.save_figure(figure(points, exps), fig_path)
    sec.add(f"Simulated with `simulate_data.py ... --zoom --max-dist {max_dist(cfg)} --n-b2a 0 --n-a2b 0 --n-sub-switch 0` "
            f"(contacts up to {max_dist(cfg) / 1e6:g} Mb apart; size series: `--length bins×25 kb "
            f"--pericentromere-bp 1000000 --depth {DEPTH_PER_BIN:,}×bins`, i.e. simulate_data's default "
            "density; resolution series: chr21 with `--res R` at the default depth). Stages on GM12878: "
            f"build_graph (2 bigWigs), compute_compartments (CTCF orientation), train_vgae for a fixed "
            f"{cfg.scaling_epochs} epochs, encode_graph. Each figure is a child process (start-up and "
            f"imports included): {scaling_runs(cfg)}. `train s/epoch` is train_vgae's own "
            "`train_seconds` (link split, negatives and the epochs, without start-up or test metrics) "
            "divided by the epochs, which with a few epochs is mostly the setup; the epoch columns time "
            f"train_vgae's own epochs in process (`bench_train.epoch_seconds`: {EPOCH_TIMING_EPOCHS} epochs on the "
            "same graph, one thread, median of the intervals between epochs, wall and CPU) and the "
            "s/epoch exponent is fitted on the CPU one. "
            f"Exponents: log-log least squares over the size series from {FIT_FROM_BINS:,} bins up.",
            f"![scaling]({fig_path.name})")
    head = ["Series", "Dataset", "Bins (usable)", "Edges", "Pixels", *(f"{s} s" for s in STAGES),
            "train_seconds / epochs", "epoch s (median, wall)", "epoch CPU s (median)"]
    rows = [[p["series"], p["name"], f"{p['bins']:,} ({p['usable']:,})", p["edges"], p["pixels"],
             *[secs(m["wall_s"]) + (f" (n={m['n']})" if m["n"] > 1 else "")
               for m in (p["stages"][s] for s in STAGES)],
             secs(p["s_per_epoch"]), secs(p["epoch_s"]), secs(p["epoch_cpu_s"])] for p in points]
    sec.add("Wall time (median, s):")
    sec.table(head, rows)
    sec.add("Peak RSS (median, MB):")
    sec.table(["Series", "Dataset", "Bins"] + list(STAGES),
              [[p["series"], p["name"], p["bins"], *[mb(p["stages"][s]["peak_rss_mb"]) for s in STAGES]]
               for p in points])
    fit = fit_points(points)
    per_epoch = {"vs_bins": slope([p["bins"] for p in fit], [p["epoch_cpu_s"] for p in fit]),
                 "vs_edges": slope([p["edges"] for p in fit], [p["epoch_cpu_s"] for p in fit]),
                 "wall_vs_bins": slope([p["bins"] for p in fit], [p["epoch_s"] for p in fit]),
                 "train_seconds_vs_bins": slope([p["bins"] for p in fit], [p["s_per_epoch"] for p in fit])}
    sec.add("Fitted exponents (time ∝ bins^k). Whole-command times include the start-up floor, which "
            "flattens them; train's own seconds per epoch do not:")
    sec.table(["Stage", "Time vs bins", "Time vs edges", "Peak RSS vs bins"],
              [[s, f"{e['time_vs_bins']:.2f}", f"{e['time_vs_edges']:.2f}", f"{e['rss_vs_bins']:.2f}"]
               for s, e in exps.items()]
              + [["train, epoch CPU s (median epoch)", f"{per_epoch['vs_bins']:.2f}", f"{per_epoch['vs_edges']:.2f}", ""],
                 ["train, epoch wall s (median epoch)", f"{per_epoch['wall_vs_bins']:.2f}", "", ""],
                 ["train, train_seconds / epochs (setup included)", f"{per_epoch['train_seconds_vs_bins']:.2f}",
                  "", ""]])
    largest = max((p for p in points if p["series"] == "size"), key=lambda p: p["bins"])
    slow = max(STAGES, key=lambda s: largest["stages"][s]["wall_s"])
    log.info("scaling: profiling %s at %s", slow, largest["name"])
    prof = profile(largest["commands"][slow], cfg.dir("scaling", "profile"))
    where = ", ".join(f"`{fn}` {t:.1f} s ({t / prof['main']:.0%})" for fn, t in prof["where"])
    sec.add(f"### Profile: {slow} at {largest['name']} (the slowest stage at the largest size)",
            f"`python -m cProfile` of the same command: {prof['total']:.1f} s profiled, of which "
            f"{prof['total'] - prof['main']:.1f} s start-up and imports and {prof['main']:.1f} s in `main`. "
            f"Where that goes, by the project's functions below the entry points (cumulative, so nested "
            f"calls overlap): {where}.", "Top functions by self time:")
    sec.table(["Function", "Calls", "Self s", "Cumulative s"], prof["self"])
    sec.add("The project's own functions by cumulative time:")
    sec.table(["Function", "Calls", "Self s", "Cumulative s"], prof["ours"])
    sec.headline.append(["Scaling exponents, time ∝ bins^k (size series)",
                         ", ".join(f"{s} {e['time_vs_bins']:.2f}" for s, e in exps.items())
                         + f"; train s/epoch {per_epoch['vs_bins']:.2f} (median epoch, CPU; target ≤ 1.15)",
                         f"{largest['name']}: slowest stage {slow} "
                         f"{secs(largest['stages'][slow]['wall_s'])} s"])
    sec.data = {"points": points, "exponents": exps, "per_epoch_exponent": per_epoch,
                "profiled": dict(prof, stage=slow)}
    return sec
