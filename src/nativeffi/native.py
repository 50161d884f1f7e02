"""``@native`` bindings of Python declarations to native functions and variables (Dart's ``@Native``).

Example:
    >>> from nativeffi import native, Pointer, Char, Size
    >>> @native(symbol="strlen", is_leaf=True)
    ... def c_strlen(s: Pointer[Char]) -> Size: ...
    >>> c_strlen("héllo")
    6
"""
from __future__ import annotations

import dis
import inspect
import sys
import typing
from typing import Any, Callable, Generic, Optional, TypeVar, cast, overload

from . import _core
from .assets import resolve_symbol
from .pointer import Pointer, pointer_class
from .types import CType, _FunctionType, native_type, same_type

__all__ = ["native", "native_var", "NativeVar", "default_asset", "address_of", "binding_of", "get_errno"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def default_asset(asset_id: str) -> None:
    """Sets the calling module's default asset (``__native_asset__``), used by bindings that name none.

    Call it at module top, before the ``@native`` declarations (Dart's ``@DefaultAsset``).
    """
    if not isinstance(asset_id, str) or not asset_id:
        raise TypeError(f"default_asset() expected a non-empty str, got {asset_id!r}")
    sys._getframe(1).f_globals["__native_asset__"] = asset_id


def _asset_of(namespace: dict[str, Any], asset: Optional[str]) -> Callable[[], tuple[str, str]]:
    """The asset id of a binding and where it came from (see resolve_symbol's `asset_source`): explicit, else
    the module's default (read at resolution), else its name."""
    if asset is not None:
        if not isinstance(asset, str) or not asset:
            raise TypeError(f"asset must be a non-empty str, got {asset!r}")
        return lambda: (asset, "asset")

    def implicit() -> tuple[str, str]:
        default = namespace.get("__native_asset__")
        return (default, "default_asset") if default else (namespace.get("__name__") or "__main__", "module")
    return implicit


def _signature_from_annotations(fn: Callable[..., Any]) -> tuple[list[str], list[CType], CType]:
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as e:  # NameError for an undefined annotation, TypeError for a bad one
        raise TypeError(f"@native {fn.__qualname__}: cannot evaluate the annotations: {e}") from e
    names, types = [], []
    for p in inspect.signature(fn).parameters.values():
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise TypeError(f"@native {fn.__qualname__}: parameter {p.name!r} must be a plain positional parameter "
                            "(use NativeFunction[[...], R] with VarArgs for variadic functions)")
        names.append(p.name)
        if p.name not in hints:
            raise TypeError(f"@native {fn.__qualname__}: parameter {p.name!r} has no native type annotation")
        types.append(native_type(hints[p.name], what=f"@native {fn.__qualname__}: parameter {p.name!r}"))
    if "return" not in hints:
        raise TypeError(f"@native {fn.__qualname__}: missing return annotation (use -> None for void)")
    return names, types, native_type(hints["return"], what=f"@native {fn.__qualname__}: return type")


def _is_empty_body(code: Any, returns: Any = None) -> bool:
    """Whether a code object is an empty body: it only returns `returns` (None for `...`, `pass` or a docstring in a
    ``def``; Ellipsis for ``lambda a, b: ...``)."""
    ops = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname not in ("RESUME", "NOP", "CACHE")]
    return ops in ([("LOAD_CONST", returns), ("RETURN_VALUE", None)], [("RETURN_CONST", returns)])


def _check_body(fn: Callable[..., Any], symbol: Optional[str]) -> None:
    code = getattr(fn, "__code__", None)
    is_lambda = getattr(fn, "__name__", None) == "<lambda>"
    if code is None or not _is_empty_body(code, ... if is_lambda else None):
        raise TypeError(f"@native {getattr(fn, '__qualname__', fn)}: the body must be `...` (the native function "
                        "is the implementation)" + (", as in `lambda a, b: ...`" if is_lambda else ""))
    if is_lambda and not symbol:
        raise TypeError("native(...)(lambda ...): a lambda has no name to look up; give symbol=, e.g. "
                        "native(NativeFunction[[Double], Double], symbol='cos')(lambda x: ...)")


def _function_ctype(fn: Callable[..., Any], type: Any) -> tuple[CType, tuple[str, ...]]:
    """The function CType and parameter names of a declaration, checking annotations against `type`."""
    params = inspect.signature(fn).parameters
    if type is None:
        names, args, ret = _signature_from_annotations(fn)
        return _core.function_type(tuple(args), ret, len(args)), tuple(names)
    if not isinstance(type, _FunctionType):
        raise TypeError(f"@native {fn.__qualname__}: type must be NativeFunction[[...], R], got {type!r}")
    ft = type.__native__
    names = [p.name for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind == p.VAR_POSITIONAL for p in params.values())
    expected = ft.nfixed if variadic else len(ft.params)
    if len(names) != expected or (ft.variadic and not variadic and len(names) != len(ft.params)):
        raise TypeError(f"@native {fn.__qualname__}: {ft.name} takes {len(ft.params)} parameters, the declaration "
                        f"has {len(names)}")
    hints = getattr(fn, "__annotations__", {})
    if hints:
        got_names, got_args, got_ret = _signature_from_annotations(fn) if not variadic else (names, [], None)
        for i, (n, t) in enumerate(zip(got_names, got_args)):
            if not same_type(t, ft.params[i]):
                raise TypeError(f"@native {fn.__qualname__}: parameter {n!r} is annotated {t.name} but the type "
                                f"says {ft.params[i].name}")
        if got_ret is not None and not same_type(got_ret, ft.ret):
            raise TypeError(f"@native {fn.__qualname__}: return is annotated {got_ret.name} but the type says "
                            f"{ft.ret.name}")
    return ft, tuple(names) + tuple(f"vararg{i}" for i in range(len(ft.params) - len(names)))


@overload
def native(type: F) -> F: ...


@overload
def native(type: Any = None, *, symbol: Optional[str] = None, asset: Optional[str] = None, is_leaf: bool = False,
           capture_errno: bool = False) -> Callable[[F], F]: ...


def native(type: Any = None, *, symbol: Optional[str] = None, asset: Optional[str] = None, is_leaf: bool = False,
           capture_errno: bool = False) -> Any:
    """Binds a declaration (whose body is ``...``) to the native function of the same name.

    A ``lambda`` whose body is ``...`` declares too, given the type and the symbol:
    ``native(NativeFunction[[Double], Double], symbol="cos")(lambda x: ...)``.

    Args:
        type: ``NativeFunction[[...], R]``; without it the signature comes from the annotations.
        symbol: the native symbol; defaults to the function's ``__name__``.
        asset: the asset id of the library; defaults to the module's ``default_asset`` or its ``__name__``.
        is_leaf: keep the GIL during the call. Faster, for short non-blocking functions that never call
            back into Python and never wait on anything another Python thread does; a long leaf call stalls
            every other Python thread.
        capture_errno: save ``errno`` right after each call, for ``get_errno()``.

    The symbol is resolved on the first call (asset, then resolver, then process) and cached; a failure
    raises ``NativeSymbolError`` then, not at import.

    Raises:
        TypeError: at decoration, for a body other than ``...``, missing or non-native annotations, or
            annotations that disagree with `type`.

    Example:
        >>> @native(asset="libm.so.6", is_leaf=True)
        ... def cos(x: Double) -> Double: ...
    """
    if callable(type) and not isinstance(type, _FunctionType) and hasattr(type, "__code__"):
        return native()(type)  # used bare: @native

    def bind(fn: F) -> F:
        _check_body(fn, symbol)
        ftype, names = _function_ctype(fn, type)
        sym = symbol or fn.__name__
        asset_of = _asset_of(fn.__globals__, asset)
        module = fn.__globals__.get("__name__")
        nfixed = ftype.nfixed

        def resolve() -> int:
            asset_id, source = asset_of()
            return resolve_symbol(sym, asset_id, module, nfixed, asset_source=source)

        is_lambda = fn.__name__ == "<lambda>"
        qualname = sym if is_lambda else fn.__qualname__  # a lambda's binding is named after its symbol
        bound = _core.Function(ftype, 0, qualname, names, bool(is_leaf), bool(capture_errno), resolve)
        for attr, value in (("__doc__", fn.__doc__), ("__module__", fn.__module__), ("__qualname__", qualname),
                            ("__wrapped__", fn), ("symbol", sym)):
            setattr(bound, attr, value)
        # What callers get is the builtin form: CPython 3.11+ calls builtin functions on its fastest path.
        # Its __self__ is the binding (address, resolved, native_type, is_leaf, call_path, symbol).
        text_signature = f"{sym if is_lambda else fn.__name__}({', '.join(names)})\n--\n\n"
        return cast(F, bound._builtin(text_signature + (inspect.cleandoc(fn.__doc__ or "")), fn.__module__))

    return bind


class NativeVar(Generic[T]):
    """A native global variable: ``.value`` reads and writes native memory (made by ``native_var``)."""

    def __init__(self, t: Any, symbol: str, asset_of: Callable[[], tuple[str, str]], module: Optional[str],
                 final: bool) -> None:
        self._ctype = native_type(t, what=f"native_var {symbol!r}")
        if self._ctype.kind in ("void", "opaque", "function"):
            raise TypeError(f"native_var {symbol!r}: {self._ctype.name} has no values; declare a Pointer to it")
        self.symbol = symbol
        self.final = final
        self._asset_of = asset_of
        self._module = module
        self._pointer: Optional[Pointer[Any]] = None

    @property
    def pointer(self) -> Pointer[Any]:
        """``Pointer[T]`` to the variable (resolving the symbol on first use)."""
        if self._pointer is None:
            asset_id, source = self._asset_of()
            address = resolve_symbol(self.symbol, asset_id, self._module, 0, what="variable", asset_source=source)
            self._pointer = pointer_class(self._ctype).from_address(address)
        return self._pointer

    @property
    def value(self) -> T:
        """The variable's value (a view for structs and arrays)."""
        p = self.pointer
        return cast(T, p.ref if self._ctype.kind in ("struct", "union", "array") else p.value)

    @value.setter
    def value(self, v: T) -> None:
        if self.final:
            raise AttributeError(f"native variable {self.symbol!r} is final (read-only)")
        self.pointer.value = v

    def __repr__(self) -> str:
        return f"<native variable {self.symbol}: {self._ctype.name}{' final' if self.final else ''}>"


def native_var(t: Any, symbol: str, *, asset: Optional[str] = None, final: bool = False) -> NativeVar[Any]:
    """Binds a native global variable of type `t`; resolution is lazy, as for functions.

    Example:
        >>> environ = native_var(Pointer[Pointer[Char]], "environ", final=True)
        >>> environ.value.is_null
        False
    """
    if not isinstance(symbol, str) or not symbol:
        raise TypeError(f"native_var() symbol must be a non-empty str, got {symbol!r}")
    namespace = sys._getframe(1).f_globals
    return NativeVar(t, symbol, _asset_of(namespace, asset), namespace.get("__name__"), final)


def binding_of(f: Any) -> Optional[_core.Function]:
    """The binding behind a ``@native`` function (its ``__self__``), or None if `f` is not one.

    The binding tells ``address`` (resolving it), ``resolved``, ``native_type``, ``is_leaf``, ``call_path``
    (which call stub serves it, or libffi) and ``symbol``.
    """
    if isinstance(f, _core.Function):
        return f
    owner = getattr(f, "__self__", None)
    return owner if isinstance(owner, _core.Function) else None


def address_of(x: Any) -> Pointer[Any]:
    """The native address of a bound function (``Pointer[NativeFunction[...]]``) or variable (``Pointer[T]``).

    Raises:
        TypeError: `x` is neither; NativeSymbolError: it cannot be resolved.
    """
    binding = binding_of(x)
    if binding is not None:
        return cast("Pointer[Any]", pointer_class(binding.native_type).from_address(binding.address))
    if isinstance(x, NativeVar):
        return x.pointer
    native_pointer = getattr(x, "__native_pointer__", None)
    if isinstance(native_pointer, Pointer):
        return native_pointer
    raise TypeError(f"address_of() expected a @native function or variable, got {type(x).__name__}")


def get_errno() -> int:
    """errno as saved right after this thread's last call to a binding with ``capture_errno=True``."""
    return int(_core.get_errno())
