"""hicio: opening coolers, reading cis pixels, binning bigWigs."""
from __future__ import annotations

import logging

import cooler
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import hicio
import synth_hic
from common import DataError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return synth_hic.make_inputs(tmp_path_factory.mktemp("hicio"))


@pytest.mark.parametrize("uri,res,binsize", [
    ("good.mcool", 25000, 25000), ("good.mcool", 50000, 50000),
    ("good.mcool::resolutions/50000", None, 50000), ("good.mcool::/resolutions/25000", 25000, 25000),
    ("raw.cool", 25000, 25000), ("raw.cool", None, 25000),
])
def test_open_cooler_forms(files, uri, res, binsize):
    clr = hicio.open_cooler(str(files["mcool"].parent / uri), res=res)
    assert clr.binsize == binsize
    assert hicio.cooler_uri(clr).endswith("" if uri == "raw.cool" else f"resolutions/{binsize}")


@pytest.mark.parametrize("uri,res,fragment", [
    ("good.mcool", None, "choose one with --res (available: 25000, 50000)"),
    ("raw.cool", 50000, "has resolution 25000 bp, not --res 50000"),
    ("good.mcool::resolutions/10000", None, "available: /resolutions/25000, /resolutions/50000"),
    ("text.mcool", 25000, "not a cooler file"),
    ("truncated.mcool", 25000, "truncated or corrupt"),
])
def test_open_cooler_errors(files, uri, res, fragment):
    with pytest.raises(DataError) as exc:
        hicio.open_cooler(str(files["mcool"].parent / uri), res=res)
    assert fragment in str(exc.value)


def test_select_chroms_all_autosomes_and_aliases(tmp_path):
    m = {c: np.eye(3, dtype=int) * 5 for c in ("1", "2", "X", "MT")}
    clr = cooler.Cooler(str(synth_hic.write_cooler(tmp_path / "g.cool", m, balance=False)))
    assert hicio.select_chroms(clr, ["all"]) == ["1", "2"]
    assert hicio.select_chroms(clr, ["chr2", "chr1", "1"]) == ["1", "2"]  # genome order, deduplicated
    with pytest.raises(DataError, match="'chr7' not found .* available: 1, 2, X, MT"):
        hicio.select_chroms(clr, ["chr7"])


@pytest.mark.parametrize("weight_name", ["weight", "KR"])
def test_read_cis_matches_cooler_balanced_matrix(tmp_path, weight_name):
    rng = np.random.default_rng(0)
    a = rng.poisson(5, (30, 30))
    a = np.triu(a) + np.triu(a, 1).T
    path = synth_hic.write_cooler(tmp_path / "m.cool", {"chr1": a, "chr2": a[:7, :7]}, res=10,
                                  lengths={"chr1": 295, "chr2": 70}, weight_name=weight_name)
    clr = cooler.Cooler(str(path))
    block = hicio.read_cis(clr, "chr1", weight_name=weight_name)
    assert block.n == 30 and block.end[-1] == 295 and block.res == 10
    assert np.all(block.i <= block.j)
    dense = np.zeros((30, 30))
    dense[block.i, block.j] = block.value
    dense = dense + np.triu(dense, 1).T
    expected = clr.matrix(balance=weight_name).fetch("chr1")
    np.testing.assert_allclose(dense, np.nan_to_num(expected), rtol=1e-10)
    np.testing.assert_array_equal(block.coverage, a.sum(axis=1))


def test_expected_cis_matches_brute_force():
    rng = np.random.default_rng(1)
    a = np.triu(rng.poisson(3, (25, 25)).astype(float))
    valid = rng.random(25) > 0.2
    i, j = np.nonzero(a)
    exp = hicio.expected_cis(i, j, a[i, j], valid)
    for d in (0, 1, 5, 24):
        k = np.arange(25 - d)
        ok = valid[k] & valid[k + d]
        assert exp[d] == pytest.approx(a[k[ok], k[ok] + d].mean()) if ok.any() else np.isnan(exp[d])


def _per_bin_loop(bw, chrom, start, end):
    length = bw.chroms()[chrom]
    return np.array([bw.stats(chrom, int(s), int(min(e, length)), exact=True)[0] if s < length else None
                     for s, e in zip(start, end)], dtype=float)


@settings(max_examples=25, deadline=None)
@given(res=st.integers(1, 400), n_full=st.integers(0, 40), tail=st.integers(0, 399),
       step=st.integers(1, 60), bw_cut=st.integers(0, 300), seed=st.integers(0, 10),
       chunk=st.sampled_from([7, 1000, 50_000_000]), method=st.sampled_from(["auto", "intervals", "stats"]))
def test_bin_track_aligns_with_per_bin_stats(tmp_path_factory, res, n_full, tail, step, bw_cut, seed, chunk,
                                             method):
    """Any length/resolution, a last bin shorter than res, a bigWig chromosome shorter than the
    cooler's; both binning routes and the automatic choice between them."""
    tail %= res
    length = n_full * res + tail
    if length == 0:
        return
    start = np.arange(0, length, res, dtype=np.int64)
    end = np.minimum(start + res, length)
    bw_len = max(1, length - bw_cut)
    vals = np.random.default_rng(seed).normal(size=-(-bw_len // step))
    path = tmp_path_factory.mktemp("bw") / "t.bw"
    pos = np.arange(len(vals)) * step
    keep = np.arange(len(vals)) % 7 != 3  # gaps: uncovered stretches
    import pyBigWig

    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([("c", bw_len)])
    if keep.any():
        bw.addEntries(["c"] * int(keep.sum()), pos[keep].tolist(),
                      ends=np.minimum(pos + step, bw_len)[keep].tolist(), values=vals[keep].tolist())
    bw.close()
    with hicio.open_bigwig(path) as bw:
        got = hicio.bin_track(bw, "c", start, end, chunk_bp=chunk, method=method)
        want = _per_bin_loop(bw, "c", start, end)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("method", ["intervals", "stats"])
def test_bin_track_skips_nan_intervals(tmp_path, method):
    """NaN-valued intervals count as uncovered (pyBigWig's stats() alone would give None)."""
    path = synth_hic.write_bigwig(tmp_path / "n.bw", {"c": [1.0, np.nan, 3.0, np.nan]}, step=10)
    with hicio.open_bigwig(path) as bw:
        got = hicio.bin_track(bw, "c", np.array([0, 15, 30]), np.array([15, 30, 40]), method=method)
    np.testing.assert_allclose(got, [1.0, 3.0, np.nan])


@pytest.mark.parametrize("step, res, want", [(1000, 25_000, "intervals"), (10, 25_000, "stats"),
                                             (10, 1000, "intervals")])
def test_binning_method_follows_interval_length(tmp_path, step, res, want):
    """Dense (base-pair-like) tracks at coarse bins go through stats(), step tracks through
    intervals(); the probe finds a track that covers only part of the chromosome."""
    import pyBigWig

    length, lo = 2_000_000, 700_000  # data only in a 200 kb stretch
    starts = np.arange(lo, lo + 200_000, step)
    path = tmp_path / "d.bw"
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([("c", length)])
    bw.addEntries(["c"] * len(starts), starts.tolist(), ends=(starts + step).tolist(),
                  values=[2.0] * len(starts))
    bw.close()
    start = np.arange(0, length, res)
    with hicio.open_bigwig(path) as bw:
        assert hicio._binning_method(bw, "c", start, start + res) == want


def test_read_tracks_resolves_chr_prefix_and_logs(files, caplog):
    bins = pd.DataFrame({"chrom": "chr21", "start": np.arange(0, 1_500_000, 25_000)})
    bins["end"] = bins["start"] + 25_000
    with caplog.at_level(logging.INFO, logger="chromatin_gnn"):
        x = hicio.read_tracks([files["bw"], files["bw_21"]], bins)
    assert x.shape == (60, 2) and np.isfinite(x).all()
    np.testing.assert_allclose(x[:, 0], -x[:, 1])
    np.testing.assert_allclose(x[:, 0], files["labels"] + 0.5)
    assert "'chr21' is called '21'" in caplog.text


@pytest.mark.parametrize("key,fragment", [
    ("bw_nan", "has no data (all NaN or empty)"), ("bw_chr1", "'chr21' not found in bigWig"),
    ("notbw", "not a bigWig file"), ("missing", "bigWig file not found"),
])
def test_read_tracks_errors(files, key, fragment):
    bins = pd.DataFrame({"chrom": ["chr21"], "start": [0], "end": [25_000]})
    with pytest.raises(DataError) as exc:
        hicio.read_tracks([files[key]], bins)
    assert fragment in str(exc.value)


def test_read_tracks_allow_missing_leaves_nan(files, caplog):
    bins = pd.DataFrame({"chrom": ["chr21", "chr9"], "start": [0, 0], "end": [25_000, 25_000]})
    with caplog.at_level(logging.WARNING, logger="chromatin_gnn"):
        x = hicio.read_tracks([files["bw"]], bins, allow_missing=True)
    assert np.isfinite(x[0, 0]) and np.isnan(x[1, 0]) and "'chr9' not found" in caplog.text


def test_read_cis_empty_chromosome(files):
    clr = hicio.open_cooler(str(files["mcool"]), res=25000)
    with pytest.raises(DataError, match="chr22 has no contacts"):
        hicio.read_cis(clr, "chr22")
    block = hicio.read_cis(clr, "chr22", allow_empty=True)
    assert block.n == 20 and not block.mask.any()


def test_positive_int_parses_separators():
    assert hicio.positive_int("25,000") == hicio.positive_int("25_000") == 25000
    assert hicio.nonneg_int("0") == 0
    for bad in ("abc", "0", "-5", "2.5"):
        with pytest.raises(Exception, match="positive integer"):
            hicio.positive_int(bad)



@pytest.mark.parametrize("n", [1, 2, 7, 1000, 4099])
def test_pairs_per_distance_counts_valid_pairs(n):
    valid = np.random.default_rng(n).random(n) < 0.7
    want = np.array([(valid[: n - d] & valid[d:]).sum() for d in range(n)]) if n < 1001 else None
    got = hicio.pairs_per_distance(valid)
    assert got.shape == (n,) and got[0] == valid.sum()
    if want is not None:
        assert (got == want).all()
    from scipy.signal import fftconvolve  # the previous implementation, as the reference

    v = valid.astype(float)
    assert (got == np.rint(fftconvolve(v, v[::-1])[n - 1:])).all()


def test_pixels_slice_matches_the_pixel_table_cis_and_trans_both_orders(tmp_path):
    """hicio reads a cooler's pixel table by its bin1 index: the same pixels as a brute-force filter."""
    rng = np.random.default_rng(3)
    bins = cooler.binnify(pd.Series({"chr1": 120, "chr2": 70, "chr3": 95}), 10)
    n = len(bins)
    i, j = np.triu_indices(n)
    keep = rng.random(len(i)) < 0.3
    px = pd.DataFrame({"bin1_id": i[keep], "bin2_id": j[keep], "count": rng.integers(1, 9, keep.sum())})
    cooler.create_cooler(str(tmp_path / "t.cool"), bins, px, ordered=True)
    clr = cooler.Cooler(str(tmp_path / "t.cool"))
    for c1 in clr.chromnames:
        for c2 in clr.chromnames:
            (lo1, hi1), (lo2, hi2) = clr.extent(c1), clr.extent(c2)
            a, b = px["bin1_id"].to_numpy(), px["bin2_id"].to_numpy()
            sel = (a >= lo1) & (a < hi1) & (b >= lo2) & (b < hi2)
            if lo2 < lo1:  # stored in the other triangle: transpose
                sel = (b >= lo1) & (b < hi1) & (a >= lo2) & (a < hi2)
                a, b = b, a
            want_i, want_j, want_c = a[sel] - lo1, b[sel] - lo2, px["count"].to_numpy()[sel].astype(float)
            order = np.lexsort((want_j, want_i))
            got = hicio._pixels(clr, c1) if c1 == c2 else hicio._pixels(clr, c1, c2)
            for g, w in zip(got, (want_i[order], want_j[order], want_c[order])):
                np.testing.assert_array_equal(g, w)
            assert len(got[0]) > 0


def test_reading_a_cooler_does_not_import_hictkpy(files):
    """hictkpy's import starts a thread that keeps a core busy; cooler reads must not pay for it."""
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, 'scripts'); import hicio; "
            f"clr = hicio.open_cooler({str(files['mcool'])!r}, res=25000); "
            "b = hicio.read_cis(clr, clr.chromnames[0]); assert b.n > 0; "
            "print('hictkpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(hicio.Path(hicio.__file__).resolve().parents[1]))
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not hasattr(__import__("os"), "SCHED_IDLE"), reason="Linux scheduling classes only")
def test_hictkpy_threads_run_in_the_idle_class():
    import os
    import subprocess
    import sys

    code = ("import os, sys; sys.path.insert(0, 'scripts'); import hicio; "
            "before = set(os.listdir('/proc/self/task')); hicio.import_hictkpy(); "
            "main = str(os.getpid()); "
            "print(sorted(os.sched_getscheduler(int(t)) for t in os.listdir('/proc/self/task') if t != main))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(hicio.Path(hicio.__file__).resolve().parents[1]))
    policies = eval(out.stdout)  # noqa: S307 - a list of ints printed by the child
    assert os.SCHED_IDLE in policies, policies
