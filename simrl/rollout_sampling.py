"""The rollout sampler when it differs from the trained policy: temperature, top-k, top-p,
staleness (asynchronous rollouts from the policy k updates old) and truncated importance
sampling (TIS), one rule for the numpy references; the numba engine's form of it is
simrl/engine/kernels/rollout_sampler.py (tests/engine/test_sampler_parity.py).

What the trainers do (read in the installed packages, followed here):

- The policy the loss trains is the tempered one, pi_T = softmax(z / T): TRL 1.16.0
  patches the model with `trl/trainer/utils.py add_fused_lm_head(model, temperature=...)`
  and scores tokens with `selective_log_softmax_and_entropy(logits, index,
  temperature=T)` (logits / T, then log softmax and entropy); verl 0.9.1 divides the
  actor's logits by the rollout temperature (`verl/workers/engine/fsdp/transformer_impl.py`,
  `logits / temperature`). The old log-probs of the PPO ratio are the trainer's own,
  recomputed at the parameters of the step's start (TRL `old_per_token_logps` from
  `_get_per_token_logps_and_entropies`; verl `old_log_prob` from `compute_log_prob`),
  also tempered: the ratio is pi_T / pi_T,old. Its reference log-probs and entropies are
  tempered too (TRL patches the reference model with the same temperature).
- The sampler q draws from softmax(z_behaviour / T) truncated by top-k, then top-p, and
  renormalised (transformers `TemperatureLogitsWarper`, `TopKLogitsWarper`,
  `TopPLogitsWarper`; vLLM `apply_top_k_top_p`: top-k keeps every token whose logit is
  >= the k-th largest; top-p sorts ascending and drops the tokens whose ascending
  cumulative probability is <= 1 - top_p, never the largest). z_behaviour is the step's
  start, or with `algo.staleness = k` the logits at the start of step max(t - k, 0).
- The sampler's log-probs enter only through the importance weight
  rho = pi_T,old(a) / q(a) of each token (TRL: exp(old_per_token_logps -
  sampling_per_token_logps), `GRPOTrainer._generate_and_score_completions`; verl
  `rollout_corr_helper.compute_rollout_correction_weights(log_ratio = old_log_prob -
  rollout_log_probs)`), per token or per response (the sum of the response's log
  ratios), truncated (clamp to [clip_min, clip_max]) or masked (0 outside), detached,
  multiplying the per-token policy loss (TRL `_compute_loss`: per_token_loss *
  importance_sampling_ratio; verl `compute_policy_loss_*`: pg_losses *
  rollout_is_weights), not the KL or entropy terms. Without TIS (`algo.tis = "off"`)
  the mismatch is left uncorrected, as TRL does without vLLM.

simrl's modes are TRL's `vllm_importance_sampling_mode` names; verl's `rollout_is =
"token"` / `"sequence"` with a float threshold is `token_truncate` / `sequence_truncate`
with `tis_clip_min = 0`, its IcePop string "lower_upper" is `token_mask` /
`sequence_mask`. verl clamps the log ratio to +-20 before exp (`SAFETY_BOUND`); TRL and
simrl do not (they differ only for ratios beyond e^20, which truncation clamps anyway).
"""

from __future__ import annotations

import numpy as np

from simrl.theory import log_softmax
from simrl.validate import NONNEG, NONNEG_INT, POS, Range, one_of, param

#: algo.tis: TRL 1.16.0 GRPOConfig.vllm_importance_sampling_mode's values, and "off"
TIS_MODES = ("off", "token_truncate", "token_mask", "sequence_truncate", "sequence_mask")


#: the algo fields of the sampler and their "off" values
SAMPLER_FIELDS = (
    ("temperature", 1.0),
    ("top_p", 1.0),
    ("top_k", 0),
    ("staleness", 0),
    ("tis", "off"),
)

#: the sampler's algo fields, in order (simrl/config.py declares them in AlgoConfig):
#: name -> (type, param)
FIELDS = {
    "temperature": (
        float,
        param(
            1.0,
            "rollout temperature T: responses are drawn from softmax(z / T) (then top_k, top_p) and the loss trains the tempered policy softmax(z / T), old log-probs, reference and entropies tempered alike (TRL GRPOConfig.temperature, verl rollout.temperature; simrl/rollout_sampling.py); the exact metrics measure softmax(z); 1 = off",
            POS,
        ),
    ),
    "top_p": (
        float,
        param(
            1.0,
            "rollout nucleus sampling: drop the least likely tokens whose cumulative probability is <= 1 - top_p (transformers TopPLogitsWarper; TRL/verl top_p); 1 = off",
            Range(0.0, 1.0, lo_open=True),
        ),
    ),
    "top_k": (
        int,
        param(
            0,
            "rollout top-k sampling: keep the tokens whose logit is >= the k-th largest (transformers TopKLogitsWarper; TRL top_k, verl top_k); 0 = off",
            NONNEG_INT,
        ),
    ),
    "staleness": (
        int,
        param(
            0,
            "rollouts drawn from the policy k updates old (the logits at the start of step max(t - k, 0)), as in asynchronous RL; the PPO ratio stays against the step's start (TRL/verl recompute old log-probs); 0 = on-policy",
            NONNEG_INT,
        ),
    ),
    "tis": (
        str,
        param(
            "off",
            "truncated importance sampling of the sampler mismatch, rho = pi_old(a) / q(a) times the per-token policy loss: 'token_truncate', 'token_mask', 'sequence_truncate', 'sequence_mask' (TRL vllm_importance_sampling_mode; verl rollout_is token / sequence, IcePop = *_mask); 'off' = uncorrected",
            one_of(TIS_MODES),
        ),
    ),
    "tis_clip_max": (
        float,
        param(
            2.0,
            "upper bound of the TIS weight (verl rollout_is_threshold 2.0; TRL vllm_importance_sampling_clip_max 3.0)",
            POS,
        ),
    ),
    "tis_clip_min": (
        float,
        param(
            0.0,
            "lower bound of the TIS weight: truncate clamps up to it, mask zeroes below it (TRL vllm_importance_sampling_clip_min; 0 = none, verl's TIS)",
            NONNEG,
        ),
    ),
}


def declared_fields() -> list[tuple[str, type, object]]:
    """The fields for dataclasses.make_dataclass, in order."""
    return [(name, typ, p) for name, (typ, p) in FIELDS.items()]


def first_sampler_field(a) -> str | None:
    """The first sampler field of algo section `a` away from its off value, or None."""
    return next((name for name, off in SAMPLER_FIELDS if getattr(a, name) != off), None)


def differs(a) -> bool:
    """Does the rollout sampler of algo section `a` differ from pi_old (or correct it)?
    False at every default: the engines then take their old path, bitwise."""
    return first_sampler_field(a) is not None


def truncated_logits(z: np.ndarray, temperature: float, top_p: float, top_k: int) -> np.ndarray:
    """The sampler's logits (rows of z): z / T, then top-k, then top-p, removed entries
    -inf (transformers TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper with
    min_tokens_to_keep 1; the order of vLLM's sampler)."""
    zt = z / temperature if temperature != 1.0 else z.copy()
    K = zt.shape[-1]
    if 0 < top_k < K:  # keep logits >= the k-th largest (ties at it kept)
        kth = np.sort(zt, axis=-1)[..., K - top_k : K - top_k + 1]
        zt = np.where(zt < kth, -np.inf, zt)
    if top_p < 1.0:
        order = np.argsort(zt, axis=-1, kind="stable")  # ascending
        sorted_z = np.take_along_axis(zt, order, axis=-1)
        cum = np.cumsum(np.exp(log_softmax(sorted_z)), axis=-1)
        remove = cum <= 1.0 - top_p
        remove[..., -1] = False  # the largest is always kept
        drop = np.zeros(zt.shape, dtype=bool)
        np.put_along_axis(drop, order, remove, axis=-1)
        zt = np.where(drop, -np.inf, zt)
    return zt


def sampler_logp(z_behaviour: np.ndarray, a) -> np.ndarray:
    """log q: the sampler's log-probabilities (-inf where truncated)."""
    return log_softmax(truncated_logits(z_behaviour, a.temperature, a.top_p, a.top_k))


def tempered(z: np.ndarray, temperature: float) -> np.ndarray:
    """z / T (z itself at T = 1)."""
    return z / temperature if temperature != 1.0 else z


def behaviour_logits(history: tuple, z0: np.ndarray, staleness: int) -> np.ndarray:
    """The logits the step's rollouts are drawn from: those at the start of step
    max(t - k, 0) (history holds the starts of the last k steps, oldest first), or z0."""
    return history[0] if staleness > 0 and history else z0


def next_history(history: tuple, z0: np.ndarray, staleness: int) -> tuple:
    """The ring of the last k step starts after this step (z0 its start)."""
    if staleness <= 0:
        return ()
    return (*history, z0.copy())[-staleness:]


def tis_weights(
    log_ratio: np.ndarray, seq: np.ndarray, mode: str, clip_min: float, clip_max: float
) -> np.ndarray:
    """Per-token importance weights rho (detached) from each token's log ratio
    log pi_T,old(a) - log q(a); seq (N,) each token's response. TRL 1.16.0
    `_generate_and_score_completions` (vllm_importance_sampling_mode): sequence modes
    exp(sum of the response's log ratios), token modes exp(log ratio); `*_truncate`
    clamps to [clip_min, clip_max] (clip_min 0: no lower bound, verl's TIS), `*_mask`
    zeroes weights outside it (verl's IcePop)."""
    level, _, rule = mode.partition("_")
    if level == "sequence":
        lr = np.bincount(seq, weights=log_ratio)[seq]
    else:
        lr = log_ratio
    w = np.exp(lr)
    if rule == "truncate":
        return np.minimum(np.maximum(w, clip_min), clip_max)
    return np.where((w < clip_min) | (w > clip_max), 0.0, w)
