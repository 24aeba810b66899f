"""The expected clipped-GRPO update under rewards that are independent of the answer.

The "clipping bias" of Spurious Rewards (Shao et al. 2025, arXiv 2506.10947, Sec. on
clipping bias) and of Oertell et al. 2025 ("Heuristics Considered Harmful: RL With Random
Rewards Should Not Make LLMs Reason"), on one state of a tabular softmax.

Setting. Logits z_old (K,), pi_old = softmax(z_old); current logits z_theta (K,),
pi = softmax(z_theta), ratio rho_a = pi(a) / pi_old(a). A group of G answers a_1..a_G
i.i.d. from pi_old, rewards r_i i.i.d. Bernoulli(p) independent of the answers, advantages
A_i from the group's rewards (grpo: (r_i - mean r) / (std r + std_eps); dr_grpo:
r_i - mean r). The per-token PPO loss max(-A rho, -A clip(rho, 1 - eps_low, 1 + eps_high)),
token-mean over the G single-token responses, has the logit gradient
(NOTES.md, "The gradient of a sampled-token loss" and "PPO clipped surrogate")

    g = (1/G) sum_i c_i (e_{a_i} - pi),   c_i = -A_i rho_{a_i} [not clipped_i],          (1)

clipped_i iff (A_i > 0 and rho_{a_i} > 1 + eps_high) or (A_i < 0 and rho_{a_i} < 1 - eps_low).
z_theta is a fixed point here, NOT a function of the sampled group (see the closed form).

Closed form (derivation in `expected_clipped_gradient_closed_form`):

    E[g] = m pi * (s - E_pi s),   m = E[max(A_1, 0)],
    s_a = [rho_a > 1 + eps_high] - [rho_a < 1 - eps_low].                               (2)

`expected_clipped_gradient` computes E[g] by exact enumeration (the reference),
`monte_carlo_clipped_gradient` estimates it by sampling (for tests).
"""

from __future__ import annotations

from itertools import chain, combinations, islice
from math import comb
from typing import NamedTuple

import numpy as np
from scipy.special import gammaln

from .entropy import log_softmax

ADVANTAGE_ESTIMATORS = ("grpo", "dr_grpo")

#: refuse an enumeration with more (answer, reward) count vectors than this
MAX_ENUMERATION_TERMS = 2_000_000
#: count vectors per numpy block: memory is a few (2K,) float rows per vector, ~10 MB at K=4
_CHUNK = 65_536


def group_advantages(
    rewards: np.ndarray, advantage: str = "grpo", std_eps: float = 1e-6, ddof: int = 1
) -> np.ndarray:
    """Advantages of groups of rewards (..., G) -> (..., G); the group is the last axis.

    grpo:    (r - mean r) / (std r + std_eps), std with ddof (1 = torch.std as in TRL and
             verl); Shao et al. 2024 (DeepSeekMath, arXiv 2402.03300) Eq. 3.
    dr_grpo: r - mean r; Liu et al. 2025 (Dr. GRPO, arXiv 2503.20783) Sec. 3.2.
    Both sum to zero over every group, which is what makes E[A_1] = 0.
    """
    centred = rewards - rewards.mean(axis=-1, keepdims=True)  # (..., G)
    if advantage == "dr_grpo":
        return centred
    if advantage == "grpo":
        return centred / (rewards.std(axis=-1, ddof=ddof, keepdims=True) + std_eps)
    raise ValueError(f"unknown advantage {advantage!r}; valid: {', '.join(ADVANTAGE_ESTIMATORS)}")


def clipped_coefficient(
    adv: np.ndarray, ratio: np.ndarray, eps_low: float, eps_high: float
) -> np.ndarray:
    """c = d loss / d logp of the PPO clipped loss: -A rho, or 0 where clipped. Eq. (1).

    Same as simrl's `ppo_clip(...).dlogp` without dual clip. adv and ratio broadcast.
    """
    clipped = ((adv > 0) & (ratio > 1.0 + eps_high)) | ((adv < 0) & (ratio < 1.0 - eps_low))
    return np.where(clipped, 0.0, -adv * ratio)


def _ratio(z_old: np.ndarray, z_theta: np.ndarray) -> np.ndarray:
    """rho = exp(log pi - log pi_old) (K,), as simrl computes it; exactly 1 at z_theta = z_old."""
    return np.exp(log_softmax(z_theta) - log_softmax(z_old))


def _check(
    z_old: np.ndarray,
    z_theta: np.ndarray,
    G: int,
    p: float,
    eps_low: float,
    eps_high: float,
    advantage: str,
    std_eps: float,
    ddof: int,
) -> tuple[np.ndarray, np.ndarray]:
    z_old, z_theta = np.asarray(z_old, dtype=float), np.asarray(z_theta, dtype=float)
    if z_old.ndim != 1 or z_old.shape != z_theta.shape:
        raise ValueError(
            "z_old and z_theta must be 1-D of the same length, "
            f"got {z_old.shape} and {z_theta.shape}"
        )
    if not (np.isfinite(z_old).all() and np.isfinite(z_theta).all()):
        raise ValueError("z_old and z_theta must be finite")
    if int(G) != G or G < 2:
        raise ValueError(f"G (group size) must be an integer >= 2, got {G}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p (reward probability) must be in [0, 1], got {p}")
    if not (eps_low >= 0.0 and eps_high >= 0.0):  # also rejects nan
        raise ValueError(f"eps_low and eps_high must be >= 0, got {eps_low} and {eps_high}")
    if advantage not in ADVANTAGE_ESTIMATORS:
        raise ValueError(
            f"unknown advantage {advantage!r}; valid: {', '.join(ADVANTAGE_ESTIMATORS)}"
        )
    if advantage == "grpo" and not (std_eps > 0.0 and 0 <= ddof < G):
        raise ValueError(f"grpo needs std_eps > 0 and 0 <= ddof < G, got {std_eps}, {ddof}, G={G}")
    return z_old, z_theta


def _advantage_table(G: int, advantage: str, std_eps: float, ddof: int) -> np.ndarray:
    """(G + 1, 2): entry [T, r] is the advantage of a response with reward r in a group with
    T ones, read off `group_advantages` of the literal reward vector (1,..,1, 0,..,0).
    Entries that cannot occur ([0, 1] and [G, 0]) are 0."""
    rewards = (np.arange(G)[None, :] < np.arange(G + 1)[:, None]).astype(float)  # (G+1, G)
    adv = group_advantages(rewards, advantage, std_eps, ddof)  # (G+1, G)
    table = np.zeros((G + 1, 2))
    table[1:, 1] = adv[1:, 0]  # first response has reward 1 when T >= 1
    table[:G, 0] = adv[:G, G - 1]  # last response has reward 0 when T <= G - 1
    return table


def enumeration_terms(K: int, G: int) -> int:
    """Number of terms of `expected_clipped_gradient`: C(G + 2K - 1, 2K - 1).

    A term is a count vector m over the 2K cells (answer a, reward r) summing to G (stars
    and bars). Enumerating ordered groups instead would cost (2K)^G.
    """
    return comb(G + 2 * K - 1, 2 * K - 1)


def _compositions(total: int, parts: int):
    """Yield blocks (n, parts) of all count vectors of `parts` >= 2 non-negative ints summing
    to `total`, in lexicographic order of their bar positions (stars and bars)."""
    bars_n, n_slots = parts - 1, total + parts - 1
    combos = combinations(range(n_slots), bars_n)
    while True:
        flat = np.fromiter(
            chain.from_iterable(islice(combos, _CHUNK)), dtype=np.int64
        )  # (n * (parts - 1),)
        if flat.size == 0:
            return
        bars = flat.reshape(-1, bars_n)  # (n, parts - 1)
        n = bars.shape[0]
        edges = np.hstack([np.full((n, 1), -1), bars, np.full((n, 1), n_slots)])
        yield np.diff(edges, axis=1) - 1  # (n, parts)


def expected_clipped_gradient(
    z_old: np.ndarray,
    z_theta: np.ndarray,
    G: int,
    p: float,
    eps_low: float,
    eps_high: float,
    advantage: str = "grpo",
    std_eps: float = 1e-6,
    ddof: int = 1,
) -> np.ndarray:
    """E[g] (K,) of Eq. (1) over answers and rewards, by exact enumeration. The reference.

    The gradient (1) is symmetric in the order of the responses, so it depends on the group
    only through the counts m[a, r] = #{i: a_i = a, r_i = r} (K, 2). The pairs (a_i, r_i)
    are i.i.d. over the 2K cells with probability q[a, r] = pi_old(a) p^r (1 - p)^(1 - r)
    (answers and rewards independent), so m is Multinomial(G, q):

        P(m) = G! prod_{a,r} q[a, r]^m[a, r] / m[a, r]!.

    Given m, with T = sum_a m[a, 1] ones, every response with reward r has advantage
    A(r, T) (`_advantage_table`), and

        g(m) = (1/G) sum_a sum_r m[a, r] c(A(r, T), rho_a) (e_a - pi).

    E[g] = sum_m P(m) g(m). Cost: `enumeration_terms(K, G)` = C(G + 2K - 1, 2K - 1) terms of
    O(K) work each (K=4, G=5: 792; K=8, G=8: 490,314); refuses more than
    MAX_ENUMERATION_TERMS. Nothing here uses the exchangeability argument of the closed
    form, so the two check each other.
    """
    z_old, z_theta = _check(z_old, z_theta, G, p, eps_low, eps_high, advantage, std_eps, ddof)
    K = z_old.size
    n_terms = enumeration_terms(K, G)
    if n_terms > MAX_ENUMERATION_TERMS:
        raise ValueError(
            f"enumeration needs C(G + 2K - 1, 2K - 1) = {n_terms:,} terms for K={K}, G={G}; "
            f"the limit is {MAX_ENUMERATION_TERMS:,}. Use expected_clipped_gradient_closed_form "
            "or monte_carlo_clipped_gradient"
        )
    pi_old = np.exp(log_softmax(z_old))  # (K,)
    pi = np.exp(log_softmax(z_theta))  # (K,)
    rho = _ratio(z_old, z_theta)  # (K,)
    with np.errstate(divide="ignore"):  # log 0 = -inf for a cell that cannot occur
        log_q = np.log(pi_old)[:, None] + np.log(np.array([1.0 - p, p]))[None, :]  # (K, 2)
    table = _advantage_table(G, advantage, std_eps, ddof)  # (G+1, 2)
    # coef_table[T, a, r] = c(A(r, T), rho_a) / G
    coef_table = clipped_coefficient(table[:, None, :], rho[None, :, None], eps_low, eps_high) / G
    w = np.zeros(K)  # E[sum_i c_i e_{a_i}] / G, accumulated over blocks of count vectors
    for block in _compositions(G, 2 * K):
        m = block.reshape(-1, K, 2)  # (n, K, 2)
        with np.errstate(invalid="ignore"):
            # 0 * log 0 is taken as 0: a cell of probability 0 with count 0 is neutral
            log_p = (
                gammaln(G + 1.0)
                - gammaln(m + 1.0).sum(axis=(1, 2))
                + np.where(m > 0, m * log_q, 0.0).sum(axis=(1, 2))
            )  # (n,)
        prob = np.exp(log_p)  # (n,), 0 where a count falls on a cell of probability 0
        ones = m[:, :, 1].sum(axis=1)  # (n,) T
        coef = (m * coef_table[ones]).sum(axis=2)  # (n, K): sum_r m[a, r] c(A(r, T), rho_a) / G
        w += prob @ coef
    return w - pi * w.sum()  # sum_a w_a (e_a - pi)


class MonteCarloEstimate(NamedTuple):
    mean: np.ndarray  # (K,) sample mean of the gradient (an estimate, not exact)
    stderr: np.ndarray  # (K,) its standard error, std(ddof=1) / sqrt(n_samples)


def monte_carlo_clipped_gradient(
    z_old: np.ndarray,
    z_theta: np.ndarray,
    G: int,
    p: float,
    eps_low: float,
    eps_high: float,
    advantage: str = "grpo",
    std_eps: float = 1e-6,
    ddof: int = 1,
    *,
    n_samples: int,
    rng: np.random.Generator,
) -> MonteCarloEstimate:
    """Estimate E[g] of Eq. (1) from n_samples sampled groups. For tests; labelled an estimate."""
    z_old, z_theta = _check(z_old, z_theta, G, p, eps_low, eps_high, advantage, std_eps, ddof)
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    K = z_old.size
    pi_old = np.exp(log_softmax(z_old))  # (K,)
    pi = np.exp(log_softmax(z_theta))  # (K,)
    rho = _ratio(z_old, z_theta)  # (K,)
    answers = rng.choice(K, size=(n_samples, G), p=pi_old)  # (n, G)
    rewards = (rng.random((n_samples, G)) < p).astype(float)  # (n, G)
    adv = group_advantages(rewards, advantage, std_eps, ddof)  # (n, G)
    c = clipped_coefficient(adv, rho[answers], eps_low, eps_high) / G  # (n, G)
    rows = np.repeat(np.arange(n_samples), G)  # (n G,)
    w = np.bincount(rows * K + answers.ravel(), weights=c.ravel(), minlength=n_samples * K)
    w = w.reshape(n_samples, K)  # (n, K): sum_i c_i e_{a_i} / G per group
    g = w - pi[None, :] * w.sum(axis=1, keepdims=True)  # (n, K)
    return MonteCarloEstimate(g.mean(axis=0), g.std(axis=0, ddof=1) / np.sqrt(n_samples))


def mean_positive_advantage(
    G: int, p: float, advantage: str = "grpo", std_eps: float = 1e-6, ddof: int = 1
) -> float:
    """m = E[max(A_1, 0)] = E[max(-A_1, 0)], the constant of the closed form (2).

    A_1 > 0 only when r_1 = 1; then T = 1 + k ones with k ~ Binomial(G - 1, p) among the
    other responses, so m = p sum_k Binom(k; G - 1, p) max(A(1, 1 + k), 0). The two halves
    agree because E[A_1] = E[sum_i A_i] / G = 0 (advantages sum to zero in every group).
    dr_grpo: m = p (1 - p) (G - 1) / G (A(1, 1 + k) = 1 - (1 + k) / G, E k = (G - 1) p).
    """
    _check(np.zeros(1), np.zeros(1), G, p, 0.0, 0.0, advantage, std_eps, ddof)  # G, p, A only
    table = _advantage_table(G, advantage, std_eps, ddof)  # (G+1, 2)
    k = np.arange(G)  # ones among the other G - 1 responses
    # Binom(k; G - 1, p) written out: scipy's binom.pmf overflows for subnormal-adjacent p
    pmf = np.array([comb(G - 1, j) for j in k]) * p**k * (1.0 - p) ** (G - 1 - k)  # (G,)
    return float(p * (pmf * np.maximum(table[1 + k, 1], 0.0)).sum())


def clip_side(
    z_old: np.ndarray, z_theta: np.ndarray, eps_low: float, eps_high: float
) -> np.ndarray:
    """s (K,): +1 where rho_a > 1 + eps_high (clippable on the positive side), -1 where
    rho_a < 1 - eps_low (clippable on the negative side), 0 inside the band. Eq. (2)."""
    rho = _ratio(np.asarray(z_old, dtype=float), np.asarray(z_theta, dtype=float))
    return (rho > 1.0 + eps_high).astype(float) - (rho < 1.0 - eps_low).astype(float)


def expected_clipped_gradient_closed_form(
    z_old: np.ndarray,
    z_theta: np.ndarray,
    G: int,
    p: float,
    eps_low: float,
    eps_high: float,
    advantage: str = "grpo",
    std_eps: float = 1e-6,
    ddof: int = 1,
) -> np.ndarray:
    """E[g] = m pi * (s - E_pi s) (K,), Eq. (2). Any K and G, O(K + G) work.

    Derivation (NOTES.md, "Clipping bias under answer-independent rewards").
    1. Exchangeability: the pairs (a_i, r_i) are i.i.d. and A is a symmetric function of
       the rewards, so every term of (1) has the same mean: E[g] = E[c_1 (e_{a_1} - pi)].
    2. Independence: A_1 depends on the rewards only, which are independent of a_1, so
       E[g] = sum_a pi_old(a) (e_a - pi) E_A[-A rho_a [not clipped(A, rho_a)]].
    3. E[A_1] = 0 (both estimators sum to zero over the group), so E[A+] = E[A-] = m, and
       E[A [not clipped(A, rho)]] = E[A] - E[A; A > 0] [rho > 1 + eps_high]
                                           - E[A; A < 0] [rho < 1 - eps_low]  = -m s(rho).
    4. Hence E[g] = m sum_a pi_old(a) rho_a s_a (e_a - pi) = m sum_a pi_a s_a (e_a - pi),
       whose entry j is m pi_j (s_j - sum_a pi_a s_a).
    The descent step -E[g] lowers the logits of tokens above the band, raises those below
    it (relative to the pi-weighted mean): a pull back toward the trust region. With no
    token outside the band (z_theta = z_old; or no clipping) it is exactly zero.
    Valid for a z_theta that does not depend on the sampled group (see NOTES.md).
    """
    z_old, z_theta = _check(z_old, z_theta, G, p, eps_low, eps_high, advantage, std_eps, ddof)
    pi = np.exp(log_softmax(z_theta))  # (K,)
    s = clip_side(z_old, z_theta, eps_low, eps_high)  # (K,)
    return mean_positive_advantage(G, p, advantage, std_eps, ddof) * pi * (s - pi @ s)


def never_clipped_high(pi_old_a: float | np.ndarray, eps_high: float) -> bool | np.ndarray:
    """True where a token can never be clipped on the positive side: pi_old(a) >= 1/(1 + eps_high).

    rho_a = pi(a) / pi_old(a) <= 1 / pi_old(a), with equality only in the limit pi(a) -> 1,
    so sup over z_theta of rho_a is 1 / pi_old(a). Clipping needs rho_a > 1 + eps_high:
    possible iff 1 / pi_old(a) > 1 + eps_high, i.e. pi_old(a) < 1 / (1 + eps_high). A base
    policy's confident answers (Spurious Rewards' "high-prior" behaviours) are therefore
    never held back by clip-high, while rare ones are. Elementwise on arrays.
    """
    out = np.asarray(pi_old_a, dtype=float) * (1.0 + eps_high) >= 1.0
    return bool(out) if out.ndim == 0 else out


def clip_bias_direction(
    z_old: np.ndarray,
    z_theta: np.ndarray,
    G: int,
    p: float,
    eps_low: float,
    eps_high: float,
    advantage: str = "grpo",
    std_eps: float = 1e-6,
    ddof: int = 1,
) -> float:
    """<-E[g], e_top - pi>, top = argmax pi_old (first index on ties), pi = softmax(z_theta).

    Sign convention: e_top - pi is d log pi(top) / dz at the current policy, so this is the
    first-order change of log pi(top) per unit learning rate of the expected sgd step
    z <- z - lr E[g]. Positive: the expected step favours the base policy's most likely
    answer; negative: it moves away from it; zero: neutral (e.g. no clipping). Uses the
    closed form (2), which the tests hold equal to the enumeration.
    """
    z_old, z_theta = _check(z_old, z_theta, G, p, eps_low, eps_high, advantage, std_eps, ddof)
    step = -expected_clipped_gradient_closed_form(
        z_old, z_theta, G, p, eps_low, eps_high, advantage, std_eps, ddof
    )  # (K,)
    pi = np.exp(log_softmax(z_theta))  # (K,)
    direction = -pi
    direction[int(np.argmax(z_old))] += 1.0
    return float(step @ direction)


def expected_sign_weighted_gradient(
    z_old: np.ndarray,
    z_theta: np.ndarray,
    G: int,
    p: float,
    k_plus,
    k_minus,
    advantage: str = "grpo",
    std_eps: float = 1e-6,
    ddof: int = 1,
) -> np.ndarray:
    """E[g] (K,) for a token loss with d loss / d logp = -A k_+(rho) (A > 0), -A k_-(rho)
    (A < 0): NOTES.md, "Clipping bias, generalised: the sign asymmetry",

        E[g]_j = -m (D_j - pi_j sum_a D_a),   D_a = pi_old(a) (k_+(rho_a) - k_-(rho_a)).

    k_plus, k_minus: vectorised functions of the ratio. PPO's weights (k_+ = rho where
    rho <= 1 + eps_high, else 0; k_- = rho where rho >= 1 - eps_low, else 0) give Eq. (2);
    weights that do not depend on the sign (k_+ = k_-) give 0. Same domain as Eq. (2).
    """
    z_old, z_theta = _check(z_old, z_theta, G, p, 0.0, 0.0, advantage, std_eps, ddof)
    pi_old = np.exp(log_softmax(z_old))  # (K,)
    pi = np.exp(log_softmax(z_theta))  # (K,)
    rho = _ratio(z_old, z_theta)  # (K,)
    D = pi_old * (np.asarray(k_plus(rho), dtype=float) - np.asarray(k_minus(rho), dtype=float))
    m = mean_positive_advantage(G, p, advantage, std_eps, ddof)
    return -m * (D - pi * D.sum())
