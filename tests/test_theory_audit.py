"""`simrl theory audit`: the residual statistics, and the whole grid at a tiny budget."""

import numpy as np
import pandas as pd

from simrl.theory_audit import APPROXIMATIONS, CELL, audit_cells, fit_stats, main


def test_fit_stats_of_a_perfect_and_of_a_scaled_prediction():
    exact = np.linspace(-1, 1, 41)
    exact = exact[exact != 0]
    perfect = fit_stats(exact, exact)
    assert perfect["median_rel_err"] == 0 and perfect["sign_agree"] == 1
    assert np.isclose(perfect["r2"], 1) and np.isclose(perfect["slope"], 1)
    half = fit_stats(exact, 0.5 * exact)
    assert np.isclose(half["median_rel_err"], 0.5) and np.isclose(half["slope"], 2.0)
    flipped = fit_stats(exact, -exact)
    assert flipped["sign_agree"] == 0 and flipped["r2"] < 0


def test_fit_stats_leaves_out_non_finite_and_zero_changes():
    exact = np.array([1.0, 2.0, np.nan, 0.0, 3.0, 4.0])
    pred = np.array([1.0, 2.0, 5.0, 7.0, np.nan, 4.0])
    assert fit_stats(exact, pred)["n"] == 3


def test_the_grid_spans_the_registered_factors():
    cells = pd.DataFrame(audit_cells())
    assert len(cells) == 2 * 4 * 2 * 2 * 2
    assert set(cells.optim) == {"sgd", "adam"} and cells.lr_level.nunique() == 4


def test_audit_end_to_end_at_a_tiny_budget(tmp_path):
    summary = main(tmp_path, seeds=1, steps=3)
    assert set(summary.approximation) == set(APPROXIMATIONS)
    assert len(summary) == len(audit_cells()) * len(APPROXIMATIONS)
    assert set(CELL) <= set(summary.columns)
    report = (tmp_path / "report.md").read_text()
    assert "## What the numbers say" in report and "**sgd.**" in report and "**adam.**" in report
    points = pd.read_parquet(tmp_path / "points.parquet")
    assert np.isfinite(points["exact"]).mean() > 0.5
    # the second order is at least as good as the first, cell by cell, in median
    pivot = summary.pivot_table(index=CELL, columns="approximation", values="median_rel_err")
    assert (pivot["second_order"] <= pivot["first_order"] + 1e-12).mean() > 0.9
