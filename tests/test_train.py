"""train_vgae: outputs, determinism, masked bins, honest baselines, bad input (tiny graphs only)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import common
import model as vgae
import train_vgae
from conftest import ROOT, PickleBomb, assert_clean_error, call_main, run_script, toy_graph

FAST = ("--epochs", "25", "--patience", "8", "--hidden", "16", "--latent", "8", "--seed", "0")
OUTPUTS = ("model.pt", "emb.npy", "emb.tsv", "metrics.json", "training_curve.csv", "training_curve.png")


@pytest.fixture(scope="module")
def graph_path(tmp_path_factory) -> Path:
    return common.save_pt(tmp_path_factory.mktemp("train_graph") / "g.pt", toy_graph())


@pytest.fixture(scope="module")
def trained(graph_path, tmp_path_factory) -> Path:
    """One run of the script as a user runs it."""
    out = tmp_path_factory.mktemp("trained") / "GM12878"
    run_script("train_vgae", "--graph", graph_path, *FAST, "--outdir", out, check=True)
    return out


def test_outputs_are_complete_and_aligned(trained, graph_path):
    for name in OUTPUTS:
        assert (trained / name).is_file(), name
        if name != "model.pt":
            assert (trained / f"{name}.provenance.json").is_file(), name
    emb = np.load(trained / "emb.npy")
    assert emb.dtype == np.float32 and emb.shape == (120, 8) and np.isfinite(emb).all()
    tsv = pd.read_csv(trained / "emb.tsv", sep="\t")
    assert list(tsv.columns[:4]) == ["chrom", "start", "end", "z0"] and len(tsv) == 120
    assert np.allclose(tsv[[f"z{k}" for k in range(8)]].to_numpy(), emb, atol=1e-4)
    assert not list(trained.glob(".*tmp*")), "temporary files left behind"

    ckpt = torch.load(trained / "model.pt", weights_only=True)
    assert ckpt["format"] == common.MODEL_FORMAT and ckpt["feature_names"] == ["CTCF", "H3K27me3"]
    assert ckpt["hparams"]["decoder"] == train_vgae.DEFAULT_DECODER and ckpt["hparams"]["latent"] == 8
    assert ckpt["graph"]["n_nodes"] == 120 and ckpt["graph"]["resolution"] == 25_000
    assert "--seed 0" in ckpt["provenance"]["command"]


def test_metrics_put_the_model_beside_the_distance_baseline(trained):
    m = json.loads((trained / "metrics.json").read_text())
    for key in ("epochs_run", "best_epoch", "val_auc", "test_auc", "test_ap", "distance_test_auc",
                "distance_test_ap", "matched_test_auc", "matched_distance_auc"):
        assert m[key] is not None, key
    assert m["matched_distance_auc"] == pytest.approx(0.5)  # by construction
    assert set(m["matched_baselines_auc"]) == {"common_neighbours", "adamic_adar", "degree_product"}
    assert all(0 <= v <= 1 for v in m["matched_baselines_auc"].values())
    assert m["matched_coverage"] == pytest.approx(m["split"]["matched_pairs"] / m["split"]["test_links"])
    assert m["unmatched_test_links"] == m["split"]["test_links"] - m["split"]["matched_pairs"]
    s = m["split"]
    assert s["test_links"] == s["test_negatives"] > 0 and s["val_links"] == s["val_negatives"] > 0
    assert s["usable_bins"] == 108 and s["masked_bins"] == 12
    curve = pd.read_csv(trained / "training_curve.csv")
    assert len(curve) == m["epochs_run"]
    best = curve[curve.epoch == m["best_epoch"]]  # the restored weights are the best epoch's
    assert m["val_auc"] == pytest.approx(best.val_auc.item())
    tracked = curve[curve.epoch >= train_vgae.MIN_EPOCHS[m["stop_on"]]]  # best weights tracked from here
    assert best.score.item() == tracked.score.max()


def test_same_seed_gives_byte_identical_embeddings(trained, graph_path, tmp_path):
    # the fixture ran in a subprocess; this run is in-process
    assert call_main(train_vgae.main, "--graph", graph_path, *FAST, "--outdir", tmp_path / "a",
                     "-q").returncode == 0
    assert (tmp_path / "a/emb.npy").read_bytes() == (trained / "emb.npy").read_bytes()
    other = [*FAST[:-1], "1"]
    assert call_main(train_vgae.main, "--graph", graph_path, *other, "--outdir", tmp_path / "b",
                     "-q").returncode == 0
    assert (tmp_path / "b/emb.npy").read_bytes() != (trained / "emb.npy").read_bytes()


def test_early_stopping_restores_the_best_weights():
    data = vgae.prepare_graph(toy_graph(seed=1))
    with vgae.cpu_threads(1):
        res = train_vgae.train_vgae(data, hidden=16, latent=8, epochs=60, patience=4, objective="bce",
                                    rng=common.seed_everything(0))
    m, h = res.metrics, res.history
    assert m["stopped_early"] and m["epochs_run"] == m["best_epoch"] + 4
    assert m["best_epoch"] == int(h.val_auc.idxmax()) + 1  # --stop-on auto = auc for objective bce
    sub, train, val, _ = res.splits
    adj = res.model.adjacency(train.edge_index, train.edge_weight, sub.num_nodes)
    assert train_vgae.evaluate(res.model, sub, adj, val)[0] == pytest.approx(m["val_auc"])


def test_masked_bins_take_no_part_in_links_or_negatives():
    g = toy_graph(80, n_masked=10)
    data = vgae.prepare_graph(g)
    sub, idx = train_vgae.usable_subgraph(data)
    assert g["mask"][idx].all() and sub.num_nodes == 70
    train, val, test = train_vgae.split_links(sub, val_frac=0.1, test_frac=0.1)
    links = set(map(tuple, idx[sub.edge_index].T.tolist()))
    for split in (val, test):
        neg = split.edge_label_index[:, split.edge_label == 0]
        assert not set(map(tuple, idx[neg].T.tolist())) & links  # true non-links ...
        assert g["mask"][idx[neg]].all()  # ... between usable bins
    keys = np.unique(train_vgae.pair_keys(sub.edge_index.numpy(), sub.num_nodes))
    neg = train_vgae.sample_negatives(sub.num_nodes, 500, link_keys=keys, rng=np.random.default_rng(0))
    assert neg.shape == (2, 500) and (neg[0] != neg[1]).all()
    assert not np.isin(train_vgae.pair_keys(neg, sub.num_nodes), keys).any()


def test_distance_matched_negatives_share_the_distances():
    data = vgae.prepare_graph(toy_graph())
    sub, _ = train_vgae.usable_subgraph(data)
    pos, chrom = sub.pos.numpy(), sub.chrom_id.numpy()
    links = sub.edge_index.numpy()
    keys = np.unique(train_vgae.pair_keys(links, sub.num_nodes))
    pairs = links[:, links[0] < links[1]][:, :200]
    found, neg = train_vgae.distance_matched_negatives(pairs, pos=pos, chrom=chrom, link_keys=keys,
                                                       rng=np.random.default_rng(0))
    assert found.mean() > 0.9
    d = lambda p: np.abs(pos[p[0]] - pos[p[1]])  # noqa: E731
    assert (d(pairs[:, found]) == d(neg)).all()
    assert not np.isin(train_vgae.pair_keys(neg, sub.num_nodes), keys).any()
    both = np.concatenate([pairs[:, found], neg], 1)
    labels = np.r_[np.ones(neg.shape[1]), np.zeros(neg.shape[1])]
    auc, _ = train_vgae.link_scores(labels, train_vgae.distance_scores(both, pos=pos, chrom=chrom))
    assert auc == pytest.approx(0.5)


def test_seed_command_line_is_accepted():
    args = train_vgae.build_parser().parse_args(
        "--graph data/processed/GM12878_chr21.pt --epochs 300 --patience 20 --hidden 64 --latent 32 "
        "--outdir results/GM12878".split())
    assert (args.epochs, args.patience, args.hidden, args.latent) == (300, 20, 64, 32)
    assert (args.lr, args.dropout, args.seed, args.val_frac, args.test_frac) == (0.01, 0.2, 0, 0.1, 0.1)
    assert args.device == "auto" and args.edge_weight and args.decoder == "distance"


# ----------------------------------------------------------------------------
# bad input: one clean error line, no traceback, no output
# ----------------------------------------------------------------------------
def _bad_graphs(d: Path) -> dict[str, Path]:
    d.mkdir(exist_ok=True)
    torch.save(torch.zeros(3), d / "tensor.pt")
    torch.save({"x": torch.zeros(3, 2)}, d / "untagged.pt")
    torch.save({"payload": PickleBomb(d / "PWNED")}, d / "evil.pt")
    g = toy_graph(40)
    g["mask"][:] = False
    g["mask"][::2] = True  # only isolated usable bins: every edge touches a masked bin
    g["edge_index"] = g["edge_index"][:, (g["edge_index"][1] - g["edge_index"][0]).abs() == 1]
    g["edge_weight"] = g["edge_weight"][: g["edge_index"].shape[1]]
    common.save_pt(d / "no_edges.pt", g)
    g = toy_graph(30, n_masked=0)
    i, j = torch.triu_indices(30, 30, 1)
    g["edge_index"], g["edge_weight"] = torch.stack([torch.cat([i, j]), torch.cat([j, i])]), torch.ones(2 * i.numel())
    common.save_pt(d / "complete.pt", g)
    (d / "a_file").write_text("not a folder")
    return {p.stem: p for p in d.iterdir()}


@pytest.mark.parametrize("case, extra, fragment", [
    ("tensor", (), "is not a chromatin-gnn graph (format 'Tensor'"),
    ("untagged", (), "is not a chromatin-gnn graph (format None"),
    ("evil", (), "not a safe chromatin-gnn graph"),
    ("no_edges", (), "no edges left after removing masked bins"),
    ("complete", (), "only 0 of the 435 pairs of usable bins are non-contacts"),
    ("good", ("--device", "tpu"), "unknown device 'tpu'"),
    ("good", ("--outdir", "{a_file}/sub"), "cannot create output directory"),
    ("good", ("--epochs", "-3"), "argument --epochs: must be a positive integer, got -3"),
    ("good", ("--val-frac", "0.6", "--test-frac", "0.5"), "leaves no links for training"),
])
def test_bad_input(case, extra, fragment, graph_path, tmp_path):
    files = {**_bad_graphs(tmp_path / "in"), "good": graph_path}
    out = tmp_path / "out"
    extra = [e.format(**files) for e in extra]
    proc = call_main(train_vgae.main, "--graph", files[case], "--epochs", "2", "--outdir", out, *extra)
    assert_clean_error(proc, fragment)
    assert not out.exists()
    assert not (tmp_path / "in/PWNED").exists(), "unpickling ran code"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda(graph_path, tmp_path):
    proc = call_main(train_vgae.main, "--graph", graph_path, "--device", "cuda", "--outdir", tmp_path / "o")
    assert_clean_error(proc, "CUDA is not available")
    assert not (tmp_path / "o").exists()


def test_distance_matched_negatives_at_saturated_distances():
    """Where almost every pair at a distance is a link, the one free pair is found (not left to
    chance); where none is free, the link stays unmatched."""
    n = 60
    pos, chrom = np.arange(n), np.zeros(n, dtype=np.int64)
    a = np.arange(n - 1)
    ones = np.stack([a, a + 1])[:, a != 10]            # every distance-1 pair but (10, 11)
    twos = np.stack([a[:-1], a[:-1] + 2])              # every distance-2 pair
    links = np.concatenate([ones, twos], 1)
    keys = np.unique(train_vgae.pair_keys(links, n))
    found, neg = train_vgae.distance_matched_negatives(links, pos=pos, chrom=chrom, link_keys=keys,
                                                       rng=np.random.default_rng(0), rounds=1)
    assert found[:ones.shape[1]].all() and not found[ones.shape[1]:].any()
    assert (np.sort(neg, 0) == [[10], [11]]).all()


def two_chromosome_graph(*, trans: bool = False) -> dict:
    """Two toy chromosomes in one graph (as build_graph --chrom chr1 chr2 writes it)."""
    a, b = toy_graph(100, seed=1), toy_graph(80, seed=2)
    g = dict(a)
    n = 100
    ei = [a["edge_index"], b["edge_index"] + n]
    ew = [a["edge_weight"], b["edge_weight"]]
    if trans:
        t = torch.tensor([[50, 51, n + 40], [n + 40, n + 41, 50]])
        ei.append(torch.cat([t, t.flip(0)], 1))
        ew.append(torch.ones(6))
    g.update(x=torch.cat([a["x"], b["x"]]), edge_index=torch.cat(ei, 1), edge_weight=torch.cat(ew),
             mask=torch.cat([a["mask"], b["mask"]]), chroms=["chr1", "chr2"],
             chrom_id=torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(80, dtype=torch.long)]),
             start=torch.cat([a["start"], b["start"]]), end=torch.cat([a["end"], b["end"]]),
             compartment_target=torch.cat([a["compartment_target"], b["compartment_target"]]),
             compartment_region=torch.cat([a["compartment_region"],
                                           torch.where(b["compartment_region"] >= 0, b["compartment_region"] + 1, -1)]))
    return g


def test_negatives_are_cis_on_a_genome_graph_without_trans_links():
    """Random pairs of a multi-chromosome graph are mostly trans non-links that the chromosome alone
    gives away; auto mode draws training, validation and test negatives within chromosomes."""
    data = vgae.prepare_graph(two_chromosome_graph())
    assert train_vgae.negatives_mode(data) == "cis"
    assert train_vgae.negatives_mode(vgae.prepare_graph(two_chromosome_graph(trans=True))) == "all"
    assert train_vgae.negatives_mode(vgae.prepare_graph(toy_graph())) == "all"
    assert train_vgae.negatives_mode(data, "all") == "all"

    sub, _ = train_vgae.usable_subgraph(data)
    chrom = sub.chrom_id.numpy()
    keys = np.unique(train_vgae.pair_keys(sub.edge_index.numpy(), sub.num_nodes))
    neg = train_vgae.sample_negatives(sub.num_nodes, 3000, link_keys=keys, rng=np.random.default_rng(0),
                                      chrom=chrom)
    assert neg.shape == (2, 3000) and (chrom[neg[0]] == chrom[neg[1]]).all() and (neg[0] != neg[1]).all()
    assert not np.isin(train_vgae.pair_keys(neg, sub.num_nodes), keys).any()
    assert 0.3 < (chrom[neg[0]] == 1).mean() < 0.6  # both chromosomes drawn

    common.seed_everything(0)
    res = train_vgae.train_vgae(data, hidden=16, latent=8, epochs=5, patience=5, rng=np.random.default_rng(0))
    assert res.metrics["negatives"] == "cis"
    for split in res.splits[2:]:
        p = split.edge_label_index[:, split.edge_label == 0].numpy()
        assert p.shape[1] > 0 and (chrom[p[0]] == chrom[p[1]]).all()
        assert int((split.edge_label == 0).sum()) == int((split.edge_label == 1).sum())
    assert res.metrics["distance_test_auc"] < 0.99  # distance alone no longer solves it


# ----------------------------------------------------------------------------
# training design: held-out links, objectives, encoders, presets, joint training
# ----------------------------------------------------------------------------
def _keys(pairs, n):
    return set(train_vgae.pair_keys(np.asarray(pairs), n).tolist())


def test_test_links_are_absent_from_message_passing():
    data = vgae.prepare_graph(toy_graph())
    sub, _ = train_vgae.usable_subgraph(data)
    train, val, test = train_vgae.split_links(sub, val_frac=0.1, test_frac=0.1)
    n = sub.num_nodes
    test_links = _keys(test.edge_label_index[:, test.edge_label == 1], n)
    val_links = _keys(val.edge_label_index[:, val.edge_label == 1], n)
    assert test_links and val_links
    assert not test_links & _keys(train.edge_index, n) and not test_links & _keys(test.edge_index, n)
    assert not val_links & _keys(val.edge_index, n) and val_links <= _keys(test.edge_index, n)


def test_matched_split_draws_non_links_at_the_positives_distances():
    data = vgae.prepare_graph(toy_graph())
    sub, _ = train_vgae.usable_subgraph(data)
    _, val, _ = train_vgae.split_links(sub, val_frac=0.1, test_frac=0.1)
    keys = np.unique(train_vgae.pair_keys(sub.edge_index.numpy(), sub.num_nodes))
    out = train_vgae.matched_split(val, sub=sub, link_keys=keys, rng=np.random.default_rng(0))
    p, lab = out.edge_label_index.numpy(), out.edge_label.numpy()
    assert (lab == 1).sum() == int(val.edge_label.sum())  # every held-out link kept
    d = np.abs(sub.pos.numpy()[p[0]] - sub.pos.numpy()[p[1]])
    from collections import Counter

    assert (lab == 0).sum() > 0.9 * (lab == 1).sum()
    assert not Counter(d[lab == 0].tolist()) - Counter(d[lab == 1].tolist())  # each at a positive's distance
    assert not np.isin(train_vgae.pair_keys(p[:, lab == 0], sub.num_nodes), keys).any()


def test_strength_targets_follow_the_edge_weights():
    data = vgae.prepare_graph(toy_graph())
    sub, _ = train_vgae.usable_subgraph(data)
    pairs = sub.edge_index[:, :50]
    t = train_vgae.strength_targets(sub, pairs).numpy()
    w = sub.edge_strength[:50].numpy()
    assert abs(t.mean()) < 1e-5 and t.std() == pytest.approx(1, abs=1e-4)
    assert np.corrcoef(t, w)[0, 1] == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize("encoder", vgae.ENCODERS)
def test_every_encoder_and_objective_trains(encoder):
    data = vgae.prepare_graph(toy_graph(n=60, n_masked=6))
    objective = train_vgae.OBJECTIVES[vgae.ENCODERS.index(encoder) % len(train_vgae.OBJECTIVES)]
    with vgae.cpu_threads(1):
        res = train_vgae.train_vgae(data, hidden=8, latent=4, epochs=3, patience=3, encoder=encoder,
                                    objective=objective, rng=common.seed_everything(0))
    assert res.metrics["encoder"] == encoder and res.metrics["objective"] == objective
    assert res.metrics["epochs_run"] == 3 and np.isfinite(res.history.loss).all()
    assert res.model.hparams["encoder"] == encoder
    assert vgae.embed(res.model, data).shape == (60, 4)


def test_preset_seed_is_the_seeds_model(graph_path, tmp_path):
    assert call_main(train_vgae.main, "--graph", graph_path, *FAST, "--preset", "seed", "--encoder", "gat",
                     "--outdir", tmp_path, "-q").returncode == 0
    ckpt = torch.load(tmp_path / "model.pt", weights_only=True)
    assert ckpt["hparams"]["encoder"] == "gcn" and ckpt["hparams"]["decoder"] == "inner"
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["objective"] == "bce" and m["stop_on"] == "auc"
    assert set(k.split(".")[1] for k in ckpt["state_dict"] if k.startswith("encoder.")) == {
        "bn", "conv", "conv_mu", "conv_logstd"}


def test_joint_training_and_fine_tuning(graph_path, tmp_path):
    other = common.save_pt(tmp_path / "IMR90.pt", toy_graph(seed=3))
    assert call_main(train_vgae.main, "--graph", graph_path, other, *FAST, "--outdir", tmp_path / "j",
                     "-q").returncode == 0
    m = json.loads((tmp_path / "j/metrics.json").read_text())
    assert m["n_graphs"] == 2 and len(m["graphs"]) == 2 and m["graphs"][1]["test_auc"] is not None
    assert np.load(tmp_path / "j/emb_IMR90.npy").shape == (120, 8)
    assert call_main(train_vgae.main, "--graph", other, "--init", tmp_path / "j/model.pt", "--epochs", "2",
                     "--hidden", "99", "--outdir", tmp_path / "f", "-q").returncode == 0
    ckpt = torch.load(tmp_path / "f/model.pt", weights_only=True)
    assert ckpt["hparams"]["hidden"] == 16  # the checkpoint's architecture, not --hidden
    assert json.loads((tmp_path / "f/metrics.json").read_text())["fine_tuned"] is True


def test_stop_on_matched_auc_picks_the_best_matched_epoch():
    data = vgae.prepare_graph(toy_graph(seed=1))
    with vgae.cpu_threads(1):
        res = train_vgae.train_vgae(data, hidden=16, latent=8, epochs=12, patience=4, encoder="jk",
                                    objective="matched", stop_on="matched-auc", rng=common.seed_everything(0))
    assert res.metrics["best_epoch"] == int(res.history.val_matched_auc.idxmax()) + 1


@pytest.mark.parametrize("ties", [False, True])
def test_link_scores_equal_scikit_learn(ties):
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 500)
    scores = labels * 0.7 + rng.normal(size=500)
    if ties:  # coarse scores: many pairs share a threshold
        scores = np.round(scores, 1)
    auc, ap = train_vgae.link_scores(labels, scores)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert ap == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_structure_feature_target_uses_training_links_only():
    import baselines

    data = vgae.prepare_graph(toy_graph())
    sub, _ = train_vgae.usable_subgraph(data)
    train, _, _ = train_vgae.split_links(sub, val_frac=0.1, test_frac=0.1)
    st = train_vgae.structure_targets(sub, train, comp_weight=1.0, feat_weight=1.0)
    x = sub.x.numpy()
    want = baselines.smoothed_features(x=x, edge_index=train.edge_index.numpy(),
                                       edge_weight=train.edge_weight.numpy(), mask=np.ones(len(x), bool),
                                       steps=[train_vgae.STRUCTURE_SMOOTHING])[train_vgae.STRUCTURE_SMOOTHING]
    want = (want - want.mean(0)) / want.std(0)
    assert np.allclose(st.feat_target.numpy(), want, atol=1e-5)
    allw = baselines.smoothed_features(x=x, edge_index=sub.edge_index.numpy(), edge_weight=sub.edge_weight.numpy(),
                                       mask=np.ones(len(x), bool), steps=[2])[2]
    assert not np.allclose(st.feat_target.numpy(), (allw - allw.mean(0)) / allw.std(0), atol=1e-3)
    held = st.masks["held_out"]
    assert int(held.sum()) == round(train_vgae.STRUCTURE_HELD_OUT * sub.num_nodes)


def test_default_training_reads_the_compartment_target_and_stops_on_held_out_bins():
    data = vgae.prepare_graph(toy_graph())
    with vgae.cpu_threads(1):
        res = train_vgae.train_vgae(data, hidden=16, latent=8, epochs=30, rng=common.seed_everything(0))
    m, h = res.metrics, res.history
    assert m["objective"] == "structure" and m["stop_on"] == "structure" and m["encoder"] == "jk"
    assert h["held_out_structure"].notna().all()
    tracked = h[h.epoch >= train_vgae.MIN_EPOCHS["structure"]]  # the first epochs only start the run
    assert m["best_epoch"] >= train_vgae.MIN_EPOCHS["structure"]
    assert h.loc[h.epoch == m["best_epoch"], "held_out_structure"].item() == tracked["held_out_structure"].min()


def test_structure_stop_needs_the_structure_objective():
    data = vgae.prepare_graph(toy_graph())
    with pytest.raises(common.DataError, match="--stop-on structure"):
        train_vgae.train_vgae(data, objective="bce", stop_on="structure", epochs=2, rng=common.seed_everything(0))


def test_summary_counts_the_matched_test_links(trained):
    m = json.loads((trained / "metrics.json").read_text())
    line = [s for s in train_vgae.summary_lines(m) if s.startswith("distance-matched non-links")][0]
    assert line.startswith(f"distance-matched non-links for {m['split']['matched_pairs']} of "
                           f"{m['split']['test_links']} test links")
    assert m["split"]["test_links"] > 0


def test_link_membership_is_the_same_on_the_sorted_search_path():
    """_is_link searches large key sets in sorted order (a speed-up): the same answer as np.isin."""
    rng = np.random.default_rng(0)
    links = np.unique(rng.integers(0, 10 ** 7, size=50_000))
    for size in (1000, train_vgae._SORTED_SEARCH + 1):
        keys = rng.integers(0, 10 ** 7, size=size)
        keys[::3] = links[rng.integers(0, links.size, size=keys[::3].size)]  # a third are links
        got = train_vgae._is_link(keys, links)
        assert np.array_equal(got, np.isin(keys, links)) and 0.3 < got.mean() < 0.4
    assert np.array_equal(train_vgae.unique_keys(keys), np.unique(keys))


def test_seed_everything_turns_on_deterministic_algorithms_without_inductor():
    """Same seed, same numbers: torch's deterministic mode is on (warn-only), at no inductor import."""
    import subprocess

    code = ("import sys; sys.path.insert(0, 'scripts'); import torch, common; common.seed_everything(3); "
            "a = torch.rand(2); common.seed_everything(3); b = torch.rand(2); "
            "print(torch.are_deterministic_algorithms_enabled(), "
            "torch.is_deterministic_algorithms_warn_only_enabled(), "
            "'torch._inductor' in sys.modules, bool((a == b).all()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["True", "True", "False", "True"]
