"""Elementary functions for compiled loops that vectorise and give the same bits in
every lane (numba, no ``fastmath``).

numba calls the C library's ``exp`` one element at a time (no SVML here), which keeps a
loop over neurons scalar: in ``lif_cond``'s step it was 3.1 ns of the 12 ns per neuron.
:func:`exp` is written with additions, multiplications, one division and bit
operations only, so LLVM vectorises a loop around it (0.8 ns per element with
AVX-512). Its result for a given argument is the same in a vector lane, in the scalar
remainder of a loop and in a loop of one element: IEEE arithmetic is deterministic as
long as nothing is contracted or reassociated, which numba does not do without
``fastmath``. A neuron's result thus does not depend on where it sits in the local
array, hence not on the partition or the number of ranks. Callers must be compiled with
``error_model="numpy"``: the default error model checks every division for zero, and
the branch to that check keeps the loop scalar.

Accuracy: fdlibm's ``__ieee754_exp`` (Cody-Waite reduction ``x = k ln2 + r``, ``|r| <=
ln2 / 2``, and its rational approximation of ``exp(r)``), which errs by less than 1 ulp;
against glibc's ``exp`` (correctly rounded in practice) 1 result in 10 differs, by 1
ulp, over [-50, 0] (tested).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def _f64_from_bits(typingctx, bits):
    # Reinterprets an int64 as the float64 of the same bits (free: no instruction).
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


# fdlibm e_exp.c: ln2 split so that k * _LN2_HI is exact for |k| < 2**11.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
#: 1.5 * 2**52: adding and subtracting it rounds a float below 2**51 to the nearest integer.
_ROUND = 6755399441055744.0


@njit(cache=True, inline="always", error_model="numpy")
def exp(x: float) -> float:
    """``e**x`` to within 1 ulp, the same bits however the calling loop is compiled.
    Overflows to ``inf`` above 709.78, underflows through the subnormals to 0 below
    -745.13; ``nan`` gives ``nan``."""
    # Beyond these bounds the result is inf or 0 anyway; the bounds keep k within the
    # range where 2**k splits into two normal powers of two (below).
    if x < -746.0:
        x = -746.0
    if x > 710.0:
        x = 710.0
    kf = (x * _INV_LN2 + _ROUND) - _ROUND
    if kf != kf:
        kf = 0.0            # nan: any k does (the result is nan), but a defined one
    hi = x - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    # y * 2**k as two exact scalings by normal powers of two (k in [-1077, 1025]): the
    # second rounds once where the result is subnormal, and overflows to inf.
    k = np.int64(kf)
    k1 = k >> 1
    k2 = k - k1
    return y * _f64_from_bits((k1 + 1023) << 52) * _f64_from_bits((k2 + 1023) << 52)
