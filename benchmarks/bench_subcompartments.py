"""Subcompartments and TAD insulation: the step against its baselines, on simulations and real chr21.

    python benchmarks/bench_subcompartments.py                       # seeds 0 1 2 + hard preset + real
    python benchmarks/bench_subcompartments.py --seeds 0 --no-hard   # quicker

For every simulator seed (default data) and the hard preset: ``run_pipeline.sh --to
subcompartments`` in ``benchmarks/_work/subcomp/<name>`` (the pipeline's own stages), then
the ARI / matched accuracy of the step and of every baseline against the planted states
(from the stage's JSON), and the insulation evaluation (``compute_insulation.py --emb --graph
--truth``: Spearman of insulation with the latent and feature gradients, boundary recovery
±1 bin). On the real folder 11 (Rao 2014 chr21 at 40 kb): the pipeline with six marks, the
step scored against Rao's GM12878 labels (50 kb rows rebinned by overlap) and against
SNIPER's IMR90 *predictions*. Prints Markdown and writes it to ``_work/subcomp/SUBCOMPARTMENTS.md``
with every raw number in ``results.json`` there. Simulations whose ``truth.tsv`` has no
``subcompartment_<cell>`` column (the older simulator) are reported as skipped.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchlib import BENCH, REAL, ROOT, log, script  # first: sys.path

import common  # noqa: E402
from compare_embeddings import md_table  # noqa: E402

REAL11 = "11_GM12878_IMR90_chr21_40kb_hg19_Rao2014"
REAL_MARKS = ("H3K27ac", "H3K4me3", "H3K36me3", "H3K27me3", "H3K9me3", "H3K4me1")
SIM_MARKS = ("CTCF", "H3K27ac", "H3K4me3", "H3K36me3", "H3K27me3", "H3K9me3")
CELLS = ("GM12878", "IMR90")
WORK = BENCH / "_work" / "subcomp"


#: The code each pipeline stage runs (beyond its command line): run_pipeline.sh skips a stage
#: whose command and inputs are unchanged, so a stage whose code changed since it last ran
#: (e.g. a new training default in train_vgae.py) is forced here by removing its ``.cmd``.
STAGE_CODE = {"simulate": ("simulate_data.py",), "graph": ("build_graph.py", "features.py", "hicio.py"),
              "compartments": ("compute_compartments.py", "orientation.py", "hicio.py"),
              "insulation": ("compute_insulation.py", "insulation.py", "hicio.py"),
              "train": ("train_vgae.py", "model.py", "baselines.py"), "encode": ("encode_graph.py", "model.py"),
              "subcompartments": ("call_subcompartments.py", "subcompartments.py", "baselines.py")}


def invalidate_stale(results: Path) -> list[str]:
    """Remove ``logs/<stage>.cmd`` of every stage whose code is newer than its last run; the names."""
    stale = []
    for stage, files in STAGE_CODE.items():
        cmd = results / "logs" / f"{stage}.cmd"
        if cmd.is_file() and any((ROOT / "scripts" / f).stat().st_mtime > cmd.stat().st_mtime for f in files
                                 if (ROOT / "scripts" / f).is_file()):
            cmd.unlink()
            stale.append(stage)
    return stale


def pipeline(out: Path, *args: str, log_name: str) -> None:
    """``run_pipeline.sh`` with ``out``/{raw,processed,results} unless told otherwise; stages whose
    code changed since their last run are re-run (:func:`invalidate_stale`)."""
    stale = invalidate_stale(out / "results")
    if stale:
        log.info("%s: code changed since the last run of %s: re-running", out.name, ", ".join(stale))
    # a snapshot: bash reads a script as it runs, so an edit of run_pipeline.sh during a long
    # benchmark would otherwise break it
    snap = WORK / "run_pipeline.snapshot.sh"
    text = (ROOT / "run_pipeline.sh").read_text()
    snap.write_text(text.replace('ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"', f'ROOT="{ROOT}"'))
    cmd = ["bash", str(snap), "--processed", str(out / "processed"),
           "--results", str(out / "results"), *args]
    log.info("%s", " ".join(cmd))
    with open(out / log_name, "w") as fh:
        rc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc:
        raise RuntimeError(f"pipeline failed ({rc}); see {out / log_name}")


def has_subcompartments(truth: Path) -> bool:
    return truth.is_file() and "subcompartment_" in truth.read_text().split("\n", 1)[0]


def run_sim(name: str, sim_args: list[str], *, res: int) -> dict:
    """One simulated dataset through the pipeline; the stage JSONs and the insulation evaluation."""
    out = WORK / name
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "raw"
    pipeline(out, "--raw", str(raw), "--res", str(res), "--marks", *SIM_MARKS, "--sim-args", " ".join(sim_args),
             "--to", "encode", log_name="pipeline.log")
    truth = raw / "truth.tsv"
    if not has_subcompartments(truth):
        return {"skipped": f"{truth} has no subcompartment_<cell> column (older simulator)"}
    pipeline(out, "--raw", str(raw), "--res", str(res), "--marks", *SIM_MARKS, "--sim-args", " ".join(sim_args),
             "--only", "subcompartments", log_name="subcompartments.log")
    rec = {}
    for cell in CELLS:
        rec[cell] = json.loads((out / "results" / cell / "subcompartments_chr21.json").read_text())
        rec[cell]["insulation"] = insulation_eval(out, cell, raw=raw, res=res, truth=truth)
    return rec


def insulation_eval(out: Path, cell: str, *, raw: Path, res: int, truth: Path | None) -> dict:
    dst = out / "insulation" / f"{cell}.bedGraph"
    cmd = script("compute_insulation", "--mcool", raw / f"{cell}.mcool", "--res", res, "--chrom", "chr21",
                 "--emb", out / "results" / cell / "emb.npy", "--graph", out / "processed" / f"{cell}_chr21.pt",
                 "--out", dst, "-q", *(["--truth", truth] if truth else []))
    subprocess.run(cmd, check=True, cwd=ROOT)
    return json.loads(dst.with_suffix(".json").read_text())


def run_real(real: Path) -> dict:
    """Pipeline on folder 11, then the step scored against Rao (GM12878) and SNIPER (IMR90)."""
    d = real / REAL11
    out = WORK / "real"
    out.mkdir(parents=True, exist_ok=True)
    pipeline(out, "--raw", str(d), "--res", "40000", "--chrom", "chr21", "--marks", *REAL_MARKS,
             "--to", "encode", log_name="pipeline.log")
    refs = {"GM12878": (d / "GM12878_Rao2014_subcompartments_hg19.bed", "Rao 2014 (truth)"),
            "IMR90": (d / "IMR90_SNIPER_predicted_subcompartments_hg19.bed", "SNIPER prediction (not truth)")}
    rec = {}
    for cell, (bed, what) in refs.items():
        res_dir = out / "results" / cell
        dst = out / "scored" / cell / "subcompartments_chr21.csv"
        cmd = script("call_subcompartments", "--emb", res_dir / "emb.npy",
                     "--graph", out / "processed" / f"{cell}_chr21.pt",
                     "--compartments", res_dir / "compartments_chr21.csv", "--mcool", d / f"{cell}.mcool",
                     "--res", 40000, "--truth", bed, "--truth-name", what, "--out", dst, "-q")
        subprocess.run(cmd, check=True, cwd=ROOT)
        rec[cell] = json.loads(dst.with_suffix(".json").read_text())
        rec[cell]["insulation"] = insulation_eval(out, cell, raw=d, res=40000, truth=None)
    return rec


# ----------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------
def _ms(v: list[float]) -> str:
    v = [x for x in v if x is not None]
    if not v:
        return "n/a"
    return f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else f"{v[0]:.3f}"


def score_table(runs: dict[str, dict], cell: str, metric: str = "ari") -> tuple[list[str], list[list]]:
    """Rows: the method and each baseline; columns: each run, then mean ± sd."""
    names = list(runs)
    methods = ["method"] + list(next(iter(runs.values()))[cell]["scores"]["baselines"])
    rows = []
    for m in methods:
        vals = []
        for n in names:
            s = runs[n][cell]["scores"]
            v = s["method"] if m == "method" else s["baselines"].get(m, {})
            vals.append(v.get(metric))
        label = f"**step: {runs[names[0]][cell]['features']}**" if m == "method" else m
        rows.append([label, *(common.fmt_num(v) for v in vals), _ms(vals)])
    return ["method", *names, "mean ± sd"], rows


def margin_rows(runs: dict[str, dict]) -> list[list]:
    out = []
    for n, r in runs.items():
        for cell in CELLS:
            s = r[cell]["scores"]
            best = s["best_baseline"]
            out.append([n, cell, common.fmt_num(s["method"]["ari"]), best,
                        common.fmt_num(s["baselines"][best]["ari"]), common.fmt_num(s.get("ari_minus_best_baseline"),
                                                                                      "+.3f")])
    return out


def target_line(runs: dict[str, dict], need: float, cells: tuple[str, ...] = CELLS, *, what: str) -> str:
    """The issue's target on these runs: step ARI >= best baseline + ``need``, met in how many."""
    got = [(n, c, r[c]["scores"].get("ari_minus_best_baseline")) for n, r in runs.items() for c in cells]
    met = [m is not None and m >= need - 1e-12 for _, _, m in got]
    short = ", ".join(f"{n} {c} {m:+.3f}" for (n, c, m), ok in zip(got, met) if not ok and m is not None)
    return (f"**Target**, {what} (step ARI ≥ best baseline{' + ' + format(need, '.2f') if need else ''}): met in "
            f"{sum(met)} of {len(got)}" + (f"; not met: {short}" if short else "") + ".")


def insulation_rows(runs: dict[str, dict]) -> list[list]:
    rows = []
    for n, r in runs.items():
        for cell in CELLS:
            ev = r[cell]["insulation"].get("evaluation", {})
            sp = ev.get("spearman_insulation_vs_gradient", {})
            br = ev.get("boundary_recovery", {})

            def f1(key: str) -> str:
                v = br.get(key)
                return "n/a" if not v else f"{common.fmt_num(v['f1'])} (P {common.fmt_num(v['precision'])}, R {common.fmt_num(v['recall'])})"

            rows.append([n, cell, common.fmt_num(sp.get("latent", {}).get("rho")),
                         common.fmt_num(sp.get("feature", {}).get("rho")), f1("insulation"),
                         f1("top latent-gradient peaks"), f1("top feature-gradient peaks")])
    return rows


def markdown(sims: dict, hard: dict | None, real: dict | None, skipped: list[str]) -> str:
    md = ["# Subcompartments and TAD boundaries", "",
          "Written by `python benchmarks/bench_subcompartments.py` (ARI against the reference; k = 5 for "
          "every row; baselines computed by the step itself on the same bins). Each simulated column is a "
          "full `run_pipeline.sh` run (simulate, graph, compartments, train with the pipeline's default "
          "objective, encode) on that simulator seed; the step is `call_subcompartments.py` with the "
          "pipeline's --seed 0. The step: a Gaussian HMM (tied covariance, k-means start) along the genome "
          "over three equally weighted blocks -- the embedding, the log marks and E1-E3. "
          "'HMM: marks + E1-E3 (the step without the embedding)' is the same HMM and features less the "
          "embedding: the margin over it is what the embedding adds."]
    for title, runs in (("Default simulated data (one column per simulator seed)", sims),
                        ("Hard preset", hard or {})):
        if not runs:
            continue
        for cell in CELLS:
            md += ["", f"## {title}: {cell}, ARI vs planted states", ""]
            h, rows = score_table(runs, cell)
            md.append(md_table(h, rows))
            md += ["", f"Matched accuracy ({cell}):", ""]
            h, rows = score_table(runs, cell, "accuracy")
            md.append(md_table(h, rows))
        md += ["", f"### {title}: step minus the best baseline", ""]
        md.append(md_table(["run", "cell", "step ARI", "best baseline", "its ARI", "margin"], margin_rows(runs)))
        md += ["", target_line(runs, 0.10, what=title.split(" (")[0].lower())]
        md += ["", f"### {title}: insulation", "",
               "Spearman ρ of insulation with the gradients (negative = low insulation where the "
               "representation changes); boundary F1 (±1 bin) of insulation boundaries and of the same number "
               "of top gradient peaks, against the planted TAD borders.", ""]
        md.append(md_table(["run", "cell", "ρ latent", "ρ feature", "insulation F1", "latent-peak F1",
                            "feature-peak F1"], insulation_rows(runs)))
    if real:
        md += ["", "## Real chr21 (Rao 2014, 40 kb, six marks)", "",
               "GM12878 against Rao 2014's labels (truth, from inter-chromosomal contacts at 100 kb); IMR90 "
               "against SNIPER's **predicted** labels (not truth).", ""]
        runs = {"real": real}
        rows = []
        for cell in CELLS:
            h, r = score_table(runs, cell)
            rows += [[cell, real[cell]["reference"], *x[:2]] for x in r]
        md.append(md_table(["cell", "reference", "method", "ARI"], rows))
        md += ["", md_table(["run", "cell", "step ARI", "best baseline", "its ARI", "margin"], margin_rows(runs))]
        md += ["", target_line({"real": {"GM12878": real["GM12878"]}}, 0.0, cells=("GM12878",),
                               what="real chr21 vs Rao 2014")
               + " (IMR90's reference is a prediction, so it has no target)"]
        md += ["", "Mark enrichment per state (mean z-score of each mark), GM12878:", ""]
        enr = real["GM12878"]["mark_enrichment"]
        marks = list(next(iter(enr.values())))
        md.append(md_table(["state", "bins", *marks], [[s, real["GM12878"]["n_bins"][s],
                                                        *(f"{enr[s][m]:+.2f}" for m in marks)] for s in enr]))
        md += ["", "Insulation on the real maps (no planted borders):", ""]
        md.append(md_table(["run", "cell", "ρ latent", "ρ feature", "insulation F1", "latent-peak F1",
                            "feature-peak F1"], insulation_rows(runs)))
    for s in skipped:
        md += ["", f"Skipped: {s}"]
    return "\n".join(md) + "\n"


def ablation(runs: list[str]) -> str:
    """Which blocks carry the signal: the step's HMM over different feature blocks, on the
    finished runs' own graphs, embeddings and compartments (planted states; Rao for real GM12878)."""
    import pandas as pd

    import subcompartments as sc
    import visualize_embeddings as ve

    variants = {"HMM [embedding, marks, E1-E3] (the step)": ("emb", "x", "eigs"),
                "HMM [embedding]": ("emb",), "HMM [embedding, E1-E3]": ("emb", "eigs"),
                "HMM [marks, E1-E3] (the step without the embedding)": ("x", "eigs"),
                "HMM [embedding, Â²X, E1-E3] (the earlier step)": ("emb", "ax", "eigs"),
                "HMM [embedding, marks, Â²X, E1-E3]": ("emb", "x", "ax", "eigs"),
                "HMM [Â²X, E1-E3]": ("ax", "eigs")}
    SEEDED = [v for v in variants if "(the step" in v]
    CANDIDATES = ["HMM [embedding, marks, E1-E3] (the step)", "HMM [marks, E1-E3] (the step without the embedding)",
                  "HMM [embedding]", "HMM [embedding, E1-E3]"]
    CHOSEN = ("HMM, input chosen without labels (highest prediction strength of: the step, the step without "
              "the embedding, [embedding], [embedding, E1-E3])")
    chosen: dict[str, tuple[str, dict]] = {}
    seeded: dict[str, dict[str, list[float]]] = {v: {} for v in SEEDED}
    scores: dict[str, dict[str, float]] = {v: {} for v in [*variants, CHOSEN]}
    for run in runs:
        out = WORK / run
        for cell in CELLS:
            g = common.load_graph(out / "processed" / f"{cell}_chr21.pt")
            emb, _ = ve.read_embedding(out / "results" / cell / "emb.npy")
            comp = ve.read_compartments(out / "results" / cell / "compartments_chr21.csv")
            bins = common.bins_frame(g)
            usable = g["mask"].numpy().astype(bool) & np.isfinite(comp["E1"].to_numpy())
            if run == "real":
                if cell != "GM12878":
                    continue
                bed = pd.read_csv(REAL / REAL11 / "GM12878_Rao2014_subcompartments_hg19.bed", sep="\t",
                                  header=None, names=["chrom", "start", "end", "label"])
                ref = sc.labels_from_intervals(bed, bins)
            else:
                t = pd.read_csv(out / "raw" / "truth.tsv", sep="\t", dtype={"chrom": str})
                t = t[["chrom", "start", "end"]].assign(**{f"compartment_{cell}": t[f"subcompartment_{cell}"].fillna("N")})
                ref = ve.truth_labels(t, bins, cell)
            x, _ = sc.graph_marks(g)
            blocks = {"emb": emb, "x": x, "eigs": comp[["E1", "E2", "E3"]].to_numpy(float),
                      "ax": sc.graph_smooth(x, g["edge_index"].numpy(), g["edge_weight"].numpy(), usable)}
            lengths = sc.run_lengths_of(usable, g["chrom_id"].numpy())
            for v, keys in variants.items():
                f = sc.block_features([blocks[key] for key in keys], usable)
                for seed in (range(N_HMM_SEEDS) if v in SEEDED else (0,)):
                    lab = np.full(len(usable), "N", dtype=object)
                    lab[usable] = sc.hmm_states(f, lengths, k=5, seed=seed).astype(str)
                    ari = sc.score_labels(ref, lab)["ari"]
                    if seed == 0:
                        scores[v][f"{run} {cell}"] = ari
                    if v in SEEDED:
                        seeded[v].setdefault(f"{run} {cell}", []).append(ari)
            # the input chosen without labels: the candidate set with the highest prediction strength
            cands = {v: sc.block_features([blocks[key] for key in variants[v]], usable) for v in CANDIDATES}
            strength = {v: sc.prediction_strength(f, lengths, k=5) for v, f in cands.items()}
            pick = max(strength, key=strength.get)
            lab = np.full(len(usable), "N", dtype=object)
            lab[usable] = sc.hmm_states(cands[pick], lengths, k=5).astype(str)
            scores[CHOSEN][f"{run} {cell}"] = sc.score_labels(ref, lab)["ari"]
            chosen[f"{run} {cell}"] = (pick, strength)
    cols = list(next(iter(scores.values())))
    sims = [c for c in cols if not c.startswith("real")]
    rows = [[v, *(common.fmt_num(d[c]) for c in cols), _ms([d[c] for c in sims])] for v, d in scores.items()]
    rows += [[f"{v}, HMM seeds 0-{N_HMM_SEEDS - 1}", *(_ms(d[c]) for c in cols),
              _ms([float(np.mean(d[c])) for c in sims])] for v, d in seeded.items()]
    return "\n".join(["# Subcompartments: which feature blocks carry the signal (ARI, k = 5, tied HMM; every "
                       "block standardised, reduced and given unit total variance, as the step does)", "",
                       "Rows with HMM seeds: mean ± sd over the seeds of the k-means start (the step uses seed 0, "
                       "the pipeline's --seed); their last column is the mean ± sd over runs of the per-run means.",
                       "", md_table(["features", *cols, "simulated mean ± sd"], rows), "",
                       "Prediction strength (`subcompartments.prediction_strength`: HMMs fitted on each half of "
                       "the genome, ARI of their decodings of the other half) of each candidate input, and the "
                       "one chosen:", "",
                       md_table(["run", *[c.split(" (")[0] for c in CANDIDATES], "chosen"],
                                [[c, *(common.fmt_num(st[v]) for v in CANDIDATES), p.split(" (")[0]]
                                 for c, (p, st) in chosen.items()]), ""])


DOC = ROOT / "benchmarks" / "SUBCOMPARTMENTS.md"
#: HMM seeds (k-means starts) of the ablation's seed rows.
N_HMM_SEEDS = 5


def assemble() -> None:
    """``benchmarks/SUBCOMPARTMENTS.md``: this benchmark's tables, the block ablation and the
    low-depth tables (``bench_depth.py``), each from its last run, with the commit measured."""
    parts = [WORK / "SUBCOMPARTMENTS.md", WORK / "ABLATION.md", BENCH / "_work" / "depth" / "depth.md"]
    missing = [str(p.relative_to(ROOT)) for p in parts if not p.is_file()]
    if missing:
        raise SystemExit(f"bench_subcompartments --assemble: missing {', '.join(missing)}; run the benchmarks first")
    head = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()[:120]
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                            f":!{DOC.relative_to(ROOT)}"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    stamp = max(p.stat().st_mtime for p in parts)
    import datetime as dt

    when = dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    note = (f"<!-- assembled by: python benchmarks/bench_subcompartments.py --assemble; tables last written "
            f"{when}; code at {head}{' plus uncommitted edits' if dirty else ''} -->\n")
    text = note + "\n".join(p.read_text().rstrip() + "\n" for p in parts)
    # a summary under the title: every target line, and the 10 % depth comparison
    targets = [line for line in text.split("\n") if line.startswith("**Target**")]
    summary = ["## Summary", ""] + [f"- {line}" for line in targets]
    depth_json = BENCH / "_work" / "depth" / "depth.json"
    if depth_json.is_file():
        for name, r in json.loads(depth_json.read_text()).items():
            if 0.1 not in r["fractions"]:
                continue
            i = r["fractions"].index(0.1)
            for key, ref in (("ab", r["ab_reference"]), ("ab_rao", r.get("ab_rao_reference"))):
                if not r.get(key):
                    continue
                v = {m: a[i] for m, a in r[key].items()}
                e1, emb = v.get("E1"), v.get("embedding")
                if e1 is None or emb is None:
                    continue
                verdict = "met" if emb > e1 else "not met"
                summary.append(f"- **Target** at 10 % depth, {name} ({r['cell']}), A/B accuracy vs {ref}: "
                               f"embedding {emb:.3f} vs E1 {e1:.3f}: {verdict}"
                               + "".join(f"; {m} {a:.3f}" for m, a in v.items() if m not in ("E1", "embedding")
                                         and a is not None) + ".")
    first = text.index("\n## ")
    text = text[:first] + "\n" + "\n".join(summary) + "\n" + text[first:]
    # the low-depth part: one heading level down, under its own section, figure last
    text = text.replace("# Low depth\n", "## Low depth\n", 1)
    depth = text.index("## Low depth\n")
    text = text[:depth] + text[depth:].replace("\n## ", "\n### ").replace("### Low depth", "## Low depth", 1)
    text = text.replace("# Subcompartments: which feature blocks", "## Subcompartments: which feature blocks", 1)
    text += "\n![calls vs depth](../docs/figures/depth.png)\n"
    with common.atomic_output(DOC) as tmp:
        Path(tmp).write_text(text)
    log.info("wrote %s", DOC)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--hard-args", default="--difficulty hard", help="simulate_data flags of the hard preset")
    p.add_argument("--no-hard", action="store_true")
    p.add_argument("--no-real", action="store_true")
    p.add_argument("--no-sim", action="store_true")
    p.add_argument("--res", type=int, default=25000)
    p.add_argument("--ablation", nargs="+", metavar="RUN",
                   help="only the feature-block ablation on finished runs (e.g. seed0 seed1 seed2 hard real)")
    p.add_argument("--assemble", action="store_true",
                   help=f"only write {DOC.relative_to(ROOT)} from the last outputs in {WORK.relative_to(ROOT)} "
                        "(SUBCOMPARTMENTS.md, ABLATION.md) and bench_depth's depth.md")
    args = p.parse_args(argv)
    common.setup_logging()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.assemble:
        assemble()
        return 0
    if args.ablation:
        text = ablation(args.ablation)
        (WORK / "ABLATION.md").write_text(text)
        print(text)
        return 0
    skipped: list[str] = []
    sims: dict = {}
    hard = None
    real = None

    def save() -> str:  # after every dataset, so a long run that is stopped keeps what it has
        text = markdown(sims, hard, real, skipped)
        (WORK / "SUBCOMPARTMENTS.md").write_text(text)
        common.write_json(WORK / "results.json", {"sims": sims, "hard": hard, "real": real, "skipped": skipped})
        return text

    if not args.no_real:
        if (REAL / REAL11).is_dir():
            real = run_real(REAL)
        else:
            skipped.append(f"real: {REAL / REAL11} is absent")
        save()
    if not args.no_sim:
        for seed in args.seeds:
            r = run_sim(f"seed{seed}", ["--seed", str(seed)], res=args.res)
            if "skipped" in r:
                skipped.append(f"seed {seed}: {r['skipped']}")
            else:
                sims[f"seed {seed}"] = r
            save()
        if not args.no_hard:
            r = run_sim("hard", [*args.hard_args.split(), "--seed", "0"], res=args.res)
            if "skipped" in r:
                skipped.append(f"hard: {r['skipped']}")
            else:
                hard = {"hard seed 0": r}
    print(save())
    return 0


if __name__ == "__main__":
    sys.exit(main())
