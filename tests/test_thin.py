"""thin.py: binomial thinning / splitting of contacts, in memory and as balanced coolers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hicio
import thin
from common import DataError
from conftest import assert_clean_error, call_main


def _pixels(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    i = rng.integers(0, 100, n)
    return pd.DataFrame({"bin1_id": i, "bin2_id": i + rng.integers(0, 20, n),
                         "count": rng.poisson(30, n).astype(np.int32) + 1})


def test_thin_pixels_is_binomial_and_seeded():
    px = _pixels()
    a = thin.thin_pixels(px, 0.3, np.random.default_rng(1))
    b = thin.thin_pixels(px, 0.3, np.random.default_rng(1))
    pd.testing.assert_frame_equal(a, b)
    assert (a["count"] > 0).all() and a["count"].dtype == px["count"].dtype
    merged = px.merge(a, on=["bin1_id", "bin2_id"], suffixes=("", "_t"), how="inner")
    assert (merged["count_t"] <= merged["count"]).all()
    assert a["count"].sum() / px["count"].sum() == pytest.approx(0.3, abs=0.01)
    assert thin.thin_pixels(px, 1.0, np.random.default_rng(0))["count"].sum() == px["count"].sum()


def test_split_pixels_halves_add_up():
    px = _pixels().drop_duplicates(["bin1_id", "bin2_id"])
    a, b = thin.split_pixels(px, np.random.default_rng(2))
    both = (px.merge(a, on=["bin1_id", "bin2_id"], how="left", suffixes=("", "_a"))
              .merge(b, on=["bin1_id", "bin2_id"], how="left", suffixes=("", "_b")).fillna(0))
    assert (both["count_a"] + both["count_b"] == both["count"]).all()
    assert a["count"].sum() / px["count"].sum() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.2])
def test_bad_fraction(bad):
    with pytest.raises(DataError, match="fraction"):
        thin.thin_pixels(_pixels(), bad, np.random.default_rng(0))


def test_balanced_values_are_refused():
    px = _pixels()
    px["count"] = px["count"] * 0.01
    with pytest.raises(DataError, match="non-negative integers"):
        thin.split_pixels(px, np.random.default_rng(0))


def test_ice_weights_match_cooler(sim_small):
    clr = hicio.open_cooler(str(sim_small / "GM12878.mcool"), res=25000)
    px = clr.pixels()[:]
    w_cooler = clr.bins()["weight"][:].to_numpy()
    chrom = pd.factorize(clr.bins()["chrom"][:])[0]
    w = thin.ice_weights(px["bin1_id"].to_numpy(), px["bin2_id"].to_numpy(), px["count"].to_numpy(), chrom)
    np.testing.assert_array_equal(np.isnan(w), np.isnan(w_cooler))
    np.testing.assert_allclose(w, w_cooler, rtol=1e-3)


def test_split_block_in_memory(sim_small):
    clr = hicio.open_cooler(str(sim_small / "GM12878.mcool"), res=25000)
    block = hicio.read_cis(clr, "chr21")
    a, b = thin.split_block(block, rng=np.random.default_rng(0))
    assert a.count.sum() + b.count.sum() == block.count.sum()
    for h in (a, b):
        assert h.n == block.n and np.all(h.count > 0)
        ok = np.isfinite(h.value)
        # re-balanced: balanced rows of usable bins sum to 1 (off the first two diagonals)
        far = (h.j - h.i >= 2) & ok
        rows = np.bincount(h.i[far], h.value[far], h.n) + np.bincount(h.j[far], h.value[far], h.n)
        np.testing.assert_allclose(rows[np.isfinite(h.weight)], 1.0, rtol=1e-3)
        # half depth drops only few bins more than full depth
        assert h.mask.sum() >= 0.95 * block.mask.sum()
    t = thin.thin_block(block, fraction=0.25, rng=np.random.default_rng(0))
    assert t.count.sum() / block.count.sum() == pytest.approx(0.25, abs=0.01)


def test_cli_thin_and_split(sim_small, tmp_path):
    import cooler

    src = sim_small / "GM12878.mcool"
    full = cooler.Cooler(f"{src}::resolutions/25000").pixels()[:]["count"].sum()
    out = tmp_path / "t.cool"
    r = call_main(thin.main, "--mcool", src, "--res", "25000", "--fraction", "0.4", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    c = cooler.Cooler(str(out))
    assert "weight" in c.bins().columns and (out.parent / "t.cool.provenance.json").exists()
    assert c.pixels()[:]["count"].sum() / full == pytest.approx(0.4, abs=0.01)
    r = call_main(thin.main, "--mcool", src, "--res", "25000", "--split", "--seed", "3", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    pa, pb = thin.split_paths(out)
    total = sum(cooler.Cooler(str(p)).pixels()[:]["count"].sum() for p in (pa, pb))
    assert total == full


def test_cli_bad_input(sim_small, tmp_path):
    src = sim_small / "GM12878.mcool"
    r = call_main(thin.main, "--mcool", src, "--res", "25000", "--fraction", "0.4", "--out", tmp_path / "x.h5")
    assert_clean_error(r, "--out must end in .cool")
    r = call_main(thin.main, "--mcool", src, "--res", "25000", "--fraction", "2", "--out", tmp_path / "x.cool")
    assert_clean_error(r, "--fraction")
    r = call_main(thin.main, "--mcool", tmp_path / "none.mcool", "--fraction", "0.5", "--out", tmp_path / "x.cool")
    assert_clean_error(r, "not found")
