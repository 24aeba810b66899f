"""Parity with verl itself: simrl's policy losses against verl's own registered functions.

verl 0.9.1 (VERL_VERSION; .ci/run installs it pinned, with --no-deps and the packages its
core_algos imports): `get_policy_loss_fn(name)` with verl's own `ActorConfig` /
`PolicyLossConfig`, on random float64 (old_log_prob, log_prob, advantages, response_mask)
with responses of unequal lengths, against simrl's torch form (autograd) and numpy form
(`dlogp`), each aggregated with simrl's weights (simrl/aggregation.py): the loss value
and its gradient with respect to log_prob, max abs difference 1e-10, for every loss
name simrl shares with verl (SHARED).

verl's per-response divisions carry a guard, / (|y| + 1e-8), where simrl divides by |y|:
in agg_loss's "seq-mean-token-mean" and in geo_mean's means. Where it applies the
comparison feeds the same guard to simrl (`verl_weights`, and GMPO's inputs: see
test_gmpo_matches_verl_geo_mean) and a separate test bounds the unguarded difference by
1e-8 relative. verl's clip_cov removes a random choice (torch.randperm) of at most
clip_num eligible tokens: the inputs here have fewer eligible tokens than clip_num, so
verl removes all of them whatever its permutation, and simrl's keys do not matter.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

core = pytest.importorskip(
    "verl.trainer.ppo.core_algos",
    reason="verl not installed (.ci/run: pip install --no-deps verl==0.9.1 and its core_algos imports)",
)
from verl.workers.config.actor import ActorConfig, PolicyLossConfig  # noqa: E402

from simrl.aggregation import AGGREGATIONS  # noqa: E402
from simrl.algorithms.aggregation import weights  # noqa: E402
from simrl.algorithms.kl_estimators import KL_ESTIMATORS  # noqa: E402
from simrl.algorithms.losses import POLICY_LOSSES  # noqa: E402
from simrl.algorithms.tokens import TokenBatch, TorchTokens  # noqa: E402
from simrl.config import AlgoConfig  # noqa: E402

VERL_VERSION = "0.9.1"  # the verl whose core_algos.py the loss modules were read from
TOL = 1e-10
GUARD = 1e-8  # verl's guard in its per-response divisions
LENGTHS = (6, 3, 1, 4, 5, 2)  # responses of unequal lengths, padded to T
B, T = len(LENGTHS), max(LENGTHS)

#: simrl loss -> the verl registry name of the same rule
SHARED = {
    "vanilla": "vanilla",
    "clip_cov": "clip_cov",
    "kl_cov": "kl_cov",
    "cispo": "cispo",
    "gspo": "gspo",
    "gmpo": "geo_mean",
    "sapo": "sapo",
    "gpg": "gpg",
    "dppo_tv": "dppo_tv",
    "dppo_kl": "dppo_kl",
    "dro": "dro",
}
#: verl's registered losses simrl does not have, and why
VERL_ONLY = {
    "bypass_mode": "a dispatcher over rollout-correction weights to vanilla or to the "
    "unregistered compute_policy_loss_reinforce (= gpg without weights, compared below)",
}
# simrl's pg (-r A, gradient -A r) has no verl counterpart: verl's REINFORCE is -A log pi
# (gpg); steer and cispo_trl follow STEER's public code and TRL.

#: verl 0.9.1's aggregation modes (agg_loss), every one of which simrl has under its name;
#: seq-mean-token-sum-norm divides the token sum by B x T (global_batch_size, then
#: loss_scale_factor = T), as simrl's does since issue 17 (simrl's older rule, sum / T,
#: is `token-sum-norm`, which verl 0.9.1 does not have)
MODES = (
    "token-mean",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
    "token-sum",
)
#: simrl KL estimator -> the verl kl_penalty name of the same rule (verl's aliases too)
KL_SHARED = {
    "k1": ("kl", "k1"),
    "k2": ("mse", "k2"),
    "k3": ("low_var_kl", "k3"),
    "abs": ("abs",),
    "k1+": ("k1+", "kl+"),
    "k3+": ("k3+", "low_var_kl+"),
}

#: shared settings; the thresholds bind on some tokens of the inputs and not on others
CLIP_LOW, CLIP_HIGH = 0.1, 0.12
SETTINGS = dict(
    clip_low=CLIP_LOW,
    clip_high=CLIP_HIGH,
    clip_cov_ratio=0.5,
    clip_cov_lb=0.1,
    clip_cov_ub=5.0,
    kl_cov_ratio=0.2,
    kl_cov_coef=0.7,
    tau_pos=0.8,
    tau_neg=1.3,
    dro_beta=0.4,
    dppo_ratio_cap=1.2,
)


def inputs(seed: int = 0):
    """(old_log_prob, log_prob, advantages, response_mask), each (B, T) float64; the
    padding holds junk; one response has A = 0; one token of an A < 0 response has
    ratio e^1.5 > 3 (the dual clip's c)."""
    rng = np.random.default_rng(seed)
    mask = (np.arange(T)[None, :] < np.array(LENGTHS)[:, None]).astype(float)
    old = np.log(rng.uniform(0.05, 0.95, (B, T)))
    new = np.minimum(old + rng.normal(0.0, 0.4, (B, T)), -1e-3)
    adv_seq = rng.normal(size=B)
    adv_seq[3] = 0.0
    adv_seq[0] = -abs(adv_seq[0])
    new[0, 2] = min(old[0, 2] + 1.5, -1e-3)
    if new[0, 2] - old[0, 2] < 1.2:  # keep the planted ratio above 3
        old[0, 2], new[0, 2] = -2.0, -0.4
    adv = np.repeat(adv_seq[:, None], T, axis=1)
    return tuple(torch.tensor(x) for x in (old, new, adv, mask))


def verl_config(verl_name: str, mode: str, dual_clip: float = 0.0) -> ActorConfig:
    s = SETTINGS
    return ActorConfig(
        strategy="fsdp",
        rollout_n=1,
        ppo_micro_batch_size_per_gpu=1,
        clip_ratio=CLIP_LOW,
        clip_ratio_low=CLIP_LOW,
        clip_ratio_high=CLIP_HIGH,
        # vanilla's dual-clip c (1e9: off); DPPO's weight cap
        clip_ratio_c=(dual_clip or 1e9) if verl_name == "vanilla" else s["dppo_ratio_cap"],
        tau_pos=s["tau_pos"],
        tau_neg=s["tau_neg"],
        loss_agg_mode=mode,
        policy_loss=PolicyLossConfig(
            loss_mode=verl_name,
            clip_cov_ratio=s["clip_cov_ratio"],
            clip_cov_lb=s["clip_cov_lb"],
            clip_cov_ub=s["clip_cov_ub"],
            kl_cov_ratio=s["kl_cov_ratio"],
            ppo_kl_coef=s["kl_cov_coef"],
            dro_beta=s["dro_beta"],
        ),
    )


def simrl_config(name: str, mode: str, dual_clip: float = 0.0) -> AlgoConfig:
    return AlgoConfig(loss=name, agg=mode, dual_clip=dual_clip, **SETTINGS)


def verl_loss(fn, cfg, old, new, adv, mask, mode):
    """verl's loss and d loss / d log_prob (B, T)."""
    leaf = new.clone().requires_grad_(True)
    loss, _ = fn(
        old_log_prob=old, log_prob=leaf, advantages=adv, response_mask=mask,
        loss_agg_mode=mode, config=cfg,
    )  # fmt: skip
    loss.backward()
    return loss.detach().item(), leaf.grad


def verl_weights(mode: str, mask: np.ndarray, loss_scale_factor: float = 0.0) -> np.ndarray:
    """simrl's aggregation weights, with verl's guard where verl has one."""
    if mode == "seq-mean-token-mean":
        return mask / (mask.sum(1, keepdims=True) + GUARD) / mask.shape[0]
    return weights(AGGREGATIONS[mode], mask, loss_scale_factor)


def token_places(mask: torch.Tensor, length: torch.Tensor | None = None):
    """Per valid token (row-major): its response, position and response length."""
    m = mask.bool()
    seq = torch.arange(B)[:, None].expand(B, T)[m]
    pos = torch.arange(T)[None, :].expand(B, T)[m]
    if length is None:
        length = mask.sum(1)
    return m, seq, pos, length[:, None].expand(B, T)[m]


def simrl_torch(name, p, old, new, adv, mask, weights, length=None, keys=None):
    """simrl's torch form: sum(weights * loss) and its gradient in log_prob (B, T)."""
    m, seq, pos, length_t = token_places(mask, length)
    leaf = new.clone().requires_grad_(True)
    b = TorchTokens(leaf[m], old[m], adv[m], torch.zeros_like(old[m]), keys, seq, pos, length_t)
    out = POLICY_LOSSES[name].torch(b, p)
    loss = (torch.as_tensor(weights)[m] * out.loss).sum()
    loss.backward()
    return loss.item(), leaf.grad, out


def simrl_numpy(name, p, old, new, adv, mask, weights, length=None, keys=None):
    """simrl's numpy form: sum(weights * loss) and weights * dlogp at the valid tokens."""
    m, seq, pos, length_t = token_places(mask, length)
    m = m.numpy()
    b = TokenBatch(
        new.numpy()[m], old.numpy()[m], adv.numpy()[m], np.zeros(m.sum()), keys,
        seq.numpy(), pos.numpy(), length_t.numpy(),
    )  # fmt: skip
    out = POLICY_LOSSES[name].numpy(b, p)
    grad = np.zeros((B, T))
    grad[m] = weights[m] * out.dlogp
    return float((weights[m] * out.loss).sum()), torch.as_tensor(grad), out


def assert_parity(want, got):
    (v_want, g_want), (v_got, g_got) = want, got
    assert abs(v_got - v_want) <= TOL, f"loss {v_got!r} vs verl {v_want!r}"
    diff = (g_got - g_want).abs().max().item()
    assert diff <= TOL, f"gradient differs from verl's by {diff:.3g}"


def compare(name, mode, dual_clip=0.0, seed=0):
    """simrl's torch and numpy forms against verl's registered function."""
    old, new, adv, mask = inputs(seed)
    verl_name = SHARED[name]
    fn = core.get_policy_loss_fn(verl_name)
    want = verl_loss(fn, verl_config(verl_name, mode, dual_clip), old, new, adv, mask, mode)
    assert want[1].abs().max() > 1e-3  # the case moves something
    p, w = simrl_config(name, mode, dual_clip), verl_weights(mode, mask.numpy())
    keys = np.random.default_rng(seed).random(int(mask.sum()))
    v, g, out_t = simrl_torch(name, p, old, new, adv, mask, w, keys=keys)
    assert_parity(want, (v, g))
    v, g, out_n = simrl_numpy(name, p, old, new, adv, mask, w, keys=keys)
    assert_parity(want, (v, g))
    return out_t, out_n


def modes_for(names):
    return [pytest.param(n, m) for n in names for m in MODES]


def test_verl_is_the_version_the_rules_were_read_from():
    import verl

    assert verl.__version__ == VERL_VERSION


def test_every_verl_loss_is_shared_or_explained():
    assert set(core.POLICY_LOSS_REGISTRY) == set(SHARED.values()) | set(VERL_ONLY)
    assert set(SHARED) <= set(POLICY_LOSSES.names)


# verl's losses that aggregate with loss_agg_mode: every mode simrl has
@pytest.mark.parametrize(
    ("name", "mode"),
    modes_for(["vanilla", "kl_cov", "cispo", "gspo", "gpg", "dppo_tv", "dppo_kl", "dro"]),
)
def test_loss_matches_verl(name, mode):
    out, _ = compare(name, mode)
    flagged = out.clip_low | out.clip_high
    if name in ("vanilla", "cispo", "gspo", "dppo_tv", "dppo_kl"):
        assert flagged.any() and not flagged.all()  # the thresholds bind on some tokens
    if name == "kl_cov":
        assert out.selected.any()


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean"])
def test_vanilla_dual_clip_matches_verl_clip_ratio_c(mode):
    out, _ = compare("vanilla", mode, dual_clip=3.0)
    assert out.clip_dual.any()


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum"])
def test_clip_cov_matches_verl_when_its_choice_is_determined(mode):
    # fewer eligible tokens than clip_num: verl's random permutation removes them all
    out, out_n = compare("clip_cov", mode)
    clip_num = max(int(SETTINGS["clip_cov_ratio"] * sum(LENGTHS)), 1)
    assert 0 < int(out.selected.sum()) < clip_num
    assert np.array_equal(out.selected.numpy(), out_n.selected)


def test_sapo_matches_verl_which_always_aggregates_seq_mean_token_mean():
    compare("sapo", "seq-mean-token-mean")
    # verl ignores loss_agg_mode for sapo
    old, new, adv, mask = inputs()
    fn = core.get_policy_loss_fn("sapo")
    a = verl_loss(fn, verl_config("sapo", "token-mean"), old, new, adv, mask, "token-mean")
    b = verl_loss(fn, verl_config("sapo", "seq-mean-token-mean"), old, new, adv, mask, "x")
    assert a[0] == b[0]


def test_gmpo_matches_verl_geo_mean():
    """verl's geo_mean is the mean over responses of -A_i R_i: simrl's gmpo under
    seq-mean-token-mean. verl divides by |y| + 1e-8 in R_i's exponent and in A_i's mean
    (and so in the derivative of R_i); fed the same (length |y| + 1e-8, A |y| / (|y| +
    1e-8), the derivative of the mean times |y| / (|y| + 1e-8)), simrl matches to 1e-10."""
    old, new, adv, mask = inputs()
    fn = core.get_policy_loss_fn("geo_mean")
    want = verl_loss(fn, verl_config("geo_mean", "token-mean"), old, new, adv, mask, "token-mean")
    L = mask.sum(1)
    guarded_len = L + GUARD
    adv_mean = adv * (L / guarded_len)[:, None]
    p = simrl_config("gmpo", "seq-mean-token-mean")
    w = AGGREGATIONS["seq-mean-token-mean"].fn(mask.numpy())
    scale = (L / guarded_len)[:, None]  # d (sum x / (|y| + 1e-8)) / dx over d mean / dx
    for form in (simrl_torch, simrl_numpy):
        v, g, out = form("gmpo", p, old, new, adv_mean, mask, w, length=guarded_len)
        assert_parity(want, (v, g * scale))
    assert out.clip_low.any() and out.clip_high.any()


@pytest.mark.parametrize("name", ["vanilla", "gspo", "sapo", "gmpo"])
def test_without_verl_guard_the_difference_is_its_size(name):
    """simrl's own seq-mean-token-mean (and GMPO's means) divide by |y|, verl by |y| + 1e-8:
    every term differs by a relative 1e-8 / |y| (GMPO: its three divisions, < 3e-8)."""
    old, new, adv, mask = inputs()
    verl_name, mode = SHARED[name], "seq-mean-token-mean"
    fn = core.get_policy_loss_fn(verl_name)
    want = verl_loss(fn, verl_config(verl_name, mode), old, new, adv, mask, mode)
    w = AGGREGATIONS[mode].fn(mask.numpy())
    v, g, out = simrl_torch(name, simrl_config(name, mode), old, new, adv, mask, w)
    terms = (torch.as_tensor(w)[mask.bool()] * out.loss.detach()).abs().sum().item()
    assert abs(v - want[0]) <= 3e-8 * terms
    assert ((g - want[1]).abs() <= 3e-8 * want[1].abs()).all()
    assert v != want[0] or not torch.equal(g, want[1])  # the guard is visible


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum"])
def test_gpg_is_verl_reinforce_without_rollout_weights(mode):
    old, new, adv, mask = inputs(1)
    cfg = verl_config("gpg", mode)
    leaf = new.clone().requires_grad_(True)
    loss, _ = core.compute_policy_loss_reinforce(old, leaf, adv, mask, mode, cfg, None)
    loss.backward()
    w = verl_weights(mode, mask.numpy())
    got = simrl_torch("gpg", simrl_config("gpg", mode), old, new, adv, mask, w)
    assert_parity((loss.item(), leaf.grad), got[:2])


# ---- aggregation: verl's agg_loss itself, with and without loss_scale_factor ----------


@pytest.mark.parametrize("scale", [None, 3, 0.25])
@pytest.mark.parametrize("mode", MODES)
def test_agg_loss_matches_verl(mode, scale):
    """verl's agg_loss(loss_mat, mask, mode, loss_scale_factor) against sum(W loss_mat)
    with simrl's weights (algo.loss_scale_factor 0 = verl's None): value and gradient in
    loss_mat, 1e-10."""
    _, new, _, mask = inputs(2)
    leaf = new.clone().requires_grad_(True)
    want = core.agg_loss(leaf, mask, mode, loss_scale_factor=scale)
    want.backward()
    w = verl_weights(mode, mask.numpy(), scale or 0.0)
    got = float((w * new.numpy()).sum())
    assert abs(got - want.item()) <= TOL
    np.testing.assert_allclose(w, leaf.grad.numpy(), rtol=0, atol=TOL)


def test_old_norm_rule_is_kept_as_token_sum_norm():
    """simrl's seq-mean-token-sum-norm before issue 17 (sum / T, older verl) lives on as
    token-sum-norm: B times verl 0.9.1's seq-mean-token-sum-norm, at every constant."""
    _, _, _, mask = inputs()
    m = mask.numpy()
    for scale in (0.0, 3.0):
        old_rule = weights(AGGREGATIONS["token-sum-norm"], m, scale)
        np.testing.assert_array_equal(old_rule, m / (scale or T))
        verl_rule = weights(AGGREGATIONS["seq-mean-token-sum-norm"], m, scale)
        np.testing.assert_allclose(old_rule, B * verl_rule, rtol=1e-15)


@pytest.mark.parametrize("name", ["vanilla", "gpg"])
def test_loss_with_loss_scale_factor_matches_verl(name):
    """A policy loss aggregated by seq-mean-token-sum-norm with verl's loss_scale_factor
    (passed as verl's trainer does, through config.global_batch_info)."""
    mode, scale = "seq-mean-token-sum-norm", 2.5
    old, new, adv, mask = inputs(3)
    cfg = verl_config(SHARED[name], mode)
    cfg.global_batch_info["loss_scale_factor"] = scale
    want = verl_loss(core.get_policy_loss_fn(SHARED[name]), cfg, old, new, adv, mask, mode)
    p = AlgoConfig(loss=name, agg=mode, loss_scale_factor=scale, **SETTINGS)
    w = verl_weights(mode, mask.numpy(), scale)
    assert_parity(want, simrl_torch(name, p, old, new, adv, mask, w)[:2])
    assert_parity(want, simrl_numpy(name, p, old, new, adv, mask, w)[:2])


# ---- KL estimators: verl's kl_penalty against each form ------------------------------


def kl_inputs(seed: int = 4):
    """(logp, ref_logp, old_logp) (B, T) float64, x = logp - ref in about [-2, 2] (inside
    verl's clamps: k3 is not clamped there), a few x exactly 0."""
    rng = np.random.default_rng(seed)
    logp = np.log(rng.uniform(0.05, 0.95, (B, T)))
    ref = logp - rng.uniform(-2.0, 2.0, (B, T))
    ref[0, :2] = logp[0, :2]  # x = 0: abs's derivative is 0 there, as torch's
    old = logp + rng.normal(0.0, 0.3, (B, T))
    return logp, ref, old


def test_every_verl_kl_penalty_is_shared():
    """verl's kl_penalty_forward names (every branch that returns) and their '+' forms."""
    names = {n for verl in KL_SHARED.values() for n in verl}
    for base in ("kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3"):
        assert base in names
    with pytest.raises(NotImplementedError):  # verl's "full" is the exact KL (not sampled)
        core.kl_penalty(torch.zeros(1), torch.zeros(1), "full")


@pytest.mark.parametrize(("name", "verl_name"), [(n, v) for n, vs in KL_SHARED.items() for v in vs])
def test_kl_estimator_matches_verl_kl_penalty(name, verl_name):
    """verl's kl_penalty (value and d / d logprob) against simrl's numpy form (k, dk) and
    torch form (value, autograd), 1e-10; the '+' names are straight-through (value of
    k1 / k3, gradient of k2)."""
    logp, ref, _ = kl_inputs()
    leaf = torch.tensor(logp, requires_grad=True)
    want = core.kl_penalty(leaf, torch.tensor(ref), verl_name)
    want.sum().backward()
    e = KL_ESTIMATORS[name]
    k, dk = e.numpy(logp, ref)
    np.testing.assert_allclose(k, want.detach().numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(dk, leaf.grad.numpy(), rtol=0, atol=TOL)
    lt = torch.tensor(logp, requires_grad=True)
    kt = e.torch(lt, torch.tensor(ref))
    kt.sum().backward()
    np.testing.assert_allclose(kt.detach().numpy(), want.detach().numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(lt.grad.numpy(), leaf.grad.numpy(), rtol=0, atol=TOL)
    if name in ("k1+", "k3+"):  # the straight-through gradient is k2's, the value is not
        assert not np.allclose(k, 0.5 * (logp - ref) ** 2)
        np.testing.assert_allclose(dk, logp - ref, rtol=0, atol=TOL)
