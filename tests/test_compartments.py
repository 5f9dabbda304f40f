"""compute_compartments: planted checkerboards recovered, arms, outputs, bad input, real PC1."""
from __future__ import annotations

import contextlib
import json
import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import compute_compartments as cc
import hicio
import synth_hic
from conftest import call_main, run_script

SEED_CMD = ["--mcool", "data/raw/GM12878.mcool", "--chrom", "chr21", "--res", "25000",
            "--bigwig_orient", "data/raw/GM12878_CTCF.bw", "--out", "results/GM12878/compartments_chr21.csv"]
HG38_CHR21 = 46_709_983


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return synth_hic.make_inputs(tmp_path_factory.mktemp("comp_inputs"))


def _planted_block(n: int, seed: int, *, dead: int = 0, strength: float = 0.7, max_dist: int | None = None):
    labels = synth_hic.planted(n, seed=seed)
    mask = np.arange(n) < dead
    m = synth_hic.checkerboard(labels, seed=seed, strength=strength, dead=mask)
    if max_dist is not None:  # a map cut at some distance, as simulated genomes are
        m[np.abs(np.subtract.outer(np.arange(n), np.arange(n))) > max_dist] = 0
    w = np.where(mask, np.nan, 1.0)
    track = labels + np.random.default_rng(seed).normal(0, 1.5, n)
    return hicio.CisBlock.from_dense(m, res=25_000, weight=w), np.where(mask, 0, labels), track


def _agreement(table: pd.DataFrame, labels: np.ndarray) -> float:
    truth = np.where(labels > 0, "A", "B")
    used = labels != 0
    return float((table["compartment"].to_numpy()[used] == truth[used]).mean())


# ---------------------------------------------------------------------------- functions
@pytest.mark.parametrize("method", cc.METHODS)
@pytest.mark.parametrize("max_dist", [None, 20])
def test_recovers_planted_checkerboard(method, max_dist):
    """Also when contacts stop at some distance: O/E beyond it is unknown, not 0."""
    block, labels, track = _planted_block(150, seed=4, dead=15, max_dist=max_dist)
    table, qc = cc.call_compartments(block, track, method=method)
    assert _agreement(table, labels) >= 0.97
    assert (table["compartment"] == "N").sum() == 15 and qc["masked"]["nan_weight"] == 15
    assert table.columns.tolist() == ["chrom", "start", "end", "E1", "E2", "E3", "compartment"]
    reg = qc["regions"][0]
    assert reg["solver"] == "dense" and reg["n_valid"] == 135 and reg["r_E1_orient"] > 0.2
    assert reg["variance_explained"][0] > reg["variance_explained"][1] > 0


@pytest.mark.parametrize("method", cc.METHODS)
@pytest.mark.parametrize("max_dist", [None, 25])
def test_iterative_solver_matches_dense(method, max_dist):
    block, _, track = _planted_block(120, seed=2, dead=5, max_dist=max_dist)
    dense, qd = cc.call_compartments(block, track, method=method)
    sparse, qs = cc.call_compartments(block, track, method=method, dense_max_bins=0)
    assert qs["regions"][0]["solver"] == "eigsh"
    np.testing.assert_allclose(sparse["E1"], dense["E1"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(qs["regions"][0]["eigenvalues"], qd["regions"][0]["eigenvalues"], rtol=1e-6)


@pytest.mark.parametrize("gap", [False, True])
def test_long_region_with_short_contacts_is_stitched(gap):
    """Contacts only within 15 bins over 600 bins: E1 from chained windows, each chain oriented."""
    block, labels, track = _planted_block(600, seed=8, max_dist=15)
    if gap:  # a long masked stretch breaks the chain into two pieces
        block.weight[250:330] = np.nan
        labels = np.where(np.isnan(block.weight), 0, labels)
    table, qc = cc.call_compartments(block, track)
    reg = qc["regions"][0]
    assert reg["E1_from"] == f"{2 if gap else 1} stitched window chain(s)"
    assert reg["max_contact_distance_bins"] == 15
    assert _agreement(table, labels) >= 0.95


def test_same_input_same_numbers():
    block, _, track = _planted_block(100, seed=9)
    runs = [cc.call_compartments(block, track, dense_max_bins=d)[0] for d in (12000, 12000, 0, 0)]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    pd.testing.assert_frame_equal(runs[2], runs[3])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(30, 90), seed=st.integers(0, 10_000), dead=st.integers(0, 10),
       method=st.sampled_from(cc.METHODS))
def test_flipping_the_track_swaps_a_and_b(n, seed, dead, method):
    block, _, track = _planted_block(n, seed, dead=dead)
    t1, _ = cc.call_compartments(block, track, method=method)
    t2, _ = cc.call_compartments(block, -track, method=method)
    swap = {"A": "B", "B": "A", "N": "N"}
    assert t2["compartment"].map(swap).tolist() == t1["compartment"].tolist()
    np.testing.assert_allclose(t2["E1"], -t1["E1"], equal_nan=True)


def test_oe_matrix_symmetric_with_neutral_ignored_diagonals():
    block, _, _ = _planted_block(40, seed=1, dead=3)
    valid = block.mask
    v, empty, i, j, oe = cc.oe_pixels(block.i, block.j, block.value, valid, ignore_diags=3,
                                      clip_percentile=100)
    assert not empty.any() and (j - i >= 3).all()
    m = cc.oe_matrix(v, i, j, oe, ignore_diags=3).toarray()
    assert m.shape == (37, 37) and np.allclose(m, m.T)
    for d in range(3):
        assert np.all(np.diagonal(m, d) == 1)
    assert abs(oe.mean() - 1) < 0.2  # O/E is ~1 on average


def test_saddle_strength_of_a_checkerboard():
    block, labels, track = _planted_block(120, seed=6)
    _, qc = cc.call_compartments(block, track, saddle_groups=5)
    assert cc.saddle_strength(qc["saddle_sums"], qc["saddle_counts"]) > 1.5
    flat, _, _ = _planted_block(120, seed=6, strength=0.0)
    _, qc = cc.call_compartments(flat, track, saddle_groups=5)
    assert cc.saddle_strength(qc["saddle_sums"], qc["saddle_counts"]) < 1.2


def test_arms_from_assembly(caplog):
    start = np.arange(0, HG38_CHR21, 500_000)
    assert cc.arm_regions("chr21", start, centromere=(10_900_000, 13_000_000)) == [
        ("chr21p", 0, 24), ("chr21q", 24, len(start))]
    assert cc.arm_regions("chr21", start, centromere=None) == [("chr21", 0, len(start))]
    assert cc.guess_assembly({"chr21": HG38_CHR21, "chrZ": 5}) == "hg38"
    assert cc.guess_assembly({"21": 48_129_895}) == "hg19"
    assert cc.guess_assembly({"chr21": 12_000_000}) is None
    with caplog.at_level(logging.WARNING, logger="chromatin_gnn"):
        cens = cc.chrom_centromeres({"chr21": HG38_CHR21, "chr1": 1000}, ["chr21", "chr1"], assembly="auto")
    assert cens == {"chr21": (10_900_000, 13_000_000), "chr1": None}
    assert "chr1: no hg38 centromere" in caplog.text
    assert cc.chrom_centromeres({"chr21": 12_000_000}, ["chr21"], assembly="auto") == {"chr21": None}
    assert cc.chrom_centromeres({"chr21": HG38_CHR21}, ["chr21"], assembly="none") == {"chr21": None}


# ---------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def hg38_chr21(tmp_path_factory):
    """hg38-sized chr21 at 500 kb: p-arm mostly unmappable, planted A/B on q."""
    d = tmp_path_factory.mktemp("hg38")
    n, dead = 94, 22
    labels = synth_hic.planted(n, seed=5, min_run=3, max_run=8)
    m = synth_hic.checkerboard(labels, seed=5, dead=np.arange(n) < dead)
    path = synth_hic.write_cooler(d / "hg38.cool", {"chr21": m}, res=500_000, lengths={"chr21": HG38_CHR21})
    bw = synth_hic.write_bigwig(d / "c_sig.bw", {"chr21": np.repeat(labels + 0.3, 10)}, step=50_000,
                                lengths={"chr21": HG38_CHR21})
    return path, bw, np.where(np.arange(n) < dead, 0, labels)


@pytest.mark.parametrize("flags,regions", [([], ["chr21p", "chr21q"]), (["--no-arms"], ["chr21"]),
                                           (["--assembly", "none"], ["chr21"])])
def test_cli_arms_outputs_and_qc(hg38_chr21, tmp_path, flags, regions):
    cool, bw, labels = hg38_chr21
    out = tmp_path / "res" / "comp.csv"
    proc = call_main(cc.main, "--mcool", cool, "--chrom", "21", "--bigwig-orient", bw, "--out", out, *flags)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    assert len(table) == 94 and table["end"].iloc[-1] == HG38_CHR21
    assert _agreement(table, labels) >= 0.95
    qc = json.loads((tmp_path / "res/comp.qc.json").read_text())
    assert [r["region"] for r in qc["regions"]] == regions
    if regions[0] == "chr21p":  # 2 usable p-arm bins, only in contact with each other: masked
        assert qc["regions"][0]["solver"] is None and (table["compartment"][:24] == "N").all()
        assert qc["masked_reasons"]["no_contacts_off_diagonal"] == 2
    assert qc["n_masked"] == (table["compartment"] == "N").sum() == sum(qc["masked_reasons"].values())
    assert qc["fraction_masked"] == pytest.approx(qc["n_masked"] / 94)
    assert qc["r_E1_orientation_track"] > 0.5 and qc["saddle_strength"] > 1.5
    assert len(qc["variance_explained"]) == 3 and qc["provenance"]["parameters"]["chrom"] == ["21"]
    bg = pd.read_csv(tmp_path / "res/comp.E1.bedGraph", sep="\t", header=None)
    assert len(bg) == table["E1"].notna().sum() and bg.iloc[:, 3].tolist() == pytest.approx(
        table["E1"].dropna().tolist(), rel=1e-5)
    # the bigWig beside the bedGraph: same E1 on every bin (NaN = no entry), the cooler's chrom sizes
    import pyBigWig

    import tracks
    # (bigWig holds float32, the CSV 6 significant digits; NaN exactly where the CSV has none)
    np.testing.assert_allclose(tracks.read_bin_bigwig(tmp_path / "res/comp.E1.bw", table),
                               table["E1"].to_numpy(), rtol=1e-5, equal_nan=True)
    with contextlib.closing(pyBigWig.open(str(tmp_path / "res/comp.E1.bw"))) as bw:
        assert bw.chroms() == {"chr21": HG38_CHR21}
    for name in ("comp.csv", "comp.E1.bedGraph", "comp.E1.bw", "comp.qc.json", "comp.saddle.png"):
        assert (tmp_path / "res" / f"{name}.provenance.json").is_file()
    assert (tmp_path / "res/comp.saddle.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_all_chromosomes_with_an_empty_one(files, tmp_path):
    out = tmp_path / "all.csv"
    argv = synth_hic.cli_args(files, {"--chrom": "all"}, bw_flag="--bigwig_orient", out=out)
    proc = call_main(cc.main, *argv)
    assert proc.returncode == 0, proc.stderr
    assert "chr22 has no contacts" in proc.stderr and "all its bins are masked" in proc.stderr
    table = pd.read_csv(out)
    assert table["chrom"].tolist() == ["chr21"] * 60 + ["chr22"] * 20
    assert (table["compartment"][60:] == "N").all() and _agreement(table[:60], files["labels"]) >= 0.95


@pytest.mark.parametrize("case", synth_hic.BAD_CASES, ids=[c[0] for c in synth_hic.BAD_CASES])
def test_bad_input_fails_cleanly(files, case, tmp_path):
    synth_hic.check_bad_input(cc.main, files, case, bw_flag="--bigwig_orient",
                              out=tmp_path / "out" / "comp.csv")


def test_chr_naming_mismatch_works(files, tmp_path):
    out = tmp_path / "c.csv"
    proc = call_main(cc.main, *synth_hic.cli_args(files, {"BW": "bw_21"}, bw_flag="--bigwig_orient", out=out))
    assert proc.returncode == 0 and "'chr21' is called '21' in bigWig" in proc.stderr
    # the bigWig is the negated track: labels come out swapped
    assert _agreement(pd.read_csv(out), -files["labels"]) >= 0.95


# ---------------------------------------------------------------------------- simulated / real data
@pytest.mark.slow
@pytest.mark.parametrize("cell", ["GM12878", "IMR90"])
def test_seed_command_recovers_planted_compartments(sim_small, tmp_path, cell):
    base = synth_hic.stage_raw(sim_small, tmp_path)
    proc = run_script("compute_compartments", *[a.replace("GM12878", cell) for a in SEED_CMD], cwd=base)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(base / f"results/{cell}/compartments_chr21.csv")
    truth = pd.read_csv(sim_small / "truth.tsv", sep="\t")[f"compartment_{cell}"]
    assert len(table) == 480
    used = (truth != "N").to_numpy()
    agree = (table["compartment"].to_numpy()[used] == truth.to_numpy()[used]).mean()
    assert agree >= 0.95, f"{cell}: {agree:.3f} agreement with the planted A/B"
    assert (table["compartment"][~used] == "N").all()
    for suffix in ("E1.bedGraph", "qc.json", "saddle.png"):
        assert (base / f"results/{cell}/compartments_chr21.{suffix}").is_file()


@pytest.mark.real
@pytest.mark.parametrize("cell", ["IMR90", "MSC"])
def test_real_e1_matches_published_pc1(real_dir, tmp_path, cell):
    d = real_dir / "03_IMR90_MSC_chr21_40kb_hg19_DIADEM"
    out = tmp_path / f"{cell}.csv"
    proc = call_main(cc.main, "--mcool", d / f"{cell}_chr21_40kb_raw.cool", "--chrom", "chr21",
                     "--res", "40000", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "assembly hg19: compartments per chromosome arm" in proc.stderr
    ours = pd.read_csv(out)["E1"].to_numpy()
    ref = pd.read_csv(d / "DIADEM_precomputed_PC1_chr21_40kb.tsv", sep="\t")
    theirs = ref[f"PC1_{cell}_DIADEM"].to_numpy()
    ok = np.isfinite(ours) & np.isfinite(theirs)
    assert ok.sum() > 700
    assert abs(np.corrcoef(ours[ok], theirs[ok])[0, 1]) >= 0.95
