"""Allocators and arenas: malloc, calloc, free, Arena, and UTF-8 strings in native memory."""
from __future__ import annotations

import pytest

import nativeffi
from nativeffi import Arena, Double, Int16, Int64, Pointer, Size, Uint8, Utf8, Void, calloc, malloc, to_native_utf8
from helpers import cfunc


def test_malloc_gives_typed_usable_memory(native_lib) -> None:
    """malloc(T, n) returns a Pointer[T] to n writable elements that C can read."""
    p = malloc(Int64, 100)
    assert isinstance(p, Pointer[Int64]) and not p.is_null
    for i in range(100):
        p[i] = i
    assert cfunc(native_lib("foundation"), "sum_i64", [Pointer[Int64], Size], Int64)(p, 100) == sum(range(100))
    malloc.free(p)


def test_calloc_zeroes() -> None:
    """calloc(T, n) memory reads as zeros."""
    p = calloc(Double, 64)
    assert all(p[i] == 0.0 for i in range(64))
    calloc.free(p)


def test_allocation_errors() -> None:
    """Allocating Void, a negative or non-int count, or an impossible size raises instead of crashing."""
    with pytest.raises(TypeError, match="no size"):
        malloc(Void)
    with pytest.raises(ValueError, match="count must be >= 0"):
        malloc(Int16, -1)
    with pytest.raises(TypeError, match="count must be an int"):
        malloc(Int16, 2.0)
    with pytest.raises((MemoryError, OverflowError)):
        malloc(Uint8, 1 << 62)
    with pytest.raises(TypeError, match="expected a Pointer"):
        malloc.free(1234)
    malloc.free(nativeffi.nullptr)  # freeing nullptr is allowed, as in C


def test_arena_holds_each_allocation_until_released() -> None:
    """An Arena holds every allocation (typed and raw bytes) once, zeroed, and none after its with block."""
    with Arena() as arena:
        ptrs = [arena(Int64, 4) for _ in range(20)]  # more than the 8 it holds before growing
        s = to_native_utf8("abc", allocator=arena)
        arena.free(ptrs[0])  # does nothing: the arena owns it
        assert all(p[i] == 0 for p in ptrs for i in range(4))  # zeroed
        assert arena._addresses == [p.address for p in ptrs] + [s.address]
    assert arena._addresses == []


def test_arena_pointers_keep_the_arena() -> None:
    """A pointer from an arena keeps it alive, so an arena dropped without release frees only after its pointers."""
    p = Arena()(Int64, 2)
    arena = p._keep
    assert isinstance(arena, Arena) and arena._addresses == [p.address]
    p[1] = 42
    assert p[1] == 42


def test_arena_release_on_exception() -> None:
    """An exception inside the with block still releases the arena and propagates."""
    arena = Arena()
    with pytest.raises(RuntimeError):
        with arena:
            arena(Int64)
            raise RuntimeError("boom")
    assert arena._addresses == []


def test_to_native_utf8_round_trip(native_lib) -> None:
    """to_native_utf8 writes NUL-terminated UTF-8 whose length C's strlen agrees with, and to_str reads it back."""
    text = "naïve ☃ text"
    p = to_native_utf8(text)
    assert isinstance(p, Pointer[Utf8])
    assert cfunc(native_lib("foundation"), "count_bytes", [Pointer[Utf8]], Size)(p) == len(text.encode())
    assert p.to_str() == text
    assert p.cast(Uint8)[len(text.encode())] == 0
    malloc.free(p)


def test_to_native_utf8_rejects_bad_input() -> None:
    """Non-str input and embedded NUL characters are refused with clear errors."""
    with pytest.raises(TypeError, match="expected a str, got bytes"):
        to_native_utf8(b"x")
    with pytest.raises(ValueError, match="NUL"):
        to_native_utf8("a\0b")


def test_arena_takes_an_allocator_only() -> None:
    """Arena(malloc) and Arena(allocator=calloc) are accepted; anything else is refused naming what was given."""
    assert Arena(malloc)._addresses == [] and Arena(allocator=calloc)._addresses == []
    with pytest.raises(TypeError, match="expected an Allocator \\(malloc or calloc\\), got int"):
        Arena(1)
    with pytest.raises(TypeError, match="takes one argument"):
        Arena(allocator=calloc, other=1)
