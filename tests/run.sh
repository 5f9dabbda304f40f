#!/usr/bin/env bash
# The test command: sets up the environment (scripts/bootstrap.sh) and runs pytest.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -k compartments -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
exec "$PY" -m pytest "$@"
