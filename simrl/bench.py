"""`simrl bench`: sampled answers per second on workload W1, against a per-run numpy baseline.

W1: bandit, 64 prompts x 16 answers, 1 correct, prior_strength 0.3, group_size 8, all
64 prompts every step, vanilla loss with clip 0.2, 2 epochs, sgd lr 0.5, 256 runs x 200
steps, accuracy and entropy every step.

The baseline is what one would write without simrl: a plain numpy implementation of the
same math, one run at a time, vectorised over (prompts, answers). It draws the same
uniforms from the same per-run generators, so it computes the same trajectories as the
engine (tests/test_bench.py holds them equal). Numba's compile (or cache load) time is
measured separately and excluded from the rates.
"""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console
from rich.table import Table

from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch
from simrl.engine.streams import run_generator
from simrl.tasks import BanditTask, build_bandit
from theory import log_softmax

W1 = {
    "task": {"num_prompts": 64, "num_answers": 16, "num_correct": 1, "prior_strength": 0.3},
    "reward": {"kind": "true"},
    "algo": {
        "group_size": 8,
        "prompts_per_step": 0,
        "loss": "vanilla",
        "clip_low": 0.2,
        "clip_high": 0.2,
        "epochs": 2,
        "advantage": "grpo",
    },
    "optim": {"kind": "sgd", "lr": 0.5},
    "run": {"eval_every": 1, "passk": [1]},
}


def w1_config(runs: int, steps: int) -> Config:
    return Config.from_dict(W1, {"run.seeds": runs, "run.steps": steps})


def numpy_baseline(
    config: Config, task: BanditTask, replicate: int
) -> tuple[np.ndarray, np.ndarray]:
    """One W1 run in plain numpy. Returns (final logits (S, K), accuracy and entropy per step)."""
    a = config.algo
    S, K = task.shape
    G, lr = a.group_size, config.optim.lr
    gen = run_generator(config, replicate)
    z = task.base_logits.copy()
    rows = np.repeat(np.arange(S), G)  # state of each sampled answer
    trace = np.empty((config.run.steps, 2))
    for t in range(config.run.steps):
        logp_old = log_softmax(z)
        u = gen.random(S * G).reshape(S, G)
        cdf = np.cumsum(np.exp(logp_old), axis=1)
        answers = (cdf[:, None, :-1] <= u[:, :, None]).sum(axis=2)  # inverse CDF, (S, G)
        r = task.correct[np.arange(S)[:, None], answers].astype(float)
        adv = (r - r.mean(1, keepdims=True)) / (
            r.std(1, ddof=a.std_ddof, keepdims=True) + a.std_eps
        )
        adv, ans = adv.ravel(), answers.ravel()
        lp_old = logp_old[rows, ans]
        for _ in range(a.epochs):
            logp = log_softmax(z)
            ratio = np.exp(logp[rows, ans] - lp_old)
            clipped = ((adv > 0) & (ratio > 1 + a.clip_high)) | (
                (adv < 0) & (ratio < 1 - a.clip_low)
            )
            coef = np.where(clipped, 0.0, -adv * ratio) / (S * G)  # token-mean weights
            grad = np.bincount(rows * K + ans, weights=coef, minlength=S * K).reshape(S, K)
            grad -= np.bincount(rows, weights=coef, minlength=S)[:, None] * np.exp(logp)
            z = z - lr * grad
        logp = log_softmax(z)
        pi = np.exp(logp)
        trace[t] = (pi * task.correct).sum(1).mean(), -(pi * logp).sum(1).mean()
    return z, trace


def run_bench(
    runs: int, steps: int, baseline_runs: int, repeats: int, console: Console | None = None
) -> dict:
    console = console or Console()
    config = w1_config(runs, steps)
    task = build_bandit(config.task)
    specs = [RunSpec(config, i) for i in range(runs)]
    answers_per_run = steps * config.prompts_per_step * config.algo.group_size

    t = time.perf_counter()
    run_batch([RunSpec(w1_config(2, 2), i) for i in range(2)])
    compile_s = time.perf_counter() - t

    audit_specs = [RunSpec(config.replace(**{"run.audit": True}), i) for i in range(runs)]
    run_batch(audit_specs[:2])  # compile the audit's code path
    # interleaved, so that a slow spell of a shared machine hits both alike; best of each
    times = [
        (_timed(lambda: run_batch(specs)), _timed(lambda: run_batch(audit_specs)))
        for _ in range(repeats)
    ]
    fast_s, audit_s = (min(t) for t in zip(*times, strict=True))
    n_base = min(baseline_runs, runs)
    base_s = min(
        _timed(lambda: [numpy_baseline(config, task, i) for i in range(n_base)])
        for _ in range(repeats)
    )
    n_ref = min(2, runs)
    ref_cfg = w1_config(n_ref, min(steps, 20))
    ref_s = _timed(
        lambda: run_batch([RunSpec(ref_cfg, i) for i in range(n_ref)], engine="reference")
    )

    rates = {
        "simrl (numba, all cores)": (runs, steps, fast_s, runs * answers_per_run / fast_s),
        "simrl, run.audit = true": (runs, steps, audit_s, runs * answers_per_run / audit_s),
        "per-run numpy baseline": (n_base, steps, base_s, n_base * answers_per_run / base_s),
        "simrl numpy reference": (
            n_ref,
            ref_cfg.run.steps,
            ref_s,
            n_ref * ref_cfg.run.steps * config.prompts_per_step * config.algo.group_size / ref_s,
        ),
    }
    base_rate = rates["per-run numpy baseline"][3]
    table = Table(
        title=f"W1: bandit 64x16, G=8, vanilla clip 0.2, 2 epochs, sgd; {runs} runs x {steps} steps"
    )
    for col in ("engine", "runs", "steps", "seconds", "answers/s", "vs baseline"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    for name, (n, st, secs, rate) in rates.items():
        table.add_row(
            name, str(n), str(st), f"{secs:.3f}", f"{rate:.3g}", f"{rate / base_rate:.1f}x"
        )
    console.print(table)
    console.print(
        f"numba compile or cache load (excluded above): {compile_s:.2f} s; "
        f"best of {repeats} timed repeats for simrl and the baseline; the audit costs {audit_s / fast_s:.2f}x"
    )
    return {"compile_s": compile_s, **{k: v[3] for k, v in rates.items()}}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
