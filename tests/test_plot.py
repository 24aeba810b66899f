"""`simrl plot RUN_DIR` (simrl/plot.py): draws a run folder's curves into a PNG, with the
median and the 10%-90% band across seeds; a folder that is not a run is one line, exit 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simrl.cli import main
from simrl.plot import bands, plot_run


def write_run(folder, seeds=5, with_quantiles=True):
    rows = []
    for seed in range(seeds):
        for step in (0, 5, 10):
            row = {
                "seed": seed,
                "step": step,
                "acc": 0.1 + 0.02 * step + 0.01 * seed,
                "acc_heldout": np.nan,
                "entropy_mean": 2.0 - 0.05 * step,
                "reward_mean": np.nan if step == 0 else 0.3,
                "dH_exact": np.nan if step == 0 else -0.01 * seed,
                "dH_first_order": np.nan if step == 0 else -0.011 * seed,
            }
            if with_quantiles:
                row |= {"entropy_q10": 1.0, "entropy_q50": 1.5, "entropy_q90": 1.9}
            rows.append(row)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(folder / "metrics.parquet", index=False)
    (folder / "config.toml").write_text('[algo]\nloss = "clip_cov"\n[reward]\nkind = "random"\n')
    return pd.DataFrame(rows)


def test_bands_are_quantiles_across_seeds(tmp_path):
    m = write_run(tmp_path / "r")
    steps, med, lo, hi = bands(m, "dH_exact")
    assert list(steps) == [5, 10]  # step 0 (no update) dropped
    vals = -0.01 * np.arange(5)
    assert med == pytest.approx([np.median(vals)] * 2)
    assert lo == pytest.approx([np.quantile(vals, 0.1)] * 2)
    assert hi == pytest.approx([np.quantile(vals, 0.9)] * 2)


def test_plot_writes_a_png_into_the_run(tmp_path, capsys):
    write_run(tmp_path / "r")
    assert main(["plot", str(tmp_path / "r")]) == 0
    png = tmp_path / "r" / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {png}" in capsys.readouterr().out
    _, drawn = plot_run(tmp_path / "r", tmp_path / "other.png")
    assert (tmp_path / "other.png").is_file()
    # acc_heldout is NaN everywhere: not drawn; the entropy quantiles are
    assert drawn == [
        "acc", "entropy_mean", "entropy_q10", "entropy_q50", "entropy_q90",
        "dH_exact", "dH_first_order", "reward_mean",
    ]  # fmt: skip


def test_without_quantiles_and_one_seed(tmp_path):
    write_run(tmp_path / "r", seeds=1, with_quantiles=False)
    path, drawn = plot_run(tmp_path / "r")
    assert path.is_file() and "entropy_q50" not in drawn


@pytest.mark.parametrize("kind", ["missing", "empty", "no_columns"])
def test_not_a_run_is_one_line(tmp_path, capsys, kind):
    target = tmp_path / "x"
    if kind != "missing":
        target.mkdir()
    if kind == "no_columns":
        pd.DataFrame({"a": [1.0]}).to_parquet(target / "metrics.parquet")
    assert main(["plot", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RUN_DIR" in err and "Traceback" not in err
