"""The entropy-performance law R = -a exp(H) + b, its fit, and its extrapolation test.

Cui et al. 2025 (arXiv 2505.22617, Sec. 2; stated in the abstract) fit validation
performance R against policy entropy H along a training run as
  R = -a exp(H) + b,
so that when the entropy is exhausted (H = 0) performance reaches the ceiling R* = -a + b.
R is linear in x = exp(H): R = b + beta x with beta = -a, so the fit is ordinary least
squares and its intervals are the textbook ones (NOTES.md, "Entropy-performance law").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

_LOG_MAX = float(np.log(np.finfo(np.float64).max))  # exp(H) is finite for H <= this


@dataclass(frozen=True)
class EntropyLawFit:
    """OLS fit of R = -a exp(H) + b; intervals are (1 - alpha) t-intervals."""

    a: float
    """conversion rate between entropy and reward (positive when R rises as H falls)"""
    b: float
    """intercept of R against exp(H)"""
    se_a: float
    """standard error of a"""
    se_b: float
    """standard error of b"""
    cov_ab: float
    """covariance of the estimates of a and b"""
    ci_a: tuple[float, float]
    """(1 - alpha) confidence interval for a"""
    ci_b: tuple[float, float]
    """(1 - alpha) confidence interval for b"""
    ceiling: float
    """predicted performance at H = 0: R* = -a + b"""
    se_ceiling: float
    """standard error of the ceiling, sqrt(var a + var b - 2 cov(a, b))"""
    ci_ceiling: tuple[float, float]
    """(1 - alpha) confidence interval for the ceiling"""
    r2: float
    """coefficient of determination of the fit; nan when R is constant"""
    resid_std: float
    """residual standard deviation, sqrt(SSE / (n - 2))"""
    n: int
    """number of points fitted"""
    alpha: float
    """1 - the confidence level of the intervals"""

    def predict(self, H: ArrayLike) -> np.ndarray:
        """-a exp(H) + b at entropies H (...)."""
        return -self.a * np.exp(np.asarray(H, dtype=np.float64)) + self.b


def fit_entropy_law(H: ArrayLike, R: ArrayLike, alpha: float = 0.05) -> EntropyLawFit:
    """Fit R = -a exp(H) + b by OLS of R on x = exp(H) (Cui et al. 2025, arXiv 2505.22617).

    H, R: (n,) entropy and performance at the same n points of a run, n >= 3.
    The standard errors and t-intervals (n - 2 degrees of freedom) are exact when the
    residuals are independent N(0, sigma^2) and H is measured without error; the points
    of a training run are autocorrelated, so treat them as approximate there.
    The ceiling's variance uses the covariance of the estimates:
    var(b - a) = var a + var b - 2 cov(a, b).
    """
    H, R = _validate(H, R)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
    x = np.exp(H)  # (n,)
    n = x.size
    if np.ptp(x) <= 8 * np.finfo(np.float64).eps * np.abs(x).max():
        raise ValueError(
            f"H is constant (exp(H) spans {float(np.ptp(x)):.3g}): the slope a is not identified"
        )

    # Centred OLS: beta = Sxy / Sxx, b = R_bar - beta x_bar.
    x_bar, r_bar = x.mean(), R.mean()
    dx = x - x_bar  # (n,)
    sxx = dx @ dx
    beta = (dx @ (R - r_bar)) / sxx
    b = r_bar - beta * x_bar
    resid = R - (b + beta * x)  # (n,)
    sse = resid @ resid
    sst = (R - r_bar) @ (R - r_bar)
    df = n - 2
    s2 = sse / df
    var_beta = s2 / sxx
    var_b = s2 * (1.0 / n + x_bar**2 / sxx)
    cov_b_beta = -s2 * x_bar / sxx
    # a = -beta, so cov(a, b) = -cov(beta, b). The ceiling b + beta is the fit at x = 1:
    # var = var b + var beta + 2 cov(b, beta) = s2 (1/n + (1 - x_bar)^2 / Sxx), the
    # right-hand form free of the cancellation between its terms when x_bar is large.
    var_ceiling = s2 * (1.0 / n + (1.0 - x_bar) ** 2 / sxx)
    t = stats.t.ppf(1 - alpha / 2, df)

    def ci(est: float, se: float) -> tuple[float, float]:
        return (float(est - t * se), float(est + t * se))

    a, se_a, se_b = -beta, np.sqrt(var_beta), np.sqrt(var_b)
    ceiling, se_ceiling = b + beta, np.sqrt(var_ceiling)
    return EntropyLawFit(
        a=float(a),
        b=float(b),
        se_a=float(se_a),
        se_b=float(se_b),
        cov_ab=float(-cov_b_beta),
        ci_a=ci(a, se_a),
        ci_b=ci(b, se_b),
        ceiling=float(ceiling),
        se_ceiling=float(se_ceiling),
        ci_ceiling=ci(ceiling, se_ceiling),
        r2=float(1.0 - sse / sst) if sst > 0 else float("nan"),
        resid_std=float(np.sqrt(s2)),
        n=n,
        alpha=alpha,
    )


@dataclass(frozen=True)
class ExtrapolationScore:
    """How well the law fitted on the early part of a run predicts the rest."""

    fit: EntropyLawFit
    """the fit on the first n_fit points"""
    n_fit: int
    """points fitted (the first ones, in order)"""
    n_test: int
    """held-out points (the rest)"""
    rmse: float
    """root mean squared prediction error on the held-out points"""
    mae: float
    """mean absolute prediction error on the held-out points"""
    r2: float
    """1 - SSE / SST on the held-out points (SST about their own mean); nan if R is constant there"""
    ceiling_error: float
    """early fit's ceiling minus the ceiling of a fit to the held-out points alone; nan when
    those cannot be fitted (fewer than 3, or constant H)"""


def extrapolation_score(
    H: ArrayLike, R: ArrayLike, fit_fraction: float = 0.5, alpha: float = 0.05
) -> ExtrapolationScore:
    """Fit the law on the first floor(fit_fraction n) points of a run and score the rest.

    H, R: (n,) in training order. Tests Cui et al.'s claim (arXiv 2505.22617, Sec. 2) that
    the coefficients fitted early in training predict the later trajectory and its ceiling.
    Needs at least 3 points to fit and 1 to test.
    """
    H, R = _validate(H, R)
    if not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction must lie in (0, 1); got {fit_fraction}")
    n = H.size
    n_fit = int(np.floor(fit_fraction * n))
    if n_fit < 3 or n_fit >= n:
        raise ValueError(
            f"fit_fraction = {fit_fraction} of n = {n} points fits {n_fit}, holds out {n - n_fit}:"
            " need at least 3 fitted and 1 held out"
        )
    fit = fit_entropy_law(H[:n_fit], R[:n_fit], alpha=alpha)
    h_test, r_test = H[n_fit:], R[n_fit:]  # (n_test,)
    err = fit.predict(h_test) - r_test  # (n_test,)
    sst = ((r_test - r_test.mean()) ** 2).sum()
    try:
        late_ceiling = fit_entropy_law(h_test, r_test, alpha=alpha).ceiling
    except ValueError:
        late_ceiling = float("nan")
    return ExtrapolationScore(
        fit=fit,
        n_fit=n_fit,
        n_test=n - n_fit,
        rmse=float(np.sqrt(np.mean(err**2))),
        mae=float(np.mean(np.abs(err))),
        r2=float(1.0 - (err @ err) / sst) if sst > 0 else float("nan"),
        ceiling_error=float(fit.ceiling - late_ceiling),
    )


def _validate(H: ArrayLike, R: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    H = np.asarray(H, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if H.ndim != 1 or H.shape != R.shape:
        raise ValueError(f"H and R must be 1-D of equal length; got shapes {H.shape}, {R.shape}")
    if H.size < 3:
        raise ValueError(
            f"need at least 3 points to fit a and b with an error estimate; got {H.size}"
        )
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(R))):
        raise ValueError("H and R must be finite; found nan or inf")
    if H.max() > _LOG_MAX:
        raise ValueError(f"exp(H) overflows for H = {H.max()}; entropies in nats are far smaller")
    return H, R
