"""Parity with the real TRL: GRPOTrainer's own loss code against simrl's numpy and torch
forms, for every loss type the two share.

TRL's `GRPOTrainer._compute_loss` (trl/trainer/grpo_trainer.py, TRL_VERSION below) runs
unchanged on random float64 tensors: a batch of B completions of ragged lengths (mask of
trailing padding), old log-probs, advantages (one exactly 0) and current log-probs that
are a leaf tensor. Building a trainer needs a model, a dataset and reward functions that
the loss never reads, so the test binds `_compute_loss` (and the static
`get_off_policy_mask`, `get_gamma_weights` it calls) to a small object carrying only the
attributes the method reads (`TrlStub`); `_get_per_token_logps_and_entropies`, the model's
forward, returns the leaf. The loss value and its gradient with respect to the
log-probs must agree with simrl's aggregated loss (simrl/aggregation.py's weights W of
the same mask: sum_t W_t loss_t, gradient W_t dlogp_t) within 1e-10, for the numpy form
(the specification) and the torch form (autograd).

TRL loss type -> simrl (MAPPING below; docs/adding-an-algorithm.md has the same table):

| TRL loss_type (importance_sampling_level) | simrl algo.loss | simrl algo.agg |
|---|---|---|
| grpo (token)     | vanilla   | seq-mean-token-mean |
| bnpo (token)     | vanilla   | token-mean |
| dapo (token)     | vanilla   | token-mean (TRL: num_items_in_batch, one process) |
| dr_grpo (token)  | vanilla   | seq-mean-token-sum, times 1/T (TRL: token sum / (B max_completion_length), T here) |
| cispo (token)    | cispo_trl | token-mean |
| luspo (sequence) | luspo     | seq-mean-token-sum |
| luspo (token)    | vanilla   | seq-mean-token-sum |
| grpo (sequence)  | luspo     | seq-mean-token-mean (TRL's GSPO) |
| dapo (sequence)  | luspo     | token-mean |
| vespo (token)    | vespo     | token-mean |
| any of the above with off_policy_mask_threshold | opsm (for vanilla), luspo, vespo | algo.opsm_threshold |

TRL's epsilon / epsilon_high are simrl's clip_low / clip_high; vanilla's dual clip is off
(TRL has none), and TRL's `delta` (two-sided clip) is not in simrl. Not shared: TRL's
sapo; simrl's pg, clip_cov, kl_cov, steer, cispo (verl's clamp), ce_gppo.
"""

from __future__ import annotations

import types
from collections import defaultdict

import numpy as np
import pytest

trl = pytest.importorskip("trl", reason="parity with TRL needs trl: pip install trl==1.16.0")
torch = pytest.importorskip("torch", reason="parity with TRL needs torch")
from trl.trainer.grpo_trainer import GRPOTrainer  # noqa: E402

from simrl.aggregation import AGGREGATIONS  # noqa: E402
from simrl.algorithms.tokens import TokenBatch, TorchTokens  # noqa: E402
from simrl.bridge.losses import TORCH_LOSSES  # noqa: E402
from simrl.config import AlgoConfig  # noqa: E402
from simrl.losses import POLICY_LOSSES  # noqa: E402

TRL_VERSION = "1.16.0"  # the version whose code these mappings were read from
TOL = 1e-10
B, T = 8, 6
CLIP_LOW, CLIP_HIGH = 0.2, 0.28
CISPO_CLIP_HIGH = 1.2  # TRL's cispo bound is epsilon_high itself (TRL suggests ~5)
OPSM = 0.1


def test_installed_trl_is_the_version_read():
    assert trl.__version__ == TRL_VERSION


# (TRL loss_type, importance_sampling_level) -> (simrl loss, aggregation, scale)
MAPPING = {
    ("grpo", "token"): ("vanilla", "seq-mean-token-mean", 1.0),
    ("bnpo", "token"): ("vanilla", "token-mean", 1.0),
    ("dapo", "token"): ("vanilla", "token-mean", 1.0),
    ("dr_grpo", "token"): ("vanilla", "seq-mean-token-sum", 1.0 / T),
    ("cispo", "token"): ("cispo_trl", "token-mean", 1.0),
    ("luspo", "sequence"): ("luspo", "seq-mean-token-sum", 1.0),
    ("luspo", "token"): ("vanilla", "seq-mean-token-sum", 1.0),
    ("grpo", "sequence"): ("luspo", "seq-mean-token-mean", 1.0),
    ("dapo", "sequence"): ("luspo", "token-mean", 1.0),
    ("vespo", "token"): ("vespo", "token-mean", 1.0),
}
#: with TRL's off-policy sequence mask: the loss that carries algo.opsm_threshold
WITH_OPSM = {
    ("grpo", "token"): "opsm",
    ("dapo", "token"): "opsm",
    ("dr_grpo", "token"): "opsm",
    ("luspo", "sequence"): "luspo",
    ("grpo", "sequence"): "luspo",
    ("vespo", "token"): "vespo",
}
CASES = [(*k, None) for k in MAPPING] + [(*k, OPSM) for k in WITH_OPSM]


def make_data(seed: int = 0) -> dict[str, np.ndarray]:
    """B completions of lengths 1..T (one of each end), old log-probs, current log-probs
    off by a per-response shift plus per-token noise (ratios on both sides of the clip
    band, responses on both sides of the mask threshold), advantages with one 0."""
    rng = np.random.default_rng(seed)
    length = rng.integers(1, T + 1, size=B)
    length[:2] = (1, T)
    mask = (np.arange(T)[None, :] < length[:, None]).astype(np.float64)
    logp_old = np.log(rng.uniform(0.05, 0.9, size=(B, T)))
    shift = rng.normal(0.0, 0.3, size=(B, 1))
    logp = logp_old + shift + rng.normal(0.0, 0.2, size=(B, T))
    adv = rng.normal(size=B)
    adv[3] = 0.0
    return {"mask": mask, "logp_old": logp_old, "logp": logp, "adv": adv}


class TrlStub:
    """The attributes trl 1.16.0's GRPOTrainer._compute_loss reads, nothing else; its
    methods are TRL's own functions."""

    _compute_loss = GRPOTrainer._compute_loss
    get_off_policy_mask = staticmethod(GRPOTrainer.get_off_policy_mask)
    get_gamma_weights = staticmethod(GRPOTrainer.get_gamma_weights)

    def __init__(self, loss_type: str, level: str, opsm: float | None, logp, p: AlgoConfig):
        self.logp = logp
        self.loss_type = loss_type
        self.importance_sampling_level = level
        self.off_policy_mask_threshold = opsm
        self.epsilon_low, self.epsilon_high = p.clip_low, p.clip_high
        self.beta = 0.0
        self.top_entropy_quantile = 1.0
        self.use_vllm = False
        self.vllm_importance_sampling_correction = False
        self.aux_loss_enabled = False
        self._entropy_bonus_enabled = False
        self.max_completion_length = T
        self.current_gradient_accumulation_steps = 1
        self.model = types.SimpleNamespace(training=True)
        self.accelerator = types.SimpleNamespace(
            num_processes=1,
            sync_gradients=True,
            gather=lambda x: x,
            gather_for_metrics=lambda x: x,
            reduce=lambda x, reduction="sum": x,
        )
        self.args = types.SimpleNamespace(
            delta=None,
            steps_per_generation=1,
            use_bias_correction_kl=True,
            vespo_k_pos=p.vespo_k_pos,
            vespo_lambda_pos=p.vespo_lambda_pos,
            vespo_k_neg=p.vespo_k_neg,
            vespo_lambda_neg=p.vespo_lambda_neg,
        )
        self._metrics = defaultdict(lambda: defaultdict(list))

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, keep, **kw):
        return self.logp, torch.zeros_like(self.logp), None


def trl_loss(loss_type, level, opsm, d, p) -> tuple[float, np.ndarray]:
    """TRL's loss and its gradient (B, T) with respect to the log-probs."""
    logp = torch.tensor(d["logp"], requires_grad=True)
    mask = torch.tensor(d["mask"])
    inputs = {
        "prompt_ids": torch.zeros((B, 1), dtype=torch.long),
        "prompt_mask": torch.ones((B, 1), dtype=torch.long),
        "completion_ids": torch.zeros((B, T), dtype=torch.long),
        "completion_mask": mask,
        "advantages": torch.tensor(d["adv"]),
        "old_per_token_logps": torch.tensor(d["logp_old"]),
        "num_items_in_batch": mask.sum(),
    }
    loss = TrlStub(loss_type, level, opsm, logp, p)._compute_loss(None, inputs)
    (grad,) = torch.autograd.grad(loss, logp)
    return float(loss.detach()), grad.numpy()


def tokens(d):
    """The masked tokens in row-major order: (B, T) index, seq, pos, length."""
    m = d["mask"].astype(bool)
    seq, pos = np.nonzero(m)
    return m, seq, pos, m.sum(1)[seq]


def simrl_numpy(name, agg, scale, d, p) -> tuple[float, np.ndarray, object]:
    m, seq, pos, length = tokens(d)
    b = TokenBatch(
        d["logp"][m], d["logp_old"][m], d["adv"][seq], np.zeros(seq.size), None, seq, pos, length
    )
    out = POLICY_LOSSES[name].fn(b, p)
    w = AGGREGATIONS[agg].fn(d["mask"])[m] * scale
    grad = np.zeros((B, T))
    grad[m] = w * out.dlogp
    return float(np.sum(w * out.loss)), grad, out


def simrl_torch(name, agg, scale, d, p) -> tuple[float, np.ndarray]:
    m, seq, pos, length = tokens(d)
    logp = torch.tensor(d["logp"][m], requires_grad=True)
    b = TorchTokens(
        logp=logp,
        logp_old=torch.tensor(d["logp_old"][m]),
        adv=torch.tensor(d["adv"][seq]),
        entropy_old=torch.zeros(seq.size, dtype=torch.float64),
        keys=None,
        seq=torch.as_tensor(seq),
        pos=torch.as_tensor(pos),
        length=torch.as_tensor(length),
    )
    w = torch.tensor(AGGREGATIONS[agg].fn(d["mask"])[m] * scale)
    loss = (w * TORCH_LOSSES[name].fn(b, p).loss).sum()
    (g,) = torch.autograd.grad(loss, logp)
    grad = np.zeros((B, T))
    grad[m] = g.numpy()
    return float(loss.detach()), grad


def config(loss_type: str, opsm: float | None) -> AlgoConfig:
    clip_high = CISPO_CLIP_HIGH if loss_type == "cispo" else CLIP_HIGH
    return AlgoConfig(clip_low=CLIP_LOW, clip_high=clip_high, opsm_threshold=opsm or 0.0)


@pytest.mark.parametrize(
    "loss_type, level, opsm", CASES, ids=[f"{t}-{lv}{'-opsm' if o else ''}" for t, lv, o in CASES]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_simrl_matches_trl_value_and_gradient(loss_type, level, opsm, seed):
    name, agg, scale = MAPPING[(loss_type, level)]
    if opsm is not None:
        name = WITH_OPSM[(loss_type, level)]
    d, p = make_data(seed), config(loss_type, opsm)
    want, want_grad = trl_loss(loss_type, level, opsm, d, p)
    got, grad, _ = simrl_numpy(name, agg, scale, d, p)
    assert abs(got - want) <= TOL, ("numpy", got, want)
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=TOL, err_msg="numpy")
    got, grad = simrl_torch(name, agg, scale, d, p)
    assert abs(got - want) <= TOL, ("torch", got, want)
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=TOL, err_msg="torch")


@pytest.mark.parametrize("seed", [0, 1])
def test_the_data_reach_every_branch(seed):
    """The comparisons above are not vacuous: each clip binds on both sides, some
    responses' sequence ratio is clipped, OPSM drops some A < 0 responses and keeps
    others, VESPO's weights are far from 1, the cispo clamp binds."""
    d = make_data(seed)
    _, _, van = simrl_numpy("vanilla", "token-mean", 1.0, d, config("dapo", None))
    assert van.clip_low.any() and van.clip_high.any()
    _, _, lus = simrl_numpy("luspo", "token-mean", 1.0, d, config("luspo", None))
    assert lus.clip_low.any() or lus.clip_high.any()
    assert not (lus.clip_low | lus.clip_high).all()
    _, _, ops = simrl_numpy("opsm", "token-mean", 1.0, d, config("dapo", OPSM))
    _, seq, _, _ = tokens(d)
    negative = d["adv"][seq] < 0
    assert ops.selected.any() and (negative & ~ops.selected).any()
    _, _, ves = simrl_numpy("vespo", "token-mean", 1.0, d, config("vespo", None))
    nonzero = d["adv"][seq] != 0
    phi = ves.dlogp[nonzero] / -d["adv"][seq][nonzero]
    assert np.max(np.abs(phi - 1.0)) > 0.3
    _, _, cis = simrl_numpy("cispo_trl", "token-mean", 1.0, d, config("cispo", None))
    assert cis.clip_high.any()
