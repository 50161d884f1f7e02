"""The workloads through the standard library's own C modules (sqlite3, hashlib, os/time, zlib, pyexpat): the
reference where the module binds the same C library; ``sorted`` with ``cmp_to_key`` for qsort (no module binds
libc's qsort, so that row is only for orientation)."""
from __future__ import annotations

import functools
import hashlib
import os
import sqlite3 as _sqlite3
import time
import xml.parsers.expat
import zlib as _zlib

from .data import TIME_FORMAT, ZLIB_LEVEL, Inputs, bucket, score


def sqlite(inp: Inputs) -> list[tuple[int, int]]:
    """The rows inserted with executemany (one prepared statement), grouped by a Python function."""
    con = _sqlite3.connect(":memory:")
    con.execute("create table t(id integer primary key, name text, score integer)")
    with con:
        con.executemany("insert into t values (?, ?, ?)", ((i, f"name {i}", score(i)) for i in range(inp.rows)))
    con.create_function("bucket", 1, bucket)
    out = con.execute("select bucket(score), count(*) from t group by 1 order by 1").fetchall()
    con.close()
    return out


def sha256(inp: Inputs) -> list[bytes]:
    """hashlib.sha256 (OpenSSL's EVP underneath) of each message."""
    return [hashlib.sha256(m).digest() for m in inp.messages]


def stat_time(inp: Inputs) -> list[str]:
    """os.stat, time.localtime and time.strftime for each path."""
    return [time.strftime(TIME_FORMAT, time.localtime(os.stat(p).st_mtime)) for p in inp.paths]


def zlib(inp: Inputs) -> tuple[list[int], list[bytes]]:
    """zlib.crc32, zlib.compress and zlib.decompress (checked) of each buffer."""
    crcs, packed = [], []
    for b in inp.buffers:
        crcs.append(_zlib.crc32(b))
        c = _zlib.compress(b, ZLIB_LEVEL)
        if _zlib.decompress(c) != b:
            raise RuntimeError("decompress did not restore the buffer")
        packed.append(c)
    return crcs, packed


def expat(inp: Inputs) -> tuple[dict[str, int], int, int, int]:
    """pyexpat with start, end and character data handlers."""
    counts: dict[str, int] = {}
    ids = text = closed = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal ids
        counts[name] = counts.get(name, 0) + 1
        if "id" in attrs:
            ids += int(attrs["id"])

    def end(name: str) -> None:
        nonlocal closed
        if name == "record":
            closed += 1

    def characters(s: str) -> None:
        nonlocal text
        text += len(s)

    parser = xml.parsers.expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = characters
    parser.Parse(inp.document, True)
    return counts, closed, ids, text


def sort_ints(inp: Inputs) -> list[int]:
    """sorted() with the same comparator through functools.cmp_to_key."""
    def compare(a: int, b: int) -> int:
        return a - b

    return sorted(inp.ints, key=functools.cmp_to_key(compare))
