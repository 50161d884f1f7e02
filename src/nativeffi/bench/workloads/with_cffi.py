"""The six workloads written with cffi as its documentation teaches: one ``cdef``, ``ffi.new`` for out-parameters
and buffers allocated once outside the loops, ``ffi.string``/``ffi.buffer`` to read back. The same code serves
ABI mode (``ffi.dlopen``, ``ffi.callback``) and API mode (a compiled module, ``extern "Python"`` callbacks
registered with ``ffi.def_extern``): `make_abi` and `make_api` build one or the other."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from .data import TIME_FORMAT, ZLIB_LEVEL, Inputs, bucket, score

FUNCTIONS = r"""
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef struct sqlite3_context sqlite3_context;
typedef struct sqlite3_value sqlite3_value;
int sqlite3_open(const char *, sqlite3 **);
int sqlite3_exec(sqlite3 *, const char *, void *, void *, char **);
int sqlite3_prepare_v2(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
int sqlite3_bind_int64(sqlite3_stmt *, int, int64_t);
int sqlite3_bind_text(sqlite3_stmt *, int, const char *, int, void (*)(void *));
int sqlite3_step(sqlite3_stmt *);
int sqlite3_reset(sqlite3_stmt *);
int sqlite3_finalize(sqlite3_stmt *);
int64_t sqlite3_column_int64(sqlite3_stmt *, int);
int sqlite3_create_function_v2(sqlite3 *, const char *, int, int, void *,
                               void (*)(sqlite3_context *, int, sqlite3_value **),
                               void (*)(sqlite3_context *, int, sqlite3_value **),
                               void (*)(sqlite3_context *), void (*)(void *));
int64_t sqlite3_value_int64(sqlite3_value *);
void sqlite3_result_int64(sqlite3_context *, int64_t);
int sqlite3_close_v2(sqlite3 *);

typedef struct evp_md_st EVP_MD;
EVP_MD *EVP_MD_fetch(void *, const char *, const char *);
void EVP_MD_free(EVP_MD *);
int EVP_Digest(const void *, size_t, unsigned char *, unsigned int *, const EVP_MD *, void *);

int stat(const char *, struct stat *);
struct tm *localtime_r(const time_t *, struct tm *);
size_t strftime(char *, size_t, const char *, const struct tm *);

unsigned long crc32(unsigned long, const unsigned char *, unsigned int);
unsigned long compressBound(unsigned long);
int compress2(unsigned char *, unsigned long *, const unsigned char *, unsigned long, int);
int uncompress(unsigned char *, unsigned long *, const unsigned char *, unsigned long);

typedef struct XML_ParserStruct *XML_Parser;
XML_Parser XML_ParserCreate(const char *);
void XML_SetElementHandler(XML_Parser, void (*)(void *, const char *, const char **),
                           void (*)(void *, const char *));
void XML_SetCharacterDataHandler(XML_Parser, void (*)(void *, const char *, int));
int XML_Parse(XML_Parser, const char *, int, int);
void XML_ParserFree(XML_Parser);

void qsort(void *, size_t, size_t, int (*)(const void *, const void *));
"""

# ABI mode must spell out the layouts (x86-64 Linux); API mode lets the compiler fill them in.
LAYOUTS_ABI = """
typedef long time_t;
struct timespec { long tv_sec; long tv_nsec; };
struct stat { unsigned long st_dev, st_ino, st_nlink; unsigned int st_mode, st_uid, st_gid; int pad0;
              unsigned long st_rdev; long st_size, st_blksize, st_blocks;
              struct timespec st_atim, st_mtim, st_ctim; long reserved[3]; };
struct tm { int tm_sec, tm_min, tm_hour, tm_mday, tm_mon, tm_year, tm_wday, tm_yday, tm_isdst;
            long tm_gmtoff; const char *tm_zone; };
"""
LAYOUTS_API = """
typedef int... time_t;
struct timespec { time_t tv_sec; ...; };
struct stat { struct timespec st_mtim; ...; };
struct tm { ...; };
"""
CALLBACKS_API = """
extern "Python" void nfw_bucket(sqlite3_context *, int, sqlite3_value **);
extern "Python" void nfw_start(void *, const char *, const char **);
extern "Python" void nfw_end(void *, const char *);
extern "Python" void nfw_characters(void *, const char *, int);
extern "Python" int nfw_compare(const void *, const void *);
"""
SOURCE_API = """
#include <sys/stat.h>
#include <time.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <openssl/evp.h>
#include <zlib.h>
#include <expat.h>
"""
LIBRARIES = {"sqlite": "libsqlite3.so.0", "crypto": "libcrypto.so.3", "z": "libz.so.1", "expat": "libexpat.so.1"}


class Workloads:
    """The workloads over one cffi `ffi`, its libraries by name (all the same object in API mode), and a callback
    maker ``callback(name, ctype, fn)``."""

    def __init__(self, ffi: Any, libs: dict[str, Any], callback: Callable[[str, str, Callable[..., Any]], Any]):
        self.ffi, self.callback = ffi, callback
        self.sq, self.crypto, self.c, self.z, self.x = (libs[k] for k in ("sqlite", "crypto", "c", "z", "expat"))

    def sqlite(self, inp: Inputs) -> list[tuple[int, int]]:
        """Inserts inp.rows rows through one prepared statement, then groups them by a Python scalar function."""
        ffi, sq = self.ffi, self.sq
        transient = ffi.cast("void(*)(void *)", -1)
        db_out, stmt_out = ffi.new("sqlite3 **"), ffi.new("sqlite3_stmt **")
        assert sq.sqlite3_open(b":memory:", db_out) == 0
        db = db_out[0]
        assert sq.sqlite3_exec(db, b"create table t(id integer primary key, name text, score integer)",
                               ffi.NULL, ffi.NULL, ffi.NULL) == 0
        assert sq.sqlite3_prepare_v2(db, b"insert into t values (?1, ?2, ?3)", -1, stmt_out, ffi.NULL) == 0
        stmt = stmt_out[0]
        assert sq.sqlite3_exec(db, b"begin", ffi.NULL, ffi.NULL, ffi.NULL) == 0
        for i in range(inp.rows):
            sq.sqlite3_bind_int64(stmt, 1, i)
            sq.sqlite3_bind_text(stmt, 2, f"name {i}".encode(), -1, transient)
            sq.sqlite3_bind_int64(stmt, 3, score(i))
            if sq.sqlite3_step(stmt) != 101:
                raise RuntimeError("insert failed")
            sq.sqlite3_reset(stmt)
        sq.sqlite3_finalize(stmt)
        assert sq.sqlite3_exec(db, b"commit", ffi.NULL, ffi.NULL, ffi.NULL) == 0

        def py_bucket(ctx: Any, argc: int, argv: Any) -> None:
            sq.sqlite3_result_int64(ctx, bucket(sq.sqlite3_value_int64(argv[0])))

        fn = self.callback("nfw_bucket", "void(sqlite3_context *, int, sqlite3_value **)", py_bucket)
        assert sq.sqlite3_create_function_v2(db, b"bucket", 1, 1, ffi.NULL, fn, ffi.NULL, ffi.NULL, ffi.NULL) == 0
        assert sq.sqlite3_prepare_v2(db, b"select bucket(score), count(*) from t group by 1 order by 1", -1,
                                     stmt_out, ffi.NULL) == 0
        stmt = stmt_out[0]
        out = []
        while sq.sqlite3_step(stmt) == 100:
            out.append((sq.sqlite3_column_int64(stmt, 0), sq.sqlite3_column_int64(stmt, 1)))
        sq.sqlite3_finalize(stmt)
        sq.sqlite3_close_v2(db)
        return out

    def sha256(self, inp: Inputs) -> list[bytes]:
        """The SHA-256 digest of each message, by EVP_Digest (the algorithm fetched once, as OpenSSL 3 advises)."""
        ffi, crypto = self.ffi, self.crypto
        md = crypto.EVP_MD_fetch(ffi.NULL, b"SHA256", ffi.NULL)
        digest, size = ffi.new("unsigned char[32]"), ffi.new("unsigned int *")
        out = []
        for m in inp.messages:
            if not crypto.EVP_Digest(m, len(m), digest, size, md, ffi.NULL):
                raise RuntimeError("EVP_Digest failed")
            out.append(ffi.buffer(digest, size[0])[:])
        crypto.EVP_MD_free(md)
        return out

    def stat_time(self, inp: Inputs) -> list[str]:
        """Each path's modification time as local time text, by stat, localtime_r and strftime."""
        ffi, c = self.ffi, self.c
        st, t, seconds, buf = ffi.new("struct stat *"), ffi.new("struct tm *"), ffi.new("time_t *"), ffi.new("char[64]")
        fmt = TIME_FORMAT.encode()
        out = []
        for path in inp.paths:
            if c.stat(path.encode(), st) != 0:
                raise OSError(f"stat({path!r}) failed")
            seconds[0] = st.st_mtim.tv_sec
            c.localtime_r(seconds, t)
            n = c.strftime(buf, 64, fmt, t)
            out.append(ffi.string(buf, n).decode())
        return out

    def zlib(self, inp: Inputs) -> tuple[list[int], list[bytes]]:
        """Each buffer's CRC-32 and compressed form; each is decompressed again and checked."""
        ffi, z = self.ffi, self.z
        longest = max(map(len, inp.buffers))
        cap = z.compressBound(longest)
        out, out_len = ffi.new("unsigned char[]", cap), ffi.new("unsigned long *")
        back, back_len = ffi.new("unsigned char[]", longest), ffi.new("unsigned long *")
        crcs, packed = [], []
        for b in inp.buffers:
            crcs.append(z.crc32(0, b, len(b)))
            out_len[0] = cap
            if z.compress2(out, out_len, b, len(b), ZLIB_LEVEL) != 0:
                raise RuntimeError("compress2 failed")
            c = ffi.buffer(out, out_len[0])[:]
            back_len[0] = longest
            if z.uncompress(back, back_len, c, len(c)) != 0 or ffi.buffer(back, back_len[0])[:] != b:
                raise RuntimeError("uncompress did not restore the buffer")
            packed.append(c)
        return crcs, packed

    def expat(self, inp: Inputs) -> tuple[dict[str, int], int, int, int]:
        """Parses the document: elements counted by name, records closed, the sum of the id attributes,
        characters of text."""
        ffi, x = self.ffi, self.x
        counts: dict[str, int] = {}
        ids = text = closed = 0

        def start(user: Any, name: Any, atts: Any) -> None:
            nonlocal ids
            tag = ffi.string(name).decode()
            counts[tag] = counts.get(tag, 0) + 1
            i = 0
            while atts[i] != ffi.NULL:
                if ffi.string(atts[i]) == b"id":
                    ids += int(ffi.string(atts[i + 1]))
                i += 2

        def end(user: Any, name: Any) -> None:
            nonlocal closed
            if ffi.string(name).decode() == "record":
                closed += 1

        def characters(user: Any, s: Any, n: int) -> None:
            nonlocal text
            text += len(ffi.string(s, n).decode())

        on_start = self.callback("nfw_start", "void(void *, const char *, const char **)", start)
        on_end = self.callback("nfw_end", "void(void *, const char *)", end)
        on_text = self.callback("nfw_characters", "void(void *, const char *, int)", characters)
        parser = x.XML_ParserCreate(ffi.NULL)
        x.XML_SetElementHandler(parser, on_start, on_end)
        x.XML_SetCharacterDataHandler(parser, on_text)
        ok = x.XML_Parse(parser, inp.document, len(inp.document), 1)
        x.XML_ParserFree(parser)
        if not ok:
            raise RuntimeError("the document did not parse")
        return counts, closed, ids, text

    def sort_ints(self, inp: Inputs) -> list[int]:
        """The ints sorted by libc's qsort with a Python comparator."""
        ffi = self.ffi
        n = len(inp.ints)
        arr = ffi.new("int32_t[]", inp.ints)

        def compare(a: Any, b: Any) -> int:
            return ffi.cast("int32_t *", a)[0] - ffi.cast("int32_t *", b)[0]  # type: ignore[no-any-return]

        self.c.qsort(arr, n, 4, self.callback("nfw_compare", "int(const void *, const void *)", compare))
        return list(arr)


def make_abi() -> Workloads:
    """cffi in ABI mode: the declarations parsed at run time, the libraries dlopen'ed."""
    import cffi  # type: ignore[import-untyped]
    ffi = cffi.FFI()
    ffi.cdef(LAYOUTS_ABI + FUNCTIONS)
    libs = {k: ffi.dlopen(v) for k, v in LIBRARIES.items()}
    libs["c"] = ffi.dlopen(None)
    return Workloads(ffi, libs, lambda name, ctype, fn: ffi.callback(ctype, fn))


def build_api(workdir: Path) -> tuple[Optional[Workloads], str]:
    """cffi in API mode, compiled into `workdir`; (None, why) when it cannot be compiled."""
    try:
        import cffi
    except ImportError:
        return None, "cffi is not installed (pip install 'nativeffi[bench]')"
    ffi = cffi.FFI()
    ffi.cdef(LAYOUTS_API + FUNCTIONS + CALLBACKS_API)
    ffi.set_source("_nfwork_cffi", SOURCE_API, libraries=["sqlite3", "crypto", "z", "expat"],
                   extra_compile_args=["-O2"])
    try:
        path = ffi.compile(tmpdir=str(workdir), verbose=False)
    except Exception as e:  # missing headers (libsqlite3-dev, libssl-dev, zlib1g-dev, libexpat1-dev) or compiler
        return None, f"cffi API mode could not be compiled: {str(e).splitlines()[0]}"
    spec = importlib.util.spec_from_file_location("_nfwork_cffi", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_nfwork_cffi"] = mod
    spec.loader.exec_module(mod)
    lib, affi = mod.lib, mod.ffi

    def callback(name: str, ctype: str, fn: Callable[..., Any]) -> Any:
        affi.def_extern(name=name)(fn)
        return getattr(lib, name)

    return Workloads(affi, {k: lib for k in ("sqlite", "crypto", "c", "z", "expat")}, callback), ""
