"""Struct inheritance, anonymous members, byte order, flexible array members and text fields, checked against C
(tests/native/structs_advanced.c): the compiler's layouts, and C functions reading and writing the values."""
from __future__ import annotations

import copy
import struct
import sys

import pytest

from nativeffi import (Array, Bits, Char, Double, Int8, Int16, Int32, Int64, Pointer, Size, Struct, Uint8, Uint16,
                       Uint32, Union, Void, WChar, assets, calloc, fields, malloc, offsetof, sizeof, alignof,
                       to_native_wchar)
from helpers import cfunc


@pytest.fixture(scope="module")
def lib(native_lib):
    return native_lib("structs_advanced")


def c_layout(lib: str, name: str, n: int) -> list[int]:
    """The size_t array `name` of the helper library: {sizeof, alignof, offsets...} as the compiler computed."""
    return Pointer[Size].from_address(assets.lookup(lib, name))[0:n]


# -- Inheritance -------------------------------------------------------------------------------------------

class B(Struct):
    a: Int64
    b: Int8


class D(B):
    c: Int8


class D3(D):
    e: Int16


class B2(Struct):
    a: Int32
    b: Char


class D2(B2):
    c: Array[Char, 4]
    d: Double


class BB(Struct):
    x: Bits[Uint32, 3]


class DB(BB):
    y: Bits[Uint8, 2]


class DP(B, pack=1):
    c: Int32


INHERITED = [  # (class, C layout, its own fields, why)
    (D, "d_layout", ["c"], "the derived field starts after the base's tail padding, not inside it"),
    (D3, "d3_layout", ["e"], "derived twice"),
    (D2, "d2_layout", ["c", "d"], "the same size as the flattened fields but other offsets"),
    (DP, "dp_layout", ["c"], "packed derived struct: the base is placed whole"),
]


@pytest.mark.parametrize("cls,layout,own,why", INHERITED, ids=[c[0].__name__ for c in INHERITED])
def test_inherited_layout_is_c_base_member(lib, cls, layout, own, why) -> None:
    """A derived struct is laid out as C's struct D { struct B base; ... }: size, alignment, offsets."""
    got = [sizeof(cls), alignof(cls), *(offsetof(cls, f) for f in own)]
    assert got == c_layout(lib, layout, 2 + len(own))


def test_inherited_bit_fields_start_after_the_base(lib) -> None:
    """Bit fields of a derived struct do not continue in the base's storage unit, as C's nested base."""
    assert [sizeof(DB), alignof(DB)] == c_layout(lib, "db_layout", 2)
    assert fields(DB)[1].bit_offset == 32
    assert cfunc(lib, "db_bits", [Pointer[DB]], Uint32)(DB(x=5, y=3)) == 53


def test_inherited_fields_read_what_c_wrote(lib) -> None:
    """Base fields come first (positionally too), read and write through the derived value, and C agrees."""
    d2 = D2()
    cfunc(lib, "d2_fill", [Pointer[D2]], Void)(d2)
    assert (d2.a, d2.b, d2.c.to_bytes(), d2.d) == (1, ord("x"), b"abc", 2.5)
    d3 = D3(1, 2, 3, 4)
    assert [f.name for f in fields(D3)] == ["a", "b", "c", "e"]
    assert cfunc(lib, "d3_sum", [D3], Int64)(d3) == 10
    assert cfunc(lib, "d3_sum", [D3], Int64)((1, 2, 3, 4)) == 10   # a tuple initialiser passes by value too
    assert isinstance(d3, B) and repr(d3) == "D3(a=1, b=2, c=3, e=4)"


def test_inheritance_errors() -> None:
    """A field named as a base field, a union subclass and a changed byte order are refused, saying why."""
    with pytest.raises(TypeError, match="the base B has a field 'a' already"):
        class Bad(B):
            a: Int32
    class U(Union):
        i: Int32
    with pytest.raises(TypeError, match="a union has no subclasses"):
        class Bad2(U):
            j: Int32
    with pytest.raises(TypeError, match="keeps its base's byte order"):
        class Bad3(B, endian="big" if sys.byteorder == "little" else "little"):
            z: Int32


# -- Anonymous members -----------------------------------------------------------------------------------------

class LoHi(Struct):
    lo: Uint8
    hi: Uint8


class IDU(Union):
    i: Int32
    d: Double
    bytes2: LoHi
    _anonymous_ = ("bytes2",)


class AB(Struct):
    a: Bits[Uint16, 4]
    b: Bits[Uint16, 12]


class V(Struct):
    kind: Int32
    u: IDU
    bits: AB
    _anonymous_ = ("u", "bits")


def test_anonymous_layout_matches_c(lib) -> None:
    """Fields of anonymous members (nested two deep) are at the offsets C gives them in the parent."""
    got = [sizeof(V), alignof(V), V.i.offset, V.d.offset, V.lo.offset, V.hi.offset]
    assert got == c_layout(lib, "v_layout", 6)


def test_anonymous_fields_read_and_write_through_the_parent(lib) -> None:
    """v.i, v.lo and the bit fields v.a, v.b read what C wrote; writes through them are what C reads."""
    v = V()
    cfunc(lib, "v_fill", [Pointer[V]], Void)(v)
    assert (v.kind, v.lo, v.hi, v.i, v.a, v.b) == (7, 0x34, 0x12, 0x1234, 9, 1000)
    assert v.u.bytes2.lo == 0x34   # the member is still there by name
    w = V(kind=2, d=6.25)
    assert cfunc(lib, "v_read", [Pointer[V]], Double)(w) == 6.25
    w.kind, w.i, w.a, w.b = 1, 10, 3, 100
    assert cfunc(lib, "v_read", [Pointer[V]], Double)(w) == 10 + 1.5 + 100


def test_anonymous_errors() -> None:
    """_anonymous_ naming a non-compound field, or a member whose field names clash, is refused."""
    with pytest.raises(TypeError, match="'kind' must name a struct or union field"):
        class Bad(Struct):
            kind: Int32
            _anonymous_ = ("kind",)
    with pytest.raises(TypeError, match="has a field 'lo', which Bad2 has already"):
        class Bad2(Struct):
            lo: Int32
            x: LoHi
            _anonymous_ = ("x",)


# -- Byte order --------------------------------------------------------------------------------------------------

class Wire(Struct, endian="big", pack=1):
    port: Uint16
    addr: Uint32
    ttl: Uint8
    words: Array[Uint16, 3]
    big: Int64
    ratio: Double


class WireAligned(Struct, endian="big"):
    port: Uint16
    addr: Uint32
    ttl: Uint8
    words: Array[Uint16, 3]
    big: Int64
    ratio: Double


WIRES = [(Wire, "wire", "packed, as most wire headers"), (WireAligned, "wire_aligned", "natural alignment")]


@pytest.mark.parametrize("cls,c_name,why", WIRES, ids=[w[1] for w in WIRES])
def test_big_endian_reads_what_c_wrote_with_htonl(lib, cls, c_name, why) -> None:
    """A big-endian struct reads the values C stored with htons/htonl/bswap64, at C's layout."""
    assert [sizeof(cls), alignof(cls), offsetof(cls, "ratio")] == c_layout(lib, c_name + "_layout", 3)
    w = cls()
    cfunc(lib, c_name + "_fill", [Pointer[cls]], Void)(w)
    assert (w.port, w.addr, w.ttl, w.words.tolist(), w.big, w.ratio) == (
        0x1234, 0xC0A80001, 64, [0x010A, 0x020A, 0x030A], -2, -1.25)
    assert bytes(w)[:2] == b"\x12\x34"


@pytest.mark.parametrize("cls,c_name,why", WIRES, ids=[w[1] for w in WIRES])
def test_big_endian_writes_what_c_reads_with_ntohl(lib, cls, c_name, why) -> None:
    """Values written to a big-endian struct (fields, array items, slices, whole arrays) are what ntohl reads."""
    w = cls(port=0x1234, addr=0xC0A80001, ttl=64, big=-2, ratio=-1.25)
    w.words[0] = 0x010A
    w.words[1:] = [0x020A, 0x030A]
    assert cfunc(lib, c_name + "_fill_check", [Pointer[cls]], Int32)(w) == 1
    w.words = [0x010A, 0x020A, 0x030A]
    assert cfunc(lib, c_name + "_fill_check", [Pointer[cls]], Int32)(w) == 1
    assert w.words.copy()[2] == copy.deepcopy(w.words)[2] == 0x030A   # a copy of a swapped array view keeps reading right
    assert cls.from_buffer_copy(bytes(w)) == w
    other = cls()
    other.words = w.words                         # swapped to swapped
    native = Array[Uint16, 3](w.words)            # swapped to native
    assert other.words.tolist() == native.tolist() == [0x010A, 0x020A, 0x030A]
    other.words = native                          # native to swapped
    assert bytes(other.words) == bytes(w.words)


def test_little_endian_is_native_here_and_nesting_is_checked() -> None:
    """endian='little' is the native layout on little-endian hosts; a nested struct must share the byte order."""
    class L(Struct, endian="little"):
        x: Uint32
    assert bytes(L(1)) == (1).to_bytes(4, "little")
    class Inner(Struct, endian="big"):
        v: Uint16
    class Outer(Struct, endian="big"):
        inner: Inner
        many: Array[Inner, 2]
    o = Outer(inner=(0x0102,), many=[(3,), (4,)])
    assert bytes(o) == b"\x01\x02\x00\x03\x00\x04"
    with pytest.raises(TypeError, match="Inner is big-endian inside a little-endian struct"):
        class Mixed(Struct, endian="little"):
            inner: Inner
    with pytest.raises(TypeError, match="bit fields in a struct of the other byte order"):
        class BitsBE(Struct, endian="big"):
            x: Bits[Uint8, 3]
    with pytest.raises(ValueError, match="endian must be 'little' or 'big'"):
        class Weird(Struct, endian="middle"):
            x: Uint8


# -- Flexible array members ---------------------------------------------------------------------------------------

class FA(Struct):
    n: Int32
    values: Array[Double, ...]


class FB(Struct):
    a: Int64
    c: Char
    tail: Array[Char, ...]


class FC(Struct):
    c: Char
    v: Array[Int32, ...]


class FP(Struct, pack=1):
    c: Char
    v: Array[Int32, ...]


class FD(B):
    values: Array[Int16, ...]


FLEXIBLE = [  # (class, C layout, member, why)
    (FA, "fa_layout", "values", "padding before the array: it is aligned as its element"),
    (FB, "fb_layout", "tail", "the array starts inside the struct's tail padding"),
    (FC, "fc_layout", "v", "the array's element raises the struct's alignment and size"),
    (FP, "fp_layout", "v", "packed: no padding"),
    (FD, "fd_layout", "values", "a derived struct ending in one"),
]


@pytest.mark.parametrize("cls,layout,member,why", FLEXIBLE, ids=[f[0].__name__ for f in FLEXIBLE])
def test_flexible_array_layout_matches_c(lib, cls, layout, member, why) -> None:
    """sizeof, alignment and the member's offset are the compiler's, the member taking no room."""
    assert [sizeof(cls), alignof(cls), offsetof(cls, member)] == c_layout(lib, layout, 3)


def test_flexible_array_is_indexed_through_a_pointer(lib) -> None:
    """Through a pointer to an allocation sized by the user, the member reads what C wrote and C sums our writes."""
    n = 5
    p = malloc(Uint8, offsetof(FA, "values") + n * sizeof(Double)).cast(FA)
    cfunc(lib, "fa_fill", [Pointer[FA], Int32], Void)(p, n)
    s = p.ref
    assert s.n == n and s.values[0:n] == [i * 1.5 for i in range(n)]
    assert isinstance(s.values, Pointer[Double])
    s.values[0:n] = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert cfunc(lib, "fa_sum", [Pointer[FA]], Double)(p) == 15.0
    with pytest.raises(TypeError, match="flexible array member: write its elements through the pointer"):
        s.values = [1.0]
    assert repr(s) == "FA(n=5)"
    malloc.free(p)
    with pytest.raises(TypeError, match="owned by Python has no room for its flexible array member"):
        FA(n=1).values
    buf = bytearray(sizeof(FA) + 2 * sizeof(Double))
    fa = FA.from_buffer(buf)   # a view over a buffer sized by the user is fine
    fa.values[1] = 4.0
    assert bytes(buf[16:24]) == struct.pack("d", 4.0)


def test_flexible_array_errors() -> None:
    """Not last, alone, in a union, or the struct nested or in an array: each refused as C refuses it."""
    with pytest.raises(TypeError, match="must be the last field"):
        class NotLast(Struct):
            n: Int32
            v: Array[Int32, ...]
            m: Int32
    with pytest.raises(TypeError, match="needs another field before it"):
        class Alone(Struct):
            v: Array[Int32, ...]
    with pytest.raises(TypeError, match="belongs in a struct, not a union"):
        class InUnion(Union):
            n: Int32
            v: Array[Int32, ...]
    with pytest.raises(TypeError, match="ends in a flexible array member, so it cannot be a field"):
        class Holder(Struct):
            fa: FA
    with pytest.raises(TypeError, match="ends in a flexible array member"):
        Array[FA, 2]
    with pytest.raises(TypeError, match="no field can follow it"):
        class After(FA):
            m: Int32
    with pytest.raises(TypeError, match="takes no other length"):
        Array[Int32, 2, ...]


# -- Text ---------------------------------------------------------------------------------------------------------

class Named(Struct):
    name: Array[Char, 8]
    wname: Array[WChar, 4]
    id: Int32


class Inner(Struct):
    a: Int32
    b: Double


class Outer(Struct):
    inner: Array[Inner, 2]
    grid: Array[Int32, 2, 2]
    who: Named


def test_text_fields_read_what_c_wrote(lib) -> None:
    """Char and WChar arrays read as text up to the NUL (to_str, to_bytes) and whole (bytes(view))."""
    n = Named()
    cfunc(lib, "named_fill", [Pointer[Named]], Void)(n)
    assert n.name.to_str() == "héllo" and n.name.to_bytes() == "héllo".encode()
    assert bytes(n.name) == "héllo".encode().ljust(8, b"\0")
    assert n.wname.to_str() == "w€"


@pytest.mark.parametrize("value", ["abc", b"abc", bytearray(b"abc"), "héllo", b"12345678"],
                         ids=["str", "bytes", "bytearray", "str-utf8", "exactly-full"])
def test_text_assigned_to_char_arrays_is_nul_padded(lib, value) -> None:
    """bytes, bytearray and str (UTF-8) assigned to a Char array fill it NUL-padded, as strncpy does for C."""
    check = cfunc(lib, "named_check", [Pointer[Named], Pointer[Char], Pointer[WChar]], Int32)
    n = Named()
    n.name = b"\xff" * 8
    n.name = value
    n.wname = "€x"
    text = value if isinstance(value, str) else bytes(value).decode()
    assert check(n, text, to_native_wchar("€x")) == 1


def test_text_too_long_is_refused() -> None:
    """Text longer than the array raises ValueError and leaves the field as it was."""
    n = Named(name=b"ok")
    with pytest.raises(ValueError, match=r"9 bytes do not fit Array\[Char, 8\] \(at most 8\)"):
        n.name = b"123456789"
    with pytest.raises(ValueError, match=r"the str as UTF-8"):
        n.name = "ééééé"
    with pytest.raises(ValueError, match="wide characters do not fit"):
        n.wname = "12345"
    with pytest.raises(TypeError, match="convert it to a list of numbers"):
        Array[Int32, 2]("ab")
    assert n.name.to_bytes() == b"ok"


def test_nested_initialisers_are_what_c_sums(lib) -> None:
    """Nested tuples, lists and dicts initialise arrays of structs, 2-D arrays and struct fields, as C sees them."""
    o = Outer(inner=[(1, 0.5), {"b": 2.5}], grid=[[1, 2], [3, 4]], who={"name": "x", "id": 7})
    assert cfunc(lib, "outer_sum", [Pointer[Outer]], Double)(o) == 1 + 0.5 + 2.5 + 1 + 20 + 300 + 4000 + 7
    assert o.who.name.to_str() == "x"


def test_wchar_strings_round_trip_through_c(lib) -> None:
    """to_native_wchar makes a wchar_t string C measures; Pointer[WChar].to_str() decodes one C returned."""
    s = to_native_wchar("héllo €")
    assert cfunc(lib, "c_wcslen", [Pointer[WChar]], Size)(s) == 7
    assert s.to_str() == "héllo €" and s.to_str(2) == "hé"
    g = cfunc(lib, "wgreeting", [], Pointer[WChar])()
    assert g.to_str() == "héllo €"
    malloc.free(s)
    with pytest.raises(ValueError, match="NUL"):
        to_native_wchar("a\0b")
