"""Scalar maths for the compiled kernels that vectorise: exp and log as polynomials, bit casts.

libm's ``exp`` and ``log`` are calls LLVM cannot vectorise; these are branch-free polynomials with
range reduction, inlined into the lane loops (errors stated on each).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = []

_FASTMATH = {"reassoc", "contract"}  # reorder sums (vectorised reductions), fuse multiply-adds
_EPS10 = 10.0 * np.finfo(np.float64).eps
_PIVOT_FLOOR = 1e-12
_LOG_2PI = math.log(2.0 * math.pi)
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10



@intrinsic
def _int64_bits_as_float64(typingctx, bits):  # type: ignore[no-untyped-def]
    """Reinterpret the bits of an int64 as a float64 (one LLVM bitcast; vectorises)."""
    if not isinstance(bits, types.Integer):
        return None
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _exp_nonpositive(x: float) -> float:
    """``exp(x)`` for ``x <= 0`` (0 below -708): range reduction by ln 2 and a degree-12 Taylor
    polynomial (truncation error below 2e-16 relative), so it vectorises unlike libm's exp."""
    xc = x if x > -708.0 else -708.0
    n = np.floor(xc * _LOG2E + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    scale = _int64_bits_as_float64((np.int64(n) + 1023) << 52)
    return p * scale if x > -708.0 else 0.0


_F32_HALF = np.float32(0.5)
_F32_ONE = np.float32(1.0)
_F32_ZERO = np.float32(0.0)
_EXP32_MIN = np.float32(-87.0)
#: 1.5 * 2**23: adding it to a float32 of magnitude < 2**22 rounds it to an integer (round to nearest).
_EXP32_SHIFTER = np.float32(12582912.0)
_LOG2E32 = np.float32(1.4426950408889634)
_LN2_HI32 = np.float32(0.693359375)
_LN2_LO32 = np.float32(-2.12194440e-4)
_EXP32_P = tuple(
    np.float32(v)
    for v in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
)
_HALF_LOG_2PI3 = 1.5 * _LOG_2PI
_TINY = float(np.finfo(np.float64).tiny)
_SQRT2 = math.sqrt(2.0)
_LN2 = math.log(2.0)



@intrinsic
def _minus_shifter(typingctx, v):  # type: ignore[no-untyped-def]
    """``v - _EXP32_SHIFTER`` in strict float32: a subtraction without fast-math flags, which LLVM may
    not fold with the addition that made ``v`` (``(a + s) - s -> a`` would undo the rounding)."""
    if not isinstance(v, types.Float) or v.bitwidth != 32:
        return None
    sig = types.float32(types.float32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.fsub(args[0], ir.Constant(ir.FloatType(), float(_EXP32_SHIFTER)))

    return sig, codegen


@intrinsic
def _scale_by_rounded(typingctx, y, v):  # type: ignore[no-untyped-def]
    """``y * 2**n`` for float32 ``y`` and ``v = n + _EXP32_SHIFTER`` (``n`` integral, in the low bits of
    ``v``'s mantissa): ``n << 23`` added to ``y``'s bits (the shifter's own bits shift out); the result
    must stay a normal number. Two integer instructions, vectorised."""
    if not all(isinstance(a, types.Float) and a.bitwidth == 32 for a in (y, v)):
        return None
    sig = types.float32(types.float32, types.float32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i32 = ir.IntType(32)
        shift = builder.shl(builder.bitcast(args[1], i32), ir.Constant(i32, 23))
        return builder.bitcast(builder.add(builder.bitcast(args[0], i32), shift), ir.FloatType())

    return sig, codegen


@intrinsic
def _float64_bits(typingctx, x):  # type: ignore[no-untyped-def]
    """The bits of a float64 as an int64 (one LLVM bitcast; vectorises)."""
    if not isinstance(x, types.Float) or x.bitwidth != 64:
        return None
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _exp32_nonpositive(x: np.float32) -> np.float32:
    """float32 ``exp(x)`` for ``x <= 0`` (0 below -87): Cephes' expf polynomial (about 1 ulp)."""
    xc = x if x > _EXP32_MIN else _EXP32_MIN
    v = xc * _LOG2E32 + _EXP32_SHIFTER  # rounds x log2(e) to the nearest integer n, kept in v's low bits
    n = _minus_shifter(v)
    r = (xc - n * _LN2_HI32) - n * _LN2_LO32  # in [-ln2 / 2, ln2 / 2], as Cephes' floor(x log2e + 1/2)
    p = _EXP32_P[0]
    p = p * r + _EXP32_P[1]
    p = p * r + _EXP32_P[2]
    p = p * r + _EXP32_P[3]
    p = p * r + _EXP32_P[4]
    p = p * r + _EXP32_P[5]
    y = (p * r * r + r) + _F32_ONE
    return _scale_by_rounded(y, v) if x > _EXP32_MIN else _F32_ZERO  # n >= -126: y 2**n stays normal


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _log_positive(x: float) -> float:
    """float64 ``log(x)`` for normal ``x > 0``: exponent bits plus the atanh series of the mantissa
    (error below 1e-16 relative), branch free so a loop of it vectorises unlike libm's log."""
    bits = _float64_bits(x)
    e = ((bits >> 52) & 0x7FF) - 1023
    m = _int64_bits_as_float64((bits & 0xFFFFFFFFFFFFF) | (1023 << 52))  # [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    ef = np.float64(e) + (1.0 if big else 0.0)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = 1.0 / 23.0
    p = p * s2 + 1.0 / 21.0
    p = p * s2 + 1.0 / 19.0
    p = p * s2 + 1.0 / 17.0
    p = p * s2 + 1.0 / 15.0
    p = p * s2 + 1.0 / 13.0
    p = p * s2 + 1.0 / 11.0
    p = p * s2 + 1.0 / 9.0
    p = p * s2 + 1.0 / 7.0
    p = p * s2 + 1.0 / 5.0
    p = p * s2 + 1.0 / 3.0
    p = p * s2 + 1.0
    return 2.0 * s * p + ef * _LN2
