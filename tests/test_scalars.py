"""Every scalar type round-tripped through C: identity, min and max, narrow returns, sign and zero extension."""
from __future__ import annotations

import math
import struct

import pytest

import nativeffi
from nativeffi import types as nt
from nativeffi import native_type
from helpers import cfunc

INTS = [n for n in nt.SCALAR_NAMES if n not in ("Float", "Double", "LongDouble", "Bool")]


def limits(lib: str, name: str) -> tuple[int, int]:
    """C's own min and max of the integer type `name`."""
    t = getattr(nativeffi, name)
    return cfunc(lib, f"min_{name}", [], t)(), cfunc(lib, f"max_{name}", [], t)()


def widen(lib: str, name: str):
    """C's own widening of a value of type `name` to 64 bits, signed or unsigned as the type is."""
    t = getattr(nativeffi, name)
    if native_type(t).signed:
        return cfunc(lib, f"widens_{name}", [t], nativeffi.Int64)
    return cfunc(lib, f"widenu_{name}", [t], nativeffi.Uint64)


@pytest.mark.parametrize("name", INTS)
@pytest.mark.parametrize("leaf", [True, False])
def test_integer_min_max_round_trip(native_lib, name: str, leaf: bool) -> None:
    """C's min and max of each integer type come back exactly and pass back through an identity function."""
    lib = native_lib("scalars")
    t = getattr(nativeffi, name)
    bits = 8 * nativeffi.sizeof(t)
    lo, hi = cfunc(lib, f"min_{name}", [], t, leaf)(), cfunc(lib, f"max_{name}", [], t, leaf)()
    if native_type(t).signed:
        assert (lo, hi) == (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    else:
        assert (lo, hi) == (0, (1 << bits) - 1)
    ident = cfunc(lib, f"id_{name}", [t], t, leaf)
    for v in (lo, hi, 0, 1, lo + 1, hi - 1):
        assert ident(v) == v


@pytest.mark.parametrize("name", INTS)
def test_narrow_arguments_are_extended_as_c_does(native_lib, name: str) -> None:
    """What C sees of a narrow argument, widened by C to 64 bits, equals the Python value (sign/zero extension)."""
    lib = native_lib("scalars")
    t = getattr(nativeffi, name)
    lo, hi = limits(lib, name)
    w = widen(lib, name)
    for v in (lo, hi, 0, -1 if lo < 0 else 1):
        assert w(v) == v


@pytest.mark.parametrize("name", INTS)
def test_narrow_returns_wrap_as_c_computes(native_lib, name: str) -> None:
    """max + 1 computed in C wraps within the C type, and the Python result is that wrapped value, not widened."""
    lib = native_lib("scalars")
    t = getattr(nativeffi, name)
    lo, hi = limits(lib, name)
    add = cfunc(lib, f"add_{name}", [t, t], t)
    assert add(hi, 1) == lo
    assert add(hi, 0) == hi


@pytest.mark.parametrize("name", INTS)
def test_integer_out_of_range_raises(native_lib, name: str) -> None:
    """One past min or max is an OverflowError naming the range and the type; nothing is truncated."""
    lib = native_lib("scalars")
    t = getattr(nativeffi, name)
    lo, hi = limits(lib, name)
    ident = cfunc(lib, f"id_{name}", [t], t)
    for bad in (hi + 1, lo - 1, 1 << 70, -(1 << 70)):
        with pytest.raises(OverflowError, match=rf"expected an int in \[{lo}, {hi}\] for {name}, got {bad}"):
            ident(bad)


@pytest.mark.parametrize("name", INTS)
def test_integer_rejects_non_integers(native_lib, name: str) -> None:
    """float, str and None are TypeErrors for integer parameters, naming the parameter and the type."""
    lib = native_lib("scalars")
    t = getattr(nativeffi, name)
    ident = cfunc(lib, f"id_{name}", [t], t)
    for bad in (1.0, "1", None, b"1"):
        with pytest.raises(TypeError, match=rf"argument 1.*expected an int for {name}, got {type(bad).__name__}"):
            ident(bad)


def test_index_objects_are_integers(native_lib) -> None:
    """Objects with __index__ (numpy integers, IntEnum) are accepted for integer parameters."""
    import enum

    class Color(enum.IntEnum):
        RED = 7
    lib = native_lib("scalars")
    ident = cfunc(lib, "id_Int32", [nativeffi.Int32], nativeffi.Int32)
    assert ident(Color.RED) == 7
    assert ident(True) == 1


def test_float_and_double_round_trip(native_lib) -> None:
    """Double keeps every bit; Float rounds to the nearest 32-bit float, exactly as C's (float) cast does."""
    lib = native_lib("scalars")
    idd = cfunc(lib, "id_Double", [nativeffi.Double], nativeffi.Double)
    idf = cfunc(lib, "id_Float", [nativeffi.Float], nativeffi.Float)
    for v in (0.1, -2.5e300, 5e-324, math.inf, -0.0):
        assert struct.pack("d", idd(v)) == struct.pack("d", v)
    for v in (0.1, 3.4e38, -1.5, 1e-45):
        assert idf(v) == struct.unpack("f", struct.pack("f", v))[0]
    assert math.isnan(idd(math.nan)) and math.isnan(idf(math.nan))
    assert idd(3) == 3.0  # ints are accepted where floats are expected


def test_float_limits_come_from_c(native_lib) -> None:
    """FLT_MAX, DBL_MAX and the smallest subnormals returned by C arrive unchanged; Float widens as C widens."""
    lib = native_lib("scalars")
    for name in ("Float", "Double"):
        t = getattr(nativeffi, name)
        hi = cfunc(lib, f"max_{name}", [], t)()
        tiny = cfunc(lib, f"tiny_{name}", [], t)()
        widened = cfunc(lib, f"widen_{name}", [t], nativeffi.Double)
        assert widened(hi) == hi and widened(tiny) == tiny
    assert cfunc(lib, "max_Float", [], nativeffi.Float)() == struct.unpack("f", b"\xff\xff\x7f\x7f")[0]


def test_float_out_of_range_raises(native_lib) -> None:
    """A finite double beyond FLT_MAX is an OverflowError for Float, not a silent infinity; inf itself passes."""
    lib = native_lib("scalars")
    idf = cfunc(lib, "id_Float", [nativeffi.Float], nativeffi.Float)
    with pytest.raises(OverflowError, match="for Float"):
        idf(1e39)
    assert idf(math.inf) == math.inf
    with pytest.raises(TypeError, match="expected a float"):
        idf("1.0")


def test_bool_round_trip(native_lib) -> None:
    """Bool passes True/False (and 0/1) and C's _Bool comes back as a Python bool."""
    lib = native_lib("scalars")
    idb = cfunc(lib, "id_Bool", [nativeffi.Bool], nativeffi.Bool)
    w = cfunc(lib, "widen_Bool", [nativeffi.Bool], nativeffi.Int)
    assert idb(True) is True and idb(False) is False
    assert w(True) == 1 and w(0) == 0
    with pytest.raises(OverflowError, match="expected a bool"):
        idb(2)
    with pytest.raises(TypeError, match="expected a bool"):
        idb(1.0)
