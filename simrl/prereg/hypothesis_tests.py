"""The registry of hypothesis tests: one entry per `test = "..."`, each with the check that
runs at registration and the test that runs in `simrl prereg analyze`.

An entry says which fields apply to it (a field that does not apply is refused, naming
the tests it applies to), which directions it can decide, whether it needs a factor
(numeric or not), and holds `check(h, study, where)` and `run(ctx) -> TestResult`. The
statistics live in simrl/prereg/inference.py (t-based, OLS, bootstrap) and
simrl/prereg/binomial_tests.py (quantile and proportion tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simrl.errors import ConfigError
from simrl.prereg.study import Hypothesis, Study

ALL_DIRECTIONS = ("greater", "less", "two-sided", "equivalent")
ONE_OR_TWO_SIDED = ("greater", "less", "two-sided")


@dataclass(frozen=True)
class HypothesisTest:
    name: str
    doc: str
    fields: tuple[str, ...]  # optional hypothesis fields that apply to this test
    directions: tuple[str, ...] = ALL_DIRECTIONS
    needs_factor: bool = False
    numeric_factor: bool = False
    check: Callable[[Hypothesis, Study, str], None] = lambda h, s, w: None
    run: Callable[[Any], Any] | None = None


TESTS: dict[str, HypothesisTest] = {}
#: optional fields whose use is checked against each test's `fields`
OPTIONAL = ("factor", "contrast", "term", "crossing", "each", "factor2", "contrast2", "against",
            "quantile", "share")  # fmt: skip


def register(test: HypothesisTest) -> HypothesisTest:
    TESTS[test.name] = test
    return test


@dataclass
class Context:
    """What a test's run receives: the study, the hypothesis, its data (already restricted
    to `where`, excluded seeds dropped), the outcome column, the cells and a fixed seed."""

    study: Study
    h: Hypothesis
    data: Any  # pandas DataFrame
    outcome: str
    cells: list
    seed: int


def check(h: Hypothesis, study: Study, where: str, given: dict[str, Any]) -> None:
    """The entry's checks: applicable fields, directions, the factor, then its own."""
    t = TESTS[h.test]
    for key in OPTIONAL:
        if key in given and key not in t.fields:
            users = [n for n, e in TESTS.items() if key in e.fields]
            raise ConfigError(
                f"{where}.{key}", given[key], "applies to the tests " + ", ".join(users)
            )
    if h.direction not in t.directions:
        raise ConfigError(
            f"{where}.direction",
            h.direction,
            f"test {h.test!r} decides " + ", ".join(t.directions),
        )
    if t.needs_factor and h.factor not in study.factor_names:
        raise ConfigError(
            f"{where}.factor", h.factor, "must be a factor: " + ", ".join(study.factor_names)
        )
    if h.factor and not t.needs_factor and h.factor not in study.factor_names:
        raise ConfigError(
            f"{where}.factor", h.factor, "must be a factor: " + ", ".join(study.factor_names)
        )
    if t.numeric_factor and not study.factor(h.factor).numeric:
        raise ConfigError(
            f"{where}.factor",
            h.factor,
            "needs numeric levels (a list of numbers, or value = ... on each level)",
        )
    t.check(h, study, where)


def contrast(study: Study, factor: str, pair: tuple[str, ...], where: str) -> None:
    labels = study.factor(factor).labels
    if len(pair) != 2 or any(c not in labels for c in pair) or pair[0] == pair[1]:
        raise ConfigError(
            where, list(pair), f"must be two different levels of {factor}: " + ", ".join(labels)
        )


# ---- checks --------------------------------------------------------------------------------


def _check_paired(h: Hypothesis, study: Study, where: str) -> None:
    contrast(study, h.factor, h.contrast, f"{where}.contrast")
    if h.factor in h.where:
        raise ConfigError(
            f"{where}.where", h.factor, "the contrasted factor cannot also be restricted"
        )
    if h.factor2 or h.contrast2:
        if h.factor2 not in study.factor_names or h.factor2 == h.factor or h.factor2 in h.where:
            raise ConfigError(
                f"{where}.factor2",
                h.factor2,
                "must be another factor, not restricted by where: " + ", ".join(study.factor_names),
            )
        contrast(study, h.factor2, h.contrast2, f"{where}.contrast2")


def _check_trend(h: Hypothesis, study: Study, where: str) -> None:
    if h.factor in h.where and len(h.where[h.factor]) < 2:
        raise ConfigError(
            f"{where}.where", h.factor, "a trend needs at least two levels of its factor"
        )


def _check_sign_change(h: Hypothesis, study: Study, where: str) -> None:
    _check_trend(h, study, where)
    if h.crossing == "plurality" and study.backend == "bridge":
        raise ConfigError(
            f"{where}.crossing",
            h.crossing,
            "'plurality' needs the simulator's exact task; on the bridge give a number",
        )
    if h.crossing == "":
        raise ConfigError(
            f"{where}.crossing", None, "is required: 'plurality' or a number on the factor's scale"
        )


def _check_anova(h: Hypothesis, study: Study, where: str) -> None:
    if not h.term:
        raise ConfigError(f"{where}.term", h.term, "an anova test names a term of the model")


def _check_per_seed(h: Hypothesis, study: Study, where: str) -> None:
    """median, quantile, proportion: per-seed values of an outcome, or of a paired contrast."""
    if h.factor or h.contrast:
        if not h.factor:
            raise ConfigError(f"{where}.factor", "", "a contrast needs its factor")
        _check_paired(h, study, where)


# ---- runs -----------------------------------------------------------------------------------


def _run_paired(c: Context):
    from simrl.prereg import inference as inf

    h = c.h
    a, b = h.contrast
    by = (h.factor2, *h.contrast2) if h.factor2 else None
    return inf.paired(c.data, c.outcome, h.factor, a, b, h.direction, h.alpha, h.sesoi, by)


def _run_mean(c: Context):
    from simrl.prereg import inference as inf

    h = c.h
    what = c.outcome if h.against == 0 else f"{c.outcome} - {h.against:g}"
    x = inf.seed_means(c.data, c.outcome) - h.against
    return inf.one_sample(x, h.direction, h.alpha, h.sesoi, what)


def _run_anova(c: Context):
    from simrl.prereg import inference as inf
    from simrl.prereg.formula import lhs

    formula = f"{lhs(c.outcome)} ~ {c.study.model.partition('~')[2].strip()}"
    return inf.anova_term(c.data, formula, c.h.term, c.h.direction, c.h.alpha)


def per_seed(c: Context) -> tuple[Any, str]:
    """Per-seed values: the outcome's seed means, or the paired differences a - b."""
    from simrl.prereg import inference as inf

    h = c.h
    if not h.factor:
        return inf.seed_means(c.data, c.outcome), c.outcome
    a, b = h.contrast
    r = inf.paired(c.data, c.outcome, h.factor, a, b, "two-sided", h.alpha, 0.0)
    return r.detail["per_seed"], f"({c.outcome} at {a} - at {b})"


def _run_quantile(c: Context):
    from simrl.prereg import binomial_tests

    x, what = per_seed(c)
    return binomial_tests.quantile(
        x.to_numpy(), c.h.quantile, c.h.against, c.h.direction, c.h.alpha, what
    )


def _run_median(c: Context):
    from simrl.prereg import binomial_tests

    x, what = per_seed(c)
    return binomial_tests.quantile(x.to_numpy(), 0.5, c.h.against, c.h.direction, c.h.alpha, what)


def _run_proportion(c: Context):
    from simrl.prereg import binomial_tests

    x, what = per_seed(c)
    return binomial_tests.proportion(
        x.to_numpy(), c.h.against, c.h.share, c.h.direction, c.h.alpha, what
    )


def _run_trend(c: Context):
    from simrl.prereg.trend_runs import run_trend

    return run_trend(c)


def _run_sign_change(c: Context):
    from simrl.prereg.trend_runs import run_sign_change

    return run_sign_change(c)


_PAIR = ("factor", "contrast", "factor2", "contrast2", "each")
_SEEDWISE = ("factor", "contrast", "against", "each")
register(HypothesisTest("paired", "mean paired difference a - b over seeds (paired t)", _PAIR,
                        needs_factor=True, check=_check_paired, run=_run_paired))  # fmt: skip
register(HypothesisTest("mean", "mean of a per-seed value against `against` (one-sample t)",
                        ("against", "each"), run=_run_mean))  # fmt: skip
register(HypothesisTest("anova", "a term of the registered OLS model (anova_lm typ=2)",
                        ("term",), ONE_OR_TWO_SIDED, check=_check_anova, run=_run_anova))  # fmt: skip
register(HypothesisTest("trend", "OLS slope over a numeric factor's levels (paired bootstrap)",
                        ("factor",), needs_factor=True, numeric_factor=True, check=_check_trend,
                        run=_run_trend))  # fmt: skip
register(HypothesisTest("sign_change", "negative below a predicted crossing, positive above",
                        ("factor", "crossing"), ("greater", "less"), needs_factor=True,
                        numeric_factor=True, check=_check_sign_change,
                        run=_run_sign_change))  # fmt: skip
register(HypothesisTest("median", "median of per-seed values against `against` (sign test)",
                        _SEEDWISE, ONE_OR_TWO_SIDED, check=_check_per_seed,
                        run=_run_median))  # fmt: skip
register(HypothesisTest("quantile", "a quantile of per-seed values (Conover's quantile test)",
                        (*_SEEDWISE, "quantile"), ONE_OR_TWO_SIDED, check=_check_per_seed,
                        run=_run_quantile))  # fmt: skip
register(HypothesisTest("proportion", "share of seeds above `against` vs `share` (binomial)",
                        (*_SEEDWISE, "share"), ONE_OR_TWO_SIDED, check=_check_per_seed,
                        run=_run_proportion))  # fmt: skip
