#!/usr/bin/env python
"""Last step: ``results/report.md``, built only from a run's own output files.

Every number in the report is read from the files the earlier steps wrote; the
report lists them at the end. Required: ``<CELL1>/metrics.json`` (train_vgae.py),
``figures/umap_silhouette.json`` (visualize_embeddings.py) and
``figures/<TAG>_summary.json`` (compare_embeddings.py). Anything else (compartment
QC, figures) is optional: its section says "not available".

``--headline`` prints a few lines with the headline numbers instead (what
``run_pipeline.sh`` shows at the end).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import common
from common import fmt_num
from compare_embeddings import filter_text, md_table, summary_markdown

log = logging.getLogger("chromatin_gnn.report")

#: Training metrics as train_vgae.py names them in metrics.json: (row, VGAE key,
#: distance-only baseline key).
TRAINING_ROWS = [
    ("Test AUC (random negatives)", "test_auc", "distance_test_auc"),
    ("Test AP (random negatives)", "test_ap", "distance_test_ap"),
    ("Test AUC (distance-matched negatives)", "matched_test_auc", "matched_distance_auc"),
    ("Test AP (distance-matched negatives)", "matched_test_ap", None),
    ("Validation AUC (best epoch)", "val_auc", None),
]
SHOWN = ({k for _, *keys in TRAINING_ROWS for k in keys} | {"best_epoch", "epochs_run", "decoder"}
         | {f"matched_baselines_auc.{k}" for k in ("common_neighbours", "adamic_adar", "degree_product")})
#: Columns of the embedding-baseline table (figures/umap_baselines.tsv, in umap_silhouette.json).
BASELINE_COLUMNS = {"probe": "Blocked probe A/B", "silhouette_euclidean": "Silhouette (eucl.)",
                    "silhouette_cosine": "Silhouette (cos.)", "effective_rank": "Effective rank",
                    "pc1_share": "PC1 share"}
STAGES = {"metrics": "train_vgae.py (pipeline stage 'train')",
          "silhouette": "visualize_embeddings.py (pipeline stage 'visualize')",
          "summary": "compare_embeddings.py (pipeline stage 'compare')",
          "qc": "compute_compartments.py (pipeline stage 'compartments')",
          "subcompartments": "call_subcompartments.py (pipeline stage 'subcompartments')",
          "insulation": "compute_insulation.py (pipeline stage 'insulation')"}
SIL_COLUMNS = {"embedding": "VGAE embedding", "features": "Raw node features",
               "E1_E3": "E1–E3", "E1": "E1 alone"}


# ----------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------
def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to ``{"a.b": scalar}``; lists, None, provenance and ``*meaning*`` entries are dropped."""
    out: dict[str, Any] = {}
    for k, v in (obj.items() if isinstance(obj, dict) else ()):
        key = f"{prefix}{k}"
        if k == "provenance" or "meaning" in k:
            continue
        if isinstance(v, dict):
            out.update(flatten(v, f"{key}."))
        elif isinstance(v, (int, float, str, bool)) and v is not None:
            out[key] = v
    return out


def _read_json(path: Path, kind: str, *, required: bool) -> dict | None:
    if not path.is_file():
        if required:
            raise common.DataError(f"{path} not found; it is made by {STAGES[kind]}: run that step "
                                   f"first (or point --{kind} at the file)")
        log.info("%s not found: its report section will say 'not available'", path)
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise common.DataError(f"{path} is not valid JSON ({exc}); re-run {STAGES[kind]}") from None


def collect(results: str | Path, labels: list[str], chrom_tag: str, *,
            metrics: str | Path | None = None, silhouette: str | Path | None = None,
            summary: str | Path | None = None, figures: str | Path | None = None) -> dict:
    """Load everything the report needs from a run's results folder.

    Parameters
    ----------
    results
        The run's results folder (``results/``).
    labels
        Cell lines; the first is the one the model was trained on.
    chrom_tag
        The chromosome tag in file names (``chr21``, ``chr1_chr2``, ``all``).
    metrics, silhouette, summary, figures
        Explicit paths overriding the pipeline's layout.

    Raises
    ------
    common.DataError
        A required file is missing or unreadable (the message names the step that makes it).
    """
    res = Path(results)
    fig = Path(figures) if figures else res / "figures"
    paths = {"metrics": Path(metrics) if metrics else res / labels[0] / "metrics.json",
             "silhouette": Path(silhouette) if silhouette else fig / "umap_silhouette.json",
             "summary": Path(summary) if summary else fig / f"{chrom_tag}_summary.json"}
    run = {k: _read_json(p, k, required=True) for k, p in paths.items()}
    run["qc"] = {}
    for lab in labels:
        p = res / lab / f"compartments_{chrom_tag}.qc.json"
        qc = _read_json(p, "qc", required=False)
        if qc is not None:
            run["qc"][lab] = qc
            paths[f"qc_{lab}"] = p
    run["subcompartments"], run["insulation"] = {}, {}  # optional stages
    for lab in labels:
        for kind, name in (("subcompartments", f"subcompartments_{chrom_tag}.json"),
                           ("insulation", f"insulation_{chrom_tag}.json")):
            found = _read_json(res / lab / name, kind, required=False)
            if found is not None:
                run[kind][lab] = found
                paths[f"{kind}_{lab}"] = res / lab / name
    run.update(paths=paths, labels=labels, chrom_tag=chrom_tag, figures=fig, results=res)
    return run


# ----------------------------------------------------------------------------
# rendering
# ----------------------------------------------------------------------------
def training_rows(metrics: dict) -> list[list]:
    """Rows ``[metric, VGAE, distance-only]`` from metrics.json (None where absent)."""
    return [[name, metrics.get(m), metrics.get(b) if b else "—"] for name, m, b in TRAINING_ROWS]


def _figure(run: dict, out_dir: Path, name: str, caption: str) -> str:
    p = run["figures"] / name if "/" not in name else run["results"] / name
    if not p.is_file():
        return f"*{caption}: not available ({name} not found).*"
    return f"![{caption}]({Path(os.path.relpath(p, out_dir)).as_posix()})"


def render(run: dict, *, out_dir: Path) -> str:
    """The whole report as Markdown (figure links relative to ``out_dir``)."""
    l1 = run["labels"][0]
    tag = run["chrom_tag"]
    s = run["summary"]
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"# chromatin-gnn run report ({', '.join(run['labels'])}; {tag})",
             f"Generated by `make_report.py` on {when}. Every number below is read from this run's "
             "output files (listed at the end); none is written by hand."]

    m = run["metrics"]
    parts += [f"## Link prediction ({l1}, held-out test edges)",
              md_table(["Metric", "VGAE", "Distance-only baseline (score = −\\|i−j\\|)"],
                       training_rows(m)),
              "Same distance-matched test pairs, scored without learning from the links message passing "
              "sees (train + validation):",
              md_table(["Link baseline", "Distance-matched AUC"],
                       [[k.replace("_", " "), v] for k, v in (m.get("matched_baselines_auc") or {}).items()]),
              f"Distance-matched non-links found for {m.get('split', {}).get('matched_pairs', 'n/a')} of "
              f"{m.get('split', {}).get('test_links', 'n/a')} test links (coverage "
              f"{fmt_num(m.get('matched_coverage'))}); the matched AUCs use those.",
              f"Best epoch {m.get('best_epoch', 'n/a')} of {m.get('epochs_run', 'n/a')} run "
              f"(early stopping on {m.get('stop_on', 'validation AUC')}; encoder {m.get('encoder', 'gcn')}, "
              f"objective {m.get('objective', 'bce')}, decoder: {m.get('decoder', 'n/a')}).",
              "Other entries of metrics.json:",
              md_table(["Entry", "Value"], [[f"`{k}`", v] for k, v in flatten(m).items() if k not in SHOWN]),
              _figure(run, out_dir, f"{l1}/training_curve.png", "Training curve")]

    parts.append("## Compartment calls")
    if run["qc"]:
        flat = {lab: flatten(qc) for lab, qc in run["qc"].items()}
        keys = list(dict.fromkeys(k for f in flat.values() for k in f))
        parts.append(md_table(["QC entry (compartments_*.qc.json)", *flat],
                              [[f"`{k}`", *(f.get(k) for f in flat.values())] for k in keys]))
    else:
        parts.append("Compartment QC: not available (no compartments_*.qc.json found).")

    sil = run["silhouette"]
    rec = sil.get("silhouette", [])
    cols = [c for c in SIL_COLUMNS if rec and c in rec[0]]
    parts += ["## A/B separation in the latent space (silhouette, N bins excluded)", md_table(
        ["Cell line", "Labels", "A bins", "B bins", "N bins", *(SIL_COLUMNS[c] for c in cols)],
        [[r["cell"], r["labels"], r["n_A"], r["n_B"], r["n_N"], *(r.get(c) for c in cols)] for r in rec])]
    names = {**SIL_COLUMNS, "labels": "Labels"}
    notes = [f"- {names.get(k, k)}: {v}" for k, v in sil.get("columns", {}).items() if k != "circular"]
    if "features" not in cols:
        notes.append("- Raw node features: not available (visualize_embeddings.py ran without --graphs).")
    if "circular" in sil.get("columns", {}):
        notes.append(f"- Note: {sil['columns']['circular']}.")
    parts.append("\n".join(notes))
    base = sil.get("baselines") or []
    if base:
        parts += ["## The embedding beside what needs no learning", md_table(
            ["Cell line", "Labels", "Representation", *BASELINE_COLUMNS.values()],
            [[r["cell"], r["labels"], r["representation"] + (f" (k={int(r['k'])})" if r.get("k") else ""),
              *(r.get(c) for c in BASELINE_COLUMNS)] for r in base]),
            "Blocked probe: logistic regression, 5 contiguous genomic folds. AkX: node features smoothed k "
            "times over the graph (best k of 1-4 by probe). Untrained: same encoder, random weights, mean of "
            "5 seeds. Where the embedding's row is below a baseline's, the model lost on that metric."]
    parts += [_figure(run, out_dir, f"umap_{lab}_{kind}.png", f"UMAP of {lab} by {kind}")
              for lab in run["labels"] for kind in ("compartment", "position")]
    parts.append(_figure(run, out_dir, "umap_joint.png", "Joint UMAP"))

    parts += ["## Cell-type comparison", summary_markdown(s, level=3).strip()]
    if "switches" not in s:
        parts.append("Compartment switches: not available (compare_embeddings.py ran without compartment calls).")
    elif "truth" not in s:
        parts.append("Switch calls vs planted switches: not available (no --truth; real data).")
    parts.append(_figure(run, out_dir, f"{tag}_delta.png", "Per-bin cosine distance"))

    if run.get("subcompartments") or run.get("insulation"):
        from call_subcompartments import report_markdown

        parts += ["## Subcompartments and TAD boundaries",
                  report_markdown(run["subcompartments"], run["insulation"])]
        parts += [_figure(run, out_dir, f"{lab}/subcompartments_{tag}.png", f"Subcompartments of {lab}")
                  for lab in run["subcompartments"]]

    parts += ["## Files read", "\n".join(f"- `{Path(os.path.relpath(p, out_dir)).as_posix()}`"
                                         for p in run["paths"].values())]
    return "\n\n".join(parts) + "\n"


def headline(run: dict) -> list[str]:
    """A few lines with the run's headline numbers (printed at the end of run_pipeline.sh)."""
    lines = []
    rows = training_rows(run["metrics"])
    (auc, base), (ap, base_ap) = rows[0][1:], rows[1][1:]
    if auc is not None:
        lines.append(f"Link prediction ({run['labels'][0]}): test AUC {auc:.3f}, AP {fmt_num(ap)}; "
                     f"distance-only baseline AUC {fmt_num(base)}, AP {fmt_num(base_ap)}")
    for r in run["silhouette"].get("silhouette", []):
        if r["labels"] == "calls":
            extra = ", ".join(f"{SIL_COLUMNS[c]} {fmt_num(r[c])}" for c in ("features", "E1_E3") if c in r)
            lines.append(f"A/B silhouette {r['cell']}: embedding {fmt_num(r['embedding'])} ({extra})")
    s = run["summary"]
    by = {r["compartment"]: r["mean"] for r in s["distance"].get("by_compartment", [])}
    lines.append(f"Cosine distance {s['label1']} vs {s['label2']}: mean {s['distance']['mean']:.3f}"
                 + (f" (A {fmt_num(by.get('A'))}, B {fmt_num(by.get('B'))})" if by else ""))
    if "switches" in s:
        sw, sig = s["switches"], s.get("significance")
        lines.append(f"Switches ({filter_text(sw['filter'])}): B→A {sw['filtered']['B_to_A']}, "
                     f"A→B {sw['filtered']['A_to_B']}; compartments differ in "
                     f"{sw['table']['B_to_A']} / {sw['table']['A_to_B']} bins"
                     + (f"; {sig['n_changed']} other bins change significantly in the embedding "
                        f"(q ≤ {sig['fdr']}, null: within-cell pseudo-replicates)" if sig else ""))
    if "truth" in s:
        f, u = s["truth"]["filtered"], s["truth"]["unfiltered"]
        lines.append(f"Switch recovery vs planted truth: precision {fmt_num(f['precision'])}, "
                     f"recall {fmt_num(f['recall'])} "
                     f"(without filter {fmt_num(u['precision'])} / {fmt_num(u['recall'])})")
    return lines


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = common.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="results", help="the run's results folder")
    p.add_argument("--labels", nargs="+", required=True, help="cell lines; the first is the trained one")
    p.add_argument("--chrom-tag", required=True, help="chromosome tag in file names, e.g. chr21")
    p.add_argument("--out", default=None, help="report path (default: <results>/report.md)")
    p.add_argument("--headline", action="store_true", help="print the headline numbers, write nothing")
    p.add_argument("--metrics", default=None, help="override <results>/<CELL1>/metrics.json")
    p.add_argument("--silhouette", default=None, help="override <results>/figures/umap_silhouette.json")
    p.add_argument("--summary", default=None, help="override <results>/figures/<TAG>_summary.json")
    p.add_argument("--figures", default=None, help="override <results>/figures")
    return p


def _run(args: argparse.Namespace) -> None:
    run = collect(args.results, args.labels, args.chrom_tag, metrics=args.metrics,
                  silhouette=args.silhouette, summary=args.summary, figures=args.figures)
    if args.headline:
        sys.stdout.write("\n".join(headline(run)) + "\n")
        return
    out = Path(args.out) if args.out else Path(args.results) / "report.md"
    common.ensure_writable_dir(out.parent)
    text = render(run, out_dir=out.parent)
    with common.atomic_output(out) as tmp:
        tmp.write_text(text)
    common.write_provenance(out, common.provenance(args, inputs=list(run["paths"].values())))
    log.info("wrote %s", out)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
