"""Node features without ChIP: structural features, annotation tracks, per-cell normalisation."""
from __future__ import annotations

import numpy as np
import pytest

import build_graph
import common
import features
import hicio
import synth_hic
from conftest import assert_clean_error, call_main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return synth_hic.make_inputs(tmp_path_factory.mktemp("feat"))


def test_normalise_methods():
    rng = np.random.default_rng(0)
    x = np.c_[rng.gamma(2, 1, 200), np.repeat(np.arange(20), 10).astype(float)]
    mask = np.arange(200) >= 10
    z = features.normalise(x, mask, method="zscore")
    assert np.isnan(z[~mask]).all() and np.allclose(z[mask].mean(0), 0) and np.allclose(z[mask].std(0), 1)
    r = features.normalise(x, mask, method="rank")
    assert r[mask].min() == 0 and r[mask].max() == 1
    # ties share a rank (discretised tracks, as the real IMR90 marks)
    assert len(np.unique(r[mask, 1])) == len(np.unique(x[mask, 1]))
    # rank and quantile ignore the scale: a monotone transform of a track changes nothing
    for m in ("rank", "quantile"):
        np.testing.assert_allclose(features.normalise(np.exp(x), mask, method=m), features.normalise(x, mask, method=m))
    q = features.normalise(x, mask, method="quantile")
    assert abs(q[mask, 0].mean()) < 1e-9 and q[mask, 0].std() > 0.9
    assert features.normalise(x, mask, method="none") is not None
    np.testing.assert_array_equal(features.normalise(x, mask, method="none"), x)


def test_structural_features_reuse_compartments(files):
    import compute_compartments as cc

    block = hicio.read_cis(hicio.open_cooler(str(files["mcool"]), res=25000), "chr21")
    x = features.structural_features(block, ["coverage", "E1"])
    assert x.shape == (60, 2)
    np.testing.assert_allclose(x[block.mask, 0], np.log1p(block.coverage[block.mask]))
    table, _ = cc.call_compartments(block, None)
    np.testing.assert_array_equal(x[:, 1], table["E1"].to_numpy())
    # E1 from the map alone separates the planted compartments
    ok = np.isfinite(x[:, 1])
    assert abs(np.corrcoef(x[ok, 1], files["labels"][ok])[0, 1]) > 0.8


def test_cli_structural_only_and_rank_norm(files, tmp_path):
    out = tmp_path / "g.pt"
    proc = call_main(build_graph.main, "--mcool", files["mcool"], "--res", "25000", "--chrom", "chr21",
                     "--structural", "coverage", "E1", "E2", "--feature-norm", "rank", "--out", out)
    assert proc.returncode == 0, proc.stderr
    g = common.load_graph(out)
    assert g["feature_names"] == ["coverage", "E1", "E2"]
    x = g["x"].numpy()[g["mask"].numpy()]
    assert x.min() == 0 and x.max() == 1
    # marks plus structural, with the mark names given (not split from file names)
    proc = call_main(build_graph.main, "--mcool", files["mcool"], "--res", "25000", "--chrom", "chr21",
                     "--bigwigs", files["bw"], "--feature-names", "CTCF", "--structural", "coverage",
                     "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert common.load_graph(out)["feature_names"] == ["CTCF", "coverage"]


@pytest.mark.parametrize("extra,fragments", [
    (["--structural", "none"], ["no node features", "--structural"]),
    (["--structural", "none", "E1"], ["--structural none cannot be combined"]),
    (["--bigwigs", "{other}"], ["from another assembly", "1,234,567 bp there but 1,500,000 bp"]),
    (["--bigwigs", "{bw}", "--feature-names", "coverage", "--structural", "coverage"], ["feature names repeat"]),
])
def test_bad_feature_input(files, tmp_path, extra, fragments):
    other = synth_hic.write_bigwig(tmp_path / "hg_other.bw", {"chr21": np.ones(100)}, step=5_000,
                                   lengths={"chr21": 1_234_567})
    extra = [str(other) if a == "{other}" else str(files["bw"]) if a == "{bw}" else a for a in extra]
    out = tmp_path / "o" / "g.pt"
    proc = call_main(build_graph.main, "--mcool", files["mcool"], "--res", "25000", "--chrom", "chr21",
                     *extra, "--out", out)
    assert_clean_error(proc, *fragments)
    assert not out.parent.exists() or not any(out.parent.iterdir())


@pytest.mark.real
@pytest.mark.parametrize("track", ["hg19_GC_10kb.bw", "GM12878_H3K27ac.bw", "IMR90_H3K9me3.bw",
                                   "hg19_TSS_density_40kb.bw"])
def test_real_annotation_and_chip_tracks_bin_by_overlap(real_dir, track):
    """The real ~49.9 kb ChIP beads and 10 kb GC bins, averaged over 40 kb bins by overlap, equal
    pyBigWig's exact per-bin mean."""
    import pyBigWig

    d = real_dir / "11_GM12878_IMR90_chr21_40kb_hg19_Rao2014"
    if not d.is_dir():
        pytest.skip("real folder 11 absent")
    clr = hicio.open_cooler(str(d / "GM12878.mcool"), res=40000)
    bins = hicio.bin_table(clr, ["chr21"])
    ours = hicio.read_tracks([d / track], bins, chromsizes={"chr21": 48129895})[:, 0]
    with pyBigWig.open(str(d / track)) as bw:  # noqa: SIM117
        ref = np.array([bw.stats("chr21", int(s), int(e), exact=True)[0]
                        for s, e in zip(bins["start"], bins["end"])], dtype=float)  # None -> NaN
    np.testing.assert_allclose(ours, ref, rtol=1e-6, equal_nan=True)
    assert np.isfinite(ours).sum() > 600

