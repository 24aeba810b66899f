"""The bench's numpy baseline computes the same trajectories as the engine (an honest
baseline), so the speed-up it reports compares like with like."""

import numpy as np

from simrl.bench import numpy_baseline, w1_config
from simrl.engine.batch import RunSpec, run_batch
from simrl.tasks import build_bandit


def test_baseline_matches_engine_on_w1():
    cfg = w1_config(runs=3, steps=15)
    task = build_bandit(cfg.task)
    res = run_batch([RunSpec(cfg, i) for i in range(3)])
    acc_col = res.names.index("acc")
    for i in range(3):
        z, trace = numpy_baseline(cfg, task, i)
        np.testing.assert_allclose(z, res.logits[i], atol=1e-9, rtol=0)
        np.testing.assert_allclose(trace[:, 0], res.metrics[i, 1:, acc_col], atol=1e-9, rtol=0)
