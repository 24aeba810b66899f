"""The policy losses' numpy forms against values written out by hand: value and d/dlogp
against central finite differences on a minibatch with ratios on every side of the clip
band, each loss's clip flags, CISPO's clamps, Clip-Cov's and KL-Cov's selections, STEER's
weights."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.algorithms.tokens import bandit_positions
from simrl.config import AlgoConfig
from simrl.losses import POLICY_LOSSES, TokenBatch, steer_omega, steer_weights
from tests.test_registries import central_difference

# ---- policy losses ----------------------------------------------------------------------
#
# A hand-built minibatch with ratios on every side of the clip band (clip_low 0.2,
# clip_high 0.28, dual clip 3), none within 1e-2 of a boundary:
#   token  0    1    2    3    4    5    6    7    8    9
#   ratio  0.5  0.7  0.9  1.1  1.2  1.5  2.0  4.0  0.6  1.05
#   A      +    -    +    -    +    +    -    -    -    +
#   side   .    low  .    .    .    high .    dual low  .

RATIO = np.array([0.5, 0.7, 0.9, 1.1, 1.2, 1.5, 2.0, 4.0, 0.6, 1.05])
ADV = np.array([1.0, -1.0, 0.5, -0.5, 1.5, 1.0, -1.0, -2.0, -0.3, 0.8])
PI_OLD = np.array([0.3, 0.2, 0.4, 0.1, 0.25, 0.15, 0.05, 0.1, 0.35, 0.2])
CLIP_HIGH_IDX, CLIP_LOW_IDX, DUAL_IDX = [5], [1, 8], [7]

PARAMS = AlgoConfig(
    clip_low=0.2,
    clip_high=0.28,
    dual_clip=3.0,
    clip_cov_ratio=0.25,  # int(0.25 * 10) = 2 tokens
    clip_cov_lb=0.05,
    clip_cov_ub=1.0,
    kl_cov_ratio=0.2,  # 2 tokens
    kl_cov_coef=0.7,
)


def make_batch(logp=None, ratio=RATIO, adv=ADV, pi_old=PI_OLD, keys=None) -> TokenBatch:
    logp_old = np.log(pi_old)
    if logp is None:
        logp = logp_old + np.log(ratio)
    entropy_old = np.linspace(0.5, 2.0, logp.size)
    if keys is None:
        keys = np.random.default_rng(0).random(logp.size)
    return TokenBatch(logp, logp_old, adv, entropy_old, keys, *bandit_positions(0, logp.size))


BATCH = make_batch()


def loss_of(name, b: TokenBatch, p=PARAMS):
    return POLICY_LOSSES[name].fn(b, p)


def fd_dlogp(name, b: TokenBatch, p=PARAMS) -> np.ndarray:
    """d sum(loss) / d logp_t, one token at a time, checking the token selection holds still."""
    base = loss_of(name, b, p).selected

    def total(logp):
        out = loss_of(name, b._replace(logp=logp), p)
        np.testing.assert_array_equal(out.selected, base)  # selection stable under the step
        return out.loss.sum()

    return np.array([central_difference(total, b.logp, t) for t in range(b.logp.size)])


def test_batch_ratios_are_as_designed():
    np.testing.assert_allclose(np.exp(BATCH.logp - BATCH.logp_old), RATIO)
    assert np.all(BATCH.logp < 0)


@pytest.mark.parametrize("name", POLICY_LOSSES.names)
def test_dlogp_matches_finite_differences(name):
    out = loss_of(name, BATCH)
    assert out.loss.shape == out.dlogp.shape == BATCH.logp.shape
    if name == "steer":
        # STEER's weights are detached in the public code: d loss / d logp = w * d vanilla
        w = steer_weights(steer_omega(BATCH), PARAMS)
        expected = w * fd_dlogp("vanilla", BATCH)
    elif name in ("cispo", "cispo_trl"):
        # CISPO's clipped weight is detached (sg): d loss / d logp = -w A, w the clamped ratio
        lower, upper = (1 - PARAMS.clip_low, 1 + PARAMS.clip_high)
        if name == "cispo_trl":
            lower, upper = -np.inf, PARAMS.clip_high
        expected = -np.clip(RATIO, lower, upper) * ADV
    elif name == "vespo":
        # VESPO's phi(w) is detached; a bandit answer is its own response, so w = r
        k = np.where(ADV >= 0, PARAMS.vespo_k_pos, PARAMS.vespo_k_neg)
        lam = np.where(ADV >= 0, PARAMS.vespo_lambda_pos, PARAMS.vespo_lambda_neg)
        expected = -np.exp(lam + k * np.log(RATIO) - lam * RATIO) * ADV
    elif name == "ce_gppo":
        # out of the band the loss is flat but keeps the gradient -beta (1 -/+ eps) A
        kept = np.zeros(RATIO.size)
        kept[CLIP_LOW_IDX] = PARAMS.gppo_beta1 * (1 - PARAMS.clip_low)
        kept[CLIP_HIGH_IDX] = PARAMS.gppo_beta2 * (1 + PARAMS.clip_high)
        expected = np.where(kept > 0, -kept * ADV, fd_dlogp(name, BATCH))
    elif name in ("dppo_tv", "dppo_kl"):
        # DPPO's weight min(r, c) and trust-region mask are detached: -A w where valid
        p_new, c = PI_OLD * RATIO, PARAMS
        if name == "dppo_tv":
            up, down = p_new - PI_OLD <= c.clip_high, p_new - PI_OLD >= -c.clip_low
        else:
            kl = PI_OLD * np.log(PI_OLD / p_new) + (1 - PI_OLD) * np.log(
                (1 - PI_OLD + 1e-8) / (1 - p_new + 1e-8)
            )
            up = (kl <= c.clip_high) | (p_new <= PI_OLD)
            down = (kl <= c.clip_low) | (p_new >= PI_OLD)
        valid = np.where(ADV > 0, up, down)
        expected = np.where(valid, -np.minimum(RATIO, c.dppo_ratio_cap) * ADV, 0.0)
    else:
        expected = fd_dlogp(name, BATCH)
    np.testing.assert_allclose(out.dlogp, expected, rtol=1e-6, atol=1e-8)


def test_selection_losses_select_something_in_the_fd_batch():
    # otherwise the finite-difference test above would not exercise their selection
    assert loss_of("clip_cov", BATCH).selected.sum() == 2
    assert loss_of("kl_cov", BATCH).selected.sum() == 2


@pytest.mark.parametrize("name", ["vanilla", "steer"])
def test_clip_flags_by_side(name):
    out = loss_of(name, BATCH)
    np.testing.assert_array_equal(np.flatnonzero(out.clip_high), CLIP_HIGH_IDX)
    np.testing.assert_array_equal(np.flatnonzero(out.clip_low), CLIP_LOW_IDX)
    np.testing.assert_array_equal(np.flatnonzero(out.clip_dual), DUAL_IDX)
    clipped = out.clip_high | out.clip_low | out.clip_dual
    np.testing.assert_array_equal(out.dlogp[clipped], 0.0)
    assert np.all(out.dlogp[~clipped] != 0.0)


def test_vanilla_values_by_side():
    out = loss_of("vanilla", BATCH)
    c = PARAMS
    expected = -ADV * RATIO  # inside the band and on the unclipped sides
    expected[CLIP_HIGH_IDX] = -ADV[CLIP_HIGH_IDX] * (1 + c.clip_high)
    expected[CLIP_LOW_IDX] = -ADV[CLIP_LOW_IDX] * (1 - c.clip_low)
    expected[DUAL_IDX] = -ADV[DUAL_IDX] * c.dual_clip
    np.testing.assert_allclose(out.loss, expected, rtol=1e-12)
    unclipped = np.setdiff1d(np.arange(RATIO.size), CLIP_HIGH_IDX + CLIP_LOW_IDX + DUAL_IDX)
    np.testing.assert_allclose(out.dlogp[unclipped], (-ADV * RATIO)[unclipped], rtol=1e-12)


def test_vanilla_without_dual_clip_keeps_the_unclipped_branch():
    out = loss_of("vanilla", BATCH, AlgoConfig(clip_low=0.2, clip_high=0.28, dual_clip=0.0))
    assert not out.clip_dual.any()
    np.testing.assert_allclose(out.loss[DUAL_IDX], (-ADV * RATIO)[DUAL_IDX])
    np.testing.assert_allclose(out.dlogp[DUAL_IDX], (-ADV * RATIO)[DUAL_IDX])


def test_cispo_verl_clamps_the_weight_on_both_sides_and_keeps_every_gradient():
    # verl compute_policy_loss_cispo: w = clamp(r, 1 - clip_low, 1 + clip_high), detached
    out = loss_of("cispo", BATCH)
    low, high = RATIO < 0.8, RATIO > 1.28  # clip_low 0.2, clip_high 0.28 (PARAMS)
    np.testing.assert_array_equal(out.clip_low, low)
    np.testing.assert_array_equal(out.clip_high, high)
    w = np.where(low, 0.8, np.where(high, 1.28, RATIO))
    np.testing.assert_allclose(out.dlogp, -w * ADV, rtol=1e-12)
    np.testing.assert_allclose(out.loss, -w * ADV * BATCH.logp, rtol=1e-12)
    assert np.all(out.dlogp != 0.0)  # unlike PPO, a clamped token keeps its gradient
    assert not (out.clip_dual | out.selected).any()


def test_cispo_trl_clamps_only_from_above_at_epsilon_high_itself():
    # TRL loss_type="cispo": torch.clamp(coef_1, max=epsilon_high), no lower clamp, and the
    # cap is epsilon_high, not 1 + epsilon_high
    p = AlgoConfig(clip_low=0.2, clip_high=1.5)
    out = loss_of("cispo_trl", BATCH, p)
    np.testing.assert_array_equal(out.clip_high, RATIO > 1.5)
    assert not out.clip_low.any()
    np.testing.assert_allclose(out.dlogp, -np.minimum(RATIO, 1.5) * ADV, rtol=1e-12)


def test_pg_is_unclipped():
    out = loss_of("pg", BATCH)
    np.testing.assert_allclose(out.loss, -ADV * RATIO, rtol=1e-12)
    np.testing.assert_allclose(out.dlogp, -ADV * RATIO, rtol=1e-12)
    assert not (out.clip_low | out.clip_high | out.clip_dual | out.selected).any()


def covariance(adv, logp):
    """Cui et al. 2025: (A - mean A)(logp - mean logp), written out."""
    return (adv - adv.sum() / adv.size) * (logp - logp.sum() / logp.size)


def clip_cov_batch() -> TokenBatch:
    rng = np.random.default_rng(7)
    n = 40
    pi_old = rng.uniform(0.05, 0.5, n)
    ratio = rng.choice([0.5, 0.9, 1.1, 1.6], n)  # some tokens clip (A>0 & 1.6, A<0 & 0.5)
    adv = rng.choice([-1.5, -0.5, 0.5, 1.5], n)
    return make_batch(ratio=ratio, adv=adv, pi_old=pi_old, keys=rng.random(n))


@pytest.mark.parametrize(
    "ratio, n_expected",
    [(1e-4, 1), (0.05, 2), (0.1, 4), (0.9, None)],
    ids=["at-least-one", "two", "four", "more-than-eligible"],
)
def test_clip_cov_selects_among_eligible_by_key(ratio, n_expected):
    b = clip_cov_batch()
    lb, ub = 0.02, 0.6
    p = AlgoConfig(
        clip_low=0.2, clip_high=0.28, clip_cov_ratio=ratio, clip_cov_lb=lb, clip_cov_ub=ub
    )
    r = np.exp(b.logp - b.logp_old)
    clipped = ((b.adv > 0) & (r > 1.28)) | ((b.adv < 0) & (r < 0.8))
    cov = covariance(b.adv, b.logp)
    in_band = (cov > lb) & (cov < ub)
    eligible = in_band & ~clipped
    # the batch exercises both exclusions: clipped tokens in the band, unclipped ones outside
    assert (in_band & clipped).any() and (~in_band & ~clipped).any()
    assert 4 < eligible.sum() < int(0.9 * b.logp.size)

    n = max(1, int(ratio * b.logp.size))
    assert n_expected is None or n == n_expected
    candidates = np.flatnonzero(eligible)
    chosen = candidates[np.argsort(b.keys[candidates])][:n]  # smallest keys first

    out = loss_of("clip_cov", b, p)
    np.testing.assert_array_equal(np.flatnonzero(out.selected), np.sort(chosen))
    assert out.selected.sum() == min(n, eligible.sum())
    np.testing.assert_array_equal(out.loss[out.selected], 0.0)
    np.testing.assert_array_equal(out.dlogp[out.selected], 0.0)
    # everything else is plain PPO clip without dual clip
    ppo = loss_of("vanilla", b, AlgoConfig(clip_low=0.2, clip_high=0.28))
    np.testing.assert_allclose(out.loss[~out.selected], ppo.loss[~out.selected])
    np.testing.assert_allclose(out.dlogp[~out.selected], ppo.dlogp[~out.selected])


def test_clip_cov_selects_nothing_without_eligible_tokens():
    p = AlgoConfig(clip_cov_lb=100.0, clip_cov_ub=200.0)
    assert not loss_of("clip_cov", BATCH, p).selected.any()


@pytest.mark.parametrize("ratio, k", [(1e-4, 1), (0.1, 4), (0.25, 10)], ids=["one", "four", "ten"])
def test_kl_cov_selects_top_k_by_covariance(ratio, k):
    b = clip_cov_batch()
    p = AlgoConfig(kl_cov_ratio=ratio, kl_cov_coef=0.7)
    cov = covariance(b.adv, b.logp)
    top = np.sort(np.argsort(cov)[::-1][:k])
    assert cov[top].min() > np.delete(cov, top).max()  # no tie at the k-th place

    out = loss_of("kl_cov", b, p)
    np.testing.assert_array_equal(np.flatnonzero(out.selected), top)
    diff = b.logp - b.logp_old
    pg = -b.adv * np.exp(diff)
    np.testing.assert_allclose(
        out.dlogp - pg, np.where(out.selected, 0.7 * np.sign(diff), 0.0), atol=1e-12
    )
    np.testing.assert_allclose(
        out.loss - pg, np.where(out.selected, 0.7 * np.abs(diff), 0.0), atol=1e-12
    )
    assert not (out.clip_low | out.clip_high | out.clip_dual).any()


def test_steer_omega_by_hand():
    pi, pi_old = np.exp(BATCH.logp), PI_OLD
    expected = np.abs(ADV / pi_old * pi * (1 - pi) * (np.log(pi) + BATCH.entropy_old))
    np.testing.assert_allclose(steer_omega(BATCH), expected, rtol=1e-12)


def test_steer_is_weighted_vanilla():
    w = steer_weights(steer_omega(BATCH), PARAMS)
    vanilla, steer = loss_of("vanilla", BATCH), loss_of("steer", BATCH)
    np.testing.assert_allclose(steer.loss, w * vanilla.loss, rtol=1e-12)
    np.testing.assert_allclose(steer.dlogp, w * vanilla.dlogp, rtol=1e-12)
    assert np.ptp(w) > 0.1  # the weights really differ across tokens


def test_steer_linear_weights():
    omega = np.array([0.1, 0.5, 0.3, 0.9])
    p = AlgoConfig(steer_mode="linear", steer_w_min=0.8, steer_w_max=1.2)
    # min |Omega| -> w_max, max |Omega| -> w_min, linear in between
    np.testing.assert_allclose(steer_weights(omega, p), [1.2, 1.0, 1.1, 0.8], rtol=1e-12)
    np.testing.assert_allclose(steer_weights(np.full(3, 0.4), p), 1.0)  # all equal: midpoint


def test_steer_exp_weights_with_given_k():
    omega = np.array([0.0, 0.05, 0.5, 2.0])
    p = AlgoConfig(steer_mode="exp", steer_w_min=0.8, steer_k=2.0)
    expected = [1.0, np.exp(-0.1), 0.8, 0.8]  # exp(-2 |Omega|) clamped to [0.8, 1]
    np.testing.assert_allclose(steer_weights(omega, p), expected, rtol=1e-12)


def test_steer_exp_weights_with_derived_k():
    p = AlgoConfig(steer_mode="exp", steer_w_min=0.8, steer_k=0.0)
    omega = np.array([0.1, 0.4, 0.2])
    w = steer_weights(omega, p)
    assert w[1] == pytest.approx(0.8)  # k = -ln(w_min) / max |Omega|: the max gets w_min
    np.testing.assert_allclose(w, 0.8 ** (omega / 0.4), rtol=1e-12)
    small = np.array([0.001, 0.01])  # max |Omega| below the 0.02 floor: k = -ln(0.8) / 0.02
    np.testing.assert_allclose(steer_weights(small, p), 0.8 ** (small / 0.02), rtol=1e-12)
    assert np.all((w >= 0.8) & (w <= 1.0))
