"""experiments/overlap_calibration: the registered spec is the design it states, and its
linear configurations sit at the overlap measured on the tiny Llama (bridge_overlap.json)."""

import json
from pathlib import Path

import numpy as np
import pytest

from simrl.calibration import sim_overlap
from simrl.prereg.spec import load_study

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "experiments" / "overlap_calibration"


def _targets():
    meas = json.loads((STUDY / "bridge_overlap.json").read_text())
    return (
        float(np.mean([m["mode_overlap"] for m in meas])),
        float(np.mean([m["answer_overlap"] for m in meas])),
    )


def test_the_spec_is_the_design():
    study = load_study(STUDY)
    assert len(study.cells) == 10 * 2 * 3 * 2
    mode, answer = _targets()
    seen = {}
    for levels, cfg in study.cells:
        assert cfg.task.kind == "bandit" and cfg.train_prompts == 8 and cfg.task.num_prompts == 24
        assert cfg.task.prior_strength == {"weak": 0.52, "strong": 0.86}[levels["prior"]]
        sim, p = levels["sim"], cfg.policy
        kind, lr = cfg.optim.kind, cfg.optim.lr
        assert kind == ("adam" if sim.endswith("_adam") else "sgd")
        if kind == "adam":
            assert lr == 0.23
        elif p.kind == "tabular" or p.features == "shared_answer_features":
            assert lr == 7.0
        else:  # a trained state's own step equals the tabular one: lr 7 / (1 + strength^2)
            assert lr == pytest.approx(7.0 / (1.0 + p.strength**2), abs=0.01)
        if p.kind == "linear" and p.features == "random_features":
            assert p.dim >= (cfg.task.num_prompts + 1) * cfg.task.num_answers  # exact kernel
        seen.setdefault(sim, []).append(cfg)
    for sim, cfgs in seen.items():
        if sim.startswith("tab"):
            assert all(c.policy.kind == "tabular" for c in cfgs)
            continue
        target = answer if sim.startswith("rf_answer") else mode
        weak = next(c for c in cfgs if c.task.prior_strength == 0.52)
        strong = next(c for c in cfgs if c.task.prior_strength == 0.86)
        got = np.mean(
            [sim_overlap({"task": vars(c.task), "policy": vars(c.policy)}) for c in (weak, strong)]
        )
        assert got == pytest.approx(target, abs=2e-3), sim  # the knobs are rounded to 3 digits
