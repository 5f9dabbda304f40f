"""model.py on hand-written 3-10-node tensors: shapes, determinism, edge weights, distance bias."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv

import common
import model as vgae
from conftest import toy_graph

# 6 bins on one chromosome: a chain 0-1-2-3-4-5 plus the long link 0-5.
EDGES = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 0, 5],
                      [1, 0, 2, 1, 3, 2, 4, 3, 5, 4, 5, 0]])
WEIGHTS = torch.tensor([1.0, 1.0, 2.0, 2.0, 0.5, 0.5, 1.5, 1.5, 1.0, 1.0, 0.2, 0.2])


def six_nodes(weights: torch.Tensor = WEIGHTS) -> Data:
    x = torch.tensor([[0.0, 1.0], [1.0, 0.5], [2.0, 0.0], [0.5, 2.0], [1.5, 1.5], [3.0, 0.2]])
    return Data(x=x, edge_index=EDGES, edge_weight=weights, mask=torch.ones(6, dtype=torch.bool),
                pos=torch.arange(6), chrom_id=torch.zeros(6, dtype=torch.long), num_nodes=6)


def fresh(seed: int = 0, **kw) -> vgae.VGAE:
    torch.manual_seed(seed)
    kw = {"in_channels": 2, "hidden": 8, "latent": 4, "max_link_bins": 5, **kw}
    return vgae.VGAE(**kw).eval()


def test_encoder_shapes_and_finite_loss():
    m, d = fresh(decoder="distance"), six_nodes()
    mu, logstd = m.encode(d)
    assert mu.shape == logstd.shape == (6, 4)
    m.train()
    total, recon, kl = m.loss(d, m.adjacency(d.edge_index, d.edge_weight, 6),
                              EDGES[:, ::2], torch.tensor([[0, 1], [2, 4]]))
    total.backward()
    assert torch.isfinite(total) and total == recon + kl and kl >= 0
    assert m.encoder.conv.lin.weight.grad is not None and m.decoder.bias.grad is not None


def test_same_seed_same_numbers():
    a, b = fresh(seed=3), fresh(seed=3)
    assert torch.equal(a.encode(six_nodes())[0], b.encode(six_nodes())[0])
    assert not torch.equal(a.encode(six_nodes())[0], fresh(seed=4).encode(six_nodes())[0])


def test_edge_weights_change_the_output_unless_switched_off():
    other = WEIGHTS.flip(0).clone()
    m = fresh()
    assert not torch.allclose(m.encode(six_nodes())[0], m.encode(six_nodes(other))[0])
    off = fresh(use_edge_weight=False)
    assert torch.equal(off.encode(six_nodes())[0], off.encode(six_nodes(other))[0])


def test_precomputed_adjacency_matches_gcnconv_on_edge_index():
    d = six_nodes()
    ours = vgae._GCNConv(2, 3)
    ref = GCNConv(2, 3)  # normalises (edge_index, edge_weight) itself, self-loops added
    ref.load_state_dict(ours.state_dict())
    adj = vgae.gcn_adjacency(d.edge_index, d.edge_weight, 6)
    assert torch.allclose(ours(d.x, adj), ref(d.x, d.edge_index, d.edge_weight), atol=1e-6)
    # the symmetric backward gives torch's gradient
    x = d.x.clone().requires_grad_()
    (vgae._SymmetricSpMM.apply(adj, x) ** 2).sum().backward()
    x2 = d.x.clone().requires_grad_()
    ((adj.to_dense() @ x2) ** 2).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-6)


def test_distance_buckets():
    pos = torch.tensor([0, 1, 2, 3, 4, 200, 201, 0])
    chrom = torch.tensor([0, 0, 0, 0, 0, 0, 0, 1])
    pairs = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 5], [1, 2, 3, 4, 5, 6, 7, 0]])
    b = vgae.distance_bucket(pairs, pos, chrom, n_buckets=10, max_bins=200)
    # d = 1 -> bucket 0; log-spaced and non-decreasing; d = max_bins -> top cis bucket 7;
    # d > max_bins -> 8; other chromosome -> 9 (the pair's order does not matter)
    assert b.tolist() == [0, 1, 1, 2, 7, 8, 9, 7]


def test_distance_decoder_adds_the_bucket_bias():
    m = fresh(decoder="distance")
    d = six_nodes()
    with torch.no_grad():
        m.decoder.bias.copy_(torch.arange(m.decoder.n_buckets, dtype=torch.float) * 10)
    z = m.encode(d)[0]
    pairs = torch.tensor([[0, 0, 1], [1, 5, 3]])
    inner = (z[pairs[0]] * z[pairs[1]]).sum(-1)
    expected = inner + 10 * vgae.distance_bucket(pairs, d.pos, d.chrom_id, m.decoder.n_buckets, 5)
    assert torch.allclose(m.decode(z, pairs, d), expected, atol=1e-5)
    assert torch.allclose(fresh().decode(z, pairs, d), inner, atol=1e-5)  # inner: no bias


def test_bias_starts_at_the_log_odds():
    dec = vgae.DistanceDecoder(n_buckets=4, max_bins=3)
    dec.init_bias(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 2, 2, 2]))
    expected = torch.log(torch.tensor([4 / 2, 2 / 1, 1 / 4, 1 / 1]))
    assert torch.allclose(dec.bias.detach(), expected)


def test_batchnorm_statistics_come_from_usable_bins_only():
    d = six_nodes()
    d.mask = torch.tensor([True, True, True, True, False, False])
    d.x[~d.mask] = 1000.0  # masked bins with wild values must not move the statistics
    m = fresh().train()
    m.encode(d)
    assert torch.allclose(m.encoder.bn.running_mean, d.x[:4].mean(0))
    m.eval()  # eval mode (running statistics) = train mode's normalisation
    h_eval = m.encoder.normalise(d.x)
    assert torch.allclose(h_eval[:4].mean(0), torch.zeros(2), atol=1e-5)


def test_build_model_rebuilds_the_same_network():
    m = fresh(decoder="distance")
    again = vgae.build_model({**m.hparams, "unrelated": 1})
    again.load_state_dict(m.state_dict())
    again.eval()
    assert torch.equal(m.encode(six_nodes())[0], again.encode(six_nodes())[0])
    assert again.hparams == m.hparams


def test_prepare_graph_drops_edges_touching_masked_bins():
    g = toy_graph(30, n_masked=5, max_dist=6)
    d = vgae.prepare_graph(g)
    ei = d.edge_index
    assert ei.numel() and d.mask[ei].all() and (ei[0] != ei[1]).all()
    assert d.num_nodes == 30 and d.x.shape == (30, 2)
    g["edge_weight"] = g["edge_weight"] - 0.5  # like log O/E: some negative
    assert (vgae.prepare_graph(g).edge_weight >= 0).all()
    g["edge_weight"][-1] = float("nan")  # an edge between usable bins
    with pytest.raises(common.DataError, match="NaN"):
        vgae.prepare_graph(g)
    assert vgae.prepare_graph(g, use_edge_weight=False).num_nodes == 30


def test_resolve_device():
    assert vgae.resolve_device("cpu").type == "cpu"
    assert vgae.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(common.DataError, match="unknown device 'tpu'"):
        vgae.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(common.DataError, match="CUDA is not available"):
            vgae.resolve_device("cuda")


# ---------------------------------------------------------------------------- objective structure
def _structure(n=40, d=4, k=3, seed=0, held_out=None):
    g = torch.Generator().manual_seed(seed)
    region = torch.tensor([-1] * 4 + [0] * 16 + [1] * 20)
    mask = region >= 0
    target = torch.randn(n, k, generator=g) * mask[:, None]
    feat = torch.randn(n, 5, generator=g)
    st = vgae.StructureTargets(mask=mask, comp_target=target, comp_region=region, feat_target=feat,
                               comp_weight=1.0, feat_weight=1.0, held_out=held_out)
    z = torch.randn(n, d, generator=g, requires_grad=True)
    return st, z, target, region, feat


def test_compartment_loss_equals_the_dense_pairwise_error():
    st, z, target, region, _ = _structure()
    err, pairs = 0.0, 0
    for r in (0, 1):  # every pair of bins within an arm, none across arms, masked bins out
        idx = (region == r).nonzero().view(-1)
        zr, tr = z[idx], target[idx]
        err += float(((zr @ zr.T - tr @ tr.T) ** 2).sum())
        pairs += idx.numel() ** 2
    assert float(st.compartment_loss(z)) == pytest.approx(err / pairs, rel=1e-5)
    zt = target.clone().requires_grad_(True)  # z = T reproduces the target exactly
    assert float(st.compartment_loss(zt)) == pytest.approx(0.0, abs=1e-5)


def test_held_out_bins_take_no_part_in_the_training_terms():
    held = torch.zeros(40, dtype=torch.bool)
    held[[5, 6, 25, 30, 31]] = True
    st, z, *_ = _structure(held_out=held)
    head = torch.nn.Linear(4, 5)
    st.loss(z, head).backward()
    assert z.grad[held].abs().sum() == 0 and z.grad[~held & (torch.arange(40) >= 4)].abs().sum() > 0
    z.grad = None
    # ... and are what the held-out score reads: changing a training bin leaves it unchanged
    before = st.held_out_loss(z, head)
    with torch.no_grad():
        z[10] += 5.0
    assert st.held_out_loss(z, head) == pytest.approx(before)
    with torch.no_grad():
        z[25] += 5.0
    assert st.held_out_loss(z, head) != pytest.approx(before)


def test_feature_head_is_part_of_the_checkpointed_model():
    m = vgae.VGAE(in_channels=2, hidden=8, latent=4, encoder="jk", feature_head=True)
    assert m.hparams["feature_head"] and m.feature_head.out_features == 2
    again = vgae.build_model(m.hparams)
    again.load_state_dict(m.state_dict())  # strict: same parameters, head included
