"""Registered hypotheses: each [[hypothesis]] table read field by field (a Param per
field: default, doc, check), then checked against the study by its test's registry entry
(simrl/prereg/hypothesis_tests.py) and by the checks common to every test."""

from __future__ import annotations

from typing import Any

from simrl.errors import ConfigError
from simrl.prereg import hypothesis_tests
from simrl.prereg.factors import _where
from simrl.prereg.fields import REQUIRED, Crossing, Labels, Name, Param, Text, _label, read
from simrl.prereg.outcome_names import _check_outcome_name
from simrl.prereg.study import DECOMP_PREFIX, DIRECTIONS, Hypothesis, Study
from simrl.theory.decomposition import SHARES, TERMS
from simrl.validate import Range, one_of

#: every field of a [[hypothesis]] table (`where` is a table, read by _where)
SCHEMA = {
    "id": Param(REQUIRED, "a short, distinct name (H1, H2, ...)", Text()),
    "statement": Param(REQUIRED, "what the hypothesis says, in words", Text()),
    "outcome": Param("", "the outcome tested (default: the first primary)", Text()),
    "test": Param(REQUIRED, "the test, from the registry", one_of(hypothesis_tests.TESTS)),
    "direction": Param("two-sided", "the predicted direction", one_of(DIRECTIONS)),
    "alpha": Param(0.05, "the test's level", Range(0.0, 1.0, lo_open=True, hi_open=True)),
    "sesoi": Param(REQUIRED, "smallest effect size of interest, >= 0", Range(0.0)),
    "factor": Param("", "the contrasted (or numeric) factor", Name()),
    "contrast": Param((), "two levels of factor: estimate = a - b", Labels(2)),
    "term": Param("", "anova: a term of the registered model", Text()),
    "crossing": Param("", "sign_change: 'plurality' or a number", Crossing()),
    "each": Param("", "test at every level of this factor (intersection-union)", Name()),
    "factor2": Param("", "paired: a second factor (difference of differences)", Name()),
    "contrast2": Param((), "paired: two levels of factor2", Labels(2)),
    "against": Param(0.0, "the value a mean, quantile or share is compared with", Range()),
    "quantile": Param(0.5, "quantile: which (0 < q < 1)", Range(0.0, 1.0, True, True)),
    "share": Param(0.5, "proportion: the share under H0", Range(0.0, 1.0, True, True)),
    "sensitivity": Param("", "report the same test at every level of this factor", Name()),
}


def _hypotheses(raw: Any, study: Study) -> tuple[Hypothesis, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("hypothesis", raw, "needs at least one [[hypothesis]] table")
    out: list[Hypothesis] = []
    for i, h in enumerate(raw):
        hid = h.get("id") if isinstance(h, dict) else None
        name = f"hypothesis {hid}" if Text().ok(hid) else f"hypothesis[{i}]"
        v = read(h, f"{name}.", SCHEMA, skip=("where",))
        hid = v["id"]
        where = f"hypothesis {hid}"
        if hid in (x.id for x in out):
            raise ConfigError(f"{where}.id", hid, "hypothesis ids must be distinct")
        if v["direction"] == "equivalent" and v["sesoi"] <= 0:
            raise ConfigError(f"{where}.sesoi", v["sesoi"], "must be > 0 for an equivalence test")
        hyp = Hypothesis(
            id=hid,
            statement=v["statement"].strip(),
            outcome=v["outcome"] or study.primary[0],
            test=v["test"],
            direction=v["direction"],
            alpha=float(v["alpha"]),
            sesoi=float(v["sesoi"]),
            factor=v["factor"],
            contrast=tuple(_label(x) for x in v["contrast"]),
            term=v["term"],
            where=_where(h.get("where"), study.factors, f"{where}.where"),
            crossing=_label(v["crossing"]),
            each=v["each"],
            factor2=v["factor2"],
            contrast2=tuple(_label(x) for x in v["contrast2"]),
            against=float(v["against"]),
            quantile=float(v["quantile"]),
            share=float(v["share"]),
            sensitivity=v["sensitivity"],
        )
        hypothesis_tests.check(hyp, study, where, h)
        _check_common(hyp, study, where)
        out.append(hyp)
    return tuple(out)


def _check_common(h: Hypothesis, study: Study, where: str) -> None:
    """Checks that hold whatever the test: `each`, `sensitivity`, decomposition outcomes,
    the outcome name."""
    decomp = h.outcome.startswith(DECOMP_PREFIX)
    taken = {h.factor, h.factor2, *h.where} | (
        {study.decomposition.factor} if decomp and study.decomposition else set()
    )
    for key in ("each", "sensitivity"):
        name = getattr(h, key)
        if not name:
            continue
        if name not in study.factor_names:
            raise ConfigError(
                f"{where}.{key}", name, "must be a factor: " + ", ".join(study.factor_names)
            )
        if name in taken:
            raise ConfigError(
                f"{where}.{key}", name, "must differ from the tested, restricted and reward factors"
            )
    if h.each and h.each == h.sensitivity:
        raise ConfigError(f"{where}.sensitivity", h.sensitivity, "must differ from each")
    if decomp:
        if study.decomposition is None:
            raise ConfigError(f"{where}.outcome", h.outcome, "needs a [decomposition] table")
        name = h.outcome[len(DECOMP_PREFIX) :]
        if name not in TERMS + SHARES:
            raise ConfigError(
                f"{where}.outcome",
                h.outcome,
                "decomposition outcomes: " + ", ".join(TERMS + SHARES),
            )
        if name in SHARES and h.test != "trend":
            raise ConfigError(
                f"{where}.test",
                h.test,
                f"{name} is a ratio of means, not a per-seed value: use test = 'trend'",
            )
        if study.decomposition.factor in h.where or h.factor == study.decomposition.factor:
            raise ConfigError(
                f"{where}.where",
                study.decomposition.factor,
                "a decomposition term already spans the reward factor",
            )
    else:
        _check_outcome_name(study, h.outcome, f"{where}.outcome")


def _check_factor_names(study: Study, names: tuple[str, ...], where: str) -> None:
    for n in names:
        if n not in study.factor_names:
            raise ConfigError(where, n, "must be a factor: " + ", ".join(study.factor_names))
