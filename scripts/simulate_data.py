#!/usr/bin/env python
"""Simulate the default dataset: two cell lines' Hi-C + ChIP-seq with a known answer.

The real GM12878/IMR90 files cannot be downloaded everywhere, so the default
pipeline runs on data made here. Every later stage measures itself against the
planted truth (``truth.tsv``). ``--difficulty`` picks the model; any flag given
explicitly overrides the preset's value (``simulation.json`` records both).

**realistic** (the default), per chromosome (bins of ``--res`` bp; ``i <= j``, ``s = j - i``)::

    E[count_ij] ∝ b_i b_j · max(s, ½)^decay · (1 + sqrt(g_i g_j) · u_i' M u_j)
                  · (1 + tad · [same TAD]) · (loop factor at loop pixels) · (½ between arms)
    count_ij ~ Poisson(E[count_ij] · Gamma(k, 1/k))        (negative binomial, shape k)

* five interaction states A1, A2, B1, B2, B3 (:data:`STATES`) in domains of
  0.1–2 Mb drawn independently of the TADs; ``u_i`` is the bin's soft state
  membership (borders smoothed over :data:`BORDER_BP`), ``M`` the state x state
  enrichment (:data:`STATE_CONTACT`: A1-A1 strongest, B1 with B1, B2/B3 with each
  other, both avoiding A), ``g_i`` an uneven per-bin strength (a smooth field,
  per-bin jitter, and weak stretches on ~18 % of the bins);
* ``score_<cell>`` in ``truth.tsv``: the continuous compartment score, the soft
  state mix of :data:`STATE_SCORE` scaled by ``sqrt(g)``; ``subcompartment_<cell>``
  the state; ``compartment_<cell>`` A (A1/A2) or B;
* loops between the two boundaries of half of the TADs; coverage bias with a
  smooth (GC-like) part; depth ~150,000 cis contacts per mappable Mb, chosen with
  ``benchmarks/bench_calibration.py`` so that the pair coverage, share of weak E1
  bins and P(s) slope fall inside the range of the real maps (``--depth-per-mb``
  also takes the depth of some real files by name);
* six marks (:data:`MARKS`): each mark's level follows the state mix
  (:data:`STATE_MARKS`; H3K27ac/H3K4me3 high in A1, H3K36me3 in A1/A2, H3K27me3 in
  B1, H3K9me3 in B2/B3, B3 low in the rest) with heavy log-normal noise, so that
  neither the marks alone nor the contacts alone recover the five states;
* the second cell: A/B switches (``--n-b2a``/``--n-a2b``, a new A or B state per
  run) and subcompartment-only switches (``--n-sub-switch``: A1↔A2, B1↔B3, B2→B3).

**hard**: the realistic model at a third of its depth, half its compartment
strength and more overdispersed counts.

**easy**: the original model, byte for byte (same seed, same files)::

    E[count_ij] ∝ b_i b_j · max(s, ½)^decay · (1 + e_i e_j)
                  · (1 + tad · [same TAD]) · (½ if i and j lie on different arms)
    count_ij ~ Poisson(E[count_ij])

* ``b``: per-cell log-normal coverage bias; 0 over unmappable blocks (the first
  ``--pericentromere-bp`` of a chr21-like chromosome, or hg38 centromeres and
  acrocentric p-arms with ``--genome``) and a few scattered bins; a few more
  scattered bins get low coverage (balancing filters most of them). Both models.
* ``e_i = ±sqrt(strength_i)``: A (+) / B (−) compartments, domains of ~0.5–3 Mb
  built from whole TADs (~0.2–1.5 Mb); ``strength`` varies smoothly along the
  chromosome around ``--compartment-strength``.
* The second cell has ``--depth-ratio`` × the depth (both models), its own biases,
  and planted switches: runs of 4–15 consecutive bins flipped B→A and A→B.
* Tracks CTCF and H3K27me3 only: CTCF peaks at TAD boundaries (both models) and is
  somewhat higher in A, H3K27me3 is higher in B; both carry broad and local noise
  and zero stretches. Their per-bin |r| with the truth is in ``simulation.json``.

Tracks are written at ``--track-step`` bp with no data over unmappable bins.
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

import common  # first: one line naming the fix when the environment is missing

import cooler
import numpy as np
import pandas as pd
import pyBigWig
from scipy.ndimage import binary_dilation, gaussian_filter1d
from tqdm import tqdm

from common import DataError

log = logging.getLogger("chromatin_gnn.simulate")

#: The marks of the realistic model (the default), in file order; the easy model writes EASY_MARKS.
MARKS = ("CTCF", "H3K27ac", "H3K4me3", "H3K36me3", "H3K27me3", "H3K9me3")
EASY_MARKS = ("CTCF", "H3K27me3")
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
#: Floor of the realistic model's state x state enrichment (never reached with valid flags).
MIN_ENRICHMENT = 0.02

# ----- the realistic model (--difficulty realistic / hard) -----
#: Rao 2014's five interaction states, their share of a chromosome and the continuous
#: compartment score each carries.
STATES = ("A1", "A2", "B1", "B2", "B3")
STATE_FREQ = (0.2, 0.25, 0.15, 0.2, 0.2)
STATE_SCORE = (1.0, 0.5, -0.3, -0.7, -0.9)
#: Markov chain over consecutive state domains (rows: from; no self-transitions).
STATE_NEXT = ((0.00, 0.55, 0.15, 0.15, 0.15),
              (0.45, 0.00, 0.20, 0.15, 0.20),
              (0.30, 0.40, 0.00, 0.15, 0.15),
              (0.15, 0.20, 0.15, 0.00, 0.50),
              (0.15, 0.25, 0.10, 0.50, 0.00))
#: State x state contact enrichment M (1 + a sqrt(s_i s_j) u_i' M u_j): A1-A1 strongest,
#: B1 (polycomb) pairs with itself, B2/B3 (heterochromatin) pair with each other and avoid A.
STATE_CONTACT = ((3.0, 1.5, -0.5, -0.95, -0.95),
                 (1.5, 1.2, 0.0, -0.7, -0.8),
                 (-0.5, 0.0, 1.8, 0.2, -0.2),
                 (-0.95, -0.7, 0.2, 1.8, 1.4),
                 (-0.95, -0.8, -0.2, 1.4, 1.8))
#: log-level of each mark (columns, in MARKS order) by state (rows)
STATE_MARKS = ((0.4, 1.2, 1.2, 0.9, -0.4, -0.5),
               (0.2, 0.5, 0.4, 0.8, -0.1, -0.3),
               (0.0, -0.2, 0.0, -0.5, 1.0, -0.2),
               (-0.2, -0.6, -0.6, -0.6, -0.3, 0.8),
               (-0.3, -0.9, -0.9, -0.9, -0.7, 0.4))
#: (mark, base level, per-step gamma shape)
MARK_SHAPES = (("CTCF", 0.5, 1.5), ("H3K27ac", 1.0, 1.0), ("H3K4me3", 0.8, 0.7),
               ("H3K36me3", 1.0, 2.0), ("H3K27me3", 1.0, 2.0), ("H3K9me3", 1.0, 2.0))
STATE_DOMAIN_BP = (100_000, 2_000_000)
#: Soft state borders: Gaussian smoothing of the state memberships (SD in bp).
BORDER_BP = 100_000
STRENGTH_SMOOTH_BP, STRENGTH_SD, STRENGTH_JITTER, STRENGTH_MAX = 2_000_000, 0.4, 0.5, 1.0
#: Weak stretches: about WEAK_SHARE of the bins, in runs of WEAK_RUN_BP, at WEAK_FACTOR x the strength.
WEAK_SHARE, WEAK_RUN_BP, WEAK_FACTOR = 0.18, (25_000, 100_000), 0.1
#: Subcompartment-only switches (second cell): (from, to) state codes.
SUB_SWITCH = ((0, 1), (1, 0), (2, 4), (4, 2), (3, 4))
LOOP_FRACTION = 0.5
#: Cis contacts per mappable Mb of some real files (first cell of a pair); see --depth-per-mb.
REAL_DEPTH_PER_MB = {"rao-imr90": 35_300, "rao-gm12878": 30_000, "diadem-imr90": 130_800}
#: --difficulty presets; explicit flags override them. easy = the original model, exactly.
PRESETS = {
    "easy": dict(depth_per_mb=DEPTH_PER_MB, compartment_strength=0.3, tad_strength=0.8, decay=-1.0,
                 dispersion=None, loop_strength=0.0, n_sub_switch=0, bias_sd=0.25, mark_noise=None),
    "realistic": dict(depth_per_mb=150_000, compartment_strength=0.7, tad_strength=0.5, decay=-0.7,
                      dispersion=4.0, loop_strength=2.0, n_sub_switch=120, bias_sd=0.35, mark_noise=0.8),
    "hard": dict(depth_per_mb=50_000, compartment_strength=0.35, tad_strength=0.5, decay=-0.7,
                 dispersion=2.0, loop_strength=2.0, n_sub_switch=120, bias_sd=0.45, mark_noise=1.0),
}


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
    """``chrom start end compartment_<cell>... tad_id`` with A/B, N where unmappable.

    The realistic model adds ``subcompartment_<cell>`` (A1..B3, N where unmappable)
    and ``score_<cell>`` (the continuous compartment score, NaN where unmappable).
    """
    out = truth[["chrom", "start", "end"]].copy()
    mappable = truth["mappable"].to_numpy()
    for k, cell in enumerate(cells):
        out[f"compartment_{cell}"] = np.where(~mappable, "N",
                                              np.where(truth[f"ab{k}"] > 0, "A", "B"))
    out["tad_id"] = truth["tad_id"].to_numpy()
    if "state0" in truth:
        for k, cell in enumerate(cells):
            out[f"subcompartment_{cell}"] = np.where(~mappable, "N",
                                                     np.asarray(STATES)[truth[f"state{k}"].to_numpy()])
        for k, cell in enumerate(cells):
            out[f"score_{cell}"] = np.where(mappable, truth[f"score{k}"].to_numpy(), np.nan).round(5)
    return out


# ----------------------------------------------------------------------------
# planted truth, realistic model: five interaction states
# ----------------------------------------------------------------------------
def _state_domains(n: int, *, res: int, rng: np.random.Generator) -> np.ndarray:
    """State code of each of ``n`` bins: domains of log-uniform length, drawn from a Markov chain.

    Domain borders are drawn independently of the TADs. Loops run over domains, never bins.
    """
    lo, hi = (max(1, round(bp / res)) for bp in STATE_DOMAIN_BP)
    sizes = np.maximum(lo, np.round(np.exp(rng.uniform(np.log(lo), np.log(hi), n // lo + 2)))).astype(int)
    k = int(np.searchsorted(np.cumsum(sizes), n)) + 1
    states = np.empty(k, np.int64)
    states[0] = rng.choice(len(STATES), p=STATE_FREQ)
    u = rng.random(k)
    cum = np.cumsum(STATE_NEXT, axis=1)
    for d in range(1, k):  # domains, not bins
        states[d] = min(int(np.searchsorted(cum[states[d - 1]], u[d])), len(STATES) - 1)
    return np.repeat(states, sizes[:k])[:n]


def soft_membership(states: np.ndarray, chrom_id: np.ndarray, *, sigma: float) -> np.ndarray:
    """Bins x states membership: one-hot states smoothed over ``sigma`` bins per chromosome (rows sum to 1)."""
    u = np.eye(len(STATES))[states]
    if sigma <= 0:
        return u
    for cid in np.unique(chrom_id):  # chromosomes, not bins
        sl = chrom_id == cid
        u[sl] = gaussian_filter1d(u[sl], sigma, axis=0, mode="nearest")
    return u


def interaction_factors(u: np.ndarray, strength: np.ndarray, *, amplitude: float) -> tuple[np.ndarray, np.ndarray]:
    """``(e, lam)`` such that ``1 + sum_k lam_k e_ik e_jk = 1 + a sqrt(s_i s_j) u_i' M u_j``.

    ``M`` is :data:`STATE_CONTACT`; its eigen-decomposition makes the enrichment low-rank
    (at most five terms), so expected totals stay O(n log n).
    """
    lam, q = np.linalg.eigh(np.asarray(STATE_CONTACT, float) * amplitude)
    return np.sqrt(strength)[:, None] * (u @ q), lam


def compartment_score(u: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Continuous compartment score: the soft state mix of :data:`STATE_SCORE`, scaled by sqrt(strength)."""
    return np.sqrt(strength / max(strength.mean(), 1e-12)) * (u @ np.asarray(STATE_SCORE))


def _pick_per_run(mask: np.ndarray, choices: list[int], rng: np.random.Generator) -> np.ndarray:
    """One random code from ``choices`` per run of consecutive True in ``mask`` (per-bin array)."""
    run = np.cumsum(np.r_[mask[0], mask[1:] & ~mask[:-1]])
    return np.asarray(choices)[rng.integers(len(choices), size=run.max() + 1 if run.size else 1)][run]


def plant_states(truth: pd.DataFrame, *, res: int, n_b2a: int, n_a2b: int, n_sub: int,
                 compartment_strength: float, rng: np.random.Generator) -> pd.DataFrame:
    """Add the realistic model's answer to :func:`plant_truth`'s layout (planted there without switches).

    Adds ``state0/state1`` (codes into :data:`STATES`), ``u0/u1`` (soft memberships,
    kept as object columns of rows), ``score0/score1`` and ``strength`` (uneven
    per-bin strength), and replaces ``ab0/ab1``. The second cell gets ``n_b2a``
    B→A and ``n_a2b`` A→B bins (a new A or B state per run) and ``n_sub``
    subcompartment-only bins (:data:`SUB_SWITCH`: A1↔A2, B1↔B3, B2→B3), none
    touching another switch.
    """
    n = len(truth)
    chrom_id = truth["chrom_id"].to_numpy()
    mappable = truth["mappable"].to_numpy()
    state0 = np.empty(n, np.int64)
    strength = np.empty(n)
    for cid in np.unique(chrom_id):  # chromosomes
        sl = np.flatnonzero(chrom_id == cid)
        state0[sl] = _state_domains(sl.size, res=res, rng=rng)
        sigma = STRENGTH_SMOOTH_BP / res  # smoothed white noise, scaled to unit variance in theory
        g = gaussian_filter1d(rng.standard_normal(sl.size), sigma=sigma, mode="reflect")
        field = np.exp(STRENGTH_SD * g * np.sqrt(2 * np.sqrt(np.pi) * sigma) - STRENGTH_SD**2 / 2)
        # weak stretches: runs of bins whose contacts barely follow their state
        lo, hi = (max(1, round(bp / res)) for bp in WEAK_RUN_BP)
        starts = np.flatnonzero(rng.random(sl.size) < WEAK_SHARE / ((lo + hi) / 2))
        weak = _runs_mask(sl.size, starts, rng.integers(lo, hi + 1, starts.size))
        field = np.where(weak, WEAK_FACTOR, 1.0) * field
        strength[sl] = np.clip(compartment_strength * field * rng.lognormal(0, STRENGTH_JITTER, sl.size),
                               0, STRENGTH_MAX)
    is_a = np.where(state0 <= 1, 1, -1).astype(np.int8)
    b2a = plant_switches(is_a, mappable, chrom_id, n=n_b2a, source=-1, rng=rng, flag="--n-b2a")
    a2b = plant_switches(is_a, mappable & ~binary_dilation(b2a), chrom_id, n=n_a2b, source=1,
                         rng=rng, flag="--n-a2b")
    state1 = state0.copy()
    state1[b2a] = _pick_per_run(b2a, [0, 1], rng)[b2a]
    state1[a2b] = _pick_per_run(a2b, [2, 3, 4], rng)[a2b]
    free = mappable & ~binary_dilation(b2a | a2b, iterations=2)
    sub = np.zeros(n, bool)
    remaining, share, progress = n_sub, -(-n_sub // len(SUB_SWITCH)), True
    while remaining and progress:  # rounds over the (source, target) pairs; a rare state places less
        progress = False
        for src, dst in SUB_SWITCH:
            k = min(remaining, share)
            while k:
                try:
                    hit = plant_switches(state0, free & ~binary_dilation(sub), chrom_id, n=k, source=src,
                                         rng=rng, flag="--n-sub-switch")
                    break
                except DataError:
                    k = k // 2 if k // 2 >= min(SWITCH_RUN[0], remaining) else 0
            if k:
                state1[hit] = dst
                sub |= hit
                remaining -= k
                progress = True
            if not remaining:
                break
    if remaining:
        raise DataError(f"cannot place {n_sub} subcompartment-only switched bins (--n-sub-switch) "
                        "beside the A/B switches; lower --n-sub-switch or simulate a longer chromosome")
    sigma = BORDER_BP / res
    out = truth.copy()
    for k, st in enumerate((state0, state1)):
        u = soft_membership(st, chrom_id, sigma=sigma)
        out[f"state{k}"] = st
        out[f"score{k}"] = compartment_score(u, strength)
        out[f"ab{k}"] = np.where(st <= 1, 1, -1).astype(np.int8)
    out["strength"] = strength
    out["sub_switch"] = sub
    return out


def plant_loops(truth: pd.DataFrame, *, loop_strength: float, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loops between the two boundaries of a share of the TADs: ``(bin i, bin j, factor)``, ``i < j``."""
    tad = truth["tad_id"].to_numpy()
    ok = tad >= 0
    idx = np.flatnonzero(ok)
    first = idx[np.r_[True, np.diff(tad[idx]) != 0]]
    last = idx[np.r_[np.diff(tad[idx]) != 0, True]]
    keep = (last - first >= 3) & (rng.random(first.size) < LOOP_FRACTION)
    factor = 1 + loop_strength * rng.lognormal(0, 0.5, int(keep.sum()))
    return first[keep], last[keep], factor


# ----------------------------------------------------------------------------
# contacts
# ----------------------------------------------------------------------------
def distance_law(n: int, decay: float) -> np.ndarray:
    """P(s) for s = 0..n-1 bins; the diagonal counts as s = 1/2 (about twice s = 1)."""
    return np.maximum(np.arange(n), 0.5) ** decay


def contact_block(rows: tuple[int, int], cols: tuple[int, int], *, bias: np.ndarray,
                  e: np.ndarray, tad: np.ndarray, arm: np.ndarray, ps: np.ndarray,
                  tad_strength: float, width: int, lam: np.ndarray | None = None,
                  loops: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Unnormalised expected contacts for a rectangle of one chromosome's bin pairs.

    ``bias_i bias_j (1 + e_i e_j) P(j - i)``, times ``1 + tad_strength`` within a
    TAD and :data:`ARM_CONTACT` between the two arms; zero below the diagonal and
    beyond ``width`` bins. With a 2-D ``e`` (bins x rank) and ``lam`` the
    enrichment is ``1 + sum_k lam_k e_ik e_jk`` (the state x state matrix of the
    realistic model); ``loops = (i, j, factor)`` multiplies single pixels.
    """
    i = np.arange(*rows)[:, None]
    j = np.arange(*cols)[None, :]
    s = j - i
    if e.ndim == 1:  # the easy model: one ±sqrt(strength) checkerboard
        inter = 1 + e[i] * e[j]
    else:  # low rank: 1 + sum_k lam_k e_ik e_jk (clipped at a tiny positive floor)
        inter = np.maximum(1 + (e[rows[0]:rows[1]] * lam) @ e[cols[0]:cols[1]].T, MIN_ENRICHMENT)
    w = bias[i] * bias[j] * inter * ps[np.clip(s, 0, width)]
    w[tad[i] == tad[j]] *= 1 + tad_strength
    w[arm[i] != arm[j]] *= ARM_CONTACT
    w[(s < 0) | (s > width)] = 0.0
    if loops is not None:  # point enrichments (local indices, i < j)
        li, lj, lf = loops
        take = (li >= rows[0]) & (li < rows[1]) & (lj >= cols[0]) & (lj < cols[1])
        w[li[take] - rows[0], lj[take] - cols[0]] *= lf[take]
    return w


def total_weight(*, bias: np.ndarray, e: np.ndarray, tad: np.ndarray, arm: np.ndarray,
                 ps: np.ndarray, tad_strength: float, width: int, lam: np.ndarray | None = None,
                 loops: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> float:
    """Sum of :func:`contact_block` over all pairs ``i <= j <= i + width``, in O(n log n).

    Lagged products come from FFT correlations (the first arm precedes the
    second); the within-TAD bonus walks only the first few diagonals, as TADs
    are short and never span two arms.
    """
    n = bias.size
    if e.ndim == 1:
        be, lam = bias * e, None
    else:
        be = [bias * e[:, k] for k in range(e.shape[1])]

    def lagged(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # sum_i x_i y_{i+s}, s = 0..n-1
        return np.fft.irfft(np.fft.rfft(x, 2 * n).conj() * np.fft.rfft(y, 2 * n), 2 * n)[:n]

    def inter(f):  # f(x) summed over the rank, weighted by lam (the plain term when 1-D)
        return f(be) if lam is None else sum(lk * f(b) for lk, b in zip(lam, be))

    first = arm == arm[0]
    near = (lagged(bias, bias) + inter(lambda b: lagged(b, b))
            - (1 - ARM_CONTACT) * (lagged(bias * first, bias * ~first)
                                   + inter(lambda b: lagged(b * first, b * ~first))))
    total = near[: width + 1] @ ps[: width + 1]
    longest = np.bincount(tad[tad >= 0]).max() if (tad >= 0).any() else 0
    for s in range(min(width, longest) + 1):  # diagonals, not bins
        same = tad[: n - s] == tad[s:]
        total += tad_strength * ps[s] * (bias[: n - s] * bias[s:]
                                         + inter(lambda b: b[: n - s] * b[s:]))[same].sum()
    if loops is not None and len(loops[0]):  # the loop pixels' extra weight
        li, lj, lf = loops
        inter_ij = (1 + e[li] * e[lj] if lam is None
                    else np.maximum(1 + ((e[li] * lam) * e[lj]).sum(1), MIN_ENRICHMENT))
        s = lj - li
        base = (bias[li] * bias[lj] * inter_ij * ps[np.clip(s, 0, width)]
                * np.where(tad[li] == tad[lj], 1 + tad_strength, 1.0)
                * np.where(arm[li] != arm[lj], ARM_CONTACT, 1.0) * (s <= width))
        total += float(((lf - 1) * base).sum())
    return float(total)


def sample_contacts(truth: pd.DataFrame, *, bias: np.ndarray, e: np.ndarray, depth: float,
                    decay: float, tad_strength: float, max_dist_bins: int | None,
                    rng: np.random.Generator, lam: np.ndarray | None = None,
                    loops: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                    dispersion: float | None = None) -> Iterator[pd.DataFrame]:
    """Poisson-sample upper-triangle cis pixels, chromosome by chromosome, in bin order.

    ``depth`` (expected total contacts) is shared out in proportion to each
    chromosome's mappable bins. Rows are drawn in blocks of at most
    :data:`CHUNK_PAIRS` pairs. Yields ``bin1_id, bin2_id, count`` frames.
    ``lam``/``loops`` as in :func:`contact_block` (``loops`` with genome-wide bin
    indices); ``dispersion`` = negative-binomial shape (gamma-Poisson: variance
    ``mu + mu^2 / dispersion``), ``None`` for plain Poisson.
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
        if lam is not None:
            kw["lam"] = lam
        if loops is not None:
            here = (loops[0] >= lo) & (loops[0] < hi)
            kw["loops"] = (loops[0][here] - lo, loops[1][here] - lo, loops[2][here])
        total = total_weight(**kw)
        scale = depth * share[cid] / total if total > 0 else 0.0
        step = max(1, min(CHUNK_PAIRS // (width + 1), max(width // 4, 256)))
        for a in range(0, n, step):
            b = min(a + step, n)
            mu = contact_block((a, b), (a, min(n, b + width)), **kw) * scale
            if dispersion is not None:  # gamma-Poisson = negative binomial
                mu *= rng.gamma(dispersion, 1 / dispersion, mu.shape)
            k = rng.poisson(mu)
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


def track_steps(chromsizes: pd.Series, *, res: int, step: int) -> pd.DataFrame:
    """The step table (``chrom_id, start, end, bin``; ``chrom_id`` indexes ``chromsizes``,
    ``bin`` is the genome-wide bin at ``res``)."""
    lengths = chromsizes.to_numpy()
    bin_start = np.r_[0, np.cumsum(-(-lengths // res))][:-1]
    per_chrom = -(-lengths // step)
    cid = np.repeat(np.arange(lengths.size), per_chrom)
    start = (np.arange(cid.size) - np.repeat(np.cumsum(per_chrom) - per_chrom, per_chrom)) * step
    return pd.DataFrame({"chrom_id": cid, "start": start,
                         "end": np.minimum(start + step, lengths[cid]), "bin": bin_start[cid] + start // res})


def add_ctcf_peaks(ctcf: np.ndarray, truth: pd.DataFrame, ab: np.ndarray, steps: pd.DataFrame, *,
                   chromsizes: pd.Series, res: int, step: int, rng: np.random.Generator) -> None:
    """CTCF peaks (in place): at most TAD boundaries, and elsewhere (more in A)."""
    n = len(truth)
    b = steps["bin"].to_numpy()
    lengths = chromsizes.to_numpy()
    bin_start = np.r_[0, np.cumsum(-(-lengths // res))][:-1]
    bounds = np.flatnonzero(truth["tad_start"].to_numpy() & (rng.random(n) < 0.85))
    extra = np.repeat(np.arange(n), rng.poisson(np.where(ab > 0, 0.9, 0.5)))
    peak_bins = np.r_[bounds, extra]
    offset = np.r_[rng.integers(-2, 3, bounds.size) * step,
                   rng.integers(0, res, extra.size)]
    peak_chrom = truth["chrom_id"].to_numpy()[peak_bins]
    pos = np.clip(truth["start"].to_numpy()[peak_bins] + offset, 0, lengths[peak_chrom] - 1)
    idx = np.searchsorted(b, bin_start[peak_chrom]) + pos // step
    np.add.at(ctcf, idx, rng.lognormal(np.log(6.0), 0.7, idx.size))


def finish_tracks(tracks: dict[str, np.ndarray], truth: pd.DataFrame, steps: pd.DataFrame, *,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Zero stretches, and no data (NaN) over unmappable bins; float32."""
    b = steps["bin"].to_numpy()
    m = b.size
    for v in tracks.values():
        starts = np.flatnonzero(rng.random(m) < 0.004)
        v[_runs_mask(m, starts, rng.integers(3, 40, starts.size))] = 0.0
        v[~truth["mappable"].to_numpy()[b]] = np.nan
    return {k: v.astype(np.float32) for k, v in tracks.items()}


def simulate_tracks(truth: pd.DataFrame, ab: np.ndarray, *, chromsizes: pd.Series, res: int,
                    step: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """ChIP-like fold-change tracks for one cell, at ``step`` bp (the easy model: CTCF, H3K27me3).

    Returns the step table (:func:`track_steps`) and ``{mark: values}`` with NaN
    over unmappable bins.
    """
    n = len(truth)
    steps = track_steps(chromsizes, res=res, step=step)
    b = steps["bin"].to_numpy()
    m = b.size
    a = ab.astype(float)
    sigma = 100_000 / res

    # H3K27me3: broad, higher in B
    level = np.exp(-K27_AB * a + 0.75 * _smooth_noise(n, rng, sigma, 0.3))
    k27 = level[b] * rng.gamma(2.0, 0.5, m)
    # CTCF: noisy background somewhat higher in A, plus peaks at TAD boundaries and elsewhere
    level = 0.5 * np.exp(CTCF_AB * a + 0.5 * _smooth_noise(n, rng, sigma, 0.3))
    ctcf = level[b] * rng.gamma(1.5, 1 / 1.5, m)
    add_ctcf_peaks(ctcf, truth, ab, steps, chromsizes=chromsizes, res=res, step=step, rng=rng)
    return steps, finish_tracks({"CTCF": ctcf, "H3K27me3": k27}, truth, steps, rng=rng)


def simulate_state_tracks(truth: pd.DataFrame, k: int, *, chromsizes: pd.Series, res: int, step: int,
                          mark_noise: float, rng: np.random.Generator
                          ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The realistic model's six marks for cell ``k``: each mark's level follows the soft
    state mix (:data:`STATE_MARKS`), times broad and per-bin log-normal noise of SD
    ``mark_noise`` and per-step gamma noise; CTCF also peaks at TAD boundaries."""
    n = len(truth)
    steps = track_steps(chromsizes, res=res, step=step)
    b = steps["bin"].to_numpy()
    u = soft_membership(truth[f"state{k}"].to_numpy(), truth["chrom_id"].to_numpy(), sigma=BORDER_BP / res)
    log_level = u @ np.asarray(STATE_MARKS, float)  # bins x marks
    tracks = {}
    for col, (mark, base, shape) in enumerate(MARK_SHAPES):
        level = base * np.exp(log_level[:, col] + mark_noise * _smooth_noise(n, rng, 100_000 / res, 0.4))
        tracks[mark] = level[b] * rng.gamma(shape, 1 / shape, b.size)
    add_ctcf_peaks(tracks["CTCF"], truth, truth[f"ab{k}"].to_numpy(), steps, chromsizes=chromsizes,
                   res=res, step=step, rng=rng)
    return steps, finish_tracks(tracks, truth, steps, rng=rng)


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


def _depth_per_mb(text: str) -> float:
    """argparse ``type``: a positive number, or a name in :data:`REAL_DEPTH_PER_MB`."""
    if text in REAL_DEPTH_PER_MB:
        return float(REAL_DEPTH_PER_MB[text])
    try:
        value = float(str(text).replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or one of {', '.join(REAL_DEPTH_PER_MB)}, "
                                         f"got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def resolve_model(args: argparse.Namespace) -> dict:
    """The --difficulty preset with every explicitly given flag put over it."""
    model = dict(PRESETS[args.difficulty])
    for key in model:
        if getattr(args, key, None) is not None:
            model[key] = getattr(args, key)
    model["difficulty"] = args.difficulty
    return model


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
    m = p.add_argument_group("model (defaults come from --difficulty; a flag given overrides it)")
    m.add_argument("--difficulty", choices=list(PRESETS), default="realistic",
                   help="easy: the original model (binary A/B on TAD blocks, Poisson counts, 2 marks); "
                        "realistic: five states A1..B3, continuous score, negative-binomial counts, "
                        "loops, 6 marks, depth near real maps; hard: realistic at low depth with weak "
                        "compartments [realistic]")
    m.add_argument("--depth", type=_bp, default=None,
                   help=f"cis contacts of the first cell; default --depth-per-mb x mappable Mb, at most "
                        f"{DEPTH_CAP:,}")
    m.add_argument("--depth-per-mb", type=_depth_per_mb, default=None, metavar="N|NAME",
                   help="cis contacts per mappable Mb, or the depth of a real file: "
                        + ", ".join(f"{k} ({v:,})" for k, v in REAL_DEPTH_PER_MB.items())
                        + " [easy " + f"{PRESETS['easy']['depth_per_mb']:,}, realistic "
                        + f"{PRESETS['realistic']['depth_per_mb']:,}, hard {PRESETS['hard']['depth_per_mb']:,}]")
    m.add_argument("--depth-ratio", type=float, default=1.5, help="second cell's depth / first's")
    m.add_argument("--n-b2a", type=int, default=100, help="bins switched B→A in the second cell")
    m.add_argument("--n-a2b", type=int, default=70, help="bins switched A→B in the second cell")
    m.add_argument("--n-sub-switch", type=int, default=None,
                   help="bins switched between subcompartments only (A1↔A2, B1↔B3, B2→B3) in the "
                        "second cell [realistic/hard 120; easy has none]")
    m.add_argument("--decay", type=float, default=None, help="P(s) power-law exponent [easy -1, else -0.7]")
    m.add_argument("--compartment-strength", type=float, default=None,
                   help="mean compartment amplitude (0–0.7) [easy 0.3, realistic 0.7, hard 0.35]")
    m.add_argument("--tad-strength", type=float, default=None,
                   help="extra contact fraction within a TAD [easy 0.8, else 0.5]")
    m.add_argument("--dispersion", type=float, default=None,
                   help="negative-binomial shape of the counts (smaller = more overdispersed) "
                        "[realistic 4, hard 2; easy: Poisson]")
    m.add_argument("--loop-strength", type=float, default=None,
                   help="mean extra contact fraction at a loop between TAD boundaries [realistic/hard 2]")
    m.add_argument("--mark-noise", type=float, default=None,
                   help="SD of the log-normal per-bin noise of the marks [realistic 0.8, hard 1.0]")
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
    if args.difficulty == "easy":
        given = [f for f in ("dispersion", "loop_strength", "n_sub_switch", "mark_noise")
                 if getattr(args, f) is not None]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise DataError(f"{flag} belongs to the realistic model; drop it or use "
                            "--difficulty realistic (or hard)")
    model = resolve_model(args)
    checks = [("--depth", args.depth is None or args.depth > 0, "a positive number of contacts"),
              ("--depth-ratio", args.depth_ratio > 0, "a positive ratio such as 1.5"),
              ("--decay", model["decay"] < 0, "a negative exponent such as -1"),
              ("--compartment-strength", 0 <= model["compartment_strength"] <= 0.7, "0 to 0.7"),
              ("--tad-strength", model["tad_strength"] >= 0, "0 or more"),
              ("--dispersion", model["dispersion"] is None or model["dispersion"] > 0,
               "a positive shape such as 4"),
              ("--loop-strength", model["loop_strength"] >= 0, "0 or more"),
              ("--mark-noise", model["mark_noise"] is None or model["mark_noise"] >= 0, "0 or more"),
              ("--n-sub-switch", model["n_sub_switch"] >= 0, "0 or more bins"),
              ("--n-b2a", args.n_b2a >= 0, "0 or more bins"),
              ("--n-a2b", args.n_a2b >= 0, "0 or more bins"),
              ("--pericentromere-bp", args.pericentromere_bp >= 0, "0 or more bp"),
              ("--max-dist", args.max_dist == 0 or args.max_dist >= args.res,
               "0 (no limit) or at least --res"),
              ("--seed", args.seed >= 0, "a non-negative integer")]
    for flag, ok, allowed in checks:
        if not ok:
            value = model.get(flag[2:].replace("-", "_"), getattr(args, flag[2:].replace("-", "_"), None))
            raise DataError(f"{flag} {value} is out of range; use {allowed}")
    sizes = chromosome_sizes(args.chrom, args.length, genome=args.genome)
    if args.genome is None and (sizes <= args.pericentromere_bp + 40 * args.res).any():
        raise DataError(f"--pericentromere-bp {args.pericentromere_bp} leaves fewer than 40 mappable "
                        f"bins on {sizes.idxmin()} ({sizes.min()} bp); lower it or raise --length")
    return sizes


def simulate_cell(truth: pd.DataFrame, k: int, *, chromsizes: pd.Series, depth: float, model: dict,
                  max_dist_bins: int | None, resolutions: list[int], track_step: int, mcool: Path,
                  bigwigs: dict[str, Path], metadata: dict, assembly: str | None,
                  loops: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
                  rng: np.random.Generator) -> dict:
    """Write cell ``k``'s ``.mcool`` and bigWigs; return its realised numbers."""
    r_bias, r_pix, r_track = rng.spawn(3)
    ab = truth[f"ab{k}"].to_numpy()
    mappable = truth["mappable"].to_numpy()
    bias = truth["coverage"].to_numpy() * r_bias.lognormal(0.0, model["bias_sd"], len(truth))
    realistic = model["difficulty"] != "easy"
    if realistic:  # a smooth (GC-like) share of the coverage bias
        bias *= np.exp(0.5 * model["bias_sd"] * _smooth_noise(len(truth), r_bias, 200_000 / resolutions[0], 1.0))
        u = soft_membership(truth[f"state{k}"].to_numpy(), truth["chrom_id"].to_numpy(),
                            sigma=BORDER_BP / resolutions[0])
        e, lam = interaction_factors(u, truth["strength"].to_numpy(), amplitude=1.0)
        extra = dict(lam=lam, loops=loops, dispersion=model["dispersion"])
    else:
        e, extra = ab * np.sqrt(truth["strength"].to_numpy()), {}
    pixels = sample_contacts(truth, bias=bias, e=e, depth=depth, decay=model["decay"],
                             tad_strength=model["tad_strength"], max_dist_bins=max_dist_bins,
                             rng=r_pix, **extra)
    st = write_mcool(mcool, truth, pixels, resolutions=resolutions, metadata=metadata,
                     assembly=assembly)
    if realistic:
        steps, tracks = simulate_state_tracks(truth, k, chromsizes=chromsizes, res=resolutions[0],
                                              step=track_step, mark_noise=model["mark_noise"], rng=r_track)
    else:
        steps, tracks = simulate_tracks(truth, ab, chromsizes=chromsizes, res=resolutions[0],
                                        step=track_step, rng=r_track)
    r, means = {}, {}
    for mark, values in tracks.items():
        write_bigwig(bigwigs[mark], chromsizes, steps, values, step=track_step)
        mean = bin_means(values, steps["bin"].to_numpy(), len(truth))
        r[mark] = round(track_truth_r(mean, ab, mappable), 4)
        means[mark] = mean
    out = {"depth": st["contacts"], "n_pixels": st["n_pixels"],
           "masked_bins_after_balancing": st["masked_bins"], "track_truth_r": r}
    if realistic:
        out.update(mark_realised(means, truth, k))
    return out


def mark_realised(means: dict[str, np.ndarray], truth: pd.DataFrame, k: int) -> dict:
    """Realised mark numbers of cell ``k``: r with the continuous score, mean per state, and the
    accuracy of an oracle nearest-centroid rule on the marks alone (true state centroids of the
    standardised log marks): an upper bound on what the marks alone say about the five states."""
    ok = truth["mappable"].to_numpy() & np.all([np.isfinite(v) for v in means.values()], axis=0)
    score, state = truth[f"score{k}"].to_numpy()[ok], truth[f"state{k}"].to_numpy()[ok]
    x = np.log1p(np.column_stack([v[ok] for v in means.values()]))
    x = (x - x.mean(0)) / (x.std(0) + 1e-12)
    present = np.unique(state)
    centroids = np.stack([x[state == c].mean(0) for c in present])
    nearest = present[np.argmin(((x[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)]
    return {"track_score_r": {m: round(float(np.corrcoef(v[ok], score)[0, 1]), 4) for m, v in means.items()},
            "track_state_mean": {m: {s: round(float(v[ok][state == c].mean()), 4) if (state == c).any() else None
                                     for c, s in enumerate(STATES)} for m, v in means.items()},
            "marks_oracle_state_accuracy": round(float(np.mean(nearest == state)), 4)}


def _run(args: argparse.Namespace) -> None:
    sizes = check_args(args)
    model = resolve_model(args)
    realistic = model["difficulty"] != "easy"
    marks = MARKS if realistic else EASY_MARKS
    rng = np.random.default_rng(args.seed)
    r_truth, r_cells = rng.spawn(2)
    cells, res = list(args.cells), args.res
    blocks = unmappable_blocks(sizes, genome=args.genome, pericentromere_bp=args.pericentromere_bp)
    if realistic:
        r_truth, r_states, r_loops = r_truth.spawn(3)
        truth = plant_truth(sizes, blocks, res=res, n_b2a=0, n_a2b=0,
                            compartment_strength=model["compartment_strength"], rng=r_truth)
        truth = plant_states(truth, res=res, n_b2a=args.n_b2a, n_a2b=args.n_a2b, n_sub=model["n_sub_switch"],
                             compartment_strength=model["compartment_strength"], rng=r_states)
        loops = plant_loops(truth, loop_strength=model["loop_strength"], rng=r_loops)
    else:
        truth = plant_truth(sizes, blocks, res=res, n_b2a=args.n_b2a, n_a2b=args.n_a2b,
                            compartment_strength=model["compartment_strength"], rng=r_truth)
        loops = None
    out = common.ensure_writable_dir(args.out)  # only once the truth could be planted
    mappable = truth["mappable"].to_numpy()
    depth = args.depth or min(model["depth_per_mb"] * mappable.sum() * res / 1e6, DEPTH_CAP)
    log.info("%s model: %d chromosome(s), %d bins at %d bp, %d unmappable; depth %.3g",
             model["difficulty"], len(sizes), len(truth), res, (~mappable).sum(), depth)

    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
              if k not in ("debug", "verbose", "quiet")}
    summary: dict = {"n_bins": len(truth), "n_masked": int((~mappable).sum()),
                     "n_low_coverage": int(((truth["coverage"] > 0) & (truth["coverage"] < 1)).sum()),
                     "n_b2a": int(((truth["ab0"] < 0) & (truth["ab1"] > 0) & mappable).sum()),
                     "n_a2b": int(((truth["ab0"] > 0) & (truth["ab1"] < 0) & mappable).sum()),
                     "chromosomes": {c: int(L) for c, L in sizes.items()},
                     "resolutions": [res, *sorted(set(args.zoom))], "depth_target": depth,
                     "marks": list(marks),
                     "depth": {}, "n_pixels": {}, "masked_bins_after_balancing": {},
                     "track_truth_r": {}}
    if realistic:
        summary.update(realised_states(truth, cells, loops))
        for key in ("track_score_r", "track_state_mean", "marks_oracle_state_accuracy"):
            summary[key] = {}
    names = [f"{c}.mcool" for c in cells] + [f"{c}_{m}.bw" for c in cells for m in marks]
    names.append("truth.tsv")
    with contextlib.ExitStack() as stack:  # every output appears together, or none does
        tmp = {name: stack.enter_context(common.atomic_output(out / name)) for name in names}
        for k, (cell, r_cell) in enumerate(zip(cells, r_cells.spawn(len(cells)))):
            log.info("%s: simulating contacts and tracks", cell)
            realised = simulate_cell(
                truth, k, chromsizes=sizes, depth=depth * args.depth_ratio ** k, model=model,
                max_dist_bins=args.max_dist // res if args.max_dist else None,
                resolutions=summary["resolutions"], track_step=args.track_step,
                mcool=tmp[f"{cell}.mcool"], bigwigs={m: tmp[f"{cell}_{m}.bw"] for m in marks},
                metadata={"simulated": True, "cell": cell, "parameters": params},
                assembly=args.genome, loops=loops, rng=r_cell)
            for key, value in realised.items():
                summary[key][cell] = value
            log.info("%s: %d contacts in %d pixels; track/truth r %s", cell, realised["depth"],
                     realised["n_pixels"], realised["track_truth_r"])
        truth_table(truth, cells).to_csv(tmp["truth.tsv"], sep="\t", index=False)
    prov = common.provenance(args, seed=args.seed)
    record = {"parameters": params, "seed": args.seed, "summary": summary, "provenance": prov}
    if realistic:
        record["model"] = {**model, "states": list(STATES), "state_contact": STATE_CONTACT,
                           "state_score": STATE_SCORE, "state_marks": STATE_MARKS, "marks": list(MARKS)}
    common.write_json(out / "simulation.json", record)
    for name in names:
        common.write_provenance(out / name, prov)
    log.info("wrote %s (B→A %d, A→B %d bins)", out, summary["n_b2a"], summary["n_a2b"])


def realised_states(truth: pd.DataFrame, cells: list[str], loops) -> dict:
    """State shares per cell, planted subcompartment-only switches and loops (simulation.json)."""
    m = truth["mappable"].to_numpy()
    s0, s1 = truth["state0"].to_numpy()[m], truth["state1"].to_numpy()[m]
    share = {cell: {s: round(float(np.mean(st == c)), 4) for c, s in enumerate(STATES)}
             for cell, st in zip(cells, (s0, s1))}
    same_ab = (s0 <= 1) == (s1 <= 1)
    pairs = pd.Series([f"{STATES[a]}>{STATES[b]}" for a, b in zip(s0[same_ab & (s0 != s1)],
                                                                 s1[same_ab & (s0 != s1)])])
    return {"state_share": share, "n_sub_switch": int((same_ab & (s0 != s1)).sum()),
            "sub_switch_pairs": {k: int(v) for k, v in pairs.value_counts().items()},
            "n_loops": int(len(loops[0])),
            "score_sd": round(float(truth["score0"].to_numpy()[m].std()), 4)}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
