"""``NativeFinalizer`` and ``Finalizable``: a native function run with a token when a Python object dies, or at exit.

Example:
    >>> from nativeffi import NativeFinalizer, Finalizable, address_of, native, Pointer, Void, malloc, Uint8
    >>> @native                     # the process's free(), which malloc() pairs with
    ... def free(p: Pointer[Void]) -> None: ...
    >>> freeing = NativeFinalizer(address_of(free))
    >>> class Buffer(Finalizable):
    ...     def __init__(self, n: int) -> None:
    ...         self.data = malloc(Uint8, n)
    ...         freeing.attach(self, self.data, detach=self, external_size=n)
    >>> b = Buffer(100)
    >>> freeing.external_size
    100
    >>> del b                       # free(data) runs now, without calling into Python
    >>> freeing.pending
    0
"""
from __future__ import annotations

from typing import Any, Optional

from . import _core
from .pointer import Pointer
from .types import CType

__all__ = ["NativeFinalizer", "Finalizable", "native_memory_held"]


class Finalizable:
    """A base class whose instances can carry native finalizers (it adds the ``__weakref__`` slot they need).

    Any object that supports weak references can be attached to; this base gives one to classes with
    ``__slots__``. Keep the object alive while native code uses its token: pass ``Pointer.from_address(token,
    keep=self)`` rather than a bare address, so the pointer keeps the object (and its token) alive.
    """

    __slots__ = ("__weakref__",)


def _address_of_function(fn: Any) -> tuple[int, Any]:
    """The address of the finalizer function `fn` and what must stay alive for it, with clear errors."""
    from .callable import NativeCallable
    from .native import address_of, binding_of

    if isinstance(fn, NativeCallable):
        raise TypeError("NativeFinalizer needs a native function: a NativeCallable calls into Python, which a "
                        "finalizer must not do (it may run at exit, after the interpreter is gone)")
    if binding_of(fn) is not None:
        fn = address_of(fn)
    if isinstance(fn, Pointer):
        target: Optional[CType] = fn.native_type.target
        if target is not None and target.kind == "function":
            if target.variadic or len(target.params) != 1 or target.params[0].kind != "pointer" \
                    or target.ret.kind in ("struct", "union", "array"):
                raise TypeError(f"NativeFinalizer needs a function of type void (*)(void *) (the return value "
                                f"may be any scalar, ignored), got {target.name}")
        return fn.address, fn
    if isinstance(fn, int) and not isinstance(fn, bool):
        return fn, None
    raise TypeError(f"NativeFinalizer() expected a native function: address_of(binding), a "
                    f"Pointer[NativeFunction[[Pointer[...]], ...]] or an int address, got {type(fn).__name__}")


class NativeFinalizer(_core.Finalizer):
    """Runs a native function ``void f(void *token)`` when an attached object dies, and at the latest at exit.

    Each attachment runs exactly once (never if detached): as soon as the object is freed (its last reference
    dropped, or the cycle collector freed it), with the GIL released, without running Python code; the ones
    still pending when the interpreter has finished run after it, newest attachment first. Attachments live
    on even if this NativeFinalizer object is dropped. See docs/finalizers.md for the ordering guarantees.

    Args:
        function: the native function: ``address_of(binding)``, a ``Pointer[NativeFunction[[Pointer[T]], R]]``
            (R is ignored, so ``int sqlite3_close(sqlite3 *)`` fits) or an int address.

    Raises:
        TypeError: a NativeCallable (it would call into Python), or a function type that does not take one pointer.
        ValueError: the null address.

    Example:
        >>> from nativeffi import NativeFinalizer, address_of, native, Pointer, Void
        >>> @native                     # the process's free(), which malloc() pairs with
        ... def free(p: Pointer[Void]) -> None: ...
        >>> NativeFinalizer(address_of(free)).pending
        0
    """

    __slots__ = ("function",)

    def __init__(self, function: Any) -> None:
        address, keep = _address_of_function(function)
        super().__init__(address)
        self.function = keep  # a binding's pointer: keeps its library loaded

    def attach(self, obj: object, token: Any, detach: object = None, external_size: int = 0) -> None:
        """Runs the function with `token` when `obj` dies (or at exit). `obj` and `detach` are held weakly.

        Args:
            obj: the object whose death runs the function; must support weak references (see Finalizable).
            token: the argument, a Pointer or an int address.
            detach: a key (by identity) that ``detach()`` takes to cancel this attachment; may be `obj` itself.
            external_size: bytes of native memory `obj` holds, counted in ``external_size`` and
                ``native_memory_held()`` until the attachment runs or is detached.

        Raises:
            TypeError: `obj` or `detach` cannot be weakly referenced; a token that is no Pointer or int.
            ValueError: a negative external_size.
        """
        if isinstance(token, Pointer):
            token = token.address
        elif not isinstance(token, int) or isinstance(token, bool):
            raise TypeError(f"attach() expected a Pointer or int token, got {type(token).__name__}")
        super().attach(obj, token, detach, external_size)

    def detach(self, key: object) -> int:
        """Cancels the pending attachments made with ``detach=key`` (by identity); returns how many there were."""
        return int(super().detach(key))

    def __repr__(self) -> str:
        return f"NativeFinalizer(0x{self.address:x}, pending={self.pending}, external_size={self.external_size})"


def native_memory_held() -> int:
    """The bytes of native memory held by objects with pending finalizers (the sum of their ``external_size``).

    Example:
        >>> native_memory_held() >= 0
        True
    """
    return int(_core.native_memory_held())
