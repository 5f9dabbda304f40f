#!/usr/bin/env python
"""Per-bin differential test between two cell lines, against a null of technical noise.

Each cell's contacts are split binomially into two half-depth pseudo-replicates
(:mod:`thin`), or a real replicate stands in for the second half (``--rep1`` /
``--rep2``). Every half becomes a graph (the cell's own node features, edges from
the half's contacts) encoded with the same model, and gets its own E1. With halves
``1A, 1B`` (cell 1) and ``2A, 2B`` (cell 2), per bin:

* between-cell statistic: ``(d(1A, 2A) + d(1B, 2B)) / 2``;
* within-cell null draw: ``(d(1A, 1B) + d(2A, 2B)) / 2``.

Under "no difference" the four halves are exchangeable, so both have the same
distribution, at the same (half) depth: the null is calibrated for depth by
construction. ``d`` is the cosine distance of embeddings (test "embedding") or
the signed E1 difference (test "E1"); with ``--n-splits K`` both are averaged
over K independent splits. Bins are matched on local coverage: every draw is
divided by the running median of the null over the bins of nearest coverage
(:func:`scale_by_coverage`), then a bin's p-value is the fraction of the pooled,
scaled null draws at least as large (one-sided for the distance, two-sided for
ΔE1). Benjamini-Hochberg q-values over bins usable in every half of both cells.

Calls at ``q <= --fdr``: A/B switches (a switch candidate whose q(ΔE1) passes, in a
run of ``--min-run`` same-direction calls) and, among the other bins, embedding
changes (q(embedding) passes; e.g. subcompartment changes E1 does not see). Switch
candidates (``--switch-rule``): ``sign`` -- the full-depth A/B labels differ;
``halfway`` -- E1 moved at least half of the local A-B gap (running A level minus
running B level over 2 Mb, :func:`local_gap`) towards the other compartment, whether
or not it crossed zero. Runs of calls are merged into regions; each region names the
marks that drive its embedding change (integrated gradients, :mod:`attribution`).

What the null covers: Hi-C sampling noise (features computed from the contacts, such
as E1-E3 node features, are recomputed from each half). The marks are the same in
both halves of a cell, so with ``--mark-null none`` any mark difference between the
cells is significant in the embedding test. ``--mark-null shift`` (default) puts mark
noise into the embedding null: each cell's second half also gets encoded with its
marks moved by the cells' mark difference, circularly shifted along the genome (one
draw per split), and the within-cell draw becomes ``(d(1A, 1B~) + d(2A, 2B~)) / 2``.
Every mark difference, biological or not, then counts as noise: conservative. The
ΔE1 test uses contacts only.

Binomial halves hold the sampling noise of one map, not the variation between two
maps of the same cells (overdispersed counts, library effects): the summary's
``null_inflation`` says how much wider the bulk of the between-cell statistics is
than the halves' null (1: no wider). ``--empirical-null`` widens the null by that
factor (Efron's empirical null, assuming most bins unchanged): replicate noise is
then not called, at the price of power where many bins change.

Outputs (``--prefix P``): ``P_differential.csv`` (per bin), ``P_regions.tsv``,
``P_changes.bed`` (non-switch changes), ``P_differential.json``, ``P_delta.bw``
(full-depth cosine Δ), ``P_mlog10q.bw`` (−log10 q, embedding), ``P_attribution.png``,
each with provenance. ``compare_embeddings.py --diff P_differential.csv`` then
adds ``p_value``/``q_value`` to its table and writes the q-filtered switch BED.
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

import common  # first: one line naming the fix when the environment is missing

import numpy as np
import pandas as pd
from tqdm import tqdm

import hicio
from common import DataError

log = logging.getLogger("chromatin_gnn.differential")

DEFAULT_FDR = 0.05
DEFAULT_SPLITS = 2
#: ``--mark-null``: "shift" puts between-cell mark noise into the embedding null (see pseudo_replicates)
MARK_NULLS = ("shift", "none")
DEFAULT_MARK_NULL = "shift"
#: switch calls need a run of this many same-direction called bins (compare_embeddings' default too)
DEFAULT_MIN_RUN = 3
#: bins in the running window of :func:`scale_by_coverage`
SCALE_WINDOW = 151
SWITCH_NAMES = {1: "B_to_A", 2: "A_to_B"}
#: switch candidates (see :func:`switch_candidates`): "sign" -- the full-depth A/B labels differ;
#: "halfway" -- the bin moved at least HALFWAY of the local A-B gap of E1 towards the other compartment
SWITCH_RULES = ("sign", "halfway")
DEFAULT_SWITCH_RULE = "sign"
HALFWAY = 0.5
#: genomic window (bp) of the running A and B levels in :func:`local_gap`
GAP_WINDOW_BP = 2_000_000
KIND_NAMES = {1: "B_to_A", 2: "A_to_B", 3: "changed"}


# ----------------------------------------------------------------------------
# bins, codes and runs (shared with compare_embeddings)
# ----------------------------------------------------------------------------
def chrom_codes(bins: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Integer chromosome code per bin, and True where a bin starts a new chromosome."""
    chrom = pd.factorize(bins["chrom"].astype(str))[0]
    return chrom, np.r_[True, chrom[1:] != chrom[:-1]]


def encode(labels: np.ndarray) -> np.ndarray:
    """A/B/N as int8 0/1/2."""
    return np.select([labels == "A", labels == "B"], [0, 1], 2).astype(np.int8)


def switch_codes(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """0 = no switch, 1 = B->A, 2 = A->B, from int8 compartment codes (any shape)."""
    return np.where((c1 == 1) & (c2 == 0), 1, np.where((c1 == 0) & (c2 == 1), 2, 0)).astype(np.int8)


def run_ids(codes: np.ndarray, new_chrom: np.ndarray) -> np.ndarray:
    """Number the runs of equal consecutive codes (same shape as ``codes``).

    ``codes`` is ``[N]`` or ``[P, N]`` (each row one genome); ``new_chrom`` ``[N]``
    is True where a bin starts a chromosome (runs never cross it).
    """
    c = np.atleast_2d(codes)
    starts = np.ones(c.shape, bool)
    starts[:, 1:] = (c[:, 1:] != c[:, :-1]) | new_chrom[1:]
    return (np.cumsum(starts.ravel()) - 1).reshape(np.shape(codes))


def run_lengths(codes: np.ndarray, new_chrom: np.ndarray) -> np.ndarray:
    """Length of the run (see :func:`run_ids`) each bin belongs to."""
    rid = run_ids(codes, new_chrom)
    return np.bincount(rid.ravel())[rid]


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine distance in [0, 2]; NaN where either row is all zeros."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norm = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.clip(1.0 - np.einsum("...j,...j->...", a, b) / norm, 0.0, 2.0)
    return np.where(norm > 0, cos, np.nan)


# ----------------------------------------------------------------------------
# statistics
# ----------------------------------------------------------------------------
def replicate_statistics(h1a: np.ndarray, h1b: np.ndarray, h2a: np.ndarray, h2b: np.ndarray, *,
                         kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Between-cell statistic and within-cell null draw per bin from four halves.

    Parameters
    ----------
    h1a, h1b, h2a, h2b
        ``[K, N, d]`` embeddings (``kind="cosine"``) or ``[K, N]`` E1 values
        (``kind="signed"``) of the halves of cell 1 and cell 2, for K splits.

    Returns
    -------
    between, within
        ``[N]`` each, averaged over the two pairings and the K splits:
        ``(d(1A,2A) + d(1B,2B))/2`` and ``(d(1A,1B) + d(2A,2B))/2``, with ``d`` the
        cosine distance or the plain difference.
    """
    if kind == "cosine":
        d = cosine_distance
    elif kind == "signed":
        def d(x, y):
            return np.asarray(x, np.float64) - np.asarray(y, np.float64)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    between = 0.5 * (d(h1a, h2a) + d(h1b, h2b))
    within = 0.5 * (d(h1a, h1b) + d(h2a, h2b))
    return between.mean(axis=0), within.mean(axis=0)


def scale_by_coverage(null: np.ndarray, coverage: np.ndarray, ok: np.ndarray, *,
                      window: int = SCALE_WINDOW) -> np.ndarray:
    """Typical null size per bin: the running median of ``|null|`` over the ``window`` usable
    bins of nearest ``coverage`` (NaN off ``ok``). Bins of low coverage are noisier; this
    puts every bin's statistic and null draw on one scale before pooling."""
    scale = np.full(len(null), np.nan)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return scale
    order = idx[np.argsort(coverage[idx], kind="stable")]
    w = max(3, min(window, len(order)) | 1)
    s = pd.Series(np.abs(null[order])).rolling(w, center=True, min_periods=w // 2 + 1).median()
    s = s.bfill().ffill().to_numpy()
    floor = np.nanmedian(np.abs(null[idx])) * 1e-3 + np.finfo(float).tiny
    scale[order] = np.maximum(s, floor)
    return scale


def empirical_p(stat: np.ndarray, null: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``p_i = (1 + #{null_j >= stat_i}) / (1 + n)`` over the null draws of the ``ok`` bins
    (NaN off ``ok``); the null pools one draw per usable bin."""
    p = np.full(len(stat), np.nan)
    draws = np.sort(null[ok])
    n = len(draws)
    if n:
        ge = n - np.searchsorted(draws, stat[ok], side="left")
        p[ok] = (1 + ge) / (1 + n)
    return p


def bh_q(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values over the finite entries of ``p`` (NaN elsewhere)."""
    from scipy.stats import false_discovery_control

    q = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = false_discovery_control(p[ok], method="bh")
    return q


def null_inflation(z: np.ndarray, zn: np.ndarray, *, two_sided: bool) -> tuple[float, float]:
    """``(centre, factor)`` of the empirical null (Efron): how much wider the bulk of the
    between-cell statistics ``z`` is than the technical null ``zn`` (both over tested bins).

    Signed statistics (``two_sided``): the centre is the median of ``z`` and the factor the ratio
    of the MADs about the medians; distances: centre 0 and the ratio of the medians. The factor is
    at least 1: the null only ever widens. Most bins are assumed unchanged, so the bulk of ``z``
    measures the variation between the maps that the halves do not hold (replicate-level noise,
    a global change of scale), which is then not called.
    """
    z, zn = z[np.isfinite(z)], zn[np.isfinite(zn)]
    if len(z) < 10 or len(zn) < 10:
        return 0.0, 1.0
    if two_sided:
        c = float(np.median(z))
        num, den = np.median(np.abs(z - c)), np.median(np.abs(zn - np.median(zn)))
    else:
        c, num, den = 0.0, np.median(z), np.median(zn)
    return c, float(max(1.0, num / den)) if den > 0 else 1.0


def test_bins(between: np.ndarray, within: np.ndarray, coverage: np.ndarray, ok: np.ndarray, *,
              two_sided: bool, window: int = SCALE_WINDOW, empirical: bool = False) -> dict[str, np.ndarray]:
    """Coverage-matched empirical p-values and BH q-values of ``between`` against ``within``.

    Returns ``{"z": between/scale, "z_null": within/scale, "p", "q", "inflation"}`` (NaN off
    ``ok``). ``two_sided`` compares absolute values (signed statistics such as ΔE1). With
    ``empirical`` the between-cell statistics are first centred and divided by
    :func:`null_inflation`'s factor (1 when the halves already explain the bulk).
    """
    ok = ok & np.isfinite(between) & np.isfinite(within)
    scale = scale_by_coverage(within, coverage, ok, window=window)
    z, zn = between / scale, within / scale
    c, k = null_inflation(z[ok], zn[ok], two_sided=two_sided) if empirical else (0.0, 1.0)
    zt = (z - c) / k
    if two_sided:
        zt, zn = np.abs(zt), np.abs(zn - (np.median(zn[ok]) if empirical and ok.any() else 0.0))
    p = empirical_p(zt, zn, ok)
    return {"z": np.where(ok, between / scale, np.nan), "z_null": np.where(ok, within / scale, np.nan),
            "p": p, "q": bh_q(p), "inflation": k, "centre": c}


def calibration(p: np.ndarray, *, alpha: float = 0.05) -> dict[str, Any]:
    """How uniform ``p`` is: fraction at ``<= alpha`` and a Kolmogorov-Smirnov test against U(0, 1)."""
    from scipy.stats import kstest

    x = p[np.isfinite(p)]
    if not len(x):
        return {"n": 0}
    ks = kstest(x, "uniform")
    return {"n": int(len(x)), "alpha": alpha, "fraction_p_le_alpha": float((x <= alpha).mean()),
            "ks_statistic": float(ks.statistic), "ks_p": float(ks.pvalue)}


# ----------------------------------------------------------------------------
# calls and regions
# ----------------------------------------------------------------------------
def local_gap(e1: Sequence[np.ndarray], codes: Sequence[np.ndarray], ok: np.ndarray, chrom: np.ndarray, *,
              window: int) -> np.ndarray:
    """Local distance between the typical A and the typical B level of E1, per bin.

    For each cell, the running median (``window`` bins, centred, per chromosome) of E1 over
    its A bins minus the same over its B bins (``codes`` 0 = A, 1 = B; only ``ok`` bins);
    the two cells are averaged. Gaps at chromosome ends or in one-compartment stretches take
    the nearest value on the chromosome; NaN where a chromosome has no A or no B bin.
    """
    w = max(5, int(window) | 1)
    key = pd.Series(chrom)
    gaps = []
    for x, c in zip(e1, codes):
        x = np.asarray(x, np.float64)
        lev = []
        for lab in (0, 1):
            v = pd.Series(np.where(ok & (np.asarray(c) == lab) & np.isfinite(x), x, np.nan))
            r = v.groupby(key).transform(lambda s: s.rolling(w, center=True, min_periods=5).median())
            lev.append(r.groupby(key).transform(lambda s: s.ffill().bfill()).to_numpy())
        gaps.append(lev[0] - lev[1])
    g = np.mean(gaps, axis=0)
    return np.where(g > 0, g, np.nan)


def switch_candidates(e1_1: np.ndarray, e1_2: np.ndarray, c1: np.ndarray, c2: np.ndarray, *,
                      rule: str = DEFAULT_SWITCH_RULE, gap: np.ndarray | None = None,
                      halfway: float = HALFWAY) -> np.ndarray:
    """Candidate A/B switches (0 none, 1 B->A, 2 A->B) before the significance test.

    ``"sign"``: the full-depth labels ``c1``/``c2`` (0 A, 1 B, 2 N) differ. ``"halfway"``: the
    bin is B (A) in cell 1 and E1 moved up (down) by at least ``halfway`` of the local A-B gap
    (:func:`local_gap`) -- a bin that went at least half of the way to the other compartment,
    whether or not its E1 crossed zero (compartment borders are gradual, so a short switched
    run seldom crosses).
    """
    if rule == "sign":
        return switch_codes(c1, c2)
    if rule != "halfway":
        raise ValueError(f"unknown switch rule {rule!r}; choose from {SWITCH_RULES}")
    if gap is None:
        raise ValueError("rule 'halfway' needs the local A-B gap")
    with np.errstate(invalid="ignore", divide="ignore"):
        move = (np.asarray(e1_2, np.float64) - np.asarray(e1_1, np.float64)) / gap
    both = (c1 < 2) & (c2 < 2)
    return np.where(both & (c1 == 1) & (move >= halfway), 1,
                    np.where(both & (c1 == 0) & (move <= -halfway), 2, 0)).astype(np.int8)


def call_bins(codes: np.ndarray, q_e1: np.ndarray, q_emb: np.ndarray, *, fdr: float = DEFAULT_FDR,
              new_chrom: np.ndarray | None = None, min_run: int = 1) -> np.ndarray:
    """Per-bin call: 1 B->A, 2 A->B (compartments differ and q(ΔE1) <= fdr), 3 other change
    (q(embedding) <= fdr), 0 none. Switch calls outside a run of ``min_run`` same-direction
    calls are dropped (they do not become 'changed')."""
    sw = np.where((codes > 0) & (np.nan_to_num(q_e1, nan=1.0) <= fdr), codes, 0).astype(np.int8)
    if min_run > 1 and new_chrom is not None:
        sw[(sw > 0) & (run_lengths(sw, new_chrom) < min_run)] = 0
    other = (codes == 0) & (np.nan_to_num(q_emb, nan=1.0) <= fdr)
    return np.where(sw > 0, sw, np.where(other, 3, 0)).astype(np.int8)


def merge_regions(bins: pd.DataFrame, calls: np.ndarray, values: dict[str, np.ndarray]) -> pd.DataFrame:
    """Merge consecutive bins with the same non-zero call into regions.

    Returns ``chrom, start, end, kind, n_bins`` plus, per entry of ``values``,
    ``<name>`` aggregated over the region: the minimum for names starting with
    ``q`` or ``p``, else the mean; ``bins`` lists the rows (bin indices) of each region.
    """
    new_chrom = chrom_codes(bins)[1]
    sel = np.flatnonzero(calls > 0)
    cols = ["chrom", "start", "end", "kind", "n_bins", *values, "bins"]
    if not len(sel):
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame({"run": run_ids(calls, new_chrom)[sel], "row": sel, "code": calls[sel],
                       "chrom": bins["chrom"].to_numpy()[sel], "start": bins["start"].to_numpy()[sel],
                       "end": bins["end"].to_numpy()[sel],
                       **{k: np.asarray(v)[sel] for k, v in values.items()}})
    agg = {"chrom": ("chrom", "first"), "start": ("start", "min"), "end": ("end", "max"),
           "code": ("code", "first"), "n_bins": ("row", "size"), "bins": ("row", list)}
    agg.update({k: (k, "min" if k[0] in "pq" else "mean") for k in values})
    out = df.groupby("run", sort=True).agg(**agg).reset_index(drop=True)
    out["kind"] = out.pop("code").map(KIND_NAMES)
    return out[cols]


# ----------------------------------------------------------------------------
# pseudo-replicates: split -> graph -> encode, E1
# ----------------------------------------------------------------------------
def graph_params(graph: dict) -> dict[str, Any]:
    """The edge options of :func:`build_graph.build_graph` the graph was built with (from its
    provenance; options it does not record keep build_graph's defaults)."""
    import inspect

    import build_graph

    par = (graph.get("provenance") or {}).get("parameters", {})
    names = [k for k, v in inspect.signature(build_graph.build_graph).parameters.items()
             if v.kind is inspect.Parameter.KEYWORD_ONLY and k not in ("trans", "allow_constant")]
    out = {k: par[k] for k in names if k in par and par[k] is not None}
    if "edge_transform" in graph:
        out["edge_transform"] = graph["edge_transform"]
    return out


def half_features(blocks: Sequence[hicio.CisBlock], graph: dict, *, depth: float = 0.5,
                  centromeres: dict[str, tuple[int, int] | None] | None = None,
                  orient: np.ndarray | None = None, e1_out: list | None = None) -> np.ndarray:
    """``graph``'s node features with every feature computed from the contacts (coverage, E1-E3:
    :data:`features.STRUCTURAL`) recomputed from ``blocks`` (one half's contacts).

    Otherwise a half would carry the full-depth map's eigenvectors and the null would miss their
    noise. Each eigenvector is signed per arm to correlate positively with the graph's own column
    (as E1 is oriented to the full-depth E1); coverage is scaled back by ``depth``. The marks'
    columns are kept.

    ``orient`` (the full-depth E1 per bin) orients the half's E1 as :func:`block_e1` does,
    before the per-arm signs; with ``e1_out`` (a list) that E1 is appended to it block by
    block, so the null's ΔE1 needs no second eigen-solve of the same half. Default: oriented
    by the graph's own E1 column.
    """
    import compute_compartments as cc
    import features

    names = list(graph["feature_names"])
    x = graph["x"].numpy().astype(np.float64).copy()
    struct = [n for n in names if n in features.STRUCTURAL]
    if not struct:
        return x
    cols = [names.index(n) for n in struct]
    centromeres = centromeres or {}
    pos = 0
    for b in blocks:
        full = x[pos:pos + b.n, cols]
        # E1 oriented by the full-depth E1 (or the graph's own E1 column); every eigenvector's sign
        # is checked per arm below
        e1_ref = (orient[pos:pos + b.n] if orient is not None else
                  full[:, struct.index("E1")] if "E1" in struct else None)
        new = np.array(features.structural_features(b, struct, centromere=centromeres.get(b.chrom), orient=e1_ref),
                       dtype=np.float64)
        if e1_out is not None and "E1" in struct:
            e1_out.append(new[:, struct.index("E1")].copy())
        if "coverage" in struct:
            k = struct.index("coverage")
            new[:, k] = np.where(b.mask, np.log1p(b.coverage / depth), np.nan)
        for _, lo, hi in cc.arm_regions(b.chrom, b.start, centromere=centromeres.get(b.chrom)):
            for k, n in enumerate(struct):
                if not n.startswith("E"):
                    continue
                a, r = new[lo:hi, k], full[lo:hi, k]
                ok = np.isfinite(a) & np.isfinite(r)
                if ok.sum() > 2 and np.dot(a[ok] - a[ok].mean(), r[ok] - r[ok].mean()) < 0:
                    new[lo:hi, k] = -a
        x[pos:pos + b.n, cols] = new
        pos += b.n
    return x


def half_graph(blocks: Sequence[hicio.CisBlock], graph: dict, *, depth: float = 0.5,
               centromeres: dict[str, tuple[int, int] | None] | None = None,
               orient: np.ndarray | None = None, e1_out: list | None = None) -> dict:
    """A graph from ``blocks`` (one half's contacts) with ``graph``'s node features and edge options.

    Features computed from the contacts are recomputed from the half (:func:`half_features`).
    A raw-count threshold (``min_contacts``) is scaled by ``depth`` so that a half keeps
    the edges its full-depth map would keep, in expectation (the depth-invariant edge
    rules need no change). ``orient``, ``e1_out``: see :func:`half_features`.
    """
    import build_graph

    par = graph_params(graph)
    if "min_contacts" in par:
        par["min_contacts"] = float(par["min_contacts"]) * depth
    blocks = list(blocks)
    x = half_features(blocks, graph, depth=depth, centromeres=centromeres, orient=orient, e1_out=e1_out)
    return build_graph.build_graph(iter(blocks), x, graph["feature_names"], allow_constant=True, **par)


def mark_columns(names: Sequence[str]) -> np.ndarray:
    """Indices of the features that are marks (not computed from the contacts)."""
    import features

    return np.array([k for k, n in enumerate(names) if n not in features.STRUCTURAL], dtype=np.int64)


def shifted_mark_noise(diff: np.ndarray, ok: np.ndarray, chrom: np.ndarray, *, rng: np.random.Generator,
                       min_frac: float = 0.1) -> np.ndarray:
    """A draw of between-cell mark noise: ``diff`` (cell 2 minus cell 1 marks, ``[N, M]``) moved
    by one random circular shift per chromosome among the ``ok`` bins (at least ``min_frac`` of
    them away), 0 elsewhere. The shift keeps the differences' distribution and their
    autocorrelation along the genome and breaks their alignment with the bins."""
    out = np.zeros_like(diff, dtype=np.float64)
    for c in np.unique(chrom):  # chromosomes, not bins
        idx = np.flatnonzero(ok & (chrom == c))
        m = len(idx)
        if m < 3:
            continue
        lo = max(1, int(m * min_frac))
        k = int(rng.integers(lo, max(lo + 1, m - lo + 1)))
        out[idx] = diff[np.roll(idx, k)]
    return out


def embed_graph(model, graph: dict, *, bn: str = "frozen") -> np.ndarray:
    """mu of every bin (``encode_graph.encode_graph``; refit works on a copy of the model)."""
    import encode_graph
    import model as vgae

    data = vgae.prepare_graph(graph, use_edge_weight=model.hparams["use_edge_weight"])
    m = copy.deepcopy(model) if bn == "refit" else model
    return encode_graph.encode_graph(m, data, bn=bn)


def block_e1(blocks: Sequence[hicio.CisBlock], orient: np.ndarray, *,
             centromeres: dict[str, tuple[int, int] | None]) -> np.ndarray:
    """E1 of each bin from ``blocks`` (per arm, as compute_compartments), oriented per region
    to correlate positively with ``orient`` (the full-depth E1)."""
    import compute_compartments as cc

    out, pos = [], 0
    for b in blocks:
        table, _ = cc.call_compartments(b, orient[pos:pos + b.n],
                                        regions=cc.arm_regions(b.chrom, b.start, centromere=centromeres.get(b.chrom)))
        out.append(table["E1"].to_numpy(np.float64))
        pos += b.n
    return np.concatenate(out)


def read_blocks(uri: str, chroms: Sequence[str], *, res: int, weight_name: str = "weight") -> list[hicio.CisBlock]:
    """The cis blocks of ``chroms`` from a cooler (checked: same bins as the graph)."""
    clr = hicio.open_cooler(uri, res=res)
    hicio.check_weight(clr, weight_name)
    names = hicio.select_chroms(clr, chroms)
    return [hicio.read_cis(clr, c, weight_name=weight_name, allow_empty=True) for c in names]


def cell_halves(blocks: list[hicio.CisBlock], *, rng: np.random.Generator,
                replicate: list[hicio.CisBlock] | None = None) -> Iterator[list[hicio.CisBlock]]:
    """The two halves of one cell in turn: a binomial split of ``blocks``, or (``replicate``
    given) the two real replicates themselves.

    The split is drawn for every block first (the generator's draws do not depend on how
    the halves are used); each half's re-balanced blocks are built only when asked for, so
    that a genome's two halves are never in memory together."""
    import thin

    if replicate is not None:
        yield from (blocks, replicate)
        return
    draws = [thin.split_draw(b, rng=rng) for b in blocks]
    for which in (0, 1):
        yield [thin.half_block(b, a, which) for b, a in zip(blocks, draws)]


def pseudo_replicates(cells: Sequence[dict], *, n_splits: int, seed: int,
                      centromeres: dict[str, tuple[int, int] | None],
                      mark_null: str = "none") -> dict[str, np.ndarray]:
    """Embeddings, E1 and masks of both halves of both cells over ``n_splits`` splits.

    Parameters
    ----------
    cells
        Two dicts ``{"blocks", "graph", "model", "bn", "e1" (full-depth E1), "replicate"
        (blocks or None)}``.
    mark_null
        ``"shift"``: also encode each cell's second half with its marks moved by a draw of
        between-cell mark noise (:func:`shifted_mark_noise` of the cells' mark difference; one
        draw per split, added to cell 1 and subtracted from cell 2), so that the embedding null
        holds mark noise as well as Hi-C noise. ``"none"``: the halves share the cell's marks.

    Returns
    -------
    dict
        ``emb`` ``[2 cells, 2 halves, K, N, d]``, ``e1`` ``[2, 2, K, N]``, ``mask``
        ``[2, 2, K, N]`` (usable in that half); with ``mark_null="shift"`` also ``emb_marks``
        ``[2 cells, K, N, d]`` (the second half with shifted mark noise).
    """
    import torch

    rng = np.random.default_rng(seed)
    emb, e1, mask, emb_marks = [], [], [], []
    noise = []
    if mark_null == "shift":
        g1, g2 = cells[0]["graph"], cells[1]["graph"]
        cols = mark_columns(g1["feature_names"])
        ok = g1["mask"].numpy() & g2["mask"].numpy()
        diff = g2["x"].numpy()[:, cols].astype(np.float64) - g1["x"].numpy()[:, cols]
        cid = g1.get("chrom_id")
        chrom = (cid.numpy() if hasattr(cid, "numpy") else np.asarray(cid)) if cid is not None \
            else np.zeros(len(ok), np.int64)
        k_max = max(1 if c.get("replicate") is not None else n_splits for c in cells)
        noise = [shifted_mark_noise(diff, ok, chrom, rng=np.random.default_rng([seed, 7, s])) for s in range(k_max)]
    elif mark_null != "none":
        raise ValueError(f"unknown mark null {mark_null!r}")
    # with real replicates there is one pair of halves: no split to repeat
    k_of = [1 if c.get("replicate") is not None else n_splits for c in cells]
    total = sum(k_of)
    with tqdm(total=2 * total, desc="pseudo-replicates", unit="half", disable=common.progress_disabled()) as bar:
        for ci, (c, k) in enumerate(zip(cells, k_of)):
            ce, c1, cm, cn = [[], []], [[], []], [[], []], []
            for s in range(k):
                halves = cell_halves(c["blocks"], rng=rng, replicate=c.get("replicate"))
                for h, blocks in enumerate(halves):
                    e1_half: list = []  # the half's E1 from its features' eigen-solve, when it has one
                    g = half_graph(blocks, c["graph"], depth=1.0 if c.get("replicate") is not None else 0.5,
                                   centromeres=centromeres, orient=c["e1"], e1_out=e1_half)
                    ce[h].append(embed_graph(c["model"], g, bn=c["bn"]))
                    c1[h].append(np.concatenate(e1_half) if e1_half else
                                 block_e1(blocks, c["e1"], centromeres=centromeres))
                    del blocks  # the next half is built after this one is freed
                    cm[h].append(g["mask"].numpy())
                    if noise and h == 1:
                        gn = dict(g)
                        x = g["x"].numpy().astype(np.float64).copy()
                        x[:, cols] += (1.0 if ci == 0 else -1.0) * noise[s]
                        gn["x"] = torch.as_tensor(x, dtype=g["x"].dtype)
                        cn.append(embed_graph(c["model"], gn, bn=c["bn"]))
                    bar.update()
            # a cell with fewer splits repeats its draws so both cells stack
            reps = -(-max(k_of) // k)
            emb.append([np.stack((x * reps)[:max(k_of)]) for x in ce])
            e1.append([np.stack((x * reps)[:max(k_of)]) for x in c1])
            mask.append([np.stack((x * reps)[:max(k_of)]) for x in cm])
            if cn:
                emb_marks.append(np.stack((cn * reps)[:max(k_of)]))
    out = {"emb": np.array(emb), "e1": np.array(e1), "mask": np.array(mask)}
    if emb_marks:
        out["emb_marks"] = np.array(emb_marks)
    return out


def differential(reps: dict[str, np.ndarray], *, full_emb: Sequence[np.ndarray], full_e1: Sequence[np.ndarray],
                 comp: Sequence[np.ndarray], coverage: np.ndarray, usable: np.ndarray,
                 bins: pd.DataFrame, features: Sequence[np.ndarray] | None = None,
                 fdr: float = DEFAULT_FDR, min_run: int = 1, window: int = SCALE_WINDOW,
                 switch_rule: str = DEFAULT_SWITCH_RULE, graphs: Sequence[dict] | None = None,
                 empirical: bool = False) -> pd.DataFrame:
    """The per-bin table: statistics, p/q of both tests, and calls (see the module docstring).

    ``usable``: bins usable at full depth in both cells; bins masked in any half are
    left out of the tests too. ``comp``: full-depth A/B/N labels of both cells.
    ``features``: both cells' marks (node features not computed from the contacts), for the
    marks-only baselines ``marks_delta`` and
    (with ``graphs``, the two cells' graphs) ``smoothed_marks_delta``. ``switch_rule``: see
    :func:`switch_candidates`.
    """
    import detection

    emb, e1 = reps["emb"], reps["e1"]
    ok = usable & reps["mask"].all(axis=(0, 1, 2))
    cos_b, cos_w = replicate_statistics(emb[0, 0], emb[0, 1], emb[1, 0], emb[1, 1], kind="cosine")
    if "emb_marks" in reps:  # the null's second halves carry shifted between-cell mark noise
        en = reps["emb_marks"]
        cos_w = (0.5 * (cosine_distance(emb[0, 0], en[0]) + cosine_distance(emb[1, 0], en[1]))).mean(axis=0)
    de_b, de_w = replicate_statistics(e1[0, 0], e1[0, 1], e1[1, 0], e1[1, 1], kind="signed")
    t_emb = test_bins(cos_b, cos_w, coverage, ok, two_sided=False, window=window, empirical=empirical)
    # ΔE1 is compared with its sign: cell 1 minus cell 2 (positive = more A-like in cell 1)
    t_e1 = test_bins(de_b, de_w, coverage, ok & np.isfinite(de_b), two_sided=True, window=window,
                     empirical=empirical)
    labs = [encode(np.asarray(c)) for c in comp]
    chrom, new_chrom = chrom_codes(bins)
    res = int(np.median(bins["end"].to_numpy() - bins["start"].to_numpy())) if len(bins) else 1
    gap = local_gap(full_e1, labs, usable, chrom, window=round(GAP_WINDOW_BP / max(res, 1)))
    codes = switch_candidates(full_e1[0], full_e1[1], labs[0], labs[1], rule=switch_rule, gap=gap)
    calls = call_bins(codes, t_e1["q"], t_emb["q"], fdr=fdr, new_chrom=new_chrom, min_run=min_run)
    df = bins[["chrom", "start", "end"]].reset_index(drop=True).copy()
    df["usable"] = usable
    df["tested"] = ok
    df["coverage"] = coverage
    df["cosine"] = np.where(usable, cosine_distance(full_emb[0], full_emb[1]), np.nan)
    df["delta_E1"] = np.asarray(full_e1[0], float) - np.asarray(full_e1[1], float)
    with np.errstate(invalid="ignore", divide="ignore"):
        df["E1_move"] = np.where(usable, -df["delta_E1"].to_numpy() / gap, np.nan)  # in units of the A-B gap
    df["cosine_halves"], df["cosine_null"] = np.where(ok, cos_b, np.nan), np.where(ok, cos_w, np.nan)
    df["delta_E1_halves"], df["delta_E1_null"] = np.where(ok, de_b, np.nan), np.where(ok, de_w, np.nan)
    df["z_embedding"], df["z_E1"] = t_emb["z"], t_e1["z"]
    if features is not None:
        df["marks_delta"] = detection.marks_delta(features[0], features[1], usable)
        if graphs is not None:
            df["smoothed_marks_delta"] = detection.smoothed_marks_delta(features[0], features[1], graphs[0],
                                                                        graphs[1], usable)
    df["p_value"], df["q_value"] = t_emb["p"], t_emb["q"]
    df["p_E1"], df["q_E1"] = t_e1["p"], t_e1["q"]
    df["switch"] = pd.Series(codes).map(SWITCH_NAMES).fillna("").to_numpy()
    df["call"] = pd.Series(calls).map(KIND_NAMES).fillna("").to_numpy()
    # how much wider the between-cell bulk is than the halves' null (1 = the halves explain it)
    df.attrs["null_inflation"] = {
        "embedding": null_inflation(t_emb["z"][ok], t_emb["z_null"][ok], two_sided=False)[1],
        "E1": null_inflation(t_e1["z"][ok], t_e1["z_null"][ok], two_sided=True)[1],
        "applied": bool(empirical)}
    return df


# ----------------------------------------------------------------------------
# figure
# ----------------------------------------------------------------------------
def plot_attribution(regions: pd.DataFrame, marks: Sequence[str], *, title: str = "", max_regions: int = 40):
    """Heat map: share of each region's embedding change attributed to each mark (rows: regions)."""
    import matplotlib.pyplot as plt

    cols = [f"attr_{m}" for m in marks]
    r = (regions[regions[cols].notna().all(axis=1)].head(max_regions) if set(cols) <= set(regions.columns)
         else regions.iloc[:0])
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(marks), 1.2 + 0.28 * max(len(r), 1)))
    if len(r):
        a = r[cols].to_numpy(float)
        lim = np.nanmax(np.abs(a)) or 1.0
        im = ax.imshow(a, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_yticks(range(len(r)), [f"{c}:{s / 1e6:.2f}-{e / 1e6:.2f} Mb {k}" for c, s, e, k in
                                      zip(r["chrom"], r["start"], r["end"], r["kind"])], fontsize=7)
        fig.colorbar(im, ax=ax, label="integrated gradients (Δ distance)")
    else:
        ax.text(0.5, 0.5, "no significant regions", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.set_xticks(range(len(marks)), marks, rotation=45, ha="right")
    ax.set_title(title or "which marks drive each region's change", fontsize=9)
    return fig


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(prog="differential.py", description=__doc__.split("\n\n")[0])
    g = p.add_argument_group("inputs")
    g.add_argument("--model", required=True, help="model.pt (encodes cell 1, and cell 2 unless --model2)")
    g.add_argument("--model2", default=None, help="model for cell 2 (fine-tuned on it); default --model")
    for k in (1, 2):
        g.add_argument(f"--mcool{k}", required=True, help=f"Hi-C of cell {k} (.mcool with the graph's resolution)")
        g.add_argument(f"--graph{k}", required=True, help=f"graph .pt of cell {k} (build_graph.py)")
        g.add_argument(f"--emb{k}", required=True, help=f"full-depth emb.npy of cell {k}")
        g.add_argument(f"--comp{k}", required=True, help=f"full-depth compartment CSV of cell {k}")
        g.add_argument(f"--rep{k}", default=None,
                       help=f"a real replicate .mcool of cell {k}: used as its second half instead of a split")
        g.add_argument(f"--label{k}", required=True, help=f"name of cell {k}")
    g.add_argument("--truth", default=None, help="truth.tsv of simulated data: score the calls")
    t = p.add_argument_group("test")
    t.add_argument("--bn", choices=("frozen", "refit"), default="frozen",
                   help="BatchNorm mode for cell 2's halves (as encode_graph.py for its full graph)")
    t.add_argument("--n-splits", type=common.arg_type(int, lambda v: v >= 1, "an integer >= 1"),
                   default=DEFAULT_SPLITS, help="independent binomial splits averaged per cell")
    t.add_argument("--fdr", type=common.arg_type(float, lambda v: 0 < v < 1, "a number in (0, 1)"),
                   default=DEFAULT_FDR, help="q-value threshold for calls")
    t.add_argument("--min-run", type=common.arg_type(int, lambda v: v >= 1, "an integer >= 1"),
                   default=DEFAULT_MIN_RUN,
                   help="drop switch calls outside a run of at least this many same-direction calls")
    t.add_argument("--mark-null", choices=MARK_NULLS, default=DEFAULT_MARK_NULL,
                   help="shift: the embedding null also holds between-cell mark noise (the cells' mark "
                        "difference, circularly shifted along the genome, added to one half); none: Hi-C noise only")
    t.add_argument("--empirical-null", action="store_true",
                   help="widen each test's null to the bulk of the between-cell statistics (Efron's empirical "
                        "null: median and MAD; never narrower than the halves). For maps whose noise the "
                        "binomial halves miss (overdispersed counts, replicate-level variation); conservative "
                        "when many bins change")
    t.add_argument("--switch-rule", choices=SWITCH_RULES, default=DEFAULT_SWITCH_RULE,
                   help="switch candidates: 'sign' (the A/B labels differ) or 'halfway' (E1 moved at least half "
                        "of the local A-B gap towards the other compartment); both need q(ΔE1) <= --fdr")
    t.add_argument("--weight-name", default="weight", help="balancing-weight column of the coolers")
    t.add_argument("--ig-steps", type=common.arg_type(int, lambda v: v >= 0, "an integer >= 0"), default=32,
                   help="integrated-gradient steps per region (0 = no attribution)")
    t.add_argument("--max-regions", type=common.arg_type(int, lambda v: v >= 1, "an integer >= 1"), default=40,
                   help="attribute at most this many regions (the most significant)")
    t.add_argument("--seed", type=int, default=0, help="seed of the binomial splits")
    p.add_argument("--prefix", required=True, help="output prefix, e.g. results/figures/chr21")
    return p


def output_paths(prefix: str | Path) -> dict[str, Path]:
    pre = Path(prefix)
    return {k: pre.with_name(f"{pre.name}_{k}") for k in
            ("differential.csv", "regions.tsv", "changes.bed", "differential.json", "delta.bw",
             "mlog10q.bw", "attribution.png")}


def _load_cells(args: argparse.Namespace) -> tuple[list[dict], dict]:
    import encode_graph
    from visualize_embeddings import check_same_bins, read_compartments, read_embedding

    models = {}
    cells = []
    for k in (1, 2):
        mpath = args.model if k == 1 or not args.model2 else args.model2
        if mpath not in models:
            models[mpath] = encode_graph.load_model(mpath)
        model, ckpt = models[mpath]
        gpath = getattr(args, f"graph{k}")
        g = common.load_graph(gpath)
        encode_graph.check_features(ckpt["feature_names"], g["feature_names"], model_path=mpath, graph_path=gpath)
        bins = common.bins_frame(g)
        emb, ebins = read_embedding(getattr(args, f"emb{k}"))
        comp = read_compartments(getattr(args, f"comp{k}"))
        common.check_rows(len(bins), len(emb), f"graph {gpath}", f"embedding {getattr(args, f'emb{k}')}")
        common.check_rows(len(bins), len(comp), f"graph {gpath}", f"compartment CSV {getattr(args, f'comp{k}')}")
        check_same_bins(bins, comp, gpath, getattr(args, f"comp{k}"))
        blocks = read_blocks(getattr(args, f"mcool{k}"), g["chroms"], res=int(g["resolution"]),
                             weight_name=args.weight_name)
        if sum(b.n for b in blocks) != len(bins):
            raise DataError(f"{getattr(args, f'mcool{k}')} has {sum(b.n for b in blocks)} bins on "
                            f"{', '.join(g['chroms'])} but graph {gpath} has {len(bins)}; pass the Hi-C file "
                            "the graph was built from")
        rep = getattr(args, f"rep{k}")
        cells.append({"label": getattr(args, f"label{k}"), "graph": g, "model": model, "emb": emb,
                      "bn": "frozen" if k == 1 else args.bn, "comp": comp, "bins": bins, "blocks": blocks,
                      "e1": comp["E1"].to_numpy(np.float64),
                      "replicate": read_blocks(rep, g["chroms"], res=int(g["resolution"]),
                                               weight_name=args.weight_name) if rep else None})
    check_same_bins(cells[0]["bins"], cells[1]["bins"], args.graph1, args.graph2)
    return cells, models


def _centromeres(uri: str, chroms: Sequence[str], res: int) -> dict:
    import compute_compartments as cc

    clr = hicio.open_cooler(uri, res=res)
    return cc.chrom_centromeres({c: int(n) for c, n in clr.chromsizes.items()}, list(chroms), assembly="auto")


def run_differential(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame, dict, list[dict]]:
    """Load inputs, make pseudo-replicates, test, call, attribute; return ``(table, regions, summary, cells)``."""
    import attribution

    cells, _ = _load_cells(args)
    g1, g2 = cells[0]["graph"], cells[1]["graph"]
    cens = _centromeres(args.mcool1, g1["chroms"], int(g1["resolution"]))
    reps = pseudo_replicates(cells, n_splits=args.n_splits, seed=args.seed, centromeres=cens,
                             mark_null=args.mark_null)
    log.info("pseudo-replicates done: %d split(s) per cell", args.n_splits)
    cov = np.minimum(*(np.concatenate([b.coverage for b in c["blocks"]]) for c in cells))
    usable = g1["mask"].numpy() & g2["mask"].numpy()
    usable &= np.isfinite(cells[0]["e1"]) & np.isfinite(cells[1]["e1"])
    cols = mark_columns(g1["feature_names"])  # the marks-only baselines leave out E1-E3 and coverage
    marks = [g1["x"].numpy()[:, cols], g2["x"].numpy()[:, cols]] if len(cols) else []
    table = differential(reps, full_emb=[c["emb"] for c in cells], full_e1=[c["e1"] for c in cells],
                         comp=[c["comp"]["compartment"].to_numpy(str) for c in cells], coverage=cov,
                         usable=usable, bins=cells[0]["bins"], features=marks or None,
                         fdr=args.fdr, min_run=args.min_run, switch_rule=args.switch_rule, graphs=[g1, g2],
                         empirical=args.empirical_null)
    calls = table["call"].map({v: k for k, v in KIND_NAMES.items()}).fillna(0).to_numpy(np.int8)
    regions = merge_regions(cells[0]["bins"], calls, {
        "q_value": table["q_value"].to_numpy(), "q_E1": table["q_E1"].to_numpy(),
        "cosine": table["cosine"].to_numpy(), "delta_E1": table["delta_E1"].to_numpy()})
    marks = list(g2["feature_names"])
    if args.ig_steps and len(regions):
        # the most significant regions first (embedding q, then ΔE1 q); the rest get no attribution
        order = np.lexsort((regions["q_E1"].to_numpy(float), regions["q_value"].to_numpy(float)))
        top = np.sort(order[:args.max_regions])
        log.info("attributing %d of %d regions to the marks (integrated gradients, %d steps)",
                 len(top), len(regions), args.ig_steps)
        attr = np.full((len(regions), len(marks)), np.nan)
        attr[top] = attribution.region_attributions(
            cells[1]["model"], g2, x_base=g1["x"], mu_ref=cells[0]["emb"],
            regions=list(regions["bins"].iloc[top]), bn=cells[1]["bn"], n_steps=args.ig_steps)
        for j, m in enumerate(marks):
            regions[f"attr_{m}"] = attr[:, j]
        regions["top_marks"] = ""
        regions.loc[regions.index[top], "top_marks"] = attribution.top_marks(attr[top], marks)
    summary = summarise(table, fdr=args.fdr, labels=(args.label1, args.label2), n_splits=args.n_splits,
                        replicates=[c["replicate"] is not None for c in cells])
    summary["n_regions"] = {k: int((regions["kind"] == k).sum()) for k in KIND_NAMES.values()}
    summary["switch_rule"] = args.switch_rule
    summary["mark_null"] = args.mark_null
    summary["null_inflation"] = table.attrs.get("null_inflation")
    summary["null_covers"] = (
        "Hi-C sampling noise (binomial halves; contact-derived features recomputed per half) and, for the "
        "embedding test, between-cell mark differences moved along the genome (--mark-null shift: every "
        "mark difference, biological or technical, counts as noise, so the embedding test is conservative)"
        if args.mark_null == "shift" else
        "Hi-C sampling noise only (binomial halves; contact-derived features recomputed per half); the halves "
        "share the cell's marks, so any mark difference between the cells is significant in the embedding test")
    return table, regions, summary, cells


def summarise(table: pd.DataFrame, *, fdr: float, labels: Sequence[str], n_splits: int,
              replicates: Sequence[bool]) -> dict:
    """Counts of calls among tested bins, and the calibration of the null draws."""
    tested = table["tested"].to_numpy(bool)
    n = int(tested.sum())
    out = {"labels": list(labels), "fdr": fdr, "n_bins": len(table), "n_usable": int(table["usable"].sum()),
           "n_tested": n, "n_splits": n_splits,
           "null": ["real replicate" if r else "binomial pseudo-replicates" for r in replicates],
           "significant": {"embedding": int((table["q_value"] <= fdr).sum()),
                           "E1": int((table["q_E1"] <= fdr).sum())},
           "calls": {k: int((table["call"] == k).sum()) for k in KIND_NAMES.values()}}
    out["fraction_significant_embedding"] = out["significant"]["embedding"] / n if n else None
    out["fraction_significant_E1"] = out["significant"]["E1"] / n if n else None
    return out


def _run(args: argparse.Namespace) -> None:
    from visualize_embeddings import validate_labels

    validate_labels([args.label1, args.label2], 2, "cell")
    out = output_paths(args.prefix)
    common.ensure_writable_dir(out["differential.csv"].parent)
    inputs = [args.model, *([args.model2] if args.model2 else []), args.mcool1, args.mcool2, args.graph1,
              args.graph2, args.emb1, args.emb2, args.comp1, args.comp2,
              *[r for r in (args.rep1, args.rep2) if r], *([args.truth] if args.truth else [])]
    common.seed_everything(args.seed)
    table, regions, summary, cells = run_differential(args)
    if args.truth:
        import detection

        summary["truth"] = detection.score_table(table, args.truth, [args.label1, args.label2])
    prov = common.provenance(args, inputs=inputs, seed=args.seed)
    marks = list(cells[1]["graph"]["feature_names"])
    common.write_table(out["differential.csv"], table, float_format="%.6g")
    common.write_table(out["regions.tsv"], regions.drop(columns="bins"), float_format="%.6g")
    ch = regions[regions["kind"] == "changed"]
    with common.atomic_output(out["changes.bed"]) as tmp:
        bed = pd.DataFrame({"chrom": ch["chrom"], "start": ch["start"], "end": ch["end"],
                            "name": ch.get("top_marks", pd.Series("changed", index=ch.index)),
                            "score": np.round(np.clip(-np.log10(ch["q_value"].astype(float)), 0, 1000)
                                              .fillna(0)).astype(int)})
        tmp.write_text(f'track name="{args.label1}_vs_{args.label2}_changes" description="embedding changes '
                       f'at q <= {args.fdr}, not A/B switches"\n'
                       + bed.to_csv(sep="\t", header=False, index=False))
    import tracks

    bins = table[["chrom", "start", "end"]]
    tracks.write_bin_bigwig(out["delta.bw"], bins, table["cosine"].to_numpy())
    tracks.write_bin_bigwig(out["mlog10q.bw"], bins, -np.log10(table["q_value"].to_numpy()))
    common.write_json(out["differential.json"], summary)
    common.save_figure(plot_attribution(regions if "top_marks" in regions else regions.iloc[:0], marks,
                                        title=f"{args.label1} vs {args.label2}: marks driving each region"),
                       out["attribution.png"])
    for path in out.values():
        common.write_provenance(path, prov)
    s = summary
    log.info("tested %d bins: %d significant in the embedding, %d in E1 at q <= %g; calls %s",
             s["n_tested"], s["significant"]["embedding"], s["significant"]["E1"], args.fdr,
             ", ".join(f"{k} {v}" for k, v in s["calls"].items()))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
