"""Config: construction, TOML round trip, dotted overrides, field docs and rejected values."""

from __future__ import annotations

import dataclasses
import math

import pytest

from simrl.config import (
    SECTIONS,
    AlgoConfig,
    Config,
    RunConfig,
    field_docs,
    parse_override,
)
from simrl.errors import ConfigError


def write_toml(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


# ---- construction and round trips ---------------------------------------------------------


def test_defaults_construct():
    cfg = Config()
    assert cfg.algo.loss == "vanilla"
    assert cfg.prompts_per_step == cfg.task.num_prompts  # 0 = all prompts


NON_DEFAULT = {
    "task": {"num_prompts": 12, "num_correct": 2, "prior_spread": 0.1, "format_mass": 0.05},
    "reward": {"kind": "random", "p": 0.25},
    "algo": {"loss": "clip_cov", "group_size": 4, "clip_cov_lb": -1.5, "std_eps": 1e-4},
    "optim": {"kind": "adam", "lr": 3e-3},
    "run": {"passk": [1, 4, 16], "on_nonfinite": "record"},
}


@pytest.mark.parametrize("data", [{}, NON_DEFAULT], ids=["defaults", "non-default"])
def test_dict_round_trip(data):
    cfg = Config.from_dict(data)
    assert Config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("data", [{}, NON_DEFAULT], ids=["defaults", "non-default"])
def test_toml_round_trip(tmp_path, data):
    cfg = Config.from_dict(data)
    text = cfg.to_toml()
    assert text.startswith("simrl_version = ")  # the stamp is written, and accepted back
    assert Config.from_toml(write_toml(tmp_path, text)) == cfg


def test_non_default_values_survive_toml(tmp_path):
    cfg = Config.from_toml(write_toml(tmp_path, Config.from_dict(NON_DEFAULT).to_toml()))
    assert cfg.run.passk == (1, 4, 16)
    assert cfg.algo.clip_cov_lb == -1.5
    assert cfg.optim.lr == 3e-3
    assert cfg.reward.kind == "random"


# ---- dotted overrides ---------------------------------------------------------------------


def test_from_toml_with_overrides(tmp_path):
    path = write_toml(tmp_path, "[optim]\nlr = 0.5\n[algo]\ngroup_size = 4\n")
    cfg = Config.from_toml(path, overrides={"optim.lr": 0.1, "algo.loss": "pg"})
    assert cfg.optim.lr == 0.1
    assert cfg.algo.loss == "pg"
    assert cfg.algo.group_size == 4  # untouched by the overrides


def test_replace_applies_dotted_overrides():
    cfg = Config().replace(**{"algo.clip_high": 0.28})
    assert cfg.algo.clip_high == 0.28
    assert cfg.algo.clip_low == Config().algo.clip_low


@pytest.mark.parametrize(
    "text, key, value",
    [
        ("optim.lr=0.1", "optim.lr", 0.1),
        ("algo.lr=0.1", "algo.lr", 0.1),  # parsing alone does not check the key
        (" optim.lr = 1e-3 ", "optim.lr", 1e-3),
        ("reward.kind=random", "reward.kind", "random"),  # not a TOML literal: a string
        ('reward.kind="random"', "reward.kind", "random"),
        ("run.passk=[1,4]", "run.passk", [1, 4]),
        ("algo.group_size=4", "algo.group_size", 4),
        ("algo.exact=true", "algo.exact", True),
    ],
    ids=["float", "any-key", "spaces", "bare-string", "quoted-string", "list", "int", "bool"],
)
def test_parse_override(text, key, value):
    got_key, got_value = parse_override(text)
    assert got_key == key
    assert got_value == value
    assert type(got_value) is type(value)


def test_parsed_overrides_build_a_config():
    overrides = dict(
        parse_override(t) for t in ("optim.lr=0.1", "reward.kind=random", "run.passk=[1,4]")
    )
    cfg = Config.from_dict({}, overrides)
    assert (cfg.optim.lr, cfg.reward.kind, cfg.run.passk) == (0.1, "random", (1, 4))


def test_override_of_reward_named_true():
    # 'true' is the default reward's name; `--set reward.kind=true` must select it
    cfg = Config.from_dict(
        {"reward": {"kind": "random"}}, dict([parse_override("reward.kind=true")])
    )
    assert cfg.reward.kind == "true"


@pytest.mark.parametrize(
    "text", ["algo.lr", "=0.1", "  =1"], ids=["no-equals", "no-key", "blank-key"]
)
def test_parse_override_rejects_malformed(text):
    with pytest.raises(ConfigError) as e:
        parse_override(text)
    assert e.value.field == "--set"


@pytest.mark.parametrize(
    "data, section, name, expected",
    [
        ({"optim": {"lr": 1}}, "optim", "lr", 1.0),
        ({"algo": {"clip_high": 0}}, "algo", "clip_high", 0.0),
        ({"task": {"prior_spread": 0}}, "task", "prior_spread", 0.0),
    ],
    ids=["lr", "clip_high", "prior_spread"],
)
def test_int_for_float_field_becomes_float(data, section, name, expected):
    value = getattr(getattr(Config.from_dict(data), section), name)
    assert value == expected
    assert type(value) is float


def test_int_for_float_field_is_coerced_before_the_check():
    with pytest.raises(ConfigError, match=r"task\.prior_strength = 0\.0:"):
        Config.from_dict({"task": {"prior_strength": 0}})


def test_single_int_for_passk_becomes_tuple():
    assert Config.from_dict({"run": {"passk": 4}}).run.passk == (4,)


# ---- docs ---------------------------------------------------------------------------------


def test_every_field_has_a_one_line_doc():
    docs = field_docs()
    expected = {f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    assert set(docs) == expected
    for name, doc in docs.items():
        assert doc.strip(), name
        assert "\n" not in doc, name


# ---- rejected configurations --------------------------------------------------------------


def bad(case_id: str, overrides: dict, field: str, value, data: dict | None = None):
    """A rejected config: dotted overrides (on `data`), the field the error names, its value."""
    return pytest.param(data or {}, overrides, field, value, id=case_id)


BAD = [
    bad("unknown-section", {}, "algoo", {"group_size": 4}, data={"algoo": {"group_size": 4}}),
    bad("unknown-section-override", {"model.lr": 0.1}, "model.lr", 0.1),
    bad("override-without-dot", {"lr": 0.1}, "lr", 0.1),
    bad("unknown-field", {"algo.group_sise": 4}, "algo.group_sise", 4),
    bad("section-not-a-table", {}, "algo", 3, data={"algo": 3}),
    # types
    bad("str-for-int", {"algo.group_size": "8"}, "algo.group_size", "8"),
    bad("bool-for-int", {"run.steps": True}, "run.steps", True),
    bad("float-for-int", {"algo.group_size": 2.5}, "algo.group_size", 2.5),
    bad("integral-float-for-int", {"run.seeds": 8.0}, "run.seeds", 8.0),
    bad("bool-for-float", {"optim.lr": True}, "optim.lr", True),
    bad("str-for-bool", {"algo.exact": "yes"}, "algo.exact", "yes"),
    bad("nan", {"optim.lr": math.nan}, "optim.lr", math.nan),
    bad("inf", {"algo.clip_high": math.inf}, "algo.clip_high", math.inf),
    bad("minus-inf", {"algo.clip_cov_lb": -math.inf}, "algo.clip_cov_lb", -math.inf),
    # ranges
    bad("lr-zero", {"optim.lr": 0.0}, "optim.lr", 0.0),
    bad("lr-negative", {"optim.lr": -0.1}, "optim.lr", -0.1),
    bad("clip_low-above-one", {"algo.clip_low": 1.01}, "algo.clip_low", 1.01),  # 1 is allowed (Clip-Cov)
    bad("prior_strength-0", {"task.prior_strength": 0.0}, "task.prior_strength", 0.0),
    bad("prior_strength-1", {"task.prior_strength": 1.0}, "task.prior_strength", 1.0),
    bad("group_size-0", {"algo.group_size": 0}, "algo.group_size", 0),
    bad("steps-negative", {"run.steps": -5}, "run.steps", -5),
    bad("reward-p-above-1", {"reward.p": 1.5}, "reward.p", 1.5),
    bad("passk-empty", {"run.passk": []}, "run.passk", ()),
    bad("passk-duplicate", {"run.passk": [1, 4, 4]}, "run.passk", (1, 4, 4)),
    bad("passk-zero", {"run.passk": [0, 4]}, "run.passk", (0, 4)),
    bad("passk-float", {"run.passk": [1.0, 4.0]}, "run.passk", (1.0, 4.0)),
    bad("passk-huge", {"run.passk": [1, 2_000_000]}, "run.passk", (1, 2_000_000)),
    # registry names
    bad("unknown-loss", {"algo.loss": "ppo"}, "algo.loss", "ppo"),
    bad("unknown-advantage", {"algo.advantage": "gae"}, "algo.advantage", "gae"),
    bad("unknown-agg", {"algo.agg": "mean"}, "algo.agg", "mean"),
    bad("unknown-kl_kind", {"algo.kl_kind": "k4"}, "algo.kl_kind", "k4"),
    bad("unknown-optim", {"optim.kind": "lion"}, "optim.kind", "lion"),
    bad("unknown-reward", {"reward.kind": "majority"}, "reward.kind", "majority"),
    bad("unknown-task", {"task.kind": "maze"}, "task.kind", "maze"),
    bad("unknown-on_nonfinite", {"run.on_nonfinite": "ignore"}, "run.on_nonfinite", "ignore"),
    # combinations
    bad(
        "num_correct-ge-num_answers",
        {"task.num_answers": 4, "task.num_correct": 4},
        "task.num_correct",
        4,
    ),
    bad(
        "no-wrong-answer-besides-format",
        {"task.num_answers": 3, "task.num_correct": 2, "task.format_mass": 0.1},
        "task.num_answers",
        3,
    ),
    bad("format-reward-without-format", {"reward.kind": "format"}, "reward.kind", "format"),
    bad(
        "format_mass-plus-prior-ge-1",
        {"task.prior_strength": 0.5, "task.format_mass": 0.5},
        "task.format_mass",
        0.5,
    ),
    bad(
        "prior_spread-too-large",
        {"task.prior_strength": 0.3, "task.prior_spread": 0.5},
        "task.prior_spread",
        0.5,
    ),
    bad(
        "prompts_per_step-gt-num_prompts",
        {"task.num_prompts": 8, "algo.prompts_per_step": 9},
        "algo.prompts_per_step",
        9,
    ),
    bad("dual_clip-below-1", {"algo.dual_clip": 0.5}, "algo.dual_clip", 0.5),
    bad("dual_clip-1", {"algo.dual_clip": 1.0}, "algo.dual_clip", 1.0),
    bad(
        "dual_clip-with-clip_cov",
        {"algo.dual_clip": 3.0, "algo.loss": "clip_cov"},
        "algo.dual_clip",
        3.0,
    ),
    bad(
        "exact-random-reward",
        {"algo.exact": True, "reward.kind": "random"},
        "reward.kind",
        "random",
    ),
    bad("exact-clip_cov", {"algo.exact": True, "algo.loss": "clip_cov"}, "algo.loss", "clip_cov"),
    bad(
        "exact-drop",
        {"algo.exact": True, "algo.dynamic_sampling": "drop"},
        "algo.dynamic_sampling",
        "drop",
    ),
    bad("group_size-1-grpo", {"algo.group_size": 1}, "algo.group_size", 1),
    bad(
        "group_size-1-rloo", {"algo.group_size": 1, "algo.advantage": "rloo"}, "algo.group_size", 1
    ),
    bad(
        "minibatches-gt-prompts",
        {"algo.prompts_per_step": 4, "algo.minibatches": 8},
        "algo.minibatches",
        8,
    ),
    bad(
        "clip_cov_lb-ge-ub",
        {"algo.clip_cov_lb": 5.0, "algo.clip_cov_ub": 5.0},
        "algo.clip_cov_lb",
        5.0,
    ),
    bad(
        "steer_w_min-gt-max",
        {"algo.steer_w_min": 1.5, "algo.steer_w_max": 1.2},
        "algo.steer_w_min",
        1.5,
    ),
    bad(
        "steer-exp-w_min-above-1",
        {"algo.steer_mode": "exp", "algo.steer_w_min": 1.1},
        "algo.steer_w_min",
        1.1,
    ),
]


@pytest.mark.parametrize("data, overrides, field, value", BAD)
def test_bad_config_raises(data, overrides, field, value):
    with pytest.raises(ConfigError) as e:
        Config.from_dict(data, overrides)
    message = str(e.value)
    assert e.value.field == field
    assert field in message
    assert repr(value) in message
    assert e.value.allowed  # says what is allowed, not only what is wrong


def test_bad_cases_are_distinct():
    inputs = [repr(case.values[:2]) for case in BAD]
    assert len(set(inputs)) == len(inputs) >= 20


@pytest.mark.parametrize(
    "data, hint",
    [
        ({"algoo": {}}, "did you mean 'algo'"),
        ({"algo": {"group_sise": 4}}, "did you mean 'group_size'"),
    ],
    ids=["section", "field"],
)
def test_unknown_names_suggest_the_closest(data, hint):
    with pytest.raises(ConfigError, match=hint):
        Config.from_dict(data)


def test_sections_check_themselves_on_construction():
    with pytest.raises(ConfigError, match=r"algo\.clip_low = 1\.5"):
        AlgoConfig(clip_low=1.5)
    with pytest.raises(ConfigError, match=r"run\.passk"):
        RunConfig(passk=())


def test_combinations_are_checked_on_direct_construction():
    with pytest.raises(ConfigError, match=r"algo\.minibatches = 8"):
        Config(algo=AlgoConfig(prompts_per_step=4, minibatches=8))


# ---- TOML files ---------------------------------------------------------------------------


def test_missing_toml_file(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as e:
        Config.from_toml(path)
    assert e.value.field == "config"
    assert str(path) in str(e.value)


def test_invalid_toml_syntax(tmp_path):
    path = write_toml(tmp_path, "[algo\ngroup_size = = 4\n")
    with pytest.raises(ConfigError) as e:
        Config.from_toml(path)
    assert e.value.field == "config"
    assert "valid TOML" in str(e.value)


def test_bad_value_in_toml_names_the_field(tmp_path):
    path = write_toml(tmp_path, "[optim]\nlr = -1.0\n")
    with pytest.raises(ConfigError, match=r"optim\.lr = -1\.0"):
        Config.from_toml(path)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"task.num_prompts": 8, "task.train_prompts": 9}, "task.train_prompts"),
        (
            {"task.num_prompts": 8, "task.train_prompts": 2, "algo.prompts_per_step": 3},
            "algo.prompts_per_step",
        ),
        ({"task.train_prompts": -1}, "task.train_prompts"),
    ],
)
def test_bad_train_split_is_refused(overrides, field):
    with pytest.raises(ConfigError) as e:
        Config.from_dict({}, overrides)
    assert e.value.field == field


def test_prompts_per_step_defaults_to_the_training_prompts():
    cfg = Config.from_dict({}, {"task.num_prompts": 8, "task.train_prompts": 3})
    assert cfg.train_prompts == 3 and cfg.prompts_per_step == 3
