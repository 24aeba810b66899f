"""Distribution-free tests of per-seed values: a quantile (the median included) and the
share of seeds above a value. For outcomes whose per-seed values are skewed or bimodal,
where a mean (and a t-test) is not the whole story.

Sources: Conover, Practical Nonparametric Statistics (3rd ed., 1999), chapter 3: the
binomial test and the Clopper-Pearson interval (3.1), the quantile test and the
order-statistic interval of a quantile (3.2), the sign test (3.4, the quantile test at
q = 0.5).

  quantile    H0: the q-quantile of the per-seed values is `against`. Seeds equal to
              `against` are dropped; of the n left, K are above it, and under H0
              K ~ Binomial(n, 1 - q). 'greater' (the quantile is above): p = P(K >= k);
              'less': p = P(K <= k); 'two-sided': min(1, 2 min of the two). Estimate:
              the sample q-quantile (numpy's default, linear interpolation) minus
              `against`; interval: order statistics X(r) <= x_q <= X(s) with r, s from
              the Binomial(n, q) quantiles at alpha/2 and 1 - alpha/2 (coverage >= 1 - alpha,
              up to the discreteness of the binomial).
  proportion  the share of seeds whose value is above `against` (a tie is not above),
              against a registered share p0: K ~ Binomial(n, p0) under H0 (scipy's exact
              binomtest); estimate = k/n - p0, Clopper-Pearson interval minus p0.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from simrl.prereg.inference import TestResult


def _binom_p(k: int, n: int, p0: float, direction: str) -> float:
    upper = float(stats.binom.sf(k - 1, n, p0))  # P(K >= k)
    lower = float(stats.binom.cdf(k, n, p0))  # P(K <= k)
    if direction == "greater":
        return upper
    if direction == "less":
        return lower
    return min(1.0, 2 * min(upper, lower))


def quantile(
    x: np.ndarray, q: float, against: float, direction: str, alpha: float, what: str
) -> TestResult:
    """The quantile test (the sign test at q = 0.5) of per-seed values x."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n_all = x.size
    if n_all < 2:
        return TestResult(np.nan, (np.nan, np.nan), np.nan, n_all, f"quantile test: {n_all} seeds")
    est = float(np.quantile(x, q)) - against
    untied = x[x != against]
    n, k = untied.size, int(np.sum(untied > against))
    p = _binom_p(k, n, 1 - q, direction) if n else 1.0
    xs = np.sort(x)
    r = max(1, int(stats.binom.ppf(alpha / 2, n_all, q)))
    s = min(n_all, int(stats.binom.ppf(1 - alpha / 2, n_all, q)) + 1)
    ci = (float(xs[r - 1]) - against, float(xs[s - 1]) - against)
    name = "sign test (median)" if q == 0.5 else f"quantile test (q = {q:g})"
    return TestResult(
        est, ci, p, n_all,
        f"{name} over {n_all} seeds: {k} of {n} untied above {against:g}; estimate = "
        f"q-quantile of {what} - {against:g}; order-statistic interval (Conover 1999, 3.2)",
        {"above": k, "untied": n},
    )  # fmt: skip


def proportion(
    x: np.ndarray, against: float, share: float, direction: str, alpha: float, what: str
) -> TestResult:
    """Exact binomial test of the share of seeds with a value above `against`."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n, k = x.size, int(np.sum(x > against))
    if n < 2:
        return TestResult(np.nan, (np.nan, np.nan), np.nan, n, f"binomial test: {n} seeds")
    alt = {"greater": "greater", "less": "less"}.get(direction, "two-sided")
    res = stats.binomtest(k, n, share, alternative=alt)
    ci = res.proportion_ci(confidence_level=1 - alpha, method="exact")
    return TestResult(
        k / n - share, (float(ci.low) - share, float(ci.high) - share), float(res.pvalue), n,
        f"exact binomial test over {n} seeds: {k} with {what} > {against:g}; estimate = "
        f"share - {share:g}; Clopper-Pearson interval (Conover 1999, 3.1)",
        {"above": k, "share": k / n},
    )  # fmt: skip
