"""`simrl bench`: sampled answers per second on workload W1, against a per-run numpy baseline,
then sampled tokens per second on the sequence workload W2.

W1: bandit, 64 prompts x 16 answers, 1 correct, prior_strength 0.3, group_size 8, all
64 prompts every step, vanilla loss with clip 0.2, 2 epochs, sgd lr 0.5, 256 runs x 200
steps, accuracy and entropy every step.

W2: sequence task (the built-in reasoning family), 64 prompts, 6 modes (a shared mode
row), vocab 8, 6 reasoning tokens with a fork at position 1, an answer token over 8
values (answer = 'policy'; max_len 8, every row 8 wide), group_size 8, vanilla loss with
clip 0.2, 2 epochs, sgd lr 0.5, 256 runs x 200 steps, exact accuracy, entropy and every
other sequence metric every step (eval_every = 1, dynamic programming over the task's
4672 states). Its rate counts the tokens actually sampled (each once, however many
epochs reuse them). Building the task (Python, once per batch) is timed apart, like
numba's compile.

Each workload is timed alternately with its speed-of-light kernel (simrl/bench_sol.py:
the unavoidable work only, no metrics), and the bench prints simrl's rate as a fraction
of it; then the peer sweep (simrl/bench_peer.py). `simrl bench --against REV` times W1
and W2 against a fixed git revision instead (simrl/bench_against.py).
W1 linear: W1 with policy.kind = 'linear' (random_features, d = 16, rho 0.3; the numba
engine's linear policy, kernels/linear.py), paired with the tabular W1 in the same process
(`run_bench_linear`; `simrl bench --linear` runs that pairing alone).

`simrl bench --loss NAME` times one policy loss instead: W1 with `algo.loss = NAME` and
W1 with the default loss (vanilla) in the same process, their repeats interleaved, best
of each, and the ratio NAME / default of their answers per second (`run_bench_loss`).
Every registered loss runs on W1: a per-response loss (`sequence_level`: gspo, gmpo,
opsm, luspo, vespo) sees the bandit's responses of length 1, where its response ratio
is the token ratio. Because that leaves its per-response code with nothing to do, such a
loss is also timed on W2 (sequences of 8 tokens) against vanilla on W2, in sampled
tokens per second. The loss keeps W1's clip 0.2 and its own fields' defaults: a speed
measurement, not the loss's recommended settings (see `simrl recipes`).

The baseline is what one would write without simrl: a plain numpy implementation of the
same math, one run at a time, vectorised over (prompts, answers). It draws the same
uniforms from the same per-run generators, so it computes the same trajectories as the
engine (tests/test_bench.py holds them equal). Numba's compile (or cache load) time is
measured separately and excluded from the rates.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from simrl.config import Config
from simrl.engine.batch import BatchResult, RunSpec, run_batch
from simrl.engine.streams import run_generator
from simrl.tasks import BanditTask, build_bandit, build_task
from simrl.theory import log_softmax

#: the update both workloads time: GRPO, vanilla clip 0.2, 2 epochs, sgd, metrics every step
UPDATE = {
    "reward": {"kind": "true"},
    "algo": {
        "group_size": 8,
        "loss": "vanilla",
        "clip_low": 0.2,
        "clip_high": 0.2,
        "epochs": 2,
        "advantage": "grpo",
    },
    "optim": {"kind": "sgd", "lr": 0.5},
    "run": {"eval_every": 1, "passk": [1]},
}

W1 = {
    "task": {"num_prompts": 64, "num_answers": 16, "num_correct": 1, "prior_strength": 0.3},
    **UPDATE,
    "algo": {**UPDATE["algo"], "prompts_per_step": 0},
}


W2 = {
    "task": {
        "kind": "sequence",
        "num_prompts": 64,
        "num_modes": 6,
        "mode_accuracy": [0.8, 0.65, 0.5, 0.4, 0.3, 0.2],
        "vocab": 8,
        "reasoning_tokens": 6,
        "answer": "policy",
        "num_answers": 8,
    },
    **UPDATE,
}


def w1_config(runs: int, steps: int) -> Config:
    return Config.from_dict(W1, {"run.seeds": runs, "run.steps": steps})


def w2_config(runs: int, steps: int) -> Config:
    return Config.from_dict(W2, {"run.seeds": runs, "run.steps": steps})


def sampled_tokens(result: BatchResult) -> float:
    """Tokens a batch of sequence runs sampled: each row's mean tokens per response times
    the responses per step and the steps the row covers (recorded rows only; with
    eval_every = 1 every step is a row)."""
    cfg = result.specs[0].config
    per_step = cfg.prompts_per_step * cfg.algo.group_size
    col = result.names.index("tokens_per_response")
    steps = np.diff(result.row_steps)  # (rows - 1,) steps each row averages
    return float((np.nan_to_num(result.metrics[:, 1:, col]) * steps).sum() * per_step)


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


def cpu_model() -> str:
    """The CPU's name: /proc/cpuinfo on Linux, sysctl on macOS, else platform's guess."""
    import platform
    import subprocess

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True, text=True, timeout=5, check=False,
            ).stdout.strip()  # fmt: skip
            if out:
                return out
        except OSError:
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def host_line() -> str:
    """What the figures were measured on: CPU model, cores, numba's threads and the load
    average (a busy host reads slow: compare the load with the core count)."""
    import os

    import numba

    cores = os.cpu_count() or 0
    try:
        load = "load average {:.2f}, {:.2f}, {:.2f} (1, 5, 15 min)".format(*os.getloadavg())
    except (OSError, AttributeError):
        load = "load average unavailable"
    return f"host: {cpu_model()}, {cores} cores, numba threads {numba.get_num_threads()}; {load}"


#: the parts of the full bench, in order, and each one's timed phases for `repeats`
PARTS = {
    "w1": lambda r: 4 * r + 4,
    "w2": lambda r: 2 * r + 4,
    "peer": lambda r: r + 1,
    "linear": lambda r: 2 * r + 1,
}


def run_bench(
    runs: int,
    steps: int,
    baseline_runs: int,
    repeats: int,
    console: Console | None = None,
    progress=None,
    only: tuple[str, ...] = tuple(PARTS),
) -> dict:
    """W1 then W2, each paired with its speed-of-light kernel (bench_sol.py), the peer
    sweep, then W1 with a linear policy (`only`: those of PARTS, in PARTS' order);
    `progress(done, total)` counts the timed phases (9 * repeats + 10 for all four)."""
    console = console or Console()
    total, done = sum(PARTS[p](repeats) for p in only), [0]

    def tick() -> None:
        done[0] += 1
        if progress:
            progress(done[0], total)

    host_before = host_line()
    console.print(host_before)
    out: dict = {"host": host_before}
    if "w1" in only:
        out.update(run_bench_w1(runs, steps, baseline_runs, repeats, console, tick))
    if "w2" in only:
        out["w2"] = run_bench_w2(runs, steps, repeats, console, tick)
    if "peer" in only:
        from simrl.bench_peer import run_bench_peer

        out["peer_sweep"] = run_bench_peer(repeats, console, tick, steps)
    if "linear" in only:
        from simrl.bench_linear import run_bench_linear

        out["w1_linear"] = run_bench_linear(runs, steps, repeats, console, tick)
    out["host_after"] = host_line()
    console.print(out["host_after"].replace("host:", "after the bench:", 1))
    return out


def run_bench_w1(
    runs: int, steps: int, baseline_runs: int, repeats: int, console: Console, tick
) -> dict:
    """W1 on the numba engine, with run.audit, and its speed-of-light kernel, alternately
    (best of `repeats` each); the per-run numpy baseline and the numpy reference for scale."""
    from simrl.bench_sol import fraction_line, light_fraction, w1_light, w1_light_inputs

    config = w1_config(runs, steps)
    task = build_bandit(config.task)
    specs = [RunSpec(config, i) for i in range(runs)]
    answers_per_run = steps * config.prompts_per_step * config.algo.group_size

    t = time.perf_counter()
    run_batch([RunSpec(w1_config(2, 2), i) for i in range(2)])
    compile_s = time.perf_counter() - t
    tick()

    audit_specs = [RunSpec(config.replace(**{"run.audit": True}), i) for i in range(runs)]
    run_batch(audit_specs[:2])  # compile the audit's code path
    tick()
    light_args = w1_light_inputs(config, range(runs))
    w1_light(*w1_light_inputs(w1_config(2, 2), range(2)))  # compile or load the kernel
    tick()
    # interleaved, so that a slow spell of a shared machine hits all alike; best of each
    times = []
    for _ in range(repeats):
        times.append(
            (
                _timed(lambda: run_batch(specs)),
                _timed(lambda: run_batch(audit_specs)),
                _timed(lambda: w1_light(*light_args)),
            )
        )
        tick()
        tick()
        tick()
    fast_s, audit_s, light_s = (min(t) for t in zip(*times, strict=True))
    w1_frac = light_fraction([t[0] for t in times], [t[2] for t in times])
    n_base = min(baseline_runs, runs)
    base_s = math.inf
    for _ in range(repeats):
        base_s = min(
            base_s, _timed(lambda: [numpy_baseline(config, task, i) for i in range(n_base)])
        )
        tick()
    n_ref = min(2, runs)
    ref_cfg = w1_config(n_ref, min(steps, 20))
    ref_s = _timed(
        lambda: run_batch([RunSpec(ref_cfg, i) for i in range(n_ref)], engine="reference")
    )
    tick()

    rates = {
        "speed of light (no metrics)": (runs, steps, light_s, runs * answers_per_run / light_s),
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
    console.print(fraction_line("W1", w1_frac))
    return {
        "compile_s": compile_s,
        **{k: v[3] for k, v in rates.items()},
        "w1_light_fraction": w1_frac,
    }


def run_bench_w2(runs: int, steps: int, repeats: int, console: Console, tick=lambda: None) -> dict:
    """Workload W2 on the numba engine paired with its speed-of-light kernel (bench_sol.py,
    alternately, best of `repeats` each), and the numpy reference on a few steps for scale.
    Returns its rates in sampled tokens per second and the fraction."""
    from simrl.bench_sol import fraction_line, light_fraction, w2_light, w2_light_inputs

    config = w2_config(runs, steps)
    t = time.perf_counter()
    task = build_task(config.task)
    build_s = time.perf_counter() - t
    tick()
    specs = [RunSpec(config, i, task=task) for i in range(runs)]
    t = time.perf_counter()
    run_batch([RunSpec(w2_config(2, 2), i, task=task) for i in range(2)])
    compile_s = time.perf_counter() - t
    tick()
    light_args = w2_light_inputs(config, range(runs), task)
    w2_light(*w2_light_inputs(w2_config(2, 2), range(2), task))  # compile or load the kernel
    tick()
    times, result, light_tokens = [], None, 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        result = run_batch(specs)
        fast_t = time.perf_counter() - t
        tick()
        t = time.perf_counter()
        light_tokens = float(w2_light(*light_args)[1].sum())
        times.append((fast_t, time.perf_counter() - t))
        tick()
    fast_s, light_s = (min(t) for t in zip(*times, strict=True))
    frac = light_fraction([t[0] for t in times], [t[1] for t in times])
    tokens = sampled_tokens(result)
    ref_steps = min(steps, 2)
    t = time.perf_counter()
    ref = run_batch([RunSpec(w2_config(1, ref_steps), 0, task=task)], engine="reference")
    ref_s = time.perf_counter() - t
    tick()
    rates = {
        "speed of light (no metrics)": (runs, steps, light_s, light_tokens / light_s),
        "simrl (numba, all cores)": (runs, steps, fast_s, tokens / fast_s),
        "simrl numpy reference": (1, ref_steps, ref_s, sampled_tokens(ref) / ref_s),
    }
    table = Table(
        title=f"W2: sequence 64 prompts, 6 modes, vocab 8, max_len 8, G=8, vanilla, 2 epochs, "
        f"sgd, exact metrics every step; {runs} runs x {steps} steps"
    )
    for col in ("engine", "runs", "steps", "seconds", "sampled tokens/s"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    for name, (n, st, secs, rate) in rates.items():
        table.add_row(name, str(n), str(st), f"{secs:.3f}", f"{rate:.3g}")
    console.print(table)
    console.print(
        f"{tokens:.4g} tokens sampled; task construction {build_s:.2f} s and numba compile or "
        f"cache load {compile_s:.2f} s (excluded above); best of {repeats} timed repeats"
    )
    console.print(fraction_line("W2", frac))
    return {
        "build_s": build_s,
        "compile_s": compile_s,
        **{k: v[3] for k, v in rates.items()},
        "light_fraction": frac,
    }


def check_loss(name: str) -> None:
    """--loss NAME must be a registered policy loss (one line, exit 2, before any work)."""
    from simrl.algorithms.losses import POLICY_LOSSES
    from simrl.errors import ConfigError

    if name not in POLICY_LOSSES:
        raise ConfigError("--loss", name, "a policy loss: one of " + ", ".join(POLICY_LOSSES.names))


def run_bench_loss(
    loss: str, runs: int, steps: int, repeats: int, console: Console | None = None
) -> dict:
    """W1 with `algo.loss = loss` paired with W1's default loss (vanilla): answers/s of each,
    best of `repeats` interleaved repeats, and their ratio; a sequence-level loss also on
    W2 (sampled tokens/s) paired with vanilla on W2."""
    from simrl.algorithms.losses import POLICY_LOSSES

    check_loss(loss)
    console = console or Console()
    default = w1_config(runs, steps).algo.loss
    out = {"loss": loss, "default": default}
    workloads = [("W1", w1_config, "answers/s")]
    if POLICY_LOSSES[loss].sequence_level:
        workloads.append(("W2", w2_config, "sampled tokens/s"))
    table = Table(
        title=f"simrl bench --loss {loss}: {runs} runs x {steps} steps, paired with "
        f"algo.loss = {default!r} in this process (best of {repeats} interleaved repeats)"
    )
    for col in ("workload", "loss", "seconds", "rate", "unit", f"{loss} / {default}"):
        table.add_column(col, justify="left" if col in ("workload", "loss", "unit") else "right")
    for name, make, unit in workloads:
        base_cfg = make(runs, steps)
        cand_cfg = base_cfg.replace(**{"algo.loss": loss})
        task = build_task(base_cfg.task) if name == "W2" else None
        specs = {
            which: [RunSpec(cfg, i, task=task) for i in range(runs)]
            for which, cfg in (("base", base_cfg), ("cand", cand_cfg))
        }
        for which in specs:  # compile or load each loss's code before timing
            run_batch(specs[which][: min(2, runs)])
        best = {"base": math.inf, "cand": math.inf}
        amount = {}
        for _ in range(repeats):
            for which in ("cand", "base"):
                t = time.perf_counter()
                result = run_batch(specs[which])
                best[which] = min(best[which], time.perf_counter() - t)
                if name == "W2":
                    amount[which] = sampled_tokens(result)
                else:
                    amount[which] = (
                        runs * steps * base_cfg.prompts_per_step * base_cfg.algo.group_size
                    )
        rate = {w: amount[w] / best[w] for w in best}
        ratio = rate["cand"] / rate["base"]
        for which, label in (("cand", loss), ("base", default)):
            table.add_row(
                name,
                label,
                f"{best[which]:.3f}",
                f"{rate[which]:.3g}",
                unit,
                f"{ratio:.2f}" if which == "cand" else "",
            )
        out[name] = {loss: rate["cand"], default: rate["base"], "ratio": ratio}
    console.print(table)
    console.print(
        "rates exclude numba's compile or cache load; the loss keeps W1's clip 0.2 and its "
        "own fields' defaults (a speed measurement); a ratio below 1 means the loss is slower"
    )
    return out


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
