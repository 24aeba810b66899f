"""theory.decomposition: the telescoping identity, the shares, and the paired bootstrap."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from simrl.theory.decomposition import SHARES, TERMS, decompose, decompose_with_ci

ACC = st.floats(0.0, 1.0, allow_nan=False, width=64)
CONDITIONS = ("true", "random", "frozen", "self_consistency")


@st.composite
def accuracies(draw, min_seeds: int = 1, max_seeds: int = 20) -> dict[str, np.ndarray]:
    """Per-seed accuracies for the four conditions, seeds shared: name -> (n,)."""
    n = draw(st.integers(min_seeds, max_seeds))
    return {name: draw(arrays(np.float64, n, elements=ACC)) for name in CONDITIONS}


@st.composite
def correlated_accuracies(draw) -> dict[str, np.ndarray]:
    """A seed effect shared by every condition, much larger than each run's own noise."""
    n = draw(st.integers(8, 40))
    seed_sd = draw(st.floats(0.05, 0.3))
    noise_sd = draw(st.floats(0.0, 0.2)) * seed_sd
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return _shared_seed_data(rng, n, seed_sd, noise_sd)


def _shared_seed_data(rng, n, seed_sd, noise_sd) -> dict[str, np.ndarray]:
    shared = rng.normal(0.0, seed_sd, n)  # (n,): seed i is hard or easy in every condition
    means = {"true": 0.7, "random": 0.5, "frozen": 0.45, "self_consistency": 0.6}
    return {k: m + shared + rng.normal(0.0, noise_sd, n) for k, m in means.items()}


def _mean(x: np.ndarray) -> float:
    return math.fsum(x) / len(x)


@given(accuracies())
def test_terms_telescope_to_the_total(acc):
    d = decompose(acc)
    m = {k: _mean(v) for k, v in acc.items()}
    scale = 8 * np.finfo(np.float64).eps  # accuracies are <= 1: a few ulp of 1
    assert abs(d.null + d.elicitation + d.reward_design - d.total) <= scale
    assert abs(d.elicitation + d.reward_design - d.naive) <= scale
    assert abs(d.bias - d.elicitation) <= scale
    assert abs(d.total - (m["true"] - m["frozen"])) <= scale
    assert abs(d.null - (m["random"] - m["frozen"])) <= scale
    assert abs(d.elicitation - (m["self_consistency"] - m["random"])) <= scale
    assert abs(d.reward_design - (m["true"] - m["self_consistency"])) <= scale
    assert d.n_seeds == len(acc["true"]) and d.anchor == "self_consistency"


@given(accuracies())
def test_shares_of_the_naive_estimate_sum_to_one(acc):
    d = decompose(acc)
    assume(abs(d.naive) > 1e-6)
    assert abs(d.share_elicitation + d.share_reward_design - 1.0) <= 1e-14 / abs(d.naive)
    assert d.share_elicitation == pytest.approx(d.elicitation / d.naive)


def test_shares_are_nan_when_naive_is_zero():
    acc = {
        "true": [0.5, 0.6],
        "random": [0.5, 0.6],
        "frozen": [0.4, 0.4],
        "self_consistency": [0.55, 0.5],
    }
    d = decompose(acc)
    assert d.naive == 0 and np.isnan(d.share_elicitation) and np.isnan(d.share_reward_design)
    res = decompose_with_ci(acc, n_boot=50)
    assert all(np.isnan(res.ci[s]).all() for s in SHARES)
    assert np.isfinite(res.ci["naive"]).all()


def _unpaired_ci(acc, hi, lo, n_boot, alpha, rng):
    """Reference: resample each condition's seeds independently (wrong for shared seeds)."""
    n = len(acc[hi])
    boot_hi = acc[hi][rng.integers(0, n, (n_boot, n))].mean(axis=1)
    boot_lo = acc[lo][rng.integers(0, n, (n_boot, n))].mean(axis=1)
    return np.quantile(boot_hi - boot_lo, [alpha / 2, 1 - alpha / 2])


@given(correlated_accuracies())
def test_paired_ci_is_narrower_than_unpaired_under_shared_seed_effects(acc):
    res = decompose_with_ci(acc, n_boot=400, seed=1)
    rng = np.random.default_rng(2)
    for term, (hi, lo) in {"naive": ("true", "random"), "total": ("true", "frozen")}.items():
        paired = np.diff(res.ci[term])[0]
        unpaired = np.diff(_unpaired_ci(acc, hi, lo, 400, 0.05, rng))[0]
        # noise sd <= 0.2 seed sd: the paired sd is <= ~0.2 of the unpaired one
        assert paired < 0.5 * unpaired, (term, paired, unpaired)


def test_paired_bootstrap_applies_one_draw_to_every_condition():
    """If true - random is the same on every seed, every paired replicate of naive equals it."""
    rng = np.random.default_rng(3)
    base = rng.uniform(0.2, 0.6, 15)
    acc = {
        "true": base + 0.25,
        "random": base,
        "frozen": base - 0.1,
        "self_consistency": base + 0.1,
    }
    res = decompose_with_ci(acc, n_boot=300)
    for term, value in {
        "naive": 0.25,
        "total": 0.35,
        "null": 0.1,
        "elicitation": 0.1,
        "reward_design": 0.15,
    }.items():
        np.testing.assert_allclose(res.ci[term], [value, value], atol=1e-12)
    np.testing.assert_allclose(res.ci["share_elicitation"], [0.4, 0.4], atol=1e-12)
    assert all(res.se[t] < 1e-12 for t in TERMS)


def test_delta_se_is_the_paired_formula_and_matches_the_bootstrap():
    n = 40
    acc = _shared_seed_data(np.random.default_rng(4), n, seed_sd=0.1, noise_sd=0.03)
    res = decompose_with_ci(acc, n_boot=4000, seed=5)
    assert set(res.ci) == set(TERMS + SHARES) and set(res.se) == set(TERMS)
    sd = np.std(acc["true"] - acc["random"], ddof=1)
    assert res.se["naive"] == pytest.approx(sd / np.sqrt(n), rel=1e-12)
    assert res.se["bias"] == pytest.approx(res.se["elicitation"], rel=1e-12)
    # the bootstrap's spread is the plug-in one: sd sqrt((n - 1) / n) / sqrt(n)
    for term in TERMS:
        half = np.diff(res.ci[term])[0] / 2
        want = 1.96 * res.se[term] * np.sqrt((n - 1) / n)
        assert 0.85 < half / want < 1.15, (term, half, want)
    # the percentile interval sits around the point estimate
    for term in TERMS:
        lo, hi = res.ci[term]
        assert lo < getattr(res.estimate, term) < hi


def test_bootstrap_is_reproducible_from_its_seed():
    rng = np.random.default_rng(6)
    acc = {k: rng.uniform(0, 1, 12) for k in CONDITIONS}
    a, b, c = (decompose_with_ci(acc, n_boot=200, seed=s) for s in (7, 7, 8))
    assert a.ci == b.ci and a.ci != c.ci
    assert a.estimate == decompose(acc)


def test_another_anchor_and_extra_conditions():
    acc = {
        "true": [0.8, 0.7],
        "random": [0.5, 0.5],
        "frozen": [0.4, 0.4],
        "format": [0.6, 0.6],
        "noisy": [0.1, 0.2],
    }
    d = decompose(acc, anchor="format")
    assert d.anchor == "format"
    np.testing.assert_allclose([d.elicitation, d.reward_design], [0.1, 0.15])


@pytest.mark.parametrize("fn", [decompose, decompose_with_ci])
def test_missing_conditions_are_named(fn):
    acc = {"true": [0.5, 0.6], "frozen": [0.4, 0.4]}
    with pytest.raises(ValueError, match=r"missing conditions \['random', 'self_consistency'\]"):
        fn(acc)
    with pytest.raises(ValueError, match="'true', 'random', 'frozen', 'format'"):
        fn(acc, anchor="format")


@pytest.mark.parametrize("fn", [decompose, decompose_with_ci])
def test_conditions_must_share_seeds(fn):
    acc = {k: [0.5, 0.6, 0.7] for k in CONDITIONS}
    acc["random"] = [0.5, 0.6]
    with pytest.raises(ValueError, match="conditions must share seeds"):
        fn(acc)


@pytest.mark.parametrize(
    "change, kwargs, match",
    [
        ({"true": [0.5, np.nan]}, {}, "finite"),
        ({"true": [[0.5, 0.6]]}, {}, "1-D"),
        ({}, {"anchor": "true"}, "correctness"),
        ({k: [0.5] for k in CONDITIONS}, {}, "at least 2 seeds"),
        ({}, {"alpha": 0.0}, "alpha"),
        ({}, {"n_boot": 0}, "n_boot"),
    ],
)
def test_bad_input_is_refused(change, kwargs, match):
    acc = {k: [0.5, 0.6] for k in CONDITIONS} | change
    with pytest.raises(ValueError, match=match):
        decompose_with_ci(acc, **kwargs)
