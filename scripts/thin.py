#!/usr/bin/env python
"""Binomial thinning and splitting of Hi-C contacts: lower depth, or two pseudo-replicates.

Every read pair is kept independently with probability ``fraction``, so a pixel
of count ``c`` keeps ``Binomial(c, fraction)``. Thinning a map gives the map one
would have sequenced at ``fraction`` of its depth; splitting (``fraction`` 0.5,
the other half kept too) gives two independent half-depth pseudo-replicates of
one library, whose differences are purely technical (sampling) noise.

Library::

    thin_pixels(pixels, fraction=0.3, rng=rng)          # -> pixels (zeros dropped)
    half_a, half_b = split_pixels(pixels, rng=rng)      # two halves, a + b = pixels
    thin_cooler("x.mcool::resolutions/25000", "x30.cool", fraction=0.3, seed=0)
    split_cooler(uri, "a.cool", "b.cool", seed=0)
    block_a, block_b = split_block(block, rng=rng)      # in memory, each half re-balanced

Command line::

    python scripts/thin.py --mcool X.mcool --res 25000 --fraction 0.3 --out X_30.cool
    python scripts/thin.py --mcool X.mcool --res 25000 --split --out X_half.cool
        # writes X_half.a.cool and X_half.b.cool

Written coolers are ICE-balanced cis-only (``weight`` column), as the simulator
writes them. :func:`ice_weights` is the same balancing in memory (cooler's default
bin filters), used for in-process pseudo-replicates and as cooler's start point.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import common  # first: one line naming the fix when the environment is missing

import numpy as np
import pandas as pd

import hicio
from common import DataError

log = logging.getLogger("chromatin_gnn.thin")

#: cooler.balance_cooler's default bin filters.
IGNORE_DIAGS = 2
MIN_NNZ = 10
MAD_MAX = 5
CHUNK = 5_000_000


# ----------------------------------------------------------------------------
# pixels
# ----------------------------------------------------------------------------
def _check_fraction(fraction: float) -> float:
    f = float(fraction)
    if not 0.0 < f <= 1.0:
        raise DataError(f"thinning fraction must be in (0, 1], got {fraction}")
    return f


def _counts(pixels: pd.DataFrame) -> np.ndarray:
    if "count" not in pixels:
        raise DataError("pixel table has no 'count' column; pass cooler pixels (bin1_id, bin2_id, count)")
    c = pixels["count"].to_numpy()
    if c.size and (np.any(c < 0) or not np.all(np.mod(c, 1) == 0)):
        raise DataError("pixel counts must be non-negative integers (raw contacts, not balanced values)")
    return c.astype(np.int64)


def thin_pixels(pixels: pd.DataFrame, fraction: float, rng: np.random.Generator) -> pd.DataFrame:
    """Keep each contact with probability ``fraction``: ``count -> Binomial(count, fraction)``.

    Returns a copy of ``pixels`` (same columns, ``count`` replaced) without the
    pixels whose count became 0.
    """
    f = _check_fraction(fraction)
    kept = rng.binomial(_counts(pixels), f)
    out = pixels.loc[kept > 0].copy()
    out["count"] = kept[kept > 0].astype(pixels["count"].dtype)
    return out.reset_index(drop=True)


def split_pixels(pixels: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split contacts into two independent halves (each contact to A or B with probability 1/2).

    ``half_a["count"] + half_b["count"]`` gives back the input counts on the
    pixels both keep; pixels with count 0 in a half are dropped from it.
    """
    c = _counts(pixels)
    a = rng.binomial(c, 0.5)
    halves = []
    for k in (a, c - a):
        h = pixels.loc[k > 0].copy()
        h["count"] = k[k > 0].astype(pixels["count"].dtype)
        halves.append(h.reset_index(drop=True))
    return halves[0], halves[1]


# ----------------------------------------------------------------------------
# balancing in memory
# ----------------------------------------------------------------------------
def ice_weights(i: np.ndarray, j: np.ndarray, count: np.ndarray, chrom: np.ndarray, *,
                ignore_diags: int = IGNORE_DIAGS, min_nnz: int = MIN_NNZ, mad_max: float = MAD_MAX,
                tol: float = 1e-12, max_iters: int = 1000) -> np.ndarray:
    """Cis-only ICE weights as ``cooler.balance_cooler(cis_only=True)`` computes them (balanced =
    count * w_i * w_j, balanced rows sum to 1); NaN for the bins cooler's default filters drop.

    Parameters
    ----------
    i, j, count
        Upper-triangle pixels (global bin indices, ``i <= j``), raw counts.
    chrom
        ``[n_bins]`` chromosome code of each bin (contiguous groups); only pixels
        within a chromosome are used.
    """
    import scipy.sparse as sp

    n = len(chrom)
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    c = np.asarray(count, float)
    keep = (j - i >= ignore_diags) & (chrom[i] == chrom[j]) & (c > 0)
    i, j, c = i[keep], j[keep], c[keep]
    n_chrom = int(chrom.max()) + 1 if n else 0
    # the upper-triangle count matrix once (pixels come sorted by row: no sort to build it); a
    # balanced margin is then two sparse products per iteration instead of gathers and bincounts
    if len(i) > 1 and np.any(np.diff(i) < 0):
        order = np.argsort(i, kind="stable")
        i, j, c = i[order], j[order], c[order]
    upper = sp.csr_matrix((c, j, np.r_[0, np.cumsum(np.bincount(i, minlength=n))]), shape=(n, n))

    def margins(v: np.ndarray) -> np.ndarray:
        return np.bincount(i, v, n) + np.bincount(j, v, n)

    def balanced_margins(w: np.ndarray) -> np.ndarray:  # margins(c * w[i] * w[j])
        return w * (upper @ w + upper.T @ w)

    def per_chrom(v: np.ndarray, ok: np.ndarray, fn) -> np.ndarray:
        out = np.ones(n_chrom)
        for k in np.unique(chrom[ok]):  # a handful of chromosomes, not bins
            out[k] = fn(v[ok & (chrom == k)])
        return out[chrom]

    raw = margins(c)
    w = np.full(n, np.nan)
    if not (raw > 0).any():
        return w
    rel = raw / per_chrom(raw, raw > 0, np.median)
    log_rel = np.log(rel[rel > 0])
    mad = np.median(np.abs(log_rel - np.median(log_rel)))  # cooler.util.mad
    ok = (margins(np.ones_like(c)) >= min_nnz) & (rel >= np.exp(np.median(log_rel) - mad_max * mad))
    w = ok.astype(float)
    for _ in range(max_iters):
        m = balanced_margins(w)
        if not ok.any():
            break
        m[ok] /= per_chrom(m, ok, np.mean)[ok]
        if m[ok].var() < tol:
            break
        w[ok] /= np.sqrt(m[ok])
    if ok.any():  # cooler's rescale_marginals: balanced rows sum to 1
        w[ok] /= np.sqrt(per_chrom(balanced_margins(w), ok, np.mean)[ok])
    w[~ok] = np.nan
    return w


def rebalance_block(block: hicio.CisBlock, count: np.ndarray, keep: np.ndarray | None = None) -> hicio.CisBlock:
    """A copy of ``block`` with new raw counts on its pixels (``keep``: which pixels stay),
    ICE-balanced afresh (:func:`ice_weights`)."""
    sel = np.ones(len(count), bool) if keep is None else keep
    i, j, c = block.i[sel], block.j[sel], np.asarray(count, float)[sel]
    w = ice_weights(i, j, c, np.zeros(block.n, np.int64))
    return dataclasses.replace(block, i=i, j=j, count=c, value=c * w[i] * w[j], weight=w)


def thin_block(block: hicio.CisBlock, *, fraction: float, rng: np.random.Generator) -> hicio.CisBlock:
    """One chromosome's contacts at ``fraction`` of the depth, re-balanced (in memory)."""
    k = rng.binomial(block.count.astype(np.int64), _check_fraction(fraction))
    return rebalance_block(block, k, k > 0)


def split_draw(block: hicio.CisBlock, *, rng: np.random.Generator) -> np.ndarray:
    """The binomial split of one chromosome's raw counts: the first half's count of each pixel
    (int32; the second half holds the rest, :func:`half_block`)."""
    return rng.binomial(block.count.astype(np.int64), 0.5).astype(np.int32)


def half_block(block: hicio.CisBlock, draw: np.ndarray, which: int) -> hicio.CisBlock:
    """Half ``which`` (0 or 1) of the split ``draw`` (:func:`split_draw`), re-balanced."""
    k = draw if which == 0 else block.count.astype(np.int64) - draw
    return rebalance_block(block, k, k > 0)


def split_block(block: hicio.CisBlock, *, rng: np.random.Generator) -> tuple[hicio.CisBlock, hicio.CisBlock]:
    """Two independent half-depth pseudo-replicates of one chromosome, each re-balanced."""
    a = split_draw(block, rng=rng)
    return half_block(block, a, 0), half_block(block, a, 1)


# ----------------------------------------------------------------------------
# coolers
# ----------------------------------------------------------------------------
def _pixel_chunks(clr, chunk: int = CHUNK) -> Iterator[pd.DataFrame]:
    n = int(clr.info["nnz"])
    for lo in range(0, n, chunk):
        yield clr.pixels()[lo:min(lo + chunk, n)]


def _write_balanced(path: str | Path, bins: pd.DataFrame, pixels: Iterator[pd.DataFrame],
                    metadata: dict) -> dict:
    """Write a single-resolution .cool at ``path`` atomically and ICE-balance it cis-only."""
    import cooler

    with common.atomic_output(path) as tmp:
        cooler.create_cooler(str(tmp), bins, pixels, ordered=True, dtypes={"count": np.int32},
                             metadata=metadata)
        clr = cooler.Cooler(str(tmp))
        px = clr.pixels()[:]
        chrom = pd.factorize(clr.bins()["chrom"][:].astype(str))[0]
        x0 = np.nan_to_num(ice_weights(px["bin1_id"].to_numpy(), px["bin2_id"].to_numpy(),
                                       px["count"].to_numpy(), chrom), nan=0.0)
        weights, info = cooler.balance_cooler(clr, cis_only=True, x0=x0, store=True)
        if not np.all(info["converged"]):
            log.warning("balancing %s did not converge (variance %.3g)", path, float(np.max(info["var"])))
        stats = {"path": str(path), "contacts": int(px["count"].sum()), "n_pixels": len(px),
                 "masked_bins": int(np.isnan(weights).sum())}
    return stats


def _source(src_uri: str, res: int | None):
    clr = hicio.open_cooler(src_uri, res=res)
    bins = clr.bins()[["chrom", "start", "end"]][:]
    return clr, bins


def thin_cooler(src_uri: str, dst_path: str | Path, *, fraction: float, seed: int,
                res: int | None = None) -> dict:
    """Write ``dst_path`` (.cool, balanced) with each contact of ``src_uri`` kept with
    probability ``fraction``. Returns ``{"path", "contacts", "n_pixels", "masked_bins"}``."""
    _check_fraction(fraction)
    clr, bins = _source(src_uri, res)
    rng = np.random.default_rng(seed)
    meta = {"thinned_from": hicio.cooler_uri(clr), "fraction": float(fraction), "seed": int(seed)}
    chunks = (thin_pixels(px, fraction, rng) for px in _pixel_chunks(clr))
    return _write_balanced(dst_path, bins, chunks, meta)


def split_cooler(src_uri: str, dst_a: str | Path, dst_b: str | Path, *, seed: int,
                 res: int | None = None) -> tuple[dict, dict]:
    """Write two balanced half-depth pseudo-replicates of ``src_uri`` (every contact goes to exactly one)."""
    clr, bins = _source(src_uri, res)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="chromatin-gnn-split-") as tmp:
        # one pass over the pixels: half B is spooled to disk while half A is written
        spool = Path(tmp) / "b"
        spool.mkdir()
        parts: list[Path] = []

        def half_a() -> Iterator[pd.DataFrame]:
            for k, px in enumerate(_pixel_chunks(clr)):
                a, b = split_pixels(px, rng)
                parts.append(spool / f"{k}.pkl")
                b.to_pickle(parts[-1])
                yield a

        meta = {"split_from": hicio.cooler_uri(clr), "seed": int(seed)}
        sa = _write_balanced(dst_a, bins, half_a(), {**meta, "half": "a"})
        sb = _write_balanced(dst_b, bins, (pd.read_pickle(p) for p in parts), {**meta, "half": "b"})
    return sa, sb


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(prog="thin.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--mcool", required=True, metavar="PATH",
                   help="Hi-C file: .mcool (with --res), .cool, or FILE.mcool::resolutions/N")
    p.add_argument("--res", type=hicio.positive_int, metavar="BP", help="resolution of a multi-resolution .mcool")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--fraction", type=common.arg_type(float, lambda v: 0 < v <= 1, "a number in (0, 1]"),
                     help="keep each contact with this probability")
    how.add_argument("--split", action="store_true",
                     help="write two half-depth pseudo-replicates, <out stem>.a.cool and <out stem>.b.cool")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", required=True, metavar="COOL", help="output .cool")
    return p


def split_paths(out: str | Path) -> tuple[Path, Path]:
    """``X.cool`` -> ``X.a.cool``, ``X.b.cool``."""
    o = Path(out)
    return o.with_name(f"{o.stem}.a.cool"), o.with_name(f"{o.stem}.b.cool")


def _run(args: argparse.Namespace) -> None:
    if not str(args.out).endswith(".cool"):
        raise DataError(f"--out must end in .cool, got {args.out}")
    common.ensure_writable_dir(Path(args.out).parent)
    prov = common.provenance(args, inputs=[args.mcool], seed=args.seed)
    if args.split:
        stats = split_cooler(args.mcool, *split_paths(args.out), seed=args.seed, res=args.res)
    else:
        stats = (thin_cooler(args.mcool, args.out, fraction=args.fraction, seed=args.seed, res=args.res),)
    for s in stats:
        common.write_provenance(s["path"], {**prov, "result": s})
        log.info("wrote %s: %d contacts in %d pixels, %d bins masked by balancing",
                 s["path"], s["contacts"], s["n_pixels"], s["masked_bins"])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
