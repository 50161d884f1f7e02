"""The six workloads written with ctypes as its documentation teaches: argtypes/restype set once, Structure
layouts, out-parameters allocated once outside the loops and passed with byref, CFUNCTYPE callbacks."""
from __future__ import annotations

import ctypes
from ctypes import (CFUNCTYPE, POINTER, Structure, byref, c_char, c_char_p, c_int, c_int32, c_int64, c_long,
                    c_size_t, c_uint, c_ulong, c_void_p)
from typing import Any

from .data import TIME_FORMAT, ZLIB_LEVEL, Inputs, bucket, score

# -- SQLite ------------------------------------------------------------------------------------------

SQLITE_ROW, SQLITE_DONE, SQLITE_UTF8 = 100, 101, 1
SQLITE_TRANSIENT = c_void_p(-1)
SCALAR_FN = CFUNCTYPE(None, c_void_p, c_int, POINTER(c_void_p))

_sq = ctypes.CDLL("libsqlite3.so.0")
_sq.sqlite3_open.argtypes, _sq.sqlite3_open.restype = [c_char_p, POINTER(c_void_p)], c_int
_sq.sqlite3_exec.argtypes, _sq.sqlite3_exec.restype = [c_void_p, c_char_p, c_void_p, c_void_p, c_void_p], c_int
_sq.sqlite3_prepare_v2.argtypes = [c_void_p, c_char_p, c_int, POINTER(c_void_p), c_void_p]
_sq.sqlite3_prepare_v2.restype = c_int
_sq.sqlite3_bind_int64.argtypes, _sq.sqlite3_bind_int64.restype = [c_void_p, c_int, c_int64], c_int
_sq.sqlite3_bind_text.argtypes, _sq.sqlite3_bind_text.restype = [c_void_p, c_int, c_char_p, c_int, c_void_p], c_int
_sq.sqlite3_step.argtypes, _sq.sqlite3_step.restype = [c_void_p], c_int
_sq.sqlite3_reset.argtypes, _sq.sqlite3_reset.restype = [c_void_p], c_int
_sq.sqlite3_finalize.argtypes, _sq.sqlite3_finalize.restype = [c_void_p], c_int
_sq.sqlite3_column_int64.argtypes, _sq.sqlite3_column_int64.restype = [c_void_p, c_int], c_int64
_sq.sqlite3_create_function_v2.argtypes = [c_void_p, c_char_p, c_int, c_int, c_void_p, SCALAR_FN, c_void_p,
                                           c_void_p, c_void_p]
_sq.sqlite3_create_function_v2.restype = c_int
_sq.sqlite3_value_int64.argtypes, _sq.sqlite3_value_int64.restype = [c_void_p], c_int64
_sq.sqlite3_result_int64.argtypes, _sq.sqlite3_result_int64.restype = [c_void_p, c_int64], None
_sq.sqlite3_close_v2.argtypes, _sq.sqlite3_close_v2.restype = [c_void_p], c_int


def sqlite(inp: Inputs) -> list[tuple[int, int]]:
    """Inserts inp.rows rows through one prepared statement, then groups them by a Python scalar function."""
    db, stmt = c_void_p(), c_void_p()
    assert _sq.sqlite3_open(b":memory:", byref(db)) == 0
    assert _sq.sqlite3_exec(db, b"create table t(id integer primary key, name text, score integer)", None, None,
                            None) == 0
    assert _sq.sqlite3_prepare_v2(db, b"insert into t values (?1, ?2, ?3)", -1, byref(stmt), None) == 0
    assert _sq.sqlite3_exec(db, b"begin", None, None, None) == 0
    for i in range(inp.rows):
        _sq.sqlite3_bind_int64(stmt, 1, i)
        _sq.sqlite3_bind_text(stmt, 2, f"name {i}".encode(), -1, SQLITE_TRANSIENT)
        _sq.sqlite3_bind_int64(stmt, 3, score(i))
        if _sq.sqlite3_step(stmt) != SQLITE_DONE:
            raise RuntimeError("insert failed")
        _sq.sqlite3_reset(stmt)
    _sq.sqlite3_finalize(stmt)
    assert _sq.sqlite3_exec(db, b"commit", None, None, None) == 0

    @SCALAR_FN  # type: ignore[untyped-decorator]
    def py_bucket(ctx: Any, argc: int, argv: Any) -> None:
        _sq.sqlite3_result_int64(ctx, bucket(_sq.sqlite3_value_int64(argv[0])))

    assert _sq.sqlite3_create_function_v2(db, b"bucket", 1, SQLITE_UTF8, None, py_bucket, None, None, None) == 0
    assert _sq.sqlite3_prepare_v2(db, b"select bucket(score), count(*) from t group by 1 order by 1", -1,
                                  byref(stmt), None) == 0
    out = []
    while _sq.sqlite3_step(stmt) == SQLITE_ROW:
        out.append((_sq.sqlite3_column_int64(stmt, 0), _sq.sqlite3_column_int64(stmt, 1)))
    _sq.sqlite3_finalize(stmt)
    _sq.sqlite3_close_v2(db)
    return out


# -- SHA-256 through OpenSSL's EVP -------------------------------------------------------------------

_crypto = ctypes.CDLL("libcrypto.so.3")
_crypto.EVP_MD_fetch.argtypes, _crypto.EVP_MD_fetch.restype = [c_void_p, c_char_p, c_char_p], c_void_p
_crypto.EVP_MD_free.argtypes, _crypto.EVP_MD_free.restype = [c_void_p], None
_crypto.EVP_Digest.argtypes = [c_char_p, c_size_t, c_void_p, POINTER(c_uint), c_void_p, c_void_p]
_crypto.EVP_Digest.restype = c_int


def sha256(inp: Inputs) -> list[bytes]:
    """The SHA-256 digest of each message, by EVP_Digest (the algorithm fetched once, as OpenSSL 3 advises)."""
    md = _crypto.EVP_MD_fetch(None, b"SHA256", None)
    digest, size = (ctypes.c_ubyte * 32)(), c_uint()
    out = []
    for m in inp.messages:
        if not _crypto.EVP_Digest(m, len(m), digest, byref(size), md, None):
            raise RuntimeError("EVP_Digest failed")
        out.append(bytes(digest)[:size.value])
    _crypto.EVP_MD_free(md)
    return out


# -- stat + localtime_r + strftime ---------------------------------------------------------------------

class timespec(Structure):
    _fields_ = [("tv_sec", c_long), ("tv_nsec", c_long)]


class stat_t(Structure):
    """struct stat on x86-64 Linux."""

    _fields_ = [("st_dev", c_ulong), ("st_ino", c_ulong), ("st_nlink", c_ulong), ("st_mode", c_uint),
                ("st_uid", c_uint), ("st_gid", c_uint), ("pad0", c_int), ("st_rdev", c_ulong), ("st_size", c_long),
                ("st_blksize", c_long), ("st_blocks", c_long), ("st_atim", timespec), ("st_mtim", timespec),
                ("st_ctim", timespec), ("reserved", c_long * 3)]


class tm(Structure):
    _fields_ = [("tm_sec", c_int), ("tm_min", c_int), ("tm_hour", c_int), ("tm_mday", c_int), ("tm_mon", c_int),
                ("tm_year", c_int), ("tm_wday", c_int), ("tm_yday", c_int), ("tm_isdst", c_int),
                ("tm_gmtoff", c_long), ("tm_zone", c_char_p)]


_libc = ctypes.CDLL(None)
_libc.stat.argtypes, _libc.stat.restype = [c_char_p, POINTER(stat_t)], c_int
_libc.localtime_r.argtypes, _libc.localtime_r.restype = [POINTER(c_long), POINTER(tm)], POINTER(tm)
_libc.strftime.argtypes, _libc.strftime.restype = [c_char_p, c_size_t, c_char_p, POINTER(tm)], c_size_t


def stat_time(inp: Inputs) -> list[str]:
    """Each path's modification time as local time text, by stat, localtime_r and strftime."""
    st, t, seconds, buf = stat_t(), tm(), c_long(), ctypes.create_string_buffer(64)
    fmt = TIME_FORMAT.encode()
    out = []
    for path in inp.paths:
        if _libc.stat(path.encode(), byref(st)) != 0:
            raise OSError(f"stat({path!r}) failed")
        seconds.value = st.st_mtim.tv_sec
        _libc.localtime_r(byref(seconds), byref(t))
        n = _libc.strftime(buf, 64, fmt, byref(t))
        out.append(buf.raw[:n].decode())
    return out


# -- zlib ---------------------------------------------------------------------------------------------

_z = ctypes.CDLL("libz.so.1")
_z.crc32.argtypes, _z.crc32.restype = [c_ulong, c_char_p, c_uint], c_ulong
_z.compressBound.argtypes, _z.compressBound.restype = [c_ulong], c_ulong
_z.compress2.argtypes, _z.compress2.restype = [c_void_p, POINTER(c_ulong), c_char_p, c_ulong, c_int], c_int
_z.uncompress.argtypes, _z.uncompress.restype = [c_void_p, POINTER(c_ulong), c_char_p, c_ulong], c_int


def zlib(inp: Inputs) -> tuple[list[int], list[bytes]]:
    """Each buffer's CRC-32 and compressed form; each is decompressed again and checked."""
    longest = max(map(len, inp.buffers))
    cap = _z.compressBound(longest)
    out, out_len = ctypes.create_string_buffer(cap), c_ulong()
    back, back_len = ctypes.create_string_buffer(longest), c_ulong()
    crcs, packed = [], []
    for b in inp.buffers:
        crcs.append(_z.crc32(0, b, len(b)))
        out_len.value = cap
        if _z.compress2(out, byref(out_len), b, len(b), ZLIB_LEVEL) != 0:
            raise RuntimeError("compress2 failed")
        c = out.raw[:out_len.value]
        back_len.value = longest
        if _z.uncompress(back, byref(back_len), c, len(c)) != 0 or back.raw[:back_len.value] != b:
            raise RuntimeError("uncompress did not restore the buffer")
        packed.append(c)
    return crcs, packed


# -- expat --------------------------------------------------------------------------------------------

START = CFUNCTYPE(None, c_void_p, c_char_p, POINTER(c_char_p))
END = CFUNCTYPE(None, c_void_p, c_char_p)
CHARS = CFUNCTYPE(None, c_void_p, POINTER(c_char), c_int)

_x = ctypes.CDLL("libexpat.so.1")
_x.XML_ParserCreate.argtypes, _x.XML_ParserCreate.restype = [c_char_p], c_void_p
_x.XML_SetElementHandler.argtypes, _x.XML_SetElementHandler.restype = [c_void_p, START, END], None
_x.XML_SetCharacterDataHandler.argtypes, _x.XML_SetCharacterDataHandler.restype = [c_void_p, CHARS], None
_x.XML_Parse.argtypes, _x.XML_Parse.restype = [c_void_p, c_char_p, c_int, c_int], c_int
_x.XML_ParserFree.argtypes, _x.XML_ParserFree.restype = [c_void_p], None


def expat(inp: Inputs) -> tuple[dict[str, int], int, int, int]:
    """Parses the document: elements counted by name, records closed, the sum of the id attributes, characters
    of text."""
    counts: dict[str, int] = {}
    ids = text = closed = 0

    @START  # type: ignore[untyped-decorator]
    def start(user: Any, name: bytes, atts: Any) -> None:
        nonlocal ids
        tag = name.decode()
        counts[tag] = counts.get(tag, 0) + 1
        i = 0
        while atts[i] is not None:
            if atts[i] == b"id":
                ids += int(atts[i + 1])
            i += 2

    @END  # type: ignore[untyped-decorator]
    def end(user: Any, name: bytes) -> None:
        nonlocal closed
        if name.decode() == "record":
            closed += 1

    @CHARS  # type: ignore[untyped-decorator]
    def characters(user: Any, s: Any, n: int) -> None:
        nonlocal text
        text += len(s[:n].decode())

    parser = _x.XML_ParserCreate(None)
    _x.XML_SetElementHandler(parser, start, end)
    _x.XML_SetCharacterDataHandler(parser, characters)
    ok = _x.XML_Parse(parser, inp.document, len(inp.document), 1)
    _x.XML_ParserFree(parser)
    if not ok:
        raise RuntimeError("the document did not parse")
    return counts, closed, ids, text


# -- qsort --------------------------------------------------------------------------------------------

COMPARATOR = CFUNCTYPE(c_int, POINTER(c_int32), POINTER(c_int32))
_libc.qsort.argtypes, _libc.qsort.restype = [c_void_p, c_size_t, c_size_t, COMPARATOR], None


def sort_ints(inp: Inputs) -> list[int]:
    """The ints sorted by libc's qsort with a Python comparator."""
    n = len(inp.ints)
    arr = (c_int32 * n)(*inp.ints)
    _libc.qsort(arr, n, 4, COMPARATOR(lambda a, b: a[0] - b[0]))
    return list(arr)
