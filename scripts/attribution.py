"""Which input marks drive a region's embedding change: integrated gradients through the encoder.

For a region R of bins, the function attributed is

    f(x) = mean over i in R of  cosine_distance(mu(x, A2)_i, mu1_i)

with ``mu(x, A2)`` the encoder's output on cell 2's contact graph ``A2`` when its
node features are ``x``, and ``mu1`` cell 1's embedding. Integrated gradients go
from the baseline ``x = x1`` (cell 1's marks) to ``x = x2`` (cell 2's), so the
attributions add up to ``f(x2) - f(x1)``: the part of the region's change that
comes from the marks, split among them. What is left, ``f(x1)``, is the part the
contacts alone make. Attributions are summed over all bins (a GCN also mixes
neighbours' marks), one number per mark and region.

Two implementations of the same integral:

* :func:`region_attributions` (default): for all regions at once, each mark's
  directional derivative along ``x2 - x1`` by central differences in float64, at
  the midpoints of ``n_steps`` intervals of the path: ``2 F`` encoder passes per step
  whatever the number of regions (a GCN forward pass is cheap, a backward pass per
  region and step is what made captum slow here);
* :func:`captum_attributions`: captum's ``IntegratedGradients``, one call per region
  (the reference; the tests check the two agree).
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch


def _setup(model, graph: dict, *, bn: str, dtype: torch.dtype):
    import encode_graph
    import model as vgae

    data = vgae.prepare_graph(graph, use_edge_weight=model.hparams["use_edge_weight"])
    m = copy.deepcopy(model).to(dtype).eval()
    data.x, data.edge_weight = data.x.to(dtype), data.edge_weight.to(dtype)
    if bn == "refit":
        encode_graph.refit_batchnorm(m, data)
    for p in m.parameters():
        p.requires_grad_(False)
    return m, data, m.adjacency(data.edge_index, data.edge_weight, data.num_nodes)


def _region_means(regions: Sequence[np.ndarray], n: int, dtype: torch.dtype) -> torch.Tensor:
    """``[R, N]`` matrix whose row r averages the bins of region r."""
    rows = np.concatenate([np.full(len(r), k) for k, r in enumerate(regions)])
    cols = np.concatenate([np.asarray(r, np.int64) for r in regions])
    vals = np.concatenate([np.full(len(r), 1.0 / len(r)) for r in regions])
    m = np.zeros((len(regions), n))
    np.add.at(m, (rows, cols), vals)
    return torch.as_tensor(m, dtype=dtype)


def region_distance(model, adj: torch.Tensor, mu_ref: torch.Tensor, means: torch.Tensor):
    """``f(x)``: every region's mean cosine distance between ``mu(x)`` and ``mu_ref`` (``[R]``)."""
    ref = torch.nn.functional.normalize(mu_ref, dim=1)

    def f(x: torch.Tensor) -> torch.Tensor:
        mu, _ = model.encoder(x, adj)
        return means @ (1 - (torch.nn.functional.normalize(mu, dim=1) * ref).sum(1))
    return f


@torch.no_grad()
def region_attributions(model, graph: dict, *, x_base: torch.Tensor, mu_ref: np.ndarray,
                        regions: Sequence[np.ndarray], bn: str = "frozen", n_steps: int = 32,
                        step: float = 1e-4, local: bool = True) -> np.ndarray:
    """``[R, F]`` integrated-gradient attribution of each region's mean cosine distance to
    ``mu_ref`` to each input feature, from ``x_base`` to ``graph["x"]`` on ``graph``'s edges.

    ``bn="refit"`` re-estimates the input BatchNorm statistics on ``graph`` first (on a
    copy of ``model``), as the embedding being explained was made. ``step``: the central
    difference step, as a fraction of the path. ``local``: run the encoder only on the node
    ranges that hold the regions' ``hops``-hop neighbourhoods (:func:`batching.spans`; the
    same numbers, since nothing farther reaches a region's mu), not on the whole graph each
    pass: genome-wide, 40 regions need a few percent of the bins.
    """
    import batching

    dt = torch.float64
    m, data, adj = _setup(model, graph, bn=bn, dtype=dt)
    mu_ref = torch.as_tensor(np.asarray(mu_ref), dtype=dt)
    x1 = torch.as_tensor(x_base, dtype=dt)
    n = data.num_nodes
    parts = (batching.spans([np.asarray(r) for r in regions], data.edge_index, n, m.encoder.hops)
             if local else [(0, n, list(range(len(regions))))])
    out = torch.zeros(len(regions), data.x.shape[1], dtype=dt)
    for s, e, members in parts:
        sub = adj if (s, e) == (0, n) else batching.restrict(adj, s, e)
        f = region_distance(m, sub, mu_ref[s:e],
                            _region_means([np.asarray(regions[k]) - s for k in members], e - s, dt))
        out[members] = _path_integral(f, x1[s:e], data.x[s:e], n_out=len(members), n_steps=n_steps, step=step)
    return out.numpy()


def _path_integral(f, x1: torch.Tensor, x2: torch.Tensor, *, n_out: int, n_steps: int,
                   step: float) -> torch.Tensor:
    """``[n_out, F]``: per feature, the midpoint-rule integral from ``x1`` to ``x2`` of the
    directional derivative of ``f`` (``n_out`` values) along that feature's part of ``x2 - x1``
    (central differences)."""
    d = x2 - x1
    out = torch.zeros(n_out, d.shape[1], dtype=d.dtype)
    for a in (np.arange(n_steps) + 0.5) / n_steps:  # midpoint rule along the straight path
        xa = x1 + float(a) * d
        for k in range(d.shape[1]):
            e = torch.zeros_like(d)
            e[:, k] = d[:, k] * step
            out[:, k] += (f(xa + e) - f(xa - e)) / (2 * step)
    return out / n_steps


def captum_attributions(model, graph: dict, *, x_base: torch.Tensor, mu_ref: np.ndarray,
                        regions: Sequence[np.ndarray], bn: str = "frozen", n_steps: int = 32) -> np.ndarray:
    """As :func:`region_attributions`, with captum's ``IntegratedGradients`` (one call per region)."""
    from captum.attr import IntegratedGradients

    dt = torch.float64
    m, data, adj = _setup(model, graph, bn=bn, dtype=dt)
    f = region_distance(m, adj, torch.as_tensor(np.asarray(mu_ref), dtype=dt),
                        _region_means(regions, data.num_nodes, dt))
    ig = IntegratedGradients(lambda xb: torch.stack([f(x) for x in xb]))  # [B, N, F] -> [B, R]
    x2, x1 = data.x.unsqueeze(0), torch.as_tensor(x_base, dtype=dt).unsqueeze(0)
    return np.stack([ig.attribute(x2, baselines=x1, target=r, n_steps=n_steps, method="riemann_middle")[0]
                     .sum(0).detach().numpy() for r in range(len(regions))])


def top_marks(attr: np.ndarray, marks: Sequence[str], *, k: int = 2, min_share: float = 0.2) -> list[str]:
    """Per region, the (up to ``k``) marks with the largest positive attribution, each at least
    ``min_share`` of the region's total positive attribution, e.g. ``H3K27me3,CTCF``;
    ``contacts`` when no mark raises the distance."""
    out = []
    for row in np.asarray(attr, float):
        pos = np.clip(row, 0, None)
        if pos.sum() <= 0:
            out.append("contacts")
            continue
        order = np.argsort(-pos)[:k]
        out.append(",".join(marks[j] for j in order if pos[j] >= min_share * pos.sum()))
    return out
