"""``NativeCallable``: native function pointers that call Python (Dart's ``NativeCallable``), and ``run``.

Three kinds, as in Dart ("isolate" here is the thread that made the callable, and its asyncio loop if one
runs there):

- ``isolate_local``: synchronous, callable only on the creating thread (another thread aborts the process
  with a message naming the callable).
- ``listener``: callable from any thread, always asynchronous, ``Void`` only. The native caller never waits
  for the GIL: the raw arguments are queued and the call runs later on the owner, which is the asyncio loop
  running in the creating thread (or ``loop=``), else a dispatcher thread of the library.
- ``isolate_group_bound``: synchronous from any thread; the calling thread takes the GIL itself.

A callable lives until ``close()``: nothing else needs to be kept alive.

Example:
    >>> from nativeffi import NativeCallable, NativeFunction, Int64
    >>> with NativeCallable.isolate_local(NativeFunction[[Int64], Int64], lambda x: x * 2,
    ...                                   exceptional_return=-1) as twice:
    ...     twice.native_function.as_function()(21)
    42
"""
from __future__ import annotations

import asyncio
import atexit
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Generic, Optional, TypeVar

from . import _core
from .pointer import Pointer, pointer_class
from .types import CType, NativeFunction, native_type

if TYPE_CHECKING:
    if sys.version_info >= (3, 10):
        from typing import ParamSpec
    else:  # typing_extensions is only read by the type checker here (its stubs come with it), never imported
        from typing_extensions import ParamSpec

    _P = ParamSpec("_P")
    _R = TypeVar("_R")

__all__ = ["NativeCallable", "run"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_LOCAL, _LISTENER, _GROUP = 0, 1, 2
_MISSING: Any = object()

_lock = threading.RLock()
_open: dict[int, NativeCallable[Any]] = {}  # every open callable: the registry keeps it (and its function) alive
_held: dict[Optional[asyncio.AbstractEventLoop], int] = {}  # owner loop (None: no loop) -> open keep-alive callables
_waiters: dict[asyncio.AbstractEventLoop, asyncio.Future[None]] = {}  # nativeffi.run waiting for its loop to be free
_keeper_cond = threading.Condition(_lock)  # notified whenever a hold changes (the exit wait listens)
_EXIT_GRACE = 2.0  # seconds the exit wait is silent before it says what it waits for
_dispatcher: Optional[_Dispatcher] = None


def _caller_site() -> str:
    """'file:line' of the first frame outside this package (where a callable is made)."""
    here = os.path.dirname(__file__)
    f: Any = sys._getframe(1)
    while f is not None and os.path.dirname(f.f_code.co_filename) == here:
        f = f.f_back
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "?"


def _function_ctype(type: Any) -> CType:
    ft = native_type(type, what="NativeCallable type")
    if ft.kind != "function":
        raise TypeError(f"NativeCallable expected a NativeFunction[[...], R] type, got {ft.name}")
    return ft


def _name_of(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _in_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    return _running_loop() is loop


class _Dispatcher:
    """The library's delivery thread for listeners made where no asyncio loop runs: a daemon running a loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nativeffi-dispatcher", daemon=True)
        self.thread.start()


def _dispatcher_loop() -> asyncio.AbstractEventLoop:
    global _dispatcher
    with _lock:
        if _dispatcher is None:
            _dispatcher = _Dispatcher()
        return _dispatcher.loop


# -- Keep-alive ------------------------------------------------------------------


def _hold(loop: Optional[asyncio.AbstractEventLoop], delta: int) -> None:
    """Counts a keep-alive hold on `loop`'s owner (under _lock) and wakes whoever waits for holds to end."""
    n = _held.get(loop, 0) + delta
    if n:
        _held[loop] = n
    else:
        _held.pop(loop, None)
        waiter = _waiters.pop(loop, None) if loop is not None else None
        if waiter is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_resolve, waiter)
    _keeper_cond.notify_all()


def _exit_holders() -> list[NativeCallable[Any]]:
    """The open callables that hold the process at exit (under _lock): keep_isolate_alive, and not isolate_local
    (once its thread has finished, nothing may call an isolate_local callable any more)."""
    return [c for c in _open.values() if c._keep and c._mode != _LOCAL]


def _ended_by_exception() -> bool:
    """Whether the main script ended with an uncaught exception (Python set sys.last_value when printing it)."""
    if hasattr(sys, "ps1"):
        return False  # interactive: last_value is any earlier error
    return getattr(sys, "last_exc", None) is not None or getattr(sys, "last_value", None) is not None


def _wait_at_exit() -> None:
    """Interpreter exit (threading's exit hook, before non-daemon threads are joined): waits while open
    callables keep the process alive, saying after _EXIT_GRACE seconds on stderr which ones and where they were
    made. Not after an uncaught exception (it ends the process, as in Dart); Ctrl-C stops the wait."""
    if _ended_by_exception():
        return
    start, told = time.monotonic(), False
    try:
        with _keeper_cond:
            while True:
                holders = _exit_holders()
                if not holders:
                    return
                waited = time.monotonic() - start
                if not told and waited >= _EXIT_GRACE:
                    told = True
                    names = "; ".join(f"{c!r} made at {c._where}" for c in holders)
                    sys.stderr.write(
                        f"nativeffi: waiting at exit for {len(holders)} open NativeCallable(s) with "
                        f"keep_isolate_alive=True: {names}. The process exits when they are closed; close() them, "
                        "set keep_isolate_alive = False, or press Ctrl-C to stop waiting.\n")
                    sys.stderr.flush()
                _keeper_cond.wait(None if told else _EXIT_GRACE - waited)
    except KeyboardInterrupt:
        sys.stderr.write("nativeffi: stopped waiting for open NativeCallables (Ctrl-C)\n")


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _until_released(loop: asyncio.AbstractEventLoop) -> None:
    while True:
        with _lock:
            if not _held.get(loop):
                return
            fut = _waiters.get(loop)
            if fut is None or fut.done():
                fut = _waiters[loop] = loop.create_future()
        await fut


def run(main: Awaitable[T], *, debug: Optional[bool] = None) -> T:
    """``asyncio.run`` that honours keep-alive: returns once `main` is done and no callable made on this loop
    with ``keep_isolate_alive`` is still open.

    Listeners of the loop that are still open (without keep-alive) move to the library's dispatcher thread,
    so their delivery continues after the loop is gone.

    Args:
        main: the coroutine to run.
        debug: passed to ``asyncio.run``.

    Raises:
        Exception: whatever `main` raises.

    Example:
        >>> async def main():
        ...     done = asyncio.get_running_loop().create_future()
        ...     ls = NativeCallable.listener(NativeFunction[[Int64], Void], lambda x: ls.close())
        ...     ls.native_function.as_function()(1)
        >>> run(main())   # returns after the listener has closed itself
    """

    async def runner() -> T:
        loop = asyncio.get_running_loop()
        result = await main
        await _until_released(loop)
        with _lock:
            orphans = [c for c in _open.values() if c._loop is loop and c._mode == _LISTENER]
        for c in orphans:
            c._rehome(None)
        return result

    return asyncio.run(runner(), debug=debug)


_BACKLOG = 256  # closed listeners whose fd another thread's loop has yet to stop watching, before creation waits


def _backpressure() -> None:
    """Creating a listener for another thread's loop: if that loop lags behind (closed listeners still wait for it
    to remove their reader, each holding an fd), wait a little (GIL released) so that fds do not pile up."""
    deadline = time.monotonic() + 1.0
    while _core._callbacks_closing() > _BACKLOG and time.monotonic() < deadline:
        time.sleep(0.0005)


def _start_watching(loop: asyncio.AbstractEventLoop, fd: int, cb: _core.Callback) -> None:
    """In `loop`'s thread: delivers the listener's calls from now on; if it was closed meanwhile (the fd may be
    closed and its number reused), lets the C core close the fd instead."""
    if cb.closed:
        cb._unwatch()
    else:
        loop.add_reader(fd, cb.drain)


def _stop_watching(loop: asyncio.AbstractEventLoop, fd: int, cb: _core.Callback) -> None:
    """In `loop`'s thread: removes the fd's reader, then lets the C core close the fd once nothing else needs it."""
    try:
        loop.remove_reader(fd)
    finally:
        cb._unwatch()


# -- The class ---------------------------------------------------------------------


class NativeCallable(Generic[F]):
    """A native function pointer that calls a Python callable; make one with ``isolate_local``, ``listener``
    or ``isolate_group_bound`` and pass ``native_function`` (or the callable itself) to C. Close it when
    native code will no longer call it; it is also a context manager that closes on exit.

    A type with ``VarArgs[...]`` (``NativeFunction[[Int, VarArgs[Double, Int64]], Int]``) makes a callable C
    calls through a variadic pointer (``int (*)(int, ...)``) with exactly those variadic types: the arguments
    travel as C's default promotions pass them and reach Python as their declared types (a ``Float`` is the
    double C passed, rounded to float), as a C callee's ``va_arg`` and cast would read them.
    """

    __slots__ = ("_cb", "_mode", "_loop", "_keep", "_fd", "_pointer", "_where", "__weakref__")
    _cb: _core.Callback                          # the C object: record, trampoline, queue
    _mode: int                                   # _LOCAL, _LISTENER or _GROUP
    _loop: Optional[asyncio.AbstractEventLoop]   # owner loop (None: no loop; listeners then use the dispatcher)
    _keep: bool                                  # holds its owner alive (keep_isolate_alive while open)
    _fd: int                                     # listener: the wakeup fd; else -1
    _pointer: Pointer[Any]                       # native_function
    _where: str                                  # "file:line" of the code that made it (exit messages)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use NativeCallable.isolate_local(...), .listener(...) or .isolate_group_bound(...)")

    @classmethod
    def _make(cls, mode: int, type: Any, callback: Any, exceptional_return: Any,
              loop: Optional[asyncio.AbstractEventLoop]) -> NativeCallable[Any]:
        ft = _function_ctype(type)
        if not callable(callback):
            raise TypeError(f"NativeCallable expected a callable, got {callback!r}")
        kind = ("isolate_local", "listener", "isolate_group_bound")[mode]
        if mode == _LISTENER:
            if ft.ret.kind != "void":
                raise TypeError(f"NativeCallable.listener needs a Void return (the caller does not wait for a "
                                f"result), got {ft.name}; use isolate_local or isolate_group_bound to return values")
            extra: tuple[Any, ...] = ()
        elif ft.ret.kind == "void":
            if exceptional_return is not _MISSING:
                raise TypeError(f"NativeCallable.{kind}: exceptional_return must not be given for {ft.name}, "
                                "which returns Void")
            extra = ()
        else:
            if exceptional_return is _MISSING:
                raise TypeError(f"NativeCallable.{kind}: {ft.name} returns {ft.ret.name}, so exceptional_return "
                                "is required: the value native code gets when the callback raises")
            extra = (exceptional_return,)
        self = object.__new__(cls)
        self._cb = _core.Callback(ft, callback, mode, _name_of(callback), *extra)
        self._mode = mode
        self._loop = loop if loop is not None else _running_loop()
        self._keep = False
        self._fd = self._cb.fileno() if mode == _LISTENER else -1
        self._pointer = pointer_class(ft).from_address(self._cb.address)
        self._where = _caller_site()
        with _lock:
            _open[id(self)] = self
        if mode == _LISTENER:
            self._attach(self._loop)
        self.keep_isolate_alive = True
        return self

    @classmethod
    def isolate_local(cls, type: type[NativeFunction[_P, _R]], callback: Callable[_P, _R], *,
                      exceptional_return: Any = _MISSING) -> NativeCallable[Callable[_P, _R]]:
        """A synchronous callable for the creating thread only.

        Args:
            type: ``NativeFunction[[...], R]``, the C signature.
            callback: any Python callable (function, closure, bound method, lambda).
            exceptional_return: what native code gets if `callback` raises (the exception then goes to
                ``sys.unraisablehook``); required unless R is ``Void``, refused if it is.

        Raises:
            TypeError: for a non-function type, a missing or misfitting `exceptional_return`, or
                parameters that cannot be passed by value.

        Invoked from another thread, the native function aborts the process with a message naming the
        callable (``Cannot invoke native callback from a different isolate``), as Dart does.

        Example:
            >>> cmp = NativeCallable.isolate_local(NativeFunction[[Pointer[Int], Pointer[Int]], Int],
            ...                                    lambda a, b: a.value - b.value, exceptional_return=0)
        """
        return cls._make(_LOCAL, type, callback, exceptional_return, None)

    @classmethod
    def listener(cls, type: type[NativeFunction[_P, None]], callback: Callable[_P, object], *,
                 loop: Optional[asyncio.AbstractEventLoop] = None) -> NativeCallable[Callable[_P, object]]:
        """An asynchronous callable for any thread; the call runs later on the owner.

        The native caller copies the raw arguments into a queue and returns at once, without the GIL; the
        Python objects are made on the owner: `loop` (default: the asyncio loop running in this thread),
        else the library's dispatcher thread. Calls from one native thread arrive in the order sent; none
        is lost while the callable is open. Memory that pointer arguments point to must stay valid until
        the callback has run. An exception goes to the loop's exception handler, or to
        ``sys.unraisablehook`` on the dispatcher.

        Args:
            type: ``NativeFunction[[...], Void]``.
            callback: any Python callable.
            loop: the asyncio loop to deliver to.

        Raises:
            TypeError: for a return type other than ``Void``.

        Example:
            >>> events = []
            >>> ls = NativeCallable.listener(NativeFunction[[Int64], Void], events.append)
        """
        return cls._make(_LISTENER, type, callback, _MISSING, loop)

    @classmethod
    def isolate_group_bound(cls, type: type[NativeFunction[_P, _R]], callback: Callable[_P, _R], *,
                            exceptional_return: Any = _MISSING) -> NativeCallable[Callable[_P, _R]]:
        """A synchronous callable for any thread: the calling thread takes the GIL and runs `callback`.

        A native thread Python has never seen gets a thread state on its first call, kept until it exits.
        Deadlock hazard: if native code holds a lock while calling, and Python code holding the GIL waits
        for that lock (directly or through a non-leaf native call that needs it), neither can proceed.

        Args:
            type: ``NativeFunction[[...], R]``.
            callback: any Python callable.
            exceptional_return: as for ``isolate_local``.

        Raises:
            TypeError: as for ``isolate_local``.

        Example:
            >>> start = NativeCallable.isolate_group_bound(NativeFunction[[Pointer[Void]], Pointer[Void]],
            ...                                            lambda arg: arg, exceptional_return=None)
        """
        return cls._make(_GROUP, type, callback, exceptional_return, None)

    # -- listener delivery -------------------------------------------------------------

    def _attach(self, loop: Optional[asyncio.AbstractEventLoop]) -> None:
        """Watches the wakeup fd from `loop` (None: the dispatcher), reporting exceptions accordingly."""
        if loop is None:
            target = _dispatcher_loop()
            self._cb.on_error = None
        else:
            target = loop
            core = self._cb

            def on_error(exc: BaseException) -> None:
                target.call_exception_handler({
                    "message": f"Exception in NativeCallable.listener callback {core.name}",
                    "exception": exc, "native_callable": self})

            self._cb.on_error = on_error
        self._loop = loop
        self._cb._watch()  # the fd stays open, even after close(), until this loop no longer watches it
        if _in_loop_thread(target):
            _start_watching(target, self._fd, self._cb)
        else:
            _backpressure()
            target.call_soon_threadsafe(_start_watching, target, self._fd, self._cb)

    def _detach(self) -> None:
        """Stops `_loop` (None: the dispatcher) watching the fd; only then may the C core close it."""
        target = self._loop if self._loop is not None else (_dispatcher.loop if _dispatcher else None)
        if target is None or target.is_closed():
            self._cb._unwatch()  # its selector is gone with it
            return
        if _in_loop_thread(target):
            _stop_watching(target, self._fd, self._cb)
        else:
            try:
                target.call_soon_threadsafe(_stop_watching, target, self._fd, self._cb)
            except RuntimeError:
                self._cb._unwatch()  # the loop closed meanwhile: its selector is gone with it

    def _rehome(self, loop: Optional[asyncio.AbstractEventLoop]) -> None:
        """Moves delivery to another owner (None: the dispatcher); the keep-alive hold moves too."""
        with _lock:  # close() from another thread waits: its _detach must see where the fd is watched
            if self._cb.closed:
                return
            self._detach()
            if self._keep:
                _hold(self._loop, -1)
                _hold(loop, +1)
            self._attach(loop)

    # -- public API ----------------------------------------------------------------------

    @property
    def native_function(self) -> Pointer[Any]:
        """``Pointer[NativeFunction[...]]`` to pass to C.

        Raises:
            RuntimeError: after ``close()``.
        """
        if self._cb.closed:
            raise RuntimeError(f"NativeCallable {self._cb.name} is closed; its native function no longer exists")
        return self._pointer

    @property
    def __native_pointer__(self) -> Pointer[Any]:
        """What the argument converter passes for this object: ``native_function``."""
        return self.native_function

    @property
    def native_type(self) -> CType:
        """The ``NativeFunction`` CType of the callable."""
        return self._cb.native_type

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has run."""
        return bool(self._cb.closed)

    @property
    def keep_isolate_alive(self) -> bool:
        """Whether this open callable keeps its owner alive (default True; False once closed).

        While it does, the interpreter does not exit at the end of the main script (as with a non-daemon
        thread) and ``nativeffi.run`` does not return. Set to False it holds nothing; delivery continues.
        """
        return self._keep and not self._cb.closed

    @keep_isolate_alive.setter
    def keep_isolate_alive(self, value: bool) -> None:
        value = bool(value)
        with _lock:
            if self._cb.closed or value == self._keep:
                return
            self._keep = value
            _hold(self._loop, 1 if value else -1)

    def close(self) -> None:
        """Closes the callable; idempotent, allowed inside the callback itself.

        Afterwards ``native_function`` raises ``RuntimeError``, ``keep_isolate_alive`` is False and no new call
        reaches `callback` (one already running finishes). A native call that still arrives through the old
        pointer never reaches freed memory: it is dropped (listener) or gets the exceptional return, or zero
        (synchronous), reported once to ``sys.unraisablehook``, until the trampoline is reused, which happens
        only after at least 64 more callables of the same kind and shape were closed; from then on the old
        pointer calls the newer callable.
        """
        with _lock:
            if not self._cb.close():
                return
            _open.pop(id(self), None)
            if self._keep:
                self._keep = False
                _hold(self._loop, -1)
            if self._mode == _LISTENER:
                self._detach()

    def __enter__(self) -> NativeCallable[F]:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._cb)


# -- Interpreter exit and fork -------------------------------------------------------------


def _rehome_orphans() -> None:
    """At interpreter exit: listeners whose asyncio loop has closed move to the dispatcher, so that the
    keep-alive wait can end when their callbacks close them."""
    with _lock:
        orphans = [c for c in _open.values() if c._mode == _LISTENER and c._loop is not None and c._loop.is_closed()]
    for c in orphans:
        c._rehome(None)


def _after_fork_child() -> None:
    """In a forked child: the child owns working copies of the parent's open callables. Listeners get a queue
    and wakeup fd of their own, delivered by the child's dispatcher thread (the parent's event loop is not the
    child's); keep-alive holds are counted anew."""
    global _lock, _keeper_cond, _dispatcher
    _core._callbacks_after_fork_child()
    _lock = threading.RLock()
    _keeper_cond = threading.Condition(_lock)
    _dispatcher = None
    _waiters.clear()
    _held.clear()
    with _lock:
        for c in list(_open.values()):
            if c._mode == _LISTENER:
                c._cb._after_fork()
                c._fd = c._cb.fileno()
                c._attach(None)
            if c._keep:
                _hold(c._loop, +1)


# threading runs these in reverse order at exit, before it joins non-daemon threads: orphans first, then the wait.
threading._register_atexit(_wait_at_exit)  # type: ignore[attr-defined]
threading._register_atexit(_rehome_orphans)  # type: ignore[attr-defined]
atexit.register(_core._callbacks_shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_child)
