"""Subcompartments (A1, A2, B1, B2, B3): k interaction states with spatial smoothing.

The step's method is a Gaussian HMM (hmmlearn, one covariance shared by the states)
along the genome over three feature blocks, one per source: the VGAE embedding, the
(log) marks and E1–E3 of the contacts. Each block is standardised, reduced by PCA and
scaled to unit total variance, so that no source dominates by its width
(:func:`method_features`). The HMM starts from k-means on the same features and its
transitions smooth the calls along each chromosome; runs of usable bins are separate
sequences, so a masked gap or a chromosome end never joins two stretches.

The marks smoothed over the contact graph (``Â^k X``, :func:`graph_smooth`) are not a
block of the method: with them in place of (or beside) the raw marks the HMM scored a
lower mean ARI over the simulated runs of ``benchmarks/bench_subcompartments.py --ablation``
(``benchmarks/SUBCOMPARTMENTS.md``); they stay a baseline.

Baselines, computed on the same bins with the same k (:func:`baseline_features`):
k-means / GMM on the marks alone, marks smoothed along the genome (ChromHMM-like), a
Gaussian HMM on the marks (ChromHMM's model), E1–E10 (or E1–E3), marks + E1–E3 (raw
and smoothed), ``Â^k X`` with k-means and with the HMM (no training), the embedding
with k-means, and the step's own HMM on marks + E1–E3 without the embedding (what the
embedding adds). :func:`score_labels` gives the ARI and the Hungarian-matched accuracy
against reference labels.

Names: states are sorted by mean E1 (ties by mean active-mark z-score); the ``k // 2``
highest are A1, A2, ... (most A first), the rest B1, B2, ..., so the naming depends
only on the partition, never on the arbitrary label numbers. Unusable bins are ``N``.
"""

from __future__ import annotations

import contextlib

import logging
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

import common

log = logging.getLogger("chromatin_gnn.subcompartments")

#: Colours of the BED9 (itemRgb), close to the usual Rao 2014 palette.
STATE_COLOURS = {"A1": "220,20,60", "A2": "255,140,105", "B1": "110,190,80", "B2": "90,120,210",
                 "B3": "120,60,160", "B4": "70,70,70", "N": "200,200,200"}
#: Marks that read as active chromatin (for the naming tie-break and the figure).
ACTIVE_MARKS = ("H3K27ac", "H3K4me3", "H3K36me3", "H3K4me1", "H3K4me2", "H3K9ac", "H3K79me2", "H2AFZ")
DEFAULT_SMOOTH_BINS = 5
DEFAULT_HOPS = 2


# ----------------------------------------------------------------------------
# features
# ----------------------------------------------------------------------------
def standardise(x: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Z-score the columns of ``x`` over the usable rows (constant columns become 0)."""
    x = np.asarray(x, dtype=np.float64)
    mu = x[usable].mean(0)
    sd = x[usable].std(0)
    return (x - mu) / np.where(sd > 0, sd, 1.0)


def log_marks(x: np.ndarray) -> np.ndarray:
    """``log1p`` of non-negative mark signal (ChIP fold change / p-value tracks are skewed)."""
    return np.log1p(np.clip(np.asarray(x, dtype=np.float64), 0, None))


def graph_marks(g: Mapping) -> tuple[np.ndarray | None, list[str]]:
    """The marks of a graph: :func:`log_marks` of its node-feature columns that are not
    computed from the map (``features.STRUCTURAL``: coverage, E1-E3, added by
    ``build_graph --structural``), and their names; ``(None, [])`` when it has none."""
    import features

    names = list(g["feature_names"])
    cols = [i for i, n in enumerate(names) if n not in features.STRUCTURAL]
    if not cols:
        return None, []
    return log_marks(np.asarray(g["x"])[:, cols]), [names[i] for i in cols]


def usable_runs(usable: np.ndarray, chrom_id: np.ndarray) -> np.ndarray:
    """Run id of each usable bin (-1 elsewhere): consecutive usable bins on one chromosome."""
    usable = np.asarray(usable, bool)
    chrom_id = np.asarray(chrom_id)
    new = usable & ~np.r_[False, usable[:-1] & (chrom_id[1:] == chrom_id[:-1])]
    rid = np.cumsum(new) - 1
    return np.where(usable, rid, -1)


def genome_smooth(x: np.ndarray, usable: np.ndarray, chrom_id: np.ndarray, *,
                  window: int = DEFAULT_SMOOTH_BINS) -> np.ndarray:
    """Centred moving mean over ``window`` bins inside each run of usable bins (vectorised).

    Windows are truncated at run ends (masked gaps, chromosome ends), never bridged.
    """
    x = np.asarray(x, dtype=np.float64)
    rid = usable_runs(usable, chrom_id)
    idx = np.flatnonzero(rid >= 0)
    if not idx.size or window <= 1:
        return x.copy()
    r = rid[idx]
    first = np.r_[0, np.flatnonzero(np.diff(r)) + 1]
    run_lo = np.repeat(first, np.diff(np.r_[first, idx.size]))
    run_hi = np.repeat(np.r_[first[1:], idx.size], np.diff(np.r_[first, idx.size]))
    pos = np.arange(idx.size)
    half = window // 2
    lo = np.maximum(pos - half, run_lo)
    hi = np.minimum(pos + half + 1, run_hi)
    cs = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x[idx], 0)])
    out = x.copy()
    out[idx] = (cs[hi] - cs[lo]) / (hi - lo)[:, None]
    return out


def graph_smooth(x: np.ndarray, edge_index: np.ndarray, edge_weight: np.ndarray | None, usable: np.ndarray,
                 *, hops: int = DEFAULT_HOPS) -> np.ndarray:
    """``Â^hops X``: the standardised features averaged over the contact graph, no training.

    The project's one implementation, :func:`baselines.smoothed_features` (GCN's
    ``D^-1/2 (A + I) D^-1/2``, :func:`baselines.gcn_adjacency`), on the edges and weights the
    encoder sees (``model.prepare_graph``: no self-loops, no edge touching an unusable bin,
    negative weights set to 0, weights divided by their mean). Columns are z-scored over
    the usable bins first; unusable bins keep their (z-scored) values.
    """
    import baselines

    x = np.asarray(x, dtype=np.float64)
    usable = np.asarray(usable, bool)
    src, dst = np.asarray(edge_index)
    keep = (src != dst) & usable[src] & usable[dst]
    w = None
    if edge_weight is not None:
        w = np.clip(np.nan_to_num(np.asarray(edge_weight, dtype=np.float64)[keep]), 0, None)
        w = w / w.mean() if w.size and w.mean() > 0 else w
    return baselines.smoothed_features(x=x, edge_index=np.vstack([src[keep], dst[keep]]), edge_weight=w,
                                       mask=usable, steps=(hops,))[hops]


def pca_block(x: np.ndarray, usable: np.ndarray, *, n_components: int, seed: int = 0) -> np.ndarray:
    """Standardise, project on the leading principal components, scale to unit total variance."""
    from sklearn.decomposition import PCA

    z = standardise(x, usable)[usable]
    n_components = max(1, min(n_components, z.shape[1], z.shape[0] - 1))
    p = PCA(n_components=n_components, random_state=seed).fit_transform(z)
    return p / np.sqrt(max(p.var(0).sum(), 1e-12))


def combine_blocks(blocks: Sequence[np.ndarray], usable: np.ndarray, *, n_components: int = 10,
                   seed: int = 0) -> np.ndarray:
    """Each block standardised and scaled to unit total variance, then a joint PCA (usable rows)."""
    from sklearn.decomposition import PCA

    joined = np.hstack([pca_block(b, usable, n_components=b.shape[1], seed=seed) for b in blocks])
    n_components = max(1, min(n_components, joined.shape[1], joined.shape[0] - 1))
    return PCA(n_components=n_components, whiten=True, random_state=seed).fit_transform(joined)


# ----------------------------------------------------------------------------
# clustering
# ----------------------------------------------------------------------------
def one_thread():
    """BLAS/OpenMP limited to one thread: these fits are small, and on a busy machine the
    thread pools of k-means and the HMM cost 100x the arithmetic."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def kmeans_states(f: np.ndarray, *, k: int, seed: int = 0) -> np.ndarray:
    """k-means labels (10 restarts) of the usable rows ``f``."""
    from sklearn.cluster import KMeans

    with one_thread():
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(f)


def gmm_states(f: np.ndarray, *, k: int, seed: int = 0) -> np.ndarray:
    """Gaussian-mixture labels (full covariances, k-means start)."""
    from sklearn.mixture import GaussianMixture

    with one_thread():
        return GaussianMixture(n_components=k, covariance_type="full", reg_covar=1e-3, n_init=2,
                               random_state=seed).fit_predict(f)


def fit_hmm(f: np.ndarray, lengths: Sequence[int], *, k: int, seed: int = 0, n_iter: int = 100,
            stay: float = 0.9, covariance: str = "tied"):
    """A Gaussian HMM started from k-means.

    Parameters
    ----------
    f
        Features of the usable bins, in genome order.
    lengths
        Lengths of the runs of consecutive usable bins (hmmlearn's ``lengths``).
    k
        Number of states.
    stay
        Starting self-transition probability (EM re-estimates it).
    covariance
        hmmlearn ``covariance_type``. ``tied`` (one shared covariance: k-means with a
        Mahalanobis metric plus transitions) is the default: per-state full or diagonal
        covariances let one state swallow the tails and fit worse on the real maps.

    Returns
    -------
    model, labels, posterior
        The fitted ``hmmlearn.hmm.GaussianHMM``, Viterbi states and posteriors ``[n, k]``.
    """
    GaussianHMM = _shared_emission_hmm()

    start = kmeans_states(f, k=k, seed=seed)
    d = f.shape[1]
    means = np.stack([f[start == s].mean(0) if (start == s).any() else f.mean(0) for s in range(k)])
    resid = f - means[start]
    pooled = resid.T @ resid / max(len(f) - k, 1) + 1e-3 * np.eye(d)
    trans = np.full((k, k), (1 - stay) / (k - 1))
    np.fill_diagonal(trans, stay)
    hmm = GaussianHMM(n_components=k, covariance_type=covariance, n_iter=n_iter, tol=1e-3,
                      random_state=seed, init_params="", params="stmc", min_covar=1e-3)
    hmm.startprob_ = np.full(k, 1.0 / k)
    hmm.transmat_ = trans
    hmm.means_ = means
    hmm.covars_ = {"tied": pooled, "full": np.repeat(pooled[None], k, 0),
                   "diag": np.repeat(np.diag(pooled)[None], k, 0),
                   "spherical": np.full(k, np.trace(pooled) / d)}[covariance]
    with one_thread():
        hmm.fit(f, lengths=list(lengths))
        with hmm.rows_of(f):
            labels = hmm.predict(f, lengths=list(lengths))
            post = hmm.predict_proba(f, lengths=list(lengths))
    return hmm, labels, post


_HMM_CLASS = None


def _shared_emission_hmm():
    """``hmmlearn.hmm.GaussianHMM`` whose E-step computes the emission log-likelihoods of all
    rows at once instead of once per sequence.

    hmmlearn computes them sequence by sequence, and a genome's usable bins fall into
    thousands of runs (one per gap), so per-call overhead (a Cholesky factor and a
    triangular solve per state and per run) dominated the fits at 10 kb. The rows' values
    are the same numbers, computed for all rows before the loop over runs and sliced per
    run (a run is a view into the fitted array; anything else is computed as before).
    """
    global _HMM_CLASS
    if _HMM_CLASS is not None:
        return _HMM_CLASS
    from hmmlearn.hmm import GaussianHMM

    class SharedEmissionHMM(GaussianHMM):
        _rows = None  # (array, its log-likelihoods) during an E-step

        def _do_estep(self, X, lengths):
            with self.rows_of(X):
                return super()._do_estep(X, lengths)

        @contextlib.contextmanager
        def rows_of(self, X):
            """Within: per-run calls on views of ``X`` slice one computation over all its rows."""
            X = np.asarray(X)
            self._rows = (X, super()._compute_log_likelihood(X))
            try:
                yield
            finally:
                self._rows = None

        def _compute_log_likelihood(self, X):
            rows = self._rows
            if rows is not None:
                full, ll = rows
                step = full.strides[0]
                off = X.ctypes.data - full.ctypes.data
                if (X.ndim == 2 and X.strides == full.strides and X.shape[1] == full.shape[1] and off >= 0
                        and off % step == 0 and off // step + len(X) <= len(full)):
                    return ll[off // step: off // step + len(X)]
            return super()._compute_log_likelihood(X)

    SharedEmissionHMM.__name__ = SharedEmissionHMM.__qualname__ = "GaussianHMM"
    _HMM_CLASS = SharedEmissionHMM
    return _HMM_CLASS


def hmm_states(f: np.ndarray, lengths: Sequence[int], *, k: int, seed: int = 0) -> np.ndarray:
    """Viterbi labels of :func:`fit_hmm`."""
    return fit_hmm(f, lengths, k=k, seed=seed)[1]


def run_lengths_of(usable: np.ndarray, chrom_id: np.ndarray) -> np.ndarray:
    """Lengths of the runs of :func:`usable_runs`, in genome order."""
    rid = usable_runs(usable, chrom_id)
    return np.bincount(rid[rid >= 0])


def choose_k(f: np.ndarray, lengths: Sequence[int], *, k_range: Sequence[int], seed: int = 0) -> dict:
    """Fit the HMM for every k in ``k_range``; return the BIC of each and the k with the lowest."""
    bic = {}
    for k in k_range:
        hmm = fit_hmm(f, lengths, k=k, seed=seed)[0]
        bic[int(k)] = float(hmm.bic(f, lengths=list(lengths)))
        log.info("k=%d BIC %.1f", k, bic[int(k)])
    best = min(bic, key=bic.get)
    return {"criterion": "BIC (lowest)", "bic": bic, "k": int(best)}


def prediction_strength(f: np.ndarray, lengths: Sequence[int], *, k: int, seed: int = 0) -> float:
    """Label-free reproducibility of the HMM's states on ``f`` (Tibshirani & Walther's
    prediction strength, with the two halves of the genome as the split): fit on each half,
    decode the other half with both fits, ARI between the two decodings, mean of both ways.

    Comparable between feature sets (it scores labels, not likelihoods), so it can choose
    an input without reference labels.
    """
    from sklearn.metrics import adjusted_rand_score

    lengths = np.asarray(lengths, dtype=np.int64)
    half = int(lengths.sum()) // 2
    ends = np.cumsum(lengths)
    starts = ends - lengths
    first = np.clip(half - starts, 0, lengths)  # rows of each run before / after the cut
    la, lb = first[first > 0], (lengths - first)[lengths - first > 0]
    fa, fb = f[:half], f[half:]
    ma = fit_hmm(fa, la, k=k, seed=seed)[0]
    mb = fit_hmm(fb, lb, k=k, seed=seed)[0]
    with one_thread():
        s_b = adjusted_rand_score(ma.predict(fb, lengths=list(lb)), mb.predict(fb, lengths=list(lb)))
        s_a = adjusted_rand_score(mb.predict(fa, lengths=list(la)), ma.predict(fa, lengths=list(la)))
    return float((s_a + s_b) / 2)


# ----------------------------------------------------------------------------
# naming
# ----------------------------------------------------------------------------
def state_order(labels: np.ndarray, e1: np.ndarray, activity: np.ndarray | None = None) -> list[int]:
    """State ids present in ``labels`` sorted by mean E1 (descending), ties by mean ``activity``."""
    labels = np.asarray(labels)
    states = np.unique(labels)
    act = np.zeros(labels.size) if activity is None else np.nan_to_num(np.asarray(activity, float))
    e1 = np.nan_to_num(np.asarray(e1, float))
    key = [(-round(float(e1[labels == s].mean()), 12), -float(act[labels == s].mean())) for s in states]
    return [int(states[i]) for i in sorted(range(len(states)), key=lambda i: key[i])]


def name_states(labels: np.ndarray, e1: np.ndarray, activity: np.ndarray | None = None) -> dict[int, str]:
    """Map each state id to A1, A2, ..., B1, B2, ... (see the module docstring).

    The ``k // 2`` states with the highest mean E1 are A (k = 5 gives Rao's A1, A2, B1,
    B2, B3), the others B; within each, 1 is the most A-like.
    """
    order = state_order(labels, e1, activity)
    n_a = len(order) // 2
    return {s: (f"A{r + 1}" if r < n_a else f"B{r - n_a + 1}") for r, s in enumerate(order)}


def named(labels: np.ndarray, e1: np.ndarray, activity: np.ndarray | None = None) -> np.ndarray:
    """``labels`` as state names (:func:`name_states`)."""
    names = name_states(labels, e1, activity)
    return np.array([names[int(s)] for s in labels], dtype=object)


def activity_score(marks: np.ndarray | None, feature_names: Sequence[str] | None,
                   usable: np.ndarray) -> np.ndarray | None:
    """Mean z-score of the active marks present (None when there are none)."""
    if marks is None or feature_names is None:
        return None
    cols = [i for i, m in enumerate(feature_names) if m in ACTIVE_MARKS]
    if not cols:
        return None
    return standardise(marks[:, cols], usable).mean(1)


# ----------------------------------------------------------------------------
# scoring
# ----------------------------------------------------------------------------
def matched_accuracy(ref: np.ndarray, pred: np.ndarray) -> float:
    """Share of bins whose predicted cluster maps to their reference label under the best
    one-to-one matching of clusters to labels (Hungarian); unmatched clusters count wrong."""
    from scipy.optimize import linear_sum_assignment

    r_codes, r = np.unique(np.asarray(ref).astype(str), return_inverse=True)
    p_codes, p = np.unique(np.asarray(pred).astype(str), return_inverse=True)
    table = np.zeros((p_codes.size, r_codes.size))
    np.add.at(table, (p, r), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / max(len(ref), 1))


def score_labels(ref: np.ndarray, pred: np.ndarray) -> dict:
    """ARI and matched accuracy on the bins labelled in both (neither ``N`` nor empty)."""
    from sklearn.metrics import adjusted_rand_score

    ref = np.asarray(ref).astype(str)
    pred = np.asarray(pred).astype(str)
    ok = ~np.isin(ref, ["N", "", "nan", "NA"]) & ~np.isin(pred, ["N", "", "nan"])
    if ok.sum() < 2:
        return {"ari": None, "accuracy": None, "n_bins": int(ok.sum())}
    return {"ari": float(adjusted_rand_score(ref[ok], pred[ok])),
            "accuracy": matched_accuracy(ref[ok], pred[ok]), "n_bins": int(ok.sum())}


def mark_enrichment(states: np.ndarray, marks: np.ndarray, feature_names: Sequence[str],
                    usable: np.ndarray) -> pd.DataFrame:
    """Mean z-score (over usable bins) of each mark per state; rows = states, in name order."""
    z = pd.DataFrame(standardise(marks, usable)[usable], columns=list(feature_names))
    z["state"] = np.asarray(states)[usable]
    out = z.groupby("state").mean()
    out.insert(0, "n_bins", z.groupby("state").size())
    return out.sort_index()


def labels_from_intervals(intervals: pd.DataFrame, bins: pd.DataFrame, *,
                          min_cover: float = 0.5) -> np.ndarray:
    """Label of each bin from ``chrom, start, end, label`` rows (any resolution), by overlap.

    A bin takes the label covering most of it, when labelled rows cover at least
    ``min_cover`` of the bin; else ``N``. Chromosome names match with or without ``chr``.
    """
    def key(s: pd.Series) -> np.ndarray:
        return s.astype(str).str.replace(r"^chr", "", case=False, regex=True).to_numpy()

    out = np.full(len(bins), "N", dtype=object)
    classes, lab = np.unique(intervals["label"].astype(str).to_numpy(), return_inverse=True)
    ik, bk = key(intervals["chrom"]), key(bins["chrom"])
    cover = np.zeros((len(bins), classes.size))
    b_idx_all = np.arange(len(bins))
    for c in np.unique(bk):  # a loop over chromosomes, not bins
        bsel = b_idx_all[bk == c]
        isel = np.flatnonzero(ik == c)
        if not isel.size:
            continue
        bs, be = bins["start"].to_numpy(np.int64)[bsel], bins["end"].to_numpy(np.int64)[bsel]
        s, e = intervals["start"].to_numpy(np.int64)[isel], intervals["end"].to_numpy(np.int64)[isel]
        edges = np.unique(np.r_[bs, be, s, e])
        lo, hi = edges[:-1], edges[1:]
        mid = (lo + hi) // 2
        bi = np.searchsorted(bs, mid, side="right") - 1
        order = np.argsort(s)
        ii = np.searchsorted(s[order], mid, side="right") - 1
        ok = (bi >= 0) & (ii >= 0)
        ok[ok] &= (mid[ok] < be[bi[ok]]) & (mid[ok] < e[order][ii[ok]])
        np.add.at(cover, (bsel[bi[ok]], lab[isel][order][ii[ok]]), (hi - lo)[ok])
    width = (bins["end"] - bins["start"]).to_numpy(float)
    best = cover.argmax(1)
    hit = cover.sum(1) >= min_cover * width
    out[hit] = classes[best[hit]]
    return out


# ----------------------------------------------------------------------------
# the step
# ----------------------------------------------------------------------------
def block_features(blocks: Sequence[np.ndarray], usable: np.ndarray, *, block_components: int = 10,
                   n_components: int = 10, seed: int = 0) -> np.ndarray:
    """A joint PCA (usable rows) of feature blocks, each standardised, reduced to at most
    ``block_components`` PCs (each z-scored) and scaled to unit total variance, so that no
    block dominates by its width."""
    full = []
    for b in blocks:
        f = np.zeros((len(usable), min(block_components, b.shape[1])))
        f[usable] = pca_block(b, usable, n_components=f.shape[1], seed=seed)
        full.append(f)
    return combine_blocks(full, usable, n_components=n_components, seed=seed)


def method_features(emb: np.ndarray | None, usable: np.ndarray, *, marks: np.ndarray | None = None,
                    eigs: np.ndarray | None = None, block_components: int = 10, n_components: int = 10,
                    seed: int = 0) -> np.ndarray:
    """The method's features for the usable bins: :func:`block_features` of the blocks it is
    given -- the embedding, the (log) marks and E1–E3."""
    return block_features([b for b in (emb, marks, eigs) if b is not None], usable,
                          block_components=block_components, n_components=n_components, seed=seed)


def feature_text(*, marks: bool, eigs: bool) -> str:
    """Words for :func:`method_features`' blocks."""
    parts = ["embedding"] + (["marks"] if marks else []) + (["E1-E3"] if eigs else [])
    return f"HMM over PCA([{', '.join(parts)}])"


def call_subcompartments(emb: np.ndarray, *, usable: np.ndarray, chrom_id: np.ndarray,
                         e1: np.ndarray | None = None, marks: np.ndarray | None = None,
                         eigs: np.ndarray | None = None, activity: np.ndarray | None = None, k: int = 5,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Call k subcompartments with the HMM over [embedding, marks, E1–E3].

    Parameters
    ----------
    emb
        ``[N, d]`` embedding of every bin.
    usable
        True for bins to call (others become ``N``).
    chrom_id
        Chromosome index of each bin (runs never cross chromosomes).
    e1
        E1 per bin, for naming (``None``: the leading PC of the features, oriented by
        ``activity`` or left as is).
    marks
        The (log) marks of every bin (:func:`log_marks`), or ``None`` to leave that block out.
    eigs
        E1–E3 of every bin (finite on the usable bins), or ``None`` to leave that block out.
    activity
        Active-mark score per bin (naming tie-break).
    k
        Number of states (>= 2).

    Returns
    -------
    names, posterior, info
        ``[N]`` state names (``N`` where unusable), ``[N, k]`` posteriors in name order
        (NaN where unusable), and a dict with the state names in column order and the
        log-likelihood.
    """
    if k < 2:
        raise common.DataError(f"--k must be at least 2, got {k}")
    usable = np.asarray(usable, bool)
    for name, a in (("embedding", emb), ("marks", marks), ("E1-E3", eigs), ("E1", e1), ("chrom_id", chrom_id)):
        if a is not None and len(a) != len(usable):
            raise common.DataError(f"the {name} has {len(a)} rows but there are {len(usable)} bins")
    if usable.sum() <= 2 * k:
        raise common.DataError(f"only {int(usable.sum())} usable bins for k={k} states; "
                               "use a longer chromosome, a finer resolution or a smaller --k")
    if eigs is not None and not np.isfinite(eigs[usable]).all():
        eigs = None  # a CSV without E2/E3 somewhere: use what is complete
    f = method_features(emb, usable, marks=marks, eigs=eigs, seed=seed)
    lengths = run_lengths_of(usable, chrom_id)
    hmm, lab, post = fit_hmm(f, lengths, k=k, seed=seed)
    ref = e1 if e1 is not None and np.isfinite(e1[usable]).any() else None
    if ref is None:
        ref = f[:, 0].copy()
        if activity is not None and np.corrcoef(ref, activity[usable])[0, 1] < 0:
            ref = -ref
        ref_full = np.full(len(usable), np.nan)
        ref_full[usable] = ref
        ref = ref_full
    mapping = name_states(lab, ref[usable], None if activity is None else activity[usable])
    order = sorted(mapping, key=lambda s: (mapping[s][0], int(mapping[s][1:])))
    names = np.full(len(usable), "N", dtype=object)
    names[usable] = [mapping[int(s)] for s in lab]
    posterior = np.full((len(usable), k), np.nan)
    posterior[np.ix_(usable, np.arange(len(order)))] = post[:, order]
    info = {"states": [mapping[s] for s in order], "log_likelihood": float(hmm.score(f, lengths=list(lengths))),
            "n_usable": int(usable.sum()), "n_runs": int(len(lengths)),
            "self_transition": [float(hmm.transmat_[s, s]) for s in order],
            "features": feature_text(marks=marks is not None, eigs=eigs is not None)}
    return names, posterior, info


def subcompartment_score(posterior: np.ndarray, names: Sequence[str], state_e1: Mapping[str, float]) -> np.ndarray:
    """A continuous track: the posterior-weighted mean E1 of the states (NaN where unusable)."""
    v = np.array([state_e1.get(n, np.nan) for n in names])
    return posterior @ np.nan_to_num(v)


def baseline_features(*, usable: np.ndarray, chrom_id: np.ndarray, marks: np.ndarray | None,
                      smoothed_marks: np.ndarray | None, eigs: np.ndarray | None, emb: np.ndarray,
                      window: int = DEFAULT_SMOOTH_BINS) -> dict[str, tuple[str, np.ndarray]]:
    """``name -> (clusterer, features of the usable bins)`` for every baseline that the inputs allow.

    ``eigs`` holds E1..En (n = 10 when the cooler was given, else the CSV's E1–E3).
    """
    out: dict[str, tuple[str, np.ndarray]] = {}

    def z(a: np.ndarray) -> np.ndarray:
        return standardise(a, usable)[usable]

    if marks is not None:
        sm = genome_smooth(marks, usable, chrom_id, window=window)
        out["kmeans: marks"] = ("kmeans", z(marks))
        out["GMM: marks"] = ("gmm", z(marks))
        out[f"kmeans: marks smoothed along genome ({window} bins)"] = ("kmeans", z(sm))
        out["HMM: marks (ChromHMM-like)"] = ("hmm", z(marks))
    if eigs is not None:
        ok = np.isfinite(eigs[usable]).all(1)
        if ok.all():
            out[f"kmeans: E1-E{eigs.shape[1]}"] = ("kmeans", z(eigs))
            if marks is not None:
                e3 = eigs[:, :3]
                both = np.hstack([marks, e3])
                out["kmeans: marks + E1-E3"] = ("kmeans", z(both))
                out[f"kmeans: marks + E1-E3 smoothed ({window} bins)"] = (
                    "kmeans", z(genome_smooth(both, usable, chrom_id, window=window)))
    if marks is not None and eigs is not None and np.isfinite(eigs[usable, :3]).all():
        # the step's own HMM and features, less the embedding: what the embedding adds
        out["HMM: marks + E1-E3 (the step without the embedding)"] = (
            "hmm_blocks", method_features(None, usable, marks=marks, eigs=eigs[:, :3]))
    if smoothed_marks is not None:
        out[f"kmeans: Â^{DEFAULT_HOPS}X marks (no training)"] = ("kmeans", z(smoothed_marks))
        out[f"HMM: Â^{DEFAULT_HOPS}X marks (no training)"] = ("hmm", z(smoothed_marks))
    out["kmeans: embedding"] = ("kmeans", z(emb))
    return out


def run_baselines(feats: Mapping[str, tuple[str, np.ndarray]], *, usable: np.ndarray, chrom_id: np.ndarray,
                  k: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Labels (``[N]``, -1 where unusable) of each baseline."""
    lengths = run_lengths_of(usable, chrom_id)
    out = {}
    for name, (how, f) in feats.items():
        if how == "kmeans":
            lab = kmeans_states(f, k=k, seed=seed)
        elif how == "gmm":
            lab = gmm_states(f, k=k, seed=seed)
        elif how == "hmm_blocks":  # features already made by method_features
            lab = fit_hmm(f, lengths, k=k, seed=seed)[1]
        else:
            lab = hmm_states(f, lengths, k=k, seed=seed)
        full = np.full(len(usable), -1)
        full[usable] = lab
        out[name] = full
    return out
