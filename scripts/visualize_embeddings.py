#!/usr/bin/env python
"""Step 5: UMAPs of the VGAE embeddings and A/B silhouettes beside their baselines.

For every cell line: a UMAP (umap-learn, cosine metric, fixed ``random_state``, PCA start)
coloured by the A/B/N compartment calls and one coloured by genomic position;
for two or more cell lines also a joint UMAP. The silhouette table scores how
well A and B bins separate (cosine silhouette, N bins excluded) in the
embedding and, on the same bins, in two baselines: the raw node features of the
graph (``--graphs``) and the leading compartment eigenvectors E1-E3 (and E1
alone). With ``--truth`` the same silhouettes are computed against the planted
labels of the simulated data. The baseline table (``P_baselines.tsv``) scores the
embedding beside every baseline of :mod:`baselines` on every metric; the silhouette
table's numbers are read from it, not computed twice, and both use one masking
rule (:func:`scored_labels`: a bin counts when it is labelled A/B and every
representation is finite there).

This module also holds the readers for the per-bin inputs shared with
``compare_embeddings.py``: :func:`read_embedding`, :func:`read_compartments`,
:func:`read_truth`, :func:`truth_labels` and :func:`check_same_bins`.

Outputs (``--prefix P``): ``P_<label>_compartment.png``, ``P_<label>_position.png``,
``P_joint.png``, ``P_silhouette.tsv`` and ``P_silhouette.json``, each with a
``.provenance.json`` sidecar.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import re
import sys
import warnings
from pathlib import Path

import common  # first: one line naming the fix when the environment is missing

import numpy as np
import pandas as pd


log = logging.getLogger("chromatin_gnn.visualize")

COMPARTMENT_COLUMNS = ("chrom", "start", "end", "E1", "E2", "E3", "compartment")
COLOURS = {"A": "#d62728", "B": "#1f77b4", "N": "#c7c7c7"}
#: Baselines scored next to the embedding, in table order.
BASELINES = ("features", "E1_E3", "E1")
NOTES = {
    "labels": "calls: each cell line's own compartment calls; truth: the planted labels of truth.tsv",
    "embedding": "mu of the VGAE for every bin; cosine silhouette",
    "features": "the graph's node features x (--graphs), as given to the encoder; cosine silhouette",
    "E1_E3": "E1, E2, E3 from the compartment CSV; cosine silhouette",
    "E1": "E1 alone; euclidean silhouette (cosine of 1-D vectors keeps only the sign)",
    "scored": "one masking rule for every column and baseline row: a bin is scored when it is labelled "
              "A or B and every representation is finite there (n_unscored counts the A/B bins left out)",
    "circular": "against the calls the E1-based baselines are circular (the calls are the sign "
                "of E1, so they only measure how far bins sit from 0); compare them against truth",
}
_LABEL_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")


# ----------------------------------------------------------------------------
# per-bin inputs (shared with compare_embeddings.py)
# ----------------------------------------------------------------------------
def read_embedding(path: str | Path) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Read ``emb.npy`` and, when it lies beside it, the bins of ``emb.tsv``.

    Parameters
    ----------
    path
        An ``.npy`` written by ``train_vgae.py`` / ``encode_graph.py``.

    Returns
    -------
    emb, bins
        float32 ``[N, latent]`` array; ``chrom, start, end`` frame or ``None``
        when no ``emb.tsv`` sits beside the ``.npy``.

    Raises
    ------
    common.DataError
        Not a 2-D numeric array, rows with NaN/inf, or a TSV with another row count.
    """
    p = common.require_file(path, "embedding")
    try:
        emb = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise common.DataError(f"{p} is not a readable .npy embedding ({exc}); "
                               "re-run train_vgae.py or encode_graph.py") from None
    if emb.ndim != 2 or emb.shape[0] == 0 or not np.issubdtype(emb.dtype, np.number):
        raise common.DataError(f"{p} holds a {emb.dtype} array of shape {emb.shape}, expected a "
                               "non-empty 2-D float array [bins, latent]; re-run train_vgae.py")
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        raise common.DataError(
            f"{p}: {int(bad.sum())} of {len(emb)} embedding rows contain NaN or inf (first at row "
            f"{int(np.argmax(bad))}); re-run train_vgae.py / encode_graph.py on a clean graph")
    tsv = p.with_suffix(".tsv")
    bins = None
    if tsv.is_file():
        bins = _read_bins(tsv, sep="\t", what="embedding table")
        common.check_rows(len(emb), len(bins), str(p), str(tsv))
    return emb.astype(np.float32, copy=False), bins


def _read_bins(path: Path, *, sep: str, what: str, columns=("chrom", "start", "end")) -> pd.DataFrame:
    try:
        head = pd.read_csv(path, sep=sep, nrows=0).columns
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise common.DataError(f"{path} is not a readable {what} ({' '.join(str(exc).split())[:100]}); "
                               "regenerate it with the pipeline") from None
    missing = [c for c in columns if c not in head]
    if missing:
        raise common.DataError(f"{path} lacks column(s) {', '.join(missing)} (has: "
                               f"{', '.join(map(str, head[:12]))}); expected {', '.join(columns)} "
                               "as in docs/FORMATS.md")
    df = pd.read_csv(path, sep=sep, usecols=list(columns), dtype={"chrom": str})
    if df.empty:
        raise common.DataError(f"{path} has no rows; regenerate it with the pipeline")
    return df


def read_compartments(path: str | Path) -> pd.DataFrame:
    """Read a compartment CSV (``chrom,start,end,E1,E2,E3,compartment``).

    Empty compartments become ``N``; any other value than A/B/N is an error.
    """
    p = common.require_file(path, "compartment CSV")
    df = _read_bins(p, sep=",", what="compartment CSV", columns=COMPARTMENT_COLUMNS)
    df["compartment"] = df["compartment"].fillna("N").astype(str).str.strip()
    odd = sorted(set(df["compartment"]) - set("ABN"))
    if odd:
        raise common.DataError(f"{p}: compartment column holds {odd[:5]}, expected A, B or N; "
                               "regenerate it with compute_compartments.py")
    for c in ("E1", "E2", "E3"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def read_truth(path: str | Path, labels: list[str]) -> pd.DataFrame:
    """Read ``truth.tsv`` and check it has ``compartment_<label>`` for every label."""
    p = common.require_file(path, "truth table")
    cols = ("chrom", "start", "end", *(f"compartment_{lab}" for lab in labels))
    df = _read_bins(p, sep="\t", what="truth table", columns=cols)
    for c in cols[3:]:
        df[c] = df[c].fillna("N").astype(str)
    return df


def truth_labels(truth: pd.DataFrame, bins: pd.DataFrame, label: str) -> np.ndarray:
    """Planted compartment of each bin: the truth row covering the bin's midpoint.

    Works at any resolution (the truth table is at the 25 kb base resolution);
    chromosome names match with or without ``chr``. Bins outside the table get ``N``.
    """
    def key(chroms: pd.Series) -> pd.Series:
        return chroms.astype(str).str.replace(r"^chr", "", case=False, regex=True)

    cats = pd.Categorical(pd.concat([key(truth["chrom"]), key(bins["chrom"])])).categories
    span = np.int64(1) << 40  # longer than any chromosome: one sorted axis for all of them
    t_code = pd.Categorical(key(truth["chrom"]), categories=cats).codes.astype(np.int64)
    b_code = pd.Categorical(key(bins["chrom"]), categories=cats).codes.astype(np.int64)
    t_start = t_code * span + truth["start"].to_numpy(np.int64)
    t_end = t_code * span + truth["end"].to_numpy(np.int64)
    order = np.argsort(t_start, kind="stable")
    mid = b_code * span + (bins["start"].to_numpy(np.int64) + bins["end"].to_numpy(np.int64)) // 2
    i = np.clip(np.searchsorted(t_start[order], mid, side="right") - 1, 0, len(order) - 1)
    hit = (t_start[order][i] <= mid) & (mid < t_end[order][i])
    vals = truth[f"compartment_{label}"].to_numpy(dtype=object)[order][i]
    out = np.where(hit, vals, "N").astype(str)
    if not hit.any():
        log.warning("no bin overlaps the truth table for %s (chromosome names or coordinates "
                    "differ); truth silhouettes will be empty", label)
    return out


def check_same_bins(a: pd.DataFrame, b: pd.DataFrame, name_a: str, name_b: str) -> None:
    """Raise :class:`common.DataError` unless two bin tables list the same bins in order."""
    common.check_rows(len(a), len(b), name_a, name_b)
    same = (a["chrom"].astype(str).to_numpy() == b["chrom"].astype(str).to_numpy()) \
        & (a["start"].to_numpy() == b["start"].to_numpy())
    if not same.all():
        i = int(np.argmax(~same))
        raise common.DataError(
            f"{name_a} and {name_b} disagree at row {i} ({a['chrom'].iat[i]}:{a['start'].iat[i]} vs "
            f"{b['chrom'].iat[i]}:{b['start'].iat[i]}); they must come from the same bins")


def validate_labels(labels: list[str], n: int, what: str = "--emb") -> None:
    """Labels: one per input, unique, and safe in a file name."""
    if len(labels) != n:
        raise common.DataError(f"{len(labels)} --labels for {n} {what} files; give one label each")
    if len(set(labels)) != len(labels):
        raise common.DataError(f"--labels must be unique, got {' '.join(labels)}")
    bad = [lab for lab in labels if not _LABEL_RE.match(lab)]
    if bad:
        raise common.DataError(f"label(s) {', '.join(map(repr, bad))} cannot be used in file names; "
                               "use letters, digits, '.', '_', '-' or '+'")


# ----------------------------------------------------------------------------
# silhouettes
# ----------------------------------------------------------------------------
def ab_silhouette(x: np.ndarray, labels: np.ndarray, *, metric: str = "cosine",
                  max_bins: int = 10000, seed: int = 0) -> float:
    """Silhouette of A vs B bins (``labels`` in A/B/N; N ignored).

    Parameters
    ----------
    x
        ``[N, d]`` values per bin; rows are assumed finite where labelled A/B.
    labels
        ``A``, ``B`` or ``N`` per bin.
    metric
        Any scikit-learn pairwise metric (``cosine``, ``euclidean``).
    max_bins
        Above this many A/B bins, a random subset of that size is scored
        (``seed``) so the O(n^2) cost stays bounded genome-wide.

    Returns
    -------
    float
        In [-1, 1]; NaN when fewer than two bins of either class.
    """
    from sklearn.metrics import silhouette_score

    keep = np.isin(labels, ("A", "B"))
    y = labels[keep]
    if min((y == "A").sum(), (y == "B").sum()) < 2:
        return float("nan")
    xs = np.asarray(x, dtype=np.float64).reshape(len(labels), -1)[keep]
    size = max_bins if len(y) > max_bins else None
    return float(silhouette_score(xs, y, metric=metric, sample_size=size, random_state=seed))


def scored_labels(labels: np.ndarray, sets: dict[str, np.ndarray]) -> np.ndarray:
    """The one masking rule of every silhouette and baseline score: ``labels`` with ``N``
    wherever any representation in ``sets`` has a non-finite value.

    A bin is scored when it is labelled A or B *and* every representation of the
    table is finite there (E1-E3 are NaN on bins the compartment step masked, which
    the truth may still label), so each column and each baseline row is computed on
    the same bins; the A/B bins left out are counted in ``n_unscored``.
    """
    finite = np.ones(len(labels), bool)
    for v in sets.values():
        finite &= np.isfinite(np.asarray(v, dtype=np.float64).reshape(len(labels), -1)).all(axis=1)
    return np.where(finite, labels, "N")


def silhouette_rows(cell: str, source: str, labels: np.ndarray, sets: dict[str, np.ndarray], *,
                    max_bins: int = 10000, seed: int = 0) -> dict:
    """One silhouette-table row computed directly: counts and each set's silhouette, under
    :func:`scored_labels`' masking (``E1`` euclidean, the others cosine).

    The pipeline's table takes the same numbers from the baseline table instead
    (:func:`score_cells`), so that each silhouette is computed once.
    """
    used = scored_labels(labels, sets)
    row = _count_row(cell, source, labels, used)
    for name, v in sets.items():
        metric = "euclidean" if name == "E1" else "cosine"
        row[name] = ab_silhouette(v, used, metric=metric, max_bins=max_bins, seed=seed)
    return row


def _count_row(cell: str, source: str, labels: np.ndarray, used: np.ndarray) -> dict:
    ab = np.isin(labels, ("A", "B"))
    return {"cell": cell, "labels": source, "n_A": int((used == "A").sum()),
            "n_B": int((used == "B").sum()), "n_N": int((~ab).sum()),
            "n_unscored": int((ab & ~np.isin(used, ("A", "B"))).sum())}


# ----------------------------------------------------------------------------
# UMAP and figures
# ----------------------------------------------------------------------------
#: numba's on-disk compile cache for umap's kernels (git-ignored; see :func:`import_umap`).
NUMBA_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "numba"
#: Layout epochs (``--umap-epochs``): umap's own default is 500 below 10,000 points and
#: 200 above. On the default data (stop 21, ``benchmarks/bench_umap.py``) 100 epochs keep the
#: trustworthiness of 500 within 0.003 on every map (GM12878 0.942 vs 0.942, IMR90 0.938 vs
#: 0.939, joint 0.956 vs 0.959) at a fifth of the time; the A and B clouds are a little less
#: tight (2-D silhouette 0.59 vs 0.63 on GM12878). 200 was the default before.
UMAP_EPOCHS = 100


def import_umap():
    """Import umap with numba's on-disk compile cache for every kernel it defines.

    umap compiles its kernels in each new process (two at import, three more on the
    first fit; tens of seconds on a loaded machine) because, unlike pynndescent, it
    does not ask numba to cache them. While umap is imported, ``numba.njit`` is
    wrapped to default ``cache=True``, and ``NUMBA_CACHE_DIR`` points to
    ``.cache/numba`` in the project unless already set, so the second run loads the
    compiled code instead of compiling it again. A function jitted twice (umap's serial and
    parallel layout epoch) is cached only once: numba's cache key holds no compile flags.
    The machine code is the same either way.
    """
    if "umap" in sys.modules:
        return sys.modules["umap"]
    cache = Path(os.environ.get("NUMBA_CACHE_DIR") or NUMBA_CACHE)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        writable = os.access(cache, os.W_OK)
    except OSError:
        writable = False
    if not writable:  # e.g. a read-only checkout: umap compiles as it always did
        log.info("numba cache folder %s is not writable: UMAP kernels are compiled in this run", cache)
        import umap

        return umap
    os.environ["NUMBA_CACHE_DIR"] = str(cache)
    import numba

    if not numba.config.CACHE_DIR:  # numba imported before the variable was set
        numba.config.CACHE_DIR = str(cache)
    njit, seen = numba.njit, set()

    def flags(fn, kwargs: dict) -> dict:  # a second jit of one function would share its cache key
        kwargs = {"cache": fn not in seen, **kwargs}
        seen.add(fn)
        return kwargs

    def cached_njit(*args, **kwargs):  # njit(fn, ...), @njit, @njit(...) and @njit("signature")
        if args and inspect.isfunction(args[0]):
            return njit(*args, **flags(args[0], kwargs))
        return lambda fn: njit(*args, **flags(fn, kwargs))(fn)

    numba.njit = cached_njit
    try:
        import umap
    finally:
        numba.njit = njit
    return umap


def cosine_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours of every row (itself first) by cosine distance.

    scikit-learn's vectorised brute-force search, in chunks of bounded memory. umap's
    own exact search below 4,096 points calls its cosine once per pair from Python
    (~1.7 M calls on the default data, most of a fit), and above that it builds an
    approximate NN-descent index.
    """
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(x)
    dist, idx = nn.kneighbors(x)
    return np.ascontiguousarray(idx), np.ascontiguousarray(dist, dtype=np.float32)


def umap_embed(x: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1,
               seed: int = 0, n_epochs: int = UMAP_EPOCHS) -> np.ndarray:
    """2-D UMAP of ``x`` with the cosine metric, a fixed ``random_state`` and a PCA start.

    The exact cosine k-NN graph comes from :func:`cosine_knn` (given to umap as
    ``precomputed_knn``); umap builds the fuzzy graph and optimises the layout for
    ``n_epochs`` epochs.

    umap's default spectral start is not reproducible here (ARPACK gives a different
    layout from call to call with the same seed) and fails outright on a k-NN graph in
    separate pieces (genome-wide: one per chromosome); the PCA start is both.
    """
    umap = import_umap()

    x = np.asarray(x, dtype=np.float32)
    n_neighbors = int(min(n_neighbors, len(x) - 1))
    knn = (*cosine_knn(x, n_neighbors), None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*disconnected.*")
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")  # no transform() needed
        reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine",
                            random_state=seed, n_components=2, init="pca", n_epochs=n_epochs,
                            precomputed_knn=knn)
        return reducer.fit_transform(x)


def umap_rows(n: int, *, max_bins: int = 20000, seed: int = 0) -> np.ndarray:
    """Rows to draw: all ``n``, or a seeded random subset of ``max_bins`` in genome order."""
    if n <= max_bins:
        return np.arange(n)
    log.info("UMAP of %d of %d bins (--umap-max-bins)", max_bins, n)
    return np.sort(np.random.default_rng(seed).choice(n, max_bins, replace=False))


def _scatter_by_compartment(ax, xy: np.ndarray, comp: np.ndarray, *, size: float = 4) -> None:
    for c in ("N", "B", "A"):  # N underneath
        sel = comp == c
        ax.scatter(xy[sel, 0], xy[sel, 1], s=size, c=COLOURS[c], lw=0,
                   label=f"{c} ({int(sel.sum())})", rasterized=True)
    ax.legend(markerscale=3, frameon=False, fontsize=8)
    _axes_style(ax)


def _axes_style(ax) -> None:
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_compartments(xy: np.ndarray, comp: np.ndarray, *, title: str):
    """UMAP coloured by A/B/N."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    _scatter_by_compartment(ax, xy, comp)
    ax.set_title(title, fontsize=10)
    return fig


def plot_position(xy: np.ndarray, bins: pd.DataFrame, *, title: str):
    """UMAP coloured by position along the chromosome; one panel per chromosome."""
    import matplotlib.pyplot as plt

    chroms = list(dict.fromkeys(bins["chrom"].astype(str)))
    ncol = min(len(chroms), 4)
    nrow = -(-len(chroms) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 4.2 * nrow), squeeze=False)
    mb = bins["start"].to_numpy() / 1e6
    for ax, chrom in zip(axes.ravel(), chroms):
        sel = (bins["chrom"].astype(str) == chrom).to_numpy()
        if len(chroms) > 1:
            ax.scatter(xy[~sel, 0], xy[~sel, 1], s=2, c="#e0e0e0", lw=0, rasterized=True)
        sc = ax.scatter(xy[sel, 0], xy[sel, 1], s=4, c=mb[sel], cmap="viridis", lw=0,
                        rasterized=True)
        fig.colorbar(sc, ax=ax, label=f"position on {chrom} (Mb)", shrink=0.8)
        _axes_style(ax)
        ax.set_title(chrom if len(chroms) > 1 else title, fontsize=10)
    for ax in axes.ravel()[len(chroms):]:
        ax.axis("off")
    if len(chroms) > 1:
        fig.suptitle(title)
    return fig


def plot_joint(xy: np.ndarray, cells: np.ndarray, comp: np.ndarray, *, title: str):
    """Joint UMAP: coloured by cell line (left) and by each cell's own A/B/N call (right)."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 5))
    palette = plt.get_cmap("Dark2")
    for k, cell in enumerate(dict.fromkeys(cells)):
        sel = cells == cell
        a.scatter(xy[sel, 0], xy[sel, 1], s=4, color=palette(k % 8), lw=0, alpha=0.7,
                  label=f"{cell} ({int(sel.sum())})", rasterized=True)
    a.legend(markerscale=3, frameon=False, fontsize=8)
    _axes_style(a)
    a.set_title("by cell line", fontsize=10)
    _scatter_by_compartment(b, xy, comp)
    b.set_title("by compartment (each cell's own calls)", fontsize=10)
    fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = common.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--emb", nargs="+", required=True, help="emb.npy per cell line")
    p.add_argument("--labels", nargs="+", required=True, help="one name per --emb")
    p.add_argument("--compartments", nargs="+", required=True,
                   help="compartment CSV per --emb (compute_compartments.py)")
    p.add_argument("--prefix", required=True, help="output prefix, e.g. results/figures/umap")
    p.add_argument("--graphs", "--graph", nargs="+", default=None,
                   help="graph .pt per --emb: adds the raw-feature silhouette baseline")
    p.add_argument("--truth", default=None, help="truth.tsv of simulated data: silhouettes vs planted labels")
    p.add_argument("--joint", action=argparse.BooleanOptionalAction, default=None,
                   help="joint UMAP of all cell lines (default: when two or more are given; "
                        "--joint with a single one is an error)")
    p.add_argument("--n-neighbors", type=int, default=15, help="UMAP n_neighbors")
    p.add_argument("--min-dist", type=float, default=0.1, help="UMAP min_dist")
    p.add_argument("--umap-epochs", type=int, default=UMAP_EPOCHS,
                   help="UMAP layout epochs (umap's own default is 500 below 10,000 points: "
                        "tighter clouds, 2.5x the time)")
    p.add_argument("--model", default=None,
                   help="model.pt of the embeddings: adds the untrained-encoder baseline (same architecture, "
                        "random weights, mean of 5 seeds) to P_baselines.tsv (needs --graphs)")
    p.add_argument("--silhouette-max-bins", type=int, default=10000,
                   help="score a random subset of this many A/B bins when there are more")
    p.add_argument("--umap-max-bins", type=int, default=20000,
                   help="draw UMAPs of a seeded random subset of this many bins when there are more "
                        "(UMAP is single-threaded with a fixed seed; genome-wide maps take hours)")
    p.add_argument("--seed", type=int, default=0, help="UMAP random_state and subsampling seed")
    return p


def _load_inputs(args: argparse.Namespace) -> list[dict]:
    """Read and cross-check every input; nothing is written here."""
    n = len(args.emb)
    validate_labels(args.labels, n)
    if len(args.compartments) != n:
        raise common.DataError(f"{len(args.compartments)} --compartments for {n} --emb files; "
                               "give one compartment CSV per embedding")
    if args.graphs is not None and len(args.graphs) != n:
        raise common.DataError(f"{len(args.graphs)} --graphs for {n} --emb files; "
                               "give one graph per embedding or none")
    if args.joint and n < 2:
        raise common.DataError("--joint needs at least two cell lines (got 1 --emb); "
                               "add a second embedding or drop --joint")
    if args.n_neighbors < 2 or not 0 <= args.min_dist <= 1 or min(args.silhouette_max_bins,
                                                                   args.umap_max_bins) < 4:
        raise common.DataError("--n-neighbors must be >= 2, --min-dist in [0, 1] and "
                               "--silhouette-max-bins and --umap-max-bins >= 4")
    if args.umap_epochs < 1:
        raise common.DataError(f"--umap-epochs must be >= 1, got {args.umap_epochs}")
    truth = read_truth(args.truth, args.labels) if args.truth else None
    cells = []
    for i, (lab, e, c) in enumerate(zip(args.labels, args.emb, args.compartments)):
        emb, bins = read_embedding(e)
        comp = read_compartments(c)
        common.check_rows(len(emb), len(comp), f"embedding {e}", f"compartment CSV {c}")
        if bins is not None:
            check_same_bins(bins, comp, f"{Path(e).with_suffix('.tsv')}", c)
        cell = {"label": lab, "emb": emb, "comp": comp, "inputs": [e, c]}
        if args.graphs is not None:
            g = common.load_graph(args.graphs[i])
            common.check_rows(len(emb), g["x"].shape[0], f"embedding {e}", f"graph {args.graphs[i]}")
            cell["features"] = g["x"].numpy()
            cell["graph"] = g
            cell["inputs"].append(args.graphs[i])
        if truth is not None:
            cell["truth"] = truth_labels(truth, comp, lab)
            cell["inputs"].append(args.truth)
        cells.append(cell)
    if n > 1 and len({c["emb"].shape[1] for c in cells}) > 1:
        raise common.DataError("embeddings have different widths "
                               f"({', '.join(str(c['emb'].shape[1]) for c in cells)}); "
                               "encode every cell line with the same model")
    return cells


#: Silhouette-table column -> (baseline-table representation, metric column).
SILHOUETTE_FROM = {"embedding": ("embedding", "silhouette_cosine"), "features": ("features", "silhouette_cosine"),
                   "E1_E3": ("E1-E3", "silhouette_cosine"), "E1": ("E1", "silhouette_euclidean")}


def cell_representations(cell: dict, *, hparams: dict | None = None) -> tuple[dict, dict, list]:
    """Every representation of one cell line's bins that the tables score.

    Returns ``(plain, smoothed, untrained)``: ``plain`` maps a name to ``[N, d]``
    values (``embedding``, the eigenvector sets of :func:`baselines.eigenvector_sets`,
    ``features`` with a graph); ``smoothed`` maps ``k`` to ``Â^k X``
    (:func:`baselines.smoothed_features`, with a graph); ``untrained`` lists the
    untrained encoder's mu per seed (:func:`baselines.untrained_embeddings`, with a
    graph and ``hparams``). Computed once per cell line and shared by its label sources.
    """
    import baselines

    plain = {"embedding": cell["emb"], **baselines.eigenvector_sets(cell["comp"])}
    smoothed, untrained = {}, []
    g = cell.get("graph")
    if g is not None:
        import model as vgae

        use_w = True if hparams is None else bool(hparams.get("use_edge_weight", True))
        data = vgae.prepare_graph(g, use_edge_weight=use_w)
        plain["features"] = cell["features"]
        smoothed = baselines.smoothed_features(
            x=cell["features"], edge_index=data.edge_index.numpy(),
            edge_weight=data.edge_weight.numpy() if use_w else None, mask=g["mask"].numpy())
        if hparams is not None:
            untrained = baselines.untrained_embeddings(hparams=hparams, data=data)
    return plain, smoothed, untrained


def source_labels(cell: dict) -> dict[str, np.ndarray]:
    """Label sources of one cell line: its own calls, and the planted truth when given."""
    sources = {"calls": cell["comp"]["compartment"].to_numpy(str)}
    if "truth" in cell:
        sources["truth"] = cell["truth"]
    return sources


def score_cells(cells: list[dict], *, hparams: dict | None = None, max_bins: int = 10000,
                seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The silhouette table and the baseline table, each score computed once.

    Baseline table: one row per cell line, label source and representation, with
    every :data:`baselines.EMBEDDING_METRICS` value: the embedding, E1, E1-E3 (E1-E10
    when the CSV has E1..E10), the raw features and the best ``Â^k X`` (best ``k`` of
    :data:`baselines.SMOOTHING_STEPS` by probe accuracy; with ``--graphs``), and the
    untrained encoder (with ``--model``; mean of 5 seeds, spread in ``probe_sd``),
    as :func:`baselines.embedding_baselines` defines them.

    Silhouette table: counts per cell line and label source, and the silhouettes of
    :data:`SILHOUETTE_FROM` read from the baseline rows. Both tables use one masking
    rule (:func:`scored_labels`): a bin is scored when it is labelled A/B and every
    representation is finite there, so every column and row compares the same bins.
    """
    import baselines

    kw = dict(max_bins=max_bins, seed=seed)
    sil_rows, base_rows = [], []
    for cell in cells:
        plain, smoothed, untrained = cell_representations(cell, hparams=hparams)
        every = {**plain, **{f"A{k}X": v for k, v in smoothed.items()},
                 **{f"untrained{i}": v for i, v in enumerate(untrained)}}
        for source, labels in source_labels(cell).items():
            used = scored_labels(labels, every)
            found = {name: baselines.embedding_metrics(x=v, labels=used, **kw) for name, v in plain.items()}
            if smoothed:  # probe every k, score the best one in full
                probe = {k: baselines.blocked_probe(x=v, labels=used) for k, v in smoothed.items()}
                best = max(probe, key=lambda k: np.nan_to_num(probe[k], nan=-1))
                found["AkX"] = {**baselines.embedding_metrics(x=smoothed[best], labels=used, **kw), "k": best}
            if untrained:
                found["untrained"] = baselines._mean_metrics(
                    [baselines.embedding_metrics(x=e, labels=used, **kw) for e in untrained])
            order = ["embedding", *(k for k in found if k not in ("embedding", "features", "AkX", "untrained")),
                     *(k for k in ("features", "AkX", "untrained") if k in found)]
            for name in order:
                m = found[name]
                base_rows.append({"cell": cell["label"], "labels": source, "representation": name,
                                  **{k: m[k] for k in baselines.EMBEDDING_METRICS},
                                  "k": m.get("k"), "probe_sd": m.get("probe_sd")})
            row = _count_row(cell["label"], source, labels, used)
            for col, (name, metric) in SILHOUETTE_FROM.items():
                if name in found:
                    row[col] = found[name][metric]
            sil_rows.append(row)
    return pd.DataFrame(sil_rows), pd.DataFrame(base_rows)


def _run(args: argparse.Namespace) -> None:
    cells = _load_inputs(args)
    common.seed_everything(args.seed)
    prefix = Path(args.prefix)
    common.ensure_writable_dir(prefix.parent)
    inputs = [p for c in cells for p in c["inputs"]]
    prov = common.provenance(args, inputs=inputs, seed=args.seed)
    stem = prefix.name

    def out(suffix: str) -> Path:
        return prefix.with_name(f"{stem}_{suffix}")

    def save(fig, suffix: str) -> None:
        common.save_figure(fig, out(suffix))
        common.write_provenance(out(suffix), prov)

    hparams = (common.load_pt(args.model, expect=common.MODEL_FORMAT, what="model")["hparams"]
               if args.model else None)
    table, base = score_cells(cells, hparams=hparams, max_bins=args.silhouette_max_bins, seed=args.seed)
    for r in table.itertuples():
        log.info("silhouette %s vs %s: embedding %.3f (n_A=%d n_B=%d)", r.cell, r.labels,
                 r.embedding, r.n_A, r.n_B)
    from tqdm import tqdm

    kw = dict(n_neighbors=args.n_neighbors, min_dist=args.min_dist, seed=args.seed,
              n_epochs=args.umap_epochs)
    # Same seed, same bins in every cell line: the per-cell and joint maps stay comparable.
    for cell in cells:
        cell["rows"] = umap_rows(len(cell["emb"]), max_bins=args.umap_max_bins, seed=args.seed)
    for cell in tqdm(cells, desc="UMAP", disable=common.progress_disabled()):
        rows = cell["rows"]
        lab, comp = cell["label"], cell["comp"].iloc[rows].reset_index(drop=True)
        xy = umap_embed(cell["emb"][rows], **kw)
        sil = table.query("cell == @lab and labels == 'calls'")["embedding"].iat[0]
        save(plot_compartments(xy, comp["compartment"].to_numpy(str),
                               title=f"{lab}: VGAE embedding (A/B silhouette {sil:.3f})"),
             f"{lab}_compartment.png")
        save(plot_position(xy, comp, title=f"{lab}: VGAE embedding by position"), f"{lab}_position.png")
    joint = args.joint if args.joint is not None else len(cells) > 1
    if len(cells) == 1 and args.joint is None:
        log.warning("only one cell line given: no joint UMAP (%s not written)", out("joint.png"))
    if joint:
        xy = umap_embed(np.vstack([c["emb"][c["rows"]] for c in cells]), **kw)
        names = np.concatenate([np.repeat(c["label"], len(c["rows"])) for c in cells])
        comp = np.concatenate([c["comp"]["compartment"].to_numpy(str)[c["rows"]] for c in cells])
        save(plot_joint(xy, names, comp, title="Joint UMAP: " + " + ".join(c["label"] for c in cells)),
             "joint.png")
    common.write_table(out("silhouette.tsv"), table, float_format="%.4f")
    common.write_provenance(out("silhouette.tsv"), prov)
    notes = {k: v for k, v in NOTES.items() if k in table.columns or k in ("labels", "scored", "circular")}
    common.write_json(out("silhouette.json"), {
        "metric": "cosine", "n_neighbors": args.n_neighbors, "min_dist": args.min_dist,
        "umap_epochs": args.umap_epochs,
        "seed": args.seed, "joint": bool(joint), "columns": notes,
        "features_available": "features" in table.columns,
        "silhouette": table.to_dict(orient="records"),
        "baselines": base.to_dict(orient="records")})
    common.write_table(out("baselines.tsv"), base, float_format="%.4f")
    common.write_provenance(out("baselines.tsv"), prov)
    common.write_provenance(out("silhouette.json"), prov)
    if "features" not in table.columns:
        log.info("no --graphs given: the raw-feature baseline column is omitted")
    log.info("wrote %s_*", prefix)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
