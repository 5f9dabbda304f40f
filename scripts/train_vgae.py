"""Train the VGAE on one contact graph by link prediction, with an honest evaluation.

    python scripts/train_vgae.py --graph data/processed/GM12878_chr21.pt \\
        --epochs 300 --patience 20 --hidden 64 --latent 32 --outdir results/GM12878

Edges touching masked bins are dropped, then the usable bins' links are split with
torch_geometric's ``RandomLinkSplit`` (undirected; validation and test get sampled
negatives; training negatives are resampled every epoch). On a graph over several
chromosomes without trans links, every negative is a cis pair (``--negatives``).

Design (``--preset seed`` restores the seed's: GCN encoder, inner-product decoder,
random negatives, early stopping on validation AUC):

* ``--encoder``: ``gcn`` (the seed's), ``sage``, ``gat``, or their jumping-knowledge
  variants ``jk`` (the default) / ``sage-jk`` / ``gat-jk`` (mu read from the input and
  every layer);
* ``--objective``: ``bce`` (links vs random non-links), ``matched`` (plus
  distance-matched non-links every epoch: hard negatives that distance cannot tell
  apart), ``strength`` (plus ``z_i . z_j`` regressed on each link's log O/E),
  ``structure`` (the default: ``bce`` plus two terms, :class:`model.StructureTargets`:
  ``z_i . z_j`` reconstructs the arm's compartment correlation (rank 10, from
  build_graph's ``compartment_target``) for every pair of bins at any distance, and a
  linear head reconstructs the marks smoothed over the graph, ``Â^2 X``);
* ``--stop-on``: ``auto`` (the default) = ``structure`` for that objective (the two
  terms on 10 % of the bins held out of them), else ``auc``; ``matched-auc`` = the
  validation AUC against distance-matched non-links;
* ``--graph g1.pt g2.pt``: one encoder trained on several cell lines; ``--init
  model.pt``: fine-tune a trained model;
* ``--batch``: ``full`` (the whole graph, one step per epoch), ``window`` (one step per
  genomic window of about ``--window-edges`` edges plus an exact halo, :mod:`batching`:
  for graphs too large for full batch, e.g. 10 kb genome-wide) or ``auto`` (the default:
  ``window`` above ``batching.AUTO_WINDOW_EDGES`` edges). Validation, test and the
  embedding are computed in the same mode and are the same numbers for the same weights;
  ``training_curve.csv``'s losses are then the means over the epoch's steps.

Loss = reconstruction + KL/N; early stopping restores the best weights.

Random negatives are mostly far apart along the genome while contacts are mostly
close, so a test AUC alone says little. Two baselines sit beside it in
``metrics.json`` and in the closing summary:

* (a) the distance-only predictor (score = -|i - j|) on the same test pairs;
* (b) AUC against *distance-matched* negatives (non-contacts drawn at exactly the
  distances of the test contacts), for the model and for distance-only (0.5 by
  construction), beside common neighbours, Adamic-Adar and degree product on the
  same pairs (``matched_baselines_auc``), with the share of test links that found a
  matched non-link (``matched_coverage``).

Outputs in ``--outdir``: ``model.pt``, ``emb.npy`` + ``emb.tsv`` (mu of every bin),
``metrics.json``, ``training_curve.csv`` / ``.png``, with provenance sidecars.
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import common  # first: one line naming the fix when the environment is missing

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import RandomLinkSplit
from tqdm.auto import tqdm

import baselines
import batching
import model as vgae

log = logging.getLogger("chromatin_gnn.train")

#: Default decoder. Measured on simulated chr21 @ 25 kb (benchmarks/bench_train.py): the
#: distance decoder's test AUC is far above the inner product's (which cannot learn the
#: distance decay from two features) and its embedding separates A/B compartments better.
DEFAULT_DECODER = "distance"
#: Training objectives (``--objective``), see :func:`train_vgae`.
OBJECTIVES = ("bce", "matched", "strength", "structure")
#: ``structure``: smoothing steps k of the feature target ``Â^k X`` and the default term weights.
STRUCTURE_SMOOTHING = 2
DEFAULT_COMP_WEIGHT = 10.0
DEFAULT_FEAT_WEIGHT = 1.0
STOP_ON = ("auto", "matched-auc", "auc", "structure")
#: ``structure``: share of bins held out of its two terms, scored by ``--stop-on structure``.
STRUCTURE_HELD_OUT = 0.1
#: Defaults chosen in benchmarks/ABLATION.md (3 simulator seeds x 2 difficulties + real chr21):
#: the jumping-knowledge GCN trained with the ``structure`` objective (links + the arm-wide
#: compartment correlation + the graph-smoothed marks, E1-E3 among the inputs) had the best A/B
#: probe of every trained cell and the best distance-matched AUC on the simulated data; the
#: seed's GCN with links alone (``bce``) lost to E1 everywhere. ``--stop-on auto`` watches the
#: held-out bins' structure terms for ``structure`` (which keep improving for 100+ epochs), else
#: validation AUC; ``--patience`` defaults to 50 for the former (its curve has an early bump),
#: 20 for the others.
DEFAULT_ENCODER = "jk"
DEFAULT_OBJECTIVE = "structure"
DEFAULT_STOP_ON = "auto"
PATIENCE = {"structure": 50, "auc": 20, "matched-auc": 20}
#: Epochs before the best weights are tracked, per ``--stop-on``: the held-out structure score
#: starts at the level of an all-zero embedding (a fresh encoder's mu is near 0), which the first
#: noisy epochs exceed before training brings it below (early stopping's usual ``min_epochs``).
MIN_EPOCHS = {"structure": 25, "auc": 0, "matched-auc": 0}
#: Random non-links counted for the distance decoder's starting bias: 4 per training link, at most this
#: many (per-bucket log odds need no more; 4 x 10 M links at 10 kb genome-wide would take GBs).
INIT_BIAS_NEGATIVES = 4_000_000
#: ``--preset seed``: the seed's model and training, exactly.
SEED_PRESET = dict(encoder="gcn", decoder="inner", objective="bce", stop_on="auc")


# ----------------------------------------------------------------------------
# splitting and negatives
# ----------------------------------------------------------------------------
def usable_subgraph(data: Data) -> tuple[Data, Tensor]:
    """The usable bins (``data.mask``) as their own graph, and their indices in ``data``.

    Training runs on this subgraph, so every sampled negative joins two usable bins.
    ``prepare_graph`` already removed edges that touch masked bins.
    """
    idx = data.mask.nonzero().view(-1)
    remap = torch.full((data.num_nodes,), -1, dtype=torch.long)
    remap[idx] = torch.arange(idx.numel())
    sub = Data(x=data.x[idx], edge_index=remap[data.edge_index], edge_weight=data.edge_weight,
               mask=torch.ones(idx.numel(), dtype=torch.bool), pos=data.pos[idx],
               chrom_id=data.chrom_id[idx], num_nodes=idx.numel())
    if "edge_strength" in data:
        sub.edge_strength = data.edge_strength
    if "comp_target" in data:
        sub.comp_target, sub.comp_region = data.comp_target[idx], data.comp_region[idx]
    return sub, idx


def check_trainable(data: Data, *, val_frac: float, test_frac: float) -> None:
    """Raise :class:`common.DataError` unless ``data`` has links to train, validate and test on."""
    n_usable, n_links = int(data.mask.sum()), data.edge_index.size(1) // 2
    if n_links == 0:
        raise common.DataError(
            f"no edges left after removing masked bins ({data.num_nodes - n_usable} of "
            f"{data.num_nodes} bins masked); the graph has no contacts between usable bins -- "
            "check the cooler's balancing weights or rebuild the graph")
    n_val, n_test = int(val_frac * n_links), int(test_frac * n_links)
    if min(n_val, n_test) < 2 or n_links - n_val - n_test < 1:
        raise common.DataError(
            f"only {n_links} links between usable bins: too few for a {val_frac:g}/{test_frac:g} "
            "validation/test split; use a larger graph (more bins, larger --max-dist)")
    n_pairs = n_usable * (n_usable - 1) // 2
    if n_pairs - n_links < n_val + n_test:
        raise common.DataError(
            f"only {n_pairs - n_links} of the {n_pairs} pairs of usable bins are non-contacts, fewer than "
            f"the {n_val + n_test} validation and test links need as negatives; rebuild the graph with a "
            "smaller --max-dist or a --min-contacts threshold")


def split_links(sub: Data, *, val_frac: float, test_frac: float) -> tuple[Data, Data, Data]:
    """``RandomLinkSplit`` of the subgraph's links into train/val/test.

    Each split holds the message-passing ``edge_index``/``edge_weight`` (train:
    train links; val: train; test: train + val) and ``edge_label_index`` /
    ``edge_label`` (train: positives only, negatives are drawn per epoch).
    Only edges and their weights go through the transform, so no node attribute
    can be mistaken for an edge attribute.
    """
    split = RandomLinkSplit(num_val=val_frac, num_test=test_frac, is_undirected=True,
                            add_negative_train_samples=False, split_labels=False)
    return split(Data(edge_index=sub.edge_index, edge_weight=sub.edge_weight, num_nodes=sub.num_nodes))


def pair_keys(pairs: np.ndarray, n: int) -> np.ndarray:
    """One int64 key per unordered node pair: ``min * n + max``."""
    return np.minimum(pairs[0], pairs[1]) * n + np.maximum(pairs[0], pairs[1])


def unique_keys(keys: np.ndarray) -> np.ndarray:
    """``np.unique(keys)`` of int64 pair keys, by one sort: numpy 2.4's hash-based ``unique`` takes
    ~6 s for 3 M keys spread over a large range (160x the sort), minutes at 10 kb genome-wide."""
    keys = np.sort(np.asarray(keys).ravel())
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys


def _is_link(keys: np.ndarray, link_keys: np.ndarray) -> np.ndarray:
    """Membership of ``keys`` in the sorted unique ``link_keys`` (binary search, no re-sorting of
    ``link_keys``). Above :data:`_SORTED_SEARCH` keys they are searched in sorted order, which walks
    ``link_keys`` once instead of jumping about it (10x faster for 1.5 M keys against 3 M; same answer)."""
    if link_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    if keys.size <= _SORTED_SEARCH:
        return link_keys[np.searchsorted(link_keys, keys).clip(max=link_keys.size - 1)] == keys
    flat = keys.ravel()
    order = np.argsort(flat)
    at = np.empty(flat.size, dtype=np.intp)
    at[order] = np.searchsorted(link_keys, flat[order])
    return (link_keys[at.clip(max=link_keys.size - 1)] == flat).reshape(keys.shape)


_SORTED_SEARCH = 100_000


def sample_negatives(n: int, num: int, *, link_keys: np.ndarray, rng: np.random.Generator,
                     chrom: np.ndarray | None = None, max_rounds: int = 50) -> np.ndarray:
    """``num`` random non-self pairs of ``n`` nodes that are not links, int64 ``[2, num]``.

    ``link_keys`` are the sorted :func:`pair_keys` of the links to avoid. Pairs are
    uniform over all pairs, or with ``chrom`` (chromosome of each node) cis only: a
    uniform anchor and a uniform partner on its chromosome. Fewer pairs come back only
    when nearly every pair is a link.
    """
    if chrom is None:
        n_pairs = n * (n - 1) / 2
    else:
        order = np.argsort(chrom, kind="stable")
        _, first, size = np.unique(chrom[order], return_index=True, return_counts=True)
        slot = np.searchsorted(np.unique(chrom), chrom)  # each node's chromosome, as 0..C-1
        n_pairs = float((size * (size - 1) / 2).sum())
    free = max(1.0 - link_keys.size / max(n_pairs, 1), 1e-3)
    found: list[np.ndarray] = []
    need = num
    for _ in range(max_rounds):
        if need <= 0:
            break
        m = int(need / free * 1.1) + 16
        if chrom is None:
            cand = rng.integers(n, size=(2, m))
        else:
            a = rng.integers(n, size=m)
            c = slot[a]
            cand = np.stack([a, order[first[c] + (rng.random(m) * size[c]).astype(np.int64)]])
        cand = cand[:, (cand[0] != cand[1]) & ~_is_link(pair_keys(cand, n), link_keys)][:, :need]
        found.append(cand)
        need -= cand.shape[1]
    return np.concatenate(found, axis=1) if found else np.zeros((2, 0), dtype=np.int64)


def negatives_mode(data: Data, mode: str = "auto") -> str:
    """``cis`` or ``all``: where negatives are drawn (see ``--negatives``).

    ``auto`` is ``cis`` for a graph over several chromosomes without trans links (a
    random pair is then almost always trans, a non-link that chromosome identity alone
    gives away, so random negatives teach nothing and saturate validation AUC at once),
    else ``all`` (one chromosome: the two are the same).
    """
    if mode != "auto":
        return mode
    chrom = data.chrom_id
    multi = bool((chrom != chrom[0]).any()) if chrom.numel() else False
    has_trans = bool((chrom[data.edge_index[0]] != chrom[data.edge_index[1]]).any())
    return "cis" if multi and not has_trans else "all"


def cis_negatives(split: Data, *, n: int, chrom: np.ndarray, link_keys: np.ndarray,
                  rng: np.random.Generator) -> Data:
    """``split`` with its labelled negatives (from ``RandomLinkSplit``) replaced by as many
    cis non-links (:func:`sample_negatives` with ``chrom``)."""
    pairs, labels = split.edge_label_index, split.edge_label
    pos_pairs = pairs[:, labels == 1]
    neg = torch.from_numpy(sample_negatives(n, int((labels == 0).sum()), link_keys=link_keys, rng=rng,
                                            chrom=chrom))
    out = split.clone()
    out.edge_label_index = torch.cat([pos_pairs, neg.to(pairs.device)], 1)
    out.edge_label = torch.cat([torch.ones(pos_pairs.size(1)), torch.zeros(neg.size(1))]).to(labels)
    return out


def distance_matched_negatives(pairs: np.ndarray, *, pos: np.ndarray, chrom: np.ndarray,
                               link_keys: np.ndarray, rng: np.random.Generator,
                               rounds: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """One non-link per link in ``pairs``, at exactly the same genomic distance.

    First up to ``rounds`` rounds of rejection sampling: each draws an anchor bin
    uniformly and takes the bin ``d`` away from it (random side) on the same
    chromosome; trans pairs get a random bin on another chromosome. Pairs that are
    links (``link_keys``: sorted :func:`pair_keys`), self-pairs or off the
    chromosome are redrawn. Cis links still unmatched after that sit at distances
    where nearly every pair is a link; for each such distance every same-chromosome
    pair at it is listed, the links are removed and one free pair is drawn uniformly
    per link -- the same distribution, without retrying hopeless draws (a link at a
    distance with no free pair stays unmatched). Every node here is a usable bin (run
    it on the usable subgraph).

    Returns
    -------
    found
        bool ``[P]``: links for which a matched non-link was found.
    neg
        int64 ``[2, found.sum()]`` matched non-links, in the order of ``pairs[:, found]``.
    """
    n = pos.size
    node_at = np.full(int(pos.max()) + 1, -1, dtype=np.int64)
    node_at[pos] = np.arange(n)
    d = np.abs(pos[pairs[0]] - pos[pairs[1]])
    cis = chrom[pairs[0]] == chrom[pairs[1]]
    neg = np.full((2, pairs.shape[1]), -1, dtype=np.int64)
    todo = np.arange(pairs.shape[1])
    for _ in range(rounds):
        if todo.size == 0:
            break
        a = rng.integers(n, size=todo.size)
        b = np.where(cis[todo], _node_at_distance(node_at, pos[a] + rng.choice([-1, 1], size=todo.size) * d[todo]),
                     rng.integers(n, size=todo.size))
        ok = (b >= 0) & (b != a)
        b = np.where(ok, b, a)
        ok &= (chrom[b] == chrom[a]) == cis[todo]
        ok &= ~_is_link(pair_keys(np.stack([a, b]), n), link_keys)
        neg[:, todo[ok]] = a[ok], b[ok]
        todo = todo[~ok]
    left = todo[cis[todo]]
    for dist in np.unique(d[left]):  # a loop over distinct distances, not bins
        want = left[d[left] == dist]
        b = _node_at_distance(node_at, pos + dist)
        a = np.flatnonzero(b >= 0)
        b = b[a]
        same = chrom[a] == chrom[b]
        a, b = a[same], b[same]
        free = ~_is_link(pair_keys(np.stack([a, b]), n), link_keys)
        a, b = a[free], b[free]
        if a.size:
            pick = rng.integers(a.size, size=want.size)
            neg[:, want] = a[pick], b[pick]
    found = neg[0] >= 0
    return found, neg[:, found]


def _node_at_distance(node_at: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The node at each genomic position ``target`` (bins), -1 where none or off the genome."""
    inside = (target >= 0) & (target < node_at.size)
    return np.where(inside, node_at[np.clip(target, 0, node_at.size - 1)], -1)


def link_scores(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """ROC AUC and average precision, equal to scikit-learn's ``roc_auc_score`` and
    ``average_precision_score`` (tests/test_train.py compares them) in one sort.

    scikit-learn's input validation costs ~40 ms a call, which made these two scores most of
    an epoch's time; here the AUC is the Mann-Whitney statistic of the tie-averaged ranks,
    and AP sums precision x recall step over distinct score thresholds, as scikit-learn does.
    """
    y = np.asarray(labels).astype(bool)
    x = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:  # undefined, as scikit-learn says
        return float("nan"), float("nan")
    _, inverse, count = np.unique(x, return_inverse=True, return_counts=True)
    rank = (np.cumsum(count) - (count - 1) / 2)[inverse]  # 1-based ranks, ties averaged
    auc = (rank[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    order = np.argsort(-x, kind="mergesort")
    xs, tp = x[order], np.cumsum(y[order])
    last = np.r_[np.flatnonzero(np.diff(xs)), xs.size - 1]  # last pair of each distinct threshold
    tp = tp[last]
    precision, recall = tp / (last + 1), tp / n_pos
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return float(auc), ap


def distance_scores(pairs: np.ndarray, *, pos: np.ndarray, chrom: np.ndarray) -> np.ndarray:
    """The distance-only predictor: ``-|i - j|`` in bins, trans pairs scored lowest."""
    d = np.abs(pos[pairs[0]] - pos[pairs[1]]).astype(np.float64)
    return np.where(chrom[pairs[0]] == chrom[pairs[1]], -d, -(d.max(initial=0) + 1))


# ----------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------
@dataclass
class TrainResult:
    """What :func:`train_vgae` returns."""

    model: vgae.VGAE
    history: pd.DataFrame
    metrics: dict[str, Any]
    #: (usable subgraph, train, val, test) as used, for further evaluation.
    splits: tuple[Data, Data, Data, Data]
    #: ``full`` or ``window`` (``--batch`` resolved) and the window size, for encoding the same way.
    batch: str = "full"
    window_edges: int = batching.DEFAULT_WINDOW_EDGES


@torch.no_grad()
def _pair_logits(model: vgae.VGAE, sub: Data, adj: Tensor, pairs: Tensor) -> np.ndarray:
    model.eval()
    mu, _ = model.encode(sub, adj)
    return model.decode(mu, pairs, sub).cpu().numpy()


def _split_scores(model: vgae.VGAE, sub: Data, mu: Tensor, split: Data) -> tuple[float, float]:
    """AUC and AP on a split's labelled pairs, from an encoding ``mu`` already made."""
    with torch.no_grad():
        logits = model.decode(mu, split.edge_label_index, sub).cpu().numpy()
    return link_scores(split.edge_label.cpu().numpy(), logits)


def evaluate(model: vgae.VGAE, sub: Data, adj: Tensor, split: Data) -> tuple[float, float]:
    """AUC and AP on a split's labelled pairs, message passing over ``adj``."""
    return link_scores(split.edge_label.cpu().numpy(), _pair_logits(model, sub, adj, split.edge_label_index))


def strength_targets(sub: Data, pairs: Tensor) -> Tensor | None:
    """Standardised contact strength (the graph's edge weight, e.g. log O/E) of link ``pairs``.

    Looked up by :func:`pair_keys` among ``sub``'s links; ``None`` when ``sub`` carries
    no ``edge_strength``. Standardised over the pairs, so the target's scale does not
    depend on the edge transform.
    """
    if "edge_strength" not in sub:
        return None
    n = sub.num_nodes
    keys = pair_keys(sub.edge_index.cpu().numpy(), n)
    order = np.argsort(keys, kind="stable")
    want = pair_keys(pairs.cpu().numpy(), n)
    at = order[np.searchsorted(keys[order], want).clip(max=keys.size - 1)]
    v = sub.edge_strength.cpu().numpy()[at].astype(np.float64)
    v = (v - v.mean()) / (v.std() or 1.0)
    return torch.as_tensor(v, dtype=torch.float32, device=pairs.device)


def matched_split(split: Data, *, sub: Data, link_keys: np.ndarray, rng: np.random.Generator) -> Data:
    """``split`` with its negatives replaced by distance-matched non-links of its positives.

    Positives without a matched non-link are kept (reported by the caller), so the
    split's AUC is over every held-out link.
    """
    pairs, labels = split.edge_label_index.cpu().numpy(), split.edge_label.cpu().numpy()
    positives = pairs[:, labels == 1]
    _, neg = distance_matched_negatives(positives, pos=sub.pos.cpu().numpy(), chrom=sub.chrom_id.cpu().numpy(),
                                        link_keys=link_keys, rng=rng)
    out = split.clone()
    out.edge_label_index = torch.as_tensor(np.concatenate([positives, neg], 1))
    out.edge_label = torch.cat([torch.ones(positives.shape[1]), torch.zeros(neg.shape[1])])
    return out


@dataclass
class _Task:
    """One graph's share of training: its usable subgraph, splits and sampling state."""

    data: Data
    sub: Data
    train: Data
    val: Data
    val_matched: Data
    test: Data
    train_keys: np.ndarray
    link_keys: np.ndarray
    neg_chrom: np.ndarray | None
    negatives: str
    strength: Tensor | None
    structure: vgae.StructureTargets | None = None
    adj: Any = None
    #: ``--batch window``: one :class:`_WindowBatch` per window of ``adj`` (a ``batching.WindowPlan``).
    batches: list["_WindowBatch"] | None = None


@dataclass
class _WindowBatch:
    """One window's share of a training epoch (``--batch window``, see :mod:`batching`).

    Node indices are the window's own (0-based); the loss interval (core plus the
    training links' partners) is ``loss_off .. loss_off + n_loss - 1`` of them.
    """

    k: int
    #: ``pos``, ``chrom_id`` and ``mask`` (= the core) of the window's nodes, for the decoder and KL.
    data: Data
    #: the training links whose first endpoint is a core node, ``[2, P]``
    pos: Tensor
    strength: Tensor | None
    structure: vgae.StructureTargets | None
    loss_off: int
    n_loss: int
    #: sorted :func:`pair_keys` (loss-interval indices) of every training link inside the loss interval
    keys: np.ndarray
    #: loss-interval bin positions (from 0) and chromosome ids, for negatives
    loss_pos: np.ndarray
    loss_chrom: np.ndarray


def _make_task(data: Data, *, val_frac: float, test_frac: float, negatives: str, objective: str,
               rng: np.random.Generator) -> _Task:
    """Split one graph's links and set up its negatives (see :func:`train_vgae`)."""
    check_trainable(data, val_frac=val_frac, test_frac=test_frac)
    sub, _ = usable_subgraph(data)
    train, val, test = split_links(sub, val_frac=val_frac, test_frac=test_frac)
    train_keys = unique_keys(pair_keys(train.edge_label_index.numpy(), sub.num_nodes))
    link_keys = unique_keys(pair_keys(sub.edge_index.numpy(), sub.num_nodes))  # every link
    negatives = negatives_mode(sub, negatives)
    neg_chrom = sub.chrom_id.numpy() if negatives == "cis" else None
    if neg_chrom is not None:
        log.info("negatives: cis only (a graph over several chromosomes without trans links)")
        val, test = (cis_negatives(d, n=sub.num_nodes, chrom=neg_chrom, link_keys=link_keys, rng=rng)
                     for d in (val, test))
    val_matched = matched_split(val, sub=sub, link_keys=link_keys, rng=rng)
    strength = strength_targets(sub, train.edge_label_index) if objective == "strength" else None
    if objective == "strength" and strength is None:
        raise common.DataError("--objective strength needs edge weights; rebuild the graph with build_graph.py")
    return _Task(data, sub, train, val, val_matched, test, train_keys, link_keys, neg_chrom, negatives, strength)


def structure_targets(sub: Data, train: Data, *, comp_weight: float, feat_weight: float,
                      steps: int = STRUCTURE_SMOOTHING) -> vgae.StructureTargets:
    """The ``structure`` objective's targets for one graph (see :class:`model.StructureTargets`).

    The feature target is ``Â^k X`` on the training links only (held-out links stay
    unseen), standardised over the bins; the compartment target is the graph's
    ``compartment_target`` (build_graph ``--compartment-target``).
    """
    if "comp_target" not in sub and comp_weight > 0:
        log.warning("the graph holds no compartment target (built with --compartment-target 0, or by an older "
                    "build_graph.py): the structure objective's compartment term is skipped; rebuild the graph "
                    "with build_graph.py to use it")
    x = sub.x.cpu().numpy()
    w = train.edge_weight.cpu().numpy() if train.edge_weight is not None else None
    sm = baselines.smoothed_features(x=x, edge_index=train.edge_index.cpu().numpy(), edge_weight=w,
                                     mask=np.ones(len(x), bool), steps=[steps])[steps]
    sd = sm.std(0)
    feat = torch.as_tensor((sm - sm.mean(0)) / np.where(sd > 0, sd, 1.0), dtype=torch.float32)
    n = sub.num_nodes
    held_out = torch.zeros(n, dtype=torch.bool)
    held_out[torch.randperm(n)[:int(round(STRUCTURE_HELD_OUT * n))]] = True
    dev = sub.x.device
    return vgae.StructureTargets(mask=sub.mask, comp_target=sub.get("comp_target"),
                                 comp_region=sub.get("comp_region"), feat_target=feat.to(dev),
                                 comp_weight=comp_weight, feat_weight=feat_weight, held_out=held_out.to(dev))


@torch.no_grad()
def _epoch_scores(model: vgae.VGAE, task: _Task) -> tuple[float, float, float, float]:
    """Validation AUC, AP, matched AUC and the ``structure`` terms on held-out bins (NaN
    without that objective; lower is better), from one eval-mode encoding (z = mu)."""
    model.eval()
    mu, _ = model.encode(task.sub, task.adj)
    auc, ap = _split_scores(model, task.sub, mu, task.val)
    matched = _split_scores(model, task.sub, mu, task.val_matched)[0]
    held = task.structure.held_out_loss(mu, model.feature_head) if task.structure is not None else float("nan")
    return auc, ap, matched, held


def _max_link_bins(task: _Task) -> int:
    sub, (pi, pj) = task.sub, task.train.edge_label_index
    cis = sub.chrom_id[pi] == sub.chrom_id[pj]
    return int((sub.pos[pi] - sub.pos[pj]).abs()[cis].max()) if bool(cis.any()) else 1


def _draw_negatives(links: np.ndarray, n: int, *, link_keys: np.ndarray, objective: str, cis: bool,
                    pos: np.ndarray, chrom: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random non-links among nodes ``0 .. n-1`` (one per link in ``links``; within chromosomes when
    ``cis``), plus distance-matched ones unless ``bce``/``structure``. ``pos``/``chrom``: the nodes'."""
    neg = sample_negatives(n, links.shape[1], link_keys=link_keys, rng=rng, chrom=chrom if cis else None)
    if objective not in ("bce", "structure"):
        _, hard = distance_matched_negatives(links, pos=pos, chrom=chrom, link_keys=link_keys, rng=rng)
        neg = np.concatenate([neg, hard], 1)
    return neg


def _epoch_negatives(task: _Task, objective: str, rng: np.random.Generator) -> np.ndarray:
    """:func:`_draw_negatives` for a task's training links over its whole graph."""
    sub = task.sub
    return _draw_negatives(task.train.edge_label_index.cpu().numpy(), sub.num_nodes, link_keys=task.train_keys,
                           objective=objective, cis=task.neg_chrom is not None, pos=sub.pos.cpu().numpy(),
                           chrom=sub.chrom_id.cpu().numpy(), rng=rng)


def _window_batches(task: _Task, plan: batching.WindowPlan, *, objective: str) -> list[_WindowBatch]:
    """Cut a task's training links, strength and structure targets into the plan's windows.

    Each training link goes to the window whose core holds its first endpoint (so every link is
    trained on once per epoch); its partner lies in that window's loss interval (the plan was built
    with ``loss_hops=1`` over the training links), where both embeddings are exact.
    """
    sub = task.sub
    pairs = task.train.edge_label_index.cpu().numpy()
    order = np.argsort(pairs[0], kind="stable")
    first = pairs[0][order]
    pos_all, chrom_all = sub.pos.cpu().numpy(), sub.chrom_id.cpu().numpy()
    dev = sub.x.device
    out = []
    for k, w in enumerate(plan.windows):
        sel = order[np.searchsorted(first, w.core_start):np.searchsorted(first, w.core_end)]
        if sel.size == 0:
            continue  # a core without training links (nothing to learn from in this window)
        pos = pairs[:, sel]
        if pos.min() < w.loss_start or pos.max() >= w.loss_end:  # guaranteed by the plan
            raise AssertionError("a training link leaves its window's loss interval")
        inside = order[np.searchsorted(first, w.loss_start):np.searchsorted(first, w.loss_end)]
        inside = pairs[:, inside]
        inside = inside[:, (inside[1] >= w.loss_start) & (inside[1] < w.loss_end)] - w.loss_start
        n_loss = w.loss_end - w.loss_start
        mask = torch.zeros(w.end - w.start, dtype=torch.bool, device=dev)
        mask[w.core] = True
        data = Data(pos=sub.pos[w.start:w.end], chrom_id=sub.chrom_id[w.start:w.end], mask=mask,
                    num_nodes=w.end - w.start)
        loss_pos = pos_all[w.loss_start:w.loss_end]
        out.append(_WindowBatch(
            k=k, data=data, pos=torch.as_tensor(pos - w.start, device=dev),
            strength=None if task.strength is None else task.strength[torch.as_tensor(sel, device=dev)],
            structure=None if task.structure is None else task.structure.restrict(w.start, w.end, w.core_start,
                                                                                  w.core_end),
            loss_off=w.loss_start - w.start, n_loss=n_loss, keys=unique_keys(pair_keys(inside, n_loss)),
            loss_pos=loss_pos - (loss_pos.min() if loss_pos.size else 0),
            loss_chrom=chrom_all[w.loss_start:w.loss_end]))
    return out


def _window_negatives(wb: _WindowBatch, objective: str, neg_cis: bool, rng: np.random.Generator) -> np.ndarray:
    """:func:`_draw_negatives` within one window's loss interval (window-local indices)."""
    pos = wb.pos.cpu().numpy() - wb.loss_off
    return _draw_negatives(pos, wb.n_loss, link_keys=wb.keys, objective=objective, cis=neg_cis,
                           pos=wb.loss_pos, chrom=wb.loss_chrom, rng=rng) + wb.loss_off


def _window_epoch(model: vgae.VGAE, opt: torch.optim.Optimizer, tasks: list[_Task], *, objective: str,
                  strength_weight: float, rng: np.random.Generator, device: torch.device | str
                  ) -> tuple[float, float, float]:
    """One epoch of ``--batch window``: one optimiser step per window of every task, in random
    order; returns the mean (loss, reconstruction, KL) over the steps."""
    steps = [(t, wb) for t in tasks for wb in t.batches]
    totals = np.zeros(3)
    for i in rng.permutation(len(steps)):
        t, wb = steps[i]
        model.train()
        opt.zero_grad()
        h = model.encoder.normalise(t.sub.x, t.sub.mask)  # the whole graph's BatchNorm statistics
        mu, logstd = t.adj.encode_window(model, h, wb.k)
        neg = torch.from_numpy(_window_negatives(wb, objective, t.neg_chrom is not None, rng)).to(device)
        parts = model.loss_terms(mu, logstd, wb.data, wb.pos, neg, strength=wb.strength,
                                 strength_weight=strength_weight, structure=wb.structure,
                                 kl_mask=wb.data.mask, kl_count=t.sub.num_nodes)
        parts[0].backward()
        opt.step()
        totals += [p.item() for p in parts]
    return tuple(totals / max(len(steps), 1))


def train_vgae(data: Data | Sequence[Data], *, hidden: int = 64, latent: int = 32, dropout: float = 0.2,
               decoder: str = DEFAULT_DECODER, use_edge_weight: bool = True, lr: float = 0.01,
               epochs: int = 300, patience: int | None = None, val_frac: float = 0.1, test_frac: float = 0.1,
               negatives: str = "auto", encoder: str = DEFAULT_ENCODER, layers: int = 2,
               objective: str = DEFAULT_OBJECTIVE, strength_weight: float = 1.0,
               stop_on: str = DEFAULT_STOP_ON, init: dict[str, Any] | None = None,
               comp_weight: float = DEFAULT_COMP_WEIGHT, feat_weight: float = DEFAULT_FEAT_WEIGHT,
               batch: str = "auto", window_edges: int = batching.DEFAULT_WINDOW_EDGES,
               rng: np.random.Generator, device: torch.device | str = "cpu") -> TrainResult:
    """Train on ``data`` (from :func:`model.prepare_graph`) and evaluate on held-out links.

    Call :func:`common.seed_everything` first: the split, dropout and the
    reparameterisation use torch's global generator; negatives use ``rng``.

    ``data`` may be several graphs (cell lines with the same features): one encoder
    and decoder are trained on all of them, each epoch's loss being the sum of the
    graphs' losses and the early-stopping score their mean; ``metrics`` then describe
    the first graph and hold every graph's under ``graphs``. ``init`` (a checkpoint's
    ``state_dict`` of the same architecture) starts from trained weights (fine-tuning).

    ``objective`` (see :data:`OBJECTIVES`): ``bce`` random non-links (the seed's);
    ``matched`` random plus distance-matched non-links of the training links, so the
    embedding must explain which contacts happen at a given distance; ``strength``
    as ``matched`` plus the mean squared error of ``z_i . z_j`` against each training
    link's standardised weight (log O/E). ``stop_on``: ``auc`` (validation AUC against
    random non-links, the seed's, saturates at once) or ``matched-auc`` (against
    distance-matched ones).

    ``batch`` (:data:`batching.BATCH_MODES`): ``full`` trains on the whole graph in one step per
    epoch; ``window`` in one step per genomic window of about ``window_edges`` message-passing
    edges (:mod:`batching`: exact halo, each training link once per epoch, negatives within the
    window, the structure terms on the window's core); ``auto`` is ``window`` above
    :data:`batching.AUTO_WINDOW_EDGES` directed edges between usable bins. Validation, test and the embedding are
    the same numbers either way for the same weights (eval-mode encoding in windows is exact).

    Returns
    -------
    TrainResult
        The model with its best (``stop_on``) weights, in eval mode on ``device``;
        the per-epoch history (of the first graph, plus the mean score); and the
        metrics written to ``metrics.json``.
    """
    if objective not in OBJECTIVES:
        raise common.DataError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if stop_on not in STOP_ON:
        raise common.DataError(f"unknown --stop-on {stop_on!r}; choose one of {', '.join(STOP_ON)}")
    if stop_on == "auto":
        stop_on = "structure" if objective == "structure" else "auc"
    if patience is None:
        patience = PATIENCE[stop_on]
    if stop_on == "structure" and objective != "structure":
        raise common.DataError("--stop-on structure scores the structure objective's held-out bins; "
                               "use it with --objective structure, or pick --stop-on auc/matched-auc")
    graphs = [data] if isinstance(data, Data) else list(data)
    t0 = time.perf_counter()
    tasks = [_make_task(d, val_frac=val_frac, test_frac=test_frac, negatives=negatives, objective=objective,
                        rng=rng) for d in graphs]
    model = vgae.VGAE(in_channels=tasks[0].sub.num_features, hidden=hidden, latent=latent, dropout=dropout,
                      decoder=decoder, max_link_bins=max(map(_max_link_bins, tasks)),
                      use_edge_weight=use_edge_weight, encoder=encoder, layers=layers,
                      feature_head=objective == "structure").to(device)
    batch = batching.resolve(batch, max(t.sub.edge_index.size(1) for t in tasks))
    for t in tasks:
        for name in ("sub", "train", "val", "val_matched", "test"):
            setattr(t, name, getattr(t, name).to(device))
        if t.strength is not None:
            t.strength = t.strength.to(device)
        if objective == "structure":
            t.structure = structure_targets(t.sub, t.train, comp_weight=comp_weight, feat_weight=feat_weight)
        if batch == "window":  # the training windows also encode for validation (= val's edges)
            t.adj = batching.WindowPlan(model, t.train.edge_index, t.train.edge_weight, t.sub.num_nodes,
                                        window_edges=window_edges, loss_hops=1)
            t.batches = _window_batches(t, t.adj, objective=objective)
        else:
            t.adj = model.adjacency(t.train.edge_index, t.train.edge_weight, t.sub.num_nodes)  # = val's
    if init is not None:
        try:
            model.load_state_dict(init)
        except (RuntimeError, KeyError) as exc:
            raise common.DataError(f"--init weights do not fit this model ({' '.join(str(exc).split())[:160]}); "
                                   "use the same --encoder/--hidden/--latent/--layers/--decoder and features") from None
    elif decoder == "distance":
        dec, t = model.decoder, tasks[0]
        pos_train = t.train.edge_label_index
        n_neg = min(4 * pos_train.size(1), INIT_BIAS_NEGATIVES)
        neg = torch.from_numpy(sample_negatives(t.sub.num_nodes, n_neg, link_keys=t.train_keys,
                                                rng=rng, chrom=t.neg_chrom)).to(device)
        dec.init_bias(dec.buckets(pos_train, t.sub.pos, t.sub.chrom_id), dec.buckets(neg, t.sub.pos, t.sub.chrom_id))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rows, best = [], (-np.inf, 0, None)
    bar = tqdm(range(1, epochs + 1), desc="train", unit="epoch", disable=common.progress_disabled())
    for epoch in bar:
        if batch == "window":
            loss_value, recon_value, kl_value = _window_epoch(model, opt, tasks, objective=objective,
                                                              strength_weight=strength_weight, rng=rng,
                                                              device=device)
        else:
            model.train()
            opt.zero_grad()
            parts = []
            for t in tasks:
                neg = torch.from_numpy(_epoch_negatives(t, objective, rng)).to(device)
                parts.append(model.loss(t.sub, t.adj, t.train.edge_label_index, neg, strength=t.strength,
                                        strength_weight=strength_weight, structure=t.structure))
            loss, recon, kl = (sum(p[k] for p in parts) for k in range(3))
            loss.backward()
            opt.step()
            loss_value, recon_value, kl_value = loss.item(), recon.item(), kl.item()
        scores = [_epoch_scores(model, t) for t in tasks]
        val_auc, val_ap, val_matched_auc, held_out = scores[0]
        if stop_on == "structure":
            score = -float(np.mean([s[3] for s in scores]))
        else:
            score = float(np.mean([s[2] if stop_on == "matched-auc" else s[0] for s in scores]))
        rows.append(dict(epoch=epoch, loss=loss_value, recon=recon_value, kl=kl_value,
                         val_auc=val_auc, val_ap=val_ap, val_matched_auc=val_matched_auc,
                         held_out_structure=held_out, score=score))
        bar.set_postfix(loss=f"{loss_value:.4f}", val_auc=f"{val_auc:.4f}", matched=f"{val_matched_auc:.4f}")
        log.debug("epoch %d loss %.4f val AUC %.4f matched %.4f", epoch, loss_value, val_auc, val_matched_auc)
        if score > best[0] or epoch <= MIN_EPOCHS[stop_on]:
            best = (score, epoch, copy.deepcopy(model.state_dict()))
        elif epoch - best[1] >= patience:
            log.info("early stop at epoch %d: no validation %s gain for %d epochs", epoch, stop_on, patience)
            break
    bar.close()
    model.load_state_dict(best[2])
    history = pd.DataFrame(rows)
    common_part = dict(epochs_run=len(rows), best_epoch=best[1], stopped_early=len(rows) < epochs,
                       train_seconds=round(time.perf_counter() - t0, 2), decoder=decoder, encoder=encoder,
                       layers=layers, objective=objective, stop_on=stop_on, use_edge_weight=use_edge_weight,
                       fine_tuned=init is not None, n_graphs=len(tasks))
    if batch == "window":  # (absent for full batch, so full-batch metrics.json keep their bytes)
        common_part["batch"] = dict(mode="window", window_edges=window_edges,
                                    windows=[len(t.adj) for t in tasks],
                                    steps_per_epoch=sum(len(t.batches) for t in tasks))
    per_graph = []
    for t in tasks:
        m = dict(negatives=t.negatives)
        m["val_auc"], m["val_ap"], m["val_matched_auc"], _ = _epoch_scores(model, t)  # one encoding
        test_adj = batching.adjacency(model, t.test.edge_index, t.test.edge_weight, t.sub.num_nodes, batch=batch,
                                      window_edges=window_edges)
        m.update(_test_metrics(model, t.sub, test_adj, t.test, link_keys=t.link_keys, rng=rng))
        m["split"] = dict(
            usable_bins=t.sub.num_nodes, masked_bins=t.data.num_nodes - t.sub.num_nodes,
            train_links=t.train.edge_label_index.size(1), val_links=int(t.val.edge_label.sum()),
            val_negatives=int((t.val.edge_label == 0).sum()), test_links=int(t.test.edge_label.sum()),
            test_negatives=int((t.test.edge_label == 0).sum()), matched_pairs=m.pop("matched_pairs"),
            val_matched_negatives=int((t.val_matched.edge_label == 0).sum()))
        per_graph.append(m)
    metrics = {**common_part, **per_graph[0]}
    if len(tasks) > 1:
        metrics["graphs"] = per_graph
    t = tasks[0]
    return TrainResult(model.eval(), history, metrics, (t.sub, t.train, t.val, t.test), batch, window_edges)


def _test_metrics(model: vgae.VGAE, sub: Data, adj: Tensor, test: Data, *, link_keys: np.ndarray,
                  rng: np.random.Generator) -> dict[str, Any]:
    """Test AUC/AP beside the baselines, on random and distance-matched negatives.

    Distance-matched: one non-link per test link at the same distance; links without
    one are counted (``matched_coverage``, ``unmatched_test_links``), never dropped
    silently. Common neighbours, Adamic-Adar and degree product score the same
    matched pairs from the test split's message-passing links (train + validation).
    """
    pos, chrom = sub.pos.cpu().numpy(), sub.chrom_id.cpu().numpy()
    pairs, labels = test.edge_label_index.cpu().numpy(), test.edge_label.cpu().numpy()
    test_auc, test_ap = link_scores(labels, _pair_logits(model, sub, adj, test.edge_label_index))
    dist_auc, dist_ap = link_scores(labels, distance_scores(pairs, pos=pos, chrom=chrom))

    positives = pairs[:, labels == 1]
    found, neg = distance_matched_negatives(positives, pos=pos, chrom=chrom, link_keys=link_keys, rng=rng)
    out = dict(test_auc=test_auc, test_ap=test_ap, distance_test_auc=dist_auc, distance_test_ap=dist_ap,
               test_auc_minus_distance=test_auc - dist_auc, matched_pairs=int(found.sum()),
               matched_coverage=float(found.mean()) if found.size else None,
               unmatched_test_links=int((~found).sum()))
    if found.sum() < positives.shape[1]:
        log.warning("distance-matched non-contacts found for %d of %d test contacts (at some "
                    "distances nearly every usable pair is a contact); matched AUCs use those %d",
                    found.sum(), positives.shape[1], found.sum())
    if found.any():
        mpairs = np.concatenate([positives[:, found], neg], axis=1)
        mlabels = np.r_[np.ones(neg.shape[1]), np.zeros(neg.shape[1])]
        logits = _pair_logits(model, sub, adj, torch.as_tensor(mpairs, device=sub.x.device))
        out["matched_test_auc"], out["matched_test_ap"] = link_scores(mlabels, logits)
        out["matched_distance_auc"], _ = link_scores(mlabels, distance_scores(mpairs, pos=pos, chrom=chrom))
        scores = baselines.link_baseline_scores(edge_index=test.edge_index.cpu().numpy(), pairs=mpairs,
                                                n=sub.num_nodes)
        out["matched_baselines_auc"] = {k: link_scores(mlabels, v)[0] for k, v in scores.items()}
    else:
        out.update(matched_test_auc=None, matched_test_ap=None, matched_distance_auc=None,
                   matched_baselines_auc={k: None for k in baselines.LINK_BASELINES})
    return out


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """The closing summary: the model beside the distance-only baseline."""
    f = common.fmt_num
    m = metrics
    return [
        f"epochs run {m['epochs_run']}, best epoch {m['best_epoch']}, validation AUC {f(m['val_auc'])}",
        f"{'':28}{'model':>8}{'distance-only':>15}{'difference':>12}",
        f"{'test AUC (random negatives)':28}{f(m['test_auc']):>8}{f(m['distance_test_auc']):>15}"
        f"{m['test_auc'] - m['distance_test_auc']:>+12.3f}",
        f"{'test AP (random negatives)':28}{f(m['test_ap']):>8}{f(m['distance_test_ap']):>15}"
        f"{m['test_ap'] - m['distance_test_ap']:>+12.3f}",
        f"{'test AUC (distance-matched)':28}{f(m['matched_test_auc']):>8}"
        f"{f(m['matched_distance_auc']):>15}"
        + (f"{m['matched_test_auc'] - m['matched_distance_auc']:>+12.3f}"
           if m["matched_test_auc"] is not None else ""),
    ] + [f"{'  ' + name.replace('_', ' ') + ' (matched)':28}{f(v):>8}"
         for name, v in (m.get("matched_baselines_auc") or {}).items()] + [
        f"distance-matched non-links for {m['split']['matched_pairs']} of "
        f"{m['split']['test_links']} test links "
        f"(coverage {f(m.get('matched_coverage'))})",
    ] + (["(negatives drawn within chromosomes: --negatives cis)"] if m.get("negatives") == "cis" else [])


def curve_figure(history: pd.DataFrame, best_epoch: int):
    """Loss and validation AUC per epoch, best epoch marked."""
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(history.epoch, history.loss, label="total")
    a1.plot(history.epoch, history.recon, label="reconstruction (BCE)", lw=1)
    a1.set(xlabel="epoch", ylabel="loss", title="training loss")
    a1.legend(frameon=False)
    a2.plot(history.epoch, history.val_auc, label="AUC")
    a2.plot(history.epoch, history.val_ap, label="AP", lw=1)
    if "val_matched_auc" in history:
        a2.plot(history.epoch, history.val_matched_auc, label="AUC, distance-matched")
    a2.set(xlabel="epoch", ylabel="score", title="validation")
    a2.legend(frameon=False)
    for ax in (a1, a2):
        ax.axvline(best_epoch, color="grey", ls=":", lw=1)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
_positive_int = common.arg_type(int, lambda v: v >= 1, "a positive integer")
_positive_float = common.arg_type(float, lambda v: v > 0, "a positive number")
_fraction = common.arg_type(float, lambda v: 0 < v < 1, "a number strictly between 0 and 1")
_dropout = common.arg_type(float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--graph", required=True, nargs="+", metavar="PT",
                   help="graph .pt from build_graph.py; several (same marks): one encoder trained jointly on "
                        "all, e.g. two cell lines (emb.npy is the first's, emb_<stem>.npy the others')")
    p.add_argument("--init", metavar="MODEL_PT",
                   help="fine-tune: start from this model.pt's weights (its architecture is kept)")
    p.add_argument("--outdir", required=True, help="output folder")
    p.add_argument("--epochs", type=_positive_int, default=300, help="maximum epochs")
    p.add_argument("--patience", type=_positive_int, default=None,
                   help="stop after this many epochs without a gain of the --stop-on score "
                        "[50 for --stop-on structure, else 20]")
    p.add_argument("--hidden", type=_positive_int, default=64, help="GCN hidden channels")
    p.add_argument("--latent", type=_positive_int, default=32, help="embedding dimensions")
    p.add_argument("--lr", type=_positive_float, default=0.01, help="Adam learning rate")
    p.add_argument("--dropout", type=_dropout, default=0.2, help="dropout after the first GCN layer")
    p.add_argument("--preset", choices=("default", "seed"), default="default",
                   help="seed: the seed's model and training exactly (GCN encoder, inner-product decoder, "
                        "random negatives, early stopping on validation AUC); overrides --encoder, "
                        "--decoder, --objective and --stop-on [%(default)s]")
    p.add_argument("--encoder", choices=vgae.ENCODERS, default=DEFAULT_ENCODER,
                   help="gcn: the seed's 2-layer GCN; sage / gat: GraphSAGE / GAT layers; jk, sage-jk, "
                        "gat-jk: the same layers with jumping-knowledge heads over the input and every "
                        "layer [%(default)s]")
    p.add_argument("--layers", type=_positive_int, default=2,
                   help="message-passing layers of the non-seed encoders [%(default)s]")
    p.add_argument("--decoder", choices=vgae.DECODERS, default=DEFAULT_DECODER,
                   help="inner: z_i.z_j (the seed's); distance: plus a learned genomic-distance bias")
    p.add_argument("--objective", choices=OBJECTIVES, default=DEFAULT_OBJECTIVE,
                   help="bce: links vs random non-links (the seed's); matched: also distance-matched "
                        "non-links; strength: matched plus z_i.z_j regressed on each link's standardised "
                        "weight (log O/E); structure: bce plus the arm-wide compartment correlation "
                        "(z_i.z_j at any distance) and the graph-smoothed marks (a linear head) "
                        "[%(default)s]")
    p.add_argument("--comp-weight", type=float, default=DEFAULT_COMP_WEIGHT,
                   help="weight of the compartment-correlation term of --objective structure "
                        "(0 drops it) [%(default)s]")
    p.add_argument("--feat-weight", type=float, default=DEFAULT_FEAT_WEIGHT,
                   help="weight of the smoothed-marks term of --objective structure (0 drops it) "
                        "[%(default)s]")
    p.add_argument("--strength-weight", type=_positive_float, default=1.0,
                   help="weight of the contact-strength term of --objective strength [%(default)s]")
    p.add_argument("--stop-on", choices=STOP_ON, default=DEFAULT_STOP_ON,
                   help="early-stopping metric: structure = the structure objective's terms on held-out "
                        "bins; matched-auc = validation AUC against distance-matched non-links; auc = "
                        "against random ones (the seed's; saturates in a few epochs); auto = structure "
                        "with --objective structure, else auc [%(default)s]")
    p.add_argument("--no-edge-weight", dest="edge_weight", action="store_false",
                   help="ablation: ignore contact strengths in the GCN convolutions "
                        "(edge_weight=%(default)s without this flag)")
    p.add_argument("--val-frac", type=_fraction, default=0.1, help="share of links for validation")
    p.add_argument("--test-frac", type=_fraction, default=0.1, help="share of links for testing")
    p.add_argument("--negatives", choices=("auto", "cis", "all"), default="auto",
                   help="where training/validation/test non-links are drawn: all pairs, or cis pairs "
                   "only; auto = cis for a graph over several chromosomes without trans links, "
                   "else all [%(default)s]")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    batching.add_batch_args(p)
    vgae.add_device_args(p)
    return p


def _run(args: argparse.Namespace) -> None:
    if args.val_frac + args.test_frac >= 1:
        raise common.DataError(f"--val-frac + --test-frac = {args.val_frac + args.test_frac:g} leaves "
                               "no links for training; make them sum to well below 1")
    device = vgae.resolve_device(args.device)
    gs = [common.load_graph(p) for p in args.graph]
    for p, g in zip(args.graph[1:], gs[1:]):
        if list(g["feature_names"]) != list(gs[0]["feature_names"]):
            raise common.DataError(f"--graph {p} has features {list(g['feature_names'])} but {args.graph[0]} has "
                                   f"{list(gs[0]['feature_names'])}; joint training needs the same marks in "
                                   "the same order")
    datas = [vgae.prepare_graph(g, use_edge_weight=args.edge_weight, source=str(p)) for p, g in zip(args.graph, gs)]
    for d in datas:
        check_trainable(d, val_frac=args.val_frac, test_frac=args.test_frac)
    init = None
    if args.init:
        import encode_graph

        _, ckpt = encode_graph.load_model(args.init)
        if list(ckpt["feature_names"]) != list(gs[0]["feature_names"]):
            raise common.DataError(f"--init {args.init} was trained on {list(ckpt['feature_names'])}, the graph has "
                                   f"{list(gs[0]['feature_names'])}; fine-tune on a graph with the same marks")
        init = ckpt
    outdir = common.ensure_writable_dir(args.outdir)

    with vgae.cpu_threads(args.threads):
        _train_and_write(args, gs, datas, outdir, device, init)


def _design(args: argparse.Namespace, init: dict[str, Any] | None) -> dict[str, Any]:
    """Model and training choices from the flags, ``--preset seed``, or the ``--init`` checkpoint."""
    design = dict(encoder=args.encoder, decoder=args.decoder, objective=args.objective, stop_on=args.stop_on,
                  hidden=args.hidden, latent=args.latent, layers=args.layers, dropout=args.dropout)
    if args.preset == "seed":
        design.update(SEED_PRESET)
    if init is not None:  # fine-tuning keeps the architecture of the checkpoint
        hp = init["hparams"]
        design.update({k: hp[k] for k in ("encoder", "decoder", "hidden", "latent", "layers", "dropout") if k in hp})
    return design


def _train_and_write(args: argparse.Namespace, gs: list[dict[str, Any]], datas: list[Data], outdir: Path,
                     device: torch.device, init: dict[str, Any] | None) -> None:
    rng = common.seed_everything(args.seed)
    for p, d in zip(args.graph, datas):
        log.info("training on %s: %d bins (%d usable), %d links, device %s", p, d.num_nodes,
                 int(d.mask.sum()), d.edge_index.size(1) // 2, device)
    res = train_vgae(datas, use_edge_weight=args.edge_weight, lr=args.lr, epochs=args.epochs,
                     patience=args.patience, val_frac=args.val_frac, test_frac=args.test_frac,
                     negatives=args.negatives, rng=rng, device=device, strength_weight=args.strength_weight,
                     comp_weight=args.comp_weight, feat_weight=args.feat_weight, batch=args.batch,
                     window_edges=args.window_edges, init=None if init is None else init["state_dict"], **_design(args, init))
    g, data = gs[0], datas[0]
    prov = common.provenance(args, inputs=[*args.graph, *([args.init] if args.init else [])], seed=args.seed,
                             device=str(device))
    usable = g["x"][g["mask"]]
    common.save_pt(outdir / "model.pt", {
        "format": common.MODEL_FORMAT, "format_version": common.FORMAT_VERSION,
        "state_dict": {k: v.detach().cpu() for k, v in res.model.state_dict().items()},
        "hparams": res.model.hparams, "feature_names": list(g["feature_names"]),
        # Informational: the BatchNorm running statistics are what encoding uses.
        "feature_stats": {"mean": usable.mean(0).tolist(), "std": usable.std(0).tolist()},
        "graph": {"n_nodes": data.num_nodes, "n_masked": int((~data.mask).sum()),
                  "n_links": data.edge_index.size(1) // 2, "resolution": int(g["resolution"]),
                  "chroms": list(g["chroms"]), "edge_transform": g.get("edge_transform"),
                  "edge_rule": g.get("edge_rule")},
        "metrics": res.metrics, "provenance": prov})
    names = ["emb.npy"] + [f"emb_{Path(p).stem}.npy" for p in args.graph[1:]]
    for name, gk, dk in zip(names, gs, datas):
        dk = dk.to(device)
        adj = batching.adjacency(res.model, dk.edge_index, dk.edge_weight, dk.num_nodes, batch=res.batch,
                                 window_edges=res.window_edges)
        vgae.save_embedding(str(outdir / name), vgae.embed(res.model, dk, adj), gk, prov)
    common.write_json(outdir / "metrics.json", res.metrics)
    common.write_table(outdir / "training_curve.csv", res.history)
    common.save_figure(curve_figure(res.history, res.metrics["best_epoch"]), outdir / "training_curve.png")
    for name in ("metrics.json", "training_curve.csv", "training_curve.png"):
        common.write_provenance(outdir / name, prov)
    print("\n".join(summary_lines(res.metrics)))
    log.info("wrote %s/{model.pt, %s, metrics.json, training_curve.csv/png}", outdir, ", ".join(names))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
