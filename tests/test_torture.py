"""Torture: close() racing swarms of native callers for 10,000 rounds, deep recursion through C, a million
listener messages, fork under load, and interpreter exit while native threads call every kind.

The counts are the issue's; NATIVEFFI_TORTURE_SCALE (default 1) multiplies them for a longer run."""
from __future__ import annotations

import os
import sys
import threading
from typing import Any

import pytest

from helpers import BIG3_FN, UNDER_ASAN, cfunc, skip_under_qemu_fork_bug, spawn
from nativeffi import Int32, Int64, NativeCallable, NativeFunction, Pointer, Void

SCALE = float(os.environ.get("NATIVEFFI_TORTURE_SCALE", "1"))
EVENT_FN = NativeFunction[[Int64, Int32], Void]
I64_FN = NativeFunction[[Int64], Int64]
TIMEOUT = 120  # seconds; only reached if something hangs, which is itself a failure



@pytest.fixture(scope="module")
def lib(native_lib: Any) -> str:
    return native_lib("lifetime")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def c(lib: str) -> Any:
    """The helper library's swarms of native callers and its recursion entry."""
    class C:
        swarm_start = cfunc(lib, "swarm_start", [Int32, Int32], Pointer[Void], is_leaf=False)
        swarm_set = cfunc(lib, "swarm_set", [Pointer[Void], Pointer[Void]], Void)
        swarm_wait = cfunc(lib, "swarm_wait", [Pointer[Void], Int64], Int64, is_leaf=False)
        swarm_wait_leaf = cfunc(lib, "swarm_wait", [Pointer[Void], Int64], Int64)
        swarm_stop = cfunc(lib, "swarm_stop", [Pointer[Void]], Int64, is_leaf=False)
        recurse = cfunc(lib, "recurse", [Pointer[I64_FN], Int64], Int64, is_leaf=False)
    return C


# -- close() racing native callers ----------------------------------------------------------------

ROUNDS = int(10_000 * SCALE)
MODES = {  # mode -> (kind in lifetime.c, how to make a callable of it)
    "listener": (0, lambda fn: NativeCallable.listener(EVENT_FN, fn)),
    "group_bound": (1, lambda fn: NativeCallable.isolate_group_bound(I64_FN, fn, exceptional_return=1)),
    "group_bound_libffi": (2, lambda fn: NativeCallable.isolate_group_bound(BIG3_FN, fn, exceptional_return=1)),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_close_races_a_swarm_of_native_callers(c: Any, unraisable: list, mode: str) -> None:
    """10,000 rounds (1,250 for each swarm of 1..8 native threads): a callable is published to threads calling in
    a tight loop, called, closed under them while they go on calling it, and replaced; every 50 rounds 50 more
    callables come and go so closed trampolines are reused under late callers. Nothing touches freed memory
    (ASan checks this in CI) and no new synchronous call reaches Python once close() has returned."""
    kind, make = MODES[mode]
    per_swarm = max(1, ROUNDS // 8)
    # Listeners never need the GIL: waiting with it held keeps the dispatcher's deliveries from slowing each
    # round to a GIL hand-off. Synchronous callers need it, so the wait releases it.
    wait = c.swarm_wait_leaf if mode == "listener" else c.swarm_wait
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)   # the main thread gets the GIL back from the swarm in microseconds, not 5 ms
    try:
        race_swarms(c, make, kind, per_swarm, wait, mode != "listener")
    finally:
        sys.setswitchinterval(interval)


def race_swarms(c: Any, make: Any, kind: int, per_swarm: int, wait: Any, synchronous: bool) -> None:
    """The rounds of test_close_races_a_swarm_of_native_callers, for swarms of 1..8 threads."""
    for threads in range(1, 9):
        swarm = c.swarm_start(kind, threads)
        try:
            for rnd in range(per_swarm):
                calls: list[int] = []
                cb = make(lambda *a: calls.append(1) or 1)
                c.swarm_set(swarm, cb.native_function.cast(Void))
                wait(swarm, threads)                   # they are calling it now
                cb.close()
                at_close = len(calls)
                wait(swarm, threads)                   # and go on calling the closed pointer
                if synchronous:
                    assert len(calls) <= at_close + threads
                if rnd % 50 == 0:
                    for _ in range(50):
                        make(lambda *a: 0).close()
        finally:
            c.swarm_set(swarm, None)
            c.swarm_stop(swarm)


# -- Recursion through C ----------------------------------------------------------------------------

# CPython 3.12 caps C recursion at 1,500 calls whatever sys.setrecursionlimit says (3.11 has no such cap, 3.13
# raises it to 10,000), and each level here takes two (the downcall and the callback's call into Python)
RECURSION_DEPTH = 700 if sys.version_info[:2] == (3, 12) else 1000


def test_recursion_callback_native_callback_1000_deep(c: Any) -> None:
    """A callback calls C, which calls the callback, 1,000 levels deep (700 on 3.12, see RECURSION_DEPTH; on a
    thread with a large stack): every level returns its value and the sum comes back exact."""
    result: list[Any] = []

    def body() -> None:
        def f(depth: int) -> int:
            return 0 if depth == 0 else depth + c.recurse(cb, depth - 1)
        with NativeCallable.isolate_local(I64_FN, f, exceptional_return=-(10**9)) as cb:
            result.append(c.recurse(cb, RECURSION_DEPTH))

    old_limit, old_size = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(20_000)
    threading.stack_size(256 << 20)
    try:
        t = threading.Thread(target=body)
        t.start()
        t.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    assert result == [RECURSION_DEPTH * (RECURSION_DEPTH + 1) // 2]


# -- A million listener messages ----------------------------------------------------------------------

def test_a_million_listener_messages_from_4_threads_none_lost_in_order(native_lib: Any) -> None:
    """4 native threads send 250,000 messages each: all 1,000,000 arrive, each thread's in the order sent."""
    producers = cfunc(native_lib("callbacks"), "events_from_producers", [Pointer[EVENT_FN], Int32, Int32], Void,
                      is_leaf=False)
    per = int(250_000 * SCALE)
    last = [-1] * 4
    out_of_order = 0
    count = 0
    done = threading.Event()

    def on(a: int, b: int) -> None:
        nonlocal out_of_order, count
        if b != last[a] + 1:
            out_of_order += 1
        last[a] = b
        count += 1
        if count == 4 * per:
            done.set()

    with NativeCallable.listener(EVENT_FN, on) as ls:
        producers(ls, 4, per)
        assert done.wait(TIMEOUT), count
    assert (count, out_of_order, last) == (4 * per, 0, [per - 1] * 4)


# -- Fork and exit under load -------------------------------------------------------------------------

SWARMS = '''
lt = sys.argv[2]
def lfunc(symbol, params, ret, leaf=False):
    return Pointer[NativeFunction[params, ret]].from_address(assets.lookup(lt, symbol)).as_function(is_leaf=leaf)
swarm_start = lfunc("swarm_start", [Int32, Int32], Pointer[Void])
swarm_set = lfunc("swarm_set", [Pointer[Void], Pointer[Void]], Void, True)
swarm_wait = lfunc("swarm_wait", [Pointer[Void], Int64], Int64)
'''  # the child's swarm functions, from the lifetime library (argv[2])

FORK_UNDER_LOAD = SWARMS + '''
joined = cfunc("events_in_thread_joined", [Pointer[EVENT_FN], Int64, Int32, Int32], Void)
done = threading.Event()
def on(a, b):
    if a == 7:
        done.set()
ls = NativeCallable.listener(EVENT_FN, on)          # delivered by the dispatcher thread
ls.keep_isolate_alive = False
swarm = swarm_start(0, 3)
swarm_set(swarm, ls.native_function.cast(Void))
for i in range(20):
    swarm_wait(swarm, 1000)                         # three native threads flood the listener meanwhile
    pid = os.fork()
    if pid == 0:                                    # only the forking thread lives on in the child
        try:
            done.clear()
            joined(ls, 7, 0, 1)
            assert done.wait(30)
        finally:
            os._exit(0 if done.is_set() else 3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
say("forks ok")
'''


@pytest.mark.skipif(UNDER_ASAN, reason="ASan's allocator (GCC 12) has no fork handlers: a fork while other threads "
                    "allocate can leave its lock held in the child, which then deadlocks in malloc")
@skip_under_qemu_fork_bug
def test_fork_while_native_threads_flood_a_listener(native_lib: Any, lib: str) -> None:
    """20 forks while 3 native threads send to a listener delivered by the dispatcher thread: each child gets a
    working listener of its own (its message arrives there) and the parent goes on."""
    p = spawn(FORK_UNDER_LOAD, native_lib("callbacks"), lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out) == (0, "forks ok\nexiting\n"), err


EXIT_UNDER_LOAD = SWARMS + '''
from nativeffi import Struct
class Big3(Struct):
    a: Int64
    b: Int64
    c: Int64
kinds = [
    (0, NativeCallable.listener(EVENT_FN, lambda a, b: None)),
    (1, NativeCallable.isolate_group_bound(I64_FN, lambda x: x, exceptional_return=-1)),
    (2, NativeCallable.isolate_group_bound(NativeFunction[[Big3], Int64], lambda s: s.a, exceptional_return=-1)),
]
for kind, cb in kinds:
    cb.keep_isolate_alive = False
    s = swarm_start(kind, 2)
    swarm_set(s, cb.native_function.cast(Void))
    swarm_wait(s, 100)
closed = kinds[int(sys.argv[3])][1]
closed.close()                                       # one of them closed just before exit, still being called
say("main done")
'''


LATE_REPORT = ("RuntimeError: native code called NativeCallable <lambda> after close(); it got the exceptional "
               "return (or zero) and Python was not called (reported once)")


@pytest.mark.parametrize("closed", [0, 1, 2])
def test_exit_while_native_threads_call_every_kind(native_lib: Any, lib: str, closed: int) -> None:
    """The interpreter exits while 6 native threads call a listener and two group-bound callables (thunk and
    libffi), one of them closed just before: no crash, no hang, exit status 0."""
    p = spawn(EXIT_UNDER_LOAD, native_lib("callbacks"), lib, str(closed))
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out) == (0, "main done\nexiting\n"), err
    # the only thing said: the closed synchronous callable's late calls, reported once
    assert set(err.splitlines()) <= {"Exception ignored in: None", LATE_REPORT}, err
