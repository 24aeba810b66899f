"""The kernels' PCG64 draws numpy's stream bitwise, fast_exp is exp to an ulp, and
fast_exp_nonpos is fast_exp bitwise on x <= 0."""

import numpy as np
import pytest
from numba import njit

from simrl.engine.kernels.fastmath import fast_exp, fast_exp_nonpos
from simrl.engine.kernels.pcg64 import next_double, state_of


@njit
def _draw(st, out):
    for i in range(out.size):
        out[i] = next_double(st)


@njit
def _exp(x, out):
    for i in range(x.size):
        out[i] = fast_exp(x[i])


@njit
def _exp_nonpos(x, out):
    for i in range(x.size):
        out[i] = fast_exp_nonpos(x[i])


@pytest.mark.parametrize("seed, key", [(0, (0,)), (1, (7,)), (2**63, (123456,)), (42, ())])
def test_pcg64_matches_numpy_bitwise(seed, key):
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))
    st = state_of(gen)
    ours = np.empty(100_003)
    _draw(st, ours)
    np.testing.assert_array_equal(ours, gen.random(ours.size))
    np.testing.assert_array_equal(st, state_of(gen))  # and it leaves the same state


def test_state_of_refuses_other_bit_generators():
    with pytest.raises(TypeError, match="PCG64"):
        state_of(np.random.Generator(np.random.Philox(0)))


def test_fast_exp_is_within_an_ulp_of_numpy():
    x = np.concatenate(
        [np.random.default_rng(0).uniform(-708, 709.7, 200_000), np.linspace(-50, 5, 10_001)]
    )
    out = np.empty_like(x)
    _exp(x, out)
    ref = np.exp(x)
    assert (np.abs(out - ref) <= 2 * np.spacing(ref)).all()


def test_fast_exp_edges():
    x = np.array([0.0, -0.0, 1.0, -745.2, -709.0, 709.78, 710.0, np.inf, -np.inf, np.nan])
    out = np.empty_like(x)
    _exp(x, out)
    assert out[0] == out[1] == 1.0 and out[2] == np.exp(1.0)
    assert out[3] == 0.0 and 0 <= out[4] < 2.3e-308  # below the normal range: 0
    assert out[5] == np.exp(709.78) and out[6] == np.inf and out[7] == np.inf and out[8] == 0.0
    assert np.isnan(out[9])


def test_fast_exp_nonpos_is_fast_exp_bitwise_on_nonpositive_x():
    rng = np.random.default_rng(1)
    scale = rng.choice([1e-300, 1e-8, 1.0, 30.0, 300.0, 710.0], size=400_000)
    edges = [0.0, -0.0, -5e-324, -708.0, -708.3964185322641, -708.4, -709.0, -745.2, -746.0]
    x = np.concatenate([-np.abs(rng.normal(size=scale.size)) * scale, edges, [-np.inf, np.nan]])
    ours, ref = np.empty_like(x), np.empty_like(x)
    _exp_nonpos(x, ours)
    _exp(x, ref)
    np.testing.assert_array_equal(ours.view(np.int64), ref.view(np.int64))
