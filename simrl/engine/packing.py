"""Per-run parameters packed into arrays for the numba kernels: floats (R, NF), ints
(R, NI), and the policy loss's, the advantage estimator's and the optimiser's own
parameters, (R, LP), (R, AP) and (R, OP), in the order their modules declare (`params`).

Column indices are literal constants in kernels/codes.py, in this file's order (numba
freezes them at compile time; kernels/__init__.py fingerprints both files, so a change
drops the kernel cache). The KL estimator's, the aggregation's and the reward's codes
are their registry codes, which the kernels' generated dispatch reads
(kernels/dispatch.py), with their flags packed beside them; the policy loss, the
advantage estimator and the optimiser have no code: the kernels call the run's compiled
forms (simrl.algorithms.compiled).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simrl.algorithms import aggregations, kl_estimators, rewards
from simrl.algorithms.advantage import params_width as advantage_params_width
from simrl.algorithms.advantages import ADVANTAGES
from simrl.algorithms.aggregations import AGGREGATIONS
from simrl.algorithms.kl_estimators import KL_ESTIMATORS
from simrl.algorithms.losses import POLICY_LOSSES
from simrl.algorithms.optimiser import params_width as optimiser_params_width
from simrl.algorithms.optimisers import OPTIMIZERS
from simrl.algorithms.policy_loss import params_width
from simrl.algorithms.rewards import REWARDS
from simrl.config import DYNAMIC_SAMPLING, ENTROPY_AGG, Config
from simrl.engine.streams import StreamLayout
from simrl.errors import ConfigError
from simrl.rewards import expectation_weights

FLOAT_FIELDS = (
    ("optim", "lr"),
    ("algo", "kl_coef"),
    ("algo", "entropy_coef"),
    ("algo", "entropy_adv_alpha"),
    ("algo", "entropy_adv_kappa"),
)

#: float columns after FLOAT_FIELDS that are derived from the config, not fields of it:
#: the value of the field the reward's numba form reads (Reward.param), and the reward's
#: expectation weights (its module's `expectation`)
DERIVED_FLOATS = (
    "reward_param",
    "expect_w_c",
    "expect_w_nc",
    "expect_w_l",
    "expect_w_f",
    "expect_w_1",
)

#: float config fields after DERIVED_FLOATS (issue 17; appended so the columns before
#: them are unchanged)
LATE_FLOAT_FIELDS = (("algo", "loss_scale_factor"),)

INT_FIELDS = (
    "reward",
    "agg",
    "kl_kind",
    "optim_every_entry",
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
    "dh_breakdown",  # run.audit
    "train_prompts",
    "kl_sampled",
    "agg_per_length",
    "reward_votes",
    "reward_updates",
    "reward_pays_format",
    "adv_greedy",
    "entropy_agg",
    "adv_token_baseline",
    "rollout_tis",  # algo.tis != "off" (simrl/rollout_sampling.py; kernels/tis.py)
)


def check_compiled_in(c: Config) -> None:
    """The kernels' dispatch covers the KL estimators, aggregation modes and rewards of
    the built-in modules (kernels/dispatch.py); one registered later runs on the reference."""
    for field, value, built in (
        ("algo.kl_kind", c.algo.kl_kind, kl_estimators.BUILTIN_NAMES),
        ("algo.agg", c.algo.agg, aggregations.BUILTIN_NAMES),
        ("reward.kind", c.reward.kind, rewards.BUILTIN_NAMES),
    ):
        if value not in built:
            raise ConfigError(
                field, value, "the numba engine runs the built-in ones only: use engine='reference'"
            )


def pack(
    configs: Sequence[Config], layouts: Sequence[StreamLayout]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(fp, ip, lp, ap, op): FLOAT_FIELDS (then DERIVED_FLOATS, LATE_FLOAT_FIELDS), INT_FIELDS, and each run's
    policy-loss, advantage-estimator and optimiser parameters, per run. Each distinct
    (config object, layout) is packed once and its rows repeated (the runs of a batch
    usually share one config object)."""
    first: dict = {}
    which = np.array(
        [
            first.setdefault((id(c), lay), len(first))
            for c, lay in zip(configs, layouts, strict=True)
        ],
        dtype=np.int64,
    )
    if len(first) < len(configs):
        keep = np.unique(which, return_index=True)[1]  # the first run of each distinct pair
        rows = _pack([configs[i] for i in keep], [layouts[i] for i in keep])
        return tuple(a[which] for a in rows)
    return _pack(configs, layouts)


def _pack(
    configs: Sequence[Config], layouts: Sequence[StreamLayout]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """pack, one row per run."""
    for c in configs:
        check_compiled_in(c)
    fp = np.array(
        [
            [float(getattr(getattr(c, sec), name)) for sec, name in FLOAT_FIELDS]
            + [REWARDS[c.reward.kind].packed_param(c.reward)]
            + list(expectation_weights(c.reward.kind, p=c.reward.p, flip=c.reward.flip))
            + [float(getattr(getattr(c, sec), name)) for sec, name in LATE_FLOAT_FIELDS]
            for c in configs
        ],
        dtype=np.float64,
    ).reshape(len(configs), len(FLOAT_FIELDS) + len(DERIVED_FLOATS) + len(LATE_FLOAT_FIELDS))
    ip = np.array([_ints(c, lay) for c, lay in zip(configs, layouts, strict=True)], dtype=np.int64)
    lp = np.zeros((len(configs), params_width()))
    for r, c in enumerate(configs):
        row = POLICY_LOSSES[c.algo.loss].pack(c.algo)
        lp[r, : len(row)] = row
    ap = np.zeros((len(configs), advantage_params_width()))
    for r, c in enumerate(configs):
        row = ADVANTAGES[c.algo.advantage].pack(c.algo)
        ap[r, : len(row)] = row
    op = np.zeros((len(configs), optimiser_params_width()))
    for r, c in enumerate(configs):
        row = OPTIMIZERS[c.optim.kind].pack(c.optim)
        op[r, : len(row)] = row
    return fp, ip.reshape(len(configs), len(INT_FIELDS)), lp, ap, op


def _ints(c: Config, lay: StreamLayout) -> list[int]:
    a = c.algo
    values = {
        "reward": REWARDS.code(c.reward.kind),
        "agg": AGGREGATIONS.code(a.agg),
        "kl_kind": KL_ESTIMATORS.code(a.kl_kind),
        "optim_every_entry": int(OPTIMIZERS[c.optim.kind].moves_every_entry),
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
        "dh_breakdown": int(c.run.audit),
        "train_prompts": c.train_prompts,
        "kl_sampled": int(KL_ESTIMATORS[a.kl_kind].sampled),
        "agg_per_length": int(AGGREGATIONS[a.agg].per_length),
        "reward_votes": int(REWARDS[c.reward.kind].votes),
        "reward_updates": int(REWARDS[c.reward.kind].updates),
        "reward_pays_format": int(REWARDS[c.reward.kind].pays_format),
        "adv_greedy": int(ADVANTAGES[a.advantage].reads_greedy),
        "entropy_agg": ENTROPY_AGG.index(a.entropy_agg),
        "adv_token_baseline": int(ADVANTAGES[a.advantage].token_baseline),
        "rollout_tis": int(a.tis != "off"),
    }
    return [values[name] for name in INT_FIELDS]
