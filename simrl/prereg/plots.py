"""Figures of a study's report: pure functions of the analysed tables, `plot_x(...) -> fig`.

They never save and never compute results; report.py saves them as PNG (matplotlib Agg).
Layout: `_fit` sets the subplot margins the way `fig.tight_layout()` does (matplotlib's
_tight_layout._auto_adjust_subplotpars: each margin is the decorations' overhang plus a
pad of 1.08 font sizes) but measures the decorations of representative panels only
(the first of each column kind), since every panel of a grid has the same fonts, the
same shared y axis and the same x column; tight_layout measured all of them, which
computed every axis's ticks once more before drawing (a third of the figures' time).
"""

from __future__ import annotations

import itertools
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

#: Okabe-Ito, colour-blind safe
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
#: decomposition terms drawn, with their meaning
TERMS = {
    "null": "null: random - frozen",
    "elicitation": "elicitation: anchor - random",
    "reward_design": "reward design: true - anchor",
    "naive": "naive: true - random",
}


#: tight_layout's default pad, in font sizes (matplotlib.figure.Figure.tight_layout)
PAD = 1.08
#: a panel title's height in axes units, given explicitly: matplotlib then skips its
#: automatic placement (axes/_base.py `_update_title_position`), which measures the x and y
#: axes' tight boxes (every tick and tick label) of each titled panel at every draw, only
#: to move a title above ticks or an offset text at the top of a panel; these panels have
#: neither (x ticks at the bottom, the y offset text off the title), so the title stays at
#: 1.0 as the automatic placement leaves it (tests/prereg/test_plots_layout.py)
TITLE_Y = 1.0
#: the subplot parameters (matplotlib.figure.SubplotParams)
SUBPLOT_PARAMS = ("left", "right", "bottom", "top", "wspace", "hspace")


def _overhang(ax, renderer) -> tuple[float, float, float, float]:
    """How far ax's decorations reach beyond its box, in pixels: left, right, bottom, top
    (never negative), measured as tight_layout measures them (`for_layout_only`: a title's
    and the x tick labels' widths do not count)."""
    box = ax.get_window_extent(renderer)
    tight = ax.get_tightbbox(renderer, for_layout_only=True)
    return (
        max(box.x0 - tight.x0, 0.0),
        max(tight.x1 - box.x1, 0.0),
        max(box.y0 - tight.y0, 0.0),
        max(tight.y1 - box.y1, 0.0),
    )


def _fit(fig, axes: list) -> None:
    """Margins as fig.tight_layout() sets them, for a grid of like panels (see the module
    docstring), measured on axes[0] (first column: y label and tick labels) and axes[1]
    (an inner column: tick marks only, the y axis being shared), if any."""
    rows, cols = axes[0].get_subplotspec().get_gridspec().get_geometry()
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches() * fig.dpi  # pixels
    pad = PAD * plt.rcParams["font.size"] / 72 * fig.dpi
    first = _overhang(axes[0], renderer)
    inner = _overhang(axes[1], renderer) if len(axes) > 1 else first
    right, bottom, top = (max(first[i], inner[i]) for i in (1, 2, 3))
    left_m, right_m, bottom_m, top_m = first[0] + pad, right + pad, bottom + pad, top + pad
    kw = dict(
        left=left_m / width,
        right=1 - right_m / width,
        bottom=bottom_m / height,
        top=1 - top_m / height,
    )
    if cols > 1:  # wspace, hspace: the gap over the mean panel width, height
        gap = right + inner[0] + pad
        kw["wspace"] = gap / ((width - left_m - right_m - gap * (cols - 1)) / cols)
    if rows > 1:
        gap = bottom + top + pad
        kw["hspace"] = gap / ((height - bottom_m - top_m - gap * (rows - 1)) / rows)
    fig.subplots_adjust(**kw)


def _grid(n: int, width: float = 3.6, height: float = 2.8):
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, height * rows), squeeze=False, sharey=True
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _panels(df: pd.DataFrame, by: list[str]):
    if not by:
        return [("all", df)]
    out = []
    for key, g in df.groupby(by, observed=True, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        out.append((", ".join(f"{b}={k}" for b, k in zip(by, key, strict=True)), g))
    return out


def _x(values: pd.Series, numeric: dict[str, float] | None):
    if numeric:
        return values.astype(str).map(numeric).astype(float)
    return values.astype(str)


def plot_cell_means(
    means: pd.DataFrame,
    outcome: str,
    x: str,
    hue: str,
    panels: list[str],
    numeric: dict[str, float] | None,
):
    """Cell means of `outcome` with 95% intervals: x on the axis, a line per hue level."""
    groups = _panels(means, panels)
    fig, axes = _grid(len(groups))
    for ax, (title, g) in zip(axes, groups, strict=True):
        for colour, (level, h) in zip(
            itertools.cycle(COLOURS), g.groupby(hue, observed=True, sort=False), strict=False
        ):
            xs = _x(h[x], numeric)
            ax.errorbar(
                xs, h[outcome], yerr=[h[outcome] - h[f"{outcome}_lo"], h[f"{outcome}_hi"] - h[outcome]],
                marker="o", ms=3, capsize=2, color=colour, label=str(level),
            )  # fmt: skip
        ax.set_title(title, fontsize=8, y=TITLE_Y)
        ax.set_xlabel(x)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel(outcome)
    axes[0].legend(fontsize=7, title=hue, title_fontsize=7)
    _fit(fig, axes)
    return fig


def plot_decomposition(
    table: pd.DataFrame, x: str, panels: list[str], numeric: dict[str, float] | None
):
    """Decomposition terms (paired-bootstrap 95% intervals) against x, a panel per stratum."""
    groups = _panels(table, panels)
    fig, axes = _grid(len(groups))
    for ax, (title, g) in zip(axes, groups, strict=True):
        g = g.sort_values(x, key=lambda s: _x(s, numeric) if numeric else s)
        xs = _x(g[x], numeric)
        for colour, (term, label) in zip(COLOURS, TERMS.items(), strict=False):
            ax.errorbar(
                xs, g[term], yerr=[g[term] - g[f"{term}_lo"], g[f"{term}_hi"] - g[term]],
                marker="o", ms=3, capsize=2, color=colour, label=label,
            )  # fmt: skip
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(title, fontsize=8, y=TITLE_Y)
        ax.set_xlabel(x)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("accuracy difference")
    axes[0].legend(fontsize=6)
    _fit(fig, axes)
    return fig


def plot_trajectories(traj: pd.DataFrame, metric: str, hue: str, panels: list[str]):
    """Mean metric over steps, a line per hue level, a panel per combination of `panels`."""
    groups = _panels(traj, panels)
    one = len(groups) == 1
    fig, axes = _grid(len(groups), width=5.0 if one else 3.0, height=3.4 if one else 2.3)
    for ax, (title, g) in zip(axes, groups, strict=True):
        for colour, (level, h) in zip(
            itertools.cycle(COLOURS), g.groupby(hue, observed=True, sort=False), strict=False
        ):
            m = h.groupby("step")[metric].mean()
            ax.plot(m.index, m.to_numpy(), color=colour, label=str(level), lw=1.2)
        ax.set_title(title, fontsize=7, y=TITLE_Y)
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel(metric)
    axes[0].legend(fontsize=6, title=hue, title_fontsize=6)
    _fit(fig, axes)
    return fig


def plot_trajectories_each(traj: pd.DataFrame, metrics: list[str], hue: str, panels: list[str]):
    """plot_trajectories(traj, metric, hue, panels) for each metric, drawn as one
    figure: the first metric's, then for each next one its lines' y data, the y limits, the
    y label and the margins replaced (the panels, titles, x data, colours and legend
    entries are the same for every metric), which skips creating the panels' Axes and
    their Tick objects again. The same pixels as a fresh figure per metric
    (tests/prereg/test_figure_worker.py). A generator: save each figure before asking for
    the next."""
    fig = plot_trajectories(traj, metrics[0], hue, panels)
    yield fig
    groups = _panels(traj, panels)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    for metric in metrics[1:]:
        for ax, (_, g) in zip(axes, groups, strict=True):
            levels = g.groupby(hue, observed=True, sort=False)
            for line, (_, h) in zip(ax.get_lines(), levels, strict=True):
                m = h.groupby("step")[metric].mean()
                line.set_data(m.index, m.to_numpy())
            ax.relim()  # the data limits from the lines, as ax.plot set them
        for ax in axes:  # after every relim: the y axis is shared
            ax.autoscale_view()
        axes[0].set_ylabel(metric)
        # margins measured as in a fresh figure: from the subplot parameters it starts with
        fig.subplots_adjust(**{k: plt.rcParams[f"figure.subplot.{k}"] for k in SUBPLOT_PARAMS})
        _fit(fig, axes)
        yield fig


def plot_passk(means: pd.DataFrame, ks: list[int], label: list[str]):
    """Exact pass@k against k (log scale), a line per cell."""
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    cols = [("acc" if k == 1 else f"pass_at_{k}") for k in ks]
    for colour, (_, row) in zip(itertools.cycle(COLOURS), means.iterrows(), strict=False):
        name = ", ".join(str(row[c]) for c in label)
        ax.plot(ks, [row[c] for c in cols], marker="o", ms=3, color=colour, label=name, lw=1.2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k (exact)")
    ax.legend(fontsize=6)
    _fit(fig, [ax])
    return fig


def plot_law(traj: pd.DataFrame, label: list[str]):
    """Accuracy against exp(entropy) along the mean trajectory of each cell: the
    entropy-performance law R = -a exp(H) + b is a straight line here (Cui et al. 2025)."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    groups = traj.groupby(label, observed=True, sort=False)
    for colour, (key, g) in zip(itertools.cycle(COLOURS), groups, strict=False):
        key = key if isinstance(key, tuple) else (key,)
        if g["entropy_mean"].nunique() < 2:
            continue
        ax.plot(np.exp(g["entropy_mean"]), g["acc"], marker=".", ms=3, lw=1, color=colour,
                label=", ".join(map(str, key)))  # fmt: skip
    ax.set_xlabel("exp(mean entropy)")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=6)
    _fit(fig, [ax])
    return fig
