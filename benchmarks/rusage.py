"""Run one command as a child process; record its wall time and peak RSS.

    python benchmarks/rusage.py --json OUT.json -- CMD [ARG ...]
    python benchmarks/rusage.py --append LOG.jsonl -- CMD [ARG ...]

CMD is this wrapper's only child, so after it exits
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is CMD's peak resident set size (or that
of its largest descendant, for a shell script). The record holds ``argv``, ``rc``,
``wall_s``, ``peak_rss_mb``, ``user_s``, ``sys_s`` and ``start`` (epoch seconds).
Exits with CMD's exit code. Standard library only, so the wrapper itself costs a
few tens of milliseconds and a few MB (never counted: only children are).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def run(cmd: list[str]) -> dict:
    """Run ``cmd`` to completion in a child process and return its record."""
    start = time.time()
    t0 = time.perf_counter()
    rc = subprocess.call(cmd)
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"argv": cmd, "rc": rc, "wall_s": wall, "peak_rss_mb": ru.ru_maxrss / 1024,
            "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "start": start}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--json", help="write the record to this file (replaced atomically)")
    dest.add_argument("--append", help="append the record as one line to this JSONL file")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG ...]")
    args = p.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        p.error("no command given after --")
    rec = run(cmd)
    line = json.dumps(rec)
    if args.append:
        fd = os.open(args.append, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    else:
        tmp = f"{args.json}.tmp-{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(line + "\n")
        os.replace(tmp, args.json)
    return rec["rc"]


if __name__ == "__main__":
    sys.exit(main())
