"""NativeFinalizer and Finalizable: native functions run when objects die, exactly once, never when detached, and
at the latest at exit; with real handles (SQLite connections, malloc'ed buffers) and C helpers that count."""
from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from nativeffi import (
    Arena, Finalizable, Int, NativeCallable, NativeFinalizer, NativeFunction, Opaque, Pointer, Uint8, Utf8, Void,
    address_of, malloc, native, native_memory_held, to_native_utf8,
)
from nativeffi import _core
from helpers import SRC, cfunc

FIN_FN = NativeFunction[[Pointer[Void]], Void]


class Obj:
    """An ordinary Python object (it supports weak references)."""


@pytest.fixture(scope="module")
def lib(native_lib: Any) -> str:
    return str(native_lib("finalizers"))


@pytest.fixture
def fin(lib: str) -> Any:
    """The C helpers' accessors, reset before the test."""
    class F:
        reset = cfunc(lib, "fin_reset", [], Void)
        calls = cfunc(lib, "fin_calls", [], Int)
        token_sum = cfunc(lib, "fin_token_sum", [], Pointer[Void])
        log = cfunc(lib, "fin_log", [Int], Pointer[Void])
        gil_seen = cfunc(lib, "fin_gil_seen", [], Int)
        sqlite_ok = cfunc(lib, "fin_sqlite_ok", [], Int)
        sqlite_other = cfunc(lib, "fin_sqlite_other", [], Int)
        count = Pointer[FIN_FN].from_address(_lookup(lib, "fin_count"))
        gil = Pointer[FIN_FN].from_address(_lookup(lib, "fin_gil"))
        sqlite_close = Pointer[NativeFunction[[Pointer[Void]], Int]].from_address(_lookup(lib, "fin_sqlite_close"))
    F.reset()
    return F


def _lookup(lib: str, name: str) -> int:
    from nativeffi import assets
    address = assets.lookup(lib, name)
    assert address is not None
    return int(address)


# -- Running when the object dies ------------------------------------------------------------------------------

def test_runs_with_the_token_when_the_last_reference_goes(fin: Any) -> None:
    """The native function runs once with the token as soon as the object's last reference is dropped."""
    f = NativeFinalizer(fin.count)
    o = Obj()
    f.attach(o, 0x1234)
    assert (fin.calls(), f.pending) == (0, 1)
    del o
    assert (fin.calls(), fin.log(0).address, f.pending) == (1, 0x1234, 0)


def test_a_pointer_token_passes_its_address(fin: Any) -> None:
    """A Pointer token reaches the function as its address."""
    f = NativeFinalizer(fin.count)
    p = Pointer[Uint8].from_address(0xABC0)
    o = Obj()
    f.attach(o, p)
    del o
    assert fin.log(0).address == 0xABC0


def test_objects_in_a_cycle_run_when_the_collector_frees_them(fin: Any) -> None:
    """Objects in reference cycles run their finalizers when the cycle collector frees them."""
    f = NativeFinalizer(fin.count)
    for i in range(100):
        a, b = Obj(), Obj()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        f.attach(a, i + 1)
    del a, b
    gc.collect()
    assert (fin.calls(), fin.token_sum().address, f.pending) == (100, sum(range(1, 101)), 0)


def test_thousands_of_objects_each_run_exactly_once(fin: Any) -> None:
    """20,000 attachments (two finalizers, a shared detach key) run exactly once each, as their objects die."""
    f, g = NativeFinalizer(fin.count), NativeFinalizer(fin.count)
    held = native_memory_held()
    key = Obj()
    objs = [Obj() for _ in range(10_000)]
    for i, o in enumerate(objs):
        f.attach(o, 2 * i + 1, detach=key, external_size=3)
        g.attach(o, 2 * i + 2, external_size=1)
    del o
    assert (f.pending, g.pending, f.external_size, g.external_size) == (10_000, 10_000, 30_000, 10_000)
    assert native_memory_held() == held + 40_000
    while objs:
        objs.pop()
    assert (fin.calls(), fin.token_sum().address) == (20_000, sum(range(1, 20_001)))
    # the last object died first; its attachments ran newest first (g's, then f's), as CPython calls weak
    # reference callbacks
    assert [fin.log(i).address for i in range(4)] == [20_000, 19_999, 19_998, 19_997]
    assert (f.pending, g.pending, f.external_size, native_memory_held()) == (0, 0, 0, held)
    assert f.detach(key) == 0


def test_each_attachment_to_the_same_object_runs(fin: Any) -> None:
    """Attaching twice to one object (same token) runs the function twice: once per attachment, as Dart does."""
    f = NativeFinalizer(fin.count)
    o = Obj()
    f.attach(o, 7)
    f.attach(o, 7)
    del o
    assert fin.calls() == 2


def test_attachments_outlive_the_finalizer_object(fin: Any) -> None:
    """Dropping the NativeFinalizer does not cancel its attachments: they still run when their objects die."""
    f = NativeFinalizer(fin.count)
    o = Obj()
    f.attach(o, 5, detach=o, external_size=8)
    del f
    gc.collect()
    del o
    assert (fin.calls(), fin.log(0).address) == (1, 5)


def test_runs_without_the_gil(fin: Any) -> None:
    """The native function runs with the GIL released (PyGILState_Check() is 0 inside it)."""
    f = NativeFinalizer(fin.gil)
    o = Obj()
    f.attach(o, 1)
    del o
    assert (fin.calls(), fin.gil_seen()) == (1, 0)


def test_an_object_dying_on_another_thread_runs_it_there(fin: Any) -> None:
    """An object whose last reference goes on another thread runs its finalizer on that thread."""
    f = NativeFinalizer(fin.count)
    box = [Obj()]
    f.attach(box[0], 9)
    t = threading.Thread(target=box.clear)
    t.start()
    t.join()
    assert fin.calls() == 1


# -- Detaching -------------------------------------------------------------------------------------------------

def test_detach_cancels_by_key_identity(fin: Any) -> None:
    """detach(key) cancels this finalizer's attachments made with that key (by identity) and says how many."""
    f, g = NativeFinalizer(fin.count), NativeFinalizer(fin.count)
    a, b, key = Obj(), Obj(), Obj()
    f.attach(a, 1, detach=key, external_size=10)
    f.attach(b, 2, detach=key, external_size=10)
    f.attach(b, 3, detach=b)
    g.attach(a, 4, detach=key)
    assert f.detach(Obj()) == 0
    assert f.detach(key) == 2
    assert f.detach(key) == 0
    assert (f.pending, f.external_size, g.pending) == (1, 0, 1)
    del a, b
    assert sorted(fin.log(i).address for i in range(fin.calls())) == [3, 4]


def test_detach_with_the_object_itself_as_key(fin: Any) -> None:
    """The object may be its own detach key (held weakly, so it still dies); detaching it runs nothing."""
    f = NativeFinalizer(fin.count)
    o = Obj()
    f.attach(o, 1, detach=o)
    assert f.detach(o) == 1
    del o
    o2 = Obj()
    f.attach(o2, 2, detach=o2)
    del o2  # not kept alive by being its own key
    assert (fin.calls(), fin.log(0).address) == (1, 2)


def test_a_dead_key_does_not_detach_a_new_object_with_its_id(fin: Any) -> None:
    """Keys are compared by identity while alive: a new object reusing a dead key's id detaches nothing."""
    f = NativeFinalizer(fin.count)
    o = Obj()
    for _ in range(50):
        key = Obj()
        f.attach(o, 1, detach=key)
        del key
    detached = sum(f.detach(Obj()) for _ in range(50))
    assert (detached, f.pending) == (0, 50)


# -- Real handles ----------------------------------------------------------------------------------------------

class sqlite3_db(Opaque):
    """An open SQLite database handle."""


@native(asset="libsqlite3.so.0")
def sqlite3_open(filename: Pointer[Utf8], db: Pointer[Pointer[sqlite3_db]]) -> Int: ...


@native(asset="libsqlite3.so.0")
def sqlite3_exec(db: Pointer[sqlite3_db], sql: Pointer[Utf8], callback: Pointer[Void], arg: Pointer[Void],
                 errmsg: Pointer[Pointer[Void]]) -> Int: ...


@native(asset="libsqlite3.so.0")
def sqlite3_close(db: Pointer[sqlite3_db]) -> Int: ...


class Database(Finalizable):
    """A wrapper that closes its SQLite connection when it is collected, or explicitly with close()."""

    __slots__ = ("handle",)
    closer: NativeFinalizer

    def __init__(self, path: str) -> None:
        with Arena() as arena:
            out = arena(Pointer[sqlite3_db])
            assert sqlite3_open(path, out) == 0
            self.handle = out.value
        self.closer.attach(self, self.handle, detach=self, external_size=4096)

    def execute(self, sql: str) -> int:
        return int(sqlite3_exec(self.handle, sql, None, None, None))

    def close(self) -> None:
        if self.closer.detach(self):
            assert sqlite3_close(self.handle) == 0


def test_sqlite_connection_closed_by_sqlite3_close_itself(tmp_path: Any) -> None:
    """NativeFinalizer(address_of(sqlite3_close)) closes a collected connection: its exclusive lock is released."""
    Database.closer = NativeFinalizer(address_of(sqlite3_close))
    path = str(tmp_path / "locked.db")
    db = Database(path)
    assert db.execute("create table t(x); begin exclusive; insert into t values (1)") == 0
    other = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("insert into t values (2)")
    del db  # sqlite3_close rolls back the open transaction and releases the lock
    other.execute("insert into t values (2)")
    other.commit()
    assert other.execute("select x from t").fetchall() == [(2,)]
    other.close()


def test_sqlite_connections_closed_with_sqlite_ok(fin: Any, tmp_path: Any) -> None:
    """Hundreds of connections, collected or closed explicitly, are each closed once, every close SQLITE_OK."""
    Database.closer = NativeFinalizer(fin.sqlite_close)
    held = native_memory_held()
    dbs = [Database(str(tmp_path / f"db{i % 4}.db")) for i in range(300)]
    assert native_memory_held() == held + 300 * 4096
    for db in dbs[:100]:
        db.close()
    assert native_memory_held() == held + 200 * 4096
    del db
    dbs.clear()
    assert (fin.sqlite_ok(), fin.sqlite_other(), native_memory_held()) == (200, 0, held)


def test_malloced_buffers_freed_by_free(lib: str) -> None:
    """free as the finalizer frees malloc'ed buffers (checked under AddressSanitizer by .ci/sanitize)."""
    @native  # found in the process: the free() that malloc() pairs with
    def free(p: Pointer[Void]) -> None: ...

    freeing = NativeFinalizer(address_of(free))
    objs = []
    for i in range(2000):
        o = Obj()
        p = malloc(Uint8, 64 + i)
        p[63 + i] = 1
        freeing.attach(o, p, external_size=64 + i)
        objs.append(o)
    del o
    assert freeing.external_size == sum(64 + i for i in range(2000))
    objs.clear()
    assert (freeing.pending, freeing.external_size) == (0, 0)


# -- Errors ----------------------------------------------------------------------------------------------------

class Slotted:
    """A class with __slots__ and no __weakref__ slot: no weak references."""
    __slots__ = ("x",)


class SlottedFinalizable(Finalizable):
    """The same with Finalizable as its base: weak references work."""
    __slots__ = ("x",)


@pytest.mark.parametrize("obj", [1, (1, 2), "text", Slotted()], ids=["int", "tuple", "str", "slots"])
def test_objects_without_weak_references_are_refused(fin: Any, obj: Any) -> None:
    """Objects that cannot be weakly referenced are refused with a TypeError that says to use Finalizable."""
    f = NativeFinalizer(fin.count)
    with pytest.raises(TypeError, match=r"attach\(\) needs an object that supports weak references, got "
                                        r"\w+; subclass nativeffi.Finalizable"):
        f.attach(obj, 1)
    with pytest.raises(TypeError, match=r"needs a detach key that supports weak references"):
        f.attach(Obj(), 1, detach=obj)
    assert (f.pending, f.external_size) == (0, 0)


def test_finalizable_subclass_with_slots_works(fin: Any) -> None:
    """A Finalizable subclass with __slots__ can be attached to."""
    f = NativeFinalizer(fin.count)
    o = SlottedFinalizable()
    f.attach(o, 3)
    del o
    assert fin.calls() == 1


@pytest.mark.parametrize("bad, error, message", [
    (0, ValueError, "null address"),
    ("free", TypeError, "expected a native function"),
    (Pointer[NativeFunction[[Pointer[Void], Int], Void]].from_address(8), TypeError, r"void \(\*\)\(void \*\)"),
    (Pointer[NativeFunction[[Int], Void]].from_address(8), TypeError, r"void \(\*\)\(void \*\)"),
], ids=["null", "str", "two-params", "int-param"])
def test_bad_functions_are_refused(bad: Any, error: type, message: str) -> None:
    """A null address, a non-function, or a function that does not take one pointer is refused."""
    with pytest.raises(error, match=message):
        NativeFinalizer(bad)


def test_a_native_callable_is_refused() -> None:
    """A NativeCallable is refused: a finalizer may run at exit, when Python code can no longer run."""
    with NativeCallable.isolate_local(FIN_FN, lambda p: None) as cb:
        with pytest.raises(TypeError, match="calls into Python"):
            NativeFinalizer(cb)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"token": "x"}, TypeError, "Pointer or int token"),
    ({"token": 1, "external_size": -1}, ValueError, "external_size must be >= 0"),
    ({"token": 1, "external_size": 1.5}, TypeError, "int external_size"),
    ({"token": 1, "external_size": 2**62}, OverflowError, "native memory held past"),
], ids=["token", "negative-size", "float-size", "huge-size"])
def test_bad_attach_arguments_are_refused(fin: Any, kwargs: dict[str, Any], error: type, message: str) -> None:
    """Bad tokens and external sizes are refused with what was expected, and nothing is attached."""
    f = NativeFinalizer(fin.count)
    with pytest.raises(error, match=message):
        f.attach(Obj(), **kwargs)
    assert (f.pending, f.external_size) == (0, 0)


# -- Exit ------------------------------------------------------------------------------------------------------

EXIT_SCRIPT = '''
import ctypes, sys
from nativeffi import NativeFinalizer, Pointer, NativeFunction, Void, assets, to_native_utf8, malloc
lib, out = sys.argv[1], sys.argv[2]
fin = NativeFinalizer(Pointer[NativeFunction[[Pointer[Void]], Void]].from_address(assets.lookup(lib, "fin_append")))
class Obj: pass
def token(line): return to_native_utf8(out + "\\t" + line, allocator=malloc)
'''


def run_exit_script(lib: str, out: str, body: str) -> list[str]:
    """Runs EXIT_SCRIPT + body in a new interpreter; returns the lines its finalizers appended to `out`."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", EXIT_SCRIPT + textwrap.dedent(body), lib, out], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return open(out).read().splitlines() if os.path.exists(out) else []


def test_objects_alive_at_exit_are_finalized(lib: str, tmp_path: Any) -> None:
    """Objects still referenced when the program ends (globals, a daemon thread's) run their finalizers once."""
    lines = run_exit_script(lib, str(tmp_path / "out"), '''
        import threading
        kept = Obj()
        fin.attach(kept, token("global"))
        cycle = Obj(); cycle.me = cycle
        fin.attach(cycle, token("cycle"))
        print("end of script")
    ''')
    assert sorted(lines) == ["cycle", "global"]


def test_leaked_objects_run_after_finalization_newest_first(lib: str, tmp_path: Any) -> None:
    """Objects never freed (a leaked reference) run their finalizers after the interpreter ends, newest first."""
    lines = run_exit_script(lib, str(tmp_path / "out"), '''
        for name in ("a", "b", "c"):
            o = Obj()
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(o))  # never freed
            fin.attach(o, token(name))
        fin.attach(Obj(), token("died"))
    ''')
    assert lines == ["died", "c", "b", "a"]


def test_detached_attachments_never_run_even_at_exit(lib: str, tmp_path: Any) -> None:
    """Detached attachments do not run, neither when their objects die nor at exit."""
    lines = run_exit_script(lib, str(tmp_path / "out"), '''
        leaked, kept = Obj(), Obj()
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(leaked))
        fin.attach(leaked, token("leaked"), detach=leaked)
        fin.attach(kept, token("kept"), detach=kept)
        fin.attach(kept, token("kept, not detached"))
        assert fin.detach(leaked) == 1 and fin.detach(kept) == 1
    ''')
    assert lines == ["kept, not detached"]


def test_core_finalizer_type_is_exposed() -> None:
    """The core type behind NativeFinalizer takes an int address and reports it."""
    f = _core.Finalizer(0x1000)
    assert (f.address, f.pending, f.external_size) == (0x1000, 0, 0)
