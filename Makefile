# The two commands of README.md. Both work on a fresh machine with Python >= 3.11.
PYTHON ?= python3
export HF_HUB_OFFLINE := 1

.PHONY: install demo test test-all bench lint

# torch first, pinned: a local CPU wheel here (a plain torch requirement pulls a CUDA build);
# it satisfies the llm extra's range, so the second install pulls no other torch
install:
	$(PYTHON) -m pip install -q torch==2.13.0
	$(PYTHON) -m pip install -q -e ".[dev,llm]"

# A small pre-registered study end to end: the demo spec is copied to $(DEMO) (afresh when
# it changed), registered there if it is not yet, run (resuming) and analysed; its report
# carries demo_discussion.md (why its sequence hypothesis H4a does not come out at that size).
DEMO ?= runs/demo
DEMO_SPEC := experiments/decomposition/demo.toml

demo: install
	@mkdir -p $(DEMO)
	@cmp -s $(DEMO_SPEC) $(DEMO)/prereg.toml || { rm -rf $(DEMO) && mkdir -p $(DEMO) && cp $(DEMO_SPEC) $(DEMO)/prereg.toml; }
	@test -f $(DEMO)/prereg.lock.json || $(PYTHON) -m simrl prereg register $(DEMO)
	$(PYTHON) -m simrl prereg run $(DEMO)
	@cp experiments/decomposition/demo_discussion.md $(DEMO)/discussion.md
	$(PYTHON) -m simrl prereg analyze $(DEMO)

test: install
	$(PYTHON) -m pytest -q

test-all: install
	$(PYTHON) -m pytest -q -m "slow or not slow"

bench: install
	$(PYTHON) -m simrl bench

lint:
	ruff check . && ruff format --check .
