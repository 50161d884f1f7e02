"""Native memory: ``malloc``, ``calloc``, ``Arena``, ``Box`` (out-parameters), and UTF-8 and wchar_t strings.

Example:
    >>> from nativeffi import Arena, Box, Double, Int32, to_native_utf8
    >>> with Arena() as arena:
    ...     xs = arena(Double, 4)           # zeroed, freed when the block ends
    ...     s = to_native_utf8("héllo", allocator=arena)
    ...     s.to_str()
    'héllo'
    >>> n = Box[Int32](7)                   # Python-owned: pass it for an int32_t *, read n.value
    >>> n.value
    7
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import _core
from .pointer import Pointer, pointer_class
from .types import Utf8, WChar, native_type

__all__ = ["Allocator", "malloc", "calloc", "Arena", "Box", "to_native_utf8", "to_native_wchar"]

T = TypeVar("T")


if TYPE_CHECKING:
    class _Allocates:
        """What allocators and arenas share for a checker: ``a(T, count=1) -> Pointer[T]``, raw bytes, free."""

        # A checker reads a struct or Pointer type as itself, a scalar alias (Annotated) as its Python type (mypy)
        # or as nothing it can name (pyright: Pointer[Any]).
        @overload
        def __call__(self, t: type[T], count: int = 1) -> Pointer[T]: ...
        @overload
        def __call__(self, t: object, count: int = 1) -> Pointer[Any]: ...
        def __call__(self, t: Any, count: int = 1) -> Pointer[Any]: ...
        def allocate_bytes(self, nbytes: int) -> int: ...
        def free(self, p: Pointer[Any]) -> None: ...

    class Allocator(_Allocates):
        """Allocates native memory with the C library: ``allocator(T, count=1) -> Pointer[T]``, ``allocator.free(p)``."""

        zeroed: bool

        def __init__(self, zeroed: bool) -> None: ...

    class Arena(_Allocates):
        """An allocator that frees everything it allocated when released (at the end of a ``with`` block)."""

        def __init__(self, allocator: Allocator = ...) -> None: ...
        def release_all(self) -> None: ...
        def __enter__(self) -> Arena: ...
        def __exit__(self, *exc: object) -> None: ...

    class Box(Pointer[T]):
        """A ``Pointer[T]`` to one value that Python owns: an out-parameter (see the runtime class)."""

        def __init__(self, value: T = ...) -> None: ...
else:
    # In C (memory.c): allocator(T) and arena(T) are one call each, with no Python frame.
    Allocator = _core.Allocator
    Arena = _core.Arena

    def _make_box_class(item):
        """``Box[item]`` made and checked; the core's cache returns it again for the same type."""
        ct = native_type(item, what="Box[...] type")
        if ct.kind in ("struct", "union", "array"):
            what = "an array" if ct.kind == "array" else f"a {ct.name}"
            raise TypeError(f"Box[{ct.name}]: {what} made in Python ({ct.name}()) already owns its memory and "
                            f"passes for Pointer[{ct.name}]; Box is for scalars and pointers")
        if ct.kind in ("void", "opaque", "function"):
            raise TypeError(f"Box[{ct.name}]: {ct.name} has no values, so nothing to box; a Box holds a scalar "
                            f"or a pointer (Box[Pointer[{ct.name}]] for an out-parameter of type {ct.name} **)")
        pcls = pointer_class(ct)
        cls = type(f"Box[{ct.name}]", (Box, pcls), {"__slots__": (), "__native__": pcls.__native__,
                                                    "__module__": "nativeffi",
                                                    "__class_getitem__": classmethod(_already_concrete)})
        _core._box_class_ready(cls)
        return cls

    def _already_concrete(cls, item):
        raise TypeError(f"{cls.__name__} is already a concrete Box type")

    class Box(_core.BoxBase, Pointer):
        """One value of type ``T`` owned by Python, and a ``Pointer[T]`` to it: the out-parameter of C.

        ``Box[T](value=0)`` holds a scalar or a pointer (``Box[Int32]()``, ``Box[Pointer[sqlite3]]()``). Pass
        the box where C takes a ``T *`` (a ``Pointer[T]`` parameter) and read what C wrote with ``.value``.
        Its memory is freed with the box, never by ``free()``; the box stays alive while a call uses it (the
        caller holds it), and pointers made from it (``box + 0``, ``box.cast(...)``) keep it alive. The box's own
        accessors stay inside its one value (``box[1]``, ``box.to_bytes(2)`` raise ``IndexError``); pointers made
        from it are ordinary, unchecked pointers.

        Example:
            >>> from nativeffi import Box, Int, Double, native
            >>> @native(asset="libm.so.6", is_leaf=True)
            ... def frexp(x: Double, exp: Pointer[Int]) -> Double: ...
            >>> e = Box[Int]()
            >>> frexp(48.0, e), e.value
            (0.75, 6)
        """

        __slots__ = ()
        __class_getitem__ = _core.TypeExpression("type", _make_box_class)


malloc = Allocator(zeroed=False)
calloc = Allocator(zeroed=True)


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
