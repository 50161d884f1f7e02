"""Struct values as ctypes users handle them: ==, copy, bytes, from_buffer(_copy), repr and pickling."""
from __future__ import annotations

import copy
import math
import pickle

import pytest

from nativeffi import (Array, Bits, Double, Int32, Int64, Pointer, Struct, Uint8, Union, calloc, malloc,
                       sizeof)


class Coord(Struct):
    x: Double
    y: Double


class Padded(Struct):
    tag: Uint8        # 7 padding bytes follow
    value: Int64
    flags: Bits[Uint8, 3]
    grid: Array[Int32, 2, 2]


class Num(Union):
    small: Uint8
    big: Int64


class Linked(Struct):
    value: Int32
    next: Pointer["Linked"]


def test_equality_by_fields_not_padding() -> None:
    """Two values are == when their fields are, whatever their padding bytes hold; a field difference makes !=."""
    a = Padded(tag=1, value=-5, flags=5, grid=[[1, 2], [3, 4]])
    b = Padded.from_buffer_copy(bytes(a))
    memoryview(b)[1:8] = b"\xff" * 7           # padding after tag
    memoryview(b)[16] |= 0xF8                   # the byte's bits past the 3-bit field
    assert bytes(a) != bytes(b) and a == b and not (a != b)
    b.grid[1][1] = 5
    assert a != b
    assert Coord(1.0, 2.0) == Coord(1.0, 2.0) != Coord(1.0, -2.0)


def test_equality_of_other_types_and_views() -> None:
    """A view equals an owned value of the same type; other types (even of the same layout) are never equal."""
    class Other(Struct):
        x: Double
        y: Double
    p = calloc(Coord, 2)
    p[1] = Coord(3.0, 4.0)
    assert p[1] == Coord(3.0, 4.0) and p[0] == Coord()
    assert Coord(1.0, 2.0) != Other(1.0, 2.0) and Coord() != (0.0, 0.0)
    with pytest.raises(TypeError, match="unhashable"):
        hash(Coord())
    calloc.free(p)


def test_float_fields_compare_by_bytes() -> None:
    """Floats compare by their bytes, as the issue asks: the same NaN is equal, 0.0 and -0.0 differ."""
    assert Coord(math.nan, 0.0) == Coord(math.nan, 0.0)
    assert Coord(0.0, 0.0) != Coord(-0.0, 0.0)


def test_union_equality_uses_its_largest_member() -> None:
    """Unions are equal when the bytes of their largest member are: a write of a smaller member compares by all."""
    assert Num(big=0x1FF) != Num(big=0xFF) and Num(small=7) == Num(big=7)


def test_copy_and_deepcopy_make_owned_values() -> None:
    """copy.copy and copy.deepcopy of a value or a view give an independent value owned by Python."""
    p = calloc(Coord)
    view = p.ref
    for c in (copy.copy(view), copy.deepcopy(view), copy.copy(Coord(1.0, 2.0))):
        assert not c._is_view
    c = copy.deepcopy(view)
    c.x = 9.0
    assert p.ref.x == 0.0 and c == Coord(9.0, 0.0)
    calloc.free(p)


def test_bytes_and_from_buffer_copy_round_trip() -> None:
    """bytes(s) is the value's memory (padding included) and from_buffer_copy reads it back, at an offset too."""
    a = Padded(tag=9, value=2 ** 40, flags=3, grid=[[5, 6], [7, 8]])
    data = bytes(a)
    assert len(data) == sizeof(Padded)
    assert Padded.from_buffer_copy(data) == a
    assert Padded.from_buffer_copy(b"xyz" + data, 3) == a
    with pytest.raises(ValueError, match=r"a Padded needs 40 bytes from offset 1, the buffer has 40 bytes"):
        Padded.from_buffer_copy(data, 1)
    with pytest.raises(TypeError, match="expected a buffer"):
        Padded.from_buffer_copy("text")


def test_from_buffer_is_a_view_that_keeps_the_buffer() -> None:
    """from_buffer makes a view: writes land in the bytearray, and the bytearray stays alive and locked in size."""
    buf = bytearray(8 + sizeof(Coord))
    c = Coord.from_buffer(buf, 8)
    c.y = 1.5
    assert c._is_view and Coord.from_buffer_copy(buf, 8) == Coord(0.0, 1.5)
    with pytest.raises(BufferError):
        buf.extend(b"x")   # exported: resizing would free the memory under the view
    with pytest.raises(TypeError, match="needs a writable buffer.*use from_buffer_copy"):
        Coord.from_buffer(bytes(16))
    with pytest.raises(ValueError, match="needs 16 bytes from offset 9"):
        Coord.from_buffer(buf, 9)
    with pytest.raises(ValueError, match="offset must be an int >= 0"):
        Coord.from_buffer(buf, -1)


def test_repr_shows_field_values() -> None:
    """repr names the type and each field with its value, nested values included."""
    assert repr(Coord(1.0, 2.5)) == "Coord(x=1.0, y=2.5)"
    assert repr(Padded(tag=1, flags=2)) == ("Padded(tag=1, value=0, flags=2, grid=Array[Int32, 2, 2]("
                                            "[[0, 0], [0, 0]]))")


def test_pickle_round_trips_values_and_views() -> None:
    """An owned value or a view pickles as its bytes and unpickles as an equal owned value."""
    a = Padded(tag=3, value=-1, flags=7, grid=[[1, 0], [0, 1]])
    b = pickle.loads(pickle.dumps(a))
    assert b == a and not b._is_view and type(b) is Padded
    p = malloc(Coord)
    p[0] = Coord(4.0, 5.0)
    assert pickle.loads(pickle.dumps(p.ref)) == Coord(4.0, 5.0)
    malloc.free(p)


def test_pickle_refuses_pointers() -> None:
    """A value holding pointers cannot be pickled (its addresses mean nothing elsewhere), as in ctypes."""
    with pytest.raises(TypeError, match="holds pointers"):
        pickle.dumps(Linked(1))


def test_struct_initialisers_nest() -> None:
    """Fields and array items take tuples, lists and dicts for structs, as C initialisers; unnamed fields are zero."""
    class Seg(Struct):
        a: Coord
        b: Coord
        more: Array[Coord, 2]
    s = Seg((1.0, 2.0), {"y": 3.0}, [[5.0, 6.0], {"x": 7.0}])
    assert s.a == Coord(1.0, 2.0) and s.b == Coord(0.0, 3.0)
    assert s.more[0] == Coord(5.0, 6.0) and s.more[1] == Coord(7.0, 0.0)
    s.a = {"x": -1.0}
    assert s.a == Coord(-1.0, 0.0)
    with pytest.raises(TypeError, match="Coord has no field 'z'"):
        s.a = {"z": 1.0}
    with pytest.raises(TypeError, match="at most 2 positional"):
        s.b = (1.0, 2.0, 3.0)
    assert s.a == Coord(-1.0, 0.0)
