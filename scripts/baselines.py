"""What needs no learning: link and embedding baselines, and the metrics that score both.

Link prediction (scored on the same distance-matched test pairs as the model, from
the links message passing sees, so never from the test links themselves):

* ``common_neighbours``: ``|N(i) & N(j)|``;
* ``adamic_adar``: ``sum over shared neighbours k of 1 / log(deg k)``;
* ``degree_product``: ``deg(i) * deg(j)`` (preferential attachment).

Embeddings of the same bins, scored by :func:`embedding_metrics`:

* ``E1``, ``E1-E3``, ``E1-E10``: leading compartment eigenvectors;
* ``AkX``: node features smoothed ``k`` times over the graph, ``Â^k X`` with GCN's
  normalised adjacency ``Â`` (:func:`smoothed_features`, ``k = 1..4``, the best reported);
* ``untrained``: an encoder of the trained one's architecture with random weights
  (:func:`untrained_embeddings`, mean over 5 seeds).

Metrics (:func:`embedding_metrics`): cosine and Euclidean A/B silhouette, the accuracy
of a blocked linear probe (logistic regression, 5 contiguous genomic folds), the
effective rank and the variance share of the first principal component (a rank-1
collapse scores a high cosine silhouette and little else).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

#: Link baselines scored beside the model, in report order.
LINK_BASELINES = ("common_neighbours", "adamic_adar", "degree_product")
#: Metric keys of :func:`embedding_metrics`, in table order.
EMBEDDING_METRICS = ("probe", "silhouette_cosine", "silhouette_euclidean", "effective_rank", "pc1_share")
SMOOTHING_STEPS = (1, 2, 3, 4)
UNTRAINED_SEEDS = (0, 1, 2, 3, 4)


# ----------------------------------------------------------------------------
# link prediction
# ----------------------------------------------------------------------------
def adjacency_matrix(edge_index: np.ndarray, n: int):
    """Binary symmetric ``scipy.sparse`` CSR adjacency of ``[2, E]`` edges (self-loops dropped)."""
    import scipy.sparse as sp

    ei = np.asarray(edge_index)
    off = ei[0] != ei[1]
    a = sp.coo_matrix((np.ones(int(off.sum())), (ei[0, off], ei[1, off])), shape=(n, n)).tocsr()
    a = a + a.T
    a.data[:] = 1.0
    return a


def link_baseline_scores(*, edge_index: np.ndarray, pairs: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Scores of every :data:`LINK_BASELINES` predictor for node pairs ``[2, P]`` on a graph.

    ``edge_index`` is the graph the predictors may see (the message-passing links of
    the split being scored); all three are vectorised sparse products.
    """
    a = adjacency_matrix(edge_index, n)
    deg = np.asarray(a.sum(1)).ravel()
    i, j = np.asarray(pairs)
    ai, aj = a[i], a[j]
    cn = np.asarray(ai.multiply(aj).sum(1)).ravel()
    inv_log = np.where(deg > 1, 1.0 / np.log(np.maximum(deg, 2)), 0.0)
    aa = np.asarray(ai.multiply(aj).multiply(inv_log[None, :]).sum(1)).ravel()
    return {"common_neighbours": cn, "adamic_adar": aa, "degree_product": deg[i] * deg[j]}


# ----------------------------------------------------------------------------
# embedding metrics
# ----------------------------------------------------------------------------
def _scored(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows labelled A/B with finite values, in genomic order, and their 0/1 labels (A = 1)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(labels), -1)
    keep = np.isin(labels, ("A", "B")) & np.isfinite(x).all(1)
    return x[keep], (labels[keep] == "A").astype(int)


def blocked_probe(*, x: np.ndarray, labels: np.ndarray, n_folds: int = 5) -> float:
    """Accuracy of a logistic-regression A/B probe over ``n_folds`` contiguous genomic folds.

    Rows must be in genomic order; each fold is one contiguous stretch of the labelled
    bins, so neighbouring (autocorrelated) bins do not sit on both sides of a split.
    Features are standardised inside each training fold. NaN with too few bins.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold

    xs, y = _scored(x, labels)
    if len(y) < 2 * n_folds or min(y.sum(), (1 - y).sum()) < n_folds:
        return float("nan")
    # The folds by hand rather than cross_val_predict(make_pipeline(StandardScaler(), ...)): the same
    # standardise-then-fit per fold, without the meta-estimator overhead (8x faster at 1,300 bins)
    pred = np.empty_like(y)
    for train, test in KFold(n_splits=n_folds, shuffle=False).split(xs):
        mu, sd = xs[train].mean(0), xs[train].std(0)
        sd[sd == 0] = 1.0
        clf = LogisticRegression(max_iter=2000).fit((xs[train] - mu) / sd, y[train])
        pred[test] = clf.predict((xs[test] - mu) / sd)
    return float((pred == y).mean())


def effective_rank(x: np.ndarray) -> float:
    """``exp`` of the entropy of the normalised singular values of the centred ``x`` (Roy & Vetterli 2007)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x).all(1)]
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    if s.sum() <= 0:
        return float("nan")
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def pc1_share(x: np.ndarray) -> float:
    """Share of the total variance on the first principal component."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x).all(1)]
    s2 = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
    return float(s2[0] / s2.sum()) if s2.sum() > 0 else float("nan")


def embedding_metrics(*, x: np.ndarray, labels: np.ndarray, max_bins: int = 10000,
                      seed: int = 0) -> dict[str, float]:
    """Every :data:`EMBEDDING_METRICS` value for per-bin vectors ``x`` against A/B/N ``labels``."""
    from visualize_embeddings import ab_silhouette

    x = np.asarray(x, dtype=np.float64).reshape(len(labels), -1)
    ok = np.isfinite(x).all(1)
    used = np.where(ok, labels, "N")
    one_d = x.shape[1] == 1  # cosine of 1-D vectors keeps only the sign
    return {
        "probe": blocked_probe(x=x, labels=used),
        "silhouette_cosine": (float("nan") if one_d else
                              ab_silhouette(x, used, metric="cosine", max_bins=max_bins, seed=seed)),
        "silhouette_euclidean": ab_silhouette(x, used, metric="euclidean", max_bins=max_bins, seed=seed),
        "effective_rank": effective_rank(x[ok & np.isin(labels, ("A", "B"))]),
        "pc1_share": pc1_share(x[ok & np.isin(labels, ("A", "B"))]),
    }


# ----------------------------------------------------------------------------
# embedding baselines
# ----------------------------------------------------------------------------
def eigenvector_sets(comp) -> dict[str, np.ndarray]:
    """``E1``, ``E1-E3`` and ``E1-E10`` from a compartment table (those its ``E`` columns allow)."""
    have = [k for k in range(1, 11) if f"E{k}" in comp.columns]
    out = {}
    for name, k in (("E1", 1), ("E1-E3", 3), ("E1-E10", 10)):
        if len(have) >= k and have[:k] == list(range(1, k + 1)):
            out[name] = comp[[f"E{m}" for m in range(1, k + 1)]].to_numpy(np.float64)
    return out


def gcn_adjacency(edge_index: np.ndarray, edge_weight: np.ndarray | None, n: int):
    """GCN's ``D^-1/2 (A + I) D^-1/2`` as a SciPy CSR matrix, in float64.

    The matrix of :func:`model.gcn_adjacency` (torch_geometric's ``gcn_norm`` with
    self-loops of weight 1 where a node has none, ``add_remaining_self_loops``), built
    without importing torch_geometric (2.2 s a process), for the steps that need only
    ``Â`` (tests/test_baselines.py checks the two agree).
    """
    import scipy.sparse as sp

    src, dst = (np.asarray(a, dtype=np.int64) for a in edge_index)
    w = np.ones(len(src)) if edge_weight is None else np.asarray(edge_weight, dtype=np.float64)
    loop = src == dst
    self_w = np.ones(n)
    self_w[src[loop]] = w[loop]  # an existing self-loop keeps its weight
    src, dst, w = src[~loop], dst[~loop], w[~loop]
    deg = np.bincount(dst, w, minlength=n) + self_w
    dis = np.zeros(n)
    np.divide(1.0, np.sqrt(deg), out=dis, where=deg > 0)
    rows = np.concatenate([dst, np.arange(n)])  # row = target, as model.gcn_adjacency
    cols = np.concatenate([src, np.arange(n)])
    vals = np.concatenate([dis[src] * w * dis[dst], dis * self_w * dis])
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


def smoothed_features(*, x: np.ndarray, edge_index: np.ndarray, edge_weight: np.ndarray | None,
                      mask: np.ndarray, steps: Iterable[int] = SMOOTHING_STEPS) -> dict[int, np.ndarray]:
    """``Â^k X`` for each ``k`` in ``steps``: the standardised features smoothed over the graph.

    ``X`` is standardised with the usable bins' statistics (what the encoder's
    BatchNorm does); ``Â`` is GCN's ``D^-1/2 (A + I) D^-1/2`` (:func:`gcn_adjacency`,
    the matrix the encoder's layers use) on the same edges and weights the encoder sees.
    """
    x = np.asarray(x, dtype=np.float64)
    mu, sd = x[mask].mean(0), x[mask].std(0)
    h = (x - mu) / np.where(sd > 0, sd, 1.0)
    adj = gcn_adjacency(edge_index, edge_weight, len(x))
    out, steps = {}, sorted(set(steps))
    for k in range(1, max(steps) + 1):
        h = adj @ h  # a new array each step: the stored ones are never overwritten
        if k in steps:
            out[k] = h
    return out


def untrained_embeddings(*, hparams: dict[str, Any], data, seeds: Iterable[int] = UNTRAINED_SEEDS) -> list[np.ndarray]:
    """mu of encoders with ``hparams`` and random weights (one per seed), on ``data`` (eval mode).

    The BatchNorm statistics are those of ``data``'s usable bins, as after training,
    so only the learned weights differ from the trained model.
    """
    import torch

    import model as vgae

    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        m = vgae.build_model(hparams)
        with torch.no_grad():
            m.train()
            m.encoder.normalise(data.x, data.mask)  # BatchNorm running statistics of usable bins
        out.append(vgae.embed(m, data).astype(np.float64))
    return out


def _mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = rows[0].keys()
    out = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    out.update({f"{k}_sd": float(np.nanstd([r[k] for r in rows])) for k in keys})
    return out


def embedding_baselines(*, labels: np.ndarray, comp=None, g: dict[str, Any] | None = None,
                        hparams: dict[str, Any] | None = None, max_bins: int = 10000,
                        seed: int = 0) -> dict[str, dict[str, Any]]:
    """:func:`embedding_metrics` of every baseline the inputs allow, by name.

    ``comp`` (compartment table) gives the eigenvector sets; ``g`` (graph dict) the
    raw features ``X`` and ``Â^k X`` (best ``k`` by probe accuracy, recorded as ``k``);
    ``g`` with ``hparams`` (a checkpoint's) the untrained encoder, averaged over
    :data:`UNTRAINED_SEEDS` (``*_sd`` keys hold the spread).
    """
    kw = dict(labels=labels, max_bins=max_bins, seed=seed)
    out: dict[str, dict[str, Any]] = {}
    if comp is not None:
        for name, v in eigenvector_sets(comp).items():
            out[name] = embedding_metrics(x=v, **kw)
    if g is not None:
        import model as vgae

        use_w = True if hparams is None else bool(hparams.get("use_edge_weight", True))
        data = vgae.prepare_graph(g, use_edge_weight=use_w)
        x, mask = g["x"].numpy(), g["mask"].numpy()
        out["features"] = embedding_metrics(x=x, **kw)
        smooth = smoothed_features(x=x, edge_index=data.edge_index.numpy(),
                                   edge_weight=data.edge_weight.numpy() if use_w else None, mask=mask)
        scored = {k: embedding_metrics(x=v, **kw) for k, v in smooth.items()}
        best = max(scored, key=lambda k: np.nan_to_num(scored[k]["probe"], nan=-1))
        out["AkX"] = {**scored[best], "k": best,
                      "probe_by_k": {int(k): s["probe"] for k, s in scored.items()}}
        if hparams is not None:
            out["untrained"] = _mean_metrics([embedding_metrics(x=e, **kw) for e in
                                              untrained_embeddings(hparams=hparams, data=data)])
    return out
