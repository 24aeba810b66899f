"""streams.run_states: every run's PCG64 state computed for all runs at once must be
numpy's (SeedSequence(seed, spawn_key=(replicate,)) -> PCG64), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.config import Config
from simrl.engine.batch import RunSpec
from simrl.engine.kernels.pcg64 import state_of
from simrl.engine.streams import _run_states_vectorised, run_generator, run_states

SEEDS = [0, 1, 7, 2**31, 2**32 - 1, 2**32, 2**63 + 11, 2**64, 2**96 + 3, 2**128 - 1, 2**200 + 9]


def _numpy_state(seed: int, replicate: int) -> np.ndarray:
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(replicate,))))
    return state_of(gen)


@pytest.mark.parametrize("seed", SEEDS)
def test_vectorised_states_are_numpys(seed):
    reps = [*range(40), 2**31, 2**32 - 1, 2**32, 2**40 + 1]
    for group in (reps[:42], reps[42:]):  # runs whose entropy has the same number of words
        got = _run_states_vectorised([seed] * len(group), group)
        want = np.stack([_numpy_state(seed, r) for r in group])
        np.testing.assert_array_equal(got, want)


def test_run_states_of_specs_with_mixed_seeds_and_replicates():
    """Seeds of different sizes in one call (numpy's path) and of one size (all at once)."""
    base = Config.from_dict({})
    for seeds in ([3, 3, 5, 2**40], [2**33, 2**33 + 1]):
        specs = [RunSpec(base.replace(**{"run.seed": s}), r) for s in seeds for r in (0, 1, 9)]
        want = np.stack([state_of(run_generator(s.config, s.replicate)) for s in specs])
        np.testing.assert_array_equal(run_states(specs), want)
