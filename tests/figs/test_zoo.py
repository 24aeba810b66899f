"""The algorithm_zoo figure (simrl/figs/zoo.py): its loader on a tiny synthetic study and
its plot on synthetic data."""

from __future__ import annotations

import pandas as pd
import pytest

from simrl.figs import zoo
from simrl.figs.style import save, style

SPEC = """
[[hypothesis]]
id = "R_vanilla_strong"
where = { algorithm = "vanilla", reward = "random", prior = "strong" }
direction = "greater"

[[hypothesis]]
id = "R_vanilla_weak"
where = { algorithm = "vanilla", reward = "random", prior = "weak" }
direction = "less"

[[hypothesis]]
id = "R_pg_strong"
where = { algorithm = "pg", reward = "random", prior = "strong" }
direction = "less"
"""


def make_results(root):
    """experiments/algorithm_zoo/: prereg.toml and a results.parquet of 3 seeds per cell,
    acc change = 0.1 (vanilla) or -0.1 (pg) + 0.01 * seed; the true reward's rows at 9.0,
    and one excluded run at 100, neither of which may reach the figure."""
    d = root / "algorithm_zoo"
    d.mkdir(parents=True)
    (d / "prereg.toml").write_text(SPEC)
    rows = []
    for a, v in (("vanilla", 0.1), ("pg", -0.1)):
        for task in ("bandit", "sequence"):
            for prior in ("weak", "strong"):
                for reward in ("true", "random"):
                    for s in range(3):
                        x = v + 0.01 * s if reward == "random" else 9.0
                        rows.append((a, task, prior, reward, s, False, x, -x))
    rows.append(("pg", "bandit", "weak", "random", 3, True, 100.0, 100.0))
    cols = ["algorithm", "task", "prior", "reward", "seed", "excluded", *zoo.CHANGES]
    pd.DataFrame(rows, columns=cols).to_parquet(d / "results.parquet")
    return d


def test_zoo_changes_reads_random_reward_runs_with_predictions(tmp_path):
    make_results(tmp_path)
    out = zoo.zoo_changes(tmp_path)
    assert set(out["outcome"]) == set(zoo.CHANGES.values())
    acc = out[out["outcome"] == "accuracy change"].set_index(["algorithm", "task", "prior"])
    assert acc.loc[("vanilla", "bandit", "weak"), "mean"] == pytest.approx(0.11)
    assert acc.loc[("pg", "bandit", "weak"), "mean"] == pytest.approx(-0.09)  # excluded run out
    assert (acc["lo"] < acc["mean"]).all() and (acc["mean"] < acc["hi"]).all()
    assert acc.loc[("vanilla", "sequence", "strong"), "predicted"] == "greater"
    assert acc.loc[("pg", "sequence", "strong"), "predicted"] == "less"
    # the spec's order of the algorithms
    assert list(dict.fromkeys(out["algorithm"])) == ["vanilla", "pg"]


def test_plot_zoo_renders(tmp_path):
    make_results(tmp_path)
    with style():
        fig, axes = zoo.plot_zoo(zoo.zoo_changes(tmp_path))
        paths = save(fig, tmp_path, "zoo")
    assert axes.shape == (2, 4)
    for p in paths:
        assert p.stat().st_size > 1000
    for ax in fig.axes:
        assert ax.get_xlabel() or ax.get_title()
