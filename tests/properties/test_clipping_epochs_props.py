"""theory.clipping_epochs: the exact expected E-epoch clipped step, by enumeration.

One epoch reproduces theory/clipping.py's closed form; every epoch count matches a brute
force over ordered groups and Monte Carlo; with clipping off the result is the unclipped
multi-step map (the same brute force at eps = inf); the split into the multi-epoch and
clipping effects telescopes.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from theory.clipping import expected_clipped_gradient_closed_form
from theory.clipping_epochs import (
    expected_multi_epoch,
    monte_carlo_multi_epoch,
    multi_epoch_bias,
    multi_epoch_by_sequences,
)


def _floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def settings_(draw, clip: bool = True):
    k = draw(st.integers(2, 3))
    eps = (draw(_floats(0.05, 0.5)), draw(_floats(0.05, 0.5))) if clip else (np.inf, np.inf)
    return dict(
        z_old=draw(arrays(np.float64, k, elements=_floats(-2.0, 2.0))),
        G=draw(st.integers(2, 3)),
        p=draw(st.one_of(st.sampled_from([0.0, 0.5]), _floats(0.0, 1.0))),
        lr=draw(_floats(0.1, 2.0)),
        epochs=draw(st.integers(1, 3)),
        eps_low=eps[0],
        eps_high=eps[1],
        advantage=draw(st.sampled_from(["grpo", "dr_grpo"])),
    )


@given(settings_(), arrays(np.float64, 3, elements=_floats(-1.0, 1.0)))
def test_one_epoch_is_the_closed_form(s, delta):
    z_start = s["z_old"] + delta[: s["z_old"].size]
    got = expected_multi_epoch(**{**s, "epochs": 1}, z_start=z_start)
    cf = expected_clipped_gradient_closed_form(
        s["z_old"], z_start, s["G"], s["p"], s["eps_low"], s["eps_high"], s["advantage"]
    )
    np.testing.assert_allclose(got, z_start - s["lr"] * cf, atol=1e-12)


@given(settings_(clip=False))
def test_clipping_off_is_the_unclipped_multi_step_map(s):
    np.testing.assert_allclose(expected_multi_epoch(**s), multi_epoch_by_sequences(**s), atol=1e-12)


@given(settings_())
def test_enumeration_equals_brute_force_over_ordered_groups(s):
    np.testing.assert_allclose(expected_multi_epoch(**s), multi_epoch_by_sequences(**s), atol=1e-12)


@pytest.mark.parametrize("clip", [(0.2, 0.28), (np.inf, np.inf)])
def test_against_monte_carlo(clip):
    z = np.log(np.array([0.6, 0.3, 0.1]))
    args = (z, 4, 0.5, 1.5, 3, *clip)
    exact = expected_multi_epoch(*args)
    mc, se = monte_carlo_multi_epoch(*args, n_samples=100_000, rng=np.random.default_rng(7))
    assert np.all(np.abs(mc - exact) < 5 * se + 1e-12)


@given(settings_())
def test_the_bias_split_telescopes(s):
    b = multi_epoch_bias(**s)
    assert abs(b.base + b.multi_epoch_effect + b.clipping_effect - b.clipped) < 1e-12
    if s["epochs"] == 1:  # first epoch: ratio 1, nothing clips
        assert abs(b.clipping_effect) < 1e-12


def test_documented_example():
    # theory/NOTES.md "Several epochs, exactly": pi_old = (0.6, 0.3, 0.1), G = 8, p = 0.5,
    # lr 1, clip 0.2: unclipped epochs lower pi(top), clipping gives most of it back
    b = multi_epoch_bias(np.log(np.array([0.6, 0.3, 0.1])), 8, 0.5, 1.0, 4, 0.2, 0.2)
    assert b.multi_epoch_effect < -0.04 and b.clipping_effect > 0.04
    assert b.clipped < b.base
