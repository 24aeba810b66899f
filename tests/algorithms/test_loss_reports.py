"""Each policy loss's `reports` capability flag (which token-flag metrics it sets) against
what its numpy form actually flags: an undeclared flag is never set, on random minibatches
with ratios far on every side of every band; a declared one is set on some of them (with
the knobs that enable it: dual clip 3, an off-policy mask threshold). The summary of
`simrl run` shows only the declared ones (simrl/summary.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simrl.algorithms.policy_loss import REPORTABLE
from simrl.algorithms.tokens import bandit_positions
from simrl.config import AlgoConfig
from simrl.losses import POLICY_LOSSES, TokenBatch

FLAGS = dict(zip(REPORTABLE, ("clip_low", "clip_high", "clip_dual", "selected"), strict=True))

PARAMS = AlgoConfig(
    clip_low=0.2,
    clip_high=0.28,
    dual_clip=3.0,
    clip_cov_ratio=0.25,
    clip_cov_lb=-10.0,
    clip_cov_ub=10.0,
    opsm_threshold=0.1,
    dppo_ratio_cap=2.0,
)


def batches(n: int = 40, size: int = 32):
    rng = np.random.default_rng(0)
    for _ in range(n):
        pi_old = rng.uniform(0.02, 0.9, size)
        ratio = np.exp(rng.normal(0.0, 1.0, size))  # 0.1 .. 10: every side of every band
        p_new = np.minimum(pi_old * ratio, 0.999)
        adv = rng.normal(0.0, 1.0, size)
        b = TokenBatch(
            np.log(p_new), np.log(pi_old), adv, rng.uniform(0.1, 2.0, size),
            rng.random(size), *bandit_positions(0, size),
        )  # fmt: skip
        yield b


@pytest.mark.parametrize("name", POLICY_LOSSES.names)
def test_reports_match_the_flags_the_loss_sets(name):
    entry = POLICY_LOSSES[name]
    assert set(entry.reports) <= set(REPORTABLE)
    p = PARAMS if name != "cispo_trl" else dataclasses.replace(PARAMS, clip_high=5.0)
    seen = dict.fromkeys(REPORTABLE, False)
    for b in batches():
        out = entry.fn(b, p)
        for metric, attr in FLAGS.items():
            if np.asarray(getattr(out, attr)).any():
                seen[metric] = True
    set_metrics = {m for m, s in seen.items() if s}
    assert set_metrics == set(entry.reports), (
        f"{name}: declares {sorted(entry.reports)}, its numpy form sets {sorted(set_metrics)}"
    )


def test_an_unknown_report_name_is_refused():
    from simrl.algorithms.policy_loss import PolicyLoss, register

    e = POLICY_LOSSES["pg"]
    bad = PolicyLoss(
        name="toy_reports", doc="", source="", numpy=e.numpy, numba=e.numba, torch=e.torch,
        reports=("clip_frac",),
    )  # fmt: skip
    with pytest.raises(ValueError, match="clip_frac"):
        register(bad)
