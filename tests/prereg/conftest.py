"""Small studies written into tmp folders: a spec is text, so each test starts from one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: a bandit study with a planted effect (step size) and an absent one (the task instance:
#: with prior_spread = 0 a new task.seed only permutes the answers, so every outcome has
#: the same distribution), plus the decomposition over rewards; 16 cells, seconds to run
TINY = """
title = "tiny"
question = "does the machinery work?"

[design]
seeds = 12
steps = 40
eval_every = 20
passk = [1]
stopping_rule = "fixed: every cell x every seed"

[config]
task = {{ kind = "bandit", num_prompts = 8, num_answers = 4, prior_strength = 0.35 }}
algo = {{ group_size = 8, loss = "vanilla", epochs = 2 }}
optim = {{ kind = "sgd" }}

[[factor]]
name = "reward"
field = "reward.kind"
levels = ["frozen", "random", "self_consistency", "true"]

[[factor]]
name = "lr"
field = "optim.lr"
levels = [0.25, 1.0]

[[factor]]
name = "instance"
field = "task.seed"
levels = [0, 1]

[outcomes]
primary = ["acc"]
secondary = ["entropy_mean", "acc@20", "acc - acc@20", "law_a"]

[analysis]
model = "acc ~ C(reward, Sum) * C(lr, Sum) * C(instance, Sum)"
mixed = true

[analysis.additive]
outcome = "acc"
factors = ["lr", "instance"]
where = {{ reward = "true" }}
sesoi = 0.03

[decomposition]
factor = "reward"
anchor = "self_consistency"

[[hypothesis]]
id = "planted"
statement = "a larger step size raises accuracy under the true reward"
outcome = "acc"
test = "paired"
factor = "lr"
contrast = ["1.0", "0.25"]
where = {{ reward = "true" }}
direction = "greater"
sesoi = 0.02

[[hypothesis]]
id = "absent"
statement = "the task instance changes accuracy under the true reward"
outcome = "acc"
test = "paired"
factor = "instance"
contrast = ["1", "0"]
where = {{ reward = "true" }}
direction = "greater"
sesoi = {absent_sesoi}

[[hypothesis]]
id = "absent_equivalent"
statement = "the task instance leaves accuracy unchanged"
outcome = "acc"
test = "paired"
factor = "instance"
contrast = ["1", "0"]
where = {{ reward = "true" }}
direction = "equivalent"
sesoi = {absent_sesoi}

[[hypothesis]]
id = "no_interaction"
statement = "the step size's effect does not depend on the task instance"
outcome = "acc"
test = "paired"
factor = "lr"
contrast = ["1.0", "0.25"]
factor2 = "instance"
contrast2 = ["1", "0"]
where = {{ reward = "true" }}
direction = "two-sided"
sesoi = {absent_sesoi}

[[hypothesis]]
id = "absent_each"
statement = "the task instance leaves accuracy unchanged at every step size"
outcome = "acc"
test = "paired"
factor = "instance"
contrast = ["1", "0"]
where = {{ reward = "true" }}
each = "lr"
direction = "equivalent"
sesoi = {absent_sesoi}
"""


def write_study(root: Path, name: str = "tiny", text: str | None = None, **fmt) -> Path:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    fmt.setdefault("absent_sesoi", 0.05)
    (path / "prereg.toml").write_text(TINY.format(**fmt) if text is None else text)
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write_study(tmp_path)


def simrl(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "simrl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
