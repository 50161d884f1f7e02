"""NativeCallable at the process level, each in a fresh interpreter: keep-alive at exit, the wrong-thread abort,
native threads calling in during interpreter shutdown, and callables after os.fork()."""
from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from helpers import skip_under_qemu_fork_bug, spawn

TIMEOUT = 60  # seconds; only reached if a child hangs, which is itself a failure


@pytest.fixture(scope="module")
def lib(native_lib: Any) -> str:
    return native_lib("callbacks")  # type: ignore[no-any-return]


KEEP_ALIVE = '''
after_read = cfunc("events_after_read", [Pointer[EVENT_FN], Int32], Void)
def on(a, b):
    say(f"delivered {a} {b}")
    ls.close()
ls = NativeCallable.listener(EVENT_FN, on)
ls.keep_isolate_alive = sys.argv[3] == "keep"
after_read(ls, int(sys.argv[2]))
say("main done")
'''


def test_keep_alive_true_keeps_the_process_until_close(lib: str) -> None:
    """The main script ends but the process stays; a later native call is delivered, its callback closes, it exits."""
    r, w = os.pipe()
    p = spawn(KEEP_ALIVE, lib, str(r), "keep", pass_fds=(r,))
    os.close(r)
    assert p.stdout is not None
    assert p.stdout.readline() == "main done\n"
    os.write(w, b"x")  # only now does the native thread call the listener
    out, err = p.communicate(timeout=TIMEOUT)
    os.close(w)
    assert (p.returncode, out) == (0, "delivered 1 2\nexiting\n"), err


def test_keep_alive_false_lets_the_process_exit(lib: str) -> None:
    """With keep_isolate_alive False the process exits after the main script, with the listener still open."""
    r, w = os.pipe()
    p = spawn(KEEP_ALIVE, lib, str(r), "no", pass_fds=(r,))
    os.close(r)
    out, err = p.communicate(timeout=TIMEOUT)
    os.close(w)
    assert (p.returncode, out) == (0, "main done\nexiting\n"), err


def test_isolate_local_from_another_thread_aborts_naming_the_callable(lib: str) -> None:
    """A native thread calling an isolate_local callable aborts the process with Dart's message and the name."""
    p = spawn('''
        in_thread = cfunc("sum_calls_in_thread", [Pointer[I64_FN], Int64, Int64], Int64)
        def my_local_callback(x):
            return x
        cb = NativeCallable.isolate_local(I64_FN, my_local_callback, exceptional_return=0)
        say("calling")
        in_thread(cb, 1, 1)
        say("not reached")
    ''', lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == -signal.SIGABRT
    assert out == "calling\n"
    assert "Cannot invoke native callback from a different isolate" in err
    assert "my_local_callback" in err and "listener" in err


SHUTDOWN = '''
events_forever = cfunc("events_forever", [Pointer[EVENT_FN]], Void)
calls_forever = cfunc("calls_forever", [Pointer[I64_FN]], Void)
started = threading.Barrier(3)
first = set()
def once(kind):
    if kind not in first:
        first.add(kind)
        started.wait()
ls = NativeCallable.listener(EVENT_FN, lambda a, b: once("listener"))
gb = NativeCallable.isolate_group_bound(I64_FN, lambda x: once("group") or x, exceptional_return=-1)
ls.keep_isolate_alive = gb.keep_isolate_alive = False
for _ in range(2):
    events_forever(ls)
    calls_forever(gb)
started.wait()   # both kinds are being called from native threads right now
say("main done")
'''


@pytest.mark.parametrize("run", range(3))
def test_native_threads_calling_during_shutdown(lib: str, run: int) -> None:
    """Native threads calling a listener and a group-bound callable in a loop neither crash, hang, nor get killed
    inside a call while the interpreter exits."""
    p = spawn(SHUTDOWN, lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out, err) == (0, "main done\nexiting\n", "")


@skip_under_qemu_fork_bug
def test_callables_after_fork(lib: str) -> None:
    """After os.fork() the child makes and uses new callables of all three kinds; the parent's still work."""
    p = spawn('''
        call_in_thread = cfunc("sum_calls_in_thread", [Pointer[I64_FN], Int64, Int64], Int64)
        joined = cfunc("events_in_thread_joined", [Pointer[EVENT_FN], Int64, Int32, Int32], Void)
        def use_all(tag):
            got, done = [], threading.Event()
            def on(a, b):
                got.append((a, b))
                if len(got) == 3:
                    done.set()
            with NativeCallable.listener(EVENT_FN, on) as ls, \\
                 NativeCallable.isolate_local(I64_FN, lambda x: x + 1, exceptional_return=-1) as loc, \\
                 NativeCallable.isolate_group_bound(I64_FN, lambda x: 2 * x, exceptional_return=-1) as gb:
                joined(ls, 1, 0, 3)
                assert done.wait(30), tag
                assert got == [(1, 0), (1, 1), (1, 2)], (tag, got)
                assert loc.native_function.as_function()(41) == 42
                assert call_in_thread(gb, 0, 10) == 90
        use_all("parent before fork")
        pid = os.fork()
        if pid == 0:
            try:
                use_all("child")
                say("child ok")
            finally:
                sys.stdout.flush()
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        use_all("parent after fork")
        say(f"parent ok {os.waitstatus_to_exitcode(status)}")
    ''', lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out) == (0, "child ok\nparent ok 0\nexiting\n"), err


# -- What ends the process, and what holds it ---------------------------------------------------------

UNCAUGHT = '''
gb = NativeCallable.isolate_group_bound(I64_FN, lambda x: x, exceptional_return=-1)   # never closed
ls = NativeCallable.listener(EVENT_FN, lambda a, b: None)                               # never closed
say("main done")
raise RuntimeError("boom")
'''


def test_uncaught_exception_ends_the_process_whatever_is_open(lib: str) -> None:
    """An uncaught exception ends the process (traceback, exit status 1) even with keep-alive callables open,
    as an uncaught error ends a Dart isolate whatever ports are open; it hung before."""
    p = spawn(UNCAUGHT, lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out) == (1, "main done\nexiting\n")
    assert err.rstrip().endswith("RuntimeError: boom") and "nativeffi" not in err


FORGOTTEN = '''
import nativeffi.callable
nativeffi.callable._EXIT_GRACE = 0.2
gb = NativeCallable.isolate_group_bound(I64_FN, lambda x: x, exceptional_return=-1)   # never closed
loc = NativeCallable.isolate_local(I64_FN, lambda x: x, exceptional_return=-1)         # never closed: holds nothing
say("main done")
'''


@pytest.mark.parametrize("end", ["", "sys.exit(0)"])
def test_forgotten_close_says_what_holds_the_exit_and_ctrl_c_ends_the_wait(lib: str, end: str) -> None:
    """At a normal end (the script's last line, or sys.exit) with a keep-alive callable never closed, the process
    waits and, after a short grace, says on stderr which callable it waits for, where it was made and how to stop
    waiting; Ctrl-C ends the wait and the process. The never-closed isolate_local callable is not named: it
    holds nothing."""
    p = spawn(FORGOTTEN + end, lib)
    assert p.stdout is not None and p.stderr is not None
    assert p.stdout.readline() == "main done\n"
    line = p.stderr.readline()
    assert line.startswith("nativeffi: waiting at exit for 1 open NativeCallable(s) with keep_isolate_alive=True: "
                           "<NativeCallable.isolate_group_bound <lambda>: NativeFunction[[Int64], Int64]> made at "
                           "<string>:"), line
    assert "close() them, set keep_isolate_alive = False, or press Ctrl-C to stop waiting." in line
    assert p.poll() is None                   # still waiting
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0 and "stopped waiting" in err
    assert out == "exiting\n"


LOCAL_ONLY = '''
loc = NativeCallable.isolate_local(I64_FN, lambda x: x, exceptional_return=-1)   # keep_isolate_alive, never closed
assert loc.keep_isolate_alive
say("main done")
'''


def test_isolate_local_does_not_hold_a_finished_main_thread(lib: str) -> None:
    """An open isolate_local callable does not keep the process alive once the main script ends: only its own
    thread may call it, and that thread has finished."""
    p = spawn(LOCAL_ONLY, lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out, err) == (0, "main done\nexiting\n", "")


FORK_LISTENER = '''
import time
joined = cfunc("events_in_thread_joined", [Pointer[EVENT_FN], Int64, Int32, Int32], Void)
got, done = [], threading.Event()
def on(a, b):
    got.append((os.getpid(), a, b))
    if len(got) == 2:
        done.set()
ls = NativeCallable.listener(EVENT_FN, on)      # delivered by the dispatcher thread
ls.keep_isolate_alive = False
joined(ls, 1, 0, 1)                             # before the fork: delivered in the parent only
while not got:
    time.sleep(0.001)
pid = os.fork()
if pid == 0:
    try:
        got.clear()
        joined(ls, 2, 0, 2)                     # the child's own native thread calls the inherited pointer
        assert done.wait(30), got
        say(f"child {[(p == os.getpid(), a, b) for p, a, b in got]}")
    finally:
        sys.stdout.flush()
        os._exit(0)
_, status = os.waitpid(pid, 0)
joined(ls, 3, 0, 1)
assert done.wait(30), got
say(f"parent {[(p == os.getpid(), a, b) for p, a, b in got]} {os.waitstatus_to_exitcode(status)}")
'''


@skip_under_qemu_fork_bug
def test_listener_inherited_by_a_forked_child_delivers_in_each_process(lib: str) -> None:
    """A listener open across os.fork() works in both processes: messages the child's native threads send
    through the inherited pointer are delivered in the child (by its own dispatcher), and the parent's in the
    parent; none is lost and none crosses over (the child's were silently dropped before)."""
    p = spawn(FORK_LISTENER, lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out) == (0, "child [(True, 2, 0), (True, 2, 1)]\n"
                                      "parent [(True, 1, 0), (True, 3, 0)] 0\nexiting\n"), err


FORK_KEEP_ALIVE = '''
got, done = [], threading.Event()
def on(a, b):
    got.append(a)
    if len(got) == 2:
        done.set()
joined = cfunc("events_in_thread_joined", [Pointer[EVENT_FN], Int64, Int32, Int32], Void)
a = NativeCallable.listener(EVENT_FN, on)          # keep_isolate_alive: the default
b = NativeCallable.listener(EVENT_FN, on)
import warnings  # 3.12+ warns on fork() with threads running (here the dispatcher), which this test does on purpose
warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
pid = os.fork()
if pid == 0:
    try:
        joined(a, 1, 0, 1)
        joined(b, 2, 0, 1)
        ok = done.wait(30)
        say(f"child {sorted(got)} {ok}")
        a.close(); b.close()
    finally:
        sys.stdout.flush()
        os._exit(0)
os.waitpid(pid, 0)
a.close(); b.close()
'''


@skip_under_qemu_fork_bug
def test_fork_with_keep_alive_listeners_gives_the_child_its_own(lib: str) -> None:
    """Two keep-alive listeners open across fork(): the child gets a queue and fd of its own for each (the
    fork hook stopped at the first one before, leaving the second on the parent's fd) and both deliver."""
    p = spawn(FORK_KEEP_ALIVE, lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out, err) == (0, "child [1, 2] True\nexiting\n", "")


FORK_IN_CALLBACK = '''
import asyncio, time
FT = NativeFunction[[Int64], Void]
loop = asyncio.new_event_loop()
got = []
def cb(x):
    got.append(x)
    if x == -1 and os.fork() == 0:
        got.append("child")
ls = NativeCallable.listener(FT, cb, loop=loop)
ls.keep_isolate_alive = False
f = ls.native_function.as_function()
f(-1)
ls._cb.drain()                           # forks inside the callback
if "child" in got:
    try:
        got.clear()
        for i in range(5):
            f(i)                         # through the child's own queue, to the child's dispatcher
        deadline = time.monotonic() + 30
        while len(got) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        say(f"child {got}")
    finally:
        sys.stdout.flush()
        os._exit(0)
os.wait()
ls.close()
say("parent ok")
'''


def test_fork_inside_a_listener_callback(lib: str) -> None:
    """A listener callback that forks: in the child the drain in progress stops (its message node belongs to the
    parent's pool, which is left alone) and the listener works on a queue of its own (a use after free before)."""
    p = spawn(FORK_IN_CALLBACK, lib)
    out, err = p.communicate(timeout=TIMEOUT)
    assert (p.returncode, out) == (0, "child [0, 1, 2, 3, 4]\nparent ok\nexiting\n"), err


def test_spawned_children_take_ctrl_c_even_when_the_tests_ignore_it(lib: str) -> None:
    """The children the exit tests start raise KeyboardInterrupt on SIGINT even when the test runner itself was
    started ignoring SIGINT (a background job of a non-interactive shell), so those tests check nativeffi and not
    how the runner was started."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        p = spawn("import signal\n"
                  "say(f'default_int_handler: {signal.getsignal(signal.SIGINT) is signal.default_int_handler}')", lib)
    finally:
        signal.signal(signal.SIGINT, previous)
    out, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0, err
    assert out.splitlines()[0] == "default_int_handler: True"
