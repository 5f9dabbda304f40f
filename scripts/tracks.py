"""Per-bin genome-browser tracks: one bigWig (and optionally a bedGraph) per result column.

cooltools writes a bigWig beside every per-bin result; HiGlass and IGV load them
directly. :func:`write_bin_bigwig` is the one writer every step uses: it takes a
bin table (``chrom, start, end``) and one value per bin, drops non-finite values
(they become gaps, as in a bedGraph without those rows) and writes atomically.

Chromosome sizes come from ``chromsizes`` when given (e.g. the cooler's), else
from the last bin end of each chromosome, so a track always covers its bins.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import pandas as pd

import common


def _sizes(bins: pd.DataFrame, chromsizes: Mapping[str, int] | None) -> list[tuple[str, int]]:
    order = list(dict.fromkeys(bins["chrom"].astype(str)))
    last = bins.groupby(bins["chrom"].astype(str), sort=False)["end"].max()
    out = []
    for c in order:
        size = int(chromsizes[c]) if chromsizes is not None and c in chromsizes else int(last[c])
        out.append((c, max(size, int(last[c]))))
    return out


def write_bin_bigwig(path: str | os.PathLike, bins: pd.DataFrame, values, *,
                     chromsizes: Mapping[str, int] | None = None) -> os.PathLike:
    """Write ``values`` (one per row of ``bins``) as a bigWig at ``path``, atomically.

    Rows with a non-finite value are left out. Raises :class:`common.DataError` if
    the lengths differ.
    """
    import pyBigWig

    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size != len(bins):
        raise common.DataError(f"{v.size} values for {len(bins)} bins while writing {path}; "
                               "pass one value per bin")
    chrom = bins["chrom"].astype(str).to_numpy()
    start = bins["start"].to_numpy(np.int64)
    end = bins["end"].to_numpy(np.int64)
    ok = np.isfinite(v)
    with common.atomic_output(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader(_sizes(bins, chromsizes), maxZooms=10)
            for c, _ in _sizes(bins, chromsizes):
                sel = ok & (chrom == c)
                if sel.any():
                    bw.addEntries([c] * int(sel.sum()), start[sel].tolist(), ends=end[sel].tolist(),
                                  values=v[sel].tolist())
        finally:
            bw.close()
    return path


def read_bin_bigwig(path: str | os.PathLike, bins: pd.DataFrame) -> np.ndarray:
    """The value stored for each bin of ``bins`` (NaN where the track has none); for tests
    and round trips of :func:`write_bin_bigwig`."""
    import pyBigWig

    out = np.full(len(bins), np.nan)
    bw = pyBigWig.open(str(path))
    try:
        chroms = bw.chroms()
        for c, idx in bins.groupby(bins["chrom"].astype(str), sort=False).indices.items():
            if c not in chroms:
                continue
            iv = bw.intervals(c) or ()
            if not iv:
                continue
            s = np.fromiter((x[0] for x in iv), np.int64, len(iv))
            val = np.fromiter((x[2] for x in iv), np.float64, len(iv))
            starts = bins["start"].to_numpy(np.int64)[idx]
            k = np.searchsorted(s, starts)
            hit = (k < s.size) & (s[np.minimum(k, s.size - 1)] == starts)
            out[idx[hit]] = val[k[hit]]
    finally:
        bw.close()
    return out
