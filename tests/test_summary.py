"""The step-0 / final summary of `simrl run` and `simrl bridge run` (simrl/summary.py):
the paired change and its standard error, the metrics chosen from the loss's capability
flags, a footnote for each NaN, and a log that is not wrapped at 80 columns."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from simrl.config import Config
from simrl.summary import change_rows, console, print_summary, summary_columns

ALL = [
    "acc", "acc_heldout", "entropy_mean", "kl_base", "mass_base_top", "mass_incorrect_label",
    "mass_format", "reward_mean", "clip_low_frac", "clip_high_frac", "clip_dual_frac",
    "cov_selected_frac", "dH_exact", "dH_first_order",
]  # fmt: skip


def cfg(**over) -> Config:
    return Config().replace(**over)


@pytest.mark.parametrize(
    ("over", "present", "absent"),
    [
        ({"algo.loss": "clip_cov"}, ["cov_selected_frac", "clip_low_frac"], ["clip_dual_frac"]),
        ({"algo.loss": "pg"}, [], ["clip_low_frac", "clip_high_frac", "cov_selected_frac"]),
        ({"algo.loss": "kl_cov"}, ["cov_selected_frac"], ["clip_low_frac", "clip_high_frac"]),
        ({}, ["clip_low_frac", "clip_high_frac"], ["clip_dual_frac", "cov_selected_frac"]),
        ({"algo.dual_clip": 3.0}, ["clip_dual_frac"], ["cov_selected_frac"]),
        ({"reward.kind": "incorrect"}, ["mass_incorrect_label"], ["mass_format", "acc_heldout"]),
        ({"task.train_prompts": 8}, ["acc_heldout"], ["mass_incorrect_label"]),
    ],
)
def test_columns_follow_the_algorithm(over, present, absent):
    cols = summary_columns(cfg(**over), ALL, ["acc"], [])
    assert cols[0] == "acc" and "dH_exact" in cols and "entropy_mean" in cols
    assert set(present) <= set(cols)
    assert not set(absent) & set(cols)


def frame():
    """3 seeds, rows at steps 0, 5, 10; acc = 0.1 + 0.01 * step + 0.1 * seed; dH only on
    update rows; mass_format NaN everywhere; kl_base NaN in seed 2 at the end."""
    rows = []
    for seed in range(3):
        for step in (0, 5, 10):
            rows.append(
                {
                    "seed": seed,
                    "step": step,
                    "acc": 0.1 + 0.01 * step + 0.1 * seed + 0.001 * seed * step,
                    "dH_exact": np.nan if step == 0 else -0.01 * step,
                    "mass_format": np.nan,
                    "kl_base": np.nan if (seed == 2 and step == 10) else 0.02 * step,
                }
            )
    return pd.DataFrame(rows)


def test_change_rows_are_paired_by_seed():
    rows, first, last = change_rows(
        frame(), ["acc", "dH_exact", "mass_format", "kl_base"], [0, 1, 2]
    )
    acc, dh, fmt, kl = rows
    assert (first, last) == (0, 10)
    changes = np.array([0.1 + 0.01 * s for s in range(3)])
    assert acc.start == pytest.approx(0.2) and acc.change == pytest.approx(changes.mean())
    assert acc.se == pytest.approx(changes.std(ddof=1) / np.sqrt(3))
    assert (
        dh.start_step == 5
        and dh.change == pytest.approx(-0.05)
        and dh.se == pytest.approx(0.0, abs=1e-15)
    )
    assert np.isnan(fmt.final) and fmt.nan_seeds == 3
    assert kl.nan_seeds == 1 and kl.final == pytest.approx(0.2) and kl.change == pytest.approx(0.2)


def test_seeds_left_out_are_not_counted():
    rows, _, _ = change_rows(frame(), ["acc"], [0, 1])
    assert rows[0].change == pytest.approx(np.mean([0.1, 0.11]))


def test_printed_table_has_footnotes_and_is_not_wrapped_in_a_log():
    buf = io.StringIO()  # not a terminal
    title = "a title " * 15  # 120 characters
    print_summary(title, frame(), ["acc", "dH_exact", "mass_format", "kl_base"], [0, 1, 2],
                  out=console(buf))  # fmt: skip
    text = buf.getvalue()
    lines = text.splitlines()
    assert lines[0] == title.rstrip() or lines[0] == title
    assert "step 0" in text and "step 10" in text and "change" in text
    marked = {
        ln.split()[0]: ln for ln in lines if ln.strip().startswith(("acc", "dH", "mass", "kl"))
    }
    assert "[" not in marked["acc"]
    assert (
        "[1]" in marked["dH_exact"]
        and "[2]" in marked["mass_format"]
        and "[3]" in marked["kl_base"]
    )
    notes = [ln for ln in lines if ln.startswith("[")]
    assert len(notes) == 3
    assert "row at step 5" in notes[0]
    assert "NaN in every seed" in notes[1] and "format answer" in notes[1]
    assert "1 of 3 seeds" in notes[2]
    assert any(len(ln) > 80 for ln in notes)  # one line each, not wrapped at 80 columns
    assert "+0.11" in marked["acc"]


def test_bridge_config_columns():
    from simrl.bridge.cli import EXTRA, HEAD
    from simrl.bridge.config import BridgeRunConfig

    b = BridgeRunConfig.from_dict({"algo": {"loss": "clip_cov"}})
    cols = summary_columns(b, [*HEAD, *EXTRA, *ALL], list(HEAD), list(EXTRA))
    assert cols[: len(HEAD)] == list(HEAD) and "cov_selected_frac" in cols
    assert "clip_dual_frac" not in cols


def test_one_seed_has_no_standard_error_and_says_so():
    buf = io.StringIO()
    print_summary("t", frame(), ["acc"], [1], out=console(buf))
    text = buf.getvalue()
    assert "nan" not in text
    assert "[1] one seed: no standard error" in text


def test_no_seed_left_is_one_line_not_a_crash():
    buf = io.StringIO()
    assert print_summary("t (0 seeds)", frame(), ["acc"], [], out=console(buf)) == []
    assert buf.getvalue().splitlines() == [
        "t (0 seeds)",
        "no seed finished without a non-finite value: nothing to summarize",
    ]


def test_an_update_metric_with_one_row_shows_its_value_and_no_change():
    m = frame()
    m = m[m["step"] != 5]  # rows at 0 and 10 only: dH_exact has a value at 10 only
    rows, _, _ = change_rows(m, ["dH_exact"], [0, 1, 2])
    (r,) = rows
    assert r.start_step == 10 and r.final == pytest.approx(-0.1) and r.nan_seeds == 0
    assert np.isnan(r.change)
    buf = io.StringIO()
    print_summary("t", m, ["acc", "dH_exact"], [0, 1, 2], out=console(buf))
    text = buf.getvalue()
    assert "nan" not in text and "recorded at step 10 only" in text
