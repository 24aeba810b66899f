"""How well a prediction matches an exact quantity: residual statistics over paired points.

Scores the entropy-change approximations (theory/NOTES.md) against the exact entropy
change: per grid cell in `simrl theory audit` (simrl/approximation_grid.py), and per run in the
prereg outcomes `stat(dH_x)` (simrl/prereg/outcomes.py), for the simulator's and the
bridge's audit columns alike.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

#: exact changes smaller than this are left out of relative errors (nothing moved)
TINY = 1e-12
#: the keys of fit_stats' result
STATS = ("n", "median_rel_err", "q90_rel_err", "sign_agree", "r2", "slope", "rank_corr")


def fit_stats(exact: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Residual statistics of one approximation against the exact change.

    Points where either value is non-finite, or the exact change is below `TINY` in
    absolute value, are left out; with fewer than 3 points left every statistic is NaN.
    Returns `n` (points used), `median_rel_err` and `q90_rel_err` (|pred - exact| / |exact|),
    `sign_agree` (share of points with the exact sign), `r2` (1 - SSE / SST of the
    prediction as a predictor of the exact change; negative when worse than the mean),
    `slope` (of exact regressed on pred; 1 = calibrated scale) and `rank_corr` (Spearman;
    scale-free).
    """
    ok = np.isfinite(exact) & np.isfinite(pred) & (np.abs(exact) > TINY)
    e, p = exact[ok], pred[ok]
    if e.size < 3:
        return dict.fromkeys(STATS, np.nan)
    rel = np.abs(p - e) / np.abs(e)
    sst = ((e - e.mean()) ** 2).sum()
    slope = np.polyfit(p, e, 1)[0] if np.ptp(p) > 0 else np.nan
    return {
        "n": float(e.size),
        "median_rel_err": float(np.median(rel)),
        "q90_rel_err": float(np.quantile(rel, 0.9)),
        "sign_agree": float(np.mean(np.sign(p) == np.sign(e))),
        "r2": float(1.0 - ((e - p) ** 2).sum() / sst) if sst > 0 else np.nan,
        "slope": float(slope),
        # scale-free: what a rank-based weighting (STEER's min-max map) relies on
        "rank_corr": float(spearmanr(p, e).statistic) if np.ptp(p) > 0 else np.nan,
    }
