#!/usr/bin/env python
"""Fetch the seed's ENCODE ChIP-seq bigWigs that are missing from ``data/raw``.

The accessions are the ones the original study used (fold change over control,
GRCh38). Each file is streamed to a temporary name and renamed into place only
when complete, so an interrupted download never leaves a file that
``build_graph.py`` would trust. Without network access the step stops with a
message listing every URL and the path where the file should be put by hand.

The base URL can be overridden (``--base-url`` or ``CHROMATIN_GNN_ENCODE_URL``),
e.g. to a local mirror or, in tests, a ``file://`` folder or a server on
127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import common  # first: one line naming the venv when a dependency is missing  # isort: skip
from tqdm import tqdm


log = logging.getLogger("chromatin_gnn.download")

DEFAULT_BASE_URL = "https://www.encodeproject.org/files"

#: (cell line, mark) -> ENCODE file accession, from the seed's Dataset table.
ENCODE_BIGWIGS: dict[tuple[str, str], str] = {
    ("GM12878", "CTCF"): "ENCFF741BAQ",
    ("GM12878", "H3K27me3"): "ENCFF736CNQ",
    ("IMR90", "CTCF"): "ENCFF770DUD",
    ("IMR90", "H3K27me3"): "ENCFF158HZL",
}


def encode_url(accession: str, *, base_url: str = DEFAULT_BASE_URL) -> str:
    """Download URL of one ENCODE bigWig (``{base}/{acc}/@@download/{acc}.bigWig``)."""
    return f"{base_url.rstrip('/')}/{accession}/@@download/{accession}.bigWig"


def planned_downloads(cells: list[str], marks: list[str], raw_dir: Path, *,
                      base_url: str = DEFAULT_BASE_URL) -> list[tuple[str, Path]]:
    """``(url, destination)`` for every requested bigWig not yet in ``raw_dir``.

    Raises :class:`common.DataError` for a (cell, mark) pair with no known accession.
    """
    todo = []
    for cell in cells:
        for mark in marks:
            dest = raw_dir / f"{cell}_{mark}.bw"
            if dest.exists():
                continue
            acc = ENCODE_BIGWIGS.get((cell, mark))
            if acc is None:
                known = ", ".join(f"{c}/{m}" for c, m in ENCODE_BIGWIGS)
                raise common.DataError(
                    f"{dest} is missing and no ENCODE accession is known for {cell} {mark} "
                    f"(known: {known}); put the bigWig at {dest} yourself")
            todo.append((encode_url(acc, base_url=base_url), dest))
    return todo


def fetch(url: str, dest: Path, *, timeout: float = 60.0) -> Path:
    """Stream ``url`` to ``dest`` atomically, with a progress bar."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - URL is ours
        total = int(resp.headers.get("Content-Length") or 0) or None
        with common.atomic_output(dest) as tmp, open(tmp, "wb") as fh, \
                tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                     disable=common.progress_disabled()) as bar:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
                bar.update(len(chunk))
    return dest


def download_missing(todo: list[tuple[str, Path]], *, timeout: float = 60.0) -> list[Path]:
    """Fetch every planned file; on a network failure raise one DataError listing them all."""
    done = []
    for url, dest in todo:
        try:
            log.info("downloading %s -> %s", url, dest)
            done.append(fetch(url, dest, timeout=timeout))
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            if isinstance(exc, (PermissionError, IsADirectoryError)):
                raise
            reason = getattr(exc, "reason", exc)
            listing = "; ".join(f"{u} -> {d}" for u, d in todo if not d.exists())
            raise common.DataError(
                f"cannot download {url} ({reason}); no network? Download these files by hand "
                f"and place them at the paths shown, then re-run: {listing}") from None
    return done


def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--raw-dir", type=Path, default=Path("data/raw"),
                   help="folder that holds (and receives) the bigWigs")
    p.add_argument("--cells", nargs="+", default=["GM12878", "IMR90"])
    p.add_argument("--marks", nargs="+", default=["CTCF", "H3K27me3"])
    p.add_argument("--base-url", default=os.environ.get("CHROMATIN_GNN_ENCODE_URL", DEFAULT_BASE_URL),
                   help="ENCODE files endpoint (env CHROMATIN_GNN_ENCODE_URL); "
                        "file:// and http://127.0.0.1 mirrors work too")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per connection")
    p.add_argument("--dry-run", action="store_true", help="list what would be fetched and exit")
    return p


def _run(args) -> None:
    common.ensure_writable_dir(args.raw_dir)
    todo = planned_downloads(args.cells, args.marks, args.raw_dir, base_url=args.base_url)
    if not todo:
        log.info("all bigWigs present in %s", args.raw_dir)
        return
    if args.dry_run:
        for url, dest in todo:
            sys.stdout.write(f"{url}\t{dest}\n")
        return
    download_missing(todo, timeout=args.timeout)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
