"""Pointers and memory: malloc/free, pointer arithmetic, memcpy between buffers and native memory, strings
made and read back, memoryview over native bytes, a pointer to pointers, reading a char * result."""
# Declarations have `...` bodies, which mypy --strict reports as empty-body errors in .py files:
# mypy: disable-error-code="empty-body"
from __future__ import annotations

import array

from nativeffi import (Arena, CString, Char, Int32, Pointer, PointerLike, Size, Utf8, Void, calloc, malloc, native,
                       nullptr, sizeof, to_native_utf8)


@native(asset="libc.so.6", is_leaf=True)
def memcpy(dst: PointerLike[Void], src: PointerLike[Void], n: Size) -> Pointer[Void]: ...


@native(asset="libc.so.6", is_leaf=True)
def strlen(s: CString) -> Size: ...


@native(asset="libc.so.6")
def strdup(s: CString) -> Pointer[Char]: ...


@native(asset="libc.so.6")
def getenv(name: CString) -> Pointer[Utf8]: ...


# free by process lookup: the free that matches the process's malloc (a sanitizer's, when one is preloaded)
@native(symbol="free")
def c_free(p: PointerLike[Void]) -> None: ...


def squares(n: int) -> list[int]:
    p = malloc(Int32, n)
    try:
        for i in range(n):
            p[i] = i * i
        last = p + (n - 1)
        assert last.value == (n - 1) ** 2 and last - p == n - 1
        return [p[i] for i in range(n)]
    finally:
        malloc.free(p)


def copy_numbers(values: list[int]) -> list[int]:
    src = array.array("i", values)
    dst = calloc(Int32, len(values))
    memcpy(dst, src, len(values) * sizeof(Int32))
    out = [dst[i] for i in range(len(values))]
    calloc.free(dst)
    return out


def strings() -> None:
    assert strlen("héllo") == 6 and strlen(b"abc") == 3 and strlen(bytearray(b"ab\0cd")) == 2
    with Arena() as arena:
        s = to_native_utf8("grüße", allocator=arena)
        assert strlen(s) == len("grüße".encode()) and s.to_str() == "grüße"
        raw = s.cast(Char)
        assert raw[0] == ord("g")
    copy = strdup("owned by C")
    assert copy.cast(Utf8).to_str() == "owned by C"
    assert bytes(copy.as_memoryview(5)) == b"owned"
    c_free(copy)
    assert getenv("NATIVEFFI_SURELY_UNSET").is_null


def pointer_to_pointers() -> None:
    with Arena() as arena:
        table = arena(Pointer[Int32], 2)
        x = arena(Int32)
        x.value = 7
        table[0] = x
        table[1] = nullptr
        assert table[0].value == 7 and table[1].is_null


def main() -> None:
    assert squares(4) == [0, 1, 4, 9]
    assert copy_numbers([3, 1, 2]) == [3, 1, 2]
    strings()
    pointer_to_pointers()


if __name__ == "__main__":
    main()
