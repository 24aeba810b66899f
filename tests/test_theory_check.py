"""simrl.theory_check: every check passes, every closed form of theory/ is covered by one,
and a deliberately broken closed form is caught."""

import io
import sys
from dataclasses import replace
from importlib.resources import files

import numpy as np
import pytest
from rich.console import Console

from simrl import theory, theory_check
from simrl.errors import ConfigError
from simrl.theory_check import (
    CHECKS,
    COVERS,
    NOT_CHECKED,
    NOTATION,
    main,
    render,
    run_case,
    run_checks,
)

# the entropy submodule; `theory.entropy` is the re-exported function (see simrl/theory_check/)
ENTROPY = sys.modules["simrl.theory.entropy"]

#: the closed forms that `simrl theory check` must verify (theory/ exports and simrl.kl)
CLOSED_FORMS = [
    "entropy",
    "entropy_gradient",
    "log_softmax",
    "softmax",
    "first_order_entropy_change",
    "first_order_remainder_bound",
    "second_order_entropy_change",
    "second_order_remainder_bound",
    "cui_theorem1",
    "cui_theorem2",
    "sampled_token_entropy_change",
    "expected_clipped_gradient",
    "expected_clipped_gradient_closed_form",
    "mean_positive_advantage",
    "clip_bias_direction",
    "never_clipped_high",
    "pass_at_k_exact",
    "pass_at_k_unbiased",
    "fit_entropy_law",
    "extrapolation_score",
    "decompose",
    "simrl.kl.k1",
    "simrl.kl.k2",
    "simrl.kl.k3",
    "simrl.kl.exact_reverse",
    "simrl.kl.exact_forward",
]


def _failed(results) -> set[str]:
    return {r.name for r in results if not r.passed}


def test_every_check_passes():
    results = run_checks(n_cases=20, seed=1)
    assert sorted(r.name for r in results) == sorted(CHECKS)
    assert results[0].name == "entropy_gradient"  # the table's order: by topic
    assert not _failed(results), render(results)
    assert all(r.cases == 20 and np.isfinite(r.max_error) for r in results)


def test_every_closed_form_is_covered():
    covered = {fn for names in COVERS.values() for fn in names}
    assert set(CLOSED_FORMS) <= covered, set(CLOSED_FORMS) - covered
    # a new export of theory/ must get a check, or a reason in NOT_CHECKED
    exports = set(theory.__all__)
    assert exports <= covered | set(NOT_CHECKED), exports - covered - set(NOT_CHECKED)
    assert not covered & set(NOT_CHECKED)
    assert set(NOT_CHECKED) <= exports  # no stale reasons


def test_every_section_is_a_notes_heading():
    notes = (files("simrl.theory") / "NOTES.md").read_text()
    headings = [line[3:] for line in notes.splitlines() if line.startswith("## ")]
    assert "\nNotation:" in notes  # the preamble that NOTATION names
    for c in CHECKS.values():
        ok = c.section == NOTATION or any(h.startswith(c.section) for h in headings)
        assert ok, (c.name, c.section)


def test_deterministic_for_a_seed():
    def strip(results):
        return [replace(r, seconds=0.0) for r in results]

    assert strip(run_checks(5, seed=7)) == strip(run_checks(5, seed=7))
    assert strip(run_checks(5, seed=7)) != strip(run_checks(5, seed=8))


def test_wrong_entropy_gradient_is_caught(monkeypatch):
    """dH/dz = -pi (l - H) (the sign of H flipped); first_order_entropy_change uses it too."""

    def wrong(z):
        return -ENTROPY.softmax(z) * (ENTROPY.log_softmax(z) - ENTROPY.entropy(z)[..., None])

    monkeypatch.setattr(ENTROPY, "entropy_gradient", wrong)
    results = {r.name: r for r in run_checks(n_cases=20, seed=1)}
    failed = _failed(results.values())
    assert {
        "entropy_gradient",
        "first_order_error_quadratic",
        "first_order_remainder_bound",
    } <= failed
    worst = results["entropy_gradient"]
    assert worst.max_error > worst.tolerance
    assert run_case("entropy_gradient", worst.seed, worst.worst_case) == worst.max_error
    assert "clip_closed_form" not in failed  # unrelated checks are unaffected


def test_wrong_second_order_term_is_caught(monkeypatch):
    """Half the second-order term: the error becomes quadratic (ratio ~1/4, not ~1/8)."""
    right = ENTROPY.second_order_term
    monkeypatch.setattr(ENTROPY, "second_order_term", lambda z, dz: 0.5 * right(z, dz))
    failed = _failed(run_checks(n_cases=20, seed=1))
    assert "second_order_error_cubic" in failed
    assert "first_order_error_quadratic" not in failed


def test_biased_pass_at_k_estimator_is_caught(monkeypatch):
    """The plug-in 1 - (1 - c/n)^k is biased for 1 - (1 - p)^k when k > 1."""
    from simrl.theory import passk

    monkeypatch.setattr(passk, "pass_at_k_unbiased", lambda n, c, k: 1.0 - (1.0 - c / n) ** k)
    assert "pass_at_k_unbiased" in _failed(run_checks(n_cases=20, seed=1))


def test_a_raising_or_nan_closed_form_fails_its_check_and_the_rest_still_run(monkeypatch):
    from simrl.theory import clipping

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(clipping, "expected_clipped_gradient_closed_form", boom)
    monkeypatch.setattr(ENTROPY, "cui_theorem2", lambda z, adv, eta: np.nan)
    results = {r.name: r for r in run_checks(n_cases=3, seed=1)}
    assert results["clip_closed_form"].max_error == np.inf
    assert "RuntimeError: boom" in results["clip_closed_form"].message
    assert np.isnan(results["cui_theorem2"].max_error)
    # every check that calls the closed form fails, and only those
    assert _failed(results.values()) == {
        "clip_closed_form",
        "clip_first_epoch_zero",
        "clip_bias_direction",
        "multi_epoch_enumeration",  # its one-epoch case is the closed form
        "cui_theorem2",
    }


def test_precision_checks_fall_back_to_decimal_without_mpmath(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpmath", None)  # import mpmath raises ImportError
    with pytest.raises(ImportError):
        import mpmath  # noqa: F401
    for name in ("entropy_precision", "log_softmax_precision"):
        assert all(run_case(name, 1, i) <= CHECKS[name].tolerance for i in range(10))


def test_capped_check_says_so(monkeypatch):
    monkeypatch.setitem(
        CHECKS, "entropy_precision", replace(CHECKS["entropy_precision"], max_cases=2)
    )
    results = {r.name: r for r in run_checks(n_cases=4, seed=0)}
    assert results["entropy_precision"].cases == 2 and results["entropy_precision"].capped
    assert results["entropy_gradient"].cases == 4 and not results["entropy_gradient"].capped


@pytest.mark.parametrize(("n_cases", "seed"), [(0, 0), (True, 0), (2.5, 0), (3, -1)])
def test_bad_arguments_raise_config_error(n_cases, seed):
    with pytest.raises(ConfigError):
        run_checks(n_cases, seed)


def test_main_prints_the_table_and_returns_the_status(monkeypatch):
    out = io.StringIO()
    assert main(2, 0, console=Console(file=out, width=200)) == 0
    text = out.getvalue()
    assert all(name in text for name in CHECKS) and "all" in text and "passed" in text

    monkeypatch.setattr(ENTROPY, "entropy_gradient", lambda z: np.zeros_like(z))
    out = io.StringIO()
    assert main(2, 0, console=Console(file=out, width=200)) == 1
    assert "FAIL" in out.getvalue() and "run_case" in out.getvalue()


def test_unknown_check_lists_the_valid_ones():
    with pytest.raises(KeyError, match="valid: entropy_gradient"):
        theory_check.run_case("no_such_check", 0, 0)


def test_a_kernel_without_the_shared_part_is_caught(monkeypatch):
    """Dropping Phi Phi^T from the kernel (the tabular Theorem 1 on a shared policy) fails
    shared_theorem1: the missing spill is first order in the step."""
    shared = sys.modules["simrl.theory.shared"]
    right = shared.kernel_logit_change
    monkeypatch.setattr(
        shared,
        "kernel_logit_change",
        lambda phi, g, eta, tabular=True: right(np.zeros_like(phi), g, eta, tabular),
    )
    assert "shared_theorem1" in _failed(run_checks(n_cases=20, seed=1))
