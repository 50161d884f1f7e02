"""``Pointer[T]``: typed native addresses, and ``nullptr``.

Example:
    >>> from nativeffi import Pointer, Int32, malloc
    >>> p = malloc(Int32, 3)
    >>> p[0], p[1], p[2] = 1, 2, 3
    >>> (p + 2).value
    3
    >>> malloc.free(p)
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, Optional, TypeVar, Union, cast, overload

from . import _core
from ._core import NullPointerError
from .types import Char, CType, NativeFunction, Utf8, native_type

__all__ = ["Pointer", "PointerLike", "CString", "nullptr", "NullPointerError", "pointer_class"]

T = TypeVar("T")



def pointer_class(target: CType | None) -> Any:
    """The Pointer class for a pointee CType (None or Void: the untyped ``Pointer``), made once and cached."""
    return Pointer if target is None else cast(Any, Pointer)[target]


def _make_pointer_class(item: Any) -> Any:
    """``Pointer[item]`` made and checked; the core's cache returns it for every later expression of the same
    pointee (pointer classes are kept for good, and only grow with the distinct types a program names)."""
    if isinstance(item, str):
        frame = sys._getframe(1)  # the code that wrote Pointer["Name"] (the core's lookup adds no frame)
        return _forward_class(item, frame.f_globals)
    target = native_type(item, what="Pointer[...] target")
    if target is _core.void_type:
        return Pointer
    ptype = _core.pointer_type(target)
    cls = type(str(ptype.name), (Pointer,), {"__slots__": (), "__native__": ptype, "__module__": "nativeffi",
                                             "__class_getitem__": classmethod(_already_concrete)})
    ptype.pyclass = cls
    return cls


def _already_concrete(cls: type, item: Any) -> Any:
    raise TypeError(f"{cls.__name__} is already a concrete pointer type")


def _forward_class(name: str, namespace: dict[str, Any]) -> type:
    """A Pointer class whose pointee is named by a string resolved later in `namespace` (e.g. a struct's own name)."""
    ptype = _core.pointer_type(None, f"Pointer[{name!r}]")
    cls = type(f"Pointer[{name!r}]", (Pointer,), {"__slots__": (), "__native__": ptype, "__module__": "nativeffi",
                                                  "_forward": (name, namespace),
                                                  "__class_getitem__": classmethod(_already_concrete)})
    ptype.pyclass = cls
    return cls


if TYPE_CHECKING:
    from typing import Protocol

    if sys.version_info >= (3, 11):
        from typing import ParamSpec, TypeAlias, Unpack
    else:  # typing_extensions is only read by the type checker here (its stubs come with it), never imported
        from typing_extensions import ParamSpec, TypeAlias, Unpack
    from typing_extensions import Buffer

    _P = ParamSpec("_P")
    _R = TypeVar("_R")
    _U = TypeVar("_U")

    class Pointer(Generic[T]):
        """A typed native address (see the module docstring)."""

        address: int
        is_null: bool
        value: T
        ref: T
        native_type: CType

        def __class_getitem__(cls, item: Any) -> Any: ...
        @classmethod
        def from_address(cls, address: int, keep: object = None) -> Pointer[T]: ...
        @classmethod
        def from_buffer(cls, obj: Buffer) -> Pointer[T]: ...
        @overload
        def __getitem__(self, i: int) -> T: ...
        @overload
        def __getitem__(self, i: slice) -> list[T]: ...
        def __getitem__(self, i: Union[int, slice]) -> Any: ...
        @overload
        def __setitem__(self, i: int, v: T) -> None: ...
        @overload
        def __setitem__(self, i: slice, v: Iterable[T]) -> None: ...
        def __setitem__(self, i: Union[int, slice], v: Any) -> None: ...
        def to_bytes(self, n: int) -> bytes: ...
        def __add__(self, n: int) -> Pointer[T]: ...
        @overload
        def __sub__(self, n: int) -> Pointer[T]: ...
        @overload
        def __sub__(self, other: Pointer[T]) -> int: ...
        def __sub__(self, n: Any) -> Any: ...
        def __eq__(self, other: object) -> bool: ...
        def __hash__(self) -> int: ...
        @overload
        def cast(self, t: type[_U]) -> Pointer[_U]: ...
        @overload
        def cast(self, t: object) -> Pointer[Any]: ...
        def cast(self, t: Any) -> Pointer[Any]: ...
        def as_memoryview(self, nbytes: int) -> memoryview: ...
        def to_str(self, length: Optional[int] = None) -> str: ...
        def as_function(self: Pointer[NativeFunction[_P, _R]], is_leaf: bool = False,
                        capture_errno: bool = False) -> Callable[_P, _R]: ...

    class _HasNativePointer(Protocol):
        """What stands for a pointer: structs and unions (their address), NativeCallable (its function)."""

        @property
        def __native_pointer__(self) -> Pointer[Any]: ...

    from .compound import Array

    # An array of T (of any lengths) passes for a T * as in C.
    PointerLike: TypeAlias = Union[Pointer[T], Buffer, _HasNativePointer, Array[T, Unpack[tuple[Any, ...]]], None]
    CString: TypeAlias = Union[Pointer[int], Pointer[Utf8], str, Buffer, None]
else:
    class Pointer(_core.PointerBase, metaclass=_core.TypeExpressionMeta):
        """A typed native address: ``Pointer[Int32]``, ``Pointer[Coord]``, ``Pointer[NativeFunction[[Int], Int]]``.

        ``p.value`` and ``p[i]`` read and write the pointee (``p.ref`` for structs), ``p + n`` steps by the
        pointee's size (``OverflowError`` rather than wrap around the address space), ``p - q`` is the exact
        element count, ``p.cast(T)`` reinterprets, equality and hashing go by address. Reading or writing
        through ``nullptr`` (or any null pointer) raises ``NullPointerError``.

        Slices, as ctypes pointers: ``p[a:b]`` (and ``p[a:b:k]``) is a list of the elements (views for structs),
        ``p[a:b] = values`` writes them (all converted first: a bad value writes nothing). Indices count elements
        from ``p``, negative ones before it, as ``p[-1]`` does; the stop is required (a pointer has no length),
        and so is the start for a negative step. ``p.to_bytes(n)`` copies the bytes of n elements.

        Text: a ``str`` argument for a pointer to any byte type (``Pointer[Char]``, ``Pointer[Utf8]``,
        ``Pointer[Uint8]``, ``Pointer[UnsignedChar]``, ``Pointer[Int8]``) passes its NUL-terminated UTF-8 for
        the call, and ``p.to_str()`` decodes through any of them (``Pointer[WChar]``: wchar_t text). A str is
        never stored into memory (a field or ``p.value``): its bytes would not outlive the call; use
        ``to_native_utf8``.

        Example:
            >>> strlen = native(NativeFunction[[Pointer[Uint8]], Size], symbol="strlen")(lambda s: ...)
            >>> strlen("héllo")
            6
        """

        __slots__ = ()
        __native__ = _core.pointer_type(_core.void_type)
        # Pointer[T]: a dictionary hit in C once made (_make_pointer_class); concrete classes refuse a second [...]
        __class_getitem__ = _core.TypeExpression("type", _make_pointer_class)

        @classmethod
        def _resolve_target(cls):
            """Resolves a forward-referenced pointee by name (called by the core on first use)."""
            forward = cls.__dict__.get("_forward")
            if forward is None or cls.__native__.target is not None:
                return
            name, namespace = forward
            if name not in namespace:
                raise TypeError(f"Pointer[{name!r}]: no type named {name!r} is defined in {namespace.get('__name__')}")
            _core.set_pointer_target(cls.__native__, native_type(namespace[name], what=f"Pointer[{name!r}]"))

        def cast(self, t):
            """The same address as a ``Pointer[t]`` (keeps the same memory alive)."""
            return self._retype(pointer_class(native_type(t, what="cast() target")))

        def as_function(self, is_leaf=False, capture_errno=False):
            """A callable for the native function at this address (``Pointer[NativeFunction[...]]`` only)."""
            target = self.native_type.target
            if target is None or target.kind != "function":
                raise TypeError(f"as_function() needs a Pointer[NativeFunction[...]], not {self.native_type.name}")
            if self.is_null:
                raise NullPointerError(f"as_function() on a null {self.native_type.name}")
            name = f"function_at_{self.address:#x}"
            binding = _core.Function(target, self.address, name, (), bool(is_leaf), bool(capture_errno))
            return binding._builtin(f"{name}({', '.join(f'arg{i}' for i in range(len(target.params)))})\n--\n\n"
                                    f"Calls the native {target.name} at {self.address:#x}.")

    _core._set_pointer_class(Pointer, Pointer.__dict__["__class_getitem__"])
    class PointerLike:
        """A pointer parameter as callers may pass it: ``PointerLike[T]`` is ``Pointer[T]`` for nativeffi.

        For a type checker it is ``Pointer[T] | Buffer | <struct, union, array or NativeCallable> | None``,
        what a native function's ``T *`` parameter accepts (``None`` is ``nullptr``); nativeffi checks the
        rest when the call is made (a buffer's elements must be T, a struct's type must be T).

        Example:
            >>> from nativeffi import native, PointerLike, Double, Int, Size
            >>> @native(symbol="memset")
            ... def zero_doubles(p: PointerLike[Double], c: Int, n: Size) -> None: ...
            >>> zero_doubles(array.array("d", [1.0, 2.0]), 0, 16)   # doctest: +SKIP
        """

        def __class_getitem__(cls, item):
            if isinstance(item, str):
                return _forward_class(item, sys._getframe(1).f_globals)
            return Pointer[item]

        def __new__(cls, *args, **kwargs):
            raise TypeError("PointerLike is a parameter type: write PointerLike[T] (a Pointer[T] for nativeffi)")

    CString = Pointer[Char]
    """A ``char *`` parameter as callers may pass it: ``Pointer[Char]`` for nativeffi; for a type checker
    ``str | bytes`` (any byte buffer) ``| Pointer[Char] | Pointer[Utf8] | None``."""

nullptr: Pointer[Any] = Pointer.from_address(0)
