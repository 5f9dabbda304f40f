"""simulate_data.py: realistic Hi-C + tracks with a known answer (issue 2), multi-chromosome mode (issue 9)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cooler
import numpy as np
import pandas as pd
import pyBigWig
import pytest

import simulate_data as sd
from conftest import assert_clean_error, run_script

CELLS = ("GM12878", "IMR90")
RES = 25_000
#: a tiny dataset for determinism and multi-chromosome checks (~0.5 s)
TINY = ("--length", "3000000", "--pericentromere-bp", "500000", "--zoom", "50000",
        "--n-b2a", "8", "--n-a2b", "6", "-q")


def simulate(out: Path, *args: str) -> Path:
    assert sd.main(["--out", str(out), *args]) == 0
    return out


def truth_of(d: Path) -> pd.DataFrame:
    return pd.read_csv(d / "truth.tsv", sep="\t")


def track_bin_means(path: Path, bins: pd.DataFrame) -> np.ndarray:
    """Mean of a bigWig's values per bin, read back from the file (NaN where no data)."""
    out = []
    with pyBigWig.open(str(path)) as bw:
        for chrom, b in bins.groupby("chrom", sort=False):
            v = bw.values(chrom, 0, int(b["end"].iat[-1]), numpy=True)
            v = np.pad(v, (0, len(b) * RES - v.size), constant_values=np.nan).reshape(len(b), RES)
            ok = np.isfinite(v)
            n = ok.sum(axis=1)
            out.append(np.where(n > 0, np.where(ok, v, 0).sum(axis=1) / np.maximum(n, 1), np.nan))
    return np.concatenate(out)


def plain_pc1(mat: np.ndarray) -> np.ndarray:
    """Reference O/E -> Pearson -> PC1 on a dense balanced matrix (NaN at masked bins)."""
    n = len(mat)
    valid = np.isfinite(mat).any(axis=0)
    a = np.where(np.isfinite(mat), mat, 0.0)
    i, j = np.indices(a.shape)
    s = np.abs(i - j)
    both = valid[:, None] & valid[None, :]
    expected = np.bincount(s[both], weights=a[both], minlength=n) / np.maximum(
        np.bincount(s[both], minlength=n), 1)
    oe = np.divide(a, expected[s], out=np.zeros_like(a), where=both & (expected[s] > 0))
    corr = np.corrcoef(oe[np.ix_(valid, valid)])
    e1 = np.full(n, np.nan)
    e1[valid] = np.linalg.eigh(corr)[1][:, -1]
    return e1


# ----------------------------------------------------------------------------
# the shared small dataset (conftest.sim_small: 12 Mb "chr21", 2 Mb unmappable)
# ----------------------------------------------------------------------------
def test_files_open_with_stated_bins_resolutions_and_weights(sim_small):
    for cell in CELLS:
        path = str(sim_small / f"{cell}.mcool")
        assert sorted(cooler.fileops.list_coolers(path)) == \
            ["/resolutions/100000", "/resolutions/25000", "/resolutions/50000"]
        for res, n in ((25_000, 480), (50_000, 240), (100_000, 120)):
            clr = cooler.Cooler(f"{path}::resolutions/{res}")
            assert clr.chromnames == ["chr21"] and clr.binsize == res and len(clr.bins()) == n
            w = clr.bins()["weight"][:].to_numpy()
            assert np.isnan(w[: 2_000_000 // res]).all()  # unmappable block stays masked
            assert np.isfinite(w).mean() > 0.7
        for mark in sd.MARKS:
            with pyBigWig.open(str(sim_small / f"{cell}_{mark}.bw")) as bw:
                assert bw.chroms() == {"chr21": 12_000_000}
                ivs = bw.intervals("chr21")
                assert ivs[0][0] >= 2_000_000 and {e - s for s, e, _ in ivs} == {1000}
    truth = truth_of(sim_small)
    assert list(truth.columns) == ["chrom", "start", "end", "compartment_GM12878",
                                   "compartment_IMR90", "tad_id"]
    assert len(truth) == 480 and (truth.loc[:79, "compartment_GM12878"] == "N").all()
    assert set(truth["compartment_IMR90"]) == {"A", "B", "N"}
    meta = json.loads((sim_small / "simulation.json").read_text())
    assert meta["seed"] == 7 and meta["summary"]["n_bins"] == 480
    assert (sim_small / "truth.tsv.provenance.json").is_file()


@pytest.mark.parametrize("cell", CELLS)
def test_plain_pc1_recovers_planted_compartments(sim_small, cell):
    clr = cooler.Cooler(f"{sim_small / cell}.mcool::resolutions/25000")
    e1 = plain_pc1(clr.matrix(balance=True)[:])
    label = truth_of(sim_small)[f"compartment_{cell}"].to_numpy()
    ok = np.isfinite(e1) & (label != "N")
    agree = np.mean((e1[ok] > 0) == (label[ok] == "A"))
    assert max(agree, 1 - agree) >= 0.9


def test_tracks_track_compartments_only_moderately(sim_small):
    truth = truth_of(sim_small)
    recorded = json.loads((sim_small / "simulation.json").read_text())["summary"]["track_truth_r"]
    for cell in CELLS:
        label = truth[f"compartment_{cell}"].to_numpy()
        sign = np.where(label == "A", 1.0, -1.0)
        for mark, direction in (("CTCF", 1), ("H3K27me3", -1)):
            mean = track_bin_means(sim_small / f"{cell}_{mark}.bw", truth)
            ok = label != "N"
            assert np.isnan(mean[~ok]).all() and np.isfinite(mean[ok]).all()
            r = np.corrcoef(mean[ok], sign[ok])[0, 1]
            assert 0.2 <= direction * r <= 0.6, (cell, mark, r)
            assert r == pytest.approx(recorded[cell][mark], abs=1e-3)


def test_ctcf_peaks_at_tad_boundaries(sim_small):
    truth = truth_of(sim_small)
    mean = track_bin_means(sim_small / "GM12878_CTCF.bw", truth)
    tad = truth["tad_id"].to_numpy()
    boundary = np.r_[False, tad[1:] != tad[:-1]] & (tad >= 0)
    inner = ~boundary & (truth["compartment_GM12878"] != "N").to_numpy()
    assert np.nanmean(mean[boundary]) > 1.5 * np.nanmean(mean[inner])


def test_planted_switches_match_the_request(sim_small):
    truth = truth_of(sim_small)
    a, b = truth["compartment_GM12878"], truth["compartment_IMR90"]
    b2a, a2b = ((a == "B") & (b == "A")).sum(), ((a == "A") & (b == "B")).sum()
    assert abs(b2a - 25) <= 0.15 * 25 and abs(a2b - 18) <= 0.15 * 18
    assert ((a == "N") == (b == "N")).all()
    switched = (a != b).to_numpy().astype(int)
    edges = np.diff(np.r_[0, switched, 0])
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert runs.min() >= 4 and runs.max() <= 15
    summary = json.loads((sim_small / "simulation.json").read_text())["summary"]
    assert (summary["n_b2a"], summary["n_a2b"]) == (b2a, a2b)
    assert summary["depth"]["IMR90"] == pytest.approx(1.5 * summary["depth"]["GM12878"], rel=0.01)


# ----------------------------------------------------------------------------
# tiny runs of our own
# ----------------------------------------------------------------------------
def _data(d: Path) -> dict[str, np.ndarray]:
    out = {}
    for cell in CELLS:
        for res in (25_000, 50_000):
            clr = cooler.Cooler(f"{d / cell}.mcool::resolutions/{res}")
            px = clr.pixels()[:]
            out[f"{cell}/{res}/pixels"] = px[["bin1_id", "bin2_id", "count"]].to_numpy()
            out[f"{cell}/{res}/weight"] = clr.bins()["weight"][:].to_numpy()
        for mark in sd.MARKS:
            with pyBigWig.open(str(d / f"{cell}_{mark}.bw")) as bw:
                out[f"{cell}/{mark}"] = np.array(bw.intervals("chr21"))
    out["truth"] = truth_of(d).to_numpy()
    return out


def test_same_seed_same_data_and_another_seed_differs(tmp_path):
    first = _data(simulate(tmp_path / "a", *TINY, "--seed", "3"))
    again = _data(simulate(tmp_path / "b", *TINY, "--seed", "3"))
    other = _data(simulate(tmp_path / "c", *TINY, "--seed", "4"))
    for key, value in first.items():
        np.testing.assert_array_equal(value, again[key], err_msg=key)
    differs = [k for k, v in first.items() if v.shape != other[k].shape
               or not np.array_equal(v, other[k], equal_nan=v.dtype.kind == "f")]
    assert set(differs) == set(first), set(first) - set(differs)


def test_multi_chromosome_mode(tmp_path):
    out = simulate(tmp_path, "--chrom", "chr1", "chr2", "chrX", "--length", "2000000", "3000000",
                   "1500000", "--pericentromere-bp", "300000", "--max-dist", "1000000",
                   "--n-b2a", "10", "--n-a2b", "8", "--zoom", "50000", "-q")
    sizes = {"chr1": 2_000_000, "chr2": 3_000_000, "chrX": 1_500_000}
    clr = cooler.Cooler(f"{out}/IMR90.mcool::resolutions/25000")
    assert dict(clr.chromsizes) == sizes and len(clr.bins()) == 80 + 120 + 60
    px = clr.pixels(join=True)[:]
    assert (px["chrom1"] == px["chrom2"]).all()                      # cis only
    assert (px["start2"] - px["start1"]).max() <= 1_000_000          # within --max-dist
    assert set(px["chrom1"]) == set(sizes)
    truth = truth_of(out)
    assert list(pd.unique(truth["chrom"])) == list(sizes)
    assert (truth.groupby("chrom")["compartment_GM12878"].apply(lambda s: (s == "N").sum())
            >= 300_000 // RES).all()
    with pyBigWig.open(str(out / "GM12878_CTCF.bw")) as bw:
        assert bw.chroms() == sizes
    assert "chrX" in json.loads((out / "simulation.json").read_text())["summary"]["chromosomes"]


def test_hg38_genome_layout_uses_the_centromere_table():
    sizes = sd.chromosome_sizes(["chr21"], genome="hg38")
    assert list(sizes.index) == [f"chr{k}" for k in range(1, 23)]
    assert sizes["chr21"] == 46_709_983 and sizes.sum() == pytest.approx(2.875e9, rel=0.01)
    blocks = sd.unmappable_blocks(sizes, genome="hg38").set_index("chrom")
    assert blocks.loc["chr21", "start"] == 0 and blocks.loc["chr21", "end"] > 12_000_000  # acrocentric
    assert blocks.loc["chr1", "start"] < 121_700_000 and blocks.loc["chr1", "end"] > 125_100_000
    assert len(sd.centromeres("hg38")) == len(sd.centromeres("hg19")) == 23
    assert sd.chromosome_sizes(["21"]).iat[0] == 46_709_983  # default length from hg38


@pytest.mark.parametrize("width", [199, 37, 0])
def test_total_weight_matches_the_sum_over_pairs(width):
    rng = np.random.default_rng(width)
    n = 200
    bias = rng.lognormal(0, 0.3, n)
    bias[:30] = 0
    tad = np.repeat(np.arange(20), 10)
    tad[:30] = -1
    arm = (np.arange(n) >= 120).astype(np.int8)  # a two-armed chromosome
    kw = dict(bias=bias, e=rng.choice([-0.6, 0.6], n), tad=tad, arm=arm,
              ps=sd.distance_law(n, -1.0), tad_strength=0.8, width=width)
    block = sd.contact_block((0, n), (0, n), **kw)
    assert np.count_nonzero(np.tril(block, -1)) == 0 and np.count_nonzero(np.triu(block, width + 1)) == 0
    assert sd.total_weight(**kw) == pytest.approx(block.sum(), rel=1e-12)


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 9, 16, 17, 25, 70, 101])
def test_switch_runs_sum_to_the_request(n):
    lengths = sd._run_lengths(n, np.random.default_rng(n))
    assert sum(lengths) == n
    assert n < 4 or all(4 <= x <= 15 for x in lengths)


@pytest.mark.parametrize("args, fragment", [
    (("--res", "0"), "--res"),
    (("--length", "-5"), "--length"),
    (("--zoom", "30000"), "--zoom"),
    (("--track-step", "7000"), "--track-step"),
    (("--chrom", "chrZZ"), "pass --length"),
    (("--chrom", "chr1", "chr2", "--length", "3000000"), "one length per --chrom"),
    (("--length", "3000000"), "--pericentromere-bp"),
    (("--length", "3000000", "--pericentromere-bp", "0", "--n-b2a", "90"), "--n-b2a"),
    (("--cells", "GM12878", "GM12878"), "--cells"),
    (("--compartment-strength", "0.9"), "--compartment-strength"),
])
def test_bad_input_fails_cleanly_without_outputs(tmp_path, capsys, args, fragment):
    out = tmp_path / "out"
    rc = sd.main(["--out", str(out), *args])
    proc = SimpleNamespace(returncode=rc, stderr=capsys.readouterr().err)
    assert_clean_error(proc, fragment)
    assert not out.exists()


def test_unwritable_out_dir_fails_cleanly_from_the_command_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert_clean_error(run_script("simulate_data", "--out", blocker / "raw", *TINY), "output directory")
