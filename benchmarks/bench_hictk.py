"""Should hictkpy replace cooler's pixel selector for .mcool reads?  Same-run timings + identity.

    python benchmarks/bench_hictk.py                       # real chr21 maps + a simulated full chr21
    python benchmarks/bench_hictk.py --sim /tmp/simfull    # reuse a simulate_data.py folder

For each cooler: the raw upper-triangle pixels of one chromosome read by
``cooler.Cooler.matrix(balance=False, as_pixels=True).fetch`` (what ``hicio`` used
before) and by ``hictkpy.File.fetch(...).to_coo()`` (what ``hicio._pixels`` uses
now), median of ``--repeat`` calls each (file opened once, outside the timing, as
``hicio`` caches the handle), and whether both give the same (i, j, count) arrays.
Also: the same contacts written to a ``.hic`` with ``hictkpy.hic.FileWriter`` and
read back through ``hicio.read_cis`` (raw counts), compared with the .mcool's.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import benchlib  # noqa: E402
import hicio  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real" / "11_GM12878_IMR90_chr21_40kb_hg19_Rao2014"


def compare_reads(uri: str, chrom: str, *, repeat: int) -> dict:
    """Median time of cooler's selector vs hictkpy's ``to_coo`` on one chromosome, and identity."""
    import cooler
    import hictkpy

    clr = cooler.Cooler(uri)
    hf = hictkpy.File(uri)
    lo = clr.extent(chrom)[0]

    def by_cooler():
        px = clr.matrix(balance=False, as_pixels=True, join=False).fetch(chrom)
        return (px["bin1_id"].to_numpy(np.int64) - lo, px["bin2_id"].to_numpy(np.int64) - lo,
                px["count"].to_numpy(float))

    def by_hictk():
        m = hf.fetch(chrom, count_type="float").to_coo()
        return m.row.astype(np.int64), m.col.astype(np.int64), m.data

    t_c, a = benchlib.time_call(by_cooler, repeat=repeat)
    t_h, b = benchlib.time_call(by_hictk, repeat=repeat)
    same = all(np.array_equal(x, y) for x, y in zip(a, b))
    return {"uri": uri, "chrom": chrom, "pixels": len(a[0]), "cooler_s": t_c["s"], "hictk_s": t_h["s"],
            "speedup": t_c["s"] / t_h["s"], "identical": bool(same)}


def hic_roundtrip(uri: str, chrom: str, work: Path) -> dict:
    """The cooler's contacts written as .hic; ``hicio.read_cis`` on both, raw counts."""
    import cooler

    clr = cooler.Cooler(uri)
    out = hicio.write_hic(clr, work / (Path(uri.split("::")[0]).stem + f"_{clr.binsize}.hic"))
    a = hicio.read_cis(hicio.open_cooler(uri), chrom, weight_name=None)
    b = hicio.read_cis(hicio.open_cooler(str(out), res=int(clr.binsize)), chrom, weight_name=None)
    same = all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("start", "end", "i", "j", "count"))
    return {"hic": str(out), "identical_raw": bool(same)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sim", type=Path, help="simulate_data.py output folder (default: simulate full chr21)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    work = ROOT / "benchmarks" / "_work" / "hictk"
    work.mkdir(parents=True, exist_ok=True)
    sim = args.sim
    if sim is None:
        sim = work / "sim"
        if not (sim / "GM12878.mcool").exists():
            subprocess.run([sys.executable, str(ROOT / "scripts" / "simulate_data.py"), "--out", str(sim), "-q"],
                           check=True)
    uris = [(f"{sim}/GM12878.mcool::resolutions/25000", "chr21")]
    if REAL.is_dir():
        uris += [(f"{REAL}/{c}.mcool::resolutions/40000", "chr21") for c in ("GM12878", "IMR90")]
    print("| cooler | pixels | cooler selector | hictkpy to_coo | speed-up | identical | .hic round trip identical |")
    print("|---|---|---|---|---|---|---|")
    for uri, chrom in uris:
        r = compare_reads(uri, chrom, repeat=args.repeat)
        h = hic_roundtrip(uri, chrom, work)
        print(f"| {Path(uri.split('::')[0]).name}::{uri.split('::')[1]} {chrom} | {r['pixels']:,} | "
              f"{benchlib.ms(r['cooler_s'])} | {benchlib.ms(r['hictk_s'])} | {r['speedup']:.2f}x | "
              f"{r['identical']} | {h['identical_raw']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
