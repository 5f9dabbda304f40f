"""Reading Hi-C coolers and bigWig tracks, shared by the step scripts and benchmarks.

* :func:`open_cooler` -- a ``.cool``, an ``.mcool`` plus a resolution, or a
  ``file.mcool::resolutions/N`` URI, with one-line :class:`common.DataError`\\ s for
  every way that can go wrong (missing, not HDF5, truncated, absent resolution).
* :func:`select_chroms`, :func:`check_weight` -- chromosome names (``chr21`` and
  ``21`` are the same; ``all`` = every autosome) and the balancing column.
* :func:`read_cis` -- one chromosome's upper-triangle pixels as a :class:`CisBlock`
  (raw and balanced values, per-bin weights); :func:`read_trans` for a pair.
  Pixels come from cooler's pixel selector, never a dense fetch.
* :func:`bin_track` / :func:`read_tracks` -- a bigWig's mean signal per bin from
  one ``pyBigWig.intervals`` call per chromosome, binned with NumPy.
* :func:`add_cooler_args` / :func:`open_hic` -- the command-line options both
  steps share and the validation behind them.

``pyBigWig``'s ``header()`` crashes the interpreter on tracks holding NaN values,
so it is never called here.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

import common
from common import DataError

log = logging.getLogger("chromatin_gnn.hicio")

#: Weight columns that cooler (and 4DN/hic2cool files) store in divisive form.
DIVISIVE_WEIGHTS = frozenset({"KR", "VC", "VC_SQRT", "SQRT_VC"})
AUTOSOME = re.compile(r"(chr)?\d+", re.IGNORECASE)


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
def _int_arg(text: str, minimum: int, what: str) -> int:
    try:
        value = int(str(text).replace(",", "").replace("_", ""))
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse ``type``: a positive integer (``25000``, ``25_000`` or ``25,000``)."""
    return _int_arg(text, 1, "a positive integer")


def nonneg_int(text: str) -> int:
    """argparse ``type``: an integer >= 0."""
    return _int_arg(text, 0, "a non-negative integer")


def add_cooler_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--mcool --chrom --res --weight-name --no-balance`` to ``parser``."""
    g = parser.add_argument_group("Hi-C input")
    g.add_argument("--mcool", required=True, metavar="PATH",
                   help="Hi-C file: .mcool (with --res), .cool, or FILE.mcool::resolutions/N")
    g.add_argument("--chrom", required=True, nargs="+", metavar="CHROM",
                   help="chromosome(s); 'all' = every autosome in the cooler (chr21 and 21 match)")
    g.add_argument("--res", type=positive_int, metavar="BP",
                   help="resolution in bp (required for a multi-resolution .mcool)")
    g.add_argument("--weight-name", "--weight_name", dest="weight_name", default="weight",
                   metavar="COL", help="balancing-weight column of the bin table")
    g.add_argument("--no-balance", "--no_balance", dest="no_balance", action="store_true",
                   help="use raw counts (only for coolers without balancing weights)")


def open_hic(args: argparse.Namespace):
    """Open ``args.mcool``, resolve ``args.chrom`` and check the weight column.

    Returns
    -------
    clr, chroms, weight_name
        The cooler, the chromosome names as the cooler spells them (genome
        order), and the weight column to use (``None`` with ``--no-balance``).
    """
    clr = open_cooler(args.mcool, res=args.res)
    chroms = select_chroms(clr, args.chrom)
    weight_name = None if args.no_balance else args.weight_name
    check_weight(clr, weight_name)
    return clr, chroms, weight_name


# ----------------------------------------------------------------------------
# coolers
# ----------------------------------------------------------------------------
def cooler_uri(clr) -> str:
    """``file`` for a single-resolution cooler, ``file::resolutions/N`` inside an .mcool."""
    root = clr.root.strip("/")
    return clr.filename if not root else f"{clr.filename}::{root}"


def open_cooler(uri: str, *, res: int | None = None):
    """Open a cooler from a ``.cool``, an ``.mcool`` + ``res``, or a ``FILE::GROUP`` URI.

    Parameters
    ----------
    uri
        Path, optionally followed by ``::resolutions/N`` (or any cooler group).
    res
        Resolution in bp. Required for an ``.mcool`` with several resolutions;
        checked against the bin size of a single-resolution file.

    Raises
    ------
    DataError
        Missing file, not HDF5, truncated/corrupt, no cooler inside, absent
        resolution (listing those available), bin size different from ``res``.
    """
    import cooler
    import h5py

    path, _, group = str(uri).partition("::")
    p = common.require_file(path, "Hi-C file")
    if not h5py.is_hdf5(p):
        raise DataError(f"{p} is not a cooler file (not HDF5: text or another format); "
                        "pass a .cool/.mcool written by cooler")
    try:
        groups = cooler.fileops.list_coolers(str(p))
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{p} is truncated or corrupt ({_short(exc)}); "
                        "re-download or regenerate it") from None
    if not groups:
        raise DataError(f"{p} is an HDF5 file but holds no cooler; pass a .cool/.mcool")
    by_res = {int(g.rsplit("/", 1)[1]): g for g in groups if re.fullmatch(r"/resolutions/\d+", g)}
    if group:
        group = "/" + group.strip("/")
        if group not in groups:
            raise DataError(f"no cooler at {p}::{group.lstrip('/')}; available: {', '.join(groups)}")
    elif by_res:
        avail = ", ".join(str(r) for r in sorted(by_res))
        if res is None and len(by_res) > 1:
            raise DataError(f"{p} is a multi-resolution .mcool; choose one with --res "
                            f"(available: {avail})")
        if res is not None and res not in by_res:
            raise DataError(f"resolution {res} not in {p}; available: {avail} "
                            "(pass one of them with --res, or zoomify the file)")
        group = by_res[res if res is not None else next(iter(by_res))]
    elif len(groups) == 1:
        group = groups[0]
    else:
        raise DataError(f"{p} holds several coolers; pick one as {p}::GROUP "
                        f"(available: {', '.join(groups)})")
    try:
        clr = cooler.Cooler(f"{p}::{group}")
        binsize = clr.binsize
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{p}::{group} is truncated or corrupt ({_short(exc)}); "
                        "re-download or regenerate it") from None
    if binsize is None:
        raise DataError(f"{cooler_uri(clr)} has variable-size bins; use a fixed-resolution cooler")
    if res is not None and binsize != res:
        raise DataError(f"{cooler_uri(clr)} has resolution {binsize} bp, not --res {res}; "
                        f"pass --res {binsize} or the matching file")
    return clr


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


def select_chroms(clr, names: Sequence[str]) -> list[str]:
    """Chromosome names as the cooler spells them, in the cooler's order.

    ``["all"]`` means every autosome (names like ``chr1`` or ``1``). Unknown
    names raise :class:`DataError` listing the names in the file.
    """
    avail = list(clr.chromnames)
    if [n.lower() for n in names] == ["all"]:
        chosen = [c for c in avail if AUTOSOME.fullmatch(c)]
        if not chosen:
            raise DataError(f"{cooler_uri(clr)} has no autosomes (names like chr1 or 1); "
                            f"name the chromosomes explicitly (available: {', '.join(avail[:30])})")
        return chosen
    chosen = {common.resolve_chrom(n, avail, where=cooler_uri(clr)) for n in names}
    return [c for c in avail if c in chosen]


def bin_table(clr, chroms: Sequence[str]) -> pd.DataFrame:
    """``chrom, start, end`` of every bin of ``chroms``, in order (no pixels read)."""
    return pd.concat([clr.bins()[["chrom", "start", "end"]].fetch(c) for c in chroms], ignore_index=True)


def check_weight(clr, weight_name: str | None) -> None:
    """Raise :class:`DataError` when the balancing column is absent."""
    if weight_name is None:
        return
    cols = list(clr.bins().columns)
    if weight_name not in cols:
        other = [c for c in cols if c not in ("chrom", "start", "end")]
        hint = f" (other bin columns: {', '.join(other)}; choose one with --weight-name)" if other else ""
        raise DataError(f"{cooler_uri(clr)} has no '{weight_name}' column (not balanced){hint}; "
                        f"run `cooler balance {cooler_uri(clr)}` or pass --no-balance")


@dataclass
class CisBlock:
    """One chromosome's contacts: upper-triangle pixels (``i <= j``, local bin indices).

    Attributes
    ----------
    chrom, start, end
        Chromosome name and bin coordinates (every bin, in order).
    i, j, count, value
        Pixel indices, raw counts and balanced values (``value == count``
        when unbalanced). Pixels touching a NaN-weight bin have NaN ``value``.
    weight
        Per-bin balancing weight; NaN marks bins the balancing dropped
        (all ones when unbalanced).
    res
        Bin size in bp (the last bin may be shorter).
    """

    chrom: str
    start: np.ndarray
    end: np.ndarray
    i: np.ndarray
    j: np.ndarray
    count: np.ndarray
    value: np.ndarray
    weight: np.ndarray
    res: int

    @property
    def n(self) -> int:
        """Number of bins."""
        return len(self.start)

    @property
    def coverage(self) -> np.ndarray:
        """Raw cis contacts per bin (row sums of the symmetric matrix)."""
        off = self.i != self.j
        return (np.bincount(self.i, self.count, minlength=self.n)
                + np.bincount(self.j[off], self.count[off], minlength=self.n))

    @property
    def mask(self) -> np.ndarray:
        """True for usable bins: finite weight and some coverage."""
        return np.isfinite(self.weight) & (self.coverage > 0)

    def bins(self) -> pd.DataFrame:
        """``chrom, start, end`` of every bin."""
        return pd.DataFrame({"chrom": self.chrom, "start": self.start, "end": self.end})

    @classmethod
    def from_dense(cls, matrix: np.ndarray, *, chrom: str = "chr1", res: int = 1,
                   weight: np.ndarray | None = None) -> "CisBlock":
        """Build a block from a dense symmetric matrix of balanced values (tests, notebooks)."""
        m = np.asarray(matrix, dtype=float)
        i, j = np.nonzero(np.triu(np.where(np.isfinite(m), m, 0)))
        w = np.ones(len(m)) if weight is None else np.asarray(weight, dtype=float)
        v = m[i, j] * np.where(np.isfinite(w[i] * w[j]), 1.0, np.nan)
        start = np.arange(len(m), dtype=np.int64) * res
        return cls(chrom, start, start + res, i, j, m[i, j].copy(), v, w, int(res))


def _weights(clr, chrom: str, weight_name: str | None, n: int) -> np.ndarray:
    if weight_name is None:
        return np.ones(n)
    return clr.bins()[weight_name].fetch(chrom).to_numpy(dtype=float)


def _balance(count: np.ndarray, wi: np.ndarray, wj: np.ndarray, weight_name: str | None) -> np.ndarray:
    if weight_name is None:
        return count.astype(float)
    if weight_name in DIVISIVE_WEIGHTS:  # same convention as cooler.Cooler.matrix
        return count / (wi * wj)
    return count * wi * wj


def _pixels(clr, *region: str) -> pd.DataFrame:
    try:
        return clr.matrix(balance=False, as_pixels=True, join=False).fetch(*region)
    except (OSError, KeyError) as exc:
        raise DataError(f"cannot read pixels of {' x '.join(region)} from {cooler_uri(clr)} "
                        f"({_short(exc)}); the file is corrupt, regenerate it") from None


def read_cis(clr, chrom: str, *, weight_name: str | None = "weight",
             allow_empty: bool = False) -> CisBlock:
    """Read one chromosome's contacts with cooler's pixel selector.

    Parameters
    ----------
    clr
        An open ``cooler.Cooler``.
    chrom
        Chromosome name as the cooler spells it (see :func:`select_chroms`).
    weight_name
        Balancing column (multiplicative, or divisive for KR/VC names);
        ``None`` keeps raw counts.
    allow_empty
        Return an all-masked block instead of raising when the chromosome has
        no contacts (used for ``--chrom all``).
    """
    lo, _ = clr.extent(chrom)
    bins = clr.bins()[["start", "end"]].fetch(chrom)
    start = bins["start"].to_numpy(np.int64)
    end = bins["end"].to_numpy(np.int64)
    weight = _weights(clr, chrom, weight_name, len(start))
    pix = _pixels(clr, chrom)
    i = pix["bin1_id"].to_numpy(np.int64) - lo
    j = pix["bin2_id"].to_numpy(np.int64) - lo
    count = pix["count"].to_numpy(dtype=float)
    block = CisBlock(chrom, start, end, i, j, count,
                     _balance(count, weight[i], weight[j], weight_name), weight, int(clr.binsize))
    if not block.mask.any():
        why = ("no contacts" if not len(count) else
               f"no usable bins (every '{weight_name}' is NaN)")
        msg = f"chromosome {chrom} has {why} in {cooler_uri(clr)}"
        if not allow_empty:
            raise DataError(f"{msg}; choose a chromosome with data")
        log.warning("%s; all its bins are masked", msg)
    return block


def read_trans(clr, chrom1: str, chrom2: str, *, weight_name: str | None = "weight"):
    """Pixels between two chromosomes: local indices ``i`` (in chrom1), ``j`` (in chrom2), count, value."""
    lo1, lo2 = clr.extent(chrom1)[0], clr.extent(chrom2)[0]
    w1 = _weights(clr, chrom1, weight_name, clr.extent(chrom1)[1] - lo1)
    w2 = _weights(clr, chrom2, weight_name, clr.extent(chrom2)[1] - lo2)
    pix = _pixels(clr, chrom1, chrom2)
    i = pix["bin1_id"].to_numpy(np.int64) - lo1
    j = pix["bin2_id"].to_numpy(np.int64) - lo2
    count = pix["count"].to_numpy(dtype=float)
    return i, j, count, _balance(count, w1[i], w2[j], weight_name)


def expected_cis(i: np.ndarray, j: np.ndarray, value: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean contact value per diagonal ``d = j - i`` over pairs of valid bins.

    Pairs without a pixel count as zero; diagonals with no valid pair are NaN.
    ``i``, ``j`` are local upper-triangle indices into ``valid`` (one region).
    """
    from scipy.signal import fftconvolve

    n = len(valid)
    v = valid.astype(float)
    npairs = np.rint(fftconvolve(v, v[::-1])[n - 1:]) if n else np.zeros(0)
    keep = valid[i] & valid[j] & np.isfinite(value)
    sums = np.bincount(j[keep] - i[keep], value[keep], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(npairs > 0, sums / npairs, np.nan)


# ----------------------------------------------------------------------------
# bigWig tracks
# ----------------------------------------------------------------------------
@contextlib.contextmanager
def open_bigwig(path: str | Path) -> Iterator:
    """Open a bigWig for reading (closed on exit); :class:`DataError` if it is not one."""
    import pyBigWig

    p = common.require_file(path, "bigWig file")
    try:
        bw = pyBigWig.open(str(p))
    except RuntimeError:
        bw = None
    if bw is None or not bw.isBigWig():
        raise DataError(f"{p} is not a bigWig file; pass a .bw signal track "
                        "(convert bedGraph with bedGraphToBigWig)")
    try:
        yield bw
    finally:
        bw.close()


def bin_track(bw, chrom: str, start: np.ndarray, end: np.ndarray, *,
              chunk_bp: int = 50_000_000) -> np.ndarray:
    """Mean bigWig signal over each bin of one chromosome (NaN where uncovered).

    The same number as ``bw.stats(chrom, s, e, exact=True)`` per bin, computed
    from one ``bw.intervals`` call per ``chunk_bp`` of chromosome (a single call
    for most chromosomes) and NumPy: every interval is split at bin edges and
    its covered bases and their sum are added to the bins it touches. Bins need
    not be of one size (a shorter last bin, or one running past the end of the
    track's chromosome, are just bins); NaN-valued intervals count as uncovered.
    ``stats(nBins=..., exact=True)`` was measured to be no faster than a
    per-bin loop (it re-reads the data for every bin), hence this route.

    Parameters
    ----------
    bw
        Open pyBigWig handle.
    chrom
        Chromosome name as the bigWig spells it.
    start, end
        Sorted, non-overlapping bin coordinates.
    chunk_bp
        Span read per ``intervals`` call, bounding memory on base-pair tracks.
    """
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    total = np.zeros(len(start))
    covered = np.zeros(len(start))
    length = int(bw.chroms()[chrom])
    lo_all, hi_all = (int(start[0]), min(int(end[-1]), length)) if len(start) else (0, 0)
    for lo in range(lo_all, hi_all, chunk_bp):
        hi = min(lo + chunk_bp, hi_all)
        raw = bw.intervals(chrom, lo, hi) or ()
        # fromiter over the flattened tuples: ~2x faster than np.array on a list of tuples
        iv = np.fromiter(itertools.chain.from_iterable(raw), float, count=3 * len(raw)).reshape(-1, 3)
        iv = iv[np.isfinite(iv[:, 2])]
        s, e = np.clip(iv[:, 0], lo, hi).astype(np.int64), np.clip(iv[:, 1], lo, hi).astype(np.int64)
        keep = e > s
        s, e, v = s[keep], e[keep], iv[keep, 2]
        b0 = np.searchsorted(start, s, side="right") - 1
        reps = np.searchsorted(start, e - 1, side="right") - b0
        piece = np.repeat(np.arange(len(s)), reps)
        b = np.repeat(b0, reps) + np.arange(len(piece)) - np.repeat(np.cumsum(reps) - reps, reps)
        bases = np.clip(np.minimum(e[piece], end[b]) - np.maximum(s[piece], start[b]), 0, None)
        covered += np.bincount(b, bases, minlength=len(start))
        total += np.bincount(b, bases * v[piece], minlength=len(start))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(covered > 0, total / covered, np.nan)


def read_tracks(paths: Sequence[str | Path], bins: pd.DataFrame, *,
                allow_missing: bool = False) -> np.ndarray:
    """Mean signal of each bigWig on every bin of ``bins`` (``chrom, start, end``).

    Chromosome names are matched between the bin table and each bigWig
    (``chr21`` vs ``21``, logged). Returns float64 ``[len(bins), len(paths)]``
    with NaN where a track has no data.

    Parameters
    ----------
    allow_missing
        Leave a chromosome the bigWig lacks as NaN, with a warning (``--chrom all``),
        instead of raising.

    Raises
    ------
    DataError
        A file that is not a bigWig, a chromosome the bigWig lacks, a track
        with no finite value on these bins.
    """
    out = np.full((len(bins), len(paths)), np.nan)
    chrom = bins["chrom"].to_numpy()
    starts, ends = bins["start"].to_numpy(np.int64), bins["end"].to_numpy(np.int64)
    bounds = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1], True])
    for k, path in enumerate(paths):
        with open_bigwig(path) as bw:
            sizes = bw.chroms()
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                try:
                    name = common.resolve_chrom(str(chrom[lo]), list(sizes), where=f"bigWig {path}")
                except DataError as exc:
                    if not allow_missing:
                        raise
                    log.warning("%s; its values are left empty", str(exc).split("; available")[0])
                    continue
                if sizes[name] != ends[hi - 1]:
                    log.warning("%s: %s is %d bp in the bigWig but %d bp in the cooler; "
                                "same assembly?", path, name, sizes[name], ends[hi - 1])
                out[lo:hi, k] = bin_track(bw, name, starts[lo:hi], ends[lo:hi])
        if not np.isfinite(out[:, k]).any():
            raise DataError(f"bigWig {path} has no data (all NaN or empty) on "
                            f"{', '.join(dict.fromkeys(chrom))}; pass a track with signal there")
    return out
