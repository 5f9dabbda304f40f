"""How should .mcool pixels be read?  Same-run timings + identity, and hictkpy's idle cost.

    python benchmarks/bench_hictk.py                       # real chr21 maps + a simulated full chr21
    python benchmarks/bench_hictk.py --sim /tmp/simfull    # reuse a simulate_data.py folder

For each cooler: the raw upper-triangle pixels of one chromosome read three ways,
median of ``--repeat`` calls each (file opened once, outside the timing), and
whether all give the same (i, j, count) arrays:

* ``cooler.Cooler.matrix(balance=False, as_pixels=True).fetch`` (cooler's selector);
* ``hictkpy.File.fetch(...).to_coo()`` (what ``hicio._pixels`` used until e0d61b8);
* ``hicio._pixels``: one slice of the pixel table through its ``bin1_offset`` index.

Also: the same contacts written to a ``.hic`` with ``hictkpy.hic.FileWriter`` and
read back through ``hicio.read_cis`` (raw counts), compared with the .mcool's; and
the CPU seconds a process burns while it sleeps for one second after ``import
hictkpy`` (plain, and through ``hicio.import_hictkpy``, which moves hictkpy's
spinning log thread to ``SCHED_IDLE``: the CPU is then only taken when idle, so
the figure stays, but no other work waits for it), beside a bare interpreter.
"""
from __future__ import annotations

import argparse
import os
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
    """Median times of cooler's selector, hictkpy's ``to_coo`` and ``hicio._pixels``, and identity."""
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
    t_o, c = benchlib.time_call(lambda: hicio._pixels(clr, chrom), repeat=repeat)
    same = all(np.array_equal(x, y) and np.array_equal(x, z) for x, y, z in zip(a, b, c))
    return {"uri": uri, "chrom": chrom, "pixels": len(a[0]), "cooler_s": t_c["s"], "hictk_s": t_h["s"],
            "ours_s": t_o["s"], "identical": bool(same)}


IDLE_CODE = """
import os, sys, time
sys.path.insert(0, {scripts!r})
def cpu():
    t = os.times(); return t.user + t.system
if {how!r} == "plain":
    import hictkpy
elif {how!r} == "hicio":
    import hicio; hicio.import_hictkpy()
if {busy}:
    t = time.perf_counter(); x = 0
    for i in range(20_000_000): x += i
    print(time.perf_counter() - t)
else:
    t = cpu(); time.sleep(1.0); print(cpu() - t)
"""


def idle_cpu(how: str) -> float:
    """CPU seconds a child burns in one second of ``time.sleep`` after importing hictkpy ``how``."""
    code = IDLE_CODE.format(scripts=str(ROOT / "scripts"), how=how, busy=False)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def side_by_side(how: str, n: int) -> float:
    """Slowest wall time of ``n`` children running the same pure-Python loop at once (``how`` as above).

    With ``n`` = the core count, each hictkpy process's spinning thread takes a core
    from a sibling's work, as two pipeline steps side by side did."""
    code = IDLE_CODE.format(scripts=str(ROOT / "scripts"), how=how, busy=True)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(n)]
    return max(float(p.communicate()[0].strip()) for p in procs)


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
    print("| cooler | pixels | cooler selector | hictkpy to_coo | hicio (pixel-table slice) | "
          "identical | .hic round trip identical |")
    print("|---|---|---|---|---|---|---|")
    for uri, chrom in uris:
        r = compare_reads(uri, chrom, repeat=args.repeat)
        h = hic_roundtrip(uri, chrom, work)
        print(f"| {Path(uri.split('::')[0]).name}::{uri.split('::')[1]} {chrom} | {r['pixels']:,} | "
              f"{benchlib.ms(r['cooler_s'])} | {benchlib.ms(r['hictk_s'])} | {benchlib.ms(r['ours_s'])} | "
              f"{r['identical']} | {h['identical_raw']} |")
    print()
    n = max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2)
    print(f"| process | CPU s burned in 1 s of sleep | {n} side by side: slowest loop s |")
    print("|---|---|---|")
    for how, words in (("none", "bare interpreter"), ("plain", "after `import hictkpy`"),
                       ("hicio", "after `hicio.import_hictkpy()` (log thread under SCHED_IDLE)")):
        print(f"| {words} | {idle_cpu(how):.2f} | {side_by_side(how, n):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
