"""The overlap_calibration figure (paper_figs/fig14_overlap_calibration.py): data and plot.

`calibration_frames(root)` reads overlap_calibration's results.parquet and bridge_replay's two
draws (its registered results.parquet and recompute-2026-12-07/results.parquet) and scores
every simulator configuration with simrl.calibration.compare (no bootstrap: the registered
comparison's intervals are in the study's calibration.md); `plot_overlap_calibration` is a
pure function of the two tidy tables it returns.
"""

from __future__ import annotations

import pandas as pd
from matplotlib import pyplot as plt

from simrl.calibration import compare
from simrl.figs.data import MissingResults, results, run_command, study_dir
from simrl.figs.style import FULL

STUDY = "overlap_calibration"
BRIDGE = "bridge_replay"
#: the configurations drawn in the left panel (the rest are in the right one)
SHOWN = ("tab_sgd", "tab_adam", "rf_mode_adam", "lr_mode_adam", "sa_mode_adam")
MARKERS = {
    "tab_sgd": "s",
    "tab_adam": "D",
    "rf_mode_adam": "^",
    "lr_mode_adam": "v",
    "sa_mode_adam": "o",
}


def calibration_frames(root=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(contrasts: contrast, source, value; scores: config, mae, sign_agreement), scores
    sorted by MAE. Sources: 'bridge (registered)', 'bridge (recompute)' and each config."""
    sim = results(STUDY, root)
    d = study_dir(BRIDGE, root)
    paths = {
        "registered": d / "results.parquet",
        "recompute": d / "recompute-2026-12-07" / "results.parquet",
    }
    for p in paths.values():
        if not p.is_file():
            raise MissingResults(BRIDGE, f"no {p.name} at {p.parent}", run_command(BRIDGE))
    bridge = {k: pd.read_parquet(p) for k, p in paths.items()}
    bridge = {k: f[~f["excluded"]] for k, f in bridge.items()}
    out = compare(sim, bridge)
    rows = []
    for k, vals in out["bridge"].items():
        rows += [{"contrast": c, "source": f"bridge ({k})", "value": v} for c, v in vals.items()]
    for lv, r in out["configs"].items():
        rows += [{"contrast": c, "source": lv, "value": v} for c, v in r["contrasts"].items()]
    scores = pd.DataFrame(
        [
            {"config": lv, "mae": r["mae"], "sign_agreement": r["sign_agreement"]}
            for lv, r in out["configs"].items()
        ]
    ).sort_values("mae", kind="stable")
    return pd.DataFrame(rows), scores.reset_index(drop=True)


def plot_overlap_calibration(contrasts: pd.DataFrame, scores: pd.DataFrame):
    """Fig. 14. Left: the 13 contrasts of bridge_replay (B1-B9 per prior) on the bridge (two
    draws, crosses) and predicted by some simulator configurations (markers). Right: every
    configuration's mean absolute error over the 13 contrasts, with its sign agreement."""
    fig, (ax, bx) = plt.subplots(
        1, 2, figsize=(FULL, 2.6), constrained_layout=True, width_ratios=(2.2, 1)
    )
    ids = list(dict.fromkeys(contrasts["contrast"]))
    x = {c: i for i, c in enumerate(ids)}
    for src, mk, col in (
        ("bridge (registered)", "x", "black"),
        ("bridge (recompute)", "+", "0.45"),
    ):
        d = contrasts[contrasts["source"] == src]
        ax.scatter(
            d["contrast"].map(x), d["value"], marker=mk, color=col, s=22, label=src, zorder=3
        )
    shown = [s for s in SHOWN if s in set(contrasts["source"])]
    for j, src in enumerate(shown):
        d = contrasts[contrasts["source"] == src]
        dx = (j - (len(shown) - 1) / 2) * 0.12
        ax.scatter(
            d["contrast"].map(x) + dx, d["value"], marker=MARKERS.get(src, "o"), s=10,
            label=src, zorder=2,
        )  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(range(len(ids)), ids, rotation=60, fontsize="x-small")
    ax.set_ylabel("contrast (accuracy / mass)")
    ax.legend(fontsize="xx-small", ncols=2, loc="lower left")
    y = range(len(scores))
    bx.barh(list(y), scores["mae"], color="0.6")
    bx.set_yticks(list(y), scores["config"], fontsize="x-small")
    bx.invert_yaxis()
    for i, (m, s) in enumerate(zip(scores["mae"], scores["sign_agreement"], strict=True)):
        bx.text(m, i, f" {s:.2f}", va="center", fontsize="xx-small")
    bx.set_xlabel("MAE over 13 contrasts (sign agreement)")
    return fig, (ax, bx)
