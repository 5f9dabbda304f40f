#!/usr/bin/env python
"""Calibration: how hard the simulated data are, beside every real map (issue 13).

One function, :func:`map_statistics`, computes six statistics from a cooler alone:

* ``pairs_seen``: share of usable bin pairs at most 5 Mb apart (off the first two
  diagonals) that hold at least one contact;
* ``weak_e1``: share of bins with ``|E1| < 25 %`` of the 95th percentile of ``|E1|``;
* ``ps_slope``: log-log slope of the balanced P(s) between 100 kb and 1 Mb;
* ``silhouette``: silhouette of the E1 values against their own sign;
* ``saddle``: the project's saddle strength (:func:`compute_compartments.saddle_strength`);
* ``contacts_per_kb``: cis contacts per kb of usable bins.

E1 comes from the project's :func:`compute_compartments.call_compartments` (whole
chromosome, oriented by coverage; every statistic above is sign-free). Rows: the
default (realistic) simulation over several seeds (mean ± sd), the easy and hard
presets, and each real map under ``../shared/data/real`` (skipped when absent).

    python benchmarks/bench_calibration.py                 # prints the table
    python benchmarks/bench_calibration.py --seeds 0 1 2 3 --out benchmarks/CALIBRATION.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from benchlib import BENCH, REAL, Config, Section, log, md_table, simulate  # first: sys.path

import common  # noqa: E402
import compute_compartments as cc  # noqa: E402
import hicio  # noqa: E402

#: statistic -> (column title, format, whether the real range is a target)
STATS = {"pairs_seen": ("pairs ≤ 5 Mb with ≥ 1 contact", ".3f", True),
         "weak_e1": ("bins with \\|E1\\| < 25 % of P95", ".3f", True),
         "ps_slope": ("P(s) slope 100 kb–1 Mb", ".2f", True),
         "silhouette": ("E1 silhouette vs its sign", ".2f", False),
         "saddle": ("saddle strength", ".2f", False),
         "contacts_per_kb": ("cis contacts per kb", ".1f", False)}
#: Real maps: (folder, file, resolution or None for a single-resolution .cool)
REAL_MAPS = (("02_GM12878_IMR90_chr2_8-48Mb_40kb_hg19_TADCompare", "GM12878_chr2_8-48Mb_40kb_raw.cool", None),
             ("02_GM12878_IMR90_chr2_8-48Mb_40kb_hg19_TADCompare", "IMR90_chr2_8-48Mb_40kb_raw.cool", None),
             ("03_IMR90_MSC_chr21_40kb_hg19_DIADEM", "IMR90_chr21_40kb_raw.cool", None),
             ("03_IMR90_MSC_chr21_40kb_hg19_DIADEM", "MSC_chr21_40kb_raw.cool", None),
             ("11_GM12878_IMR90_chr21_40kb_hg19_Rao2014", "GM12878.mcool", 40_000),
             ("11_GM12878_IMR90_chr21_40kb_hg19_Rao2014", "GM12878_rep2.mcool", 40_000),
             ("11_GM12878_IMR90_chr21_40kb_hg19_Rao2014", "IMR90.mcool", 40_000))
MAX_PAIR_BP = 5_000_000
SLOPE_BP = (100_000, 1_000_000)
SEEDS = (0, 1, 2)
SIM_RES = 25_000


def _silhouette(x: np.ndarray, label: np.ndarray) -> float:
    """Silhouette of 1-D values against two labels, exactly, in O(n log n) (sorted prefix sums)."""
    order = np.argsort(x)
    x, label = x[order], label[order]
    out = np.empty(x.size)
    dist = {}
    for lab in (False, True):  # mean |x - y| over the y of each label, for every x
        y = x[label == lab]
        c = np.r_[0.0, np.cumsum(y)]
        k = np.searchsorted(y, x, side="right")
        dist[lab] = (x * k - c[k] + (c[-1] - c[k]) - x * (y.size - k), y.size)
    for lab in (False, True):
        own = label == lab
        total, n_own = dist[lab]
        a = total[own] / max(n_own - 1, 1)
        b = dist[not lab][0][own] / max(dist[not lab][1], 1)
        out[own] = (b - a) / np.maximum(np.maximum(a, b), 1e-300)
    return float(out.mean())


def map_statistics(clr, *, chrom: str | None = None) -> dict[str, float]:
    """The six calibration statistics of one chromosome of a balanced cooler.

    ``clr`` is an open ``cooler.Cooler`` with a ``weight`` column (one resolution);
    ``chrom`` defaults to its longest chromosome.
    """
    chrom = chrom or max(clr.chromnames, key=lambda c: int(clr.chromsizes[c]))
    block = hicio.read_cis(clr, chrom)
    res = block.res
    table, qc = cc.call_compartments(block)
    e1 = table["E1"].to_numpy()
    ok = np.isfinite(e1)
    a = np.abs(e1[ok])
    usable = block.mask
    # pairs at 2 <= d <= 5 Mb between usable bins, and how many hold a contact
    d_max = MAX_PAIR_BP // res
    v = usable.astype(float)
    from scipy.signal import fftconvolve

    npairs = np.rint(fftconvolve(v, v[::-1])[block.n - 1:])[2:d_max + 1].sum()
    d = block.j - block.i
    seen = usable[block.i] & usable[block.j] & (d >= 2) & (d <= d_max) & (block.count > 0)
    # balanced P(s) slope between 100 kb and 1 Mb
    exp = hicio.expected_cis(block.i, block.j, block.value, usable)
    s = np.arange(exp.size)
    fit = (s * res >= SLOPE_BP[0]) & (s * res <= SLOPE_BP[1]) & np.isfinite(exp) & (exp > 0)
    slope = float(np.polyfit(np.log(s[fit]), np.log(exp[fit]), 1)[0])
    contacts = float(block.count[usable[block.i] & usable[block.j]].sum())
    return {"pairs_seen": float(seen.sum() / max(npairs, 1)),
            "weak_e1": float(np.mean(a < 0.25 * np.percentile(a, 95))),
            "ps_slope": slope,
            "silhouette": _silhouette(e1[ok], e1[ok] > 0),
            "saddle": cc.saddle_strength(qc["saddle_sums"], qc["saddle_counts"]),
            "contacts_per_kb": contacts / (usable.sum() * res / 1000),
            "res": res, "chrom": chrom, "n_usable": int(usable.sum())}


#: state-recovery baselines: key -> (column title, format)
STATE_STATS = {"ari_marks": ("k-means ARI, 6 marks alone", ".2f"),
               "ari_e1": ("k-means ARI, E1 alone", ".2f"),
               "ari_both": ("k-means ARI, marks + E1", ".2f"),
               "auc_a1_a2": ("E1 AUC A1 vs A2", ".2f"),
               "auc_b2_b3": ("E1 AUC B2 vs B3", ".2f"),
               "ab_sign": ("E1 sign = planted A/B (sign set by the truth)", ".3f")}


def state_baselines(sim: Path, *, cell: str = "GM12878") -> dict[str, float]:
    """How far simple baselines get on a simulated folder's five planted states (realistic model).

    k-means (5 clusters) on the standardised log marks, on E1 alone and on both;
    E1's AUC between the states it should not separate; E1 sign vs the planted A/B.
    """
    import json

    import cooler
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, roc_auc_score

    truth = pd.read_csv(sim / "truth.tsv", sep="\t")
    marks = json.loads((sim / "simulation.json").read_text())["summary"]["marks"]
    clr = cooler.Cooler(f"{sim / cell}.mcool::resolutions/{SIM_RES}")
    chrom = truth["chrom"].iat[0]
    e1 = cc.call_compartments(hicio.read_cis(clr, chrom))[0]["E1"].to_numpy()
    state = truth[f"subcompartment_{cell}"].to_numpy()[truth["chrom"] == chrom]
    score = truth[f"score_{cell}"].to_numpy()[truth["chrom"] == chrom]
    bins = truth.loc[truth["chrom"] == chrom, ["chrom", "start", "end"]]
    x = np.log1p(hicio.read_tracks([sim / f"{cell}_{m}.bw" for m in marks], bins))
    ok = np.isfinite(e1) & (state != "N") & np.isfinite(x).all(1)
    e1 = e1 * np.sign(np.corrcoef(e1[ok], score[ok])[0, 1])
    z = (x[ok] - x[ok].mean(0)) / x[ok].std(0)
    ez = (e1[ok] / e1[ok].std())[:, None]

    def ari(feats: np.ndarray) -> float:
        return float(adjusted_rand_score(state[ok], KMeans(5, n_init=10, random_state=0).fit_predict(feats)))

    def auc(a: str, b: str) -> float:
        sel = np.isin(state[ok], [a, b])
        return float(roc_auc_score(state[ok][sel] == a, e1[ok][sel]))

    return {"ari_marks": ari(z), "ari_e1": ari(ez), "ari_both": ari(np.c_[z, np.sqrt(z.shape[1]) * ez]),
            "auc_a1_a2": auc("A1", "A2"), "auc_b2_b3": auc("B2", "B3"),
            "ab_sign": float(np.mean((e1[ok] > 0) == np.isin(state[ok], ["A1", "A2"])))}


def real_rows(real: Path) -> list[tuple[str, dict]]:
    """``(label, statistics)`` for every real map present under ``real``."""
    rows = []
    for folder, name, res in REAL_MAPS:
        path = real / folder / name
        if not path.is_file():
            log.info("calibration: %s absent, skipped", path)
            continue
        clr = hicio.open_cooler(str(path), res=res)
        rows.append((f"{folder[:2]} {name.split('.')[0]} ({clr.binsize // 1000} kb)", map_statistics(clr)))
    return rows


def simulated(work: Path, difficulty: str, seed: int, extra: Sequence[str] = ()) -> dict:
    """Simulate one chr21 dataset (cached under ``work``) and return its first cell's statistics
    (with the state baselines under ``"states"`` for the five-state models)."""
    import cooler

    args = ["--difficulty", difficulty, "--seed", str(seed), "--zoom", "-q", *extra]
    out, _ = simulate(work / f"{difficulty}_s{seed}", args, log_dir=work)
    st = map_statistics(cooler.Cooler(f"{out}/GM12878.mcool::resolutions/{SIM_RES}"))
    if difficulty != "easy":
        st["states"] = state_baselines(out)
    return st


def _cell(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{np.mean(values):{fmt}} ± {np.std(values, ddof=1):{fmt}}"


def calibration_table(*, work: Path, real: Path, seeds: Sequence[int] = SEEDS,
                      sim_extra: Sequence[str] = ()) -> tuple[str, dict]:
    """Markdown table and raw numbers: simulated presets beside the real maps."""
    rows, data = [], {"sim": {}, "real": {}}
    for difficulty, these in (("realistic", seeds), ("easy", seeds[:1]), ("hard", seeds[:1])):
        stats = [simulated(work, difficulty, s, sim_extra) for s in these]
        data["sim"][difficulty] = stats
        label = f"simulated {difficulty} (25 kb, {len(these)} seed{'s' if len(these) > 1 else ''})"
        rows.append([label, *(_cell([st[k] for st in stats], f) for k, (_, f, _) in STATS.items())])
    reals = real_rows(real)
    for label, st in reals:
        data["real"][label] = st
        rows.append([f"real {label}", *(format(st[k], f) for k, (_, f, _) in STATS.items())])
    if reals:
        lo = {k: min(st[k] for _, st in reals) for k in STATS}
        hi = {k: max(st[k] for _, st in reals) for k in STATS}
        rows.append(["**real range**", *(f"{lo[k]:{f}} – {hi[k]:{f}}" for k, (_, f, _) in STATS.items())])
        inside = {}
        for k, (_, _, target) in STATS.items():
            if target:
                vals = [st[k] for st in data["sim"]["realistic"]]
                inside[k] = bool(all(lo[k] <= v <= hi[k] for v in vals))
        data["inside_real_range"] = inside
    text = md_table(["Map", *(t for t, _, _ in STATS.values())], rows)
    state_rows = [[f"simulated {d} ({len(sts)} seed{'s' if len(sts) > 1 else ''})",
                   *(_cell([st["states"][k] for st in sts], f) for k, (_, f) in STATE_STATS.items())]
                  for d, sts in data["sim"].items() if d != "easy"]
    text += ("\n\nThe five planted states (first cell) against simple baselines: neither the marks alone "
             "nor the contacts alone (E1) recover them, and E1 cannot split A1 from A2 or B2 from B3 "
             "(AUC 0.5 = chance):\n\n" + md_table(["Data", *(t for t, _ in STATE_STATS.values())], state_rows))
    if reals:
        text += "\n\nRealistic default inside the real range, every seed: " + ", ".join(
            f"{STATS[k][0]} **{'yes' if v else 'NO'}**" for k, v in data["inside_real_range"].items()) + "."
    return text, data


def section(cfg: Config) -> Section:
    """benchmarks/run.py section: the calibration table (also written to benchmarks/CALIBRATION.md)."""
    sec = Section("calibration", "Calibration: simulated data beside the real maps")
    seeds = SEEDS[:1] if cfg.quick else SEEDS
    extra = ["--length", "30000000", "--pericentromere-bp", "5000000"] if cfg.quick else []
    text, data = calibration_table(work=cfg.dir("calibration"), real=cfg.real, seeds=seeds,
                                   sim_extra=extra)
    sec.add(f"`{Path(__file__).name}`: six statistics of one chromosome computed from the cooler alone "
            "(`map_statistics`); simulated rows are the first cell at 25 kb, real rows at their own "
            "resolution. The first three columns are the calibration targets.", text)
    inside = data.get("inside_real_range", {})
    sec.headline.append(["Calibration: realistic default inside the real range (first three statistics)",
                         f"{sum(inside.values())} of {len(inside)}" if inside else "no real maps",
                         ", ".join(f"{k}: {'in' if v else 'OUT'}" for k, v in inside.items())])
    sec.data = data
    if not cfg.quick:
        write_markdown(BENCH / "CALIBRATION.md", text, command="python benchmarks/run.py --only calibration")
    return sec


def write_markdown(path: Path, text: str, *, command: str) -> None:
    head = ("# Calibration of the simulator\n\nGenerated by `" + command + "` (see "
            "`benchmarks/bench_calibration.py`). The simulated rows use the first cell at 25 kb; "
            "the real rows use each map at its own resolution. The first three statistics are "
            "targets: the realistic default must lie inside the real range for every seed. The targets "
            "sit mid-range of seven maps from three studies, not on one map. Contacts per kb are not a "
            "target: at 25 kb a pixel covers 0.39 x the area of a 40 kb pixel, so the same share of "
            "pairs seen takes more contacts per kb (the realistic depth is 150,000 per Mb; "
            "`--depth-per-mb rao-imr90` gives the 35,300 per Mb of the Rao IMR90 file).\n\n")
    with common.atomic_output(path) as tmp:
        tmp.write_text(head + text + "\n")
    common.write_provenance(path, common.provenance({"command": command}))


def main(argv: Sequence[str] | None = None) -> int:
    p = common.ArgumentParser(prog="bench_calibration.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="*", type=Path, default=[],
                   help="extra coolers or .mcool::resolutions/N URIs to add as rows")
    p.add_argument("--real", type=Path, default=REAL, help="real-data folder")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument("--work", type=Path, default=BENCH / "_work" / "calibration")
    p.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = p.parse_args(argv)

    def body(args: argparse.Namespace) -> None:
        common.ensure_writable_dir(args.work)
        text, _ = calibration_table(work=args.work, real=args.real, seeds=args.seeds)
        extra = [[str(d), *(format(st[k], f) for k, (_, f, _) in STATS.items())]
                 for d in args.data for st in [map_statistics(hicio.open_cooler(str(d)))]]
        if extra:
            text += "\n" + md_table(["Extra map", *(t for t, _, _ in STATS.values())], extra)
        print(text)
        if args.out:
            write_markdown(args.out, text, command="python benchmarks/bench_calibration.py "
                           + " ".join(argv if argv is not None else sys.argv[1:]))

    return common.run_cli(body, args)


if __name__ == "__main__":
    sys.exit(main())
