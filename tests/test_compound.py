"""Structs, unions, inline arrays and bit fields: declaration, layout, values, views and by-value calls."""
from __future__ import annotations

import gc
import struct as pystruct
import time

import pytest

from nativeffi import (
    Array, ArrayView, Bits, Bool, Double, Float, Int, Int8, Int16, Int32, Int64, Long, NativeFunction, Opaque,
    Pointer, Size, Struct, Uint8, Uint16, Uint32, Uint64, Union, Utf8, address_of, alignof, assets, calloc, fields,
    malloc, native, native_var, offsetof, sizeof,
)

ASSET = "test:compound_basic"


@pytest.fixture(scope="module", autouse=True)
def helper_lib(native_lib):
    """Builds tests/native/compound_basic.c and registers it as the asset the bindings below use."""
    path = native_lib("compound_basic")
    assets.register(ASSET, assets.Absolute(path))
    yield path
    assets.unregister(ASSET)


# -- Declarations mirrored from compound_basic.c ---------------------------------------------------

class Coord(Struct):
    x: Double
    y: Double
    next: Pointer["Coord"]


class Packed(Struct, pack=1):
    a: Uint8
    b: Int32


class Num(Union):
    i: Int32
    d: Double


class Grid(Struct):
    cells: Array[Int32, 3, 3]


class Flags(Struct):
    ready: Bits[Uint8, 1]
    mode: Bits[Uint8, 3]
    level: Bits[Int8, 4]


class Outer(Struct):
    tag: Uint8
    c: Coord
    n: Array[Num, 2]


def layout(name: str, n: int) -> list[int]:
    return list(native_var(Array[Size, n], name, asset=ASSET, final=True).value)


@native(asset=ASSET)
def coord_sum_list(c: Pointer[Coord]) -> Double: ...
@native(asset=ASSET)
def coord_scale(c: Coord, k: Double) -> Coord: ...
@native(asset=ASSET)
def packed_b(p: Packed) -> Int32: ...
@native(asset=ASSET)
def packed_make(a: Uint8, b: Int32) -> Packed: ...
@native(asset=ASSET)
def num_as_double(n: Num) -> Double: ...
@native(asset=ASSET)
def num_from_int(i: Int32) -> Num: ...
@native(asset=ASSET)
def grid_trace(g: Grid) -> Int32: ...
@native(asset=ASSET)
def grid_fill(g: Pointer[Grid]) -> None: ...
@native(asset=ASSET)
def flags_byte(f: Flags) -> Uint8: ...
@native(asset=ASSET)
def flags_level(f: Flags) -> Int: ...
@native(asset=ASSET)
def flags_make(ready: Int, mode: Int, level: Int) -> Flags: ...
@native(asset=ASSET)
def outer_check(o: Outer) -> Double: ...
@native(asset=ASSET)
def global_coord_sum() -> Double: ...
@native(asset=ASSET)
def global_array_sum() -> Int32: ...
@native(asset=ASSET)
def identity_trace() -> Double: ...


# -- Layout --------------------------------------------------------------------------------------------

def test_coord_layout_matches_c():
    """sizeof, alignof and offsetof of a struct with a self pointer agree with the C compiler."""
    assert [sizeof(Coord), alignof(Coord), offsetof(Coord, "y"), offsetof(Coord, "next")] == layout("coord_layout", 4)


def test_packed_layout_matches_c():
    """pack=1 lays out like #pragma pack(1)."""
    assert [sizeof(Packed), alignof(Packed), offsetof(Packed, "b")] == layout("packed_layout", 3)


class Odd(Struct, pack=1):
    pad: Uint8
    i16: Int16
    u16: Uint16
    i32: Int32
    u32: Uint32
    i64: Int64
    u64: Uint64
    f: Float
    d: Double
    b: Bool
    p: Pointer[Int8]


def test_misaligned_scalar_fields_read_and_write_their_bytes():
    """Every scalar kind at a misaligned offset of a packed struct writes and reads its little-endian bytes exactly
    (byte copies: .ci/sanitize's UBSan reports a misaligned load or store)."""
    values = dict(i16=-2, u16=0xFFFE, i32=-3, u32=0xFFFFFFFD, i64=-4, u64=2**64 - 5, f=1.5, d=-2.25, b=True)
    s = Odd(pad=0xAA, **values)
    s.p = Pointer[Int8].from_address(0x1122334455667788)
    raw = bytes(s.address.cast(Uint8).as_memoryview(sizeof(Odd)))
    assert raw == pystruct.pack("<BhHiIqQfd?Q", 0xAA, *values.values(), 0x1122334455667788)
    assert {k: getattr(s, k) for k in values} == values and s.p.address == 0x1122334455667788


def test_union_grid_flags_outer_layouts_match_c():
    """Unions, multi-dimensional arrays, bit fields and nested compounds have the C compiler's size and alignment."""
    assert [sizeof(Num), alignof(Num)] == layout("num_layout", 2)
    assert [sizeof(Grid), alignof(Grid)] == layout("grid_layout", 2)
    assert [sizeof(Flags), alignof(Flags)] == layout("flags_layout", 2)
    assert [sizeof(Outer), alignof(Outer), offsetof(Outer, "c"), offsetof(Outer, "n")] == layout("outer_layout", 4)


def test_fields_lists_declaration_order():
    """fields() gives the descriptors in declaration order with their types and offsets."""
    fs = fields(Coord)
    assert [f.name for f in fs] == ["x", "y", "next"]
    assert [f.offset for f in fs] == [0, offsetof(Coord, "y"), offsetof(Coord, "next")]
    assert fields(Flags)[1].bit_width == 3 and fields(Flags)[1].bit_offset == 1


# -- Values owned by Python ---------------------------------------------------------------------------

def test_new_struct_is_zeroed_and_owned():
    """A new struct is zero-filled memory that Python owns."""
    c = Coord()
    assert (c.x, c.y, c.next.is_null) == (0.0, 0.0, True)
    assert bytes(memoryview(c)) == bytes(sizeof(Coord))
    assert c._is_view is False


def test_positional_and_keyword_initialisation():
    """Fields can be given by position (declaration order) and by keyword."""
    c = Coord(1.0, y=2.5)
    assert (c.x, c.y) == (1.0, 2.5)


def test_unknown_field_keyword_raises_type_error():
    """An unknown field name at construction is a TypeError naming the fields."""
    with pytest.raises(TypeError, match=r"Coord has no field 'z' \(fields: x, y, next\)"):
        Coord(z=1.0)


def test_unknown_attribute_write_raises():
    """Writing a misspelt field raises instead of silently adding an attribute."""
    with pytest.raises(AttributeError, match="has no field 'xx'"):
        Coord().xx = 1.0


def test_too_many_positional_values_raise():
    """More positional values than fields is a TypeError."""
    with pytest.raises(TypeError, match="at most 3 positional"):
        Coord(1.0, 2.0, None, 4.0)


def test_field_writes_are_range_checked_like_arguments():
    """An out-of-range integer field write raises OverflowError and leaves the field unchanged."""
    p = Packed(a=7)
    with pytest.raises(OverflowError, match=r"Packed.a: expected an int in \[0, 255\]"):
        p.a = 256
    assert p.a == 7


def test_field_writes_are_type_checked():
    """A str written to a Double field is a TypeError."""
    with pytest.raises(TypeError, match="Coord.x: expected a float"):
        Coord().x = "1.0"


def test_assigning_a_struct_of_another_type_raises():
    """A nested struct field only accepts a value of its own struct type."""
    o = Outer()
    with pytest.raises(TypeError, match="expected Coord, got Packed"):
        o.c = Packed()


def test_nested_struct_field_is_a_view():
    """Writing through a nested struct's view changes the outer struct's memory."""
    o = Outer()
    inner = o.c
    inner.x = 4.0
    assert o.c.x == 4.0
    assert inner._is_view and inner._address == o._address + offsetof(Outer, "c")


def test_assigning_a_nested_struct_copies_it():
    """Assigning a struct value to a field copies its bytes."""
    o = Outer()
    c = Coord(x=1.0, y=2.0)
    o.c = c
    c.x = 9.0
    assert (o.c.x, o.c.y) == (1.0, 2.0)


def test_view_keeps_owner_alive():
    """A view of a nested field keeps the owning struct's memory alive after the owner is dropped."""
    o = Outer()
    o.c.y = 3.5
    view = o.c
    del o
    gc.collect()
    Outer(tag=255)  # reuse freed memory if the owner had been freed
    assert view.y == 3.5


def test_copy_is_independent():
    """copy() of a view gives a Python-owned value unaffected by later writes."""
    o = Outer()
    o.c.x = 1.0
    snapshot = o.c.copy()
    o.c.x = 2.0
    assert snapshot.x == 1.0 and not snapshot._is_view


def test_repr_shows_fields():
    """repr of a struct lists its fields and values."""
    assert repr(Packed(a=1, b=-2)) == "Packed(a=1, b=-2)"


# -- Pointers and views of native memory ----------------------------------------------------------

def test_pointer_ref_is_a_view_seen_by_c():
    """Writes through p.ref land in native memory that C reads."""
    p = calloc(Coord)
    try:
        p.ref.x, p.ref.y = 1.5, 2.0
        assert coord_sum_list(p) == 3.5
    finally:
        calloc.free(p)


def test_pointer_indexing_steps_by_sizeof():
    """p[i] and p + i address elements sizeof(Coord) apart; a linked list built in Python is walked by C."""
    p = calloc(Coord, 3)
    try:
        for i in range(3):
            p[i].x = float(i)
            p[i].y = 10.0
            p[i].next = p + (i + 1) if i < 2 else None
        assert (p + 2).address - p.address == 2 * sizeof(Coord)
        assert coord_sum_list(p) == 0.0 + 1.0 + 2.0 + 30.0
    finally:
        calloc.free(p)


def test_struct_value_passes_where_pointer_expected():
    """A struct value passes as Pointer[Coord] (its address); C reads it, including a chain through .address."""
    a = Coord(x=1.0, y=1.0)
    b = Coord(x=2.0, y=2.0)
    a.next = b.address
    assert coord_sum_list(a) == 6.0
    assert address_of(a) == a.address and a.address.address == a._address


def test_self_reference_resolves_inside_a_function():
    """Pointer["Node"] inside a class body resolves to the class even when it is local to a function."""
    def make():
        class Node(Struct):
            value: Int64
            next: Pointer["Node"]
        return Node
    Node = make()
    n = Node(value=5)
    n.next = n.address
    assert n.next.ref.value == 5
    assert fields(Node)[1].type.target is Node.__native__


def test_string_annotations_resolve_with_future_import():
    """With `from __future__ import annotations` the field types (including self pointers) resolve."""
    ns: dict = {}
    exec("from __future__ import annotations\n"
         "from nativeffi import Struct, Pointer, Int32\n"
         "class Link(Struct):\n"
         "    v: Int32\n"
         "    nxt: Pointer[Link]\n", ns)
    Link = ns["Link"]
    assert sizeof(Link) == 16 and fields(Link)[1].type.target is Link.__native__


# -- Arrays ---------------------------------------------------------------------------------------------

def test_array_field_sequence_operations():
    """Array fields support len, indexing (views for inner dimensions), negative indices, iteration and slices."""
    g = Grid()
    grid_fill(g)
    assert len(g.cells) == 3 and len(g.cells[0]) == 3
    assert g.cells[1][2] == 12 and g.cells[-1][-1] == 22
    assert [list(row) for row in g.cells] == [[0, 1, 2], [10, 11, 12], [20, 21, 22]]
    assert g.cells[2][::-1] == [22, 21, 20]
    assert g.cells.tolist() == [[0, 1, 2], [10, 11, 12], [20, 21, 22]]


def test_array_assignment_from_sequences():
    """A whole array, a row, an item and a slice can be assigned; C sees the values."""
    g = Grid()
    g.cells = [[1, 0, 0], [0, 2, 0], [0, 0, 3]]
    assert grid_trace(g) == 6
    g.cells[1] = (0, 5, 0)
    g.cells[2][2] = 7
    g.cells[0][0:2] = [4, 4]
    assert grid_trace(g) == 16 and g.cells[0] == [4, 4, 0]


def test_array_lengths_written_as_literal():
    """Array[T, Literal[n], ...] (the spelling type checkers accept) is the same type as Array[T, n, ...]; C sees it."""
    from typing import Literal

    assert Array[Int32, Literal[3], Literal[3]] is Array[Int32, 3, 3]

    class LiteralGrid(Struct):
        cells: Array[Int32, Literal[3], Literal[3]]

    g = LiteralGrid()
    g.cells = [[1, 0, 0], [0, 2, 0], [0, 0, 3]]
    assert sizeof(LiteralGrid) == sizeof(Grid) == 36
    assert grid_trace(g.address.cast(Grid).ref) == 6  # the same bytes as a Grid, which C reads
    with pytest.raises(TypeError, match="Array lengths must be ints, got 'x'"):
        Array[Int32, Literal["x"]]


def test_array_wrong_length_raises_and_leaves_memory():
    """A sequence of the wrong length is a ValueError and nothing is written."""
    g = Grid()
    grid_fill(g)
    with pytest.raises(ValueError, match="expected a sequence of 3 items"):
        g.cells = [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(ValueError, match="cannot change length"):
        g.cells[0][0:2] = [1, 2, 3]
    assert g.cells[1] == [10, 11, 12]


def test_array_bad_item_raises_and_leaves_memory():
    """A bad item in an array assignment raises and leaves every element unchanged."""
    g = Grid()
    with pytest.raises(TypeError, match="item 2"):
        g.cells[0] = [1, 2, "x"]
    assert g.cells[0] == [0, 0, 0]


def test_array_index_out_of_range():
    """Indexing past the end is an IndexError, not a read of other memory."""
    with pytest.raises(IndexError):
        Grid().cells[3]


def test_array_owned_value_and_struct_elements():
    """Array[T, n](values) makes a Python-owned array; arrays of unions give views of their elements."""
    a = Array[Int32, 3]([1, 2, 3])
    assert isinstance(a, ArrayView) and list(a) == [1, 2, 3] and sizeof(Array[Int32, 3]) == 12
    o = Outer()
    o.n[1].d = 2.5
    o.n[0].i = 3
    o.tag = 1
    o.c = Coord(x=0.25, y=0.25)
    assert outer_check(o) == 1 + 0.5 + 3 + 2.5


# -- Bit fields ---------------------------------------------------------------------------------------

def test_bit_fields_pack_like_c():
    """Bit fields built in Python have the bytes C builds for the same values."""
    for ready, mode, level in [(1, 5, -3), (0, 7, 7), (1, 0, -8)]:
        from_c = flags_make(ready, mode, level)
        ours = Flags(ready=ready, mode=mode, level=level)
        assert bytes(memoryview(ours)) == bytes(memoryview(from_c))
        assert flags_byte(ours) == bytes(memoryview(from_c))[0]
        assert (from_c.ready, from_c.mode, from_c.level) == (ready, mode, level)


def test_signed_bit_field_sign_extends():
    """A negative value in a signed bit field reads back negative in Python and in C."""
    f = Flags(level=-5)
    assert f.level == -5 and flags_level(f) == -5


def test_bit_field_range_is_checked():
    """A value that does not fit the bit width raises OverflowError and leaves the neighbours intact."""
    f = Flags(ready=1, mode=2, level=1)
    with pytest.raises(OverflowError, match=r"\[0, 7\]"):
        f.mode = 8
    with pytest.raises(OverflowError, match=r"\[-8, 7\]"):
        f.level = 8
    assert (f.ready, f.mode, f.level) == (1, 2, 1)


def test_bool_bit_field_reads_bool():
    """Bits[Bool, 1] reads as a bool."""
    class B(Struct):
        on: Bits[Bool, 1]
        rest: Bits[Uint8, 7]
    b = B(on=True, rest=3)
    assert b.on is True and b.rest == 3 and bytes(memoryview(b)) == bytes([1 | 3 << 1])


# -- By value ----------------------------------------------------------------------------------------------

def test_struct_by_value_argument_and_return():
    """A struct passes by value (copied) and a struct return is a Python-owned value."""
    c = Coord(x=1.0, y=-2.0)
    r = coord_scale(c, 3.0)
    assert (r.x, r.y, c.x) == (3.0, -6.0, 1.0)
    assert isinstance(r, Coord) and not r._is_view


def test_packed_struct_by_value():
    """A packed struct with a misaligned field passes and returns by value."""
    assert packed_b(Packed(a=2, b=40)) == 42
    p = packed_make(9, -100000)
    assert (p.a, p.b) == (9, -100000)


def test_union_by_value():
    """A union passes and returns by value."""
    assert num_as_double(Num(d=6.25)) == 6.25
    assert num_from_int(-7).i == -7


def test_struct_with_array_and_nested_union_by_value():
    """Structs holding inline arrays and arrays of unions pass by value."""
    g = Grid()
    g.cells = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert grid_trace(g) == 15


def test_by_value_through_as_function():
    """Pointer[NativeFunction].as_function() passes and returns structs by value too."""
    f = address_of(coord_scale).cast(NativeFunction[[Coord, Double], Coord]).as_function()
    r = f(Coord(x=2.0, y=4.0), 0.5)
    assert (r.x, r.y) == (1.0, 2.0)


def test_view_passes_by_value():
    """A view of native memory passes by value like an owned struct."""
    p = calloc(Coord)
    try:
        p.ref.x = 2.0
        assert coord_scale(p.ref, 2.0).x == 4.0
    finally:
        calloc.free(p)


def test_wrong_struct_type_argument_raises():
    """Passing a struct of another type by value is a TypeError naming the parameter."""
    with pytest.raises(TypeError, match=r"argument 1 \('c'\): expected Coord, got Packed"):
        coord_scale(Packed(), 1.0)


# -- Globals -----------------------------------------------------------------------------------------

def test_struct_global_is_a_view():
    """A struct global reads as a view: Python writes are seen by C."""
    g = native_var(Coord, "global_coord", asset=ASSET)
    assert (g.value.x, g.value.y) == (1.5, 2.5)
    g.value.x = 10.0
    assert global_coord_sum() == 12.5
    g.value = Coord(x=1.5, y=2.5)
    assert global_coord_sum() == 4.0


def test_array_globals_are_views():
    """Inline array globals (int[3], double[3][3]) read as views and accept writes."""
    arr = native_var(Array[Int32, 3], "global_array", asset=ASSET)
    assert list(arr.value) == [1, 2, 3]
    arr.value[1] = 20
    assert global_array_sum() == 24
    arr.value = [1, 2, 3]
    ident = native_var(Array[Double, 3, 3], "identity3x3", asset=ASSET)
    assert ident.value.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    ident.value[2][2] = 5.0
    assert identity_trace() == 7.0
    ident.value[2][2] = 1.0


# -- Bad declarations -----------------------------------------------------------------------------------

def test_opaque_field_by_value_raises():
    """An Opaque type as a by-value field is a TypeError at declaration."""
    class Handle(Opaque):
        pass
    with pytest.raises(TypeError, match="opaque types live only behind a pointer"):
        class Bad(Struct):
            h: Handle


def test_recursive_by_value_struct_raises():
    """A struct containing itself by value is a TypeError at declaration."""
    with pytest.raises(TypeError, match="a struct cannot contain itself"):
        class Node(Struct):
            v: Int32
            inner: "Node"


def test_empty_struct_raises():
    """A struct without fields is a TypeError."""
    with pytest.raises(TypeError, match="has no fields"):
        class Empty(Struct):
            pass


def test_bad_bit_fields_raise():
    """Bits on a non-integer type is a TypeError; a width wider than the type is a ValueError."""
    with pytest.raises(TypeError, match="needs an integer or Bool"):
        class A(Struct):
            x: Bits[Double, 3]
    with pytest.raises(ValueError, match="at most 8 bits"):
        class B(Struct):
            x: Bits[Uint8, 9]
    with pytest.raises(TypeError, match="only valid as the type of a Struct or Union field"):
        @native(asset=ASSET)
        def f(x: Bits[Uint8, 3]) -> None: ...


def test_bad_pack_raises():
    """pack must be a power of two up to 16."""
    with pytest.raises(ValueError, match="pack must be 1, 2, 4, 8 or 16"):
        class P(Struct, pack=3):
            x: Int32


def test_struct_multiple_inheritance_raises():
    """Deriving from two struct classes is a TypeError (a struct appends fields to one base, as in ctypes)."""
    class Other(Struct):
        w: Double
    with pytest.raises(TypeError, match="or a struct from one declared struct"):
        class Sub(Coord, Other):
            z: Double


def test_field_default_raises():
    """A field with a default value is a TypeError (new structs are zeroed)."""
    with pytest.raises(TypeError, match="cannot have default values"):
        class D(Struct):
            x: Int32 = 5


def test_array_parameter_by_value_raises():
    """An inline array as a by-value parameter is a TypeError (C passes arrays as pointers)."""
    with pytest.raises(TypeError, match="cannot be passed by value"):
        @native(asset=ASSET)
        def takes_array(a: Array[Int32, 3]) -> None: ...


def test_bad_array_declarations_raise():
    """Array needs a sized element type and positive int lengths."""
    with pytest.raises(ValueError, match=">= 1"):
        Array[Int32, 0]
    with pytest.raises(TypeError, match="lengths must be ints"):
        Array[Int32, 2.0]
    with pytest.raises(TypeError, match="no values"):
        Array[Utf8, 2]


def test_offsetof_errors():
    """offsetof of a bit field is a TypeError and of an unknown field a ValueError."""
    with pytest.raises(TypeError, match="bit field"):
        offsetof(Flags, "mode")
    with pytest.raises(ValueError, match="has no field 'zz'"):
        offsetof(Coord, "zz")


def test_abstract_bases_cannot_be_instantiated():
    """Struct and Union themselves have no fields and cannot be instantiated."""
    with pytest.raises(TypeError):
        Struct()


# -- Real library structs ----------------------------------------------------------------------------

class Tm(Struct):
    tm_sec: Int
    tm_min: Int
    tm_hour: Int
    tm_mday: Int
    tm_mon: Int
    tm_year: Int
    tm_wday: Int
    tm_yday: Int
    tm_isdst: Int
    tm_gmtoff: Long
    tm_zone: Pointer[Utf8]


class Timespec(Struct):
    tv_sec: Long
    tv_nsec: Long


class Div(Struct):
    quot: Int
    rem: Int


class LDiv(Struct):
    quot: Long
    rem: Long


@native(asset="libc.so.6")
def localtime_r(t: Pointer[Int64], out: Pointer[Tm]) -> Pointer[Tm]: ...
@native(asset="libc.so.6")
def mktime(tm: Pointer[Tm]) -> Int64: ...
@native(asset="libc.so.6")
def clock_gettime(clock: Int, ts: Pointer[Timespec]) -> Int: ...
@native(asset="libc.so.6", symbol="div")
def c_div(a: Int, b: Int) -> Div: ...
@native(asset="libc.so.6", symbol="ldiv")
def c_ldiv(a: Long, b: Long) -> LDiv: ...


def test_struct_tm_layout_and_localtime_mktime():
    """struct tm matches the C layout; localtime_r fills it as Python's time.localtime does; mktime inverts it."""
    assert [sizeof(Tm), alignof(Tm), offsetof(Tm, "tm_isdst"), offsetof(Tm, "tm_gmtoff"),
            offsetof(Tm, "tm_zone")] == layout("tm_layout", 5)
    t = Array[Int64, 1]([1_700_000_000])
    tm = Tm()
    r = localtime_r(Pointer[Int64].from_address(t._address, t), tm)
    assert r.address == tm._address
    py = time.localtime(1_700_000_000)
    assert (tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_yday + 1) == \
        (py.tm_year, py.tm_mon, py.tm_mday, py.tm_hour, py.tm_min, py.tm_sec, py.tm_yday)
    assert tm.tm_gmtoff == py.tm_gmtoff and tm.tm_zone.to_str() == py.tm_zone
    assert mktime(tm) == 1_700_000_000


def test_struct_timespec_clock_gettime():
    """clock_gettime fills a struct timespec laid out as C's, close to Python's clock."""
    assert [sizeof(Timespec), alignof(Timespec), offsetof(Timespec, "tv_nsec")] == layout("timespec_layout", 3)
    ts = Timespec()
    before = time.time_ns()
    assert clock_gettime(0, ts) == 0  # CLOCK_REALTIME
    after = time.time_ns()
    assert before // 10**9 - 1 <= ts.tv_sec <= after // 10**9 + 1 and 0 <= ts.tv_nsec < 10**9


@pytest.mark.parametrize("a,b", [(7, 2), (-7, 2), (7, -2), (-2**31, 3)])
def test_div_returns_struct_by_value(a, b):
    """div and ldiv return their struct by value, with C's truncating division."""
    q, r = c_div(a, b), c_ldiv(a * 10**9, b)
    assert (q.quot * b + q.rem, abs(q.rem) < abs(b), q.rem == 0 or (q.rem > 0) == (a > 0)) == (a, True, True)
    assert (r.quot * b + r.rem, abs(r.rem) < abs(b)) == (a * 10**9, True)


# -- Callbacks -----------------------------------------------------------------------------------------

@native(asset=ASSET)
def call_with_coord(cb: Pointer[NativeFunction[[Coord], Double]], x: Double) -> Double: ...
@native(asset=ASSET)
def call_with_packed(cb: Pointer[NativeFunction[[Packed], Int32]]) -> Int32: ...
@native(asset=ASSET)
def call_for_num(cb: Pointer[NativeFunction[[Int32], Num]]) -> Double: ...


def test_callbacks_take_and_return_compounds_by_value():
    """A NativeCallable receives structs (packed too) by value and returns a union by value."""
    from nativeffi import NativeCallable
    seen = []
    with NativeCallable.isolate_local(NativeFunction[[Coord], Double], lambda c: seen.append(c.copy()) or c.x + c.y,
                                      exceptional_return=0.0) as cb:
        assert call_with_coord(cb, 1.5) == 4.5
    assert (seen[0].x, seen[0].y) == (1.5, 3.0)
    with NativeCallable.isolate_local(NativeFunction[[Packed], Int32], lambda p: p.a * 100 + p.b,
                                      exceptional_return=0) as cb:
        assert call_with_packed(cb) == 260
    with NativeCallable.isolate_local(NativeFunction[[Int32], Num], lambda i: Num(i=i * 2),
                                      exceptional_return=Num(i=-1)) as cb:
        assert call_for_num(cb) == 10


def test_field_descriptor_checks_the_instance():
    """A field reads and writes its own struct's instances only; another struct, or a non-struct, raises TypeError."""
    class Other(Struct):
        x: Double
        y: Double

    c = Coord(1.5, -2.0)
    assert Coord.x.__get__(c) == 1.5
    Coord.y.__set__(c, 7.25)
    assert c.y == 7.25
    with pytest.raises(TypeError, match="field x of Coord used on a Other"):
        Coord.x.__get__(Other(1.0, 2.0))
    with pytest.raises(TypeError, match="field y of Coord used on a int"):
        Coord.y.__set__(5, 1.0)
