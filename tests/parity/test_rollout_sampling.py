"""The rollout sampler's rules (simrl/rollout_sampling.py) against the installed
libraries' own functions, max abs difference 1e-10:

- the sampler q: transformers' `TemperatureLogitsWarper`, `TopKLogitsWarper`,
  `TopPLogitsWarper` (the order TRL's generate path and vLLM's sampler use), then softmax;
- the tempered log-probs and entropies the loss trains: TRL 1.16.0
  `trl/trainer/utils.py selective_log_softmax_and_entropy(logits, index, temperature=T)`;
- the TIS weights: verl 0.9.1 `trainer/ppo/rollout_corr_helper.py
  compute_rollout_correction_weights` (token and sequence level; a float threshold is
  TIS = simrl's `*_truncate` with tis_clip_min 0, a "lower_upper" string is IcePop =
  simrl's `*_mask`). TRL's own weights (`vllm_importance_sampling_mode`) are computed
  inline in `GRPOTrainer._generate_and_score_completions` and cannot be called alone;
  their `*_truncate` with a lower bound (clamp(min=clip_min)) has no callable reference.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the library parity needs torch")

from simrl.theory import entropy, log_softmax  # noqa: E402

from simrl.config import AlgoConfig  # noqa: E402
from simrl.rollout_sampling import sampler_logp, tis_weights  # noqa: E402

TOL = 1e-10
TRL_VERSION = "1.16.0"
VERL_VERSION = "0.9.1"


@pytest.mark.parametrize(
    "T, top_p, top_k",
    [(1.0, 1.0, 0), (0.6, 1.0, 0), (1.7, 0.9, 0), (1.0, 0.7, 0), (0.8, 1.0, 3), (1.3, 0.8, 4)],
)
def test_sampler_matches_the_transformers_warpers(T, top_p, top_k):
    tf = pytest.importorskip("transformers.generation.logits_process")
    rng = np.random.default_rng(17)
    z = rng.normal(0.0, 2.0, size=(40, 9))  # continuous: no ties at a cut
    scores = torch.tensor(z, dtype=torch.float64)
    if T != 1.0:
        scores = tf.TemperatureLogitsWarper(T)(None, scores)
    if top_k > 0:
        scores = tf.TopKLogitsWarper(top_k)(None, scores)
    if top_p < 1.0:
        scores = tf.TopPLogitsWarper(top_p)(None, scores)
    q_hf = torch.softmax(scores, -1).numpy()
    a = AlgoConfig(temperature=T, top_p=top_p, top_k=top_k)
    q = np.exp(sampler_logp(z, a))
    np.testing.assert_array_equal(q == 0.0, q_hf == 0.0)  # the same tokens removed
    assert np.abs(q - q_hf).max() <= TOL
    if top_p < 1.0 or top_k > 0:
        assert (q == 0.0).any()  # the case truncates something


@pytest.mark.parametrize("T", [0.5, 1.0, 1.9])
def test_tempered_logps_and_entropy_match_trl(T):
    trl = pytest.importorskip("trl", reason="parity with TRL needs trl==1.16.0")
    assert trl.__version__ == TRL_VERSION
    from trl.trainer.utils import selective_log_softmax_and_entropy

    rng = np.random.default_rng(3)
    z = rng.normal(0.0, 2.0, size=(5, 7, 11))
    idx = rng.integers(0, 11, size=(5, 7))
    lp, h = selective_log_softmax_and_entropy(
        torch.tensor(z), torch.tensor(idx), temperature=T, entropy_requires_grad=False
    )
    zt = z / T
    lp_np = np.take_along_axis(log_softmax(zt), idx[..., None], -1)[..., 0]
    assert np.abs(lp.numpy() - lp_np).max() <= TOL
    assert np.abs(h.numpy() - entropy(zt)).max() <= TOL


@pytest.mark.parametrize(
    "level, threshold, mode, lo, hi",
    [
        ("token", 2.0, "token_truncate", 0.0, 2.0),
        ("sequence", 2.0, "sequence_truncate", 0.0, 2.0),
        ("token", 1.3, "token_truncate", 0.0, 1.3),
        ("token", "0.8_1.25", "token_mask", 0.8, 1.25),
        ("sequence", "0.5_1.5", "sequence_mask", 0.5, 1.5),
    ],
)
def test_tis_weights_match_verl(level, threshold, mode, lo, hi):
    pytest.importorskip("verl", reason="parity with verl needs verl==0.9.1")
    import verl
    from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_weights

    assert verl.__version__ == VERL_VERSION
    rng = np.random.default_rng(5)
    B, T = 12, 6
    lengths = rng.integers(1, T + 1, size=B)
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(float)
    log_ratio = rng.normal(0.0, 0.3, size=(B, T)) * mask
    w_verl, _ = compute_rollout_correction_weights(
        torch.tensor(log_ratio),
        torch.tensor(mask),
        rollout_is=level,
        rollout_is_threshold=threshold,
    )
    m = mask.astype(bool)
    seq = np.repeat(np.arange(B)[:, None], T, axis=1)[m]
    w = tis_weights(log_ratio[m], seq, mode, lo, hi)
    assert np.abs(w - w_verl.numpy()[m]).max() <= TOL
    assert (w != np.exp(log_ratio[m])).any()  # the bound acts on this batch
