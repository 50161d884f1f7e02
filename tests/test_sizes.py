"""Checked sizes: type layouts, arrays, pointer arithmetic, memory views and allocations never overflow silently;
large arrays cost no memory at class creation; by-value compounds have a documented limit."""
from __future__ import annotations

import gc
import pathlib
import subprocess
import sys
import textwrap
import tracemalloc

import pytest

import nativeffi
from nativeffi import (Array, Bits, Int8, Int32, Int64, NativeCallable, NativeFunction, Pointer, Size, Struct,
                       Uint8, Uint64, Union, calloc, malloc, native_type, sizeof)
from nativeffi import _core
from helpers import cfunc

SIZE_MAX = _core.SIZE_MAX          # the largest size of a type, allocation or view (what the platform can address)
BYVALUE_MAX = _core.BYVALUE_MAX    # the largest total of by-value compound arguments, and of a by-value return
TOO_LARGE = "larger than the platform can address"


# -- Type sizes -----------------------------------------------------------------------------------------------

def test_size_limit_is_what_a_64_bit_platform_addresses() -> None:
    """The size bound is 2**56 bytes on 64-bit platforms (x86-64 and AArch64 address less) and within Py_ssize_t."""
    assert SIZE_MAX == (1 << 56 if sys.maxsize > 2 ** 32 else sys.maxsize // 8)


def test_struct_with_an_array_past_the_address_space_is_refused() -> None:
    """A struct holding Array[Int8, 2**61] (2**64 bits) is refused with the OverflowError of its field type (this
    file's annotations are strings: the struct reports it as the cause) instead of getting size 0."""
    with pytest.raises(OverflowError, match=TOO_LARGE):
        Array[Int8, 2 ** 61]
    with pytest.raises(TypeError, match="S: cannot evaluate the annotation") as e:
        class S(Struct):
            a: Array[Int8, 2 ** 61]
    assert isinstance(e.value.__cause__, OverflowError)


def test_array_lengths_are_bounded_by_the_address_space() -> None:
    """An array type larger than the platform can address is refused by name, whatever the size of its length."""
    with pytest.raises(OverflowError, match=r"Array\[Int8, 72057594037927937\] is " + TOO_LARGE):
        Array[Int8, SIZE_MAX + 1]
    with pytest.raises(OverflowError, match=r"Array\[Int64, 1180591620717411303424\] is " + TOO_LARGE):
        Array[Int64, 2 ** 70]
    assert sizeof(Array[Int8, SIZE_MAX]) == SIZE_MAX
    assert sizeof(Array[Int64, SIZE_MAX // 8]) == SIZE_MAX


def test_multidimensional_array_sizes_are_checked() -> None:
    """The product of an array's dimensions and element size is checked at every level."""
    with pytest.raises(OverflowError, match=r"Array\[Int8, 1073741824, 1073741824\] is " + TOO_LARGE):
        Array[Int8, 2 ** 30, 2 ** 30]
    with pytest.raises(OverflowError, match=TOO_LARGE):
        Array[Int64, 2 ** 32, 2 ** 32, 2 ** 32]
    assert sizeof(Array[Int8, 2 ** 28, 2 ** 28]) == 2 ** 56


def test_struct_sizes_are_checked_in_bits() -> None:
    """Fields that fit one by one but not together (in bytes, or past Py_ssize_t in bits) raise OverflowError."""
    half = Array[Int8, SIZE_MAX // 2]
    with pytest.raises(OverflowError, match="S2 is " + TOO_LARGE):
        class S2(Struct):
            a: half
            b: half
            c: Int8
    whole = Array[Int8, SIZE_MAX]
    with pytest.raises(OverflowError, match="S17 is " + TOO_LARGE):
        S17 = type(Struct)("S17", (Struct,), {"__annotations__": {f"f{i}": whole for i in range(17)}})  # 2**63 bits
    with pytest.raises(OverflowError, match="Pad is " + TOO_LARGE):
        class Pad(Struct):
            a: Array[Int8, SIZE_MAX - 1]
            b: Int64                    # the padding before it crosses the limit
    with pytest.raises(OverflowError, match="Bitty is " + TOO_LARGE):
        class Bitty(Struct):
            a: whole
            b: Bits[Int64, 3]


def test_largest_struct_and_union_keep_exact_layouts() -> None:
    """Structs and unions up to the limit keep exact sizes and offsets (nothing wraps near the bound)."""
    class Edge(Struct):
        a: Array[Int8, SIZE_MAX - 16]
        b: Int64
        c: Bits[Uint8, 3]

    assert sizeof(Edge) == SIZE_MAX
    assert nativeffi.offsetof(Edge, "b") == SIZE_MAX - 16
    assert nativeffi.fields(Edge)[2].bit_offset == 8 * (SIZE_MAX - 8)

    class U(Union):
        a: Array[Int64, SIZE_MAX // 8]
        b: Int8

    assert sizeof(U) == SIZE_MAX


def test_bit_field_width_beyond_int_is_a_clear_error() -> None:
    """A bit width too large for any type names the limit instead of failing to parse."""
    with pytest.raises(ValueError, match="holds at most 32 bits, got 1099511627776"):
        class B(Struct):
            a: Bits[Int32, 2 ** 40]


def test_array_view_indexing_stays_inside() -> None:
    """ArrayView indexes and slices huge or negative stay inside the array or raise IndexError."""
    a = Array[Int32, 4]([1, 2, 3, 4])
    for i in (4, -5, 2 ** 62, -2 ** 62, 2 ** 100):
        with pytest.raises(IndexError):
            a[i]
        with pytest.raises(IndexError):
            a[i] = 0
    assert a[2 ** 62:] == [] and a[-2 ** 62:2 ** 100:2 ** 61] == [1]
    assert a[::-2 ** 62] == [4]


# -- Pointer arithmetic and indexing ----------------------------------------------------------------------------

def test_pointer_offsets_that_overflow_raise() -> None:
    """p + n, p - n and p[i] whose byte offset overflows raise OverflowError instead of wrapping to another address."""
    p = malloc(Int32, 4)
    try:
        p[0] = 7
        for n in (2 ** 62, 2 ** 61 + 1, 2 ** 70, -2 ** 62):
            with pytest.raises(OverflowError, match="address space"):
                p + n
            with pytest.raises(OverflowError, match="address space"):
                p - n
            with pytest.raises(OverflowError, match="address space"):
                p[n]
            with pytest.raises(OverflowError, match="address space"):
                p[n] = 1
        assert p[0] == 7 and (p + 3) - p == 3 and (p + 1 - 1).address == p.address
    finally:
        malloc.free(p)


def test_pointer_arithmetic_never_wraps_around_the_address_space() -> None:
    """Stepping below address 0 or above the top address raises OverflowError; up to the ends is allowed."""
    top = 2 ** (8 * sizeof(Pointer[Int8])) - 1
    with pytest.raises(OverflowError, match="address space"):
        Pointer[Int8].from_address(0) - 1
    with pytest.raises(OverflowError, match="address space"):
        Pointer[Int32].from_address(top - 3) + 1
    with pytest.raises(OverflowError, match="address space"):
        Pointer[Int64].from_address(8)[-2]
    assert (Pointer[Int8].from_address(top - 1) + 1).address == top
    assert (Pointer[Int8].from_address(1) - 1).address == 0


def test_pointer_difference_is_exact() -> None:
    """p - q is the exact element count, also for addresses further apart than a signed word holds."""
    top = 2 ** (8 * sizeof(Pointer[Int8])) - 8
    hi, lo = Pointer[Int8].from_address(top), Pointer[Int8].from_address(0)
    assert hi - lo == top and lo - hi == -top
    assert Pointer[Int64].from_address(top) - Pointer[Int64].from_address(8) == (top - 8) // 8


def test_as_memoryview_is_bounded() -> None:
    """as_memoryview(n) refuses counts past the address space or regions that wrap, with OverflowError."""
    p = malloc(Int8, 16)
    try:
        for n in (2 ** 62, SIZE_MAX + 1, 2 ** 100):
            with pytest.raises(OverflowError, match=TOO_LARGE):
                p.as_memoryview(n)
        with pytest.raises(ValueError, match=">= 0"):
            p.as_memoryview(-1)
        assert len(p.as_memoryview(16)) == 16
    finally:
        malloc.free(p)
    top = 2 ** (8 * sizeof(Pointer[Int8])) - 4
    with pytest.raises(OverflowError, match="address space"):
        Pointer[Int8].from_address(top).as_memoryview(8)
    with pytest.raises(OverflowError, match="address space"):
        Pointer[Int8].from_address(top).to_str(8)


class _Index:
    """Not an int, but has __index__ (as numpy integers): a count through the general path."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __index__(self) -> int:
        return self.v


class _IntSub(int):
    """An int subclass: a count through the general path."""


# Counts given to to_bytes(n) of a 16-byte buffer: (reason, count, bytes copied or the exception and its message).
# Small exact ints are read inline (nf_count_from_object); the rest, and every error, through PyNumber_AsSsize_t.
COUNT_CASES = [
    ("zero", 0, 0),
    ("a small int", 5, 5),
    ("True counts as 1", True, 1),
    ("an int subclass", _IntSub(3), 3),
    ("an __index__ object", _Index(16), 16),
    ("-1 is refused", -1, (ValueError, "must be >= 0, got -1")),
    ("a large negative int is refused", -(2 ** 40), (ValueError, "must be >= 0")),
    ("a negative beyond Py_ssize_t is refused", -(2 ** 100), (ValueError, "must be >= 0")),
    ("2**30: two digits, past the bound of memory", 2 ** 30 * 2 ** 27, (OverflowError, TOO_LARGE)),
    ("2**60 - 1: the largest two-digit int", 2 ** 60 - 1, (OverflowError, TOO_LARGE)),
    ("2**60: three digits", 2 ** 60, (OverflowError, TOO_LARGE)),
    ("beyond Py_ssize_t", 2 ** 100, (OverflowError, TOO_LARGE)),
    ("a float is refused", 2.0, (TypeError, "float")),
]


@pytest.mark.parametrize("why,count,expected", COUNT_CASES, ids=[c[0] for c in COUNT_CASES])
def test_counts_read_inline_or_not_agree(why: str, count: object, expected: object) -> None:
    """A count is read as Python reads it, whether its int is read inline or through __index__, and bad ones raise."""
    p = malloc(Int8, 16)
    try:
        p.as_memoryview(16)[:] = bytes(range(16))
        if isinstance(expected, tuple):
            with pytest.raises(expected[0], match=expected[1].replace("*", r"\*")):
                p.to_bytes(count)
        else:
            assert p.to_bytes(count) == bytes(range(expected))
    finally:
        malloc.free(p)


# -- Allocation -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("allocator", [malloc, calloc], ids=["malloc", "calloc"])
def test_allocation_sizes_are_checked(allocator) -> None:
    """malloc(T, n) and calloc(T, n) refuse n * sizeof(T) past the address space, naming count and size."""
    with pytest.raises(OverflowError, match=r"4611686018427387904 items of 8 bytes is " + TOO_LARGE):
        allocator(Int64, 2 ** 62)
    with pytest.raises(OverflowError, match=r"items of 8 bytes is " + TOO_LARGE):
        allocator(Int64, 2 ** 200)
    with pytest.raises(OverflowError, match=TOO_LARGE):
        allocator(Int8, SIZE_MAX + 1)
    with pytest.raises(ValueError, match="count must be >= 0"):
        allocator(Int64, -1)
    with pytest.raises(OverflowError, match=TOO_LARGE):
        allocator.allocate_bytes(2 ** 64)
    p = allocator(Int64, 3)
    p[2] = 5
    assert p[2] == 5
    allocator.free(p)


# -- libffi descriptions of large arrays -------------------------------------------------------------------------

def test_big_array_struct_costs_no_memory_at_class_creation() -> None:
    """A struct with Array[Uint8, 10**7] is made without a libffi element per item (under 1 MB traced; was 80 MB)."""
    gc.collect()
    tracemalloc.start()
    try:
        class Big(Struct):
            a: Array[Uint8, 10 ** 7]
            x: Int32

        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sizeof(Big) == 10 ** 7 + 4
    assert peak < 1_000_000, peak
    assert _core._layout_info(Big.__native__)["by_value"]


# -- The by-value limit ------------------------------------------------------------------------------------------

class Big1M(Struct):
    v: Array[Uint64, BYVALUE_MAX // 8]


class Big1MPlus(Struct):
    v: Array[Uint64, BYVALUE_MAX // 8 + 1]


class Half(Struct):
    v: Array[Uint8, BYVALUE_MAX // 2 + 1]


@pytest.fixture(scope="module")
def big_lib(native_lib) -> str:
    return native_lib("bigstruct")


def test_byvalue_limit_is_one_mebibyte(big_lib: str) -> None:
    """The by-value limit is 1 MiB, and the C helper's struct is exactly that large."""
    assert BYVALUE_MAX == 1 << 20
    assert cfunc(big_lib, "big_size", [], Size)() == sizeof(Big1M) == BYVALUE_MAX


def test_struct_at_the_limit_passes_down_and_up(big_lib: str) -> None:
    """A 1 MiB struct passes by value to C and back, and into callbacks both ways, as C built it."""
    oracle = cfunc(big_lib, "big_checksum_of_seed", [Uint64], Uint64)(5)
    make = cfunc(big_lib, "big_make", [Uint64], Big1M)
    checksum = cfunc(big_lib, "big_checksum", [Big1M], Uint64)
    b = make(5)
    assert b.v[0] == 5 and b.v[BYVALUE_MAX // 8 - 1] == 5 + BYVALUE_MAX // 8 - 1
    assert checksum(b) == oracle

    def on_arg(s: Big1M) -> int:
        assert s.v[0] == 9 and s.v[BYVALUE_MAX // 8 - 1] == 9 + BYVALUE_MAX // 8 - 1
        return checksum(s)

    with NativeCallable.isolate_local(NativeFunction[[Big1M], Uint64], on_arg, exceptional_return=0) as cb:
        got = cfunc(big_lib, "big_call_arg", [Pointer[NativeFunction[[Big1M], Uint64]], Uint64], Uint64,
                    is_leaf=False)(cb, 9)
    assert got == cfunc(big_lib, "big_checksum_of_seed", [Uint64], Uint64)(9)

    with NativeCallable.isolate_local(NativeFunction[[Uint64], Big1M], make, exceptional_return=Big1M()) as cb:
        got = cfunc(big_lib, "big_call_ret", [Pointer[NativeFunction[[Uint64], Big1M]], Uint64], Uint64,
                    is_leaf=False)(cb, 5)
    assert got == oracle


def test_by_value_compounds_past_the_limit_are_refused_when_the_type_is_made() -> None:
    """A signature whose by-value compound arguments total more than 1 MiB, or whose return is larger, raises
    TypeError naming the size and the limit (a 4 MiB struct used to overflow the native stack)."""
    msg = r"by-value arguments of {} take {} bytes; the limit is 1048576 bytes"
    with pytest.raises(TypeError, match=msg.format(r"NativeFunction\[\[Big1MPlus\], Int64\]", 1048584)):
        NativeFunction[[Big1MPlus], Int64]
    with pytest.raises(TypeError, match=msg.format(r"NativeFunction\[\[Half, Int32, Half\], Void\]", 1048578)):
        NativeFunction[[Half, Int32, Half], None]
    with pytest.raises(TypeError, match=r"returns Big1MPlus by value \(1048584 bytes\); the limit is 1048576"):
        NativeFunction[[], Big1MPlus]
    with pytest.raises(TypeError, match="the limit is 1048576 bytes"):
        @nativeffi.native
        def too_big(b: Big1MPlus) -> Int64: ...
    assert native_type(NativeFunction[[Half, Int32], Big1M]).kind == "function"


def test_huge_struct_by_value_fails_cleanly_in_a_subprocess(big_lib: str) -> None:
    """Calling C with a 4 MiB struct by value, which segfaulted inside libffi, exits with a TypeError (run in a
    child so that a crash shows as one)."""
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[2])
        from helpers import cfunc
        from nativeffi import Array, Struct, Uint64
        class Big4(Struct):
            v: Array[Uint64, (4 << 20) // 8]
        b = Big4()
        b.v[(4 << 20) // 8 - 1] = 7
        try:
            print("called:", cfunc(sys.argv[1], "big4_last", [Big4], Uint64)(b))
        except TypeError as e:
            print("refused:", e)
    """)
    tests = str(pathlib.Path(__file__).resolve().parent)
    r = subprocess.run([sys.executable, "-c", code, big_lib, tests], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "refused: the by-value arguments of NativeFunction[[Big4], Uint64] take 4194304 " \
        "bytes; the limit is 1048576 bytes" in r.stdout, (r.returncode, r.stdout + r.stderr)
