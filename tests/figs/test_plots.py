"""Every figure renders from a small synthetic result set (no simulation, no files read)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simrl.figs import plots
from simrl.figs.style import save, style

RNG = np.random.default_rng(0)


def traj(methods=("vanilla",), steps=20, seeds=4):
    rows = []
    for m in methods:
        for s in range(seeds):
            for t in range(steps):
                h = 1.2 * np.exp(-t / 8) + 0.05 * RNG.normal()
                rows.append((m, s, t, h, 0.9 - 0.3 * np.exp(h) / 3.3 + 0.01 * RNG.normal()))
    return pd.DataFrame(rows, columns=["method", "seed", "step", "entropy_mean", "acc"])


def ci(df, value="estimate"):
    return df.assign(lo=df[value] - 0.02, hi=df[value] + 0.02)


CASES = {
    "entropy_collapse": lambda: plots.plot_entropy_collapse(traj()),
    "first_order": lambda: plots.plot_first_order(
        pd.DataFrame(
            [
                (a, x, x * (1 + 0.1 * RNG.normal()), o, lr, lev)
                for a in plots.APPROX_LABELS
                for o, lrs in (("sgd", (1.0, 8.0)), ("adam", (0.01, 0.05)))
                for lev, lr in enumerate(lrs)
                for x in RNG.normal(0, 0.01, 20)
            ],
            columns=["approximation", "dH_exact", "predicted", "optimizer", "lr", "level"],
        ),
        ci(
            pd.DataFrame(
                [
                    (o, lr, a, 0.01 * lr)
                    for o in ("sgd", "adam")
                    for lr in (0.1, 0.3, 1.0)
                    for a in plots.APPROX_LABELS
                ],
                columns=["optimizer", "lr", "approximation", "mean"],
            ),
            "mean",
        ),
    ),
    "clipping_bias": lambda: plots.plot_clipping_bias(
        pd.DataFrame(
            [
                (s, t, (0.002 * t if c == "clipped" else 0) + 0.01 * RNG.normal(), c, st, p)
                for s in range(4)
                for t in range(10)
                for c in ("clipped", "unclipped")
                for st in ("shared", "independent")
                for p in ("strong", "weak")
            ],
            columns=["seed", "step", "mass_change", "clipping", "states", "prior"],
        )
    ),
    "decomposition": lambda: plots.plot_decomposition(
        ci(
            pd.DataFrame(
                [
                    (task, regime, p, t, v * (p - 0.4))
                    for task in ("bandit", "sequence")
                    for regime in ("clipped", "on_policy")
                    for p in (0.2, 0.5, 0.8)
                    for t, v in (("null", 0.1), ("elicitation", 0.5), ("reward_design", 0.3),
                                 ("total", 0.9))
                ],
                columns=["task", "regime", "prior_strength", "term", "estimate"],
            )
        ),
        ci(pd.DataFrame({"task": "bandit", "regime": "clipped", "prior_strength": [0.2, 0.5, 0.8],
                         "estimate": [0.9, 0.6, 0.3]})),
    ),
    "factorial": lambda: plots.plot_factorial(
        ci(
            pd.DataFrame(
                [
                    (r, u, p, 0.1 * (r == "true") + 0.05 * (u == "clipped") * (p == "strong"))
                    for r in ("true", "self_consistency")
                    for u in ("clipped", "on_policy")
                    for p in ("strong", "weak")
                ],
                columns=["reward", "update", "prior", "mean"],
            ),
            "mean",
        ),
        x="reward",
        trace="update",
        panel="prior",
        outcome="final accuracy",
    ),
    "spurious": lambda: plots.plot_spurious(
        ci(
            pd.DataFrame(
                [
                    (r, p, c, RNG.normal(0.05, 0.02))
                    for r in ("true", "random", "format")
                    for p in ("strong", "weak")
                    for c in ("on", "off")
                ],
                columns=["reward", "prior", "clipping", "gain"],
            ),
            "gain",
        ),
        pd.DataFrame({"reward": ["true", "random", "format"], "gain": [29.1, 21.4, 13.8]}),
    ),
    "interventions": lambda: plots.plot_interventions(
        traj(("vanilla", "clip-higher", "forking")),
        ci(
            pd.DataFrame(
                [(m, k, 1 - 0.5 ** (k * w)) for m, w in (("base", 0.3), ("vanilla", 1.0))
                 for k in (1, 2, 4, 8, 16, 32, 64)],
                columns=["method", "k", "mean"],
            ),
            "mean",
        ),
    ),
    "token_entropy": lambda: plots.plot_token_entropy(
        pd.DataFrame(
            [
                (m, seed, t, *RNG.uniform(0, 1, 2), *RNG.uniform(0, 1, 5),
                 np.nan if m == "base" or t == 0 else RNG.uniform())
                for m in ("base", "vanilla", "forking")
                for seed in range(4)
                for t in (0, 10, 20)
            ],
            columns=["method", "seed", "step", "entropy_gt05", "entropy_gt10",
                     *(f"entropy_pos_{d}" for d in range(5)), "fork_grad_share"],
        ),
        forks=(2, 4),
    ),
    "bridge_vs_sim": lambda: plots.plot_bridge_vs_sim(
        ci(
            pd.DataFrame(
                [(c, s, RNG.normal()) for c in ("random, clipped, strong", "clip-higher entropy")
                 for s in ("simulator", "transformer")],
                columns=["contrast", "source", "estimate"],
            )
        )
    ),
    "bridge_clipping": lambda: plots.plot_bridge_clipping(
        pd.concat([ci(pd.DataFrame(
            [(p, f"{p} {c}", "", RNG.normal()) for p in ("accuracy gain", "entropy (nats)")
             for c in range(1 + (p == "accuracy gain"))],
            columns=["panel", "contrast", "source", "estimate"],
        )).assign(source=s) for s in ("simulator", "transformer")])
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_figure_renders(name, tmp_path):
    with style():
        fig, _ = CASES[name]()
        paths = save(fig, tmp_path, name)
    for p in paths:
        assert p.stat().st_size > 1000
    # every axis that is shown is labelled
    for ax in fig.axes:
        if ax.get_visible() and ax.get_label() != "<colorbar>":
            assert ax.get_xlabel() or ax.get_ylabel() or ax.get_title()


def test_mean_ci_covers_the_mean():
    df = pd.DataFrame({"g": [0, 0, 0, 1, 1, 1], "v": [1.0, 2.0, 3.0, 5.0, 5.0, 5.0]})
    out = plots.mean_ci(df, ["g"], "v")
    assert out["mean"].tolist() == [2.0, 5.0]
    assert out["lo"][0] < 2.0 < out["hi"][0]
    assert out["lo"][1] == out["hi"][1] == 5.0
