"""Real C libraries on the machine: libc, libm, zlib and SQLite, checked against Python's own bindings."""
from __future__ import annotations

import math
import os
import sqlite3
import zlib

import pytest

from nativeffi import (Arena, Char, Double, Float, Int, NativeFunction, Opaque, Pointer, Size, Uint8, UnsignedInt,
                       UnsignedLong, Utf8, native, native_var)


# -- libc ------------------------------------------------------------------------

@native(symbol="strlen", is_leaf=True)
def c_strlen(s: Pointer[Char]) -> Size: ...


@native(NativeFunction[[Pointer[Char], Pointer[Char]], Int], symbol="strcmp", is_leaf=True)
def c_strcmp(a, b): ...


@native
def getpid() -> Int: ...


@native(symbol="getenv")
def c_getenv(name: Pointer[Char]) -> Pointer[Char]: ...


@native(asset="libc.so.6", symbol="abs")
def c_abs(x: Int) -> Int: ...


def test_libc_strings() -> None:
    """strlen and strcmp agree with Python on UTF-8 text and bytes."""
    assert c_strlen("hello, wörld") == len("hello, wörld".encode())
    assert c_strlen(b"") == 0
    assert c_strcmp("abc", "abd") < 0 < c_strcmp(b"b", b"a") and c_strcmp("x", "x") == 0


def test_libc_process() -> None:
    """getpid resolved from the process equals os.getpid; abs from libc.so.6 by soname."""
    assert getpid() == os.getpid()
    assert c_abs(-17) == 17


def test_libc_environ() -> None:
    """The environ global read through native_var holds this process's environment."""
    environ = native_var(Pointer[Pointer[Char]], "environ", final=True)
    entries = []
    p = environ.value
    while not p.value.is_null:
        entries.append(p.value.to_str())
        p += 1
    # Everything Python put in the environment is there (C code may add more, e.g. LINES/COLUMNS)...
    assert {f"{k}={v}" for k, v in os.environ.items()} <= set(entries)
    # ...and each entry is what C's own getenv answers.
    for entry in entries:
        key, _, value = entry.partition("=")
        assert c_getenv(key).to_str() == value


# -- libm ------------------------------------------------------------------------

@native(asset="libm.so.6", is_leaf=True)
def cos(x: Double) -> Double: ...


@native(asset="libm.so.6", is_leaf=True)
def ldexp(x: Double, e: Int) -> Double: ...


@native(asset="libm.so.6", is_leaf=True)
def cbrtf(x: Float) -> Float: ...


@pytest.mark.parametrize("x", [0.0, 0.5, -1.25, 3.141592653589793, 1e10])
def test_libm_matches_math(x: float) -> None:
    """libm's cos and ldexp return the same doubles as Python's math module (which calls libm)."""
    assert cos(x) == math.cos(x)
    assert ldexp(x, 7) == math.ldexp(x, 7)


def test_libm_float_function() -> None:
    """cbrtf takes and returns 32-bit floats: 27 -> 3."""
    assert cbrtf(27.0) == 3.0


# -- zlib ------------------------------------------------------------------------

@native(asset="libz.so.1", is_leaf=True)
def crc32(crc: UnsignedLong, buf: Pointer[Uint8], n: UnsignedInt) -> UnsignedLong: ...


@native(asset="libz.so.1")
def zlibVersion() -> Pointer[Char]: ...


@native(asset="libz.so.1")
def compress(dest: Pointer[Uint8], dest_len: Pointer[UnsignedLong], src: Pointer[Uint8], src_len: UnsignedLong) -> Int: ...


@native(asset="libz.so.1")
def uncompress(dest: Pointer[Uint8], dest_len: Pointer[UnsignedLong], src: Pointer[Uint8], src_len: UnsignedLong) -> Int: ...


@native(asset="libz.so.1", is_leaf=True)
def compressBound(n: UnsignedLong) -> UnsignedLong: ...


def test_zlib_version_matches_python() -> None:
    """zlibVersion() is the runtime version Python's zlib module reports."""
    assert zlibVersion().to_str() == zlib.ZLIB_RUNTIME_VERSION


@pytest.mark.parametrize("data", [b"", b"hello", bytes(range(256)) * 40])
def test_zlib_crc32_matches_python(data: bytes) -> None:
    """crc32 over bytes equals zlib.crc32, also when chained from a previous value."""
    assert crc32(0, data, len(data)) == zlib.crc32(data)
    assert crc32(12345, data, len(data)) == zlib.crc32(data, 12345)


def test_zlib_compress_round_trip() -> None:
    """compress then uncompress restores the data, and Python's zlib can decompress what C compressed."""
    data = b"nativeffi " * 1000 + bytes(range(256))
    with Arena() as arena:
        cap = compressBound(len(data))
        out = arena(Uint8, cap)
        out_len = arena(UnsignedLong)
        out_len.value = cap
        assert compress(out, out_len, data, len(data)) == 0  # Z_OK
        compressed = bytes(out.as_memoryview(out_len.value))
        assert zlib.decompress(compressed) == data
        back = bytearray(len(data))
        back_len = arena(UnsignedLong)
        back_len.value = len(back)
        assert uncompress(back, back_len, compressed, len(compressed)) == 0
        assert back_len.value == len(data) and bytes(back) == data


# -- SQLite ----------------------------------------------------------------------

class sqlite3_db(Opaque):
    """An open SQLite database handle."""


@native(asset="libsqlite3.so.0")
def sqlite3_libversion_number() -> Int: ...


@native(asset="libsqlite3.so.0")
def sqlite3_open(filename: Pointer[Utf8], db: Pointer[Pointer[sqlite3_db]]) -> Int: ...


@native(asset="libsqlite3.so.0")
def sqlite3_exec(db: Pointer[sqlite3_db], sql: Pointer[Utf8], callback: Pointer, arg: Pointer,
                 errmsg: Pointer[Pointer[Char]]) -> Int: ...


@native(asset="libsqlite3.so.0")
def sqlite3_close(db: Pointer[sqlite3_db]) -> Int: ...


@native(asset="libsqlite3.so.0")
def sqlite3_errmsg(db: Pointer[sqlite3_db]) -> Pointer[Utf8]: ...


@native(asset="libsqlite3.so.0")
def sqlite3_free(p: Pointer) -> None: ...


def test_sqlite_version_matches_python() -> None:
    """sqlite3_libversion_number encodes the version Python's sqlite3 module reports."""
    major, minor, patch = sqlite3.sqlite_version_info
    assert sqlite3_libversion_number() == major * 1_000_000 + minor * 1000 + patch


def test_sqlite_open_exec_close(tmp_path) -> None:
    """A database created through nativeffi holds the rows Python's sqlite3 module then reads back."""
    path = str(tmp_path / "t.db")
    with Arena() as arena:
        db_out = arena(Pointer[sqlite3_db])
        assert sqlite3_open(path, db_out) == 0
        db = db_out.value
        assert not db.is_null
        err = arena(Pointer[Char])
        sql = "create table t(x integer, s text); insert into t values (1, 'één'), (2, 'two');"
        assert sqlite3_exec(db, sql, None, None, err) == 0, err.value.to_str()
        assert sqlite3_exec(db, "select * from nope", None, None, err) == 1  # SQLITE_ERROR
        assert "no such table: nope" in err.value.to_str()
        assert "no such table" in sqlite3_errmsg(db).to_str()
        sqlite3_free(err.value)
        assert sqlite3_close(db) == 0
    with sqlite3.connect(path) as con:
        assert con.execute("select x, s from t order by x").fetchall() == [(1, "één"), (2, "two")]
