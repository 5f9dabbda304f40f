"""build_graph: nodes = every bin, symmetric edges within --max_dist, bigWig features, FORMATS.md .pt."""
from __future__ import annotations

import json

import cooler
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings, strategies as st

import build_graph
import common
import hicio
import synth_hic
from conftest import call_main, run_script

SEED_CMD = ["--mcool", "data/raw/GM12878.mcool", "--chrom", "chr21", "--res", "25000",
            "--bigwigs", "data/raw/GM12878_CTCF.bw", "data/raw/GM12878_H3K27me3.bw",
            "--out", "data/processed/GM12878_chr21.pt"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return synth_hic.make_inputs(tmp_path_factory.mktemp("graph_inputs"))


def _edges(g) -> set[tuple[int, int]]:
    return set(map(tuple, g["edge_index"].T.tolist()))


def _block(n: int, *, seed: int = 0, res: int = 10, dead=()) -> hicio.CisBlock:
    rng = np.random.default_rng(seed)
    a = rng.poisson(2.0, (n, n)).astype(float)
    a = np.triu(a) + np.triu(a, 1).T
    w = np.ones(n)
    w[list(dead)] = np.nan
    return hicio.CisBlock.from_dense(a, res=res, weight=w)


# ---------------------------------------------------------------------------- pure functions
def test_graph_follows_the_format():
    block = _block(12, dead=[0, 5])
    x = np.arange(24, dtype=float).reshape(12, 2)
    x[3, 1] = np.nan
    g = build_graph.build_graph([block], x, ["a", "b"], max_dist=30, edge_rule="count", edge_transform="log1p")
    common.validate_graph(g)
    assert g["format"] == common.GRAPH_FORMAT and g["resolution"] == 10 and g["edge_transform"] == "log1p"
    assert g["x"].dtype == torch.float32 and g["x"][3, 1] == 0 and g["x"][4, 1] == 9
    assert g["edge_index"].dtype == torch.long and g["edge_weight"].dtype == torch.float32
    assert g["mask"].tolist() == [i not in (0, 5) for i in range(12)]
    src, dst = g["edge_index"]
    assert not (set(src.tolist()) | set(dst.tolist())) & {0, 5}, "edge touches a masked bin"
    dense = np.zeros((12, 12))
    dense[block.i, block.j] = block.value
    k = src < dst
    np.testing.assert_allclose(g["edge_weight"][k].numpy(), np.log1p(dense[src[k], dst[k]]), rtol=1e-6)
    data = common.graph_to_data(g)
    assert data.num_nodes == 12 and data.edge_attr.shape == (len(src), 1)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 30), res=st.integers(1, 50), max_dist=st.integers(0, 1500),
       seed=st.integers(0, 1000), min_contacts=st.integers(0, 3))
def test_edges_symmetric_no_self_loops_within_max_dist(n, res, max_dist, seed, min_contacts):
    block = _block(n, seed=seed, res=res)
    g = build_graph.build_graph([block], np.ones((n, 1)), ["f"], allow_constant=True, max_dist=max_dist,
                                min_contacts=min_contacts, edge_rule="count")
    edges = _edges(g)
    assert len(edges) == g["edge_index"].shape[1], "duplicate edges"
    assert edges == {(b, a) for a, b in edges}, "not symmetric"
    assert all(a != b for a, b in edges), "self-loop"
    start = g["start"].numpy()
    want = {(int(a), int(b)) for a, b, c in zip(block.i, block.j, block.count)
            if a != b and start[b] - start[a] <= max_dist and c >= min_contacts}
    assert {(a, b) for a, b in edges if a < b} == want
    w = dict(zip(map(tuple, g["edge_index"].T.tolist()), g["edge_weight"].tolist()))
    assert all(w[a, b] == w[b, a] for a, b in edges)


def test_oe_transform_is_log_observed_over_expected():
    n = 15
    d = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    block = hicio.CisBlock.from_dense(100.0 / (d + 1), res=5)  # pure distance decay: O/E == 1
    g = build_graph.build_graph([block], np.ones((n, 1)), ["f"], edge_transform="oe", allow_constant=True,
                                edge_rule="count")
    np.testing.assert_allclose(g["edge_weight"].numpy(), 0, atol=1e-6)
    lab = np.where(np.arange(n) < 7, 1, -1)
    block = hicio.CisBlock.from_dense(100.0 / (d + 1) * np.exp(0.5 * np.outer(lab, lab)), res=5)
    g = build_graph.build_graph([block], np.ones((n, 1)), ["f"], edge_transform="oe", allow_constant=True,
                                edge_rule="count")
    src, dst = g["edge_index"].numpy()
    w, same = g["edge_weight"].numpy(), lab[src] == lab[dst]
    assert w[same].mean() > 0.1 and w[~same].mean() < -0.1


def test_feature_names_from_paths():
    assert build_graph.feature_names_from_paths(
        ["raw/GM12878_CTCF.bw", "x/GM12878_H3K27me3.bigWig", "plain.bw"]) == ["CTCF", "H3K27me3", "plain"]
    # stripping the cell prefix would make the names collide: keep whole stems
    assert build_graph.feature_names_from_paths(["A_CTCF.bw", "B_CTCF.bw"]) == ["A_CTCF", "B_CTCF"]


# ---------------------------------------------------------------------------- command line
def test_cli_chr_naming_mismatch_works_and_is_logged(files, tmp_path):
    out = tmp_path / "g.pt"
    proc = call_main(build_graph.main,
        "--mcool", f"{files['mcool']}::resolutions/25000", "--chrom", "21",
        "--bigwigs", str(files["bw"]), str(files["bw_21"]), "--feature-names", "ctcf", "k27",
        "--max-dist", "500000", "--edge-transform", "oe", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "'chr21' is called '21' in bigWig" in proc.stderr
    assert "60 nodes" in proc.stderr
    g = common.load_graph(out)
    assert g["feature_names"] == ["ctcf", "k27", "E1", "E2", "E3"] and g["chroms"] == ["chr21"]
    np.testing.assert_allclose(g["x"][:, 0], -g["x"][:, 1])
    span = (g["start"][g["edge_index"][1]] - g["start"][g["edge_index"][0]]).abs()
    assert int(span.max()) <= 500_000 and g["edge_transform"] == "oe"
    assert g["provenance"]["parameters"]["max_dist"] == 500_000


def test_cli_constant_feature_fails_unless_allowed(files, tmp_path):
    const = synth_hic.write_bigwig(tmp_path / "c_flat.bw", {"chr21": np.ones(60)}, step=25_000)
    argv = ["--mcool", str(files["mcool"]), "--chrom", "chr21", "--res", "25000",
            "--bigwigs", str(const), "--out", str(tmp_path / "g.pt")]
    proc = call_main(build_graph.main, *argv)
    assert proc.returncode != 0 and "--allow-constant-features" in proc.stderr
    assert not (tmp_path / "g.pt").exists()
    proc = call_main(build_graph.main, *argv, "--allow-constant-features")
    assert proc.returncode == 0 and "feature 'flat' is constant" in proc.stderr


def test_cli_feature_name_count_mismatch(files, tmp_path):
    from conftest import assert_clean_error

    argv = synth_hic.cli_args(files, {}, bw_flag="--bigwigs", out=tmp_path / "g.pt")
    proc = call_main(build_graph.main, *argv, "--feature-names", "a", "b")
    assert_clean_error(proc, "2 --feature-names for 1 --bigwigs")


@pytest.mark.parametrize("case", synth_hic.BAD_CASES, ids=[c[0] for c in synth_hic.BAD_CASES])
def test_bad_input_fails_cleanly(files, case, tmp_path):
    synth_hic.check_bad_input(build_graph.main, files, case, bw_flag="--bigwigs",
                              out=tmp_path / "out" / "g.pt")


def test_bad_input_as_a_real_process(files, tmp_path):
    from conftest import assert_clean_error

    out = tmp_path / "out" / "g.pt"
    for change, fragment in (({"--res": "abc"}, "expected a positive integer"),
                             ({"--mcool": "text"}, "not a cooler file")):
        proc = run_script("build_graph", *synth_hic.cli_args(files, change, bw_flag="--bigwigs", out=out))
        assert_clean_error(proc, fragment)
    assert not out.parent.exists()


def test_multi_chromosome_graph_intra_only_unless_trans(tmp_path):
    bins = cooler.binnify(pd.Series({"chr1": 100, "chr2": 60, "chrX": 40}), 10)
    rng = np.random.default_rng(0)
    i, j = np.triu_indices(len(bins))
    keep = rng.random(len(i)) < 0.6
    pix = pd.DataFrame({"bin1_id": i[keep], "bin2_id": j[keep], "count": rng.integers(1, 9, keep.sum())})
    path = tmp_path / "g.cool"
    cooler.create_cooler(str(path), bins, pix)
    bw = synth_hic.write_bigwig(tmp_path / "c_sig.bw", {c: rng.random(n // 5) for c, n in
                                                         (("chr1", 100), ("chr2", 60), ("chrX", 40))}, step=5)
    base = ["--mcool", str(path), "--no-balance", "--bigwigs", str(bw), "--max_dist", "1000"]
    for extra, out in (([], "intra.pt"), (["--trans"], "trans.pt")):
        argv = [*base, "--chrom", "all", "--out", str(tmp_path / out), *extra]
        proc = call_main(build_graph.main, *argv)
        assert proc.returncode == 0, proc.stderr
    intra, trans = common.load_graph(tmp_path / "intra.pt"), common.load_graph(tmp_path / "trans.pt")
    assert intra["chroms"] == ["chr1", "chr2"] and intra["x"].shape[0] == 16
    assert common.bins_frame(intra)["chrom"].tolist() == ["chr1"] * 10 + ["chr2"] * 6
    cid = intra["chrom_id"][intra["edge_index"]]
    assert bool((cid[0] == cid[1]).all())
    cid = trans["chrom_id"][trans["edge_index"]]
    assert int((cid[0] != cid[1]).sum()) > 0 and _edges(intra) < _edges(trans)
    assert _edges(trans) == {(b, a) for a, b in _edges(trans)}


def test_same_input_same_graph(files):
    clr = hicio.open_cooler(str(files["mcool"]), res=25000)
    graphs = [build_graph.build_graph([hicio.read_cis(clr, "chr21")], np.ones((60, 1)), ["f"], allow_constant=True)
              for _ in range(2)]
    for key in ("edge_index", "edge_weight", "x", "mask"):
        assert torch.equal(graphs[0][key], graphs[1][key])


# ---------------------------------------------------------------------------- simulated / real data
@pytest.mark.slow
def test_seed_command_on_simulated_data(sim_small, tmp_path):
    base = synth_hic.stage_raw(sim_small, tmp_path)
    proc = run_script("build_graph", *SEED_CMD, cwd=base)
    assert proc.returncode == 0, proc.stderr
    g = common.load_graph(base / "data/processed/GM12878_chr21.pt")
    # the seed's two marks, then build_graph's default structural features (E1-E3 per arm)
    assert g["x"].shape == (480, 5) and g["feature_names"] == ["CTCF", "H3K27me3", "E1", "E2", "E3"]
    target, region = g["compartment_target"].numpy(), g["compartment_region"].numpy()
    assert target.shape == (480, 10) and (region[~g["mask"].numpy()] == -1).all()
    # the target's first column is the E1 feature (same solve); masked bins are 0
    usable = region >= 0
    assert np.allclose(target[usable, 0], g["x"].numpy()[usable, 2], atol=1e-5) and (target[~usable] == 0).all()
    assert "480 nodes" in proc.stderr and g["provenance"]["inputs"][0]["path"] == "data/raw/GM12878.mcool"
    truth = pd.read_csv(sim_small / "truth.tsv", sep="\t")
    assert (common.bins_frame(g)[["start", "end"]].to_numpy() == truth[["start", "end"]].to_numpy()).all()
    masked, planted_n = ~g["mask"].numpy(), (truth["compartment_GM12878"] == "N").to_numpy()
    assert masked[planted_n].all(), "a planted-N bin kept as usable"
    low = json.loads((sim_small / "simulation.json").read_text())["summary"].get("n_low_coverage", 0)
    assert masked.sum() - planted_n.sum() <= low + 2, "more masked bins than planted low-coverage ones"
    assert g["edge_index"].shape[1] > 10 * 480


@pytest.mark.real
def test_real_plotgardener_pair(real_dir, tmp_path):
    d = real_dir / "01_GM12878_IMR90_chr21_28-30Mb_10kb_hg19_plotgardenerData"
    for cell in ("GM12878", "IMR90"):
        mcool = d / f"{cell}_chr21_28.0-30.3Mb_10kb_KRcapped.cool"
        args = ["--mcool", str(mcool), "--chrom", "chr21", "--res", "10000",
                "--out", str(tmp_path / f"{cell}.pt"), "--bigwigs", *(str(d / f"{cell}_{m}_chr21_28.0-30.3Mb_hg19.bw") for m in ("CTCF", "H3K27ac"))]
        proc = call_main(build_graph.main, *args)  # no weight column: must say so
        assert proc.returncode != 0 and "--no-balance" in proc.stderr
        proc = call_main(build_graph.main, *args, "--no-balance", "--edge-rule", "count")
        assert proc.returncode == 0, proc.stderr
        g = common.load_graph(tmp_path / f"{cell}.pt")
        usable = g["mask"].numpy()
        assert 200 <= usable.sum() <= 240  # the 2.3 Mb window at 10 kb
        assert (g["x"][usable].std(0) > 0).all() and g["edge_index"].shape[1] > 10_000


def test_quantile_edge_rule_does_not_follow_depth():
    """Same map at two depths: the O/E-quantile rule keeps the same number of edges per distance;
    the raw-count rule keeps more at the deeper one."""
    rng = np.random.default_rng(0)
    n = 60
    d = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    lab = np.where((np.arange(n) // 10) % 2 == 0, 1.0, -1.0)
    rate = 50.0 / (d + 1) * np.exp(0.4 * np.outer(lab, lab))
    counts = {k: np.triu(rng.poisson(k * rate)).astype(float) for k in (1, 4)}
    counts = {k: c + np.triu(c, 1).T for k, c in counts.items()}
    per_d = {}
    for rule in ("quantile", "count"):
        for k, c in counts.items():
            i, j, _ = build_graph.cis_edges(hicio.CisBlock.from_dense(c, res=10), max_dist=300, rule=rule,
                                            min_contacts=10, quantile=0.2)
            per_d[rule, k] = np.bincount(j - i, minlength=n)
    np.testing.assert_array_equal(per_d["quantile", 1], per_d["quantile", 4])
    assert per_d["count", 4].sum() > 1.2 * per_d["count", 1].sum()
