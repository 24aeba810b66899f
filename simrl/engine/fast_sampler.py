"""The rollout sampler on the numba engine: which kernel a batch's chunk calls, and the
sampler's arrays it hands it (kernels/rollout_sampler.py, kernels/seq_rollout_sampler.py).

A batch whose runs have a sampler that differs from pi_old (rollout_sampling.differs)
runs on the sampler kernels; batch.run_batch never puts runs with and without one in the
same kernel call, so a run without one runs (and compiles) the plain kernels only,
bitwise as before.
"""

from __future__ import annotations

import numpy as np

from simrl.rollout_sampling import TIS_MODES, differs


def sampler_arrays(configs, shape: tuple[int, int]):
    """The batch's kernels/rollout_sampler.Sampler (fields per run, and a zeroed staleness
    ring of the batch's largest staleness + 1 slots of `shape` logits, none if no run is
    stale), or None when no run has a sampler."""
    if not any(differs(c.algo) for c in configs):
        return None
    from simrl.engine.kernels.rollout_sampler import Sampler

    fs = np.array(
        [
            [c.algo.temperature, c.algo.top_p, c.algo.tis_clip_min, c.algo.tis_clip_max]
            for c in configs
        ],
        dtype=np.float64,
    ).reshape(len(configs), 4)
    si = np.array(
        [[c.algo.top_k, c.algo.staleness, TIS_MODES.index(c.algo.tis)] for c in configs],
        dtype=np.int64,
    ).reshape(len(configs), 3)
    k = max(c.algo.staleness for c in configs)
    ring = np.zeros((len(configs), k + 1 if k > 0 else 0, *shape))
    return Sampler(fs, si, ring)


def chunk_kernel(plain, family: str, samp, runs: slice):
    """(kernel, extra arguments) of a chunk of the runs `runs`: the plain kernel when the
    batch has no sampler (samp None), else the family's sampler kernel with the runs' rows
    of samp."""
    if samp is None:
        return plain, ()
    from simrl.engine.fast import rows_of

    if family == "bandit":
        from simrl.engine.kernels.rollout_sampler import run_chunk_sampler as kernel
    else:
        from simrl.engine.kernels.seq_rollout_sampler import run_chunk_seq_sampler as kernel
    return kernel, (rows_of(samp, runs),)
