#!/bin/sh
# `make test` without make: the full install (scripts/install.sh dev: torch from PyTorch's
# CPU index unless TORCH_INDEX says otherwise), then the test suite (slow tests excluded;
# pass pytest's arguments after the script, e.g. sh scripts/test.sh -m "slow or not slow").
# Two pytest-xdist workers by default (SIMRL_TEST_WORKERS=N to change, 0 for one process):
# the suite's first numba compiles (the bandit and sequence step kernels, minutes of one
# core each) then run side by side instead of one after the other.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install.sh dev
. scripts/env.sh
exec "$PY" -m pytest -q -n "${SIMRL_TEST_WORKERS:-2}" "$@"
