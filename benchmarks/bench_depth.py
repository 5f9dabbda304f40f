"""Low depth: A/B and subcompartment calls when the contacts are thinned to 50/20/10/5 %.

    python benchmarks/bench_depth.py                 # default simulated data (seed 0) + real chr21
    python benchmarks/bench_depth.py --no-real --fractions 0.5 0.1

Each map is thinned binomially (``thin.thin_cooler``: every contact kept with probability
F, re-balanced), then the pipeline's own steps run on it with the pipeline's flags:
``build_graph`` (same marks), ``compute_compartments`` and ``encode_graph`` with the model
trained at full depth (the marks are not thinned). Calls, each against a reference:

* A/B: E1's sign (``compute_compartments``); the marks alone (2-means on the standardised
  log marks); the embedding (2-means on the standardised embedding). Both clusterings are
  named by the active-mark score, never by E1. Also the subcompartment step's calls merged
  to A (A1/A2) and B (B1-B3): embedding + marks + E1–E3 with the HMM's smoothing along the
  genome (so not the embedding alone). Accuracy over bins called by every method.
* Subcompartments (k = 5): E1–E3 (k-means), the marks (k-means), and the step
  (``subcompartments.call_subcompartments``: the HMM over the embedding + marks + E1–E3). ARI.

Reference: the planted truth (simulated data); on the real maps the full-depth calls of
the same method (E1's A/B for A/B, the step's states for subcompartments), as the issue asks.
That choice favours each method's own full-depth answer: E1 is scored against full-depth
E1 there, so read the real A/B rows as stability, not accuracy; GM12878 is also scored
against Rao 2014's A/B (A1/A2 vs B1-B3), which no method here saw. One thinning draw per
fraction. Writes ``docs/figures/depth.png`` and ``benchmarks/_work/depth/depth.{md,json}``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchlib import BENCH, REAL, ROOT, log, script  # first: sys.path

import common  # noqa: E402
import subcompartments as sc  # noqa: E402
import thin  # noqa: E402
import visualize_embeddings as ve  # noqa: E402
from bench_subcompartments import REAL11, REAL_MARKS, SIM_MARKS, WORK as SUB_WORK, pipeline  # noqa: E402
from compare_embeddings import md_table  # noqa: E402

WORK = BENCH / "_work" / "depth"
FIGURE = ROOT / "docs" / "figures" / "depth.png"


def pipeline_default(name: str) -> str:
    """A default of ``run_pipeline.sh`` (``NAME=value`` in its defaults block), so that the thinned
    graphs are built with the flags the full-depth run used."""
    import re

    m = re.search(rf"(?m)(?:^|;\s*){name}=([^;\s]+)", (ROOT / "run_pipeline.sh").read_text())
    if not m:
        raise RuntimeError(f"run_pipeline.sh sets no {name}")
    return m.group(1).strip('"')


def full_run(name: str) -> tuple[Path, Path, tuple[str, ...], int]:
    """(run folder, raw folder, marks, res) of a full-depth pipeline run, made when absent."""
    if name == "sim":
        out = SUB_WORK / "seed0"
        raw, marks, res, extra = out / "raw", SIM_MARKS, 25000, ["--sim-args", "--seed 0"]
    else:
        out = SUB_WORK / "real"
        raw, marks, res, extra = REAL / REAL11, REAL_MARKS, 40000, []
    if not (out / "results" / "IMR90" / "emb.npy").is_file():
        out.mkdir(parents=True, exist_ok=True)
        pipeline(out, "--raw", str(raw), "--res", str(res), "--chrom", "chr21", "--marks", *marks, *extra,
                 "--to", "encode", log_name="pipeline.log")
    return out, raw, marks, res


def thinned_inputs(run: Path, raw: Path, marks: tuple[str, ...], res: int, cell: str, fraction: float,
                   *, seed: int) -> dict[str, Path]:
    """Graph, compartments and embedding of ``cell`` at ``fraction`` of its contacts."""
    if fraction >= 1:
        return {"graph": run / "processed" / f"{cell}_chr21.pt",
                "comp": run / "results" / cell / "compartments_chr21.csv",
                "emb": run / "results" / cell / "emb.npy"}
    d = WORK / run.name / cell / f"f{fraction:g}"
    d.mkdir(parents=True, exist_ok=True)
    out = {"graph": d / "graph.pt", "comp": d / "compartments.csv", "emb": d / "emb.npy"}
    model = run / "results" / "GM12878" / "model.pt"
    if out["emb"].is_file() and out["emb"].stat().st_mtime > model.stat().st_mtime:
        return out  # made with the current full-depth model (else: re-made)
    cool = d / "thinned.cool"
    thin.thin_cooler(f"{raw / cell}.mcool::resolutions/{res}", cool, fraction=fraction, seed=seed)
    bws = [raw / f"{cell}_{m}.bw" for m in marks]
    for cmd in (script("build_graph", "--mcool", cool, "--bigwigs", *bws, "--feature-names", *marks,
                       "--chrom", "chr21", "--res", res, "--max_dist", pipeline_default("MAX_DIST"),
                       "--min-contacts", pipeline_default("MIN_CONTACTS"),
                       "--feature-norm", pipeline_default("FEATURE_NORM"),
                       "--out", out["graph"], "-q"),
                script("compute_compartments", "--mcool", cool, "--bigwig_orient", *bws, "--orient-names",
                       *marks, "--chrom", "chr21", "--res", res, "--out", out["comp"], "-q"),
                script("encode_graph", "--model", model, "--graph", out["graph"], "--out", out["emb"], "-q")):
        subprocess.run(cmd, check=True, cwd=ROOT)
    return out


def calls(paths: dict[str, Path], *, seed: int = 0) -> dict:
    """A/B and k=5 calls of E1, the marks and the embedding (``N`` where a bin is unusable)."""
    g = common.load_graph(paths["graph"])
    comp = ve.read_compartments(paths["comp"])
    emb, _ = ve.read_embedding(paths["emb"])
    usable = g["mask"].numpy().astype(bool) & np.isfinite(comp["E1"].to_numpy())
    chrom_id = g["chrom_id"].numpy()
    marks, names = sc.graph_marks(g)  # the bigWig marks (not build_graph's E1-E3 columns)
    act = sc.activity_score(marks, names, usable)
    n = len(usable)

    def full(lab: np.ndarray) -> np.ndarray:
        out = np.full(n, "N", dtype=object)
        out[usable] = lab
        return out

    def ab_by_activity(lab: np.ndarray) -> np.ndarray:
        a = int(np.argmax([act[usable][lab == s].mean() for s in (0, 1)]))
        return full(np.where(lab == a, "A", "B"))

    zm = sc.standardise(marks, usable)[usable]
    ze = sc.standardise(emb, usable)[usable]
    e123 = comp[["E1", "E2", "E3"]].to_numpy(float)
    step, _, _ = sc.call_subcompartments(emb, usable=usable, chrom_id=chrom_id, e1=comp["E1"].to_numpy(),
                                         marks=marks, eigs=e123, activity=act, k=5, seed=seed)
    eigs = sc.standardise(e123, usable)[usable]
    return {"bins": common.bins_frame(g),
            "ab": {"E1": np.where(usable, comp["compartment"].to_numpy(), "N"),
                   "marks": ab_by_activity(sc.kmeans_states(zm, k=2, seed=seed)),
                   "embedding": ab_by_activity(sc.kmeans_states(ze, k=2, seed=seed)),
                   # the subcompartment step's calls merged to two (A1/A2 = A, B* = B)
                   "step (A1/A2 vs B)": np.array([n if n == "N" else n[0] for n in step], dtype=object)},
            "sub": {"E1-E3": full(sc.kmeans_states(eigs, k=5, seed=seed).astype(str)),
                    "marks": full(sc.kmeans_states(zm, k=5, seed=seed).astype(str)),
                    "step (HMM: embedding, marks, E1-E3)": step}}


def accuracy(ref: np.ndarray, pred: np.ndarray, common_ok: np.ndarray) -> float | None:
    ok = common_ok & (ref != "N")
    return float((ref[ok] == pred[ok]).mean()) if ok.any() else None


def evaluate(name: str, fractions: list[float], *, cell: str, seed: int) -> dict:
    run, raw, marks, res = full_run(name)
    per = {f: calls(thinned_inputs(run, raw, marks, res, cell, f, seed=seed), seed=seed) for f in [1.0, *fractions]}
    bins = per[1.0]["bins"]
    if name == "sim":
        truth = ve.read_truth(raw / "truth.tsv", [cell])
        ref_ab = ve.truth_labels(truth, bins, cell)
        head = (raw / "truth.tsv").read_text().split("\n", 1)[0]
        if f"subcompartment_{cell}" in head:
            t = truth.assign(**{f"compartment_{cell}": pd.read_csv(raw / "truth.tsv", sep="\t")[f"subcompartment_{cell}"]})
            ref_sub = ve.truth_labels(t, bins, cell)
            sub_ref = "planted states"
        else:
            ref_sub, sub_ref = None, "none (older simulator: no subcompartment_<cell>)"
        ab_ref = "planted A/B"
    else:
        ref_ab = np.asarray(per[1.0]["ab"]["E1"], dtype=object)
        ref_sub = np.asarray(per[1.0]["sub"]["step (HMM: embedding, marks, E1-E3)"], dtype=object)
        ab_ref, sub_ref = "full-depth E1 calls", "full-depth step calls"
    ref_ab = np.asarray(ref_ab, dtype=object)
    out = {"cell": cell, "ab_reference": ab_ref, "sub_reference": sub_ref, "fractions": [1.0, *fractions],
           "ab": {}, "sub": {}}
    # on the real GM12878 map, also an independent A/B reference: Rao 2014's labels (A1/A2 -> A, B* -> B)
    rao = raw / "GM12878_Rao2014_subcompartments_hg19.bed"
    ref_rao = None
    if name == "real" and cell == "GM12878" and rao.is_file():
        bed = pd.read_csv(rao, sep="\t", header=None, names=["chrom", "start", "end", "label"])
        ref_rao = np.array([x[0] if x != "N" else "N" for x in sc.labels_from_intervals(bed, bins)], dtype=object)
        out["ab_rao"], out["ab_rao_reference"] = {}, "Rao 2014 A/B (A1/A2 = A, B1-B3 = B)"
    for f, c in per.items():
        ok = np.logical_and.reduce([np.asarray(v) != "N" for v in c["ab"].values()])
        for m, v in c["ab"].items():
            out["ab"].setdefault(m, []).append(accuracy(ref_ab, np.asarray(v, dtype=object), ok))
            if ref_rao is not None:
                out["ab_rao"].setdefault(m, []).append(accuracy(ref_rao, np.asarray(v, dtype=object), ok))
        for m, v in c["sub"].items():
            s = sc.score_labels(ref_sub, v) if ref_sub is not None else {"ari": None}
            out["sub"].setdefault(m, []).append(s["ari"])
    return out


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    colours = {"E1": "#555555", "E1-E3": "#555555", "marks": "#2c7fb8", "embedding": "#d95f0e",
               "step (HMM: embedding, marks, E1-E3)": "#d95f0e", "step (A1/A2 vs B)": "#7b3294"}
    for name, r in results.items():
        style = "-" if name == "sim" else "--"
        x = np.array(r["fractions"]) * 100
        for ax, key, ylabel in ((axes[0], "ab", "A/B accuracy"), (axes[1], "sub", "subcompartment ARI")):
            for m, v in r[key].items():
                y = np.array([np.nan if a is None else a for a in v], float)
                if np.isfinite(y).any():
                    ax.plot(x, y, style, marker="o", ms=3, color=colours.get(m, "k"), label=f"{m} ({name})")
            ax.set_xscale("log")
            ax.set_xticks([5, 10, 20, 50, 100], ["5", "10", "20", "50", "100"])
            ax.set_xlabel("depth (% of contacts)")
            ax.set_ylabel(ylabel)
    for ax in axes:  # below the axes, so no line is hidden
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.suptitle("Calls at low depth (solid: simulated vs planted; dashed: real vs full depth)", fontsize=9)
    fig.tight_layout()
    common.save_figure(fig, path, dpi=90)


def markdown(results: dict[str, dict]) -> str:
    md = ["# Low depth", "", "Written by `python benchmarks/bench_depth.py`; one binomial thinning per fraction.", ""]
    for name, r in results.items():
        head = ["calls", *(f"{f:.0%}" for f in r["fractions"])]
        md += [f"## {name} ({r['cell']}): A/B accuracy vs {r['ab_reference']}", "",
               md_table(head, [[m, *(common.fmt_num(a) for a in v)] for m, v in r["ab"].items()]), "",
               *([f"## {name} ({r['cell']}): A/B accuracy vs {r['ab_rao_reference']}", "",
                  md_table(head, [[m, *(common.fmt_num(a) for a in v)] for m, v in r["ab_rao"].items()]), ""]
                 if r.get("ab_rao") else []),
               f"## {name} ({r['cell']}): subcompartment ARI vs {r['sub_reference']}", "",
               md_table(head, [[m, *(common.fmt_num(a) for a in v)] for m, v in r["sub"].items()]), ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fractions", nargs="+", type=float, default=[0.5, 0.2, 0.1, 0.05])
    p.add_argument("--cell", default="GM12878")
    p.add_argument("--no-real", action="store_true")
    p.add_argument("--no-sim", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", type=Path, default=FIGURE)
    args = p.parse_args(argv)
    common.setup_logging()
    WORK.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, skip in (("sim", args.no_sim), ("real", args.no_real or not (REAL / REAL11).is_dir())):
        cached = WORK / f"{name}.json"
        if not skip:
            results[name] = evaluate(name, args.fractions, cell=args.cell, seed=args.seed)
            common.write_json(cached, results[name])
        elif cached.is_file():  # a dataset left out this time: its last result, so the figure shows both
            log.info("%s: using the cached result %s", name, cached)
            results[name] = json.loads(cached.read_text())
    plot(results, args.figure)
    text = markdown(results)
    (WORK / "depth.md").write_text(text)
    common.write_json(WORK / "depth.json", results)
    print(text)
    log.info("figure: %s", args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
