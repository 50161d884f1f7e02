"""Callback benchmarks: NativeCallable against a direct ``PyObject_Vectorcall`` loop, ctypes and cffi.

Measures, as the NativeCallable issue lists them:

- the native-side cost of one listener call (mean and max) while the Python thread is busy in a CPU loop, and
  where the calls over 50 us come from: the same timing around a C no-op function (the machine's own
  spikes), the producer's context switches and page faults (getrusage), and a diagnostic run that
  attributes each spike to what happened during that very call;
- listener messages delivered per second (1 and 4 native producers);
- an ``isolate_local`` upcall from a C loop, against the same loop calling ``PyObject_Vectorcall`` itself;
- an ``isolate_group_bound`` call from a foreign thread, against the same-thread upcall and against a C thread that
  takes the GIL with its own thread state to call ``PyObject_Vectorcall`` (the foreign-thread floor);
- the same work through ctypes (``CFUNCTYPE``, ``call_soon_threadsafe``) and cffi (``ffi.callback``).

A benchmark, not a test: numbers depend on the machine; compare ratios. The C helper is compiled on first
use with the system compiler (``cc``) against this interpreter's headers.

Run it alone with ``python -m nativeffi.bench.callbacks``, or call ``run(report)`` from a suite runner.
"""
from __future__ import annotations

import array
import asyncio
import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from typing import Any, Callable, Optional

from .. import Double, Int32, Int64, NativeCallable, NativeFunction, Pointer, Void, assets

__all__ = ["run", "main", "Report"]

Report = Callable[[str, float, str, str], None]
"""report(name, value, unit, note): one row of results."""

C_SOURCE = r'''
/* Benchmark helper for nativeffi.bench.callbacks: C loops that call function pointers or Python directly. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

typedef int64_t (*i64_fn)(int64_t);
typedef void (*ev_fn)(int64_t);

int64_t loop_fp(i64_fn f, int64_t n)
{
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++)
        s += f(i);
    return s;
}

/* The floor: what a hand-written C extension would do (needs the GIL held by the caller). */
int64_t loop_vectorcall(PyObject *fn, int64_t n)
{
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++) {
        PyObject *arg = PyLong_FromLongLong(i);
        PyObject *r = PyObject_Vectorcall(fn, &arg, 1, NULL);
        Py_DECREF(arg);
        if (!r)
            return -1;
        s += PyLong_AsLongLong(r);
        Py_DECREF(r);
    }
    return s;
}

static int64_t now_ns(void);

struct vjob { PyObject *fn; int64_t n, sum, elapsed; };

static void *vloop_main(void *p)
{
    struct vjob *j = p;
    PyThreadState *ts = PyThreadState_New(PyInterpreterState_Main());  /* made once, as NativeCallable does */
    int64_t t0 = now_ns();
    for (int64_t i = 0; i < j->n; i++) {
        PyEval_RestoreThread(ts);
        PyObject *arg = PyLong_FromLongLong(i);
        PyObject *r = PyObject_Vectorcall(j->fn, &arg, 1, NULL);
        Py_DECREF(arg);
        if (r) {
            j->sum += PyLong_AsLongLong(r);
            Py_DECREF(r);
        } else {
            PyErr_Clear();
        }
        PyEval_SaveThread();
    }
    j->elapsed = now_ns() - t0;
    PyEval_RestoreThread(ts);
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
    return NULL;
}

/* The foreign-thread floor: a new thread with its own thread state takes the GIL, calls PyObject_Vectorcall and
   drops the GIL, n times (the caller must not hold the GIL); returns its elapsed ns (thread creation excluded). */
int64_t loop_vectorcall_in_thread(PyObject *fn, int64_t n)
{
    struct vjob j = {.fn = fn, .n = n};
    pthread_t t;
    pthread_create(&t, NULL, vloop_main, &j);
    pthread_join(t, NULL);
    return j.elapsed;
}

static int64_t cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* One producer thread's work and results. A spike is a call over 50 us. */
struct job {
    i64_fn f; ev_fn e; int64_t n, sum, elapsed, max, slow;
    int64_t nivcsw, nvcsw, minflt;       /* the thread's involuntary / voluntary switches, page faults in the run */
    int64_t slow_ns;                     /* time spent in the spikes */
    int diag;                            /* also read getrusage and the thread's CPU clock around every call */
    int64_t diag_slow[5];                /* diag: spikes with, during that very call, an involuntary switch; else a
                                            voluntary one; else a page fault; else the thread off the CPU over
                                            half the time without a switch; else none of these */
    pthread_barrier_t *start;
};

static void *loop_main(void *p)
{
    struct job *j = p;
    int64_t t0 = now_ns();
    j->sum = loop_fp(j->f, j->n);
    j->elapsed = now_ns() - t0;
    return NULL;
}

/* A new thread runs loop_fp(f, n); returns its elapsed ns (thread creation excluded). */
int64_t loop_fp_in_thread(i64_fn f, int64_t n)
{
    struct job j = {.f = f, .n = n};
    pthread_t t;
    pthread_create(&t, NULL, loop_main, &j);
    pthread_join(t, NULL);
    return j.elapsed;
}

static void *events_main(void *p)
{
    struct job *j = p;
    if (j->start)
        pthread_barrier_wait(j->start);
    struct rusage r0, r1;
    getrusage(RUSAGE_THREAD, &r0);
    int64_t t0 = now_ns(), max = 0;
    for (int64_t i = 0; i < j->n; i++) {
        struct rusage ua;
        int64_t ca = 0;
        if (j->diag) {
            getrusage(RUSAGE_THREAD, &ua);
            ca = cpu_ns();
        }
        int64_t a = now_ns();
        j->e(i);
        int64_t d = now_ns() - a;
        if (d > max)
            max = d;
        if (d > 50000) {
            j->slow++;
            j->slow_ns += d;
            if (j->diag) {
                int64_t cpu = cpu_ns() - ca;
                struct rusage ub;
                getrusage(RUSAGE_THREAD, &ub);
                int k = ub.ru_nivcsw > ua.ru_nivcsw ? 0 : ub.ru_nvcsw > ua.ru_nvcsw ? 1
                      : ub.ru_minflt + ub.ru_majflt > ua.ru_minflt + ua.ru_majflt ? 2 : 2 * cpu < d ? 3 : 4;
                j->diag_slow[k]++;
            }
        }
    }
    j->elapsed = now_ns() - t0;
    getrusage(RUSAGE_THREAD, &r1);
    j->nivcsw = r1.ru_nivcsw - r0.ru_nivcsw;
    j->nvcsw = r1.ru_nvcsw - r0.ru_nvcsw;
    j->minflt = r1.ru_minflt - r0.ru_minflt + r1.ru_majflt - r0.ru_majflt;
    j->max = max;
    return NULL;
}

/* `threads` new threads each call e(0..n-1), timing every call. out: [0] total ns of the timed loops, [1] max ns,
   [2] calls over 50 us, [3] ns spent in them; [4] involuntary and [5] voluntary context switches and [6] page
   faults of the producers; with diag, [7..11] the calls over 50 us by what happened during that call
   (struct job's diag_slow). */
void timed_events_diag(ev_fn e, int32_t threads, int64_t n, int64_t *out, int32_t diag)
{
    struct job jobs[16];
    pthread_t ts[16];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads && i < 16; i++) {
        jobs[i] = (struct job){.e = e, .n = n, .start = &start, .diag = diag};
        pthread_create(&ts[i], NULL, events_main, &jobs[i]);
    }
    for (int k = 0; k < 12; k++)
        out[k] = 0;
    for (int i = 0; i < threads && i < 16; i++) {
        pthread_join(ts[i], NULL);
        out[0] += jobs[i].elapsed;
        if (jobs[i].max > out[1])
            out[1] = jobs[i].max;
        out[2] += jobs[i].slow;
        out[3] += jobs[i].slow_ns;
        out[4] += jobs[i].nivcsw;
        out[5] += jobs[i].nvcsw;
        out[6] += jobs[i].minflt;
        for (int k = 0; k < 5; k++)
            out[7 + k] += jobs[i].diag_slow[k];
    }
    pthread_barrier_destroy(&start);
}

void timed_events(ev_fn e, int32_t threads, int64_t n, int64_t *out) { timed_events_diag(e, threads, n, out, 0); }

static void *plain_events_main(void *p)
{
    struct job *j = p;
    pthread_barrier_wait(j->start);
    for (int64_t i = 0; i < j->n; i++)
        j->e(i);
    return NULL;
}

/* `threads` new threads each call e(0..n-1) as fast as they can, untimed (no clock read around each call). */
void plain_events(ev_fn e, int32_t threads, int64_t n)
{
    struct job jobs[16];
    pthread_t ts[16];
    pthread_barrier_t start;
    if (threads > 16)
        threads = 16;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct job){.e = e, .n = n, .start = &start};
        pthread_create(&ts[i], NULL, plain_events_main, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(ts[i], NULL);
    pthread_barrier_destroy(&start);
}

/* A C event function that does nothing: the baseline for what timing a call costs on a busy machine. */
void noop_event(int64_t x) { (void)x; }

/* The cost of the timing itself: n back-to-back now_ns() pairs, in total ns. */
int64_t timer_overhead(int64_t n)
{
    int64_t t0 = now_ns(), sink = 0;
    for (int64_t i = 0; i < n; i++)
        sink += now_ns() - now_ns();
    return now_ns() - t0 + (sink > 0);
}
'''

I64_FN = NativeFunction[[Int64], Int64]
EV_FN = NativeFunction[[Int64], Void]


def build_helper() -> str:
    """Compiles the helper once per source version into a cache dir; returns the library path."""
    digest = hashlib.sha1((C_SOURCE + sys.version).encode()).hexdigest()[:12]
    folder = os.path.join(tempfile.gettempdir(), f"nativeffi-bench-{os.getuid()}")
    os.makedirs(folder, exist_ok=True)
    out = os.path.join(folder, f"callbacks-{digest}.so")
    if not os.path.exists(out):
        src = os.path.join(folder, f"callbacks-{digest}.c")
        with open(src, "w") as f:
            f.write(C_SOURCE)
        cc = os.environ.get("CC") or shutil.which("cc") or "cc"
        tmp = f"{out}.{os.getpid()}"
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-pthread", "-I", sysconfig.get_paths()["include"], "-o",
                        tmp, src], check=True)
        os.replace(tmp, out)
    return out


class Helper:
    """The helper's functions, bound through nativeffi (leaf: the GIL stays held, as a C extension's would)."""

    def __init__(self, path: str) -> None:
        self.path = path

        def bind(sym: str, params: list[Any], ret: Any, leaf: bool) -> Any:
            address = assets.lookup(path, sym)
            assert address is not None, sym
            return Pointer[NativeFunction[params, ret]].from_address(address).as_function(is_leaf=leaf)  # type: ignore[valid-type]

        self.loop_fp = bind("loop_fp", [Pointer[I64_FN], Int64], Int64, True)
        self.loop_vectorcall = bind("loop_vectorcall", [Int64, Int64], Int64, True)
        self.loop_fp_in_thread = bind("loop_fp_in_thread", [Pointer[I64_FN], Int64], Int64, False)
        self.loop_vectorcall_in_thread = bind("loop_vectorcall_in_thread", [Int64, Int64], Int64, False)
        self.timed_events = bind("timed_events", [Pointer[EV_FN], Int32, Int64, Pointer[Int64]], Void, False)
        self.plain_events = bind("plain_events", [Pointer[EV_FN], Int32, Int64], Void, False)
        self.timed_events_diag = bind("timed_events_diag", [Pointer[EV_FN], Int32, Int64, Pointer[Int64], Int32],
                                      Void, False)
        self.timer_overhead = bind("timer_overhead", [Int64], Int64, True)


def best_ns(fn: Callable[[], Any], n: int, repeat: int = 5) -> float:
    """Best-of-`repeat` nanoseconds per call of a run of `n` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def identity(i: int) -> int:
    return i


# -- Synchronous upcalls -------------------------------------------------------------------

def bench_upcalls(h: Helper, report: Report) -> None:
    n = 200_000
    with NativeCallable.isolate_local(I64_FN, identity, exceptional_return=-1) as cb, \
            NativeCallable.isolate_group_bound(I64_FN, identity, exceptional_return=-1) as gb:
        h.loop_fp_in_thread(gb, 10)  # a thread's first call creates its thread state: not measured
        h.loop_vectorcall_in_thread(id(identity), 10)
        kinds: dict[str, Callable[[], float]] = {
            "floor": lambda: best_ns(lambda: h.loop_vectorcall(id(identity), n), n, 1),
            "local": lambda: best_ns(lambda: h.loop_fp(cb, n), n, 1),
            "same": lambda: best_ns(lambda: h.loop_fp(gb, n), n, 1),
            "foreign": lambda: h.loop_fp_in_thread(gb, n) / n,
            "foreign_floor": lambda: h.loop_vectorcall_in_thread(id(identity), n) / n,
        }
        # Rounds interleave the kinds, so that each ratio compares runs made moments apart; minimum per kind.
        best = {k: fn() for k, fn in kinds.items()}
        for _ in range(6):
            for k, fn in kinds.items():
                best[k] = min(best[k], fn())
    floor, local, same, foreign, foreign_floor = (best[k] for k in kinds)
    report("upcall: C loop calling PyObject_Vectorcall (floor)", floor, "ns/call",
           "same thread, GIL held; every upcall row is the minimum of 7 rounds interleaved with this one")
    report("upcall: NativeCallable.isolate_local", local, "ns/call", f"{local / floor:.2f}x floor (target <= 1.1x)")
    report("upcall: isolate_group_bound, same thread", same, "ns/call", f"{same / floor:.2f}x floor")
    report("upcall: isolate_group_bound, foreign thread", foreign, "ns/call",
           f"{foreign / local:.2f}x same-thread isolate_local (target <= 1.6x)")
    report("upcall: C thread taking the GIL for PyObject_Vectorcall (foreign floor)", foreign_floor, "ns/call",
           f"own thread state; {foreign_floor / local:.2f}x same-thread isolate_local; group_bound "
           f"{foreign / foreign_floor:.2f}x this")

    CF = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)
    ct_cb = CF(identity)
    ct_lib = ctypes.PyDLL(h.path)
    ct_lib.loop_fp.argtypes = [CF, ctypes.c_int64]
    ct_lib.loop_fp.restype = ctypes.c_int64
    ct_same = best_ns(lambda: ct_lib.loop_fp(ct_cb, n), n)
    report("upcall: ctypes CFUNCTYPE, same thread", ct_same, "ns/call", f"{ct_same / floor:.2f}x floor")
    cdll = ctypes.CDLL(h.path)
    cdll.loop_fp_in_thread.argtypes = [CF, ctypes.c_int64]
    cdll.loop_fp_in_thread.restype = ctypes.c_int64
    m = 20_000
    ct_foreign = min(cdll.loop_fp_in_thread(ct_cb, m) / m for _ in range(3))
    report("upcall: ctypes CFUNCTYPE, foreign thread", ct_foreign, "ns/call",
           f"{ct_foreign / ct_same:.1f}x its same-thread call")

    try:
        import cffi  # type: ignore[import-untyped]
    except ImportError:
        report("upcall: cffi", float("nan"), "ns/call", "cffi not installed")
        return
    ffi = cffi.FFI()
    ffi.cdef("int64_t loop_fp(int64_t (*)(int64_t), int64_t); int64_t loop_fp_in_thread(int64_t (*)(int64_t), int64_t);")
    cl = ffi.dlopen(h.path)
    cf_cb = ffi.callback("int64_t(int64_t)", identity)
    cf_same = best_ns(lambda: cl.loop_fp(cf_cb, n), n)
    report("upcall: cffi ffi.callback, same thread", cf_same, "ns/call", f"{cf_same / floor:.2f}x floor")
    cf_foreign = min(cl.loop_fp_in_thread(cf_cb, n) / n for _ in range(3))
    report("upcall: cffi ffi.callback, foreign thread", cf_foreign, "ns/call",
           f"{cf_foreign / cf_same:.1f}x its same-thread call")


# -- Listener ---------------------------------------------------------------------------------

def busy_while(worker: Callable[[], Any]) -> Any:
    """Runs `worker` in a thread (it releases the GIL in C) while this thread spins in a Python CPU loop."""
    result: list[Any] = []
    t = threading.Thread(target=lambda: result.append(worker()))
    t.start()
    x = 0
    while t.is_alive():
        for i in range(1000):
            x += i * i
    t.join()
    return result[0]


class Counter:
    """A listener callback that counts deliveries and signals when `target` have arrived: a closure (`count`),
    as idiomatic code would pass, doing the counting and the check for every message."""

    def __init__(self, target: int) -> None:
        self.done = threading.Event()
        done, n = self.done, 0

        def count(x: int) -> None:
            nonlocal n
            n += 1
            if n == target:
                done.set()

        self.count = count


def steal_ticks() -> int:
    """Ticks the hypervisor took from this VM's CPUs so far (/proc/stat "steal"), or -1 if unknown."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8])
    except (OSError, IndexError, ValueError):
        return -1


def timed(h: Helper, fn: Any, n: int, busy: bool, diag: bool = False) -> list[int]:
    """C times n calls of fn on a new thread (Python busy in a CPU loop meanwhile, or idle): timed_events' out
    (12 values), then the steal ticks during the run."""
    out = Pointer[Int64].from_buffer(array.array("q", bytes(128)))
    s0 = steal_ticks()
    if busy:
        busy_while(lambda: h.timed_events_diag(fn, 1, n, out, int(diag)))
    else:
        h.timed_events_diag(fn, 1, n, out, int(diag))
    return [out[k] for k in range(12)] + [steal_ticks() - s0 if s0 >= 0 else -1]


def spikes_note(r: list[int], n: int) -> str:
    """The spikes of a timed run and what the producer thread went through meanwhile, with the machine's load."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{r[2]} of {n:,} calls over 50 us ({r[3] / n:.0f} ns of the mean); the producer was preempted {r[4]} "
            f"times, blocked {r[5]}, page-faulted {r[6]}; {r[12]} steal ticks; load {load}")


def bench_listener(h: Helper, report: Report) -> None:
    timer = h.timer_overhead(100_000) / 100_000
    report("listener: timer overhead per timed call (included below)", timer, "ns", "two clock_gettime")

    n = 1_000_000
    sink = Counter(n)
    with NativeCallable.listener(EV_FN, sink.count) as ls:
        r = timed(h, ls, n, busy=True)
        mean = r[0] / n
        report("listener: native side of one call, Python busy, mean", mean - timer, "ns",
               f"net of the timer ({mean:.0f} raw); target <= 150 ns (ctypes + call_soon_threadsafe ~23 us)")
        report("listener: native side of one call, Python busy, max", r[1] / 1000, "us",
               "target <= 50 us; " + spikes_note(r, n))
        sink.done.wait(60)
    # The same timing around a C function that does nothing: what the machine alone costs (preemption, the host).
    address = assets.lookup(h.path, "noop_event")
    assert address is not None
    noop = Pointer[EV_FN].from_address(address)
    r = timed(h, noop, n, busy=True)
    report("baseline: C no-op function timed the same way, Python busy, max", r[1] / 1000, "us", spikes_note(r, n))
    sink = Counter(n)
    with NativeCallable.listener(EV_FN, sink.count) as ls:
        r = timed(h, ls, n, busy=False)
        sink.done.wait(60)
    report("listener: native side of one call, Python idle, max", r[1] / 1000, "us", spikes_note(r, n))
    # Diagnosis: getrusage and the thread's CPU clock read around every call (syscalls, so this run's mean is not
    # the listener's), so each spike is attributed by what happened during that very call.
    for name in ("listener", "C no-op"):
        if name == "listener":
            sink = Counter(n)
            with NativeCallable.listener(EV_FN, sink.count) as ls:
                r = timed(h, ls, n, busy=True, diag=True)
                sink.done.wait(60)
        else:
            r = timed(h, noop, n, busy=True, diag=True)
        report(f"diagnosis: {name}, Python busy, calls over 50 us", r[2], "calls",
               f"during that call: {r[7]} preempted, {r[8]} blocked, {r[9]} page-faulted, {r[10]} off the CPU "
               f"without a switch, {r[11]} none of these (on the CPU as the guest sees it: interrupts or the "
               f"host); max {r[1] / 1000:.0f} us; {r[4]} preemptions in the run")

    out = Pointer[Int64].from_buffer(array.array("q", bytes(128)))
    for producers in (1, 4):
        total = 1_000_000
        counter = Counter(total)
        with NativeCallable.listener(EV_FN, counter.count) as ls:
            t0 = time.perf_counter()
            h.timed_events(ls, producers, total // producers, out)
            counter.done.wait(120)
            elapsed = time.perf_counter() - t0
        report(f"listener: delivered messages/s, {producers} producer(s)", total / elapsed / 1e6, "M msg/s",
               "dispatcher thread; the Python callback, a closure, counts every message; target >= 8 M/s with 1 "
               "producer (ctypes ~44,000/s)")
    # The consumer's floor: the same counting closure called by a C loop through PyObject_Vectorcall on the Python
    # thread, with no queue and no thread in between (it returns 0 instead of None, for the loop to read: the same
    # one instruction).
    n, target, done = 0, 1 << 62, threading.Event()

    def count_ret(x: int) -> int:
        nonlocal n
        n += 1
        if n == target:
            done.set()
        return 0

    calls = 200_000
    per_call = best_ns(lambda: h.loop_vectorcall(id(count_ret), calls), calls)
    report("listener floor: C loop calling the counting closure", 1e3 / per_call, "M calls/s",
           "PyObject_Vectorcall on the Python thread, no queue: no delivery can be faster")
    # The same delivery with producers that do not time each call: the clock reads above cost a producer about as
    # much as the listener call itself, and with one producer they bound the rate.
    for producers in (1, 4):
        total = 1_000_000
        counter = Counter(total)
        with NativeCallable.listener(EV_FN, counter.count) as ls:
            t0 = time.perf_counter()
            h.plain_events(ls, producers, total // producers)
            counter.done.wait(120)
            elapsed = time.perf_counter() - t0
        report(f"listener: delivered messages/s, {producers} untimed producer(s)", total / elapsed / 1e6, "M msg/s",
               "as above, the producers calling in a plain loop (no clock read around each call)")

    # ctypes: a CFUNCTYPE callback on the native thread hands each call to an asyncio loop thread.
    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    m = 300
    counter = Counter(m)
    EV = ctypes.CFUNCTYPE(None, ctypes.c_int64)
    ct_ev = EV(lambda x: loop.call_soon_threadsafe(counter.count, x))
    cdll = ctypes.CDLL(h.path)
    cdll.timed_events.argtypes = [EV, ctypes.c_int32, ctypes.c_int64, ctypes.POINTER(ctypes.c_int64)]
    res = (ctypes.c_int64 * 12)()
    busy_while(lambda: cdll.timed_events(ct_ev, 1, m, res))
    report("ctypes listener (call_soon_threadsafe), Python busy, mean", res[0] / m / 1000, "us", f"{m} calls")
    report("ctypes listener (call_soon_threadsafe), Python busy, max", res[1] / 1e6, "ms", "")
    counter.done.wait(60)
    m = 50_000
    counter = Counter(m)
    t0 = time.perf_counter()
    cdll.timed_events(ct_ev, 1, m, res)
    counter.done.wait(120)
    report("ctypes listener: delivered messages/s", m / (time.perf_counter() - t0) / 1e6, "M msg/s", "")
    loop.call_soon_threadsafe(loop.stop)
    t.join()
    loop.close()


def run(report: Report) -> None:
    """Runs every callback benchmark, calling ``report(name, value, unit, note)`` once per result.

    Args:
        report: receives each result row.

    Raises:
        subprocess.CalledProcessError: if the C helper does not compile.

    Example:
        >>> run(lambda name, value, unit, note: print(f"{name}: {value:.1f} {unit}"))   # doctest: +SKIP
    """
    h = Helper(build_helper())
    bench_upcalls(h, report)
    bench_listener(h, report)


def main(argv: Optional[list[str]] = None) -> None:
    """Prints the results as a table."""
    rows: list[tuple[str, float, str, str]] = []

    def report(name: str, value: float, unit: str, note: str) -> None:
        rows.append((name, value, unit, note))
        print(f"{name:<62} {value:>10.2f} {unit:<9} {note}", flush=True)

    print(f"{'benchmark':<62} {'value':>10} {'unit':<9} note")
    run(report)


if __name__ == "__main__":
    main()
