"""simulate_data.py: Hi-C + tracks with a known answer (issue 2), multi-chromosome mode (issue 9),
the realistic default model and --difficulty presets (issue 13)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cooler
import numpy as np
import pandas as pd
import pyBigWig
import pytest

import simulate_data as sd
from conftest import assert_clean_error, call_main, run_script

CELLS = ("GM12878", "IMR90")
RES = 25_000
#: a tiny dataset for determinism and multi-chromosome checks (~0.5 s)
TINY = ("--difficulty", "easy", "--length", "3000000", "--pericentromere-bp", "500000",
        "--zoom", "50000", "--n-b2a", "8", "--n-a2b", "6", "-q")
#: a small dataset of the realistic (default) model (~2 s)
REALISTIC = ("--length", "8000000", "--pericentromere-bp", "1000000", "--zoom", "50000",
             "--n-b2a", "12", "--n-a2b", "10", "--n-sub-switch", "25", "-q")


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
        for mark in sd.EASY_MARKS:
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
        marks = json.loads((d / "simulation.json").read_text())["summary"]["marks"]
        for mark in marks:
            with pyBigWig.open(str(d / f"{cell}_{mark}.bw")) as bw:
                out[f"{cell}/{mark}"] = np.array(bw.intervals("chr21"))
    out["truth"] = np.frombuffer((d / "truth.tsv").read_bytes(), np.uint8)
    return out


@pytest.mark.parametrize("flags", [TINY, REALISTIC], ids=["easy", "realistic"])
def test_same_seed_same_data_and_another_seed_differs(tmp_path, flags):
    first = _data(simulate(tmp_path / "a", *flags, "--seed", "3"))
    again = _data(simulate(tmp_path / "b", *flags, "--seed", "3"))
    other = _data(simulate(tmp_path / "c", *flags, "--seed", "4"))
    for key, value in first.items():
        np.testing.assert_array_equal(value, again[key], err_msg=key)
    differs = [k for k, v in first.items() if v.shape != other[k].shape
               or not np.array_equal(v, other[k], equal_nan=v.dtype.kind == "f")]
    assert set(differs) == set(first), set(first) - set(differs)


def test_multi_chromosome_mode(tmp_path):
    out = simulate(tmp_path, "--chrom", "chr1", "chr2", "chrX", "--length", "2000000", "3000000",
                   "1500000", "--pericentromere-bp", "300000", "--max-dist", "1000000",
                   "--n-b2a", "10", "--n-a2b", "8", "--n-sub-switch", "8", "--zoom", "50000", "-q")
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
    (("--length", "3000000", "--pericentromere-bp", "0", "--n-b2a", "200"), "--n-b2a"),
    (("--cells", "GM12878", "GM12878"), "--cells"),
    (("--compartment-strength", "0.9"), "--compartment-strength"),
    (("--difficulty", "easy", "--n-sub-switch", "5"), "--n-sub-switch"),
    (("--difficulty", "easy", "--dispersion", "3"), "--dispersion"),
    (("--dispersion", "0"), "--dispersion"),
    (("--loop-strength", "-1"), "--loop-strength"),
    (("--difficulty", "medium"), "--difficulty"),
    (("--depth-per-mb", "lots"), "--depth-per-mb"),
    (("--length", "3000000", "--pericentromere-bp", "0", "--n-b2a", "0", "--n-a2b", "0",
      "--n-sub-switch", "200"), "--n-sub-switch"),
])
def test_bad_input_fails_cleanly_without_outputs(tmp_path, args, fragment):
    out = tmp_path / "out"
    assert_clean_error(call_main(sd.main, "--out", out, *args), fragment)
    assert not out.exists()


def test_unwritable_out_dir_fails_cleanly_from_the_command_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert_clean_error(run_script("simulate_data", "--out", blocker / "raw", *TINY), "output directory")


# ----------------------------------------------------------------------------
# issue 13: --difficulty presets; easy = the original simulator, realistic = the default
# ----------------------------------------------------------------------------
#: Digests of conftest.sim_small made by the simulator before issue 13 (commit faf2009),
#: when it had only today's easy model: sha256 of the int64 (bin1, bin2, count) pixels, of
#: each bigWig's (start, end, value) intervals as float64, and of truth.tsv.
EASY_DIGESTS = {
    "GM12878/25000/pixels": "9ad371ecf645ea51", "GM12878/100000/pixels": "e820105affc030e7",
    "IMR90/25000/pixels": "ea0a99120b968d1d", "IMR90/100000/pixels": "27bb9da5960a10a4",
    "GM12878/CTCF": "9b889e470f3adfca", "GM12878/H3K27me3": "47f25a1869b60379",
    "IMR90/CTCF": "e85a9e80b3c5d007", "IMR90/H3K27me3": "eadae80d41821a9a",
    "truth": "35097c3108807363",
}


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def test_easy_is_the_original_simulator_byte_for_byte(sim_small):
    got = {"truth": hashlib.sha256((sim_small / "truth.tsv").read_bytes()).hexdigest()[:16]}
    for cell in CELLS:
        for res in (25_000, 100_000):
            px = cooler.Cooler(f"{sim_small / cell}.mcool::resolutions/{res}").pixels()[:]
            got[f"{cell}/{res}/pixels"] = _digest(px[["bin1_id", "bin2_id", "count"]].to_numpy().astype(np.int64))
        for mark in sd.EASY_MARKS:
            with pyBigWig.open(str(sim_small / f"{cell}_{mark}.bw")) as bw:
                got[f"{cell}/{mark}"] = _digest(np.array(bw.intervals("chr21"), dtype=np.float64))
    assert got == EASY_DIGESTS
    assert sorted(p.name for p in sim_small.glob("*.bw")) == sorted(
        f"{c}_{m}.bw" for c in CELLS for m in sd.EASY_MARKS)


def test_presets_and_explicit_flags_over_them():
    parse = sd.build_parser().parse_args
    assert parse([]).difficulty == "realistic"
    easy, real, hard = (sd.resolve_model(parse(["--difficulty", d])) for d in ("easy", "realistic", "hard"))
    assert (easy["dispersion"], easy["n_sub_switch"], easy["compartment_strength"]) == (None, 0, 0.3)
    assert hard["depth_per_mb"] < real["depth_per_mb"] < easy["depth_per_mb"]
    assert hard["compartment_strength"] < real["compartment_strength"]
    mine = sd.resolve_model(parse(["--difficulty", "hard", "--compartment-strength", "0.5",
                                   "--depth-per-mb", "rao-imr90", "--dispersion", "7"]))
    assert (mine["compartment_strength"], mine["dispersion"]) == (0.5, 7.0)
    assert mine["depth_per_mb"] == sd.REAL_DEPTH_PER_MB["rao-imr90"] and mine["tad_strength"] == hard["tad_strength"]


@pytest.fixture(scope="module")
def realistic(tmp_path_factory) -> Path:
    return simulate(tmp_path_factory.mktemp("realistic"), *REALISTIC, "--seed", "5")


def test_realistic_truth_columns_states_and_planted_switches(realistic):
    truth = truth_of(realistic)
    assert list(truth.columns) == ["chrom", "start", "end", "compartment_GM12878", "compartment_IMR90", "tad_id",
                                   "subcompartment_GM12878", "subcompartment_IMR90", "score_GM12878", "score_IMR90"]
    for cell in CELLS:
        sub, ab, score = (truth[f"{k}_{cell}"].to_numpy() for k in ("subcompartment", "compartment", "score"))
        masked = ab == "N"
        assert masked[: 1_000_000 // RES].all() and (sub[masked] == "N").all() and np.isnan(score[masked]).all()
        assert set(sub[~masked]) == set(sd.STATES)                     # five states present
        assert (np.char.add(sub[~masked].astype(str), "")[:, None].astype("U1")[:, 0] == ab[~masked]).all()
        assert np.isfinite(score[~masked]).all()
        assert score[~masked][np.isin(sub[~masked], ["A1"])].mean() > score[~masked][sub[~masked] == "B3"].mean()
    s0, s1 = truth["subcompartment_GM12878"], truth["subcompartment_IMR90"]
    a0, a1 = truth["compartment_GM12878"], truth["compartment_IMR90"]
    sub_only = (a0 == a1) & (s0 != s1)
    assert sub_only.sum() == 25 and ((a0 == "B") & (a1 == "A")).sum() == 12 and ((a0 == "A") & (a1 == "B")).sum() == 10
    pairs = set(zip(s0[sub_only], s1[sub_only]))
    assert pairs <= {("A1", "A2"), ("A2", "A1"), ("B1", "B3"), ("B3", "B1"), ("B2", "B3")} and len(pairs) >= 3
    summary = json.loads((realistic / "simulation.json").read_text())["summary"]
    assert summary["n_sub_switch"] == 25 and summary["marks"] == list(sd.MARKS)


def test_realistic_state_domains_are_not_tad_blocks(realistic):
    truth = truth_of(realistic)
    ok = truth["tad_id"].to_numpy() >= 0
    tad, sub = truth["tad_id"].to_numpy()[ok], truth["subcompartment_GM12878"].to_numpy()[ok]
    state_border = np.flatnonzero(sub[1:] != sub[:-1])
    inside_tad = tad[state_border] == tad[state_border + 1]
    assert inside_tad.mean() > 0.5  # most state borders fall inside a TAD


def test_realistic_writes_six_marks_that_depend_on_the_state(realistic):
    truth = truth_of(realistic)
    assert sorted(p.name for p in realistic.glob("*.bw")) == sorted(f"{c}_{m}.bw" for c in CELLS for m in sd.MARKS)
    sub = truth["subcompartment_GM12878"].to_numpy()
    ok = sub != "N"
    means = {m: track_bin_means(realistic / f"GM12878_{m}.bw", truth) for m in sd.MARKS}
    by = {m: {s: np.mean(v[ok & (sub == s)]) for s in sd.STATES} for m, v in means.items()}
    assert by["H3K27ac"]["A1"] > 1.5 * by["H3K27ac"]["B3"] and by["H3K4me3"]["A1"] > by["H3K4me3"]["B2"]
    assert min(by["H3K36me3"]["A1"], by["H3K36me3"]["A2"]) > max(by["H3K36me3"][s] for s in ("B1", "B2", "B3"))
    assert max(by["H3K27me3"], key=by["H3K27me3"].get) == "B1"
    assert min(by["H3K9me3"]["B2"], by["H3K9me3"]["B3"]) > by["H3K9me3"]["A1"]
    # heavy per-bin noise: k-means on the six marks alone is far from the five states
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    x = np.log1p(np.column_stack([means[m][ok] for m in sd.MARKS]))
    x = (x - x.mean(0)) / x.std(0)
    ari = adjusted_rand_score(sub[ok], KMeans(5, n_init=4, random_state=0).fit_predict(x))
    assert 0 < ari < 0.5, ari
    recorded = json.loads((realistic / "simulation.json").read_text())["summary"]
    assert 0.2 < recorded["marks_oracle_state_accuracy"]["GM12878"] < 0.85
    assert set(recorded["track_score_r"]["IMR90"]) == set(sd.MARKS)


def test_contacts_alone_do_not_split_a1_a2_or_b2_b3(realistic):
    import compute_compartments as cc
    import hicio

    truth = truth_of(realistic)
    clr = cooler.Cooler(f"{realistic / 'GM12878'}.mcool::resolutions/25000")
    e1 = cc.call_compartments(hicio.read_cis(clr, "chr21"))[0]["E1"].to_numpy()
    sub, score = truth["subcompartment_GM12878"].to_numpy(), truth["score_GM12878"].to_numpy()
    ok = np.isfinite(e1) & (sub != "N")
    r = np.corrcoef(e1[ok], score[ok])[0, 1]
    assert abs(r) > 0.7  # E1 follows the continuous score...
    e1 = np.sign(r) * e1

    def auc(a: str, b: str) -> float:  # P(E1 of an `a` bin > E1 of a `b` bin)
        x, y = e1[ok & (sub == a)], e1[ok & (sub == b)]
        return float((x[:, None] > y[None, :]).mean())

    assert auc("A1", "B3") > 0.9
    assert auc("B2", "B3") < 0.75 and auc("A1", "A2") < 0.8  # ...but not the states within A or B


def test_negative_binomial_counts_are_overdispersed():
    n = 400
    truth = pd.DataFrame({"chrom_id": np.zeros(n, int), "tad_id": np.arange(n), "arm": np.zeros(n, np.int8),
                          "mappable": np.ones(n, bool)})
    kw = dict(bias=np.ones(n), e=np.zeros((n, 1)), lam=np.ones(1), decay=-1.0, tad_strength=0.0,
              max_dist_bins=10, depth=4e5)

    def var_over_mean(dispersion):
        px = pd.concat(sd.sample_contacts(truth, rng=np.random.default_rng(1), dispersion=dispersion, **kw))
        full = np.zeros((n, n))
        full[px["bin1_id"], px["bin2_id"]] = px["count"]
        at5 = np.diagonal(full, 5)
        return at5.mean(), at5.var() / at5.mean()

    mu, poisson = var_over_mean(None)
    _, nb = var_over_mean(2.0)
    assert mu > 20 and 0.8 < poisson < 1.25
    assert nb > 1 + 0.5 * mu / 2.0  # ~ 1 + mu / dispersion


def test_total_weight_with_states_and_loops_matches_the_sum_over_pairs():
    rng = np.random.default_rng(0)
    n = 150
    bias = rng.lognormal(0, 0.3, n)
    bias[:20] = 0
    tad = np.repeat(np.arange(15), 10)
    tad[:20] = -1
    arm = (np.arange(n) >= 90).astype(np.int8)
    u = sd.soft_membership(np.repeat(rng.integers(0, 5, 15), 10), np.zeros(n, int), sigma=1.5)
    e, lam = sd.interaction_factors(u, rng.uniform(0, 1, n), amplitude=0.7)
    loops = (np.array([25, 40, 30]), np.array([35, 49, 100]), np.array([3.0, 2.0, 4.0]))
    kw = dict(bias=bias, e=e, lam=lam, tad=tad, arm=arm, ps=sd.distance_law(n, -0.8), tad_strength=0.5,
              width=60, loops=loops)
    block = sd.contact_block((0, n), (0, n), **kw)
    assert block.min() >= 0
    plain = sd.contact_block((0, n), (0, n), **{**kw, "loops": None})
    assert block[25, 35] == pytest.approx(3.0 * plain[25, 35]) and block[30, 100] == 0  # beyond width
    assert sd.total_weight(**kw) == pytest.approx(block.sum(), rel=1e-10)


# ----------------------------------------------------------------------------
# benchmarks/bench_calibration.py: the statistics the realistic preset is calibrated on
# ----------------------------------------------------------------------------
def _bench_calibration():
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_calibration

    return bench_calibration


def test_calibration_silhouette_is_the_exact_one_dimensional_silhouette():
    from sklearn.metrics import silhouette_score

    x = np.random.default_rng(0).normal(size=300) + 0.3
    assert _bench_calibration()._silhouette(x, x > 0) == pytest.approx(silhouette_score(x[:, None], x > 0), rel=1e-9)


def test_calibration_statistics_tell_easy_from_realistic(sim_small, realistic):
    bc = _bench_calibration()
    easy = bc.map_statistics(cooler.Cooler(f"{sim_small / 'GM12878'}.mcool::resolutions/25000"))
    real = bc.map_statistics(cooler.Cooler(f"{realistic / 'GM12878'}.mcool::resolutions/25000"))
    assert set(bc.STATS) <= set(easy) and easy["res"] == 25_000
    for st in (easy, real):
        assert 0 < st["pairs_seen"] <= 1 and 0 <= st["weak_e1"] < 1 and -1 < st["silhouette"] <= 1
        assert st["ps_slope"] < 0 and st["saddle"] > 1
    assert easy["pairs_seen"] > real["pairs_seen"] and easy["weak_e1"] < real["weak_e1"]
    assert easy["ps_slope"] < real["ps_slope"]  # the easy model's P(s) is steeper than real maps'
    assert easy["contacts_per_kb"] == pytest.approx(sd.DEPTH_PER_MB / 1000, rel=0.1)
