"""`simrl bench`'s peer-sweep workload: the prior x reward sweep of the public tabular
simulator behind arXiv 2606.05932, in simrl's matched config, as one batched call.

The sweep (issue 20): 5 priors x 4 rewards x 12 seeds x 200 steps, on a bandit of 50
prompts x 8 answers with 2 correct answers and a format answer, group size 8, 16 prompts
per step. The issue fixes those; the five prior strengths (`PRIORS`), the format mass
(`FORMAT_MASS`) and the update (bench.UPDATE's: vanilla clip 0.2, 2 epochs, sgd lr 0.5,
exact accuracy and entropy every step) are this module's choices, the same in every
bench run, so its time is comparable across revisions. Its work per answer is W1's, so
its time should fall in proportion to W1's (the issue's acceptance); `run_bench_peer`
times it alternately with W1 at the same number of runs and prints both.
"""

from __future__ import annotations

import math
import time

from rich.console import Console

from simrl.bench import UPDATE, W1
from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch

#: the base policy's probability on the correct answers, per cell (the issue names 5 priors)
PRIORS = (0.05, 0.1, 0.2, 0.3, 0.5)
#: the reward kinds of the sweep (the issue names 4 rewards)
REWARD_KINDS = ("true", "random", "incorrect", "format")
#: the base probability of each prompt's format answer
FORMAT_MASS = 0.2
SEEDS = 12
STEPS = 200

PEER = {
    "task": {"num_prompts": 50, "num_answers": 8, "num_correct": 2, "format_mass": FORMAT_MASS},
    **UPDATE,
    "algo": {**UPDATE["algo"], "group_size": 8, "prompts_per_step": 16},
    "run": {**UPDATE["run"], "steps": STEPS, "seeds": SEEDS},
}


def peer_specs(seeds: int = SEEDS, steps: int = STEPS) -> list[RunSpec]:
    """The sweep's runs: every (prior, reward) cell x `seeds` replicates."""
    specs = []
    for prior in PRIORS:
        for kind in REWARD_KINDS:
            cfg = Config.from_dict(
                PEER,
                {
                    "task.prior_strength": prior,
                    "reward.kind": kind,
                    "run.seeds": seeds,
                    "run.steps": steps,
                },
            )
            specs += [RunSpec(cfg, i) for i in range(seeds)]
    return specs


def answers(specs: list[RunSpec]) -> int:
    """Sampled answers of a batch of bandit runs."""
    return sum(
        s.config.run.steps * s.config.prompts_per_step * s.config.algo.group_size for s in specs
    )


def run_bench_peer(
    repeats: int, console: Console | None = None, tick=lambda: None, steps: int = STEPS
) -> dict:
    """The peer sweep (one run_batch call of 240 runs; `steps` each, the sweep's 200 unless
    `simrl bench --steps` says otherwise), alternating with W1 at 240 runs x `steps`, best
    of `repeats` each: seconds and answers/s of both, and their ratio."""
    console = console or Console()
    specs = peer_specs(steps=steps)
    w1 = Config.from_dict(W1, {"run.seeds": len(specs), "run.steps": steps})
    w1_specs = [RunSpec(w1, i) for i in range(len(specs))]
    run_batch(peer_specs(seeds=1, steps=2))  # compile or load every reward's code
    tick()
    best = {"peer": math.inf, "w1": math.inf}
    for _ in range(repeats):
        for name, batch in (("peer", specs), ("w1", w1_specs)):
            t = time.perf_counter()
            run_batch(batch)
            best[name] = min(best[name], time.perf_counter() - t)
        tick()
    rate = {"peer": answers(specs) / best["peer"], "w1": answers(w1_specs) / best["w1"]}
    console.print(
        f"peer sweep (5 priors x 4 rewards x {SEEDS} seeds x {steps} steps, 50x8 bandit, "
        f"G 8, 16 prompts per step; one call): {best['peer']:.3f} s, {rate['peer']:.3g} "
        f"answers/s; W1 at {len(specs)} runs alternately: {best['w1']:.3f} s, "
        f"{rate['w1']:.3g} answers/s; peer / W1 answers/s {rate['peer'] / rate['w1']:.2f} "
        f"(best of {repeats})"
    )
    return {
        "seconds": best["peer"],
        "answers_per_s": rate["peer"],
        "w1_seconds": best["w1"],
        "w1_answers_per_s": rate["w1"],
    }
