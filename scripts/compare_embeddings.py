#!/usr/bin/env python
"""Step 6: per-bin distance between two cell lines' embeddings, and compartment switch calls.

Cosine distance, L2 and L1 between row ``i`` of the two embeddings (same bins,
same model). With the compartment calls of both cell lines (``--comp1/--comp2``;
when not given, a single ``compartments_*.csv`` beside each ``emb.npy`` is used)
it also tabulates distances by compartment (over bins usable in both cells) and
the A/B switch table, and calls switches: the compartments differ, in a run of
``--min-run`` bins and, with ``--diff`` (the per-bin table of ``differential.py``,
whose null is technical noise from pseudo-replicates), only where q(ΔE1) <= ``--fdr``
and among the switch candidates that table holds (its ``switch`` column, set by
``differential.py --switch-rule``); ``P_delta.csv`` then gains ``p_value``/``q_value``
(embedding Δ) and ``p_E1``/``q_E1``.
Whether B bins move more than A bins is tested against circular shifts of the
first cell's labels (``--n-perm``). With ``--truth`` it scores the switch calls.

Outputs (``--prefix P``): ``P_delta.csv``, ``P_delta.png``, ``P_delta.bedGraph``,
``P_switches.bed``, ``P_summary.json`` and the readable ``P_summary.md``, each
with a ``.provenance.json`` sidecar.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import common  # first: one line naming the fix when the environment is missing

import numpy as np
import pandas as pd

from common import fmt_num
from detection import precision_recall as detection_accuracy
from differential import (DEFAULT_FDR, DEFAULT_MIN_RUN, SWITCH_NAMES, call_bins, chrom_codes,  # noqa: F401
                          encode, run_ids,
                          run_lengths, switch_codes)
from visualize_embeddings import (COLOURS, check_same_bins, read_compartments, read_embedding,
                                  read_truth, truth_labels, validate_labels)

log = logging.getLogger("chromatin_gnn.compare")

STABLE_BELOW = 0.1   # the seed's "stable" cosine distance
SHIFTED_ABOVE = 0.5  # the seed's "high shift"
#: Circular shifts closer than this fraction of a chromosome to zero are not
#: drawn: a near-identity shift is not a draw from the null.
MIN_SHIFT_FRAC = 0.05
PAIRS = (("A", "A"), ("B", "B"), ("B", "A"), ("A", "B"))
SWITCH_COLOURS = {1: "#ff7f0e", 2: "#9467bd"}
_CODE = {"A": 0, "B": 1, "N": 2}


# ----------------------------------------------------------------------------
# distances
# ----------------------------------------------------------------------------
def bin_distances(e1: np.ndarray, e2: np.ndarray) -> pd.DataFrame:
    """Cosine distance, L2 and L1 between matching rows of two ``[N, d]`` arrays.

    A row whose vector is all zeros in either input has no direction: its
    cosine distance is NaN. Cosine distance is clipped to [0, 2] against rounding.
    """
    a = np.asarray(e1, dtype=np.float64)
    b = np.asarray(e2, dtype=np.float64)
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.clip(1.0 - np.einsum("ij,ij->i", a, b) / norm, 0.0, 2.0)  # rounding, as scipy
    cos[norm == 0] = np.nan
    diff = a - b
    return pd.DataFrame({"cosine": cos, "l2": np.linalg.norm(diff, axis=1),
                         "l1": np.abs(diff).sum(axis=1)})


def distance_summary(d: np.ndarray, comp1: np.ndarray | None = None, usable: np.ndarray | None = None) -> dict:
    """The seed's distance tables: mean, median, counts below/above thresholds, by compartment.

    Only bins ``usable`` in both cells count (default: every finite distance). An
    unmappable bin has no contacts and no marks in either cell, so its Δ is exactly 0;
    counting it as "stable" would say nothing about biology.
    """
    ok = np.isfinite(d) & (np.ones(len(d), bool) if usable is None else np.asarray(usable, bool))
    x = d[ok]
    out = {"n_bins": int(ok.sum()), "n_missing": int((~ok).sum()),
           "mean": float(x.mean()) if len(x) else None, "median": float(np.median(x)) if len(x) else None,
           "stable_below": STABLE_BELOW, "n_stable": int((x < STABLE_BELOW).sum()),
           "shifted_above": SHIFTED_ABOVE, "n_shifted": int((x > SHIFTED_ABOVE).sum()),
           "counted_over": "all bins" if usable is None else "bins usable in both cells"}
    if comp1 is not None:
        out["by_compartment"] = [
            {"compartment": c, "n": int(sel.sum()),
             "mean": float(d[sel].mean()) if sel.any() else None,
             "median": float(np.median(d[sel])) if sel.any() else None}
            for c in "AB" for sel in [ok & (comp1 == c)]]
    return out


# ----------------------------------------------------------------------------
# switches
# ----------------------------------------------------------------------------
def filter_switches(codes: np.ndarray, new_chrom: np.ndarray, *, min_run: int = DEFAULT_MIN_RUN,
                    delta_e1: np.ndarray | None = None, min_delta_e1: float = 0.0) -> np.ndarray:
    """Switch calls that survive the filter: |ΔE1| >= ``min_delta_e1`` and part of a run of at
    least ``min_run`` consecutive bins switching the same way (same chromosome).

    Works row-wise on ``[P, N]`` code matrices as well as on one ``[N]`` track.
    """
    cand = codes.copy()
    if delta_e1 is not None and min_delta_e1 > 0:
        cand[~(np.abs(delta_e1) >= min_delta_e1)] = 0
    return (cand > 0) & (run_lengths(cand, new_chrom) >= min_run)


def switch_calls(comp1: pd.DataFrame, comp2: pd.DataFrame, *, min_run: int = DEFAULT_MIN_RUN,
                 min_delta_e1: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Switch code per bin (0 none, 1 B->A, 2 A->B) and whether it passes the filter.

    ``comp1``/``comp2`` are compartment tables of the same bins (:func:`read_compartments`).
    """
    codes = switch_codes(*(encode(c["compartment"].to_numpy(str)) for c in (comp1, comp2)))
    delta_e1 = comp1["E1"].to_numpy(np.float64) - comp2["E1"].to_numpy(np.float64)
    kept = filter_switches(codes, chrom_codes(comp1)[1], min_run=min_run, delta_e1=delta_e1,
                           min_delta_e1=min_delta_e1)
    return codes, kept


def count_pairs(c1: np.ndarray, c2: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Per row: counts of A->A, B->B, B->A, A->B, then B->A and A->B after the filter.

    ``c1``/``c2``/``kept`` are ``[P, N]`` (or ``[N]``); returns ``[P, 6]``.
    """
    c1, c2, kept = (np.atleast_2d(v) for v in (c1, c2, kept))
    pair = c1.astype(np.int64) * 3 + c2
    rows = np.arange(pair.shape[0])[:, None] * 9
    counts = np.bincount((rows + pair).ravel(), minlength=9 * pair.shape[0]).reshape(-1, 9)
    sw = np.where(kept, switch_codes(c1, c2), 0)
    filt = np.bincount((np.arange(sw.shape[0])[:, None] * 3 + sw).ravel(),
                       minlength=3 * sw.shape[0]).reshape(-1, 3)
    aa, bb, ba, ab = (_CODE[a] * 3 + _CODE[b] for a, b in PAIRS)
    return np.column_stack([counts[:, aa], counts[:, bb], counts[:, ba], counts[:, ab],
                            filt[:, 1], filt[:, 2]])


def circular_shifts(group: np.ndarray, n_perm: int, rng: np.random.Generator, *,
                    min_frac: float = MIN_SHIFT_FRAC) -> np.ndarray:
    """``[n_perm, n]`` indices that circularly shift each contiguous group (chromosome).

    Every permutation draws one shift per group, uniformly among the shifts at
    least ``min_frac`` of the group's length away from zero.
    """
    uniq, first, size = np.unique(group, return_index=True, return_counts=True)
    if np.count_nonzero(np.diff(group)) != len(uniq) - 1:
        raise common.DataError("bins are not grouped by chromosome; "
                               "sort the inputs in genome order (as the pipeline writes them)")
    g = np.searchsorted(uniq, group)
    offset = np.arange(len(group)) - first[g]
    lo = np.maximum(1, np.floor(size * min_frac)).astype(np.int64)
    span = np.maximum(size - 2 * lo + 1, 1)
    shift = lo + np.floor(rng.random((n_perm, len(uniq))) * span).astype(np.int64)
    return first[g] + (offset + shift[:, g]) % size[g]


def _p_two_sided(obs: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Permutation p-value: how often the null lies at least as far from its mean as ``obs``."""
    centre = null.mean(axis=0)
    far = np.abs(null - centre) >= np.abs(obs - centre) - 1e-12
    return (1 + far.sum(axis=0)) / (1 + null.shape[0])


def distance_by_compartment_test(c1: np.ndarray, chrom: np.ndarray, dist: np.ndarray, usable: np.ndarray, *,
                                 n_perm: int, rng: np.random.Generator,
                                 batch_cells: int = 4_000_000) -> dict | None:
    """Do B bins move more than A bins? ``mean(d | B) - mean(d | A)`` over bins usable in both
    cells, against circular shifts of the first cell's A/B labels within each chromosome
    (the null keeps both tracks' genomic autocorrelation and breaks only their alignment).

    Per-bin switch significance is not tested here: see :mod:`differential`, whose null is
    technical noise (the circular-shift null of earlier versions modelled two unrelated cell
    lines and answered another question).
    """
    from tqdm import tqdm

    ab = np.flatnonzero((c1 < 2) & np.isfinite(dist) & usable)
    d_ab, b_ab = dist[ab], (c1[ab] == 1).astype(np.float64)
    if len(ab) < 2 or not 0 < b_ab.sum() < len(ab):
        return None
    obs = d_ab[b_ab == 1].mean() - d_ab[b_ab == 0].mean()
    step = max(1, batch_cells // max(len(ab), 1))
    null = []
    for lo in tqdm(range(0, n_perm, step), desc="permutations", disable=common.progress_disabled()):
        lab_b = b_ab[circular_shifts(chrom[ab], min(step, n_perm - lo), rng)]
        n_b = lab_b.sum(axis=1)
        s_b = lab_b @ d_ab
        with np.errstate(invalid="ignore", divide="ignore"):
            null.append(s_b / n_b - (d_ab.sum() - s_b) / (len(ab) - n_b))
    nd = np.concatenate(null)
    nd = nd[np.isfinite(nd)]
    return {"observed": float(obs), "null_mean": float(nd.mean()), "null_sd": float(nd.std()),
            "p": float(_p_two_sided(np.array([obs]), nd[:, None])[0]), "n_perm": int(n_perm),
            "n_bins": int(len(ab)),
            "null": "circular shift of the first cell's A/B labels against the distance track "
                    "(bins usable in both cells)"}


def asymmetry_test(kept_codes: np.ndarray, new_chrom: np.ndarray) -> dict:
    """Is one switch direction more common? Two-sided binomial test over switch *runs*.

    Runs, not bins, are the units, because neighbouring bins switch together.
    """
    from scipy.stats import binomtest

    rid = run_ids(kept_codes, new_chrom)
    first = np.r_[True, rid[1:] != rid[:-1]] & (kept_codes > 0)
    n_ba, n_ab = int((kept_codes[first] == 1).sum()), int((kept_codes[first] == 2).sum())
    p = binomtest(n_ba, n_ba + n_ab, 0.5).pvalue if n_ba + n_ab else None
    return {"runs_B_to_A": n_ba, "runs_A_to_B": n_ab, "p": p,
            "test": "two-sided binomial test of B->A vs A->B runs (after the filter), p = 0.5"}


def switch_runs(bins: pd.DataFrame, codes: np.ndarray, new_chrom: np.ndarray) -> pd.DataFrame:
    """Merge consecutive same-direction switched bins into BED rows (chrom, start, end, name, score)."""
    sel = codes > 0
    run = run_ids(codes, new_chrom)[sel]
    df = pd.DataFrame({"chrom": bins["chrom"].to_numpy()[sel], "start": bins["start"].to_numpy()[sel],
                       "end": bins["end"].to_numpy()[sel], "code": codes[sel], "run": run})
    g = df.groupby("run", sort=True)
    out = g.agg(chrom=("chrom", "first"), start=("start", "min"), end=("end", "max"),
                code=("code", "first"), n=("code", "size")).reset_index(drop=True)
    out["name"] = out["code"].map(SWITCH_NAMES)
    return out[["chrom", "start", "end", "name", "n"]].rename(columns={"n": "score"})


# ----------------------------------------------------------------------------
# figure and tables
# ----------------------------------------------------------------------------
def plot_delta(bins: pd.DataFrame, dist: np.ndarray, *, comp1: np.ndarray | None = None,
               kept: np.ndarray | None = None, codes: np.ndarray | None = None, title: str = ""):
    """Cosine distance along each chromosome, A/B shading from the first cell, switch ticks."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    chroms = list(dict.fromkeys(bins["chrom"].astype(str)))
    fig, axes = plt.subplots(len(chroms), 1, figsize=(11, 2.2 * len(chroms) + 0.9), squeeze=False,
                             layout="constrained")
    start, end = bins["start"].to_numpy() / 1e6, bins["end"].to_numpy() / 1e6
    shade = ListedColormap([COLOURS["A"], COLOURS["B"], "white"])
    handles = [plt.Line2D([], [], color="black", lw=0.8, label="cosine distance")]
    if comp1 is not None:
        handles += [Patch(color=COLOURS[c], alpha=0.2, label=f"{c} in cell 1") for c in "AB"]
    if kept is not None:
        handles += [plt.Line2D([], [], color=SWITCH_COLOURS[k], marker="|", ls="", ms=8,
                               label=SWITCH_NAMES[k].replace("_to_", "→")) for k in (1, 2)]
    for ax, chrom in zip(axes[:, 0], chroms):
        sel = (bins["chrom"].astype(str) == chrom).to_numpy()
        x = (start[sel] + end[sel]) / 2
        if comp1 is not None:  # one coloured cell per bin, drawn behind the track
            ax.pcolormesh(np.r_[start[sel], end[sel][-1]], [0, 1], encode(comp1[sel])[None, :],
                          cmap=shade, vmin=0, vmax=2, alpha=0.2, transform=ax.get_xaxis_transform(),
                          rasterized=True)
        ax.plot(x, dist[sel], lw=0.8, color="black")
        if kept is not None:
            for code in (1, 2):
                m = kept[sel] & (codes[sel] == code)
                ax.plot(x[m], np.full(m.sum(), 0.96), "|", color=SWITCH_COLOURS[code], ms=6,
                        transform=ax.get_xaxis_transform())
        ax.set_xlim(start[sel].min(), end[sel].max())
        ax.set_ylabel("cosine Δ")
        ax.set_title(chrom, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("position (Mb)")
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle(title)
    return fig


def md_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; floats to 3 decimals, None as 'n/a'."""
    def cell(v):
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return "n/a"
        if isinstance(v, (float, np.floating)):
            return f"{v:.3f}"
        return f"{v:,}" if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def filter_text(f: dict) -> str:
    """The switch filter in words, e.g. ``q(ΔE1) ≤ 0.05, min-run 3, |ΔE1| ≥ 0.2``."""
    return ((f"q(ΔE1) ≤ {f['fdr']}, " if f.get("fdr") else "") + f"min-run {f['min_run']}"
            + (f", |ΔE1| ≥ {f['min_delta_e1']}" if f["min_delta_e1"] else ""))


def format_p(p: float | None, n_perm: int = 0) -> str:
    """``p`` to 3 significant digits; at a permutation test's floor, ``< 1/n_perm``."""
    if p is None:
        return "n/a"
    return f"< {1 / n_perm:.2g}" if n_perm and p <= 1.0001 / (n_perm + 1) else f"{p:.3g}"


def summary_markdown(s: dict, *, level: int = 3) -> str:
    """The summary's tables as Markdown (shared with make_report.py)."""
    h = "#" * level
    l1, l2 = s["label1"], s["label2"]
    d = s["distance"]
    n = max(d["n_bins"], 1)
    over = d.get("counted_over", "all bins")
    parts = [f"{h} Per-bin cosine distance ({l1} vs {l2}; {over})", md_table(["Statistic", "Value"], [
        ["Mean", d["mean"]], ["Median", d["median"]],
        [f"Bins with distance < {d['stable_below']} (stable)", f"{d['n_stable']:,} / {n:,} ({d['n_stable'] / n:.0%})"],
        [f"Bins with distance > {d['shifted_above']} (high shift)",
         f"{d['n_shifted']:,} / {n:,} ({d['n_shifted'] / n:.0%})"]])]
    if "by_compartment" in d:
        perm = s.get("distance_B_minus_A")
        parts += [f"{h} Cosine distance by {l1} compartment", md_table(
            ["Compartment", "Bins", "Mean distance", "Median distance"],
            [[r["compartment"], r["n"], r["mean"], r["median"]] for r in d["by_compartment"]])]
        if perm:
            parts.append(f"B − A difference in mean distance: {perm['observed']:.3f} "
                         f"(null mean {perm['null_mean']:.3f}, permutation p = "
                         f"{format_p(perm['p'], perm['n_perm'])}, {perm['n_perm']:,} circular shifts of the "
                         f"{l1} labels, {perm['n_bins']:,} bins usable in both cells)")
    sw = s.get("switches")
    if sw:
        filt = filter_text(sw["filter"])
        rows = [[a, b, sw["table"][key], sw["filtered"].get(key, "—"), what]
                for key, (a, b), what in zip(("A_to_A", "B_to_B", "B_to_A", "A_to_B"), PAIRS,
                                             ("stable active", "stable repressive", f"open in {l2}",
                                              f"close in {l2}"))]
        parts += [f"{h} Compartment switches ({l1} → {l2}; calls: {filt})", md_table(
            [l1, l2, "Bins", "Bins called", "Interpretation"], rows)]
        asym = sw["asymmetry"]
        parts.append(f"Direction: {asym['runs_B_to_A']} B→A runs vs {asym['runs_A_to_B']} A→B runs called "
                     f"(binomial p = {format_p(asym['p'])}). Bins called N in either cell: {sw['n_with_N']:,}.")
        sig = s.get("significance")
        if sig:
            parts.append(f"Per-bin test against technical noise ({sig['null']}): {sig['n_tested']:,} bins tested; "
                         f"q ≤ {sig['fdr']}: {sig['n_significant_E1']:,} in ΔE1, "
                         f"{sig['n_significant_embedding']:,} in the embedding; "
                         f"{sig['n_changed']:,} embedding changes outside A/B switches.")
    t = s.get("truth")
    if t:
        rows = [[k, v["called"], v["true_positives"], v["planted"], v["precision"], v["recall"]]
                for k, v in (("compartments differ (no test)", t["unfiltered"]),
                             (f"called ({filter_text(sw['filter'])})", t["filtered"]))]
        parts += [f"{h} Switch calls vs the planted switches", md_table(
            ["Calls", "Called bins", "True positives", "Planted bins", "Precision", "Recall"], rows)]
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = common.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--emb1", required=True, help="emb.npy of the first cell line")
    p.add_argument("--emb2", required=True, help="emb.npy of the second cell line (same bins, same model)")
    p.add_argument("--label1", required=True, help="name of the first cell line")
    p.add_argument("--label2", required=True, help="name of the second cell line")
    p.add_argument("--prefix", required=True, help="output prefix, e.g. results/figures/chr21")
    p.add_argument("--comp1", default=None, help="compartment CSV of cell 1 "
                   "(default: the only compartments_*.csv beside --emb1, if there is exactly one)")
    p.add_argument("--comp2", default=None, help="compartment CSV of cell 2 (default: as --comp1)")
    p.add_argument("--truth", default=None, help="truth.tsv of simulated data: precision/recall of switches")
    p.add_argument("--min-run", type=int, default=DEFAULT_MIN_RUN,
                   help="keep a switch only inside a run of at least this many consecutive bins "
                        "switching the same way (1 = no run filter)")
    p.add_argument("--min-delta-e1", type=float, default=0.0,
                   help="keep a switch only where |E1(cell1) - E1(cell2)| is at least this (0 = off)")
    p.add_argument("--diff", default=None, metavar="CSV",
                   help="per-bin table of differential.py (<prefix>_differential.csv): adds p_value/q_value "
                        "and keeps only switches whose ΔE1 is significant at --fdr")
    p.add_argument("--fdr", type=common.arg_type(float, lambda v: 0 < v < 1, "a number in (0, 1)"),
                   default=DEFAULT_FDR, help="q-value threshold for switch calls with --diff")
    p.add_argument("--n-perm", type=int, default=1000,
                   help="circular shifts for the A-vs-B distance difference (0 = no test)")
    p.add_argument("--seed", type=int, default=0, help="permutation seed")
    return p


def _find_comp(emb: str) -> str | None:
    hits = sorted(Path(emb).parent.glob("compartments_*.csv"))
    if len(hits) == 1:
        log.info("using %s (beside %s) as its compartment calls", hits[0], emb)
        return str(hits[0])
    if hits:
        log.warning("several compartments_*.csv beside %s; pass --comp1/--comp2 to choose", emb)
    return None


def _load(args: argparse.Namespace) -> dict:
    validate_labels([args.label1, args.label2], 2, "embedding")
    if args.min_run < 1 or args.n_perm < 0 or args.min_delta_e1 < 0:
        raise common.DataError("--min-run must be >= 1, --n-perm >= 0 and --min-delta-e1 >= 0")
    e1, bins1 = read_embedding(args.emb1)
    e2, bins2 = read_embedding(args.emb2)
    common.check_rows(len(e1), len(e2), f"embedding {args.emb1}", f"embedding {args.emb2}")
    if e1.shape[1] != e2.shape[1]:
        raise common.DataError(f"{args.emb1} has {e1.shape[1]} latent dimensions but {args.emb2} has "
                               f"{e2.shape[1]}; encode both cell lines with the same model")
    comp1 = args.comp1 or (_find_comp(args.emb1) if args.comp2 is None else None)
    comp2 = args.comp2 or (_find_comp(args.emb2) if args.comp1 is None else None)
    if (comp1 is None) != (comp2 is None):
        raise common.DataError("compartment calls for only one cell line; give both --comp1 and --comp2")
    run = {"e1": e1, "e2": e2, "inputs": [args.emb1, args.emb2], "comp": None}
    named = [(b, f"{Path(e).with_suffix('.tsv')}") for b, e in ((bins1, args.emb1), (bins2, args.emb2))
             if b is not None]
    if comp1 is not None:
        run["comp"] = [read_compartments(comp1), read_compartments(comp2)]
        for c, path in zip(run["comp"], (comp1, comp2)):
            common.check_rows(len(e1), len(c), f"embedding {args.emb1}", f"compartment CSV {path}")
            named.append((c, path))
        run["inputs"] += [comp1, comp2]
    if not named:
        raise common.DataError(f"no bin coordinates for {args.emb1}: emb.tsv is not beside it and no "
                               "--comp1/--comp2 were given; keep emb.tsv next to emb.npy")
    for other, name in named[1:]:
        check_same_bins(named[0][0], other, named[0][1], name)
    run["bins"] = named[0][0][["chrom", "start", "end"]].reset_index(drop=True)
    if args.truth:
        if run["comp"] is None:
            raise common.DataError("--truth scores switch calls, which need --comp1 and --comp2")
        truth = read_truth(args.truth, [args.label1, args.label2])
        run["truth"] = [truth_labels(truth, run["bins"], lab) for lab in (args.label1, args.label2)]
        run["inputs"].append(args.truth)
    if args.diff:
        if run["comp"] is None:
            raise common.DataError("--diff calls switches, which need --comp1 and --comp2")
        diff = pd.read_csv(common.require_file(args.diff, "differential table"))
        need = {"chrom", "start", "end", "usable", "p_value", "q_value", "p_E1", "q_E1"}
        if not need <= set(diff.columns):
            raise common.DataError(f"{args.diff} lacks {', '.join(sorted(need - set(diff.columns)))}; "
                                   "write it with differential.py")
        common.check_rows(len(e1), len(diff), f"embedding {args.emb1}", f"differential table {args.diff}")
        check_same_bins(run["bins"], diff, named[0][1], args.diff)
        run["diff"] = diff
        run["inputs"].append(args.diff)
    return run


def compare(run: dict, *, label1: str, label2: str, min_run: int = DEFAULT_MIN_RUN,
            min_delta_e1: float = 0.0, n_perm: int = 1000, fdr: float = DEFAULT_FDR,
            rng: np.random.Generator | None = None) -> tuple[pd.DataFrame, dict]:
    """Distances, switch calls, tests and truth scores for two loaded cell lines.

    Parameters
    ----------
    run
        ``{"e1", "e2", "bins", "comp": [df1, df2] | None, "truth": [labels1, labels2],
        "diff": differential table (optional)}`` as assembled by the command line (``_load``).

    Returns
    -------
    delta, summary
        Per-bin table (``chrom,start,end,cosine,l2,l1`` + compartments, switch calls and,
        with ``diff``, ``p_value, q_value, p_E1, q_E1``) and the JSON-ready summary.
        Switch calls: the compartments differ, in a run of ``min_run`` such bins and, with
        ``diff``, q(ΔE1) <= ``fdr`` (see :mod:`differential`).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    bins = run["bins"]
    delta = pd.concat([bins, bin_distances(run["e1"], run["e2"])], axis=1)
    chrom, new_chrom = chrom_codes(bins)
    diff = run.get("diff")
    usable = None if diff is None else diff["usable"].to_numpy(bool)
    summary = {"label1": label1, "label2": label2, "n_bins": len(bins),
               "chroms": list(dict.fromkeys(bins["chrom"].astype(str))),
               "distance": distance_summary(delta["cosine"].to_numpy(), usable=usable),
               "l2": {"mean": float(delta["l2"].mean()), "median": float(delta["l2"].median())},
               "l1": {"mean": float(delta["l1"].mean()), "median": float(delta["l1"].median())}}
    if run["comp"] is None:
        return delta, summary
    labs = [c["compartment"].to_numpy(str) for c in run["comp"]]
    c1, c2 = encode(labs[0]), encode(labs[1])
    both = (c1 < 2) & (c2 < 2)
    usable = both if usable is None else usable & both
    e1s = [c["E1"].to_numpy(np.float64) for c in run["comp"]]
    codes = switch_codes(c1, c2)
    if diff is not None and "switch" in diff:
        # the candidates differential.py tested (its --switch-rule), not only label flips
        codes = diff["switch"].map({v: k for k, v in SWITCH_NAMES.items()}).fillna(0).to_numpy(np.int8)
    if diff is not None:
        for k in ("p_value", "q_value", "p_E1", "q_E1"):
            delta[k] = diff[k].to_numpy(np.float64)
        calls = call_bins(codes, delta["q_E1"].to_numpy(), delta["q_value"].to_numpy(), fdr=fdr,
                          new_chrom=new_chrom, min_run=min_run)
        codes_in = np.where(calls < 3, calls, 0)
    else:
        codes_in = codes
    kept = filter_switches(codes_in, new_chrom, min_run=min_run, delta_e1=e1s[0] - e1s[1],
                           min_delta_e1=min_delta_e1)
    kept_codes = np.where(kept, codes, 0)
    delta[f"compartment_{label1}"], delta[f"compartment_{label2}"] = labs
    delta["switch"] = pd.Series(codes).map(SWITCH_NAMES).fillna("").to_numpy()
    delta["switch_kept"] = kept
    summary["distance"] = distance_summary(delta["cosine"].to_numpy(), labs[0], usable)
    k = count_pairs(c1, c2, kept)[0]
    k[4], k[5] = int((kept_codes == 1).sum()), int((kept_codes == 2).sum())
    summary["switches"] = {
        "filter": {"min_run": min_run, "min_delta_e1": min_delta_e1, "fdr": fdr if diff is not None else None},
        "table": dict(zip(("A_to_A", "B_to_B", "B_to_A", "A_to_B"), map(int, k[:4]))),
        "filtered": {"B_to_A": int(k[4]), "A_to_B": int(k[5])},
        "n_with_N": int(((c1 == 2) | (c2 == 2)).sum()),
        "asymmetry": asymmetry_test(kept_codes, new_chrom)}
    if diff is not None:
        tested = np.isfinite(delta["p_value"].to_numpy())
        summary["significance"] = {
            "fdr": fdr, "n_tested": int(tested.sum()),
            "n_significant_E1": int((delta["q_E1"] <= fdr).sum()),
            "n_significant_embedding": int((delta["q_value"] <= fdr).sum()),
            "n_changed": int(((delta["q_value"] <= fdr).to_numpy() & (codes == 0)).sum()),
            "null": "within-cell pseudo-replicates (differential.py)"}
    if n_perm > 0:
        test = distance_by_compartment_test(c1, chrom, delta["cosine"].to_numpy(), usable, n_perm=n_perm, rng=rng)
        if test:
            summary["distance_B_minus_A"] = test
    if "truth" in run:
        t1, t2 = (encode(t) for t in run["truth"])
        planted = switch_codes(t1, t2)
        delta["truth_switch"] = pd.Series(planted).map(SWITCH_NAMES).fillna("").to_numpy()
        summary["truth"] = {"planted_B_to_A": int((planted == 1).sum()),
                            "planted_A_to_B": int((planted == 2).sum()),
                            "unfiltered": detection_accuracy(codes, planted),
                            "filtered": detection_accuracy(kept_codes, planted)}
    return delta, summary


def _write_track(path: Path, track: str, df: pd.DataFrame) -> None:
    with common.atomic_output(path) as tmp:
        tmp.write_text(track + "\n" + df.to_csv(sep="\t", header=False, index=False,
                                                float_format="%.6g"))


def _run(args: argparse.Namespace) -> None:
    run = _load(args)
    rng = common.seed_everything(args.seed)
    prefix = Path(args.prefix)
    common.ensure_writable_dir(prefix.parent)
    prov = common.provenance(args, inputs=run["inputs"], seed=args.seed)
    out = {k: prefix.with_name(f"{prefix.name}_{k}") for k in
           ("delta.csv", "delta.png", "delta.bedGraph", "switches.bed", "summary.json", "summary.md")}
    delta, summary = compare(run, label1=args.label1, label2=args.label2, min_run=args.min_run,
                             min_delta_e1=args.min_delta_e1, n_perm=args.n_perm, fdr=args.fdr, rng=rng)
    codes = kept = None
    if "switch" in delta:
        codes = delta["switch"].map({v: k for k, v in SWITCH_NAMES.items()}).fillna(0).to_numpy(np.int8)
        kept = delta["switch_kept"].to_numpy(bool)
    d = summary["distance"]
    log.info("cosine distance: mean %.3f, median %.3f over %d bins", d["mean"], d["median"], d["n_bins"])
    title = f"{args.label1} vs {args.label2}: per-bin cosine distance"
    comp1 = delta[f"compartment_{args.label1}"].to_numpy(str) if codes is not None else None
    common.save_figure(plot_delta(run["bins"], delta["cosine"].to_numpy(), comp1=comp1, kept=kept,
                                  codes=codes, title=title), out["delta.png"])
    common.write_table(out["delta.csv"], delta, float_format="%.6g")
    ok = delta["cosine"].notna()
    _write_track(out["delta.bedGraph"], f'track type=bedGraph name="{args.label1}_vs_{args.label2}_cosine" '
                 f'description="{title}"', delta.loc[ok, ["chrom", "start", "end", "cosine"]])
    written = [out["delta.png"], out["delta.csv"], out["delta.bedGraph"]]
    if codes is not None:
        bed = switch_runs(run["bins"], np.where(kept, codes, 0), chrom_codes(run["bins"])[1])
        _write_track(out["switches.bed"], f'track name="{args.label1}_to_{args.label2}_switches" '
                     f'description="compartment switches {args.label1} -> {args.label2}, '
                     f'{filter_text(summary["switches"]["filter"])}"', bed)
        written.append(out["switches.bed"])
        log.info("switches: B->A %d, A->B %d (after filter: %d, %d)", summary["switches"]["table"]["B_to_A"],
                 summary["switches"]["table"]["A_to_B"], *summary["switches"]["filtered"].values())
    else:
        log.warning("no compartment calls: switch table, tests and %s skipped (give --comp1/--comp2)",
                    out["switches.bed"].name)
    if "truth" in summary:
        for k in ("unfiltered", "filtered"):
            t = summary["truth"][k]
            log.info("switch calls vs truth (%s): precision %s recall %s", k, t["precision"], t["recall"])
    common.write_json(out["summary.json"], summary)
    with common.atomic_output(out["summary.md"]) as tmp:
        tmp.write_text(f"# {args.label1} vs {args.label2}\n\n" + summary_markdown(summary, level=2))
    for path in [*written, out["summary.json"], out["summary.md"]]:
        common.write_provenance(path, prov)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
