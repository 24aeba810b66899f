"""The overlap_spurious figure (simrl/figs/overlap_spurious.py): its loader on a tiny
synthetic study and its plot on synthetic data."""

from __future__ import annotations

import pandas as pd
import pytest

from simrl.figs import overlap_spurious as ov
from simrl.figs.style import save, style


def make_results(root):
    """experiments/overlap_spurious/results.parquet: 3 seeds per cell, acc = 0.5 + rho / 10
    + 0.01 * seed (+ 0.2 for the true reward), policy_overlap = rho / 2; one excluded run at
    100, which may not reach the figure."""
    d = root / "overlap_spurious"
    d.mkdir(parents=True)
    (d / "prereg.toml").write_text('title = "x"\n')
    rows = []
    for rho in ("0.0", "0.9"):
        for reward in ("random", "true"):
            for clip in ("on", "off"):
                for prior in ov.PRIORS:
                    for s in range(3):
                        acc = 0.5 + float(rho) / 10 + 0.01 * s + (0.2 if reward == "true" else 0)
                        rows.append((rho, reward, clip, prior, s, False, acc, float(rho) / 2))
    rows.append(("0.0", "random", "on", "weak", 3, True, 100.0, 0.0))
    cols = ["rho", "reward", "clipping", "prior", "seed", "excluded", "acc", "policy_overlap"]
    pd.DataFrame(rows, columns=cols).to_parquet(d / "results.parquet")
    return d


def test_overlap_accuracy_reads_cells_with_intervals(tmp_path):
    make_results(tmp_path)
    out = ov.overlap_accuracy(tmp_path)
    assert len(out) == 2 * 2 * 2 * 2
    t = out.set_index(["prior", "reward", "clipping", "rho"])
    assert t.loc[("weak", "random", "on", 0.0), "mean"] == pytest.approx(0.51)  # excluded out
    assert t.loc[("strong", "true", "off", 0.9), "mean"] == pytest.approx(0.80)
    assert t.loc[("strong", "true", "off", 0.9), "overlap"] == pytest.approx(0.45)
    assert (out["lo"] < out["mean"]).all() and (out["mean"] < out["hi"]).all()


def test_plot_overlap_spurious_renders(tmp_path):
    make_results(tmp_path)
    with style():
        fig, axes = ov.plot_overlap_spurious(ov.overlap_accuracy(tmp_path))
        paths = save(fig, tmp_path, "overlap")
    assert axes.shape == (1, 2)
    for p in paths:
        assert p.stat().st_size > 1000
    assert [ax.get_title() for ax in axes[0]] == ["weak prior", "strong prior"]
