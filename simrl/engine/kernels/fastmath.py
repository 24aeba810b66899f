"""A vectorisable exp for the numba kernels.

numba's math.exp is a libm call (~23 ns here, and it blocks loop vectorisation);
`fast_exp` is plain arithmetic that LLVM can inline and vectorise. It is accurate to a
couple of ulp, which `tests/engine/test_pcg64.py` checks against numpy over the
whole range; its results do not depend on vectorisation (no fastmath flags, so no
reassociation or contraction: the same IEEE operations per element either way).

Method (Cody & Waite range reduction): exp(x) = 2^k exp(r), k = round(x / ln 2),
r = x - k ln2_hi - k ln2_lo with |r| <= ln2 / 2, exp(r) by its Taylor polynomial of
degree 13 (truncation error < 1e-17 relative), and 2^k built from its IEEE bits.
Below x = -708 (where exp(x) < 2.3e-308, the smallest normal double) it returns 0, an
absolute error below 2.3e-308; above 709.78 it returns inf; NaN propagates.

`fast_exp_nonpos` is the same function for x <= 0 (a softmax's exp(z - max z)), with
the steps that only x > 0 needs left out: the upper clamp and inf, and the split of 2^k
into two factors (k <= 0 here, and k >= -1021 where the result is not 0, so one factor
2^k is a normal number and p 2^k is exact either way). Its results are bitwise
fast_exp's (tests/engine/test_pcg64.py); it is ~25% cheaper.

The integer k is read from the bits of k + ROUND_MAGIC (an integer subtraction) rather
than converted from the float k (`int(k)`): the same integer, but AVX2 has no vector
float-to-int64 conversion, so the conversion made LLVM finish each vector of exps one
lane at a time (issue 20: 512 exps 1.45 -> 1.2 us; the values are bitwise the same,
checked on 2.1e6 arguments across the range, the clamps, inf and NaN).
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: LN2_HI has trailing zero bits
LN2_LO = 1.90821492927058770002e-10
EXP_LO = -708.0
EXP_HI = 709.782712893384
ROUND_MAGIC = 6755399441055744.0  # 1.5 * 2^52: adding and subtracting it rounds to an integer
INV_FACT = tuple(1.0 / math.factorial(n) for n in range(14))


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding (llvm.fma: a hardware FMA where the CPU has one, else an
    exact software fma; the result is the same either way)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(d, [d, d, d]), "llvm.fma.f64"
        )
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def _int_bits_as_float(typingctx, bits):
    """Reinterpret an int64's bits as a float64 (no conversion)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _float_bits_as_int(typingctx, x):
    """Reinterpret a float64's bits as an int64 (no conversion)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


#: the bits of ROUND_MAGIC: for |k| < 2^51, k + ROUND_MAGIC lies in [2^52, 2^53), where
#: the ulp is 1, so its bits are MAGIC_BITS + k and the integer k is their difference
MAGIC_BITS = 0x4338000000000000


C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13 = INV_FACT[2:]


@njit(inline="always", cache=True)
def exp_poly(r):
    """exp(r) for |r| <= ln 2 / 2: its Taylor polynomial of degree 13, by Horner with
    fused multiply-adds."""
    p = fma(C13, r, C12)
    p = fma(p, r, C11)
    p = fma(p, r, C10)
    p = fma(p, r, C9)
    p = fma(p, r, C8)
    p = fma(p, r, C7)
    p = fma(p, r, C6)
    p = fma(p, r, C5)
    p = fma(p, r, C4)
    p = fma(p, r, C3)
    p = fma(p, r, C2)
    p = fma(p, r, 1.0)
    return fma(p, r, 1.0)


@njit(inline="always", cache=True)
def fast_exp(x):
    xc = min(max(x, EXP_LO), EXP_HI)
    kt = xc * LOG2E + ROUND_MAGIC  # round to nearest (ties to even)
    k = kt - ROUND_MAGIC
    r = fma(-k, LN2_LO, fma(-k, LN2_HI, xc))
    p = exp_poly(r)
    ki = _float_bits_as_int(kt) - MAGIC_BITS  # int(k), in integer ops that vectorise
    # 2^k for k in [-1022, 1023]; split in two factors so k = 1024 (x near EXP_HI) works
    half = ki >> 1
    y = p * _int_bits_as_float((half + 1023) << 52) * _int_bits_as_float((ki - half + 1023) << 52)
    y = 0.0 if x < EXP_LO else y
    y = math.inf if x > EXP_HI else y
    return x if x != x else y


@njit(inline="always", cache=True)
def fast_exp_nonpos(x):
    """fast_exp(x) for x <= 0 (or NaN), bitwise (see the module docstring)."""
    xc = max(x, EXP_LO)
    kt = xc * LOG2E + ROUND_MAGIC
    k = kt - ROUND_MAGIC
    r = fma(-k, LN2_LO, fma(-k, LN2_HI, xc))
    p = exp_poly(r)
    y = p * _int_bits_as_float((_float_bits_as_int(kt) - MAGIC_BITS + 1023) << 52)
    y = 0.0 if x < EXP_LO else y
    return x if x != x else y
