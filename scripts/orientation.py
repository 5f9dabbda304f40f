"""Which way up E1 goes: orientation tracks with a sign, chosen per region.

An eigenvector's sign is arbitrary; A/B labels come from correlating E1 with a
track whose relation to A is known. A sits where *active* marks are high and
where *repressive* marks are low, so every orientation track carries a sign:

* ``+1`` (A high): CTCF, H3K27ac, H3K4me1/2/3, H3K9ac, H3K36me3, H3K79me2, H2AFZ
  (H2A.Z), H4K20me1, POLR2A, DNase, ATAC, GC content, TSS density, RNA-seq.
  H4K20me1 marks the bodies of transcribed genes: on the real Rao 2014 chr21 maps
  (folder 11) it correlates +0.53 (GM12878) and +0.52 (IMR90) with E1.
* ``-1`` (A low): H3K9me3, H3K9me2, H4K20me3, lamin B1 (LMNB1).
* H3K27me3 has no reliable sign. It marks facultative heterochromatin (Rao's B1,
  next to A): on the real Rao 2014 chr21 maps it correlates *positively* with E1
  (+0.20 GM12878, +0.23 IMR90), and orienting by it as a repressive mark (-1)
  inverts the calls (24 % / 11 % agreement with Rao's / SNIPER's A/B instead of
  76 % / 89 %), while in the simulator it is high in B. With ``auto`` it is never
  chosen to orient, nor counted as disagreeing; alone it is refused with a
  one-line error (pass ``--orient-sign`` to use it anyway).

:func:`known_sign` reads the sign from a track's name (``GM12878_H3K27ac`` ->
+1); unknown names need an explicit sign (``--orient-sign``). :func:`choose`
picks, per region, the track that orients it: the first one (``first``) or the
preferred class (active before repressive), then the largest ``|r|`` with E1
(``best``), which does not depend on the order the tracks were given in.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from common import DataError

log = logging.getLogger("chromatin_gnn.orientation")

ACTIVE = ("CTCF", "H3K27ac", "H3K4me1", "H3K4me2", "H3K4me3", "H3K9ac", "H3K36me3", "H3K79me2",
          "H2AFZ", "H2A.Z", "H2AZ", "H4K20me1", "POLR2A", "PolII", "DNase", "ATAC", "GC", "TSS", "RNA")
REPRESSIVE = ("H3K9me3", "H3K9me2", "H4K20me3", "LMNB1", "LaminB1")
#: Marks whose relation to A/B changes between maps (see the module doc): no ``auto`` sign.
AMBIGUOUS = ("H3K27me3",)
PICKS = ("best", "first")
#: |r(E1, track)| below this is reported as a weak orientation.
MIN_ABS_R = 0.2
#: A track orients a region only where it has a value on this fraction of its usable bins.
MIN_COVERAGE = 0.5


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[_\-\s.]+", Path(name).name.removesuffix(".bw").removesuffix(".bigWig")) if t]


def known_sign(name: str) -> int | None:
    """+1 for a known active mark or GC/TSS track, -1 for a known repressive one, 0 for
    :data:`AMBIGUOUS` marks (H3K27me3), else ``None``.

    The name is split at ``_ - .`` and each piece compared case-insensitively,
    so ``GM12878_H3K27ac``, ``hg19_TSS_density_40kb`` and ``H2A.Z`` are all found.
    """
    toks = [t.lower() for t in _tokens(name)] + [Path(name).name.lower()]
    for sign, marks in ((1, ACTIVE), (-1, REPRESSIVE), (0, AMBIGUOUS)):
        if any(m.lower() in toks for m in marks):
            return sign
    return None


def parse_sign(text: str) -> str:
    """argparse ``type`` for ``--orient-sign``: ``+1``, ``-1`` or ``auto``."""
    t = str(text).strip().lower()
    if t in ("+1", "1", "+", "pos"):
        return "+1"
    if t in ("-1", "-", "neg"):
        return "-1"
    if t == "auto":
        return "auto"
    import argparse

    raise argparse.ArgumentTypeError(f"expected +1, -1 or auto, got {text!r}")


@dataclass
class Tracks:
    """Orientation candidates over one chromosome's bins.

    Attributes
    ----------
    values
        ``[n_bins, K]`` signal (NaN where a track has none).
    names, signs
        One name and sign (+1: A high, -1: A low) per column.
    """

    values: np.ndarray
    names: list[str]
    signs: list[int]
    where: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=float).reshape(len(self.values), -1)

    @property
    def ranks(self) -> list[int]:
        """0 for tracks where A is high (sign +1), 1 for repressive ones (-1), 2 for unsigned
        ones (0: an :data:`AMBIGUOUS` mark under ``auto``; never chosen, never disagreeing)."""
        return [0 if s > 0 else 1 if s < 0 else 2 for s in self.signs]

    def rows(self, lo: int, hi: int) -> "Tracks":
        return Tracks(self.values[lo:hi], self.names, self.signs, self.where)


def known_tracks(values: np.ndarray, names: Sequence[str]) -> Tracks | None:
    """The columns of ``values`` whose name has a known non-zero sign (:func:`known_sign`:
    active or repressive marks, GC/TSS tracks) as orientation candidates; ``None`` if none has."""
    signs = [known_sign(n) or 0 for n in names]
    keep = [k for k, s in enumerate(signs) if s]
    if not keep:
        return None
    return Tracks(np.asarray(values)[:, keep], [names[k] for k in keep], [signs[k] for k in keep])


def resolve_signs(names: Sequence[str], signs: Sequence[str]) -> list[int]:
    """One sign per track from ``--orient-sign`` (one value for all, or one per track).

    ``auto`` on a name :func:`known_sign` does not know gives +1 (the seed's
    convention: E1 correlates positively with the track) with a warning; on an
    :data:`AMBIGUOUS` one it gives 0 (not used to orient).
    """
    if len(signs) not in (1, len(names)):
        raise DataError(f"{len(signs)} --orient-sign values for {len(names)} orientation tracks; "
                        "give one for all or one per track")
    out = []
    for name, s in zip(names, list(signs) * len(names) if len(signs) == 1 else signs):
        if s == "auto":
            k = known_sign(name)
            if k is None:
                log.warning("sign of orientation track '%s' is not known from its name (known: %s -> +1; "
                            "%s -> -1); assuming +1 (A where it is high): pass --orient-sign to be explicit",
                            name, ", ".join(ACTIVE), ", ".join(REPRESSIVE))
                k = 1
            out.append(k)
        else:
            out.append(int(s))
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def choose(e1: np.ndarray, tracks: Tracks, *, pick: str = "best") -> dict:
    """The track that orients one region, and every candidate's signed correlation with E1.

    Parameters
    ----------
    e1
        The region's E1 (NaN on masked bins), sign still arbitrary.
    tracks
        Candidates over the region's bins.
    pick
        ``first``: the first track covering the region; ``best``: the preferred
        class (:attr:`Tracks.ranks`), then the largest ``|r|``.

    Returns
    -------
    dict
        ``index`` (None when no track covers the region), ``r`` (signed
        correlation ``sign * r(E1, track)`` per track, NaN where not covering),
        ``coverage`` (fraction of E1's bins with a value, per track).
    """
    if pick not in PICKS:
        raise ValueError(f"unknown pick {pick!r}")
    ok = np.isfinite(e1)
    cov = [float(np.isfinite(tracks.values[ok, k]).mean()) if ok.any() else 0.0
           for k in range(len(tracks.names))]
    r = [(s or 1) * _corr(e1, tracks.values[:, k]) if c >= MIN_COVERAGE else float("nan")
         for k, (s, c) in enumerate(zip(tracks.signs, cov))]  # unsigned tracks: the plain r
    ranks = tracks.ranks
    covering = [k for k in range(len(r)) if np.isfinite(r[k])]
    eligible = [k for k in covering if ranks[k] < 2]
    if covering and not eligible:
        names = ", ".join(tracks.names[k] for k in covering)
        raise DataError(f"{names} cannot orient E1 on its own: its relation to A/B changes between maps "
                        "(on real Rao 2014 chr21 it is higher in A); add an active mark, GC or TSS density "
                        "(run_pipeline.sh --orient TRACK.bw), or pass --orient-sign +1/-1 for it")
    if not eligible:
        index = None
    elif pick == "first":
        index = eligible[0]
    else:
        top = min(ranks[k] for k in eligible)
        index = max((k for k in eligible if ranks[k] == top), key=lambda k: (abs(r[k]), -k))
    return {"index": index, "r": r, "coverage": cov}


def report(region: str, e1: np.ndarray, tracks: Tracks, index: int | None) -> dict:
    """QC fields for one region after orientation, logging the warnings.

    ``r`` values (sign applied) are computed with the oriented E1, so the chosen
    track's is >= 0 unless stitched pieces disagree; a weak chosen ``|r|`` and any
    other track pointing the other way (``r <= -``:data:`MIN_ABS_R`) are warned about.
    """
    r = choose(e1, tracks, pick="first")["r"]
    rr = {n: (None if not np.isfinite(x) else round(float(x), 4)) for n, x in zip(tracks.names, r)}
    k = index
    out = {"orient_track": None if k is None else tracks.names[k],
           "orient_sign": None if k is None else int(tracks.signs[k]),
           "orient_abs_r": None if k is None or not np.isfinite(r[k]) else round(abs(float(r[k])), 4),
           "orient_candidates_r": rr, "orient_disagree": []}
    if k is None or not np.isfinite(r[k]):
        return out
    if abs(r[k]) < MIN_ABS_R:
        log.warning("%s: E1 correlates weakly with orientation track %s (|r| = %.2f < %.2f); "
                    "the A/B sign there is uncertain (give an active mark, GC or TSS density)",
                    region, tracks.names[k], abs(r[k]), MIN_ABS_R)
    ranks = tracks.ranks
    bad = [n for j, (n, x) in enumerate(zip(tracks.names, r))
           if j != k and ranks[j] < 2 and np.isfinite(x) and x <= -MIN_ABS_R]
    if bad:
        log.warning("%s: orientation by %s disagrees with %s (r with the oriented E1, sign applied: %s)",
                    region, tracks.names[k], ", ".join(bad), ", ".join(f"{n} {rr[n]:+.2f}" for n in bad))
    out["orient_disagree"] = bad
    return out
