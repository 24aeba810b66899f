"""Names (issue 19): task.steps is task.reasoning_tokens (the old name answers with one
line naming the new one; a registered spec keeps working verbatim; cell identities keep
the old name), and a saved config.toml holds only the fields its task kind uses."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from simrl.cli import main
from simrl.config import Config
from simrl.config_checks import SEQUENCE_ALGO_FIELDS, SEQUENCE_TASK_FIELDS
from simrl.errors import ConfigError
from simrl.prereg.identity import identity_toml
from simrl.prereg.spec import load_study

ROOT = Path(__file__).resolve().parents[1]
SEQ = {"task": {"kind": "sequence", "num_prompts": 4, "vocab": 3, "reasoning_tokens": 2}}


def test_the_old_name_answers_with_the_new_one():
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"task": {"kind": "sequence", "steps": 2}})
    msg = str(e.value)
    assert "task.steps" in msg and "task.reasoning_tokens" in msg and "run.steps" in msg
    assert "\n" not in msg


def test_the_old_name_on_the_command_line_is_one_line(capsys):
    quick = ROOT / "simrl" / "examples" / "quickstart.toml"
    assert main(["run", str(quick), "--set", "task.steps=3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "task.reasoning_tokens" in err


def test_the_identity_keeps_the_old_name():
    cfg = Config.from_dict(SEQ)
    text = identity_toml(cfg)
    assert "\nreasoning_tokens" not in text
    assert "\nsteps = 2\n" in text.split("[task]")[1].split("[reward]")[0]
    # (tests/prereg/test_identity.py holds every shipped study's cells to their stored keys)


def test_a_registered_spec_keeps_its_old_name():
    # spurious_rewards' locked spec says `steps = 2` in its sequence level
    spec = (ROOT / "experiments" / "spurious_rewards" / "prereg.toml").read_text()
    assert "steps = 2," in spec
    study = load_study(ROOT / "experiments" / "spurious_rewards")
    seq = [cfg for _, cfg in study.cells if cfg.task.kind == "sequence"]
    assert seq and all(cfg.task.reasoning_tokens == 2 for cfg in seq)


def test_an_unregistered_or_edited_spec_must_use_the_new_name(tmp_path):
    src = ROOT / "experiments" / "spurious_rewards"
    study = tmp_path / "s"
    study.mkdir()
    shutil.copy(src / "prereg.toml", study / "prereg.toml")  # no lock: a new spec
    with pytest.raises(ConfigError, match=r"task\.steps.*task\.reasoning_tokens"):
        load_study(study)
    shutil.copy(src / "prereg.lock.json", study / "prereg.lock.json")
    load_study(study)  # locked and unchanged: read under the new name
    (study / "prereg.toml").write_text((src / "prereg.toml").read_text() + "\n")
    with pytest.raises(ConfigError, match=r"task\.reasoning_tokens"):  # edited after its lock
        load_study(study)


def test_a_saved_config_holds_only_its_task_kinds_fields(tmp_path):
    bandit = Config.from_dict({})
    saved = tomllib.loads(bandit.to_toml())
    assert not set(SEQUENCE_TASK_FIELDS) & set(saved["task"])
    assert not set(SEQUENCE_ALGO_FIELDS) & set(saved["algo"])
    assert "num_correct" in saved["task"]
    seq = Config.from_dict(SEQ)
    saved_seq = tomllib.loads(seq.to_toml())
    assert "num_correct" not in saved_seq["task"] and "prior_spread" not in saved_seq["task"]
    assert saved_seq["task"]["reasoning_tokens"] == 2
    for cfg in (bandit, seq):  # the text loads back to the same config and identity
        path = tmp_path / "c.toml"
        path.write_text(cfg.to_toml())
        back = Config.from_toml(path)
        assert back == cfg and identity_toml(back) == identity_toml(cfg)
    # the identity still lists every keyed field, whatever the kind
    assert "\nvocab = " in identity_toml(bandit) and "\nsteps = " in identity_toml(bandit)
