"""Mini-batches of a cis Hi-C graph: contiguous genomic windows with an exact halo.

A cis contact graph is band-limited: edges join bins at most ``--max-dist`` apart on
one chromosome. Cutting the bins (in genome order) into contiguous **core** windows is
then the partition METIS would find (ClusterGCN with genomic clusters), and few edges
cross a cut. An encoder of ``L`` message-passing layers gives a node an output that
depends on its ``L``-hop neighbourhood only, so each window runs on its core plus a
**halo**: the node range reached from the core in ``L`` hops (an interval around it,
found from each node's lowest and highest neighbour). With the GCN normalisation taken
from the whole graph (the window's adjacency is a block of the full normalised
adjacency) the core's embeddings are those of full-batch encoding up to float
round-off, for every encoder in :mod:`model` (GCN, GraphSAGE mean, GAT attention over
a node's in-edges and its self-loop, jumping knowledge; BatchNorm runs on the whole
graph's features, which are small). A node the halo holds beyond what is needed only
costs time: the numbers do not depend on it.

PyG's samplers (``LinkNeighborLoader``, ``ClusterData``, GraphSAINT) need ``pyg-lib`` or
``torch-sparse``, which this environment cannot install; this module needs neither.

* :class:`WindowPlan`: the windows of one edge set, their adjacencies built once;
  :meth:`WindowPlan.encode` is full-graph encoding window by window.
* :func:`resolve` picks ``full`` or ``window`` for ``--batch auto`` from the number of
  message-passing edges (:data:`AUTO_WINDOW_EDGES`).

Training in windows (train_vgae ``--batch window``) makes one optimiser step per window:
the loss of the training links whose first endpoint is a core node (the partner is
then within one hop of the core, and the window's halo is widened by that hop, so
both embeddings are exact), negatives drawn among the window's nodes, and the
structure terms on the core's bins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

import common

log = logging.getLogger("chromatin_gnn.batching")

BATCH_MODES = ("auto", "full", "window")
#: ``--batch auto`` trains in windows above this many directed edges between usable bins. Measured
#: (benchmarks/MINIBATCH.md; train_vgae, default flags, 1 thread): full-batch peak RSS is ~0.47 GB
#: (imports) + ~0.66-0.74 kB per directed edge (1.1 GB at chr1 @ 10 kb, 0.92 M edges; 3.2 GB at
#: 3.7 M edges; 7.8 GB at 11.1 M, the size of 10 kb genome-wide), windows ~0.3 kB per edge (1.8 and
#: 3.9 GB). Up to 4 M edges full batch stays near 3 GB, so that the pipeline's side-by-side steps
#: fit in 16 GB; the default chr21 graph (20,400 edges) and 25 kb genome-wide (~2.3 M) keep their
#: full-batch numbers; 10 kb genome-wide goes to windows.
AUTO_WINDOW_EDGES = 4_000_000
#: Directed message-passing edges per window core (``--window-edges``): small enough that a
#: step's activations stay a few hundred MB, large enough that the halo (2 x max-dist x hops
#: of bins) is a small share of a window and the steps per epoch few.
DEFAULT_WINDOW_EDGES = 1_000_000


def resolve(mode: str, n_edges: int, *, threshold: int = AUTO_WINDOW_EDGES) -> str:
    """``full`` or ``window`` for ``--batch mode`` on a graph of ``n_edges`` directed edges."""
    if mode not in BATCH_MODES:
        raise common.DataError(f"unknown --batch {mode!r}; choose one of {', '.join(BATCH_MODES)}")
    if mode == "auto":
        return "window" if n_edges > threshold else "full"
    return mode


def node_reach(edge_index: Tensor, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest node index among each node and its neighbours, int64 ``[N]`` each."""
    idx = torch.arange(num_nodes, device=edge_index.device)
    lo = idx.clone().scatter_reduce_(0, edge_index[1], edge_index[0], "amin")
    hi = idx.clone().scatter_reduce_(0, edge_index[1], edge_index[0], "amax")
    lo = lo.scatter_reduce_(0, edge_index[0], edge_index[1], "amin")
    hi = hi.scatter_reduce_(0, edge_index[0], edge_index[1], "amax")
    return lo.cpu().numpy(), hi.cpu().numpy()


def expand(start: int, end: int, lo: np.ndarray, hi: np.ndarray, hops: int) -> tuple[int, int]:
    """The node interval ``[start', end')`` holding every node within ``hops`` hops of
    ``[start, end)`` (a superset: an interval around them)."""
    for _ in range(hops):
        if end <= start:
            break
        start, end = int(lo[start:end].min()), int(hi[start:end].max()) + 1
    return start, end


def cut_cores(degree: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Contiguous node ranges covering ``0 .. N-1`` once, each with at most ``budget``
    directed edges (counting one per node, a self-loop) unless a single node has more."""
    n = degree.size
    if n == 0:
        return []
    cum = np.r_[0, np.cumsum(degree.astype(np.int64) + 1)]  # cum[i]: edges of nodes 0 .. i-1
    cores, a = [], 0
    while a < n:  # one pass per window, not per bin
        b = max(int(np.searchsorted(cum, cum[a] + budget, side="right")) - 1, a + 1)
        cores.append((a, min(b, n)))
        a = b
    return cores


@dataclass
class Window:
    """One mini-batch: nodes ``start .. end - 1`` pass messages; the ``core`` ones get exact
    outputs; ``loss_start .. loss_end - 1`` (core plus ``loss_hops``) may enter its loss."""

    start: int
    end: int
    core_start: int
    core_end: int
    loss_start: int
    loss_end: int
    adj: Any

    @property
    def core(self) -> slice:
        """The core's rows in the window's own (0-based) node order."""
        return slice(self.core_start - self.start, self.core_end - self.start)


def _restrict_csr(adj: Tensor, start: int, end: int) -> Tensor:
    """The block ``adj[start:end, start:end]`` of a CSR matrix, as CSR."""
    crow, col, val = adj.crow_indices(), adj.col_indices(), adj.values()
    p0, p1 = int(crow[start]), int(crow[end])
    c, v = col[p0:p1], val[p0:p1]
    rows = torch.repeat_interleave(torch.arange(end - start, device=c.device), crow[start + 1:end + 1] - crow[start:end])
    keep = (c >= start) & (c < end)
    counts = torch.bincount(rows[keep], minlength=end - start)
    new_crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    return torch.sparse_csr_tensor(new_crow, c[keep] - start, v[keep], (end - start, end - start),
                                   check_invariants=False)


def restrict(adj: Any, start: int, end: int) -> Any:
    """``model.VGAE.adjacency``'s output for nodes ``start .. end - 1`` only: the CSR block of a
    GCN's normalised adjacency (the whole graph's normalisation), or the ``(edge_index, weight)``
    edges within the range, renumbered from 0. Exact for every node whose ``hops``-hop
    neighbourhood lies in the range (what :func:`expand` gives)."""
    if not isinstance(adj, tuple):
        return _restrict_csr(adj.to_sparse_csr() if adj.layout != torch.sparse_csr else adj, start, end)
    ei, w = adj
    keep = (ei[0] >= start) & (ei[0] < end) & (ei[1] >= start) & (ei[1] < end)
    return ei[:, keep] - start, None if w is None else w[keep]


def spans(groups: list[np.ndarray], edge_index: Tensor, num_nodes: int, hops: int) -> list[tuple[int, int, list[int]]]:
    """Node ranges ``(start, end, members)`` that hold every node within ``hops`` hops of each
    group of nodes (``groups[k]``: node indices), overlapping ranges merged; ``members`` lists the
    groups each range serves. Running the encoder on a range gives its members' exact outputs."""
    lo, hi = node_reach(edge_index, num_nodes)
    own = sorted((expand(int(np.min(g)), int(np.max(g)) + 1, lo, hi, hops), k)
                 for k, g in enumerate(groups) if len(g))
    out: list[tuple[int, int, list[int]]] = []
    for (s, e), k in own:
        if out and s < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e), out[-1][2] + [k])
        else:
            out.append((s, e, [k]))
    return out


class WindowPlan:
    """The windows of one edge set (see the module docstring), built for one model.

    Parameters
    ----------
    model
        A :class:`model.VGAE`: its layer type says what a window's adjacency is, its
        encoder's ``hops`` how wide the halo must be.
    edge_index, edge_weight, num_nodes
        The message-passing edges (what :meth:`model.VGAE.adjacency` takes).
    window_edges
        Directed edges per core (:func:`cut_cores`).
    loss_hops
        Extra hops, over ``loss_edges`` (default: the message-passing edges), between the
        core and the nodes a training loss may touch; the halo grows by as much.
    """

    def __init__(self, model: Any, edge_index: Tensor, edge_weight: Tensor | None, num_nodes: int, *,
                 window_edges: int = DEFAULT_WINDOW_EDGES, loss_hops: int = 0,
                 loss_edges: Tensor | None = None) -> None:
        self.num_nodes = num_nodes
        hops = model.encoder.hops
        lo, hi = node_reach(edge_index, num_nodes)
        if loss_edges is None:
            llo, lhi = lo, hi
        else:
            llo, lhi = node_reach(loss_edges, num_nodes)
        degree = np.bincount(edge_index[0].cpu().numpy(), minlength=num_nodes)
        full = model.adjacency(edge_index, edge_weight, num_nodes)
        if not isinstance(full, tuple):  # GCN: blocks of the whole graph's normalised adjacency
            full = full.to_sparse_csr() if full.layout != torch.sparse_csr else full
            order = None
        else:  # (edge_index, weight): edges sorted by target, a window's are a contiguous run
            ei, w = full
            order = torch.argsort(ei[1], stable=True)
            ei = ei[:, order]
            w = None if w is None else w[order]
            first = torch.searchsorted(ei[1].contiguous(), torch.arange(num_nodes + 1, device=ei.device))
        self.windows: list[Window] = []
        for a, b in cut_cores(degree, window_edges):
            ls, le = expand(a, b, llo, lhi, loss_hops)
            s, e = expand(ls, le, lo, hi, hops)
            if order is None:
                adj = _restrict_csr(full, s, e)
            else:
                p0, p1 = int(first[s]), int(first[e])
                sub_ei = ei[:, p0:p1]
                keep = (sub_ei[0] >= s) & (sub_ei[0] < e)
                adj = (sub_ei[:, keep] - s, None if w is None else w[p0:p1][keep])
            self.windows.append(Window(s, e, a, b, ls, le, adj))
        sizes = np.array([w.end - w.start for w in self.windows])
        log.info("%d windows of %d nodes: cores of %.0f nodes on average, windows (core + halo) of %.0f",
                 len(self.windows), num_nodes, num_nodes / max(len(self.windows), 1),
                 sizes.mean() if sizes.size else 0)
        if len(self.windows) > 1 and sizes.mean() > 0.5 * num_nodes:
            log.warning("the windows' halos cover most of the graph (%.0f of %d nodes per window): edges "
                        "reach far along the node order (trans contacts?), so windows save little memory",
                        sizes.mean(), num_nodes)

    def __len__(self) -> int:
        return len(self.windows)

    def encode_window(self, model: Any, h: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """``(mu, log sigma)`` of window ``k``'s nodes (exact on its core) from the normalised
        features ``h`` of the whole graph (``model.encoder.normalise``)."""
        w = self.windows[k]
        return model.encoder.propagate(h[w.start:w.end], w.adj)

    def encode(self, model: Any, data: Any) -> tuple[Tensor, Tensor]:
        """``(mu, log sigma)`` of every node, window by window: full-batch encoding's numbers."""
        if data.num_nodes != self.num_nodes:
            raise common.DataError(f"window plan built for {self.num_nodes} nodes used on a graph of "
                                   f"{data.num_nodes}")
        h = model.encoder.normalise(data.x, data.mask)
        mus, logstds = [], []
        for k, w in enumerate(self.windows):
            mu, logstd = self.encode_window(model, h, k)
            mus.append(mu[w.core])
            logstds.append(logstd[w.core])
        if not mus:  # a graph without nodes
            return model.encoder.propagate(h, model.adjacency(data.edge_index, data.edge_weight, 0))
        return torch.cat(mus), torch.cat(logstds)

    def to(self, device: torch.device | str) -> "WindowPlan":
        """Move every window's adjacency to ``device`` (in place)."""
        for w in self.windows:
            w.adj = (w.adj.to(device) if isinstance(w.adj, Tensor) else
                     tuple(None if t is None else t.to(device) for t in w.adj))
        return self


def add_batch_args(parser: Any) -> None:
    """Add ``--batch`` and ``--window-edges`` (shared by train_vgae.py and encode_graph.py)."""
    parser.add_argument("--batch", choices=BATCH_MODES, default="auto",
                        help="full: the whole graph at once; window: genomic windows (contiguous bins plus "
                             "the halo of neighbours that makes their embedding exact; training makes one "
                             "step per window, on the links and structure targets of its bins), for graphs "
                             "too large for memory; auto: window above "
                             f"{AUTO_WINDOW_EDGES:,} directed edges, else full [%(default)s]")
    parser.add_argument("--window-edges", type=common.arg_type(int, lambda v: v >= 1, "a positive integer"),
                        default=DEFAULT_WINDOW_EDGES,
                        help="--batch window: directed edges per window's core bins [%(default)s]")


def adjacency(model: Any, edge_index: Tensor, edge_weight: Tensor | None, num_nodes: int, *,
              batch: str = "full", window_edges: int = DEFAULT_WINDOW_EDGES, **plan_kw: Any) -> Any:
    """``model.adjacency(...)`` for ``batch="full"``, a :class:`WindowPlan` for ``"window"``
    (``"auto"`` is :func:`resolve`'d on the edge count). :meth:`model.VGAE.encode` takes either."""
    if resolve(batch, edge_index.size(1)) == "window":
        return WindowPlan(model, edge_index, edge_weight, num_nodes, window_edges=window_edges, **plan_kw)
    return model.adjacency(edge_index, edge_weight, num_nodes)
