"""Argument checks: function-pointer signatures, buffers against the pointee, prefixed errors that keep their
cause, and the per-thread scratch area of large returns."""
from __future__ import annotations

import array
import ctypes
import threading
import tracemalloc
from typing import Any

import pytest

from helpers import cfunc
from nativeffi import (
    Array, Char, Double, Float, Int32, Int64, NativeCallable, NativeFunction, Pointer, Size, Struct, Uint8,
    Utf8, Void, address_of, native, native_type,
)

I64_FN = NativeFunction[[Int64], Int64]


@pytest.fixture(scope="module")
def lib(native_lib: Any) -> str:
    return native_lib("checks")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def c(lib: str) -> Any:
    """The helper library's functions, bound by name."""
    class C:
        apply_i64 = cfunc(lib, "apply_i64", [Pointer[I64_FN], Int64], Int64, is_leaf=False)
        poke_u8 = cfunc(lib, "poke_u8", [Pointer[Uint8], Size], Void)
        sum_i64 = cfunc(lib, "sum_i64", [Pointer[Int64], Size], Int64)
        sum_i64_ffi = cfunc(lib, "sum_i64", [Pointer[Int64], Size, Int64, Int64, Int64, Int64, Int64, Int64, Int64,
                                             Int64, Int64, Int64], Int64)  # past the stubs' registers: libffi
        sum_f64 = cfunc(lib, "sum_f64", [Pointer[Double], Size], Double)
        byte_len = cfunc(lib, "byte_len", [Pointer[Char], ], Size)
        address = cfunc(lib, "address_of_ptr", [Pointer[Void]], Int64)
    return C


# -- Function pointers: the signature is checked like any pointee ------------------------------

def test_callable_of_another_signature_is_refused(c: Any) -> None:
    """A NativeCallable of [Int64 x4] -> Int64 passed for Pointer[NativeFunction[[Int64], Int64]] is a TypeError naming both."""
    with NativeCallable.isolate_local(NativeFunction[[Int64, Int64, Int64, Int64], Int64], lambda a, b, c, d: a,
                                      exceptional_return=0) as cb:
        with pytest.raises(TypeError, match=r"\(\) argument 1.*NativeFunction\[\[Int64\], Int64\].*"
                                            r"NativeFunction\[\[Int64, Int64, Int64, Int64\], Int64\]"):
            c.apply_i64(cb, 5)
        with pytest.raises(TypeError, match="NativeFunction"):
            c.apply_i64(cb.native_function, 5)


def test_callable_of_the_same_signature_is_called(c: Any) -> None:
    """A callable whose signature is written out again (an equal, separately made type) passes and C calls it."""
    with NativeCallable.isolate_local(NativeFunction[[Int64], Int64], lambda x: x * 10, exceptional_return=0) as cb:
        assert c.apply_i64(cb, 4) == 40


def test_int_aliases_of_the_same_size_are_the_same_signature(c: Any) -> None:
    """Long and Int64 are the same C type on this platform: a callable of [Long] -> Long passes for [Int64] -> Int64."""
    from nativeffi import Long
    with NativeCallable.isolate_local(NativeFunction[[Long], Long], lambda x: x - 1, exceptional_return=0) as cb:
        assert c.apply_i64(cb, 4) == 3


@pytest.mark.parametrize("sig", [
    NativeFunction[[Int32], Int64],           # a parameter of another type
    NativeFunction[[Int64], Int32],           # another return type
    NativeFunction[[Int64], Void],            # no return
    NativeFunction[[Double], Int64],          # a float parameter
    NativeFunction[[Pointer[Int64]], Int64],  # a pointer parameter
], ids=["param", "ret", "void-ret", "float-param", "pointer-param"])
def test_each_difference_of_signature_is_refused(c: Any, sig: Any) -> None:
    """A signature differing in one parameter or in the return type is refused, naming both types."""
    void = native_type(sig).ret.kind == "void"
    with NativeCallable.isolate_local(sig, lambda *a: None if void else 0,
                                      **({} if void else {"exceptional_return": 0})) as cb:
        with pytest.raises(TypeError, match=r"expected Pointer\[NativeFunction\[\[Int64\], Int64\]\], got Pointer"):
            c.apply_i64(cb, 1)


def test_cast_is_the_explicit_escape(c: Any) -> None:
    """.cast() to the declared function type passes a pointer whose signature differs (the caller's responsibility)."""
    with NativeCallable.isolate_local(NativeFunction[[Int64, Int64], Int64], lambda a, b: a + 1,
                                      exceptional_return=0) as cb:
        assert c.apply_i64(cb.native_function.cast(I64_FN), 6) == 7


def test_address_of_a_binding_is_checked(lib: str, c: Any) -> None:
    """address_of() a binding of another signature is refused; one of the declared signature is called by C."""
    @native(asset=lib, symbol="half")
    def half(x: Double) -> Double: ...

    @native(asset=lib, symbol="twice_plus_one")
    def twice_plus_one(x: Int64) -> Int64: ...

    with pytest.raises(TypeError, match=r"NativeFunction\[\[Double\], Double\]"):
        c.apply_i64(address_of(half), 3)
    assert c.apply_i64(address_of(twice_plus_one), 20) == 41


def test_struct_field_of_function_pointer_type_is_checked(lib: str) -> None:
    """A function-pointer field refuses a callable of another signature; one of its own signature is what C calls."""
    class Ops(Struct):
        op: Pointer[I64_FN]
        arg: Int64

    run = cfunc(lib, "ops_run", [Pointer[Ops]], Int64, is_leaf=False)
    o = Ops(arg=5)
    with NativeCallable.isolate_local(NativeFunction[[Double], Double], lambda x: x, exceptional_return=0.0) as bad:
        with pytest.raises(TypeError, match=r"Ops\.op.*NativeFunction\[\[Double\], Double\]"):
            o.op = bad
    with NativeCallable.isolate_local(I64_FN, lambda x: x * x, exceptional_return=0) as good:
        o.op = good
        assert run(o) == 25


def test_variadic_and_fixed_signatures_differ(c: Any, lib: str) -> None:
    """A pointer to a variadic function type is not a pointer to the fixed one with the same first parameters."""
    from nativeffi import VarArgs
    @native(asset=lib, symbol="twice_plus_one")
    def twice_plus_one(x: Int64) -> Int64: ...

    p = address_of(twice_plus_one).cast(NativeFunction[[Int64, VarArgs[Int64]], Int64])
    with pytest.raises(TypeError, match="variadic"):
        c.apply_i64(p, 1)


# -- Buffers and compound values against the pointee -----------------------------------------

class Two(Struct):
    a: Int64
    b: Int64


class Other(Struct):
    a: Int64
    b: Int64


def test_struct_for_a_scalar_pointer_is_refused(c: Any) -> None:
    """A 16-byte struct passed where Pointer[Int64] is declared is a TypeError naming both (stub and libffi paths)."""
    with pytest.raises(TypeError, match=r"\(\) argument 1.*Pointer\[Int64\].*Two"):
        c.sum_i64(Two(a=1, b=2), 2)
    with pytest.raises(TypeError, match=r"Pointer\[Int64\].*Two"):
        c.sum_i64_ffi(Two(a=1, b=2), 2, *range(10))


def test_struct_passes_only_for_its_own_pointer_or_void(lib: str, c: Any) -> None:
    """A struct passes for Pointer[ItsClass] and Pointer[Void] (its address), not for a pointer to another class."""
    take = cfunc(lib, "sum_i64", [Pointer[Two], Size], Int64)
    s = Two(a=3, b=4)
    assert take(s, 2) == 7
    assert c.address(s) == s.address.address
    with pytest.raises(TypeError, match=r"Pointer\[Two\].*Other"):
        take(Other(a=1, b=1), 2)
    with pytest.raises(TypeError, match=r"Pointer\[Uint8\].*Two"):
        c.poke_u8(s, 16)


def test_array_view_decays_to_a_pointer_to_its_element(c: Any) -> None:
    """An ArrayView of Array[Int64, 3] passes for Pointer[Int64] (C's array decay); one of Int32 is refused."""
    class Holder(Struct):
        xs: Array[Int64, 3]
        ys: Array[Int32, 4]

    h = Holder(xs=[5, 6, 7], ys=[1, 2, 3, 4])
    assert c.sum_i64(h.xs, 3) == 18
    with pytest.raises(TypeError, match=r"Pointer\[Int64\].*Array\[Int32, 4\]"):
        c.sum_i64(h.ys, 2)


def test_numpy_arrays_are_checked_against_the_pointee(c: Any) -> None:
    """A float32 or int64 numpy array for Pointer[Double] is a TypeError naming the format; float64 is summed by C."""
    np = pytest.importorskip("numpy", reason="numpy is not installed (bench extra)")
    good = np.arange(6, dtype=np.float64)
    assert c.sum_f64(good, 6) == float(good.sum())
    with pytest.raises(TypeError, match=r"\(\) argument 1.*Pointer\[Double\].*format 'f'"):
        c.sum_f64(np.arange(6, dtype=np.float32), 6)
    with pytest.raises(TypeError, match=r"Pointer\[Double\].*format 'l'"):
        c.sum_f64(np.arange(6, dtype=np.int64), 6)
    with pytest.raises(TypeError, match=r"Pointer\[Double\].*format '>d'"):
        c.sum_f64(np.arange(6, dtype=">f8"), 6)
    assert c.sum_i64(np.arange(4, dtype=np.int64), 4) == 6
    with pytest.raises(TypeError, match=r"Pointer\[Int64\].*format 'L'"):
        c.sum_i64(np.arange(4, dtype=np.uint64), 4)


def test_from_buffer_checks_the_format() -> None:
    """Pointer[Double].from_buffer refuses a float32 array; Pointer[Void].from_buffer takes any writable buffer."""
    with pytest.raises(TypeError, match=r"Pointer\[Double\].*format 'f'"):
        Pointer[Double].from_buffer(array.array("f", [1.0]))
    with pytest.raises(TypeError, match=r"Pointer\[Int32\].*format 'B'"):
        Pointer[Int32].from_buffer(bytearray(8))
    assert Pointer[Double].from_buffer(array.array("d", [2.5]))[0] == 2.5
    p = Pointer.from_buffer(array.array("f", [1.0]))
    assert p.cast(Float)[0] == 1.0
    assert Pointer[Uint8].from_buffer(bytearray(b"ab")).cast(Int32) is not None


def test_typed_buffers_of_every_producer(c: Any) -> None:
    """array.array, memoryview.cast and ctypes arrays of the pointee's type pass (native byte order, any prefix)."""
    assert c.sum_i64(array.array("q", [1, 2, 3]), 3) == 6
    assert c.sum_i64(memoryview(bytearray(16)).cast("q"), 2) == 0
    assert c.sum_f64((ctypes.c_double * 3)(1.0, 2.0, 4.5), 3) == 7.5  # ctypes says '<d'
    assert c.sum_i64((ctypes.c_long * 2)(5, 6), 2) == 11              # ctypes says '<l' with itemsize 8
    with pytest.raises(TypeError, match=r"Pointer\[Int64\].*format 'i'"):
        c.sum_i64(array.array("i", [1, 2]), 2)
    with pytest.raises(TypeError, match=r"Pointer\[Int64\].*format 'd'"):
        c.sum_i64(array.array("d", [1.0]), 1)


def test_byte_buffers_are_for_byte_pointers(c: Any) -> None:
    """bytearray and int8/uint8/char buffers pass for Pointer[Uint8]; a bytearray for Pointer[Int64] is refused."""
    ba = bytearray(4)
    c.poke_u8(ba, 4)
    assert ba == b"XXXX"
    c.poke_u8(array.array("b", [0, 0]), 2)
    with pytest.raises(TypeError, match=r"Pointer\[Int64\].*format 'B'"):
        c.sum_i64(bytearray(16), 2)
    assert c.address(array.array("d", [1.0])) != 0  # Pointer[Void] takes any buffer


def test_bytes_only_for_byte_and_void_pointers(c: Any) -> None:
    """bytes passes for Pointer[Char] (strlen) and Pointer[Void], not for Pointer[Int64] (fast path and libffi)."""
    assert c.byte_len(b"hello") == 5
    data = b"immutable"
    assert c.address(data) != 0
    with pytest.raises(TypeError, match=r"\(\) argument 1.*Pointer\[Int64\].*bytes"):
        c.sum_i64(b"\x01" * 16, 2)
    with pytest.raises(TypeError, match=r"Pointer\[Int64\].*bytes"):
        c.sum_i64_ffi(b"\x01" * 16, 2, *range(10))


def test_text_pointers_take_str_and_bytes(lib: str) -> None:
    """A Pointer[Utf8] parameter takes str (as UTF-8) and bytes, as before."""
    f = cfunc(lib, "byte_len", [Pointer[Utf8]], Size)
    assert f("h\u00e9llo") == 6 and f(b"abc") == 3


# -- Prefixed errors keep their type and their cause -------------------------------------------

class BadIndex:
    """An int-like object whose __index__ fails with an exception that cannot be made from one message."""

    def __index__(self) -> int:
        "\ud800".encode()
        return 0


class MyError(Exception):
    pass


class RaisesMine:
    def __index__(self) -> int:
        raise MyError("no index today")


def test_unencodable_str_argument_keeps_a_unicode_error(c: Any) -> None:
    """A str with a lone surrogate for Pointer[Char] raises a UnicodeError naming the argument, caused by the UnicodeEncodeError."""
    with pytest.raises(UnicodeError, match=r"\(\) argument 1.*surrogates not allowed") as e:
        c.byte_len("a\ud800")
    assert isinstance(e.value.__cause__, UnicodeEncodeError)
    assert e.value.__cause__.reason == "surrogates not allowed"


def test_struct_field_error_keeps_its_cause() -> None:
    """A field write whose __index__ raises UnicodeEncodeError names the field and chains the original, traceback kept."""
    s = Two()
    with pytest.raises(UnicodeError, match=r"Two\.a: 'utf-8' codec") as e:
        s.a = BadIndex()
    assert isinstance(e.value.__cause__, UnicodeEncodeError)
    assert e.value.__cause__.__traceback__.tb_frame.f_code.co_name == "__index__"  # where it was raised


def test_array_item_errors_keep_their_type_and_cause() -> None:
    """Array writes (whole array and one item) name the item and keep a user exception's type, chained to it."""
    class Holder(Struct):
        xs: Array[Int64, 3]

    h = Holder()
    with pytest.raises(MyError, match=r"item 1: no index today") as e:
        h.xs = [1, RaisesMine(), 3]
    assert isinstance(e.value.__cause__, MyError) and e.value.__cause__ is not e.value
    with pytest.raises(UnicodeError, match=r"Array\[Int64, 3\]\[2\]: 'utf-8' codec") as e2:
        h.xs[2] = BadIndex()
    assert isinstance(e2.value.__cause__, UnicodeEncodeError)
    assert list(h.xs) == [0, 0, 0]


def test_argument_error_types_are_unchanged(c: Any) -> None:
    """Ordinary conversion errors keep their type and gain the argument prefix (OverflowError stays OverflowError)."""
    with pytest.raises(OverflowError, match=r"\(\) argument 2.*expected an int") as e:
        c.apply_i64(None, 2**70)
    assert isinstance(e.value.__cause__, OverflowError)
    with pytest.raises(MyError, match=r"\(\) argument 2.*no index today"):
        c.apply_i64(None, RaisesMine())


def test_exception_with_its_own_constructor_is_not_called() -> None:
    """A user exception whose __init__ needs other arguments is not called again: its nearest plain base is raised."""
    calls = []

    class Picky(ValueError):
        def __init__(self, code: int, detail: str) -> None:
            calls.append(code)
            super().__init__(f"{code}: {detail}")

    class RaisesPicky:
        def __index__(self) -> int:
            raise Picky(7, "picky")

    s = Two()
    with pytest.raises(ValueError, match=r"Two\.b: 7: picky") as e:
        s.b = RaisesPicky()
    assert type(e.value) is ValueError and isinstance(e.value.__cause__, Picky)
    assert calls == [7]


# -- Type names made under memory pressure -----------------------------------------------------

def test_type_factories_fail_cleanly_without_memory() -> None:
    """Each allocation of function_type and set_pointer_target failing in turn gives MemoryError, never a nameless type."""
    _testcapi = pytest.importorskip("_testcapi", reason="CPython's _testcapi (allocation failure injection)")
    from nativeffi import _core
    i64 = native_type(Int64)
    made = 0
    for start in range(40):
        fwd = _core.pointer_type(None, "Pointer['X']")
        _testcapi.set_nomemory(start, start + 1)
        try:
            t = _core.function_type((i64, i64), i64, 1)
            _core.set_pointer_target(fwd, i64)
        except MemoryError:
            t = None
        finally:
            _testcapi.remove_mem_hooks()
        if t is not None:
            made += 1
            assert t.name == "NativeFunction[[Int64, Int64 (variadic)], Int64]"
            assert fwd.name == "Pointer[Int64]"
    assert made > 0


# -- The scratch area of large returns is freed at thread exit ---------------------------------

class Big(Struct):
    v: Array[Int64, 512]


def test_large_return_scratch_is_freed_at_thread_exit(lib: str) -> None:
    """2000 threads each returning a 4 KiB struct by value leave traced memory flat (each thread's area is freed)."""
    for leaf in (True, False):
        make = cfunc(lib, "big_make", [Int64], Big, is_leaf=leaf)
        r = make(10)
        assert r.v[0] == 10 and r.v[511] == 521
    make_ffi = cfunc(lib, "big_make", [Int64], Big)
    results: list[int] = []

    def work(i: int) -> None:
        results.append(make_ffi(i).v[511] - i)

    tracemalloc.start()
    try:
        for i in range(20):  # warm-up: thread machinery, first allocations
            t = threading.Thread(target=work, args=(i,))
            t.start()
            t.join()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            t = threading.Thread(target=work, args=(i,))
            t.start()
            t.join()
        results.clear()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 200 * 1024, f"traced memory grew by {grown} bytes over 2000 threads (4 KiB each if leaked)"
