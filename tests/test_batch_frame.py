"""BatchResult.to_frame: run_batch's arrays as a tidy DataFrame (one row per run and
metric row), with the config fields that vary between the runs (simrl/engine/result.py)."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.config import Config
from simrl.engine.result import BatchResult, RunSpec


def batch() -> BatchResult:
    base = Config()
    cfgs = [
        base.replace(**{"reward.kind": k, "optim.lr": lr})
        for k, lr in (("true", 0.5), ("random", 0.1))
    ]
    specs = [RunSpec(c, seed, label=f"{c.reward.kind}/{seed}") for c in cfgs for seed in range(3)]
    R, rows, M = len(specs), 4, 2
    metrics = np.arange(R * rows * M, dtype=float).reshape(R, rows, M)
    failed = np.array([-1, -1, 7, -1, -1, -1])
    return BatchResult(
        specs,
        np.array([0, 5, 10, 12]),
        ("acc", "entropy_mean"),
        metrics,
        np.zeros((R, 2, 2)),
        failed,
        [None] * R,
    )


def test_rows_match_the_arrays():
    b = batch()
    df = b.to_frame()
    assert list(df.columns) == [
        "run", "label", "replicate", "step", "failed_step", "reward.kind", "optim.lr",
        "acc", "entropy_mean",
    ]  # fmt: skip
    assert len(df) == 6 * 4
    for r in range(6):
        for i, step in enumerate(b.row_steps):
            row = df[(df["run"] == r) & (df["step"] == step)].iloc[0]
            assert row["acc"] == b.metrics[r, i, 0] and row["entropy_mean"] == b.metrics[r, i, 1]
            assert row["replicate"] == b.specs[r].replicate
            assert row["reward.kind"] == b.specs[r].config.reward.kind
            assert row["failed_step"] == b.failed_step[r]
    assert df.groupby("reward.kind")["run"].nunique().to_dict() == {"random": 3, "true": 3}


def test_chosen_fields_and_unknown_ones():
    df = batch().to_frame(fields=["run.passk", "algo.loss"])
    assert df["run.passk"].iloc[0] == "(1, 8)" and set(df["algo.loss"]) == {"vanilla"}
    assert "reward.kind" not in df.columns
    assert list(batch().to_frame(fields=()).columns)[-2:] == ["acc", "entropy_mean"]
    with pytest.raises(KeyError, match=r"algo\.los"):
        batch().to_frame(fields=["algo.los"])
