"""Diamond insulation score and TAD boundaries (the cooltools recipe), from pixels.

:func:`insulation_score` follows ``cooltools.api.insulation.insul_diamond``: for bin i the
mean balanced contact in the ``w x w`` square just off the diagonal (rows i-w+1..i,
columns i..i+w-1, diagonals below ``ignore_diags`` left out), log2 of it divided by the
chromosome's median. It never forms a dense matrix: every pixel adds its value to the
contiguous range of bins whose square holds it (a difference array), and the number of
valid pixel positions per square comes from cumulative sums along each diagonal.

:func:`find_boundaries` calls boundaries at local minima of the score, with strength =
the prominence of the minimum (``scipy.signal.find_peaks`` on ``-score``) and a threshold
(Otsu's, or a fixed one). :func:`gradient`, :func:`spearman` and :func:`boundary_recovery`
evaluate the score against latent / feature gradients and planted TAD borders.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import hicio

DEFAULT_WINDOW_BINS = 10
MIN_FRAC_VALID = 0.66


def diamond_sums(block: hicio.CisBlock, *, window: int, ignore_diags: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Sum of balanced values and number of valid pixel positions in each bin's square.

    Returns ``(total, n_valid)``, one per bin.
    """
    n = block.n
    valid = np.isfinite(block.weight) & (block.coverage > 0)
    p, q, v = block.i, block.j, block.value
    d = q - p
    keep = (d >= ignore_diags) & (d <= 2 * window - 2) & np.isfinite(v) & valid[p] & valid[q]
    p, q, v = p[keep], q[keep], v[keep]
    # bins i whose square [i-w+1, i] x [i, i+w-1] holds (p, q): max(p, q-w+1) <= i <= min(q, p+w-1)
    lo = np.maximum(p, q - window + 1)
    hi = np.minimum(q, p + window - 1)
    diff = np.bincount(lo, v, minlength=n + 1) - np.bincount(hi + 1, v, minlength=n + 1)
    total = np.cumsum(diff)[:n]
    n_valid = np.zeros(n)
    idx = np.arange(n)
    for off in range(ignore_diags, 2 * window - 1):  # a loop over diagonals, not bins
        pair = np.zeros(n + 1)
        pair[1:n - off + 1] = valid[: n - off] & valid[off:]
        cs = np.cumsum(pair)
        a = np.clip(np.maximum(idx - window + 1, idx - off), 0, n)  # first p of bin i's square on this diagonal
        b = np.clip(np.minimum(idx, idx + window - 1 - off), -1, n - off - 1)  # last p
        n_valid += np.where(b >= a, cs[np.clip(b + 1, 0, n)] - cs[a], 0)
    return total, n_valid


def insulation_score(block: hicio.CisBlock, *, window: int = DEFAULT_WINDOW_BINS, ignore_diags: int = 2,
                     min_frac_valid: float = MIN_FRAC_VALID) -> np.ndarray:
    """log2 insulation per bin, normalised by the chromosome's median (NaN where undefined).

    Parameters
    ----------
    block
        One chromosome's balanced contacts (:func:`hicio.read_cis`).
    window
        Square size in bins.
    ignore_diags
        Diagonals left out (as in balancing).
    min_frac_valid
        Least share of valid pixel positions in a square (cooltools' ``min_frac_valid_pixels``).
    """
    total, n_valid = diamond_sums(block, window=window, ignore_diags=ignore_diags)
    full = _positions_per_square(window, ignore_diags)
    valid = np.isfinite(block.weight) & (block.coverage > 0)
    ok = valid & (n_valid >= min_frac_valid * full) & (n_valid > 0)
    mean = np.where(ok, total / np.where(n_valid > 0, n_valid, 1), np.nan)
    mean[mean <= 0] = np.nan
    med = np.nanmedian(mean) if np.isfinite(mean).any() else np.nan
    return np.log2(mean / med)


def _positions_per_square(window: int, ignore_diags: int) -> int:
    """Pixel positions in a full square away from chromosome ends."""
    offs = np.arange(ignore_diags, 2 * window - 1)
    return int(np.minimum(offs + 1, 2 * window - 1 - offs).clip(0, window).sum())


def otsu_threshold(x: np.ndarray, bins: int = 64) -> float:
    """Otsu's threshold of the finite values of ``x`` (between-class variance maximised)."""
    x = x[np.isfinite(x)]
    if x.size < 2 or x.min() == x.max():
        return float(x.min()) if x.size else np.nan
    hist, edges = np.histogram(x, bins=bins)
    mids = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * mids) / np.where(w0 > 0, w0, 1)
    m1 = (np.sum(hist * mids) - np.cumsum(hist * mids)) / np.where(w1 > 0, w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1:][np.argmax(between[:-1])]) if between.size > 1 else float(mids[0])


def find_boundaries(score: np.ndarray, *, threshold: float | str = "otsu") -> tuple[np.ndarray, np.ndarray, float]:
    """Local minima of ``score`` with their prominence and which pass the threshold.

    Returns ``(strength, is_boundary, threshold)``: ``strength`` is the prominence at each
    minimum (NaN elsewhere). NaN gaps count as high insulation (no boundary across them).
    """
    from scipy.signal import find_peaks

    s = np.asarray(score, float)
    strength = np.full(s.size, np.nan)
    if not np.isfinite(s).any():
        return strength, np.zeros(s.size, bool), np.nan
    filled = np.where(np.isfinite(s), s, np.nanmax(s))
    peaks, props = find_peaks(-filled, prominence=0)
    peaks_ok = np.isfinite(s[peaks])
    strength[peaks[peaks_ok]] = props["prominences"][peaks_ok]
    thr = (otsu_threshold(np.log10(strength[np.isfinite(strength) & (strength > 0)]))
           if threshold == "otsu" else np.log10(float(threshold)) if float(threshold) > 0 else -np.inf)
    thr = 10 ** thr if np.isfinite(thr) else 0.0
    return strength, np.nan_to_num(strength, nan=-1) >= thr, float(thr)


# ----------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------
def gradient(x: np.ndarray, usable: np.ndarray, chrom_id: np.ndarray) -> np.ndarray:
    """Per-bin gradient: mean of ``||x_i - x_{i-1}||`` and ``||x_{i+1} - x_i||`` over the
    neighbours that are usable and on the same chromosome (NaN where none)."""
    x = np.asarray(x, float)
    step = np.linalg.norm(np.diff(x, axis=0), axis=1)
    ok = usable[1:] & usable[:-1] & (np.asarray(chrom_id)[1:] == np.asarray(chrom_id)[:-1])
    step = np.where(ok, step, np.nan)
    left, right = np.r_[np.nan, step], np.r_[step, np.nan]
    both = np.vstack([left, right])
    cnt = np.isfinite(both).sum(0)
    out = np.where(cnt > 0, np.nansum(both, 0) / np.maximum(cnt, 1), np.nan)
    out[~usable] = np.nan
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> dict:
    """Spearman rho and n over the bins where both are finite."""
    from scipy.stats import spearmanr

    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return {"rho": None, "n": int(ok.sum())}
    return {"rho": float(spearmanr(a[ok], b[ok])[0]), "n": int(ok.sum())}


def top_peaks(x: np.ndarray, n_top: int) -> np.ndarray:
    """Bin indices of the ``n_top`` highest local maxima of ``x`` (NaN = gap)."""
    from scipy.signal import find_peaks

    if n_top <= 0 or not np.isfinite(x).any():
        return np.zeros(0, np.int64)
    filled = np.where(np.isfinite(x), x, np.nanmin(x))
    peaks, props = find_peaks(filled, prominence=0)
    order = np.argsort(-props["prominences"], kind="stable")[:n_top]
    return np.sort(peaks[order])


def boundary_recovery(called: np.ndarray, planted: np.ndarray, *, tolerance: int = 1) -> dict:
    """Precision / recall / F1 of called boundary bins against planted ones (± ``tolerance`` bins)."""
    called = np.unique(np.asarray(called, np.int64))
    planted = np.unique(np.asarray(planted, np.int64))
    if not called.size or not planted.size:
        return {"n_called": int(called.size), "n_planted": int(planted.size),
                "precision": None, "recall": None, "f1": None}

    def near(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        k = np.searchsorted(b, a)
        lo = np.abs(a - b[np.clip(k - 1, 0, b.size - 1)])
        hi = np.abs(b[np.clip(k, 0, b.size - 1)] - a)
        return np.minimum(lo, hi) <= tolerance

    prec = float(near(called, planted).mean())
    rec = float(near(planted, called).mean())
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"n_called": int(called.size), "n_planted": int(planted.size),
            "precision": prec, "recall": rec, "f1": f1}


def planted_borders(tad_id: np.ndarray, chrom_id: np.ndarray) -> np.ndarray:
    """Bins that start a new TAD inside a chromosome (the previous bin is in another TAD;
    unmappable bins have ``tad_id < 0`` and start none)."""
    t = np.asarray(tad_id)
    c = np.asarray(chrom_id)
    new = np.r_[False, (t[1:] != t[:-1]) & (c[1:] == c[:-1]) & (t[1:] >= 0) & (t[:-1] >= 0)]
    return np.flatnonzero(new)


def boundary_table(bins: pd.DataFrame, strength: np.ndarray, is_boundary: np.ndarray) -> pd.DataFrame:
    """BED rows (chrom, start, end, name, score) of the boundary bins."""
    sel = np.flatnonzero(is_boundary)
    return pd.DataFrame({"chrom": bins["chrom"].to_numpy()[sel], "start": bins["start"].to_numpy()[sel],
                         "end": bins["end"].to_numpy()[sel], "name": "boundary",
                         "score": np.round(strength[sel], 4)})
