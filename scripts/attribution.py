"""Which input marks drive a region's embedding change: integrated gradients through the encoder.

For a region R of bins, the function attributed is

    f(x) = mean over i in R of  cosine_distance(mu(x, A2)_i, mu1_i)

with ``mu(x, A2)`` the encoder's output on cell 2's contact graph ``A2`` when its
node features are ``x``, and ``mu1`` cell 1's embedding. Integrated gradients
(captum) go from the baseline ``x = x1`` (cell 1's marks) to ``x = x2`` (cell 2's),
so the attributions, summed over bins per mark, add up to ``f(x2) - f(x1)``: the
part of the region's change that comes from the marks, split among them. What is
left, ``f(x1)``, is the part the contacts alone make. Attributions are summed over
all bins (a GCN also mixes neighbours' marks), one number per mark and region.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch


def _forward(model, adj: torch.Tensor, mu_ref: torch.Tensor, regions: Sequence[np.ndarray]):
    index = [torch.as_tensor(np.asarray(r, dtype=np.int64)) for r in regions]
    ref = torch.nn.functional.normalize(mu_ref, dim=1)

    def f(xb: torch.Tensor) -> torch.Tensor:  # [B, N, F] -> [B, R]
        out = []
        for x in xb:
            mu, _ = model.encoder(x, adj)
            cos = 1 - (torch.nn.functional.normalize(mu, dim=1) * ref).sum(1)
            out.append(torch.stack([cos[i].mean() for i in index]))
        return torch.stack(out)
    return f


def region_attributions(model, graph: dict, *, x_base: torch.Tensor, mu_ref: np.ndarray,
                        regions: Sequence[np.ndarray], bn: str = "frozen", n_steps: int = 32,
                        internal_batch_size: int = 8) -> np.ndarray:
    """``[R, F]`` integrated-gradient attribution of each region's mean cosine distance to
    ``mu_ref`` to each input feature, from ``x_base`` to ``graph["x"]`` on ``graph``'s edges.

    ``bn="refit"`` re-estimates the input BatchNorm statistics on ``graph`` first (on a
    copy of ``model``), as the embedding being explained was made.
    """
    from captum.attr import IntegratedGradients

    import encode_graph
    import model as vgae

    data = vgae.prepare_graph(graph, use_edge_weight=model.hparams["use_edge_weight"])
    m = copy.deepcopy(model).eval()
    if bn == "refit":
        encode_graph.refit_batchnorm(m, data)
    for p in m.parameters():
        p.requires_grad_(False)
    adj = m.adjacency(data.edge_index, data.edge_weight, data.num_nodes)
    f = _forward(m, adj, torch.as_tensor(np.asarray(mu_ref), dtype=torch.float32), regions)
    ig = IntegratedGradients(f)
    x2 = data.x.float().unsqueeze(0)
    x1 = torch.as_tensor(x_base, dtype=torch.float32).unsqueeze(0)
    out = np.zeros((len(regions), x2.shape[-1]))
    for r in range(len(regions)):
        a = ig.attribute(x2, baselines=x1, target=r, n_steps=n_steps, internal_batch_size=internal_batch_size)
        out[r] = a[0].sum(0).detach().numpy()
    return out


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
