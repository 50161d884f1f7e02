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
        _check_not_flexible(ct, f"Array[{ct.name}, ...]")
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


class _FlexibleArray:
    """The runtime value of ``Array[T, ...]``: a flexible array member (C's ``double values[];``, Dart's
    ``Array.variable``), valid only as the last field of a struct. It takes no room in ``sizeof``; reading the
    field gives a ``Pointer[T]`` to its first element (the allocation is sized by the user)."""

    def __init__(self, element: Any) -> None:
        self.element = element
        self.element_ctype = native_type(element, what="Array[T, ...] element type")
        self.ctype: CType = _core.flexible_array_type(self.element_ctype)

    def __repr__(self) -> str:
        return str(self.ctype.name)

    def __call__(self, *args: Any) -> Any:
        raise TypeError(f"{self.ctype.name} is a flexible array member: declare it as the last field of a struct")


_flexible_types: dict[int, _FlexibleArray] = {}


def _flexible_array(element: Any) -> _FlexibleArray:
    ct = native_type(element, what="Array[T, ...] element type")
    ft = _flexible_types.get(id(ct))
    if ft is None:   # two threads may both make one: setdefault keeps the first
        ft = _flexible_types.setdefault(id(ct), _FlexibleArray(element))
    return ft


class _FlexibleField:
    """The descriptor of a flexible array member: reads give a ``Pointer[T]`` to the first element."""

    def __init__(self, name: str, owner: CType, offset: int, element: CType) -> None:
        self.name, self.owner, self.offset = name, owner, offset
        self.pointer_class = pointer_class(element)

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        if obj is None:
            return self
        if not obj._is_view:
            raise TypeError(f"{self.owner.name}.{self.name}: a {self.owner.name} owned by Python has no room for its "
                            f"flexible array member; allocate one sized for its elements, e.g. "
                            f"malloc(Uint8, offsetof({self.owner.name}, {self.name!r}) + n * sizeof(T))"
                            f".cast({self.owner.name}), and read it through that pointer's .ref")
        return self.pointer_class.from_address(obj._address + self.offset, obj._keep)

    def __set__(self, obj: Any, value: Any) -> None:
        raise TypeError(f"{self.owner.name}.{self.name} is a flexible array member: write its elements through the "
                        f"pointer it reads as ({self.owner.name}.{self.name}[i] = v, or a slice)")

    def __repr__(self) -> str:
        return f"<flexible array member {self.owner.name}.{self.name}: Array[...] at offset {self.offset}>"


if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import TypeVarTuple, Unpack
    else:  # read by the type checker only (typing_extensions' stubs come with it), never imported
        from typing_extensions import TypeVarTuple, Unpack

    _Dims = TypeVarTuple("_Dims")
    _Rest = TypeVarTuple("_Rest")
    _N = TypeVar("_N")
    _M = TypeVar("_M")

    class Array(typing.Generic[T, Unpack[_Dims]]):
        """An inline C array (see the runtime class): ``Array[Int32, Literal[3]]`` for a type checker."""

        def __init__(self, values: Optional[typing.Iterable[Any]] = None) -> None: ...
        def __len__(self) -> int: ...
        @typing.overload
        def __getitem__(self: Array[T, _N], i: int) -> T: ...
        @typing.overload
        def __getitem__(self: Array[T, _N, _M, Unpack[_Rest]], i: int) -> Array[T, _M, Unpack[_Rest]]: ...
        @typing.overload
        def __getitem__(self, i: slice) -> list[Any]: ...
        def __getitem__(self, i: Any) -> Any: ...
        def __setitem__(self, i: int | slice, v: Any) -> None: ...
        def __iter__(self) -> Iterator[Any]: ...
        def tolist(self) -> list[Any]: ...
        def to_bytes(self) -> bytes: ...
        def to_str(self) -> str: ...
        def copy(self) -> ArrayView: ...
        # As a struct field: reads give the array (a view), writes take any sequence of the right length (or, for
        # byte and WChar arrays, text).
        def __get__(self, obj: object, owner: Any = None) -> Array[T, Unpack[_Dims]]: ...
        def __set__(self, obj: object, value: typing.Union[typing.Sequence[Any], str, bytes]) -> None: ...
else:
    _array_types: dict[tuple[int, tuple[int, ...]], _ArrayType] = {}

    def _make_array_type(item):
        """``Array[item]`` made and checked; the core's cache returns it again for the same element CType and
        lengths, so that one array type is made once."""
        if not isinstance(item, tuple) or len(item) < 2:
            raise TypeError(f"Array takes [element type, length, ...more lengths], got {item!r}")
        element, dims = item[0], item[1:]
        if dims == (...,):
            return _flexible_array(element)
        if ... in dims:
            raise TypeError(f"Array[T, ...] (a flexible array member) takes no other length, got {item!r}")
        dims = tuple(_literal_length(d) for d in dims)
        for d in dims:
            if not isinstance(d, int) or isinstance(d, bool):
                raise TypeError(f"Array lengths must be ints, got {d!r}")
            if d < 1:
                raise ValueError(f"Array lengths must be >= 1, got {d}")
        ct = native_type(element, what="Array element type")
        # one type per element and lengths however they were spelt (3 or Literal[3]), which the core's cache keys apart
        at = _array_types.get((id(ct), dims))
        if at is None:
            at = _array_types.setdefault((id(ct), dims), _ArrayType(element, dims))
        return at

    class Array(metaclass=_core.TypeExpressionMeta):
        """An inline C array: ``cells: Array[Int32, 3, 3]`` is C's ``int32_t cells[3][3]``.

        Type checkers accept lengths written ``Literal[3]`` (``Array[Int32, Literal[3], Literal[3]]``), which
        nativeffi reads as 3; a bare ``3`` is the same array at run time, but checkers reject it as a type.

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


def _literal_length(d: Any) -> Any:
    """A length written ``Literal[3]`` (the spelling type checkers accept) as 3; anything else as it is."""
    if typing.get_origin(d) is typing.Literal and len(typing.get_args(d)) == 1:
        return typing.get_args(d)[0]
    return d


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


_RESERVED = frozenset({"address", "copy", "native_type", "from_buffer", "from_buffer_copy"})
_ENDIANS = ("little", "big")


class _CompoundMeta(type):
    """Metaclass of Struct and Union: lays out the annotated fields when a subclass is created."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], pack: Optional[int] = None,
                endian: Optional[str] = None, **kwargs: Any) -> _CompoundMeta:
        if "__slots__" in namespace:
            raise TypeError(f"{name}: a Struct or Union declares fields as annotations, not __slots__")
        namespace["__slots__"] = ()
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        frame = sys._getframe(1)  # where the class statement runs: its module, and its function if any
        globalns = frame.f_globals
        localns = {**frame.f_locals, **namespace, name: cls}
        if namespace.get("_compound_base"):
            return cls
        kind, base = _kind_of(cls, bases)  # base: Any, as its attributes are set by this metaclass
        if pack is not None and (not isinstance(pack, int) or isinstance(pack, bool)):
            raise TypeError(f"{name}: pack must be an int (1, 2, 4, 8 or 16), got {pack!r}")
        if base is not None and endian not in (None, base._endian_):
            raise TypeError(f"{name}: endian={endian!r} differs from the base {base.__name__}'s "
                            f"{base._endian_!r}; a derived struct keeps its base's byte order")
        if endian is None:
            endian = base._endian_ if base is not None else sys.byteorder
        if endian not in _ENDIANS:
            raise ValueError(f"{name}: endian must be 'little' or 'big', got {endian!r}")
        cls._endian_ = endian  # type: ignore[attr-defined]
        ct = _core.compound_type(kind, name)
        cls.__native__ = ct  # type: ignore[attr-defined]
        ct.pyclass = cls
        annotations = namespace.get("__annotations__", {})
        if not annotations and "__annotate__" in namespace:  # Python 3.14: annotations are evaluated lazily
            annotations = cls.__annotations__
        inherited = {f.name for f in base.__native__.fields} | set(base._aliases_) if base is not None else set()
        specs = []
        flexible: Optional[tuple[str, _FlexibleArray]] = None
        for fname, ann in annotations.items():
            value = _evaluate(ann, cls, localns, globalns)
            if typing.get_origin(value) is typing.ClassVar:
                continue
            if fname in namespace and not isinstance(namespace[fname], _core.Field):
                raise TypeError(f"{name}.{fname}: fields cannot have default values (a new {name} is zeroed)")
            if fname.startswith("__") or fname in _RESERVED:
                raise TypeError(f"{name}.{fname}: this name is reserved; choose another field name")
            if fname in inherited:
                raise TypeError(f"{name}.{fname}: the base {base.__name__} has a field {fname!r} already")
            if flexible is not None:
                raise TypeError(f"{name}.{flexible[0]}: a flexible array member (Array[T, ...]) must be the last "
                                "field, as in C")
            if isinstance(value, _FlexibleArray):
                if kind != "struct":
                    raise TypeError(f"{name}.{fname}: a flexible array member (Array[T, ...]) belongs in a struct, "
                                    "not a union")
                flexible = (fname, value)
                specs.append((fname, value.ctype, -1))
                continue
            fct, width = _field_ctype(value, f"field {fname!r} of {name}")
            _check_not_flexible(fct, f"{name}.{fname}")
            _resolve_self_references(fct, name, ct)
            if width >= 0 and endian != sys.byteorder:
                raise TypeError(f"{name}.{fname}: bit fields in a struct of the other byte order (endian={endian!r}) "
                                "are not supported; declare the whole integer and mask it")
            _check_endian(fct, endian, f"{name}.{fname}")
            specs.append((fname, fct, width))
        if flexible is not None and len(specs) == 1 and base is None:
            raise TypeError(f"{name}: a flexible array member needs another field before it, as in C")
        all_fields = _core.set_layout(ct, specs, pack or 0, None, base.__native__) if base is not None \
            else _core.set_layout(ct, specs, pack or 0)
        if endian != sys.byteorder:
            _core._set_swapped([f for f in all_fields if f.type.kind not in ("struct", "union")])
        for field in all_fields:
            setattr(cls, field.name, field)
        if flexible is not None:
            fname, fa = flexible
            setattr(cls, fname, _FlexibleField(fname, ct, all_fields[-1].offset, fa.element_ctype))
        cls._flexible_ = flexible[0] if flexible is not None else None  # type: ignore[attr-defined]
        cls._aliases_ = _anonymous_aliases(cls, ct, namespace, base)  # type: ignore[attr-defined]
        return cls


def _innermost(ct: CType) -> CType:
    """The element type of an array (of arrays...), or `ct` itself."""
    while ct.kind == "array" and ct.target is not None:
        ct = ct.target
    return ct


def _check_not_flexible(ct: CType, what: str) -> None:
    """A struct that ends in a flexible array member cannot be a field or an array element (C forbids it)."""
    ct = _innermost(ct)
    if ct.kind in ("struct", "union") and getattr(ct.pyclass, "_flexible_", None):
        raise TypeError(f"{what}: {ct.name} ends in a flexible array member, so it cannot be a field or an array "
                        f"element (as in C); use Pointer[{ct.name}]")


def _check_endian(ct: CType, endian: str, what: str) -> None:
    """A struct or union inside one of a declared byte order must be declared with the same (ctypes' rule)."""
    ct = _innermost(ct)
    other = getattr(ct.pyclass, "_endian_", endian)
    if ct.kind in ("struct", "union") and other != endian:
        raise TypeError(f"{what}: {ct.name} is {other}-endian inside a {endian}-endian struct; declare "
                        f"it with endian={endian!r} too")


def _anonymous_aliases(cls: type, ct: CType, namespace: dict[str, Any], base: Any) -> dict[str, Any]:
    """Fields of anonymous members (``_anonymous_ = ("u",)``, C's unnamed ``union { ... };``) set on `cls`, so they
    read and write through the parent; names inherited from the base's anonymous members are aliased again."""
    names = tuple(getattr(base, "_anonymous_", ())) if base is not None else ()
    own = namespace.get("_anonymous_", ())
    if isinstance(own, str) or not isinstance(own, (tuple, list)):
        raise TypeError(f"{cls.__name__}._anonymous_ must be a tuple of field names, got {own!r}")
    names += tuple(own)
    cls._anonymous_ = names  # type: ignore[attr-defined]
    by_name = {f.name: f for f in ct.fields}
    aliases: dict[str, Any] = {}
    for member in names:
        m = by_name.get(member)
        if m is None or m.type.kind not in ("struct", "union") or m.bit_width is not None:
            raise TypeError(f"{cls.__name__}._anonymous_: {member!r} must name a struct or union field of "
                            f"{cls.__name__}")
        inner = m.type.pyclass
        for f in (*m.type.fields, *inner._aliases_.values()):
            if f.name in by_name or f.name in aliases:
                raise TypeError(f"{cls.__name__}: the anonymous member {member!r} has a field {f.name!r}, which "
                                f"{cls.__name__} has already (C forbids duplicate member names)")
            aliases[f.name] = _core._field_alias(f, ct, m.offset, m.index)
    for fname, alias in aliases.items():
        setattr(cls, fname, alias)
    return aliases


def _kind_of(cls: type, bases: tuple[type, ...]) -> tuple[str, Any]:
    """The kind ('struct' or 'union') of a new compound class, and the struct it derives from (None: none)."""
    if len(bases) == 1 and bases[0] in (Struct, Union):
        return ("union" if bases[0] is Union else "struct"), None
    if len(bases) == 1 and issubclass(bases[0], Struct) and "__native__" in bases[0].__dict__:
        base = bases[0]
        if base._flexible_:
            raise TypeError(f"{cls.__name__}: {base.__name__} ends in a flexible array member; no field can follow it")
        return "struct", base
    raise TypeError(f"{cls.__name__}: a struct or union class derives from Struct or Union, or a struct from one "
                    "declared struct (its fields come first, as in ctypes); a union has no subclasses")


def _field_ctype(value: Any, what: str) -> tuple[CType, int]:
    """The CType and bit width (-1: not a bit field) of a field annotation."""
    width = _bit_width(value)
    if width is None:
        return native_type(value, what=what), -1
    return next(m for m in value.__metadata__ if isinstance(m, CType)), width


def _has_pointers(ct: CType) -> bool:
    ct = _innermost(ct)
    if ct.kind in ("struct", "union"):
        return any(_has_pointers(f.type) for f in ct.fields)
    return ct.kind == "pointer"


class _CompoundBase(_core.CData, metaclass=_CompoundMeta):
    """Methods shared by Struct and Union values."""

    _compound_base = True
    __native__: CType  # set on each declared subclass
    _endian_: str = sys.byteorder
    _flexible_: Optional[str] = None
    _anonymous_: tuple[str, ...] = ()
    _aliases_: dict[str, Any] = {}

    if TYPE_CHECKING:
        # Made by the C core: positional values in field order, or by field name; missing fields stay zero.
        # (PEP 681's dataclass_transform would make every field a required argument, rejecting `Stat()`.)
        def __init__(self, *values: Any, **fields: Any) -> None: ...

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

    def __copy__(self: T) -> T:
        return self._copy()  # type: ignore[attr-defined, no-any-return]

    def __deepcopy__(self: T, memo: Any) -> T:
        return self._copy()  # type: ignore[attr-defined, no-any-return]

    @classmethod
    def from_buffer(cls: type[T], source: Any, offset: int = 0) -> T:
        """A view of this type over the memory of a writable buffer (``bytearray``, ``memoryview``, ``mmap``...)
        at byte `offset`, keeping `source` alive, as ctypes' ``from_buffer``.

        Raises:
            TypeError: `source` is read-only (use ``from_buffer_copy``) or not contiguous.
            ValueError: fewer than ``sizeof(cls)`` bytes from `offset`.

        Example:
            >>> buf = bytearray(16)
            >>> c = Coord.from_buffer(buf)     # doctest: +SKIP
            >>> c.x = 1.5                      # writes into buf
        """
        mv = _byte_view(cls, source, offset, "from_buffer")
        if mv.readonly:
            raise TypeError(f"{cls.__name__}.from_buffer() needs a writable buffer (bytearray, memoryview of one, "
                            f"mmap), got a read-only {type(source).__name__}; use from_buffer_copy()")
        p: Pointer[Any] = Pointer.from_buffer(mv)  # keeps the exported buffer (so `source` too) alive
        ptr = pointer_class(cls.__native__).from_address(p.address + offset, p._keep)  # type: ignore[attr-defined]
        return ptr.ref  # type: ignore[no-any-return]

    @classmethod
    def from_buffer_copy(cls: type[T], source: Any, offset: int = 0) -> T:
        """A new value owned by Python holding a copy of ``sizeof(cls)`` bytes of `source` (any buffer: bytes
        too) from byte `offset`, as ctypes' ``from_buffer_copy``.

        Raises:
            TypeError: `source` is not a contiguous buffer. ValueError: it is too short.
        """
        mv = _byte_view(cls, source, offset, "from_buffer_copy")
        value = cls()
        size = cls.__native__.size  # type: ignore[attr-defined]
        memoryview(value)[:] = mv[offset:offset + size]  # type: ignore[arg-type]
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles the value's bytes; unpickling makes an owned value (a view pickles as a copy)."""
        ct = type(self).__native__
        if _has_pointers(ct):
            raise TypeError(f"{ct.name} holds pointers, which mean nothing in another process: it cannot be pickled")
        return (type(self).from_buffer_copy, (bytes(memoryview(self)),))

    def __repr__(self) -> str:
        cls = type(self)
        parts = []
        for f in cls.__native__.fields:
            if f.name != cls._flexible_:
                parts.append(f"{f.name}={getattr(self, f.name)!r}")
        return f"{cls.__name__}({', '.join(parts)})"


def _byte_view(cls: Any, source: Any, offset: int, what: str) -> memoryview:
    """`source` as a flat memoryview of bytes with room for a `cls` at `offset`."""
    try:
        mv = memoryview(source)
    except TypeError:
        raise TypeError(f"{cls.__name__}.{what}() expected a buffer (bytearray, bytes, memoryview...), got "
                        f"{type(source).__name__}") from None
    if not mv.contiguous:
        raise TypeError(f"{cls.__name__}.{what}() expected a contiguous buffer, got a non-contiguous "
                        f"{type(source).__name__}")
    mv = mv.cast("B")
    size = cls.__native__.size
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError(f"{cls.__name__}.{what}(): offset must be an int >= 0, got {offset!r}")
    if len(mv) - offset < size:
        raise ValueError(f"{cls.__name__}.{what}(): a {cls.__name__} needs {size} bytes from offset {offset}, the "
                         f"buffer has {len(mv)} bytes")
    return mv


class Struct(_CompoundBase):
    """Base class of C structs: annotate fields with native types, in declaration order.

    ``Coord(x=1.0, y=2.0)`` (or positional, in field order) makes a zeroed struct owned by Python; missing
    fields stay zero. Fields read as Python values (views for nested structs and arrays) and write with the
    same conversions and range checks as arguments; a struct field or argument also takes a tuple, list or dict
    initialiser. ``class Packed(Struct, pack=1)`` is ``#pragma pack(1)``.

    Also (see docs/structs-advanced.md): ``class Wire(Struct, endian="big")`` stores scalars in that byte order;
    ``class Derived(Base)`` appends fields after the whole base (C's ``struct D { struct B base; ... }``);
    ``_anonymous_ = ("u",)`` reads the fields of member ``u`` through the parent; a last field
    ``Array[T, ...]`` is a flexible array member. Values compare with ``==`` field by field (padding
    excluded; so they are unhashable), copy with ``copy.copy``, pickle (unless they hold pointers), and come from
    buffers with ``from_buffer`` (a view) and ``from_buffer_copy``.

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
