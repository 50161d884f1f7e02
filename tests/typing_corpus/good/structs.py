"""Structs, unions, arrays and bit fields: struct tm with localtime_r and strftime, div_t returned by value,
a union to look at a double's bits, a grid of inline arrays and a packed header of bit fields."""
# Declarations have `...` bodies, which mypy --strict reports as empty-body errors in .py files:
# mypy: disable-error-code="empty-body"
from __future__ import annotations

import array
import ctypes
from typing import Literal

from nativeffi import (Array, Bits, Bool, CString, Double, Int, Int64, Long, Pointer, PointerLike, Size, Struct,
                       Uint8, Uint16, Uint64, Union, native, offsetof, sizeof)


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
    tm_zone: Pointer[Uint8]


class Div(Struct):
    quot: Int
    rem: Int


class Bits64(Union):
    d: Double
    u: Uint64


class Grid(Struct):
    cells: Array[Int, Literal[3], Literal[3]]
    weights: Array[Double, Literal[3]]


class Header(Struct, pack=1):
    version: Bits[Uint8, 4]
    flags: Bits[Uint8, 3]
    urgent: Bits[Bool, 1]
    length: Uint16


@native(asset="libc.so.6")
def gmtime_r(t: PointerLike[Int64], out: PointerLike[Tm]) -> Pointer[Tm]: ...


@native(asset="libc.so.6")
def strftime(buf: PointerLike[Uint8], size: Size, fmt: CString, tm: PointerLike[Tm]) -> Size: ...


@native(asset="libc.so.6")
def div(numerator: Int, denominator: Int) -> Div: ...


@native(asset="libc.so.6", symbol="memcpy")
def copy_doubles(dst: PointerLike[Double], src: PointerLike[Double], n: Size) -> Pointer[Double]: ...


def iso_date(seconds: int) -> str:
    tm = Tm()
    t = ctypes.c_int64(seconds)
    assert not gmtime_r(t, tm).is_null
    buf = bytearray(32)
    n = strftime(buf, len(buf), "%Y-%m-%d %H:%M", tm)
    return buf[:n].decode()


def main() -> None:
    assert iso_date(0) == "1970-01-01 00:00"
    d = div(17, 5)
    assert (d.quot, d.rem) == (3, 2)
    assert Div(quot=1, rem=2).rem == 2 and Div(7).quot == 7

    bits = Bits64(d=1.0)
    assert bits.u == 0x3FF0000000000000

    g = Grid()
    g.cells = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    diagonal: list[int] = [g.cells[i][i] for i in range(3)]
    assert diagonal == [1, 1, 1]
    g.weights[2] = 0.5
    total: float = sum(g.weights)
    assert total == 0.5 and len(g.cells) == 3
    copy_doubles(g.weights, array.array("d", [1.0, 2.0, 3.0]), 3 * sizeof(Double))  # an array for a double *
    assert g.weights.tolist() == [1.0, 2.0, 3.0]

    h = Header(version=4, urgent=True, length=512)
    version: int = h.version
    urgent: bool = h.urgent
    assert (version, urgent, h.flags) == (4, True, 0)
    assert sizeof(Header) == 3 and offsetof(Tm, "tm_min") == 4


if __name__ == "__main__":
    main()
