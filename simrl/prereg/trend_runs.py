"""The trend and sign-change hypothesis tests over a numeric factor's levels: the per-seed
table at each level, and (for a plurality crossing) the sign each level predicts.
Statistics: simrl/prereg/inference.py trend and sign_change."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simrl.prereg import inference as inf
from simrl.prereg.outcomes import numeric_levels
from simrl.prereg.plurality import plurality_correct_share


def wide(data: pd.DataFrame, outcome: str, factor: str, labels: list[str]) -> pd.DataFrame:
    """(seeds, levels): per-seed means at each level; seeds present at every level."""
    cols = {}
    for lab in labels:
        cols[lab] = inf.seed_means(data[data[factor].astype(str) == lab], outcome)
    return pd.DataFrame(cols).dropna()


def _levels(c) -> tuple[list[str], dict]:
    h = c.h
    values = numeric_levels(c.study, h.factor)
    if h.factor in h.where:  # a trend over a registered subset of the levels
        values = {k: v for k, v in values.items() if k in h.where[h.factor]}
    return sorted(values, key=values.get), values


def run_trend(c) -> inf.TestResult:
    h, outcome, data = c.h, c.outcome, c.data
    labels, values = _levels(c)
    share = outcome.startswith("share_")
    num_name = outcome.replace("share_", "") if share else outcome
    num = wide(data, num_name, h.factor, labels)
    den = wide(data, "naive", h.factor, labels) if share else None
    if den is not None:
        keep = num.index.intersection(den.index)
        num, den = num.loc[keep], den.loc[keep]
    x = np.array([values[lab] for lab in labels])
    return inf.trend(
        num.to_numpy(), None if den is None else den.to_numpy(), x, h.direction, h.alpha, h.sesoi,
        c.study.n_boot, c.seed, outcome,
    )  # fmt: skip


def predicted_signs(c, labels: list[str], values: dict) -> list[bool]:
    """Per level (ascending): is the predicted sign positive (after the crossing)?"""
    h = c.h
    if h.crossing != "plurality":
        return [values[lab] > float(h.crossing) for lab in labels]
    out = []
    for lab in labels:
        cell = next(
            x for x in c.cells
            if x.labels[h.factor] == lab and all(x.labels[f] in labs for f, labs in h.where.items())
        )  # fmt: skip
        out.append(plurality_correct_share(cell.config) > 0.5)
    return out


def run_sign_change(c) -> inf.TestResult:
    h, outcome = c.h, c.outcome
    labels, values = _levels(c)
    pred = predicted_signs(c, labels, values)
    flips = [i for i in range(len(labels) - 1) if not pred[i] and pred[i + 1]]
    if len(flips) != 1 or any(pred[: flips[0] + 1]) or not all(pred[flips[0] + 1 :]):
        return inf.TestResult(
            np.nan, (np.nan, np.nan), np.nan, 0,
            "no single crossing among the levels: " + ", ".join(f"{lab}: {'right' if p else 'wrong'}" for lab, p in zip(labels, pred, strict=True)),
        )  # fmt: skip
    i = flips[0]
    w = wide(c.data, outcome, h.factor, [labels[i], labels[i + 1]])
    return inf.sign_change(
        w.iloc[:, 0].to_numpy(), w.iloc[:, 1].to_numpy(), h.direction, h.alpha, c.study.n_boot, c.seed,
        (f"{h.factor}={labels[i]}", f"{h.factor}={labels[i + 1]}"),
    )  # fmt: skip
