"""Section 5: the first steps on real data; each item is skipped when its folder is absent.

* build_graph on the plotgardenerData cooler + bigWig pairs (GM12878 and IMR90,
  hg19 chr21:28.0-30.3 Mb at 10 kb). Their README: KR-normalised, capped values and
  no weight column, hence ``--no-balance``; the marks are CTCF and H3K27ac.
* compute_compartments on the TADCompare coolers (chr2:8-48 Mb at 40 kb, raw counts
  with a weight column) for both cell lines, and the cross-cell E1 correlation
  (their README: r = 0.78). No bigWig there, so E1's sign follows coverage.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchlib import CELLS, Config, Section, log, mb, measure, num, script, secs, spread  # first: sys.path

import common  # noqa: E402
from bench_naive import e1_agreement  # noqa: E402

PLOT = "01_GM12878_IMR90_chr21_28-30Mb_10kb_hg19_plotgardenerData"
TADC = "02_GM12878_IMR90_chr2_8-48Mb_40kb_hg19_TADCompare"
PLOT_MARKS = ("CTCF", "H3K27ac")


def feature_stats(g: dict) -> list[list]:
    """Per feature over usable bins: mean, SD, min, max, share of zeros."""
    x = g["x"].numpy()[g["mask"].numpy()]
    return [[name, num(c.mean(), ".3g"), num(c.std(), ".3g"), num(c.min(), ".3g"), num(c.max(), ".3g"),
             f"{(c == 0).mean():.1%}"] for name, c in zip(g["feature_names"], x.T)]


def graphs(d: Path, cfg: Config, sec: Section) -> None:
    """build_graph on both plotgardenerData cooler + bigWig pairs in ``d``."""
    out, rows, stats = cfg.dir("real"), [], []
    for cell in CELLS:
        log.info("real: build_graph %s", cell)
        pt = out / f"{cell}.pt"
        cmd = script("build_graph", "--mcool", d / f"{cell}_chr21_28.0-30.3Mb_10kb_KRcapped.cool",
                     "--chrom", "chr21", "--res", 10_000, "--no-balance",
                     "--bigwigs", *(d / f"{cell}_{m}_chr21_28.0-30.3Mb_hg19.bw" for m in PLOT_MARKS),
                     "--feature-names", *PLOT_MARKS, "--out", pt, "-q")
        m = measure(cmd, cfg=cfg, log_file=out / f"build_graph_{cell}.log")
        g = common.load_graph(pt)
        usable = int(g["mask"].sum())
        rows.append([cell, spread(m), mb(m["peak_rss_mb"]), f"{g['x'].shape[0]:,}", f"{usable:,}",
                     g["edge_index"].shape[1] // 2])
        stats += [[cell, *r] for r in feature_stats(g)]
        x = g["x"].numpy()[g["mask"].numpy()]
        sec.data[cell] = {"measure": m, "nodes": g["x"].shape[0], "usable": usable,
                          "edges": g["edge_index"].shape[1] // 2,
                          "r_features": float(np.corrcoef(x.T)[0, 1])}
    sec.add("`build_graph.py --chrom chr21 --res 10000 --no-balance --bigwigs <CTCF> <H3K27ac>`; the cooler "
            "spans all of chr21 but holds pixels only in the 2.3 Mb window, so the other bins are masked.")
    sec.table(["Cell", "Wall s", "Peak RSS MB", "Nodes", "Usable", "Edges"], rows)
    sec.add("Node features over usable bins:")
    sec.table(["Cell", "Feature", "Mean", "SD", "Min", "Max", "Zeros"], stats)
    g1 = sec.data[CELLS[0]]
    sec.headline.append(["Real data: build_graph (GM12878, 10 kb window)",
                         f"{secs(g1['measure']['wall_s'])} s; {g1['usable']} usable of {g1['nodes']:,} nodes, "
                         f"{g1['edges']:,} edges", ""])


def compartments(d: Path, cfg: Config, sec: Section) -> None:
    """compute_compartments on both TADCompare coolers in ``d``; their cross-cell E1 correlation."""
    out, rows, e1 = cfg.dir("real"), [], {}
    for cell in CELLS:
        log.info("real: compartments %s", cell)
        csv = out / f"{cell}_chr2_compartments.csv"
        cmd = script("compute_compartments", "--mcool", d / f"{cell}_chr2_8-48Mb_40kb_raw.cool",
                     "--chrom", "chr2", "--res", 40_000, "--out", csv, "-q")
        m = measure(cmd, cfg=cfg, log_file=out / f"compartments_{cell}.log")
        table = pd.read_csv(csv)
        e1[cell] = table["E1"].to_numpy(float)
        n = table["compartment"].value_counts()
        rows.append([cell, spread(m), mb(m["peak_rss_mb"]), n.get("A", 0), n.get("B", 0), n.get("N", 0)])
        sec.data[cell] = {"measure": m}
    agree = e1_agreement(*e1.values())
    # Without an orientation track each E1's sign is arbitrary: align them before comparing signs.
    agree["sign_agreement_aligned"] = max(agree["sign_agreement"], 1 - agree["sign_agreement"])
    sec.add("`compute_compartments.py --chrom chr2 --res 40000` (the file's own balancing weights, p arm; "
            "no orientation track). The cooler spans all of chr2, so bins outside 8–48 Mb are N.")
    sec.table(["Cell", "Wall s", "Peak RSS MB", "A", "B", "N"], rows)
    sec.add(f"Cross-cell E1 (GM12878 vs IMR90) over {agree['n']:,} bins called in both: |r| = "
            f"{abs(agree['r']):.3f} (the folder's README reports 0.78; signed r {agree['r']:.3f}, as each "
            "E1 is oriented by its own coverage), same A/B call in "
            f"{agree['sign_agreement_aligned']:.1%} of them once the two signs are aligned.")
    sec.headline.append([r"Real data: cross-cell E1 \|r\| (TADCompare chr2, 40 kb)", f"{abs(agree['r']):.3f}",
                         f"README: 0.78; same call in {agree['sign_agreement_aligned']:.1%} (signs aligned)"])
    sec.data["cross_cell"] = agree


def section(cfg: Config) -> Section:
    sec = Section("real", "5. Real data")
    if not cfg.real.is_dir():
        sec.add(f"Skipped: {cfg.real} is absent.")
        sec.headline.append(["Real data", "skipped (no real data)", ""])
        return sec
    items = ((PLOT, "build_graph on real Hi-C + ChIP-seq (plotgardenerData, chr21:28.0–30.3 Mb, 10 kb, hg19)",
              "Real data: build_graph", graphs),
             (TADC, "Compartments on real Hi-C (TADCompare, chr2:8–48 Mb, 40 kb, hg19)",
              "Real data: cross-cell E1", compartments))
    for folder, title, what, measure_item in items:
        sec.add(f"### {title}")
        if (cfg.real / folder).is_dir():
            measure_item(cfg.real / folder, cfg, sec)
        else:
            sec.add(f"Skipped: {cfg.real / folder} is absent.")
            sec.headline.append([what, "skipped (no real data)", ""])
    return sec
