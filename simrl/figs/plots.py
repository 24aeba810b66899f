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

from simrl.figs.style import COLUMN, FULL, TERM_COLORS, color, method_label
from simrl.theory.laws import fit_entropy_law

APPROX_LABELS = {
    "dH_first_order": "first order (Cui Lemma 1)",
    "dH_second_order": "second order",
    "dH_cui_t1": "Cui Theorem 1",
    "dH_token_sum": "sampled-token sum",
    "dH_steer_code": "STEER (public code)",
    "dH_steer_eq14": "STEER Eq. 14",
}
#: one colour per approximation (Okabe-Ito, in APPROX_LABELS order)
APPROX_COLORS = ("#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")


def mean_ci(df: pd.DataFrame, by: list[str], value: str, level: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval of `value` over the rows of each `by` group (rows = seeds)."""
    g = df.groupby(by, sort=True)[value]
    out = g.agg(["mean", "std", "count"]).reset_index()
    se = out["std"] / np.sqrt(out["count"])
    t = stats.t.ppf(0.5 + level / 2, np.maximum(out["count"] - 1, 1))
    out["lo"] = out["mean"] - t * se.fillna(0.0)
    out["hi"] = out["mean"] + t * se.fillna(0.0)
    return out


def _band(ax, x, mean, lo, hi, c, label, linestyle="-"):
    ax.plot(x, mean, linestyle, color=c, label=label)
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


def plot_dh_scatter(points: pd.DataFrame, fig=None):
    """Fig. 2a. points: approximation, dH_exact, predicted, optimizer, lr, level (the
    step-size rank within its optimiser). One panel per approximation: the predicted
    against the exact entropy change of every update (symlog axes), coloured by step-size
    level, with y = x. Exact changes are computed, not estimated, so no interval applies."""
    approxes = [a for a in APPROX_LABELS if a in set(points["approximation"])]
    ncol = 3
    nrow = int(np.ceil(len(approxes) / ncol))
    fig = fig or plt.figure(figsize=(FULL, 2.0 * nrow), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrow, ncol, squeeze=False))
    levels = sorted(set(points["level"]))
    cmap = plt.get_cmap("viridis", len(levels))
    lin = float(np.nanquantile(np.abs(points["dH_exact"]), 0.05)) or 1e-6
    for ax, name in zip(axes.flat, approxes, strict=False):
        p = points[points["approximation"] == name]
        for i, lev in enumerate(levels):
            q = p[p["level"] == lev]
            ax.scatter(q["dH_exact"], q["predicted"], s=1, color=cmap(i), rasterized=True,
                       linewidths=0, alpha=0.5)  # fmt: skip
        both = p[["dH_exact", "predicted"]].to_numpy()
        lim = float(np.nanquantile(np.abs(both), 0.9995))
        ax.plot([-lim, lim], [-lim, lim], color="#999999", linewidth=0.6, linestyle="--")
        ax.set_title(APPROX_LABELS[name])
        ax.set_xscale("symlog", linthresh=lin)
        ax.set_yscale("symlog", linthresh=lin)
        _symlog_axis(ax.set_xlim, ax.set_xticks, p["dH_exact"].to_numpy(), lin)
        _symlog_axis(ax.set_ylim, ax.set_yticks, p["predicted"].to_numpy(), lin)
        ax.minorticks_off()
    for ax in axes[-1]:
        ax.set_xlabel("exact ΔH (nats)")
    for ax in axes[:, 0]:
        ax.set_ylabel("predicted ΔH (nats)")
    for ax in list(axes.flat)[len(approxes) :]:
        ax.set_visible(False)
    lrs = points.groupby(["level", "optimizer"])["lr"].first().unstack()
    handles = [
        plt.matplotlib.lines.Line2D([], [], marker="o", linestyle="none", color=cmap(i),
            label=", ".join(f"{o} {lrs.loc[lev, o]:g}" for o in lrs.columns))
        for i, lev in enumerate(levels)
    ]  # fmt: skip
    fig.legend(handles=handles, title="step size (lr)", loc="outside right center")
    return fig, axes


def _symlog_axis(set_lim, set_ticks, values: np.ndarray, lin: float) -> None:
    """Limits from the bulk of the values (0.05% to 99.95%, so a few outliers do not
    squash the rest) and ticks 0 and +-10^k, at most two decades per side, 3 apart."""
    lo, hi = np.nanquantile(values, [0.0005, 0.9995])
    lo, hi = min(lo, -lin), max(hi, lin)
    ticks = [0.0]
    labels = ["0"]
    for sign, end in ((-1, -lo), (1, hi)):
        top = int(np.floor(np.log10(end)))
        for k in (top, top - 3):
            if 10.0**k > lin:
                ticks.append(sign * 10.0**k)
                labels.append(("−" if sign < 0 else "") + f"$10^{{{k}}}$")
    order = np.argsort(ticks)
    set_lim(lo * 1.3, hi * 1.3)
    set_ticks([ticks[i] for i in order], [labels[i] for i in order])


def plot_dh_residual(summary: pd.DataFrame, fig=None):
    """Fig. 2b. summary: optimizer, lr, approximation, mean, lo, hi (the mean over runs of
    each run's median relative error |pred - exact| / |exact|, with a 95% interval). One
    panel per optimiser, error against step size."""
    opts = [o for o in ("sgd", "adam") if o in set(summary["optimizer"])]
    fig = fig or plt.figure(figsize=(FULL, 2.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(opts), squeeze=False, sharey=True)[0])
    palette = {k: c for k, c in zip(APPROX_LABELS, APPROX_COLORS, strict=True)}
    for ax, opt in zip(axes, opts, strict=True):
        s = summary[summary["optimizer"] == opt]
        for name, label in APPROX_LABELS.items():
            p = s[s["approximation"] == name].sort_values("lr")
            if p.empty:
                continue
            # distinct markers: curves can coincide (Adam: Cui Theorem 1 and the token sum
            # both near a relative error of 1), and must stay distinguishable
            i = list(APPROX_LABELS).index(name)
            ax.plot(p["lr"], p["mean"], marker="osv^DP"[i], mfc="white" if i % 2 else None,
                    color=palette[name], label=label, markersize=4 - i % 2)  # fmt: skip
            ax.fill_between(p["lr"], p["lo"], p["hi"], color=palette[name], alpha=0.2,
                            linewidth=0)  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel=f"step size ({opt} lr)", title=opt)
    axes[0].set_ylabel("relative error of ΔH\n(median per run; mean, 95% CI)")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig, axes


def plot_first_order(points: pd.DataFrame, summary: pd.DataFrame):
    """Fig. 2: the scatter (2a) above the residuals against step size (2b)."""
    fig = plt.figure(figsize=(FULL, 6.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.1, 1.0])
    plot_dh_scatter(points, top)
    plot_dh_residual(summary, bottom)
    return fig, fig.axes


def plot_clipping_bias(traj: pd.DataFrame):
    """Fig. 3. traj: states ('shared' / 'independent'), prior, clipping ('clipped' /
    'unclipped'), seed, step, mass_change (mass on the base policy's most likely mode or
    answer, minus its value at step 0) under the random reward. One panel per state
    sharing; colour = clipping, line style = prior."""
    panels = [s for s in ("shared", "independent") if s in set(traj["states"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(FULL, 2.3), layout="constrained",
                             squeeze=False)  # fmt: skip
    axes = axes[0]
    styles = {"strong": "-", "weak": "--"}
    titles = {"shared": "shared mode state (sequence task)",
              "independent": "independent states (bandit; note the y scale)"}  # fmt: skip
    for ax, states in zip(axes, panels, strict=True):
        for clip, key in (("clipped", "clipped"), ("unclipped", "unclipped")):
            for prior in styles:
                d = traj[(traj["states"] == states) & (traj["clipping"] == clip)
                         & (traj["prior"] == prior)]  # fmt: skip
                if d.empty:
                    continue
                m = mean_ci(d, ["step"], "mass_change")
                ax.plot(m["step"], m["mean"], styles[prior], color=color(key),
                        label=f"{clip}, {prior} prior")  # fmt: skip
                ax.fill_between(m["step"], m["lo"], m["hi"], color=color(key), alpha=0.2,
                                linewidth=0)  # fmt: skip
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set(xlabel="step", title=titles.get(states, states))
    axes[0].set_ylabel("Δ mass on the base policy's\ntop mode / answer (prob.)")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig, axes


def _stacked_terms(ax, terms: pd.DataFrame, priors: list[float]) -> None:
    x = np.arange(len(priors))
    up, down = np.zeros(len(priors)), np.zeros(len(priors))
    for term in ("null", "elicitation", "reward_design"):
        d = terms[terms["term"] == term].set_index("prior_strength").reindex(priors)
        v = d["estimate"].to_numpy()
        base = np.where(v >= 0, up, down)
        ax.bar(x, v, 0.6, bottom=base, color=TERM_COLORS[term], label=term.replace("_", " "))
        ax.errorbar(x + 0.12 * (1 + list(TERM_COLORS).index(term)) - 0.24, base + v,
                    yerr=[v - d["lo"].to_numpy(), d["hi"].to_numpy() - v], fmt="none",
                    ecolor="black", elinewidth=0.6, capsize=1.2)  # fmt: skip
        up, down = np.where(v >= 0, up + v, up), np.where(v < 0, down + v, down)
    tot = terms[terms["term"] == "total"].set_index("prior_strength").reindex(priors)
    if tot["estimate"].notna().any():
        ax.errorbar(x, tot["estimate"], yerr=[tot["estimate"] - tot["lo"],
                    tot["hi"] - tot["estimate"]], fmt="D", color="black", markersize=2.5,
                    mfc="white", capsize=1.2, elinewidth=0.6,
                    label="total (true − frozen)")  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(x, [f"{p:g}" for p in priors])


def plot_decomposition(terms: pd.DataFrame, shares: pd.DataFrame):
    """Fig. 4. terms: task, regime, prior_strength, term (null, elicitation, reward_design,
    total), estimate, lo, hi; shares: task, regime, prior_strength, estimate, lo, hi (the
    reward-design share of the naive estimate true − random). One panel of stacked terms
    per task x regime (positive up, negative down; each term's 95% interval at its bar's
    top, the total as a diamond), and the shares in the last panel."""
    strata = list(dict.fromkeys(zip(terms["task"], terms["regime"], strict=True)))
    fig = plt.figure(figsize=(FULL, 4.2), layout="constrained")
    grid = fig.add_gridspec(2, 3)
    axes = []
    for i, (task, regime) in enumerate(strata[:4]):
        ax = fig.add_subplot(grid[i // 2, i % 2], sharey=axes[0] if axes else None)
        d = terms[(terms["task"] == task) & (terms["regime"] == regime)]
        _stacked_terms(ax, d, sorted(set(d["prior_strength"])))
        ax.set_title(f"{task}, {regime.replace('_', '-')}")
        if i // 2 == 1 or len(strata) <= 2:
            ax.set_xlabel("prior strength (base accuracy)")
        if i % 2 == 0:
            ax.set_ylabel("Δ accuracy (pass@1)")
        axes.append(ax)
    handles, labels = axes[0].get_legend_handles_labels()
    share_ax = fig.add_subplot(grid[:, 2])
    styles = {"on_policy": "--", "clipped": "-"}
    markers = {"bandit": "o", "sequence": "s"}
    for task, regime in strata:
        s = shares[(shares["task"] == task) & (shares["regime"] == regime)]
        s = s.sort_values("prior_strength")
        share_ax.errorbar(s["prior_strength"], s["estimate"],
                          yerr=[s["estimate"] - s["lo"], s["hi"] - s["estimate"]],
                          fmt=markers.get(task, "o") + styles.get(regime, "-"),
                          color=color(regime), capsize=1.2, markersize=3,
                          label=f"{task}, {regime.replace('_', '-')}")  # fmt: skip
    share_ax.axhline(1, color="#999999", linewidth=0.5, linestyle=":")
    share_ax.axhline(0, color="black", linewidth=0.5)
    share_ax.set(xlabel="prior strength (base accuracy)",
                 ylabel="reward design / (true − random)",
                 title="reward-design share of the naive estimate")  # fmt: skip
    share_ax.legend(loc="best")
    fig.legend(handles, labels, loc="outside lower center", ncol=4)
    return fig, [*axes, share_ax]


def _words(level) -> str:
    return str(level).replace("_", "-")


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
                label=f"{trace}: {_words(tr)}",
            )
        ax.set_xticks(np.arange(len(xs)), [_words(v) for v in xs])
        ax.set(xlabel=x, title=f"{panel}: {_words(lev)}")
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
    order = ("true", "self_consistency", "one_shot", "random", "incorrect", "format")
    rewards = [r for r in order if r in set(gains["reward"])]
    rewards += [r for r in dict.fromkeys(gains["reward"]) if r not in rewards]
    combos = sorted(set(zip(gains["prior"], gains["clipping"], strict=True)))
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
    ax.set(ylabel="accuracy gain over frozen\n(percentage points)", title="simulator")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.25), ncol=2)
    if published is not None:
        ax2 = axes[0, 1]
        pub = published.set_index("reward")
        order = [r for r in rewards if r in pub.index] + [r for r in pub.index if r not in rewards]
        ax2.bar(np.arange(len(order)), pub.loc[order, "gain"], 0.6, color="white",
                edgecolor="black", linewidth=0.6)  # fmt: skip
        for i, v in enumerate(pub.loc[order, "gain"]):
            ax2.text(i, v, f"{v:g}", ha="center", va="bottom", fontsize=6)
        ax2.set_xticks(np.arange(len(order)), [r.replace("_", "\n") for r in order])
        ax2.set(ylabel="MATH-500 gain (percentage points)",
                title="published: Qwen2.5-Math-7B (Shao et al. 2025)")  # fmt: skip
    return fig, axes


def plot_interventions(traj: pd.DataFrame, passk: pd.DataFrame):
    """Fig. 7. traj: method, seed, step, entropy_mean, acc; passk: method (incl. 'base'),
    k, mean, lo, hi. Entropy and accuracy over steps per method; pass@k against k."""
    fig, axes = plt.subplots(1, 3, figsize=(FULL, 2.3), constrained_layout=True)
    for method in dict.fromkeys(traj["method"]):
        d = traj[traj["method"] == method]
        for ax, col in zip(axes[:2], ("entropy_mean", "acc"), strict=True):
            m = mean_ci(d, ["step"], col)
            ls = "--" if method == "base" else "-"
            _band(ax, m["step"], m["mean"], m["lo"], m["hi"], color(method), method, ls)
    axes[0].set(xlabel="step", ylabel="token entropy (nats)")
    axes[1].set(xlabel="step", ylabel="accuracy (pass@1)")
    for method in dict.fromkeys(passk["method"]):
        d = passk[passk["method"] == method].sort_values("k")
        ls = "--" if method == "base" else "-"
        axes[2].plot(
            d["k"], d["mean"], ls, color=color(method), marker="o", label=method_label(method)
        )
        axes[2].fill_between(d["k"], d["lo"], d["hi"], color=color(method), alpha=0.15)
    ks = sorted(set(passk["k"]))
    axes[2].set(xscale="log", xlabel="k (samples per prompt)", ylabel="pass@k (at the last step)")
    axes[2].set_xticks(ks, [str(k) for k in ks])
    axes[2].minorticks_off()
    axes[2].legend(loc="center left", bbox_to_anchor=(1.02, 0.5))  # beside: no data covered
    return fig, axes


def plot_token_entropy(cells: pd.DataFrame, forks: tuple[int, ...] = ()):
    """Fig. 8. cells: method, seed, step, entropy_gt05, entropy_gt10, entropy_pos_<d>,
    fork_grad_share (exact per-step metrics of a sequence task; fork_grad_share is of the
    step's sampled update). Left: the share of generated tokens above 0.5 and 1 nats over
    steps; middle: mean token entropy by position at the base policy and after training,
    the forking positions `forks` shaded; right: the forking tokens' share of the
    gradient. Bands and bars: 95% t-intervals over seeds."""
    fig, axes = plt.subplots(1, 3, figsize=(FULL, 2.3), layout="constrained")
    methods = list(dict.fromkeys(cells["method"]))
    last = cells["step"].max()
    for method in methods:
        d = cells[cells["method"] == method]
        for col, ls in (("entropy_gt05", "-"), ("entropy_gt10", ":")):
            m = mean_ci(d, ["step"], col)
            _band(axes[0], m["step"], m["mean"], m["lo"], m["hi"], color(method), None, ls)
    axes[0].set(xlabel="step", ylabel="share of generated tokens", ylim=(0, None))
    axes[0].legend(handles=[
        plt.matplotlib.lines.Line2D([], [], color="black", linestyle=ls, label=lab)
        for ls, lab in (("-", "above 0.5 nats"), (":", "above 1 nat"))], loc="upper right")  # fmt: skip
    pos = sorted(int(c.rsplit("_", 1)[1]) for c in cells if c.startswith("entropy_pos_"))
    for f in forks:
        axes[1].axvspan(f - 0.4, f + 0.4, color="#999999", alpha=0.15, linewidth=0)
    long = cells.melt(id_vars=["method", "seed", "step"],
                      value_vars=[f"entropy_pos_{d}" for d in pos], var_name="position",
                      value_name="entropy")  # fmt: skip
    long["position"] = long["position"].str.rsplit("_", n=1).str[1].astype(int)
    offsets = np.linspace(-0.2, 0.2, len(methods))
    for off, method in zip(offsets, methods, strict=True):
        step = 0 if method == "base" else last
        d = long[(long["method"] == method) & (long["step"] == step)]
        m = mean_ci(d, ["position"], "entropy")
        name = f"{method_label(method)} (step {step})"
        axes[1].errorbar(m["position"] + off, m["mean"], yerr=[m["mean"] - m["lo"],
                         m["hi"] - m["mean"]], fmt="o-", color=color(method), capsize=1.2,
                         markersize=3, label=name)  # fmt: skip
    axes[1].set_xticks(pos)
    axes[1].set(xlabel="position in the response (0 = mode choice;\nshaded = forking)",
                ylabel="mean token entropy (nats)")  # fmt: skip
    for method in methods:
        d = cells[(cells["method"] == method) & (cells["step"] > 0)]
        if d["fork_grad_share"].notna().any():
            m = mean_ci(d.dropna(subset=["fork_grad_share"]), ["step"], "fork_grad_share")
            _band(axes[2], m["step"], m["mean"], m["lo"], m["hi"], color(method), method)
    axes[2].set(
        xlabel="step", ylabel="forking tokens' share\nof |d loss / d log p|", ylim=(0, 1.02)
    )
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(methods))
    return fig, axes


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
    ax.set(xlabel="paired difference in final accuracy (percentage points)")
    ax.legend(loc="best")
    return fig, ax


def plot_bridge_clipping(contrasts: pd.DataFrame):
    """Fig. 10. contrasts: panel, contrast, source ('simulator' / 'transformer'), estimate,
    lo, hi. One panel per outcome, the simulator's prediction beside the transformer's
    measurement for each contrast."""
    panels = list(dict.fromkeys(contrasts["panel"]))
    sizes = [contrasts[contrasts["panel"] == p]["contrast"].nunique() for p in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(COLUMN * 2, 0.3 * sum(sizes) + 0.9 * len(panels)),
        gridspec_kw={"height_ratios": sizes}, constrained_layout=True, squeeze=False,
    )  # fmt: skip
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        part = contrasts[contrasts["panel"] == panel]
        names = list(dict.fromkeys(part["contrast"]))
        for off, (source, c) in zip(
            (-0.15, 0.15),
            (("simulator", color("vanilla")), ("transformer", color("clip-higher"))),
            strict=True,
        ):
            d = part[part["source"] == source].set_index("contrast").reindex(names)
            ax.errorbar(
                d["estimate"], np.arange(len(names)) + off,
                xerr=[d["estimate"] - d["lo"], d["hi"] - d["estimate"]],
                fmt="o", color=c, capsize=1.5, label=source,
            )  # fmt: skip
        ax.axvline(0, color="black", linewidth=0.5)
        ax.set_yticks(np.arange(len(names)), names)
        ax.invert_yaxis()
        ax.set(xlabel=panel)
    axes[0, 0].legend(loc="best")
    return fig, axes
