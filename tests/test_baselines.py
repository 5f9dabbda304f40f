"""baselines.py: link scores, embedding metrics and baselines on hand-made inputs (mechanics only)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import torch

import baselines
import model as vgae
from conftest import toy_graph

# 0-1, 0-2, 1-2, 2-3, 3-4: node 2 has degree 3, 0 and 1 share neighbour 2, 0 and 3 share 2.
EDGES = np.array([[0, 0, 1, 2, 3], [1, 2, 2, 3, 4]])


def test_link_baselines_count_shared_neighbours_and_degrees():
    pairs = np.array([[0, 0, 1, 0], [3, 4, 4, 1]])
    s = baselines.link_baseline_scores(edge_index=np.c_[EDGES, EDGES[::-1]], pairs=pairs, n=5)
    np.testing.assert_array_equal(s["common_neighbours"], [1, 0, 0, 1])
    np.testing.assert_allclose(s["adamic_adar"], [1 / np.log(3), 0, 0, 1 / np.log(3)])
    np.testing.assert_array_equal(s["degree_product"], [2 * 2, 2 * 1, 2 * 1, 2 * 2])
    assert set(s) == set(baselines.LINK_BASELINES)


def test_blocked_probe_uses_contiguous_folds():
    n = 200
    labels = np.where((np.arange(n) // 20) % 2 == 0, "A", "B")
    good = np.where(labels == "A", 1.0, -1.0)[:, None] + np.random.default_rng(0).normal(0, 0.1, (n, 1))
    assert baselines.blocked_probe(x=good, labels=labels) == 1.0
    # a feature that only encodes position: contiguous folds leave it near chance
    pos = np.arange(n, dtype=float)[:, None]
    assert baselines.blocked_probe(x=pos, labels=labels) < 0.75
    labels[:5] = "N"  # N bins are ignored
    assert np.isfinite(baselines.blocked_probe(x=good, labels=labels))
    assert np.isnan(baselines.blocked_probe(x=good[:6], labels=labels[:6]))


def test_effective_rank_and_first_pc_share():
    rng = np.random.default_rng(0)
    rank1 = np.outer(rng.normal(size=100), rng.normal(size=8))
    assert baselines.effective_rank(rank1) == pytest.approx(1.0, abs=1e-6)
    assert baselines.pc1_share(rank1) == pytest.approx(1.0)
    iso = rng.normal(size=(5000, 4))
    assert baselines.effective_rank(iso) == pytest.approx(4.0, abs=0.1)
    assert baselines.pc1_share(iso) == pytest.approx(0.25, abs=0.03)


def test_embedding_metrics_cover_every_key():
    n = 120
    labels = np.where((np.arange(n) // 10) % 2 == 0, "A", "B")
    x = np.random.default_rng(1).normal(size=(n, 3)) + (labels == "A")[:, None]
    m = baselines.embedding_metrics(x=x, labels=labels)
    assert list(m) == list(baselines.EMBEDDING_METRICS) and all(np.isfinite(v) for v in m.values())
    one = baselines.embedding_metrics(x=x[:, 0], labels=labels)
    assert np.isnan(one["silhouette_cosine"]) and np.isfinite(one["silhouette_euclidean"])


def test_smoothed_features_are_powers_of_the_gcn_adjacency():
    g = toy_graph(n=40, n_masked=4)
    data = vgae.prepare_graph(g)
    out = baselines.smoothed_features(x=g["x"].numpy(), edge_index=data.edge_index.numpy(),
                                      edge_weight=data.edge_weight.numpy(), mask=g["mask"].numpy(), steps=(1, 3))
    assert sorted(out) == [1, 3]
    adj = vgae.gcn_adjacency(data.edge_index, data.edge_weight, 40).to_dense().double().numpy()
    x = g["x"].numpy().astype(float)
    m = g["mask"].numpy()
    z = (x - x[m].mean(0)) / x[m].std(0)
    np.testing.assert_allclose(out[1], adj @ z, atol=1e-5)
    np.testing.assert_allclose(out[3], adj @ adj @ adj @ z, atol=1e-5)


@pytest.mark.parametrize("weighted, loops", [(True, False), (False, False), (True, True)])
def test_scipy_gcn_adjacency_is_the_encoders_matrix(weighted, loops):
    """baselines.gcn_adjacency (no torch_geometric) = model.gcn_adjacency (PyG's gcn_norm),
    with and without weights, and with self-loops already in the edge list."""
    rng = np.random.default_rng(1)
    n = 30
    src, dst = np.triu_indices(n, 1)
    keep = rng.random(len(src)) < 0.2
    src, dst = src[keep], dst[keep]
    if loops:
        src, dst = np.r_[src, [3, 7]], np.r_[dst, [3, 7]]
    ei = np.vstack([np.r_[src, dst[src != dst]], np.r_[dst, src[src != dst]]])
    w = rng.uniform(0.1, 3, ei.shape[1]) if weighted else None
    if weighted:  # symmetric weights
        m = ei.shape[1] - (src != dst).sum()
        w[m:] = w[:len(src)][src != dst]
    ours = baselines.gcn_adjacency(ei, w, n).toarray()
    ref_w = torch.ones(ei.shape[1], dtype=torch.float64) if w is None else torch.as_tensor(w)  # float64 both
    ref = vgae.gcn_adjacency(torch.as_tensor(ei), ref_w, n).to_dense().numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


def test_embedding_baselines_compute_every_baseline():
    g = toy_graph(n=120, n_masked=12)
    n = 120
    labels = np.where((np.arange(n) // 10) % 2 == 0, "A", "B")
    labels[:12] = "N"
    rng = np.random.default_rng(0)
    comp = pd.DataFrame({f"E{k}": rng.normal(size=n) for k in range(1, 11)})
    hp = vgae.VGAE(in_channels=2, hidden=8, latent=4, encoder="jk").hparams
    out = baselines.embedding_baselines(labels=labels, comp=comp, g=g, hparams=hp)
    assert set(out) == {"E1", "E1-E3", "E1-E10", "features", "AkX", "untrained"}
    assert out["AkX"]["k"] in baselines.SMOOTHING_STEPS and len(out["AkX"]["probe_by_k"]) == 4
    assert "probe_sd" in out["untrained"] and np.isfinite(out["untrained"]["probe"])
    # only E1..E3 in the table: no E1-E10
    assert set(baselines.eigenvector_sets(comp[["E1", "E2", "E3"]])) == {"E1", "E1-E3"}


def test_untrained_embeddings_differ_by_seed_only():
    data = vgae.prepare_graph(toy_graph(n=40, n_masked=4))
    hp = vgae.VGAE(in_channels=2, hidden=8, latent=4).hparams
    a = baselines.untrained_embeddings(hparams=hp, data=data, seeds=(0, 1))
    b = baselines.untrained_embeddings(hparams=hp, data=data, seeds=(0,))
    assert len(a) == 2 and a[0].shape == (40, 4)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], a[1])
