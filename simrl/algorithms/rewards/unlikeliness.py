"""unlikeliness: the true reward, lowered for the group's more likely responses:
r_i = R(y_i) (1 - beta rank(y_i) / G), rank(y_i) in {0, ..., G - 1} the position of
response i when the whole group (correct and incorrect responses) is sorted by its
likelihood under the sampling policy pi_old, least likely first; G the group's size.

Source: He, Fried and Welleck 2025, "Rewarding the Unlikely: Lifting GRPO Beyond
Distribution Sharpening" (arXiv 2506.02355), the unlikeliness reward with beta_rank =
0.25 (the paper's text, and so its equation number, could not be read from this
machine: the rule here is the authors' release code, which the brief's form
r (1 - beta rank / G) matches)
(github.com/AndreHe02/rewarding-unlikely-release, verl/trainer/ppo/ray_lean_trainer.py
`RayLeanTrainer._compute_advantages`: `ranks = argsort(argsort(old_log_probs))`,
`scores * (1 - ranks / len(group) * rank_penalty)`). What this module fixes where that
code leaves it open, and where simrl differs:

- every response of the group is ranked, incorrect ones too (as the code does), so a
  correct response's rank counts the less likely incorrect ones below it; incorrect
  responses earn 0 whatever their rank. The most likely response has rank G - 1, the
  least likely rank 0 (no penalty);
- ties (on the bandit two responses with the same answer have the same likelihood
  exactly) are broken by the response's index in the group: the earlier one ranks lower
  (a stable sort). The code's `torch.argsort` leaves ties unspecified; with a language
  model's continuous log-likelihoods they do not occur;
- the likelihood of a sequence response is its per-token likelihood, exp of the mean of
  its tokens' log pi_old, as the authors' code ranks by the per-token mean
  log-probability (`masked_mean(old_log_probs, eos_mask)`); the full product of the
  tokens' pi_old would rank responses of different lengths differently (a longer one
  less likely); on the bandit (one token) all three agree.

E[r | y] is not a function of the response (it depends on the other G - 1 responses'
likelihoods), so the reward has no `expectation`: the expected-reward metrics that need
one (the dH breakdown's E[r | a], ReMax's greedy value) are NaN or refused, as for
`self_consistency`; accuracy and pass@k do not read the reward and stay exact. Not
deterministic (refused with `algo.exact`). On the bridge the likelihoods are the
sampler's, recorded per token while sampling (simrl/bridge/sampler.py), so the rewards
(and dynamic sampling) need no scoring pass: with the plain sampler q is pi_old (the
decoding forward's, equal to the scoring forward's up to float rounding); with top-p,
top-k or staleness it is q, as in the reference engines (which pass the sampler's
probabilities, `pi_sample`). The authors' code ranks by the trainer's recomputed
`old_log_probs`, which differ from q there: the same choice as the reference's, noted.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.reward import PromptFacts, Reward, parsed_equal, register
from simrl.validate import UNIT, param

FIELDS = {
    "unlikeliness_beta": (
        float,
        param(
            0.25,
            "beta_rank of reward.kind='unlikeliness' (arXiv 2506.02355): r (1 - beta rank / G)",
            UNIT,
        ),
    )
}


def ranks(lik) -> np.ndarray:
    """Each response's rank by likelihood within its group: 0 the least likely, ties by
    index (a stable sort)."""
    return np.argsort(np.argsort(np.asarray(lik), kind="stable"), kind="stable")


def numpy_form(answers, facts: PromptFacts, u, u_tie, *, p, flip, lik, param):
    G = answers.size
    scale = 1.0 - param * ranks(lik) / G
    return np.where(facts.correct[answers], scale, 0.0)


def numba_form(s, ans, row, n, correct, fmt, label, u, u_off, param, winner, lik, out):
    for g in range(n):
        lg = lik[row, g]
        rank = 0
        for h in range(n):
            lh = lik[row, h]
            if lh < lg or (lh == lg and h < g):
                rank += 1
        out[row, g] = 1.0 - param * rank / n if correct[s, ans[row, g]] else 0.0


def bridge_form(answers, correct, label, u, u_tie, *, p, flip, lik, param):
    """On parsed answers (None = ill-formed, earns 0); lik (G,) the completions' per-token
    likelihoods under the sampler, exp of the mean log q of their tokens (the bridge
    records log q while sampling: simrl/bridge/sampler.py `likelihoods`)."""
    G = len(answers)
    scale = 1.0 - param * ranks(lik) / G
    return np.where(parsed_equal(answers, correct) > 0, scale, 0.0)


ENTRY = register(
    Reward(
        name="unlikeliness",
        doc="the true reward times 1 - beta rank / G, rank the response's place in its group "
        "sorted by likelihood under pi_old, least likely first (arXiv 2506.02355)",
        source="He et al. 2025, Rewarding the Unlikely (arXiv 2506.02355); the authors' "
        "ray_lean_trainer.py RayLeanTrainer._compute_advantages",
        numpy=numpy_form,
        numba=numba_form,
        bridge=bridge_form,
        param="unlikeliness_beta",
        fields=FIELDS,
        reads_likelihood=True,
    )
)
