"""Compound types: ``Struct``, ``Union``, inline ``Array[T, n, ...]`` and bit fields ``Bits[T, width]``.

Layouts follow the platform C compiler (GCC/Clang on x86-64 and AArch64 Linux), ``pack=`` included.
Instances made in Python own their memory; values read through a ``Pointer`` or a field are views of
native memory (no copy).

Example:
    >>> from nativeffi import Struct, Array, Bits, Double, Int32, Uint8, Pointer, sizeof, offsetof
    >>> class Coord(Struct):
    ...     x: Double
    ...     y: Double
    ...     next: Pointer["Coord"]
    >>> c = Coord(x=1.0, y=2.0)
    >>> c.y, sizeof(Coord), offsetof(Coord, "y")
    (2.0, 24, 8)
"""
from __future__ import annotations

import sys
import typing
from typing import TYPE_CHECKING, Any, Annotated, Iterator, Optional, TypeVar

from . import _core
from ._core import ArrayView
from .pointer import Pointer, pointer_class
from .types import CType, native_type

__all__ = ["Struct", "Union", "Array", "ArrayView", "Bits", "offsetof", "fields"]

T = TypeVar("T")


# -- Bit fields ---------------------------------------------------------------------------------------

class _BitWidth:
    """Metadata of ``Bits[T, width]``: the width in bits (the CType comes before it in the metadata)."""

    __slots__ = ("width",)

    def __init__(self, width: int) -> None:
        self.width = width

    def __repr__(self) -> str:
        return f"BitWidth({self.width})"


if TYPE_CHECKING:
    from typing import Annotated as Bits  # a checker sees Bits[Uint8, 3] as Uint8, i.e. int
else:
    class Bits:
        """A bit field: ``mode: Bits[Uint8, 3]`` is C's ``uint8_t mode : 3``, laid out as the C compiler does.

        Reads give an ``int`` (``bool`` for ``Bits[Bool, 1]``), sign-extended for signed types; writes are
        range-checked against the width. A zero width (``_pad: Bits[Int32, 0]``) is C's unnamed ``int : 0``:
        it moves the next field to the type's alignment and gives no attribute.
        """

        def __class_getitem__(cls, item):
            if not (isinstance(item, tuple) and len(item) == 2):
                raise TypeError(f"Bits takes [integer type, width], got {item!r}")
            t, width = item
            ct = native_type(t, what="Bits[...] type")
            if not isinstance(width, int) or isinstance(width, bool) or width < 0:
                raise TypeError(f"Bits[{ct.name}, ...]: the width must be an int >= 0, got {width!r}")
            py = bool if ct.kind == "bool" else int
            return Annotated[py, ct, _BitWidth(width)]

        def __new__(cls, *args, **kwargs):
            raise TypeError("Bits is a field type: write `name: Bits[Uint8, 3]` in a Struct or Union")


def _bit_width(annotation: Any) -> Optional[int]:
    for m in getattr(annotation, "__metadata__", ()):
        if isinstance(m, _BitWidth):
            return m.width
    return None


# -- Inline arrays --------------------------------------------------------------------------------------

class _ArrayType:
    """The runtime value of ``Array[T, n, m, ...]``: a type usable in fields, pointers and ``native_var``.

    Calling it makes a Python-owned array: ``Array[Int32, 3]([1, 2, 3])``.
    """

    def __init__(self, element: Any, dims: tuple[int, ...]) -> None:
        ct = native_type(element, what="Array element type")
        self.element = element
        self.dims = dims
        name_prefix = f"Array[{ct.name}, "
        inner = ct
        for i, n in enumerate(reversed(dims)):
            shown = ", ".join(str(d) for d in dims[len(dims) - 1 - i:])
            inner = _core.array_type(inner, n, name_prefix + shown + "]")
        self.__native__: CType = inner

    def __call__(self, values: Any = None) -> ArrayView:
        """A new zeroed array owned by Python, filled from `values` (a sequence, nested for more dimensions).

        Raises:
            ValueError: `values` has the wrong length. TypeError: an item has the wrong type.
        """
        return ArrayView(self.__native__, values)

    def __repr__(self) -> str:
        return str(self.__native__.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ArrayType) and other.__native__ is self.__native__

    def __hash__(self) -> int:
        return id(self.__native__)


if TYPE_CHECKING:
    class Array(typing.Generic[T]):
        """An inline C array (see the runtime class)."""

        def __len__(self) -> int: ...
        def __getitem__(self, i: Any) -> Any: ...
        def __setitem__(self, i: Any, v: Any) -> None: ...
        def __iter__(self) -> Iterator[Any]: ...
        def tolist(self) -> list[Any]: ...
else:
    def _make_array_type(item):
        """``Array[item]`` made and checked; the core's cache returns it again for the same element CType and
        lengths, so that one array type is made once."""
        if not isinstance(item, tuple) or len(item) < 2:
            raise TypeError(f"Array takes [element type, length, ...more lengths], got {item!r}")
        element, dims = item[0], item[1:]
        for d in dims:
            if not isinstance(d, int) or isinstance(d, bool):
                raise TypeError(f"Array lengths must be ints, got {d!r}")
            if d < 1:
                raise ValueError(f"Array lengths must be >= 1, got {d}")
        native_type(element, what="Array element type")
        return _ArrayType(element, dims)

    class Array(metaclass=_core.TypeExpressionMeta):
        """An inline C array: ``cells: Array[Int32, 3, 3]`` is C's ``int32_t cells[3][3]``.

        Field reads give an ``ArrayView`` over the struct's memory: ``len``, indexing (views again for inner
        dimensions), iteration, slice reads (lists), item writes, and assignment of a whole sequence of the
        right length (``g.cells = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]``). C arrays are never passed by value:
        pass a ``Pointer`` instead.

        Example:
            >>> a = Array[Int32, 3]([1, 2, 3])
            >>> a[1:], len(a)
            ([2, 3], 3)
        """

        __class_getitem__ = _core.TypeExpression("array", _make_array_type)

        def __new__(cls, *args, **kwargs):
            raise TypeError("Array is a type: write Array[T, n](values) for an array owned by Python")


# -- Structs and unions ------------------------------------------------------------------------------

def _evaluate(annotation: Any, cls: type, localns: dict[str, Any], globalns: dict[str, Any]) -> Any:
    """An annotation's value; strings (``from __future__ import annotations``) are evaluated with the class
    itself in scope, so that a struct can name itself in ``Pointer[Coord]``."""
    for _ in range(2):  # a quoted annotation under the __future__ import is a string inside a string
        if isinstance(annotation, typing.ForwardRef):
            annotation = annotation.__forward_arg__
        if not isinstance(annotation, str):
            return annotation
        try:
            annotation = eval(annotation, globalns, localns)  # noqa: S307 - code the class author wrote
        except Exception as e:
            raise TypeError(f"{cls.__name__}: cannot evaluate the annotation {annotation!r}: {e}") from e
    return annotation


def _resolve_self_references(ct: CType, name: str, target: CType) -> None:
    """Resolves ``Pointer["Name"]`` (at any depth of pointers and arrays) inside `ct` to the struct being made."""
    t: Optional[CType] = ct
    while t is not None and t.kind in ("pointer", "array"):
        if t.kind == "pointer" and t.target is None:
            forward = getattr(t.pyclass, "__dict__", {}).get("_forward")
            if forward is not None and forward[0] == name:
                _core.set_pointer_target(t, target)
            return
        t = t.target


_RESERVED = frozenset({"address", "copy", "native_type"})


class _CompoundMeta(type):
    """Metaclass of Struct and Union: lays out the annotated fields when a subclass is created."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], pack: Optional[int] = None,
                **kwargs: Any) -> _CompoundMeta:
        if "__slots__" in namespace:
            raise TypeError(f"{name}: a Struct or Union declares fields as annotations, not __slots__")
        namespace["__slots__"] = ()
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        frame = sys._getframe(1)  # where the class statement runs: its module, and its function if any
        globalns = frame.f_globals
        localns = {**frame.f_locals, **namespace, name: cls}
        if namespace.get("_compound_base"):
            return cls
        kind = _kind_of(cls, bases)
        if pack is not None and (not isinstance(pack, int) or isinstance(pack, bool)):
            raise TypeError(f"{name}: pack must be an int (1, 2, 4, 8 or 16), got {pack!r}")
        ct = _core.compound_type(kind, name)
        cls.__native__ = ct  # type: ignore[attr-defined]
        ct.pyclass = cls
        annotations = namespace.get("__annotations__", {})
        if not annotations and "__annotate__" in namespace:  # Python 3.14: annotations are evaluated lazily
            annotations = cls.__annotations__
        specs = []
        for fname, ann in annotations.items():
            value = _evaluate(ann, cls, localns, globalns)
            if typing.get_origin(value) is typing.ClassVar:
                continue
            if fname in namespace and not isinstance(namespace[fname], _core.Field):
                raise TypeError(f"{name}.{fname}: fields cannot have default values (a new {name} is zeroed)")
            if fname.startswith("__") or fname in _RESERVED:
                raise TypeError(f"{name}.{fname}: this name is reserved; choose another field name")
            fct, width = _field_ctype(value, f"field {fname!r} of {name}")
            _resolve_self_references(fct, name, ct)
            specs.append((fname, fct, width))
        for field in _core.set_layout(ct, specs, pack or 0):
            setattr(cls, field.name, field)
        return cls


def _kind_of(cls: type, bases: tuple[type, ...]) -> str:
    if len(bases) != 1 or bases[0] not in (Struct, Union):
        raise TypeError(f"{cls.__name__}: a struct or union class must derive directly from Struct or Union "
                        "(C has no inheritance: nest the other struct as a field instead)")
    return "union" if bases[0] is Union else "struct"


def _field_ctype(value: Any, what: str) -> tuple[CType, int]:
    """The CType and bit width (-1: not a bit field) of a field annotation."""
    width = _bit_width(value)
    if width is None:
        return native_type(value, what=what), -1
    return next(m for m in value.__metadata__ if isinstance(m, CType)), width


class _CompoundBase(_core.CData, metaclass=_CompoundMeta):
    """Methods shared by Struct and Union values."""

    _compound_base = True
    __native__: CType  # set on each declared subclass

    @property
    def address(self) -> Pointer[Any]:
        """``Pointer[ThisStruct]`` to this value's memory; keeps the value alive (Dart's ``struct.address``)."""
        ptr: Pointer[Any] = pointer_class(type(self).__native__).from_address(self._address, self._keep)
        return ptr

    @property
    def __native_pointer__(self) -> Pointer[Any]:
        return self.address

    def copy(self: T) -> T:
        """A new value owned by Python with the same bytes (a view becomes an independent copy)."""
        return self._copy()  # type: ignore[attr-defined, no-any-return]

    def __repr__(self) -> str:
        parts = []
        for f in type(self).__native__.fields:
            parts.append(f"{f.name}={getattr(self, f.name)!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class Struct(_CompoundBase):
    """Base class of C structs: annotate fields with native types, in declaration order.

    ``Coord(x=1.0, y=2.0)`` (or positional, in field order) makes a zeroed struct owned by Python; missing
    fields stay zero. Fields read as Python values (views for nested structs and arrays) and write with the
    same conversions and range checks as arguments. ``class Packed(Struct, pack=1)`` is ``#pragma pack(1)``.

    Raises:
        TypeError: at declaration, for a non-native field type, an opaque or Void field, a struct that
            contains itself by value, or no fields; at construction, for unknown field names.

    Example:
        >>> class Point(Struct):
        ...     x: Int32
        ...     y: Int32
        >>> p = Point(1, y=2)
        >>> p.x + p.y
        3
    """

    _compound_base = True


class Union(_CompoundBase):
    """Base class of C unions: every field starts at offset 0; the size is the largest field's, aligned.

    Example:
        >>> class Num(Union):
        ...     i: Int64
        ...     d: Double
        >>> n = Num(d=1.0)
        >>> hex(n.i)
        '0x3ff0000000000000'
    """

    _compound_base = True


def _compound_ctype(t: Any, what: str) -> CType:
    ct = native_type(t, what=what)
    if ct.kind not in ("struct", "union"):
        raise TypeError(f"{what}: expected a Struct or Union type, got {ct.name}")
    return ct


def fields(t: Any) -> tuple[Any, ...]:
    """The field descriptors of a struct or union type, in declaration order (name, type, offset, bit_offset).

    Raises:
        TypeError: `t` is not a struct or union type.
    """
    return tuple(_compound_ctype(t, "fields()").fields)


def offsetof(t: Any, name: str) -> int:
    """The byte offset of field `name` in struct or union `t`, as C's ``offsetof``.

    Raises:
        TypeError: `t` is not a struct or union, or the field is a bit field (C has no offsetof for those).
        ValueError: `t` has no field `name`.

    Example:
        >>> offsetof(Coord, "y")           # doctest: +SKIP
        8
    """
    ct = _compound_ctype(t, "offsetof()")
    for f in ct.fields:
        if f.name == name:
            if f.bit_width is not None:
                raise TypeError(f"offsetof({ct.name}, {name!r}): {name!r} is a bit field, which has no byte offset "
                                f"in C; its bit offset is fields({ct.name})[{f.index}].bit_offset")
            return int(f.offset)
    names = ", ".join(f.name for f in ct.fields)
    raise ValueError(f"offsetof(): {ct.name} has no field {name!r} (fields: {names})")
