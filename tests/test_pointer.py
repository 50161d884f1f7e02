"""Pointers: element access, arithmetic, casts, equality, null safety, strings and buffers, checked against C."""
from __future__ import annotations

import array
import os
import subprocess
import sys
import textwrap

import pytest

import nativeffi
from nativeffi import (Double, Int8, Int32, Int64, Pointer, Size, Uint8, Utf8, Char, NullPointerError, malloc,
                       nullptr, calloc)
from helpers import cfunc


@pytest.fixture
def lib(native_lib):
    return native_lib("foundation")


def test_index_and_value_read_what_c_wrote(lib) -> None:
    """p[i] and p.value read the values C stored, for every index."""
    p = malloc(Int64, 10)
    cfunc(lib, "squares", [Pointer[Int64], Size], nativeffi.Void)(p, 10)
    assert [p[i] for i in range(10)] == [i * i for i in range(10)]
    assert p.value == 0 and (p + 3).value == 9
    malloc.free(p)


def test_writes_are_seen_by_c(lib) -> None:
    """Values written through p[i] and p.value are what C sums up."""
    p = malloc(Int64, 4)
    for i in range(4):
        p[i] = 10 ** i
    p.value = 5
    assert cfunc(lib, "sum_i64", [Pointer[Int64], Size], Int64)(p, 4) == 5 + 10 + 100 + 1000
    malloc.free(p)


def test_arithmetic_steps_by_element_size(lib) -> None:
    """p + n and p - n move by n * sizeof(T), as C's pointer arithmetic does; p - q counts elements."""
    p = malloc(Int32, 8)
    advance = cfunc(lib, "advance_i32", [Pointer[Int32], Int64], Pointer[Int32])
    assert (p + 5).address == advance(p, 5).address == p.address + 20
    assert ((p + 5) - 2).address == advance(p, 3).address
    assert (p + 7) - p == 7
    assert (3 + p) == p + 3
    malloc.free(p)


def test_store_range_checked() -> None:
    """Writes through a pointer convert and range-check like arguments: no silent truncation."""
    p = malloc(Int8)
    with pytest.raises(OverflowError, match=r"\[-128, 127\] for Int8, got 128"):
        p.value = 128
    with pytest.raises(TypeError, match="expected an int for Int8, got str"):
        p[0] = "x"
    malloc.free(p)


def test_cast_reinterprets_memory() -> None:
    """cast(T) keeps the address and reads the same bytes as T (little-endian int32 from bytes)."""
    p = malloc(Uint8, 4)
    for i, b in enumerate((1, 2, 3, 4)):
        p[i] = b
    q = p.cast(Int32)
    assert isinstance(q, Pointer[Int32]) and q.address == p.address
    assert q.value == int.from_bytes(bytes([1, 2, 3, 4]), "little")
    malloc.free(p)


def test_equality_hash_and_repr() -> None:
    """Pointers compare and hash by address; repr shows the type and the address; nullptr is falsy."""
    a = Pointer[Int32].from_address(0x1000)
    b = Pointer[Double].from_address(0x1000)
    assert a == b and hash(a) == hash(b) and a != a + 1
    assert len({a, b, a + 1}) == 2
    assert repr(a) == "<Pointer[Int32] 0x1000>"
    assert repr(nullptr) == "<Pointer[Void] nullptr>" and nullptr.is_null and not nullptr
    assert not a.is_null and bool(a)


def test_null_reads_and_writes_raise() -> None:
    """Reading or writing through nullptr raises NullPointerError (a ValueError), never crashes."""
    p = Pointer[Int64].from_address(0)
    with pytest.raises(NullPointerError, match="cannot read through a null Pointer\\[Int64\\]"):
        p.value
    with pytest.raises(NullPointerError):
        p[3] = 1
    with pytest.raises(ValueError):
        Pointer[Utf8].from_address(0).to_str()


def test_void_pointer_has_no_elements() -> None:
    """An untyped Pointer cannot be read or stepped; the error says to cast first."""
    p = Pointer.from_address(0x1000)
    with pytest.raises(TypeError, match="cast it"):
        p.value
    with pytest.raises(TypeError, match="cast it"):
        p + 1


def test_from_address_validation() -> None:
    """from_address needs a non-negative int that fits a pointer."""
    with pytest.raises(TypeError, match="expected an int address, got str"):
        Pointer.from_address("0x10")
    with pytest.raises(OverflowError):
        Pointer.from_address(-1)
    with pytest.raises(OverflowError):
        Pointer.from_address(1 << 64)


def test_pointer_parameter_type_checks(lib) -> None:
    """A pointer of another pointee is a TypeError that suggests cast(); None passes nullptr; ints are refused."""
    sum_i64 = cfunc(lib, "sum_i64", [Pointer[Int64], Size], Int64)
    is_null = cfunc(lib, "is_null", [Pointer], nativeffi.Int)
    p = malloc(Double, 2)
    with pytest.raises(TypeError, match=r"expected Pointer\[Int64\], got Pointer\[Double\] \(use .cast\(\)"):
        sum_i64(p, 2)
    assert is_null(None) == 1 and is_null(nullptr) == 1 and is_null(p) == 0  # any pointer fits Pointer[Void]
    with pytest.raises(TypeError, match="got int"):
        is_null(1234)
    malloc.free(p)


def test_pointer_like_and_cstring_are_pointer_types() -> None:
    """PointerLike[T] is Pointer[T] and CString is Pointer[Char] for nativeffi (checkers see wider unions), so a
    CString parameter takes str, bytes and pointers as Pointer[Char] does, and PointerLike has no values."""
    from nativeffi import CString, PointerLike

    assert PointerLike[Int32] is Pointer[Int32] and PointerLike[Pointer[Char]] is Pointer[Pointer[Char]]
    assert CString is Pointer[Char]
    strlen = nativeffi.native(symbol="strlen")(_strlen_decl)
    assert strlen("héllo") == 6 and strlen(b"abc") == 3 and strlen(Pointer[Char].from_buffer(bytearray(b"ab\0"))) == 2
    ns: dict = {}
    exec("from nativeffi import PointerLike, Struct, Int32\n"
         "class Node(Struct):\n"
         "    v: Int32\n"
         "    nxt: PointerLike['Node']\n", ns)
    assert nativeffi.fields(ns["Node"])[1].type.target is ns["Node"].__native__
    with pytest.raises(TypeError, match="PointerLike is a parameter type"):
        PointerLike()


def _strlen_decl(s: nativeffi.CString) -> Size: ...


def test_to_str_reads_utf8(lib) -> None:
    """to_str decodes a C string up to its NUL, or exactly `length` bytes."""
    s = cfunc(lib, "greeting", [], Pointer[Char])()
    assert s.to_str() == "hello from C"
    assert s.to_str(5) == "hello"
    with pytest.raises(TypeError, match="to_str"):
        malloc(Int32).to_str()


def test_str_and_bytes_arguments(lib) -> None:
    """str is passed as UTF-8 to Pointer[Char]/Pointer[Utf8]; bytes pass as-is; a NUL inside a str is refused."""
    count = cfunc(lib, "count_bytes", [Pointer[Char]], Size)
    count_utf8 = cfunc(lib, "count_bytes", [Pointer[Utf8]], Size)
    assert count("héllo") == len("héllo".encode()) == count_utf8("héllo")
    assert count(b"abc\0def") == 3
    with pytest.raises(ValueError, match="NUL"):
        count("a\0b")
    with pytest.raises(TypeError, match="str is accepted for pointers to bytes"):
        cfunc(lib, "sum_i64", [Pointer[Int64], Size], Int64)("abc", 1)


def test_writable_buffers_as_arguments(lib) -> None:
    """bytearray, array.array and memoryview pass their memory for the call; C's writes land in them."""
    fill = cfunc(lib, "fill_u8", [Pointer[Uint8], Size, Uint8], nativeffi.Void)
    ba = bytearray(5)
    fill(ba, 5, 7)
    assert ba == bytearray([7] * 5)
    arr = array.array("q", [1, 2, 3])
    assert cfunc(lib, "sum_i64", [Pointer[Int64], Size], Int64)(arr, 3) == 6
    mv = memoryview(bytearray(4))
    fill(mv[1:3], 2, 9)
    assert bytes(mv) == b"\x00\x09\x09\x00"


def test_non_contiguous_buffer_refused(lib) -> None:
    """A strided memoryview is refused with a TypeError instead of passing the wrong bytes."""
    fill = cfunc(lib, "fill_u8", [Pointer[Uint8], Size, Uint8], nativeffi.Void)
    mv = memoryview(bytearray(8))[::2]
    with pytest.raises(TypeError, match="non-contiguous"):
        fill(mv, 4, 1)


def test_from_buffer_keeps_object_alive(lib) -> None:
    """Pointer.from_buffer points into an int32 array, sees C's writes, and keeps the buffer alive."""
    import gc
    arr = array.array("i", [0, 0])
    p = Pointer[Int32].from_buffer(arr)
    cfunc(lib, "store_i32", [Pointer[Int32], Int32], nativeffi.Void)(p + 1, -5)
    assert arr[1] == -5
    del arr
    gc.collect()
    assert p[1] == -5  # memory still owned through the pointer
    ba = bytearray(8)  # untyped bytes: reinterpreted explicitly
    Pointer.from_buffer(ba).cast(Int32)[1] = 9
    assert int.from_bytes(ba[4:8], "little", signed=True) == 9
    with pytest.raises(TypeError, match="writable"):
        Pointer.from_buffer(b"read-only")


def test_from_buffer_numpy(lib) -> None:
    """A numpy float64 array's data is what C sums through Pointer.from_buffer."""
    np = pytest.importorskip("numpy", reason="numpy is not installed (bench extra)")
    a = np.arange(10, dtype=np.float64)
    p = Pointer[Double].from_buffer(a)
    assert cfunc(lib, "sum_f64", [Pointer[Double], Size], Double)(p, 10) == float(a.sum())
    p[0] = 100.0
    assert a[0] == 100.0


def test_as_memoryview_is_a_live_view(lib) -> None:
    """as_memoryview(n) exposes n bytes without copying: C's writes show up and Python's writes reach C."""
    p = calloc(Uint8, 6)
    mv = p.as_memoryview(6)
    cfunc(lib, "fill_u8", [Pointer[Uint8], Size, Uint8], nativeffi.Void)(p, 3, 1)
    assert bytes(mv) == b"\x01\x01\x01\x00\x00\x00"
    mv[5] = 9
    assert p[5] == 9
    with pytest.raises(ValueError):
        p.as_memoryview(-1)
    mv.release()
    malloc.free(p)


def test_pointer_to_pointer(lib) -> None:
    """Pointer[Pointer[Int64]] reads and writes pointers; the inner pointer reads C's data."""
    data = malloc(Int64, 3)
    cfunc(lib, "squares", [Pointer[Int64], Size], nativeffi.Void)(data, 3)
    pp = malloc(Pointer[Int64])
    pp.value = data
    assert pp.value == data and pp.value[2] == 4
    pp.value = None
    assert pp.value.is_null
    malloc.free(pp)
    malloc.free(data)


def test_pointer_class_with_a_computed_native_type_is_safe() -> None:
    """from_address on a Pointer class whose __native__ is computed on each access keeps that type alive (run
    under PYTHONMALLOC=debug, where a use after free reads poisoned memory)."""
    code = textwrap.dedent("""
        import gc
        from nativeffi import Int32, Pointer, native_type
        from nativeffi import _core
        class Meta(type(Pointer)):
            @property
            def __native__(cls):
                return _core.pointer_type(native_type(Int32), "Pointer[Computed]")
        class Computed(Pointer, metaclass=Meta):
            __slots__ = ()
        ps = [Computed.from_address(8 * i) for i in range(100)]
        junk = [object() for _ in range(10000)]
        gc.collect()
        print(sorted({p.native_type.name for p in ps}), ps[5].address)
    """)
    env = dict(os.environ, PYTHONMALLOC="debug")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "['Pointer[Computed]'] 40", r.stdout + r.stderr


def test_to_str_length_by_position_or_keyword_and_bad_arguments() -> None:
    """to_str takes its length by position or as length=, and says what was wrong for other arguments."""
    buf = bytearray(b"hello, world")
    s = Pointer[Char].from_buffer(buf)
    assert s.to_str(5) == s.to_str(length=5) == "hello"
    assert s.to_str(None) == s.to_str(length=None) == "hello, world"
    with pytest.raises(TypeError, match=r"to_str\(\) takes at most 1 argument \(2 given\)"):
        s.to_str(5, 6)
    with pytest.raises(TypeError, match=r"to_str\(\) takes at most 1 argument \(2 given\)"):
        s.to_str(5, length=6)
    with pytest.raises(TypeError, match=r"to_str\(\) got an unexpected keyword argument 'size'"):
        s.to_str(size=5)
