"""Shared helpers of the benchmark suite: settings, measuring, datasets, Markdown.

* :class:`Config` -- what one ``benchmarks/run.py`` invocation measures and where.
* :class:`Section` -- what each section returns: Markdown body, headline rows, raw numbers.
* :func:`measure` -- median wall time and peak RSS of a command run ``repeat`` times,
  each run in a child process under ``benchmarks/rusage.py``.
* :func:`time_call` -- median wall time of an in-process call after a warm-up call, GC paused
  (the same-run ratios).
* :func:`default_data` -- the default simulated dataset (chr21 @ 25 kb), made once.
* :func:`machine_info`, :func:`versions` -- what RESULTS.md records about the run.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SCRIPTS = ROOT / "scripts"
REAL = ROOT.parent / "shared" / "data" / "real"
#: Where ``--with-cooltools`` installs cooltools (never a project dependency).
SITE = BENCH / "_work" / "site"
for _p in (SCRIPTS, BENCH):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import common  # noqa: E402
from compare_embeddings import md_table  # noqa: E402

log = logging.getLogger("chromatin_gnn.bench")

#: Flags for simulate_data.py: the default dataset is simulate_data's own default.
QUICK_SIM_ARGS = ("--length", "12000000", "--pericentromere-bp", "2000000", "--n-b2a", "25",
                  "--n-a2b", "18")
CELLS = ("GM12878", "IMR90")
MARKS = ("CTCF", "H3K27me3")
COOLTOOLS_PIP = ("cooltools==0.7.1", "bioframe==0.8.0", "scikit-image", "lazy_loader", "imageio",
                 "tifffile", "multiprocess", "dill")
PACKAGES = ("numpy", "scipy", "pandas", "torch", "torch_geometric", "cooler", "pyBigWig", "h5py",
            "scikit-learn", "umap-learn", "numba", "matplotlib", "cooltools", "bioframe")


@dataclass
class Config:
    """Settings of one run of the suite."""

    work: Path
    #: Where figures go (beside RESULTS.md).
    figure_dir: Path = BENCH
    quick: bool = False
    repeat: int = 3
    #: A command whose first run takes longer than ``budget_s / repeat`` is run once.
    budget_s: float = 60.0
    real: Path = REAL
    with_cooltools: bool = False
    with_genome: bool = False
    sizes: Sequence[int] = (500, 1000, 2000, 5000, 10000, 20000)
    resolutions: Sequence[int] = (100_000, 50_000, 25_000, 10_000)
    scaling_epochs: int = 3
    #: Runs per scaling point: one by default, to keep the suite near 20 minutes on 2 cores
    #: (the fitted exponents pool the points; ``--scaling-repeat 3`` for medians).
    scaling_repeat: int = 1

    @property
    def sim_args(self) -> list[str]:
        return list(QUICK_SIM_ARGS) if self.quick else []

    @property
    def run1(self) -> Path:
        """The first pipeline run on the default data (section 1's; reused by later sections)."""
        return self.work / "stages" / "run1"

    def dir(self, *parts: str) -> Path:
        """``work/<parts>``, created."""
        d = self.work.joinpath(*parts)
        d.mkdir(parents=True, exist_ok=True)
        return d


@dataclass
class Section:
    """One section of RESULTS.md."""

    key: str
    title: str
    body: list[str] = field(default_factory=list)
    #: ``[what, value, baseline or note]`` rows for the headline table.
    headline: list[list[str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, *paragraphs: str) -> None:
        self.body.extend(paragraphs)

    def table(self, header: list[str], rows: list[list]) -> None:
        self.body.append(md_table(header, rows))

    def markdown(self) -> str:
        return f"## {self.title}\n\n" + "\n\n".join(self.body) + "\n"


# ----------------------------------------------------------------------------
# measuring
# ----------------------------------------------------------------------------
def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of measured children: headless plotting, unbuffered logs."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def script(name: str, *args: Any) -> list[str]:
    """``python scripts/<name>.py ARGS`` with this interpreter."""
    return [sys.executable, str(SCRIPTS / f"{name}.py"), *map(str, args)]


def run_measured(cmd: Sequence[Any], *, log_file: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``cmd`` once under ``rusage.py`` (output to ``log_file``); its rusage record.

    Raises
    ------
    RuntimeError
        The command failed; the message holds the end of its log.
    """
    rec_file = log_file.with_name(log_file.name + ".rusage.json")
    with open(log_file, "w") as fh:
        rc = subprocess.call(rusage_argv(cmd, rec_file), cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                             env=child_env(env))
    if rc != 0:
        raise failure(f"{' '.join(map(str, cmd[:4]))} ...", rc, log_file)
    return json.loads(rec_file.read_text())


def rusage_argv(cmd: Sequence[Any], rec_file: Path) -> list[str]:
    """``cmd`` wrapped in ``rusage.py``, which writes its rusage record to ``rec_file``."""
    return [sys.executable, str(BENCH / "rusage.py"), "--json", str(rec_file), "--", *map(str, cmd)]


def failure(what: str, rc: int, log_file: Path) -> RuntimeError:
    """The error for a failed measured command: what, its exit status and the end of its log."""
    tail = "\n    ".join(log_file.read_text(errors="replace").splitlines()[-8:])
    return RuntimeError(f"{what} failed ({rc}); {log_file}:\n    {tail}")


def summarise(records: Sequence[dict]) -> dict:
    """Median (and range) of wall time and peak RSS over repeated runs."""
    walls = [r["wall_s"] for r in records]
    return {"n": len(records), "wall_s": statistics.median(walls), "wall_min": min(walls),
            "wall_max": max(walls), "walls": walls,
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in records)}


def measure(cmd: Sequence[Any], *, cfg: Config, log_file: Path, env: dict[str, str] | None = None,
            before: Callable[[], None] | None = None, repeat: int | None = None) -> dict:
    """:func:`summarise` of ``repeat`` (default ``cfg.repeat``) runs of ``cmd``, just one when a
    run exceeds ``cfg.budget_s / repeat``; ``before()`` runs ahead of each (e.g. to clear outputs)."""
    repeat = repeat or cfg.repeat
    records: list[dict] = []
    while True:
        if before is not None:
            before()
        records.append(run_measured(cmd, log_file=log_file, env=env))
        if len(records) >= repeat or records[0]["wall_s"] * repeat > cfg.budget_s:
            return summarise(records)


def time_call(fn: Callable[[], Any], *, repeat: int, warmup: int = 1) -> tuple[dict, Any]:
    """Median wall time of ``fn()`` over ``repeat`` calls in this process, and its last result.

    As :mod:`timeit` does: ``warmup`` untimed calls first (file indexes read, caches and
    JIT filled -- their time is kept as ``first``), and the garbage collector paused
    during each timed call, so a collection triggered by earlier allocations is not
    charged to whichever call happens to be running.
    """
    times, result, first = [], None, None
    for _ in range(warmup):
        t0 = time.perf_counter()
        result = fn()
        first = time.perf_counter() - t0 if first is None else first
    for _ in range(repeat):
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        finally:
            if gc_was_on:
                gc.enable()
    return {"n": repeat, "s": statistics.median(times), "min": min(times), "max": max(times),
            "first": first}, result


def loglog_fit(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """``(k, log a)`` of ``y = a · x^k`` by least squares on logs over the positive points
    (NaN with fewer than two)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan"), float("nan")
    k, log_a = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(k), float(log_a)


def speedup_row(what: str, fast: dict, slow: dict, size: str) -> list:
    """A table row: what, size, fast time, slow time, ratio slow / fast."""
    return [what, size, ms(fast["s"]), ms(slow["s"]), ratio(slow["s"] / fast["s"])]


# ----------------------------------------------------------------------------
# datasets
# ----------------------------------------------------------------------------
def simulate(out: Path, args: Sequence[str], *, log_dir: Path) -> tuple[Path, dict]:
    """``simulate_data.py --out out ARGS`` unless ``out`` already holds that simulation.

    Returns the folder and the rusage record of the run (empty when reused).
    """
    marker = out / "bench_args.json"
    want = json.dumps(list(args))
    if (out / "truth.tsv").is_file() and marker.is_file() and marker.read_text() == want:
        return out, {}
    shutil.rmtree(out, ignore_errors=True)
    rec = run_measured(script("simulate_data", "--out", out, *args),
                       log_file=log_dir / f"simulate_{out.name}.log")
    marker.write_text(want)
    return out, rec


def finished_run1(cfg: Config) -> dict | None:
    """The settings (``bench_args.json``) of the finished pipeline run in :attr:`Config.run1`,
    or None when there is none."""
    marker = cfg.run1 / "bench_args.json"
    if (cfg.run1 / "results" / "report.md").is_file() and marker.is_file():
        return json.loads(marker.read_text())
    return None


def default_data(cfg: Config) -> Path:
    """The default simulated dataset: a finished pipeline run's raw folder, else simulated once."""
    if (finished_run1(cfg) or {}).get("sim_args") == cfg.sim_args:
        return cfg.run1 / "raw"
    log.info("simulating the default dataset into %s", cfg.work / "data")
    return simulate(cfg.dir("data") / "default", [*cfg.sim_args, "--seed", "0"], log_dir=cfg.dir("logs"))[0]


def use_cooltools(*, install: bool):
    """``cooltools.api.eigdecomp`` from :data:`SITE` (installing it there with ``install``), or None."""
    if install and not (SITE / "cooltools").is_dir():
        log.info("installing cooltools into %s (benchmark only; never a project dependency)", SITE)
        rc = subprocess.call([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              "--target", str(SITE), "--no-deps", *COOLTOOLS_PIP])
        if rc != 0:
            raise common.DataError(f"pip could not install cooltools into {SITE}; check the network "
                                   "or run without --with-cooltools")
    if (SITE / "cooltools").is_dir() and str(SITE) not in sys.path:
        sys.path.insert(0, str(SITE))
    try:
        from cooltools.api import eigdecomp
    except ImportError:
        return None
    return eigdecomp


# ----------------------------------------------------------------------------
# the machine
# ----------------------------------------------------------------------------
def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """Cores, RAM, CPU model, OS, load average and git revision of this run."""
    mem = _proc_field("/proc/meminfo", "MemTotal")
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        rev = "unknown"
    return {"cores": os.cpu_count(), "cores_usable": len(os.sched_getaffinity(0)),
            "ram_gib": round(int(mem.split()[0]) / 2**20, 1) if mem else None,
            "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
            "os": platform.platform(), "python": platform.python_version(),
            "load_avg": [round(x, 2) for x in os.getloadavg()], "git": rev}


def versions() -> dict[str, str]:
    """Installed versions of the packages the pipeline uses (cooltools only when present)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


# ----------------------------------------------------------------------------
# formatting
# ----------------------------------------------------------------------------
def secs(x: float | None) -> str:
    """Seconds, 3 significant digits."""
    return "n/a" if x is None else f"{x:.3g}" if x < 100 else f"{x:.0f}"


def ms(x: float) -> str:
    """Seconds shown in milliseconds."""
    return f"{x * 1e3:.3g} ms" if x < 1 else f"{x:.3g} s"


def mb(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def ratio(x: float) -> str:
    return f"{x:.3g}×"


def num(x: float | None, fmt: str = ".3f") -> str:
    return "n/a" if x is None or x != x else format(x, fmt)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def spread(m: dict) -> str:
    """``median (min–max, n=N)`` of a :func:`measure` result."""
    if m["n"] == 1:
        return f"{secs(m['wall_s'])} (n=1)"
    return f"{secs(m['wall_s'])} ({secs(m['wall_min'])}–{secs(m['wall_max'])}, n={m['n']})"
