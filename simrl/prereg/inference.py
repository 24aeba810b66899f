"""The registered hypothesis tests and the rule that turns a test into a verdict.

Tests (the registry simrl/prereg/hypothesis_tests.py; median, quantile and proportion
tests are in binomial_tests.py); seeds are the units, shared by every cell (paired):

  paired       estimate = mean over seeds of (y at level a - y at level b), each seed's y
               averaged over the cells of the other factors within `where`; t-test on the
               per-seed differences (the paired t-test), t interval.
  mean         estimate = mean over seeds of a per-seed value (a per-run outcome, or a
               decomposition term); one-sample t-test against 0, t interval.
  anova        a term of the registered OLS model (Sum contrasts) fitted within `where`:
               p from anova_lm(typ=2) (two-sided) or from the coefficient's t (one-sided).
               With two-level factors the estimate is the contrast 2^k beta (a difference,
               a difference of differences, ...: with Sum coding a cell mean moves by
               beta * prod(+-1), and the contrast sums 2^k such cells with those signs);
               otherwise partial eta^2 = SS_term / (SS_term + SS_resid), no interval.
  trend        estimate = OLS slope of a per-level statistic on the factor's numeric levels
               (a mean, or for a share a ratio of means); paired bootstrap over seeds (one
               draw of seed indices per replicate, applied to every level and condition,
               as theory/decomposition.py), percentile interval, bootstrap p.
  sign_change  the term is < 0 at the last level below the predicted crossing and > 0 at
               the first level above it (direction 'greater'; 'less' mirrors): the
               intersection-union test, p = max of the two one-sided t-test p-values
               (Berger 1982); estimate = min(-mean below, mean above), bootstrap interval.

Directions and equivalence: one-sided t p-values for 'greater'/'less'; 'equivalent' is
TOST (Schuirmann 1987): p = max(P(T >= (m + d)/se), P(T <= (m - d)/se)) with d the SESOI.

Verdict, with alpha, the SESOI d >= 0, the estimate m, the (1 - alpha) interval [lo, hi]
and the corrected p (theory/NOTES.md, "Pre-registered verdicts"):

  greater      supported if p_adj < alpha and m >= d; not supported if hi < d; else inconclusive
  less         supported if p_adj < alpha and m <= -d; not supported if lo > -d; else inconclusive
  two-sided    supported if p_adj < alpha and |m| >= d; not supported if d > 0 and
               -d < lo, hi < d; else inconclusive
  equivalent   supported if p_adj < alpha (TOST); not supported if lo > d or hi < -d;
               else inconclusive
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"


@dataclass
class TestResult:
    estimate: float
    ci: tuple[float, float]
    p: float
    n: int  # seeds (paired units) or observations (anova)
    method: str  # how the estimate and p were obtained, one line
    detail: dict = field(default_factory=dict)  # test-specific numbers for the report
    p_adj: float = float("nan")
    decision: bool = False
    verdict: str = INCONCLUSIVE


def subset(df: pd.DataFrame, where: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    for name, labels in where.items():
        mask &= df[name].astype(str).isin(labels).to_numpy()
    return df[mask]


def drop_excluded_seeds(df: pd.DataFrame) -> pd.DataFrame:
    """Paired data: a seed excluded in any run of the subset leaves every condition."""
    if "excluded" not in df:
        return df
    bad = set(df.loc[df["excluded"], "seed"])
    return df[~df["seed"].isin(bad)]


def seed_means(df: pd.DataFrame, outcome: str) -> pd.Series:
    return df.groupby("seed", observed=True)[outcome].mean()


# ---- t-based tests ------------------------------------------------------------------------


def t_test(x: np.ndarray, direction: str, alpha: float, sesoi: float) -> tuple[float, tuple, float]:
    """(mean, (1 - alpha) t interval, p) of a one-sample test of per-seed values x."""
    x = np.asarray(x, dtype=float)
    n = x.size
    m = float(x.mean())
    if n < 2:
        return m, (np.nan, np.nan), np.nan
    se = float(x.std(ddof=1) / np.sqrt(n))
    q = stats.t.ppf(1 - alpha / 2, n - 1)
    ci = (m - q * se, m + q * se)
    return m, ci, _t_p(m, se, n - 1, direction, sesoi)


def _t_p(m: float, se: float, df: int, direction: str, sesoi: float) -> float:
    def upper(t: float) -> float:  # P(T >= t)
        return float(stats.t.sf(t, df))

    def ratio(num: float) -> float:
        if se > 0:
            return num / se
        return 0.0 if num == 0 else np.copysign(np.inf, num)

    if direction == "greater":
        return 1.0 if (se == 0 and m == 0) else upper(ratio(m))
    if direction == "less":
        return 1.0 if (se == 0 and m == 0) else upper(-ratio(m))
    if direction == "two-sided":
        return 1.0 if (se == 0 and m == 0) else min(1.0, 2 * upper(abs(ratio(m))))
    # equivalent: TOST against -sesoi and +sesoi
    return max(upper(ratio(m + sesoi)), upper(-ratio(m - sesoi)))


def paired(
    df: pd.DataFrame,
    outcome: str,
    factor: str,
    a: str,
    b: str,
    direction: str,
    alpha: float,
    sesoi: float,
    by: tuple[str, str, str] | None = None,
) -> TestResult:
    """Paired t-test of (a - b) per seed; with by = (factor2, c, d) of the difference of
    differences (a - b at c) - (a - b at d), the paired interaction contrast."""
    df = drop_excluded_seeds(df)
    if by is not None:
        f2, c, d2 = by
        at_c = paired(df[df[f2].astype(str) == c], outcome, factor, a, b, direction, alpha, sesoi)
        at_d = paired(df[df[f2].astype(str) == d2], outcome, factor, a, b, direction, alpha, sesoi)
        diff = (at_c.detail["per_seed"] - at_d.detail["per_seed"]).dropna()
        m, ci, p = t_test(diff.to_numpy(), direction, alpha, sesoi)
        return TestResult(
            m, ci, p, int(diff.size),
            f"paired t-test over {diff.size} seeds: mean of ({a} - {b} at {f2}={c}) - ({a} - {b} at {f2}={d2})",
            {f"{a} - {b} at {c}": at_c.estimate, f"{a} - {b} at {d2}": at_d.estimate},
        )  # fmt: skip
    ya = seed_means(df[df[factor].astype(str) == a], outcome)
    yb = seed_means(df[df[factor].astype(str) == b], outcome)
    d = (ya - yb).dropna()
    m, ci, p = t_test(d.to_numpy(), direction, alpha, sesoi)
    return TestResult(
        m, ci, p, int(d.size), f"paired t-test over {d.size} seeds: mean of ({a} - {b})",
        {"mean_a": float(ya.mean()), "mean_b": float(yb.mean()), "per_seed": d},
    )  # fmt: skip


def one_sample(x: pd.Series, direction: str, alpha: float, sesoi: float, what: str) -> TestResult:
    x = x.dropna()
    m, ci, p = t_test(x.to_numpy(), direction, alpha, sesoi)
    how = "TOST equivalence" if direction == "equivalent" else "one-sample t-test"
    return TestResult(m, ci, p, int(x.size), f"{how} over {x.size} seeds: mean of {what}")


# ---- OLS / ANOVA --------------------------------------------------------------------------


def term_factors(term: str) -> list[str]:
    return re.findall(r"C\(\s*([A-Za-z_][A-Za-z0-9_]*)", term)


def fit_ols(formula: str, df: pd.DataFrame):
    import statsmodels.formula.api as smf

    return smf.ols(formula, data=df).fit()


def anova_table(fit) -> pd.DataFrame:
    from statsmodels.stats.anova import anova_lm

    return anova_lm(fit, typ=2)


def term_param(fit, term: str) -> str | None:
    """The one coefficient of a term whose factors all have two levels, else None."""
    names = [p for p in fit.params.index if re.sub(r"\[S\.[^\]]*\]", "", p) == term]
    return names[0] if len(names) == 1 else None


def anova_term(
    df: pd.DataFrame, formula: str, term: str, direction: str, alpha: float
) -> TestResult:
    df = df.copy()
    for col in df.columns:  # only the levels present within `where` enter the model
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].cat.remove_unused_categories()
    fit = fit_ols(formula, df)
    table = anova_table(fit)
    if term not in table.index:
        raise KeyError(f"term {term!r} is not in the model's ANOVA table: {list(table.index)}")
    resid_df = float(table.loc["Residual", "df"])
    p_two = float(table.loc[term, "PR(>F)"])
    detail = {
        "F": float(table.loc[term, "F"]),
        "df": float(table.loc[term, "df"]),
        "resid_df": resid_df,
    }
    pname = term_param(fit, term)
    if pname is None:
        ss, ss_res = float(table.loc[term, "sum_sq"]), float(table.loc["Residual", "sum_sq"])
        eta = ss / (ss + ss_res)
        return TestResult(
            eta, (np.nan, np.nan), p_two, int(fit.nobs),
            f"OLS {formula}; anova_lm(typ=2) F test; estimate = partial eta^2", detail,
        )  # fmt: skip
    k = len(term_factors(term))
    scale = 2.0**k
    beta, se = float(fit.params[pname]), float(fit.bse[pname])
    lo, hi = (scale * v for v in fit.conf_int(alpha).loc[pname])
    t = beta / se if se > 0 else np.copysign(np.inf, beta)
    if direction == "greater":
        p = float(stats.t.sf(t, fit.df_resid))
    elif direction == "less":
        p = float(stats.t.sf(-t, fit.df_resid))
    else:
        p = p_two
    detail["coef"] = pname
    return TestResult(
        scale * beta, (lo, hi), p, int(fit.nobs),
        f"OLS {formula}; anova_lm(typ=2) F test of {term}; estimate = 2^{k} x its Sum-contrast coefficient",
        detail,
    )  # fmt: skip


# ---- bootstrap: trend and sign change ------------------------------------------------------


def slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slope of y (..., L) on x (L,), along the last axis."""
    xc = x - x.mean()
    return ((y - y.mean(axis=-1, keepdims=True)) * xc).sum(axis=-1) / (xc**2).sum()


def boot_p(reps: np.ndarray, direction: str, sesoi: float) -> float:
    """Percentile-bootstrap p: the share of replicates on the wrong side (with +1 smoothing)."""
    B = reps.size

    def share(mask: np.ndarray) -> float:
        return float((1 + mask.sum()) / (B + 1))

    if direction == "greater":
        return share(reps <= 0)
    if direction == "less":
        return share(reps >= 0)
    if direction == "two-sided":
        return min(1.0, 2 * min(share(reps <= 0), share(reps >= 0)))
    return max(share(reps <= -sesoi), share(reps >= sesoi))


def trend(
    num: np.ndarray,
    den: np.ndarray | None,
    x: np.ndarray,
    direction: str,
    alpha: float,
    sesoi: float,
    n_boot: int,
    seed: int,
    what: str,
) -> TestResult:
    """num (n, L) per-seed values at each level (den: the denominator of a ratio of means)."""
    n = num.shape[0]

    def stat(idx: np.ndarray) -> np.ndarray:  # idx (B, n) -> (B, L) -> slope (B,)
        y = num[idx].mean(axis=1)
        if den is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                y = y / den[idx].mean(axis=1)
        return slope(x, y)

    est = float(stat(np.arange(n)[None, :])[0])
    rng = np.random.default_rng(seed)
    reps = stat(rng.integers(0, n, size=(n_boot, n)))
    reps = reps[np.isfinite(reps)]
    if reps.size < n_boot // 2:
        return TestResult(
            est, (np.nan, np.nan), np.nan, n, f"trend of {what}: too many undefined replicates"
        )
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    level_means = num.mean(axis=0) / (den.mean(axis=0) if den is not None else 1.0)
    return TestResult(
        est, (float(lo), float(hi)), boot_p(reps, direction, sesoi), n,
        f"OLS slope of {what} on the levels; paired bootstrap over {n} seeds ({reps.size} replicates)",
        {"levels": x.tolist(), "values": level_means.tolist()},
    )  # fmt: skip


def sign_change(
    below: np.ndarray,
    above: np.ndarray,
    direction: str,
    alpha: float,
    n_boot: int,
    seed: int,
    labels: tuple[str, str],
) -> TestResult:
    """below, above (n,) paired per-seed values at the levels either side of the crossing."""
    sign = 1.0 if direction == "greater" else -1.0
    _, _, p_below = t_test(below, "less" if sign > 0 else "greater", alpha, 0.0)
    _, _, p_above = t_test(above, "greater" if sign > 0 else "less", alpha, 0.0)
    n = below.size

    def stat(idx: np.ndarray) -> np.ndarray:
        return np.minimum(-sign * below[idx].mean(axis=-1), sign * above[idx].mean(axis=-1))

    est = float(stat(np.arange(n)))
    reps = stat(np.random.default_rng(seed).integers(0, n, size=(n_boot, n)))
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return TestResult(
        est, (float(lo), float(hi)), max(p_below, p_above), n,
        f"intersection-union: one-sided t-tests at {labels[0]} (predicted {'<' if sign > 0 else '>'} 0) and "
        f"{labels[1]} (predicted {'>' if sign > 0 else '<'} 0); estimate = the smaller margin",
        {"below": labels[0], "above": labels[1], "mean_below": float(below.mean()),
         "mean_above": float(above.mean()), "p_below": p_below, "p_above": p_above},
    )  # fmt: skip


# ---- correction and verdicts --------------------------------------------------------------


def correct(pvals: list[float], method: str) -> list[float]:
    """Adjusted p-values (Holm 1979 by default); NaN p-values are left out and stay NaN."""
    p = np.asarray(pvals, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = p[ok] if method == "none" else multipletests(p[ok], method=method)[1]
    return out.tolist()


def verdict(r: TestResult, direction: str, alpha: float, sesoi: float) -> str:
    m, (lo, hi), d = r.estimate, r.ci, sesoi
    sig = bool(np.isfinite(r.p_adj) and r.p_adj < alpha)
    has_ci = np.isfinite(lo) and np.isfinite(hi)
    if direction == "greater":
        if sig and m >= d:
            return SUPPORTED
        return NOT_SUPPORTED if has_ci and hi < d else INCONCLUSIVE
    if direction == "less":
        if sig and m <= -d:
            return SUPPORTED
        return NOT_SUPPORTED if has_ci and lo > -d else INCONCLUSIVE
    if direction == "two-sided":
        if sig and abs(m) >= d:
            return SUPPORTED
        return NOT_SUPPORTED if has_ci and d > 0 and -d < lo and hi < d else INCONCLUSIVE
    if sig:
        return SUPPORTED
    return NOT_SUPPORTED if has_ci and (lo > d or hi < -d) else INCONCLUSIVE
