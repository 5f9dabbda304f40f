"""Step 1: Hi-C contacts + ChIP-seq bigWigs -> one contact graph (``.pt``, docs/FORMATS.md).

* Nodes: every bin of the chosen chromosome(s), in genomic order. ``mask`` marks
  usable bins (finite balancing weight and some cis coverage); nothing is dropped.
* Edges: undirected (both directions stored), no self-loops, intra-chromosomal
  pixels within ``--max_dist`` (1 Mb) between two usable bins, chosen by ``--edge-rule``:
  ``quantile`` (default) keeps at every distance the ``--edge-quantile`` share (0.2) of
  usable pairs with the highest observed/expected, so depth does not change the graph;
  ``oe`` keeps O/E >= ``--min-oe``; ``count`` keeps raw counts >= ``--min-contacts`` (the
  seed's). Weight ``log(observed / expected-at-that-distance)`` by default (``--edge-transform
  oe``), or ``log1p(balanced contact)`` (``log1p``). ``--trans`` adds inter-chromosomal pixels.
* Node features: mean signal of each bigWig per bin (marks, or GC/TSS density
  annotation tracks), then any ``--structural`` features computed from the map
  (coverage, E1-E3; ``features.py``), optionally normalised per cell
  (``--feature-norm``); NaN -> 0.

Example::

    python scripts/build_graph.py --mcool data/raw/GM12878.mcool --chrom chr21 --res 25000 \\
        --bigwigs data/raw/GM12878_CTCF.bw data/raw/GM12878_H3K27me3.bw \\
        --out data/processed/GM12878_chr21.pt
"""

from __future__ import annotations

import argparse
import functools
import itertools
import logging
import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence

import common  # first: one line naming the venv when a dependency is missing  # isort: skip
import numpy as np
from tqdm import tqdm

import features
import hicio
from common import DataError

log = logging.getLogger("chromatin_gnn.build_graph")

EDGE_TRANSFORMS = ("log1p", "oe")


def feature_names_from_paths(paths: Sequence[str | Path]) -> list[str]:
    """Names for bigWig features: the file stem minus a leading ``<cell>_`` prefix.

    ``GM12878_CTCF.bw`` -> ``CTCF``. When that makes two names equal, whole
    stems are used.
    """
    stems = [Path(p).stem for p in paths]
    short = [s.split("_", 1)[1] if "_" in s and s.split("_", 1)[1] else s for s in stems]
    return short if len(set(short)) == len(short) else stems


#: How pixels become edges (``--edge-rule``); none of the defaults looks at raw counts.
EDGE_RULES = ("quantile", "oe", "count")
DEFAULT_EDGE_RULE = "quantile"
DEFAULT_EDGE_TRANSFORM = "oe"
#: Share of the usable pairs kept as edges at every distance (``--edge-quantile``) and the
#: longest edge (``--max-dist``): chosen in benchmarks/ABLATION.md, where the top 20 % within
#: 1 Mb gave better A/B probes of the smoothed features than the top 10 % within 5 Mb (long-range
#: pixels of high O/E are mostly counting noise) on the simulated hard preset and real chr21.
DEFAULT_EDGE_QUANTILE = 0.2
DEFAULT_MAX_DIST = 1_000_000
#: Node features added from the map by default (``--structural``) and the rank of the stored
#: compartment target (``--compartment-target``): chosen in benchmarks/ABLATION.md, where the
#: ``structure`` objective with E1-E3 among the inputs gave the best A/B probes.
DEFAULT_STRUCTURAL = ("E1", "E2", "E3")
DEFAULT_TARGET_EIGS = 10
#: Smallest observed/expected for an edge with ``--edge-rule oe`` (``--min-oe``).
DEFAULT_MIN_OE = 2.0


def _top_share(group: np.ndarray, value: np.ndarray, n_slots: np.ndarray, share: float) -> np.ndarray:
    """Keep mask: per ``group`` (e.g. diagonal), the ``ceil(share * n_slots[group])`` largest ``value``s.

    Vectorised: one lexsort by (group, -value), then each pixel's rank inside its group.
    Ties at the cut keep the earlier pixel of the sort, which is deterministic.
    """
    if not value.size:
        return np.zeros(0, bool)
    order = np.lexsort((-value, group))
    g = group[order]
    first = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    rank = np.arange(g.size) - np.repeat(first, np.diff(np.r_[first, g.size]))
    keep = np.zeros(value.size, bool)
    keep[order] = rank < np.ceil(share * n_slots[g])
    return keep


def _select(value: np.ndarray, oe: np.ndarray, count: np.ndarray, group: np.ndarray,
            n_slots: np.ndarray, *, rule: str, min_contacts: float, quantile: float,
            min_oe: float) -> np.ndarray:
    """Which candidate pixels become edges under ``rule`` (see :func:`cis_edges`)."""
    if rule == "count":
        return count >= min_contacts
    if rule == "oe":
        return oe >= min_oe
    return _top_share(group, value, n_slots, quantile)


def check_edge_rule(rule: str, transform: str) -> None:
    """Raise :class:`DataError` for an unknown ``--edge-rule`` or ``--edge-transform``."""
    if transform not in EDGE_TRANSFORMS:
        raise DataError(f"unknown edge transform {transform!r}; choose from {', '.join(EDGE_TRANSFORMS)}")
    if rule not in EDGE_RULES:
        raise DataError(f"unknown edge rule {rule!r}; choose from {', '.join(EDGE_RULES)}")


def cis_edges(block: hicio.CisBlock, *, max_dist: int = DEFAULT_MAX_DIST, min_contacts: float = 0.0,
              transform: str = DEFAULT_EDGE_TRANSFORM, rule: str = DEFAULT_EDGE_RULE,
              quantile: float = DEFAULT_EDGE_QUANTILE,
              min_oe: float = DEFAULT_MIN_OE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle edges ``(i, j, weight)`` with ``i < j`` (local bin indices).

    Candidates are pixels with a positive balanced value between two usable bins
    within ``max_dist``. ``expected(d)`` is the mean balanced value over usable pairs
    at distance ``d`` (zeros included).

    Parameters
    ----------
    block
        One chromosome's contacts.
    max_dist
        Longest kept distance between bin starts, in bp.
    min_contacts
        Smallest raw count for a pixel to become an edge; used by ``rule="count"`` only.
    transform
        ``oe`` (``log(value / expected(d))``) or ``log1p`` (``log1p(value)``).
    rule
        ``quantile``: at each distance the ``quantile`` share of usable pairs with the
        highest balanced value (= highest observed/expected), so every distance and every
        depth gives the same edge count; ``oe``: pixels with observed/expected at least
        ``min_oe``; ``count``: raw count at least ``min_contacts`` (the seed's rule, which
        follows sequencing depth).
    """
    check_edge_rule(rule, transform)
    i, j, v = block.i, block.j, block.value
    mask = block.mask
    keep = ((i != j) & mask[i] & mask[j] & (block.start[j] - block.start[i] <= max_dist)
            & np.isfinite(v) & (v > 0))
    i, j, v, count = i[keep], j[keep], v[keep], block.count[keep]
    exp = hicio.expected_cis(block.i, block.j, block.value, mask)
    oe = v / exp[j - i]
    n_pairs = hicio.pairs_per_distance(mask)  # usable pairs per distance
    sel = _select(v, oe, count, j - i, n_pairs, rule=rule, min_contacts=min_contacts,
                  quantile=quantile, min_oe=min_oe)
    i, j, v, oe = i[sel], j[sel], v[sel], oe[sel]
    w = np.log(oe) if transform == "oe" else np.log1p(v)
    return i, j, w


def trans_edges(clr, chroms: Sequence[str], offsets: Sequence[int], masks: Sequence[np.ndarray], *,
                weight_name: str | None, min_contacts: float = 0.0,
                transform: str = DEFAULT_EDGE_TRANSFORM, rule: str = DEFAULT_EDGE_RULE,
                quantile: float = DEFAULT_EDGE_QUANTILE,
                min_oe: float = DEFAULT_MIN_OE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inter-chromosomal edges ``(src, dst, weight)`` in graph node indices.

    The expected value of a chromosome pair is its mean over usable bin pairs
    (trans contacts do not decay with distance); ``rule`` as in :func:`cis_edges`,
    with the whole chromosome pair as one group.
    """
    check_edge_rule(rule, transform)
    parts = []
    for (a, ca), (b, cb) in itertools.combinations(enumerate(chroms), 2):
        i, j, count, v = hicio.read_trans(clr, ca, cb, weight_name=weight_name)
        keep = masks[a][i] & masks[b][j] & np.isfinite(v) & (v > 0)
        i, j, v, count = i[keep], j[keep], v[keep], count[keep]
        n_pairs = float(masks[a].sum() * masks[b].sum())
        exp = v.sum() / max(n_pairs, 1)
        oe = v / exp
        sel = _select(v, oe, count, np.zeros(v.size, np.int64), np.array([n_pairs]), rule=rule,
                      min_contacts=min_contacts, quantile=quantile, min_oe=min_oe)
        i, j, v, oe = i[sel], j[sel], v[sel], oe[sel]
        w = np.log(oe) if transform == "oe" else np.log1p(v)
        parts.append((i + offsets[a], j + offsets[b], w))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]


def node_features(tracks: np.ndarray, mask: np.ndarray, names: Sequence[str], *,
                  allow_constant: bool = False, norm: str = "none") -> np.ndarray:
    """NaN -> 0 feature matrix; error on a feature with no value on usable bins or a constant one.

    ``norm`` normalises each column over the usable bins first (:func:`features.normalise`:
    ``zscore``, ``rank``, ``quantile``; ``none`` keeps the raw signal).

    A constant track (all zeros, say) almost always means the wrong file or an
    empty chromosome in it; after BatchNorm it is a column of zeros. With
    ``allow_constant`` it is kept with a warning.
    """
    usable = tracks[mask]
    for k, name in enumerate(names):
        col = usable[:, k][np.isfinite(usable[:, k])]
        if not len(col):
            raise DataError(f"feature {name!r} is NaN on every usable bin; "
                            "pass a bigWig with signal on this chromosome")
        if np.ptp(col) == 0:
            if not allow_constant:
                raise DataError(f"feature {name!r} is constant ({col[0]:g}) over the usable bins, so it "
                                "carries no information; check the bigWig, or pass --allow-constant-features")
            log.warning("feature %r is constant (%g) over the usable bins; it carries no information",
                        name, col[0])
    return np.nan_to_num(features.normalise(tracks, mask, method=norm), nan=0.0, posinf=0.0, neginf=0.0)


def build_graph(blocks: Iterable[hicio.CisBlock], features: np.ndarray, feature_names: Sequence[str], *,
                max_dist: int = DEFAULT_MAX_DIST, min_contacts: float = 0.0,
                edge_transform: str = DEFAULT_EDGE_TRANSFORM, edge_rule: str = DEFAULT_EDGE_RULE,
                edge_quantile: float = DEFAULT_EDGE_QUANTILE, min_oe: float = DEFAULT_MIN_OE,
                trans: Callable[[np.ndarray, list[np.ndarray]], tuple] | None = None,
                allow_constant: bool = False, feature_norm: str = "none") -> dict:
    """Assemble the graph dict of docs/FORMATS.md (without ``provenance``).

    Parameters
    ----------
    blocks
        One :class:`hicio.CisBlock` per chromosome, in genome order. May be a
        generator: a block's pixels are released once its edges are taken, so
        one chromosome's pixels are in memory at a time.
    features
        ``[N, F]`` node features over the concatenated bins (NaN allowed: set to 0).
    feature_names
        One name per feature column.
    max_dist, min_contacts, edge_transform, edge_rule, edge_quantile, min_oe
        See :func:`cis_edges` (``transform``, ``rule``, ``quantile``, ``min_oe``).
    trans
        With several chromosomes, called as ``trans(offsets, masks)`` for further
        ``(src, dst, weight)`` edges in node indices (see :func:`trans_edges`).

    Returns
    -------
    dict
        ``edge_index`` holds both directions of every edge, sorted by (source, target).
    """
    import torch

    parts, meta, offset = [], [], 0
    for b in blocks:
        s, d, w = cis_edges(b, max_dist=max_dist, min_contacts=min_contacts, transform=edge_transform,
                            rule=edge_rule, quantile=edge_quantile, min_oe=min_oe)
        parts.append((s + offset, d + offset, w.astype(np.float32)))
        meta.append((b.chrom, b.n, b.mask, b.start, b.end, b.res))
        offset += b.n
    chroms, sizes, masks, starts, ends, res = zip(*meta)
    if trans is not None and len(chroms) > 1:
        parts.append(trans(np.cumsum([0, *sizes]), list(masks)))
    src, dst, w = (np.concatenate(p) for p in zip(*parts))
    del parts
    ei = np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])])
    order = np.argsort(ei[0] * offset + ei[1])
    mask = np.concatenate(masks)
    x = node_features(np.asarray(features, dtype=float), mask, feature_names, allow_constant=allow_constant,
                      norm=feature_norm)
    return {
        "format": common.GRAPH_FORMAT, "format_version": common.FORMAT_VERSION,
        "x": torch.as_tensor(x, dtype=torch.float32),
        "feature_names": list(feature_names),
        "edge_index": torch.as_tensor(ei[:, order], dtype=torch.long),
        "edge_weight": torch.as_tensor(np.concatenate([w, w])[order], dtype=torch.float32),
        "mask": torch.as_tensor(mask, dtype=torch.bool),
        "chroms": list(chroms),
        "chrom_id": torch.as_tensor(np.repeat(np.arange(len(chroms)), sizes), dtype=torch.long),
        "start": torch.as_tensor(np.concatenate(starts), dtype=torch.long),
        "end": torch.as_tensor(np.concatenate(ends), dtype=torch.long),
        "resolution": int(res[0]),
        "edge_transform": edge_transform,
        "edge_rule": edge_rule,
    }


def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(prog="build_graph.py", description=__doc__.split("\n\n")[0])
    hicio.add_cooler_args(p)
    g = p.add_argument_group("graph")
    g.add_argument("--bigwigs", nargs="+", default=[], metavar="BW",
                   help="bigWig tracks, one node feature each: ChIP-seq marks, or annotation tracks "
                        "(GC content, TSS density) when there is no ChIP")
    g.add_argument("--feature-names", "--feature_names", dest="feature_names", nargs="+",
                   metavar="NAME", help="names for the bigWig features, e.g. the marks (one per --bigwigs) "
                                        "[file stem without '<cell>_']")
    g.add_argument("--structural", nargs="+", default=list(DEFAULT_STRUCTURAL),
                   choices=[*features.STRUCTURAL, "none"], metavar="FEAT",
                   help="features computed from the map itself, after the bigWigs': coverage (log1p raw "
                        "cis contacts), E1 E2 E3 (compartment eigenvectors per arm, E1 oriented by the "
                        "active marks among the bigWigs); 'none' for the bigWigs only (the seed's features); "
                        f"choose from {', '.join(features.STRUCTURAL)} [{' '.join(DEFAULT_STRUCTURAL)}]")
    g.add_argument("--compartment-target", dest="compartment_target", type=int, default=DEFAULT_TARGET_EIGS,
                   metavar="K", help="store E1..EK per arm (scaled by sqrt eigenvalue) as the target of "
                                     "train_vgae's compartment reconstruction; 0 to store none [%(default)s]")
    g.add_argument("--feature-norm", "--feature_norm", dest="feature_norm", choices=features.NORMS,
                   default="none", help="per-cell normalisation of every feature over the usable bins: "
                                        "zscore, rank (0..1), quantile (normal scores); rank/quantile make "
                                        "cells with differently scaled tracks comparable")
    g.add_argument("--max-dist", "--max_dist", dest="max_dist", type=hicio.positive_int,
                   default=DEFAULT_MAX_DIST, metavar="BP", help="longest contact kept as an edge [%(default)s]")
    g.add_argument("--edge-rule", "--edge_rule", dest="edge_rule", choices=EDGE_RULES,
                   default=DEFAULT_EDGE_RULE,
                   help="which pixels become edges: quantile = the --edge-quantile share of usable pairs "
                        "with the highest observed/expected at every distance (same density at any depth); "
                        "oe = observed/expected >= --min-oe; count = raw count >= --min-contacts (the seed's "
                        "rule; follows sequencing depth) [%(default)s]")
    g.add_argument("--edge-quantile", "--edge_quantile", dest="edge_quantile",
                   type=common.arg_type(float, lambda v: 0 < v <= 1, "a number in (0, 1]"),
                   default=DEFAULT_EDGE_QUANTILE, metavar="Q",
                   help="share of usable pairs kept per distance with --edge-rule quantile [%(default)s]")
    g.add_argument("--min-oe", "--min_oe", dest="min_oe",
                   type=common.arg_type(float, lambda v: v > 0, "a positive number"),
                   default=DEFAULT_MIN_OE, metavar="X",
                   help="smallest observed/expected with --edge-rule oe [%(default)s]")
    g.add_argument("--min-contacts", "--min_contacts", dest="min_contacts", type=float, default=0.0,
                   metavar="N", help="smallest raw count for a pixel to become an edge; used only by "
                                     "--edge-rule count (accepted and ignored otherwise, for compatibility)")
    g.add_argument("--edge-transform", "--edge_transform", dest="edge_transform",
                   choices=EDGE_TRANSFORMS, default=DEFAULT_EDGE_TRANSFORM,
                   help="edge weight: log observed/expected by distance, or log1p(balanced value) "
                        "[%(default)s]")
    g.add_argument("--allow-constant-features", action="store_true",
                   help="keep a feature that is constant over the usable bins (warn instead of failing)")
    g.add_argument("--trans", action="store_true",
                   help="also add inter-chromosomal edges (with several chromosomes)")
    p.add_argument("--out", required=True, metavar="PT", help="output graph (.pt)")
    return p


def _run(args: argparse.Namespace) -> None:
    if "none" in args.structural:
        if len(args.structural) > 1:
            raise DataError("--structural none cannot be combined with other structural features; "
                            "give either none or a list such as E1 E2 E3")
        args.structural = []
    if not 0 <= args.compartment_target <= 20:
        raise DataError(f"--compartment-target must be 0..20, got {args.compartment_target}")
    if not args.bigwigs and not args.structural:
        raise DataError("no node features: pass --bigwigs (marks, or GC/TSS density tracks) "
                        "and/or --structural coverage E1 E2 E3")
    if args.feature_names and len(args.feature_names) != len(args.bigwigs):
        raise DataError(f"{len(args.feature_names)} --feature-names for {len(args.bigwigs)} --bigwigs; "
                        "give one name per bigWig")
    names = list(args.feature_names or feature_names_from_paths(args.bigwigs))
    if len(set(names) | set(args.structural)) != len(names) + len(args.structural):
        raise DataError(f"feature names repeat ({', '.join([*names, *args.structural])}); "
                        "give distinct --feature-names")
    hicio.check_bigwigs(args.bigwigs)
    clr, chroms, weight_name = hicio.open_hic(args)
    out = Path(args.out)
    common.ensure_writable_dir(out.parent)
    all_mode = hicio.wants_all(args.chrom)
    # each chromosome is read once: its structural features (E1-E3, coverage) are filled in as
    # build_graph takes its edges, and the feature matrix is complete before it is used
    tracks, names, target, region, chrom_blocks = features.node_inputs_and_blocks(
        clr, chroms, bigwigs=args.bigwigs, names=names, structural=args.structural, weight_name=weight_name,
        all_mode=all_mode, target_eigs=args.compartment_target)
    blocks = tqdm(chrom_blocks, total=len(chroms), desc="contacts", unit="chrom",
                  disable=common.progress_disabled() or len(chroms) < 2)
    if args.min_contacts and args.edge_rule != "count":
        log.info("--min-contacts %g is ignored with --edge-rule %s (edges come from observed/expected, "
                 "not raw counts); pass --edge-rule count for the raw-count threshold",
                 args.min_contacts, args.edge_rule)
    rule = dict(edge_rule=args.edge_rule, edge_quantile=args.edge_quantile, min_oe=args.min_oe)
    trans = (functools.partial(trans_edges, clr, chroms, weight_name=weight_name,
                               min_contacts=args.min_contacts, transform=args.edge_transform,
                               rule=args.edge_rule, quantile=args.edge_quantile, min_oe=args.min_oe)
             if args.trans else None)
    graph = build_graph(blocks, tracks, names, max_dist=args.max_dist, min_contacts=args.min_contacts,
                        edge_transform=args.edge_transform, trans=trans,
                        allow_constant=args.allow_constant_features, feature_norm=args.feature_norm, **rule)
    if args.compartment_target:
        import torch

        graph["compartment_target"] = torch.as_tensor(target, dtype=torch.float32)
        graph["compartment_region"] = torch.as_tensor(region, dtype=torch.long)
    graph["provenance"] = common.provenance(args, inputs=[args.mcool, *args.bigwigs],
                                            cooler=hicio.cooler_uri(clr), chroms=chroms)
    common.save_pt(out, graph)
    n, m = graph["mask"].numel(), int((~graph["mask"]).sum())
    log.info("graph %s: %d nodes (%d masked), %d undirected edges (rule %s), features %s, edge weight %s",
             out, n, m, graph["edge_index"].shape[1] // 2, args.edge_rule, ", ".join(names),
             args.edge_transform)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
