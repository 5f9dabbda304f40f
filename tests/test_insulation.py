"""Insulation score: exactness against a dense computation, boundaries on a planted map, the stage."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import compute_insulation as ci
import hicio
import insulation as ins
import tracks
from conftest import assert_clean_error, call_main
from synth_hic import write_cooler


def _tad_map(n: int = 240, *, seed: int = 0, counts: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distance decay x 4-fold enrichment inside TADs of 8-20 bins; returns (matrix, borders)."""
    rng = np.random.default_rng(seed)
    borders = np.cumsum(rng.integers(8, 20, size=n))
    borders = borders[borders < n - 4]
    tad = np.searchsorted(borders, np.arange(n), side="right")
    d = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    lam = (d + 1.0) ** -1.0 * (1 + 3.0 * (tad[:, None] == tad[None, :]))
    if counts:
        m = np.triu(rng.poisson(300 * lam))
        return m + np.triu(m, 1).T, borders
    return lam, borders


def _dense_reference(m: np.ndarray, window: int, ignore_diags: int) -> np.ndarray:
    """The diamond mean written out with a loop over bins (NaN = a dropped bin's pixels)."""
    n = len(m)
    out = np.full(n, np.nan)
    full = ins._positions_per_square(window, ignore_diags)
    for k in range(n):
        p = np.arange(k - window + 1, k + 1)[:, None]
        q = np.arange(k, k + window)[None, :]
        ok = (p >= 0) & (q < n) & (q - p >= ignore_diags)
        vals = m[np.clip(p, 0, n - 1), np.clip(q, 0, n - 1)][ok]
        vals = vals[np.isfinite(vals)]
        if np.isfinite(m[k, k]) and vals.size >= ins.MIN_FRAC_VALID * full:
            out[k] = vals.mean()
    return np.log2(out / np.nanmedian(out))


def test_matches_dense_diamond_and_skips_bad_bins():
    m, _ = _tad_map(80)
    w = np.ones(80)
    w[30] = np.nan
    block = hicio.CisBlock.from_dense(m, weight=w)
    got = ins.insulation_score(block, window=5, ignore_diags=2)
    ref_m = m.copy()
    ref_m[30, :] = np.nan
    ref_m[:, 30] = np.nan
    _, n_valid = ins.diamond_sums(block, window=5, ignore_diags=2)
    assert n_valid[40] == ins._positions_per_square(5, 2) and n_valid[31] < n_valid[40]
    assert np.isnan(got[30])
    ref = _dense_reference(ref_m, 5, 2)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert np.allclose(got, ref, equal_nan=True, atol=1e-12)


def test_finds_planted_boundaries():
    m, borders = _tad_map(counts=True)
    block = hicio.CisBlock.from_dense(m.astype(float))
    score = ins.insulation_score(block, window=5)
    strength, is_b, thr = ins.find_boundaries(score)
    rec = ins.boundary_recovery(np.flatnonzero(is_b), borders)
    assert rec["recall"] >= 0.9 and rec["precision"] >= 0.9, rec
    assert thr > 0 and np.isfinite(strength[is_b]).all()


def test_boundary_recovery_and_gradient_by_hand():
    r = ins.boundary_recovery(np.array([10, 21, 50]), np.array([10, 20, 30]))
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    x = np.array([[0.0], [0.0], [3.0], [3.0], [3.0]])
    usable = np.array([True, True, True, False, True])
    g = ins.gradient(x, usable, np.zeros(5, int))
    assert g[0] == 0 and g[1] == pytest.approx(1.5) and g[2] == 3 and np.isnan(g[3]) and np.isnan(g[4])
    assert list(ins.planted_borders(np.array([-1, 0, 0, 1, 1, 2]), np.zeros(6, int))) == [3, 5]


@pytest.fixture(scope="module")
def tad_cool(tmp_path_factory):
    m, borders = _tad_map(counts=True, seed=2)
    path = write_cooler(tmp_path_factory.mktemp("ins") / "tad.cool", {"chr21": m}, res=25_000)
    return path, borders


def test_stage_writes_tracks_and_scores_against_truth(tad_cool, tmp_path):
    cool, borders = tad_cool
    n = 240
    tad = np.searchsorted(borders, np.arange(n), side="right")
    bins = pd.DataFrame({"chrom": "chr21", "start": np.arange(n) * 25_000, "end": np.arange(1, n + 1) * 25_000})
    bins.assign(tad_id=tad).to_csv(tmp_path / "truth.tsv", sep="\t", index=False)
    emb = np.eye(len(borders) + 1)[tad] + np.random.default_rng(0).normal(0, 0.05, (n, len(borders) + 1))
    np.save(tmp_path / "emb.npy", emb.astype(np.float32))
    out = tmp_path / "res" / "insulation_chr21.bedGraph"
    r = call_main(ci.main, "--mcool", cool, "--chrom", "chr21", "--window", "125000", "--emb",
                  tmp_path / "emb.npy", "--truth", tmp_path / "truth.tsv", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    paths = ci.output_paths(out)
    for p in paths.values():
        assert p.is_file(), p
    bg = pd.read_csv(out, sep="\t", header=None)
    assert bg.shape[1] == 4 and len(bg) > 0.9 * n
    bw = tracks.read_bin_bigwig(paths["bw"], bins)
    assert np.isfinite(bw).sum() == len(bg)
    s = json.loads(paths["json"].read_text())
    assert s["window_bins"] == 5
    rec = s["evaluation"]["boundary_recovery"]
    assert rec["insulation"]["recall"] >= 0.8
    assert rec["top latent-gradient peaks"]["n_called"] == rec["insulation"]["n_called"]
    assert s["evaluation"]["spearman_insulation_vs_gradient"]["latent"]["rho"] < 0  # boundaries: low score, high gradient
    # --downsample thins, re-balances and still finds most borders
    r = call_main(ci.main, "--mcool", cool, "--chrom", "chr21", "--window", "125000", "--downsample", "0.3",
                  "--truth", tmp_path / "truth.tsv", "--out", tmp_path / "ds.bedGraph", "-q")
    assert r.returncode == 0, r.stderr
    ds = json.loads((tmp_path / "ds.json").read_text())
    assert ds["downsample"] == 0.3 and ds["evaluation"]["boundary_recovery"]["insulation"]["recall"] >= 0.6


@pytest.mark.parametrize("flags,fragment", [(["--downsample", "1.5"], "--downsample"),
                                            (["--threshold", "high"], "--threshold")])
def test_bad_input_one_line_error(tad_cool, tmp_path, flags, fragment):
    r = call_main(ci.main, "--mcool", tad_cool[0], "--chrom", "chr21", *flags, "--out", tmp_path / "x.bedGraph")
    assert_clean_error(r, fragment)
    assert not (tmp_path / "x.bedGraph").exists()
