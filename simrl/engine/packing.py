"""Per-run parameters packed into arrays for the numba kernels: floats (R, NF), ints
(R, NI), and the policy loss's and the advantage estimator's own parameters, (R, LP) and
(R, AP), in the order their modules declare (`params`).

Column indices are literal constants in kernels/codes.py, in this file's order (numba
freezes them at compile time; kernels/__init__.py fingerprints both files, so a change
drops the kernel cache); `check_codes` ties the registry codes the kernels switch on to
the registries themselves. The policy loss and the advantage estimator have no code: the
kernels call the run's compiled forms (policy_loss.compiled, advantage.compiled).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simrl.aggregation import AGGREGATIONS
from simrl.algorithms.advantage import params_width as advantage_params_width
from simrl.algorithms.advantages import ADVANTAGES
from simrl.algorithms.losses import POLICY_LOSSES
from simrl.algorithms.policy_loss import params_width
from simrl.config import DYNAMIC_SAMPLING, Config
from simrl.engine.streams import StreamLayout
from simrl.kl import KL_ESTIMATORS
from simrl.optim import OPTIMIZERS
from simrl.rewards import REWARDS, expectation_weights

FLOAT_FIELDS = (
    ("optim", "lr"),
    ("reward", "p"),
    ("reward", "flip"),
    ("algo", "kl_coef"),
    ("algo", "entropy_coef"),
    ("optim", "beta1"),
    ("optim", "beta2"),
    ("optim", "eps"),
)

#: float columns after FLOAT_FIELDS that are derived from the config, not fields of it:
#: the reward's expectation weights (rewards.EXPECTATION_WEIGHTS)
DERIVED_FLOATS = ("expect_w_c", "expect_w_nc", "expect_w_l", "expect_w_f", "expect_w_1")

INT_FIELDS = (
    "reward",
    "agg",
    "kl_kind",
    "optim",
    "dynamic_sampling",
    "group_size",
    "prompts_per_step",
    "epochs",
    "minibatches",
    "ref_reset_every",
    "exact",
    "loss_reads_entropy",
    "rounds",
    "L_sel",
    "L_sample",
    "L_reward",
    "L_tie",
    "L_cc",
    "L_total",
    "audit",
    "train_prompts",
)

#: the codes fast.py hard-codes, by registry
EXPECTED_CODES = {
    "reward": (
        REWARDS,
        ("true", "random", "incorrect", "format", "self_consistency", "noisy", "frozen"),
    ),
    "agg": (
        AGGREGATIONS,
        ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"),
    ),
    "kl": (KL_ESTIMATORS, ("k1", "k2", "k3", "exact_reverse", "exact_forward")),
    "optim": (OPTIMIZERS, ("sgd", "adam", "npg")),
}


def check_codes() -> None:
    """The kernels switch on registry codes; a registry that changed must change fast.py too."""
    for concept, (registry, names) in EXPECTED_CODES.items():
        if registry.names != names:
            raise RuntimeError(
                f"fast.py's {concept} codes {names} differ from the registry {registry.names}"
            )


def pack(
    configs: Sequence[Config], layouts: Sequence[StreamLayout]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(fp, ip, lp, ap): FLOAT_FIELDS (and DERIVED_FLOATS), INT_FIELDS, and each run's
    policy-loss and advantage-estimator parameters, per run."""
    fp = np.array(
        [
            [float(getattr(getattr(c, sec), name)) for sec, name in FLOAT_FIELDS]
            + list(expectation_weights(c.reward.kind, p=c.reward.p, flip=c.reward.flip))
            for c in configs
        ],
        dtype=np.float64,
    ).reshape(len(configs), len(FLOAT_FIELDS) + len(DERIVED_FLOATS))
    ip = np.array([_ints(c, lay) for c, lay in zip(configs, layouts, strict=True)], dtype=np.int64)
    lp = np.zeros((len(configs), params_width()))
    for r, c in enumerate(configs):
        row = POLICY_LOSSES[c.algo.loss].pack(c.algo)
        lp[r, : len(row)] = row
    ap = np.zeros((len(configs), advantage_params_width()))
    for r, c in enumerate(configs):
        row = ADVANTAGES[c.algo.advantage].pack(c.algo)
        ap[r, : len(row)] = row
    return fp, ip.reshape(len(configs), len(INT_FIELDS)), lp, ap


def _ints(c: Config, lay: StreamLayout) -> list[int]:
    a = c.algo
    values = {
        "reward": REWARDS.code(c.reward.kind),
        "agg": AGGREGATIONS.code(a.agg),
        "kl_kind": KL_ESTIMATORS.code(a.kl_kind),
        "optim": OPTIMIZERS.code(c.optim.kind),
        "dynamic_sampling": DYNAMIC_SAMPLING.index(a.dynamic_sampling),
        "group_size": a.group_size,
        "prompts_per_step": c.prompts_per_step,
        "epochs": a.epochs,
        "minibatches": a.minibatches,
        "ref_reset_every": a.ref_reset_every,
        "exact": int(a.exact),
        "loss_reads_entropy": int(POLICY_LOSSES[a.loss].reads_entropy_old),
        "rounds": lay.rounds,
        "L_sel": lay.sel,
        "L_sample": lay.sample,
        "L_reward": lay.reward,
        "L_tie": lay.tie,
        "L_cc": lay.cc,
        "L_total": lay.total,
        "audit": int(c.run.audit),
        "train_prompts": c.train_prompts,
    }
    return [values[name] for name in INT_FIELDS]
