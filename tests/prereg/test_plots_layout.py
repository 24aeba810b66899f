"""The report figures' margins (plots._fit, measured on representative panels) are the ones
fig.tight_layout() sets measuring every panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simrl.prereg import plots

PARAMS = ("left", "right", "bottom", "top", "wspace", "hspace")


def _traj(panels: int, scale: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (f"p{p}", lv, s, step, scale * rng.uniform())
        for p in range(panels)
        for lv in ("a", "b")
        for s in range(2)
        for step in (0, 25, 50, 100)
    ]
    return pd.DataFrame(rows, columns=["panel", "reward", "seed", "step", "acc"])


def _means(panels: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for p in range(panels):
        for lv in ("frozen", "true"):
            for x in ("0.2", "0.8"):
                m = rng.uniform(-0.1, 0.9)
                rows.append((f"task{p}", lv, x, m, m - 0.05, m + 0.04))
    return pd.DataFrame(rows, columns=["task", "reward", "prior", "acc", "acc_lo", "acc_hi"])


CASES = {
    "one panel": lambda: plots.plot_trajectories(_traj(1, 1.0), "acc", "reward", ["panel"]),
    "one row": lambda: plots.plot_trajectories(_traj(3, 1.0), "acc", "reward", ["panel"]),
    "rows, long tick labels": lambda: plots.plot_trajectories(
        _traj(10, 1e-3), "acc", "reward", ["panel"]
    ),
    "x labels, negative ticks": lambda: plots.plot_cell_means(
        _means(6), "acc", "prior", "reward", ["task"], {"0.2": 0.2, "0.8": 0.8}
    ),
    "single axes": lambda: plots.plot_passk(
        pd.DataFrame({"cell": ["a", "b"], "acc": [0.2, 0.3], "pass_at_4": [0.5, 0.7]}),
        [1, 4],
        ["cell"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_fit_matches_tight_layout(case):
    import matplotlib.pyplot as plt

    fig = CASES[case]()
    try:
        fit = {k: getattr(fig.subplotpars, k) for k in PARAMS}
        fig.subplots_adjust(left=0.125, right=0.9, bottom=0.11, top=0.88, wspace=0.2, hspace=0.2)
        fig.tight_layout()
        tight = {k: getattr(fig.subplotpars, k) for k in PARAMS}
    finally:
        plt.close(fig)
    assert fit == pytest.approx(tight, rel=0, abs=1e-9)


def _pixels(make) -> np.ndarray:
    import matplotlib.pyplot as plt

    fig = make()
    try:
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy()
    finally:
        plt.close(fig)


@pytest.mark.parametrize("case", CASES)
def test_given_title_height_draws_what_automatic_placement_draws(case, monkeypatch):
    """plots.TITLE_Y skips matplotlib's automatic title placement (which measures every
    titled panel's axes at each draw): the same pixels as with the automatic placement."""
    monkeypatch.setattr(plots, "TITLE_Y", None)  # set_title(y=None): automatic
    auto = _pixels(CASES[case])
    monkeypatch.setattr(plots, "TITLE_Y", 1.0)
    given = _pixels(CASES[case])
    assert auto.shape == given.shape
    assert np.array_equal(auto, given)
