"""Tiny synthetic Hi-C coolers and bigWigs with a known A/B answer (for the hicio/graph/compartment tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def planted(n: int, *, seed: int = 0, min_run: int = 6, max_run: int = 20) -> np.ndarray:
    """+1 (A) / -1 (B) in runs of random length."""
    rng = np.random.default_rng(seed)
    runs = rng.integers(min_run, max_run, size=n)
    labels = np.repeat(np.resize([1, -1], len(runs)), runs)[:n]
    return labels if rng.random() < 0.5 else -labels


def checkerboard(labels: np.ndarray, *, seed: int = 0, depth: float = 200.0,
                 strength: float = 0.7, dead: np.ndarray | None = None) -> np.ndarray:
    """Poisson counts: power-law decay x exp(strength * s_i s_j) x coverage bias; ``dead`` bins empty."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    d = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    bias = rng.uniform(0.7, 1.3, n)
    lam = depth * (d + 1.0) ** -1.0 * np.exp(strength * np.outer(labels, labels)) * np.outer(bias, bias)
    m = np.triu(rng.poisson(lam))
    m = m + np.triu(m, 1).T
    if dead is not None:
        m[dead, :] = 0
        m[:, dead] = 0
    return m


def write_cooler(path: Path, matrices: dict[str, np.ndarray], *, res: int = 25_000,
                 lengths: dict[str, int] | None = None, balance: bool = True,
                 weight_name: str = "weight") -> Path:
    """A single-resolution ``.cool`` with one dense symmetric matrix per chromosome (no trans)."""
    import cooler

    lengths = lengths or {c: len(m) * res for c, m in matrices.items()}
    bins = cooler.binnify(pd.Series(lengths), res)
    pix, offset = [], 0
    for chrom, m in matrices.items():
        i, j = np.nonzero(np.triu(m))
        pix.append(pd.DataFrame({"bin1_id": i + offset, "bin2_id": j + offset, "count": m[i, j]}))
        offset += int((bins["chrom"] == chrom).sum())
    cooler.create_cooler(str(path), bins, pd.concat(pix, ignore_index=True), ordered=True)
    if balance:
        import warnings

        with warnings.catch_warnings():  # an empty chromosome makes NumPy warn about empty means
            warnings.simplefilter("ignore", RuntimeWarning)
            cooler.balance_cooler(cooler.Cooler(str(path)), cis_only=True, store=True,
                                  store_name=weight_name)
    return Path(path)


def write_mcool(path: Path, matrices: dict[str, np.ndarray], *, res: int = 25_000,
                factors: tuple[int, ...] = (1, 2), **kw) -> Path:
    """An ``.mcool`` with a ``resolutions/<res*f>`` group per factor (the matrix coarsened, balanced)."""
    import h5py

    for f in factors:
        tmp = Path(f"{path}.{f}.cool")
        coarse = {c: _coarsen(m, f) for c, m in matrices.items()}
        lengths = {c: len(m) * res for c, m in matrices.items()}
        write_cooler(tmp, coarse, res=res * f, lengths=lengths, **kw)
        with h5py.File(tmp, "r") as src, h5py.File(path, "a") as dst:
            src.copy(src["/"], dst, f"resolutions/{res * f}")
        tmp.unlink()
    return Path(path)


def _coarsen(m: np.ndarray, f: int) -> np.ndarray:
    if f == 1:
        return m
    n = -(-len(m) // f)
    pad = np.zeros((n * f, n * f), dtype=m.dtype)
    pad[:len(m), :len(m)] = m
    return pad.reshape(n, f, n, f).sum(axis=(1, 3))


def write_bigwig(path: Path, values: dict[str, np.ndarray], *, step: int,
                 lengths: dict[str, int] | None = None) -> Path:
    """A bigWig with one value per ``step`` bp (the last step clipped to the chromosome length)."""
    import pyBigWig

    lengths = lengths or {c: len(v) * step for c, v in values.items()}
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([(c, int(n)) for c, n in lengths.items()])
    for c, v in values.items():
        starts = np.arange(len(v), dtype=np.int64) * step
        ends = np.minimum(starts + step, lengths[c])
        ok = starts < lengths[c]
        bw.addEntries([c] * int(ok.sum()), starts[ok].tolist(), ends=ends[ok].tolist(),
                      values=np.asarray(v, dtype=float)[ok].tolist())
    bw.close()
    return Path(path)


# ----------------------------------------------------------------------------
# bad inputs shared by the build_graph and compute_compartments tests
# ----------------------------------------------------------------------------
def make_inputs(d: Path) -> dict[str, Path]:
    """Good and broken inputs: a balanced chr21 (+ empty chr22) .mcool at 25/50 kb and friends."""
    d.mkdir(parents=True, exist_ok=True)
    n = 60
    labels = planted(n, seed=3)
    m = {"chr21": checkerboard(labels, seed=3), "chr22": np.zeros((20, 20), dtype=int)}
    track = {"chr21": np.repeat(labels + 0.5, 5), "chr22": np.ones(100)}
    f = {"mcool": write_mcool(d / "good.mcool", m), "labels": labels}
    f["bw"] = write_bigwig(d / "cell_CTCF.bw", track, step=5_000)
    f["bw_21"] = write_bigwig(d / "cell_K27.bw", {"21": -track["chr21"], "22": track["chr22"]}, step=5_000)
    f["bw_nan"] = write_bigwig(d / "cell_nan.bw", {"chr21": np.full(n, np.nan)}, step=25_000)
    f["bw_chr1"] = write_bigwig(d / "cell_chr1.bw", {"chr1": np.ones(n)}, step=25_000)
    f["unbalanced"] = write_cooler(d / "raw.cool", m, balance=False)
    f["text"] = d / "text.mcool"
    f["text"].write_text("this is not a cooler\n")
    f["notbw"] = d / "text.bw"
    f["notbw"].write_text("chr21\t0\t100\t1.0\n")
    data = f["mcool"].read_bytes()
    f["truncated"] = d / "truncated.mcool"
    f["truncated"].write_bytes(data[: len(data) // 2])
    f["missing"] = d / "missing.mcool"
    f["blocker"] = d / "a_file"
    f["blocker"].write_text("x")
    return f


#: (id, changes to the base arguments, fragments of the one-line error).
#: ``BW`` is the script's bigWig option; ``None`` removes an option.
BAD_CASES = [
    ("missing-file", {"--mcool": "missing"}, ["not found", "missing.mcool"]),
    ("text-as-mcool", {"--mcool": "text"}, ["not a cooler file"]),
    ("truncated-mcool", {"--mcool": "truncated"}, ["truncated or corrupt"]),
    ("absent-resolution", {"--res": "10000"}, ["resolution 10000 not in", "available: 25000, 50000"]),
    ("unknown-chrom", {"--chrom": "chr99"}, ["'chr99' not found", "available: chr21, chr22"]),
    ("unbalanced", {"--mcool": "unbalanced"}, ["no 'weight' column", "cooler balance", "--no-balance"]),
    ("no-contacts", {"--chrom": "chr22"}, ["chr22 has no contacts"]),
    ("all-nan-bigwig", {"BW": "bw_nan"}, ["has no data"]),
    ("bigwig-lacks-chrom", {"BW": "bw_chr1"}, ["'chr21' not found in bigWig", "available: chr1"]),
    ("not-a-bigwig", {"BW": "notbw"}, ["not a bigWig file"]),
    ("res-text", {"--res": "abc"}, ["--res", "expected a positive integer, got 'abc'"]),
    ("unwritable-out", {"--out": "blocker"}, ["cannot create output directory"]),
]


def cli_args(files: dict, changes: dict, *, bw_flag: str, out: Path) -> list[str]:
    """Argument list for a step script: the good inputs with ``changes`` applied."""
    base = {"--mcool": str(files["mcool"]), "--chrom": "chr21", "--res": "25000",
            bw_flag: str(files["bw"]), "--out": str(out)}
    for key, val in changes.items():
        key = bw_flag if key == "BW" else key
        if key == "--out" and val == "blocker":
            base[key] = str(files["blocker"] / "sub" / out.name)
        else:
            base[key] = str(files.get(val, val))
    return [a for k, v in base.items() for a in (k, v)]


def check_bad_input(main, files: dict, case: tuple, *, bw_flag: str, out: Path) -> None:
    """One :data:`BAD_CASES` row: non-zero exit, one clean error line, nothing written."""
    from conftest import assert_clean_error, call_main

    _, changes, fragments = case
    proc = call_main(main, *cli_args(files, changes, bw_flag=bw_flag, out=out))
    assert_clean_error(proc, *fragments)
    assert not out.parent.exists() or not any(out.parent.iterdir()), list(out.parent.iterdir())


def stage_raw(sim: Path, base: Path) -> Path:
    """``base/data/raw`` holding links to the simulated files, so seed commands run verbatim in ``base``."""
    raw = base / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for f in sim.iterdir():
        if not (raw / f.name).exists():
            (raw / f.name).symlink_to(f)
    return base
