"""The bridge's speed paths keep the arithmetic: the skipped division, the finite check, and
the bench's CPU-second rates."""

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from simrl.bridge.rollout import tempered  # noqa: E402
from simrl.bridge.step import params_finite  # noqa: E402


def test_tempered_is_the_division_bit_for_bit():
    z = torch.randn(3, 4, 50, dtype=torch.float32) * 7
    for t in (1.0, 0.7, 1.3):
        assert torch.equal(tempered(z, t), z.float() / t)
    assert tempered(z, 1.0).dtype == torch.float32
    assert tempered(z.double(), 0.5).dtype == torch.float32


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_params_finite_finds_one_bad_value(bad):
    ps = [torch.randn(5, 7), torch.randn(300)]
    assert params_finite(ps)
    ps[1][123] = bad
    assert not params_finite(ps)
    assert params_finite([])


def test_params_finite_does_not_overflow_on_large_finite_values():
    p = torch.full((1000,), torch.finfo(torch.float32).max)
    assert params_finite([p])  # a float32 sum would be inf


def test_bench_reports_cpu_second_rates():
    from simrl.bridge.bench import bench_bridge, bench_config

    out = bench_bridge(bench_config("", 2, 4, 8, 1, "cpu"), 1)
    for k in (
        "bridge_step_cpu_seconds",
        "bridge_rollout_tokens_per_cpu_s",
        "bridge_update_tokens_per_cpu_s",
    ):
        assert math.isfinite(out[k]) and out[k] > 0, k
    assert out["load_average_1min"] >= 0
