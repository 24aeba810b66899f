"""Can the bandit run as a length-1 sequence task at W1's speed? (issue 15, item 4)

W1's bandit task is built again as a SequenceTask (one state per prompt with the base
policy's probabilities, one token per answer, each ending the response at its answer's
leaf) and run on the sequence kernels, timed alternately with the same config on the
bandit kernels, best of `repeats` each, one thread. The two draw different uniforms (a
sequence response draws one per position plus the end), so their trajectories are the
same process but not the same numbers.

    NUMBA_NUM_THREADS=1 python -m simrl.bench_bandit_as_sequence [runs steps repeats]

docs/performance.md has the measured ratio and what it decided.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from simrl.bench import w1_config
from simrl.engine.batch import RunSpec, run_batch
from simrl.tasks import build_task
from simrl.tasks.sequence import GraphBuilder, SequenceTask


def bandit_as_sequence(bandit) -> SequenceTask:
    """The bandit task as a SequenceTask of length-1 responses."""
    S, K = bandit.shape
    g = GraphBuilder(S, K)
    for s in range(S):
        pi = np.exp(bandit.base_logits[s] - bandit.base_logits[s].max())
        root = g.state(s, pi / pi.sum())
        g.root(s, root)
        for a in range(K):
            g.connect_leaf(root, a, g.leaf(s, answer=a))
    return g.build([list(np.flatnonzero(bandit.correct[s])) for s in range(S)])


def compare(runs: int, steps: int, repeats: int) -> tuple[float, float]:
    """(bandit kernels seconds, sequence kernels seconds), best of `repeats`, alternating."""
    cfg = w1_config(runs, steps)
    seq_task = bandit_as_sequence(build_task(cfg.task))
    seq_cfg = cfg.replace(**{"task.kind": "sequence"})
    bandit = [RunSpec(cfg, r) for r in range(runs)]
    sequence = [RunSpec(seq_cfg, r, task=seq_task) for r in range(runs)]
    run_batch(bandit[:2])  # compile or cache load, untimed
    run_batch(sequence[:2])
    tb = ts = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        run_batch(bandit)
        tb = min(tb, time.perf_counter() - t)
        t = time.perf_counter()
        run_batch(sequence)
        ts = min(ts, time.perf_counter() - t)
    return tb, ts


if __name__ == "__main__":
    runs, steps, repeats = (int(a) for a in (sys.argv[1:4] or (64, 100, 5)))
    tb, ts = compare(runs, steps, repeats)
    print(f"W1 {runs} runs x {steps} steps: bandit kernels {tb:.3f} s, sequence kernels {ts:.3f} s")
    print(f"sequence / bandit: {ts / tb:.2f}")
