"""Config cases shared by the parity suites (test_parity.py for the bandit,
test_sequence_parity.py for sequence tasks): one case per registry entry, and the loss
options that make each loss's extra branches run."""

from __future__ import annotations

from simrl.advantages import ADVANTAGES
from simrl.aggregation import AGGREGATIONS
from simrl.algorithms.losses import POLICY_LOSSES
from simrl.kl import KL_ESTIMATORS
from simrl.optim import OPTIMIZERS
from simrl.rewards import REWARDS


def registry_cases(reward_extra: dict | None = None, agg_extra: dict | None = None) -> dict:
    """A case per reward, advantage, loss, aggregation, KL estimator and optimiser;
    reward_extra[name] and agg_extra are added to those cases (a task feature they need)."""
    reward_extra = reward_extra or {}
    return {
        **{f"reward={n}": {"reward.kind": n, **reward_extra.get(n, {})} for n in REWARDS.names},
        **{f"advantage={n}": {"algo.advantage": n} for n in ADVANTAGES.names},
        **{f"loss={n}": {"algo.loss": n} for n in POLICY_LOSSES.names},
        **{f"agg={n}": {"algo.agg": n, **(agg_extra or {})} for n in AGGREGATIONS.names},
        **{
            f"kl={n}": {"algo.kl_kind": n, "algo.kl_coef": 0.5, "algo.ref_reset_every": 7}
            for n in KL_ESTIMATORS.names
        },
        **{
            f"optim={n}": {"optim.kind": n, "optim.lr": 0.1 if n == "adam" else 0.5}
            for n in OPTIMIZERS.names
        },
    }


#: the registries a parity suite must cover, by config field
REGISTRIES = (
    ("reward.kind", REWARDS),
    ("algo.advantage", ADVANTAGES),
    ("algo.loss", POLICY_LOSSES),
    ("algo.agg", AGGREGATIONS),
    ("algo.kl_kind", KL_ESTIMATORS),
    ("optim.kind", OPTIMIZERS),
)


def uncovered(cases: dict) -> dict[str, set[str]]:
    """Per config field, the registry entries no case names (empty when all are covered)."""
    seen = {(k, v) for case in cases.values() for k, v in case.items() if isinstance(v, str)}
    missing = {f: {n for n in r.names if (f, n) not in seen} for f, r in REGISTRIES}
    return {f: m for f, m in missing.items() if m}


#: the options of the losses: clip-higher with dual clip (binding at lr 4 over 4 epochs),
#: Clip-Cov with a wide band, KL-Cov on many tokens, STEER's exp mode with and without k
LOSS_OPTION_CASES = {
    "clip-higher+dual": {
        "algo.clip_high": 0.28,
        "algo.dual_clip": 3.0,
        "algo.epochs": 4,
        "optim.lr": 4.0,
    },
    "clip_cov-active": {
        "algo.loss": "clip_cov",
        "algo.clip_cov_lb": 0.05,
        "algo.clip_cov_ub": 5.0,
        "algo.clip_cov_ratio": 0.2,
    },
    "kl_cov-many": {"algo.loss": "kl_cov", "algo.kl_cov_ratio": 0.3, "algo.epochs": 3},
    "steer-exp": {"algo.loss": "steer", "algo.steer_mode": "exp"},
    "steer-exp-k": {"algo.loss": "steer", "algo.steer_mode": "exp", "algo.steer_k": 2.0},
    # CISPO's weight clamps (both sides in verl's rule, from above in TRL's) over 4 epochs
    "cispo-clamps": {"algo.loss": "cispo", "algo.epochs": 4, "optim.lr": 4.0},
    "cispo_trl-clamps": {
        "algo.loss": "cispo_trl",
        "algo.clip_high": 1.2,
        "algo.epochs": 4,
        "optim.lr": 4.0,
    },
    # TRL's off-policy sequence mask drops A < 0 responses (cov_selected_frac > 0 on both
    # task families); LUSPO's response-ratio clip binds, under its aggregation; VESPO's
    # Gamma weights with the mask; CE-GPPO's kept out-of-band gradients and its dual clip
    "opsm-drops": {
        "algo.loss": "opsm",
        "algo.opsm_threshold": 0.02,
        "algo.epochs": 4,
        "optim.lr": 4.0,
    },
    "luspo-clips+opsm": {
        "algo.loss": "luspo",
        "algo.agg": "seq-mean-token-sum",
        "algo.opsm_threshold": 0.05,
        "algo.epochs": 4,
        "optim.lr": 4.0,
    },
    "vespo-opsm": {
        "algo.loss": "vespo",
        "algo.opsm_threshold": 0.05,
        "algo.vespo_k_neg": 1.0,
        "algo.epochs": 4,
        "optim.lr": 4.0,
    },
    "ce_gppo-out-of-band+dual": {
        "algo.loss": "ce_gppo",
        "algo.clip_high": 0.28,
        "algo.dual_clip": 1.2,
        "algo.epochs": 4,
        "optim.lr": 4.0,
    },
    # verl's losses (issue 17): GSPO with its paper's epsilons (the sequence clip binds from
    # the second epoch), GMPO's log-space clip, SAPO's asymmetric gates, DPPO's trust
    # regions and weight cap, DRO's penalty (acts from the second epoch)
    "gspo-paper-eps": {
        "algo.loss": "gspo",
        "algo.clip_low": 3e-4,
        "algo.clip_high": 4e-4,
        "algo.epochs": 3,
    },
    "gmpo-clips": {"algo.loss": "gmpo", "algo.epochs": 4, "optim.lr": 4.0},
    "sapo-taus": {
        "algo.loss": "sapo",
        "algo.tau_pos": 0.5,
        "algo.tau_neg": 2.0,
        "algo.epochs": 3,
        "optim.lr": 2.0,
    },
    "dppo_tv-region": {
        "algo.loss": "dppo_tv",
        "algo.clip_low": 0.02,
        "algo.clip_high": 0.02,
        "algo.dppo_ratio_cap": 1.05,
        "algo.epochs": 4,
        "optim.lr": 4.0,
    },
    "dppo_kl-region": {
        "algo.loss": "dppo_kl",
        "algo.clip_low": 0.005,
        "algo.clip_high": 0.005,
        "algo.dppo_ratio_cap": 1.05,
        "algo.epochs": 4,
        "optim.lr": 4.0,
    },
    "dro-epochs": {"algo.loss": "dro", "algo.dro_beta": 0.3, "algo.epochs": 3},
    # issue 17's KL, aggregation and entropy-bonus options: TRL's k3 times the ratio
    # (the ratio moves from the second epoch), verl's loss_scale_factor on both norm
    # modes, the straight-through k3+ over minibatches, TRL's entropy-bonus weighting
    # under an aggregation where it differs from the loss's
    "kl-k3_ratio-epochs": {
        "algo.kl_kind": "k3_ratio",
        "algo.kl_coef": 0.5,
        "algo.epochs": 3,
        "optim.lr": 2.0,
    },
    "kl-k3+-minibatches": {"algo.kl_kind": "k3+", "algo.kl_coef": 0.5, "algo.minibatches": 2},
    "agg-norm-scale": {"algo.agg": "seq-mean-token-sum-norm", "algo.loss_scale_factor": 2.5},
    "agg-old-norm-scale": {"algo.agg": "token-sum-norm", "algo.loss_scale_factor": 0.5},
    "entropy-kept-token-mean": {
        "algo.entropy_coef": 0.1,
        "algo.entropy_agg": "kept-token-mean",
        "algo.agg": "token-sum-norm",
        "algo.minibatches": 2,
    },
}


#: the exact expected gradient (algo.exact) with the clipped loss over epochs, and with pg
#: under the natural gradient
EXACT_CASES = {
    "exact-vanilla": {"algo.exact": True, "optim.lr": 2.0, "algo.epochs": 3},
    "exact-pg-npg": {"algo.exact": True, "algo.loss": "pg", "optim.kind": "npg", "optim.lr": 0.2},
    # verl's token-level losses in exact mode: DPPO's trust region (binding on the bandit;
    # at 0.02 the sequence task's logits still agree to 3e-16, but one state moves by a
    # rounding-level step in one engine only, which the audit's bitwise "moved" test sees),
    # SAPO's gates
    "exact-dppo_tv": {
        "algo.exact": True,
        "algo.loss": "dppo_tv",
        "algo.clip_low": 0.05,
        "algo.clip_high": 0.05,
        "algo.epochs": 3,
        "optim.lr": 2.0,
    },
    "exact-sapo": {"algo.exact": True, "algo.loss": "sapo", "algo.epochs": 2, "optim.lr": 2.0},
}


#: the advantage estimators' branches the registry cases do not reach: Pass@k's k = 1 and
#: a k between 1 and G; groups of one response (the group baselines are 0 there, verl's
#: rule); the batch-level rules (whitening, the batch std, GPG's nonzero count) on a batch
#: that dynamic sampling shrank; W-REINFORCE's lambda
ADVANTAGE_OPTION_CASES = {
    "passk-k1": {"algo.advantage": "passk", "algo.passk_k": 1},
    "passk-k3": {"algo.advantage": "passk", "algo.passk_k": 3},
    "reinforce_pp_baseline-G1": {
        "algo.advantage": "reinforce_pp_baseline",
        "algo.group_size": 1,
        "algo.prompts_per_step": 3,
    },
    "opo-G1": {"algo.advantage": "opo", "algo.group_size": 1},
    "gpg-G1": {"algo.advantage": "gpg", "algo.group_size": 1},
    "drop-reinforce_pp": {
        "algo.advantage": "reinforce_pp",
        "algo.dynamic_sampling": "drop",
        "algo.prompts_per_step": 3,
    },
    "drop-grpo_batch": {
        "algo.advantage": "grpo_batch",
        "algo.dynamic_sampling": "drop",
        "algo.prompts_per_step": 3,
    },
    "drop-gpg": {"algo.advantage": "gpg", "algo.dynamic_sampling": "drop"},
    "w_reinforce-lambda": {"algo.advantage": "w_reinforce", "algo.w_reinforce_lambda": 0.5},
    # the entropy-based advantage term: the alpha H branch, and (large alpha, small kappa)
    # the |A| / kappa branch, on another estimator
    "entropy-adv": {"algo.entropy_adv_alpha": 0.4},
    "entropy-adv-cap": {
        "algo.entropy_adv_alpha": 5.0,
        "algo.entropy_adv_kappa": 1.5,
        "algo.advantage": "dr_grpo",
    },
    # ReMax's greedy baseline under another deterministic reward
    "remax-incorrect": {"algo.advantage": "remax", "reward.kind": "incorrect"},
    # a reward that reads the likelihoods (its ranks), its largest penalty, a bigger group,
    # and dynamic sampling over the reshaped rewards
    "unlikeliness-beta1-G8": {
        "reward.kind": "unlikeliness",
        "reward.unlikeliness_beta": 1.0,
        "algo.group_size": 8,
        "algo.dynamic_sampling": "drop",
    },
}
