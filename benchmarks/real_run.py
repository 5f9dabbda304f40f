"""The whole pipeline on real data (Rao 2014 GM12878 vs IMR90, chr21, 40 kb) -> docs/REAL_DATA.md.

    python benchmarks/real_run.py                 # run run_pipeline.sh, then write docs/REAL_DATA.md
    python benchmarks/real_run.py --skip-run      # only (re)write the document from the last run's files

The run: ``bash run_pipeline.sh`` on ../shared/data/real/11_GM12878_IMR90_chr21_40kb_hg19_Rao2014
with all 11 ENCODE marks as node features (rank-normalised per cell: the IMR90 tracks are
discretised to integer levels, GM12878's are continuous), GC and TSS density as extra
orientation tracks, processed/results under benchmarks/_work/real. Every number in the
document is read from that run's output files (or computed from them and the dataset's
label files); a section whose files are absent says "not available", so the document can
be regenerated while stages change.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
from bench_orient_real import agreement, label_ab  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "real" / "11_GM12878_IMR90_chr21_40kb_hg19_Rao2014"
WORK = ROOT / "benchmarks" / "_work" / "real"
DOC = ROOT / "docs" / "REAL_DATA.md"
CELLS = ("GM12878", "IMR90")
CHROM, RES = "chr21", 40000
MARKS = ("H3K27ac", "H3K4me3", "H3K36me3", "H3K27me3", "H3K9me3", "H3K4me1", "H3K4me2", "H3K9ac",
         "H3K79me2", "H2AFZ", "H4K20me1")
NA = "not available"


def pipeline_command(*, data: Path = DATA, work: Path = WORK) -> list[str]:
    """The one ``run_pipeline.sh`` command of the real run (paths relative to the repository)."""
    rel = lambda p: os.path.relpath(Path(p).resolve(), ROOT.resolve())  # noqa: E731
    return ["bash", "run_pipeline.sh", "--raw", rel(data), "--res", str(RES), "--chrom", CHROM,
            "--marks", *MARKS, "--orient", f"{rel(data)}/hg19_GC_10kb.bw", f"{rel(data)}/hg19_TSS_density_40kb.bw",
            "--feature-norm", "rank", "--processed", rel(work / "processed"), "--results", rel(work / "results")]


# ----------------------------------------------------------------------------
# reading the run's files
# ----------------------------------------------------------------------------
def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def flat(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": value}`` for every scalar (number, string, bool) in a nested dict."""
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}."))
    elif isinstance(d, (int, float, str, bool)) or d is None:
        out[prefix[:-1]] = d
    return out


def fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return "n/a" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def md_table(head: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = list(head)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(fmt(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def kv_table(d: dict | None, *, keep=lambda k: True, limit: int = 60) -> str:
    if not d:
        return NA
    rows = [(k, v) for k, v in flat(d).items() if keep(k) and not isinstance(v, str)][:limit]
    return md_table(["Quantity", "Value"], rows) if rows else NA


# ----------------------------------------------------------------------------
# sections
# ----------------------------------------------------------------------------
def compartment_section(results: Path) -> tuple[str, dict]:
    """A/B calls per cell: counts, orientation used, agreement with Rao / SNIPER A/B and baselines."""
    rows, facts = [], {}
    gc = tss = None
    for cell in CELLS:
        csv = results / cell / f"compartments_{CHROM}.csv"
        qc = read_json(results / cell / f"compartments_{CHROM}.qc.json") or {}
        if not csv.is_file():
            rows.append([cell, NA, "", "", "", "", "", ""])
            continue
        table = pd.read_csv(csv)
        bins = table[["chrom", "start", "end"]]
        ref_file = ("GM12878_Rao2014_subcompartments_hg19.bed" if cell == "GM12878"
                    else "IMR90_SNIPER_predicted_subcompartments_hg19.bed")
        truth = label_ab(DATA / ref_file, bins)
        calls = table["compartment"].to_numpy()
        ours, n = agreement(calls, truth)
        if gc is None:
            import hicio

            gc, tss = hicio.read_tracks([DATA / "hg19_GC_10kb.bw", DATA / "hg19_TSS_density_40kb.bw"], bins).T
        called = calls != "N"

        def base(track):
            lab = np.where(track > np.nanmedian(track[called]), "A", "B").astype(object)
            lab[~np.isfinite(track) | ~called] = "N"
            return agreement(lab, truth)[0]

        orient = qc.get("orientation", {})
        used = ", ".join(f"{r}: {t} (\\|r\\| {orient.get('abs_r_by_region', {}).get(r, float('nan')):.2f})"
                         for r, t in (orient.get("used_by_region") or {}).items()) or NA
        facts[cell] = {"agreement": ours, "n": n}
        rows.append([cell, "Rao 2014 A/B" if cell == "GM12878" else "SNIPER A/B (predicted)",
                     f"{(calls == 'A').sum()} / {(calls == 'B').sum()} / {(calls == 'N').sum()}",
                     used, f"{ours:.1%}", f"{base(gc):.1%}", f"{base(tss):.1%}", n])
    text = md_table(["Cell", "Reference", "A / B / N bins", "Oriented by (per arm)", "Agreement",
                     "Baseline: GC > median", "Baseline: TSS density > median", "Bins compared"], rows)
    c1 = results / CELLS[0] / f"compartments_{CHROM}.csv"
    c2 = results / CELLS[1] / f"compartments_{CHROM}.csv"
    if c1.is_file() and c2.is_file():
        a, b = pd.read_csv(c1), pd.read_csv(c2)
        ok = a["E1"].notna() & b["E1"].notna()
        facts["r_E1_cells"] = float(np.corrcoef(a["E1"][ok], b["E1"][ok])[0, 1])
        text += (f"\n\nE1 of the two cells correlates r = {facts['r_E1_cells']:.3f} over {int(ok.sum())} bins "
                 "called in both.")
    return text, facts


def graph_section(processed: Path) -> str:
    rows = []
    for cell in CELLS:
        p = processed / f"{cell}_{CHROM}.pt"
        if not p.is_file():
            rows.append([cell, NA, "", "", "", ""])
            continue
        g = common.load_graph(p)
        n, m = int(g["mask"].numel()), int(g["mask"].sum())
        e = int(g["edge_index"].shape[1]) // 2
        rows.append([cell, n, m, e, f"{2 * e / max(m, 1):.1f}", ", ".join(g["feature_names"])])
    return md_table(["Cell", "Nodes", "Usable nodes", "Undirected edges", "Mean degree (usable)", "Features"], rows)


def subcompartment_section(results: Path) -> str:
    out = []
    for cell in CELLS:
        js = read_json(results / cell / f"subcompartments_{CHROM}.json")
        csv = results / cell / f"subcompartments_{CHROM}.csv"
        if js is None and not csv.is_file():
            out.append(f"* {cell}: {NA}")
            continue
        line = f"* {cell}:"
        if csv.is_file():
            t = pd.read_csv(csv)
            col = next((c for c in ("subcompartment", "state", "label") if c in t.columns), None)
            ref = DATA / ("GM12878_Rao2014_subcompartments_hg19.bed" if cell == "GM12878"
                          else "IMR90_SNIPER_predicted_subcompartments_hg19.bed")
            if col is not None:
                truth = _label5(ref, t[["chrom", "start", "end"]])
                ok = (truth != "") & t[col].astype(str).isin(["A1", "A2", "B1", "B2", "B3"]).to_numpy()
                if ok.any():
                    from sklearn.metrics import adjusted_rand_score

                    pred = t[col].astype(str).to_numpy()[ok]
                    line += (f" agreement of the 5-class labels with {'Rao' if cell == 'GM12878' else 'SNIPER'} "
                             f"{(pred == truth[ok]).mean():.1%}, ARI {adjusted_rand_score(truth[ok], pred):.3f} "
                             f"({int(ok.sum())} bins).")
        out.append(line)
        if js is not None:
            out.append("\n" + kv_table(js, keep=lambda k: k.split(".")[0] in ("k", "n_usable", "n_bins",
                                                                                "state_mean_E1", "scores")) + "\n")
    return "\n".join(out)


def _label5(bed: Path, bins: pd.DataFrame) -> np.ndarray:
    """A1..B3 per bin where one class covers >= half of it."""
    lab = pd.read_csv(bed, sep="\t", header=None, names=["chrom", "start", "end", "label"])
    out = np.full(len(bins), "", dtype=object)
    s, e = bins["start"].to_numpy(), bins["end"].to_numpy()
    for cls in ("A1", "A2", "B1", "B2", "B3"):
        rows = lab[lab["label"].astype(str) == cls]
        cov = np.zeros(len(bins))
        for a, b in zip(rows["start"].to_numpy(), rows["end"].to_numpy()):
            cov += np.clip(np.minimum(e, b) - np.maximum(s, a), 0, None)
        out[cov >= 0.5 * (e - s)] = cls
    return out


#: Node-feature sets of the ablation: (label, build_graph feature flags).
ABLATION = (
    ("11 marks (the run above)", None),
    ("GC + TSS density + coverage + E1-E3 (no ChIP)", ["--bigwigs", "{data}/hg19_GC_10kb.bw",
                                                        "{data}/hg19_TSS_density_40kb.bw",
                                                        "--feature-names", "GC", "TSS",
                                                        "--structural", "coverage", "E1", "E2", "E3"]),
    ("coverage + E1-E3 only (map alone)", ["--structural", "coverage", "E1", "E2", "E3"]),
    ("11 marks + coverage + E1-E3", ["--bigwigs", *[f"{{data}}/GM12878_{m}.bw" for m in MARKS],
                                     "--feature-names", *MARKS, "--structural", "coverage", "E1", "E2", "E3"]),
)


def _silhouette(emb: np.ndarray, calls: np.ndarray) -> float:
    from sklearn.metrics import silhouette_score

    ok = np.isin(calls, ["A", "B"]) & np.isfinite(emb).all(axis=1)
    return float(silhouette_score(emb[ok], calls[ok], metric="cosine"))


def ablation(*, work: Path = WORK, run: bool = True) -> str:
    """How much the marks add: GM12878 graphs with other node features, trained as the pipeline
    trains (same flags), scored by link prediction and the A/B silhouette of the embedding
    (cosine, our A/B calls); the raw-feature silhouette is the no-training baseline."""
    import shlex

    results = work / "results"
    calls_csv = results / "GM12878" / f"compartments_{CHROM}.csv"
    cmd_file = results / "logs" / "train.cmd"
    if not calls_csv.is_file() or not cmd_file.is_file():
        return NA
    calls = pd.read_csv(calls_csv)["compartment"].to_numpy()
    graph_cmd = shlex.split((results / "logs" / "graph.cmd").read_text().split(" | ")[0])
    train_cmd = shlex.split(cmd_file.read_text().split(" | ")[0])
    rows = []
    for k, (label, flags) in enumerate(ABLATION):
        out = work / "ablation" / f"f{k}"
        if flags is None:
            graph, tdir = work / "processed" / f"GM12878_{CHROM}.pt", results / "GM12878"
        else:
            graph, tdir = out / "graph.pt", out
            if run or not (tdir / "metrics.json").is_file():
                out.mkdir(parents=True, exist_ok=True)
                g = [a.replace("{data}", str(DATA)) for a in flags]
                base = graph_cmd[graph_cmd.index("--chrom"):]  # the pipeline's graph flags
                subprocess.run([sys.executable, str(ROOT / "scripts/build_graph.py"), "--mcool",
                                str(DATA / "GM12878.mcool"), *g, *base, "--out", str(graph), "-q"], check=True)
                t = train_cmd[train_cmd.index("--graph"):]
                t[t.index("--graph") + 1] = str(graph)
                t[t.index("--outdir") + 1] = str(tdir)
                subprocess.run([sys.executable, str(ROOT / "scripts/train_vgae.py"), *t, "-q"], check=True)
        m = read_json(tdir / "metrics.json") or {}
        emb = np.load(tdir / "emb.npy") if (tdir / "emb.npy").is_file() else None
        x = common.load_graph(graph)["x"].numpy() if graph.is_file() else None
        rows.append([label, m.get("test_auc"), m.get("distance_test_auc"), m.get("matched_test_auc"),
                     None if emb is None else _silhouette(emb, calls),
                     None if x is None else _silhouette(x, calls)])
    return md_table(["Node features (GM12878)", "Test AUC", "Distance-only AUC", "Distance-matched AUC",
                     "Silhouette A/B (embedding)", "Silhouette A/B (raw features, no training)"], rows)


def silhouette_section(sil: dict | None) -> str:
    """The seed's silhouette table (embedding) beside the baselines the visualize step computed."""
    if not sil or not sil.get("silhouette"):
        return NA
    rows = [[r.get("cell"), r.get("labels"), r.get("n_A"), r.get("n_B"), r.get("n_N"), r.get("embedding"),
             r.get("features"), r.get("E1_E3"), r.get("E1")] for r in sil["silhouette"]]
    text = md_table(["Cell", "Labels", "A", "B", "N", "Embedding (cosine)", "Raw features (cosine)",
                     "E1-E3 (cosine)", "E1 alone (euclidean)"], rows)
    base = [[r.get("cell"), r.get("representation"), r.get("silhouette_cosine"), r.get("probe")]
            for r in sil.get("baselines") or []]
    if base:
        text += ("\n\nEvery representation the visualize step scored (A/B silhouette, cosine; `probe` = "
                 "cross-validated linear-probe accuracy of A vs B):\n\n"
                 + md_table(["Cell", "Representation", "Silhouette (cosine)", "Linear probe accuracy"], base))
    return text


def delta_by_compartment(fig: Path) -> dict | None:
    """Mean/median cosine distance per GM12878 compartment, from the delta CSV."""
    csv = fig / f"{CHROM}_delta.csv"
    if not csv.is_file():
        return None
    t = pd.read_csv(csv)
    col = next((c for c in t.columns if c.startswith("compartment_")), None)
    if col is None or "cosine" not in t.columns:
        return None
    both = t[(t[col] != "N") & t[[c for c in t.columns if c.startswith("compartment_")]].ne("N").all(axis=1)]
    return {c: {"mean": float(g["cosine"].mean()), "median": float(g["cosine"].median()), "n": len(g)}
            for c, g in both.groupby(col)}


def delta_section(fig: Path, summary: dict | None) -> str:
    by = delta_by_compartment(fig)
    parts = []
    if summary and isinstance(summary.get("distance"), dict):
        d = summary["distance"]
        parts.append(md_table(["Statistic", "Value"], [
            ["Mean cosine distance", d.get("mean")], ["Median", d.get("median")],
            [f"Bins with distance < {d.get('stable_below')} (stable)", f"{d.get('n_stable')} / {d.get('n_bins')}"],
            [f"Bins with distance > {d.get('shifted_above')} (high shift)", f"{d.get('n_shifted')} / {d.get('n_bins')}"]]))
    if by:
        parts.append("Mean cosine distance by GM12878 compartment (bins usable in both cells):\n\n" + md_table(
            ["Compartment", "Mean", "Median", "Bins"], [[c, v["mean"], v["median"], v["n"]] for c, v in by.items()]))
    perm = (summary or {}).get("distance_B_minus_A")
    if isinstance(perm, dict):
        parts.append(f"B − A mean distance {fmt(perm.get('observed'))}; null (circularly shifted labels, "
                     f"{fmt(perm.get('n_perm'))} permutations) {fmt(perm.get('null_mean'))} ± {fmt(perm.get('null_sd'))}, "
                     f"p = {fmt(perm.get('p'))}.")
    sw = (summary or {}).get("switches")
    if isinstance(sw, dict):
        tab, filt, asym = sw.get("table", {}), sw.get("filtered", {}), sw.get("asymmetry", {})
        parts.append("Compartment switches (GM12878 → IMR90):\n\n" + md_table(
            ["GM12878 → IMR90", "Bins", f"After the filter (runs ≥ {fmt((sw.get('filter') or {}).get('min_run'))} bins)"],
            [["A → A", tab.get("A_to_A"), ""], ["B → B", tab.get("B_to_B"), ""],
             ["B → A", tab.get("B_to_A"), filt.get("B_to_A")], ["A → B", tab.get("A_to_B"), filt.get("A_to_B")]]))
        if asym:
            parts.append(f"Runs B→A {fmt(asym.get('runs_B_to_A'))} vs A→B {fmt(asym.get('runs_A_to_B'))}: "
                         f"{asym.get('test', 'binomial test')}" if "p =" in str(asym.get("test", "")) else
                         f"Runs B→A {fmt(asym.get('runs_B_to_A'))} vs A→B {fmt(asym.get('runs_A_to_B'))}, "
                         f"p = {fmt(asym.get('p'))}.")
    return "\n\n".join(parts) or NA


#: Figures copied next to the document (the run's folder is git-ignored): (source, caption).
FIGURES = (("figures/umap_GM12878_compartment.png", "GM12878 UMAP coloured by A/B"),
           ("figures/umap_IMR90_compartment.png", "IMR90 (zero-shot) UMAP coloured by A/B"),
           ("figures/umap_joint.png", "joint UMAP of both cells"),
           ("figures/chr21_delta.png", "per-bin cosine distance GM12878 vs IMR90"),
           ("GM12878/compartments_chr21.saddle.png", "GM12878 saddle plot"),
           ("IMR90/compartments_chr21.saddle.png", "IMR90 saddle plot"))


def figures_section(results: Path, dest: Path) -> str:
    import shutil

    lines = []
    for src, caption in FIGURES:
        f = results / src
        if not f.is_file():
            lines.append(f"* {caption}: {NA}")
            continue
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / src.replace("/", "_")
        shutil.copyfile(f, target)
        lines.append(f"![{caption}](figures/real/{target.name})")
    return "\n\n".join(lines)


def find(d: dict | None, *names: str) -> Any:
    """First value in the flattened ``d`` whose key ends with one of ``names`` (in that order)."""
    f = flat(d or {})
    for name in names:
        for k, v in f.items():
            if k == name or k.endswith("." + name):
                return v
    return None


def claims(metrics: dict | None, sil: dict | None, summary: dict | None, fig: Path) -> list[str]:
    """The seed's headline claims beside this run's numbers."""
    out = []
    rows = {r.get("cell"): r for r in (sil or {}).get("silhouette") or [] if r.get("labels") == "calls"}
    s1 = (rows.get("GM12878") or {}).get("embedding")
    e13 = (rows.get("GM12878") or {}).get("E1_E3")
    out.append("* Silhouette 0.775 (GM12878, A/B, cosine): " + (
        NA if s1 is None else f"this run {s1:.3f}: {'reproduced' if s1 >= 0.7 else 'not reproduced'}"
        + ("" if e13 is None else f"; E1-E3 alone, without any training, give {e13:.3f}") + "."))
    s2 = (rows.get("IMR90") or {}).get("embedding")
    out.append("* IMR90 zero-shot silhouette 0.443: " + (NA if s2 is None else f"this run {s2:.3f}."))
    by = delta_by_compartment(fig) or {}
    da, db = (by.get("A") or {}).get("mean"), (by.get("B") or {}).get("mean")
    if isinstance(da, (int, float)) and isinstance(db, (int, float)):
        verdict = ("reproduced" if db > 2 * da else "not reproduced")
        out.append(f"* \"A stable, B shifts\" (mean Δ A 0.042 vs B 0.451): this run A {da:.3f} vs B {db:.3f}: {verdict}.")
    else:
        out.append(f"* \"A stable, B shifts\": {NA}.")
    tab = ((summary or {}).get("switches") or {}).get("table") or {}
    ba, ab = tab.get("B_to_A"), tab.get("A_to_B")
    if isinstance(ba, (int, float)) and isinstance(ab, (int, float)):
        out.append(f"* 101 B→A / 70 A→B switches (25 kb, 1,869 bins): this run {ba:g} B→A / {ab:g} A→B at 40 kb "
                   f"({'same direction of asymmetry' if (ba > ab) == (101 > 70) else 'the asymmetry is reversed'}; "
                   "counts at another resolution and depth are not comparable one to one).")
    else:
        out.append(f"* 101 B→A / 70 A→B switches: {NA}.")
    auc, dist = (metrics or {}).get("test_auc"), (metrics or {}).get("distance_test_auc")
    out.append("* Test AUC 0.777: " + (NA if not isinstance(auc, (int, float)) else
                                        f"this run {auc:.3f}, against {fmt(dist)} for distance alone"
                                        f" and {fmt((metrics or {}).get('matched_test_auc'))} on distance-matched "
                                        "negatives."))
    return out


def write_doc(*, work: Path = WORK, doc: Path = DOC, ran: dict | None = None, ablate: str = NA) -> Path:
    results, processed, fig = work / "results", work / "processed", work / "results" / "figures"
    metrics = read_json(results / CELLS[0] / "metrics.json")
    sil = read_json(fig / "umap_silhouette.json")
    summary = read_json(fig / f"{CHROM}_summary.json")
    comp_text, _ = compartment_section(results)
    cmd = " ".join(pipeline_command())
    parts = [
        "# Real data: Rao 2014 GM12878 vs IMR90, chr21, 40 kb",
        "",
        "Generated by `python benchmarks/real_run.py` from the files of one pipeline run (never typed in). "
        "Data: `../shared/data/real/11_GM12878_IMR90_chr21_40kb_hg19_Rao2014` (Rao 2014 in situ Hi-C, one "
        "library per cell; 11 ENCODE histone marks per cell, no CTCF; hg19 GC and TSS density; Rao's GM12878 "
        "subcompartments and SNIPER's predicted IMR90 ones). The seed reported chr21 at 25 kb from 4DN "
        "files; this is the same pair of cells and chromosome at 40 kb, from single libraries "
        "(~1-1.5 M contacts), so absolute numbers differ.",
        "",
        "```bash",
        cmd,
        "```",
        "",
        (f"Run: {ran['status']} in {ran['seconds']:.0f} s on this machine." if ran else
         "Run: the files already under `benchmarks/_work/real` (`--skip-run`)."),
        "",
        "## A/B compartments and orientation",
        "",
        "Each arm is oriented by the active mark (or GC / TSS density) with the largest |r| with E1 "
        "(`--orient-pick best`); H3K27me3 has no automatic sign (it is higher in A on these maps). "
        "Agreement counts bins where the reference label covers at least half of the 40 kb bin and "
        "we call A or B. The baselines label A where GC content / TSS density is above its median.",
        "",
        comp_text,
        "",
        "## Graph statistics",
        "",
        graph_section(processed),
        "",
        "## Link prediction (GM12878, held-out edges)",
        "",
        kv_table(metrics, keep=lambda k: any(s in k.lower() for s in ("auc", "ap", "epoch", "split"))),
        "",
        "## Silhouettes (A/B, in the embedding) with baselines",
        "",
        silhouette_section(sil),
        "",
        "## Per-bin embedding change and switches (GM12878 → IMR90)",
        "",
        delta_section(fig, summary),
        "",
        "## Subcompartments",
        "",
        subcompartment_section(results),
        "",
        "## What the marks add (node-feature ablation)",
        "",
        "GM12878 graphs with the same edges and other node features, trained with the pipeline's "
        "train command; silhouettes use our A/B calls (cosine), as the seed's did. Single seed.",
        "",
        ablate,
        "",
        "## Figures",
        "",
        figures_section(results, doc.parent / "figures" / "real"),
        "",
        "## The seed's claims on this data",
        "",
        *claims(metrics, sil, summary, fig),
        "",
    ]
    with common.atomic_output(doc) as tmp:
        tmp.write_text("\n".join(parts))
    common.write_provenance(doc, common.provenance({"command": cmd, "work": str(work)},
                                                   inputs=[str(DATA), str(results), str(processed)]))
    return doc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skip-run", action="store_true", help="only write the document from the last run")
    ap.add_argument("--force", action="store_true", help="re-run every stage (run_pipeline.sh --force)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"{DATA} is absent; nothing to do")
        return 0
    ran = None
    if not args.skip_run:
        import time

        WORK.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        cmd = pipeline_command() + (["--force"] if args.force else [])
        rc = subprocess.call(cmd, cwd=ROOT)
        ran = {"status": "finished" if rc == 0 else f"stopped with exit code {rc} (later sections may be "
                                                          "missing)", "seconds": time.time() - t0}
    doc = write_doc(ran=ran, ablate=ablation(run=not args.skip_run))
    print(doc.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
