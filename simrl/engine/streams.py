"""Per-run random streams: what each run draws, where, and from which generator.

Randomness is drawn apart from compute, per run and per step, as a block of uniforms in
[0, 1) from the run's own generator, PCG64(SeedSequence(run.seed, spawn_key=(i,))) for
replicate i (the i-th child of SeedSequence(run.seed).spawn). The reference engine draws
each block with numpy's `Generator.random`; the numba kernels draw the same numbers
bitwise with their own copy of PCG64 (kernels/pcg64.py), started from the generator's
state. The block's layout depends only on the run's own config, so a run consumes the
same numbers whether it runs alone or in a batch, under either engine, in any chunking.

Block layout of one step (sections of length 0 are absent):
  for each of `rounds` rounds (1, or algo.max_resample_rounds with DAPO resampling):
    sel     S      keys whose argsort orders the training prompts (S of them; only if
                   prompts_per_step < S)
    sample  P*G*U  inverse-CDF uniforms of the sampled answers; U = 1 for the bandit, and
                   for a sequence task U = max_len + 1: one per token position, then one
                   for the environment's answer (drawn whether or not it is used)
    reward  P*G    Bernoulli uniforms of 'random' and 'noisy' rewards
    tie     P      tie-break uniforms of 'self_consistency'
  cc        E*P*G*T keys of Clip-Cov's random token choice, per epoch and token slot
                   (T = max_len token slots per response; 1 for the bandit)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simrl.algorithms.losses import POLICY_LOSSES
from simrl.algorithms.rewards import REWARDS
from simrl.config import Config
from simrl.tasks.family import family


@dataclass(frozen=True)
class StreamLayout:
    rounds: int
    sel: int
    sample: int
    reward: int
    tie: int
    cc: int

    @property
    def round_size(self) -> int:
        return self.sel + self.sample + self.reward + self.tie

    @property
    def total(self) -> int:
        return self.rounds * self.round_size + self.cc

    @property
    def cc_offset(self) -> int:
        return self.rounds * self.round_size


def stream_layout(cfg: Config, max_len: int | None = None) -> StreamLayout:
    """The block layout of a run; `max_len` is the task's (a custom sequence task's may
    differ from the built-in family's cfg.max_len)."""
    a = cfg.algo
    reward = REWARDS[cfg.reward.kind]
    if not reward.updates:  # frozen: nothing is drawn
        return StreamLayout(1, 0, 0, 0, 0, 0)
    S, P, G = cfg.train_prompts, cfg.prompts_per_step, a.group_size
    T = cfg.max_len if max_len is None else max_len
    U = family(cfg.task.kind).draws_per_response(T)
    rounds = a.max_resample_rounds if a.dynamic_sampling == "resample" else 1
    sel = S if P < S else 0
    if a.exact:
        return StreamLayout(1, sel, 0, 0, 0, 0)
    return StreamLayout(
        rounds=rounds,
        sel=sel,
        sample=P * G * U,
        reward=P * G if reward.uses_uniform else 0,
        tie=P if reward.votes else 0,
        cc=a.epochs * P * G * T if POLICY_LOSSES[a.loss].uses_keys else 0,
    )


def run_generator(cfg: Config, replicate: int) -> np.random.Generator:
    """The generator of replicate `replicate`: the same as SeedSequence(seed).spawn(n)[i]."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(cfg.run.seed, spawn_key=(replicate,)))
    )


def fill_block(gen: np.random.Generator, out: np.ndarray) -> None:
    """Draw `out` (steps, L) row-major: the same numbers as L at a time, step by step."""
    if out.size:
        gen.random(out=out)
