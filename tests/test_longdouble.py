"""LongDouble (C's long double): the platform's layout, arguments, returns, fields, pointers, callbacks and the exact
conversions, each compared with what C computes in tests/native/longdouble.c."""
from __future__ import annotations

import ctypes
import random
import threading
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from nativeffi import (
    Char, Double, Float, Int, Int64, LONG_DOUBLE_INFO, LongDouble, NativeCallable, NativeFunction, Pointer, Size,
    Struct, Uint8, VarArgs, Void, alignof, calloc, long_double_bytes, long_double_value, malloc, offsetof, sizeof,
)
from nativeffi import _core
from helpers import cfunc

P = LONG_DOUBLE_INFO["mant_dig"]


@pytest.fixture(scope="module")
def lib(native_lib: Any) -> str:
    return str(native_lib("longdouble"))


def c(lib: str, name: str, params: list[Any], ret: Any) -> Any:
    return cfunc(lib, name, params, ret, is_leaf=False)


def rounded(q: Fraction) -> Fraction:
    """q rounded to a long double (normal range), ties to even: the reference for the exact path."""
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if q >= Fraction(2) ** e:
        e += 1
    return round(q / Fraction(2) ** (e - P)) * Fraction(2) ** (e - P)


# -- Layout ----------------------------------------------------------------------------------------------------

def test_layout_is_the_platforms(lib: str) -> None:
    """sizeof, alignof and the precision are C's (x86-64: 16, 16, 64 bits; AArch64 Linux: 16, 16, 113 bits)."""
    assert sizeof(LongDouble) == c(lib, "ld_size", [], Size)() == ctypes.sizeof(ctypes.c_longdouble)
    assert alignof(LongDouble) == c(lib, "ld_align", [], Size)() == ctypes.alignment(ctypes.c_longdouble)
    assert P == c(lib, "ld_mant_dig", [], Int)()


class LDS(Struct):
    """struct { char c; long double x; int n; }: padding before x to its 16-byte alignment."""
    c: Char
    x: LongDouble
    n: Int


class LD1(Struct):
    """struct { long double x; }."""
    x: LongDouble


class DLD(Struct):
    """struct { double d; long double x; }."""
    d: Double
    x: LongDouble


def test_struct_layout_matches_c(lib: str) -> None:
    """A struct with a long double field has C's size, alignment and offsets."""
    assert (sizeof(LDS), alignof(LDS), offsetof(LDS, "x"), offsetof(LDS, "n")) == tuple(
        c(lib, n, [], Size)() for n in ("lds_size", "lds_align", "lds_off_x", "lds_off_n"))


# -- Calls -----------------------------------------------------------------------------------------------------

def test_arguments_and_returns(lib: str) -> None:
    """long double arguments and returns: floats in, C's sums out (rounded to the nearest double)."""
    assert c(lib, "ld_id", [LongDouble], LongDouble)(1.5) == 1.5
    assert c(lib, "ld_add", [LongDouble, LongDouble], LongDouble)(0.1, 0.2) == float(
        rounded(Fraction(0.1) + Fraction(0.2)))
    assert c(lib, "ld_third", [], LongDouble)() == 1 / 3
    assert c(lib, "ld_add", [LongDouble, LongDouble], LongDouble)(2**63, -1) == float(2**63 - 1)


def test_values_beyond_double_read_as_inf_and_zero(lib: str) -> None:
    """LDBL_MAX reads as inf and LDBL_TRUE_MIN as 0.0 on x86-64 (beyond the double range), as ctypes reads them."""
    big, tiny = c(lib, "ld_max", [], LongDouble)(), c(lib, "ld_true_min", [], LongDouble)()
    ref = ctypes.CDLL(lib)
    ref.ld_max.restype = ref.ld_true_min.restype = ctypes.c_longdouble
    assert (big, tiny) == (ref.ld_max(), ref.ld_true_min())


def test_mixed_and_stack_arguments(lib: str) -> None:
    """long doubles among ints, doubles and floats, and 18 arguments past every register, arrive as C reads them."""
    mixed = c(lib, "ld_mixed", [Int, LongDouble, Double, LongDouble, Float, Int64], LongDouble)
    assert mixed(1, 0.5, 0.25, 1e10, 0.125, -(2**40)) == float(
        rounded(1 + Fraction(1, 2) + Fraction(1, 4) + 10**10 + Fraction(1, 8) - 2**40))
    sum18 = c(lib, "ld_sum18", [LongDouble, Double] * 9, LongDouble)
    args = [i + 0.5 if i % 2 == 0 else -i * 0.25 for i in range(18)]
    assert sum18(*args) == sum(args)


def test_variadic_long_doubles(lib: str) -> None:
    """LongDouble in VarArgs[...] travels unpromoted, as C's va_arg(ap, long double) reads it."""
    f = c(lib, "ld_va_sum", [Int, VarArgs[LongDouble, LongDouble, LongDouble]], LongDouble)
    assert f(3, 1.5, 2.25, -0.75) == 3.0


def test_structs_by_value(lib: str) -> None:
    """Structs with long double fields pass and return by value (in memory on x86-64) as C does."""
    s = c(lib, "lds_make", [Char, LongDouble, Int], LDS)(3, 2.5, -7)
    assert (s.c, s.x, s.n) == (3, 2.5, -7)
    assert c(lib, "lds_sum", [LDS], LongDouble)(s) == -1.5
    one = c(lib, "ld1_make", [LongDouble], LD1)(1.25)
    assert one.x == 2.5
    assert c(lib, "ld1_get", [LD1], LongDouble)(LD1(x=0.75)) == 0.75
    d = c(lib, "dld_make", [Double, LongDouble], DLD)(0.5, -3.0)
    assert (d.d, d.x) == (0.5, -3.0)


def test_pointers(lib: str) -> None:
    """Pointer[LongDouble] elements are read and written with C's layout; C scales them in place."""
    p = malloc(LongDouble, 4)
    for i in range(4):
        p[i] = i + 0.5
    c(lib, "ld_scale", [Pointer[LongDouble], Size, LongDouble], Void)(p, 4, -2)
    assert [p[i] for i in range(4)] == [-1.0, -3.0, -5.0, -7.0]
    assert (p + 1).value == -3.0
    malloc.free(p)


def test_field_writes_reach_c(lib: str) -> None:
    """A long double field written from Python is what C reads."""
    s = LDS(c=1, x=0.0, n=2)
    s.x = 1e300
    assert c(lib, "lds_sum", [LDS], LongDouble)(s) == 1e300


def test_bad_values_are_refused() -> None:
    """Non-numbers are refused with what was expected."""
    p = calloc(LongDouble, 1)
    with pytest.raises(TypeError, match=r"expected a float \(or int\) for LongDouble, got str"):
        p[0] = "1.5"
    calloc.free(p)


# -- Callbacks -------------------------------------------------------------------------------------------------

LD_FN = NativeFunction[[LongDouble, Int], LongDouble]


@pytest.mark.parametrize("mode", ["isolate_local", "isolate_group_bound"])
def test_callbacks_take_and_return_long_doubles(lib: str, mode: str) -> None:
    """A callable taking and returning a long double: C passes x and n, doubles what Python returns."""
    apply = c(lib, "ld_apply", [Pointer[LD_FN], LongDouble, Int], LongDouble)
    seen: list[tuple[float, int]] = []

    def f(x: float, n: int) -> float:
        seen.append((x, n))
        return x * n

    with getattr(NativeCallable, mode)(LD_FN, f, exceptional_return=-1.0) as cb:
        assert apply(cb, 1.25, 3) == 7.5
    assert seen == [(1.25, 3)]


def test_listener_gets_long_doubles(lib: str) -> None:
    """A listener copies a long double argument into its queue and delivers it."""
    post = c(lib, "ld_post", [Pointer[NativeFunction[[LongDouble, Int], Void]], LongDouble], Void)
    got: list[tuple[float, int]] = []
    done = threading.Event()

    def f(x: float, n: int) -> None:
        got.append((x, n))
        done.set()

    with NativeCallable.listener(NativeFunction[[LongDouble, Int], Void], f) as ls:
        post(ls, -0.125)
        assert done.wait(10)
    assert got == [(-0.125, 7)]


# -- Exact values ----------------------------------------------------------------------------------------------

def c_bytes(lib: str, name: str, params: list[Any], *args: Any) -> bytes:
    """The bytes of the long double C's `name(out, *args)` writes to memory (exact: never rounded to a float)."""
    out = calloc(LongDouble, 1)
    c(lib, name, [Pointer[LongDouble], *params], Void)(out, *args)
    b = bytes(out.as_memoryview(sizeof(LongDouble)))
    calloc.free(out)
    return b


def test_one_third_exactly(lib: str) -> None:
    """C's 1.0L/3 has the exact value of 1/3 rounded to a long double; long_double_bytes(Fraction(1, 3)) is it."""
    third = c_bytes(lib, "ld_ratio_to", [Int64, Int64], 1, 3)
    assert long_double_value(third) == rounded(Fraction(1, 3)) != Fraction(1 / 3)
    assert long_double_bytes(Fraction(1, 3)) == third
    p = calloc(LongDouble, 1)
    p.as_memoryview(sizeof(LongDouble))[:] = long_double_bytes(Fraction(1, 3))
    assert c(lib, "ld_is_third_at", [Pointer[LongDouble]], Int)(p) == 1
    assert long_double_value(p) == rounded(Fraction(1, 3))
    calloc.free(p)


def test_ratios_round_as_c_does(lib: str) -> None:
    """500 random int64 ratios: long_double_bytes(Fraction(n, d)) equals C's correctly rounded n / d, and reading
    the bytes back gives the same Fraction."""
    rng = random.Random(11)
    for _ in range(500):
        n = rng.randrange(-2**63, 2**63)
        d = rng.choice([rng.randrange(1, 2**63), rng.randrange(1, 1000), 3, 10])
        want = c_bytes(lib, "ld_ratio_to", [Int64, Int64], n, d)
        assert long_double_bytes(Fraction(n, d)) == want, (n, d)
        assert long_double_bytes(long_double_value(want)) == want


@pytest.mark.parametrize("low, high, reason", [
    (LONG_DOUBLE_INFO["min_exp"] - P - 70, LONG_DOUBLE_INFO["min_exp"] - 60, "subnormals: a fixed quantum"),
    (-40, 40, "ordinary magnitudes"),
    (LONG_DOUBLE_INFO["max_exp"] - 130, LONG_DOUBLE_INFO["max_exp"] - 64, "near the largest long double"),
], ids=["subnormal", "ordinary", "huge"])
def test_scaled_integers_round_as_ldexpl(lib: str, low: int, high: int, reason: str) -> None:
    """m * 2**e for random int64 m: the same bytes as C's ldexpl (which rounds correctly, subnormals included)."""
    rng = random.Random(low)
    for _ in range(300):
        m, e = rng.randrange(-2**63, 2**63), rng.randrange(low, high)
        want = c_bytes(lib, "ld_ldexp_to", [Int64, Int], m, e)
        assert long_double_bytes(Fraction(m) * Fraction(2) ** e) == want, (m, e)


def test_limits_and_special_values(lib: str) -> None:
    """LDBL_MAX is exact, one ulp more overflows; inf and NaN have no Fraction; floats and ints are exact."""
    top = c_bytes(lib, "ld_max_to", [])
    biggest = long_double_value(top)
    assert biggest == (2**P - 1) * Fraction(2) ** (LONG_DOUBLE_INFO["max_exp"] - P)
    assert long_double_bytes(biggest) == top
    with pytest.raises(OverflowError, match="beyond the largest long double"):
        long_double_bytes(2 ** LONG_DOUBLE_INFO["max_exp"])
    with pytest.raises(ValueError, match="is inf, which no Fraction represents"):
        long_double_value(long_double_bytes(float("inf")))
    with pytest.raises(ValueError, match="is nan"):
        long_double_value(long_double_bytes(float("nan")))
    assert long_double_value(long_double_bytes(0.1)) == Fraction(0.1)
    assert long_double_value(long_double_bytes(2**63 + 1)) == 2**63 + 1
    assert long_double_bytes(Decimal("0.1")) == c_bytes(lib, "ld_ratio_to", [Int64, Int64], 1, 10)
    with pytest.raises(TypeError, match="expected an int, float, Fraction or Decimal, got str"):
        long_double_bytes("0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected 16 bytes"):
        _core.long_double_parts(b"\0" * 8)


def test_ints_of_64_bits_are_stored_exactly(lib: str) -> None:
    """An int argument of up to 64 bits becomes an exact long double (no detour through double)."""
    p = calloc(LongDouble, 1)
    p[0] = 2**63 - 1
    assert long_double_value(p) == 2**63 - 1
    calloc.free(p)


# -- CPython's own ctypes test library (what test_cfuncs, test_functions and test_callbacks check) ------------------

def test_ctypes_test_library_long_double_functions() -> None:
    """_ctypes_test's long double functions give what ctypes' c_longdouble gets from them."""
    import _ctypes_test
    lib = _ctypes_test.__file__
    ref = ctypes.CDLL(lib)
    ref.tf_D.restype = ref.tf_bD.restype = ref._testfunc_D_bhilfD.restype = ctypes.c_longdouble
    ref.tf_D.argtypes = [ctypes.c_longdouble]
    ref.tf_bD.argtypes = [ctypes.c_byte, ctypes.c_longdouble]
    ref._testfunc_D_bhilfD.argtypes = [ctypes.c_byte, ctypes.c_short, ctypes.c_int, ctypes.c_long,
                                       ctypes.c_float, ctypes.c_longdouble]
    from nativeffi import Int8, Int16, Long
    tf_D = c(lib, "tf_D", [LongDouble], LongDouble)
    tf_bD = c(lib, "tf_bD", [Int8, LongDouble], LongDouble)
    sum6 = c(lib, "_testfunc_D_bhilfD", [Int8, Int16, Int, Long, Float, LongDouble], LongDouble)
    for x in (-42.0, 1e300, 2.0 ** -1070):
        assert tf_D(x) == ref.tf_D(x)
        assert tf_bD(0, x) == ref.tf_bD(0, x)
    assert sum6(1, 2, 3, 4, 5.0, 6.0) == ref._testfunc_D_bhilfD(1, 2, 3, 4, 5.0, 6.0) == 21


def test_callback_returns_long_double_to_c(lib: str) -> None:
    """A callable receives C's 1.0L/3 rounded to a float and returns a long double C doubles (ctypes' callback check)."""
    apply = c(lib, "ld_apply_third", [Pointer[NativeFunction[[LongDouble], LongDouble]]], LongDouble)
    got: list[float] = []
    with NativeCallable.isolate_local(NativeFunction[[LongDouble], LongDouble],
                                      lambda x: got.append(x) or x * 3, exceptional_return=0.0) as cb:
        assert apply(cb) == 1.0
    assert got == [1 / 3]
