"""`simrl theory audit`: the approximation grid, and the whole grid at a tiny budget."""

import numpy as np
import pandas as pd

from simrl.approximation_grid import APPROXIMATIONS, CELL, grid_cells, main


def test_the_grid_spans_the_registered_factors():
    cells = pd.DataFrame(grid_cells())
    assert len(cells) == 2 * 4 * 2 * 2 * 2
    assert set(cells.optim) == {"sgd", "adam"} and cells.lr_level.nunique() == 4


def test_grid_end_to_end_at_a_tiny_budget(tmp_path):
    summary = main(tmp_path, seeds=1, steps=3)
    assert set(summary.approximation) == set(APPROXIMATIONS)
    assert len(summary) == len(grid_cells()) * len(APPROXIMATIONS)
    assert set(CELL) <= set(summary.columns)
    report = (tmp_path / "report.md").read_text()
    assert "## What the numbers say" in report and "**sgd.**" in report and "**adam.**" in report
    points = pd.read_parquet(tmp_path / "points.parquet")
    assert np.isfinite(points["exact"]).mean() > 0.5
    # the second order is at least as good as the first, cell by cell, in median
    pivot = summary.pivot_table(index=CELL, columns="approximation", values="median_rel_err")
    assert (pivot["second_order"] <= pivot["first_order"] + 1e-12).mean() > 0.9
