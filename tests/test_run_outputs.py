"""`simrl run` end to end (numpy reference engine, a few steps): the step-0 / final
summary on stdout and `--log tensorboard` scalars that read back as metrics.parquet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simrl.cli import main
from simrl.examples_path import EXAMPLES
from simrl.tblog import read_scalars


def test_run_summary_and_tensorboard(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["run", str(EXAMPLES / "quickstart.toml"), "--engine", "reference", "--out", str(out),
            "--set", "run.steps=4", "--set", "run.seeds=2", "--set", "run.eval_every=2",
            "--set", "algo.loss=clip_cov", "--log", "tensorboard"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "step 0" in text and "step 4" in text and "change" in text
    assert "cov_selected_frac" in text and "clip_dual_frac" not in text
    assert "tensorboard/" in text
    m = pd.read_parquet(out / "metrics.parquet")
    for seed in (0, 1):
        files = list((out / "tensorboard" / f"seed_{seed}").iterdir())
        assert len(files) == 1 and files[0].name.startswith("events.out.tfevents.")
        got = read_scalars(files[0])
        want = m[m["seed"] == seed]
        assert [s for s, _ in got["acc"]] == list(want["step"])
        np.testing.assert_array_equal([v for _, v in got["acc"]], want["acc"].to_numpy(np.float32))
        assert [s for s, _ in got["dH_exact"]] == [2, 4]  # no update at step 0: left out
