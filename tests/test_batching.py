"""batching: genomic windows with an exact halo (--batch window) -- cover, exactness, training."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch_geometric.utils import k_hop_subgraph

import batching
import common
import encode_graph
import model as vgae
import train_vgae
from conftest import assert_clean_error, call_main, toy_graph

#: Directed edges per window core on the synthetic graphs below: several windows per chromosome.
SMALL_WINDOW = 1200


def multi_chromosome_graph(sizes=(150, 90, 120), masked=(12, 4, 0)) -> dict:
    """Toy chromosomes side by side in one graph (cis edges only), masked bins at each start."""
    parts = [toy_graph(n, n_masked=m, seed=k + 3) for k, (n, m) in enumerate(zip(sizes, masked))]
    off = np.r_[0, np.cumsum(sizes)[:-1]]
    g = dict(parts[0])
    cat = lambda key: torch.cat([p[key] for p in parts])  # noqa: E731
    region = [torch.where(p["compartment_region"] >= 0, p["compartment_region"] + k, -1) for k, p in enumerate(parts)]
    g.update(x=cat("x"), edge_weight=cat("edge_weight"), mask=cat("mask"), start=cat("start"), end=cat("end"),
             edge_index=torch.cat([p["edge_index"] + int(o) for p, o in zip(parts, off)], 1),
             chroms=[f"chr{k + 1}" for k in range(len(sizes))],
             chrom_id=torch.cat([torch.full((n,), k, dtype=torch.long) for k, n in enumerate(sizes)]),
             compartment_target=cat("compartment_target"), compartment_region=torch.cat(region))
    return g


@pytest.fixture(scope="module")
def data():
    return vgae.prepare_graph(multi_chromosome_graph())


def _model(data, encoder: str, *, use_edge_weight: bool = True) -> vgae.VGAE:
    torch.manual_seed(0)
    m = vgae.VGAE(in_channels=data.num_features, hidden=16, latent=8, encoder=encoder,
                  use_edge_weight=use_edge_weight, feature_head=True)
    m.train()
    m.encode(data)  # BatchNorm statistics of the graph, as training leaves them
    return m.eval()


def test_cores_cover_every_node_once_and_halos_hold_the_neighbourhood(data):
    m = _model(data, "jk")
    plan = batching.WindowPlan(m, data.edge_index, data.edge_weight, data.num_nodes, window_edges=SMALL_WINDOW)
    assert len(plan) >= 4
    cover = np.zeros(data.num_nodes, int)
    for w in plan.windows:
        cover[w.core_start:w.core_end] += 1
        assert w.start <= w.core_start < w.core_end <= w.end
        core = torch.arange(w.core_start, w.core_end)
        need, _, _, _ = k_hop_subgraph(core, m.encoder.hops, data.edge_index, num_nodes=data.num_nodes)
        assert need.min() >= w.start and need.max() < w.end  # the exact halo lies inside
    assert (cover == 1).all()
    assert sum(w.end - w.start for w in plan.windows) < 2 * data.num_nodes  # halos stay small


@pytest.mark.parametrize("encoder", vgae.ENCODERS)
def test_window_encoding_equals_full_batch(data, encoder):
    m = _model(data, encoder)
    plan = batching.WindowPlan(m, data.edge_index, data.edge_weight, data.num_nodes, window_edges=SMALL_WINDOW)
    assert len(plan) >= 4
    with torch.no_grad():
        full_mu, full_ls = m.encode(data)
        mu, ls = m.encode(data, plan)
    assert mu.shape == full_mu.shape
    assert float((mu - full_mu).abs().max()) < 1e-5 and float((ls - full_ls).abs().max()) < 1e-5
    assert float(full_mu.abs().max()) > 1e-2  # a real signal, not all zeros
    assert np.abs(vgae.embed(m, data, plan) - vgae.embed(m, data)).max() < 1e-5


def test_window_encoding_without_edge_weights(data):
    m = _model(data, "gcn", use_edge_weight=False)
    plan = batching.adjacency(m, data.edge_index, data.edge_weight, data.num_nodes, batch="window",
                              window_edges=SMALL_WINDOW)
    assert np.abs(vgae.embed(m, data, plan) - vgae.embed(m, data)).max() < 1e-5


def test_a_halo_too_narrow_changes_the_embedding(data, monkeypatch):
    """The exactness test can fail: one hop of halo for a two-layer encoder is not enough."""
    m = _model(data, "gcn")
    monkeypatch.setattr(type(m.encoder), "hops", property(lambda self: 1))
    plan = batching.WindowPlan(m, data.edge_index, data.edge_weight, data.num_nodes, window_edges=SMALL_WINDOW)
    assert np.abs(vgae.embed(m, data, plan) - vgae.embed(m, data)).max() > 1e-3


def test_resolve_and_bad_modes():
    assert batching.resolve("auto", 10) == "full"
    assert batching.resolve("auto", batching.AUTO_WINDOW_EDGES + 1) == "window"
    assert batching.resolve("full", 10 ** 9) == "full" and batching.resolve("window", 2) == "window"
    with pytest.raises(common.DataError, match="unknown --batch"):
        batching.resolve("clusters", 10)


def test_cut_cores_respects_the_budget():
    deg = np.array([3, 3, 3, 50, 0, 0, 3, 3])
    cores = batching.cut_cores(deg, 8)
    assert cores[0][0] == 0 and cores[-1][1] == deg.size
    assert all(a < b for a, b in cores) and all(b == c for (_, b), (c, _) in zip(cores[:-1], cores[1:]))
    for a, b in cores:  # a core over budget is a single node
        assert (deg[a:b] + 1).sum() <= 8 or b - a == 1
    assert batching.cut_cores(deg, 10 ** 6) == [(0, deg.size)]


def test_structure_targets_restricted_to_one_window_covering_all_are_unchanged(data):
    sub, _ = train_vgae.usable_subgraph(data)
    train, _, _ = train_vgae.split_links(sub, val_frac=0.1, test_frac=0.1)
    torch.manual_seed(0)
    st = train_vgae.structure_targets(sub, train, comp_weight=10, feat_weight=1)
    n = sub.num_nodes
    z = torch.randn(n, 8)
    head = torch.nn.Linear(8, sub.num_features)
    with torch.no_grad():
        whole = st.restrict(0, n, 0, n)
        assert float(whole.loss(z, head)) == pytest.approx(float(st.loss(z, head)), rel=1e-6)
        part = st.restrict(20, 200, 40, 160)  # rows 20..199, core 40..159
        expect = vgae.StructureTargets(mask=st.masks["train"][40:160], comp_target=sub.comp_target[40:160],
                                       comp_region=sub.comp_region[40:160], feat_target=st.feat_target[40:160],
                                       comp_weight=10, feat_weight=1)
        assert float(part.loss(z[20:200], head)) == pytest.approx(float(expect.loss(z[40:160], head)), rel=1e-5)


def _train(data, **kw):
    return train_vgae.train_vgae(data, hidden=16, latent=8, epochs=6, patience=6, rng=common.seed_everything(0),
                                 window_edges=SMALL_WINDOW, **kw)


def test_window_training_sees_training_links_only_each_once(data, monkeypatch):
    plans = []
    real = batching.WindowPlan.__init__

    def spy(self, *args, **kw):
        real(self, *args, **kw)
        plans.append((self, kw.get("loss_hops", 0)))

    monkeypatch.setattr(batching.WindowPlan, "__init__", spy)
    res = _train(data, batch="window")
    sub, train, val, test = res.splits
    n = sub.num_nodes
    keys = lambda p: set(train_vgae.pair_keys(np.asarray(p), n).tolist())  # noqa: E731
    plan = next(p for p, hops in plans if hops == 1)  # the training plan
    passed = set()
    for w in plan.windows:
        ei = w.adj.to_sparse_coo().indices() if isinstance(w.adj, torch.Tensor) else w.adj[0]
        ei = ei[:, ei[0] != ei[1]] + w.start  # self-loops aside
        passed |= keys(ei)
    assert passed == keys(train.edge_index)  # every training edge passes messages, nothing else
    assert not passed & keys(test.edge_label_index[:, test.edge_label == 1])
    assert not passed & keys(val.edge_label_index[:, val.edge_label == 1])
    m = res.metrics
    assert m["batch"]["mode"] == "window" and m["batch"]["windows"][0] == len(plan) >= 4
    assert np.isfinite(res.history.loss).all() and m["test_auc"] > 0.5

    # every training link in exactly one window, both ends in its loss interval
    task = train_vgae._Task(data, sub, train, val, val, test, np.array([]), np.array([]), None, "all", None)
    batches = train_vgae._window_batches(task, plan, objective="bce")
    got = np.concatenate([(wb.pos + plan.windows[wb.k].start).numpy() for wb in batches], 1)
    assert got.shape[1] == train.edge_label_index.size(1)
    assert sorted(train_vgae.pair_keys(got, n)) == sorted(train_vgae.pair_keys(train.edge_label_index.numpy(), n))
    # the loss interval's embeddings are exact
    model = res.model.eval()
    with torch.no_grad():
        full, _ = model.encode(sub, model.adjacency(train.edge_index, train.edge_weight, n))
        h = model.encoder.normalise(sub.x, sub.mask)
        for wb in batches:
            w = plan.windows[wb.k]
            mu, _ = plan.encode_window(model, h, wb.k)
            loss_rows = slice(wb.loss_off, wb.loss_off + wb.n_loss)
            assert float((mu[loss_rows] - full[w.loss_start:w.loss_end]).abs().max()) < 1e-5


@pytest.mark.parametrize("objective", ["structure", "matched", "strength"])
def test_window_training_is_deterministic(data, objective):
    a, b = _train(data, batch="window", objective=objective), _train(data, batch="window", objective=objective)
    assert a.history.equals(b.history)
    assert np.array_equal(vgae.embed(a.model, data), vgae.embed(b.model, data))
    ma, mb = (dict(r.metrics, train_seconds=0) for r in (a, b))
    assert ma == mb


def test_auto_is_full_batch_on_a_small_graph(data):
    auto, full = _train(data), _train(data, batch="full")
    assert "batch" not in auto.metrics  # metrics.json of full batch as before
    assert auto.history.equals(full.history)
    assert np.array_equal(vgae.embed(auto.model, data), vgae.embed(full.model, data))


def test_command_line_window_mode(tmp_path):
    g = common.save_pt(tmp_path / "g.pt", multi_chromosome_graph())
    out = tmp_path / "w"
    args = ("--graph", g, "--epochs", "4", "--patience", "4", "--hidden", "8", "--latent", "4", "-q")
    assert call_main(train_vgae.main, *args, "--batch", "window", "--window-edges", str(SMALL_WINDOW),
                     "--outdir", out).returncode == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["batch"]["mode"] == "window" and m["batch"]["windows"][0] >= 4
    emb = np.load(out / "emb.npy")
    model, _ = encode_graph.load_model(out / "model.pt")
    data = vgae.prepare_graph(common.load_graph(g))
    assert emb.shape == (data.num_nodes, 4)
    assert np.abs(emb - encode_graph.encode_graph(model, data, batch="full")).max() < 1e-5  # embedded exactly
    e2 = tmp_path / "e.npy"
    assert call_main(encode_graph.main, "--model", out / "model.pt", "--graph", g, "--out", e2, "--batch", "window",
                     "--window-edges", str(SMALL_WINDOW), "-q").returncode == 0
    assert np.abs(np.load(e2) - emb).max() < 1e-5
    assert_clean_error(call_main(train_vgae.main, *args, "--batch", "window", "--window-edges", "0",
                                 "--outdir", tmp_path / "x"), "window-edges")


def test_joint_window_training_on_two_graphs(data):
    other = vgae.prepare_graph(toy_graph(200, n_masked=10, seed=11))
    res = _train([data, other], batch="window")
    assert res.metrics["batch"]["windows"][0] >= 4 and len(res.metrics["batch"]["windows"]) == 2
    assert res.metrics["batch"]["steps_per_epoch"] > res.metrics["batch"]["windows"][0]
    assert len(res.metrics["graphs"]) == 2 and np.isfinite(res.history.loss).all()
