"""Section 2: the pipeline's vectorised code against the naive way, in the same run.

Each pair is timed back to back in this process on the default data (median of
``repeat`` calls) and shown as a ratio; the two results are checked to agree first.
cooltools (``--with-cooltools``; never a project dependency) is compared on time and E1.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchlib import (Config, Section, default_data, log, ms, num, plural, ratio, speedup_row, time_call,
                      use_cooltools)  # first: puts scripts/ on sys.path

import compute_compartments as cc  # noqa: E402
import hicio  # noqa: E402
from compare_embeddings import bin_distances  # noqa: E402

CHROM = "chr21"
RES = 25_000


def bigwig_loop(bw, chrom: str, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The naive binning: one ``bw.stats(exact=True)`` call per bin."""
    return np.array([bw.stats(chrom, int(s), int(e), exact=True)[0] for s, e in zip(start, end)],
                    dtype=float)


def bigwig_pair(bw, chrom: str, start: np.ndarray, end: np.ndarray, *, repeat: int,
                warmup: int = 1) -> tuple[dict, np.ndarray]:
    """:func:`hicio.bin_track` and :func:`bigwig_loop` on the same bins, timed back to back
    (:func:`benchlib.time_call`): both timings and the route ``auto`` took, and the track
    (checked equal to the loop's)."""
    fast, track = time_call(lambda: hicio.bin_track(bw, chrom, start, end), repeat=repeat, warmup=warmup)
    slow, loop = time_call(lambda: bigwig_loop(bw, chrom, start, end), repeat=repeat, warmup=warmup)
    assert np.allclose(track, loop, equal_nan=True), "bin_track and the bw.stats loop disagree"
    return {"fast": fast, "slow": slow, "route": hicio._binning_method(bw, chrom, start, end)}, track


def real_bigwigs(cfg: Config, repeat: int) -> dict:
    """The same pair on a real base-pair-resolution ChIP-seq track (plotgardenerData, IMR90 CTCF,
    chr21 28.0-30.3 Mb, hg19) at 1, 10 and 25 kb bins over the whole chromosome: where pyBigWig's
    own ``stats`` is already fast, ``bin_track`` uses it, so the honest ratio there is ~1."""
    path = cfg.real / "01_GM12878_IMR90_chr21_28-30Mb_10kb_hg19_plotgardenerData" / \
        "IMR90_CTCF_chr21_28.0-30.3Mb_hg19.bw"
    if not path.is_file():
        return {"skipped": f"{path} absent"}
    out: dict = {"rows": []}
    with hicio.open_bigwig(path) as bw:
        length = int(bw.chroms()["chr21"])
        n_iv = len(bw.intervals("chr21") or ())
        for res in (1_000, 10_000, 25_000):
            start = np.arange(0, length, res)
            end = np.minimum(start + res, length)
            out[res] = pair = bigwig_pair(bw, "chr21", start, end, repeat=repeat)[0]
            out["rows"].append(speedup_row(
                f"bigWig, real IMR90 CTCF track ({n_iv:,} intervals), {res // 1000} kb bins: "
                f"`bin_track` (auto → `{pair['route']}`) vs per-bin `bw.stats`", pair["fast"], pair["slow"],
                f"{len(start):,} bins"))
    return out


def dense_pixels(clr, chrom: str, *, weight_name: str = "weight") -> pd.DataFrame:
    """The naive pixel read: fetch the dense matrix, keep its upper-triangle non-zeros and
    join the balancing weights of both bins with pandas."""
    lo = clr.extent(chrom)[0]
    m = clr.matrix(balance=False).fetch(chrom)
    i, j = np.nonzero(np.triu(m))
    pix = pd.DataFrame({"bin1_id": i + lo, "bin2_id": j + lo, "count": m[i, j]})
    w = clr.bins()[[weight_name]].fetch(chrom)[weight_name]
    pix = pix.join(w.rename("w1"), on="bin1_id").join(w.rename("w2"), on="bin2_id")
    pix["balanced"] = pix["count"] * pix["w1"] * pix["w2"]
    return pix


def distance_loop(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """The naive per-bin distances: scipy's cosine, euclidean and cityblock, row by row."""
    from scipy.spatial import distance

    rows = [(distance.cosine(x, y), distance.euclidean(x, y), distance.cityblock(x, y)) for x, y in zip(a, b)]
    return pd.DataFrame(rows, columns=["cosine", "l2", "l1"])


def e1_agreement(ours: np.ndarray, theirs: np.ndarray) -> dict:
    """Pearson r and sign agreement of two E1 tracks on the bins both call."""
    ok = np.isfinite(ours) & np.isfinite(theirs)
    return {"n": int(ok.sum()), "r": float(np.corrcoef(ours[ok], theirs[ok])[0, 1]),
            "sign_agreement": float((np.sign(ours[ok]) == np.sign(theirs[ok])).mean())}


def cooltools_vs_ours(eig, clr, track: np.ndarray, *, repeat: int) -> dict:
    """Our compartment step (read + call, both methods) against ``eigs_cis`` on the same
    cooler, regions (arms with data) and phasing track."""
    bins = clr.bins()[["chrom", "start", "end"]].fetch(CHROM).reset_index(drop=True)
    sizes = {c: int(n) for c, n in clr.chromsizes.items()}
    regions = cc.arm_regions(CHROM, bins["start"].to_numpy(),
                             centromere=cc.chrom_centromeres(sizes, [CHROM], assembly="auto")[CHROM])
    # cooltools refuses a region without phasing values (the unmappable p-arm); ours masks it.
    view = pd.DataFrame([(CHROM, int(bins["start"].iat[lo]), int(bins["end"].iat[hi - 1]), name)
                         for name, lo, hi in regions if np.isfinite(track[lo:hi]).any()],
                        columns=["chrom", "start", "end", "name"])
    phasing = bins.assign(value=track)
    out = {}
    for method in cc.METHODS:
        t, (table, _) = time_call(lambda: cc.call_compartments(hicio.read_cis(clr, CHROM), track,
                                                               regions=regions, method=method), repeat=repeat)
        out[method] = {"time": t, "E1": table["E1"].to_numpy()}
    t, (_, vecs) = time_call(lambda: eig.eigs_cis(clr, phasing_track=phasing, view_df=view, n_eigs=3),
                             repeat=repeat)
    theirs = bins[["start"]].merge(vecs[["start", "E1"]], on="start", how="left")["E1"].to_numpy()
    out["cooltools_time"] = t
    for method in cc.METHODS:
        out[method].update(e1_agreement(out[method].pop("E1"), theirs))
    return out


def section(cfg: Config) -> Section:
    sec = Section("naive", "2. Against naive approaches (same run, ratios)")
    data = default_data(cfg)
    rep = cfg.repeat
    clr = hicio.open_cooler(str(data / "GM12878.mcool"), res=RES)
    bins = clr.bins()[["start", "end"]].fetch(CHROM)
    start, end = bins["start"].to_numpy(), bins["end"].to_numpy()
    n = f"{len(start):,} bins"
    rows, head, res = [], [], {}

    log.info("naive: bigWig binning")
    with hicio.open_bigwig(data / "GM12878_CTCF.bw") as bw:
        pair, track = bigwig_pair(bw, CHROM, start, end, repeat=rep)
    res["bigwig"] = pair
    rows.append(speedup_row(f"bigWig mean per bin: `hicio.bin_track` (auto → `{pair['route']}`) vs per-bin "
                            "`bw.stats(exact=True)`", pair["fast"], pair["slow"], n))
    res["bigwig_real"] = real_bigwigs(cfg, rep)
    rows += res["bigwig_real"].pop("rows", [])

    log.info("naive: pixel reading")
    fast, block = time_call(lambda: hicio.read_cis(clr, CHROM), repeat=rep)
    slow, pix = time_call(lambda: dense_pixels(clr, CHROM), repeat=rep)
    assert len(pix) == len(block.count) and np.isclose(np.nansum(pix["balanced"]), np.nansum(block.value))
    rows.append(speedup_row("Pixels + balancing: `hicio.read_cis` (cooler selector) vs dense fetch + "
                            "pandas join", fast, slow, f"{len(pix):,} pixels"))
    res["pixels"] = {"fast": fast, "slow": slow}

    log.info("naive: per-bin distances")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, len(start), 32))
    fast, d = time_call(lambda: bin_distances(a, b), repeat=rep)
    slow, d_loop = time_call(lambda: distance_loop(a, b), repeat=rep)
    assert np.allclose(d.to_numpy(), d_loop.to_numpy())
    rows.append(speedup_row("Per-bin cosine/L2/L1: `compare_embeddings.bin_distances` vs scipy per-row loop",
                            fast, slow, f"{n} × 32"))
    res["distances"] = {"fast": fast, "slow": slow}

    eig = use_cooltools(install=cfg.with_cooltools)
    if eig is None:
        rows.append(["Compartments: ours vs `cooltools.api.eigdecomp.eigs_cis`", n,
                     "cooltools not installed", "(run with --with-cooltools)", "n/a"])
        head.append(["Compartments vs cooltools `eigs_cis`", "cooltools not installed", ""])
    else:
        log.info("naive: compartments vs cooltools")
        ct = cooltools_vs_ours(eig, clr, track, repeat=rep)
        ours = ct["pearson"]["time"]
        rows.append(["Compartments (read + E1–E3): ours (`pearson`) vs `cooltools` `eigs_cis`", n,
                     ms(ours["s"]), ms(ct["cooltools_time"]["s"]),
                     ratio(ct["cooltools_time"]["s"] / ours["s"])])
        res["cooltools"] = ct
        agree = [[f"ours `--method {m}`", ct[m]["n"], num(ct[m]["r"], ".4f"), f"{ct[m]['sign_agreement']:.2%}",
                  ms(ct[m]["time"]["s"])] for m in ("pearson", "cooltools")]
        head.append(["E1 vs cooltools `eigs_cis` (r, sign agreement)",
                     f"r {ct['pearson']['r']:.3f}, signs {ct['pearson']['sign_agreement']:.1%}",
                     "target ≥ 95% signs; `--method cooltools`: "
                     f"r {ct['cooltools']['r']:.4f}, signs {ct['cooltools']['sign_agreement']:.1%}"])
    sec.add(f"GM12878 of the default data ({CHROM}, 25 kb) unless stated. Median of {plural(rep, 'call')} "
            "each, in this process, after the same inputs were opened and one untimed warm-up call "
            "of each (as `timeit`: the garbage collector paused while timing); each pair's results "
            "were checked to be equal first. Ratio = naive time / ours (for cooltools: its time / ours). "
            "The first, cold `bin_track` call on the default track took "
            f"{ms(res['bigwig']['fast']['first'])} (it reads the bigWig's index) against "
            f"{ms(res['bigwig']['slow']['first'])} for the loop's first call (index already read).")
    sec.table(["Task", "Size", "Ours", "Naive / other", "Ratio"], rows)
    if eig is not None:
        sec.add("E1 of our compartment step against cooltools 0.7.1 `eigs_cis` on the same cooler, the same "
                "arms (those with phasing data) and the same CTCF phasing track (bins called by both):")
        sec.table(["Our method", "Bins", "Pearson r", "Sign agreement", "Our time"], agree)
    sec.headline = [[f"Speed-up: {r[0].split(':')[0]}", r[4], f"ours {r[2]} vs {r[3]}"] for r in rows
                    if r[4] != "n/a"] + head
    sec.data = res
    return sec
