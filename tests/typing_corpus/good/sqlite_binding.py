"""A small SQLite binding: open, prepare, bind, step, read columns, finalize, with errors as exceptions."""
# Declarations have `...` bodies, which mypy --strict reports as empty-body errors in .py files:
# mypy: disable-error-code="empty-body"
from __future__ import annotations

from nativeffi import (CString, Double, Int, Int64, Opaque, Pointer, PointerLike, Utf8, Void, default_asset,
                       malloc, native)

default_asset("libsqlite3.so.0")

SQLITE_OK, SQLITE_ROW, SQLITE_DONE = 0, 100, 101
SQLITE_TRANSIENT = Pointer[Void].from_address(2**64 - 1)  # (sqlite3_destructor_type)-1: copy the value


class Sqlite3(Opaque):
    """struct sqlite3."""


class Stmt(Opaque):
    """struct sqlite3_stmt."""


@native
def sqlite3_open(filename: CString, db: PointerLike[Pointer[Sqlite3]]) -> Int: ...
@native
def sqlite3_close(db: Pointer[Sqlite3]) -> Int: ...
@native
def sqlite3_errmsg(db: Pointer[Sqlite3]) -> Pointer[Utf8]: ...
@native
def sqlite3_prepare_v2(db: Pointer[Sqlite3], sql: CString, nbyte: Int, stmt: PointerLike[Pointer[Stmt]],
                       tail: PointerLike[Pointer[Utf8]]) -> Int: ...
@native
def sqlite3_bind_int64(stmt: Pointer[Stmt], index: Int, value: Int64) -> Int: ...
@native
def sqlite3_bind_double(stmt: Pointer[Stmt], index: Int, value: Double) -> Int: ...
@native
def sqlite3_bind_text(stmt: Pointer[Stmt], index: Int, text: CString, nbyte: Int,
                      destructor: PointerLike[Void]) -> Int: ...
@native(is_leaf=True)
def sqlite3_step(stmt: Pointer[Stmt]) -> Int: ...
@native(is_leaf=True)
def sqlite3_column_int64(stmt: Pointer[Stmt], column: Int) -> Int64: ...
@native(is_leaf=True)
def sqlite3_column_double(stmt: Pointer[Stmt], column: Int) -> Double: ...
@native(is_leaf=True)
def sqlite3_column_text(stmt: Pointer[Stmt], column: Int) -> Pointer[Utf8]: ...
@native
def sqlite3_finalize(stmt: Pointer[Stmt]) -> Int: ...


class Database:
    """An open database; use it as a context manager."""

    def __init__(self, filename: str) -> None:
        out = malloc(Pointer[Sqlite3])
        try:
            rc = sqlite3_open(filename, out)
            self.db: Pointer[Sqlite3] = out.value
        finally:
            malloc.free(out)
        if rc != SQLITE_OK:
            raise OSError(f"sqlite3_open({filename!r}) failed with {rc}")

    def check(self, rc: int) -> None:
        if rc not in (SQLITE_OK, SQLITE_ROW, SQLITE_DONE):
            raise RuntimeError(sqlite3_errmsg(self.db).to_str())

    def execute(self, sql: str, *params: int | float | str) -> list[tuple[int | float | str, ...]]:
        out = malloc(Pointer[Stmt])
        try:
            self.check(sqlite3_prepare_v2(self.db, sql, -1, out, None))
            stmt = out.value
        finally:
            malloc.free(out)
        try:
            for i, p in enumerate(params, start=1):
                if isinstance(p, int):
                    self.check(sqlite3_bind_int64(stmt, i, p))
                elif isinstance(p, float):
                    self.check(sqlite3_bind_double(stmt, i, p))
                else:
                    self.check(sqlite3_bind_text(stmt, i, p, -1, SQLITE_TRANSIENT))
            rows: list[tuple[int | float | str, ...]] = []
            while (rc := sqlite3_step(stmt)) == SQLITE_ROW:
                rows.append((sqlite3_column_int64(stmt, 0), sqlite3_column_double(stmt, 1),
                             sqlite3_column_text(stmt, 2).to_str()))
            self.check(rc)
            return rows
        finally:
            sqlite3_finalize(stmt)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        sqlite3_close(self.db)


def main() -> None:
    with Database(":memory:") as db:
        db.execute("CREATE TABLE t (n INTEGER, x REAL, name TEXT)")
        db.execute("INSERT INTO t VALUES (?, ?, ?)", 1, 0.5, "héllo")
        db.execute("INSERT INTO t VALUES (?, ?, ?)", 2, 1.5, "wörld")
        rows = db.execute("SELECT n, x, name FROM t WHERE n >= ? ORDER BY n", 1)
        assert rows == [(1, 0.5, "héllo"), (2, 1.5, "wörld")], rows
        try:
            db.execute("SELECT n FROM nowhere")
        except RuntimeError as e:
            assert "no such table" in str(e)
        else:
            raise AssertionError("expected an error")


if __name__ == "__main__":
    main()
