#!/usr/bin/env python
"""Simulate the default dataset: two cell lines' Hi-C + ChIP-seq with a known answer.

The real GM12878/IMR90 files cannot be downloaded everywhere, so the default
pipeline runs on data made here. Every later stage measures itself against the
planted truth (``truth.tsv``).

Model, per chromosome (bins of ``--res`` bp; ``i <= j``, ``s = j - i``)::

    E[count_ij] ∝ b_i b_j · max(s, ½)^decay · (1 + e_i e_j)
                  · (1 + tad · [same TAD]) · (½ if i and j lie on different arms)
    count_ij ~ Poisson(E[count_ij])

* ``b``: per-cell log-normal coverage bias; 0 over unmappable blocks (the first
  ``--pericentromere-bp`` of a chr21-like chromosome, or hg38 centromeres and
  acrocentric p-arms with ``--genome``) and a few scattered bins; a few more
  scattered bins get low coverage (balancing filters most of them).
* ``e_i = ±sqrt(strength_i)``: A (+) / B (−) compartments, domains of ~0.5–3 Mb
  built from whole TADs (~0.2–1.5 Mb); ``strength`` varies smoothly along the
  chromosome around ``--compartment-strength``.
* The second cell has ``--depth-ratio`` × the depth, its own biases, and planted
  switches: runs of 4–15 consecutive bins flipped B→A and A→B.

Tracks (``--track-step`` bp steps, no data over unmappable bins) follow each cell's
own compartments only moderately: CTCF peaks at TAD boundaries and is somewhat
higher in A, H3K27me3 is higher in B; both carry broad and local noise and zero
stretches. Their per-bin |r| with the truth is recorded in ``simulation.json``.

Contacts are simulated chromosome by chromosome, in row blocks, never as a
genome-wide matrix; trans contacts are omitted, so the weights are balanced
cis-only. ``--max-dist`` can skip far pairs, but ICE then converges slowly (or
not at all) on long chromosomes, as distant bins are never linked.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import cooler
import numpy as np
import pandas as pd
import pyBigWig
from scipy.ndimage import binary_dilation, gaussian_filter1d
from tqdm import tqdm

import common
from common import DataError

log = logging.getLogger("chromatin_gnn.simulate")

MARKS = ("CTCF", "H3K27me3")
#: Default depth: cis contacts per mappable Mb for the first cell (~16 M on hg38 chr21),
#: capped so that a whole genome stays a few minutes' work.
DEPTH_PER_MB = 480_000
DEPTH_CAP = 100_000_000
#: Extra unmappable sequence on each side of a --genome centromere.
CENTROMERE_PAD = 500_000
ACROCENTRIC = ("chr13", "chr14", "chr15", "chr21", "chr22")
TAD_BP = (200_000, 1_500_000)
DOMAIN_BP = (500_000, 3_000_000)
SWITCH_RUN = (4, 15)
CHUNK_PAIRS = 4_000_000
#: How far H3K27me3 and CTCF shift with A/B, in log units; calibrated so that the
#: per-bin |r| with the truth is ~0.4 (0.2–0.6 across seeds), never a giveaway.
K27_AB, CTCF_AB = 0.45, 0.28
#: Contacts between the two arms of a chromosome, relative to pairs within one arm.
ARM_CONTACT = 0.5


# ----------------------------------------------------------------------------
# genome layout
# ----------------------------------------------------------------------------
def hg38_chromsizes() -> pd.Series:
    """hg38 sizes of chr1–chr22 and chrX (``scripts/assets/chromsizes_hg38.tsv``)."""
    sizes = pd.Series(common.load_chromsizes("hg38"), name="length", dtype=np.int64)
    return sizes.rename_axis("chrom")


def centromeres(assembly: str = "hg38") -> pd.DataFrame:
    """``chrom, start, end`` of each centromere (``scripts/assets/centromeres.tsv``; hg38, hg19)."""
    return pd.DataFrame([(c, s, e) for c, (s, e) in common.load_centromeres(assembly).items()],
                        columns=["chrom", "start", "end"])


def chromosome_sizes(chroms: list[str], lengths: list[int] | None = None, *,
                     genome: str | None = None) -> pd.Series:
    """Lengths of the chromosomes to simulate, in order.

    ``genome="hg38"`` gives the 22 hg38 autosomes. Otherwise ``lengths`` gives one
    length per name, or, when omitted, each name's hg38 length.
    """
    hg38 = hg38_chromsizes()
    if genome is not None:
        return hg38[[f"chr{k}" for k in range(1, 23)]]
    if len(set(chroms)) != len(chroms):
        raise DataError(f"--chrom lists a chromosome twice ({' '.join(chroms)}); name each once")
    if lengths is None:
        try:
            lengths = [int(hg38[common.resolve_chrom(c, hg38.index, where="hg38")]) for c in chroms]
        except DataError:
            raise DataError(f"no default length for {' '.join(chroms)}: not all are hg38 "
                            "chromosomes; pass --length") from None
    if len(lengths) != len(chroms):
        raise DataError(f"{len(lengths)} --length values for {len(chroms)} chromosomes; "
                        "give one length per --chrom, or none for hg38 sizes")
    return pd.Series(lengths, index=chroms, name="length", dtype=np.int64)


def unmappable_blocks(chromsizes: pd.Series, *, genome: str | None = None,
                      pericentromere_bp: int = 0) -> pd.DataFrame:
    """Zero-coverage blocks (``chrom, start, end``).

    With ``genome``: each centromere ± :data:`CENTROMERE_PAD`, from the start of
    the chromosome for the acrocentric ones. Otherwise the first
    ``pericentromere_bp`` of every chromosome (chr21-like).
    """
    if genome is None:
        return pd.DataFrame({"chrom": chromsizes.index, "start": 0,
                             "end": np.minimum(pericentromere_bp, chromsizes.to_numpy())})
    cen = centromeres(genome).set_index("chrom").loc[chromsizes.index].reset_index()
    cen["start"] = np.where(cen["chrom"].isin(ACROCENTRIC), 0,
                            np.maximum(cen["start"] - CENTROMERE_PAD, 0))
    cen["end"] = np.minimum(cen["end"] + CENTROMERE_PAD, chromsizes.to_numpy())
    return cen


def _runs_mask(n: int, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Boolean mask of length ``n`` covering ``[start, start + length)`` runs."""
    d = np.zeros(n + 1, np.int64)
    np.add.at(d, starts, 1)
    np.add.at(d, np.minimum(starts + lengths, n), -1)
    return np.cumsum(d[:-1]) > 0


# ----------------------------------------------------------------------------
# planted truth
# ----------------------------------------------------------------------------
def _segments(n: int, lo: int, hi: int, rng: np.random.Generator) -> np.ndarray:
    """Segment index of each of ``n`` positions, segments ``lo..hi`` long."""
    sizes = rng.integers(lo, hi + 1, size=n // lo + 1)
    return np.repeat(np.arange(sizes.size), sizes)[:n]


def _run_lengths(n: int, rng: np.random.Generator) -> list[int]:
    """Random run lengths within :data:`SWITCH_RUN` summing to exactly ``n``."""
    lo, hi = SWITCH_RUN
    if n < lo:
        return [n] if n else []
    drawn = rng.integers(lo, hi + 1, size=n // lo + 1)
    r = min(int(np.searchsorted(np.cumsum(drawn), n)) + 1, n // lo)  # r * lo <= n <= r * hi
    lengths = drawn[:r].copy()
    diff = n - int(lengths.sum())
    for k in range(r):  # spread the difference over the runs, keeping each in [lo, hi]
        d = int(np.clip(diff, lo - lengths[k], hi - lengths[k]))
        lengths[k] += d
        diff -= d
    return [int(x) for x in lengths]


def plant_switches(ab: np.ndarray, eligible: np.ndarray, chrom_id: np.ndarray, *, n: int,
                   source: int, rng: np.random.Generator, flag: str) -> np.ndarray:
    """Choose runs of consecutive ``eligible`` bins labelled ``source`` to flip.

    Runs stay on one chromosome and never touch each other. Returns a boolean
    mask with exactly ``n`` bins set, or raises :class:`DataError` if they do not fit.
    """
    flipped = np.zeros(ab.size, bool)
    free = eligible & (ab == source)
    for length in _run_lengths(n, rng):  # a few runs, each placed with whole-array ops
        ok = free & ~binary_dilation(flipped)
        c = np.concatenate([[0], np.cumsum(ok)])
        starts = np.flatnonzero(c[length:] - c[:-length] == length)
        starts = starts[chrom_id[starts] == chrom_id[starts + length - 1]]
        if not starts.size:
            raise DataError(f"cannot place {n} switched bins ({flag}) among {int(free.sum())} "
                            f"candidate bins; lower {flag} or simulate a longer chromosome")
        s = rng.choice(starts)
        flipped[s:s + length] = True
    return flipped


def plant_truth(chromsizes: pd.Series, blocks: pd.DataFrame, *, res: int, n_b2a: int,
                n_a2b: int, compartment_strength: float, rng: np.random.Generator) -> pd.DataFrame:
    """The known answer: one row per bin.

    Columns ``chrom, start, end, chrom_id, mappable, coverage`` (mappability
    factor: 0, low, or 1), ``arm`` (1 after the chromosome's unmappable block, 0
    before), ``tad_id`` (−1 in unmappable blocks; TADs never span two arms),
    ``tad_start`` (first bin of a TAD), ``strength`` (local compartment strength),
    ``ab0`` and ``ab1`` (+1 = A, −1 = B, first and second cell).
    """
    bins = cooler.util.binnify(chromsizes, res)
    bins["chrom"] = bins["chrom"].astype(str)
    n = len(bins)
    bins["chrom_id"] = pd.Categorical(bins["chrom"], categories=chromsizes.index).codes
    by = blocks.set_index("chrom")
    block_end = by.loc[bins["chrom"], "end"].to_numpy()
    in_block = ((bins["start"].to_numpy() < block_end)
                & (bins["end"].to_numpy() > by.loc[bins["chrom"], "start"].to_numpy()))
    arm = (bins["start"].to_numpy() >= block_end).astype(np.int8)
    scattered = rng.random(n)
    mappable = ~in_block & (scattered >= 0.005)
    coverage = np.where(mappable, np.where(scattered < 0.015, rng.uniform(0.1, 0.5, n), 1.0), 0.0)

    tad = np.empty(n, np.int64)
    domain = np.empty(n, np.int64)
    strength = np.empty(n)
    tad_lo, tad_hi = (max(1, round(bp / res)) for bp in TAD_BP)
    dom_lo, dom_hi = (max(2, round(bp / res)) for bp in DOMAIN_BP)
    offset = 0
    for cid in range(len(chromsizes)):  # per chromosome, vectorised inside
        sl = np.flatnonzero(bins["chrom_id"].to_numpy() == cid)
        t = _segments(sl.size, tad_lo, max(tad_lo, tad_hi), rng)
        first = np.flatnonzero(np.r_[True, np.diff(t) > 0])
        # a TAD joins the compartment domain in which it starts -> domains are unions of TADs
        dom_of_tad = _segments(sl.size, dom_lo, dom_hi, rng)[first]
        domain[sl] = dom_of_tad[t] + rng.integers(2)
        tad[sl] = t + offset
        offset += t.max() + 1
        g = gaussian_filter1d(rng.standard_normal(sl.size), sigma=3_000_000 / res, mode="reflect")
        strength[sl] = compartment_strength * (1 + 0.4 * np.tanh(g / (g.std() + 1e-12)))
    ab0 = np.where(domain % 2 == 0, 1, -1).astype(np.int8)
    chrom_id = bins["chrom_id"].to_numpy()
    b2a = plant_switches(ab0, mappable, chrom_id, n=n_b2a, source=-1, rng=rng, flag="--n-b2a")
    a2b = plant_switches(ab0, mappable & ~binary_dilation(b2a), chrom_id, n=n_a2b, source=1,
                         rng=rng, flag="--n-a2b")
    ab1 = np.where(b2a | a2b, -ab0, ab0).astype(np.int8)
    tad = np.where(in_block, -1, np.unique(2 * tad + arm, return_inverse=True)[1])
    return bins.assign(mappable=mappable, coverage=coverage, arm=arm, tad_id=tad,
                       tad_start=np.r_[True, np.diff(tad) != 0] & (tad >= 0),
                       strength=strength, ab0=ab0, ab1=ab1)


def truth_table(truth: pd.DataFrame, cells: list[str]) -> pd.DataFrame:
    """``chrom start end compartment_<cell>... tad_id`` with A/B, N where unmappable."""
    out = truth[["chrom", "start", "end"]].copy()
    for k, cell in enumerate(cells):
        out[f"compartment_{cell}"] = np.where(~truth["mappable"], "N",
                                              np.where(truth[f"ab{k}"] > 0, "A", "B"))
    out["tad_id"] = truth["tad_id"].to_numpy()
    return out


# ----------------------------------------------------------------------------
# contacts
# ----------------------------------------------------------------------------
def distance_law(n: int, decay: float) -> np.ndarray:
    """P(s) for s = 0..n-1 bins; the diagonal counts as s = 1/2 (about twice s = 1)."""
    return np.maximum(np.arange(n), 0.5) ** decay


def contact_block(rows: tuple[int, int], cols: tuple[int, int], *, bias: np.ndarray,
                  e: np.ndarray, tad: np.ndarray, arm: np.ndarray, ps: np.ndarray,
                  tad_strength: float, width: int) -> np.ndarray:
    """Unnormalised expected contacts for a rectangle of one chromosome's bin pairs.

    ``bias_i bias_j (1 + e_i e_j) P(j - i)``, times ``1 + tad_strength`` within a
    TAD and :data:`ARM_CONTACT` between the two arms; zero below the diagonal and
    beyond ``width`` bins.
    """
    i = np.arange(*rows)[:, None]
    j = np.arange(*cols)[None, :]
    s = j - i
    w = bias[i] * bias[j] * (1 + e[i] * e[j]) * ps[np.clip(s, 0, width)]
    w[tad[i] == tad[j]] *= 1 + tad_strength
    w[arm[i] != arm[j]] *= ARM_CONTACT
    w[(s < 0) | (s > width)] = 0.0
    return w


def total_weight(*, bias: np.ndarray, e: np.ndarray, tad: np.ndarray, arm: np.ndarray,
                 ps: np.ndarray, tad_strength: float, width: int) -> float:
    """Sum of :func:`contact_block` over all pairs ``i <= j <= i + width``, in O(n log n).

    Lagged products come from FFT correlations (the first arm precedes the
    second); the within-TAD bonus walks only the first few diagonals, as TADs
    are short and never span two arms.
    """
    n = bias.size
    be = bias * e

    def lagged(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # sum_i x_i y_{i+s}, s = 0..n-1
        return np.fft.irfft(np.fft.rfft(x, 2 * n).conj() * np.fft.rfft(y, 2 * n), 2 * n)[:n]

    first = arm == arm[0]
    near = (lagged(bias, bias) + lagged(be, be)
            - (1 - ARM_CONTACT) * (lagged(bias * first, bias * ~first)
                                   + lagged(be * first, be * ~first)))
    total = near[: width + 1] @ ps[: width + 1]
    longest = np.bincount(tad[tad >= 0]).max() if (tad >= 0).any() else 0
    for s in range(min(width, longest) + 1):  # diagonals, not bins
        same = tad[: n - s] == tad[s:]
        total += tad_strength * ps[s] * (bias[: n - s] * bias[s:] + be[: n - s] * be[s:])[same].sum()
    return float(total)


def sample_contacts(truth: pd.DataFrame, *, bias: np.ndarray, e: np.ndarray, depth: float,
                    decay: float, tad_strength: float, max_dist_bins: int | None,
                    rng: np.random.Generator) -> Iterator[pd.DataFrame]:
    """Poisson-sample upper-triangle cis pixels, chromosome by chromosome, in bin order.

    ``depth`` (expected total contacts) is shared out in proportion to each
    chromosome's mappable bins. Rows are drawn in blocks of at most
    :data:`CHUNK_PAIRS` pairs. Yields ``bin1_id, bin2_id, count`` frames.
    """
    chrom_id = truth["chrom_id"].to_numpy()
    tad, arm = truth["tad_id"].to_numpy(), truth["arm"].to_numpy()
    share = np.bincount(chrom_id, weights=truth["mappable"].to_numpy())
    share = share / share.sum()
    bounds = np.searchsorted(chrom_id, np.arange(share.size + 1))
    for cid in tqdm(range(share.size), desc="chromosomes", unit="chrom",
                    disable=common.progress_disabled() or share.size == 1):
        lo, hi = bounds[cid], bounds[cid + 1]
        n = hi - lo
        width = n - 1 if max_dist_bins is None else min(n - 1, max_dist_bins)
        kw = dict(bias=bias[lo:hi], e=e[lo:hi], tad=tad[lo:hi], arm=arm[lo:hi],
                  ps=distance_law(n, decay), tad_strength=tad_strength, width=width)
        total = total_weight(**kw)
        scale = depth * share[cid] / total if total > 0 else 0.0
        step = max(1, min(CHUNK_PAIRS // (width + 1), max(width // 4, 256)))
        for a in range(0, n, step):
            b = min(a + step, n)
            k = rng.poisson(contact_block((a, b), (a, min(n, b + width)), **kw) * scale)
            r, c = np.nonzero(k)
            yield pd.DataFrame({"bin1_id": r + a + lo, "bin2_id": c + a + lo,
                                "count": k[r, c].astype(np.int32)})


def ice_guess(clr: cooler.Cooler, *, ignore_diags: int = 2, min_nnz: int = 10,
              mad_max: float = 5, tol: float = 1e-12, max_iters: int = 1000) -> np.ndarray:
    """Cis-only ICE weights computed in memory, as a starting point for ``cooler.balance_cooler``.

    Applies cooler's default bin filters and uses square-root updates, which
    converge in tens of iterations where cooler's full updates, re-reading the
    file each time, need hundreds; cooler then confirms the fixed point in a step
    or two. Bins that cooler would drop get weight 0.
    """
    px = clr.pixels()[:]
    i, j = px["bin1_id"].to_numpy(), px["bin2_id"].to_numpy()
    keep = j - i >= ignore_diags
    i, j, c = i[keep], j[keep], px["count"].to_numpy()[keep].astype(float)
    n = int(clr.info["nbins"])
    offsets = clr._load_dset("indexes/chrom_offset")
    chrom = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))

    def margins(v: np.ndarray) -> np.ndarray:
        return np.bincount(i, v, n) + np.bincount(j, v, n)

    def per_chrom_mean(v: np.ndarray, ok: np.ndarray) -> np.ndarray:
        return (np.bincount(chrom[ok], v[ok], offsets.size - 1)
                / np.maximum(np.bincount(chrom[ok], minlength=offsets.size - 1), 1))[chrom]

    raw = margins(c)
    if not (raw > 0).any():
        return np.zeros(n)
    median = np.array([np.median(m[m > 0]) if (m > 0).any() else 1.0
                       for m in np.split(raw, offsets[1:-1])])  # per chromosome, as cooler does
    rel = raw / median[chrom]
    log_rel = np.log(rel[rel > 0])
    cutoff = np.exp(np.median(log_rel) - mad_max * cooler.util.mad(log_rel))
    w = ((margins(np.ones_like(c)) >= min_nnz) & (rel >= cutoff)).astype(float)
    ok = w > 0
    for _ in range(max_iters):
        m = margins(c * w[i] * w[j])
        m[ok] /= per_chrom_mean(m, ok)[ok]
        if not ok.any() or m[ok].var() < tol:
            break
        w[ok] /= np.sqrt(m[ok])
    return w


def write_mcool(path: str | Path, bins: pd.DataFrame, pixels: Iterator[pd.DataFrame], *,
                resolutions: list[int], metadata: dict, assembly: str | None = None) -> dict:
    """Write pixels at ``resolutions[0]``, zoomify to the others, ICE-balance every level.

    Returns ``{"n_pixels": ..., "contacts": ..., "masked_bins": {res: n}}``.
    """
    stats = {"n_pixels": 0, "contacts": 0}

    def counted(frames):
        for df in frames:
            stats["n_pixels"] += len(df)
            stats["contacts"] += int(df["count"].sum())
            yield df

    with tempfile.TemporaryDirectory(prefix="chromatin-gnn-sim-") as tmp:
        base = str(Path(tmp) / "base.cool")
        cooler.create_cooler(base, bins[["chrom", "start", "end"]], counted(pixels), ordered=True,
                             dtypes={"count": np.int32}, metadata=metadata, assembly=assembly)
        cooler.zoomify_cooler(base, str(path), resolutions, chunksize=10_000_000)
    stats["masked_bins"] = {}
    for r in resolutions:
        clr = cooler.Cooler(f"{path}::resolutions/{r}")
        # trans pixels are not simulated, so balance cis-only (genome-wide ICE diverges on
        # a block-diagonal matrix); start from a fast in-memory guess of the same weights
        weights, info = cooler.balance_cooler(clr, cis_only=True, x0=ice_guess(clr), store=True)
        if not np.all(info["converged"]):
            log.warning("balancing at %d bp did not converge (variance %.3g)", r,
                        float(np.max(info["var"])))
        stats["masked_bins"][r] = int(np.isnan(weights).sum())
    return stats


# ----------------------------------------------------------------------------
# tracks
# ----------------------------------------------------------------------------
def _smooth_noise(n: int, rng: np.random.Generator, sigma: float, broad: float) -> np.ndarray:
    """Unit-variance noise: a ``broad`` share of the variance smoothed over ``sigma`` bins."""
    g = gaussian_filter1d(rng.standard_normal(n), sigma, mode="reflect")
    return np.sqrt(broad) * g / (g.std() + 1e-12) + np.sqrt(1 - broad) * rng.standard_normal(n)


def simulate_tracks(truth: pd.DataFrame, ab: np.ndarray, *, chromsizes: pd.Series, res: int,
                    step: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """ChIP-like fold-change tracks for one cell, at ``step`` bp.

    Returns the step table (``chrom_id, start, end, bin``; ``chrom_id`` indexes
    ``chromsizes``, ``bin`` is a row of ``truth``) and ``{mark: values}`` with NaN
    over unmappable bins.
    """
    n = len(truth)
    lengths = chromsizes.to_numpy()
    bin_start = np.r_[0, np.cumsum(-(-lengths // res))][:-1]
    per_chrom = -(-lengths // step)
    cid = np.repeat(np.arange(lengths.size), per_chrom)
    start = (np.arange(cid.size) - np.repeat(np.cumsum(per_chrom) - per_chrom, per_chrom)) * step
    b = bin_start[cid] + start // res
    steps = pd.DataFrame({"chrom_id": cid, "start": start,
                          "end": np.minimum(start + step, lengths[cid]), "bin": b})
    m = b.size
    a = ab.astype(float)
    sigma = 100_000 / res

    # H3K27me3: broad, higher in B
    level = np.exp(-K27_AB * a + 0.75 * _smooth_noise(n, rng, sigma, 0.3))
    k27 = level[b] * rng.gamma(2.0, 0.5, m)
    # CTCF: noisy background somewhat higher in A, plus peaks at TAD boundaries and elsewhere
    level = 0.5 * np.exp(CTCF_AB * a + 0.5 * _smooth_noise(n, rng, sigma, 0.3))
    ctcf = level[b] * rng.gamma(1.5, 1 / 1.5, m)
    bounds = np.flatnonzero(truth["tad_start"].to_numpy() & (rng.random(n) < 0.85))
    extra = np.repeat(np.arange(n), rng.poisson(np.where(ab > 0, 0.9, 0.5)))
    peak_bins = np.r_[bounds, extra]
    offset = np.r_[rng.integers(-2, 3, bounds.size) * step,
                   rng.integers(0, res, extra.size)]
    peak_chrom = truth["chrom_id"].to_numpy()[peak_bins]
    pos = np.clip(truth["start"].to_numpy()[peak_bins] + offset, 0,
                  chromsizes.to_numpy()[peak_chrom] - 1)
    idx = np.searchsorted(b, bin_start[peak_chrom]) + pos // step
    np.add.at(ctcf, idx, rng.lognormal(np.log(6.0), 0.7, idx.size))

    tracks = {"CTCF": ctcf, "H3K27me3": k27}
    for v in tracks.values():  # zero stretches, and no data where unmappable
        starts = np.flatnonzero(rng.random(m) < 0.004)
        v[_runs_mask(m, starts, rng.integers(3, 40, starts.size))] = 0.0
        v[~truth["mappable"].to_numpy()[b]] = np.nan
    return steps, {k: v.astype(np.float32) for k, v in tracks.items()}


def bin_means(values: np.ndarray, step_bin: np.ndarray, n_bins: int) -> np.ndarray:
    """Mean of the finite step values in each bin (NaN where none)."""
    ok = np.isfinite(values)
    s = np.bincount(step_bin[ok], weights=values[ok], minlength=n_bins)
    c = np.bincount(step_bin[ok], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / c


def track_truth_r(mean: np.ndarray, ab: np.ndarray, mappable: np.ndarray) -> float:
    """Pearson r between per-bin mean signal and ±1 truth over mappable bins."""
    ok = mappable & np.isfinite(mean)
    return float(np.corrcoef(mean[ok], ab[ok])[0, 1])


def write_bigwig(path: str | Path, chromsizes: pd.Series, steps: pd.DataFrame,
                 values: np.ndarray, *, step: int) -> None:
    """Write fixed-step runs of finite values; a chromosome's short last step as its own entry."""
    cid, start, end = (steps[k].to_numpy() for k in ("chrom_id", "start", "end"))
    ok = np.isfinite(values)
    short = end - start < step
    idx = np.flatnonzero(ok & ~short)
    cut = np.flatnonzero((np.diff(idx) > 1) | (cid[idx[1:]] != cid[idx[:-1]])) + 1
    runs = [r for r in np.split(idx, cut) if r.size] + list(np.flatnonzero(ok & short)[:, None])
    runs.sort(key=lambda r: r[0])
    names = list(chromsizes.index)
    bw = pyBigWig.open(str(path), "w")
    try:
        bw.addHeader([(c, int(L)) for c, L in chromsizes.items()], maxZooms=10)
        for r in runs:  # one call per contiguous run of data
            chrom, s0 = names[cid[r[0]]], int(start[r[0]])
            if short[r[0]]:
                bw.addEntries([chrom], [s0], ends=[int(end[r[0]])], values=[float(values[r[0]])])
            else:
                bw.addEntries(chrom, s0, values=values[r].astype(np.float64), span=step, step=step)
    finally:
        bw.close()


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def _bp(text: str) -> int:
    """argparse ``type``: an integer number of bp (``25000``, ``25_000``, ``2.5e4``)."""
    try:
        value = float(str(text).replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != int(value):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(value)


def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(prog="simulate_data.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="data/raw", type=Path, help="output directory")
    p.add_argument("--cells", nargs=2, default=["GM12878", "IMR90"], metavar=("CELL1", "CELL2"),
                   help="names of the two cell lines (the second gets the switches)")
    g = p.add_argument_group("genome")
    g.add_argument("--chrom", nargs="+", default=["chr21"], help="chromosome name(s)")
    g.add_argument("--length", nargs="+", type=_bp, default=None, metavar="BP",
                   help="one length per --chrom; omit for hg38 sizes")
    g.add_argument("--genome", choices=["hg38"], default=None,
                   help="all 22 autosomes with real sizes and centromeres (overrides --chrom)")
    g.add_argument("--res", type=_bp, default=25_000, help="base bin size (bp)")
    g.add_argument("--zoom", nargs="*", type=_bp, default=[50_000, 100_000],
                   help="extra resolutions (multiples of --res)")
    g.add_argument("--pericentromere-bp", type=_bp, default=14_000_000,
                   help="unmappable block at the start of each chromosome (ignored with --genome)")
    m = p.add_argument_group("model")
    m.add_argument("--depth", type=_bp, default=None,
                   help=f"cis contacts of the first cell; None = {DEPTH_PER_MB:,} per mappable Mb "
                        f"(~16 M for chr21), at most {DEPTH_CAP:,}")
    m.add_argument("--depth-ratio", type=float, default=1.5, help="second cell's depth / first's")
    m.add_argument("--n-b2a", type=int, default=100, help="bins switched B→A in the second cell")
    m.add_argument("--n-a2b", type=int, default=70, help="bins switched A→B in the second cell")
    m.add_argument("--decay", type=float, default=-1.0, help="P(s) power-law exponent")
    m.add_argument("--compartment-strength", type=float, default=0.3,
                   help="mean A/B checkerboard amplitude (0–0.7)")
    m.add_argument("--tad-strength", type=float, default=0.8,
                   help="extra contact fraction within a TAD")
    m.add_argument("--max-dist", type=_bp, default=0,
                   help="simulate only pairs at most this far apart (bp; 0 = whole chromosomes)")
    m.add_argument("--track-step", type=_bp, default=1000, help="bigWig step (bp; divides --res)")
    m.add_argument("--seed", type=int, default=0)
    return p


def check_args(args: argparse.Namespace) -> pd.Series:
    """Validate the arguments before anything is written; return the chromosome sizes."""
    cells = args.cells
    if cells[0] == cells[1] or any(not c or "/" in c or c.startswith(".") for c in cells):
        raise DataError(f"--cells must be two different plain names, got {' '.join(cells)}")
    if args.res <= 0:
        raise DataError(f"--res must be a positive number of bp, got {args.res}")
    bad = [z for z in args.zoom if z <= args.res or z % args.res]
    if bad:
        raise DataError(f"--zoom {bad[0]} is not a multiple of --res {args.res} above it; "
                        f"use e.g. {2 * args.res} {4 * args.res}")
    if args.track_step <= 0 or args.res % args.track_step:
        raise DataError(f"--track-step {args.track_step} must be positive and divide --res "
                        f"{args.res}; use e.g. 1000")
    if args.length is not None and min(args.length) <= 0:
        raise DataError(f"--length must be positive, got {min(args.length)}")
    checks = [("--depth", args.depth is None or args.depth > 0, "a positive number of contacts"),
              ("--depth-ratio", args.depth_ratio > 0, "a positive ratio such as 1.5"),
              ("--decay", args.decay < 0, "a negative exponent such as -1"),
              ("--compartment-strength", 0 <= args.compartment_strength <= 0.7, "0 to 0.7"),
              ("--tad-strength", args.tad_strength >= 0, "0 or more"),
              ("--n-b2a", args.n_b2a >= 0, "0 or more bins"),
              ("--n-a2b", args.n_a2b >= 0, "0 or more bins"),
              ("--pericentromere-bp", args.pericentromere_bp >= 0, "0 or more bp"),
              ("--max-dist", args.max_dist == 0 or args.max_dist >= args.res,
               "0 (no limit) or at least --res"),
              ("--seed", args.seed >= 0, "a non-negative integer")]
    for flag, ok, allowed in checks:
        if not ok:
            value = getattr(args, flag[2:].replace("-", "_"))
            raise DataError(f"{flag} {value} is out of range; use {allowed}")
    sizes = chromosome_sizes(args.chrom, args.length, genome=args.genome)
    if args.genome is None and (sizes <= args.pericentromere_bp + 40 * args.res).any():
        raise DataError(f"--pericentromere-bp {args.pericentromere_bp} leaves fewer than 40 mappable "
                        f"bins on {sizes.idxmin()} ({sizes.min()} bp); lower it or raise --length")
    return sizes


def simulate_cell(truth: pd.DataFrame, k: int, *, chromsizes: pd.Series, depth: float,
                  decay: float, tad_strength: float, max_dist_bins: int | None,
                  resolutions: list[int], track_step: int, mcool: Path, bigwigs: dict[str, Path],
                  metadata: dict, assembly: str | None, rng: np.random.Generator) -> dict:
    """Write cell ``k``'s ``.mcool`` and bigWigs; return its realised numbers."""
    r_bias, r_pix, r_track = rng.spawn(3)
    ab = truth[f"ab{k}"].to_numpy()
    mappable = truth["mappable"].to_numpy()
    bias = truth["coverage"].to_numpy() * r_bias.lognormal(0.0, 0.25, len(truth))
    pixels = sample_contacts(truth, bias=bias, e=ab * np.sqrt(truth["strength"].to_numpy()),
                             depth=depth, decay=decay, tad_strength=tad_strength,
                             max_dist_bins=max_dist_bins, rng=r_pix)
    st = write_mcool(mcool, truth, pixels, resolutions=resolutions, metadata=metadata,
                     assembly=assembly)
    steps, tracks = simulate_tracks(truth, ab, chromsizes=chromsizes, res=resolutions[0],
                                    step=track_step, rng=r_track)
    r = {}
    for mark, values in tracks.items():
        write_bigwig(bigwigs[mark], chromsizes, steps, values, step=track_step)
        mean = bin_means(values, steps["bin"].to_numpy(), len(truth))
        r[mark] = round(track_truth_r(mean, ab, mappable), 4)
    return {"depth": st["contacts"], "n_pixels": st["n_pixels"],
            "masked_bins_after_balancing": st["masked_bins"], "track_truth_r": r}


def _run(args: argparse.Namespace) -> None:
    sizes = check_args(args)
    rng = np.random.default_rng(args.seed)
    r_truth, r_cells = rng.spawn(2)
    cells, res = list(args.cells), args.res
    blocks = unmappable_blocks(sizes, genome=args.genome, pericentromere_bp=args.pericentromere_bp)
    truth = plant_truth(sizes, blocks, res=res, n_b2a=args.n_b2a, n_a2b=args.n_a2b,
                        compartment_strength=args.compartment_strength, rng=r_truth)
    out = common.ensure_writable_dir(args.out)  # only once the truth could be planted
    mappable = truth["mappable"].to_numpy()
    depth = args.depth or min(DEPTH_PER_MB * mappable.sum() * res / 1e6, DEPTH_CAP)
    log.info("%d chromosome(s), %d bins at %d bp, %d unmappable; depth %.3g",
             len(sizes), len(truth), res, (~mappable).sum(), depth)

    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
              if k not in ("debug", "verbose", "quiet")}
    summary: dict = {"n_bins": len(truth), "n_masked": int((~mappable).sum()),
                     "n_low_coverage": int(((truth["coverage"] > 0) & (truth["coverage"] < 1)).sum()),
                     "n_b2a": int(((truth["ab0"] < 0) & (truth["ab1"] > 0) & mappable).sum()),
                     "n_a2b": int(((truth["ab0"] > 0) & (truth["ab1"] < 0) & mappable).sum()),
                     "chromosomes": {c: int(L) for c, L in sizes.items()},
                     "resolutions": [res, *sorted(set(args.zoom))], "depth_target": depth,
                     "depth": {}, "n_pixels": {}, "masked_bins_after_balancing": {},
                     "track_truth_r": {}}
    names = [f"{c}.mcool" for c in cells] + [f"{c}_{m}.bw" for c in cells for m in MARKS]
    names.append("truth.tsv")
    with contextlib.ExitStack() as stack:  # every output appears together, or none does
        tmp = {name: stack.enter_context(common.atomic_output(out / name)) for name in names}
        for k, (cell, r_cell) in enumerate(zip(cells, r_cells.spawn(len(cells)))):
            log.info("%s: simulating contacts and tracks", cell)
            realised = simulate_cell(
                truth, k, chromsizes=sizes, depth=depth * args.depth_ratio ** k, decay=args.decay,
                tad_strength=args.tad_strength,
                max_dist_bins=args.max_dist // res if args.max_dist else None,
                resolutions=summary["resolutions"], track_step=args.track_step,
                mcool=tmp[f"{cell}.mcool"], bigwigs={m: tmp[f"{cell}_{m}.bw"] for m in MARKS},
                metadata={"simulated": True, "cell": cell, "parameters": params},
                assembly=args.genome, rng=r_cell)
            for key, value in realised.items():
                summary[key][cell] = value
            log.info("%s: %d contacts in %d pixels; track/truth r %s", cell, realised["depth"],
                     realised["n_pixels"], realised["track_truth_r"])
        truth_table(truth, cells).to_csv(tmp["truth.tsv"], sep="\t", index=False)
    prov = common.provenance(args, seed=args.seed)
    common.write_json(out / "simulation.json", {"parameters": params, "seed": args.seed,
                                                "summary": summary, "provenance": prov})
    for name in names:
        common.write_provenance(out / name, prov)
    log.info("wrote %s (B→A %d, A→B %d bins)", out, summary["n_b2a"], summary["n_a2b"])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
