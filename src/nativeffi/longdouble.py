"""Exact ``long double`` values: the platform's bytes of a value, correctly rounded, and the exact value of bytes.

``LongDouble`` arguments, returns, fields and pointer elements convert to and from Python ``float``: a ``float``
(or an int of up to 64 bits) becomes a long double exactly, but a long double read as a ``float`` is rounded
to the nearest double (x86-64's 80-bit format has 11 more bits of precision and a far wider exponent range:
values beyond the double range read as ``inf`` or ``0.0``), as ctypes' ``c_longdouble`` does. For the exact
value, use these functions on the bytes (a ``Pointer[LongDouble]`` reads them).

Example:
    >>> from fractions import Fraction
    >>> from nativeffi import LongDouble, calloc, long_double_bytes, long_double_value
    >>> p = calloc(LongDouble, 1)
    >>> p.as_memoryview(len(long_double_bytes(0)))[:] = long_double_bytes(Fraction(1, 3))
    >>> third = long_double_value(p)          # exact: more digits than a float holds
    >>> abs(third - Fraction(1, 3)) < Fraction(1, 2**64)
    True
    >>> p[0]                                  # the nearest double
    0.3333333333333333
"""
from __future__ import annotations

import decimal
import math
from fractions import Fraction
from typing import Any, Union

from . import _core
from .pointer import Pointer

__all__ = ["long_double_bytes", "long_double_value", "LONG_DOUBLE_INFO"]

LONG_DOUBLE_INFO: dict[str, int] = dict(_core.LONG_DOUBLE)
"""This platform's long double: ``mant_dig`` (bits of precision), ``min_exp``, ``max_exp`` (as C's
LDBL_MANT_DIG, LDBL_MIN_EXP, LDBL_MAX_EXP) and ``size`` in bytes."""

_P = LONG_DOUBLE_INFO["mant_dig"]
_EMIN = LONG_DOUBLE_INFO["min_exp"] - _P  # the exponent of the smallest subnormal
_EMAX = LONG_DOUBLE_INFO["max_exp"]
_SIZE = LONG_DOUBLE_INFO["size"]


def long_double_bytes(x: Union[int, float, Fraction, decimal.Decimal]) -> bytes:
    """The bytes of the long double nearest `x` (ties to even, as C rounds), exact when `x` is representable.

    Every float and every int of up to ``mant_dig`` bits is exact; the padding bytes (6 of x86-64's 16) are zero.

    Raises:
        TypeError: `x` is not a number of these types.
        OverflowError: `x` is beyond the largest long double.
        ValueError: a Decimal NaN or infinity (float ones are stored as such).
    """
    if isinstance(x, float):
        if math.isfinite(x) and x != 0.0:
            x = Fraction(x)
        else:  # inf, nan and the signed zeros: stored by the core
            return _store_float(x)
    if isinstance(x, bool) or not isinstance(x, (int, Fraction, decimal.Decimal)):
        raise TypeError(f"long_double_bytes() expected an int, float, Fraction or Decimal, got {type(x).__name__}")
    q = Fraction(x)
    if q == 0:
        return bytes(_core.long_double_from_parts(0, 0))
    n, d = abs(q).numerator, abs(q).denominator
    e = n.bit_length() - d.bit_length()  # |q| in [2**(e-1), 2**(e+1))
    if Fraction(n, d) >= Fraction(2) ** e:
        e += 1                           # now |q| in [2**(e-1), 2**e), as frexp says
    exp = max(e - _P, _EMIN)             # below the normal range: the subnormals' fixed quantum
    m = round(abs(q) / Fraction(2) ** exp)  # round() of a Fraction: to nearest, ties to even
    if m == 1 << _P:
        m, exp = m >> 1, exp + 1
    if m == 0:                           # below half the smallest subnormal: a zero of q's sign, as C rounds
        return _store_float(-0.0 if q < 0 else 0.0)
    if exp + _P > _EMAX:
        raise OverflowError(f"long_double_bytes(): the value is beyond the largest long double (2**{_EMAX})")
    return bytes(_core.long_double_from_parts(-m if q < 0 else m, exp))


def long_double_value(src: Any) -> Fraction:
    """The exact value of a long double: `src` is its bytes (``sizeof(LongDouble)`` of them) or a Pointer to it.

    Raises:
        ValueError: the long double is an infinity or a NaN (no Fraction has that value; read it as a float).
    """
    if isinstance(src, Pointer):
        src = bytes(src.as_memoryview(_SIZE))
    parts = _core.long_double_parts(src)
    if isinstance(parts, float):
        raise ValueError(f"long_double_value(): the long double is {parts!r}, which no Fraction represents")
    m, e = parts
    return Fraction(m) * Fraction(2) ** e


def _store_float(x: float) -> bytes:
    from .memory import calloc
    from .types import LongDouble

    p = calloc(LongDouble, 1)
    try:
        p[0] = x
        return bytes(p.as_memoryview(_SIZE))
    finally:
        calloc.free(p)
