"""Reading Hi-C coolers and bigWig tracks, shared by the step scripts and benchmarks.

* :func:`open_cooler` -- a ``.cool``, an ``.mcool`` plus a resolution, a
  ``file.mcool::resolutions/N`` URI, or a Juicer ``.hic`` plus a resolution
  (:class:`HicFile`, read through hictkpy), with one-line :class:`common.DataError`\\ s
  for every way that can go wrong (missing, not HDF5, truncated, absent resolution
  or normalisation, each listing what the file holds).
* :func:`select_chroms`, :func:`check_weight` -- chromosome names (``chr21`` and
  ``21`` are the same; ``all`` = every autosome) and the balancing column.
* :func:`read_cis` -- one chromosome's upper-triangle pixels as a :class:`CisBlock`
  (raw and balanced values, per-bin weights); :func:`read_trans` for a pair.
  A cooler's pixels are one slice of its pixel table (rows found through its
  ``bin1_offset`` index), a ``.hic``'s come from hictkpy's sparse ``to_coo``; never a
  dense fetch. The slice is faster than both cooler's matrix selector and hictkpy
  on .mcool files (``benchmarks/bench_hictk.py``), and it keeps hictkpy out of
  cooler runs: hictkpy 1.4.0's log-forwarding thread spins on a core for the life
  of any process that imports it (:func:`import_hictkpy`).
* :func:`bin_track` / :func:`read_tracks` -- a bigWig's exact mean signal per bin,
  through ``pyBigWig.intervals`` and NumPy or pyBigWig's own ``stats``, whichever
  suits the track, without a Python loop over bins.
* :func:`add_cooler_args` / :func:`open_hic` -- the command-line options both
  steps share and the validation behind them.

``pyBigWig``'s ``header()`` crashes the interpreter on tracks holding NaN values,
so it is never called here.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
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
                   help="Hi-C file: .mcool or .hic (with --res), .cool, or FILE.mcool::resolutions/N")
    g.add_argument("--chrom", required=True, nargs="+", metavar="CHROM",
                   help="chromosome(s); 'all' = every autosome in the cooler (chr21 and 21 match)")
    g.add_argument("--res", type=positive_int, metavar="BP",
                   help="resolution in bp (required for a multi-resolution .mcool or .hic)")
    g.add_argument("--weight-name", "--weight_name", dest="weight_name", default="weight",
                   metavar="NAME", help="normalisation: a bin-table column of a cooler (weight), "
                                        "or a .hic normalisation (KR, VC, VC_SQRT, SCALE)")
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
    """``file`` for a single-resolution cooler, ``file::resolutions/N`` inside an .mcool,
    ``file.hic@N`` for a .hic."""
    if isinstance(clr, HicFile):
        return clr.uri
    root = clr.root.strip("/")
    return clr.filename if not root else f"{clr.filename}::{root}"


def import_hictkpy():
    """``import hictkpy``, with its log-forwarding thread moved to the idle scheduling class.

    hictkpy 1.4.0 starts, at import, a thread that polls its log queue without ever
    sleeping (``MessageQueue::try_dequeue_timed`` retries an uncontended lock in a
    loop), so it keeps one core busy for as long as the process lives, and beside a
    second step it halves that step's speed. The thread cannot be stopped from
    Python; under ``SCHED_IDLE`` it runs only on a core nothing else wants.
    """
    import os
    import sys

    if "hictkpy" in sys.modules:
        return sys.modules["hictkpy"]
    tasks = lambda: set(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else set()  # noqa: E731
    before = tasks()
    import hictkpy

    for tid in tasks() - before:
        with contextlib.suppress(OSError, AttributeError):  # not Linux, or the thread is gone
            os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
    return hictkpy


def _is_hic(path: Path) -> bool:
    """True when ``path`` starts with the Juicer ``.hic`` magic string ``HIC\\0``."""
    with open(path, "rb") as fh:
        return fh.read(4) == b"HIC\0"


class HicFile:
    """A Juicer ``.hic`` at one resolution, read through hictkpy.

    Offers the few cooler-like attributes the steps use (``chromnames``,
    ``chromsizes``, ``binsize``, ``extent``) plus :meth:`normalizations`,
    :meth:`weights` and :meth:`bins_of`; :func:`read_cis` / :func:`read_trans`
    read its pixels exactly as they read a cooler's. Weights of a ``.hic`` are
    divisive (balanced = count / (w_i w_j)), as hictk and Juicer apply them.
    """

    def __init__(self, path: str | Path, *, res: int | None) -> None:
        hictkpy = import_hictkpy()

        self.filename = str(path)
        try:
            avail = sorted(int(r) for r in hictkpy.MultiResFile(self.filename).resolutions())
        except RuntimeError as exc:
            raise DataError(f"{path} is a truncated or corrupt .hic ({_short(exc)}); "
                            "re-download or regenerate it") from None
        listed = ", ".join(map(str, avail))
        if res is None:
            if len(avail) != 1:
                raise DataError(f"{path} is a .hic with several resolutions; choose one with --res "
                                f"(available: {listed})")
            res = avail[0]
        if res not in avail:
            raise DataError(f"resolution {res} not in {path}; available: {listed} (pass one of them with --res)")
        try:
            self._file = hictkpy.File(self.filename, res)
        except RuntimeError as exc:
            raise DataError(f"{path} at {res} bp cannot be read ({_short(exc)}); "
                            "re-download or regenerate it") from None
        self.binsize = int(res)
        sizes = self._file.chromosomes()
        self.chromnames = list(sizes)
        self.chromsizes = pd.Series(sizes, name="length", dtype=np.int64)
        nbins = -(-self.chromsizes.to_numpy() // self.binsize)
        self._offsets = dict(zip(self.chromnames, np.r_[0, np.cumsum(nbins)].tolist()))
        self._nbins = dict(zip(self.chromnames, nbins.tolist()))
        self.uri = f"{self.filename}@{self.binsize}"

    def extent(self, chrom: str) -> tuple[int, int]:
        """Global bin ids ``[lo, hi)`` of ``chrom`` (as cooler's ``extent``)."""
        lo = self._offsets[chrom]
        return lo, lo + self._nbins[chrom]

    def normalizations(self) -> list[str]:
        """Normalisations stored in the file (``KR``, ``VC``, ``SCALE``, ...)."""
        return [n for n in self._file.avail_normalizations() if n != "NONE"]

    def bins_of(self, chrom: str) -> tuple[np.ndarray, np.ndarray]:
        """``start, end`` of every bin of ``chrom``."""
        start = np.arange(self._nbins[chrom], dtype=np.int64) * self.binsize
        return start, np.minimum(start + self.binsize, int(self.chromsizes[chrom]))

    def weights(self, chrom: str, name: str) -> np.ndarray:
        """Divisive weights of normalisation ``name`` on ``chrom`` (NaN = dropped bin)."""
        lo, hi = self.extent(chrom)
        w = self._file.weights(name, divisive=True)
        return np.asarray(w, dtype=float)[lo:hi]

    def coo(self, *region: str):
        """Sparse pixels of ``region`` (one chromosome: upper triangle) in local bin indices."""
        return self._file.fetch(*region, count_type="float").to_coo()


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
    if _is_hic(p):
        if group:
            raise DataError(f"{p} is a .hic file: pass the resolution with --res, not ::{group}")
        return HicFile(p, res=res)
    if not h5py.is_hdf5(p):
        raise DataError(f"{p} is not a cooler file nor a .hic (not HDF5, no .hic header: text or "
                        "another format); pass a .cool/.mcool written by cooler or a Juicer .hic")
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


def wants_all(names: Sequence[str]) -> bool:
    """True for ``--chrom all`` (every autosome in the file)."""
    return [n.lower() for n in names] == ["all"]


def select_chroms(clr, names: Sequence[str]) -> list[str]:
    """Chromosome names as the cooler spells them, in the cooler's order.

    ``["all"]`` means every autosome (names like ``chr1`` or ``1``). Unknown
    names raise :class:`DataError` listing the names in the file.
    """
    avail = list(clr.chromnames)
    if wants_all(names):
        chosen = [c for c in avail if AUTOSOME.fullmatch(c)]
        if not chosen:
            raise DataError(f"{cooler_uri(clr)} has no autosomes (names like chr1 or 1); "
                            f"name the chromosomes explicitly (available: {', '.join(avail[:30])})")
        return chosen
    chosen = {common.resolve_chrom(n, avail, where=cooler_uri(clr)) for n in names}
    return [c for c in avail if c in chosen]


def _bins_of(clr, chrom: str) -> tuple[np.ndarray, np.ndarray]:
    """``start, end`` of every bin of one chromosome (cooler or :class:`HicFile`)."""
    if isinstance(clr, HicFile):
        return clr.bins_of(chrom)
    bins = clr.bins()[["start", "end"]].fetch(chrom)
    return bins["start"].to_numpy(np.int64), bins["end"].to_numpy(np.int64)


def bin_table(clr, chroms: Sequence[str]) -> pd.DataFrame:
    """``chrom, start, end`` of every bin of ``chroms``, in order (no pixels read)."""
    parts = []
    for c in chroms:
        start, end = _bins_of(clr, c)
        parts.append(pd.DataFrame({"chrom": c, "start": start, "end": end}))
    return pd.concat(parts, ignore_index=True)


def check_weight(clr, weight_name: str | None) -> None:
    """Raise :class:`DataError` when the balancing column (or .hic normalisation) is absent."""
    if weight_name is None:
        return
    if isinstance(clr, HicFile):
        avail = clr.normalizations()
        if weight_name not in avail:
            listed = (f"available: {', '.join(avail)}; choose one with --weight-name" if avail
                      else "it stores no normalisation; balance it (hictk balance) or pass --no-balance")
            raise DataError(f"{cooler_uri(clr)} has no '{weight_name}' normalisation ({listed})")
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

    @functools.cached_property
    def coverage(self) -> np.ndarray:
        """Raw cis contacts per bin (row sums of the symmetric matrix); computed once
        (``mask`` and both steps ask for it; the pixels are not changed in place)."""
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
    if isinstance(clr, HicFile):
        return clr.weights(chrom, weight_name)
    return clr.bins()[weight_name].fetch(chrom).to_numpy(dtype=float)


def _divisive(clr, weight_name: str | None) -> bool:
    """Whether balanced = count / (w_i w_j): every .hic normalisation, cooler's KR/VC names."""
    return isinstance(clr, HicFile) or weight_name in DIVISIVE_WEIGHTS


def _balance(count: np.ndarray, wi: np.ndarray, wj: np.ndarray, weight_name: str | None, *,
             divisive: bool) -> np.ndarray:
    if weight_name is None:
        return count.astype(float)
    if divisive:  # same convention as cooler.Cooler.matrix / hictk
        return count / (wi * wj)
    return count * wi * wj


def _cooler_pixels(clr, chrom1: str, chrom2: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of ``chrom1 x chrom2`` from a cooler's pixel table: local ``i, j`` and counts.

    The table holds the upper triangle sorted by ``(bin1, bin2)``, so the rows of the
    earlier chromosome's bins are one contiguous slice (``indexes/bin1_offset``),
    and its pixels with ``bin2`` in the other chromosome are a filter of that slice.
    """
    (lo1, hi1), (lo2, hi2) = clr.extent(chrom1), clr.extent(chrom2)
    swap = lo2 < lo1  # stored under the rows of chrom2
    if swap:
        (lo1, hi1), (lo2, hi2) = (lo2, hi2), (lo1, hi1)
    with clr.open("r") as grp:
        off = grp["indexes/bin1_offset"][lo1:hi1 + 1].astype(np.int64)
        a, b = int(off[0]), int(off[-1])
        j = grp["pixels/bin2_id"][a:b].astype(np.int64)
        count = grp["pixels/count"][a:b].astype(float)
    i = np.repeat(np.arange(hi1 - lo1, dtype=np.int64), np.diff(off))
    keep = (j >= lo2) & (j < hi2)
    i, j, count = i[keep], j[keep] - lo2, count[keep]
    return (j, i, count) if swap else (i, j, count)


def _pixels(clr, *region: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw pixels of one chromosome (upper triangle) or a pair: local ``i, j`` and counts,
    sorted by ``(i, j)`` as cooler stores them (hictkpy for a ``.hic``)."""
    try:
        if isinstance(clr, HicFile):
            m = clr.coo(*region)
            i, j = m.row.astype(np.int64), m.col.astype(np.int64)
            count = np.asarray(m.data, dtype=float)
        else:
            i, j, count = _cooler_pixels(clr, region[0], region[-1])
    except (OSError, KeyError, RuntimeError) as exc:
        raise DataError(f"cannot read pixels of {' x '.join(region)} from {cooler_uri(clr)} "
                        f"({_short(exc)}); the file is corrupt, regenerate it") from None
    if len(i) > 1 and not np.all((np.diff(i) > 0) | ((np.diff(i) == 0) & (np.diff(j) > 0))):
        order = np.lexsort((j, i))
        i, j, count = i[order], j[order], count[order]
    return i, j, count


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
    start, end = _bins_of(clr, chrom)
    weight = _weights(clr, chrom, weight_name, len(start))
    i, j, count = _pixels(clr, chrom)
    value = _balance(count, weight[i], weight[j], weight_name, divisive=_divisive(clr, weight_name))
    block = CisBlock(chrom, start, end, i, j, count, value, weight, int(clr.binsize))
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
    (lo1, hi1), (lo2, hi2) = clr.extent(chrom1), clr.extent(chrom2)
    w1 = _weights(clr, chrom1, weight_name, hi1 - lo1)
    w2 = _weights(clr, chrom2, weight_name, hi2 - lo2)
    i, j, count = _pixels(clr, chrom1, chrom2)
    return i, j, count, _balance(count, w1[i], w2[j], weight_name, divisive=_divisive(clr, weight_name))


def pairs_per_distance(valid: np.ndarray) -> np.ndarray:
    """Number of pairs of valid bins at each distance ``d = 0..n-1`` (the mask's autocorrelation).

    One real FFT in NumPy (scipy.signal's import alone costs ~0.8 s a process); rounded, so
    exact for any length a chromosome has.
    """
    n = len(valid)
    if not n:
        return np.zeros(0)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(np.asarray(valid, dtype=float), size)
    return np.rint(np.fft.irfft(f * f.conj(), size)[:n])


def expected_cis(i: np.ndarray, j: np.ndarray, value: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean contact value per diagonal ``d = j - i`` over pairs of valid bins.

    Pairs without a pixel count as zero; diagonals with no valid pair are NaN.
    ``i``, ``j`` are local upper-triangle indices into ``valid`` (one region).
    """
    n = len(valid)
    npairs = pairs_per_distance(valid)
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


def check_bigwigs(paths: Sequence[str | Path]) -> None:
    """Raise :class:`DataError` unless every path opens as a bigWig (before any output)."""
    for path in paths:
        with open_bigwig(path):
            pass


#: Bins at least this many times longer than a track's typical interval are binned with
#: pyBigWig's own ``stats(exact=True)`` (C, no per-interval Python objects); shorter bins
#: from ``intervals`` + NumPy. Measured crossover on this machine: the simulated 1 kb-step
#: track at 25 kb bins (ratio 25) is 13x faster through ``intervals``; a real ENCODE-style
#: CTCF track (20 bp intervals) is 2.5x faster through ``stats`` at 25 kb bins (ratio 1,250)
#: and at 10 kb (500), 5x slower at 1 kb (50).
STATS_MIN_RATIO = 150


def bin_track(bw, chrom: str, start: np.ndarray, end: np.ndarray, *,
              chunk_bp: int = 20_000_000, method: str = "auto") -> np.ndarray:
    """Mean bigWig signal over each bin of one chromosome (NaN where uncovered).

    The same number as ``bw.stats(chrom, s, e, exact=True)`` per bin, without a
    Python loop over bins, by one of two routes chosen per track (``method``):

    ``intervals``
        One ``bw.intervals`` call per ``chunk_bp`` of chromosome and NumPy: the
        covered bases and the signal sum up to any position are piecewise-linear
        in that position, known at every interval edge from two cumulative sums,
        and are evaluated at the bin edges (one ``searchsorted``) and differenced.
        Best for step-wise tracks whose intervals are not much shorter than a bin.
    ``stats``
        One ``bw.stats(..., nBins=n, exact=True)`` call over the run of equal,
        contiguous bins (the last, shorter bin and anything past the track's end
        on their own). Best for base-pair-resolution tracks, where ``intervals``
        would build millions of Python tuples.
    ``auto``
        ``stats`` when bins are at least :data:`STATS_MIN_RATIO` times longer than
        the track's mean interval (probed in a few windows), else ``intervals``.

    Bins need not be of one size (a shorter last bin, or one running past the
    end of the track's chromosome, are just bins); NaN-valued intervals count
    as uncovered on both routes.

    Parameters
    ----------
    bw
        Open pyBigWig handle.
    chrom
        Chromosome name as the bigWig spells it.
    start, end
        Sorted, non-overlapping bin coordinates.
    chunk_bp
        Span read per ``intervals`` call, bounding memory on dense tracks.
    method
        ``auto``, ``intervals`` or ``stats``.
    """
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    if method == "auto":
        method = _binning_method(bw, chrom, start, end)
    if method == "intervals":
        return _intervals_track(bw, chrom, start, end, chunk_bp=chunk_bp)
    if method != "stats":
        raise ValueError(f"unknown binning method {method!r}")
    out = _stats_track(bw, chrom, start, end)
    # stats() gives None for a bin holding a NaN-valued interval as well as for an
    # uncovered one: redo those runs of bins through intervals (NaN = uncovered).
    redo = np.flatnonzero(np.isnan(out))
    if redo.size:
        runs = np.split(redo, np.flatnonzero(np.diff(redo) > 1) + 1)
        for run in runs:
            out[run] = _intervals_track(bw, chrom, start[run], end[run], chunk_bp=chunk_bp)
    return out


#: Where :func:`_binning_method` probes, as fractions of the way along the bins: the
#: van der Corput order 1/2, 1/4, 3/4, 1/8, ... (coarse to fine, 31 windows).
_PROBE_FRACS = tuple(int(format(i, "05b")[::-1], 2) / 32 for i in range(1, 32))
#: Intervals seen after which probing stops.
_PROBE_ENOUGH = 256


def _binning_method(bw, chrom: str, start: np.ndarray, end: np.ndarray) -> str:
    """``stats`` or ``intervals`` for this track and these bins (see :func:`bin_track`).

    The mean interval length is estimated from one-bin windows at :data:`_PROBE_FRACS`
    (so a track covering only part of the chromosome is still found), stopping once
    :data:`_PROBE_ENOUGH` intervals were seen.
    """
    if len(start) < 2:
        return "intervals"
    size = int(np.median(end - start))
    length = int(bw.chroms()[chrom])
    n_iv = bases = 0
    for f in _PROBE_FRACS:
        lo = int(start[int(f * (len(start) - 1))])
        hi = min(lo + size, length)
        iv = (bw.intervals(chrom, lo, hi) or ()) if hi > lo else ()
        n_iv += len(iv)
        bases += sum(min(e, hi) - max(s, lo) for s, e, _ in iv)
        if n_iv >= _PROBE_ENOUGH:
            break
    if n_iv == 0:
        return "intervals"
    return "stats" if size * n_iv >= STATS_MIN_RATIO * bases else "intervals"


def _stats_track(bw, chrom: str, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per-bin exact means from pyBigWig ``stats``: one ``nBins`` call for the run of
    equal contiguous bins inside the track's chromosome, one call per other bin."""
    length = int(bw.chroms()[chrom])
    out = np.full(len(start), np.nan)
    size = end - start
    body = 0
    if len(start):
        uniform = (size == size[0]) & (end <= length)
        uniform[1:] &= start[1:] == end[:-1]
        body = len(start) if uniform.all() else int(np.argmin(uniform))
    if body:
        vals = bw.stats(chrom, int(start[0]), int(end[body - 1]), type="mean", nBins=body, exact=True)
        out[:body] = np.array(vals, dtype=float)
    for i in range(body, len(start)):  # the short last bin, bins past the track's end
        if start[i] < length:
            out[i] = float(bw.stats(chrom, int(start[i]), int(min(end[i], length)), exact=True)[0] or np.nan)
    return out


def _intervals_track(bw, chrom: str, start: np.ndarray, end: np.ndarray, *, chunk_bp: int) -> np.ndarray:
    """Per-bin exact means from ``bw.intervals`` and cumulative sums (see :func:`bin_track`)."""
    n = len(start)
    acc = np.zeros((n, 2))  # covered bases, signal sum
    length = int(bw.chroms()[chrom])
    lo_all, hi_all = (int(start[0]), min(int(end[-1]), length)) if n else (0, 0)
    for lo in range(lo_all, hi_all, chunk_bp):
        hi = min(lo + chunk_bp, hi_all)
        raw = bw.intervals(chrom, lo, hi) or ()
        # fromiter over the flattened tuples: ~2x faster than np.array on a list of tuples
        iv = np.fromiter(itertools.chain.from_iterable(raw), float, count=3 * len(raw)).reshape(-1, 3)
        iv = iv[np.isfinite(iv[:, 2])]
        if not len(iv):
            continue
        rate = np.column_stack([np.ones(len(iv)), iv[:, 2]])
        cum = _cumulative_at(np.clip(iv[:, 0], lo, hi), np.clip(iv[:, 1], lo, hi), rate,
                             np.clip(np.concatenate([end, start]), lo, hi))
        acc += cum[:n]
        acc -= cum[n:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(acc[:, 0] > 0, acc[:, 1] / acc[:, 0], np.nan)


def _cumulative_at(s: np.ndarray, e: np.ndarray, rate: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Integrals over ``(-inf, x)`` of step functions that are ``rate[:, j]`` on the
    sorted, non-overlapping, non-empty list of intervals ``[s, e)`` and 0 elsewhere;
    ``[len(x), rate.shape[1]]``."""
    before = np.concatenate([np.zeros((1, rate.shape[1])), np.cumsum((e - s)[:, None] * rate, axis=0)])
    k = np.searchsorted(s, x, side="right") - 1  # last interval starting at or before x
    kk = np.maximum(k, 0)
    partial = np.clip(x - s[kk], 0, e[kk] - s[kk])[:, None] * rate[kk]
    return np.where((k >= 0)[:, None], before[kk] + partial, 0.0)


def read_tracks(paths: Sequence[str | Path], bins: pd.DataFrame, *,
                allow_missing: bool = False, chromsizes=None) -> np.ndarray:
    """Mean signal of each bigWig on every bin of ``bins`` (``chrom, start, end``).

    Chromosome names are matched between the bin table and each bigWig
    (``chr21`` vs ``21``, logged). Returns float64 ``[len(bins), len(paths)]``
    with NaN where a track has no data.

    Parameters
    ----------
    allow_missing
        Leave a chromosome the bigWig lacks as NaN, with a warning (``--chrom all``),
        instead of raising.
    chromsizes
        The Hi-C file's chromosome lengths (``clr.chromsizes``): a bigWig whose
        length for a chromosome differs is from another assembly and is refused.

    Raises
    ------
    DataError
        A file that is not a bigWig, a chromosome the bigWig lacks, a chromosome
        length that differs from the bins' (another assembly), a track with no
        finite value on these bins.
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
                want = None if chromsizes is None else chromsizes.get(str(chrom[lo]))
                if want is not None and int(sizes[name]) != int(want):
                    raise DataError(f"bigWig {path}: {name} is {int(sizes[name]):,} bp there but "
                                    f"{int(want):,} bp in the Hi-C file, so it is from another "
                                    "assembly; pass a track of the Hi-C file's assembly (or lift it over)")
                out[lo:hi, k] = bin_track(bw, name, starts[lo:hi], ends[lo:hi])
        if not np.isfinite(out[:, k]).any():
            raise DataError(f"bigWig {path} has no data (all NaN or empty) on "
                            f"{', '.join(dict.fromkeys(chrom))}; pass a track with signal there")
    return out


# ----------------------------------------------------------------------------
# writing .hic (conversions, tests, benchmarks)
# ----------------------------------------------------------------------------
def write_hic(clr, path: str | Path, *, tmpdir: str | Path | None = None) -> Path:
    """Write a cooler's raw contacts as a single-resolution Juicer ``.hic`` (hictkpy).

    The ``.hic`` holds the same pixels and bin table (same chromosome names and
    sizes, same resolution) but no normalisation vectors: hictkpy's writer stores
    none, so the two files agree exactly on raw counts (``--no-balance``), and on a
    balanced read only when both carry the same weights.
    """
    hictkpy = import_hictkpy()

    path = Path(path)
    px = clr.pixels()[:]
    with common.atomic_output(path) as tmp:
        Path(tmp).unlink(missing_ok=True)  # the writer refuses an existing file
        w = hictkpy.hic.FileWriter(str(tmp), {c: int(n) for c, n in clr.chromsizes.items()},
                                   int(clr.binsize), tmpdir=str(tmpdir or Path(tmp).parent))
        # lists: hictkpy's dict reader rejects some NumPy integer dtypes
        w.add_pixels_from_dict({k: px[k].tolist() for k in ("bin1_id", "bin2_id", "count")})
        w.finalize()
    return path
