"""Timings for build_graph / compute_compartments and the bigWig binning, plus A/B accuracy.

    python benchmarks/bench_io.py --data /tmp/simfull        # simulate_data.py output (full chr21)
    python benchmarks/bench_io.py --data /tmp/simfull --real ../shared/data/real

Prints one line per measurement. Every number comes from a function that returns it,
so the benchmark suite can import and reuse them.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import build_graph  # noqa: E402
import compute_compartments  # noqa: E402
import hicio  # noqa: E402


def warm_imports() -> None:
    """Import what the steps import lazily, so timings exclude imports."""
    import matplotlib.pyplot  # noqa: F401
    import scipy.signal  # noqa: F401
    import scipy.sparse.linalg  # noqa: F401
    import torch  # noqa: F401
    import torch_geometric.data  # noqa: F401


def time_main(main, argv: list[str], *, repeat: int = 3) -> float:
    """Best wall time (s) of ``main(argv)`` in this process, quietly; raises if it fails."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()) as err:
            rc = main([*argv, "-q"])
        best = min(best, time.perf_counter() - t0)
        if rc != 0:
            raise RuntimeError(err.getvalue())
    return best


def step_timings(data: Path, out: Path, *, cell: str = "GM12878", chrom: str = "chr21",
                 res: int = 25000) -> dict[str, float]:
    """Seconds for the seed's build_graph and compute_compartments commands (after imports)."""
    warm_imports()
    common = ["--mcool", str(data / f"{cell}.mcool"), "--chrom", chrom, "--res", str(res)]
    return {
        "build_graph_s": time_main(build_graph.main, [
            *common, "--bigwigs", str(data / f"{cell}_CTCF.bw"), str(data / f"{cell}_H3K27me3.bw"),
            "--out", str(out / f"{cell}_{chrom}.pt")]),
        "compute_compartments_s": time_main(compute_compartments.main, [
            *common, "--bigwig_orient", str(data / f"{cell}_CTCF.bw"),
            "--out", str(out / f"compartments_{chrom}.csv")]),
    }


#: The real-data folder with DIADEM's published PC1 (IMR90, MSC; chr21 at 40 kb, hg19).
DIADEM = "03_IMR90_MSC_chr21_40kb_hg19_DIADEM"


def binning_speedup(bigwig: Path, mcool: Path, *, chrom: str = "chr21", res: int = 25000) -> dict[str, float]:
    """Vectorised :func:`hicio.bin_track` against a per-bin ``bw.stats(exact=True)`` loop, same run
    (:func:`bench_naive.bigwig_pair`, best of 3)."""
    from bench_naive import bigwig_pair

    clr = hicio.open_cooler(str(mcool), res=res)
    bins = clr.bins()[["start", "end"]].fetch(chrom)
    start, end = bins["start"].to_numpy(), bins["end"].to_numpy()
    with hicio.open_bigwig(bigwig) as bw:
        pair, _ = bigwig_pair(bw, chrom, start, end, repeat=3, warmup=0)
    t_fast, t_slow = pair["fast"]["min"], pair["slow"]["min"]
    return {"bins": len(start), "vectorised_s": t_fast, "loop_s": t_slow, "speedup": t_slow / t_fast}


def planted_agreement(data: Path, out: Path, *, cells=("GM12878", "IMR90"), chrom: str = "chr21",
                      res: int = 25000) -> dict[str, float]:
    """Fraction of truth-unmasked bins whose A/B call matches ``truth.tsv``."""
    truth = pd.read_csv(data / "truth.tsv", sep="\t")
    result = {}
    for cell in cells:
        csv = out / f"{cell}_agreement.csv"
        compute_compartments.main(["--mcool", str(data / f"{cell}.mcool"), "--chrom", chrom, "--res", str(res),
                                   "--bigwig_orient", str(data / f"{cell}_CTCF.bw"), "--out", str(csv), "-q"])
        result[cell] = agreement(pd.read_csv(csv)["compartment"], truth[f"compartment_{cell}"])
    return result


def agreement(calls: pd.Series, truth: pd.Series) -> float:
    """Share of the bins the truth calls A or B whose call matches (a bin called N counts as wrong)."""
    calls, truth = calls.to_numpy(), truth.to_numpy()
    used = truth != "N"
    return float((calls[used] == truth[used]).mean())


def published_pc1_r(real: Path, out: Path) -> dict[str, float]:
    """|r| between our E1 and DIADEM's published PC1 (IMR90, MSC; chr21 at 40 kb, hg19)."""
    from bench_naive import e1_agreement

    d = real / DIADEM
    ref = pd.read_csv(d / "DIADEM_precomputed_PC1_chr21_40kb.tsv", sep="\t")
    result = {}
    for cell in ("IMR90", "MSC"):
        for method in compute_compartments.METHODS:
            csv = out / f"{cell}_{method}.csv"
            compute_compartments.main(["--mcool", str(d / f"{cell}_chr21_40kb_raw.cool"), "--chrom", "chr21",
                                       "--res", "40000", "--method", method, "--out", str(csv), "-q"])
            r = e1_agreement(pd.read_csv(csv)["E1"].to_numpy(), ref[f"PC1_{cell}_DIADEM"].to_numpy())["r"]
            result[f"{cell}_{method}"] = abs(r)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="simulate_data.py output folder")
    p.add_argument("--real", type=Path, help="../shared/data/real (optional)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for k, v in step_timings(args.data, out).items():
            print(f"{k:28s} {v:8.3f}")
        b = binning_speedup(args.data / "GM12878_CTCF.bw", args.data / "GM12878.mcool")
        print(f"bigwig binning ({b['bins']} bins)  vectorised {b['vectorised_s'] * 1e3:.2f} ms, "
              f"per-bin loop {b['loop_s'] * 1e3:.1f} ms, speedup {b['speedup']:.0f}x")
        for cell, frac in planted_agreement(args.data, out).items():
            print(f"A/B agreement {cell:14s} {frac:8.3f}")
        if args.real:
            for key, r in published_pc1_r(args.real, out).items():
                print(f"|r| E1 vs DIADEM PC1 {key:18s} {r:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
