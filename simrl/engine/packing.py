"""Per-run parameters packed into arrays for the numba kernels: floats (R, NF), ints (R, NI).

Column indices are literal constants here and in fast.py (numba freezes them at compile
time, and a change to this file must invalidate the kernel cache); `check_codes` ties the
registry codes the kernels switch on to the registries themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simrl.advantages import ADVANTAGES
from simrl.aggregation import AGGREGATIONS
from simrl.config import DYNAMIC_SAMPLING, STEER_MODES, Config
from simrl.engine.streams import StreamLayout
from simrl.kl import KL_ESTIMATORS
from simrl.losses import POLICY_LOSSES
from simrl.optim import OPTIMIZERS
from simrl.rewards import REWARDS

FLOAT_FIELDS = (
    ("optim", "lr"),
    ("reward", "p"),
    ("reward", "flip"),
    ("algo", "std_eps"),
    ("algo", "clip_low"),
    ("algo", "clip_high"),
    ("algo", "dual_clip"),
    ("algo", "clip_cov_ratio"),
    ("algo", "clip_cov_lb"),
    ("algo", "clip_cov_ub"),
    ("algo", "kl_cov_ratio"),
    ("algo", "kl_cov_coef"),
    ("algo", "steer_w_min"),
    ("algo", "steer_w_max"),
    ("algo", "steer_k"),
    ("algo", "kl_coef"),
    ("algo", "entropy_coef"),
    ("optim", "beta1"),
    ("optim", "beta2"),
    ("optim", "eps"),
)

INT_FIELDS = (
    "reward",
    "advantage",
    "loss",
    "agg",
    "kl_kind",
    "optim",
    "dynamic_sampling",
    "group_size",
    "prompts_per_step",
    "epochs",
    "minibatches",
    "std_ddof",
    "ref_reset_every",
    "exact",
    "steer_mode",
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
    "advantage": (ADVANTAGES, ("grpo", "dr_grpo", "rloo", "reinforce")),
    "loss": (POLICY_LOSSES, ("vanilla", "pg", "clip_cov", "kl_cov", "steer")),
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
) -> tuple[np.ndarray, np.ndarray]:
    fp = np.array(
        [[float(getattr(getattr(c, sec), name)) for sec, name in FLOAT_FIELDS] for c in configs],
        dtype=np.float64,
    ).reshape(len(configs), len(FLOAT_FIELDS))
    ip = np.array([_ints(c, lay) for c, lay in zip(configs, layouts, strict=True)], dtype=np.int64)
    return fp, ip.reshape(len(configs), len(INT_FIELDS))


def _ints(c: Config, lay: StreamLayout) -> list[int]:
    a = c.algo
    values = {
        "reward": REWARDS.code(c.reward.kind),
        "advantage": ADVANTAGES.code(a.advantage),
        "loss": POLICY_LOSSES.code(a.loss),
        "agg": AGGREGATIONS.code(a.agg),
        "kl_kind": KL_ESTIMATORS.code(a.kl_kind),
        "optim": OPTIMIZERS.code(c.optim.kind),
        "dynamic_sampling": DYNAMIC_SAMPLING.index(a.dynamic_sampling),
        "group_size": a.group_size,
        "prompts_per_step": c.prompts_per_step,
        "epochs": a.epochs,
        "minibatches": a.minibatches,
        "std_ddof": a.std_ddof,
        "ref_reset_every": a.ref_reset_every,
        "exact": int(a.exact),
        "steer_mode": STEER_MODES.index(a.steer_mode),
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
