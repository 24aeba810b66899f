"""experiments/algorithm_zoo: the registered spec validates, and its algorithm factor
covers the set it locked (every policy loss and advantage rule on main at registration),
each either a level or excluded in the spec with its reason."""

from pathlib import Path

from simrl.algorithms.advantage import ADVANTAGES
from simrl.algorithms.policy_loss import POLICY_LOSSES
from simrl.prereg.spec import load_study

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "experiments" / "algorithm_zoo"
#: the set locked at registration (main at d4d5dfc); algorithms added later are not in it
LOSSES = ("vanilla", "pg", "clip_cov", "kl_cov", "steer", "cispo", "cispo_trl", "gspo", "gmpo",
          "sapo", "gpg", "dppo_tv", "dppo_kl", "dro", "opsm", "luspo", "vespo", "ce_gppo")  # fmt: skip
ADVANTAGE_RULES = ("grpo", "dr_grpo", "rloo", "reinforce", "reinforce_pp", "reinforce_pp_baseline",
                   "opo", "gpg", "grpo_passk", "passk", "psr", "nsr", "w_reinforce", "grpo_batch",
                   "remax")  # fmt: skip
EXCLUDED = ("opo", "remax")


def test_the_spec_covers_its_locked_set():
    study = load_study(STUDY)
    assert len(study.cells) == 30 * 2 * 2 * 2
    losses, advantages = set(), set()
    for levels, cfg in study.cells:
        if levels["algorithm"].startswith("adv_"):
            assert cfg.algo.loss == "vanilla"
            advantages.add(cfg.algo.advantage)
            assert levels["algorithm"] == "adv_" + cfg.algo.advantage
        else:
            assert cfg.algo.advantage == "grpo"
            losses.add(cfg.algo.loss)
            assert levels["algorithm"] == cfg.algo.loss
    assert losses == set(LOSSES)
    assert advantages | {"grpo"} | set(EXCLUDED) == set(ADVANTAGE_RULES)
    assert set(LOSSES) <= set(POLICY_LOSSES.names)
    assert set(ADVANTAGE_RULES) <= set(ADVANTAGES.names)
    text = (STUDY / "prereg.toml").read_text()
    for name in EXCLUDED:
        assert f"# - advantage {name}:" in text  # excluded with its reason


def test_every_algorithm_has_its_registered_predictions():
    study = load_study(STUDY)
    ids = {h.id for h in study.hypotheses}
    for label in study.factor("algorithm").labels:
        for kind in ("R_{}_strong", "R_{}_weak", "H_{}", "P_{}"):
            assert kind.format(label) in ids
    assert len(ids) == 4 * 30
