"""A study with `backend = "bridge"`: a test-size transformer grid runs, resumes with
bitwise the same cells, and analyzes; a bad bridge field fails before any work."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch", reason="the bridge needs torch: pip install torch==2.13.0")
pytest.importorskip("transformers", reason="the bridge needs transformers: pip install -e .[llm]")

from simrl.errors import ConfigError
from simrl.prereg.analysis import analyze
from simrl.prereg.grid import expand
from simrl.prereg.lock import register
from simrl.prereg.report import write
from simrl.prereg.runner import dry_run, run_study
from simrl.prereg.spec import load_study
from simrl.prereg.store import Store
from tests.prereg.conftest import simrl, write_study

#: the test-size model of tests/bridge (pretraining in seconds), 2 cells x 2 seeds x 2 steps
BRIDGE = """
title = "tiny bridge"
question = "does a bridge study run, resume and analyze?"

[design]
backend = "bridge"
seeds = 2
steps = 2
eval_every = 1
passk = [1, 4]
stopping_rule = "fixed: every cell x every seed"

[config]
bridge = {{ d_model = 32, layers = 2, heads = 2, pretrain_steps = 60, pretrain_batch = 32, train_prompts = 4, eval_prompts = 4, eval_samples = 4, probe_prompts = 2, max_new_tokens = 20, device = "cpu", prior_mix = 0.8 }}
algo = {{ group_size = 4, loss = "vanilla", epochs = 2 }}
optim = {{ kind = "adam", lr = 3e-3 }}
run = {{ audit = true }}

[[factor]]
name = "reward"
field = "reward.kind"
levels = ["random", "true"]

[outcomes]
primary = ["acc_all"]
secondary = ["acc_all - acc_all@0", "mode_prob_code", "sign_agree(dH_first_order)"]

[analysis]
model = "acc_all ~ C(reward, Sum)"

[[hypothesis]]
id = "true_beats_random"
statement = "the true reward beats the random one"
outcome = "acc_all"
test = "paired"
factor = "reward"
contrast = ["true", "random"]
direction = "greater"
sesoi = 0.0

[[hypothesis]]
id = "first_order_sign"
statement = "the first-order prediction has the sign of the exact entropy change"
outcome = "sign_agree(dH_first_order)"
test = "mean"
against = 0.5
direction = "greater"
sesoi = 0.0
{extra}
"""


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    """The test-size pretrained model is cached once per session, never in ~/.cache."""
    monkeypatch.setenv("SIMRL_CACHE", str(tmp_path_factory.getbasetemp() / "simrl-cache"))


def bridge_study(root: Path, name: str = "bridge", extra: str = "", **replace: str) -> Path:
    text = BRIDGE.format(extra=extra)
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return write_study(root, name, text)


def cell_bytes(study_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (study_dir / "results" / "cells").glob("*.parquet")}


def test_bridge_grid_runs_resumes_and_analyzes(tmp_path):
    path = bridge_study(tmp_path)
    study = load_study(path)
    assert study.backend == "bridge" and study.engine == "bridge"
    register(path)
    rep = run_study(path)
    assert (rep.cells, rep.ran_cells, rep.runs) == (2, 2, 4)
    first = cell_bytes(path)
    cells = expand(study)
    df = Store(path).read(cells[0].key)
    # the simulator's cell layout: seed, step, failed_step, metrics, every recorded step
    assert list(df.columns[:3]) == ["seed", "step", "failed_step"]
    assert list(df["step"]) == [0, 1, 2, 0, 1, 2] and (df["failed_step"] == -1).all()
    assert {"acc", "acc_heldout", "mode_prob_code", "dH_exact", "dH_first_order"} <= set(df)

    # resume: a lost cell is recomputed alone, with bitwise the same bytes (CPU, 1 thread)
    Store(path).path(cells[1].key).unlink()
    rep = run_study(path)
    assert (rep.stored_before, rep.ran_cells) == (1, 1)
    assert cell_bytes(path) == first
    assert run_study(path).ran_cells == 0

    a = analyze(path)
    verdicts = {hr.hypothesis.id: hr.result.verdict for hr in a.hypotheses}
    assert set(verdicts) == {"true_beats_random", "first_order_sign"}
    res = a.results
    assert len(res) == 4 and set(res["reward"]) == {"random", "true"}
    for col in ("acc_all", "acc_all - acc_all@0", "mode_prob_code"):
        assert res[col].notna().all(), col
    row = res.iloc[0]
    d = df[df["seed"] == row["seed"]].set_index("step")
    acc_all = (4 * d.loc[2, "acc"] + 4 * d.loc[2, "acc_heldout"]) / 8  # 4 + 4 problems
    assert math.isclose(row["acc_all"], acc_all)
    report = write(a)
    assert "engine `bridge`" in report.read_text()
    assert pd.read_parquet(path / "results.parquet").shape[0] == 4


def test_bridge_dry_run_estimates_without_storing(tmp_path):
    path = bridge_study(tmp_path)
    d = dry_run(path)
    assert (d.cells, d.runs, d.missing_cells) == (2, 4, 2)
    assert d.estimate_s > 0
    assert not (path / "results").exists()


@pytest.mark.parametrize(
    ("replace", "field", "allowed"),
    [
        ({"prior_mix = 0.8": "prior_mix = 1.5"}, "bridge.prior_mix", "[0, 1]"),
        ({'levels = ["random", "true"]': 'levels = ["random", "truth"]'}, "reward.kind", "true"),
        ({"max_new_tokens = 20": "max_new_tokenz = 20"}, "bridge.max_new_tokenz", "max_new"),
        ({'device = "cpu"': 'device = "auto"'}, "bridge.device", "'cpu' or 'cuda'"),
        ({'backend = "bridge"': 'backend = "brige"'}, "design.backend", "'simulator', 'bridge'"),
        ({"run = {": 'task = { kind = "bandit" }\nrun = {'}, "config.task", "bridge, reward"),
        ({"seeds = 2": 'engine = "fast"\nseeds = 2'}, "design.engine", "simulator"),
        (
            {'field = "reward.kind"': 'field = "task.prior_strength"'},
            "factor.reward.field",
            "bridge, reward",
        ),
    ],
)
def test_a_bad_bridge_field_fails_before_any_work(tmp_path, replace, field, allowed):
    path = bridge_study(tmp_path, **replace)
    with pytest.raises(ConfigError) as e:
        load_study(path)
    assert e.value.field == field and allowed in str(e.value), str(e.value)


def test_bad_bridge_field_on_the_command_line_is_one_line_and_stores_nothing(tmp_path):
    path = bridge_study(tmp_path, **{"prior_mix = 0.8": "prior_mix = 1.5"})
    out = simrl("prereg", "run", str(path), "--dry-run")
    assert out.returncode != 0
    err = out.stderr.strip()
    assert len(err.splitlines()) == 1 and "bridge.prior_mix" in err and "1.5" in err, err
    assert not (path / "results").exists()
    assert not (path / "prereg.lock.json").exists()


def test_simulator_study_names_the_backend_for_a_bridge_section(tmp_path):
    path = bridge_study(tmp_path, **{'backend = "bridge"\n': ""})
    with pytest.raises(ConfigError) as e:
        load_study(path)
    assert e.value.field == "config.bridge" and "design.backend = 'bridge'" in str(e.value)
