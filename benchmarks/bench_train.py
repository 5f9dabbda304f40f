"""VGAE training: time to convergence, link prediction beside the distance-only baseline.

    python benchmarks/bench_train.py --data /tmp/sim            # simulate_data.py output
    python benchmarks/bench_train.py --data /tmp/sim --min-contacts 0 20 --threads 1

For each graph (built from ``--data`` with build_graph's defaults, and optionally with
``--min-contacts`` thresholds) and each decoder, trains once with the seed's settings
(300 epochs, patience 20, hidden 64, latent 32) and prints one table row: seconds
(training + evaluation, after imports), epochs run / best epoch, test AUC on random
negatives beside the distance-only AUC on the same pairs, the distance-matched AUC
(model; distance-only is 0.5 by construction), the cosine silhouette of the planted
A/B compartments (``truth.tsv``) in the embedding, and the same for IMR90 encoded
zero-shot with ``--bn frozen`` and ``--bn refit``.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import build_graph  # noqa: E402
import encode_graph  # noqa: E402
import common  # noqa: E402
import model as vgae  # noqa: E402
import train_vgae  # noqa: E402
from visualize_embeddings import ab_silhouette  # noqa: E402


def graph_file(data: Path, out: Path, *, cell: str = "GM12878", min_contacts: float = 0.0) -> Path:
    """Build (once) the chr21 @ 25 kb graph of ``cell`` with the seed's command (+ ``--min-contacts``)."""
    path = out / f"{cell}_chr21_mc{min_contacts:g}.pt"
    if not path.exists():
        rc = build_graph.main(["--mcool", str(data / f"{cell}.mcool"), "--chrom", "chr21", "--res", "25000",
                               "--bigwigs", str(data / f"{cell}_CTCF.bw"), str(data / f"{cell}_H3K27me3.bw"),
                               "--min-contacts", str(min_contacts), "--out", str(path), "-q"])
        if rc != 0:
            raise RuntimeError(f"build_graph failed for {path}")
    return path


def train_once(graph: Path, **kwargs: Any) -> dict[str, Any]:
    """Train once on ``graph`` in this process: metrics.json's numbers plus seconds and silhouette.

    Keyword arguments as :func:`fit`.
    """
    return fit(graph, **kwargs)[0]


def fit(graph: Path, *, decoder: str, seed: int = 0, epochs: int = 300, patience: int = 20,
        truth: np.ndarray | None = None, **kwargs: Any) -> tuple[dict[str, Any], vgae.VGAE]:
    """:func:`train_once`'s numbers and the trained model.

    ``truth`` (A/B/N per bin) adds ``silhouette_AB``; other keywords go to
    :func:`train_vgae.train_vgae`.
    """
    g = common.load_graph(graph)
    data = vgae.prepare_graph(g)
    rng = common.seed_everything(seed)
    t0 = time.perf_counter()
    res = train_vgae.train_vgae(data, decoder=decoder, epochs=epochs, patience=patience, rng=rng, **kwargs)
    emb = vgae.embed(res.model, data)
    out = dict(res.metrics, seconds=time.perf_counter() - t0, links=data.edge_index.size(1) // 2)
    if truth is not None:
        out["silhouette_AB"] = ab_silhouette(emb, truth)
    return out, res.model


def zero_shot_silhouettes(model: vgae.VGAE, graph: Path, truth: np.ndarray) -> dict[str, float]:
    """A/B silhouette of a second cell line encoded with ``--bn frozen`` and ``--bn refit``."""
    data = vgae.prepare_graph(common.load_graph(graph))
    return {f"sil {bn}": ab_silhouette(
                encode_graph.encode_graph(copy.deepcopy(model), data, bn=bn), truth)
            for bn in encode_graph.BN_MODES}


def table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The printed table: one row per (graph, decoder)."""
    df = pd.DataFrame(rows)
    cols = {"graph": "graph", "links": "links", "decoder": "decoder", "seconds": "s",
            "epochs_run": "epochs", "best_epoch": "best", "val_auc": "val AUC", "test_auc": "test AUC",
            "distance_test_auc": "dist AUC", "test_ap": "test AP", "distance_test_ap": "dist AP",
            "matched_test_auc": "matched AUC", "matched_distance_auc": "matched dist",
            "silhouette_AB": "sil A/B", "sil frozen": "2nd cell frozen", "sil refit": "2nd cell refit"}
    return df[[c for c in cols if c in df]].rename(columns=cols)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="simulate_data.py output folder")
    p.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / "_work" / "train",
                   help="where built graphs are kept between runs")
    p.add_argument("--min-contacts", type=float, nargs="+", default=[0.0],
                   help="build_graph --min-contacts values to compare (0 = build_graph's default)")
    p.add_argument("--decoders", nargs="+", default=list(vgae.DECODERS), choices=vgae.DECODERS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default); "
                   "train_vgae.py's default is 1")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads or torch.get_num_threads())
    common.setup_logging(quiet=True)
    args.work.mkdir(parents=True, exist_ok=True)
    truth = pd.read_csv(args.data / "truth.tsv", sep="\t")
    rows = []
    for mc in args.min_contacts:
        graph = graph_file(args.data, args.work, min_contacts=mc)
        second = graph_file(args.data, args.work, cell="IMR90", min_contacts=mc)
        for decoder in args.decoders:
            metrics, model = fit(graph, decoder=decoder, seed=args.seed,
                                 truth=truth["compartment_GM12878"].to_numpy())
            rows.append(dict(metrics, graph=f"min-contacts {mc:g}",
                             **zero_shot_silhouettes(model, second, truth["compartment_IMR90"].to_numpy())))
            print(table(rows[-1:]).to_string(index=False, float_format="%.4f"), flush=True)
    print(f"\ntorch threads: {torch.get_num_threads()}; chr21 @ 25 kb, seed {args.seed}")
    print(table(rows).to_string(index=False, float_format="%.4f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
