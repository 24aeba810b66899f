"""The overlap_calibration figure (simrl/figs/overlap_calibration.py) on synthetic results."""

import numpy as np
import pandas as pd
import pytest

from simrl.figs import overlap_calibration as oc
from simrl.figs.data import MissingResults
from simrl.figs.style import save, style


def _frame(shift, rng):
    rows = []
    for prior in ("weak", "strong"):
        for reward in ("random", "self_consistency", "true"):
            for regime in ("clipped", "on_policy"):
                base = {"random": -0.1, "self_consistency": 0.02, "true": 0.06}[reward]
                for s in range(4):
                    v = base + shift + 0.01 * rng.normal()
                    rows.append((prior, reward, regime, s, False, 0.5 + v, v, 0.8, 0.8))
    cols = ["prior", "reward", "regime", "seed", "excluded", "acc_all", "acc_all - acc_all@0"]
    return pd.DataFrame(rows, columns=[*cols, "mass_base_top", "mode_prob_code"])


def make_results(root):
    rng = np.random.default_rng(0)
    b = root / "bridge_replay"
    (b / "recompute-2026-12-07").mkdir(parents=True)
    _frame(0.0, rng).to_parquet(b / "results.parquet")
    _frame(0.0, rng).to_parquet(b / "recompute-2026-12-07" / "results.parquet")
    s = root / "overlap_calibration"
    s.mkdir()
    sim = pd.concat(
        [_frame(0.01, rng).assign(sim="sa_mode_adam"), _frame(0.2, rng).assign(sim="tab_sgd")],
        ignore_index=True,
    )
    sim.to_parquet(s / "results.parquet")


def test_calibration_frames_score_and_order(tmp_path):
    make_results(tmp_path)
    contrasts, scores = oc.calibration_frames(tmp_path)
    assert list(scores["config"]) == ["sa_mode_adam", "tab_sgd"]
    assert scores["mae"].iloc[0] < scores["mae"].iloc[1]
    assert set(contrasts["source"]) == {
        "bridge (registered)", "bridge (recompute)", "sa_mode_adam", "tab_sgd",
    }  # fmt: skip
    assert contrasts.groupby("source").size().eq(13).all()


def test_missing_bridge_draw_is_reported(tmp_path):
    make_results(tmp_path)
    (tmp_path / "bridge_replay" / "recompute-2026-12-07" / "results.parquet").unlink()
    with pytest.raises(MissingResults):
        oc.calibration_frames(tmp_path)


def test_plot_overlap_calibration_renders(tmp_path):
    make_results(tmp_path)
    with style():
        fig, axes = oc.plot_overlap_calibration(*oc.calibration_frames(tmp_path))
        paths = save(fig, tmp_path, "overlap_calibration")
    assert len(axes) == 2
    for p in paths:
        assert p.is_file() and p.stat().st_size > 0
