"""Plumbing shared by every pipeline step.

What lives here:

* :class:`DataError` and :func:`run_cli` -- bad input becomes one line on stderr
  and a non-zero exit, never a traceback (unless ``--debug``).
* :class:`ArgumentParser` -- argparse with the common ``--debug/-v/-q`` flags and
  one-line usage errors.
* :func:`atomic_output` -- write to a temporary name, rename into place.
* :func:`provenance` / :func:`write_json` -- what made each output.
* :func:`seed_everything` -- one call that seeds Python, NumPy and torch.
* :func:`load_pt` / :func:`save_pt` -- ``.pt`` files as plain dicts, always read
  with ``torch.load(weights_only=True)``.
* :func:`resolve_chrom` -- ``chr21`` and ``21`` name the same chromosome.
* Graph-file helpers (:func:`load_graph`, :func:`graph_to_data`,
  :func:`bins_frame`) used by every step after ``build_graph``.

The module imports only the standard library, NumPy and pandas at import time;
torch is imported lazily so ``compute_compartments`` stays light. Before NumPy it
checks (without importing them) that the project's dependencies are installed, and
otherwise stops with one line saying to ``source .venv/bin/activate``; each step
imports ``common`` first so that line comes before any other import can fail.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import logging
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

#: Import names of the dependencies every step needs (requirements.txt); checked before
#: anything imports them, so a script started with another Python says how to get the
#: project's one instead of ending in a ModuleNotFoundError traceback.
REQUIRED_MODULES = ("numpy", "pandas", "scipy", "torch", "torch_geometric", "cooler", "h5py",
                    "pyBigWig", "hictkpy", "sklearn", "matplotlib", "tqdm")


def _require_environment() -> None:
    """One line naming the fix when this interpreter lacks the project's dependencies.

    Run as a script (``python scripts/x.py``) it exits with :data:`EXIT_DATA`;
    imported as a library it raises :class:`ImportError` with the same message.
    """
    import importlib.util

    missing = [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]
    if not missing:
        return
    root = Path(__file__).resolve().parents[1]
    venv = root / ".venv"
    how = (f"run `source {venv}/bin/activate` first, or call {venv}/bin/python" if venv.is_dir() else
           f"build the environment with `bash {root}/run_pipeline.sh` (it creates {venv}), "
           f"then `source {venv}/bin/activate`")
    names = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    msg = f"{names} not installed for {sys.executable}: {how}"
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if prog.endswith(".py") and Path(sys.argv[0]).resolve().parent == Path(__file__).resolve().parent:
        sys.stderr.write(f"{prog}: error: {msg}\n")
        raise SystemExit(2)
    raise ImportError(msg)


_require_environment()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__version__ = "1.1.0"

log = logging.getLogger("chromatin_gnn")

GRAPH_FORMAT = "chromatin-gnn/graph"
MODEL_FORMAT = "chromatin-gnn/model"
FORMAT_VERSION = 1

#: Exit code for bad input (argparse uses 2 for bad flags, we match it).
EXIT_DATA = 2
EXIT_INTERRUPTED = 130


class DataError(Exception):
    """Bad input the user can fix. The message names the problem and the fix."""


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------
class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's common flags and one-line errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        g = self.add_argument_group("logging")
        g.add_argument("--debug", action="store_true",
                       help="show full tracebacks and debug logging")
        g.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        g.add_argument("-q", "--quiet", action="store_true",
                       help="warnings and errors only; no progress bars")

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        self.exit(EXIT_DATA, f"{self.prog}: error: {message} (see --help)\n")


def arg_type(convert: Callable[[str], Any], ok: Callable[[Any], bool], wanted: str) -> Callable[[str], Any]:
    """An argparse ``type``: ``convert`` the text, accept it where ``ok``, else say what is ``wanted``.

    ``arg_type(float, lambda v: 0 < v < 1, "a number between 0 and 1")`` gives
    ``error: argument --val-frac: must be a number between 0 and 1, got 1.5``.
    """
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value
    return parse


def setup_logging(*, verbose: bool = False, quiet: bool = False) -> None:
    """Send the project's log to stderr at the requested level."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger("chromatin_gnn")
    root.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(message)s",
                                           datefmt="%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def progress_disabled() -> bool:
    """True when progress bars should be hidden (``-q`` or log level above INFO)."""
    return logging.getLogger("chromatin_gnn").getEffectiveLevel() > logging.INFO


def run_cli(body: Callable[[argparse.Namespace], None], args: argparse.Namespace) -> int:
    """Run one step's ``body(args)`` with the project's error handling.

    Known failures (:class:`DataError`, missing files, permissions) print one
    line ``<prog>: error: ...`` and return :data:`EXIT_DATA`. With ``--debug``
    the exception propagates so the traceback is shown.
    """
    setup_logging(verbose=args.debug or args.verbose, quiet=args.quiet)
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "chromatin-gnn"
    _terminate_as_interrupt()
    try:
        body(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        sys.stderr.write(f"{prog}: interrupted; no partial outputs were kept\n")
        return EXIT_INTERRUPTED
    except (DataError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        if args.debug:
            raise
        sys.stderr.write(f"{prog}: error: {_one_line(exc)}\n")
        return EXIT_DATA
    except Exception as exc:  # unexpected: still one line, but say how to see more
        if args.debug:
            raise
        sys.stderr.write(f"{prog}: error: {type(exc).__name__}: {_one_line(exc)} "
                         "(unexpected; re-run with --debug for the traceback)\n")
        return 1
    return 0


def _terminate_as_interrupt() -> None:
    """Make SIGTERM (``kill``, a scheduler's time limit) unwind like Ctrl-C.

    The ``finally`` clauses of :func:`atomic_output` then remove temporary files,
    so a killed stage leaves its previous outputs exactly as they were.
    """
    import signal
    import threading

    def _raise(signum, frame):  # noqa: ARG001 - signal API
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename:
        what = {FileNotFoundError: "no such file",
                PermissionError: "permission denied",
                IsADirectoryError: "is a directory"}[type(exc)]
        return f"{what}: {exc.filename}; check the path"
    return " ".join(str(exc).split())


# ----------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------
def require_file(path: str | os.PathLike, what: str = "input file") -> Path:
    """Return ``Path(path)`` or raise :class:`DataError` if it is not a readable file."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} not found: {p}; check the path")
    if p.is_dir():
        raise DataError(f"{what} is a directory, not a file: {p}")
    if not os.access(p, os.R_OK):
        raise DataError(f"{what} is not readable: {p}; check its permissions")
    return p


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) and check it is writable, else :class:`DataError`."""
    d = Path(path)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create output directory {d}: {exc.strerror}; "
                        "choose a writable location") from None
    if not os.access(d, os.W_OK | os.X_OK):
        raise DataError(f"output directory {d} is not writable; "
                        "choose a writable location")
    return d


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place on success.

    The temporary name keeps ``path``'s suffix so writers that look at the
    extension (NumPy, matplotlib, cooler) behave normally. On any exception the
    temporary file is removed and ``path`` is left exactly as it was.
    """
    final = Path(path)
    ensure_writable_dir(final.parent)
    _sweep_stale_temps(final)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp-{os.getpid()}{final.suffix}",
                               dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give outputs normal permissions
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sweep_stale_temps(final: Path) -> None:
    """Remove temporary files for ``final`` left by processes that no longer exist.

    Only ``SIGKILL`` or a power cut can leave one (other exits clean up after
    themselves); the names never match an output, so no stage ever reads them.
    """
    for tmp in final.parent.glob(f".{final.stem}.*.tmp-*{final.suffix}"):
        pid = tmp.name.rsplit(".tmp-", 1)[-1].removesuffix(final.suffix)
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            log.debug("removing stale temporary file %s", tmp)
            tmp.unlink(missing_ok=True)
        except PermissionError:  # alive, owned by someone else
            pass


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as strict, indented JSON, atomically: NumPy values are converted and
    NaN/inf become ``null`` (:func:`strict_json`)."""
    with atomic_output(path) as tmp:
        text = json.dumps(strict_json(obj), indent=2, default=_json_default, allow_nan=False)
        tmp.write_text(text + "\n")
    return Path(path)


def strict_json(obj: Any) -> Any:
    """``obj`` with every NaN/inf (Python, NumPy scalar or array element) replaced by None,
    recursively, so that JSON written from it is strict (``null``, never ``NaN``)."""
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def write_table(path: str | os.PathLike, df: pd.DataFrame, *, sep: str | None = None,
                **kwargs: Any) -> Path:
    """Write a DataFrame atomically; TSV for ``.tsv``/``.bedGraph``/``.bed``, else CSV."""
    p = Path(path)
    if sep is None:
        sep = "\t" if p.suffix.lower() in {".tsv", ".bedgraph", ".bed"} else ","
    kwargs.setdefault("index", False)
    with atomic_output(p) as tmp:
        df.to_csv(tmp, sep=sep, **kwargs)
    return p


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` atomically."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
    return Path(path)


def save_figure(fig: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    """``fig.savefig`` atomically, then close the figure."""
    import matplotlib.pyplot as plt

    kwargs.setdefault("dpi", 120)
    kwargs.setdefault("bbox_inches", "tight")
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", **kwargs)
    plt.close(fig)
    return Path(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (Path,)):
        return str(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ----------------------------------------------------------------------------
# provenance and reproducibility
# ----------------------------------------------------------------------------
_VERSIONED = ("numpy", "scipy", "pandas", "torch", "torch_geometric", "cooler",
              "pyBigWig", "umap", "sklearn", "h5py", "matplotlib")


def package_versions() -> dict[str, str]:
    """Versions of Python and of the scientific packages currently imported."""
    out = {"python": sys.version.split()[0], "chromatin_gnn": __version__}
    for name in _VERSIONED:
        mod = sys.modules.get(name)
        if mod is not None:
            out[name] = str(getattr(mod, "__version__", "unknown"))
    return out


def describe_input(path: str | os.PathLike) -> dict[str, Any]:
    """Path, size and modification time of one input file (no hashing: inputs can be GBs)."""
    p = Path(str(path).split("::", 1)[0])
    info: dict[str, Any] = {"path": str(path)}
    if p.exists():
        st = p.stat()
        info["bytes"] = st.st_size
        info["mtime"] = _dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc).isoformat()
    return info


def provenance(args: argparse.Namespace | dict | None = None, *,
               inputs: Iterable[str | os.PathLike] = (),
               seed: int | None = None, **extra: Any) -> dict[str, Any]:
    """Record how an output was made: command, parameters, versions, inputs."""
    params = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}
    rec: dict[str, Any] = {
        "tool": "chromatin-gnn",
        "version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
        "parameters": json.loads(json.dumps(params, default=_json_default)),
        "seed": seed,
        "packages": package_versions(),
        "inputs": [describe_input(p) for p in inputs],
    }
    rec.update(extra)
    return rec


def write_provenance(output: str | os.PathLike, prov: dict[str, Any]) -> Path:
    """Write ``<output>.provenance.json`` beside a CSV/NPY/PNG output."""
    return write_json(f"{output}.provenance.json", prov)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (when already imported) torch; return a NumPy Generator.

    Also asks torch for deterministic algorithms (warning where an operation has
    none), so that the same seed gives the same numbers on the CPU. Steps that use
    torch import it (through ``model``) before calling this; the others never pay
    torch's import (~2 s, ~250 MB). ``set_deterministic_debug_mode("warn")`` is
    ``use_deterministic_algorithms(True, warn_only=True)`` without the latter's
    import of ``torch._inductor`` (1.4 s a process; nothing here compiles).
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        torch.set_deterministic_debug_mode("warn")
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------
# chromosome names
# ----------------------------------------------------------------------------
def fmt_num(v: float | None, spec: str = ".3f") -> str:
    """``v`` formatted with ``spec``, or ``n/a`` when it is missing (``None``)."""
    return "n/a" if v is None else format(v, spec)


ASSETS = Path(__file__).resolve().parent / "assets"


def load_chromsizes(assembly: str) -> dict[str, int]:
    """Autosome + chrX sizes shipped in ``scripts/assets/chromsizes_<assembly>.tsv``."""
    df = pd.read_csv(ASSETS / f"chromsizes_{assembly}.tsv", sep="\t", comment="#")
    return dict(zip(df["chrom"], df["length"].astype(int)))


def load_centromeres(assembly: str) -> dict[str, tuple[int, int]]:
    """Centromere ``(start, end)`` per chromosome from ``scripts/assets/centromeres.tsv``."""
    df = pd.read_csv(ASSETS / "centromeres.tsv", sep="\t", comment="#")
    df = df[df["assembly"] == assembly]
    return {c: (int(s), int(e)) for c, s, e in zip(df["chrom"], df["start"], df["end"])}


def _strip_chr(name: str) -> str:
    return name[3:] if name.lower().startswith("chr") else name


def resolve_chrom(name: str, available: Sequence[str], *, where: str = "the input") -> str:
    """Return the entry of ``available`` that means ``name``.

    ``chr21``, ``21`` and ``CHR21`` all match ``chr21`` or ``21``. An exact match
    wins. Raises :class:`DataError` listing the names that exist.
    """
    avail = list(available)
    if name in avail:
        return name
    key = _strip_chr(name).lower()
    hits = [a for a in avail if _strip_chr(a).lower() == key]
    if len(hits) == 1:
        if hits[0] != name:
            log.info("chromosome %r is called %r in %s; using %r", name, hits[0], where, hits[0])
        return hits[0]
    shown = ", ".join(avail[:30]) + (f", ... ({len(avail)} in all)" if len(avail) > 30 else "")
    raise DataError(f"chromosome {name!r} not found in {where}; available: {shown}")


# ----------------------------------------------------------------------------
# .pt files and the graph format
# ----------------------------------------------------------------------------
def save_pt(path: str | os.PathLike, obj: dict[str, Any]) -> Path:
    """``torch.save`` a plain dict atomically."""
    import torch

    with atomic_output(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def load_pt(path: str | os.PathLike, *, expect: str, what: str = "file") -> dict[str, Any]:
    """Load a project ``.pt`` safely (``weights_only=True``) and check its format tag.

    Parameters
    ----------
    path
        File to read.
    expect
        Required value of the ``"format"`` key (:data:`GRAPH_FORMAT` or
        :data:`MODEL_FORMAT`).
    what
        Words for error messages ("graph", "model").
    """
    import pickle

    import torch

    p = require_file(path, what)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(f"{p} is not a safe chromatin-gnn {what}: it contains Python objects "
                        f"that weights_only loading refuses ({first[:120]}); "
                        f"regenerate it with this pipeline") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise DataError(f"{p} is not a readable .pt {what} ({' '.join(str(exc).split())[:120]}); "
                        f"regenerate it with this pipeline") from None
    if not isinstance(obj, dict) or obj.get("format") != expect:
        tag = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise DataError(f"{p} is not a chromatin-gnn {what} (format {tag!r}, expected "
                        f"{expect!r}); create it with the matching pipeline step")
    if obj.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise DataError(f"{p} was written by a newer chromatin-gnn (format_version "
                        f"{obj['format_version']}); upgrade this installation")
    return obj


_GRAPH_KEYS = ("x", "edge_index", "edge_weight", "mask", "chroms", "chrom_id",
               "start", "end", "feature_names", "resolution")


def validate_graph(g: dict[str, Any], *, source: str = "graph") -> dict[str, Any]:
    """Check a graph dict's keys, shapes and dtypes; raise :class:`DataError` naming the bad value."""
    import torch

    missing = [k for k in _GRAPH_KEYS if k not in g]
    if missing:
        raise DataError(f"{source} lacks {', '.join(missing)}; rebuild it with build_graph.py")
    n = g["x"].shape[0]
    if g["x"].dim() != 2:
        raise DataError(f"{source}: x must be 2-D [nodes, features], got shape {tuple(g['x'].shape)}")
    for k in ("mask", "chrom_id", "start", "end"):
        if g[k].shape[0] != n:
            raise DataError(f"{source}: {k} has {g[k].shape[0]} rows but x has {n}; "
                            "the file is inconsistent, rebuild it with build_graph.py")
    ei = g["edge_index"]
    if ei.dim() != 2 or ei.shape[0] != 2 or ei.dtype != torch.long:
        raise DataError(f"{source}: edge_index must be int64 [2, E], got {ei.dtype} {tuple(ei.shape)}")
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= n):
        raise DataError(f"{source}: edge_index refers to node {int(ei.max())} but there are {n} nodes")
    if g["edge_weight"].shape[0] != ei.shape[1]:
        raise DataError(f"{source}: {g['edge_weight'].shape[0]} edge weights for {ei.shape[1]} edges")
    if len(g["feature_names"]) != g["x"].shape[1]:
        raise DataError(f"{source}: {len(g['feature_names'])} feature names for "
                        f"{g['x'].shape[1]} feature columns")
    if not torch.isfinite(g["x"]).all():
        raise DataError(f"{source}: node features contain NaN or inf; rebuild with build_graph.py")
    return g


def load_graph(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate a graph written by ``build_graph.py``."""
    return validate_graph(load_pt(path, expect=GRAPH_FORMAT, what="graph"), source=str(path))


def graph_to_data(g: dict[str, Any]):
    """Turn a graph dict into a :class:`torch_geometric.data.Data`.

    ``Data`` carries ``x``, ``edge_index``, ``edge_weight`` (also as
    ``edge_attr``), ``mask``, ``pos`` (bin index along the genome, used for
    genomic distance) and ``chrom_id``.
    """
    from torch_geometric.data import Data
    import torch

    n = g["x"].shape[0]
    return Data(x=g["x"].float(), edge_index=g["edge_index"], edge_weight=g["edge_weight"].float(),
                edge_attr=g["edge_weight"].float().view(-1, 1), mask=g["mask"].bool(),
                pos=torch.arange(n), chrom_id=g["chrom_id"], num_nodes=n)


def bins_frame(g: dict[str, Any]) -> pd.DataFrame:
    """The graph's bin table: ``chrom, start, end`` in node order."""
    chroms = np.asarray(g["chroms"], dtype=object)
    return pd.DataFrame({"chrom": chroms[np.asarray(g["chrom_id"])],
                         "start": np.asarray(g["start"], dtype=np.int64),
                         "end": np.asarray(g["end"], dtype=np.int64)})


def check_rows(n_a: int, n_b: int, a: str, b: str) -> None:
    """Raise :class:`DataError` when two per-bin inputs have different row counts."""
    if n_a != n_b:
        raise DataError(f"{a} has {n_a} rows but {b} has {n_b}; they must describe the same bins "
                        "(same chromosome(s) and resolution) -- rebuild one of them to match")
