"""Compartments on the real Rao 2014 chr21 maps: orientation by each mark, agreement with Rao's A/B,
and the gap to cooltools ``eigs_cis``.

    python benchmarks/bench_orient_real.py            # prints markdown tables; JSON to benchmarks/_work/orient_real.json

Reads ../shared/data/real/11_GM12878_IMR90_chr21_40kb_hg19_Rao2014 (GM12878, GM12878_rep2, IMR90 at
40 kb) and 03_IMR90_MSC_chr21_40kb_hg19_DIADEM. cooltools comes from benchmarks/_work/site (see
benchmarks/README.md); without it the cooltools columns say "not installed".

* Orientation: E1 (default command: Pearson, per arm) oriented by each single mark with its sign
  from ``orientation.known_sign`` (``--orient-sign auto``), by every mark at once (``--orient-pick
  best``, what ``run_pipeline.sh`` does) and by GC / TSS density: the share of bins whose A/B call
  agrees with Rao's A (A1/A2) / B (B1-B3) (GM12878, 50 kb rows mapped to 40 kb bins by >= 50 %
  overlap) or SNIPER's predicted IMR90 A/B.
* cooltools: sign agreement and r of our E1 with ``eigs_cis`` (same arms, same GC phasing
  track), for our defaults and variants (``--method cooltools``, ``--ignore-diags``,
  ``--clip-percentile 100``, ``--no-arms``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import compute_compartments as cc  # noqa: E402
import hicio  # noqa: E402
import orientation  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"
D11 = REAL / "11_GM12878_IMR90_chr21_40kb_hg19_Rao2014"
D03 = REAL / "03_IMR90_MSC_chr21_40kb_hg19_DIADEM"
MARKS = ("H3K27ac", "H3K4me3", "H3K36me3", "H3K4me1", "H3K4me2", "H3K9ac", "H3K79me2", "H2AFZ",
         "H4K20me1", "H3K27me3", "H3K9me3")
CHROM = "chr21"
RES = 40000


def label_ab(bed: Path, bins: pd.DataFrame) -> np.ndarray:
    """'A'/'B'/'' per bin: the class (A1/A2 = A, B* = B) covering >= half of the bin."""
    lab = pd.read_csv(bed, sep="\t", header=None, names=["chrom", "start", "end", "label"])
    lab = lab[lab["chrom"] == CHROM]
    out = np.full(len(bins), "", dtype=object)
    s, e = bins["start"].to_numpy(), bins["end"].to_numpy()
    for cls in ("A", "B"):
        rows = lab[lab["label"].astype(str).str.startswith(cls)]
        cov = np.zeros(len(bins))
        for a, b in zip(rows["start"].to_numpy(), rows["end"].to_numpy()):  # a few hundred rows
            cov += np.clip(np.minimum(e, b) - np.maximum(s, a), 0, None)
        out[cov >= 0.5 * (e - s)] = cls
    return out


def agreement(calls: np.ndarray, truth: np.ndarray) -> tuple[float, int]:
    ok = (truth != "") & np.isin(calls, ["A", "B"])
    return float((calls[ok] == truth[ok]).mean()), int(ok.sum())


def call(clr, tracks=None, *, pick="best", arms=True, **kw) -> pd.DataFrame:
    block = hicio.read_cis(clr, CHROM)
    cen = cc.chrom_centromeres({c: int(n) for c, n in clr.chromsizes.items()}, [CHROM],
                               assembly="auto" if arms else "none")[CHROM]
    table, _ = cc.call_compartments(block, tracks, orient_pick=pick,
                                    regions=cc.arm_regions(CHROM, block.start, centromere=cen), **kw)
    return table


def track_set(paths: dict[str, Path], bins: pd.DataFrame) -> orientation.Tracks:
    names = list(paths)
    vals = hicio.read_tracks(list(paths.values()), bins, chromsizes={CHROM: 48129895})
    return orientation.Tracks(vals, names, orientation.resolve_signs(names, ["auto"]))


def orientation_rows(cells: dict[str, Path]) -> tuple[list, dict]:
    rows, raw = [], {}
    for cell, mcool in cells.items():
        clr = hicio.open_cooler(str(mcool), res=RES)
        bins = hicio.bin_table(clr, [CHROM])
        mark_cell = "GM12878" if cell.startswith("GM12878") else cell
        truth = label_ab(D11 / ("GM12878_Rao2014_subcompartments_hg19.bed" if mark_cell == "GM12878"
                                else "IMR90_SNIPER_predicted_subcompartments_hg19.bed"), bins)
        ref = "Rao 2014 A/B" if mark_cell == "GM12878" else "SNIPER A/B (predicted)"
        marks = {m: D11 / f"{mark_cell}_{m}.bw" for m in MARKS}
        annot = {"GC": D11 / "hg19_GC_10kb.bw", "TSS": D11 / "hg19_TSS_density_40kb.bw"}
        allt = track_set({**marks, **annot}, bins)
        raw[cell] = {}
        for k, name in enumerate(allt.names):
            sign = allt.signs[k] or -1  # H3K27me3 (no auto sign): its textbook sign, -1
            one = orientation.Tracks(allt.values[:, [k]], [name], [sign])
            a, n = agreement(call(clr, one)["compartment"].to_numpy(), truth)
            raw[cell][name] = a
            rows.append([cell, ref, f"{name} ({'+1' if sign > 0 else '-1'}{', explicit' if not allt.signs[k] else ''})",
                         f"{a:.1%}", n])
        marks_only = track_set(marks, bins)
        for label, t in (("all 11 marks, pick best (run_pipeline.sh)", marks_only),
                         ("all 11 marks reversed, pick best", orientation.Tracks(
                             marks_only.values[:, ::-1], marks_only.names[::-1], marks_only.signs[::-1])),
                         ("marks + GC + TSS, pick best", allt)):
            a, n = agreement(call(clr, t)["compartment"].to_numpy(), truth)
            raw[cell][label] = a
            rows.append([cell, ref, label, f"{a:.1%}", n])
        # the seed's behaviour: oriented by the first of --marks as if +1 (e.g. --marks H3K9me3 ...)
        seed = orientation.Tracks(allt.values[:, [allt.names.index("H3K9me3")]], ["H3K9me3"], [1])
        a, n = agreement(call(clr, seed)["compartment"].to_numpy(), truth)
        raw[cell]["H3K9me3 as +1 (seed: first mark)"] = a
        rows.append([cell, ref, "H3K9me3 taken as +1 (the seed's `--marks H3K9me3 ...`)", f"{a:.1%}", n])
    return rows, raw


def cooltools_rows(coolers: dict[str, str]) -> tuple[list, dict]:
    import benchlib

    eig = benchlib.use_cooltools(install=False)
    variants = [("default (pearson, ignore-diags 2, clip 99.9, arms)", {}),
                ("--method cooltools", {"method": "cooltools"}),
                ("--method cooltools --clip-percentile 100", {"method": "cooltools", "clip_percentile": 100}),
                ("pearson --clip-percentile 100", {"clip_percentile": 100}),
                ("pearson --ignore-diags 1", {"ignore_diags": 1}),
                ("pearson --ignore-diags 3", {"ignore_diags": 3}),
                ("pearson --no-arms", {"arms": False})]
    rows, raw = [], {}
    for cell, uri in coolers.items():
        clr = hicio.open_cooler(uri, res=RES)
        bins = hicio.bin_table(clr, [CHROM])
        gc = hicio.read_tracks([D11 / "hg19_GC_10kb.bw"], bins)[:, 0]
        t = orientation.Tracks(gc, ["GC"], [1])
        if eig is None:
            rows.append([cell, "cooltools not installed", "", "", ""])
            continue
        import cooler

        ccl = cooler.Cooler(uri)
        sizes = {c: int(n) for c, n in clr.chromsizes.items()}
        cen = cc.chrom_centromeres(sizes, [CHROM], assembly="auto")[CHROM]
        regions = cc.arm_regions(CHROM, bins["start"].to_numpy(), centromere=cen)
        view = pd.DataFrame([(CHROM, int(bins["start"].iat[lo]), int(bins["end"].iat[hi - 1]), name)
                             for name, lo, hi in regions if np.isfinite(gc[lo:hi]).any()],
                            columns=["chrom", "start", "end", "name"])
        _, vecs = eig.eigs_cis(ccl, phasing_track=bins.assign(value=gc), view_df=view, n_eigs=3)
        theirs = bins[["start"]].merge(vecs[["start", "E1"]], on="start", how="left")["E1"].to_numpy()
        raw[cell] = {}
        for label, kw in variants:
            ours = call(clr, t, **kw)["E1"].to_numpy()
            ok = np.isfinite(ours) & np.isfinite(theirs)
            sign = float((np.sign(ours[ok]) == np.sign(theirs[ok])).mean())
            r = float(np.corrcoef(ours[ok], theirs[ok])[0, 1])
            raw[cell][label] = {"sign_agreement": sign, "r": r, "n": int(ok.sum())}
            rows.append([cell, label, f"{sign:.1%}", f"{r:.3f}", int(ok.sum())])
    return rows, raw


def md(head, rows) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                      *("| " + " | ".join(map(str, r)) + " |" for r in rows)])


def main() -> int:
    import logging

    logging.getLogger("hictkpy").setLevel(logging.WARNING)
    if not D11.is_dir():
        print("real folder 11 absent; nothing to do")
        return 0
    cells = {c: D11 / f"{c}.mcool" for c in ("GM12878", "GM12878_rep2", "IMR90")}
    orows, oraw = orientation_rows(cells)
    print("## A/B agreement with the reference by orientation track (default command, 40 kb, per arm)\n")
    print(md(["Map", "Reference", "Oriented by (sign)", "Agreement", "Bins"], orows))
    coolers = {c: f"{D11}/{c}.mcool::resolutions/{RES}" for c in cells}
    if D03.is_dir():
        coolers.update({f"{c} (DIADEM set)": str(D03 / f"{c}_chr21_40kb_raw.cool") for c in ("IMR90", "MSC")})
    crows, craw = cooltools_rows(coolers)
    print("\n## E1 vs cooltools 0.7.1 `eigs_cis` (same arms, GC phasing), bins called by both\n")
    print(md(["Map", "Our command", "Sign agreement", "r", "Bins"], crows))
    out = ROOT / "benchmarks" / "_work" / "orient_real.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"orientation": oraw, "cooltools": craw}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
