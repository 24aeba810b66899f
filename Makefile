# The two commands of README.md, on any Linux or macOS with Python >= 3.11. Each target is
# a script in scripts/ (so make is optional: `sh scripts/demo.sh`, `sh scripts/test.sh`).
# They install into a virtual environment, .venv, created when missing; VENV= installs
# into $(PYTHON) as it is instead (your own venv or conda env, or CI). scripts/env.sh says more.
PYTHON ?= python3
VENV ?= .venv
# torch for install/test: a CPU build from PyTorch's CPU wheel index by default;
# TORCH_INDEX= takes it from your configured package index (scripts/install.sh)
TORCH ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
DEMO ?= runs/demo
export PYTHON VENV TORCH TORCH_INDEX DEMO
export HF_HUB_OFFLINE := 1

.PHONY: install install-sim demo test test-all bench lint

# the simulator only (numpy, numba, scipy, pandas, pyarrow, matplotlib, statsmodels, rich)
install-sim:
	sh scripts/install.sh sim

# everything the tests need: torch first (see TORCH_INDEX), then -e ".[dev,llm]"
install:
	sh scripts/install.sh dev

# A small pre-registered study end to end (the decomposition's demo), in $(DEMO):
# simulator dependencies only, no torch
demo:
	sh scripts/demo.sh

test:
	sh scripts/test.sh

test-all:
	sh scripts/test.sh -m "slow or not slow"

bench: install-sim
	. scripts/env.sh && "$$PY" -m simrl bench

lint:
	ruff check . && ruff format --check .
