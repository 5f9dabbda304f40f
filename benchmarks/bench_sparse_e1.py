#!/usr/bin/env python
"""Compartments at 10 kb without a dense matrix: our sparse E1 against cooltools ``eigs_cis``.

On a simulated chr1 at 10 kb (``simulate_data.py --chrom chr1 --res 10000 --zoom
--difficulty easy``: 24,896 bins, arms of ~12,000), each solver runs in its own child
process (under ``benchmarks/rusage.py``, so its peak RSS is its own), on the same cooler,
the same arms and the same orientation track (the simulated CTCF bigWig):

* ``ours-cooltools``: ``compute_compartments.call_compartments(method="cooltools")``,
  eigenvectors of O/E - 1 (what ``eigs_cis`` decomposes) by ARPACK on an implicit
  operator over the sparse O/E pixels (never a dense matrix);
* ``ours-pearson``: the pipeline's default, eigenvectors of the Pearson correlation of
  the O/E rows, also implicit (the correlation matrix is never formed);
* ``eigs_cis``: cooltools 0.7.1 (installed into ``benchmarks/_work/site`` only), which
  fetches each arm as a dense matrix.

Reported: the solve time measured inside each child (reading included on both sides),
the child's CPU time (user + system: far less inflated than wall time on a shared, loaded
machine) and peak RSS, and E1's Pearson r and sign agreement against ``eigs_cis``.
Target: r >= 0.99 at no more than cooltools' time.

    python benchmarks/bench_sparse_e1.py [--res 10000] [--chrom chr1] [--install]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchlib import (BENCH, Config, Section, log, mb, md_table, ms, num, ratio, run_measured, simulate,
                      use_cooltools)  # first: puts scripts/ on sys.path

import compute_compartments as cc  # noqa: E402
import hicio  # noqa: E402

SOLVERS = ("ours-cooltools", "ours-pearson", "eigs_cis")


def sim_args(chrom: str, res: int) -> list[str]:
    return ["--chrom", chrom, "--res", str(res), "--zoom", "--difficulty", "easy", "--seed", "0"]


def regions_and_view(clr, chrom: str, track: np.ndarray) -> tuple[list, pd.DataFrame, pd.DataFrame]:
    """Our arm regions, and the same arms as a cooltools view (arms with a phasing value only:
    cooltools refuses a region without any; ours masks it) with the phasing track."""
    bins = clr.bins()[["chrom", "start", "end"]].fetch(chrom).reset_index(drop=True)
    sizes = {c: int(n) for c, n in clr.chromsizes.items()}
    regions = cc.arm_regions(chrom, bins["start"].to_numpy(),
                             centromere=cc.chrom_centromeres(sizes, [chrom], assembly="auto")[chrom])
    view = pd.DataFrame([(chrom, int(bins["start"].iat[lo]), int(bins["end"].iat[hi - 1]), name)
                         for name, lo, hi in regions if np.isfinite(track[lo:hi]).any()],
                        columns=["chrom", "start", "end", "name"])
    return regions, view, bins.assign(value=track)


def solve(solver: str, mcool: Path, bigwig: Path, *, chrom: str, res: int) -> tuple[np.ndarray, float]:
    """E1 of one solver on ``chrom`` and the seconds it took (reading the pixels included)."""
    clr = hicio.open_cooler(str(mcool), res=res)
    bins = clr.bins()[["start", "end"]].fetch(chrom)
    with hicio.open_bigwig(bigwig) as bw:
        track = hicio.bin_track(bw, chrom, bins["start"].to_numpy(), bins["end"].to_numpy())
    regions, view, phasing = regions_and_view(clr, chrom, track)
    if solver == "eigs_cis":
        eig = use_cooltools(install=False)
        if eig is None:
            raise SystemExit("cooltools is not installed in benchmarks/_work/site (run with --install)")
        t = time.perf_counter()
        _, vecs = eig.eigs_cis(clr, phasing_track=phasing, view_df=view, n_eigs=3)
        took = time.perf_counter() - t
        return bins[["start"]].reset_index(drop=True).merge(vecs[["start", "E1"]], on="start",
                                                             how="left")["E1"].to_numpy(), took
    t = time.perf_counter()
    table, _ = cc.call_compartments(hicio.read_cis(clr, chrom), track, regions=regions,
                                    method=solver.split("-")[1])
    return table["E1"].to_numpy(), time.perf_counter() - t


def agreement(ours: np.ndarray, theirs: np.ndarray) -> dict:
    """Pearson r and sign agreement of two E1 tracks on the bins both call."""
    ok = np.isfinite(ours) & np.isfinite(theirs)
    return {"n": int(ok.sum()), "r": float(np.corrcoef(ours[ok], theirs[ok])[0, 1]),
            "sign_agreement": float((np.sign(ours[ok]) == np.sign(theirs[ok])).mean())}


def measure(work: Path, *, chrom: str = "chr1", res: int = 10_000, install: bool = False) -> dict:
    """Simulate (once), run every solver in its own child process, compare E1 with ``eigs_cis``."""
    if use_cooltools(install=install) is None:
        return {"skipped": "cooltools not installed (run with --install / --with-cooltools)"}
    data, _ = simulate(work / f"{chrom}_{res // 1000}kb", sim_args(chrom, res), log_dir=work)
    for solver in SOLVERS:
        log.info("sparse E1: %s on %s at %d bp", solver, chrom, res)
        run_measured([sys.executable, __file__, "--worker", solver, "--data", data, "--chrom", chrom,
                      "--res", res, "--e1", work / f"{solver}.npy"], log_file=work / f"{solver}.log")
    return collect(work, chrom=chrom, res=res)


def collect(work: Path, *, chrom: str, res: int) -> dict:
    """The children's records in ``work``: solve time, wall and CPU time, peak RSS, E1 agreement."""
    out: dict = {"chrom": chrom, "res": res, "solvers": {}}
    e1 = {}
    for solver in SOLVERS:
        rec = json.loads((work / f"{solver}.log.rusage.json").read_text())
        out["solvers"][solver] = {"solve_s": json.loads((work / f"{solver}.json").read_text())["solve_s"],
                                  "wall_s": rec["wall_s"], "cpu_s": rec["user_s"] + rec["sys_s"],
                                  "peak_rss_mb": rec["peak_rss_mb"]}
        e1[solver] = np.load(work / f"{solver}.npy")
    out["n_bins"] = len(e1["eigs_cis"])
    for s in SOLVERS:
        out["solvers"][s]["agreement"] = agreement(e1[s], e1["eigs_cis"]) if s != "eigs_cis" else None
    return out


def table(res: dict) -> str:
    ct = res["solvers"]["eigs_cis"]
    rows = []
    for s, r in res["solvers"].items():
        a = r["agreement"]
        rows.append([f"`{s}`", ms(r["solve_s"]), ratio(ct["solve_s"] / r["solve_s"]) if a else "",
                     ms(r["cpu_s"]), ratio(ct["cpu_s"] / r["cpu_s"]) if a else "", mb(r["peak_rss_mb"]),
                     num(a["r"], ".4f") if a else "", f"{a['sign_agreement']:.2%}" if a else ""])
    return md_table(["Solver", "E1 wall (read + solve)", "cooltools / ours", "Child CPU (user + sys)",
                     "cooltools / ours", "Peak RSS MB", "E1 r vs eigs_cis", "Sign agreement"], rows)


def section(cfg: Config) -> Section:
    sec = Section("sparse_e1", "9. Compartments at 10 kb without a dense matrix (chr1, vs cooltools)")
    res = measure(cfg.dir("sparse_e1"), install=cfg.with_cooltools)
    if "skipped" in res:
        sec.add(res["skipped"])
        sec.headline.append(["Sparse E1 vs cooltools `eigs_cis` at chr1 10 kb", "n/a", res["skipped"]])
        return sec
    sec.add(f"Simulated {res['chrom']} at {res['res'] // 1000} kb ({res['n_bins']:,} bins; "
            f"`simulate_data.py {' '.join(sim_args(res['chrom'], res['res']))}`), by arm, oriented by the "
            "simulated CTCF track; each solver in its own child process (one run each).", table(res))
    ours, ct = res["solvers"]["ours-cooltools"], res["solvers"]["eigs_cis"]
    sec.headline.append(["Sparse E1 (`--method cooltools`) vs cooltools `eigs_cis`, chr1 10 kb",
                         f"r = {ours['agreement']['r']:.4f}; cooltools/ours wall {ratio(ct['solve_s'] / ours['solve_s'])}, "
                         f"CPU {ratio(ct['cpu_s'] / ours['cpu_s'])}; peak RSS {mb(ours['peak_rss_mb'])} vs "
                         f"{mb(ct['peak_rss_mb'])} MB",
                         "target r ≥ 0.99 at no more than cooltools' time"])
    sec.data = res
    return sec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chrom", default="chr1")
    p.add_argument("--res", type=int, default=10_000)
    p.add_argument("--install", action="store_true", help="pip-install cooltools into benchmarks/_work/site")
    p.add_argument("--work", type=Path, default=BENCH / "_work" / "sparse_e1")
    p.add_argument("--worker", choices=SOLVERS, help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--e1", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--collect", action="store_true", help="only tabulate the records already in --work")
    args = p.parse_args(argv)
    if args.worker:  # one solver, in this child process
        e1, took = solve(args.worker, args.data / "GM12878.mcool", args.data / "GM12878_CTCF.bw",
                         chrom=args.chrom, res=args.res)
        np.save(args.e1, e1)
        args.e1.with_suffix(".json").write_text(json.dumps({"solve_s": took}))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    res = (collect(args.work, chrom=args.chrom, res=args.res) if args.collect else
           measure(args.work, chrom=args.chrom, res=args.res, install=args.install))
    print(res.get("skipped") or table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
