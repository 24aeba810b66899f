"""TRL's and verl's names for simrl's fields: the table behind docs/crosswalk.md and the
config errors that speak the trainers' language.

Each entry names a field as the library spells it: for TRL a field of `trl.GRPOConfig`
(TRL 1.16.0), for verl a dotted key of verl 0.9.1's `verl/trainer/config/_generated_ppo_trainer.yaml`
(or, for the DAPO reward manager's settings, which that yaml does not hold, the attribute
path that `verl/workers/reward_manager/dapo.py` reads). tests/test_crosswalk.py reads the
installed TRL and verl and checks that every entry names a real field there, and that every
simrl field it points to exists. The meanings follow the libraries' code (cited per
entry), not their docs where the two differ.

A TRL or verl name used as a simrl field (`algo.num_generations`) answers with simrl's
name (`foreign_field`); a TRL or verl value where simrl has another name
(`algo.loss = 'dapo'`, `algo.kl_kind = 'low_var_kl'`) answers with simrl's spelling
(`foreign_value`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    library: str
    """'TRL' or 'verl'"""
    name: str
    """TRL: a GRPOConfig field; verl: a dotted yaml key (or 'dapo:' + an attribute path)"""
    simrl: str
    """the simrl field(s) it maps to ('' = none: simrl does not model it)"""
    note: str
    """how: units, values, what differs"""

    @property
    def bare(self) -> str:
        """The last component: what a user types as `section.<bare>`."""
        return self.name.removeprefix("dapo:").rsplit(".", 1)[-1]


_A = "actor_rollout_ref.actor."
_PL = _A + "policy_loss."

ENTRIES: tuple[Entry, ...] = (
    # ---- TRL 1.16.0, trl.GRPOConfig (rules: trl/trainer/grpo_trainer.py) ------------------
    Entry("TRL", "num_generations", "algo.group_size", "completions sampled per prompt G"),
    Entry(
        "TRL",
        "beta",
        "algo.kl_coef",
        "KL penalty coefficient (TRL's default 0.0 = off); TRL's per-token KL is k3 "
        "(exp(ref - logp) - (ref - logp) - 1, _compute_loss), simrl's algo.kl_kind = 'k3'",
    ),
    Entry(
        "TRL",
        "epsilon",
        "algo.clip_low",
        "lower clip 1 - epsilon; also the upper one when epsilon_high is unset (set "
        "algo.clip_high to the same value)",
    ),
    Entry(
        "TRL", "epsilon_high", "algo.clip_high", "upper clip 1 + epsilon_high (DAPO clip-higher)"
    ),
    Entry(
        "TRL",
        "num_iterations",
        "algo.epochs",
        "passes over each generated batch (mu in the GRPO paper); not num_train_epochs",
    ),
    Entry(
        "TRL",
        "loss_type",
        "algo.loss + algo.agg",
        "a loss and its aggregation: 'grpo' = vanilla + seq-mean-token-mean, 'bnpo' and "
        "'dapo' = vanilla + token-mean, 'dr_grpo' = vanilla + seq-mean-token-sum (TRL also "
        "divides by max_completion_length), 'cispo' = cispo_trl + token-mean, 'luspo', "
        "'vespo': the table in docs/adding-an-algorithm.md",
    ),
    Entry(
        "TRL",
        "importance_sampling_level",
        "algo.loss",
        "'sequence' (GSPO) is a sequence-level loss: loss_type 'grpo' at sequence level = "
        "algo.loss = 'luspo' with algo.agg = 'seq-mean-token-mean' (docs/adding-an-algorithm.md)",
    ),
    Entry(
        "TRL",
        "scale_rewards",
        "algo.advantage",
        "'group' (default) = 'grpo' with algo.std_eps = 1e-4 (TRL adds 1e-4 to the std); "
        "'none' = 'dr_grpo' (r - group mean); 'batch' (the batch's std) has no simrl form",
    ),
    Entry(
        "TRL",
        "mask_truncated_completions",
        "",
        "simrl's responses are never truncated: a sequence task's responses end within "
        "max_len = 1 + task.reasoning_tokens [+ answer] [+ format]; DAPO's length "
        "penalty is algo.overlong_cache",
    ),
    Entry(
        "TRL",
        "top_entropy_quantile",
        "algo.forking_top_quantile",
        "keep gradient only on tokens in the top quantile of entropy (0.2 = the 80/20 rule)",
    ),
    Entry(
        "TRL",
        "entropy_coef",
        "algo.entropy_coef",
        "entropy bonus (TRL: mean per-token entropy of the sampled states; simrl: the exact "
        "entropy of the states)",
    ),
    Entry(
        "TRL",
        "use_adaptive_entropy",
        "algo.entropy_adaptive",
        "Skywork-OR1's adaptive entropy coefficient, starting at algo.entropy_coef; "
        "algo.entropy_target, entropy_coef_delta, entropy_coef_min, entropy_coef_max keep "
        "TRL's names (simrl/controllers.py)",
    ),
    Entry(
        "TRL",
        "sync_ref_model",
        "algo.ref_sync_steps",
        "TR-DPO's reference mixing: on when algo.ref_sync_steps > 0 (TRL's "
        "ref_model_sync_steps; TRL's default 512)",
    ),
    Entry(
        "TRL",
        "ref_model_sync_steps",
        "algo.ref_sync_steps",
        "optimiser updates between mixes (TRL's global steps); 0 = off",
    ),
    Entry(
        "TRL",
        "ref_model_mixup_alpha",
        "algo.ref_mixup_alpha",
        "ref <- (1 - alpha) ref + alpha policy over the parameters (here the logits)",
    ),
    Entry(
        "TRL",
        "off_policy_mask_threshold",
        "algo.opsm_threshold",
        "the off-policy sequence mask (algo.loss = 'opsm', or luspo / vespo with it)",
    ),
    Entry(
        "TRL",
        "delta",
        "",
        "INTELLECT-2's two-sided clip of the ratio; not shared (docs/adding-an-algorithm.md)",
    ),
    Entry(
        "TRL",
        "sapo_temperature_pos",
        "",
        "TRL's SAPO is not shared; simrl's algo.loss = 'sapo' follows verl (algo.tau_pos)",
    ),
    Entry(
        "TRL",
        "sapo_temperature_neg",
        "",
        "TRL's SAPO is not shared; simrl's algo.loss = 'sapo' follows verl (algo.tau_neg)",
    ),
    Entry(
        "TRL",
        "steps_per_generation",
        "algo.minibatches",
        "with gradient_accumulation_steps = 1: optimiser steps per generated batch, which "
        "is split into that many minibatches",
    ),
    Entry(
        "TRL",
        "per_device_train_batch_size",
        "algo.prompts_per_step",
        "TRL counts completions: prompts per step = batch size / num_generations (one "
        "process, steps_per_generation = 1)",
    ),
    Entry(
        "TRL",
        "max_completion_length",
        "task.reasoning_tokens",
        "a sequence task's length is max_len = 1 + task.reasoning_tokens [+ answer] [+ format]",
    ),
    Entry(
        "TRL",
        "max_steps",
        "run.steps",
        "training steps (one batch each); run.seeds replicates run side by side",
    ),
    Entry(
        "TRL",
        "num_train_epochs",
        "run.steps",
        "simrl counts steps, not passes over a dataset (algo.epochs is TRL's num_iterations)",
    ),
    Entry("TRL", "learning_rate", "optim.lr", "step size (simrl's optimiser acts on logits)"),
    Entry("TRL", "adam_beta1", "optim.beta1", "with optim.kind = 'adam'"),
    Entry("TRL", "adam_beta2", "optim.beta2", "with optim.kind = 'adam'"),
    Entry("TRL", "adam_epsilon", "optim.eps", "with optim.kind = 'adam'"),
    Entry("TRL", "seed", "run.seed", "root seed of the runs (task.seed seeds the task instance)"),
    Entry(
        "TRL",
        "temperature",
        "algo.temperature + bridge.temperature",
        "rollout temperature T; the loss trains softmax(logits / T), old and reference "
        "log-probs and entropies tempered alike (trl/trainer/utils.py "
        "selective_log_softmax_and_entropy); the simulator's engines, reference and numba "
        "(algo.temperature), and the bridge (bridge.temperature)",
    ),
    Entry(
        "TRL",
        "top_p",
        "algo.top_p",
        "nucleus sampling of the rollouts (transformers TopPLogitsWarper); the log-probs of "
        "the loss are not truncated; the simulator's engines (reference and numba) and the "
        "bridge",
    ),
    Entry(
        "TRL",
        "top_k",
        "algo.top_k",
        "top-k sampling of the rollouts, 0 = off (TRL's default 0); the simulator's "
        "engines (reference and numba) and the bridge",
    ),
    Entry(
        "TRL",
        "vllm_importance_sampling_correction",
        "algo.tis",
        "TRL's default True applies with use_vllm only; simrl's switch is algo.tis != 'off'",
    ),
    Entry(
        "TRL",
        "vllm_importance_sampling_mode",
        "algo.tis",
        "the same values: token_truncate, token_mask, sequence_truncate, sequence_mask "
        "(TRL's default sequence_mask); rho = pi_old / q times the per-token policy loss",
    ),
    Entry(
        "TRL",
        "vllm_importance_sampling_clip_max",
        "algo.tis_clip_max",
        "upper bound of the weight (TRL's default 3.0; simrl's 2.0 is verl's)",
    ),
    Entry(
        "TRL",
        "vllm_importance_sampling_clip_min",
        "algo.tis_clip_min",
        "lower bound of the weight (TRL's None = simrl's 0)",
    ),
    # ---- verl 0.9.1 (rules: verl/trainer/ppo/core_algos.py) --------------------------------
    Entry("verl", "actor_rollout_ref.rollout.n", "algo.group_size", "responses per prompt G"),
    Entry(
        "verl",
        _A + "use_kl_loss",
        "algo.kl_coef",
        "simrl's KL loss is on when algo.kl_coef > 0 (no separate switch)",
    ),
    Entry("verl", _A + "kl_loss_coef", "algo.kl_coef", "KL loss coefficient (with use_kl_loss)"),
    Entry(
        "verl",
        _A + "kl_loss_type",
        "algo.kl_kind",
        "estimator: 'kl' / 'k1' = k1, 'mse' / 'k2' = k2, 'low_var_kl' / 'k3' = k3 (verl clamps "
        "it to [-10, 10]); 'abs' and 'full' are not shared; simrl adds exact_reverse, "
        "exact_forward",
    ),
    Entry("verl", _A + "clip_ratio", "algo.clip_low + algo.clip_high", "both clips at once"),
    Entry("verl", _A + "clip_ratio_low", "algo.clip_low", "lower clip 1 - clip_ratio_low"),
    Entry("verl", _A + "clip_ratio_high", "algo.clip_high", "upper clip 1 + clip_ratio_high"),
    Entry(
        "verl",
        _A + "clip_ratio_c",
        "algo.dual_clip",
        "dual-clip constant (verl's default 3.0 is on; simrl's 0 = off); for the DPPO losses "
        "it is algo.dppo_ratio_cap",
    ),
    Entry("verl", _A + "ppo_epochs", "algo.epochs", "passes over each batch"),
    Entry(
        "verl",
        _A + "ppo_mini_batch_size",
        "algo.minibatches",
        "verl gives the minibatch size in prompts: minibatches = data.train_batch_size / "
        "ppo_mini_batch_size",
    ),
    Entry("verl", "data.train_batch_size", "algo.prompts_per_step", "prompts per step"),
    Entry(
        "verl",
        "data.max_response_length",
        "task.reasoning_tokens",
        "a sequence task's length is max_len = 1 + task.reasoning_tokens [+ answer] [+ format]",
    ),
    Entry(
        "verl",
        _A + "loss_agg_mode",
        "algo.agg",
        "the same mode names (token-mean, seq-mean-token-mean, seq-mean-token-sum, "
        "seq-mean-token-sum-norm; agg_loss)",
    ),
    Entry(
        "verl",
        _A + "entropy_coeff",
        "algo.entropy_coef",
        "entropy bonus (verl: the sampled states' entropy, aggregated by loss_agg_mode; "
        "simrl: the exact entropy of the states)",
    ),
    Entry(
        "verl",
        _PL + "loss_mode",
        "algo.loss",
        "the same names, except verl's 'geo_mean' = 'gmpo'",
    ),
    Entry("verl", _PL + "clip_cov_ratio", "algo.clip_cov_ratio", "Clip-Cov"),
    Entry("verl", _PL + "clip_cov_lb", "algo.clip_cov_lb", "Clip-Cov"),
    Entry("verl", _PL + "clip_cov_ub", "algo.clip_cov_ub", "Clip-Cov"),
    Entry("verl", _PL + "kl_cov_ratio", "algo.kl_cov_ratio", "KL-Cov"),
    Entry("verl", _PL + "ppo_kl_coef", "algo.kl_cov_coef", "KL-Cov's coefficient"),
    Entry("verl", _A + "tau_pos", "algo.tau_pos", "SAPO"),
    Entry("verl", _A + "tau_neg", "algo.tau_neg", "SAPO"),
    Entry(
        "verl",
        "algorithm.adv_estimator",
        "algo.advantage",
        "'grpo' and 'rloo' are the same; verl's 'gae' (a critic), 'reinforce_plus_plus', "
        "'remax', 'opo', 'gpg' and the rest are not shared",
    ),
    Entry(
        "verl",
        "algorithm.norm_adv_by_std_in_grpo",
        "algo.advantage",
        "true (default) = 'grpo'; false = 'dr_grpo' (r - group mean, Dr. GRPO)",
    ),
    Entry(
        "verl",
        "algorithm.filter_groups.enable",
        "algo.dynamic_sampling",
        "true = 'resample' (DAPO's dynamic sampling); simrl also has 'drop'",
    ),
    Entry(
        "verl",
        "algorithm.filter_groups.max_num_gen_batches",
        "algo.max_resample_rounds",
        "cap on batches drawn per step",
    ),
    Entry(
        "verl",
        "algorithm.use_kl_in_reward",
        "algo.kl_in_reward",
        "the KL penalty in the token rewards, r_t - beta k_t (apply_kl_penalty; "
        "simrl/controllers.py); simrl's algo.kl_coef is the KL loss (verl's use_kl_loss)",
    ),
    Entry(
        "verl",
        "algorithm.kl_penalty",
        "algo.kl_reward_kind",
        "the in-reward KL estimator: 'kl' = 'k1', 'mse' = 'k2', 'low_var_kl' = 'k3' (verl "
        "clamps its value to [-10, 10]: not here), 'abs', 'k1+', 'k3+' (their values)",
    ),
    Entry("verl", "algorithm.kl_ctrl.type", "algo.kl_ctrl", "'fixed' or 'adaptive'"),
    Entry(
        "verl",
        "algorithm.kl_ctrl.kl_coef",
        "algo.kl_reward_coef",
        "the in-reward KL's coefficient beta (initial, with 'adaptive'); not algo.kl_coef",
    ),
    Entry("verl", "algorithm.kl_ctrl.target_kl", "algo.kl_target", "the adaptive target"),
    Entry("verl", "algorithm.kl_ctrl.horizon", "algo.kl_horizon", "the adaptive horizon"),
    Entry("verl", "algorithm.gamma", "", "GAE's discount: simrl has no critic"),
    Entry("verl", "algorithm.lam", "", "GAE's lambda: simrl has no critic"),
    Entry(
        "verl",
        "dapo:overlong_buffer_cfg.len",
        "algo.overlong_cache",
        "DAPO's overlong buffer, in tokens (reward_manager/dapo.py)",
    ),
    Entry(
        "verl",
        "dapo:overlong_buffer_cfg.penalty_factor",
        "algo.overlong_factor",
        "DAPO's overlong penalty factor (reward_manager/dapo.py)",
    ),
    Entry("verl", _A + "optim.lr", "optim.lr", "step size (simrl's optimiser acts on logits)"),
    Entry("verl", _A + "optim.betas", "optim.beta1 + optim.beta2", "with optim.kind = 'adam'"),
    Entry(
        "verl",
        _A + "optim.weight_decay",
        "bridge.weight_decay",
        "the bridge only; the simulator has no weight decay",
    ),
    Entry("verl", _A + "grad_clip", "bridge.max_grad_norm", "the bridge only"),
    Entry(
        "verl",
        "actor_rollout_ref.rollout.temperature",
        "algo.temperature + bridge.temperature",
        "rollout temperature; verl's actor divides its logits by it too "
        "(verl/workers/engine/fsdp/transformer_impl.py): the loss trains softmax(logits / T)",
    ),
    Entry(
        "verl",
        "actor_rollout_ref.rollout.top_p",
        "algo.top_p",
        "nucleus sampling of the rollouts; the simulator's engines (reference and numba) "
        "and the bridge",
    ),
    Entry(
        "verl",
        "actor_rollout_ref.rollout.top_k",
        "algo.top_k",
        "top-k sampling of the rollouts (verl's -1 = off is simrl's 0)",
    ),
    Entry(
        "verl",
        "algorithm.rollout_correction.rollout_is",
        "algo.tis",
        "'token' / 'sequence' with a float threshold = 'token_truncate' / "
        "'sequence_truncate'; with a 'lower_upper' threshold (IcePop) = 'token_mask' / "
        "'sequence_mask' (rollout_corr_helper.compute_rollout_correction_weights); null = 'off'",
    ),
    Entry(
        "verl",
        "algorithm.rollout_correction.rollout_is_threshold",
        "algo.tis_clip_max + algo.tis_clip_min",
        "a float: the upper bound (default 2.0, simrl's); 'lower_upper': both bounds",
    ),
    Entry("verl", "trainer.total_training_steps", "run.steps", "training steps"),
)

#: values that TRL or verl spell differently: (simrl field, value) -> what it is here
VALUES: dict[tuple[str, str], str] = {
    ("algo.loss", "grpo"): "TRL's loss_type 'grpo' is algo.loss = 'vanilla' with algo.agg = "
    "'seq-mean-token-mean' here (the GRPO advantage is algo.advantage = 'grpo')",
    ("algo.loss", "bnpo"): "TRL's loss_type 'bnpo' is algo.loss = 'vanilla' with algo.agg = "
    "'token-mean' here",
    ("algo.loss", "dapo"): "TRL's loss_type 'dapo' is algo.loss = 'vanilla' with algo.agg = "
    "'token-mean' here (DAPO's other parts: algo.clip_high = 0.28, algo.dynamic_sampling = "
    "'resample', algo.overlong_cache)",
    ("algo.loss", "dr_grpo"): "TRL's loss_type 'dr_grpo' is algo.loss = 'vanilla' with "
    "algo.agg = 'seq-mean-token-sum' here (TRL also divides by max_completion_length), "
    "with algo.advantage = 'dr_grpo'",
    ("algo.loss", "geo_mean"): "verl's loss_mode 'geo_mean' is algo.loss = 'gmpo' here",
    ("algo.kl_kind", "kl"): "verl's kl_loss_type 'kl' is algo.kl_kind = 'k1' here",
    ("algo.kl_kind", "mse"): "verl's kl_loss_type 'mse' is algo.kl_kind = 'k2' here",
    ("algo.kl_kind", "low_var_kl"): "verl's kl_loss_type 'low_var_kl' is algo.kl_kind = 'k3' "
    "here (verl clamps it to [-10, 10])",
    ("algo.advantage", "gae"): "verl's adv_estimator 'gae' needs a critic, which simrl does "
    "not have",
}


def docs_line() -> str:
    return "docs/crosswalk.md"


def foreign_field(section: str, name: str) -> str | None:
    """What `section.name` is when it is TRL's or verl's name, else None."""
    hits = [e for e in ENTRIES if e.bare == name]
    if not hits:
        return None
    parts = []
    for e in hits:
        where = f"{e.library}'s {e.name.removeprefix('dapo:')}"
        if e.simrl:
            parts.append(f"{where} is {e.simrl} in simrl ({e.note})")
        else:
            parts.append(f"{where} has no simrl field: {e.note}")
    return "; ".join(parts) + f" ({docs_line()})"


def foreign_value(field: str, value: object) -> str | None:
    """What `field = value` is when the value is TRL's or verl's spelling, else None."""
    if not isinstance(value, str):
        return None
    hint = VALUES.get((field, value))
    return None if hint is None else f"{hint} ({docs_line()})"


def markdown() -> str:
    """The crosswalk tables of docs/crosswalk.md (tests/test_crosswalk.py keeps them equal)."""
    out = []
    for lib, title in (("TRL", "TRL 1.16.0 (`trl.GRPOConfig`)"), ("verl", "verl 0.9.1")):
        out += [f"### {title}", "", f"| {lib} | simrl | how |", "|---|---|---|"]
        for e in ENTRIES:
            if e.library == lib:
                simrl = " + ".join(f"`{s}`" for s in e.simrl.split(" + ")) if e.simrl else "-"
                note = e.note.replace("|", "\\|")
                out.append(f"| `{e.name}` | {simrl} | {note} |")
        out.append("")
    out += ["### Values spelled differently", "", "| simrl field = value | what it is here |"]
    out.append("|---|---|")
    for (field, value), hint in VALUES.items():
        out.append(f"| `{field} = '{value}'` | {hint} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
