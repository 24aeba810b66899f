"""Parity with verl and TRL themselves: simrl's advantage estimators against the
libraries' own functions.

verl 0.9.1 (VERL_VERSION): `get_adv_estimator_fn(name)` from
`verl.trainer.ppo.core_algos`, called on random float64 token-level rewards (the score on
each response's last token, as verl's reward manager puts it), a response mask of
responses of unequal lengths and a group index, against simrl's numpy form
(`simrl.algorithms.advantage.compute`, with the responses' lengths): every token of a
response must carry simrl's advantage of that response, and the padding 0; max abs
difference 1e-10, for every estimator name simrl shares with verl (SHARED).

TRL 1.16.0 (TRL_VERSION): `scale_rewards = "batch"` is computed inline in
`GRPOTrainer._generate_and_score_completions` (a method that also generates and scores
completions with a model), so it cannot be called in isolation; the test calls TRL's own
`trl.trainer.utils.nanstd`, the one function of that code path, for the batch std, and
checks simrl's `grpo_batch` against (r - group mean) / (nanstd + 1e-4) with it.

The tensors are float64 under torch's default dtype float64: verl's gpg computes its
factor bsz / count_nonzero in the default dtype (float32 in a trainer: a relative 6e-8
rounding of alpha there).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

core = pytest.importorskip(
    "verl.trainer.ppo.core_algos",
    reason="verl not installed (.ci/run: pip install --no-deps verl==0.9.1 and its core_algos imports)",
)
from verl.trainer.config import AlgoConfig as VerlAlgoConfig  # noqa: E402

from simrl.algorithms.advantage import ADVANTAGES, compute  # noqa: E402
from simrl.config import AlgoConfig  # noqa: E402

VERL_VERSION = "0.9.1"  # the verl whose core_algos.py the estimator modules were read from
TRL_VERSION = "1.16.0"  # the trl whose grpo_trainer.py grpo_batch was read from
TOL = 1e-10

#: simrl estimator -> (verl registry name, extra keyword arguments of verl's function)
SHARED = {
    "grpo": ("grpo", {}),
    "dr_grpo": ("grpo", {"norm_adv_by_std_in_grpo": False}),
    "rloo": ("rloo", {}),
    "reinforce_pp": ("reinforce_plus_plus", {}),
    "reinforce_pp_baseline": ("reinforce_plus_plus_baseline", {}),
    "opo": ("opo", {}),
    "gpg": ("gpg", {}),
    "grpo_passk": ("grpo_passk", {}),
    "remax": ("remax", {}),
}
#: simrl's per-token estimators (token_baseline) and verl's name: tested below with the
#: tokens' pi_old and sum pi_old^2 (test_optimal_token_baseline_matches_verl)
TOKEN_SHARED = {"optimal_token_baseline": "optimal_token_baseline"}
#: vectorised verl variants of the same rules, and the tolerance: grpo_vectorized's
#: verl.utils.groupwise.group_mean_std casts the scores to float32 (a float32 rounding)
VECTORISED = {"grpo": "grpo_vectorized", "rloo": "rloo_vectorized"}
VECTORISED_TOL = {"grpo": 1e-6, "rloo": TOL}
#: verl's registered estimators simrl does not have (here), and why
VERL_ONLY = {
    "gae": "needs a critic (value model); simrl is critic-free",
    "tir_optimal_token_baseline": "multi-turn tool-use variant of optimal_token_baseline",
    "gdpo": "normalises several reward functions separately; simrl has one reward",
}


@pytest.fixture(autouse=True)
def float64_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def batch(n_groups: int, G: int, kind: str, seed: int):
    """Rewards (n_groups, G), lengths (n_groups, G) in 1..6 and verl's token tensors."""
    rng = np.random.default_rng(seed)
    if kind == "binary":
        rewards = (rng.random((n_groups, G)) < 0.4).astype(float)
    elif kind == "mixed":  # binary with some rewards off {0, 1} (an overlong penalty)
        rewards = (rng.random((n_groups, G)) < 0.5).astype(float)
        rewards[rng.random((n_groups, G)) < 0.3] -= 0.25
    else:
        rewards = rng.normal(size=(n_groups, G))
    lengths = rng.integers(1, 7, size=(n_groups, G)).astype(float)
    B, T = n_groups * G, 6
    mask = torch.zeros(B, T)
    tlr = torch.zeros(B, T)
    for b, (r, L) in enumerate(zip(rewards.ravel(), lengths.ravel(), strict=True)):
        mask[b, : int(L)] = 1.0
        tlr[b, int(L) - 1] = r
    index = np.repeat(np.arange(n_groups), G)
    return rewards, lengths, tlr, mask, index


def greedy_baselines(n_groups: int, seed: int) -> np.ndarray:
    """The greedy responses' rewards (n_groups,): ReMax's per-prompt baseline input."""
    return np.random.default_rng(1000 + seed).normal(size=n_groups)


def verl_call(fn, name, tlr, mask, index, extra, greedy=None):
    if name == "remax":  # verl's reward_baselines: one per response, its prompt's greedy reward
        G = tlr.shape[0] // greedy.size
        base = torch.as_tensor(np.repeat(greedy, G))
        return fn(token_level_rewards=tlr, reward_baselines=base, response_mask=mask)
    if name == "reinforce_plus_plus":
        return fn(token_level_rewards=tlr, response_mask=mask, config=VerlAlgoConfig())
    if name == "grpo_passk":
        return fn(tlr, mask, index, config={"norm_adv_by_std_in_grpo": True})
    return fn(tlr, mask, index, config=VerlAlgoConfig(), **extra)


def expected_tokens(adv: np.ndarray, mask: torch.Tensor) -> np.ndarray:
    return adv.reshape(-1, 1) * mask.numpy()


CASES = [
    (n, G, kind, seed)
    for n, G in ((4, 5), (3, 8), (2, 2))
    for kind in ("binary", "normal")
    for seed in range(3)
]


def simrl_config(name: str, G: int, n: int) -> AlgoConfig:
    return AlgoConfig(advantage=name, group_size=G, prompts_per_step=n)


@pytest.mark.parametrize("name", list(SHARED))
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}x{c[1]}-{c[2]}-{c[3]}")
def test_estimator_matches_verl(name, case):
    n, G, kind, seed = case
    rewards, lengths, tlr, mask, index = batch(n, G, kind, seed)
    verl_name, extra = SHARED[name]
    fn = core.get_adv_estimator_fn(verl_name)
    greedy = greedy_baselines(n, seed)
    got, _ = verl_call(fn, verl_name, tlr.clone(), mask, index, extra, greedy)
    ours = compute(name, rewards, simrl_config(name, G, n), lengths, greedy)
    diff = np.abs(got.numpy() - expected_tokens(ours, mask)).max()
    assert diff <= TOL, f"{name} vs verl {verl_name}: max |diff| {diff:.3g}"


@pytest.mark.parametrize("name", list(VECTORISED))
@pytest.mark.parametrize("seed", range(3))
def test_estimator_matches_verl_vectorised(name, seed):
    rewards, lengths, tlr, mask, index = batch(4, 5, "normal", seed)
    fn = core.get_adv_estimator_fn(VECTORISED[name])
    got, _ = fn(tlr.clone(), mask, index, config=VerlAlgoConfig())
    ours = compute(name, rewards, simrl_config(name, 5, 4), lengths)
    assert np.abs(got.numpy() - expected_tokens(ours, mask)).max() <= VECTORISED_TOL[name]


@pytest.mark.parametrize("name", ["reinforce_pp", "reinforce_pp_baseline", "opo", "gpg"])
@pytest.mark.parametrize("seed", range(3))
def test_groups_of_one_match_verl(name, seed):
    """verl's baseline of a one-response group is 0; simrl's G = 1 likewise."""
    rewards, lengths, tlr, mask, index = batch(6, 1, "normal", seed)
    verl_name, extra = SHARED[name]
    got, _ = verl_call(core.get_adv_estimator_fn(verl_name), verl_name, tlr, mask, index, extra)
    ours = compute(name, rewards, simrl_config(name, 1, 6), lengths)
    assert np.abs(got.numpy() - expected_tokens(ours, mask)).max() <= TOL


def test_token_whitening_differs_from_response_whitening():
    """verl whitens REINFORCE++ over tokens: with unequal lengths it is not the
    response-level whitening (simrl's bandit case, every length 1); with one length L for
    all n responses it differs from it only by the unbiased variance's factor: the
    advantages scale by sqrt((L n - 1) / (L (n - 1))) (up to the 1e-8 guards)."""
    rewards, lengths, *_ = batch(4, 5, "normal", 0)
    cfg = simrl_config("reinforce_pp", 5, 4)
    token = compute("reinforce_pp", rewards, cfg, lengths)
    response = compute("reinforce_pp", rewards, cfg, np.ones_like(lengths))
    assert np.abs(token - response).max() > 1e-3
    n, L = rewards.size, 3.0
    equal = compute("reinforce_pp", rewards, cfg, L * np.ones_like(lengths))
    factor = np.sqrt((L * n - 1) / (L * (n - 1)))
    assert np.abs(equal - factor * response).max() < 1e-6


def test_every_shared_name_is_registered_in_both():
    names = set(core.ADV_ESTIMATOR_REGISTRY)
    for ours, (theirs, _) in SHARED.items():
        assert ours in ADVANTAGES.names and theirs in names
    assert (
        set(VERL_ONLY)
        | {v for v, _ in SHARED.values()}
        | set(VECTORISED.values())
        | set(TOKEN_SHARED.values())
        == names
    )


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["binary", "normal"])
def test_grpo_batch_matches_trl_batch_scaling(seed, kind):
    trl_utils = pytest.importorskip("trl.trainer.utils", reason="trl not installed")
    rewards, *_ = batch(4, 6, kind, seed)
    r = torch.as_tensor(rewards.ravel())
    mean = r.view(-1, 6).mean(dim=1).repeat_interleave(6)
    std = trl_utils.nanstd(r).expand_as(r)  # TRL's own batch std
    theirs = ((r - mean) / (std + 1e-4)).numpy().reshape(4, 6)
    cfg = AlgoConfig(advantage="grpo_batch", group_size=6, prompts_per_step=4, std_eps=1e-4)
    assert np.abs(compute("grpo_batch", rewards, cfg) - theirs).max() <= TOL


def test_passk_matches_the_authors_formula_with_scipy():
    """passk against the authors' calc_adv rule evaluated with scipy.special.comb (their
    function is not a package: RUCAIBox/Passk_Training code/passk_adv.py)."""
    comb = pytest.importorskip("scipy.special").comb
    rng = np.random.default_rng(0)
    for G, k in ((8, 4), (8, 1), (5, 5), (6, 3)):
        rewards = (rng.random((20, G)) < rng.random((20, 1))).astype(float)
        rewards[0] = 1.0
        rewards[1] = 0.0
        cfg = AlgoConfig(advantage="passk", group_size=G, passk_k=k)
        ours = compute("passk", rewards, cfg)
        for j, val in enumerate(rewards):
            c = int((val == 1).sum())
            rho = 1 - comb(G - c, k) / comb(G, k)
            sigma = np.sqrt(rho * (1 - rho))
            pos = (1 - rho) / (sigma + 1e-6)
            neg = (1 - rho - comb(G - c - 1, k - 1) / comb(G - 1, k - 1)) / (sigma + 1e-6)
            want = np.where(val == 1, pos, neg)
            assert np.abs(ours[j] - want).max() <= TOL


def token_inputs(lengths: np.ndarray, seed: int):
    """Random pi_old of the sampled tokens and sum pi_old^2 at their states, (B, 6), as a
    softmax gives them (pi(y) <= sqrt(sum pi^2) <= 1), and simrl's per-token score norms
    (n_groups, G, 6), 0 past each response's end."""
    rng = np.random.default_rng(500 + seed)
    n, G = lengths.shape
    B, T = n * G, 6
    probs = rng.dirichlet(np.ones(4), size=(B, T))  # a 4-token vocabulary per state
    picked = probs[:, :, 0]
    sum_sq = (probs**2).sum(axis=2)
    mask = (np.arange(T)[None, :] < lengths.reshape(-1, 1)).astype(float)
    scores = ((1.0 - 2.0 * picked + sum_sq) * mask).reshape(n, G, T)
    return torch.as_tensor(np.log(picked)), torch.as_tensor(sum_sq), scores


@pytest.mark.parametrize(
    "case",
    CASES + [(3, 4, "mixed", s) for s in range(3)] + [(5, 1, "normal", 0)],
    ids=lambda c: f"{c[0]}x{c[1]}-{c[2]}-{c[3]}",
)
def test_optimal_token_baseline_matches_verl(case):
    """verl's own optimal_token_baseline (handle_zero_tail at its default, True, and off
    against simrl's rule without the tail: the tail is exercised where one response is
    strictly the longest of its group, which the random lengths make common)."""
    n, G, kind, seed = case
    rewards, lengths, tlr, mask, index = batch(n, G, kind, seed)
    logp_old, sum_sq, scores = token_inputs(lengths, seed)
    fn = core.get_adv_estimator_fn(TOKEN_SHARED["optimal_token_baseline"])
    got, _ = fn(
        token_level_rewards=tlr.clone(),
        response_mask=mask,
        index=index,
        old_log_probs=logp_old,
        sum_pi_squared=sum_sq,
        config=VerlAlgoConfig(),
    )
    cfg = simrl_config("optimal_token_baseline", G, n)
    ours = compute("optimal_token_baseline", rewards, cfg, lengths, scores=scores)
    diff = np.abs(got.numpy() - ours.reshape(n * G, -1)).max()
    assert diff <= TOL, f"optimal_token_baseline vs verl: max |diff| {diff:.3g}"
    if G > 1:  # the baseline does something: not the returns themselves
        assert (
            np.abs(
                ours.reshape(n * G, -1) - tlr.flip(-1).cumsum(-1).flip(-1).numpy() * mask.numpy()
            ).max()
            > 1e-6
        )


def test_optimal_token_baseline_zero_tail_is_exercised():
    """At least one group of the cases has a strictly longest response (handle_zero_tail)."""
    hits = 0
    for n, G, kind, seed in CASES:
        _, lengths, *_ = batch(n, G, kind, seed)
        for row in lengths:
            s = np.sort(row)
            hits += G > 1 and s[-1] > s[-2]
    assert hits > 5
