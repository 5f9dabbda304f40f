#!/usr/bin/env python
"""Full batch against genomic windows (``train_vgae.py --batch full|window``) on graphs where both fit.

    python benchmarks/bench_minibatch.py                       # the default chr21 graph
    python benchmarks/bench_minibatch.py --graph data/processed/GM12878_chr21.pt big.pt \\
        --truth data/raw/truth.tsv big_raw/truth.tsv --epochs 300 30

For each graph and mode, ``train_vgae.py`` runs as a child process under
``benchmarks/rusage.py`` (peak RSS of the whole run: imports, training, test metrics,
embedding), same seed and flags, ``--patience`` = ``--epochs`` so both modes run the
same number of epochs. Reported beside their strongest simple baselines:

* test AUC against random non-links (distance-only predictor beside it) and against
  distance-matched non-links (best of common neighbours, Adamic-Adar, degree product);
* the blocked linear A/B probe of ``emb.npy`` against the simulator's truth
  (``baselines.blocked_probe``) beside the same probe on the graph's E1 column and on
  all its node features;
* s/epoch: ``train_seconds`` from metrics.json less that of a one-epoch run of the same
  command (set-up: split, negatives, targets, windows), per further epoch; and peak RSS;
* the embedding difference in eval mode: the window run's model encoded in one batch
  and in windows (max |Δ|), which must be float round-off.

``--window-edges`` defaults to train_vgae's (1 M directed edges per window core), or a
quarter of the graph's edges when that is smaller, so that even the default graph is
cut into several windows. Writes the table to ``--out`` (benchmarks/MINIBATCH.md) with
the command, the commit and the load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchlib import BENCH, ROOT, log, md_table, mb, run_measured, script  # first: puts scripts/ on sys.path

import baselines  # noqa: E402
import batching  # noqa: E402
import common  # noqa: E402
import encode_graph  # noqa: E402
import model as vgae  # noqa: E402
import visualize_embeddings as viz  # noqa: E402

DEFAULT_GRAPH = ROOT / "data/processed/GM12878_chr21.pt"
DEFAULT_TRUTH = ROOT / "data/raw/truth.tsv"
MODES = ("full", "window")


def load_avg() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def window_edges_for(n_edges: int, given: int | None) -> int:
    """``given``, else train_vgae's default or a quarter of the graph's edges, whichever is smaller."""
    if given:
        return given
    return max(1000, min(batching.DEFAULT_WINDOW_EDGES, n_edges // 4))


def tile_graph(g: dict, k: int) -> dict:
    """``k`` copies of a graph side by side as separate chromosomes (``<chrom>_<copy>``): a larger cis
    graph with the same structure, without simulating more."""
    import torch

    n = int(g["x"].shape[0])
    out = dict(g)
    cat = lambda key: torch.cat([g[key]] * k)  # noqa: E731
    n_chroms, n_regions = len(g["chroms"]), int(g["compartment_region"].max()) + 1
    out.update(x=cat("x"), edge_weight=cat("edge_weight"), mask=cat("mask"), start=cat("start"), end=cat("end"),
               edge_index=torch.cat([g["edge_index"] + c * n for c in range(k)], 1),
               chroms=[f"{name}_{c}" for c in range(k) for name in g["chroms"]],
               chrom_id=torch.cat([g["chrom_id"] + c * n_chroms for c in range(k)]),
               compartment_target=cat("compartment_target"),
               compartment_region=torch.cat([torch.where(g["compartment_region"] >= 0,
                                                         g["compartment_region"] + c * n_regions, -1)
                                             for c in range(k)]))
    return out


def train_run(graph: Path, mode: str, *, epochs: int, window_edges: int, outdir: Path, threads: int) -> dict:
    """``train_vgae.py`` under rusage.py (:func:`benchlib.run_measured`); its rusage record with metrics.json."""
    cmd = script("train_vgae", "--graph", graph, "--epochs", epochs, "--patience", epochs, "--seed", 0,
                 "--device", "cpu", "--threads", threads, "--batch", mode, "--window-edges", window_edges,
                 "--outdir", outdir, "-q")
    log.info("%s: %s", mode, " ".join(cmd[2:]))
    rec = run_measured(cmd, log_file=outdir.parent / f"{outdir.name}.log")
    rec["metrics"] = json.loads((outdir / "metrics.json").read_text())
    return rec


def probe(emb: np.ndarray, labels: np.ndarray | None) -> float:
    return float("nan") if labels is None else baselines.blocked_probe(x=emb, labels=labels)


def bench_graph(graph: Path, truth: Path | None, *, epochs: int, window_edges: int | None, work: Path,
                threads: int, tile: int = 1, modes: tuple[str, ...] = MODES) -> dict:
    g = common.load_graph(graph)
    source = graph
    if tile > 1:
        g = tile_graph(g, tile)
        graph = common.save_pt(work / f"{graph.stem}_x{tile}.pt", g)
    data = vgae.prepare_graph(g, source=str(graph))
    n_edges = int(data.edge_index.size(1))
    we = window_edges_for(n_edges, window_edges)
    labels = None
    if truth is not None:
        labels = viz.truth_labels(viz.read_truth(truth, ["GM12878"]), common.bins_frame(common.load_graph(source)),
                                  "GM12878")
        labels = np.tile(labels, tile)
    names = list(g["feature_names"])
    x = g["x"].numpy()
    out = dict(graph=str(graph), source=str(source), tile=tile, bins=int(data.num_nodes), usable=int(data.mask.sum()), edges=n_edges,
               window_edges=we, epochs=epochs,
               probe_e1=probe(x[:, names.index("E1")], labels) if "E1" in names else float("nan"),
               probe_features=probe(x, labels), runs={})
    for mode in modes:
        outdir = work / f"{graph.stem}_{mode}"
        rec = train_run(graph, mode, epochs=epochs, window_edges=we, outdir=outdir, threads=threads)
        m = rec["metrics"]
        # the same run for one epoch: what set-up costs, so that the per-epoch cost is the difference
        one = train_run(graph, mode, epochs=1, window_edges=we, outdir=work / f"{graph.stem}_{mode}_1epoch",
                        threads=threads)["metrics"] if epochs > 1 else None
        emb = np.load(outdir / "emb.npy")
        run = dict(peak_rss_mb=rec["peak_rss_mb"], wall_s=rec["wall_s"],
                   s_per_epoch=m["train_seconds"] / m["epochs_run"], epochs_run=m["epochs_run"],
                   marginal_s_per_epoch=(float("nan") if one is None else
                                         (m["train_seconds"] - one["train_seconds"]) / (m["epochs_run"] - 1)),
                   setup_s=float("nan") if one is None else one["train_seconds"],
                   best_epoch=m["best_epoch"], test_auc=m["test_auc"], distance_test_auc=m["distance_test_auc"],
                   matched_test_auc=m["matched_test_auc"],
                   matched_best_baseline=max((v for v in (m.get("matched_baselines_auc") or {}).values()
                                              if v is not None), default=float("nan")),
                   probe=probe(emb, labels), windows=(m.get("batch") or {}).get("windows", [1])[0],
                   steps_per_epoch=(m.get("batch") or {}).get("steps_per_epoch", 1))
        if mode == "window":
            model, _ = encode_graph.load_model(str(outdir / "model.pt"))
            with vgae.cpu_threads(threads):
                full = encode_graph.encode_graph(model, data, batch="full")
                win = encode_graph.encode_graph(model, data, batch="window", window_edges=we)
            run["max_abs_diff_encode"] = float(np.abs(full - win).max())
            run["max_abs_diff_written"] = float(np.abs(full - emb).max())
            run["emb_scale"] = float(np.abs(full).max())
        out["runs"][mode] = run
        log.info("%s %s: test AUC %.3f, matched %.3f, probe %.3f, %.2f s/epoch (one-epoch run: %.1f s), peak %s",
                 graph.name, mode, run["test_auc"], run["matched_test_auc"] or np.nan, run["probe"],
                 run["marginal_s_per_epoch"], run["setup_s"], mb(run["peak_rss_mb"]))
    return out


def f3(v) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def report(results: list[dict], *, command: str, load_before: str, load_after: str, started: str,
           minutes: float, notes: list[str] = ()) -> str:
    rows = []
    for r in results:
        name = Path(r["source"]).name + (f" x {r['tile']} copies" if r["tile"] > 1 else "")
        for mode, run in r["runs"].items():
            rows.append([
                f"{name} ({r['bins']:,} bins, {r['edges']:,} edges)", mode,
                f"{run['windows']} ({run['steps_per_epoch']} steps)" if mode == "window" else "1",
                f"{run['epochs_run']} (best {run['best_epoch']})",
                f"{run['marginal_s_per_epoch']:.3f} ({run['s_per_epoch']:.3f})", mb(run["peak_rss_mb"]),
                f"{f3(run['test_auc'])} ({f3(run['distance_test_auc'])})",
                f"{f3(run['matched_test_auc'])} ({f3(run['matched_best_baseline'])})",
                f"{f3(run['probe'])} ({f3(r['probe_e1'])} / {f3(r['probe_features'])})",
                (f"{run['max_abs_diff_encode']:.1e} (of {run['emb_scale']:.2f})" if "max_abs_diff_encode" in run
                 else "")])
    head = ["Graph", "Mode", "Windows", "Epochs", "s/epoch (with set-up)", "Peak RSS (MB)",
            "Test AUC (distance-only)", "Matched AUC (best of CN/AA/degree)",
            "A/B probe (E1 / all features)", "Max |Δ emb| one batch vs windows"]
    lines = [
        "# Mini-batch training: full batch against genomic windows",
        "",
        f"Measured {started} UTC in {minutes:.1f} min, load average (1/5/15 min) {load_before} before and "
        f"{load_after} after, 1 torch thread per run, CPU.",
        "",
        "```",
        command,
        "```",
        "",
        md_table(head, rows),
        "",
        "Both modes: same seed, flags and epochs (`--patience` = `--epochs`, best weights by the default "
        "`--stop-on`). `window`: one optimiser step per genomic window (`scripts/batching.py`: contiguous "
        "bins + an exact halo; each training link once per epoch; negatives within the window; the structure "
        "terms on the window's bins). s/epoch: metrics.json's `train_seconds` (set-up and per-epoch validation "
        "included) minus that of the same run for one epoch, over the epochs after the first; in brackets "
        "`train_seconds / epochs_run` (set-up included). Peak RSS is the whole `train_vgae.py` process. The last column encodes the window run's "
        "model over the whole graph in one batch and in windows (eval mode): float round-off only.",
        *(f"\n{n}" for n in notes),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--graph", nargs="+", type=Path, default=[DEFAULT_GRAPH], help="graph .pt files")
    p.add_argument("--truth", nargs="+", default=None,
                   help="truth.tsv per graph ('-': none) [data/raw/truth.tsv for the default graph]")
    p.add_argument("--epochs", nargs="+", type=int, default=[300], help="epochs per graph (one value: all)")
    p.add_argument("--window-edges", type=int, default=None, help="edges per window core [see above]")
    p.add_argument("--tile", nargs="+", type=int, default=[1],
                   help="per graph: train on this many copies side by side (separate chromosomes) [1]")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", type=Path, default=BENCH / "_work" / "minibatch")
    p.add_argument("--out", type=Path, default=BENCH / "MINIBATCH.md")
    p.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    p.add_argument("--note", nargs="*", default=[], help="paragraphs appended to the report (e.g. how a graph was made)")
    args = p.parse_args(argv)
    common.setup_logging()
    truths = args.truth or [str(DEFAULT_TRUTH) if gp == DEFAULT_GRAPH else "-" for gp in args.graph]
    epochs = args.epochs * len(args.graph) if len(args.epochs) == 1 else args.epochs
    tiles = args.tile * len(args.graph) if len(args.tile) == 1 else args.tile
    if len(truths) != len(args.graph) or len(epochs) != len(args.graph) or len(tiles) != len(args.graph):
        p.error("--truth, --epochs and --tile need one value per --graph (or one for all)")
    args.work.mkdir(parents=True, exist_ok=True)
    started, t0, before = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), time.perf_counter(), load_avg()
    results = [bench_graph(gp, None if t == "-" else Path(t), epochs=e, window_edges=args.window_edges,
                           work=args.work, threads=args.threads, tile=k, modes=tuple(args.modes))
               for gp, t, e, k in zip(args.graph, truths, epochs, tiles)]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    command = f"# commit {commit}\npython benchmarks/bench_minibatch.py " + shlex.join(argv or sys.argv[1:])
    text = report(results, command=command, load_before=before, load_after=load_avg(), started=started,
                  minutes=(time.perf_counter() - t0) / 60, notes=args.note)
    with common.atomic_output(args.out) as tmp:
        tmp.write_text(text)
    if args.json:
        common.write_json(args.json, {"results": results, "command": command})
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
