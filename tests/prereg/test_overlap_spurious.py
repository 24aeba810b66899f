"""experiments/overlap_spurious: the registered spec validates, its cells are the design it
states (a linear policy with exact random features, the tabular-equivalent step of
algorithm_zoo's bandit), and the kernel fact its predictions rest on holds for its features."""

from pathlib import Path

import numpy as np
import pytest

from simrl.policy import random_features
from simrl.prereg.spec import load_study

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "experiments" / "overlap_spurious"
RHOS = (0.0, 0.1, 0.3, 0.6, 0.9)


def test_the_spec_is_the_stated_design():
    study = load_study(STUDY)
    assert len(study.cells) == 5 * 4 * 2 * 2
    seen = set()
    for levels, cfg in study.cells:
        assert cfg.task.kind == "bandit"
        assert cfg.policy.kind == "linear" and cfg.policy.features == "random_features"
        S, K = cfg.task.num_prompts, cfg.task.num_answers
        assert cfg.policy.dim >= (S + 1) * K  # the kernel is exact (simrl/policy.py)
        assert cfg.policy.rho == pytest.approx(float(levels["rho"]))
        assert cfg.algo.epochs == 4  # the clipping factor changes only the loss
        if levels["clipping"] == "on":
            assert (cfg.algo.loss, cfg.algo.clip_low, cfg.algo.clip_high) == ("vanilla", 0.2, 0.2)
        else:
            assert cfg.algo.loss == "pg"
        assert cfg.reward.kind == levels["reward"]
        seen.add((cfg.policy.rho, cfg.reward.kind, levels["clipping"], cfg.task.prior_strength))
    assert len(seen) == 80
    assert {r for r, *_ in seen} == set(RHOS)
    assert {h.id for h in study.hypotheses} >= {"S1_random", "S2_random", "S3_random"}


def test_the_step_is_algorithm_zoos_bandit_step_in_tabular_terms():
    """A trained state's own logits move by (1 + strength^2) x the tabular step (the kernel
    below), so sgd lr (1 + strength^2) equals algorithm_zoo's bandit lr."""
    study = load_study(STUDY)
    zoo = load_study(ROOT / "experiments" / "algorithm_zoo")
    zoo_lr = next(c.optim.lr for lv, c in zoo.cells if lv["task"] == "bandit")
    for _, cfg in study.cells:
        assert cfg.optim.lr * (1 + cfg.policy.strength**2) == pytest.approx(zoo_lr)


@pytest.mark.parametrize("rho", RHOS)
def test_own_kernel_is_independent_of_rho_and_spill_is_rho(rho):
    """K((s, a), (s', a')) = strength^2 (rho [a = a'] + (1 - rho) [s = s'][a = a']) with the
    study's S, K, d: a state's own block is strength^2 I at every rho, another state's rho
    strength^2 I (theory/NOTES.md, Shared parameters (S2))."""
    S, K, d, strength = 16, 4, 68, 1.0
    phi = random_features(S, K, d, rho, strength, seed=0)
    gram = np.einsum("sad,tbd->satb", phi, phi)
    eye = np.eye(K)
    for s, t in ((0, 0), (3, 3), (0, 1), (5, 12)):
        want = strength**2 * (eye if s == t else rho * eye)
        np.testing.assert_allclose(gram[s, :, t, :], want, atol=1e-12)
