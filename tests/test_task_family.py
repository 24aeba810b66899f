"""The task-family interface (simrl/tasks/family.py): every family is complete in every
engine, and each answers for its own tasks."""

import numpy as np
import pytest

from simrl.config import Config
from simrl.engine.families import ENGINE_FORMS
from simrl.errors import ConfigError
from simrl.memory import run_bytes
from simrl.prereg.plurality import answer_distribution
from simrl.tasks import build_task
from simrl.tasks.family import TASK_FAMILIES, family, family_of

CONFIGS = {
    "bandit": {"task": {"kind": "bandit", "num_prompts": 5, "num_answers": 6}},
    "sequence": {"task": {"kind": "sequence", "num_prompts": 4}},
}


def test_every_family_has_every_engine_form_and_a_config():
    assert set(TASK_FAMILIES.names) == set(ENGINE_FORMS) == set(CONFIGS)
    for f in TASK_FAMILIES:
        assert callable(ENGINE_FORMS[f.name].run_fast())


@pytest.mark.parametrize("kind", CONFIGS)
def test_a_family_answers_for_its_tasks(kind):
    cfg = Config.from_dict(CONFIGS[kind])
    task = build_task(cfg.task)
    fam = family_of(task)
    assert fam is family(kind)
    # the metric names known from the config equal those of the built task
    assert fam.config_metric_names(cfg) == fam.task_metric_names(cfg, task)
    dist, correct = answer_distribution(cfg)
    assert dist.shape == correct.shape and dist.shape[0] == cfg.train_prompts
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, atol=1e-12)
    states, prompts, length = fam.table_size(cfg.task)
    assert prompts == cfg.task.num_prompts and states >= task.shape[0] and length >= 1
    assert run_bytes(cfg) > 0
    assert fam.draws_per_response(cfg.max_len) >= cfg.max_len


def test_a_task_of_no_family_is_one_clear_error():
    with pytest.raises(ConfigError, match="must be a BanditTask or a SequenceTask"):
        family_of(object())


def test_the_sequence_family_checks_a_custom_task_against_the_config():
    cfg = Config.from_dict(CONFIGS["sequence"])
    task = build_task(cfg.task)
    other = Config.from_dict(CONFIGS["sequence"], {"task.num_prompts": 5})
    with pytest.raises(ConfigError, match=r"task\.num_prompts"):
        family_of(task).check_task(other, task)
    family_of(task).check_task(cfg, task)  # its own config passes
