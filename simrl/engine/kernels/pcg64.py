"""numpy's PCG64 bit generator, inside the numba kernels.

The kernels draw each run's uniforms themselves, in parallel, instead of reading a
buffer filled by numpy: the numbers are bitwise those of
`numpy.random.Generator(PCG64(seed_seq)).random()` (tests/engine/test_pcg64.py), so the
reference engine, which uses numpy's generator, sees the same stream.

PCG64 (O'Neill 2014, XSL-RR 128/64, numpy's `pcg64.h`): a 128-bit LCG
  state <- state * M + inc  (mod 2^128)
with output rotr64(hi ^ lo, hi >> 58) of the new state; a double is (out >> 11) * 2^-53.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

MULT_HI = 2549297995355413924
MULT_LO = 4865540595714422341
MASK64 = (1 << 64) - 1


@intrinsic
def _lcg128(typingctx, s_hi, s_lo, i_hi, i_lo):
    """(s * M + inc) mod 2^128 on (hi, lo) uint64 halves, with LLVM's i128."""
    u64 = types.uint64
    sig = types.UniTuple(u64, 2)(u64, u64, u64, u64)

    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        sh, sl, ih, il = (builder.zext(a, i128) for a in args)
        sixty_four = ir.Constant(i128, 64)
        state = builder.or_(builder.shl(sh, sixty_four), sl)
        inc = builder.or_(builder.shl(ih, sixty_four), il)
        mult = ir.Constant(i128, (MULT_HI << 64) | MULT_LO)
        new = builder.add(builder.mul(state, mult), inc)
        i64 = ir.IntType(64)
        hi = builder.trunc(builder.lshr(new, sixty_four), i64)
        lo = builder.trunc(new, i64)
        return context.make_tuple(builder, signature.return_type, (hi, lo))

    return sig, codegen


@njit(inline="always", cache=True)
def next_double(st):
    """Advance the state st = [state_hi, state_lo, inc_hi, inc_lo] (uint64) and return a
    uniform double in [0, 1), as numpy's PCG64 + Generator.random()."""
    hi, lo = _lcg128(st[0], st[1], st[2], st[3])
    st[0] = hi
    st[1] = lo
    x = hi ^ lo
    r = hi >> np.uint64(58)
    out = (x >> r) | (x << ((np.uint64(64) - r) & np.uint64(63)))
    return np.float64(out >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def state_of(gen: np.random.Generator) -> np.ndarray:
    """The generator's PCG64 state as [state_hi, state_lo, inc_hi, inc_lo] (uint64)."""
    st = gen.bit_generator.state
    if st["bit_generator"] != "PCG64":
        raise TypeError(f"expected a PCG64 generator, got {st['bit_generator']}")
    s, inc = st["state"]["state"], st["state"]["inc"]
    return np.array([s >> 64, s & MASK64, inc >> 64, inc & MASK64], dtype=np.uint64)
