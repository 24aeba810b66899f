"""`simrl theory check`: every closed form in theory/ against exact computation, on random cases.

Each check draws ONE random case from a `numpy.random.Generator` and returns an error:
the distance between a closed form and an independent reference (central finite
differences, an mpmath or exact-rational evaluation, an exact enumeration or
expectation), or a ratio that the identity bounds. `run_checks` runs every check on
`n_cases` cases and keeps the worst; `render` tabulates the results.

Case i of check c under seed s draws from `default_rng([s, crc32(c), i])`, so a run is
deterministic, a check's cases do not depend on which other checks exist, and the worst
case of a failure is reproduced by `run_case(c, s, i)`.

These are the identities of tests/properties/ (hypothesis, with shrinking), run as a
user-facing sanity check on plain random draws; the sections named are in theory/NOTES.md.
"""

from simrl.theory_check.registry import CHECKS, NOTATION, Check, CheckResult, check
from simrl.theory_check.runner import (
    COVERS,
    NOT_CHECKED,
    case_rng,
    main,
    render,
    run_case,
    run_checks,
)

__all__ = [
    "CHECKS",
    "COVERS",
    "NOTATION",
    "NOT_CHECKED",
    "Check",
    "CheckResult",
    "case_rng",
    "check",
    "main",
    "render",
    "run_case",
    "run_checks",
]
