"""Native memory: ``malloc``, ``calloc``, ``Arena``, and UTF-8 and wchar_t strings.

Example:
    >>> from nativeffi import Arena, Double, to_native_utf8
    >>> with Arena() as arena:
    ...     xs = arena(Double, 4)           # zeroed, freed when the block ends
    ...     s = to_native_utf8("héllo", allocator=arena)
    ...     s.to_str()
    'héllo'
"""
from __future__ import annotations

import sys
from typing import Any, TypeVar, cast, overload

from . import _core
from .pointer import Pointer, pointer_class
from .types import Utf8, WChar, native_type

__all__ = ["Allocator", "malloc", "calloc", "Arena", "to_native_utf8", "to_native_wchar"]

T = TypeVar("T")


def _item_type(t: Any, count: int) -> Any:
    """The CType of `t`, with clear errors for types without a size and counts that are not ints."""
    ct = native_type(t, what="allocation type")
    if ct.kind in ("void", "opaque", "function"):
        raise TypeError(f"cannot allocate {ct.name}: it has no size; allocate a sized type and cast the pointer")
    if not isinstance(count, int) or isinstance(count, bool):
        raise TypeError(f"count must be an int, got {type(count).__name__}")
    return ct


class Allocator:
    """Allocates native memory with the C library: ``allocator(T, count=1) -> Pointer[T]``, ``allocator.free(p)``."""

    def __init__(self, zeroed: bool) -> None:
        self._alloc = _core.calloc if zeroed else _core.malloc
        self.zeroed = zeroed

    # A checker reads a struct or Pointer type as itself, a scalar alias (Annotated) as its Python type (mypy)
    # or as nothing it can name (pyright: Pointer[Any]).
    @overload
    def __call__(self, t: type[T], count: int = 1) -> Pointer[T]: ...
    @overload
    def __call__(self, t: object, count: int = 1) -> Pointer[Any]: ...

    def __call__(self, t: Any, count: int = 1) -> Pointer[Any]:
        """Allocates `count` values of type `t` (uninitialised for malloc, zeroed for calloc).

        Raises:
            TypeError: `t` has no size (Void, Opaque) or count is not an int.
            ValueError: count is negative.
            OverflowError: count * sizeof(t) is more than the platform can address (``_core.SIZE_MAX``).
            MemoryError: the system is out of memory.
        """
        ct = _item_type(t, count)
        return cast("Pointer[Any]", pointer_class(ct).from_address(self._alloc(count, ct.size)))

    def allocate_bytes(self, nbytes: int) -> int:
        """Allocates `nbytes` and returns the address."""
        return int(self._alloc(nbytes, 1))

    def free(self, p: Pointer[Any]) -> None:
        """Frees memory this allocator (or C's malloc family) allocated. Freeing nullptr does nothing."""
        if not isinstance(p, Pointer):
            raise TypeError(f"free() expected a Pointer, got {type(p).__name__}")
        _core.free(p.address)

    def __repr__(self) -> str:
        return "calloc" if self.zeroed else "malloc"


malloc = Allocator(zeroed=False)
calloc = Allocator(zeroed=True)


class Arena:
    """An allocator that frees everything it allocated when released (at the end of a ``with`` block).

    Allocations are zeroed (as Dart's ``Arena`` over ``calloc``). ``arena.free(p)`` does nothing: memory
    lives until ``release_all()``.

    Example:
        >>> with Arena() as arena:
        ...     p = arena(Int64, 10)        # doctest: +SKIP
    """

    def __init__(self, allocator: Allocator = calloc) -> None:
        self._allocator = allocator
        self._addresses: list[int] = []

    @overload
    def __call__(self, t: type[T], count: int = 1) -> Pointer[T]: ...
    @overload
    def __call__(self, t: object, count: int = 1) -> Pointer[Any]: ...

    def __call__(self, t: Any, count: int = 1) -> Pointer[Any]:
        """Allocates `count` zeroed values of type `t`, freed by ``release_all()``."""
        p = self._allocator(t, count)
        self._addresses.append(p.address)
        return p

    def allocate_bytes(self, nbytes: int) -> int:
        a = self._allocator.allocate_bytes(nbytes)
        self._addresses.append(a)
        return a

    def free(self, p: Pointer[Any]) -> None:
        """Does nothing: an arena frees all its memory at once, in ``release_all``."""

    def release_all(self) -> None:
        """Frees everything this arena allocated; pointers into it are dangling afterwards."""
        addresses, self._addresses = self._addresses, []
        for a in reversed(addresses):
            _core.free(a)

    def __enter__(self) -> Arena:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release_all()


def to_native_utf8(s: str, allocator: Allocator | Arena = malloc) -> Pointer[Utf8]:
    """Copies `s` into native memory as NUL-terminated UTF-8 and returns a ``Pointer[Utf8]``.

    Raises:
        TypeError: `s` is not a str.
        ValueError: `s` contains a NUL character (C would see a shorter string).
    """
    if not isinstance(s, str):
        raise TypeError(f"to_native_utf8() expected a str, got {type(s).__name__}")
    if "\0" in s:
        raise ValueError("to_native_utf8(): the string contains a NUL character, which would cut it short in C")
    data = s.encode("utf-8") + b"\0"
    address = allocator.allocate_bytes(len(data))
    p: Pointer[Utf8] = pointer_class(Utf8.__native__).from_address(address)
    p.as_memoryview(len(data))[:] = data
    return p


def to_native_wchar(s: str, allocator: Allocator | Arena = malloc) -> Pointer[WChar]:
    """Copies `s` into native memory as a NUL-terminated ``wchar_t`` string (UTF-32 on Linux, as ctypes'
    ``c_wchar_p``) and returns a ``Pointer[WChar]``; ``p.to_str()`` reads it back.

    Raises:
        TypeError: `s` is not a str.
        ValueError: `s` contains a NUL character (C would see a shorter string).

    Example:
        >>> w = to_native_wchar("héllo")
        >>> w.to_str()
        'héllo'
        >>> malloc.free(w)
    """
    if not isinstance(s, str):
        raise TypeError(f"to_native_wchar() expected a str, got {type(s).__name__}")
    if "\0" in s:
        raise ValueError("to_native_wchar(): the string contains a NUL character, which would cut it short in C")
    wchar = native_type(WChar)
    size = wchar.size
    encoding = {4: "utf-32", 2: "utf-16"}[size] + ("-le" if sys.byteorder == "little" else "-be")
    data = s.encode(encoding) + bytes(size)
    address = allocator.allocate_bytes(len(data))
    p: Pointer[WChar] = pointer_class(wchar).from_address(address)
    p.as_memoryview(len(data))[:] = data
    return p
