"""Fuzz properties (hypothesis): any type expression or argument value either raises a sensible Python exception
or gives what the C compiler computes; nothing crashes.

Each property runs in a process of its own, so that a crash fails its test instead of the run (tests/test_fuzz.py):
``python tests/fuzz_cases.py NAME`` runs one and prints ``inputs tried: N`` last. ``NATIVEFFI_FUZZ_EXAMPLES``
(default 200) sets hypothesis's examples per property; the boundary sweeps are exhaustive whatever it says.
"""
from __future__ import annotations

import array
import ctypes
import decimal
import fractions
import math
import operator
import os
import pathlib
import struct
import sys
import warnings
from typing import Any, Callable

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "native")]

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402

import build  # noqa: E402
import nativeffi as nf  # noqa: E402
from helpers import cfunc  # noqa: E402
from nativeffi import (  # noqa: E402
    Array, Bits, Int, NativeCallable, NativeFunction, Pointer, Size, Struct, Uint8, VarArgs, Void, _core, assets,
    malloc, native_type, sizeof,
)
from nativeffi import types as nt  # noqa: E402

# __index__/__float__ returning a subclass, numpy's complex -> float: deprecated or lossy, but what CPython does
warnings.simplefilter("ignore", DeprecationWarning)
warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
EXAMPLES = int(os.environ.get("NATIVEFFI_FUZZ_EXAMPLES", "200"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))
SENSIBLE = (TypeError, ValueError, OverflowError)
LIB = str(build.build("scalars"))
tried = 0  # inputs tried by the running property (one call of one path counts one)


# -- The scalar table, as Python sees it ----------------------------------------------------------------------------

class Scalar:
    """One row of the type table: its alias, kind ('int', 'float', 'bool'), size, range and struct format."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.t = getattr(nf, name)
        ct = native_type(self.t)
        self.size = int(ct.size)
        self.kind = "float" if ct.kind in ("float", "double", "longdouble") else "bool" if ct.kind == "bool" else "int"
        if self.kind == "int":
            bits = 8 * self.size
            self.lo, self.hi = (-2 ** (bits - 1), 2 ** (bits - 1) - 1) if ct.signed else (0, 2 ** bits - 1)
            self.fmt = {1: "b", 2: "h", 4: "i", 8: "q"}[self.size]
            self.fmt = self.fmt if ct.signed else self.fmt.upper()
        else:
            self.lo, self.hi = (0, 1) if self.kind == "bool" else (None, None)
            self.fmt = {"bool": "?", "float": {4: "f", 8: "d"}.get(self.size, "g")}[self.kind]

    def __repr__(self) -> str:
        return self.name


SCALARS = {n: Scalar(n) for n in nt.SCALAR_NAMES}


# -- Values: Python numbers at every boundary, look-alikes, and things that are not numbers --------------------------

class IntSub(int):
    """An int subclass."""


class FloatSub(float):
    """A float subclass."""


class Indexable:
    """An object whose __index__ returns `v` (or raises it, if it is an exception)."""

    def __init__(self, v: Any) -> None:
        self.v = v

    def __index__(self) -> Any:
        if isinstance(self.v, BaseException):
            raise self.v
        return self.v

    def __repr__(self) -> str:
        return f"Indexable({self.v!r})"


class Floatable(Indexable):
    """An object whose __float__ returns `v` (or raises it)."""

    __index__ = None  # type: ignore[assignment]

    def __float__(self) -> Any:
        return Indexable.__index__(self)

    def __repr__(self) -> str:
        return f"Floatable({self.v!r})"


class Both:
    """An object with __index__ returning `i` and __float__ returning `f`: int types take the one, floats the other."""

    def __init__(self, i: int, f: float) -> None:
        self.i, self.f = i, f

    def __index__(self) -> int:
        return self.i

    def __float__(self) -> float:
        return self.f

    def __repr__(self) -> str:
        return f"Both({self.i!r}, {self.f!r})"


FLT_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]
BOUNDARY_INTS = sorted({b for s in SCALARS.values() if s.kind == "int" for b in (s.lo - 1, s.lo, s.hi, s.hi + 1)}
                       | {0, 1, -1, 2, 2 ** 53 + 1, 10 ** 30, -(10 ** 30), 2 ** 1000, -(2 ** 1000)})
BOUNDARY_FLOATS = [0.0, -0.0, 1.0, -1.5, math.nan, -math.nan, math.inf, -math.inf, 5e-324, 1.4e-45, 0.7e-45,
                   FLT_MAX, -FLT_MAX, math.nextafter(FLT_MAX, math.inf),
                   FLT_MAX * (1 + 2 ** -25), FLT_MAX * (1 + 2 ** -24), 1e308, sys.float_info.max, 2.0 ** 63,
                   2.0 ** 64, 0.5, 2.5]
ERRORS = [ValueError("from the user"), RuntimeError("from the user"), ZeroDivisionError("from the user"),
          KeyError("from the user"), UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")]
NUMPY_TYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.float16,
               np.float32, np.float64, np.longdouble, np.bool_, np.complex64]


def numpy_scalar(t: Any, v: Any) -> Any:
    """`v` as a numpy scalar of type `t`, or `v` itself when numpy refuses (out of its range)."""
    try:
        with np.errstate(all="ignore"):
            return t(v)
    except (OverflowError, ValueError, TypeError):
        return v


def boundary_values() -> list[Any]:
    """Every boundary value and every kind of look-alike of a number, for the exhaustive sweep."""
    out: list[Any] = [True, False, None, "1", b"1", 1j, [1], decimal.Decimal("1.5"), decimal.Decimal("sNaN"),
                      fractions.Fraction(1, 3), Indexable(2.0), Indexable(IntSub(3)), Floatable(1), Floatable("x"),
                      Floatable(FloatSub(2.5)), *(Indexable(e) for e in ERRORS), *(Floatable(e) for e in ERRORS)]
    for v in BOUNDARY_INTS:
        out += [v, IntSub(v), Indexable(v), Both(v, 0.25)]
    for v in BOUNDARY_FLOATS:
        out += [v, FloatSub(v), Floatable(v), Both(1, v)]
    for t in NUMPY_TYPES:
        out += [numpy_scalar(t, v) for v in (0, 1, -1, 127, 128, 255, 256, 2 ** 31, 2 ** 63 - 1, 2 ** 64 - 1, 1.5,
                                             math.nan, math.inf)]
    return out


def values() -> st.SearchStrategy[Any]:
    """Any Python value a caller might pass for a scalar, weighted towards numbers near the boundaries."""
    ints = st.one_of(st.integers(), st.sampled_from(BOUNDARY_INTS),
                     st.sampled_from(BOUNDARY_INTS).flatmap(lambda b: st.integers(b - 3, b + 3)))
    floats = st.one_of(st.floats(), st.sampled_from(BOUNDARY_FLOATS), st.floats(width=32))
    other = st.one_of(st.booleans(), st.none(), st.text(st.characters(codec=None), max_size=3), st.binary(max_size=3),
                      st.complex_numbers(), st.decimals(), st.fractions(), st.sampled_from(ERRORS))
    wrapped = st.one_of(ints.map(IntSub), floats.map(FloatSub), st.one_of(ints, floats, other).map(Indexable),
                        st.one_of(ints, floats, other).map(Floatable), st.builds(Both, ints, floats),
                        st.builds(numpy_scalar, st.sampled_from(NUMPY_TYPES), st.one_of(ints, floats)))
    return st.one_of(ints, floats, other, wrapped)


# -- The oracle: what C gets for a value, or the exception it must raise -------------------------------------------

class Raises:
    """The expected outcome "raises `exc`" (a user exception may arrive as its nearest base made from a message)."""

    def __init__(self, exc: type[BaseException]) -> None:
        self.exc = exc

    def __repr__(self) -> str:
        return f"Raises({self.exc.__name__})"


def _index(obj: Any) -> Any:
    """operator.index(obj), or Raises(what it raises)."""
    try:
        return operator.index(obj)
    except Exception as e:  # noqa: BLE001 - the oracle records what the user's __index__ raises
        return Raises(type(e))


def _as_double(obj: Any) -> Any:
    """What CPython's PyFloat_AsDouble gives for obj, or Raises(...)."""
    if isinstance(obj, float):
        return float.__float__(obj)
    tp = type(obj)
    if getattr(tp, "__float__", None) is not None:
        try:
            r = tp.__float__(obj)
        except Exception as e:  # noqa: BLE001
            return Raises(type(e))
        return float.__float__(r) if isinstance(r, float) else Raises(TypeError)
    if getattr(tp, "__index__", None) is not None:
        i = _index(obj)
        if isinstance(i, Raises):
            return i
        try:
            return float(i)
        except OverflowError:
            return Raises(OverflowError)
    return Raises(TypeError)


def expected(s: Scalar, obj: Any) -> Any:
    """The value C gets for `obj` passed as `s` (as C converts it), or Raises(exception)."""
    if s.kind == "float":
        if isinstance(obj, int) and not isinstance(obj, float):
            try:
                d = float(int(obj))
            except OverflowError:
                return Raises(OverflowError)
        else:
            d = _as_double(obj)
            if isinstance(d, Raises):
                return d
        if s.size != 4:  # double, and long double: it holds every double, and reads back as that double
            return d
        try:
            return struct.unpack("<f", struct.pack("<f", d))[0]  # C's (float) rounding; too large: OverflowError
        except OverflowError:
            return Raises(OverflowError)
    if obj is True or obj is False:
        return int(obj) if s.kind == "int" else obj
    if isinstance(obj, float) or getattr(type(obj), "__index__", None) is None:
        return Raises(TypeError)
    v = _index(obj)
    if isinstance(v, Raises):
        return v
    if not s.lo <= v <= s.hi:
        return Raises(OverflowError)
    return bool(v) if s.kind == "bool" else int(v)


def same_value(got: Any, want: Any) -> bool:
    """Equal values of the same Python type; any NaN equals any NaN; -0.0 differs from 0.0."""
    if type(got) is not type(want):
        return False
    if isinstance(want, float):
        if math.isnan(want):
            return math.isnan(got)
        return got == want and math.copysign(1, got) == math.copysign(1, want)
    return bool(got == want)


def check(where: str, call: Callable[[], Any], want: Any, obj: Any) -> None:
    """Runs `call` and checks that it gives `want` (a value, or Raises)."""
    global tried
    tried += 1
    try:
        got = call()
    except Exception as e:  # noqa: BLE001
        if not isinstance(want, Raises):
            raise AssertionError(f"{where}: {obj!r} raised {e!r}; C's value is {want!r}") from e
        if want.exc in (TypeError, ValueError, OverflowError):
            ok = isinstance(e, want.exc)
        else:  # the user's exception, or its nearest base that is made from a message
            ok = type(e) in want.exc.__mro__ and type(e) not in (Exception, BaseException)
        assert ok, f"{where}: {obj!r} raised {e!r}, expected {want.exc.__name__}"
        return
    assert not isinstance(want, Raises), f"{where}: {obj!r} gave {got!r}, expected {want.exc.__name__}"
    assert same_value(got, want), f"{where}: {obj!r} gave {got!r}, C's value is {want!r}"


# -- The paths a scalar value can take ------------------------------------------------------------------------------

class Paths:
    """Every way a Python value reaches a C scalar of one type, each returning what C holds afterwards."""

    def __init__(self, s: Scalar) -> None:
        t, name = s.t, s.name
        addr = assets.lookup(LIB, f"id_{name}")
        self.direct = cfunc(LIB, f"id_{name}", [t], t)
        self.stub = Pointer[NativeFunction[[t], t]].from_address(addr).as_function(capture_errno=True)
        va = Pointer[NativeFunction[[Int, VarArgs[t]], t]].from_address(assets.lookup(LIB, f"va_{name}"))
        self.variadic = va.as_function()
        self.struct = type(Struct)(f"Packed{name}", (Struct,), {"__annotations__": {"pad": Uint8, "v": t}}, pack=1)
        self.cell = malloc(t, 1)
        self.box: list[Any] = [None]
        exceptional = 1.0 if s.kind == "float" else True if s.kind == "bool" else 1
        self.callable = NativeCallable.isolate_local(NativeFunction[[], t], lambda: self.box[0],
                                                     exceptional_return=exceptional)
        self.returned = self.callable.native_function.as_function()
        self.unraisable: list[Any] = []

    def field(self, obj: Any) -> Any:
        v = self.struct()
        v.v = obj
        return v.v

    def element(self, obj: Any) -> Any:
        self.cell[0] = obj
        return self.cell[0]

    def callback_return(self, obj: Any) -> Any:
        """What C gets when a callback returns obj; a refused value raises what reached sys.unraisablehook."""
        self.box[0] = obj
        del self.unraisable[:]
        hook, sys.unraisablehook = sys.unraisablehook, self.unraisable.append
        try:
            r = self.returned()
        finally:
            sys.unraisablehook = hook
        if self.unraisable:
            raise self.unraisable[0].exc_value
        return r

    def all(self) -> list[tuple[str, Callable[[Any], Any]]]:
        return [("direct entry", self.direct), ("stub", self.stub),
                ("libffi (variadic)", lambda o: self.variadic(0, o)),
                ("struct field", self.field), ("pointer element", self.element),
                ("callback return", self.callback_return)]


_paths: dict[str, Paths] = {}


def paths(s: Scalar) -> Paths:
    if s.name not in _paths:
        _paths[s.name] = Paths(s)
    return _paths[s.name]


def check_scalar(s: Scalar, obj: Any) -> None:
    want = expected(s, obj)
    for where, fn in paths(s).all():
        check(f"{s.name} by {where}", lambda: fn(obj), want, obj)


def scalar_boundaries() -> None:
    """Every boundary value and look-alike, as every scalar type, by every path: C's value or a sensible error.

    Runs all of them, then fails listing every kind of failure (by type, path and outcome) with one example each."""
    failures: dict[tuple[str, ...], str] = {}
    for s in SCALARS.values():
        for obj in boundary_values():
            want = expected(s, obj)
            for where, fn in paths(s).all():
                try:
                    check(f"{s.name} by {where}", lambda: fn(obj), want, obj)
                except AssertionError as e:
                    got = repr(e.__cause__)[:40] if e.__cause__ else str(e).split(" raised ")[-1][:40]
                    failures.setdefault((s.name, where, type(obj).__name__, got), str(e))
    assert not failures, f"{len(failures)} kinds of failure:\n" + "\n".join(sorted(failures.values()))


@SETTINGS
@given(st.sampled_from(sorted(SCALARS)), values())
def scalar_values(name: str, obj: Any) -> None:
    """Any value, as any scalar type, by every path: C's value or a sensible error."""
    check_scalar(SCALARS[name], obj)


# -- Buffers for pointer parameters ---------------------------------------------------------------------------------

NUMPY_DTYPES = ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "g", "?", "c8", "S3", ">i4", ">f8",
                "V4", "O"]
FORMAT_KINDS = {**dict.fromkeys("bhilqn", "int"), **dict.fromkeys("BHILQN", "uint"), **dict.fromkeys("efdg", "float"),
                "?": "bool", "w": "wchar", "u": "wchar"}
CHAR_LIKE = ("Char", "SignedChar", "UnsignedChar", "Int8", "Uint8")


def make_numpy(dtype: str, n: int, data: bytes, strided: bool, readonly: bool) -> Any:
    if dtype == "O":
        a = np.array([None] * (2 * n if strided else n), dtype=object)
    else:
        dt = np.dtype(dtype)
        raw = (data * (1 + 2 * n * dt.itemsize))[:2 * n * dt.itemsize] if data else bytes(2 * n * dt.itemsize)
        a = np.frombuffer(raw, dtype=dt).copy()
    a = a[::2] if strided else a[:n]
    a.flags.writeable = not readonly
    return a


def make_array(code: str, n: int, data: bytes) -> Any:
    a = array.array(code)
    raw = (data * (1 + n * a.itemsize))[:n * a.itemsize] if data else bytes(n * a.itemsize)
    a.frombytes(raw)
    return a


def buffers() -> st.SearchStrategy[Any]:
    """Buffers of every format array and numpy make (contiguous or strided, writable or read-only), bytes, bytearray,
    memoryview casts, structs and array views."""
    data = st.binary(max_size=16)
    n = st.integers(0, 4)
    return st.one_of(
        st.builds(make_numpy, st.sampled_from(NUMPY_DTYPES), n, data, st.booleans(), st.booleans()),
        st.builds(make_array, st.sampled_from(array.typecodes), n, data),
        st.binary(max_size=16), data.map(bytearray),
        st.builds(lambda d, c: memoryview(bytearray(d * 8 if d else bytes(8))).cast(c), data,
                  st.sampled_from("bBhHiIqQfd?")),
        st.builds(lambda name, k: Array[SCALARS[name].t, k](), st.sampled_from(sorted(SCALARS)), st.integers(1, 3)),
        st.just(SomeStruct()),
    )


class SomeStruct(Struct):
    x: nf.Int64
    y: nf.Int64


def buffer_accepted(s: Scalar | None, obj: Any, argument: bool = True) -> bool:
    """Whether a buffer may pass for Pointer[s] (None: Pointer[Void], which takes anything contiguous): an array view
    of the pointee's kind, or a buffer whose PEP 3118 format is a native-order element of the pointee's kind and
    size (for char-like pointees any one-byte format, so bytes and bytearray). As an argument a struct value passes
    only for its own type; from_buffer sees just its bytes (format 'B'), as memoryview() does."""
    m = memoryview(obj)
    if not m.contiguous:
        return False
    if s is None:
        return True
    if isinstance(obj, (Struct, nf.Union)) and argument:
        return False                         # a struct or union value passes only for its own pointer type
    if isinstance(obj, nf.ArrayView) and argument:   # an array passes for a pointer to its element (C's decay)
        et = obj.native_type.target
        one_byte = {"int8", "uint8"}
        return et.kind == native_type(s.t).kind or {et.kind, native_type(s.t).kind} <= one_byte
    fmt = m.format
    if fmt[:1] in "@=<":
        fmt = fmt[1:]
    kind = FORMAT_KINDS.get(fmt) or ("uint" if fmt == "c" else None)
    if kind is None:
        return False
    if s.name in CHAR_LIKE:
        return fmt in "bBc"                  # text and bytes: any one-byte integer or char format
    if kind == "wchar":
        return s.name == "WChar" and m.itemsize == s.size
    want = {"int": "int" if native_type(s.t).signed else "uint", "float": "float", "bool": "bool"}[s.kind]
    return kind == want and m.itemsize == s.size


_first: dict[str, Any] = {}


def first_of(s: Scalar | None) -> Any:
    """first_<type>(Pointer[T], Size) of the scalars library: the first element of a buffer of n bytes, else 0."""
    key = s.name if s else "Void"
    if key not in _first:
        t = s.t if s else Void
        r = s.t if s else nf.Uint8
        addr = assets.lookup(LIB, f"first_{s.name if s else 'Uint8'}")
        _first[key] = Pointer[NativeFunction[[Pointer[t], Size], r]].from_address(addr).as_function()
    return _first[key]


def check_buffer(name: str | None, obj: Any) -> None:
    """Passes obj for Pointer[name] (None: Pointer[Void]) as an argument and through from_buffer, and checks the
    outcome against buffer_accepted and the bytes in memory."""
    global tried
    s = SCALARS[name] if name else None
    accepted = buffer_accepted(s, obj)
    nbytes = memoryview(obj).nbytes
    raw = memoryview(obj).tobytes() if accepted else b""
    want: Any
    if s and s.fmt == "g":  # long double: the struct module has no format for it; ctypes reads it as C does
        size = ctypes.sizeof(ctypes.c_longdouble)
        want = ctypes.c_longdouble.from_buffer_copy(raw[:size]).value if len(raw) >= size else 0.0
    else:
        fmt = "<" + (s.fmt if s else "B")
        size = struct.calcsize(fmt)
        want = struct.unpack_from(fmt, raw)[0] if len(raw) >= size else (0.0 if s and s.kind == "float" else 0)
    if s and s.kind == "bool":
        want = bool(raw[0]) if raw else False  # first_Bool reads the byte: any nonzero byte is true
    writable = not memoryview(obj).readonly
    for where, ok, call in (
            ("argument", accepted, lambda: first_of(s)(obj, nbytes)),
            ("from_buffer", buffer_accepted(s, obj, argument=False) and writable,
             lambda: first_of(s)(Pointer[s.t if s else Void].from_buffer(obj), nbytes))):
        tried += 1
        try:
            got = call()
        except TypeError:
            assert not ok, f"Pointer[{name or 'Void'}] {where}: {describe(obj)} refused, expected accepted"
            continue
        assert ok, f"Pointer[{name or 'Void'}] {where}: {describe(obj)} accepted, expected a TypeError"
        assert same_value(got, want), f"Pointer[{name or 'Void'}] {where}: C read {got!r} from {describe(obj)}, " \
                                      f"expected {want!r}"


@SETTINGS
@given(st.sampled_from([None, *sorted(SCALARS)]), buffers())
@example("Double", np.ones(2, np.float32)).via("the issue: float32 for Pointer[Double]")
@example("Double", np.ones(2, np.int64)).via("the issue: int64 for Pointer[Double]")
@example("Int64", SomeStruct()).via("the issue: a 16-byte struct for Pointer[Int64]")
@example("Int32", np.ones(2, ">i4")).via("big-endian")
@example("Int32", np.ones(4, np.int32)[::2]).via("strided")
@example("Int32", np.ones(2, np.int32)).via("the right type")
@example(None, np.ones(2, ">i4")).via("anything for Pointer[Void]")
def pointer_buffers(name: str | None, obj: Any) -> None:
    """A buffer passed for Pointer[T] (and to Pointer[T].from_buffer, which takes only writable ones) is refused with
    a TypeError when its element type is not T's, else C reads its first element as it is in memory."""
    check_buffer(name, obj)


def buffer_formats() -> None:
    """Every buffer format of numpy and array (contiguous, strided, read-only), bytes, bytearray, structs and array
    views, for every pointer type: accepted exactly when the element type matches, and then read as in memory.

    Runs all of them, then fails listing every pointer type and buffer kind that failed, with one message each."""
    objs: list[Any] = [b"\x01" * 16, bytearray(b"\x01" * 16), SomeStruct(), SomeUnion()]
    objs += [make_numpy(d, 2, b"\x01\x02\x03", strided, ro) for d in NUMPY_DTYPES for strided in (False, True)
             for ro in (False, True)]
    objs += [make_array(c, 2, b"\x01\x02\x03") for c in array.typecodes]
    objs += [memoryview(bytearray(b"\x01" * 16)).cast(c) for c in "bBhHiIqQfd?"]
    objs += [Array[SCALARS[n].t, 2]() for n in SCALARS]
    failures: dict[tuple[str, str], str] = {}
    for name in [None, *SCALARS]:
        for obj in objs:
            try:
                check_buffer(name, obj)
            except AssertionError as e:
                failures.setdefault((name or "Void", describe(obj)), str(e))
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(sorted(failures.values()))


def describe(obj: Any) -> str:
    m = memoryview(obj)
    if isinstance(obj, nf.ArrayView):
        return f"{obj.native_type.name} (an ArrayView)"
    return f"{type(obj).__name__} format {m.format!r} itemsize {m.itemsize} shape {m.shape} " \
           f"{'contiguous' if m.contiguous else 'strided'}"


# -- Text -----------------------------------------------------------------------------------------------------------

@SETTINGS
@given(st.text(st.characters(codec=None), max_size=8), st.sampled_from(["Char", "Utf8", "Int32"]))
@example("\ud800", "Char").via("a lone surrogate")
@example("a\0b", "Utf8").via("a NUL")
@example("h\u00e9llo \U0001f600", "Char").via("2- and 4-byte UTF-8")
def text_arguments(text: str, target: str) -> None:
    """A str reaches C as its UTF-8 bytes for Pointer[Char] and Pointer[Utf8]; one that has a NUL or a lone surrogate
    is a ValueError (UnicodeEncodeError is one); for other pointers a TypeError."""
    global tried
    t = nf.Utf8 if target == "Utf8" else getattr(nf, target)
    strdup = Pointer[NativeFunction[[Pointer[t]], Pointer[nf.Char]]].from_address(
        assets.lookup("libc.so.6", "strdup")).as_function()
    try:
        encoded = text.encode("utf-8")
        text_want: Any = Raises(ValueError) if "\0" in text else text
    except UnicodeEncodeError:
        text_want = Raises(ValueError)
    want = Raises(TypeError) if target == "Int32" else text_want

    def call() -> str:
        p = strdup(text)
        try:
            return p.cast(nf.Uint8).as_memoryview(len(encoded)).tobytes().decode("utf-8")
        finally:
            nf.malloc.free(p)
    check(f"str for Pointer[{target}]", call, want, text)
    tried -= 1
    check("to_native_utf8", lambda: nf.to_native_utf8(text).to_str(), text_want, text)


# -- Type expressions -----------------------------------------------------------------------------------------------

class SomeUnion(nf.Union):
    i: nf.Int32
    d: nf.Double


class Handle(nf.Opaque):
    pass


TYPEISH = [*(getattr(nf, n) for n in nt.SCALAR_NAMES), Void, None, Pointer[nf.Int32], Pointer[Void], SomeStruct,
           SomeUnion, Handle, nf.Utf8, Pointer[Handle], Pointer[NativeFunction[[nf.Int32], nf.Int32]], int, float, 5,
           "Int32", Array[nf.Int32, 2], Bits[Uint8, 3], NativeFunction[[nf.Int32], nf.Int32], [], [nf.Int32],
           VarArgs[nf.Int32], VarArgs[nf.Double, nf.Int8], VarArgs[()], VarArgs[SomeStruct], object()]


def zero_of(t: Any) -> Any:
    """A value of native type t (zero, nullptr, a zeroed struct), or None for Void."""
    ct = native_type(t)
    if ct.kind == "void":
        return None
    if ct.kind == "pointer":
        return nf.nullptr
    if ct.kind in ("struct", "union"):
        return ct.pyclass()
    if ct.kind == "array":
        return None
    return {"float": 0.0, "double": 0.0, "bool": False}.get(ct.kind, 0)


@SETTINGS
@given(st.one_of(st.lists(st.sampled_from(TYPEISH), max_size=6), st.sampled_from(TYPEISH)),
       st.sampled_from(TYPEISH), st.booleans())
def function_types(params: Any, ret: Any, leaf: bool) -> None:
    """Any NativeFunction[params, ret] is a sensible error or a type; binding it and making a callable of it is a
    sensible error or works, and a call through the callable's own pointer passes zeros both ways."""
    global tried
    tried += 1
    try:
        ft = NativeFunction[params, ret]
        fp = Pointer[ft]
    except SENSIBLE:
        return
    try:
        fn = fp.from_address(assets.lookup(LIB, "id_Int64")).as_function(is_leaf=leaf)
    except SENSIBLE:
        fn = None
    seen: list[Any] = []
    rct = native_type(ret)
    try:
        extra = {} if rct.kind == "void" else {"exceptional_return": zero_of(ret)}
        cb = NativeCallable.isolate_local(ft, lambda *a: seen.append(a) or zero_of(ret), **extra)
    except SENSIBLE:
        return
    with cb:
        if fn is None:
            return
        args = [zero_of(p) for p in ft.__native__.params]
        if any(a is None for a in args):
            return
        call = cb.native_function.as_function(is_leaf=leaf)
        r = call(*args)
        assert len(seen) == 1 and len(seen[0]) == len(args), f"{ft!r}: the callback saw {seen!r} for {args!r}"
        if rct.kind not in ("void", "struct", "union", "pointer"):
            assert r == zero_of(ret), f"{ft!r} returned {r!r}"


@SETTINGS
@given(st.one_of(st.sampled_from(sorted(SCALARS)), st.just("SomeStruct")),
       st.lists(st.one_of(st.integers(), st.sampled_from([0, -1, 1, 2 ** 31, 2 ** 32, 2 ** 61, 2 ** 62, 2 ** 63,
                                                          2 ** 64, 2 ** 100]), st.booleans(), st.floats(),
                          st.none(), st.text(max_size=2)), min_size=1, max_size=3))
@example("Int8", [2 ** 61]).via("the issue's struct of sizeof 0")
@example("Int64", [2 ** 31, 2 ** 31]).via("a product that overflows 64 bits in bytes")
@example("SomeStruct", [2 ** 59, 2]).via("a struct element")
def array_types(elem: str, dims: list[Any]) -> None:
    """Array[T, dims] and a struct holding it: a sensible error, or C's size (n x sizeof(T)), every element writable
    and index n an IndexError; no size wraps around."""
    global tried
    tried += 1
    t = SomeStruct if elem == "SomeStruct" else SCALARS[elem].t
    ints = all(isinstance(d, int) and not isinstance(d, bool) for d in dims)
    total = math.prod(dims) * sizeof(t) if ints and all(d >= 1 for d in dims) else None
    try:
        a = Array[(t, *dims)]  # type: ignore[misc]
        holder = type(Struct)("Holder", (Struct,), {"__annotations__": {"a": a}})
    except SENSIBLE:
        assert total is None or total > 2 ** 40, f"Array[{elem}, {dims}] refused, C's size is {total}"
        return
    assert total is not None, f"Array[{elem}, {dims}] accepted"
    assert sizeof(a) == total and sizeof(holder) == total, \
        f"Array[{elem}, {dims}]: sizeof {sizeof(a)}, in a struct {sizeof(holder)}; C's size is {total}"
    if total <= 2 ** 16 and elem != "SomeStruct":
        h = holder()
        view = h.a
        for d in dims[:-1]:
            view = view[d - 1]
        v = True if SCALARS[elem].kind == "bool" else 1
        view[dims[-1] - 1] = v
        assert view[dims[-1] - 1] == v and view[-1] == v
        for bad in (dims[-1], -dims[-1] - 1):
            try:
                view[bad]
            except IndexError:
                continue
            raise AssertionError(f"Array[{elem}, {dims}]: index {bad} did not raise IndexError")


@SETTINGS
@given(st.sampled_from([n for n, s in SCALARS.items() if s.kind != "float"] + ["Double", "Pointer"]),
       st.one_of(st.integers(-3, 70), st.booleans(), st.floats(), st.none()), st.integers(-2 ** 65, 2 ** 65),
       st.integers(-40, 40))
def bit_fields(name: str, width: Any, value: int, near: int) -> None:
    """Bits[T, w] is a TypeError or ValueError unless T is an integer type and 0 <= w <= its bits (0: unnamed
    padding); a bit field stores exactly the values of its width (others: OverflowError or ValueError) and leaves its
    neighbours alone."""
    global tried
    tried += 1
    t = Pointer[nf.Int8] if name == "Pointer" else SCALARS[name].t
    s = SCALARS.get(name)
    bits = 8 * s.size if s and s.kind == "int" else 1 if s and s.kind == "bool" else 0
    valid = isinstance(width, int) and not isinstance(width, bool) and 0 <= width <= bits and bits > 0
    try:
        cls = type(Struct)("B", (Struct,), {"__annotations__": {"pre": Uint8, "b": Bits[t, width],
                                                                "post": Bits[Uint8, 3]}})
    except SENSIBLE:
        assert not valid, f"Bits[{name}, {width!r}] refused"
        return
    assert valid, f"Bits[{name}, {width!r}] accepted"
    if width == 0:  # C's unnamed `T : 0`: padding, no attribute
        assert [f.name for f in nf.fields(cls)] == ["pre", "post"], f"Bits[{name}, 0] made {nf.fields(cls)}"
        return
    signed = s.kind == "int" and native_type(t).signed
    lo, hi = (-2 ** (width - 1), 2 ** (width - 1) - 1) if signed else (0, 2 ** width - 1)
    v = value if near == 0 else (lo if near < 0 else hi) + near // 8
    x = cls(pre=0xA5, post=5)
    try:
        x.b = bool(v) if s.kind == "bool" and v in (0, 1) else v
    except (OverflowError, ValueError):
        assert not lo <= v <= hi, f"Bits[{name}, {width}] refused {v}"
    else:
        assert lo <= v <= hi, f"Bits[{name}, {width}] accepted {v}, outside [{lo}, {hi}]"
        assert x.b == v, f"Bits[{name}, {width}] stored {v}, read {x.b}"
    assert (x.pre, x.post) == (0xA5, 5), f"Bits[{name}, {width}] = {v} changed its neighbours"


NAMES = ["a", "b", "a", "", "__x", "copy", 5, None]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(["self", "other", "Int32", "Int8", "SomeStruct",
                                                                    "Void", "Array"]),
                          st.sampled_from([-1, -1, 0, 1, 3, 40])), max_size=5),
       st.sampled_from([0, 1, 2, 3, 8, 16, 32, -1]), st.booleans(), st.booleans())
def layouts(specs: list[tuple[Any, str, int]], pack: int, union: bool, again: bool) -> None:
    """The core's set_layout, given duplicate or odd names, a struct containing itself or another incomplete one by
    value, any widths and packs, raises a sensible error or lays out a struct whose named fields are distinct and in
    order; a laid out struct cannot be laid out again."""
    global tried
    tried += 1
    ct = _core.compound_type("union" if union else "struct", "F")
    other = _core.compound_type("struct", "Incomplete")
    types = {"self": ct, "other": other, "Int32": native_type(nf.Int32), "Int8": native_type(nf.Int8),
             "SomeStruct": native_type(SomeStruct), "Void": native_type(Void), "Array": native_type(Array[nf.Int8, 3])}
    full = [(n, types[k], w) for n, k, w in specs]
    try:
        fields = _core.set_layout(ct, full, pack)
    except SENSIBLE:
        return
    names = [f.name for f in fields]
    named = [n for n, _, w in specs if w != 0]  # a zero width is C's unnamed `T : 0`, whatever name it was given
    assert names == named and len(set(names)) == len(names), f"set_layout({specs}) gave fields {names}"
    assert all(k not in ("self", "other", "Void") for _, k, _ in specs), f"set_layout({specs}) accepted"
    if again:
        try:
            _core.set_layout(ct, [("z", types["Int32"], -1)], 0)
        except SENSIBLE:
            return
        raise AssertionError(f"a laid out struct was laid out again (sizeof {ct.size})")


def recursive_structs() -> None:
    """A struct holding itself by value, directly, in an array or through a union, is a TypeError at declaration."""
    global tried
    ns: dict[str, Any] = {}
    for body in ("class R(Struct):\n    r: 'R'\n", "class R(Struct):\n    a: Int8\n    r: Array['R', 2]\n",
                 "class R(Struct):\n    r: Array[Array['R', 1], 1]\n"):
        tried += 1
        try:
            exec(body, {"Struct": Struct, "Array": Array, "Int8": nf.Int8}, ns)
        except SENSIBLE:
            continue
        raise AssertionError(f"accepted:\n{body}")
    tried += 1
    a, b = _core.compound_type("struct", "A"), _core.compound_type("union", "B")
    try:
        _core.set_layout(b, [("a", a, -1)], 0)
    except SENSIBLE:
        return
    raise AssertionError("a union holding an incomplete struct by value was laid out")


# -- Signatures: random functions called through a callback's own pointer -------------------------------------------

def scalar_value(s: Scalar) -> st.SearchStrategy[Any]:
    if s.kind == "float":
        return st.floats(allow_nan=False, width=32 if s.size == 4 else 64)
    if s.kind == "bool":
        return st.booleans()
    return st.integers(s.lo, s.hi)


@st.composite
def signatures(draw: Any) -> tuple[list[Scalar], Scalar | None, list[Any], Any]:
    params = draw(st.lists(st.sampled_from(list(SCALARS.values())), max_size=14))
    ret = draw(st.one_of(st.none(), st.sampled_from(list(SCALARS.values()))))
    args = [draw(scalar_value(p)) for p in params]
    return params, ret, args, draw(scalar_value(ret)) if ret else None


@SETTINGS
@given(signatures(), st.booleans(), st.sampled_from(["isolate_local", "isolate_group_bound"]))
def callback_signatures(sig: tuple[list[Scalar], Scalar | None, list[Any], Any], leaf: bool, kind: str) -> None:
    """A function of any scalar signature (direct entries, stubs with stack words, libffi past them; register thunks
    or libffi closures) called through a callable's pointer: Python gets C's arguments and C the Python result."""
    global tried
    tried += 1
    params, ret, args, result = sig
    ft = NativeFunction[[p.t for p in params], ret.t if ret else Void]
    seen: list[Any] = []
    extra = {"exceptional_return": zero_of(ret.t)} if ret else {}
    with getattr(NativeCallable, kind)(ft, lambda *a: seen.append(a) or result, **extra) as cb:
        got = cb.native_function.as_function(is_leaf=leaf)(*args)
    assert seen == [tuple(args)], f"{ft!r}: the callback saw {seen!r}, C passed {args!r}"
    assert got == result, f"{ft!r}: C got {got!r}, the callback returned {result!r}"


PROPERTIES: dict[str, Callable[[], None]] = {
    "scalar_boundaries": scalar_boundaries,
    "scalar_values": scalar_values,
    "buffer_formats": buffer_formats,
    "pointer_buffers": pointer_buffers,
    "text_arguments": text_arguments,
    "function_types": function_types,
    "array_types": array_types,
    "bit_fields": bit_fields,
    "layouts": layouts,
    "recursive_structs": recursive_structs,
    "callback_signatures": callback_signatures,
}


def main(name: str) -> None:
    try:
        PROPERTIES[name]()
    finally:
        print(f"inputs tried: {tried}")
        for p in _paths.values():
            p.callable.close()


if __name__ == "__main__":
    main(sys.argv[1])
