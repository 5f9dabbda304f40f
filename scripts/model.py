"""The VGAE shared by ``train_vgae.py`` and ``encode_graph.py``.

Encoder, as in the seed::

    x -> BatchNorm1d -> GCNConv(hidden) -> ReLU -> Dropout -> GCNConv(latent) = mu
                                                         \\-> GCNConv(latent) = log sigma

That is ``encoder="gcn"``; :class:`StackEncoder` holds the others (GraphSAGE, GAT and
jumping-knowledge variants, all PyG layers, see :data:`ENCODERS`).

Unlike the seed's published code, the convolutions use the graph's edge weights
(``use_edge_weight=False`` is the ablation). Two decoders score a bin pair (i, j):

* ``inner``: ``z_i . z_j`` (the seed's);
* ``distance``: ``z_i . z_j + b[bucket(|i - j|)]`` with one learned bias per
  log-spaced genomic-distance bucket (plus one for distances beyond the longest
  training link and one for trans pairs), so that the distance decay of Hi-C
  contacts is explained by ``b`` and the embedding is free to encode what
  distance does not.

For speed the GCN layers run on a normalised adjacency built once per edge set
(:func:`gcn_adjacency`); the numbers are those of ``GCNConv`` on ``edge_index``.
A checkpoint's ``hparams`` rebuild the same model with :func:`build_model`.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GATConv, GCNConv, JumpingKnowledge, SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

import batching
import common

log = logging.getLogger("chromatin_gnn.model")

#: Same as torch_geometric's VGAE: keeps exp(log sigma) finite.
MAX_LOGSTD = 10.0
DECODERS = ("inner", "distance")
#: ``gcn`` is the seed's encoder, kept exactly; the others are :class:`StackEncoder`\ s:
#: ``sage``/``gat`` swap the layer type, ``jk`` (GCN layers), ``sage-jk`` and ``gat-jk`` read
#: mu and log sigma from the concatenation of the normalised input and every layer's output
#: (jumping knowledge), so the marks reach the embedding however smooth the last layer is.
ENCODERS = ("gcn", "sage", "gat", "jk", "sage-jk", "gat-jk")
#: Up to this many nodes the inner product goes through the dense Gram matrix ``z z^T``; above,
#: through the pairs' rows. Was 4096: on the default chr21 graph (1,869 bins, objective
#: structure, 1 thread) the row path takes 0.086 s/epoch against 0.15 s with the Gram matrix,
#: with the same embedding.
GRAM_MAX_NODES = 256


# ----------------------------------------------------------------------------
# devices and graphs
# ----------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N`` into a device, or raise :class:`common.DataError`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise common.DataError(f"--device {name} requested but CUDA is not available "
                                   f"(torch {torch.__version__}); use --device cpu or auto")
        if name != "cuda" and int(name[5:]) >= torch.cuda.device_count():
            raise common.DataError(f"--device {name}: only {torch.cuda.device_count()} CUDA "
                                   "device(s) present; pick an existing index")
        return torch.device(name)
    raise common.DataError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")


def add_device_args(parser) -> None:
    """Add ``--device`` and ``--threads`` (shared by train_vgae.py and encode_graph.py)."""
    parser.add_argument("--device", default="auto",
                        help="auto (cuda when available, else cpu), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=common.arg_type(int, lambda v: v >= 0, "a non-negative integer"),
                        default=1, help="CPU threads for torch (0: torch's default); a fixed count keeps "
                                        "CPU results identical across machines")


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` CPU threads inside the block (0: keep torch's setting), then restore it.

    One thread is the default of the command-line tools: results then do not depend
    on the machine's core count, and on a busy shared CPU torch's thread pool makes
    the many small operations of a chromosome-sized graph several times slower.
    """
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def prepare_graph(g: dict[str, Any], *, use_edge_weight: bool = True,
                  source: str = "graph") -> Data:
    """Graph dict -> PyG ``Data`` whose edges avoid masked bins and self-loops.

    Masked bins keep their node (every bin gets an embedding) but lose every edge,
    so they take no part in message passing or in link prediction. With
    ``use_edge_weight`` the kept weights are checked (finite), negative ones (log O/E)
    set to 0, and all divided by their mean. ``data.pos`` is the bin index along the
    genome (used for genomic distance).
    """
    data = common.graph_to_data(g)
    del data.edge_attr
    ei, w, mask = data.edge_index, data.edge_weight, data.mask
    keep = (ei[0] != ei[1]) & mask[ei[0]] & mask[ei[1]]
    data.edge_index, data.edge_weight = ei[:, keep], w[keep]
    data.edge_strength = w[keep].clone()  # the graph's own weight (log O/E), before any rescaling
    if "compartment_target" in g:  # E1..EK per arm (build_graph --compartment-target), for objective structure
        rows = (int(g["compartment_target"].shape[0]), int(g["compartment_region"].shape[0]))
        if rows != (data.num_nodes, data.num_nodes):
            raise common.DataError(f"{source}: compartment target has {rows[0]} rows for {data.num_nodes} "
                                   "nodes; rebuild the graph with build_graph.py")
        data.comp_target = g["compartment_target"].float()
        data.comp_region = g["compartment_region"].long()
    if use_edge_weight and data.edge_weight.numel():
        w = data.edge_weight
        if not torch.isfinite(w).all():
            raise common.DataError(f"{source}: edge weights contain NaN or inf; rebuild the graph "
                                   "with build_graph.py or pass --no-edge-weight")
        if bool((w < 0).any()):
            # log O/E weights are negative for contacts below expectation; GCN needs
            # non-negative weights, so those contacts pass no message (but stay links).
            log.warning("%s: %d of %d edge weights are negative (edge_transform %r); they are set "
                        "to 0 for message passing (--no-edge-weight ignores weights altogether)",
                        source, int((w < 0).sum()), w.numel(), g.get("edge_transform", "?"))
            data.edge_weight = w = w.clamp(min=0)
        # Relative contact strength (mean 1): GCN adds self-loops of weight 1, and raw
        # log1p(balanced) values of ~1e-3 would leave a bin's neighbours almost no say.
        # Per graph, so the balancing convention or depth of a second cell line does not
        # change the scale either.
        if float(w.mean()) > 0:
            data.edge_weight = w / w.mean()
    log.debug("%s: %d nodes (%d masked), %d directed edges kept of %d", source, data.num_nodes,
              int((~mask).sum()), data.edge_index.size(1), ei.size(1))
    return data


def distance_bucket(pairs: Tensor, pos: Tensor, chrom: Tensor, n_buckets: int, max_bins: int) -> Tensor:
    """Genomic-distance bucket of each pair.

    Cis distances ``1 .. max_bins`` (in bins; ``max_bins`` = the longest training
    link) fall into ``n_buckets - 2`` log-spaced buckets, so their top edge sits
    exactly at the graph's own distance cut-off; bucket ``n_buckets - 2`` holds
    longer cis distances and bucket ``n_buckets - 1`` trans pairs.

    Parameters
    ----------
    pairs
        int64 ``[2, P]`` node indices.
    pos, chrom
        Bin index along the genome and chromosome id of every node.
    n_buckets
        Total number of buckets (at least 3).
    max_bins
        Longest cis distance, in bins, that gets log-spaced buckets.
    """
    i, j = pairs
    d = (pos[i] - pos[j]).abs().clamp(min=1)
    n_cis = n_buckets - 2
    b = (torch.log(d.double()) / np.log(max_bins + 1) * n_cis).long().clamp(max=n_cis - 1)
    b = torch.where(d > max_bins, n_cis, b)
    return torch.where(chrom[i] == chrom[j], b, n_buckets - 1)


# ----------------------------------------------------------------------------
# the network
# ----------------------------------------------------------------------------
def gcn_adjacency(edge_index: Tensor, edge_weight: Tensor | None, num_nodes: int) -> Tensor:
    """GCN's normalised adjacency ``D^-1/2 (A + I) D^-1/2`` as a sparse CSR matrix.

    Uses torch_geometric's own ``gcn_norm``, so ``GCNConv(normalize=False)`` on this
    matrix computes exactly what ``GCNConv`` computes on ``(edge_index, edge_weight)``.
    Built once per edge set instead of once per layer and epoch.
    """
    ei, w = gcn_norm(edge_index, edge_weight, num_nodes, add_self_loops=True)
    coo = torch.sparse_coo_tensor(ei.flip(0), w, (num_nodes, num_nodes), check_invariants=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return coo.coalesce().to_sparse_csr()


class _SymmetricSpMM(torch.autograd.Function):
    """``adj @ x`` for a symmetric ``adj``: the backward pass reuses ``adj`` (= ``adj.T``).

    torch's generic sparse backward transposes the matrix on every call, which
    costs ~20x the forward product on a chr21 graph.
    """

    @staticmethod
    def forward(ctx, adj: Tensor, x: Tensor) -> Tensor:  # noqa: D102
        ctx.adj = adj
        return adj @ x

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:  # noqa: D102
        return None, ctx.adj @ grad


class _GCNConv(GCNConv):
    """``GCNConv`` over a precomputed symmetric normalised adjacency (:func:`gcn_adjacency`)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, normalize=False, add_self_loops=False)

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor) -> Tensor:
        return _SymmetricSpMM.apply(adj_t, x)


class Encoder(nn.Module):
    """BatchNorm -> GCNConv -> ReLU -> Dropout -> two GCNConv heads (mu, log sigma).

    ``forward`` takes the normalised adjacency from :func:`gcn_adjacency`.
    """

    def __init__(self, in_channels: int, hidden: int = 64, latent: int = 32, *,
                 dropout: float = 0.2) -> None:
        super().__init__()
        # Full-batch training shows BatchNorm the same batch every epoch: a cumulative
        # average (momentum=None) makes the running statistics, used in eval mode and
        # by encode_graph --bn frozen, exactly the training graph's from epoch 1.
        self.bn = nn.BatchNorm1d(in_channels, momentum=None)
        self.conv = _GCNConv(in_channels, hidden)
        self.drop = nn.Dropout(dropout)
        self.conv_mu = _GCNConv(hidden, latent)
        self.conv_logstd = _GCNConv(hidden, latent)

    def normalise(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """BatchNorm whose training statistics come from usable bins (``mask``) only.

        Masked bins (unmappable, often all-zero signal) would otherwise drag the
        mean and inflate the variance; they are still normalised, with the same
        statistics, so that every bin gets an embedding.
        """
        bn = self.bn
        if not bn.training or mask is None or bool(mask.all()):
            return bn(x)
        xm = x[mask]
        bn(xm)  # updates the running statistics from usable bins only
        return F.batch_norm(x, xm.mean(0), xm.var(0, unbiased=False), bn.weight, bn.bias,
                            training=False, eps=bn.eps)

    @property
    def hops(self) -> int:
        """Message-passing layers between the input and mu: a node's mu depends on its ``hops``-hop
        neighbourhood only (what :mod:`batching` needs for exact windows)."""
        return 2

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.propagate(self.normalise(x, mask), adj)

    def propagate(self, h: Tensor, adj: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, log sigma)`` from the normalised features ``h`` (the layers after BatchNorm)."""
        h = self.drop(F.relu(self.conv(h, adj)))
        return self.conv_mu(h, adj), self.conv_logstd(h, adj).clamp(max=MAX_LOGSTD)


def _layer_of(encoder: str) -> str:
    """The message-passing layer type of an encoder name (``gcn``, ``sage`` or ``gat``)."""
    return {"jk": "gcn"}.get(encoder, encoder.split("-")[0])


class StackEncoder(Encoder):
    """BatchNorm -> ``layers`` x (conv -> ReLU -> Dropout) -> Linear heads (mu, log sigma).

    ``layer``: ``gcn`` (``GCNConv`` on :func:`gcn_adjacency`), ``sage`` (``SAGEConv``,
    mean aggregation; edge weights unused) or ``gat`` (``GATConv``, one head, the edge
    weight as a 1-d edge attribute); both take ``(edge_index, edge_weight)``. With ``jk``
    the heads read ``JumpingKnowledge("cat")`` of the normalised input and every layer.
    """

    def __init__(self, in_channels: int, hidden: int = 64, latent: int = 32, *, dropout: float = 0.2,
                 layer: str = "gcn", layers: int = 2, jk: bool = True) -> None:
        nn.Module.__init__(self)
        self.bn = nn.BatchNorm1d(in_channels, momentum=None)
        self.layer = layer
        dims = [in_channels] + [hidden] * layers
        make = {"gcn": lambda a, b: _GCNConv(a, b), "sage": lambda a, b: SAGEConv(a, b),
                "gat": lambda a, b: GATConv(a, b, heads=1, edge_dim=1, add_self_loops=True)}[layer]
        self.convs = nn.ModuleList(make(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.drop = nn.Dropout(dropout)
        self.jk = JumpingKnowledge("cat") if jk else None
        width = sum(dims) if jk else hidden
        self.lin_mu = nn.Linear(width, latent)
        self.lin_logstd = nn.Linear(width, latent)

    def _conv(self, conv: nn.Module, h: Tensor, adj: Any) -> Tensor:
        if self.layer == "gcn":
            return conv(h, adj)
        ei, w = adj
        if self.layer == "gat":
            return conv(h, ei, edge_attr=None if w is None else w.view(-1, 1))
        return conv(h, ei)

    @property
    def hops(self) -> int:
        return len(self.convs)

    def propagate(self, h: Tensor, adj: Any) -> tuple[Tensor, Tensor]:
        hs = [h]
        for conv in self.convs:
            h = self.drop(F.relu(self._conv(conv, h, adj)))
            hs.append(h)
        out = self.jk(hs) if self.jk is not None else h
        return self.lin_mu(out), self.lin_logstd(out).clamp(max=MAX_LOGSTD)


class InnerProductDecoder(nn.Module):
    """``logit(i, j) = z_i . z_j`` (the seed's decoder)."""

    def forward(self, z: Tensor, pairs: Tensor, pos: Tensor, chrom: Tensor) -> Tensor:  # noqa: ARG002
        n = z.size(0)
        if n <= GRAM_MAX_NODES:  # one small matmul beats gathering 2 x pairs rows of z
            return (z @ z.T).view(-1)[pairs[0] * n + pairs[1]]
        return (z[pairs[0]] * z[pairs[1]]).sum(-1)


class DistanceDecoder(InnerProductDecoder):
    """``logit(i, j) = z_i . z_j + b[distance bucket of (i, j)]`` (see :func:`distance_bucket`)."""

    def __init__(self, n_buckets: int = 64, max_bins: int = 200) -> None:
        super().__init__()
        if n_buckets < 3 or max_bins < 1:
            raise common.DataError(f"distance decoder needs n_dist_buckets >= 3 and max_link_bins >= 1, "
                                   f"got {n_buckets} and {max_bins}")
        self.n_buckets, self.max_bins = n_buckets, max_bins
        self.bias = nn.Parameter(torch.zeros(n_buckets))

    def buckets(self, pairs: Tensor, pos: Tensor, chrom: Tensor) -> Tensor:
        return distance_bucket(pairs, pos, chrom, self.n_buckets, self.max_bins)

    @torch.no_grad()
    def init_bias(self, pos_buckets: Tensor, neg_buckets: Tensor) -> None:
        """Start from the distance-only model: ``b = log((links + 1) / (non-links + 1))`` per bucket.

        Learning ``b`` from zero takes hundreds of epochs (never-linked distances
        need ``b`` around -10); starting from the training data's log odds lets the
        epochs go to the embedding.
        """
        count = [torch.bincount(b, minlength=self.n_buckets).double() for b in (pos_buckets, neg_buckets)]
        self.bias.copy_(torch.log((count[0] + 1) / (count[1] + 1)).to(self.bias))

    def forward(self, z: Tensor, pairs: Tensor, pos: Tensor, chrom: Tensor) -> Tensor:
        return super().forward(z, pairs, pos, chrom) + self.bias[self.buckets(pairs, pos, chrom)]


class VGAE(nn.Module):
    """Encoder + decoder + the VGAE loss, rebuilt from ``hparams`` by :func:`build_model`."""

    def __init__(self, *, in_channels: int, hidden: int = 64, latent: int = 32,
                 dropout: float = 0.2, decoder: str = "inner", n_dist_buckets: int = 64,
                 max_link_bins: int = 200, use_edge_weight: bool = True, encoder: str = "gcn",
                 layers: int = 2, feature_head: bool = False) -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise common.DataError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
        if encoder not in ENCODERS:
            raise common.DataError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
        self.hparams = dict(in_channels=in_channels, hidden=hidden, latent=latent, dropout=dropout,
                            decoder=decoder, n_dist_buckets=n_dist_buckets,
                            max_link_bins=max_link_bins, use_edge_weight=use_edge_weight,
                            encoder=encoder, layers=layers, feature_head=feature_head)
        self.use_edge_weight = use_edge_weight
        self.layer = _layer_of(encoder)
        self.encoder = (Encoder(in_channels, hidden, latent, dropout=dropout) if encoder == "gcn" else
                        StackEncoder(in_channels, hidden, latent, dropout=dropout, layer=self.layer,
                                     layers=layers, jk=encoder.endswith("jk")))
        self.decoder = (DistanceDecoder(n_dist_buckets, max_link_bins) if decoder == "distance"
                        else InnerProductDecoder())
        #: z -> the (standardised, graph-smoothed) node features, for objective ``structure``
        self.feature_head = nn.Linear(latent, in_channels) if feature_head else None

    def adjacency(self, edge_index: Tensor, edge_weight: Tensor | None, num_nodes: int) -> Tensor:
        """The encoder's message-passing input for an edge set (weights dropped if not used):
        the normalised adjacency for GCN layers, ``(edge_index, edge_weight)`` for the others."""
        w = edge_weight if self.use_edge_weight else None
        if self.layer == "gcn":
            return gcn_adjacency(edge_index, w, num_nodes)
        return edge_index, w

    def encode(self, data: Data, adj: Any = None) -> tuple[Tensor, Tensor]:
        """``(mu, log sigma)`` for every node; ``adj`` defaults to all of ``data``'s edges.

        ``adj`` is :meth:`adjacency`'s output or a :class:`batching.WindowPlan` (encoding
        window by window, the same numbers up to float round-off)."""
        if adj is None:
            adj = self.adjacency(data.edge_index, data.edge_weight, data.num_nodes)
        if isinstance(adj, batching.WindowPlan):
            return adj.encode(self, data)
        return self.encoder(data.x, adj, data.mask)

    def decode(self, z: Tensor, pairs: Tensor, data: Data) -> Tensor:
        """Logits for node pairs ``[2, P]``."""
        return self.decoder(z, pairs, data.pos, data.chrom_id)

    def loss(self, data: Data, adj: Tensor, pos_pairs: Tensor, neg_pairs: Tensor, *,
             strength: Tensor | None = None, strength_weight: float = 1.0,
             structure: "StructureTargets | None" = None) -> tuple[Tensor, Tensor, Tensor]:
        """``(total, reconstruction, KL/N)`` for one training step.

        Reconstruction is the BCE of links against non-links; with ``strength`` (one
        standardised contact strength per positive pair, e.g. log O/E) it also holds
        ``strength_weight`` x the mean squared error of ``z_i . z_j`` against it: a
        weighted decoder whose inner product factorises contact strength, the way
        E1..Ek factorise O/E. With ``structure`` (:class:`StructureTargets`) it also
        holds that object's two terms (see there). The KL term is the mean per-node KL
        over usable bins divided once more by their number, as in torch_geometric's
        VGAE example that the seed followed.
        """
        mu, logstd = self.encode(data, adj)
        return self.loss_terms(mu, logstd, data, pos_pairs, neg_pairs, strength=strength,
                               strength_weight=strength_weight, structure=structure)

    def loss_terms(self, mu: Tensor, logstd: Tensor, data: Data, pos_pairs: Tensor, neg_pairs: Tensor, *,
                   strength: Tensor | None = None, strength_weight: float = 1.0,
                   structure: "StructureTargets | None" = None, kl_mask: Tensor | None = None,
                   kl_count: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`loss` from an encoding made already. ``data`` needs ``pos``, ``chrom_id`` and
        ``mask`` of the encoded nodes only; ``kl_mask`` (default ``data.mask``) picks the nodes of
        the KL term and ``kl_count`` (default their number) is its second divisor, so that a
        window's KL (its core nodes, divided by the whole graph's usable bins) is on the scale of
        the full-batch one."""
        z = mu + torch.randn_like(logstd) * logstd.exp() if self.training else mu
        logits = self.decode(z, torch.cat([pos_pairs, neg_pairs], 1), data)
        target = torch.cat([logits.new_ones(pos_pairs.size(1)), logits.new_zeros(neg_pairs.size(1))])
        recon = F.binary_cross_entropy_with_logits(logits, target)
        if strength is not None:
            dot = (z[pos_pairs[0]] * z[pos_pairs[1]]).sum(-1)
            recon = recon + strength_weight * F.mse_loss(dot, strength)
        if structure is not None:
            recon = recon + structure.loss(z, self.feature_head)
        m = data.mask if kl_mask is None else kl_mask
        kl = (-0.5 * (1 + 2 * logstd[m] - mu[m] ** 2 - logstd[m].exp() ** 2).sum(1).mean()
              / (int(m.sum()) if kl_count is None else kl_count))
        return recon + kl, recon, kl


class StructureTargets:
    """The two extra reconstruction terms of train_vgae's ``structure`` objective.

    * **Compartments** (weight ``comp_weight``): per arm ``r``, the mean squared error
      between ``Z_r Z_r^T`` and ``T_r T_r^T``, where ``T`` holds E1..EK scaled by the
      square root of their eigenvalues (build_graph's ``compartment_target``), i.e.
      the rank-K approximation of the arm's O/E correlation matrix -- every pair of
      bins of an arm, at any distance, not only the graph's links within ``max_dist``.
      It is computed without the ``n_r x n_r`` matrices, as
      ``(|Z^T Z|^2 - 2 |Z^T T|^2 + |T^T T|^2) / n_r^2`` (Frobenius norms), so it is
      linear in the number of bins.
    * **Features** (weight ``feat_weight``): the mean squared error of
      ``feature_head(z)`` against the standardised node features smoothed over the
      training graph (``Â^k X``, :func:`baselines.smoothed_features`), so that the
      embedding keeps what the marks say about a bin's neighbourhood.

    ``held_out`` (a boolean node mask) bins take no part in either term during training
    (they still pass messages); :meth:`held_out_loss` scores both terms on them alone
    -- pairs of held-out bins, their features -- which is what ``--stop-on structure``
    watches.
    """

    def __init__(self, *, mask: Tensor, comp_target: Tensor | None, comp_region: Tensor | None,
                 feat_target: Tensor | None, comp_weight: float = 10.0, feat_weight: float = 1.0,
                 held_out: Tensor | None = None) -> None:
        self.comp_weight, self.feat_weight = comp_weight, feat_weight
        held_out = torch.zeros_like(mask) if held_out is None else held_out
        self.masks = {"train": mask & ~held_out, "held_out": mask & held_out}
        self.regions: dict[str, list[tuple[Tensor, float]]] = {"train": [], "held_out": []}
        self.target = comp_target
        if comp_target is not None and comp_region is not None and comp_weight > 0:
            for part, m in self.masks.items():
                region = torch.where(m, comp_region, -1).cpu().numpy()
                order = np.argsort(region, kind="stable")
                cuts = np.flatnonzero(np.diff(region[order])) + 1
                for nodes in np.split(order, cuts):
                    if nodes.size > 1 and region[nodes[0]] >= 0:
                        self.regions[part].append(self._region(torch.as_tensor(nodes, device=comp_target.device)))
        self.feat_target = feat_target if feat_weight > 0 else None

    def _region(self, idx: Tensor) -> tuple[Tensor, float]:
        """One arm's entry of :attr:`regions`: its bins and ``||T_r^T T_r||_F^2`` (the loss's constant)."""
        t = self.target[idx]
        return idx, float((t.T @ t).pow(2).sum())

    def compartment_loss(self, z: Tensor, part: str = "train") -> Tensor:
        """Mean over the arms' bin pairs of the squared error of ``z z^T`` against ``T T^T``."""
        total, pairs = z.new_zeros(()), 0
        for idx, tt in self.regions[part]:
            zr, tr = z[idx], self.target[idx]
            total = total + (zr.T @ zr).pow(2).sum() - 2 * (zr.T @ tr).pow(2).sum() + tt
            pairs += idx.numel() ** 2
        return total / max(pairs, 1)

    def feature_loss(self, z: Tensor, head: nn.Module | None, part: str = "train") -> Tensor:
        m = self.masks[part]
        if head is None or self.feat_target is None or not bool(m.any()):
            return z.new_zeros(())
        return F.mse_loss(head(z[m]), self.feat_target[m])

    def loss(self, z: Tensor, head: nn.Module | None, part: str = "train") -> Tensor:
        out = z.new_zeros(())
        if self.regions[part]:
            out = out + self.comp_weight * self.compartment_loss(z, part)
        if self.feat_target is not None:
            out = out + self.feat_weight * self.feature_loss(z, head, part)
        return out

    def held_out_loss(self, z: Tensor, head: nn.Module | None) -> float:
        """Both terms on the held-out bins (lower is better)."""
        return float(self.loss(z, head, "held_out"))

    def restrict(self, start: int, end: int, core_start: int, core_end: int) -> "StructureTargets":
        """The training terms of a window: nodes ``start .. end - 1`` (indexed from 0 there),
        of which only the core ``core_start .. core_end - 1`` take part.

        The compartment term then covers the pairs of an arm's bins that share the window's
        core, the feature term the core's bins (see :mod:`batching`).
        """
        out = object.__new__(StructureTargets)
        out.comp_weight, out.feat_weight = self.comp_weight, self.feat_weight
        core = torch.zeros(end - start, dtype=torch.bool, device=self.masks["train"].device)
        core[core_start - start:core_end - start] = True
        out.masks = {part: m[start:end] & core for part, m in self.masks.items()}
        out.target = None if self.target is None else self.target[start:end]
        out.regions = {"train": [], "held_out": []}
        for part, regions in self.regions.items():
            for idx, _ in regions:
                idx = idx[(idx >= core_start) & (idx < core_end)]
                if idx.numel() > 1:
                    idx, tt = self._region(idx)
                    out.regions[part].append((idx - start, tt))
        out.feat_target = None if self.feat_target is None else self.feat_target[start:end]
        return out


def build_model(hparams: dict[str, Any]) -> VGAE:
    """Rebuild the model a checkpoint's ``hparams`` describe (extra keys are ignored)."""
    keys = ("in_channels", "hidden", "latent", "dropout", "decoder", "n_dist_buckets",
            "max_link_bins", "use_edge_weight", "encoder", "layers", "feature_head")
    return VGAE(**{k: hparams[k] for k in keys if k in hparams})


@torch.no_grad()
def embed(model: VGAE, data: Data, adj: Any = None) -> np.ndarray:
    """mu (eval mode, all edges) for every node, float32 ``[N, latent]``, row-aligned with the graph.

    ``adj``: the adjacency of all edges or a :class:`batching.WindowPlan` of them (default: built here)."""
    model.eval()
    mu, _ = model.encode(data, adj)
    return mu.detach().cpu().numpy().astype(np.float32)


def save_embedding(out: str, emb: np.ndarray, g: dict[str, Any], prov: dict[str, Any]) -> None:
    """Write ``out`` (``.npy``), the ``.tsv`` beside it and both provenance sidecars."""
    tsv = str(out)[:-4] + ".tsv" if str(out).endswith(".npy") else f"{out}.tsv"
    table = pd.concat([common.bins_frame(g),
                       pd.DataFrame(emb, columns=[f"z{k}" for k in range(emb.shape[1])])], axis=1)
    common.save_npy(out, emb)
    common.write_table(tsv, table, float_format="%.6g")
    for path in (out, tsv):
        common.write_provenance(path, prov)
