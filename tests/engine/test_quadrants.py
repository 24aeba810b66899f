"""run.audit_quadrants: the entropy change split into STEER's four quadrants (sign of A x
the token's log-probability above / below its mean -H_old under pi_old; theory/NOTES.md,
"STEER's four quadrants"), in the numpy reference engines (the numba engine against them:
tests/engine/test_controller_parity.py)."""

from __future__ import annotations

import numpy as np
import pytest
from simrl.theory import entropy, log_softmax

from simrl.config import Config
from simrl.engine.batch import run_batch
from simrl.engine.dh_breakdown import QUADRANT_METRICS, QUADRANTS, BreakdownSums
from simrl.engine.reference import TokenTable, token_gradient
from simrl.engine.result import RunSpec
from simrl.errors import ConfigError


def cfg(kind="bandit", **over) -> Config:
    base = {
        "task.kind": kind, "run.steps": 5, "run.seeds": 1, "run.eval_every": 1,
        "run.audit": True, "run.audit_quadrants": True, "optim.lr": 0.5,
    }  # fmt: skip
    return Config.from_dict({}, {**base, **over})


@pytest.mark.parametrize("kind", ["bandit", "sequence"])
@pytest.mark.parametrize("extra", [{}, {"algo.epochs": 2, "algo.minibatches": 2}])
def test_first_order_quadrants_sum_to_the_one_token_total(kind, extra):
    """The four first-order terms sum to dH_token_sum (the one-token changes are additive),
    and the residual is dH_exact minus that sum, at every recorded step."""
    res = run_batch([RunSpec(cfg(kind, **extra), 0)], engine="reference")
    n = res.names
    m = res.metrics[0, 1:]
    q = sum(m[:, n.index(f"dH_q_{x}")] for x in QUADRANTS)
    np.testing.assert_allclose(q, m[:, n.index("dH_token_sum")], rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        m[:, n.index("dH_q_residual")], m[:, n.index("dH_exact")] - q, rtol=0, atol=1e-15
    )
    assert np.all(np.isfinite(m[:, [n.index(c) for c in QUADRANT_METRICS]]))


def test_quadrant_displacements_sum_to_the_update_and_assignment():
    """One update with no KL or entropy term: the four quadrants' sgd displacements sum to
    -lr times the gradient; each token lands in the quadrant its A and log pi_old(a) + H
    name (hand-checked tokens)."""
    c = cfg(**{"optim.lr": 0.7})
    rng = np.random.default_rng(0)
    S, K = 3, 4
    z = rng.normal(size=(S, K))
    logp = log_softmax(z)
    h = entropy(z)
    state = np.array([0, 0, 1, 2, 2, 1])
    token = np.array([int(np.argmax(logp[0])), int(np.argmin(logp[0])), 1, 0, 3, 2])
    adv = np.array([1.0, 1.0, -0.5, -2.0, 0.7, 0.0])
    n = state.size
    table = TokenTable(
        state=state, token=token, adv=adv, weight=np.full(n, 1 / n), keys=None,
        seq=np.arange(n), pos=np.zeros(n, dtype=int), length=np.ones(n, dtype=int),
    )  # fmt: skip
    sums = BreakdownSums.zeros(S, K, quadrants=True)
    grad, *_ = token_gradient(c, z, z.copy(), logp, h, table, sums)
    np.testing.assert_allclose(sums.quadrant_dz.sum(axis=0), -0.7 * grad, rtol=0, atol=1e-14)
    likely = logp[state, token] + h[state] > 0
    want = 2 * (adv <= 0) + ~likely
    assert want[0] == 0 and want[1] == 1  # the argmax is likely, the argmin is not
    for k in range(4):
        moved_k = np.any(sums.quadrant_dz[k] != 0, axis=1)
        # an A = 0 token (the last) is in quadrant 2 or 3 but has no policy term: no step
        assert set(np.flatnonzero(moved_k)) == set(state[(want == k) & (adv != 0)]), k


@pytest.mark.parametrize(
    "over",
    [
        {"run.audit": False},
        {"optim.kind": "adam"},
    ],
)
def test_refused_combinations_are_one_line(over):
    with pytest.raises(ConfigError, match=r"^run\.audit_quadrants"):
        cfg(**over)


def test_default_adds_no_column():
    """(The numba engine's split: tests/engine/test_controller_parity.py.)"""
    plain = run_batch([RunSpec(cfg(**{"run.audit_quadrants": False}), 0)], engine="reference")
    assert not set(QUADRANT_METRICS) & set(plain.names)
    split = run_batch([RunSpec(cfg(), 0)], engine="reference")
    shared = [split.names.index(x) for x in plain.names]
    np.testing.assert_array_equal(split.metrics[..., shared], plain.metrics)
