"""Juicer .hic input (through hictkpy): the same contacts as an .mcool give the same outputs.

"The same contacts" here means the same raw pixels on the same bins. hictkpy's
``.hic`` writer stores no normalisation vectors, and a cooler's ICE ``weight`` is
not a ``.hic`` normalisation (KR/VC/SCALE are computed by Juicer/hictk, not
copied), so the identity is checked on raw counts (``--no-balance`` on both
sides): every pixel, bin, mask, edge, feature and eigenvector must match exactly.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import build_graph
import common
import compute_compartments
import hicio
from conftest import assert_clean_error, call_main


@pytest.fixture(scope="module")
def pair(sim_small, tmp_path_factory):
    """(.mcool URI, .hic path) holding the same GM12878 contacts at 25 kb."""
    out = tmp_path_factory.mktemp("hic")
    uri = f"{sim_small}/GM12878.mcool::resolutions/25000"
    hic = hicio.write_hic(hicio.open_cooler(uri), out / "GM12878.hic")
    return uri, hic, out


def test_read_cis_identical(pair):
    uri, hic, _ = pair
    a = hicio.read_cis(hicio.open_cooler(uri), "chr21", weight_name=None)
    h = hicio.open_cooler(str(hic), res=25000)
    assert isinstance(h, hicio.HicFile) and h.binsize == 25000 and hicio.cooler_uri(h).endswith("@25000")
    b = hicio.read_cis(h, "chr21", weight_name=None)
    for k in ("start", "end", "i", "j", "count", "value", "weight"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
    assert hicio.select_chroms(h, ["21"]) == ["chr21"]
    pd.testing.assert_frame_equal(hicio.bin_table(h, ["chr21"]), hicio.bin_table(hicio.open_cooler(uri), ["chr21"]))


def test_build_graph_and_compartments_identical(pair, sim_small):
    uri, hic, out = pair
    bws = [f"{sim_small}/GM12878_CTCF.bw", f"{sim_small}/GM12878_H3K27me3.bw"]
    graphs, tables = [], []
    for tag, src in (("mcool", ["--mcool", uri]), ("hic", ["--mcool", str(hic), "--res", "25000"])):
        rc = call_main(build_graph.main, *src, "--chrom", "chr21", "--no-balance", "--bigwigs", *bws,
                       "--out", out / f"{tag}.pt", "-q")
        assert rc.returncode == 0, rc.stderr
        graphs.append(common.load_graph(out / f"{tag}.pt"))
        rc = call_main(compute_compartments.main, *src, "--chrom", "chr21", "--no-balance",
                       "--bigwig_orient", bws[0], "--out", out / f"{tag}.csv", "-q")
        assert rc.returncode == 0, rc.stderr
        tables.append(pd.read_csv(out / f"{tag}.csv"))
    g1, g2 = graphs
    for k in ("x", "edge_index", "edge_weight", "mask", "start", "end", "chrom_id"):
        assert np.array_equal(g1[k].numpy(), g2[k].numpy()), k
    assert g1["feature_names"] == g2["feature_names"] and g1["edge_index"].shape[1] > 0
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert set(tables[0]["compartment"]) >= {"A", "B"}


@pytest.mark.parametrize("extra,fragments", [
    (["--res", "10000"], ["resolution 10000 not in", "available: 25000"]),
    ([], ["has no 'weight' normalisation", "stores no normalisation", "--no-balance"]),
    (["--weight-name", "KR"], ["has no 'KR' normalisation"]),
])
def test_hic_bad_resolution_or_normalisation(pair, sim_small, extra, fragments):
    _, hic, out = pair
    target = out / "bad.csv"
    args = ["--mcool", str(hic), "--chrom", "chr21", *(extra if "--res" in extra else ["--res", "25000", *extra])]
    rc = call_main(compute_compartments.main, *args, "--out", target)
    assert_clean_error(rc, *fragments)
    assert not target.exists() and not list(out.glob("bad.*"))
