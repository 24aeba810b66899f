"""Running the registered checks, the pass/fail table, and `simrl theory check`'s main."""

from __future__ import annotations

import math
import time
import zlib

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from simrl.errors import ConfigError
from simrl.theory_check import (
    checks_clipping,
    checks_entropy,
    checks_kl,
    checks_shared,
    checks_stats,
)
from simrl.theory_check.registry import (
    CHECKS,
    Check,
    CheckResult,
)

#: the order of the table: by topic, then as registered within a topic
TOPICS = tuple(
    t.__name__ for t in (checks_entropy, checks_kl, checks_clipping, checks_shared, checks_stats)
)


def ordered_checks() -> list[Check]:
    """The registered checks in table order (read at call time: tests may swap entries)."""
    return sorted(CHECKS.values(), key=lambda c: TOPICS.index(c.fn.__module__))


#: check name -> the closed forms it verifies
COVERS: dict[str, list[str]] = {c.name: list(c.covers) for c in ordered_checks()}

#: exports of theory/ that no check here verifies, and why
NOT_CHECKED: dict[str, str] = {
    "Decomposition": "a result record",
    "DecompositionCI": "a result record",
    "EntropyLawFit": "a result record",
    "ExtrapolationScore": "a result record",
    "decompose_with_ci": "bootstrap intervals: a resampling procedure "
    "(tests/properties/test_decomposition_props.py checks coverage and pairing)",
    "monte_carlo_clipped_gradient": "a sampled estimate, the test helper for the enumeration",
    "monte_carlo_multi_epoch": "a sampled estimate, the test helper for the multi-epoch enumeration",
    "steer_eq14": "STEER's published estimate, not an identity (NOTES.md: neither STEER form "
    "is the first-order term in general)",
    "steer_omega_code": "STEER's published code, not an identity (NOTES.md, as steer_eq14)",
}


# --------------------------------------------------------------------------- running


def case_rng(name: str, seed: int, case: int) -> np.random.Generator:
    """The generator of case `case` of check `name` under `seed`."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), case])


def _get(name: str) -> Check:
    try:
        return CHECKS[name]
    except KeyError:
        raise KeyError(
            f"unknown theory check {name!r}; valid: {', '.join(c.name for c in ordered_checks())}"
        ) from None


def run_case(name: str, seed: int, case: int) -> float:
    """The error of one case: reproduces a CheckResult's worst case. Exceptions propagate."""
    with np.errstate(all="ignore"):
        return float(_get(name).fn(case_rng(name, seed, case)))


def _run_check(c: Check, n_cases: int, seed: int) -> CheckResult:
    cases = n_cases if c.max_cases is None else min(n_cases, c.max_cases)
    worst, worst_rank, worst_case, message = -math.inf, -math.inf, 0, ""
    start = time.perf_counter()
    for i in range(cases):
        try:
            error, raised = run_case(c.name, seed, i), ""
        except Exception as e:  # a case that raises fails the check; the others still run
            error, raised = math.inf, f"{type(e).__name__}: {e}"
        rank = math.inf if math.isnan(error) else error  # nan ranks as the worst
        if rank > worst_rank:
            worst, worst_rank, worst_case, message = error, rank, i, raised
    return CheckResult(
        name=c.name,
        section=c.section,
        cases=cases,
        max_error=worst,
        tolerance=c.tolerance,
        passed=bool(worst <= c.tolerance),  # False for nan
        seed=seed,
        worst_case=worst_case,
        capped=cases < n_cases,
        message=message,
        seconds=time.perf_counter() - start,
    )


def run_checks(n_cases: int = 200, seed: int = 0) -> list[CheckResult]:
    """Run every check on n_cases random cases (fewer for a capped check) under seed."""
    if isinstance(n_cases, bool) or not isinstance(n_cases, int | np.integer) or n_cases < 1:
        raise ConfigError("cases", n_cases, "must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError("seed", seed, "must be an integer >= 0")
    return [_run_check(c, int(n_cases), int(seed)) for c in ordered_checks()]


def render(results: list[CheckResult]) -> Table:
    """The pass/fail table, one row per check (`main` lists the failures' worst cases)."""
    seed = results[0].seed if results else 0
    capped = any(r.capped for r in results)
    table = Table(
        title=f"simrl theory check (seed {seed}): theory/'s closed forms against exact computation",
        caption=("* fewer cases: an expensive reference. " if capped else "")
        + "What each error measures: the check functions in simrl/theory_check/",
        box=box.SIMPLE,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("check", no_wrap=True)
    table.add_column("NOTES.md section", min_width=12)
    for col in ("cases", "max error", "tol", "result"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in results:
        table.add_row(
            r.name,
            r.section,
            f"{r.cases}{'*' if r.capped else ''}",
            f"{r.max_error:.2e}",
            f"{r.tolerance:.2g}",
            "[green]pass[/]" if r.passed else "[bold red]FAIL[/]",
        )
    return table


def main(n_cases: int = 200, seed: int = 0, console: Console | None = None) -> int:
    """Print the table; 0 if every check passed, else 1."""
    console = console or Console()
    start = time.perf_counter()
    results = run_checks(n_cases, seed)
    seconds = time.perf_counter() - start
    console.print(render(results))
    failed = [r for r in results if not r.passed]
    for r in failed:
        console.print(
            f"FAIL {r.name}: worst case {r.worst_case} of seed {r.seed}, error {r.max_error:.3g}"
            f" > {r.tolerance:.3g}{f' ({r.message})' if r.message else ''}; reproduce with"
            f" simrl.theory_check.run_case({r.name!r}, {r.seed}, {r.worst_case})",
            markup=False,
            highlight=False,
        )
    if failed:
        console.print(f"{len(failed)} of {len(results)} checks failed ({seconds:.1f} s)")
        return 1
    console.print(f"all {len(results)} checks passed ({seconds:.1f} s)")
    return 0
