#!/bin/sh
# Install simrl into the environment of scripts/env.sh (.venv by default).
#
#   sh scripts/install.sh        the simulator only: numpy, numba, scipy, pandas, pyarrow,
#                                matplotlib, statsmodels, rich (no torch, no transformers)
#   sh scripts/install.sh dev    everything the tests need: torch (a CPU build, below),
#                                then pip install -e ".[dev,llm]" (transformers, trl, ...)
#
# torch for `dev`: $TORCH (default torch==2.13.0, the version the bridge was measured with)
# from $TORCH_INDEX, by default PyTorch's CPU wheel index
# (https://download.pytorch.org/whl/cpu: a CPU build of a few hundred MB; the default
# package index would give a multi-GB CUDA build on Linux). TORCH_INDEX= takes torch from
# your configured package index instead (a GPU machine, or a local wheel).
set -eu
cd "$(dirname "$0")/.."
. scripts/env.sh
what="${1:-sim}"
case "$what" in
sim)
    "$PY" -m pip install -q -e .
    ;;
dev)
    TORCH="${TORCH:-torch==2.13.0}"
    TORCH_INDEX="${TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
    if [ -n "$TORCH_INDEX" ]; then
        "$PY" -m pip install -q "$TORCH" --index-url "$TORCH_INDEX"
    else
        "$PY" -m pip install -q "$TORCH"
    fi
    # torch is installed first and satisfies the llm extra's range: no other torch is pulled
    "$PY" -m pip install -q -e ".[dev,llm]"
    ;;
*)
    echo "usage: sh scripts/install.sh [sim|dev]" >&2
    exit 2
    ;;
esac
# An editable install leaves simrl's own modules uncompiled until first imported, and where
# PYTHONDONTWRITEBYTECODE is set (many containers and CI images) Python never writes their
# .pyc: every command then compiles its ~150 modules from source (~0.4 CPU s of a warm
# `simrl run`, docs/performance.md "The warm path"). Compiled once here, they are read
# (never written) on every later run, and recompiled in memory if a source changes.
"$PY" -m compileall -q simrl theory > /dev/null
