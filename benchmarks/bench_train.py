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

``--profile-bins 2000 8000 32000`` instead profiles train_vgae's epochs (its defaults: encoder,
decoder, objective) on synthetic graphs of those sizes, one thread: seconds per epoch
and where they go (cProfile of the training loop; torch.profiler's top operators).

    python benchmarks/bench_train.py --profile-bins 2000 8000 32000 --profile-epochs 20
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


# ----------------------------------------------------------------------------
# per-epoch profile on synthetic graphs
# ----------------------------------------------------------------------------
#: Longest link of the synthetic graphs, in bins (1 Mb at 25 kb, build_graph's default --max_dist).
SYN_MAX_BINS = 40


def synthetic_graph(n: int, *, seed: int = 0, n_feat: int = 6, n_eigs: int = 10, masked: float = 0.1,
                    res: int = 25_000) -> dict[str, Any]:
    """A graph dict like build_graph's (one chromosome, two arms) with ``n`` bins, built in O(n).

    Links join bins up to :data:`SYN_MAX_BINS` apart with probability falling with distance and
    raised within an A/B compartment (blocks of 10-60 bins), about 8 links per bin as on the
    default chr21 graph; the features track A/B; ``compartment_target`` holds ``n_eigs``
    columns (the first one A/B) per arm, as ``--compartment-target`` writes.
    """
    import torch

    rng = np.random.default_rng(seed)
    s = np.repeat(np.where(np.arange(n) % 2 == 0, 1.0, -1.0), rng.integers(10, 60, n))[:n]
    d = np.arange(1, SYN_MAX_BINS + 1)
    i = np.repeat(np.arange(n), d.size)
    j = i + np.tile(d, n)
    keep = j < n
    i, j = i[keep], j[keep]
    p = np.clip(0.9 * (j - i) ** -0.6 * (1 + 0.6 * s[i] * s[j]), 0, 1)
    hit = rng.random(p.size) < p
    i, j = i[hit], j[hit]
    w = np.log1p(p[hit] * rng.gamma(4, 0.25, hit.sum()))
    x = (s[:, None] * rng.uniform(0.2, 1.0, n_feat) + rng.normal(0, 1.0, (n, n_feat))).astype(np.float32)
    mask = rng.random(n) >= masked
    x[~mask] = 0
    region = np.where(np.arange(n) < n // 3, 0, 1)
    target = np.column_stack([s, rng.normal(0, 0.3, (n, n_eigs - 1))]).astype(np.float32)
    start = np.arange(n, dtype=np.int64) * res
    return {"format": common.GRAPH_FORMAT, "format_version": 1, "x": torch.from_numpy(x),
            "feature_names": [f"m{k}" for k in range(n_feat)],
            "edge_index": torch.from_numpy(np.stack([np.r_[i, j], np.r_[j, i]]).astype(np.int64)),
            "edge_weight": torch.from_numpy(np.r_[w, w].astype(np.float32)), "mask": torch.from_numpy(mask),
            "chroms": ["chr1"], "chrom_id": torch.zeros(n, dtype=torch.long), "start": torch.from_numpy(start),
            "end": torch.from_numpy(start + res), "resolution": res, "edge_transform": "log1p",
            "compartment_target": torch.from_numpy(target), "compartment_region": torch.from_numpy(region),
            "provenance": {}}


#: Where an epoch goes: label -> keys (file stem, function, class or None, caller or None) whose
#: cumulative seconds (only the calls from ``caller`` when given) are summed and divided by the
#: epochs. Keys of functions train_vgae no longer has count 0 (its loop is being reworked).
EPOCH_PARTS = {
    "negatives": [("train_vgae", "_epoch_negatives", None, None)],
    "loss forward": [("model", "loss", "VGAE", None)],
    "  of which encoder": [("model", "encode", None, "loss")],
    "  of which link decoder": [("model", "decode", None, "loss")],
    "  of which structure terms": [("model", "loss", "StructureTargets", "loss")],
    "backward": [("_tensor", "backward", None, None)],
    "optimizer step": [("adam", "step", None, None)],
    "validation (eval forward + scores)": [("train_vgae", "_epoch_scores", None, None),
                                           ("train_vgae", "evaluate", None, "train_vgae"),
                                           ("train_vgae", "evaluate", None, "<listcomp>"),
                                           ("train_vgae", "held_out_structure", None, None)],
    "  of which AUC/AP (sklearn)": [("train_vgae", "link_scores", None, "_epoch_scores"),
                                    ("train_vgae", "link_scores", None, "evaluate")],
    "best-weights copy": [("copy", "deepcopy", None, "train_vgae")],
}


def _cumulative(stats, stem: str, name: str, cls: str | None = None, caller: str | None = None) -> float:
    """Cumulative seconds of the functions ``name`` in files ``stem``.py (defined in class ``cls``;
    only the calls made from functions named ``caller``)."""
    total = 0.0
    for (file, line, fn), (_, _, _, ct, callers) in stats.stats.items():
        if fn != name or Path(file).stem != stem or (cls is not None and _class_of(file, line) != cls):
            continue
        total += ct if caller is None else sum(v[3] for c, v in callers.items() if c[2] == caller)
    return total


def _class_of(file: str, line: int) -> str:
    """Name of the class a function at ``line`` of ``file`` is defined in ('' at module level)."""
    import ast

    tree = ast.parse(Path(file).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.lineno == line:
                    return node.name
    return ""


def epoch_seconds(data, *, epochs: int = 10, seed: int = 0, **kwargs: Any) -> tuple[float, float]:
    """Median wall and CPU seconds of one training epoch: train_vgae (its defaults, ``kwargs``
    overriding) on prepared ``data`` in this process for ``epochs`` epochs without early stop,
    one torch thread, timed between consecutive epochs' negative draws (so the link split,
    targets and test metrics are not counted). CPU time is this process's, which a loaded
    machine inflates far less than wall time."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    stamps, draw = [], train_vgae._epoch_negatives

    def timed_draw(*a, **kw):
        stamps.append((time.perf_counter(), time.process_time()))
        return draw(*a, **kw)

    train_vgae._epoch_negatives = timed_draw
    try:
        train_vgae.train_vgae(data, epochs=max(epochs, 2), patience=max(epochs, 2) + 1,
                              rng=common.seed_everything(seed), **kwargs)
    finally:
        train_vgae._epoch_negatives = draw
        torch.set_num_threads(threads)
    wall, cpu = np.median(np.diff(np.array(stamps), axis=0), axis=0).tolist()
    return wall, cpu


def profile_epochs(n: int, *, epochs: int = 20, seed: int = 0, top_ops: int = 8) -> dict[str, Any]:
    """Train with train_vgae's defaults for ``epochs`` epochs (no early stop) on a synthetic graph
    of ``n`` bins, under cProfile, then 3 more epochs under torch.profiler; one thread."""
    import cProfile
    import pstats

    import torch

    import sklearn.metrics  # noqa: F401  (imported by the first validation otherwise: not an epoch's cost)

    torch.set_num_threads(1)
    g = synthetic_graph(n, seed=seed)
    data = vgae.prepare_graph(g)
    usable = int(data.mask.sum())
    per_epoch, cpu_per_epoch = epoch_seconds(data, epochs=epochs, seed=seed)  # unprofiled
    prof = cProfile.Profile()
    rng = common.seed_everything(seed)
    t0 = time.perf_counter()
    prof.enable()
    res = train_vgae.train_vgae(data, epochs=epochs, patience=epochs + 1, rng=rng)
    prof.disable()
    wall = time.perf_counter() - t0  # profiled
    stats = pstats.Stats(prof)
    setup = sum(_cumulative(stats, "train_vgae", f) for f in ("_make_task", "structure_targets"))
    final = _cumulative(stats, "train_vgae", "_test_metrics")
    parts = {label: sum(_cumulative(stats, *key) for key in keys) / res.metrics["epochs_run"]
             for label, keys in EPOCH_PARTS.items()}
    loop = (wall - setup - final) / res.metrics["epochs_run"]  # profiled, for the parts' shares
    from torch.profiler import ProfilerActivity, profile as tprofile

    rng = common.seed_everything(seed)
    with tprofile(activities=[ProfilerActivity.CPU]) as tp:
        train_vgae.train_vgae(data, epochs=3, patience=4, rng=rng)
    ops = sorted(tp.key_averages(), key=lambda e: -e.self_cpu_time_total)
    ops_total = sum(e.self_cpu_time_total for e in ops)
    return {"bins": n, "usable": usable, "links": int(data.edge_index.size(1) // 2), "epochs": res.metrics["epochs_run"],
            "gram": usable <= vgae.GRAM_MAX_NODES, "s_per_epoch": per_epoch, "cpu_s_per_epoch": cpu_per_epoch, "profiled_s_per_epoch": loop, "setup_s": setup, "test_metrics_s": final,
            "parts": parts, "objective": res.metrics["objective"], "encoder": res.metrics["encoder"],
            "decoder": res.metrics["decoder"],
            "top_ops": [(e.key, e.count, e.self_cpu_time_total / 1e6, e.self_cpu_time_total / ops_total)
                        for e in ops[:top_ops]]}


def profile_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: s/epoch and its parts per size, the fitted exponent, and each size's top operators."""
    from benchlib import loglog_fit, md_table

    head = ["Bins (usable)", "Links", "Decoder path", "CPU s/epoch", "wall s/epoch", "wall s/epoch profiled",
            *(k.strip() for k in EPOCH_PARTS)]
    body = [[f"{r['bins']:,} ({r['usable']:,})", f"{r['links']:,}", "dense Gram" if r["gram"] else "gather",
             f"{r['cpu_s_per_epoch'] * 1e3:.1f} ms", f"{r['s_per_epoch'] * 1e3:.1f} ms",
             f"{r['profiled_s_per_epoch'] * 1e3:.1f} ms",
             *(f"{r['parts'][k] * 1e3:.1f} ms" for k in EPOCH_PARTS)]
            for r in rows]
    out = [md_table(head, body)]
    if len(rows) >= 2:
        k = loglog_fit([r["usable"] for r in rows], [r["cpu_s_per_epoch"] for r in rows])[0]
        kw = loglog_fit([r["usable"] for r in rows], [r["s_per_epoch"] for r in rows])[0]
        out.append(f"CPU s/epoch ∝ usable bins^{k:.2f} (wall: ^{kw:.2f}) over {rows[0]['usable']:,}-{rows[-1]['usable']:,} bins "
                   f"(train_vgae defaults: encoder {rows[0]['encoder']}, decoder {rows[0]['decoder']}, "
                   f"objective {rows[0]['objective']}; model.GRAM_MAX_NODES {vgae.GRAM_MAX_NODES}; 1 thread).")
    for r in rows:
        out.append(f"Top torch operators by self CPU time at {r['bins']:,} bins (3 epochs, torch.profiler):")
        out.append(md_table(["Operator", "Calls", "Self s", "Share"],
                            [[f"`{k}`", c, f"{t:.3f}", f"{sh:.0%}"] for k, c, t, sh in r["top_ops"]]))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, help="simulate_data.py output folder (not with --profile-bins)")
    p.add_argument("--profile-bins", type=int, nargs="+", default=None,
                   help="profile train_vgae's epochs on synthetic graphs of these sizes instead")
    p.add_argument("--profile-epochs", type=int, default=20, help="epochs per profiled size")
    p.add_argument("--gram-max-nodes", type=int, default=None,
                   help="with --profile-bins: set model.GRAM_MAX_NODES (the dense z z^T decoder path's "
                        "limit) for this run, to measure another threshold")
    p.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / "_work" / "train",
                   help="where built graphs are kept between runs")
    p.add_argument("--min-contacts", type=float, nargs="+", default=[0.0],
                   help="build_graph --min-contacts values to compare (0 = build_graph's default)")
    p.add_argument("--decoders", nargs="+", default=list(vgae.DECODERS), choices=vgae.DECODERS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default); "
                   "train_vgae.py's default is 1")
    args = p.parse_args(argv)
    if args.profile_bins:
        common.setup_logging(quiet=True)
        if args.gram_max_nodes is not None:
            vgae.GRAM_MAX_NODES = args.gram_max_nodes
        rows = []
        for n in sorted(args.profile_bins):
            rows.append(profile_epochs(n, epochs=args.profile_epochs, seed=args.seed))
            print(f"{n} bins: {rows[-1]['cpu_s_per_epoch'] * 1e3:.1f} ms CPU, {rows[-1]['s_per_epoch'] * 1e3:.1f} ms "
                  "wall per epoch", file=sys.stderr, flush=True)
        print(profile_table(rows))
        return 0
    if args.data is None:
        p.error("--data is required (or give --profile-bins)")

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
