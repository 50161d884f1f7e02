"""Callback lifetimes: close() racing native callers, late calls through closed pointers, trampoline reuse,
the shutdown handshake with nested callbacks, and what a closed listener gives back (memory, its fd)."""
from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from typing import Any

import pytest

from helpers import BIG3_FN, UNDER_ASAN, cfunc, spawn
from nativeffi import _core
from nativeffi import Array, Int32, Int64, NativeCallable, NativeFunction, Pointer, Struct, Uint8, Void

EVENT_FN = NativeFunction[[Int64, Int32], Void]
I64_FN = NativeFunction[[Int64], Int64]
TIMEOUT = 60  # seconds; only reached if a child hangs, which is itself a failure

KIND_EVENT, KIND_I64, KIND_BIG3 = 0, 1, 2


@pytest.fixture(scope="module")
def lib(native_lib: Any) -> str:
    return native_lib("lifetime")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def c(lib: str) -> Any:
    """The helper library: racing native threads, and single calls through a (possibly closed) pointer."""
    class C:
        race_start = cfunc(lib, "race_start", [Pointer[Void], Int32, Int32], Pointer[Void], is_leaf=False)
        race_stop = cfunc(lib, "race_stop", [Pointer[Void]], Int64, is_leaf=False)
        call_event = cfunc(lib, "call_event", [Pointer[Void], Int64, Int32], Void, is_leaf=False)
        call_i64 = cfunc(lib, "call_i64", [Pointer[Void], Int64], Int64, is_leaf=False)
        call_big3 = cfunc(lib, "call_big3", [Pointer[Void], Int64], Int64, is_leaf=False)
        call_i64_in_thread = cfunc(lib, "call_i64_in_thread", [Pointer[Void], Int64], Int64, is_leaf=False)
    return C


def address(cb: NativeCallable[Any]) -> Pointer[Void]:
    """The callable's native function pointer as a plain void pointer (it stays usable after close)."""
    return cb.native_function.cast(Void)


def churn(n: int) -> None:
    """Creates and closes `n` callables of every kind and trampoline (thunk and libffi)."""
    for i in range(n):
        NativeCallable.listener(EVENT_FN, lambda a, b: None).close()
        NativeCallable.isolate_group_bound(I64_FN, lambda x: x, exceptional_return=0).close()
        NativeCallable.isolate_local(BIG3_FN, lambda s: 0, exceptional_return=0).close()


# -- Late calls -----------------------------------------------------------------------------------

LATE_CASES = [(I64_FN, "call_i64", "thunk"), (BIG3_FN, "call_big3", "libffi")]


@pytest.mark.parametrize("fn_type, call, kind", LATE_CASES)
def test_late_call_gets_its_exceptional_return_until_reuse(c: Any, unraisable: list, fn_type: Any, call: str,
                                                           kind: str) -> None:
    """A call through a closed callable's pointer gets its own exceptional_return (reported once) after 40 x 3
    other callables were closed since, on a thunk and on a libffi closure (which segfaulted after 64 closes):
    fewer than the reuse distance of either pool."""
    cb = NativeCallable.isolate_local(fn_type, lambda *a: 1, exceptional_return=-7)
    assert cb._cb.trampoline == kind
    p = address(cb)
    cb.close()
    churn(40)
    gc.collect()
    assert getattr(c, call)(p, 5) == -7
    assert getattr(c, call)(p, 5) == -7
    assert len(unraisable) == 1 and "after close()" in str(unraisable[0].exc_value)


@pytest.mark.parametrize("fn_type, call, kind", LATE_CASES)
def test_late_call_after_reuse_reaches_a_live_callable_of_its_kind(c: Any, unraisable: list, fn_type: Any,
                                                                   call: str, kind: str) -> None:
    """Once 300 x 3 callables have come and gone, the closed callable's trampoline has been reused: a late call
    lands in the record now there (a closed churn callable of the same kind: its exceptional return 0), never
    in freed memory (ASan checks this in CI) and never in a listener."""
    cb = NativeCallable.isolate_local(fn_type, lambda *a: 1, exceptional_return=-7)
    p = address(cb)
    cb.close()
    churn(300)
    assert getattr(c, call)(p, 5) in (-7, 0)


def test_closed_listener_pointer_does_not_reach_the_next_listener(c: Any) -> None:
    """Trampolines are reused oldest-first: after a listener closes and 300 others of its signature come and go,
    a new listener gets another address, and calls through the closed pointer never reach it."""
    got: list[Any] = []
    old = NativeCallable.listener(EVENT_FN, got.append)
    p = address(old)
    old.close()
    for _ in range(300):
        NativeCallable.listener(EVENT_FN, lambda a, b: None).close()
    done = threading.Event()
    new = NativeCallable.listener(EVENT_FN, lambda a, b: (got.append((a, b)), done.set()))
    try:
        assert address(new) != p
        c.call_event(p, 1, 1)          # dropped: the old listener is closed
        c.call_event(new, 2, 2)
        assert done.wait(TIMEOUT)
        assert got == [(2, 2)]
    finally:
        new.close()


# -- close() racing native threads ----------------------------------------------------------------

RACE_ROUNDS = int(os.environ.get("NATIVEFFI_RACE_ROUNDS", "300"))


@pytest.mark.parametrize("mode", ["listener", "group_bound", "group_bound_libffi"])
def test_close_races_native_callers(c: Any, unraisable: list, mode: str) -> None:
    """close() while 1..8 native threads call the callable in a tight loop, then more closes that would recycle
    its memory: the callers never touch freed memory (ASan checks this in CI), and once close() has returned
    no new synchronous call reaches Python (at most one per thread was already running)."""
    for rnd in range(RACE_ROUNDS):
        calls: list[int] = []

        def fn(*args: Any) -> int:
            calls.append(1)
            return 1

        threads = 1 + rnd % 8
        if mode == "listener":
            cb: NativeCallable[Any] = NativeCallable.listener(EVENT_FN, fn)
            kind = KIND_EVENT
        elif mode == "group_bound":
            cb = NativeCallable.isolate_group_bound(I64_FN, fn, exceptional_return=1)
            kind = KIND_I64
        else:
            cb = NativeCallable.isolate_group_bound(BIG3_FN, fn, exceptional_return=1)
            kind = KIND_BIG3
        racer = c.race_start(address(cb), kind, threads)
        cb.close()
        at_close = len(calls)
        if rnd % 10 == 0:
            churn(25)                  # recycles trampolines and records while the racers still call
        assert c.race_stop(racer) > 0
        if mode != "listener":         # a listener may still deliver what was queued before close()
            assert len(calls) <= at_close + threads


# -- Shutdown handshake ---------------------------------------------------------------------------

NESTED_AT_EXIT = '''
lt = sys.argv[2]
def lfunc(symbol, params, ret):
    return Pointer[NativeFunction[params, ret]].from_address(assets.lookup(lt, symbol)).as_function()
call_i64 = lfunc("call_i64", [Pointer[Void], Int64], Int64)
detached = lfunc("call_i64_detached", [Pointer[Void], Int64], Void)
import time
inner_done = threading.Event()
def inner(x):
    inner_done.set()
    return x
def outer(x):
    if x == 0:
        call_i64(b.native_function.cast(Void), 5)   # callback -> native -> callback, on this foreign thread
        time.sleep(0.5)                             # still inside the outer callback when the exit hook runs
        say("outer done")
    return x
b = NativeCallable.isolate_group_bound(I64_FN, inner, exceptional_return=-1)
a = NativeCallable.isolate_group_bound(I64_FN, outer, exceptional_return=-1)
a.keep_isolate_alive = b.keep_isolate_alive = False
detached(a.native_function.cast(Void), 0)
inner_done.wait()
say("main done")
'''


def test_exit_waits_for_outer_callback_after_nested_one_returned(lib: str, native_lib: Any) -> None:
    """Callback A on a native thread calls native code that calls callback B: B's return does not end A's
    in-flight mark, so the exit hook waits for A (which finishes) instead of finalizing under it."""
    p = spawn(NESTED_AT_EXIT, native_lib("callbacks"), lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out, err) == (0, "main done\nexiting\nouter done\n", "")


# -- What a closed listener gives back ------------------------------------------------------------

class Mib(Struct):
    data: Array[Uint8, 1 << 20]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def wait_until_idle() -> None:
    """Waits (bounded) until no closed callable waits for its loop to stop watching its fd."""
    deadline = time.monotonic() + TIMEOUT
    while _core._callbacks_closing() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert _core._callbacks_closing() == 0


@pytest.mark.skipif(UNDER_ASAN, reason="AddressSanitizer holds freed memory in its quarantine: RSS says nothing")
def test_closed_listener_frees_its_message_pool() -> None:
    """A listener of a 1 MiB struct parameter preallocates one message node (16 before: 16 MiB); once closed and no longer
    watched by its loop (here the dispatcher's), the pool is freed, so 30 create/close cycles do not grow RSS
    (they grew it by 480 MiB when closed listeners kept their pool)."""
    mib_fn = NativeFunction[[Mib], Void]
    with NativeCallable.listener(mib_fn, lambda m: None) as first:
        assert first._cb._queue_stats()["pool_nodes"] == 1    # large messages: one node to begin with
    wait_until_idle()
    before = rss_bytes()
    for _ in range(30):
        NativeCallable.listener(mib_fn, lambda m: None).close()
        wait_until_idle()
    assert rss_bytes() - before < 8 << 20


FD_REUSE = '''
import asyncio
errors = []
def on_error(loop, ctx):
    errors.append(ctx.get("message"))
async def main():
    asyncio.get_running_loop().set_exception_handler(on_error)
    keep = NativeCallable.listener(EVENT_FN, lambda a, b: None)   # another open callable meanwhile
    for i in range(2000):
        ls = NativeCallable.listener(EVENT_FN, lambda a, b: None)
        if i % 2:
            ls.close()                                                    # in the loop thread
        else:
            await asyncio.get_running_loop().run_in_executor(None, ls.close)  # from another thread
    keep.close()
from nativeffi import run
from nativeffi.callable import _dispatcher_loop
_dispatcher_loop().call_soon_threadsafe(_dispatcher_loop().set_exception_handler, on_error)
keep = NativeCallable.listener(EVENT_FN, lambda a, b: None)
for i in range(2000):                 # no loop here: delivered by the dispatcher thread, closed from this one
    NativeCallable.listener(EVENT_FN, lambda a, b: None).close()
keep.close()
run(main())
say(f"errors {len(errors)}")
'''


def test_listener_fd_is_closed_only_after_the_loop_stops_watching_it(lib: str) -> None:
    """Listeners created and closed 2,000 times on the dispatcher (closed from the main thread) and 2,000
    times in a running loop (closed from the loop thread and from another thread): the wakeup fd is closed only after the loop removed its reader, so no fd number is
    closed or reused under the loop and nothing reaches the loop's exception handler or stderr."""
    p = spawn(FD_REUSE, lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out, err) == (0, "errors 0\nexiting\n", "")


def test_closed_listeners_waiting_for_their_loop_hold_a_bounded_number_of_fds() -> None:
    """Listeners created and closed 3,000 times from a thread that is not their loop's (here the dispatcher's):
    each fd stays open until the loop removes its reader, but creation waits for a lagging loop, so the open fds
    stay bounded (they reached thousands, past a common ulimit of 1,024)."""
    most = 0
    for i in range(3000):
        NativeCallable.listener(EVENT_FN, lambda a, b: None).close()
        if i % 100 == 0:
            most = max(most, len(os.listdir("/proc/self/fd")))
    wait_until_idle()
    assert most < 600


def test_listener_closed_by_a_finalizer_while_its_message_is_being_made(unraisable: list) -> None:
    """Making a message's arguments can run Python code (here a finalizer, collected when the Pointer argument is
    allocated) that closes the listener: the delivery already begun completes with the function it started
    with, and nothing reads the cleared callable (a segfault before)."""
    loop = asyncio.new_event_loop()            # never run: drained by hand
    got: list[Any] = []
    ls = NativeCallable.listener(NativeFunction[[Pointer[Int64]], Void], got.append, loop=loop)
    ls.keep_isolate_alive = False
    ls.native_function.as_function()(None)     # one message queued

    closed_in_drain = []

    class Bomb:
        def __del__(self) -> None:
            closed_in_drain.append(draining)
            ls.close()

    drain = ls._cb.drain
    draining = False
    held = [Pointer[Int64].from_address(8) for _ in range(1000)]  # so the argument's memory is new, not reused
    gc.collect()
    bomb = Bomb()
    bomb.cycle = bomb  # type: ignore[attr-defined]
    del bomb
    threshold = gc.get_threshold()
    gc.set_threshold(1)                        # the argument's allocation runs the collector
    try:
        draining = True
        drain()
    finally:
        gc.set_threshold(*threshold)
        loop.close()
    del held
    assert closed_in_drain == [True] and ls.closed
    assert len(got) == 1                       # its delivery had begun: it completes


def test_thunk_slot_is_not_reused_before_64_newer_ones_retire(c: Any, unraisable: list) -> None:
    """Once every thunk slot of a table has been used, a slot closed just now does not serve the next callable
    (it went to the very next one before): the table keeps 64 retired slots, and meanwhile new callables get
    libffi closures; the closed pointer still gets its own exceptional return."""
    made = []
    for _ in range(300):               # every slot of the table used once
        made.append(NativeCallable.isolate_local(I64_FN, lambda x: x, exceptional_return=0))
    for cb in made:
        cb.close()
    last = NativeCallable.isolate_local(I64_FN, lambda x: 1001, exceptional_return=-7)
    p = address(last)
    last.close()
    nxt = NativeCallable.isolate_local(I64_FN, lambda x: 2002, exceptional_return=0)
    try:
        assert address(nxt) != p
        assert c.call_i64(p, 1) == -7
    finally:
        nxt.close()
