"""The bridge on CUDA (bf16 autocast, determinism flags). Marked `gpu`: skipped without CUDA."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from simrl.bridge import run_bridge
from tests.bridge.test_end_to_end import tiny

pytestmark = pytest.mark.gpu


def test_a_run_on_cuda_is_finite_and_deterministic():
    cfg = tiny(**{"bridge.device": "cuda", "run.audit": True, "reward.kind": "random"})
    one, two = run_bridge(cfg), run_bridge(cfg)
    assert one.meta["device"].startswith("cuda")
    assert one.final.loc[0, "failed_step"] == -1
    cols = [c for c in one.metrics.columns if not c.endswith("tokens_per_s")]
    assert np.isfinite(one.metrics.loc[1:, "entropy_mean"]).all()
    assert one.metrics[cols].equals(two.metrics[cols])


def test_cuda_and_cpu_agree_on_the_base_model():
    """Step 0 is the base model: bf16 autocast moves its exact first-token probability by
    bf16 rounding only (relative 2^-8 per op; 0.02 absolute allowed)."""
    gpu = run_bridge(tiny(**{"bridge.device": "cuda", "reward.kind": "frozen"}))
    cpu = run_bridge(tiny(**{"bridge.device": "cpu", "reward.kind": "frozen"}))
    a, b = gpu.metrics.loc[0, "mode_prob_code"], cpu.metrics.loc[0, "mode_prob_code"]
    assert abs(a - b) < 0.02


def test_bench_on_cuda(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "simrl", "bridge", "bench", "--device", "cuda", "--repeats", "1"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "bridge_rollout_tokens_per_s" in out.stdout
    assert torch.cuda.is_available()
