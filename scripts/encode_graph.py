"""Encode a graph with a trained VGAE (e.g. a second cell line, zero-shot).

    python scripts/encode_graph.py --model results/GM12878/model.pt \\
        --graph data/processed/IMR90_chr21.pt --out results/IMR90/emb.npy

``--bn frozen`` (default, the seed's behaviour) normalises the new graph's
features with the training graph's BatchNorm statistics. ``--bn refit``
re-estimates only those statistics on the new graph's usable bins -- every GCN
weight and the BatchNorm affine parameters stay as trained -- so the new cell
line is seen in its own normalisation frame (the seed's limitation 4).

``--batch window`` (or ``auto`` on a graph above ``batching.AUTO_WINDOW_EDGES`` edges)
encodes in genomic windows with an exact halo: the same embedding up to float round-off,
in a fraction of the memory.

Writes ``--out`` (``.npy``, mu of every bin), the ``.tsv`` beside it, and provenance.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import common  # first: one line naming the fix when the environment is missing

import numpy as np
import torch
from torch_geometric.data import Data

import batching
import model as vgae

log = logging.getLogger("chromatin_gnn.encode")

BN_MODES = ("frozen", "refit")


def load_model(path: str) -> tuple[vgae.VGAE, dict[str, Any]]:
    """Load ``model.pt`` safely and rebuild the network; return ``(model, checkpoint)``."""
    ckpt = common.load_pt(path, expect=common.MODEL_FORMAT, what="model")
    missing = [k for k in ("state_dict", "hparams", "feature_names") if k not in ckpt]
    if missing:
        raise common.DataError(f"{path} lacks {', '.join(missing)}; re-train it with train_vgae.py")
    model = vgae.build_model(ckpt["hparams"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError) as exc:
        why = " ".join(str(exc).split())[:160]
        raise common.DataError(f"{path}: weights do not fit its hyper-parameters ({why}); "
                               "re-train it with train_vgae.py") from None
    return model.eval(), ckpt


def check_features(model_names: list[str], graph_names: list[str], *, model_path: str,
                   graph_path: str) -> None:
    """Raise :class:`common.DataError` unless the graph has the model's features, in order."""
    if list(model_names) != list(graph_names):
        what = "count" if len(model_names) != len(graph_names) else "names"
        raise common.DataError(
            f"feature {what} differ: model {model_path} was trained on {len(model_names)} features "
            f"{list(model_names)} but graph {graph_path} has {len(graph_names)} {list(graph_names)}; "
            "rebuild the graph with the same bigWig marks in the same order, or train a model on it")


@torch.no_grad()
def refit_batchnorm(model: vgae.VGAE, data: Data) -> None:
    """Re-estimate only the input BatchNorm's running statistics on ``data``'s usable bins.

    The running statistics are reset and one full-batch pass of the usable bins'
    features goes through the BatchNorm layer alone, in train mode; with the
    encoder's ``momentum=None`` (cumulative average) that sets them to those bins'
    mean and (unbiased) variance -- the same computation training makes on its own
    graph. Nothing else runs, so no GCN weight, no BatchNorm affine parameter and no
    dropout is involved. The model is left in eval mode.
    """
    bn = model.encoder.bn
    xm = data.x[data.mask]
    if xm.size(0) < 2:
        raise common.DataError(f"--bn refit needs at least 2 usable bins, the graph has {xm.size(0)}; "
                               "use --bn frozen")
    bn.reset_running_stats()
    bn.momentum = None  # cumulative average: one pass gives the exact statistics
    bn.train()
    bn(xm)
    model.eval()


def encode_graph(model: vgae.VGAE, data: Data, *, bn: str = "frozen", batch: str = "auto",
                 window_edges: int = batching.DEFAULT_WINDOW_EDGES) -> np.ndarray:
    """mu of every bin of ``data`` (from :func:`model.prepare_graph`), float32 ``[N, latent]``.

    ``bn="refit"`` first calls :func:`refit_batchnorm` (this changes ``model``'s
    running statistics in place). ``batch`` (``auto``/``full``/``window``, see
    :func:`batching.adjacency`): whole graph or genomic windows, the same numbers.
    """
    if bn not in BN_MODES:
        raise common.DataError(f"unknown --bn {bn!r}; choose one of {', '.join(BN_MODES)}")
    if bn == "refit":
        refit_batchnorm(model, data)
    adj = batching.adjacency(model, data.edge_index, data.edge_weight, data.num_nodes, batch=batch,
                             window_edges=window_edges)
    return vgae.embed(model, data, adj)


def _log_shift(ckpt: dict[str, Any], data: Data) -> None:
    """Say how far the new graph's features sit from the training graph's (a hint for --bn)."""
    mean, var = (ckpt["state_dict"].get(f"encoder.bn.running_{k}") for k in ("mean", "var"))
    if mean is None or var is None or not data.mask.any():
        return
    shift = ((data.x[data.mask].mean(0) - mean) / var.clamp(min=1e-12).sqrt()).tolist()
    for name, s in zip(ckpt["feature_names"], shift):
        log.info("feature %s: mean of usable bins is %+.2f training SDs from the training mean", name, s)


def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model.pt from train_vgae.py")
    p.add_argument("--graph", required=True, help="graph .pt from build_graph.py")
    p.add_argument("--out", required=True, help="embedding .npy (a .tsv is written beside it)")
    p.add_argument("--bn", choices=BN_MODES, default="frozen",
                   help="frozen: training BatchNorm statistics (zero-shot); refit: re-estimate them "
                        "on this graph's usable bins, all weights frozen")
    batching.add_batch_args(p)
    vgae.add_device_args(p)
    return p


def _run(args: argparse.Namespace) -> None:
    if not str(args.out).endswith(".npy"):
        raise common.DataError(f"--out must end in .npy, got {args.out}")
    device = vgae.resolve_device(args.device)
    model, ckpt = load_model(args.model)
    g = common.load_graph(args.graph)
    check_features(ckpt["feature_names"], g["feature_names"], model_path=args.model, graph_path=args.graph)
    data = vgae.prepare_graph(g, use_edge_weight=model.hparams["use_edge_weight"], source=str(args.graph))
    trained_res = ckpt.get("graph", {}).get("resolution")
    if trained_res is not None and trained_res != int(g["resolution"]):
        log.warning("model was trained at %s bp, the graph is at %s bp", trained_res, g["resolution"])
    if data.edge_index.size(1) == 0:
        log.warning("%s has no edges between usable bins: embeddings come from features alone", args.graph)
    common.ensure_writable_dir(Path(args.out).parent)

    _log_shift(ckpt, data)
    with vgae.cpu_threads(args.threads):
        emb = encode_graph(model.to(device), data.to(device), bn=args.bn, batch=args.batch,
                           window_edges=args.window_edges)
    prov = common.provenance(args, inputs=[args.model, args.graph], bn=args.bn, device=str(device))
    vgae.save_embedding(args.out, emb, g, prov)
    log.info("wrote %s (%d bins x %d dims, --bn %s) and its .tsv", args.out, *emb.shape, args.bn)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
