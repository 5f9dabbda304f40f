"""Node features beyond ChIP-seq: structural features from the map, and per-cell normalisation.

* :func:`structural_features` -- per-bin features computed from the contacts
  alone, so a user with only Hi-C still gets an embedding: ``coverage`` (log1p of
  raw cis contacts) and ``E1``/``E2``/``E3`` (the compartment eigenvectors of
  :func:`compute_compartments.call_compartments`, per arm, oriented by coverage:
  their sign carries no biology, only their pattern). Annotation tracks (GC
  content, TSS density) need no code here: any bigWig is a feature already.
* :func:`normalise` -- per-cell normalisation of every feature column over the
  usable bins (``--feature-norm``): ``zscore``; ``rank`` (0..1, ties averaged);
  ``quantile`` (ranks mapped to standard-normal quantiles). Ranks make cells
  comparable whose tracks are on different scales -- e.g. the real IMR90 marks,
  discretised by their source to integer levels 0-19, against GM12878's
  continuous signal. Masked bins are 0 in every case.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

import hicio
from common import DataError

STRUCTURAL = ("coverage", "E1", "E2", "E3")
NORMS = ("none", "zscore", "rank", "quantile")


def contact_features(block: hicio.CisBlock, names: Sequence[str], *, target_eigs: int = 0,
                     centromere: tuple[int, int] | None = None, orient=None,
                     **solve) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Structural features and the compartment target of one chromosome, from one eigen-solve.

    Returns ``(features [n, len(names)], target [n, target_eigs], region [n])``:
    ``features`` as :func:`structural_features`; ``target`` the compartment
    eigenvectors E1..E{target_eigs} per arm, each scaled by the square root of its
    eigenvalue (:func:`compute_compartments.region_eigs`), so that ``target @ target.T``
    is the best rank-``target_eigs`` approximation of the arm's O/E correlation
    matrix (0 on masked bins); ``region`` the arm index of each bin (0, 1, ...; -1
    where masked). ``orient`` (an :class:`orientation.Tracks`, e.g. the active
    marks) signs E1 as ``compute_compartments`` does; ``None`` orients by raw coverage.
    """
    import compute_compartments as cc

    bad = [n for n in names if n not in STRUCTURAL]
    if bad:
        raise DataError(f"unknown structural feature(s) {', '.join(bad)}; choose from {', '.join(STRUCTURAL)}")
    cols = {}
    if "coverage" in names:
        cols["coverage"] = np.where(block.mask, np.log1p(block.coverage), np.nan)
    eigs = [n for n in names if n.startswith("E")]
    n_eigs = max([int(n[1:]) for n in eigs] + [target_eigs])
    target = np.zeros((block.n, target_eigs), dtype=np.float32)
    region = np.full(block.n, -1, dtype=np.int64)
    if n_eigs:
        regions = cc.arm_regions(block.chrom, block.start, centromere=centromere)
        table, _ = cc.call_compartments(block, orient, regions=regions, n_eigs=n_eigs, **solve)
        for n in eigs:
            cols[n] = table[n].to_numpy()
        if target_eigs:
            t = table[[f"E{k + 1}" for k in range(target_eigs)]].to_numpy()
            ok = np.isfinite(t).all(1)
            target[ok] = t[ok]
            for r, (_, lo, hi) in enumerate(regions):
                region[lo:hi][ok[lo:hi]] = r
    x = np.column_stack([cols[n] for n in names]) if names else np.zeros((block.n, 0))
    return x, target, region


def structural_features(block: hicio.CisBlock, names: Sequence[str], *,
                        centromere: tuple[int, int] | None = None, **solve) -> np.ndarray:
    """``[n_bins, len(names)]`` structural features of one chromosome (NaN where masked).

    Parameters
    ----------
    block
        The chromosome's contacts.
    names
        Any of :data:`STRUCTURAL`.
    centromere
        Split E1-E3 at it (per arm), as ``compute_compartments`` does.
    solve
        Passed to :func:`compute_compartments.call_compartments` (``method``, ...).
    """
    return contact_features(block, names, centromere=centromere, **solve)[0]


def normalise(x: np.ndarray, mask: np.ndarray, *, method: str = "none") -> np.ndarray:
    """Per-column normalisation over the usable bins with a value; others become NaN (-> 0 later).

    ``none`` returns ``x`` unchanged. A constant column stays constant (0) under
    ``zscore`` and is left to :func:`build_graph.node_features` to report.
    """
    if method not in NORMS:
        raise DataError(f"unknown feature normalisation {method!r}; choose from {', '.join(NORMS)}")
    x = np.asarray(x, dtype=float)
    if method == "none":
        return x
    from scipy.stats import norm, rankdata

    out = np.full_like(x, np.nan)
    for k in range(x.shape[1]):
        ok = mask & np.isfinite(x[:, k])
        v = x[ok, k]
        if not len(v):
            continue
        if method == "zscore":
            sd = v.std()
            out[ok, k] = (v - v.mean()) / sd if sd > 0 else 0.0
        else:
            r = rankdata(v, method="average")
            out[ok, k] = (r - 1) / max(len(v) - 1, 1) if method == "rank" else norm.ppf((r - 0.5) / len(v))
    return out


def centromeres_for(clr, chroms: Sequence[str]) -> Mapping[str, tuple[int, int] | None]:
    """Centromeres of ``chroms`` when the assembly is recognised (hg38/hg19), else ``None`` each."""
    import compute_compartments as cc

    return cc.chrom_centromeres({c: int(n) for c, n in clr.chromsizes.items()}, chroms, assembly="auto")


def read_node_inputs(clr, chroms: Sequence[str], *, bigwigs: Sequence[str], names: Sequence[str],
                     structural: Sequence[str], weight_name: str | None, all_mode: bool = False,
                     target_eigs: int = 0) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Feature columns over every bin of ``chroms``: the bigWigs', then the structural ones.

    Returns the ``[n_bins, F]`` matrix (NaN where unknown), the ``F`` names, and the
    compartment target and region of :func:`contact_features` over the same bins
    (region indices made unique across chromosomes). E1 (feature and target) is
    oriented by the bigWigs of known sign (active marks), else by raw coverage.
    :func:`node_inputs_and_blocks` gives the same and the chromosomes' contacts, read once.
    """
    x, names, target, region, blocks = node_inputs_and_blocks(
        clr, chroms, bigwigs=bigwigs, names=names, structural=structural, weight_name=weight_name,
        all_mode=all_mode, target_eigs=target_eigs)
    for _ in blocks:  # fills the structural columns, target and region
        pass
    return x, names, target, region


def node_inputs_and_blocks(clr, chroms: Sequence[str], *, bigwigs: Sequence[str], names: Sequence[str],
                           structural: Sequence[str], weight_name: str | None, all_mode: bool = False,
                           target_eigs: int = 0):
    """:func:`read_node_inputs` and the contacts, each chromosome read from the file once.

    Returns ``(x, names, target, region, blocks)``: ``blocks`` is a generator of each
    chromosome's :class:`hicio.CisBlock`, in order, that fills the structural columns of
    ``x``, ``target`` and ``region`` as it goes (the arrays are complete once it is
    exhausted; the bigWig columns are there from the start). One chromosome's pixels are
    in memory at a time when the consumer drops each block (``build_graph.build_graph``).
    """
    import orientation

    bins = hicio.bin_table(clr, chroms)
    sizes = {c: int(n) for c, n in clr.chromsizes.items()}
    tracks = hicio.read_tracks(bigwigs, bins, allow_missing=all_mode, chromsizes=sizes) if bigwigs else None
    n_tracks = len(bigwigs) if bigwigs else 0
    x = np.full((len(bins), n_tracks + len(structural)), np.nan)
    if bigwigs:
        x[:, :n_tracks] = tracks
    target = np.zeros((len(bins), target_eigs), dtype=np.float32)
    region = np.full(len(bins), -1, dtype=np.int64)
    want = bool(structural or target_eigs)
    signed = orientation.known_tracks(tracks, list(names)) if bigwigs and want else None
    cens = centromeres_for(clr, chroms) if want else {}

    def blocks():
        offset, n_regions = 0, 0
        for c in chroms:
            block = hicio.read_cis(clr, c, weight_name=weight_name, allow_empty=all_mode)
            if want:
                orient = signed.rows(offset, offset + block.n) if signed is not None else None
                f, t, r = contact_features(block, structural, target_eigs=target_eigs, centromere=cens.get(c),
                                           orient=orient)
                x[offset:offset + block.n, n_tracks:] = f
                target[offset:offset + block.n] = t
                region[offset:offset + block.n] = np.where(r >= 0, r + n_regions, -1)
                n_regions += int(r.max()) + 1 if (r >= 0).any() else 0
            offset += block.n
            yield block

    return x, [*names, *structural], target, region, blocks()
