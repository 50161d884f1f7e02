"""The six workloads written with nativeffi, as its documentation teaches: ``@native`` declarations at module
level, ``Struct`` layouts, ``Arena`` scratch memory allocated once outside the loops, ``NativeCallable`` for
callbacks."""
# Declarations have `...` bodies (mypy: empty-body), and str/bytes/None are passed where the annotation says
# Pointer, which the runtime accepts and a type checker cannot know (arg-type). See README, "Type checkers".
# mypy: disable-error-code="empty-body,arg-type"
from __future__ import annotations

from typing import Literal

from typing import Any

from nativeffi import (Arena, Array, Char, Int, Int32, Int64, IntPtr, Long, NativeCallable, NativeFunction, Opaque,
                       Pointer, Size, Struct, Uint8, UnsignedInt, UnsignedLong, Utf8, Void, malloc, native)

from .data import TIME_FORMAT, ZLIB_LEVEL, Inputs, bucket

# -- SQLite ------------------------------------------------------------------------------------------

SQLITE = "libsqlite3.so.0"
SQLITE_OK, SQLITE_ROW, SQLITE_DONE, SQLITE_UTF8, SQLITE_TRANSIENT = 0, 100, 101, 1, -1


class sqlite3(Opaque):
    """A database connection."""


class sqlite3_stmt(Opaque):
    """A prepared statement."""


class sqlite3_context(Opaque):
    """A function call's context."""


class sqlite3_value(Opaque):
    """A function argument."""


ScalarFunction = NativeFunction[[Pointer[sqlite3_context], Int, Pointer[Pointer[sqlite3_value]]], Void]


@native(asset=SQLITE)
def sqlite3_open(filename: Pointer[Utf8], db: Pointer[Pointer[sqlite3]]) -> Int: ...


@native(asset=SQLITE)
def sqlite3_exec(db: Pointer[sqlite3], sql: Pointer[Utf8], callback: Pointer[Void], arg: Pointer[Void],
                 errmsg: Pointer[Pointer[Char]]) -> Int: ...


@native(asset=SQLITE)
def sqlite3_prepare_v2(db: Pointer[sqlite3], sql: Pointer[Utf8], nbytes: Int, stmt: Pointer[Pointer[sqlite3_stmt]],
                       tail: Pointer[Pointer[Char]]) -> Int: ...


@native(asset=SQLITE, is_leaf=True)
def sqlite3_bind_int64(stmt: Pointer[sqlite3_stmt], i: Int, value: Int64) -> Int: ...


@native(asset=SQLITE, is_leaf=True)
def sqlite3_bind_text(stmt: Pointer[sqlite3_stmt], i: Int, text: Pointer[Utf8], nbytes: Int,
                      destructor: IntPtr) -> Int: ...


@native(asset=SQLITE)
def sqlite3_step(stmt: Pointer[sqlite3_stmt]) -> Int: ...


@native(asset=SQLITE, is_leaf=True)
def sqlite3_reset(stmt: Pointer[sqlite3_stmt]) -> Int: ...


@native(asset=SQLITE, is_leaf=True)
def sqlite3_column_int64(stmt: Pointer[sqlite3_stmt], i: Int) -> Int64: ...


@native(asset=SQLITE)
def sqlite3_finalize(stmt: Pointer[sqlite3_stmt]) -> Int: ...


@native(asset=SQLITE)
def sqlite3_create_function_v2(db: Pointer[sqlite3], name: Pointer[Utf8], nargs: Int, flags: Int,
                               app: Pointer[Void], func: Pointer[ScalarFunction], step: Pointer[Void],
                               final: Pointer[Void], destroy: Pointer[Void]) -> Int: ...


@native(asset=SQLITE, is_leaf=True)
def sqlite3_value_int64(value: Pointer[sqlite3_value]) -> Int64: ...


@native(asset=SQLITE, is_leaf=True)
def sqlite3_result_int64(ctx: Pointer[sqlite3_context], value: Int64) -> None: ...


@native(asset=SQLITE)
def sqlite3_close_v2(db: Pointer[sqlite3]) -> Int: ...


def _check(rc: int, what: str) -> None:
    if rc != SQLITE_OK:
        raise RuntimeError(f"{what} failed: SQLite error {rc}")


def sqlite(inp: Inputs) -> list[tuple[int, int]]:
    """Inserts inp.rows rows through one prepared statement, then groups them by a Python scalar function."""
    from .data import score
    with Arena() as arena:
        db_out = arena(Pointer[sqlite3])
        _check(sqlite3_open(":memory:", db_out), "sqlite3_open")
        db = db_out.value
        _check(sqlite3_exec(db, "create table t(id integer primary key, name text, score integer)", None, None,
                            None), "create table")
        stmt_out = arena(Pointer[sqlite3_stmt])
        _check(sqlite3_prepare_v2(db, "insert into t values (?1, ?2, ?3)", -1, stmt_out, None), "prepare")
        stmt = stmt_out.value
        _check(sqlite3_exec(db, "begin", None, None, None), "begin")
        for i in range(inp.rows):
            sqlite3_bind_int64(stmt, 1, i)
            sqlite3_bind_text(stmt, 2, f"name {i}", -1, SQLITE_TRANSIENT)
            sqlite3_bind_int64(stmt, 3, score(i))
            if sqlite3_step(stmt) != SQLITE_DONE:
                raise RuntimeError("insert failed")
            sqlite3_reset(stmt)
        sqlite3_finalize(stmt)
        _check(sqlite3_exec(db, "commit", None, None, None), "commit")

        def py_bucket(ctx: Any, argc: int, argv: Any) -> None:
            sqlite3_result_int64(ctx, bucket(sqlite3_value_int64(argv[0])))

        with NativeCallable.isolate_local(ScalarFunction, py_bucket) as fn:
            _check(sqlite3_create_function_v2(db, "bucket", 1, SQLITE_UTF8, None, fn, None, None, None),
                   "create_function")
            _check(sqlite3_prepare_v2(db, "select bucket(score), count(*) from t group by 1 order by 1", -1,
                                      stmt_out, None), "prepare")
            stmt = stmt_out.value
            out = []
            while sqlite3_step(stmt) == SQLITE_ROW:
                out.append((sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1)))
            sqlite3_finalize(stmt)
        sqlite3_close_v2(db)
    return out


# -- SHA-256 through OpenSSL's EVP -------------------------------------------------------------------

CRYPTO = "libcrypto.so.3"


class EVP_MD(Opaque):
    """A message digest algorithm."""


@native(asset=CRYPTO)
def EVP_MD_fetch(ctx: Pointer[Void], algorithm: Pointer[Utf8], properties: Pointer[Utf8]) -> Pointer[EVP_MD]: ...


@native(asset=CRYPTO)
def EVP_MD_free(md: Pointer[EVP_MD]) -> None: ...


@native(asset=CRYPTO, is_leaf=True)
def EVP_Digest(data: Pointer[Uint8], count: Size, md: Pointer[Uint8], size: Pointer[UnsignedInt],
               type: Pointer[EVP_MD], impl: Pointer[Void]) -> Int: ...


def sha256(inp: Inputs) -> list[bytes]:
    """The SHA-256 digest of each message, by EVP_Digest (the algorithm fetched once, as OpenSSL 3 advises)."""
    md = EVP_MD_fetch(None, "SHA256", None)
    out = []
    with Arena() as arena:
        digest = arena(Uint8, 32)
        size = arena(UnsignedInt)
        for m in inp.messages:
            if not EVP_Digest(m, len(m), digest, size, md, None):
                raise RuntimeError("EVP_Digest failed")
            out.append(bytes(digest.as_memoryview(size.value)))
    EVP_MD_free(md)
    return out


# -- stat + localtime_r + strftime ---------------------------------------------------------------------

class timespec(Struct):
    tv_sec: Long
    tv_nsec: Long


class stat_t(Struct):
    """struct stat on x86-64 Linux."""

    st_dev: UnsignedLong
    st_ino: UnsignedLong
    st_nlink: UnsignedLong
    st_mode: UnsignedInt
    st_uid: UnsignedInt
    st_gid: UnsignedInt
    pad0: Int
    st_rdev: UnsignedLong
    st_size: Long
    st_blksize: Long
    st_blocks: Long
    st_atim: timespec
    st_mtim: timespec
    st_ctim: timespec
    reserved: Array[Long, Literal[3]]


class tm(Struct):
    tm_sec: Int
    tm_min: Int
    tm_hour: Int
    tm_mday: Int
    tm_mon: Int
    tm_year: Int
    tm_wday: Int
    tm_yday: Int
    tm_isdst: Int
    tm_gmtoff: Long
    tm_zone: Pointer[Char]


@native(symbol="stat")
def c_stat(path: Pointer[Utf8], buf: Pointer[stat_t]) -> Int: ...


@native(is_leaf=True)
def localtime_r(t: Pointer[Long], result: Pointer[tm]) -> Pointer[tm]: ...


@native(is_leaf=True)
def strftime(s: Pointer[Char], maxsize: Size, format: Pointer[Utf8], t: Pointer[tm]) -> Size: ...


def stat_time(inp: Inputs) -> list[str]:
    """Each path's modification time as local time text, by stat, localtime_r and strftime."""
    out = []
    st, t = stat_t(), tm()
    with Arena() as arena:
        seconds = arena(Long)
        buf = arena(Char, 64)
        for path in inp.paths:
            if c_stat(path, st) != 0:
                raise OSError(f"stat({path!r}) failed")
            seconds.value = st.st_mtim.tv_sec
            localtime_r(seconds, t)
            n = strftime(buf, 64, TIME_FORMAT, t)
            out.append(buf.to_str(n))
    return out


# -- zlib ---------------------------------------------------------------------------------------------

ZLIB = "libz.so.1"


@native(asset=ZLIB, is_leaf=True)
def crc32(crc: UnsignedLong, buf: Pointer[Uint8], n: UnsignedInt) -> UnsignedLong: ...


@native(asset=ZLIB, is_leaf=True)
def compressBound(n: UnsignedLong) -> UnsignedLong: ...


@native(asset=ZLIB, is_leaf=True)
def compress2(dest: Pointer[Uint8], dest_len: Pointer[UnsignedLong], src: Pointer[Uint8], src_len: UnsignedLong,
              level: Int) -> Int: ...


@native(asset=ZLIB, is_leaf=True)
def uncompress(dest: Pointer[Uint8], dest_len: Pointer[UnsignedLong], src: Pointer[Uint8],
               src_len: UnsignedLong) -> Int: ...


def zlib(inp: Inputs) -> tuple[list[int], list[bytes]]:
    """Each buffer's CRC-32 and compressed form; each is decompressed again and checked."""
    longest = max(map(len, inp.buffers))
    crcs, packed = [], []
    with Arena() as arena:
        cap = compressBound(longest)
        out, out_len = arena(Uint8, cap), arena(UnsignedLong)
        back, back_len = arena(Uint8, longest), arena(UnsignedLong)
        for b in inp.buffers:
            crcs.append(crc32(0, b, len(b)))
            out_len.value = cap
            if compress2(out, out_len, b, len(b), ZLIB_LEVEL) != 0:
                raise RuntimeError("compress2 failed")
            c = bytes(out.as_memoryview(out_len.value))
            back_len.value = longest
            if uncompress(back, back_len, c, len(c)) != 0 or back.as_memoryview(back_len.value) != b:
                raise RuntimeError("uncompress did not restore the buffer")
            packed.append(c)
    return crcs, packed


# -- expat --------------------------------------------------------------------------------------------

EXPAT = "libexpat.so.1"


class XML_ParserStruct(Opaque):
    """An expat parser."""


StartHandler = NativeFunction[[Pointer[Void], Pointer[Char], Pointer[Pointer[Char]]], Void]
EndHandler = NativeFunction[[Pointer[Void], Pointer[Char]], Void]
CharacterHandler = NativeFunction[[Pointer[Void], Pointer[Char], Int], Void]


@native(asset=EXPAT)
def XML_ParserCreate(encoding: Pointer[Utf8]) -> Pointer[XML_ParserStruct]: ...


@native(asset=EXPAT)
def XML_SetElementHandler(parser: Pointer[XML_ParserStruct], start: Pointer[StartHandler],
                          end: Pointer[EndHandler]) -> None: ...


@native(asset=EXPAT)
def XML_SetCharacterDataHandler(parser: Pointer[XML_ParserStruct], handler: Pointer[CharacterHandler]) -> None: ...


@native(asset=EXPAT)
def XML_Parse(parser: Pointer[XML_ParserStruct], s: Pointer[Char], length: Int, is_final: Int) -> Int: ...


@native(asset=EXPAT)
def XML_ParserFree(parser: Pointer[XML_ParserStruct]) -> None: ...


def expat(inp: Inputs) -> tuple[dict[str, int], int, int, int]:
    """Parses the document: elements counted by name, records closed, the sum of the id attributes, characters
    of text."""
    counts: dict[str, int] = {}
    ids = text = closed = 0

    def start(user: Any, name: Any, atts: Any) -> None:
        nonlocal ids
        tag = name.to_str()
        counts[tag] = counts.get(tag, 0) + 1
        i = 0
        while not atts[i].is_null:
            if atts[i].to_str() == "id":
                ids += int(atts[i + 1].to_str())
            i += 2

    def end(user: Any, name: Any) -> None:
        nonlocal closed
        if name.to_str() == "record":
            closed += 1

    def characters(user: Any, s: Any, n: int) -> None:
        nonlocal text
        text += len(s.to_str(n))

    parser = XML_ParserCreate(None)
    with NativeCallable.isolate_local(StartHandler, start) as on_start, \
            NativeCallable.isolate_local(EndHandler, end) as on_end, \
            NativeCallable.isolate_local(CharacterHandler, characters) as on_text:
        XML_SetElementHandler(parser, on_start, on_end)
        XML_SetCharacterDataHandler(parser, on_text)
        ok = XML_Parse(parser, inp.document, len(inp.document), 1)
    XML_ParserFree(parser)
    if not ok:
        raise RuntimeError("the document did not parse")
    return counts, closed, ids, text


# -- qsort --------------------------------------------------------------------------------------------

Comparator = NativeFunction[[Pointer[Int32], Pointer[Int32]], Int]


@native
def qsort(base: Pointer[Void], n: Size, size: Size, compar: Pointer[Comparator]) -> None: ...


def sort_ints(inp: Inputs) -> list[int]:
    """The ints sorted by libc's qsort with a Python comparator."""
    n = len(inp.ints)
    arr = malloc(Int32, n)
    for i, v in enumerate(inp.ints):
        arr[i] = v
    with NativeCallable.isolate_local(Comparator, lambda a, b: a.value - b.value, exceptional_return=0) as cmp:
        qsort(arr, n, 4, cmp)
    out = [arr[i] for i in range(n)]
    malloc.free(arr)
    return out
