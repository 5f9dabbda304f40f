#!/usr/bin/env python
"""UMAP layout: time and stability against the number of layout epochs.

``visualize_embeddings.umap_embed`` runs ``UMAP_EPOCHS`` layout epochs on an exact
cosine k-NN graph it computes itself (scikit-learn, vectorised). Here, on the default
run's embeddings (each cell line and the joint map), every epoch count is compared
with umap's own default of 500 epochs (below 10,000 points):

* trustworthiness (scikit-learn, 15 neighbours, cosine in the embedding): how many
  of each point's 2-D neighbours are true neighbours in the embedding;
* 2-D k-NN overlap with the 500-epoch layout of the same seed (mean share of each
  point's 15 neighbours in the map that both layouts give);
* the baseline for that overlap: the 500-epoch layouts of two seeds (0 and 1), i.e.
  how much a layout moves for reasons that do not matter;
* the A/B silhouette of the 2-D map (euclidean, the compartment calls, N left out).

It also times umap's own path on the same data (its exact search below 4,096 points
calls the cosine once per pair from Python) against ours, both after a warm-up fit, so
numba's compile is not counted in either.

    python benchmarks/bench_umap.py [--run DIR]   # DIR: a finished run_pipeline.sh folder
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from benchlib import Config, Section, log, md_table, ms, num, ratio
from bench_stages import default_run

import visualize_embeddings as ve  # noqa: E402

EPOCHS = (50, 100, 200, 500)
K = 15


def knn_overlap(a: np.ndarray, b: np.ndarray, *, k: int = K) -> float:
    """Mean share of each point's ``k`` nearest 2-D neighbours that two layouts agree on."""
    from sklearn.neighbors import NearestNeighbors

    nbrs = [NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z, return_distance=False)[:, 1:]
            for z in (a, b)]
    same = (nbrs[0][:, :, None] == nbrs[1][:, None, :]).any(axis=2)
    return float(same.mean())


def datasets(run: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Embedding and compartment calls of each cell line of a finished run, and the joint map."""
    out = {}
    for cell in ("GM12878", "IMR90"):
        emb, _ = ve.read_embedding(run / "results" / cell / "emb.npy")
        comp = ve.read_compartments(next((run / "results" / cell).glob("compartments_*.csv")))
        out[cell] = (emb, comp["compartment"].to_numpy(str))
    out["joint"] = tuple(np.concatenate(v) for v in zip(*out.values()))
    return out


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def umap_own_path(x: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """umap's default path: its own k-NN search and 500 epochs (what umap_embed did before)."""
    umap = ve.import_umap()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return umap.UMAP(n_neighbors=K, min_dist=0.1, metric="cosine", random_state=seed,
                         n_components=2, init="pca").fit_transform(np.asarray(x, np.float32))


def measure(run: Path) -> dict:
    from sklearn.manifold import trustworthiness

    data = datasets(run)
    warm = data["GM12878"][0][:200]
    ve.umap_embed(warm, n_epochs=10)  # compile (or load from numba's cache) before timing
    umap_own_path(warm)
    res = {}
    for name, (x, calls) in data.items():
        log.info("umap bench: %s (%d points)", name, len(x))
        ref, _ = timed(lambda: ve.umap_embed(x, n_epochs=500, seed=0))
        other = ve.umap_embed(x, n_epochs=500, seed=1)
        _, t_own = timed(lambda: umap_own_path(x))
        rows = []
        for ep in EPOCHS:
            xy, t = timed(lambda: ve.umap_embed(x, n_epochs=ep, seed=0))
            rows.append({"epochs": ep, "time_s": t,
                         "trust": float(trustworthiness(x, xy, n_neighbors=K, metric="cosine")),
                         "overlap_500": knn_overlap(xy, ref),
                         "silhouette_2d": ve.ab_silhouette(xy, calls, metric="euclidean")})
        res[name] = {"n": len(x), "rows": rows, "seed_overlap_500": knn_overlap(ref, other),
                     "umap_own_s": t_own,
                     "trust_seed1": float(trustworthiness(x, other, n_neighbors=K, metric="cosine"))}
    return res


def at(r: dict, epochs: int) -> dict:
    """The row of one map measured at ``epochs``."""
    return next(x for x in r["rows"] if x["epochs"] == epochs)


def tables(res: dict) -> str:
    """The stability table (every epoch count, the seed baseline) and the speed table."""
    rows = []
    for name, r in res.items():
        for row in r["rows"]:
            rows.append([name, f"{r['n']:,}", row["epochs"], ms(row["time_s"]), num(row["trust"]),
                         num(row["overlap_500"]), num(row["silhouette_2d"])])
        rows.append([name, f"{r['n']:,}", "500, seed 1 (baseline)", "", num(r["trust_seed1"]),
                     num(r["seed_overlap_500"]), ""])
    stability = md_table(["Map", "Points", "Epochs", "Fit", "Trustworthiness",
                          "2-D 15-NN overlap with 500 epochs", "A/B silhouette (2-D)"], rows)
    ours = {name: at(r, ve.UMAP_EPOCHS)["time_s"] for name, r in res.items()}
    speed = md_table(["Map", "umap's own path (its k-NN, 500 epochs)", f"ours ({ve.UMAP_EPOCHS} epochs)",
                      "Ratio"],
                     [[name, ms(r["umap_own_s"]), ms(ours[name]), ratio(r["umap_own_s"] / ours[name])]
                      for name, r in res.items()])
    return stability + "\n\n" + speed


def section(cfg: Config) -> Section:
    sec = Section("umap", "8. UMAP layout: epochs, stability and time")
    res = measure(default_run(cfg))
    body = tables(res)
    sec.add("On the default run's embeddings, each fit after a warm-up (numba's compile not counted). "
            "Trustworthiness: scikit-learn, 15 neighbours, cosine in the embedding. Overlap: mean share "
            "of each point's 15 nearest 2-D neighbours shared with the 500-epoch layout of the same seed; "
            "the baseline row is the 500-epoch layout of another seed (how far a layout moves for no "
            "reason that matters).", body)
    worst = min(at(r, ve.UMAP_EPOCHS)["trust"] - at(r, 500)["trust"] for r in res.values())
    sec.headline.append([f"UMAP at {ve.UMAP_EPOCHS} epochs vs 500: trustworthiness change (worst map)",
                         f"{worst:+.4f}", "umap's default is 500 epochs below 10,000 points"])
    sec.data = res
    return sec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, help="a finished run_pipeline.sh folder (raw/ results/); "
                   "default: the suite's default run, made when absent")
    args = p.parse_args(argv)
    run = args.run or default_run(Config(work=Path(__file__).parent / "_work"))
    print(tables(measure(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
