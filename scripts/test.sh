#!/bin/sh
# `make test` without make: the full install (scripts/install.sh dev: torch from PyTorch's
# CPU index unless TORCH_INDEX says otherwise), then the test suite (slow tests excluded;
# pass pytest's arguments after the script, e.g. sh scripts/test.sh -m "slow or not slow").
set -eu
cd "$(dirname "$0")/.."
sh scripts/install.sh dev
. scripts/env.sh
exec "$PY" -m pytest -q "$@"
