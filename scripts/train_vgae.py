"""Train the VGAE on one contact graph by link prediction, with an honest evaluation.

    python scripts/train_vgae.py --graph data/processed/GM12878_chr21.pt \\
        --epochs 300 --patience 20 --hidden 64 --latent 32 --outdir results/GM12878

Edges touching masked bins are dropped, then the usable bins' links are split with
torch_geometric's ``RandomLinkSplit`` (undirected; validation and test get sampled
negatives; training negatives are resampled every epoch). On a graph over several
chromosomes without trans links, every negative is a cis pair (``--negatives``).
Loss = BCE + KL/N; early stopping on validation AUC restores the best weights.

Random negatives are mostly far apart along the genome while contacts are mostly
close, so a test AUC alone says little. Two baselines sit beside it in
``metrics.json`` and in the closing summary:

* (a) the distance-only predictor (score = -|i - j|) on the same test pairs;
* (b) AUC against *distance-matched* negatives (non-contacts drawn at exactly the
  distances of the test contacts), for the model and for distance-only (0.5 by
  construction).

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
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from sklearn.metrics import average_precision_score, roc_auc_score
from torch_geometric.data import Data
from torch_geometric.transforms import RandomLinkSplit
from tqdm.auto import tqdm

import common
import model as vgae

log = logging.getLogger("chromatin_gnn.train")

#: Default decoder. Measured on simulated chr21 @ 25 kb (benchmarks/bench_train.py): the
#: distance decoder's test AUC is far above the inner product's (which cannot learn the
#: distance decay from two features) and its embedding separates A/B compartments better.
DEFAULT_DECODER = "distance"


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


def _is_link(keys: np.ndarray, link_keys: np.ndarray) -> np.ndarray:
    """Membership of ``keys`` in the sorted unique ``link_keys`` (binary search, no re-sorting)."""
    if link_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    return link_keys[np.searchsorted(link_keys, keys).clip(max=link_keys.size - 1)] == keys


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
    """ROC AUC and average precision."""
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


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


@torch.no_grad()
def _pair_logits(model: vgae.VGAE, sub: Data, adj: Tensor, pairs: Tensor) -> np.ndarray:
    model.eval()
    mu, _ = model.encode(sub, adj)
    return model.decode(mu, pairs, sub).cpu().numpy()


def evaluate(model: vgae.VGAE, sub: Data, adj: Tensor, split: Data) -> tuple[float, float]:
    """AUC and AP on a split's labelled pairs, message passing over ``adj``."""
    return link_scores(split.edge_label.cpu().numpy(), _pair_logits(model, sub, adj, split.edge_label_index))


def train_vgae(data: Data, *, hidden: int = 64, latent: int = 32, dropout: float = 0.2,
               decoder: str = DEFAULT_DECODER, use_edge_weight: bool = True, lr: float = 0.01,
               epochs: int = 300, patience: int = 20, val_frac: float = 0.1, test_frac: float = 0.1,
               negatives: str = "auto", rng: np.random.Generator,
               device: torch.device | str = "cpu") -> TrainResult:
    """Train on ``data`` (from :func:`model.prepare_graph`) and evaluate on held-out links.

    Call :func:`common.seed_everything` first: the split, dropout and the
    reparameterisation use torch's global generator; negatives use ``rng``.

    Returns
    -------
    TrainResult
        The model with its best (validation AUC) weights, in eval mode on ``device``;
        the per-epoch history; and the metrics written to ``metrics.json``.
    """
    check_trainable(data, val_frac=val_frac, test_frac=test_frac)
    n_usable = int(data.mask.sum())
    t0 = time.perf_counter()
    sub, _ = usable_subgraph(data)
    train, val, test = split_links(sub, val_frac=val_frac, test_frac=test_frac)
    train_keys = np.unique(pair_keys(train.edge_label_index.numpy(), sub.num_nodes))
    link_keys = np.unique(pair_keys(sub.edge_index.numpy(), sub.num_nodes))  # every link
    negatives = negatives_mode(sub, negatives)
    neg_chrom = sub.chrom_id.numpy() if negatives == "cis" else None
    if neg_chrom is not None:
        log.info("negatives: cis only (a graph over several chromosomes without trans links)")
        val, test = (cis_negatives(d, n=sub.num_nodes, chrom=neg_chrom, link_keys=link_keys, rng=rng)
                     for d in (val, test))
    pi, pj = train.edge_label_index
    cis = sub.chrom_id[pi] == sub.chrom_id[pj]
    max_link_bins = int((sub.pos[pi] - sub.pos[pj]).abs()[cis].max()) if bool(cis.any()) else 1
    sub, train, val, test = (d.to(device) for d in (sub, train, val, test))
    model = vgae.VGAE(in_channels=sub.num_features, hidden=hidden, latent=latent, dropout=dropout,
                      decoder=decoder, max_link_bins=max_link_bins,
                      use_edge_weight=use_edge_weight).to(device)
    pos_train = train.edge_label_index
    if decoder == "distance":
        neg = torch.from_numpy(sample_negatives(sub.num_nodes, 4 * pos_train.size(1), link_keys=train_keys,
                                                rng=rng, chrom=neg_chrom)).to(device)
        dec = model.decoder
        dec.init_bias(dec.buckets(pos_train, sub.pos, sub.chrom_id), dec.buckets(neg, sub.pos, sub.chrom_id))
    train_adj = model.adjacency(train.edge_index, train.edge_weight, sub.num_nodes)  # = val's
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rows, best = [], (-np.inf, 0, None)
    bar = tqdm(range(1, epochs + 1), desc="train", unit="epoch", disable=common.progress_disabled())
    for epoch in bar:
        model.train()
        opt.zero_grad()
        neg = sample_negatives(sub.num_nodes, pos_train.size(1), link_keys=train_keys, rng=rng, chrom=neg_chrom)
        loss, recon, kl = model.loss(sub, train_adj, pos_train, torch.from_numpy(neg).to(device))
        loss.backward()
        opt.step()
        val_auc, val_ap = evaluate(model, sub, train_adj, val)
        loss_value = loss.item()
        rows.append(dict(epoch=epoch, loss=loss_value, recon=recon.item(), kl=kl.item(),
                         val_auc=val_auc, val_ap=val_ap))
        bar.set_postfix(loss=f"{loss_value:.4f}", val_auc=f"{val_auc:.4f}")
        log.debug("epoch %d loss %.4f val AUC %.4f", epoch, loss_value, val_auc)
        if val_auc > best[0]:
            best = (val_auc, epoch, copy.deepcopy(model.state_dict()))
        elif epoch - best[1] >= patience:
            log.info("early stop at epoch %d: no validation AUC gain for %d epochs", epoch, patience)
            break
    bar.close()
    model.load_state_dict(best[2])
    history = pd.DataFrame(rows)
    metrics = dict(epochs_run=len(rows), best_epoch=best[1], stopped_early=len(rows) < epochs,
                   train_seconds=round(time.perf_counter() - t0, 2), decoder=decoder,
                   use_edge_weight=use_edge_weight, negatives=negatives,
                   val_auc=best[0], val_ap=float(history.val_ap.iloc[best[1] - 1]))
    test_adj = model.adjacency(test.edge_index, test.edge_weight, sub.num_nodes)
    metrics.update(_test_metrics(model, sub, test_adj, test, link_keys=link_keys, rng=rng))
    metrics["split"] = dict(
        usable_bins=sub.num_nodes, masked_bins=data.num_nodes - n_usable,
        train_links=pos_train.size(1), val_links=int(val.edge_label.sum()),
        val_negatives=int((val.edge_label == 0).sum()), test_links=int(test.edge_label.sum()),
        test_negatives=int((test.edge_label == 0).sum()),
        matched_pairs=metrics.pop("matched_pairs"))
    return TrainResult(model.eval(), history, metrics, (sub, train, val, test))


def _test_metrics(model: vgae.VGAE, sub: Data, adj: Tensor, test: Data, *, link_keys: np.ndarray,
                  rng: np.random.Generator) -> dict[str, Any]:
    """Test AUC/AP beside the distance-only baseline, on random and distance-matched negatives."""
    pos, chrom = sub.pos.cpu().numpy(), sub.chrom_id.cpu().numpy()
    pairs, labels = test.edge_label_index.cpu().numpy(), test.edge_label.cpu().numpy()
    test_auc, test_ap = link_scores(labels, _pair_logits(model, sub, adj, test.edge_label_index))
    dist_auc, dist_ap = link_scores(labels, distance_scores(pairs, pos=pos, chrom=chrom))

    positives = pairs[:, labels == 1]
    found, neg = distance_matched_negatives(positives, pos=pos, chrom=chrom, link_keys=link_keys, rng=rng)
    out = dict(test_auc=test_auc, test_ap=test_ap, distance_test_auc=dist_auc, distance_test_ap=dist_ap,
               test_auc_minus_distance=test_auc - dist_auc, matched_pairs=int(found.sum()))
    if found.sum() < positives.shape[1]:
        log.warning("distance-matched non-contacts found for %d of %d test contacts (at some "
                    "distances nearly every usable pair is a contact)", found.sum(), positives.shape[1])
    if found.any():
        mpairs = np.concatenate([positives[:, found], neg], axis=1)
        mlabels = np.r_[np.ones(neg.shape[1]), np.zeros(neg.shape[1])]
        logits = _pair_logits(model, sub, adj, torch.as_tensor(mpairs, device=sub.x.device))
        out["matched_test_auc"], out["matched_test_ap"] = link_scores(mlabels, logits)
        out["matched_distance_auc"], _ = link_scores(mlabels, distance_scores(mpairs, pos=pos, chrom=chrom))
    else:
        out.update(matched_test_auc=None, matched_test_ap=None, matched_distance_auc=None)
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
    p.add_argument("--graph", required=True, help="graph .pt from build_graph.py")
    p.add_argument("--outdir", required=True, help="output folder")
    p.add_argument("--epochs", type=_positive_int, default=300, help="maximum epochs")
    p.add_argument("--patience", type=_positive_int, default=20,
                   help="stop after this many epochs without a validation-AUC gain")
    p.add_argument("--hidden", type=_positive_int, default=64, help="GCN hidden channels")
    p.add_argument("--latent", type=_positive_int, default=32, help="embedding dimensions")
    p.add_argument("--lr", type=_positive_float, default=0.01, help="Adam learning rate")
    p.add_argument("--dropout", type=_dropout, default=0.2, help="dropout after the first GCN layer")
    p.add_argument("--decoder", choices=vgae.DECODERS, default=DEFAULT_DECODER,
                   help="inner: z_i.z_j (the seed's); distance: plus a learned genomic-distance bias")
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
    vgae.add_device_args(p)
    return p


def _run(args: argparse.Namespace) -> None:
    if args.val_frac + args.test_frac >= 1:
        raise common.DataError(f"--val-frac + --test-frac = {args.val_frac + args.test_frac:g} leaves "
                               "no links for training; make them sum to well below 1")
    device = vgae.resolve_device(args.device)
    g = common.load_graph(args.graph)
    data = vgae.prepare_graph(g, use_edge_weight=args.edge_weight, source=str(args.graph))
    check_trainable(data, val_frac=args.val_frac, test_frac=args.test_frac)
    outdir = common.ensure_writable_dir(args.outdir)

    with vgae.cpu_threads(args.threads):
        _train_and_write(args, g, data, outdir, device)


def _train_and_write(args: argparse.Namespace, g: dict[str, Any], data: Data, outdir: Path,
                     device: torch.device) -> None:
    rng = common.seed_everything(args.seed)
    log.info("training on %s: %d bins (%d usable), %d links, device %s", args.graph, data.num_nodes,
             int(data.mask.sum()), data.edge_index.size(1) // 2, device)
    res = train_vgae(data, hidden=args.hidden, latent=args.latent, dropout=args.dropout,
                     decoder=args.decoder, use_edge_weight=args.edge_weight, lr=args.lr,
                     epochs=args.epochs, patience=args.patience, val_frac=args.val_frac,
                     test_frac=args.test_frac, negatives=args.negatives, rng=rng, device=device)
    emb = vgae.embed(res.model, data.to(device))

    prov = common.provenance(args, inputs=[args.graph], seed=args.seed, device=str(device))
    usable = g["x"][g["mask"]]
    common.save_pt(outdir / "model.pt", {
        "format": common.MODEL_FORMAT, "format_version": common.FORMAT_VERSION,
        "state_dict": {k: v.detach().cpu() for k, v in res.model.state_dict().items()},
        "hparams": res.model.hparams, "feature_names": list(g["feature_names"]),
        # Informational: the BatchNorm running statistics are what encoding uses.
        "feature_stats": {"mean": usable.mean(0).tolist(), "std": usable.std(0).tolist()},
        "graph": {"n_nodes": data.num_nodes, "n_masked": int((~data.mask).sum()),
                  "n_links": data.edge_index.size(1) // 2, "resolution": int(g["resolution"]),
                  "chroms": list(g["chroms"]), "edge_transform": g.get("edge_transform")},
        "metrics": res.metrics, "provenance": prov})
    vgae.save_embedding(str(outdir / "emb.npy"), emb, g, prov)
    common.write_json(outdir / "metrics.json", res.metrics)
    common.write_table(outdir / "training_curve.csv", res.history)
    common.save_figure(curve_figure(res.history, res.metrics["best_epoch"]), outdir / "training_curve.png")
    for name in ("metrics.json", "training_curve.csv", "training_curve.png"):
        common.write_provenance(outdir / name, prov)
    print("\n".join(summary_lines(res.metrics)))
    log.info("wrote %s/{model.pt, emb.npy, emb.tsv, metrics.json, training_curve.csv/png}", outdir)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
