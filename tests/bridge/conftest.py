"""Bridge tests need torch (CI installs it: .ci/run); without it they skip, saying why."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch", reason="the bridge needs torch: pip install torch==2.13.0")
pytest.importorskip("transformers", reason="the bridge needs transformers: pip install -e .[llm]")
torch.set_num_threads(min(2, torch.get_num_threads()))
