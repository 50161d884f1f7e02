"""``python -m nativeffi``: the command line (``--help`` lists the subcommands) and the demo it runs by default.

``demo`` binds real libc, libm, zlib and SQLite functions and prints what it did; ``info`` reports the platform,
the core's build and the libraries found; ``bench`` runs the benchmarks (``nativeffi.bench``); ``gen`` writes
bindings for C headers (``nativeffi.gen``). Each has its own ``--help``.
"""
# Declarations have `...` bodies (mypy: empty-body), and str/bytes are passed where the annotation says Pointer,
# which the runtime accepts and a type checker cannot know (arg-type). See README, "Type checkers".
# mypy: disable-error-code="empty-body,arg-type"
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import zlib
from typing import Optional, Sequence

from . import (Arena, Char, Double, Int, Int64, Long, NativeCallable, NativeFunction, Opaque, Pointer, Size, Struct,
               Uint8, UnsignedInt, UnsignedLong, Utf8, Void, address_of, malloc, native, native_var, run)


@native(symbol="strlen", is_leaf=True)
def strlen(s: Pointer[Char]) -> Size: ...


@native
def getpid() -> Int: ...


@native(asset="libm.so.6", is_leaf=True)
def cbrt(x: Double) -> Double: ...


class ldiv_t(Struct):
    """C's ldiv_t: a struct returned by value."""
    quot: Long
    rem: Long


@native
def ldiv(numerator: Long, denominator: Long) -> ldiv_t: ...


Comparator = NativeFunction[[Pointer[Int64], Pointer[Int64]], Int]


@native
def qsort(base: Pointer[Int64], count: Size, size: Size, compare: Pointer[Comparator]) -> None: ...


StartRoutine = NativeFunction[[Pointer[Void]], Pointer[Void]]


@native(symbol="pthread_create")
def pthread_create(thread: Pointer[UnsignedLong], attr: Pointer[Void], start: Pointer[StartRoutine],
                   arg: Pointer[Void]) -> Int: ...


@native(symbol="pthread_join")
def pthread_join(thread: UnsignedLong, retval: Pointer[Pointer[Void]]) -> Int: ...


@native(asset="libz.so.1")
def zlibVersion() -> Pointer[Char]: ...


@native(asset="libz.so.1", is_leaf=True)
def crc32(crc: UnsignedLong, buf: Pointer[Uint8], n: UnsignedInt) -> UnsignedLong: ...


@native(asset="libz.so.1")
def compress(dest: Pointer[Uint8], dest_len: Pointer[UnsignedLong], src: Pointer[Uint8],
             src_len: UnsignedLong) -> Int: ...


class sqlite3(Opaque):
    """An SQLite connection handle."""


@native(asset="libsqlite3.so.0")
def sqlite3_libversion() -> Pointer[Utf8]: ...


@native(asset="libsqlite3.so.0")
def sqlite3_open(path: Pointer[Utf8], db: Pointer[Pointer[sqlite3]]) -> Int: ...


@native(asset="libsqlite3.so.0")
def sqlite3_exec(db: Pointer[sqlite3], sql: Pointer[Utf8], callback: Pointer[Void], arg: Pointer[Void],
                 errmsg: Pointer[Pointer[Char]]) -> Int: ...


@native(asset="libsqlite3.so.0")
def sqlite3_changes(db: Pointer[sqlite3]) -> Int: ...


UpdateHook = NativeFunction[[Pointer[Void], Int, Pointer[Utf8], Pointer[Utf8], Int64], Void]


@native(asset="libsqlite3.so.0")
def sqlite3_update_hook(db: Pointer[sqlite3], hook: Pointer[UpdateHook], arg: Pointer[Void]) -> Pointer[Void]: ...


@native(asset="libsqlite3.so.0")
def sqlite3_close(db: Pointer[sqlite3]) -> Int: ...


def show(what: str, result: object) -> None:
    print(f"  {what:<64} -> {result}")


def demo() -> None:
    print("libc (resolved from the process):")
    show('strlen("héllo wörld")', strlen("héllo wörld"))
    show("getpid() == os.getpid()", getpid() == os.getpid())
    environ = native_var(Pointer[Pointer[Char]], "environ", final=True)
    count, p = 0, environ.value
    while not p[count].is_null:
        count += 1
    show("entries in environ (a native global)", f"{count} (os.environ has {len(os.environ)})")
    print("libm (asset 'libm.so.6'):")
    show("cbrt(27.0)", cbrt(27.0))
    show("address_of(cbrt)", address_of(cbrt))
    print("zlib (asset 'libz.so.1'):")
    data = b"nativeffi " * 100
    show("zlibVersion()", zlibVersion().to_str())
    show("crc32(data) == zlib.crc32(data)", crc32(0, data, len(data)) == zlib.crc32(data))
    with Arena() as arena:
        out, out_len = arena(Uint8, 2048), arena(UnsignedLong)
        out_len.value = 2048
        compress(out, out_len, data, len(data))
        packed = bytes(out.as_memoryview(out_len.value))
        show(f"compress({len(data)} bytes)", f"{len(packed)} bytes; zlib.decompress agrees: "
             f"{zlib.decompress(packed) == data}")
    print("SQLite (asset 'libsqlite3.so.0'):")
    show("sqlite3_libversion()", sqlite3_libversion().to_str())
    with Arena() as arena:
        db_out = arena(Pointer[sqlite3])
        sqlite3_open(":memory:", db_out)
        db = db_out.value
        rc = sqlite3_exec(db, "create table t(x); insert into t values (1), (2), (3);", None, None, None)
        show("sqlite3_exec(create + insert 3 rows)", f"rc={rc}, changes={sqlite3_changes(db)}")
        show("sqlite3_close()", sqlite3_close(db))

    print("Structs by value:")
    r = ldiv(-17, 5)
    show("ldiv(-17, 5) (returns ldiv_t)", f"quot={r.quot}, rem={r.rem} (Python divmod: {divmod(-17, 5)})")

    print("Callbacks (NativeCallable):")
    values = [5, -3, 42, 0, 7, -11]
    numbers = malloc(Int64, len(values))
    for i, v in enumerate(values):
        numbers[i] = v
    calls = []

    def compare(a: Pointer[Int64], b: Pointer[Int64]) -> int:
        calls.append(1)
        return (a.value > b.value) - (a.value < b.value)
    with NativeCallable.isolate_local(Comparator, compare, exceptional_return=0) as cmp:
        qsort(numbers, len(values), 8, cmp)
    show("qsort with a Python comparator (isolate_local)",
         f"{[numbers[i] for i in range(len(values))]} after {len(calls)} upcalls")
    malloc.free(numbers)

    seen = []

    def start(arg: Pointer[Void]) -> Pointer[Void]:
        seen.append(threading.get_ident())
        return arg
    with NativeCallable.isolate_group_bound(StartRoutine, start, exceptional_return=None) as routine, \
            Arena() as arena:
        thread = arena(UnsignedLong)  # pthread_t is an unsigned long on Linux
        pthread_create(thread, None, routine, None)
        pthread_join(thread.value, None)
    show("pthread_create with a Python start routine (isolate_group_bound)",
         f"ran on a native thread: {seen[0] != threading.get_ident()}")

    async def listen() -> list[str]:
        events: list[str] = []
        done = asyncio.Event()

        def on_update(arg: Pointer[Void], op: int, database: Pointer[Utf8], table: Pointer[Utf8], rowid: int) -> None:
            events.append(f"{table.to_str()}#{rowid}")
            if len(events) == 3:
                done.set()
        with Arena() as arena:
            db_out = arena(Pointer[sqlite3])
            sqlite3_open(":memory:", db_out)
            db = db_out.value
            with NativeCallable.listener(UpdateHook, on_update) as hook:
                sqlite3_exec(db, "create table notes(x);", None, None, None)
                sqlite3_update_hook(db, hook, None)
                sqlite3_exec(db, "insert into notes values ('a'), ('b'), ('c');", None, None, None)
                await done.wait()  # delivered asynchronously, in order, on this asyncio loop
                sqlite3_update_hook(db, None, None)
            sqlite3_close(db)
        return events
    show("sqlite3_update_hook with a listener (asyncio)", run(listen()))


DOCS = "docs/index.md"  # the documentation's home page, in the source tree and on the site


def closing_line() -> str:
    """The demo's last line: where to read on."""
    return f"Next: the documentation ({DOCS} in the nativeffi repository); python -m nativeffi --help for the commands."


# name -> (one-line help, description); bench and gen parse their own arguments
COMMANDS = {
    "demo": ("bind real libc, libm, zlib and SQLite functions and show what C computed (the default)",
             "Binds real libc, libm, zlib and SQLite functions, structs by value and the three kinds of callback, "
             "and prints what C computed beside what Python computes."),
    "info": ("report the platform, call stubs, libffi, CPython build, the core and the libraries found",
             "Reports the platform and ABI, the call stubs this build has, the libffi version, the CPython build "
             "(version, implementation, GIL or free-threaded, debug), the core's path and build, and which common "
             "libraries (libc, libm, zlib, sqlite3, libcrypto...) and libclang (for gen) are on this system."),
    "bench": ("measure calls, memory access and callbacks against ctypes, cffi and C (see bench --help)", ""),
    "gen": ("write a module of @native declarations for C headers, with libclang (see gen --help)", ""),
}


def parser() -> argparse.ArgumentParser:
    """The top-level parser: --version, and one subparser per command (bench's and gen's own parsers run later)."""
    from ._info import version
    p = argparse.ArgumentParser(prog="python -m nativeffi", description="nativeffi: call C from Python the way "
                                "Dart's FFI does. With no command, runs the demo.",
                                epilog=f"Documentation: {DOCS}. Each command has its own --help.")
    p.add_argument("--version", action="version", version=f"nativeffi {version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (short, long) in COMMANDS.items():
        c = sub.add_parser(name, help=short, description=long or short, add_help=name in ("demo", "info"))
        if name == "info":
            c.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def run_info(as_json: bool) -> int:
    """``info``: prints the report (JSON with --json)."""
    from ._info import collect, format_report
    report = collect()
    print(json.dumps(report, indent=2) if as_json else format_report(report))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line with `argv` (default: sys.argv[1:]) and returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["demo"]  # python -m nativeffi alone runs the demo, as it always has
    if args[0] == "gen":
        from .gen import main as gen_main
        return gen_main(args[1:])
    if args[0] == "bench":
        from .bench import main as bench_main
        return bench_main(args[1:], prog="python -m nativeffi bench")
    p = parser()
    if not args[0].startswith("-") and args[0] not in COMMANDS:
        p.print_usage(sys.stderr)
        print(f"python -m nativeffi: error: unknown command {args[0]!r}: expected one of {', '.join(COMMANDS)} "
              "(python -m nativeffi --help describes them)", file=sys.stderr)
        return 2
    try:
        a = p.parse_args(args)
    except SystemExit as e:  # --help, --version, or a usage error (argparse printed it)
        return e.code if isinstance(e.code, int) else 2
    if a.command == "info":
        return run_info(a.json)
    if a.command == "demo" or a.command is None:
        demo()
        print()
        print(closing_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
