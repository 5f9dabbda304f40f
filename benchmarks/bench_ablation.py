"""Ablation: objective x encoder x edge rule, each cell beside the baselines that need no learning.

    python benchmarks/bench_ablation.py                      # writes benchmarks/ABLATION.md (+ .json)
    python benchmarks/bench_ablation.py --seeds 0 --epochs 20 --out /tmp/abl.md   # a quick look

Data: the simulator (``simulate_data.py --difficulty D --seed S``, a shortened chr21
so the grid fits a loaded 2-core machine) at two difficulties and ``--seeds``, plus
the real GM12878 chr21 map at 40 kb (folder 11 of ../shared/data/real, scored against
Rao 2014's A/B: A1/A2 vs B1-B3; skipped when absent). Every run is in-process.

For every dataset and edge rule the baselines come first (:mod:`baselines`): E1,
E1-E3, E1-E10, the best ``Â^k X`` (k = 1..4), and the untrained encoder (mean of
5 seeds); then every (objective, encoder) cell is trained once (``--epochs``,
``--patience``) and scored with the same metrics: blocked linear A/B probe (5
contiguous folds), cosine and Euclidean silhouette, effective rank, first-PC
share, distance-matched test AUC beside common neighbours. Simulated cells are
mean ± sd over seeds. Nothing is tuned to a dataset: every cell runs the same flags.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import baselines  # noqa: E402
import build_graph  # noqa: E402
import common  # noqa: E402
import compute_compartments as cc  # noqa: E402
import features  # noqa: E402
import orientation  # noqa: E402
import hicio  # noqa: E402
import model as vgae  # noqa: E402
import simulate_data  # noqa: E402
import train_vgae  # noqa: E402
import visualize_embeddings as viz  # noqa: E402

log = logging.getLogger("bench_ablation")
REAL = ROOT.parent / "shared" / "data" / "real" / "11_GM12878_IMR90_chr21_40kb_hg19_Rao2014"
SIM_MARKS = ("CTCF", "H3K27ac", "H3K4me3", "H3K36me3", "H3K27me3", "H3K9me3")
REAL_MARKS = ("H3K27ac", "H3K4me3", "H3K36me3", "H3K27me3", "H3K9me3", "H3K4me1")
#: A shortened chr21 (24 Mb, 4 Mb unmappable) at 25 kb: ~800 usable bins.
SIM_ARGS = ("--length", "24000000", "--pericentromere-bp", "4000000", "--zoom")
#: Graph configurations: (edge rule, node features). ``marks+E`` = the marks plus E1-E3 per arm
#: (build_graph's default ``--structural E1 E2 E3``); ``marks`` = the marks alone (the seed's).
GRAPHS = {"q0.2-1Mb": ("q0.2-1Mb", "marks+E"), "q0.2-1Mb/marks": ("q0.2-1Mb", "marks"),
          "count": ("count", "marks+E")}
DEFAULT_GRAPH = "q0.2-1Mb"
EDGE_RULES = {"count": dict(edge_rule="count", min_contacts=10, edge_transform="log1p", max_dist=5_000_000),
              "q0.1": dict(edge_rule="quantile", edge_quantile=0.1, edge_transform="oe", max_dist=5_000_000),
              "q0.2-1Mb": dict(edge_rule="quantile", edge_quantile=0.2, edge_transform="oe", max_dist=1_000_000)}
RULE_NOTES = {"count": "raw count >= 10 within 5 Mb, log1p weights (the seed's rule; follows depth)",
              "q0.1": "top 10 % of usable pairs by O/E at every distance within 5 Mb, log O/E weights",
              "q0.2-1Mb": "top 20 % of usable pairs by O/E at every distance within 1 Mb, log O/E weights"}
#: (encoder, objective) cells trained on the default graph (``--cells``) and on the others
#: (``--other-cells``). ``jk/structure`` is train_vgae's default; ``gcn/bce`` the seed's design
#: (with the distance decoder).
CELLS = ("gcn/bce", "jk/bce", "jk/matched", "gcn/structure", "jk/structure", "sage-jk/structure")
OTHER_CELLS = ("gcn/bce", "jk/structure")
DEFAULT_CELL = "jk/structure"
METRICS = ("probe", "silhouette_cosine", "silhouette_euclidean", "effective_rank", "pc1_share")


def rao_labels(bins: pd.DataFrame) -> np.ndarray:
    """Rao 2014 GM12878 subcompartments at each bin's midpoint, as A (A1/A2) / B (B1-B3) / N."""
    bed = pd.read_csv(REAL / "GM12878_Rao2014_subcompartments_hg19.bed", sep="\t", header=None,
                      names=["chrom", "start", "end", "label"])
    sub = bed["label"].astype(str).str[0].where(bed["label"].astype(str).str[0].isin(["A", "B"]), "N")
    truth = pd.DataFrame({"chrom": bed["chrom"], "start": bed["start"], "end": bed["end"], "c": sub})
    return viz.truth_labels(truth.rename(columns={"c": "compartment_GM12878"}), bins, "GM12878")


def load_dataset(kind: str, *, seed: int, work: Path) -> dict[str, Any]:
    """Contacts, tracks, E1..E10 and A/B labels of one dataset (``real`` or a difficulty)."""
    if kind == "real":
        mcool, marks, folder, res = REAL / "GM12878.mcool", REAL_MARKS, REAL, 40_000
    else:
        folder = work / f"sim_{kind}_{seed}"
        if not (folder / "truth.tsv").exists():
            rc = simulate_data.main(["--out", str(folder), "-q", "--difficulty", kind, "--seed", str(seed),
                                     *SIM_ARGS])
            if rc != 0:
                raise RuntimeError(f"simulate_data --difficulty {kind} --seed {seed} failed")
        mcool, marks, res = folder / "GM12878.mcool", SIM_MARKS, 25_000
    clr = hicio.open_cooler(str(mcool), res=res)
    block = hicio.read_cis(clr, "chr21")
    tracks = hicio.read_tracks([folder / f"GM12878_{m}.bw" for m in marks], block.bins())
    comp, _ = cc.call_compartments(block, tracks[:, list(marks).index("H3K27ac")], n_eigs=10)
    struct, target, region = features.contact_features(block, ["E1", "E2", "E3"], target_eigs=10,
                                                       orient=orientation.known_tracks(tracks, list(marks)))
    if kind == "real":
        labels = rao_labels(block.bins())
    else:
        labels = viz.truth_labels(viz.read_truth(folder / "truth.tsv", ["GM12878"]), block.bins(), "GM12878")
    return dict(block=block, tracks=tracks, marks=list(marks), comp=comp, labels=labels, struct=struct,
                target=target, region=region)


def make_graph(ds: dict[str, Any], rule: str, feats: str, **rule_kw: Any) -> dict:
    """The graph build_graph.py would write for this dataset, edge rule (``rule_kw`` overriding
    :data:`EDGE_RULES`) and feature set."""
    import torch

    x, names = ds["tracks"], list(ds["marks"])
    if feats == "marks+E":
        x, names = np.column_stack([x, ds["struct"]]), [*names, "E1", "E2", "E3"]
    g = build_graph.build_graph([ds["block"]], x, names, **{**EDGE_RULES[rule], **rule_kw})
    g["compartment_target"] = torch.as_tensor(ds["target"], dtype=torch.float32)
    g["compartment_region"] = torch.as_tensor(ds["region"], dtype=torch.long)
    return g


def run_dataset(ds: dict[str, Any], *, epochs: int, patience: int | None, hidden: int, latent: int,
                graphs: list[str], cells: list[str], other_cells: list[str],
                model_seeds: tuple[int, ...] = (0,)) -> list[dict]:
    """One row per (graph, representation): the baselines, then every trained cell.

    The default cell on the default graph is trained once per ``model_seeds`` (the
    seed of :func:`common.seed_everything`: link split, initial weights, dropout,
    negatives); the others with seed 0. Rows carry ``model_seed``.
    """
    rows = []
    for gname in graphs:
        rule, feats = GRAPHS[gname]
        g = make_graph(ds, rule, feats)
        edges = g["edge_index"].shape[1] // 2
        data = vgae.prepare_graph(g)
        base = baselines.embedding_baselines(labels=ds["labels"], comp=ds["comp"], g=g)
        for name in ("E1", "E1-E3", "E1-E10", "AkX"):
            rows.append(dict(rule=gname, edges=edges, what=name, **{k: base[name][k] for k in METRICS}))
        todo = cells if gname == DEFAULT_GRAPH else other_cells
        for enc in sorted({c.split("/")[0] for c in todo}):
            hp = vgae.VGAE(in_channels=g["x"].shape[1], hidden=hidden, latent=latent, encoder=enc).hparams
            unt = [baselines.embedding_metrics(x=e, labels=ds["labels"])
                   for e in baselines.untrained_embeddings(hparams=hp, data=data)]
            rows.append(dict(rule=gname, edges=edges, what=f"untrained {enc}",
                             **{k: float(np.nanmean([u[k] for u in unt])) for k in METRICS}))
        runs = [(c, ms) for c in todo
                for ms in (model_seeds if (gname, c) == (DEFAULT_GRAPH, DEFAULT_CELL) else (0,))]
        for (enc, obj), ms in ((c.split("/"), ms) for c, ms in runs):
            rows.append(dict(rule=gname, edges=edges, what=f"VGAE {enc} / {obj}",
                             **train_and_score(data, ds["labels"], model_seed=ms, hidden=hidden, latent=latent,
                                               epochs=epochs, patience=patience, encoder=enc, objective=obj,
                                               stop_on="matched-auc" if obj in ("matched", "strength") else "auto")))
            _log_row(rows[-1], gname)
    return rows


def train_and_score(data, labels: np.ndarray, *, model_seed: int, **train_kw: Any) -> dict[str, Any]:
    """Train one cell (``train_kw`` for :func:`train_vgae.train_vgae`) with ``model_seed`` and score its
    embedding (:func:`baselines.embedding_metrics`) and its distance-matched links beside the link baselines."""
    t0 = time.perf_counter()
    with vgae.cpu_threads(1):
        res = train_vgae.train_vgae(data, rng=common.seed_everything(model_seed), **train_kw)
    m = res.metrics
    em = baselines.embedding_metrics(x=vgae.embed(res.model, data), labels=labels)
    return dict(model_seed=model_seed, **em, matched_auc=m["matched_test_auc"],
                cn_auc=m["matched_baselines_auc"]["common_neighbours"],
                aa_auc=m["matched_baselines_auc"]["adamic_adar"],
                dp_auc=m["matched_baselines_auc"]["degree_product"],
                coverage=m["matched_coverage"], best_epoch=m["best_epoch"],
                seconds=round(time.perf_counter() - t0, 1))


def _log_row(row: dict[str, Any], graph: str) -> None:
    log.info("%s | %s (model seed %d): probe %.3f matched AUC %.3f (CN %.3f) best epoch %d (%.0f s)", graph,
             row["what"], row["model_seed"], row["probe"], row["matched_auc"] or np.nan, row["cn_auc"] or np.nan,
             row["best_epoch"], row["seconds"])


#: The baselines the verdict's Δ is taken against (the strongest, over every graph).
VERDICT_BASELINES = ("E1", "E1-E3", "AkX")


def _best_baseline(part: pd.DataFrame) -> pd.Series | None:
    """The strongest of :data:`VERDICT_BASELINES` over every graph of one dataset (by probe); None without any."""
    base = part[part["what"].isin(VERDICT_BASELINES)]
    return base.loc[base["probe"].idxmax()] if len(base) else None


def _default_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The default cell's rows on the default graph (one per model seed)."""
    return table[(table["rule"] == DEFAULT_GRAPH) & (table["what"] == f"VGAE {DEFAULT_CELL.replace('/', ' / ')}")]


def _model_seed(part: pd.DataFrame) -> pd.Series:
    return part["model_seed"].fillna(0) if "model_seed" in part else pd.Series(0, index=part.index)


def verdict(table: pd.DataFrame) -> list[str]:
    """Per dataset: the default cell against the best baseline of every graph, seed by seed.

    The pipeline's own run is model seed 0; the spread over every model seed in the
    table shows how much of a Δ is the luck of one training run.
    """
    out = ["| Data | Seed | Default (jk / structure) probe, model seed 0 | Best of E1, E1-E3, Â^kX (which) | Δ | "
           "Δ over model seeds: mean ± sd (runs ≥ 0) | Untrained jk | Matched AUC | CN AUC | Best epoch |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    deltas, link_wins, all_d = [], [], []
    for (ds, seed), part in table.groupby(["dataset", "seed"], sort=False):
        mine, b = _default_rows(part), _best_baseline(part)
        if mine.empty or b is None:
            continue
        ms = _model_seed(mine)
        r = mine[ms == 0].iloc[0] if (ms == 0).any() else mine.iloc[0]
        d_all = mine["probe"].to_numpy() - b["probe"]
        spread = (f"{d_all.mean():+.3f} ± {d_all.std(ddof=1):.3f} ({int((d_all >= 0).sum())} of {d_all.size})"
                  if d_all.size > 1 else "–")
        unt = part[(part["rule"] == DEFAULT_GRAPH) & (part["what"] == "untrained jk")]["probe"]
        out.append(f"| {ds} | {seed} | {r['probe']:.3f} | {b['probe']:.3f} ({b['what']}, {b['rule']}) | "
                   f"{r['probe'] - b['probe']:+.3f} | {spread} | {unt.iloc[0] if len(unt) else float('nan'):.3f} | "
                   f"{r['matched_auc']:.3f} | {r['cn_auc']:.3f} | {int(r['best_epoch'])} |")
        deltas.append(r["probe"] - b["probe"])
        link_wins.append(r["matched_auc"] > r["cn_auc"])
        all_d.extend(d_all)
    if deltas:
        d, a = np.array(deltas), np.array(all_d)
        out += ["", f"Probe at least the best baseline on {int((d >= 0).sum())} of {d.size} datasets "
                    f"(Δ mean {d.mean():+.3f}, min {d.min():+.3f}, max {d.max():+.3f}); distance-matched AUC above "
                    f"common neighbours on {int(np.sum(link_wins))} of {d.size}. Over every model seed: "
                    f"{int((a >= 0).sum())} of {a.size} runs at least the best baseline (Δ mean {a.mean():+.3f}). "
                    "The best baseline is taken over every graph of the dataset, so it is stricter than the "
                    "default graph's own."]
    return out


#: ``--variants``: changes to the default cell (``flag=value`` of train_vgae, or ``edges=`` the default
#: graph's edge rule: top 30 % per distance within 1 Mb, top 20 % within 3 Mb),
#: each trained on the default graph of every dataset with every ``--model-seeds``.
VARIANTS: dict[str, dict[str, Any]] = {
    "layers=3": dict(train=dict(layers=3)),
    "latent=16": dict(train=dict(latent=16)),
    "comp-weight=3": dict(train=dict(comp_weight=3.0)),
    "feat-weight=3": dict(train=dict(feat_weight=3.0)),
    "epochs=600": dict(train=dict(epochs=600)),
    "edges=q0.3-1Mb": dict(rule=dict(edge_quantile=0.3)),
    "edges=q0.2-3Mb": dict(rule=dict(max_dist=3_000_000)),
}


def run_variants(ds: dict[str, Any], *, names: list[str], model_seeds: tuple[int, ...], epochs: int,
                 hidden: int, latent: int) -> list[dict]:
    """The default cell with each :data:`VARIANTS` change, one row per (variant, model seed)."""
    rows = []
    rule, feats = GRAPHS[DEFAULT_GRAPH]
    for name in names:
        v = VARIANTS[name]
        kw = {**dict(hidden=hidden, latent=latent, epochs=epochs), **v.get("train", {})}
        g = make_graph(ds, rule, feats, **v.get("rule", {}))
        data = vgae.prepare_graph(g)
        for ms in model_seeds:
            rows.append(dict(rule=DEFAULT_GRAPH, what=f"variant {name}",
                             **train_and_score(data, ds["labels"], model_seed=ms, **kw)))
            _log_row(rows[-1], DEFAULT_GRAPH)
    return rows


def variants_table(table: pd.DataFrame, variants: pd.DataFrame) -> list[str]:
    """Each variant's Δ against the dataset's best baseline, over datasets x model seeds."""
    best = {key: b["probe"] for key, part in table.groupby(["dataset", "seed"], sort=False)
            if (b := _best_baseline(part)) is not None}
    out = ["| Variant of the default | Δ probe, mean ± sd (datasets × model seeds) | Runs with Δ ≥ 0 | Worst Δ | "
           "Real chr21 Δ (mean over model seeds) | Matched AUC > CN |", "|---|---|---|---|---|---|"]
    both = pd.concat([_default_rows(table).assign(what="variant default (jk / structure as in the verdict)"), variants])
    for name, part in both.groupby("what", sort=False):
        keys = list(zip(part["dataset"], part["seed"]))
        d = part["probe"].to_numpy() - np.array([best.get(k, np.nan) for k in keys])
        ok = np.isfinite(d)
        real = d[ok & part["dataset"].str.startswith("real").to_numpy()]
        links = (part["matched_auc"] > part["cn_auc"]).to_numpy()
        out.append(f"| {name.removeprefix('variant ')} | {d[ok].mean():+.3f} ± {d[ok].std(ddof=1):.3f} | "
                   f"{int((d[ok] >= 0).sum())} of {int(ok.sum())} | {d[ok].min():+.3f} | "
                   f"{f'{real.mean():+.3f}' if real.size else '–'} | {int(links.sum())} of {links.size} |"
                   if ok.sum() > 1 else f"| {name.removeprefix('variant ')} | – | – | – | – | – |")
    return out


def edges_per_cell(work: Path, *, seed: int = 0) -> list[list]:
    """Edges of each cell's graph under every edge rule: simulated realistic (IMR90 1.5x deeper) and real."""
    pairs = [("simulated realistic", work / f"sim_realistic_{seed}", 25_000, SIM_MARKS)]
    if REAL.is_dir():
        pairs.append(("real chr21 40 kb", REAL, 40_000, REAL_MARKS))
    rows = []
    for name, folder, res, marks in pairs:
        if not (folder / "GM12878.mcool").exists():
            continue
        counts = {}
        for cell in ("GM12878", "IMR90"):
            block = hicio.read_cis(hicio.open_cooler(str(folder / f"{cell}.mcool"), res=res), "chr21")
            depth = float(block.count[block.i != block.j].sum())
            for rule, kw in EDGE_RULES.items():
                args = {k: v for k, v in kw.items() if k not in ("edge_rule", "edge_quantile", "edge_transform")}
                i, _, _ = build_graph.cis_edges(block, rule=kw["edge_rule"], quantile=kw.get("edge_quantile", 0.1),
                                                transform=kw["edge_transform"], **args)
                counts[cell, rule] = (i.size, depth)
        for rule in EDGE_RULES:
            (e1, d1), (e2, d2) = counts["GM12878", rule], counts["IMR90", rule]
            rows.append([name, rule, f"{d2 / d1:.2f}", f"{e1:,}", f"{e2:,}", f"{e2 / max(e1, 1):.2f}"])
    return rows


def _cell(v: pd.Series) -> str:
    v = v.dropna()
    if not len(v):
        return "–"
    return f"{v.mean():.3f}" if len(v) == 1 else f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def _variants_tsv(out: Path) -> Path:
    """Where the variants' rows go beside ``out`` (ABLATION.md -> ABLATION_variants.tsv)."""
    return out.with_name(out.stem + "_variants.tsv")


def markdown(table: pd.DataFrame, args: argparse.Namespace, variants: pd.DataFrame | None = None) -> str:
    cols = ["probe", "silhouette_euclidean", "silhouette_cosine", "effective_rank", "pc1_share", "matched_auc",
            "cn_auc", "aa_auc", "dp_auc", "best_epoch"]
    head = ["Graph", "Representation", "Probe A/B", "Sil. eucl.", "Sil. cos.", "Eff. rank", "PC1 share",
            "Matched AUC", "CN AUC", "AA AUC", "DP AUC", "Best epoch"]
    out = ["# Ablation: objective × encoder × edge rule", "",
           f"`{' '.join(['python benchmarks/bench_ablation.py', *(a for a in sys.argv[1:] if a != '--assemble')])}` — seeds {args.seeds}, "
           f"epochs ≤ {args.epochs}, patience {args.patience or 'train_vgae default'}, hidden {args.hidden}, latent {args.latent}. "
           "Simulated rows: mean ± sd over simulator seeds (the default cell also over model seeds); real: one run (the default cell: mean ± sd over model seeds). Probe = logistic regression, 5 contiguous "
           "folds; matched AUC = test links vs distance-matched non-links; CN/AA/DP = common neighbours, "
           "Adamic–Adar, degree product on the same pairs from the training graph.", "",
           "Graphs: " + "; ".join(f"`{k}` = {RULE_NOTES[GRAPHS[k][0]]}, node features "
                                  f"{GRAPHS[k][1]}" for k in args.graphs) + ". Node features `marks+E` = the marks "
           "plus E1-E3 per arm (build_graph's default); `marks` = the marks alone (the seed's). Every graph "
           "stores the rank-10 compartment target of the `structure` objective.", "",
           "## Verdict: the default (jk / structure on the default graph) against the best baseline", "",
           *verdict(table), ""]
    if variants is not None and len(variants):
        out += ["## Variants of the default", "",
                "Each row changes one thing in the default cell (a train_vgae flag, or the default graph's edge "
                "rule) and trains it on every dataset with every model seed "
                f"({', '.join(map(str, sorted(variants['model_seed'].unique())))}); Δ is against the dataset's best "
                "baseline as in the verdict. The default is kept only if no variant does better here.", "",
                *variants_table(table, variants), ""]
    for ds, part in table.groupby("dataset", sort=False):
        out += [f"## {ds}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for (rule, what), r in part.groupby(["rule", "what"], sort=False):
            out.append("| " + " | ".join([rule, what, *(_cell(r[c]) if c in r else "–" for c in cols)]) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--difficulties", nargs="+", default=["realistic", "hard"])
    p.add_argument("--no-real", action="store_true")
    p.add_argument("--graphs", nargs="+", choices=list(GRAPHS), default=list(GRAPHS))
    p.add_argument("--cells", nargs="+", default=list(CELLS), help="encoder/objective pairs on the default graph")
    p.add_argument("--other-cells", nargs="*", default=list(OTHER_CELLS), help="... on the other graphs")
    p.add_argument("--model-seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="training seeds of the default cell and of every variant")
    p.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS),
                   help="changes to the default cell to train beside it (none: skip)")
    p.add_argument("--epochs", type=int, default=300, help="train_vgae's default")
    p.add_argument("--patience", type=int, default=None, help="train_vgae's default (per --stop-on)")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--latent", type=int, default=32)
    p.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "ablation")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "ABLATION.md")
    p.add_argument("--assemble", action="store_true",
                   help="only rewrite the markdown from the last run's .tsv (same flags as that run)")
    args = p.parse_args(argv)
    if args.assemble:
        table = pd.read_csv(args.out.with_suffix(".tsv"), sep="\t")
        vpath = _variants_tsv(args.out)
        variants = pd.read_csv(vpath, sep="\t") if vpath.exists() else None
        old = args.out.read_text() if args.out.exists() else ""
        tail = old[old.index("\n## Edges per cell"):] if "\n## Edges per cell" in old else ""
        with common.atomic_output(args.out) as tmp:
            tmp.write_text(markdown(table, args, variants) + "\n" + tail)
        print(args.out.read_text())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for name in ("chromatin_gnn", "chromatin_gnn.train", "chromatin_gnn.model"):
        logging.getLogger(name).setLevel(logging.ERROR)
    args.work.mkdir(parents=True, exist_ok=True)
    jobs = [(d, s) for d in args.difficulties for s in args.seeds]
    if not args.no_real and REAL.is_dir():
        jobs.append(("real", 0))
    rows, vrows = [], []
    for kind, seed in jobs:
        name = "real GM12878 chr21 40 kb vs Rao 2014 A/B" if kind == "real" else f"simulated, {kind}"
        log.info("dataset %s seed %d", kind, seed)
        ds = load_dataset(kind, seed=seed, work=args.work)
        for r in run_dataset(ds, epochs=args.epochs, patience=args.patience, hidden=args.hidden,
                             latent=args.latent, graphs=args.graphs, cells=args.cells,
                             other_cells=args.other_cells, model_seeds=tuple(args.model_seeds)):
            rows.append({"dataset": name, "seed": seed, **r})
        for r in run_variants(ds, names=args.variants, model_seeds=tuple(args.model_seeds), epochs=args.epochs,
                              hidden=args.hidden, latent=args.latent):
            vrows.append({"dataset": name, "seed": seed, **r})
        table = pd.DataFrame(rows)
        variants = pd.DataFrame(vrows) if vrows else None
        text = markdown(table, args, variants)
        common.write_table(args.out.with_suffix(".tsv"), table, float_format="%.4f")
        if variants is not None:
            common.write_table(_variants_tsv(args.out), variants, float_format="%.4f")
        with common.atomic_output(args.out) as tmp:
            tmp.write_text(text + "\n")
    rows = edges_per_cell(args.work, seed=args.seeds[0])
    if rows:
        text += "\n".join(["", "## Edges per cell (depth invariance)", "",
                           "| Data | Edge rule | IMR90/GM12878 contacts | GM12878 edges | IMR90 edges | ratio |",
                           "|---|---|---|---|---|---|", *("| " + " | ".join(r) + " |" for r in rows), ""])
        with common.atomic_output(args.out) as tmp:
            tmp.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
