"""Leak check: RSS and tracemalloc's traced memory stay flat over many calls of each call path, create/close cycles
of each callable kind, and Arena allocations.

``python tests/leak_cases.py [--full] [NAME...]`` runs scenarios in this process and prints, for each, the growth of
RSS and of traced memory per 10^6 iterations after a warm-up; it exits 1 if any grew more than its allowance (or
asyncio logged an error meanwhile). Default counts are sized for the test suite (tests/test_leaks.py runs each scenario in a process of its own);
``--full`` runs the issue's counts (10^6 calls, 10^5 create/close, 10^6 allocations), as CI does.
"""
from __future__ import annotations

import array
import gc
import logging
import os
import pathlib
import sys
import threading
import time
import tracemalloc
from typing import Any, Callable

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "native")]

import build  # noqa: E402
from helpers import cfunc  # noqa: E402
from nativeffi import _core  # noqa: E402
from nativeffi import (  # noqa: E402
    Arena, Box, Char, Double, Int, Int32, Int64, NativeCallable, NativeFunction, Pointer, Size, Struct, VarArgs, Void,
    assets, binding_of,
)

# Allowances: a constant for allocator and page noise, plus bytes per iteration well below any real leak (the
# smallest malloc costs 32 bytes with its header).
RSS_SLACK, RSS_PER_ITER = 4 << 20, 2.0
TRACED_SLACK, TRACED_PER_ITER = 256 << 10, 0.5


class Coord(Struct):
    x: Double
    y: Double
    next: Pointer["Coord"]


I64_FN = NativeFunction[[Int64], Int64]
EVENT_FN = NativeFunction[[Int64, Int32], Void]


def rss() -> int:
    """This process's resident set size in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- Scenarios: each returns (one batch, iterations per batch) ---------------------------------------------------------

def _scalars() -> str:
    return str(build.build("scalars"))


def calls(name: str, fn: Any, args: tuple[Any, ...], path: str) -> Callable[[], tuple[Callable[[], None], int]]:
    def make() -> tuple[Callable[[], None], int]:
        f = fn()
        b = binding_of(f)
        assert f"{b.call_path} / {b.entry}".startswith(path), f"{name}: {b.call_path} / {b.entry}, not {path}"

        def batch() -> None:
            for _ in range(1000):
                f(*args)
        return batch, 1000
    return make


def direct() -> Any:
    return cfunc(_scalars(), "id_Int64", [Int64], Int64)


def stub() -> Any:
    return cfunc(_scalars(), "add_Int64", [Int64, Int64], Int64, is_leaf=False)


def stub_errno() -> Any:
    addr = assets.lookup(_scalars(), "add_Int64")
    return Pointer[NativeFunction[[Int64, Int64], Int64]].from_address(addr).as_function(capture_errno=True)


def libffi() -> Any:
    return cfunc(_scalars(), "sum17", [Int64] * 17, Int64)


def variadic() -> Any:
    addr = assets.lookup(_scalars(), "va_Int64")
    return Pointer[NativeFunction[[Int, VarArgs[Int64]], Int64]].from_address(addr).as_function()


def struct_by_value() -> Any:
    return cfunc(str(build.build("compound_basic")), "coord_scale", [Coord, Double], Coord)


def buffer_argument() -> Any:
    return cfunc(_scalars(), "first_Int64", [Pointer[Int64], Size], Int64)


BUF = array.array("q", [7])  # a buffer of Int64 elements (a bytearray is refused for Pointer[Int64])


def upcalls(group: bool) -> Callable[[], tuple[Callable[[], None], int]]:
    """C loops calling a callable: isolate_local on this thread, or isolate_group_bound on a C thread."""
    def make() -> tuple[Callable[[], None], int]:
        lib = str(build.build("callbacks"))
        fp = Pointer[I64_FN]
        cb = (NativeCallable.isolate_group_bound if group else NativeCallable.isolate_local)(
            I64_FN, lambda x: x + 1, exceptional_return=0)
        cb.keep_isolate_alive = False
        if group:
            run = cfunc(lib, "sum_calls_in_thread", [fp, Int64, Int64], Int64, is_leaf=False)
            return (lambda: run(cb, 0, 10_000) and None), 10_000
        run = cfunc(lib, "sum_calls", [fp, Int64], Int64, is_leaf=False)
        return (lambda: run(cb, 10_000) and None), 10_000
    return make


def listener_messages() -> tuple[Callable[[], None], int]:
    """10,000 messages per batch from a C thread to a listener on the dispatcher, each batch waited for."""
    lib = str(build.build("callbacks"))
    send = cfunc(lib, "events_in_thread_joined", [Pointer[EVENT_FN], Int64, Int32, Int32], Void, is_leaf=False)
    count = [0]
    done = threading.Event()

    def on(a: int, b: int) -> None:
        count[0] += 1
        if count[0] % 10_000 == 0:
            done.set()
    ls = NativeCallable.listener(EVENT_FN, on)
    ls.keep_isolate_alive = False

    def batch() -> None:
        done.clear()
        send(ls, 1, 0, 10_000)
        assert done.wait(60), f"listener: {count[0] % 10_000} of 10,000 messages delivered"
    return batch, 10_000


def create_close(kind: str, inline: bool = False) -> Callable[[], tuple[Callable[[], None], int]]:
    """Callables made and closed, with a function type made once (or, inline, written in the loop)."""
    def make() -> tuple[Callable[[], None], int]:
        factory = getattr(NativeCallable, kind)
        ft = EVENT_FN if kind == "listener" else I64_FN
        extra = {} if kind == "listener" else {"exceptional_return": 0}

        def batch() -> None:
            for _ in range(100):
                t = NativeFunction[[Int64], Int64] if inline else ft
                factory(t, lambda *a: 0, **extra).close()
            # A closed listener's fd goes once its loop (here the dispatcher thread, which gets the GIL only now and
            # then while this loop runs) has removed its reader: wait for that, so a backlog is not taken for a leak.
            deadline = time.monotonic() + 10
            while _core._callbacks_closing() and time.monotonic() < deadline:
                time.sleep(0.0005)
        return batch, 100
    return make


def arena_allocations() -> tuple[Callable[[], None], int]:
    """1,000 allocations of an Arena per batch, released by the block's end."""
    def batch() -> None:
        with Arena() as arena:
            for _ in range(1000):
                arena(Int64)
    return batch, 1000


def arena_dropped() -> tuple[Callable[[], None], int]:
    """1,000 arenas per batch that are never released: each frees its memory with its last pointer."""
    def batch() -> None:
        for _ in range(1000):
            Arena()(Int64, 4)[0] = 1
    return batch, 1000


def boxes() -> tuple[Callable[[], None], int]:
    """1,000 Box[Int64] out-parameters per batch, each freed with its object."""
    def batch() -> None:
        for _ in range(1000):
            Box[Int64](5).value
    return batch, 1000


def pointer_objects() -> tuple[Callable[[], None], int]:
    """1,000 pointer objects per batch read out of a char ** (reused memory), and 100 of a subclass with a __dict__."""
    table = Arena()(Pointer[Char], 4)

    class Tagged(Pointer[Char]):  # type: ignore[misc,valid-type]
        pass

    def batch() -> None:
        for i in range(1000):
            table[i & 3].is_null
        for i in range(100):
            Tagged.from_address(i + 1, keep=table).tag = i
    return batch, 1000


# name -> (make, default iterations, full iterations)
SCENARIOS: dict[str, tuple[Callable[[], tuple[Callable[[], None], int]], int, int]] = {
    "call: direct entry": (calls("direct", direct, (5,), "stub int/g / direct"), 200_000, 1_000_000),
    "call: stub": (calls("stub", stub_errno, (5, 6), "stub int/g / stub"), 200_000, 1_000_000),
    "call: stub, non-leaf direct": (calls("stub", stub, (5, 6), "stub int/g / direct"), 200_000, 1_000_000),
    "call: libffi": (calls("libffi", libffi, tuple(range(17)), "libffi"), 200_000, 1_000_000),
    "call: variadic": (calls("variadic", variadic, (0, 7), "libffi"), 200_000, 1_000_000),
    "call: struct by value": (calls("struct", struct_by_value, (Coord(1.0, 2.0), 2.0), "stub"), 200_000, 1_000_000),
    "call: buffer argument": (calls("buffer", buffer_argument, (BUF, 8), "stub"), 200_000, 1_000_000),
    "upcall: isolate_local": (upcalls(False), 200_000, 1_000_000),
    "upcall: isolate_group_bound, C thread": (upcalls(True), 200_000, 1_000_000),
    "listener messages": (listener_messages, 200_000, 1_000_000),
    "create/close: isolate_local": (create_close("isolate_local"), 5_000, 100_000),
    "create/close: listener": (create_close("listener"), 5_000, 100_000),
    "create/close: isolate_group_bound": (create_close("isolate_group_bound"), 5_000, 100_000),
    # each inline type leaks ~3 KB today (the issue): 10^4 cycles keep a full run's RSS within reason
    "create/close: isolate_local, type written inline": (create_close("isolate_local", True), 5_000, 10_000),
    "Arena allocations": (arena_allocations, 50_000, 1_000_000),
    "Arena dropped without release": (arena_dropped, 50_000, 1_000_000),
    "Box out-parameters": (boxes, 50_000, 1_000_000),
    "pointer objects": (pointer_objects, 200_000, 1_000_000),
}


def measure(name: str, full: bool) -> tuple[int, float, float, float]:
    """(iterations, RSS growth and traced growth per 10^6 iterations in bytes, seconds) of one scenario."""
    make, default, full_count = SCENARIOS[name]
    iterations = full_count if full else default
    tracemalloc.start()
    batch, per = make()
    for _ in range(max(1, iterations // per // 10)):  # warm-up: caches, trampoline pools, allocator arenas
        batch()
    gc.collect()
    rss0, traced0 = rss(), tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    for _ in range(iterations // per):
        batch()
    seconds = time.perf_counter() - t0
    gc.collect()
    rss1, traced1 = rss(), tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    n = iterations // per * per
    return n, (rss1 - rss0) * 1e6 / n, (traced1 - traced0) * 1e6 / n, seconds


def leaks(n: int, rss_per_m: float, traced_per_m: float) -> list[str]:
    """What grew more than its allowance."""
    out = []
    if rss_per_m * n / 1e6 > RSS_SLACK + RSS_PER_ITER * n:
        out.append("RSS")
    if traced_per_m * n / 1e6 > TRACED_SLACK + TRACED_PER_ITER * n:
        out.append("traced memory")
    return out


class _Count(logging.Handler):
    """Counts the errors asyncio logs (e.g. a listener's fd closed under its event loop)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def main(argv: list[str]) -> int:
    full = "--full" in argv
    names = [a for a in argv if a != "--full"] or list(SCENARIOS)
    failed = 0
    asyncio_errors = _Count()
    logging.getLogger("asyncio").addHandler(asyncio_errors)
    print(f"{'scenario':<52} {'iterations':>10} {'RSS/10^6':>12} {'traced/10^6':>12} {'s':>6}")
    for name in names:
        before = asyncio_errors.count
        n, r, t, s = measure(name, full)
        bad = leaks(n, r, t)
        if asyncio_errors.count > before:
            bad.append(f"asyncio logged {asyncio_errors.count - before} errors, and memory")
        failed += bool(bad)
        print(f"{name:<52} {n:>10,} {r / 1024:>10,.0f} K {t / 1024:>10,.1f} K {s:>6.1f}"
              + (f"  LEAK: {' and '.join(bad)} grew" if bad else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
