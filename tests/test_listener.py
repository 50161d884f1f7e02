"""NativeCallable.listener: Dart's listener test matrix on asyncio and on the dispatcher, ordering under load,
exceptions, and nativeffi.run's keep-alive."""
from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import nativeffi
from helpers import cfunc
from nativeffi import Int32, Int64, NativeCallable, NativeFunction, Pointer, Void

EVENT_FN = NativeFunction[[Int64, Int32], Void]
TIMEOUT = 30  # seconds; only reached when a delivery is missing


@pytest.fixture(scope="module")
def c(native_lib: Any) -> Any:
    """The helper library's functions that call an event function pointer, from this thread or new ones."""
    lib = native_lib("callbacks")
    fp = Pointer[EVENT_FN]

    class C:
        joined = cfunc(lib, "events_in_thread_joined", [fp, Int64, Int32, Int32], Void, is_leaf=False)
        detached = cfunc(lib, "events_in_thread_detached", [fp, Int64, Int32, Int32], Void, is_leaf=False)
        producers = cfunc(lib, "events_from_producers", [fp, Int32, Int32], Void, is_leaf=False)
        one_per_thread = cfunc(lib, "events_one_per_thread", [fp, Int32], Void, is_leaf=False)

    return C


class Collector:
    """Records deliveries and signals when `expected` have arrived (threading.Event, or an asyncio future)."""

    def __init__(self, expected: int, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.items: list[tuple[int, int]] = []
        self.threads: set[int] = set()
        self.expected = expected
        self.done = threading.Event()
        self.future = loop.create_future() if loop else None

    def __call__(self, a: int, b: int) -> None:
        self.items.append((a, b))
        self.threads.add(threading.get_ident())
        if len(self.items) == self.expected:
            self.done.set()
            if self.future is not None and not self.future.done():
                self.future.set_result(None)


# -- Dart's matrix, delivered to the asyncio loop of the creating thread ----------------------

def run_async(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def test_same_thread_call_is_asynchronous() -> None:
    """A call from the owning thread returns before the callback runs; the loop delivers it afterwards."""
    async def main() -> None:
        got = Collector(1, asyncio.get_running_loop())
        with NativeCallable.listener(EVENT_FN, got) as ls:
            ls.native_function.as_function()(3, 4)
            assert got.items == []
            await got.future  # type: ignore[misc]
        assert got.items == [(3, 4)] and got.threads == {threading.get_ident()}
    run_async(main())


def test_new_thread_caller_joins(c: Any) -> None:
    """Calls from a native thread that the caller joins arrive on the loop's thread, in order."""
    async def main() -> None:
        got = Collector(5, asyncio.get_running_loop())
        with NativeCallable.listener(EVENT_FN, got) as ls:
            c.joined(ls, 9, 100, 5)
            await got.future  # type: ignore[misc]
        assert got.items == [(9, 100 + i) for i in range(5)] and got.threads == {threading.get_ident()}
    run_async(main())


def test_new_thread_detached(c: Any) -> None:
    """Calls from a detached native thread are all delivered."""
    async def main() -> None:
        got = Collector(50, asyncio.get_running_loop())
        with NativeCallable.listener(EVENT_FN, got) as ls:
            c.detached(ls, 1, 0, 50)
            await got.future  # type: ignore[misc]
        assert got.items == [(1, i) for i in range(50)]
    run_async(main())


def test_100_concurrent_calls(c: Any) -> None:
    """One call from each of 100 threads released together: all 100 arrive, each once."""
    async def main() -> None:
        got = Collector(100, asyncio.get_running_loop())
        with NativeCallable.listener(EVENT_FN, got) as ls:
            c.one_per_thread(ls, 100)
            await got.future  # type: ignore[misc]
        assert sorted(got.items) == [(i, 0) for i in range(100)]
    run_async(main())


def test_double_close() -> None:
    """Closing a listener twice is harmless."""
    ls = NativeCallable.listener(EVENT_FN, print)
    ls.close()
    ls.close()
    assert ls.closed and not ls.keep_isolate_alive


def test_call_after_close_neither_crashes_nor_delivers(c: Any) -> None:
    """Calls through a closed listener, from this thread and another, are dropped: the callback never runs."""
    async def main() -> None:
        dropped: list[Any] = []
        ls = NativeCallable.listener(EVENT_FN, lambda *a: dropped.append(a))
        fn = ls.native_function.as_function()
        ls.close()
        fn(1, 1)
        c.joined(ls._pointer, 2, 2, 3)
        # A second listener fed afterwards: once it has been delivered, any pending wakeup has been served.
        got = Collector(1, asyncio.get_running_loop())
        with NativeCallable.listener(EVENT_FN, got) as probe:
            c.joined(probe, 0, 0, 1)
            await got.future  # type: ignore[misc]
            await asyncio.sleep(0)
        assert dropped == []
    run_async(main())


def test_close_inside_the_callback(c: Any) -> None:
    """A callback that closes its listener gets no further calls, even those already queued."""
    async def main() -> None:
        seen: list[int] = []
        done = asyncio.get_running_loop().create_future()

        def on(a: int, b: int) -> None:
            seen.append(b)
            if b == 2:
                ls.close()
                done.set_result(None)

        ls = NativeCallable.listener(EVENT_FN, on)
        c.joined(ls, 0, 0, 10)  # all 10 are queued before the first is delivered
        await done
        await asyncio.sleep(0)
        assert seen == [0, 1, 2] and ls.closed
    run_async(main())


def test_exception_reaches_the_loop_exception_handler(c: Any) -> None:
    """An exception in the callback goes to the loop's exception handler, naming the callable; delivery goes on."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        contexts: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
        got = Collector(2, loop)

        def on(a: int, b: int) -> None:
            got(a, b)
            if b == 0:
                raise ValueError("callback failed")

        with NativeCallable.listener(EVENT_FN, on) as ls:
            c.joined(ls, 0, 0, 2)
            await got.future  # type: ignore[misc]
        assert len(contexts) == 1
        assert isinstance(contexts[0]["exception"], ValueError)
        assert "on" in contexts[0]["message"] and contexts[0]["native_callable"] is ls
    run_async(main())


# -- The same, delivered by the dispatcher thread (no loop in the creating thread) ---------------

def test_dispatcher_delivers_from_native_threads(c: Any) -> None:
    """Without a running loop, the library's dispatcher thread delivers calls from native threads in order."""
    got = Collector(20)
    with NativeCallable.listener(EVENT_FN, got) as ls:
        c.joined(ls, 5, 0, 10)
        c.detached(ls, 6, 0, 10)
        assert got.done.wait(TIMEOUT)
    assert [x for x in got.items if x[0] == 5] == [(5, i) for i in range(10)]
    assert [x for x in got.items if x[0] == 6] == [(6, i) for i in range(10)]
    assert threading.get_ident() not in got.threads and len(got.threads) == 1


def test_dispatcher_same_thread_call() -> None:
    """A call from the creating thread (no loop) is delivered by the dispatcher, not inline."""
    got = Collector(1)
    with NativeCallable.listener(EVENT_FN, got) as ls:
        ls.native_function.as_function()(8, 9)
        assert got.done.wait(TIMEOUT)
    assert got.items == [(8, 9)] and threading.get_ident() not in got.threads


def test_dispatcher_exception_reaches_unraisablehook(c: Any, unraisable: list[Any]) -> None:
    """On the dispatcher, an exception in the callback goes to sys.unraisablehook with the callable."""
    got = Collector(2)

    def on(a: int, b: int) -> None:
        if b == 0:
            got(a, b)
            raise RuntimeError("dispatcher callback failed")
        got(a, b)

    with NativeCallable.listener(EVENT_FN, on) as ls:
        c.joined(ls, 0, 0, 2)
        assert got.done.wait(TIMEOUT)
    assert len(unraisable) == 1 and str(unraisable[0].exc_value) == "dispatcher callback failed"
    assert unraisable[0].object is not None and "on" in repr(unraisable[0].object)


def test_explicit_loop_from_another_thread(c: Any) -> None:
    """loop= delivers to a loop running in another thread."""
    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_forever)
    t.start()
    try:
        got = Collector(3)
        with NativeCallable.listener(EVENT_FN, got, loop=loop) as ls:
            c.joined(ls, 4, 0, 3)
            assert got.done.wait(TIMEOUT)
        assert got.items == [(4, 0), (4, 1), (4, 2)] and got.threads == {t.ident}
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join()
        loop.close()


# -- Load --------------------------------------------------------------------------------------

@pytest.mark.parametrize("owner", ["asyncio", "dispatcher"])
def test_ordering_4_producers_100000_calls(c: Any, owner: str) -> None:
    """4 native producers x 100,000 calls: every call arrives exactly once, each producer's in send order."""
    producers, count = 4, 100_000
    per: list[list[int]] = [[] for _ in range(producers)]
    total = producers * count
    seen = 0
    done = threading.Event()

    def on(i: int, seq: int) -> None:
        nonlocal seen
        per[i].append(seq)
        seen += 1
        if seen == total:
            done.set()

    def check() -> None:
        for i in range(producers):
            assert per[i] == list(range(count)), f"producer {i}: {len(per[i])} delivered, order broken or lost"

    if owner == "dispatcher":
        with NativeCallable.listener(EVENT_FN, on) as ls:
            c.producers(ls, producers, count)
            assert done.wait(TIMEOUT)
        check()
    else:
        async def main() -> None:
            with NativeCallable.listener(EVENT_FN, on) as ls:
                await asyncio.to_thread(c.producers, ls, producers, count)
                while not done.is_set():
                    await asyncio.sleep(0)  # yield to the loop until everything is delivered
            check()
        run_async(main())


def test_burst_beyond_the_pool_falls_back_loses_nothing_and_grows_the_pool(c: Any) -> None:
    """A burst larger than the message pool, sent while the owner is held, arrives whole and in order; the pool
    grows afterwards."""
    producers, count = 4, 20_000
    per: list[list[int]] = [[] for _ in range(producers)]
    release, done = threading.Event(), threading.Event()

    def on(i: int, seq: int) -> None:
        release.wait(TIMEOUT)  # the first delivery holds the owner until every message is queued
        per[i].append(seq)
        if sum(map(len, per)) == producers * count:
            done.set()

    with NativeCallable.listener(EVENT_FN, on) as ls:
        before = ls._cb._queue_stats()
        assert before["pool_nodes"] < producers * count and before["fallback_nodes"] == 0
        c.producers(ls, producers, count)
        release.set()
        assert done.wait(TIMEOUT)
        after = ls._cb._queue_stats()
    assert all(per[i] == list(range(count)) for i in range(producers))
    assert after["fallback_nodes"] > 0 and after["pool_nodes"] > before["pool_nodes"]


def test_messages_within_the_pool_never_fall_back(c: Any) -> None:
    """Rounds of calls smaller than the pool, each delivered before the next, reuse pool nodes only."""
    got = Collector(0)
    with NativeCallable.listener(EVENT_FN, got) as ls:
        pool = ls._cb._queue_stats()["pool_nodes"]
        for r in range(10):
            got.expected, got.done = (r + 1) * (pool // 2), threading.Event()
            c.joined(ls, r, 0, pool // 2)
            assert got.done.wait(TIMEOUT)
        stats = ls._cb._queue_stats()
        assert stats["pool_nodes"] == pool and stats["fallback_nodes"] == 0
    assert len(got.items) == 10 * (pool // 2)


# -- Floods: one drain delivers many messages ------------------------------------------------------

FLOOD = 20_000  # messages queued while the owner is held: far beyond the first pool chunk (512 nodes)


def held_flood(c: Any, count: int, on_message: Any) -> dict[str, int]:
    """Sends `count` messages from one native thread while the dispatcher is held inside the first delivery,
    so that all of them are delivered by one drain; on_message(seq, stats) runs for each one (stats: the
    queue's statistics, read inside that delivery); returns the statistics read before the flood."""
    release, done = threading.Event(), threading.Event()
    seen = 0

    def on(i: int, seq: int) -> None:
        nonlocal seen
        if seq == 0:
            release.wait(TIMEOUT)  # the owner stays here until every message is queued
        on_message(seq, ls._cb._queue_stats())
        seen += 1
        if seen == count:
            done.set()

    with NativeCallable.listener(EVENT_FN, on) as ls:
        before = ls._cb._queue_stats()
        c.joined(ls, 0, 0, count)
        release.set()
        assert done.wait(TIMEOUT), seen
    return before


def test_a_flood_is_delivered_whole_in_order_and_grows_the_pool_during_the_drain(c: Any) -> None:
    """A flood far beyond the pool arrives complete and in order, and the owner grows the pool while it is still
    delivering it (not only after the drain), so that the producers stop falling back to malloc sooner."""
    got: list[int] = []
    pools: list[int] = []

    def on(seq: int, stats: dict[str, int]) -> None:
        got.append(seq)
        pools.append(stats["pool_nodes"])

    before = held_flood(c, FLOOD, on)
    assert got == list(range(FLOOD))
    assert pools[-1] > before["pool_nodes"], (before, pools[-1])


def test_producers_write_the_wakeup_fd_once_while_the_owner_is_awake(c: Any) -> None:
    """Messages sent while the owner is delivering (a wakeup pending) do not write the wakeup fd again: a whole
    flood costs the producer one write, however many messages it holds."""
    wakeups: list[int] = []
    held_flood(c, FLOOD, lambda seq, stats: wakeups.append(stats["wakeups"]))
    assert wakeups[0] == 1 and wakeups[-1] == 1


def test_other_python_threads_run_while_a_flood_is_delivered(c: Any) -> None:
    """While one drain delivers a long flood with the GIL, another Python thread still runs: it counts on
    between the first and the last delivery."""
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    seen: list[int] = []

    def on(seq: int, stats: dict[str, int]) -> None:
        if seq in (1, 5 * FLOOD - 1):
            seen.append(ticks)

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        held_flood(c, 5 * FLOOD, on)
    finally:
        stop.set()
        spinner.join()
    assert seen[1] > seen[0], seen


def test_one_drain_returns_to_the_loop_after_a_few_milliseconds(c: Any) -> None:
    """A drain whose callbacks are slow (100 us each, 200 queued: at least 20 ms) returns to its event loop after
    about 5 ms with part of the queue delivered; the following drains deliver the rest, in order."""
    import time
    loop = asyncio.new_event_loop()  # never run while the messages are drained: drain() is called by hand
    got: list[int] = []

    def on(i: int, seq: int) -> None:
        time.sleep(0.0001)
        got.append(seq)

    ls = NativeCallable.listener(EVENT_FN, on, loop=loop)
    try:
        c.joined(ls, 0, 0, 200)
        first = ls._cb.drain()
        rest = 0
        while first + rest < 200:
            rest += ls._cb.drain()
    finally:
        ls.close()
        loop.run_until_complete(asyncio.sleep(0))  # the loop lets go of the wakeup fd
        loop.close()
    assert 1 <= first < 200 and got == list(range(200)), first


def test_close_during_a_flood_delivers_a_prefix_and_drops_the_rest(c: Any) -> None:
    """A callback that closes its listener in the middle of a flood from a native thread ends delivery there:
    exactly the messages up to it arrived, in order; the producer's later calls return without delivering."""
    count, stop_at = 5 * FLOOD, FLOOD
    got: list[int] = []
    done = threading.Event()

    def on(i: int, seq: int) -> None:
        got.append(seq)
        if seq == stop_at:
            ls.close()
            done.set()

    ls = NativeCallable.listener(EVENT_FN, on)
    c.joined(ls, 0, 0, count)  # the dispatcher delivers (and closes) meanwhile or afterwards
    assert done.wait(TIMEOUT)
    assert ls.closed and got == list(range(stop_at + 1))


# -- keep_isolate_alive with nativeffi.run ---------------------------------------------------------

def test_run_waits_for_keep_alive_listener(c: Any) -> None:
    """nativeffi.run returns only after a keep-alive listener is closed by its own callback."""
    got: list[int] = []

    async def main() -> str:
        def on(a: int, b: int) -> None:
            got.append(b)
            if b == 9:
                ls.close()

        ls = NativeCallable.listener(EVENT_FN, on)
        c.detached(ls, 0, 0, 10)
        return "main finished"

    assert nativeffi.run(main()) == "main finished"
    assert got == list(range(10))


def test_run_does_not_wait_without_keep_alive_and_delivery_continues(c: Any) -> None:
    """With keep_isolate_alive False, run returns at once; the still-open listener moves to the dispatcher."""
    got = Collector(1)
    box: list[NativeCallable[Any]] = []

    async def main() -> None:
        ls = NativeCallable.listener(EVENT_FN, got)
        ls.keep_isolate_alive = False
        assert ls.keep_isolate_alive is False
        box.append(ls)

    nativeffi.run(main())
    ls = box[0]
    assert not ls.closed and got.items == []
    c.joined(ls, 1, 1, 1)
    assert got.done.wait(TIMEOUT)
    assert got.items == [(1, 1)]
    ls.close()


def test_keep_alive_toggle_releases_run() -> None:
    """Setting keep_isolate_alive to False from another thread releases a waiting nativeffi.run."""
    async def main() -> None:
        ls = NativeCallable.isolate_local(NativeFunction[[], Void], lambda: None)
        threading.Thread(target=lambda: setattr(ls, "keep_isolate_alive", False)).start()
        box.append(ls)

    box: list[NativeCallable[Any]] = []
    nativeffi.run(main())
    assert not box[0].closed and box[0].keep_isolate_alive is False
    box[0].close()
