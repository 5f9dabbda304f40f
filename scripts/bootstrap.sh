# shellcheck shell=bash
# Sourced by run_pipeline.sh and tests/run.sh: one place that decides which
# Python runs the project. It uses the active interpreter when every pin in
# requirements.txt is already installed, else a local .venv built from them.
# After sourcing, $PY is the interpreter to use.
#
#   CHROMATIN_GNN_PYTHON=/path/to/python  force a specific interpreter
#   CHROMATIN_GNN_VENV=/path/to/venv      where to build the venv (default .venv)

_cg_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_cg_req="$_cg_root/requirements.txt"

_cg_satisfies() {  # $1 = python; exit 0 when every exact pin is installed
  "$1" - "$_cg_req" <<'PYEOF' 2>/dev/null
import sys
from importlib import metadata
bad = []
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        bad.append(f"{name} (missing)")
        continue
    if have.split("+", 1)[0] != want:   # torch reports 2.13.0+cpu
        bad.append(f"{name} {have} != {want}")
if bad:
    sys.stderr.write("unsatisfied pins: " + ", ".join(bad) + "\n")
    sys.exit(1)
PYEOF
}

_cg_bootstrap() {
  if [ -n "${CHROMATIN_GNN_PYTHON:-}" ]; then
    PY="$CHROMATIN_GNN_PYTHON"; return 0
  fi
  local venv="${CHROMATIN_GNN_VENV:-$_cg_root/.venv}"
  local active
  active="$(command -v python3 || command -v python || true)"
  if [ -n "$active" ] && _cg_satisfies "$active"; then
    PY="$active"; return 0
  fi
  if [ -x "$venv/bin/python" ] && _cg_satisfies "$venv/bin/python"; then
    PY="$venv/bin/python"; return 0
  fi
  echo "[bootstrap] installing pinned dependencies into $venv (first run only, ~1 min)" >&2
  if [ ! -x "$venv/bin/python" ]; then
    "${active:?no python3 found on PATH; install Python 3.11}" -m venv "$venv" || return 1
  fi
  "$venv/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >&2 || true
  # torch first and alone: its exact pin selects the CPU wheel, so nothing
  # later can pull a multi-GB CUDA build as a dependency.
  local torch_pin
  torch_pin="$(grep -E '^torch==' "$_cg_req")"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q "$torch_pin" >&2 || return 1
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$_cg_req" >&2 || return 1
  _cg_satisfies "$venv/bin/python" || { echo "[bootstrap] pins still unsatisfied in $venv" >&2; return 1; }
  PY="$venv/bin/python"
}

_cg_bootstrap || { echo "error: could not set up the Python environment; see messages above" >&2; exit 1; }
export PY
