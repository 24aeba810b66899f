"""The overlap_entropy figure (simrl/figs/overlap_entropy.py): its loader on a tiny synthetic
study and its plot on synthetic data."""

from __future__ import annotations

import pandas as pd
import pytest

from simrl.figs import overlap_entropy as oe
from simrl.figs.style import save, style

SPEC = """
[[factor]]
name = "rho"
[factor.levels.r0]
policy = { rho = 0.0 }
[factor.levels.r09]
policy = { rho = 0.9 }

[[factor]]
name = "intervention"
[factor.levels.vanilla]
algo = { loss = "vanilla" }
[factor.levels.steer]
algo = { loss = "steer" }
"""


def make_results(root):
    """experiments/overlap_entropy/: prereg.toml and a results.parquet of 3 seeds per cell:
    every outcome = base + 0.01 * seed with base -rho (vanilla) or -rho / 2 (steer), the
    spill error 1.0 at rho 0 (where it must not reach the figure), and one excluded run at
    100, which must not either."""
    d = root / "overlap_entropy"
    d.mkdir(parents=True)
    (d / "prereg.toml").write_text(SPEC)
    rows = []
    for arm, scale in (("vanilla", 1.0), ("steer", 0.5)):
        for label, rho in (("r0", 0.0), ("r09", 0.9)):
            for s in range(3):
                x = -rho * scale + 0.01 * s
                err = 1.0 if rho == 0 else 0.05 + 0.01 * s
                rows.append((label, arm, s, False, x, x, err))
    rows.append(("r09", "steer", 3, True, 100.0, 100.0, 100.0))
    cols = ["rho", "intervention", "seed", "excluded", *oe.OUTCOMES]
    pd.DataFrame(rows, columns=cols).to_parquet(d / "results.parquet")
    return d


def test_overlap_changes_reads_results_with_rho_values(tmp_path):
    make_results(tmp_path)
    out = oe.overlap_changes(tmp_path)
    assert set(out["outcome"]) == set(oe.OUTCOMES.values())
    held = out[out["outcome"] == oe.OUTCOMES["dH_heldout_total"]].set_index(["intervention", "rho"])
    assert held.loc[("vanilla", 0.9), "mean"] == pytest.approx(-0.89)
    assert held.loc[("steer", 0.9), "mean"] == pytest.approx(-0.44)  # the excluded run is out
    assert (held["lo"] < held["mean"]).all() and (held["mean"] < held["hi"]).all()
    spill = out[out["outcome"] == oe.OUTCOMES["median_rel_err(dH_spill_first_order)"]]
    assert list(spill["rho"]) == [0.9, 0.9]  # rho = 0 left out
    assert spill["mean"].to_numpy() == pytest.approx([0.06, 0.06])
    assert list(dict.fromkeys(out["intervention"])) == ["vanilla", "steer"]


def test_plot_overlap_entropy_renders(tmp_path):
    make_results(tmp_path)
    with style():
        fig, axes = oe.plot_overlap_entropy(oe.overlap_changes(tmp_path))
        paths = save(fig, tmp_path, "overlap_entropy")
    assert axes.shape == (1, 3)
    for p in paths:
        assert p.stat().st_size > 1000
    for ax in axes[0]:
        assert ax.get_xlabel() and ax.get_title()
