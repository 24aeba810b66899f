"""passk: the analytic Pass@k advantages of a group of n responses, c of them correct:
rho = 1 - C(n - c, k) / C(n, k) (the group's mean Pass@k reward), sigma = sqrt(rho (1 -
rho)), a correct response (r = 1) gets (1 - rho) / (sigma + 1e-6) and an incorrect one
(r = 0) gets (1 - rho - C(n - c - 1, k - 1) / C(n - 1, k - 1)) / (sigma + 1e-6).

Source: Chen et al. 2025 (Pass@k Training, arXiv 2508.10751), "Pass@k Training with
Analytical Derivation": the equations for R-bar^group, sigma^group, A_pos and A_neg (as
restated in the authors' README; the equation numbers were not checked here), as the
authors' code computes them (RUCAIBox/Passk_Training `code/passk_adv.py` `calc_adv`:
the 1e-6 on sigma; C(N, k) = 0 for N < 0 or k > N, scipy.special.comb's convention).
The code, followed here, treats a reward of exactly 1 as correct, exactly 0 as
incorrect, and passes any other reward through unchanged (c counts the 1s).
`passk_k` = 1 gives rho = c / n, the GRPO advantage with the population std; k = n leaves
one k-subset, whose Pass@k has no variance, so every advantage is 0: the config refuses
k >= G (k = 1 with G = 1 excepted). The default k = 2 is simrl's choice (the paper
trains with several k); set it to the run's k.
"""

from __future__ import annotations

import math

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register
from simrl.validate import POS_INT, param, require

FIELDS = {
    "passk_k": (
        int,
        param(2, "k of the analytic Pass@k advantage (advantage 'passk'; < group_size)", POS_INT),
    ),
}
PARAMS = ("passk_k",)
K = 0
SIGMA_EPS = 1e-6  # the authors' calc_adv


def check(a) -> None:
    require(
        a.exact or a.passk_k < a.group_size or a.passk_k == 1,
        "algo.passk_k",
        a.passk_k,
        f"must be < algo.group_size ({a.group_size}) for advantage 'passk' (k = G leaves one "
        "subset of the group: every advantage is 0)",
    )


def comb(n: float, k: float) -> float:
    """C(n, k) as a float; 0 for n < 0, k < 0 or k > n (scipy.special.comb)."""
    if n < 0 or k < 0 or k > n:
        return 0.0
    out = 1.0
    for i in range(1, int(k) + 1):
        out = out * (n - k + i) / i
    return out


def numpy_form(rewards: np.ndarray, p) -> np.ndarray:
    k = p.passk_k
    adv = np.array(rewards, dtype=float)
    n = rewards.shape[1]
    for j, r in enumerate(rewards):
        c = int(np.sum(r == 1.0))
        rho = 1.0 - comb(n - c, k) / comb(n, k)
        sigma = math.sqrt(rho * (1.0 - rho))
        pos = (1.0 - rho) / (sigma + SIGMA_EPS)
        neg = (1.0 - rho - comb(n - c - 1, k - 1) / comb(n - 1, k - 1)) / (sigma + SIGMA_EPS)
        row = np.where(r == 1.0, pos, r)
        adv[j] = np.where(row == 0.0, neg, row)
    return adv


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    k = int(ap[K])
    for j in range(n_groups):
        c = 0
        for i in range(G):
            if rew[j, i] == 1.0:
                c += 1
        # C(N, k) for N = G - c, G, G - c - 1, G - 1 (0 for N < 0, k > N), as comb above
        cs = np.zeros(4)
        ns = (G - c, G, G - c - 1, G - 1)
        ks = (k, k, k - 1, k - 1)
        for m in range(4):
            nn, kk = ns[m], ks[m]
            if nn < 0 or kk < 0 or kk > nn:
                cs[m] = 0.0
            else:
                out = 1.0
                for i in range(1, kk + 1):
                    out = out * (nn - kk + i) / i
                cs[m] = out
        rho = 1.0 - cs[0] / cs[1]
        sigma = math.sqrt(rho * (1.0 - rho))
        pos = (1.0 - rho) / (sigma + 1e-6)
        neg = (1.0 - rho - cs[2] / cs[3]) / (sigma + 1e-6)
        for i in range(G):
            v = pos if rew[j, i] == 1.0 else rew[j, i]
            adv[j, i] = neg if v == 0.0 else v


ENTRY = register(
    AdvantageEstimator(
        name="passk",
        doc="analytic Pass@k advantages of the group's correct and incorrect responses",
        source="arXiv 2508.10751 (analytical derivation: A_pos, A_neg); RUCAIBox/Passk_Training calc_adv",
        numpy=numpy_form,
        numba=numba_form,
        params=PARAMS,
        fields=FIELDS,
        check=check,
    )
)
