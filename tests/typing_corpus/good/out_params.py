"""Out-parameters: strtol's end pointer, frexp's exponent, zlib's in/out length, a struct filled by
clock_gettime, each from memory an Arena frees or from a Python-owned value."""
# Declarations have `...` bodies, which mypy --strict reports as empty-body errors in .py files:
# mypy: disable-error-code="empty-body"
from __future__ import annotations

from nativeffi import (Arena, CString, Char, Double, Int, Long, Pointer, PointerLike, Struct, Uint8, UnsignedLong,
                       native)


class Timespec(Struct):
    tv_sec: Long
    tv_nsec: Long


@native(asset="libc.so.6")
def strtol(text: CString, end: PointerLike[Pointer[Char]], base: Int) -> Long: ...


@native(asset="libm.so.6")
def frexp(x: Double, exponent: PointerLike[Int]) -> Double: ...


@native(asset="libc.so.6")
def clock_gettime(clock: Int, out: PointerLike[Timespec]) -> Int: ...


@native(asset="libz.so.1")
def compress(dest: PointerLike[Uint8], dest_len: PointerLike[UnsignedLong], source: PointerLike[Uint8],
             source_len: UnsignedLong) -> Int: ...


@native(asset="libz.so.1")
def uncompress(dest: PointerLike[Uint8], dest_len: PointerLike[UnsignedLong], source: PointerLike[Uint8],
               source_len: UnsignedLong) -> Int: ...


def parse_int(text: str) -> tuple[int, str]:
    """The number at the start of `text` and what follows it."""
    data = text.encode()
    with Arena() as arena:
        end = arena(Pointer[Char])
        start = Pointer[Char].from_buffer(bytearray(data + b"\0"))
        value = strtol(start, end, 10)
        consumed = end.value.address - start.address
    return value, data[consumed:].decode()


def mantissa_exponent(x: float) -> tuple[float, int]:
    with Arena() as arena:
        exponent = arena(Int)
        m = frexp(x, exponent)
        return m, exponent.value


def zlib_round_trip(data: bytes) -> bytes:
    with Arena() as arena:
        size = arena(UnsignedLong)
        packed = bytearray(len(data) + 64)
        size.value = len(packed)
        assert compress(packed, size, data, len(data)) == 0
        packed_len = size.value
        out = bytearray(len(data))
        size.value = len(out)
        assert uncompress(out, size, bytes(packed[:packed_len]), packed_len) == 0
        assert size.value == len(data)
        return bytes(out)


def main() -> None:
    assert parse_int("42 apples") == (42, " apples")
    assert mantissa_exponent(8.0) == (0.5, 4)
    now = Timespec()
    assert clock_gettime(0, now) == 0 and now.tv_sec > 1_600_000_000
    assert zlib_round_trip(b"hello " * 100) == b"hello " * 100


if __name__ == "__main__":
    main()
