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


# numpy's SeedSequence constants (numpy/random/bit_generator.pyx: INIT_A, MULT_A, INIT_B,
# MULT_B, MIX_MULT_L, MIX_MULT_R, XSHIFT, DEFAULT_POOL_SIZE) and PCG64's 128-bit multiplier
# (numpy/random/src/pcg64/pcg64.h PCG_DEFAULT_MULTIPLIER_128)
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_XSHIFT = 16
_POOL = 4
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_M32, _M64, _M128 = 0xFFFFFFFF, (1 << 64) - 1, (1 << 128) - 1


def _words(x: int) -> list[int]:
    """numpy's _coerce_to_uint32_array of a non-negative int: 32-bit words, low first."""
    out = [x & _M32]
    x >>= 32
    while x:
        out.append(x & _M32)
        x >>= 32
    return out


def _run_states_vectorised(seeds: list[int], replicates: list[int]) -> np.ndarray | None:
    """state_of(run_generator(.)) of every (seed, replicate), computed for all at once:
    SeedSequence(seed, spawn_key=(replicate,)).generate_state(4, uint64) (its entropy
    assembly, mix_entropy and generate_state, in uint32 arithmetic over the runs), then
    PCG64's seeding (pcg64_set_seed: state 0, inc = 2 initseq + 1, one LCG step, add the
    initial state, another step). None when the runs' entropy words differ in number (a
    seed or replicate of another size): the caller takes numpy's path."""
    ent = []
    for seed, rep in zip(seeds, replicates, strict=True):
        if seed < 0 or rep < 0:
            return None
        run = _words(seed)
        run += [0] * max(0, _POOL - len(run))  # padded to the pool: a spawn key follows
        ent.append(run + _words(rep))
    if len({len(e) for e in ent}) != 1:
        return None
    e = np.array(ent, dtype=np.uint32).T  # (L, R)
    L = e.shape[0]
    with np.errstate(over="ignore"):
        hc = np.uint32(_INIT_A)

        def hashmix(value):
            nonlocal hc
            value = value ^ hc
            hc = np.uint32(int(hc) * _MULT_A & _M32)
            value = value * hc
            return value ^ (value >> np.uint32(_XSHIFT))

        def mix(x, y):
            r = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
            return r ^ (r >> np.uint32(_XSHIFT))

        zero = np.zeros(e.shape[1], dtype=np.uint32)
        pool = [hashmix(e[i] if i < L else zero) for i in range(_POOL)]
        for i_src in range(_POOL):
            for i_dst in range(_POOL):
                if i_src != i_dst:
                    pool[i_dst] = mix(pool[i_dst], hashmix(pool[i_src]))
        for i_src in range(_POOL, L):
            for i_dst in range(_POOL):
                pool[i_dst] = mix(pool[i_dst], hashmix(e[i_src]))
        hb = _INIT_B
        words = []
        for i_dst in range(8):  # 4 uint64 = 8 uint32, low word first
            v = pool[i_dst % _POOL] ^ np.uint32(hb)
            hb = hb * _MULT_B & _M32
            v = v * np.uint32(hb)
            words.append(v ^ (v >> np.uint32(_XSHIFT)))
    w = [x.astype(np.uint64) for x in words]
    val = [w[2 * j] | (w[2 * j + 1] << np.uint64(32)) for j in range(4)]
    out = np.empty((e.shape[1], 4), dtype=np.uint64)
    for r, (s_hi, s_lo, i_hi, i_lo) in enumerate(zip(*(v.tolist() for v in val), strict=True)):
        init_state, init_seq = (s_hi << 64) | s_lo, (i_hi << 64) | i_lo
        inc = ((init_seq << 1) | 1) & _M128
        state = inc  # 0 * mult + inc
        state = (state + init_state) & _M128
        state = (state * _PCG_MULT + inc) & _M128
        out[r] = (state >> 64, state & _M64, inc >> 64, inc & _M64)
    return out


def run_states(specs) -> np.ndarray:
    """The PCG64 states (R, 4) of the specs' run generators (kernels/pcg64.state_of of
    run_generator(spec.config, spec.replicate) for each), computed for all runs at once.
    The first run's state is also taken through numpy (SeedSequence, PCG64) and must
    agree, else every run takes numpy's path: a numpy whose seeding differed from the
    algorithm written here would cost time, never a different stream."""
    from simrl.engine.kernels.pcg64 import state_of

    specs = list(specs)
    fast = _run_states_vectorised([s.config.run.seed for s in specs], [s.replicate for s in specs])
    first = state_of(run_generator(specs[0].config, specs[0].replicate))
    if fast is not None and np.array_equal(fast[0], first):
        return fast
    return np.stack([state_of(run_generator(s.config, s.replicate)) for s in specs])
