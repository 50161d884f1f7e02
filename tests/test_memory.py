"""Allocators and arenas: malloc, calloc, free, Arena, and UTF-8 strings in native memory."""
from __future__ import annotations

import textwrap

import pytest

import nativeffi
from nativeffi import (Arena, Char, Double, Int16, Int32, Int64, Long, Pointer, Size, Uint8, Utf8, Void, calloc, malloc, native,
                       to_native_utf8)
from helpers import cfunc, spawn


@native(asset="libc.so.6")
def strtol(s: Pointer[Char], end: Pointer[Pointer[Char]], base: Int32) -> Long: ...


def test_malloc_gives_typed_usable_memory(native_lib) -> None:
    """malloc(T, n) returns a Pointer[T] to n writable elements that C can read."""
    p = malloc(Int64, 100)
    assert isinstance(p, Pointer[Int64]) and not p.is_null
    for i in range(100):
        p[i] = i
    assert cfunc(native_lib("foundation"), "sum_i64", [Pointer[Int64], Size], Int64)(p, 100) == sum(range(100))
    malloc.free(p)


def test_allocators_type_each_pointer_by_its_target_however_they_alternate() -> None:
    """calloc(T), malloc(T) and arena(T) return exactly Pointer[T] of T's size, for more targets than the core
    remembers at once (8, direct-mapped), asked for in turns so that they evict each other."""
    from nativeffi import Array, Char, Int8, Int32, Struct, sizeof

    class Pair(Struct):
        a: Int32
        b: Double

    targets = [Int8, Int16, Int32, Int64, Uint8, Double, Char, Pair, Pointer[Int32], Pointer[Pointer[Pair]],
               Array[Int32, 3], Array[Pair, 2], Pointer[Array[Int8, 5]]] + [Array[Int8, n] for n in range(1, 12)]
    with Arena() as arena:
        for _ in range(3):
            for t in targets:
                for p in (calloc(t), malloc(t), arena(t)):
                    assert type(p) is Pointer[t]
                    last = p.cast(Uint8) + (sizeof(t) - 1)  # the type's size is there (ASan checks the write)
                    last[0] = 0xAB
                    assert last[0] == 0xAB
                    if p._keep is None:
                        calloc.free(p)


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


def test_arena_allocations_are_aligned_disjoint_and_zeroed_as_from_calloc() -> None:
    """Each allocation of an Arena, from its own first bytes or from the C allocator after, is aligned as
    malloc's (16 bytes here), overlaps no other, and reads as zeros, also in an arena made after one that was
    written to (arenas' memory is reused); Arena(malloc) gives aligned, disjoint memory too."""
    sizes = [1, 3, 8, 16, 17, 0, 33, 2, 64, 5, 100, 7]  # from the arena's own bytes, then past them
    for allocator in (calloc, malloc, calloc):
        with Arena(allocator) as arena:
            ptrs = [arena(Uint8, n) for n in sizes]
            spans = sorted((p.address, p.address + max(n, 1)) for p, n in zip(ptrs, sizes))
            assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))
            assert all(p.address % 16 == 0 for p in ptrs)
            if allocator is calloc:
                assert all(p[i] == 0 for p, n in zip(ptrs, sizes) for i in range(n))
            for k, (p, n) in enumerate(zip(ptrs, sizes)):
                for i in range(n):
                    p[i] = k + 1
            assert all(p[i] == k + 1 for k, (p, n) in enumerate(zip(ptrs, sizes)) for i in range(n))
            assert sorted(arena._addresses) == sorted(p.address for p in ptrs)


def test_arena_out_parameter_is_written_by_c() -> None:
    """An arena's small allocation is an out-parameter C writes through: strtol's end pointer lands in it."""
    with Arena() as arena:
        text = to_native_utf8("1234xyz", allocator=arena).cast(Char)
        end = arena(Pointer[Char])
        assert strtol(text, end, 10) == 1234
        assert end[0].address - text.address == 4 and end[0].cast(Utf8).to_str() == "xyz"


def _child(code: str) -> str:
    """Runs `code` in a new Python process (a crash there fails one test, not the suite), through the tests' own
    spawn (the same nativeffi, its prelude saying "exiting" at the end); its stdout."""
    proc = spawn(code, "")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    return out


def test_allocation_survives_code_run_by_making_its_pointer_class() -> None:
    """arena(T) and calloc(T) for a T whose Pointer[T] class is made on the spot run Python code (the class's
    maker) that may allocate from the same arena, release it, or fail: the arena then holds exactly what it gave
    out and frees each block once (this aborted in free() with a double free), and the failed call holds nothing."""
    out = _child(textwrap.dedent("""
        import sys
        from nativeffi import Arena, Array, Int8, malloc, calloc
        for n, action in enumerate(("allocate", "release", "fail")):
            arena = Arena(malloc)
            first = arena(Int8, 200)
            held = []
            def tracer(frame, event, arg):
                if event == "call" and frame.f_code.co_name == "_make_pointer_class":
                    sys.settrace(None)
                    if action == "allocate":
                        held.append(arena(Int8, 200))
                    elif action == "release":
                        arena.release_all()
                    raise RuntimeError("the maker failed")
            sys.settrace(tracer)
            try:
                arena(Array[Int8, 300 + n])  # a Pointer[...] class not made yet
            except RuntimeError:
                pass
            expected = {"allocate": [first.address] + [p.address for p in held], "release": [],
                        "fail": [first.address]}[action]
            assert arena._addresses == expected, (action, arena._addresses, expected)
            arena.release_all()
            sys.settrace(tracer)
            try:
                calloc(Array[Int8, 400 + n])
            except RuntimeError:
                pass
        print("ok")
    """))
    assert out == "ok\nexiting\n"


def test_allocators_type_pointers_by_the_pointer_class_registered_last() -> None:
    """Importing nativeffi's Python layer again registers a new Pointer class: calloc(T) and arena(T) then return
    the new Pointer[T] also for targets allocated before (the core remembers classes per target)."""
    out = _child(textwrap.dedent("""
        import sys, nativeffi
        nativeffi.calloc.free(nativeffi.calloc(nativeffi.Int32))
        with nativeffi.Arena() as a:
            a(nativeffi.Int32)
        for m in [m for m in sys.modules if m == "nativeffi" or (m.startswith("nativeffi.") and m != "nativeffi._core")]:
            del sys.modules[m]
        import nativeffi as nf2
        assert nf2.Pointer is not nativeffi.Pointer
        q = nf2.calloc(nf2.Int32)
        assert type(q) is nf2.Pointer[nf2.Int32] and isinstance(q, nf2.Pointer), type(q).__mro__
        with nf2.Arena() as a:
            assert type(a(nf2.Int32)) is nf2.Pointer[nf2.Int32]
        nf2.calloc.free(q)
        print("ok")
    """))
    assert out == "ok\nexiting\n"


def test_arena_pointers_keep_the_arena() -> None:
    """A pointer from an arena keeps it alive, so an arena dropped without release frees only after its pointers."""
    p = Arena()(Int64, 2)
    arena = p._keep
    assert isinstance(arena, Arena) and arena._addresses == [p.address]
    p[1] = 42
    assert p[1] == 42


def test_arena_enter_and_exit_behave_as_methods() -> None:
    """Arena's __enter__ and __exit__ (descriptors of the core's own, so that a with block makes no method object)
    bind, call unbound, name themselves, compare, pickle and copy as methods, refuse what a method would, and keep
    the arena only while bound."""
    import copy
    import pickle
    import sys

    arena = Arena()
    assert Arena.__enter__(arena) is arena and arena.__enter__() is arena
    p = arena(Int64)
    assert arena._addresses == [p.address]
    assert Arena.__exit__(arena, None, None, None) is False and arena._addresses == []
    arena(Int64)
    assert arena.__exit__(RuntimeError, RuntimeError("x"), None) is False and arena._addresses == []
    assert arena.__exit__.__name__ == "__exit__" and "release_all" in Arena.__exit__.__doc__
    assert repr(Arena.__enter__) == "<method '__enter__' of 'nativeffi.Arena' objects>"
    assert Arena.__exit__.__qualname__ == "Arena.__exit__" and Arena.__enter__.__objclass__ is Arena
    assert arena.__enter__.__self__ is arena and arena.__exit__.__text_signature__ is None
    with pytest.raises(AttributeError, match="no __self__"):
        Arena.__exit__.__self__
    assert arena.__exit__ == arena.__exit__ and hash(arena.__exit__) == hash(arena.__exit__)
    assert arena.__exit__ != arena.__enter__ and arena.__exit__ != Arena().__exit__
    assert pickle.loads(pickle.dumps(Arena.__exit__)) is Arena.__dict__["__exit__"]
    assert copy.copy(arena.__exit__) == arena.__exit__
    assert repr(arena.__exit__).startswith("<bound method Arena.__exit__ of <nativeffi.Arena object")
    with pytest.raises(TypeError, match=r"Arena.__enter__\(\) expected an Arena first, got int"):
        Arena.__enter__(1)
    with pytest.raises(TypeError, match=r"Arena.__exit__\(\) expected an Arena first, got no argument"):
        Arena.__exit__()
    with pytest.raises(TypeError, match=r"takes no arguments \(1 given\)"):
        arena.__enter__(1)
    with pytest.raises(TypeError, match="no keyword arguments"):
        arena.__exit__(exc=None)
    with pytest.raises(TypeError, match="binds to an Arena, not int"):
        Arena.__dict__["__exit__"].__get__(1, int)
    before = sys.getrefcount(arena)
    bound = [arena.__exit__ for _ in range(100)]
    assert sys.getrefcount(arena) == before + 100
    del bound
    assert sys.getrefcount(arena) == before
    for _ in range(100):
        with arena as a:
            assert a is arena
    del a
    assert sys.getrefcount(arena) == before


def test_unnamed_arena_lives_until_its_block_ends() -> None:
    """`with Arena():` keeps the arena (through its bound __exit__) until the block ends, with no name for it: an
    arena made inside the block is another one, which the block's end leaves alone (were the unnamed one freed on
    entering, the new one would reuse its memory and lose its allocation at the block's end)."""
    with Arena():
        other = Arena()
        p = other(Int64)
    assert other._addresses == [p.address]


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
