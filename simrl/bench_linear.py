"""`simrl bench`'s W1 with a linear policy (simrl/policy.py; the numba engine's
kernels/linear.py), paired with the tabular W1 in the same process (`simrl bench --linear`,
or `--only linear`, runs that pairing alone)."""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.table import Table

from simrl.bench import W1, _timed, w1_config
from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch

#: W1's policy made linear (simrl/policy.py): random features, d = 16, rho 0.3 between
#: states' feature rows (Gaussian rows: 16 < (64 + 1) 16), strength 1
W1_LINEAR_POLICY = {"kind": "linear", "features": "random_features", "dim": 16, "rho": 0.3}


def w1_linear_config(runs: int, steps: int) -> Config:
    return Config.from_dict(
        {**W1, "policy": W1_LINEAR_POLICY}, {"run.seeds": runs, "run.steps": steps}
    )


def run_bench_linear(
    runs: int, steps: int, repeats: int, console: Console | None = None, tick=lambda: None
) -> dict:
    """W1 with a linear policy (W1_LINEAR_POLICY; kernels/linear.py), paired with the
    tabular W1 in the same process, their repeats interleaved: sampled answers per second
    of each (best of `repeats`) and their ratio. The linear step adds, per minibatch
    update, Phi^T g over the batch's states and z = theta_tab + Phi w and the softmax of
    every state (O(S K d)), and the held-out columns at the step's end."""
    console = console or Console()
    cfgs = {"linear": w1_linear_config(runs, steps), "tabular": w1_config(runs, steps)}
    specs = {k: [RunSpec(c, i) for i in range(runs)] for k, c in cfgs.items()}
    t = time.perf_counter()
    for k in specs:  # compile or load each kernel before timing
        run_batch(specs[k][: min(2, runs)])
    compile_s = time.perf_counter() - t
    tick()
    best = {k: math.inf for k in specs}
    for _ in range(repeats):
        for k in ("linear", "tabular"):
            best[k] = min(best[k], _timed(lambda k=k: run_batch(specs[k])))
            tick()
    c = cfgs["tabular"]
    answers = runs * steps * c.prompts_per_step * c.algo.group_size
    rate = {k: answers / best[k] for k in best}
    table = Table(
        title=f"W1 with policy.kind = 'linear' (random_features, d = 16, rho 0.3); "
        f"{runs} runs x {steps} steps, paired with the tabular W1 (best of {repeats} interleaved)"
    )
    for col in ("policy", "seconds", "answers/s", "linear / tabular"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for k in ("linear", "tabular"):
        ratio = f"{rate['linear'] / rate['tabular']:.2f}" if k == "linear" else ""
        table.add_row(k, f"{best[k]:.3f}", f"{rate[k]:.3g}", ratio)
    console.print(table)
    console.print(f"numba compile or cache load (excluded above): {compile_s:.2f} s")
    return {**rate, "ratio": rate["linear"] / rate["tabular"], "compile_s": compile_s}
