# The two commands of README.md. Both work on a fresh machine with Python >= 3.11.
PYTHON ?= python3
export HF_HUB_OFFLINE := 1

.PHONY: install demo test test-all bench lint

install:
	$(PYTHON) -m pip install -q -e ".[dev]"

demo: install
	$(PYTHON) -m simrl run simrl/examples/quickstart.toml --out runs/quickstart

test: install
	$(PYTHON) -m pytest -q

test-all: install
	$(PYTHON) -m pytest -q -m "slow or not slow"

bench: install
	$(PYTHON) -m simrl bench

lint:
	ruff check . && ruff format --check .
