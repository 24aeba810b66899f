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
from simrl.algorithms.kl_estimator import sampled_kl, sampled_kl_torch  # noqa: E402
from simrl.algorithms.kl_estimators import KL_ESTIMATORS  # noqa: E402
from simrl.algorithms.tokens import TokenBatch, TorchTokens  # noqa: E402
from simrl.bridge.losses import TORCH_LOSSES  # noqa: E402
from simrl.config import AlgoConfig  # noqa: E402
from simrl.engine.reference import FORK_TIE_TOL, TokenTable, entropy_weight  # noqa: E402
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

    get_high_entropy_mask = GRPOTrainer.get_high_entropy_mask

    def __init__(
        self,
        loss_type: str,
        level: str,
        opsm: float | None,
        logp,
        p: AlgoConfig,
        *,
        beta: float = 0.0,
        bias_correction: bool = True,
        entropies=None,
        entropy_coef: float = 0.0,
        top_entropy_quantile: float = 1.0,
    ):
        self.logp = logp
        self.entropies = torch.zeros_like(logp) if entropies is None else entropies
        self.loss_type = loss_type
        self.importance_sampling_level = level
        self.off_policy_mask_threshold = opsm
        self.epsilon_low, self.epsilon_high = p.clip_low, p.clip_high
        self.beta = beta
        self.top_entropy_quantile = top_entropy_quantile
        self.entropy_coef = entropy_coef
        self.use_adaptive_entropy = False
        self.use_vllm = False
        self.vllm_importance_sampling_correction = False
        self.aux_loss_enabled = False
        self._entropy_bonus_enabled = entropy_coef != 0.0
        self.max_completion_length = T
        self.current_gradient_accumulation_steps = 1
        self.model = types.SimpleNamespace(training=True)
        self.accelerator = types.SimpleNamespace(
            num_processes=1,
            sync_gradients=True,
            gather=lambda x: x,
            gather_for_metrics=lambda x: x,
            reduce=lambda x, reduction="sum": x,
            pad_across_processes=lambda x, dim=0, pad_index=0: x,
        )
        self.args = types.SimpleNamespace(
            delta=None,
            steps_per_generation=1,
            use_bias_correction_kl=bias_correction,
            vespo_k_pos=p.vespo_k_pos,
            vespo_lambda_pos=p.vespo_lambda_pos,
            vespo_k_neg=p.vespo_k_neg,
            vespo_lambda_neg=p.vespo_lambda_neg,
        )
        self._metrics = defaultdict(lambda: defaultdict(list))

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, keep, **kw):
        return self.logp, self.entropies, None


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


# ---- TRL's bias-corrected KL (use_bias_correction_kl): simrl's k3_ratio --------------

BETA = 0.3


def ref_logps(d, seed: int = 7) -> np.ndarray:
    return d["logp"] - np.random.default_rng(seed).uniform(-1.5, 1.5, size=(B, T))


@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("loss_type", ["bnpo", "grpo", "dapo"])
def test_kl_matches_trl(loss_type, bias_correction):
    """TRL's loss with beta != 0 (per_token_kl = k3, times coef_1 = exp(logp - old) with
    use_bias_correction_kl, TRL's default) against simrl's loss plus beta times the
    sampled estimator k3_ratio (k3 without the correction), aggregated alike: value and
    gradient in the log-probs, numpy and torch forms, 1e-10."""
    d, p = make_data(1), config(loss_type, None)
    ref = ref_logps(d)
    logp = torch.tensor(d["logp"], requires_grad=True)
    mask = torch.tensor(d["mask"])
    inputs = {
        "prompt_ids": torch.zeros((B, 1), dtype=torch.long),
        "prompt_mask": torch.ones((B, 1), dtype=torch.long),
        "completion_ids": torch.zeros((B, T), dtype=torch.long),
        "completion_mask": mask,
        "advantages": torch.tensor(d["adv"]),
        "old_per_token_logps": torch.tensor(d["logp_old"]),
        "ref_per_token_logps": torch.tensor(ref),
        "num_items_in_batch": mask.sum(),
    }
    stub = TrlStub(loss_type, "token", None, logp, p, beta=BETA, bias_correction=bias_correction)
    loss = stub._compute_loss(None, inputs)
    (want_grad,) = torch.autograd.grad(loss, logp)
    want = float(loss.detach())
    name, agg, scale = MAPPING[(loss_type, "token")]
    kind = "k3_ratio" if bias_correction else "k3"
    e = KL_ESTIMATORS[kind]
    m = tokens(d)[0]
    w = AGGREGATIONS[agg].fn(d["mask"])[m] * scale
    # numpy
    v, g, _ = simrl_numpy(name, agg, scale, d, p)
    k, dk = sampled_kl(e, d["logp"][m], ref[m], d["logp_old"][m])
    v += BETA * float(np.sum(w * k))
    g[m] += BETA * w * dk
    assert abs(v - want) <= TOL, ("numpy", v, want)
    np.testing.assert_allclose(g, want_grad.numpy(), rtol=0, atol=TOL, err_msg="numpy")
    # torch
    lt = torch.tensor(d["logp"][m], requires_grad=True)
    kt = sampled_kl_torch(e, lt, torch.tensor(ref[m]), torch.tensor(d["logp_old"][m]))
    kl_term = BETA * (torch.tensor(w) * kt).sum()
    (gk,) = torch.autograd.grad(kl_term, lt)
    v, g = simrl_torch(name, agg, scale, d, p)
    v += float(kl_term.detach())
    g[m] += gk.numpy()
    assert abs(v - want) <= TOL, ("torch", v, want)
    np.testing.assert_allclose(g, want_grad.numpy(), rtol=0, atol=TOL, err_msg="torch")
    # the correction changes the gradient (the ratio carries one), not only off-policy
    plain = sampled_kl(KL_ESTIMATORS["k3"], d["logp"][m], ref[m], None)[1]
    assert (np.max(np.abs(dk - plain)) > 1e-2) == bias_correction


# ---- TRL's entropy bonus: simrl's algo.entropy_agg = "kept-token-mean" ---------------


@pytest.mark.parametrize("quantile", [1.0, 0.5])
@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo", "dapo"])
def test_entropy_bonus_matches_trl(loss_type, quantile):
    """TRL's entropy bonus (entropy_coef, with top_entropy_quantile's mask on the bonus
    too) is -coef times the mean entropy of the kept tokens, whatever the loss type:
    d loss / d H_t = -coef keep_t / sum keep, which is simrl's reference.entropy_weight
    under algo.entropy_agg = "kept-token-mean" (each token its own state here); TRL's
    kept tokens are simrl's forking-token rule's. The policy part is simrl's loss with
    the same mask. Value and gradients in the log-probs and in the entropies, 1e-10."""
    coef = 0.05
    d, p = make_data(2), config(loss_type, None)
    rng = np.random.default_rng(3)
    ent = rng.uniform(0.1, 2.0, size=(B, T))
    logp = torch.tensor(d["logp"], requires_grad=True)
    ent_t = torch.tensor(ent, requires_grad=True)
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
    stub = TrlStub(
        loss_type, "token", None, logp, p, entropies=ent_t, entropy_coef=coef,
        top_entropy_quantile=quantile,
    )  # fmt: skip
    loss = stub._compute_loss(None, inputs)
    want_glogp, want_gent = torch.autograd.grad(loss, (logp, ent_t))
    m, seq, pos, length = tokens(d)
    h = ent[m]
    keep = (
        h >= np.quantile(h, 1.0 - quantile) - FORK_TIE_TOL
        if quantile < 1.0
        else np.ones(h.size, dtype=bool)
    )
    assert keep.sum() < h.size or quantile == 1.0
    n = h.size
    table = TokenTable(
        state=np.arange(n), token=np.zeros(n, dtype=int), adv=d["adv"][seq], weight=np.ones(n),
        keys=None, seq=seq, pos=pos, length=length,
    )  # fmt: skip
    a = AlgoConfig(entropy_coef=coef, entropy_agg="kept-token-mean")
    w_ent = entropy_weight(a, table, keep, np.ones((n, 1)))[:, 0]
    name, agg, scale = MAPPING[(loss_type, "token")]
    w = AGGREGATIONS[agg].fn(d["mask"])[m] * scale * keep
    b = TokenBatch(
        d["logp"][m], d["logp_old"][m], d["adv"][seq], np.zeros(n), None, seq, pos, length
    )
    out = POLICY_LOSSES[name].fn(b, p)
    v = float(np.sum(w * out.loss)) - coef * float(np.sum(w_ent * h))
    assert abs(v - float(loss.detach())) <= TOL
    g = np.zeros((B, T))
    g[m] = w * out.dlogp
    np.testing.assert_allclose(g, want_glogp.numpy(), rtol=0, atol=TOL)
    g_ent = np.zeros((B, T))
    g_ent[m] = -coef * w_ent
    np.testing.assert_allclose(g_ent, want_gent.numpy(), rtol=0, atol=TOL)
    # simrl's default ("loss", verl's) weighs the entropies like the loss instead
    w_loss = entropy_weight(AlgoConfig(entropy_coef=coef), table, keep, w[:, None])[:, 0]
    if loss_type == "dr_grpo" or quantile < 1.0:
        assert np.max(np.abs(w_loss - w_ent)) > 1e-3
