"""Step 2: A/B compartments: expected per diagonal -> O/E -> Pearson -> eigenvectors, per arm.

For each chromosome arm (``--arms``, centromeres from ``scripts/assets``) or whole
chromosome: the balanced contacts of usable bins are divided by the mean at their
distance (O/E; the first ``--ignore-diags`` diagonals are set to 1, values above
the ``--clip-percentile`` clipped), rows are correlated (``--method pearson``) or
the O/E - 1 matrix is used itself (``--method cooltools``), and the three leading
eigenvectors are kept. E1 is oriented per region by an orientation track
(``--bigwig_orient``, one or several, each with a sign: ``--orient-sign``, see
``orientation.py``); A means E1 > 0. Masked bins are ``N``. The QC JSON records
which track oriented each arm, its ``|r|`` with E1 and any track that disagrees.

O/E beyond the largest distance with any contact (a map cut at, say, 10 Mb) is
unknown and taken as 1, so truncation adds no positional pattern to E1. A region
longer than 8 such contact ranges gets its E1 from overlapping windows of 4
ranges chained through their overlaps (:func:`stitched_e1`): its leading
eigenvalues are otherwise nearly equal and E1 flips sign between distant
stretches. Maps with contacts at all distances (real Hi-C) never take this path.

Regions up to ``--dense-max-bins`` usable bins (default 1,000) are solved on a
dense matrix (memory ~ 3 x n^2 x 8 bytes); larger ones with
``scipy.sparse.linalg.eigsh`` on an implicit operator built from the sparse O/E
pixels, so memory stays O(pixels). Both give the same E1 (tested); the iterative
one was measured 1.3-4x faster already at 1,869-3,000 bins.
Nothing genome-wide is ever dense: chromosomes are read and solved one at a time.

Outputs: ``OUT`` (CSV: chrom,start,end,E1,E2,E3,compartment), ``<stem>.E1.bedGraph`` and
the same E1 as ``<stem>.E1.bw`` (bigWig, for IGV/HiGlass), ``<stem>.qc.json`` and
``<stem>.saddle.png``, each with a provenance sidecar.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Mapping, Sequence

import common  # first: one line naming the venv when a dependency is missing  # isort: skip
import numpy as np
import pandas as pd
from tqdm import tqdm

import hicio
import orientation
import tracks as bwtracks
from common import DataError

log = logging.getLogger("chromatin_gnn.compartments")

METHODS = ("pearson", "cooltools")
ASSEMBLIES = ("auto", "hg38", "hg19", "none")
MIN_REGION_BINS = 10
#: E1 from stitched windows (:func:`stitched_e1`) when a region is longer than
#: STITCH_ABOVE contact ranges; windows span WINDOW_RANGES contact ranges.
STITCH_ABOVE, WINDOW_RANGES = 8, 4
MASK_REASONS = {
    "nan_weight": "balancing weight is NaN",
    "low_coverage": "fewer raw cis contacts than --min-bin-contacts",
    "no_contacts_off_diagonal": "no contacts beyond the ignored diagonals",
    "small_region": f"arm/chromosome with fewer than {MIN_REGION_BINS} usable bins",
}


# ----------------------------------------------------------------------------
# chromosome arms
# ----------------------------------------------------------------------------
def _chr_key(name: str) -> str:
    return "chr" + common._strip_chr(name)


def guess_assembly(chromsizes: Mapping[str, int]) -> str | None:
    """``hg38``/``hg19`` when some chromosome has exactly that assembly's length, else ``None``."""
    hits = {asm: sum(common.load_chromsizes(asm).get(_chr_key(c)) == int(n) for c, n in chromsizes.items())
            for asm in ("hg38", "hg19")}
    best = max(hits, key=hits.get)
    return best if hits[best] else None


def arm_regions(chrom: str, start: np.ndarray, *,
                centromere: tuple[int, int] | None) -> list[tuple[str, int, int]]:
    """``(name, lo, hi)`` bin ranges: p and q arms (split at the centromere midpoint) or the whole chromosome."""
    n = len(start)
    if centromere is None:
        return [(chrom, 0, n)]
    cut = int(np.searchsorted(start, (centromere[0] + centromere[1]) / 2))
    return [(f"{chrom}{arm}", lo, hi) for arm, lo, hi in (("p", 0, cut), ("q", cut, n)) if hi > lo]


def chrom_centromeres(chromsizes: Mapping[str, int], chroms: Sequence[str], *,
                      assembly: str) -> dict[str, tuple[int, int] | None]:
    """Centromere per chromosome for ``--assembly`` (``auto`` guesses from sizes; ``none``: no arms).

    A chromosome whose length differs from the assembly's (a simulated or cropped
    one) or that the table lacks is treated whole, with a warning.
    """
    asm = guess_assembly(chromsizes) if assembly == "auto" else None if assembly == "none" else assembly
    if asm is None:
        if assembly == "auto":
            log.warning("assembly not recognised from chromosome sizes; compartments per whole "
                        "chromosome (pass --assembly hg38/hg19 for arms)")
        return {c: None for c in chroms}
    cens, sizes = common.load_centromeres(asm), common.load_chromsizes(asm)
    out = {}
    for c in chroms:
        key = _chr_key(c)
        out[c] = cens.get(key) if sizes.get(key) == int(chromsizes[c]) else None
        if out[c] is None:
            log.warning("%s: no %s centromere for a %d bp chromosome; using the whole chromosome",
                        c, asm, chromsizes[c])
    log.info("assembly %s: compartments per chromosome arm", asm)
    return out


# ----------------------------------------------------------------------------
# one region: O/E, eigenvectors, saddle
# ----------------------------------------------------------------------------
def oe_pixels(i: np.ndarray, j: np.ndarray, value: np.ndarray, valid: np.ndarray, *,
              ignore_diags: int = 2, clip_percentile: float = 99.9):
    """Observed/expected for one region's upper-triangle pixels.

    Returns
    -------
    valid, empty, i, j, oe
        ``valid`` without the bins that have no contact beyond the ignored
        diagonals (``empty``), and the O/E of the kept pixels (``j - i >=
        ignore_diags``), clipped at the ``clip_percentile`` of their values.
    """
    n = len(valid)
    keep = valid[i] & valid[j] & np.isfinite(value) & (value > 0) & (j - i >= ignore_diags)
    has = (np.bincount(i[keep], minlength=n) + np.bincount(j[keep], minlength=n)) > 0
    empty = valid & ~has
    valid = valid & has
    exp = hicio.expected_cis(i, j, value, valid)
    i, j = i[keep], j[keep]
    oe = value[keep] / exp[j - i]
    if len(oe) and 0 < clip_percentile < 100:
        oe = np.minimum(oe, np.percentile(oe, clip_percentile))
    return valid, empty, i, j, oe


def oe_matrix(valid: np.ndarray, i: np.ndarray, j: np.ndarray, oe: np.ndarray, *, ignore_diags: int = 2):
    """Symmetric sparse O/E over the valid bins only; ignored diagonals hold 1 (= expected)."""
    import scipy.sparse as sp

    idx = np.cumsum(valid) - 1
    near = [(k, k + d) for d in range(ignore_diags)
            for k in [np.flatnonzero(valid[:len(valid) - d] & valid[d:])]]
    rows = np.concatenate([idx[i], *(idx[a] for a, _ in near)])
    cols = np.concatenate([idx[j], *(idx[b] for _, b in near)])
    data = np.concatenate([oe, np.ones(len(rows) - len(oe))])
    nv = int(valid.sum())
    upper = sp.csr_matrix((data, (rows, cols)), shape=(nv, nv))
    return (upper + sp.triu(upper, k=1).T).tocsr()


class _Band:
    """Sums over pairs of valid bins at most ``dmax`` bins apart, without forming them.

    ``pos`` are the valid bins' (sorted) positions in the region.
    """

    def __init__(self, pos: np.ndarray, dmax: int) -> None:
        self.pos, self.dmax = pos, dmax
        self.lo = np.searchsorted(pos, pos - dmax, side="left")
        self.hi = np.searchsorted(pos, pos + dmax, side="right")
        self.count = self.hi - self.lo  # band entries per row

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """``W @ v`` for the 0/1 band matrix ``W``."""
        c = np.concatenate([[0.0], np.cumsum(v)])
        return c[self.hi] - c[self.lo]

    def fill(self, m) -> np.ndarray:
        """Dense ``m`` with 1 (= expected) outside the band."""
        full = m.toarray()
        full[np.abs(np.subtract.outer(self.pos, self.pos)) > self.dmax] = 1.0
        return full


def _operator(m, band: _Band, method: str, dense: bool):
    """The matrix to decompose (dense array or LinearOperator) and its total variance.

    ``m`` holds O/E within the band of distances with data; outside it
    (``band``) O/E is unknown and taken as 1, so pairs farther apart than any
    contact (e.g. a map cut at 10 Mb) neither add nor remove correlation.
    """
    from scipy.sparse.linalg import LinearOperator

    nv = m.shape[0]
    op = lambda matvec: LinearOperator((nv, nv), matvec=lambda v: matvec(np.ravel(v)),  # noqa: E731
                                       dtype=float)
    if method == "pearson":
        far = nv - band.count  # entries equal to 1 outside the band, per row
        mean = (np.asarray(m.sum(axis=1)).ravel() + far) / nv
        sd = np.sqrt(np.maximum((np.asarray(m.multiply(m).sum(axis=1)).ravel() + far) / nv - mean**2, 0))
        inv = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1), 0.0)
        total = float((sd > 0).sum())  # trace of a correlation matrix
        if dense:
            z = (band.fill(m) - mean[:, None]) * inv[:, None]
            return z @ z.T / nv, total
        mv = lambda v: m @ v + v.sum() - band(v)  # noqa: E731 - M v, M = O/E filled with 1
        zt = lambda v: mv(v * inv) - mean @ (v * inv)  # noqa: E731 - Z^T v
        zv = lambda w: (mv(w) - mean * w.sum()) * inv  # noqa: E731 - Z w
        return op(lambda v: zv(zt(v)) / nv), total
    total = float(((m.data - 1) ** 2).sum() + band.count.sum() - m.nnz)  # ||O/E - 1||_F^2
    if dense:
        return band.fill(m) - 1.0, total
    return op(lambda v: m @ v - band(v)), total


def top_eigs(a, k: int, *, by_magnitude: bool) -> tuple[np.ndarray, np.ndarray]:
    """Leading ``k`` eigenpairs of a symmetric matrix or operator (largest, or largest |value|).

    Small problems use ``numpy.linalg.eigh``; others ARPACK ``eigsh`` with a fixed
    start vector, so the same input gives the same numbers.
    """
    from scipy.sparse.linalg import eigsh

    n = a.shape[0]
    if n <= 64:
        w, v = np.linalg.eigh(a if isinstance(a, np.ndarray) else a @ np.eye(n))
    else:
        w, v = eigsh(a, k=k, which="LM" if by_magnitude else "LA",
                     v0=np.random.default_rng(0).standard_normal(n))
    order = np.argsort(-np.abs(w) if by_magnitude else -w, kind="stable")[:k]
    return w[order], v[:, order]


def region_eigs(i: np.ndarray, j: np.ndarray, value: np.ndarray, valid: np.ndarray, *,
                method: str = "pearson", ignore_diags: int = 2, clip_percentile: float = 99.9,
                dense_max_bins: int = 1000, n_eigs: int = 3) -> dict:
    """Eigenvectors of one region (arm or chromosome).

    Parameters
    ----------
    i, j, value
        Upper-triangle pixels in region-local bin indices, balanced values.
    valid
        Usable bins of the region.

    Returns
    -------
    dict
        ``vecs`` ``[n, n_eigs]`` (NaN on masked bins, scaled by sqrt(|eigenvalue|)),
        ``eigenvalues``, ``variance_explained``, ``solver``, ``valid`` and
        ``empty`` (bins newly masked for having no contacts off the ignored
        diagonals), and the O/E pixels ``oe_ij`` for the saddle.
    """
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    valid, empty, pi, pj, oe = oe_pixels(i, j, value, valid, ignore_diags=ignore_diags,
                                         clip_percentile=clip_percentile)
    nv = int(valid.sum())
    vecs = np.full((len(valid), n_eigs), np.nan)
    out = {"vecs": vecs, "valid": valid, "empty": empty, "oe_ij": (pi, pj, oe), "n_valid": nv,
           "eigenvalues": [np.nan] * n_eigs, "variance_explained": [np.nan] * n_eigs, "solver": None}
    if nv < MIN_REGION_BINS:
        return out
    dense = nv <= dense_max_bins
    band = _Band(np.flatnonzero(valid), int((pj - pi).max()))
    op, total = _operator(oe_matrix(valid, pi, pj, oe, ignore_diags=ignore_diags), band, method, dense)
    w, v = top_eigs(op, n_eigs, by_magnitude=method == "cooltools")
    v = v * np.sqrt(np.abs(w))
    v *= np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(v.shape[1])])  # deterministic sign
    vecs[valid] = v
    explained = w / total if method == "pearson" else w**2 / total
    out.update(eigenvalues=w.tolist(), variance_explained=explained.tolist(), max_dist_bins=band.dmax,
               solver="dense" if dense else "eigsh")
    return out


def _pairs_within(pos: np.ndarray, grp: np.ndarray, n_groups: int, dist: int) -> np.ndarray:
    """``[G, G]`` number of ordered pairs of bins at most ``dist`` apart, by group."""
    if dist < 0:
        return np.zeros((n_groups, n_groups))
    onehot = np.eye(n_groups)[grp]
    cum = np.vstack([np.zeros(n_groups), np.cumsum(onehot, axis=0)])
    near = cum[np.searchsorted(pos, pos + dist, side="right")] - cum[np.searchsorted(pos, pos - dist)]
    return onehot.T @ near


def stitched_e1(i: np.ndarray, j: np.ndarray, value: np.ndarray, valid: np.ndarray, *, window: int,
                **solve) -> tuple[np.ndarray, np.ndarray]:
    """E1 of a region much longer than its contact range, from overlapping windows.

    When contacts stop at some distance D (a truncated or simulated map), loci
    farther apart than ~2D are related only through chains of neighbours: the
    leading eigenvalues of the whole region become nearly equal and its E1 can
    change sign between distant stretches. Here E1 is computed in windows of
    ``window`` bins that overlap by half; each window is scaled (sign included)
    by least squares onto the previous one over their overlap and supplies the
    middle half it covers. A window with no usable overlap (e.g. after a long
    masked stretch) starts a new piece, to be oriented on its own.

    Returns
    -------
    e1, piece
        Stitched E1 (NaN where no window had a value) and the piece of each bin (-1 for NaN).
    """
    n = len(valid)
    step = max(window // 2, 1)
    starts = sorted(set(range(0, max(n - window, 0), step)) | {max(n - window, 0)})
    e1, piece = np.full(n, np.nan), np.full(n, -1)
    current = -1
    for s0 in starts:
        s1 = min(s0 + window, n)
        sel = (i >= s0) & (j < s1)
        v = region_eigs(i[sel] - s0, j[sel] - s0, value[sel], valid[s0:s1], n_eigs=1, **solve)["vecs"][:, 0]
        prev = e1[s0:s1]
        ov = np.isfinite(prev) & np.isfinite(v)
        if ov.sum() >= MIN_REGION_BINS and v[ov] @ v[ov] > 0:
            v = v * (prev[ov] @ v[ov]) / (v[ov] @ v[ov])
        elif np.isfinite(v).any():
            current += 1
        take = np.isfinite(v) & (np.isnan(prev) | (np.arange(s0, s1) >= s0 + step // 2))
        prev[take] = v[take]
        piece[s0:s1][take] = current
    return e1, piece


def saddle_sums(i: np.ndarray, j: np.ndarray, oe: np.ndarray, e1: np.ndarray, *, n_groups: int = 10,
                ignore_diags: int = 2, max_dist: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sum and number of O/E values per pair of E1-quantile groups, for one region.

    Bins are ranked by E1 within the region (NaN = masked). Pairs closer than
    ``ignore_diags`` or farther than ``max_dist`` bins (beyond any contact) are
    left out; absent pixels in between count as O/E 0.
    """
    ok = np.isfinite(e1)
    pos = np.flatnonzero(ok)
    g = np.full(len(e1), -1)
    g[pos] = np.argsort(np.argsort(e1[pos], kind="stable"), kind="stable") * n_groups // max(len(pos), 1)
    off = i != j
    sums = (np.bincount(g[i] * n_groups + g[j], oe, minlength=n_groups**2)
            + np.bincount((g[j] * n_groups + g[i])[off], oe[off], minlength=n_groups**2))
    far = len(e1) if max_dist is None else max_dist
    counts = (_pairs_within(pos, g[pos], n_groups, far)
              - _pairs_within(pos, g[pos], n_groups, ignore_diags - 1))
    return sums.reshape(n_groups, n_groups), counts


def saddle_strength(sums: np.ndarray, counts: np.ndarray) -> float:
    """(AA + BB) / (AB + BA) over the outer fifths of the E1 groups."""
    k = max(1, len(sums) // 5)
    mean = lambda r, c: sums[r, c].sum() / max(counts[r, c].sum(), 1)  # noqa: E731
    lo, hi = slice(0, k), slice(len(sums) - k, None)
    den = mean(lo, hi) + mean(hi, lo)
    return float((mean(hi, hi) + mean(lo, lo)) / den) if den > 0 else float("nan")


_corr = orientation._corr


def _as_tracks(track, block: hicio.CisBlock) -> orientation.Tracks:
    """Orientation candidates: a :class:`orientation.Tracks`, one +1 track, or raw coverage."""
    if isinstance(track, orientation.Tracks):
        return track
    if track is not None and np.isfinite(track).any():
        return orientation.Tracks(np.asarray(track, dtype=float), ["orientation track"], [1])
    return orientation.Tracks(block.coverage.astype(float), ["raw coverage"], [1])


def call_compartments(block: hicio.CisBlock, track=None, *, orient_pick: str = "best",
                      require_orientation: bool = False,
                      regions: Sequence[tuple[str, int, int]] | None = None, method: str = "pearson",
                      ignore_diags: int = 2, clip_percentile: float = 99.9,
                      min_bin_contacts: float = 1.0, dense_max_bins: int = 1000, n_eigs: int = 3,
                      saddle_groups: int = 10) -> tuple[pd.DataFrame, dict]:
    """A/B compartments of one chromosome, region by region.

    Parameters
    ----------
    block
        The chromosome's contacts (:func:`hicio.read_cis`).
    track
        Orientation per bin: an :class:`orientation.Tracks` (several signed
        candidates; per region one is chosen by ``orient_pick``, see
        :func:`orientation.choose`), or one array E1 is flipped to correlate
        positively with, per region. ``None`` (or all NaN) orients by raw cis
        coverage, a weak proxy.
    orient_pick
        ``best`` or ``first`` (:func:`orientation.choose`).
    require_orientation
        Raise :class:`DataError` when no track covers a solved region (else it
        falls back to raw coverage with a warning).
    regions
        ``(name, lo, hi)`` bin ranges, e.g. from :func:`arm_regions`; default the whole chromosome.
    method
        ``pearson`` (eigenvectors of the correlation of O/E rows) or
        ``cooltools`` (of O/E - 1 itself).
    ignore_diags, clip_percentile, min_bin_contacts, dense_max_bins, n_eigs, saddle_groups
        See the command-line help.

    Returns
    -------
    table, qc
        ``chrom,start,end,E1..E{n_eigs},compartment`` for every bin, and a dict
        with per-region eigenvalues/variance explained/orientation, mask
        reasons and saddle sums.
    """
    n = block.n
    regions = list(regions or [(block.chrom, 0, n)])
    cands = _as_tracks(track, block)
    reason = np.full(n, "", dtype=object)
    reason[~np.isfinite(block.weight)] = "nan_weight"
    reason[(reason == "") & (block.coverage < max(min_bin_contacts, np.finfo(float).tiny))] = "low_coverage"
    vecs = np.full((n, n_eigs), np.nan)
    sums = np.zeros((saddle_groups, saddle_groups))
    counts = np.zeros_like(sums)
    info = []
    solve = dict(method=method, ignore_diags=ignore_diags, clip_percentile=clip_percentile,
                 dense_max_bins=dense_max_bins)
    for name, lo, hi in regions:
        sel = (block.i >= lo) & (block.j < hi)
        pix = (block.i[sel] - lo, block.j[sel] - lo, block.value[sel])
        r = region_eigs(*pix, reason[lo:hi] == "", n_eigs=n_eigs, **solve)
        reason[lo:hi][r["empty"]] = "no_contacts_off_diagonal"
        if r["solver"] is None:
            reason[lo:hi][r["valid"]] = "small_region"
        e1, piece = r["vecs"][:, 0], np.where(r["valid"], 0, -1)
        windows = r["solver"] is not None and hi - lo > STITCH_ABOVE * r["max_dist_bins"]
        if windows:
            e1, piece = stitched_e1(*pix, r["valid"], window=WINDOW_RANGES * r["max_dist_bins"], **solve)
            reason[lo:hi][r["valid"] & np.isnan(e1)] = "no_contacts_off_diagonal"
        sub = cands.rows(lo, hi)
        k = orientation.choose(e1, sub, pick=orient_pick)["index"]
        if k is None and r["solver"] is not None:
            cov = max(orientation.choose(e1, sub)["coverage"], default=0.0)
            msg = (f"orientation track(s) {', '.join(sub.names)} do not cover {name} (signal on "
                   f"{cov:.0%} of its usable bins, {orientation.MIN_COVERAGE:.0%} needed)")
            if require_orientation:
                raise DataError(f"{msg}; pass a track that covers the chromosome (same assembly)")
            log.warning("%s; %s oriented by raw coverage", msg, name)
            sub = _as_tracks(None, block).rows(lo, hi)
            k = 0
        k_used = 0 if k is None else k  # an unsolved region (all NaN): any track will do
        orient = (sub.signs[k_used] or 1) * sub.values[:, k_used]
        flips = [p for p in np.unique(piece[piece >= 0])
                 if _corr(e1[piece == p], orient[piece == p]) < 0]
        e1[np.isin(piece, flips)] *= -1  # orient each piece (the whole region, or a window chain)
        rho = _corr(e1, sub.values[:, k_used])  # with the track itself (negative for a sign -1 track)
        chosen = orientation.report(name, e1, sub, k) if r["solver"] is not None else {}
        r["vecs"][:, 0] = e1
        vecs[lo:hi] = r["vecs"]
        if r["solver"] is not None:
            s, c = saddle_sums(*r["oe_ij"], r["vecs"][:, 0], n_groups=saddle_groups,
                               ignore_diags=ignore_diags, max_dist=r["max_dist_bins"])
            sums += s
            counts += c
        info.append({"region": name, "start": int(block.start[lo]), "end": int(block.end[hi - 1]),
                     "n_bins": hi - lo, "n_valid": r["n_valid"] if r["solver"] else 0,
                     "eigenvalues": r["eigenvalues"], "variance_explained": r["variance_explained"],
                     "r_E1_orient": rho if np.isfinite(rho) else None, **chosen,
                     "flipped_pieces": len(flips),
                     "E1_from": (f"{int(piece.max()) + 1} stitched window chain(s)" if windows
                                 else "whole region"),
                     "max_contact_distance_bins": r.get("max_dist_bins"), "solver": r["solver"]})
    e1 = vecs[:, 0]
    table = block.bins()
    for k in range(n_eigs):
        table[f"E{k + 1}"] = vecs[:, k]
    table["compartment"] = np.where(np.isnan(e1), "N", np.where(e1 > 0, "A", "B"))
    qc = {"regions": info, "masked": {k: int((reason == k).sum()) for k in MASK_REASONS},
          "saddle_sums": sums, "saddle_counts": counts}
    return table, qc


# ----------------------------------------------------------------------------
# summary, figure
# ----------------------------------------------------------------------------
def summarise(table: pd.DataFrame, qcs: Sequence[dict], track, *, method: str) -> dict:
    """The QC record for the whole run (all chromosomes); ``track`` as in :func:`call_compartments`
    (over every bin of ``table``)."""
    regions = [r for q in qcs for r in q["regions"]]
    masked = {k: sum(q["masked"][k] for q in qcs) for k in MASK_REASONS}
    sums = sum(q["saddle_sums"] for q in qcs)
    counts = sum(q["saddle_counts"] for q in qcs)
    solved = [r for r in regions if r["solver"]]
    weights = np.array([r["n_valid"] for r in solved], dtype=float)
    ve = (np.array([r["variance_explained"] for r in solved]).T @ weights / weights.sum()
          if len(solved) else [])
    n = len(table)
    return common.strict_json({
        "method": method, "n_bins": n,
        "n_A": int((table["compartment"] == "A").sum()), "n_B": int((table["compartment"] == "B").sum()),
        "n_masked": int(sum(masked.values())), "fraction_masked": sum(masked.values()) / max(n, 1),
        "masked_reasons": masked, "masked_reason_meaning": MASK_REASONS,
        "variance_explained": list(ve),
        "variance_explained_E1": ve[0] if len(ve) else None,
        "eigenvalues": {r["region"]: r["eigenvalues"] for r in regions},
        "r_E1_orientation_track": (None if track is None else _corr(table["E1"].to_numpy(), (
            track.values[:, 0] if isinstance(track, orientation.Tracks) else track))),
        "orientation": _orientation_summary(table, regions, track),
        "saddle_strength": saddle_strength(sums, counts),
        "saddle": (sums / np.maximum(counts, 1)).tolist(),
        "regions": regions,
    })


def _orientation_summary(table: pd.DataFrame, regions: Sequence[dict], track) -> dict:
    """Tracks offered, their signs and r with the final E1, and which one oriented each region."""
    e1 = table["E1"].to_numpy()
    cands = track if isinstance(track, orientation.Tracks) else None
    used = {r["region"]: r.get("orient_track") for r in regions if r.get("solver")}
    if cands is None:
        name = "raw coverage" if track is None else "orientation track"
        return {"tracks": [name], "signs": [1], "used_by_region": used,
                "abs_r_by_region": {r["region"]: r.get("orient_abs_r") for r in regions if r.get("solver")}}
    return {"tracks": cands.names, "signs": cands.signs, "files": cands.where,
            "r_E1": {n: _corr(e1, cands.values[:, k]) for k, n in enumerate(cands.names)},
            "used_by_region": used,
            "abs_r_by_region": {r["region"]: r.get("orient_abs_r") for r in regions if r.get("solver")},
            "disagree_by_region": {r["region"]: r.get("orient_disagree") for r in regions
                                   if r.get("orient_disagree")},
            "min_abs_r": orientation.MIN_ABS_R}


def saddle_figure(saddle: np.ndarray, strength: float, title: str):
    """log2 O/E between E1-quantile groups (B bottom-left, A top-right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = np.log2(np.where(saddle > 0, saddle, np.nan))
    lim = np.nanmax(np.abs(s)) if np.isfinite(s).any() else 1.0
    fig, ax = plt.subplots(figsize=(4.6, 4))
    im = ax.imshow(s, cmap="coolwarm", vmin=-lim, vmax=lim, origin="lower")
    fig.colorbar(im, ax=ax, label="log2 O/E")
    ax.set_xlabel("E1 quantile group (B → A)")
    ax.set_ylabel("E1 quantile group (B → A)")
    ax.set_title(f"{title}\nstrength (AA+BB)/(AB+BA) = {strength:.2f}", fontsize=9)
    return fig


def output_paths(out: Path) -> dict[str, Path]:
    """CSV and its siblings: ``<stem>.E1.bedGraph``, ``<stem>.E1.bw``, ``<stem>.qc.json``, ``<stem>.saddle.png``."""
    stem = out.with_suffix("")
    return {"csv": out, "bedgraph": Path(f"{stem}.E1.bedGraph"), "bigwig": Path(f"{stem}.E1.bw"),
            "qc": Path(f"{stem}.qc.json"),
            "saddle": Path(f"{stem}.saddle.png")}


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(prog="compute_compartments.py", description=__doc__.split("\n\n")[0])
    hicio.add_cooler_args(p)
    g = p.add_argument_group("compartments")
    g.add_argument("--bigwig_orient", "--bigwig-orient", dest="bigwig_orient", metavar="BW", nargs="+",
                   help="orientation track(s): E1 > 0 (A) where a +1 track is high or a -1 track low; "
                        "with several, each arm is oriented by one (--orient-pick), the others checked. "
                        "Without any the sign follows raw coverage")
    g.add_argument("--orient-names", "--orient_names", dest="orient_names", nargs="+", metavar="NAME",
                   help="names of the orientation tracks (for the sign and the QC) [file names]")
    g.add_argument("--orient-sign", "--orient_sign", dest="orient_sign", nargs="+", type=orientation.parse_sign,
                   default=["auto"], metavar="{+1,-1,auto}",
                   help="sign of each orientation track (one for all, or one per track); auto: +1 for "
                        "active marks/GC/TSS density, -1 for H3K9me3/H3K27me3 (see orientation.py)")
    g.add_argument("--orient-pick", "--orient_pick", dest="orient_pick", choices=orientation.PICKS,
                   default="best", help="per arm: best = an active track (else a repressive one) with the "
                                        "largest |r| with E1, order-independent; first = the first track")
    g.add_argument("--method", choices=METHODS, default="pearson",
                   help="eigenvectors of the Pearson correlation of O/E, or of O/E itself")
    g.add_argument("--ignore-diags", "--ignore_diags", dest="ignore_diags", type=hicio.nonneg_int,
                   default=2, metavar="N", help="diagonals to ignore (2 = main and first, as cooltools)")
    g.add_argument("--clip-percentile", "--clip_percentile", dest="clip_percentile", type=float,
                   default=99.9, metavar="P", help="clip O/E above this percentile (100 = off)")
    g.add_argument("--min-bin-contacts", "--min_bin_contacts", dest="min_bin_contacts", type=float,
                   default=1.0, metavar="N", help="mask bins with fewer raw cis contacts")
    g.add_argument("--arms", action=argparse.BooleanOptionalAction, default=True,
                   help="call compartments per chromosome arm")
    g.add_argument("--assembly", choices=ASSEMBLIES, default="auto",
                   help="centromeres for --arms (auto: recognise hg38/hg19 from chromosome sizes)")
    g.add_argument("--dense-max-bins", "--dense_max_bins", dest="dense_max_bins",
                   type=hicio.nonneg_int, default=1000, metavar="N",
                   help="largest region solved on a dense matrix; larger ones use eigsh on an "
                        "implicit sparse operator (faster from ~1,000 bins, and O(pixels) memory)")
    g.add_argument("--saddle-groups", "--saddle_groups", dest="saddle_groups", type=hicio.positive_int,
                   default=10, metavar="N", help="E1 quantile groups in the saddle plot")
    p.add_argument("--out", required=True, metavar="CSV", help="output compartments CSV")
    return p


def orientation_tracks(paths: Sequence[str], bins: pd.DataFrame, *, names: Sequence[str] | None,
                       signs: Sequence[str], allow_missing: bool = False,
                       chromsizes=None) -> orientation.Tracks:
    """Read the orientation bigWigs on ``bins`` and resolve their names and signs."""
    if names and len(names) != len(paths):
        raise DataError(f"{len(names)} --orient-names for {len(paths)} --bigwig_orient tracks; "
                        "give one name per track")
    names = list(names or [Path(p).name.removesuffix(".bw").removesuffix(".bigWig") for p in paths])
    values = hicio.read_tracks(paths, bins, allow_missing=allow_missing, chromsizes=chromsizes)
    return orientation.Tracks(values, names, orientation.resolve_signs(names, signs), [str(p) for p in paths])


def _run(args: argparse.Namespace) -> None:
    orient_paths = args.bigwig_orient or []
    hicio.check_bigwigs(orient_paths)
    clr, chroms, weight_name = hicio.open_hic(args)
    all_mode = hicio.wants_all(args.chrom)
    sizes = {c: int(n) for c, n in clr.chromsizes.items()}
    cens = chrom_centromeres(sizes, chroms, assembly=args.assembly if args.arms else "none")
    track = (orientation_tracks(orient_paths, hicio.bin_table(clr, chroms), names=args.orient_names,
                                signs=args.orient_sign, allow_missing=all_mode, chromsizes=sizes)
             if orient_paths else None)
    if track is None:
        log.warning("no --bigwig_orient: E1 sign follows raw coverage; A/B labels may be swapped")
    paths = output_paths(Path(args.out))
    common.ensure_writable_dir(paths["csv"].parent)
    tables, qcs, pos = [], [], 0
    for chrom in tqdm(chroms, desc="compartments", unit="chrom",
                      disable=common.progress_disabled() or len(chroms) < 2):
        block = hicio.read_cis(clr, chrom, weight_name=weight_name, allow_empty=all_mode)
        table, qc = call_compartments(
            block, None if track is None else track.rows(pos, pos + block.n),
            orient_pick=args.orient_pick, require_orientation=not all_mode,
            regions=arm_regions(chrom, block.start, centromere=cens[chrom]), method=args.method,
            ignore_diags=args.ignore_diags, clip_percentile=args.clip_percentile,
            min_bin_contacts=args.min_bin_contacts, dense_max_bins=args.dense_max_bins,
            saddle_groups=args.saddle_groups)
        tables.append(table)
        qcs.append(qc)
        pos += block.n
    table = pd.concat(tables, ignore_index=True)
    qc = summarise(table, qcs, track, method=args.method)
    prov = common.provenance(args, inputs=[args.mcool, *orient_paths],
                             cooler=hicio.cooler_uri(clr), chroms=chroms)
    qc["provenance"] = prov
    common.write_table(paths["csv"], table, float_format="%.6g")
    common.write_table(paths["bedgraph"], table.loc[table["E1"].notna(), ["chrom", "start", "end", "E1"]],
                       header=False, float_format="%.6g")
    bwtracks.write_bin_bigwig(paths["bigwig"], table[["chrom", "start", "end"]], table["E1"].to_numpy(),
                              chromsizes=sizes)
    common.write_json(paths["qc"], qc)
    where = ", ".join(chroms) if len(chroms) < 4 else f"{len(chroms)} chromosomes"
    title = f"{Path(args.mcool.split('::')[0]).stem} {where}"
    common.save_figure(saddle_figure(np.array(qc["saddle"]), qc["saddle_strength"], title), paths["saddle"])
    for path in paths.values():
        common.write_provenance(path, prov)
    log.info("compartments %s: %d A, %d B, %d N (%s); variance explained by E1 %.1f%%, "
             "saddle strength %.2f", paths["csv"], qc["n_A"], qc["n_B"], qc["n_masked"],
             ", ".join(f"{k}: {v}" for k, v in qc["masked_reasons"].items() if v) or "none masked",
             100 * (qc["variance_explained_E1"] or np.nan),
             qc["saddle_strength"])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
