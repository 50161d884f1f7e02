"""NativeCallable.isolate_local and isolate_group_bound: synchronous upcalls, their errors, close, and real C users."""
from __future__ import annotations

import functools
import gc
import platform
import sys
import sqlite3
import threading
import weakref
from typing import Any

import pytest

from helpers import cfunc
from nativeffi import (
    Arena, Bool, Char, Double, Float, Int, Int8, Int32, Int64, NativeCallable, NativeFunction, Opaque, Pointer,
    Int16, Size, Uint8, Uint16, Uint64, UnsignedLong, Utf8, Void, malloc, native,
)

I64_FN = NativeFunction[[Int64], Int64]


@pytest.fixture(scope="module")
def lib(native_lib: Any) -> str:
    return native_lib("callbacks")  # type: ignore[no-any-return]


@pytest.fixture
def c(lib: str) -> Any:
    """The helper library's functions, bound by name."""
    fp = Pointer[I64_FN]

    class C:
        call_i64 = cfunc(lib, "call_i64", [fp, Int64], Int64, is_leaf=False)
        call_i64_leaf = cfunc(lib, "call_i64", [fp, Int64], Int64, is_leaf=True)
        sum_calls = cfunc(lib, "sum_calls", [fp, Int64], Int64, is_leaf=False)
        sum_calls_in_thread = cfunc(lib, "sum_calls_in_thread", [fp, Int64, Int64], Int64, is_leaf=False)
        sum_calls_in_threads = cfunc(lib, "sum_calls_in_threads", [fp, Int32, Int64], Int64, is_leaf=False)
        call_mixed = cfunc(lib, "call_mixed", [Pointer[MIXED_FN], ], Int32, is_leaf=False)
        call_i8_widened = cfunc(lib, "call_i8_widened", [Pointer[NativeFunction[[Int8], Int8]], Int8], Int32)
        call_f32 = cfunc(lib, "call_f32", [Pointer[NativeFunction[[Float, Float], Float]], Float, Float], Float)

    return C


MIXED_FN = NativeFunction[[Int8, Uint16, Int32, Float, Double, Uint64, Bool], Int32]


# -- isolate_local ----------------------------------------------------------------

def test_isolate_local_returns_python_result_to_c(c: Any) -> None:
    """C gets what the Python function returns, for the argument C passed."""
    with NativeCallable.isolate_local(I64_FN, lambda x: x * 3 + 1, exceptional_return=-1) as cb:
        assert c.call_i64(cb, 14) == 43
        assert c.call_i64(cb.native_function, -5) == -14


def test_isolate_local_in_c_loop_matches_python_sum(c: Any) -> None:
    """A C loop calling the callable 10,000 times sums exactly what Python computes."""
    with NativeCallable.isolate_local(I64_FN, lambda i: i * i - 7, exceptional_return=0) as cb:
        assert c.sum_calls(cb, 10_000) == sum(i * i - 7 for i in range(10_000))


def test_isolate_local_works_with_and_without_the_gil_held(c: Any) -> None:
    """The upcall works from a leaf downcall (GIL kept) and from a non-leaf one (GIL released)."""
    with NativeCallable.isolate_local(I64_FN, lambda x: x + 1, exceptional_return=-1) as cb:
        assert c.call_i64_leaf(cb, 1) == 2
        assert c.call_i64(cb, 2) == 3


def test_every_argument_class_arrives_as_c_passed_it(c: Any) -> None:
    """Narrow, unsigned, float, double, 64-bit and bool arguments arrive with the values C wrote."""
    seen: list[tuple[Any, ...]] = []

    def f(*args: Any) -> int:
        seen.append(args)
        return -123456

    with NativeCallable.isolate_local(MIXED_FN, f, exceptional_return=0) as cb:
        assert c.call_mixed(cb) == -123456
    assert seen == [(-5, 65000, -70000, 1.5, -2.25, 2**64 - 1, True)]


def test_narrow_return_is_sign_extended_for_c(c: Any) -> None:
    """An Int8 return of -3 reads as -3 when C widens it to int."""
    with NativeCallable.isolate_local(NativeFunction[[Int8], Int8], lambda x: x - 10, exceptional_return=0) as cb:
        assert c.call_i8_widened(cb, 7) == -3


def test_float_arguments_and_return(c: Any) -> None:
    """Float arguments and a Float return travel in single precision as C expects."""
    with NativeCallable.isolate_local(NativeFunction[[Float, Float], Float], lambda a, b: a * b,
                                      exceptional_return=0.0) as cb:
        assert c.call_f32(cb, 1.5, -2.5) == -3.75


class _Tripler:
    """A callable instance: its type has tp_call and no vectorcall entry."""

    def __call__(self, x: int) -> int:
        return 3 * x


# Each call protocol an upcall may meet (the fast path calls a vectorcall entry directly, the rest go through
# PyObject_Vectorcall): (callable, what it computes, why it is here).
CALL_PROTOCOLS = [
    (lambda x: 3 * x, lambda x: 3 * x, "a Python function: its own vectorcall entry"),
    (_Tripler(), lambda x: 3 * x, "an instance with __call__: no vectorcall entry, tp_call"),
    (_Tripler().__call__, lambda x: 3 * x, "a bound method: the method object's vectorcall entry"),
    (abs, abs, "a builtin function (METH_O): a C vectorcall entry"),
    (int, int, "a type: the type's vectorcall entry"),
    (functools.partial(max, 10), lambda x: max(10, x), "functools.partial: vectorcall that prepends arguments"),
]


@pytest.mark.parametrize("fn,expected,why", CALL_PROTOCOLS, ids=[case[2] for case in CALL_PROTOCOLS])
def test_every_call_protocol_returns_its_result_to_c(c: Any, fn: Any, expected: Any, why: str) -> None:
    """Whatever protocol the Python callable is called through, C gets its result for each argument."""
    with NativeCallable.isolate_local(I64_FN, fn, exceptional_return=-1) as cb:
        for x in (-5, 0, 7, 40):
            assert c.call_i64(cb, x) == expected(x)
            assert c.call_i64_leaf(cb, x) == expected(x)


def test_any_callable_lives_until_close(c: Any) -> None:
    """A closure, a bound method and a lambda work with no reference kept by the caller, until close()."""

    class Acc:
        def __init__(self) -> None:
            self.total = 0

        def add(self, x: int) -> int:
            self.total += x
            return self.total

    def make_closure(k: int) -> Any:
        return lambda x: x * k

    cbs = [NativeCallable.isolate_local(I64_FN, make_closure(5), exceptional_return=-1),
           NativeCallable.isolate_local(I64_FN, Acc().add, exceptional_return=-1)]
    addresses = [cb.native_function for cb in cbs]
    del cbs
    gc.collect()
    f0, f1 = (p.as_function() for p in addresses)
    assert f0(4) == 20
    assert f1(4) == 4 and f1(6) == 10
    import nativeffi.callable as impl
    for cb in [x for x in impl._open.values() if x.native_function in addresses]:
        cb.close()


# -- exceptional_return and errors --------------------------------------------------

def test_exception_gives_exceptional_return_and_reaches_unraisablehook(c: Any, unraisable: list[Any]) -> None:
    """A raising callback makes C get exceptional_return; the exception goes to sys.unraisablehook."""
    def boom(x: int) -> int:
        raise ValueError(f"bad {x}")

    with NativeCallable.isolate_local(I64_FN, boom, exceptional_return=-42) as cb:
        assert c.call_i64(cb, 7) == -42
    assert len(unraisable) == 1
    assert isinstance(unraisable[0].exc_value, ValueError) and str(unraisable[0].exc_value) == "bad 7"
    assert "boom" in repr(unraisable[0].object)


def test_wrong_return_type_gives_exceptional_return(c: Any, unraisable: list[Any]) -> None:
    """Returning a str for Int64 or an out-of-range int gives exceptional_return and reports the TypeError."""
    results = iter(["nope", 2**70])
    with NativeCallable.isolate_local(I64_FN, lambda x: next(results), exceptional_return=99) as cb:
        assert c.call_i64(cb, 1) == 99
        assert c.call_i64(cb, 1) == 99
    assert [type(u.exc_value) for u in unraisable] == [TypeError, OverflowError]


def test_construction_errors() -> None:
    """Missing or misplaced exceptional_return, non-Void listeners and non-function types are TypeErrors; an
    exceptional_return out of the return type's range is an OverflowError chaining the converter's."""
    with pytest.raises(TypeError, match="exceptional_return is required"):
        NativeCallable.isolate_local(I64_FN, abs)
    with pytest.raises(TypeError, match="exceptional_return is required"):
        NativeCallable.isolate_group_bound(I64_FN, abs)
    with pytest.raises(TypeError, match="must not be given"):
        NativeCallable.isolate_local(NativeFunction[[Int64], Void], print, exceptional_return=0)
    with pytest.raises(OverflowError, match="does not fit") as info:
        NativeCallable.isolate_local(NativeFunction[[], Int8], int, exceptional_return=1000)
    assert isinstance(info.value.__cause__, OverflowError)     # the converter's own message, chained
    with pytest.raises(TypeError, match="does not fit"):
        NativeCallable.isolate_local(NativeFunction[[], Int8], int, exceptional_return="x")
    with pytest.raises(TypeError, match="needs a Void return"):
        NativeCallable.listener(I64_FN, abs)
    with pytest.raises(TypeError, match="NativeFunction"):
        NativeCallable.isolate_local(Int64, abs, exceptional_return=0)
    with pytest.raises(TypeError, match="callable"):
        NativeCallable.isolate_local(I64_FN, 3, exceptional_return=0)
    with pytest.raises(TypeError, match="use NativeCallable.isolate_local"):
        NativeCallable()


# -- close ----------------------------------------------------------------------------

def test_close_is_idempotent_and_invalidates_native_function() -> None:
    """close() twice is fine; native_function then raises and keep_isolate_alive reads False and stays so."""
    cb = NativeCallable.isolate_local(I64_FN, abs, exceptional_return=0)
    assert cb.keep_isolate_alive is True and not cb.closed
    cb.close()
    cb.close()
    assert cb.closed
    with pytest.raises(RuntimeError, match="closed"):
        cb.native_function
    assert cb.keep_isolate_alive is False
    cb.keep_isolate_alive = True
    assert cb.keep_isolate_alive is False


def test_context_manager_closes() -> None:
    """Leaving a with block closes the callable."""
    with NativeCallable.isolate_group_bound(I64_FN, abs, exceptional_return=0) as cb:
        assert not cb.closed
    assert cb.closed


def test_call_after_close_returns_exceptional_return_reported_once(c: Any, unraisable: list[Any]) -> None:
    """A native call through a closed callable returns exceptional_return without calling Python, reported once."""
    calls: list[int] = []
    cb = NativeCallable.isolate_local(I64_FN, lambda x: calls.append(x) or x, exceptional_return=-9)
    fn = cb.native_function.as_function()
    assert fn(5) == 5
    cb.close()
    assert fn(6) == -9 and fn(7) == -9
    assert calls == [5]
    assert len(unraisable) == 1 and "after close()" in str(unraisable[0].exc_value)


def test_closed_without_exceptional_return_returns_zero(c: Any, unraisable: list[Any]) -> None:
    """A closed callable whose type returns Void returns nothing and does not crash; the late call is reported."""
    cb = NativeCallable.isolate_local(NativeFunction[[Int64], Void], lambda x: None)
    fn = cb.native_function.as_function()
    cb.close()
    assert fn(1) is None
    assert len(unraisable) == 1


def test_close_inside_the_callback(c: Any, unraisable: list[Any]) -> None:
    """A callback may close its own callable; that call still returns its value, the next gets the fallback."""
    box: list[NativeCallable[Any]] = []

    def once(x: int) -> int:
        box[0].close()
        return x * 10

    box.append(NativeCallable.isolate_local(I64_FN, once, exceptional_return=-1))
    fn = box[0].native_function.as_function()
    assert fn(4) == 40
    assert box[0].closed
    assert fn(4) == -1


def test_close_inside_the_callback_releases_the_function_when_that_call_ends(c: Any, unraisable: list[Any]) -> None:
    """A callback that closes its own callable finishes its call; the function is released as that call ends."""
    class F:
        def __call__(self, x: int) -> int:
            box[0].close()
            gc.collect()
            return x + 1

    f = F()
    ref = weakref.ref(f)
    box = [NativeCallable.isolate_local(I64_FN, f, exceptional_return=-1)]
    del f
    fn = box[0].native_function.as_function()
    assert ref() is not None
    assert fn(1) == 2
    assert ref() is None
    assert fn(1) == -1
    assert len(unraisable) == 1 and "after close()" in str(unraisable[0].exc_value)


def test_callback_that_closes_itself_then_raises_is_reported_by_name(c: Any, unraisable: list[Any]) -> None:
    """An exception raised after the callback closed its own callable is reported naming the callable."""
    def closes_then_raises(x: int) -> int:
        box[0].close()
        box.clear()
        gc.collect()
        raise ValueError("after close")

    box = [NativeCallable.isolate_local(I64_FN, closes_then_raises, exceptional_return=-5)]
    fn = box[0].native_function.as_function()
    assert fn(3) == -5
    assert len(unraisable) == 1 and isinstance(unraisable[0].exc_value, ValueError)
    assert "closes_then_raises" in str(unraisable[0].object)


def test_closed_trampoline_is_not_handed_to_the_next_64_callables() -> None:
    """A closed callable's address is not handed to any of the next 64 callables, so late calls are caught."""
    first = NativeCallable.isolate_local(I64_FN, abs, exceptional_return=0)
    address = first.native_function.address
    first.close()
    later = [NativeCallable.isolate_local(I64_FN, abs, exceptional_return=0) for _ in range(64)]
    assert address not in {cb.native_function.address for cb in later}
    for cb in later:
        cb.close()


# -- isolate_group_bound ------------------------------------------------------------------

def test_group_bound_from_a_foreign_thread(c: Any) -> None:
    """A native thread gets return values from Python synchronously, 1,000 times."""
    with NativeCallable.isolate_group_bound(I64_FN, lambda x: 2 * x, exceptional_return=-1) as cb:
        assert c.sum_calls_in_thread(cb, 10, 1000) == sum(2 * x for x in range(10, 1010))


def test_group_bound_from_concurrent_threads(c: Any) -> None:
    """Four native threads calling at once each get correct results; the total matches Python's."""
    with NativeCallable.isolate_group_bound(I64_FN, lambda x: x + 1, exceptional_return=-1) as cb:
        assert c.sum_calls_in_threads(cb, 4, 2000) == sum(x + 1 for x in range(4 * 2000))


def test_group_bound_keeps_one_thread_state_per_native_thread(c: Any) -> None:
    """threading.local data survives between calls on one native thread: its thread state is reused."""
    local = threading.local()

    def count(x: int) -> int:
        local.n = getattr(local, "n", 0) + 1
        return local.n  # type: ignore[no-any-return]

    with NativeCallable.isolate_group_bound(I64_FN, count, exceptional_return=-1) as cb:
        assert c.sum_calls_in_thread(cb, 0, 100) == sum(range(1, 101))
        assert c.call_i64(cb, 0) == 1  # the creating thread has its own


class _Token:
    """An object whose death says that the thread state holding it was cleared."""


def test_group_bound_threads_calling_many_times_then_exiting_release_their_thread_states(c: Any) -> None:
    """Native threads that call 500 times each and exit leave no thread state behind: their threading.local dies."""
    local = threading.local()
    alive: list[Any] = []

    def f(x: int) -> int:
        if not hasattr(local, "token"):
            local.token = _Token()
            alive.append(weakref.ref(local.token))
        return x

    with NativeCallable.isolate_group_bound(I64_FN, f, exceptional_return=-1) as cb:
        for _ in range(3):
            assert c.sum_calls_in_thread(cb, 0, 500) == sum(range(500))
    gc.collect()
    assert len(alive) == 3 and [r() for r in alive] == [None] * 3


def test_group_bound_many_threads_each_calling_once(c: Any) -> None:
    """64 concurrent native threads each call once and get their own result; each had its own thread state."""
    idents: set[int] = set()

    def f(x: int) -> int:
        idents.add(threading.get_ident())
        return 3 * x

    with NativeCallable.isolate_group_bound(I64_FN, f, exceptional_return=-1) as cb:
        assert c.sum_calls_in_threads(cb, 64, 1) == sum(3 * x for x in range(64))
    assert len(idents) == 64


def test_group_bound_foreign_thread_after_close_gets_exceptional_return(c: Any, unraisable: list[Any]) -> None:
    """A native thread that called before close() gets exceptional_return after it; Python is not called again."""
    calls: list[int] = []
    cb = NativeCallable.isolate_group_bound(I64_FN, lambda x: calls.append(x) or x, exceptional_return=-9)
    fp = cb.native_function
    assert c.sum_calls_in_thread(fp, 1, 3) == 6
    cb.close()
    assert c.sum_calls_in_thread(fp, 10, 4) == -36
    assert calls == [1, 2, 3]
    assert len(unraisable) == 1 and "after close()" in str(unraisable[0].exc_value)


def test_group_bound_exception_from_a_foreign_thread(c: Any, unraisable: list[Any]) -> None:
    """A raising callback on a native thread gives exceptional_return there and reports the exception."""
    def f(x: int) -> int:
        if x == 3:
            raise KeyError(x)
        return 0

    with NativeCallable.isolate_group_bound(I64_FN, f, exceptional_return=100) as cb:
        assert c.sum_calls_in_thread(cb, 0, 5) == 100
    assert len(unraisable) == 1 and isinstance(unraisable[0].exc_value, KeyError)


def test_group_bound_from_python_threads(c: Any) -> None:
    """Python threads calling native code that calls back each run the callback on their own thread."""
    idents: set[int] = set()

    def f(x: int) -> int:
        idents.add(threading.get_ident())
        return x

    barrier = threading.Barrier(3)
    results: list[int] = []

    def worker() -> None:
        barrier.wait()
        results.append(c.sum_calls(cb, 200))

    with NativeCallable.isolate_group_bound(I64_FN, f, exceptional_return=-1) as cb:
        ts = [threading.Thread(target=worker) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    assert results == [sum(range(200))] * 3
    assert idents == {t.ident for t in ts}


# -- Real C users: qsort, pthread_create, sqlite3_exec ----------------------------------------

@native(asset="libc.so.6", symbol="qsort")
def qsort(base: Pointer[Void], n: Size, size: Size,
          compar: Pointer[NativeFunction[[Pointer[Void], Pointer[Void]], Int]]) -> None: ...


@native(asset="libc.so.6", symbol="pthread_create")
def pthread_create(thread: Pointer[UnsignedLong], attr: Pointer[Void],
                   start: Pointer[NativeFunction[[Pointer[Void]], Pointer[Void]]], arg: Pointer[Void]) -> Int: ...


@native(asset="libc.so.6", symbol="pthread_join")
def pthread_join(thread: UnsignedLong, retval: Pointer[Pointer[Void]]) -> Int: ...


def test_qsort_with_isolate_local_comparator() -> None:
    """libc's qsort orders 1,000 Int32 with a Python comparator exactly as sorted() does."""
    import random
    rng = random.Random(4)
    values = [rng.randint(-10**6, 10**6) for _ in range(1000)]
    arr = malloc(Int32, len(values))
    for i, v in enumerate(values):
        arr[i] = v
    calls = 0

    def compare(a: Pointer[Any], b: Pointer[Any]) -> int:
        nonlocal calls
        calls += 1
        x, y = a.cast(Int32).value, b.cast(Int32).value
        return (x > y) - (x < y)

    with NativeCallable.isolate_local(NativeFunction[[Pointer[Void], Pointer[Void]], Int], compare,
                                      exceptional_return=0) as cmp:
        qsort(arr, len(values), 4, cmp)
    assert [arr[i] for i in range(len(values))] == sorted(values)
    assert calls >= len(values) - 1
    malloc.free(arr)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
def test_keyboard_interrupt_in_comparator_is_raised_when_qsort_returns(unraisable: list,
                                                                       exc: BaseException) -> None:
    """A KeyboardInterrupt or SystemExit raised by a callback during a non-leaf call is not swallowed: qsort gets
    the exceptional return for that comparison and goes on, and when qsort returns the first such exception is
    raised in the calling Python thread (later ones, and other exceptions, go to sys.unraisablehook)."""
    n = 200
    arr = malloc(Int32, n)
    for i in range(n):
        arr[i] = n - i
    calls = 0

    def compare(a: Pointer[Any], b: Pointer[Any]) -> int:
        nonlocal calls
        calls += 1
        if calls in (3, 5):
            raise exc
        x, y = a.cast(Int32).value, b.cast(Int32).value
        return (x > y) - (x < y)

    with NativeCallable.isolate_local(NativeFunction[[Pointer[Void], Pointer[Void]], Int], compare,
                                      exceptional_return=0) as cmp:
        with pytest.raises(type(exc)) as info:
            qsort(arr, n, 4, cmp)
    assert info.value is exc
    assert calls > 100                  # qsort went on calling after the exception
    assert [u.exc_type for u in unraisable] == [type(exc)]   # the second one
    qsort_ok = sorted(arr[i] for i in range(n)) == list(range(1, n + 1))
    assert qsort_ok                     # a permutation of what was there: nothing lost
    malloc.free(arr)


def test_keyboard_interrupt_in_leaf_free_context_goes_to_unraisablehook(c: Any, unraisable: list) -> None:
    """Outside any non-leaf nativeffi call (a leaf call keeps the GIL) a callback's KeyboardInterrupt cannot be
    re-raised by the caller: C gets the exceptional return and the exception goes to sys.unraisablehook."""
    def boom(x: int) -> int:
        raise KeyboardInterrupt
    with NativeCallable.isolate_local(I64_FN, boom, exceptional_return=-3) as cb:
        assert c.call_i64_leaf(cb, 1) == -3
    assert [u.exc_type for u in unraisable] == [KeyboardInterrupt]


def test_pthread_create_with_group_bound_start_routine() -> None:
    """pthread_create runs a Python start routine on the new thread; pthread_join gets its return value."""
    ran_on: list[int] = []

    def start(arg: Pointer[Any]) -> Pointer[Any]:
        ran_on.append(threading.get_ident())
        return arg.cast(Int64) + 1  # type: ignore[no-any-return]

    with Arena() as arena, NativeCallable.isolate_group_bound(
            NativeFunction[[Pointer[Void]], Pointer[Void]], start, exceptional_return=None) as routine:
        tid = arena(UnsignedLong)
        arg = arena(Int64, 4)
        assert pthread_create(tid, None, routine, arg) == 0
        out = arena(Pointer[Void])
        assert pthread_join(tid.value, out) == 0
        assert out.value.address == arg.address + 8
        assert ran_on == [tid.value] and ran_on[0] != threading.get_ident()


class sqlite3_db(Opaque):
    """An open SQLite database handle."""


@native(asset="libsqlite3.so.0")
def sqlite3_open(filename: Pointer[Utf8], db: Pointer[Pointer[sqlite3_db]]) -> Int: ...


@native(asset="libsqlite3.so.0")
def sqlite3_exec(db: Pointer[sqlite3_db], sql: Pointer[Utf8],
                 callback: Pointer[NativeFunction[[Pointer[Void], Int, Pointer[Pointer[Char]],
                                                  Pointer[Pointer[Char]]], Int]],
                 arg: Pointer[Void], errmsg: Pointer[Pointer[Char]]) -> Int: ...


@native(asset="libsqlite3.so.0")
def sqlite3_close(db: Pointer[sqlite3_db]) -> Int: ...


ROW_FN = NativeFunction[[Pointer[Void], Int, Pointer[Pointer[Char]], Pointer[Pointer[Char]]], Int]


def test_sqlite3_exec_row_callback(tmp_path: Any, unraisable: list[Any]) -> None:
    """sqlite3_exec hands each row to a Python callback: the rows equal what Python's sqlite3 reads."""
    path = str(tmp_path / "rows.db")
    with sqlite3.connect(path) as con:
        con.execute("create table t(x integer, s text)")
        con.executemany("insert into t values (?, ?)", [(i, f"row {i}") for i in range(50)] + [(99, None)])
    rows: list[dict[str, Any]] = []

    def on_row(arg: Pointer[Any], ncols: int, values: Pointer[Any], names: Pointer[Any]) -> int:
        rows.append({names[i].to_str(): None if values[i].is_null else values[i].to_str() for i in range(ncols)})
        return 0

    with Arena() as arena, NativeCallable.isolate_local(ROW_FN, on_row, exceptional_return=1) as cb:
        db_out = arena(Pointer[sqlite3_db])
        assert sqlite3_open(path, db_out) == 0
        err = arena(Pointer[Char])
        assert sqlite3_exec(db_out.value, "select x, s from t order by x", cb, None, err) == 0
        # A callback returning non-zero (here: by raising, so exceptional_return=1) aborts: SQLITE_ABORT.
        stop = NativeCallable.isolate_local(ROW_FN, lambda *a: 1 // 0, exceptional_return=1)
        assert sqlite3_exec(db_out.value, "select x from t", stop, None, err) == 4
        stop.close()
        assert isinstance(unraisable[0].exc_value, ZeroDivisionError)
        assert sqlite3_close(db_out.value) == 0
    with sqlite3.connect(path) as con:
        expected = [{"x": str(x), "s": s} for x, s in con.execute("select x, s from t order by x")]
    assert rows == expected


# -- Trampolines: prebuilt thunks for register-only signatures, libffi closures for the rest ----------------

FULL_FN = NativeFunction[[Int32, Double, Int64, Float, Uint8, Double, Pointer[Void], Double, Int16, Double, Bool,
                          Double, Double, Float], Double]
WIDE_FN = NativeFunction[[Int64] * 8 + [Double] * 9, Double]


def test_all_argument_registers_arrive_in_order(lib: str) -> None:
    """Six integer-class and eight floating arguments, interleaved, arrive as C passed them (the register limit)."""
    call_full = cfunc(lib, "call_full", [Pointer[FULL_FN], Pointer[Void]], Double)
    seen: list[tuple[Any, ...]] = []

    def f(*args: Any) -> float:
        seen.append(args)
        return 42.5

    marker = malloc(Int64, 1)
    with NativeCallable.isolate_local(FULL_FN, f, exceptional_return=0.0) as cb:
        if sys.platform.startswith("linux") and platform.machine() in ("x86_64", "aarch64"):
            assert cb._cb.trampoline == "thunk"
        assert call_full(cb, marker) == 42.5
    (a, b, c_, d, e, f_, p, g, h, i, j, k, m, n), = seen
    assert (a, b, c_, d, e, f_, g, h, i, j, k, m, n) == (-7, 0.25, -(1 << 40), 2.5, 200, -1.75, 3.0, -300, 1e100,
                                                        True, -0.0, 6.5, -8.25)
    assert p.address == marker.address
    malloc.free(marker)


def test_signatures_beyond_the_registers_use_libffi(lib: str) -> None:
    """Eight Int64 and nine Double arguments (more than the registers hold) go through a libffi closure."""
    call_wide = cfunc(lib, "call_wide", [Pointer[WIDE_FN]], Double)
    with NativeCallable.isolate_local(WIDE_FN, lambda *a: sum(a) + 0.125, exceptional_return=0.0) as cb:
        assert cb._cb.trampoline == "libffi"
        assert call_wide(cb) == sum(range(1, 9)) + sum(x + 0.5 for x in range(9)) + 0.125


def test_integer_only_signatures_with_floating_returns(lib: str) -> None:
    """Thunks for integer-only arguments deliver every argument and give C the double or float returned."""
    IDF = NativeFunction[[Int8, Uint16, Int32, Int64, Pointer[Void], Bool], Double]
    IFF = NativeFunction[[Int64, Uint8], Float]
    call_d = cfunc(lib, "call_ints_d", [Pointer[IDF], Pointer[Void]], Double)
    call_f = cfunc(lib, "call_ints_f", [Pointer[IFF], Int64], Float)
    seen: list[tuple[Any, ...]] = []
    marker = malloc(Int64, 1)

    def d(*args: Any) -> float:
        seen.append(args)
        return -1.25

    with NativeCallable.isolate_local(IDF, d, exceptional_return=0.0) as cb_d, \
            NativeCallable.isolate_group_bound(IFF, lambda a, b: a / 4 + b, exceptional_return=0.0) as cb_f:
        if sys.platform.startswith("linux") and platform.machine() in ("x86_64", "aarch64"):
            assert cb_d._cb.trampoline == cb_f._cb.trampoline == "thunk"
        assert call_d(cb_d, marker) == -2.5
        assert call_f(cb_f, -10) == 2 * (-2.5 + 255)
    (a, b, c_, e, p, flag), = seen
    assert (a, b, c_, e, flag) == (-3, 65535, -100000, 1 << 50, True) and p.address == marker.address
    malloc.free(marker)


def test_callback_that_closes_itself_and_many_others_then_raises(c: Any, unraisable: list[Any]) -> None:
    """A callback that closes its own callable, then enough others that its trampoline could be reused, then
    raises, still gives C its exceptional_return: a record in use (busy) is not freed."""
    def f(x: int) -> int:
        cb.close()
        for i in range(80):
            NativeCallable.isolate_local(I64_FN, lambda y: y, exceptional_return=i).close()
        raise ValueError("after closing")

    cb = NativeCallable.isolate_local(I64_FN, f, exceptional_return=-77)
    assert c.call_i64(cb, 1) == -77
    assert len(unraisable) == 1 and isinstance(unraisable[0].exc_value, ValueError)


def test_listener_that_closes_itself_and_many_others_is_not_freed_while_draining(c: Any) -> None:
    """A listener callback that closes its own listener and 80 others keeps later native calls harmless and
    gets no further deliveries."""
    seen: list[int] = []
    done = threading.Event()
    ev = NativeFunction[[Int64], Void]

    def on(x: int) -> None:
        seen.append(x)
        ls.close()
        for _ in range(80):
            NativeCallable.listener(ev, print).close()
        done.set()

    ls = NativeCallable.listener(ev, on)
    address = ls.native_function
    fn = address.as_function()
    for i in range(3):
        fn(i)
    assert done.wait(30)
    fn(99)  # the record is closed (retired, or its trampoline reused) before this: dropped, no crash
    assert seen == [0]
