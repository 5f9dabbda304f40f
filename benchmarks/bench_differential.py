#!/usr/bin/env python
"""Differential analysis (issue 16): calibration, detection of planted changes, real replicates.

    python benchmarks/bench_differential.py                      # default + hard preset, seeds 0 1, real
    python benchmarks/bench_differential.py --configs default --seeds 0 --no-real   # quick

For every simulated configuration (``--configs``: default data, ``hard`` preset) and
simulator seed, the pipeline runs to ``encode`` in ``benchmarks/_work/diff/<name>``
(kept; ``--fresh`` re-runs), then:

* **calibration**: the first cell split binomially into two halves, each treated as a
  cell, through the same test: every difference is technical, so p must be uniform
  (fraction at p <= 0.05, KS statistic, bins at q <= 0.05);
* **detection**: ``differential.py --truth`` on the two cells: precision/recall of the
  A/B switch calls at the default FDR, AUC of the embedding Δ beside |ΔE1| and the raw
  marks' Δ, for A/B switches and for subcompartment-only changes separately.

On the real chr21 maps (folder 11): GM12878 vs IMR90, and GM12878 replicate 1 vs
replicate 2 (fraction of usable bins at q <= 0.05; target <= 2 %). Prints Markdown
with mean ± sd over seeds; raw numbers in ``benchmarks/_work/diff/results.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import common  # noqa: E402
import differential as D  # noqa: E402
import encode_graph  # noqa: E402

WORK = ROOT / "benchmarks" / "_work" / "diff"
REAL = ROOT.parent / "shared" / "data" / "real" / "11_GM12878_IMR90_chr21_40kb_hg19_Rao2014"
REAL_MARKS = ("H3K27ac", "H3K4me3", "H3K36me3", "H3K27me3", "H3K9me3", "H3K4me1")
CONFIGS = {"default": [], "hard": ["--difficulty", "hard"]}
PY = sys.executable


def pipeline(base: Path, args: list[str], *, fresh: bool) -> Path:
    """Run ``run_pipeline.sh ... --to encode`` into ``base`` unless its model and embeddings exist."""
    done = base / "results" / "IMR90" / "emb.npy"
    if done.exists() and not fresh:
        return base
    cmd = ["bash", str(ROOT / "run_pipeline.sh"), "--raw", str(base / "raw"), "--processed", str(base / "processed"),
           "--results", str(base / "results"), "--to", "encode", *args]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return base


def diff_args(base: Path, prefix: Path, c1: str = "GM12878", c2: str = "IMR90", *, raw: Path | None = None,
              tag: str = "chr21", extra: tuple = ()) -> list[str]:
    raw = raw or base / "raw"
    r = base / "results"
    args = ["--model", r / c1 / "model.pt", "--prefix", prefix, "-q"]
    for k, c in ((1, c1), (2, c2)):
        args += [f"--mcool{k}", raw / f"{c}.mcool", f"--graph{k}", base / "processed" / f"{c}_{tag}.pt",
                 f"--emb{k}", r / c / "emb.npy", f"--comp{k}", r / c / f"compartments_{tag}.csv", f"--label{k}", c]
    if (raw / "truth.tsv").exists():
        args += ["--truth", raw / "truth.tsv"]
    return [str(a) for a in (*args, *extra)]


def detection(base: Path, name: str) -> dict:
    prefix = WORK / "out" / name / "chr21"
    assert D.main(diff_args(base, prefix)) == 0
    return json.loads(D.output_paths(prefix)["differential.json"].read_text())


def calibration(base: Path, *, seed: int, cell: str = "GM12878", n_splits: int = 1) -> dict:
    """Same cell against itself (two binomial halves), through :func:`differential.differential`."""
    r = base / "results"
    model, _ = encode_graph.load_model(str(r / cell / "model.pt"))
    g = common.load_graph(base / "processed" / f"{cell}_chr21.pt")
    comp = pd.read_csv(r / cell / "compartments_chr21.csv")
    blocks = D.read_blocks(str(base / "raw" / f"{cell}.mcool"), g["chroms"], res=int(g["resolution"]))
    cens = D._centromeres(str(base / "raw" / f"{cell}.mcool"), g["chroms"], int(g["resolution"]))
    h1, h2 = D.cell_halves(blocks, rng=np.random.default_rng(1000 + seed))
    e1 = comp["E1"].to_numpy()
    cells = [{"blocks": h, "graph": g, "model": model, "bn": "frozen", "e1": e1, "replicate": None} for h in (h1, h2)]
    reps = D.pseudo_replicates(cells, n_splits=n_splits, seed=seed, centromeres=cens)
    emb = [D.embed_graph(model, D.half_graph(h, g)) for h in (h1, h2)]
    cov = np.minimum(*(np.concatenate([b.coverage for b in h]) for h in (h1, h2)))
    usable = g["mask"].numpy() & np.isfinite(e1)
    t = D.differential(reps, full_emb=emb, full_e1=[e1, e1], comp=[comp["compartment"].to_numpy(str)] * 2,
                       coverage=cov, usable=usable, bins=common.bins_frame(g))
    out = {}
    for test, p, q in (("embedding", "p_value", "q_value"), ("E1", "p_E1", "q_E1")):
        c = D.calibration(t[p].to_numpy(float))
        c["fraction_q_le_0.05"] = float((t[q] <= 0.05).sum() / max(c["n"], 1))
        out[test] = c
    return out


def real_runs(*, fresh: bool) -> dict:
    """GM12878 vs IMR90 and GM12878 rep1 vs rep2 on the real chr21 maps at 40 kb."""
    base = WORK / "real"
    pipeline(base, ["--raw", str(REAL), "--res", "40000", "--marks", *REAL_MARKS], fresh=fresh)
    rep = "GM12878_rep2"
    g_rep = base / "processed" / f"{rep}_chr21.pt"
    bws = [str(REAL / f"GM12878_{m}.bw") for m in REAL_MARKS]  # the replicate shares GM12878's marks
    if fresh or not (base / "results" / rep / "emb.npy").exists():
        for cmd in (["build_graph.py", "--mcool", REAL / f"{rep}.mcool", "--bigwigs", *bws, "--feature-names",
                     *REAL_MARKS, "--chrom", "chr21", "--res", "40000", "--out", g_rep],
                    ["compute_compartments.py", "--mcool", REAL / f"{rep}.mcool", "--bigwig_orient", *bws,
                     "--orient-names", *REAL_MARKS, "--chrom", "chr21", "--res", "40000",
                     "--out", base / "results" / rep / "compartments_chr21.csv"],
                    ["encode_graph.py", "--model", base / "results/GM12878/model.pt", "--graph", g_rep,
                     "--out", base / "results" / rep / "emb.npy"]):
            subprocess.run([PY, str(ROOT / "scripts" / cmd[0]), *map(str, cmd[1:]), "-q"], check=True, cwd=ROOT)
    out = {}
    for name, c2 in (("GM12878_vs_IMR90", "IMR90"), ("rep1_vs_rep2", rep)):
        prefix = WORK / "out" / "real" / name / "chr21"
        assert D.main(diff_args(base, prefix, "GM12878", c2, raw=REAL)) == 0
        out[name] = json.loads(D.output_paths(prefix)["differential.json"].read_text())
    return out


def ms(values) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "n/a"
    return f"{np.mean(v):.3f} ± {np.std(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"


def markdown(res: dict) -> str:
    lines = ["## Differential analysis (issue 16)", ""]
    for cfg, runs in res.get("sim", {}).items():
        det = [r["detection"]["truth"] for r in runs]
        cal = [r["calibration"] for r in runs]
        lines += [f"### {cfg} data ({len(runs)} simulator seed(s), mean ± sd)", "",
                  "| Quantity | Value |", "|---|---|",
                  f"| A/B switch calls at q ≤ 0.05: precision | {ms(d['switch_calls']['precision'] for d in det)} |",
                  f"| A/B switch calls: recall | {ms(d['switch_calls']['recall'] for d in det)} |"]
        for k in ("cosine", "z_embedding", "abs_delta_E1", "marks_delta"):
            lines.append(f"| A/B switch AUC, {k} | {ms(d['switch_auc'][k] for d in det)} |")
        if all("sub_only_auc" in d for d in det):
            for k in ("cosine", "z_embedding", "abs_delta_E1", "marks_delta"):
                lines.append(f"| subcompartment-only AUC, {k} | {ms(d['sub_only_auc'][k] for d in det)} |")
            lines.append(f"| subcompartment-only 'changed' calls: precision | "
                         f"{ms(d['sub_only_calls']['precision'] for d in det)} |")
            lines.append(f"| subcompartment-only 'changed' calls: recall | "
                         f"{ms(d['sub_only_calls']['recall'] for d in det)} |")
        for test in ("embedding", "E1"):
            lines.append(f"| calibration (same cell, two halves), {test}: fraction p ≤ 0.05 | "
                         f"{ms(c[test]['fraction_p_le_alpha'] for c in cal)} |")
            lines.append(f"| calibration, {test}: KS statistic vs U(0,1) | {ms(c[test]['ks_statistic'] for c in cal)} |")
            lines.append(f"| calibration, {test}: fraction q ≤ 0.05 | {ms(c[test]['fraction_q_le_0.05'] for c in cal)} |")
        lines.append("")
    for name, s in res.get("real", {}).items():
        lines += [f"### real chr21 40 kb: {name}", "",
                  f"tested {s['n_tested']} bins; q ≤ 0.05: embedding {s['significant']['embedding']} "
                  f"({s['fraction_significant_embedding']:.1%}), E1 {s['significant']['E1']} "
                  f"({s['fraction_significant_E1']:.1%}); calls {s['calls']}", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--no-real", action="store_true")
    p.add_argument("--fresh", action="store_true", help="re-run the pipelines")
    args = p.parse_args(argv)
    common.setup_logging(quiet=True)
    res: dict = {"sim": {}, "real": {}}
    for cfg in args.configs:
        for seed in args.seeds:
            base = pipeline(WORK / f"{cfg}_s{seed}", [*(["--sim-args", " ".join(CONFIGS[cfg])] if CONFIGS[cfg] else []),
                                                       "--seed", str(seed)], fresh=args.fresh)
            res["sim"].setdefault(cfg, []).append({"seed": seed, "detection": detection(base, f"{cfg}_s{seed}"),
                                                   "calibration": calibration(base, seed=seed)})
    if not args.no_real and REAL.is_dir():
        res["real"] = real_runs(fresh=args.fresh)
    common.write_json(WORK / "results.json", res)
    sys.stdout.write(markdown(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
