"""Bridge tests need torch (CI installs it: .ci/run); without it they skip, saying why."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch", reason="the bridge needs torch: pip install torch==2.13.0")
pytest.importorskip("transformers", reason="the bridge needs transformers: pip install -e .[llm]")
torch.set_num_threads(1)  # the machine is shared: more threads contend


def pytest_collection_modifyitems(config, items):
    """`gpu` tests skip without a CUDA device; `slow` tests run only when -m selects
    markers (pyproject: excluded by default)."""
    if not torch.cuda.is_available():
        no_gpu = pytest.mark.skip(reason="gpu: needs a CUDA device (none here)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(no_gpu)
    if config.getoption("markexpr"):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
