"""The paper's figures as pure functions: tidy data in, (fig, axes) out. Nothing here
reads files, simulates or saves; paper_figs/figNN_*.py load stored results and save.

Each function documents the columns it needs. Uncertainty is always drawn: bands or
error bars are 95% t-intervals over seeds (`mean_ci`) unless the data bring their own
`lo` / `hi` columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from scipy import stats

from simrl.figs.style import COLUMN, FULL, TERM_COLORS, color
from theory.laws import fit_entropy_law

APPROX_LABELS = {
    "dH_first_order": "first order (Cui Lemma 1)",
    "dH_second_order": "second order",
    "dH_cui_t1": "Cui Theorem 1",
    "dH_token_sum": "sampled-token sum",
    "dH_steer_code": "STEER (public code)",
    "dH_steer_eq14": "STEER Eq. 14",
}


def mean_ci(df: pd.DataFrame, by: list[str], value: str, level: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval of `value` over the rows of each `by` group (rows = seeds)."""
    g = df.groupby(by, sort=True)[value]
    out = g.agg(["mean", "std", "count"]).reset_index()
    se = out["std"] / np.sqrt(out["count"])
    t = stats.t.ppf(0.5 + level / 2, np.maximum(out["count"] - 1, 1))
    out["lo"] = out["mean"] - t * se.fillna(0.0)
    out["hi"] = out["mean"] + t * se.fillna(0.0)
    return out


def _band(ax, x, mean, lo, hi, c, label):
    ax.plot(x, mean, color=c, label=label)
    ax.fill_between(x, lo, hi, color=c, alpha=0.2, linewidth=0)


def plot_entropy_collapse(traj: pd.DataFrame):
    """Fig. 1. traj: seed, step, entropy_mean, acc (one GRPO config). Left: entropy and
    accuracy over steps; right: accuracy against entropy with R = -a exp(H) + b (Cui et
    al. 2025, arXiv 2505.22617) fitted to the step means and its ceiling R* = b - a."""
    fig, axes = plt.subplots(1, 3, figsize=(FULL, 2.2), constrained_layout=True)
    h = mean_ci(traj, ["step"], "entropy_mean")
    r = mean_ci(traj, ["step"], "acc")
    _band(axes[0], h["step"], h["mean"], h["lo"], h["hi"], color("vanilla"), "entropy")
    axes[0].set(xlabel="step", ylabel="token entropy (nats)", title="entropy")
    _band(axes[1], r["step"], r["mean"], r["lo"], r["hi"], color("vanilla"), "accuracy")
    axes[1].set(xlabel="step", ylabel="accuracy (pass@1)", title="accuracy")
    fit = fit_entropy_law(h["mean"], r["mean"])
    ax = axes[2]
    ax.scatter(h["mean"], r["mean"], s=6, color=color("vanilla"), label="step means")
    grid = np.linspace(0.0, h["mean"].max() * 1.05, 100)
    ax.plot(grid, fit.predict(grid), color=color("clip-higher"), label="R = -a exp(H) + b")
    ax.axhline(
        fit.ceiling,
        color="#999999",
        linestyle="--",
        linewidth=0.8,
        label=f"ceiling R* = {fit.ceiling:.3f} [{fit.ci_ceiling[0]:.3f}, {fit.ci_ceiling[1]:.3f}]",
    )
    ax.plot([0.0], [fit.ceiling], marker="*", color="black", markersize=7, linestyle="none")
    ax.set(xlabel="token entropy H (nats)", ylabel="accuracy R", title=f"fit R² = {fit.r2:.3f}")
    ax.legend(loc="best")
    return fig, axes


def plot_dh_scatter(points: pd.DataFrame):
    """Fig. 2a. points: approximation, dH_exact, predicted, lr. One panel per approximation,
    predicted against exact entropy change, coloured by step size (log scale), y = x."""
    approxes = [a for a in APPROX_LABELS if a in set(points["approximation"])]
    ncol = 3
    nrow = int(np.ceil(len(approxes) / ncol))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(FULL, 2.1 * nrow), constrained_layout=True, squeeze=False
    )
    norm = plt.matplotlib.colors.LogNorm(points["lr"].min(), points["lr"].max())
    for ax, name in zip(axes.flat, approxes, strict=False):
        p = points[points["approximation"] == name]
        sc = ax.scatter(p["dH_exact"], p["predicted"], c=p["lr"], norm=norm, s=3, cmap="viridis")
        lim = np.nanmax(np.abs(p[["dH_exact", "predicted"]].to_numpy()))
        ax.plot([-lim, lim], [-lim, lim], color="#999999", linewidth=0.6, linestyle="--")
        ax.set(xlabel="exact ΔH (nats)", ylabel="predicted ΔH (nats)", title=APPROX_LABELS[name])
    for ax in list(axes.flat)[len(approxes) :]:
        ax.set_visible(False)
    fig.colorbar(sc, ax=axes, label="step size (lr)", shrink=0.8)
    return fig, axes


def plot_dh_residual(summary: pd.DataFrame):
    """Fig. 2b. summary: optimizer, lr, approximation, median_rel_err, q90_rel_err. The
    median relative error of each approximation against step size, sgd and adam."""
    opts = [o for o in ("sgd", "adam") if o in set(summary["optimizer"])]
    fig, axes = plt.subplots(1, len(opts), figsize=(FULL, 2.3), constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, opt in zip(axes, opts, strict=True):
        s = summary[summary["optimizer"] == opt]
        for name, label in APPROX_LABELS.items():
            p = s[s["approximation"] == name].sort_values("lr")
            if p.empty:
                continue
            c = color(name, {k: f"C{i}" for i, k in enumerate(APPROX_LABELS)})
            ax.plot(p["lr"], p["median_rel_err"], marker="o", color=c, label=label)
            if "q90_rel_err" in p:
                ax.fill_between(p["lr"], p["median_rel_err"], p["q90_rel_err"], color=c, alpha=0.1)
        ax.set(xscale="log", yscale="log", xlabel="step size (lr)", title=opt)
        ax.set_ylabel("relative error |pred - exact| / |exact|\n(median; band to 90%)")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig, axes


def plot_clipping_bias(traj: pd.DataFrame):
    """Fig. 3. traj: seed, step, mass_base_top, clipping ('clipped' / 'unclipped'), states
    ('shared' / 'independent'). Mass on the base policy's most likely answer or mode under
    random rewards, one panel per state sharing."""
    panels = [s for s in ("shared", "independent") if s in set(traj["states"])]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(COLUMN * 2, 2.2), sharey=True, constrained_layout=True
    )
    axes = np.atleast_1d(axes)
    for ax, states in zip(axes, panels, strict=True):
        for clip, key in (("clipped", "vanilla"), ("unclipped", "pg")):
            d = traj[(traj["states"] == states) & (traj["clipping"] == clip)]
            if d.empty:
                continue
            m = mean_ci(d, ["step"], "mass_base_top")
            _band(ax, m["step"], m["mean"], m["lo"], m["hi"], color(key), clip)
        ax.set(xlabel="step", title=f"{states} states")
    axes[0].set_ylabel("mass on the base policy's top\nanswer / mode")
    axes[0].legend(loc="best")
    return fig, axes


def plot_decomposition(terms: pd.DataFrame, shares: pd.DataFrame):
    """Fig. 4. terms: prior_strength, term (null, elicitation, reward_design, total),
    estimate, lo, hi; shares: prior_strength, estimate, lo, hi (reward-design share of
    the naive estimate). Left: the terms stacked per prior (positive up, negative down),
    each with its CI, and the total; right: the reward-design share."""
    fig, (ax, ax2) = plt.subplots(
        1, 2, figsize=(FULL, 2.4), constrained_layout=True, gridspec_kw={"width_ratios": [3, 2]}
    )
    priors = sorted(set(terms["prior_strength"]))
    x = np.arange(len(priors))
    up, down = np.zeros(len(priors)), np.zeros(len(priors))
    width = 0.6
    for term in ("null", "elicitation", "reward_design"):
        d = terms[terms["term"] == term].set_index("prior_strength").reindex(priors)
        v = d["estimate"].to_numpy()
        base = np.where(v >= 0, up, down)
        ax.bar(x, v, width, bottom=base, color=TERM_COLORS[term], label=term.replace("_", " "))
        top = base + v
        ax.errorbar(
            x + 0.18,
            top,
            yerr=[v - d["lo"].to_numpy(), d["hi"].to_numpy() - v],
            fmt="none",
            ecolor=TERM_COLORS[term],
            elinewidth=0.8,
            capsize=1.5,
        )
        up, down = np.where(v >= 0, up + v, up), np.where(v < 0, down + v, down)
    tot = terms[terms["term"] == "total"].set_index("prior_strength").reindex(priors)
    if not tot.empty and tot["estimate"].notna().any():
        ax.errorbar(
            x - 0.18,
            tot["estimate"],
            yerr=[tot["estimate"] - tot["lo"], tot["hi"] - tot["estimate"]],
            fmt="o",
            color="black",
            markersize=3,
            capsize=1.5,
            label="total (true − frozen)",
        )
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(x, [f"{p:g}" for p in priors])
    ax.set(xlabel="prior strength", ylabel="accuracy gain (Δ pass@1)")
    ax.legend(loc="upper left", ncol=2)
    s = shares.sort_values("prior_strength")
    ax2.errorbar(
        s["prior_strength"],
        s["estimate"],
        yerr=[s["estimate"] - s["lo"], s["hi"] - s["estimate"]],
        fmt="o-",
        color=TERM_COLORS["reward_design"],
        capsize=1.5,
    )
    ax2.set(
        xlabel="prior strength",
        ylabel="reward-design share\nof true − random",
    )
    return fig, (ax, ax2)


def plot_factorial(cells: pd.DataFrame, x: str, trace: str, panel: str, outcome: str):
    """Fig. 5. cells: the three factor columns, mean, lo, hi. Interaction plot: `x` on the
    axis, one line per `trace` level, one panel per `panel` level, 95% CIs."""
    levels = list(dict.fromkeys(cells[panel]))
    fig, axes = plt.subplots(
        1, len(levels), figsize=(COLUMN * 2, 2.2), sharey=True, constrained_layout=True
    )
    axes = np.atleast_1d(axes)
    xs = list(dict.fromkeys(cells[x]))
    for ax, lev in zip(axes, levels, strict=True):
        for i, tr in enumerate(dict.fromkeys(cells[trace])):
            d = cells[(cells[panel] == lev) & (cells[trace] == tr)].set_index(x).reindex(xs)
            pos = np.arange(len(xs)) + (i - 0.5) * 0.06
            ax.errorbar(
                pos,
                d["mean"],
                yerr=[d["mean"] - d["lo"], d["hi"] - d["mean"]],
                fmt="o-",
                color=color(str(tr)),
                capsize=1.5,
                label=f"{trace} = {tr}",
            )
        ax.set_xticks(np.arange(len(xs)), [str(v) for v in xs])
        ax.set(xlabel=x, title=f"{panel} = {lev}")
    axes[0].set_ylabel(outcome)
    axes[0].legend(loc="best")
    return fig, axes


def plot_spurious(gains: pd.DataFrame, published: pd.DataFrame | None = None):
    """Fig. 6. gains: reward, prior, clipping, gain, lo, hi (simulator, accuracy points);
    published: reward, gain (e.g. Shao et al. 2025, arXiv 2506.10947, Qwen2.5-Math-7B on
    MATH-500). Left: simulator by reward x prior x clipping; right: the published gains."""
    ncol = 2 if published is not None else 1
    fig, axes = plt.subplots(1, ncol, figsize=(FULL, 2.4), constrained_layout=True, squeeze=False)
    ax = axes[0, 0]
    rewards = list(dict.fromkeys(gains["reward"]))
    combos = list(dict.fromkeys(zip(gains["prior"], gains["clipping"], strict=True)))
    offsets = np.linspace(-0.3, 0.3, len(combos))
    markers = {"strong": "o", "weak": "s"}
    for off, (prior, clip) in zip(offsets, combos, strict=True):
        d = gains[(gains["prior"] == prior) & (gains["clipping"] == clip)]
        d = d.set_index("reward").reindex(rewards)
        ax.errorbar(
            np.arange(len(rewards)) + off,
            d["gain"],
            yerr=[d["gain"] - d["lo"], d["hi"] - d["gain"]],
            fmt=markers.get(str(prior), "o"),
            mfc="white" if clip in ("off", "unclipped", False) else None,
            color=color("vanilla" if clip in ("on", "clipped", True) else "pg"),
            capsize=1.5,
            label=f"{prior} prior, clipping {clip}",
        )
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(np.arange(len(rewards)), [r.replace("_", "\n") for r in rewards])
    ax.set(ylabel="accuracy gain (simulator)", title="simulator")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.25), ncol=2)
    if published is not None:
        ax2 = axes[0, 1]
        pub = published.set_index("reward")
        order = [r for r in rewards if r in pub.index] + [r for r in pub.index if r not in rewards]
        ax2.bar(
            np.arange(len(order)),
            pub.loc[order, "gain"],
            color=[color(r) for r in order],
        )
        ax2.set_xticks(np.arange(len(order)), [r.replace("_", "\n") for r in order])
        ax2.set(ylabel="MATH-500 gain (points)", title="published (Qwen2.5-Math-7B)")
    return fig, axes


def plot_interventions(traj: pd.DataFrame, passk: pd.DataFrame):
    """Fig. 7. traj: method, seed, step, entropy_mean, acc; passk: method (incl. 'base'),
    k, mean, lo, hi. Entropy and accuracy over steps per method; pass@k against k."""
    fig, axes = plt.subplots(1, 3, figsize=(FULL, 2.3), constrained_layout=True)
    for method in dict.fromkeys(traj["method"]):
        d = traj[traj["method"] == method]
        for ax, col in zip(axes[:2], ("entropy_mean", "acc"), strict=True):
            m = mean_ci(d, ["step"], col)
            _band(ax, m["step"], m["mean"], m["lo"], m["hi"], color(method), method)
    axes[0].set(xlabel="step", ylabel="token entropy (nats)")
    axes[1].set(xlabel="step", ylabel="accuracy (pass@1)")
    for method in dict.fromkeys(passk["method"]):
        d = passk[passk["method"] == method].sort_values("k")
        ls = "--" if method == "base" else "-"
        axes[2].plot(d["k"], d["mean"], ls, color=color(method), marker="o", label=method)
        axes[2].fill_between(d["k"], d["lo"], d["hi"], color=color(method), alpha=0.15)
    axes[2].set(xscale="log", xlabel="k", ylabel="pass@k")
    axes[2].legend(loc="lower right")
    return fig, axes


def plot_token_entropy(tokens: pd.DataFrame, profile: pd.DataFrame):
    """Fig. 8. tokens: entropy, weight (expected visits), fork (bool); profile: position,
    mean, lo, hi. Left: the distribution of token entropies (weighted), thresholds 0.5 and
    1 nats, the forking tokens' share; right: mean entropy by position."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(FULL, 2.2), constrained_layout=True)
    bins = np.linspace(0.0, max(tokens["entropy"].max(), 1.05), 31)
    w = tokens["weight"] / tokens["weight"].sum()
    for fork, label, c in ((False, "other tokens", "#999999"), (True, "forking tokens", None)):
        sel = tokens["fork"] == fork
        ax.hist(
            tokens.loc[sel, "entropy"],
            bins=bins,
            weights=w[sel],
            color=c or color("forking"),
            alpha=0.8,
            label=f"{label} ({w[sel].sum():.0%} of tokens)",
        )
    for thr in (0.5, 1.0):
        ax.axvline(thr, color="black", linewidth=0.5, linestyle=":")
    ax.set(xlabel="state entropy of the token (nats)", ylabel="share of generated tokens")
    ax.legend(loc="upper right")
    p = profile.sort_values("position")
    ax2.errorbar(
        p["position"],
        p["mean"],
        yerr=[p["mean"] - p["lo"], p["hi"] - p["mean"]],
        fmt="o-",
        color=color("vanilla"),
        capsize=1.5,
    )
    ax2.set(xlabel="position in the response", ylabel="mean token entropy (nats)")
    return fig, (ax, ax2)


def plot_bridge_vs_sim(contrasts: pd.DataFrame):
    """Fig. 9. contrasts: contrast, source ('simulator' / 'transformer'), estimate, lo, hi.
    The same contrasts measured on both, side by side with CIs."""
    names = list(dict.fromkeys(contrasts["contrast"]))
    fig, ax = plt.subplots(figsize=(COLUMN * 2, 0.35 * len(names) + 1.0), constrained_layout=True)
    for off, (source, c) in zip(
        (-0.15, 0.15),
        (("simulator", color("vanilla")), ("transformer", color("clip-higher"))),
        strict=True,
    ):
        d = contrasts[contrasts["source"] == source].set_index("contrast").reindex(names)
        ax.errorbar(
            d["estimate"],
            np.arange(len(names)) + off,
            xerr=[d["estimate"] - d["lo"], d["hi"] - d["estimate"]],
            fmt="o",
            color=c,
            capsize=1.5,
            label=source,
        )
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_yticks(np.arange(len(names)), names)
    ax.set(xlabel="effect (accuracy points, or nats for entropy)")
    ax.legend(loc="best")
    return fig, ax
