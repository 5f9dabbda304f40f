"""Insulation score and TAD boundaries from a balanced cooler (the cooltools recipe).

    python scripts/compute_insulation.py --mcool data/raw/GM12878.mcool --res 25000 --chrom chr21 \\
        --out results/GM12878/insulation_chr21.bedGraph \\
        [--emb results/GM12878/emb.npy --graph data/processed/GM12878_chr21.pt --truth data/raw/truth.tsv]

Writes ``<out>`` (bedGraph of log2 insulation), ``<stem>.bw``, ``<stem>_boundaries.bed``
(name, score = boundary strength) and ``<stem>.json``. With ``--emb`` the JSON adds the
Spearman correlation of insulation with the latent gradient ``||z_i - z_{i+1}||`` beside
the feature gradient ``||x_i - x_{i+1}||`` (the standardised log marks of ``--graph``, not
its E1-E3 columns); with ``--truth`` (``tad_id``) the recovery of planted TAD borders
(± 1 bin) by insulation boundaries and by the same number of top latent- and
feature-gradient peaks. ``--downsample F`` thins the contacts
binomially to a fraction F first (``thin.thin_block``, re-balanced).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

import common  # first: one line naming the fix when the environment is missing

import numpy as np
import pandas as pd

import hicio
import insulation as ins
import tracks
import visualize_embeddings as ve

log = logging.getLogger("chromatin_gnn.compute_insulation")


def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(description=__doc__.split("\n\n")[0])
    hicio.add_cooler_args(p)
    p.add_argument("--window", type=hicio.positive_int, default=None, metavar="BP",
                   help=f"square size in bp (default {ins.DEFAULT_WINDOW_BINS} bins)")
    p.add_argument("--ignore-diags", type=hicio.nonneg_int, default=2)
    p.add_argument("--threshold", default="otsu",
                   help="boundary strength threshold: 'otsu' or a number (prominence in log2 units)")
    p.add_argument("--downsample", type=common.arg_type(float, lambda v: 0 < v <= 1, "a fraction in (0, 1]"),
                   default=None, metavar="FRACTION", help="thin contacts binomially to this fraction first")
    p.add_argument("--seed", type=int, default=0, help="seed of --downsample")
    e = p.add_argument_group("evaluation (optional)")
    e.add_argument("--emb", help="embedding .npy of the same bins (latent gradient)")
    e.add_argument("--graph", help="graph .pt of the same bins (feature gradient, mask)")
    e.add_argument("--truth", help="truth.tsv with tad_id (planted TAD borders)")
    p.add_argument("--out", required=True, help="output bedGraph")
    return p


def output_paths(out: str | Path) -> dict[str, Path]:
    o = Path(out)
    stem = o.with_suffix("")
    return {"bedgraph": o, "bw": stem.with_suffix(".bw"),
            "bed": stem.parent / f"{stem.name}_boundaries.bed", "json": stem.with_suffix(".json")}


def chromosome_insulation(block: hicio.CisBlock, *, window: int, ignore_diags: int,
                          threshold: float | str) -> tuple[pd.DataFrame, dict]:
    """Per-bin table ``chrom,start,end,insulation,boundary_strength,is_boundary`` of one chromosome."""
    score = ins.insulation_score(block, window=window, ignore_diags=ignore_diags)
    strength, is_b, thr = ins.find_boundaries(score, threshold=threshold)
    table = block.bins().assign(insulation=score, boundary_strength=strength, is_boundary=is_b)
    return table, {"chrom": block.chrom, "threshold": thr, "n_boundaries": int(is_b.sum()),
                   "n_scored": int(np.isfinite(score).sum())}


def evaluate(table: pd.DataFrame, *, emb: np.ndarray | None, x: np.ndarray | None, usable: np.ndarray,
             tad_id: np.ndarray | None) -> dict:
    """Correlations with gradients and boundary recovery (see the module docstring)."""
    chrom_id = pd.factorize(table["chrom"].astype(str))[0]
    score = table["insulation"].to_numpy(float)
    out: dict = {}
    grads = {}
    if emb is not None:
        grads["latent"] = ins.gradient(emb, usable, chrom_id)
    if x is not None:
        from subcompartments import standardise

        grads["feature"] = ins.gradient(standardise(x, usable), usable, chrom_id)
    out["spearman_insulation_vs_gradient"] = {k: ins.spearman(score, g) for k, g in grads.items()}
    if tad_id is not None:
        planted = ins.planted_borders(tad_id, chrom_id)
        called = np.flatnonzero(table["is_boundary"].to_numpy())
        rec = {"insulation": ins.boundary_recovery(called, planted)}
        for k, g in grads.items():
            rec[f"top {k}-gradient peaks"] = ins.boundary_recovery(ins.top_peaks(g, called.size), planted)
        out["boundary_recovery"] = {"tolerance_bins": 1, **rec}
    return out


def _run(args: argparse.Namespace) -> None:
    rng = common.seed_everything(args.seed)
    clr, chroms, weight_name = hicio.open_hic(args)
    res = int(clr.binsize)
    window = max(2, round(args.window / res)) if args.window else ins.DEFAULT_WINDOW_BINS
    threshold = args.threshold
    if threshold != "otsu":
        try:
            threshold = float(threshold)
        except ValueError:
            raise common.DataError(f"--threshold must be 'otsu' or a number, got {threshold!r}") from None
    tables, infos = [], []
    for chrom in chroms:
        block = hicio.read_cis(clr, chrom, weight_name=weight_name)
        if args.downsample is not None and args.downsample < 1:
            import thin

            block = thin.thin_block(block, fraction=args.downsample, rng=rng)
        t, info = chromosome_insulation(block, window=window, ignore_diags=args.ignore_diags, threshold=threshold)
        tables.append(t)
        infos.append(info)
        log.info("%s: %d boundaries (threshold %.3g)", chrom, info["n_boundaries"], info["threshold"])
    table = pd.concat(tables, ignore_index=True)
    summary: dict = {"window_bins": window, "window_bp": window * res, "ignore_diags": args.ignore_diags,
                     "downsample": args.downsample, "chromosomes": infos,
                     "normalisation": "log2(mean in square / chromosome median)"}
    if args.emb or args.graph or args.truth:
        emb = x = tad = None
        usable = np.isfinite(table["insulation"].to_numpy())
        if args.emb:
            emb, ebins = ve.read_embedding(args.emb)
            common.check_rows(len(emb), len(table), args.emb, f"the bins of {args.mcool}")
            if ebins is not None:
                ve.check_same_bins(ebins, table, args.emb, args.mcool)
        if args.graph:
            g = common.load_graph(args.graph)
            common.check_rows(g["x"].shape[0], len(table), args.graph, f"the bins of {args.mcool}")
            ve.check_same_bins(common.bins_frame(g), table, args.graph, args.mcool)
            from subcompartments import graph_marks

            x, _ = graph_marks(g)  # log marks; build_graph's E1-E3 columns are not marks
            usable = g["mask"].numpy().astype(bool)
        if args.truth:
            truth = pd.read_csv(common.require_file(args.truth, "truth table"), sep="\t", dtype={"chrom": str})
            if "tad_id" not in truth.columns:
                raise common.DataError(f"{args.truth} has no tad_id column; pass the simulator's truth.tsv")
            t = truth[["chrom", "start", "end"]].assign(compartment_T=truth["tad_id"].astype(str))
            tad = pd.to_numeric(ve.truth_labels(t, table, "T"), errors="coerce")
            tad = np.where(np.isfinite(tad), tad, -1).astype(np.int64)
        summary["evaluation"] = evaluate(table, emb=emb, x=x, usable=usable, tad_id=tad)
    paths = output_paths(args.out)
    prov = common.provenance(args, inputs=[p for p in (args.mcool, args.emb, args.graph, args.truth) if p],
                             seed=args.seed)
    bg = table[["chrom", "start", "end", "insulation"]].dropna()
    common.write_table(paths["bedgraph"], bg.round({"insulation": 5}), header=False)
    common.write_provenance(paths["bedgraph"], prov)
    tracks.write_bin_bigwig(paths["bw"], table, table["insulation"].to_numpy(),
                            chromsizes=dict(clr.chromsizes))
    common.write_provenance(paths["bw"], prov)
    common.write_table(paths["bed"], ins.boundary_table(table, table["boundary_strength"].to_numpy(),
                                                        table["is_boundary"].to_numpy()), header=False)
    common.write_provenance(paths["bed"], prov)
    common.write_json(paths["json"], {**summary, "provenance": prov})
    log.info("wrote %s (+ .bw, _boundaries.bed, .json)", paths["bedgraph"])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
