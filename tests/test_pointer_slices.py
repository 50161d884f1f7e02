"""Pointer slices (p[a:b], p[a:b:k], assignment) and p.to_bytes(n), as ctypes pointers slice, checked against C."""
from __future__ import annotations

import pytest

import nativeffi
from nativeffi import (Double, Int32, Int64, NullPointerError, Pointer, Struct, Uint8, Void, malloc, nullptr)
from helpers import cfunc

PtrDiff = nativeffi.IntPtr

SLICES = [  # (start, stop, step, why)
    (0, 10, 1, "the whole buffer"),
    (None, 4, None, "start defaults to 0, as in ctypes"),
    (2, 7, 2, "a forward step"),
    (9, 0, -3, "a backward step from an explicit start"),
    (8, -1, -1, "a backward step down to element 0 (the stop -1 is an element index, not 'from the end')"),
    (5, 5, 1, "empty"),
    (7, 3, 1, "stop before start: empty, as in Python"),
]


@pytest.fixture(scope="module")
def lib(native_lib):
    return native_lib("structs_advanced")


@pytest.fixture
def buf(lib):
    """Twenty int64 with i*i at p[i] for i in [-10, 10), as C wrote them; p is the middle."""
    base = malloc(Int64, 20)
    p = base + 10
    cfunc(lib, "squares_range", [Pointer[Int64], PtrDiff, PtrDiff], Void)(p, -10, 10)
    yield p
    malloc.free(base)


@pytest.mark.parametrize("start,stop,step,why", SLICES, ids=[s[3] for s in SLICES])
def test_slice_reads_what_c_sums(lib, buf, start, stop, step, why) -> None:
    """p[a:b:k] is the list of elements C visits for the same start, stop and step."""
    got = buf[start:stop:step]
    c_sum = cfunc(lib, "sum_strided", [Pointer[Int64], PtrDiff, PtrDiff, PtrDiff], Int64)(
        buf, start or 0, stop, step or 1)
    expected = [i * i for i in range(start or 0, stop, step or 1)]
    assert got == expected and sum(got) == c_sum


def test_negative_indices_lie_before_the_pointer(buf) -> None:
    """Negative slice bounds are elements before p (pointer arithmetic, as p[-1] and ctypes), not from an end."""
    assert buf[-3:2] == [9, 4, 1, 0, 1]
    assert buf[-1] == 1


def test_slice_assignment_is_seen_by_c(lib, buf) -> None:
    """p[a:b:k] = values writes exactly those elements; C's sum sees them and nothing else changed."""
    buf[0:6:2] = [100, 200, 300]
    assert buf[0:6] == [100, 1, 200, 9, 300, 25]
    buf[-2:0] = (7, 8)
    assert cfunc(lib, "sum_strided", [Pointer[Int64], PtrDiff, PtrDiff, PtrDiff], Int64)(buf, -3, 1, 1) == 9 + 7 + 8 + 100


def test_slice_assignment_checks_everything_first(buf) -> None:
    """A wrong length or a bad item raises before any element is written."""
    with pytest.raises(ValueError, match=r"expected a sequence of 3 values \(the slice's length\), got 2"):
        buf[0:3] = [1, 2]
    with pytest.raises(TypeError, match=r"item 1: .*expected an int"):
        buf[0:3] = [5, "x", 6]
    with pytest.raises(OverflowError, match="item 2"):
        buf[0:3] = [5, 6, 2 ** 64]
    assert buf[0:3] == [0, 1, 4]
    with pytest.raises(TypeError, match="expected a sequence of 2 values, got int"):
        buf[0:2] = 5


def test_slice_errors_follow_ctypes() -> None:
    """A slice without stop, or with a negative step and no start, is a ValueError saying what is missing."""
    p = malloc(Int32, 4)
    with pytest.raises(ValueError, match="needs a stop"):
        p[:]
    with pytest.raises(ValueError, match="needs a stop"):
        p[1:] = [1]
    with pytest.raises(ValueError, match="negative step needs a start"):
        p[:0:-1]
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        p[0:2:0]
    with pytest.raises(NullPointerError):
        Pointer[Int32].from_address(0)[0:2]
    with pytest.raises(OverflowError, match="leave the address space|leaves the address space"):
        Pointer[Int64].from_address(2 ** 63)[0:2 ** 62]
    malloc.free(p)


def test_struct_slices_are_views() -> None:
    """Slices through Pointer[Struct] are views: writing a field of an item writes the array."""
    class P(Struct):
        x: Int32
        y: Double
    p = malloc(P, 3)
    p[0:3] = [P(1, 0.5), P(2, 1.5), P(3, 2.5)]
    items = p[0:3]
    items[1].x = 20
    assert [q.x for q in p[0:3]] == [1, 20, 3] and p[2].y == 2.5
    malloc.free(p)


def test_to_bytes_copies_n_elements(buf) -> None:
    """to_bytes(n) is the bytes of n elements (n bytes through Pointer[Void]); 0 is b'' even for nullptr."""
    assert buf.to_bytes(2) == (0).to_bytes(8, "little") + (1).to_bytes(8, "little")
    assert buf.cast(Void).to_bytes(9) == buf.to_bytes(2)[:9]
    assert buf.cast(Uint8).to_bytes(3) == bytes(buf.as_memoryview(3))
    assert nullptr.to_bytes(0) == b""
    with pytest.raises(NullPointerError):
        Pointer[Int32].from_address(0).to_bytes(1)
    with pytest.raises(ValueError, match="to_bytes"):
        buf.to_bytes(-1)
    with pytest.raises(OverflowError, match="to_bytes"):
        buf.to_bytes(2 ** 62)
