"""The benchmark suite's set-up and harness (no timing is asserted: speed is checked by running the suite)."""
from __future__ import annotations

import importlib.util

import pytest

from nativeffi import bench
from nativeffi.bench import build, timing


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """The benchmark set-up, compiled once into a temporary directory."""
    return build.setup(tmp_path_factory.mktemp("bench"))


def test_floors_compute_what_benchlib_computes(ctx):
    """The hand-written floors call benchlib through their function pointers, with and without the GIL."""
    assert ctx.floor.add(2, 40) == ctx.floor.add_nogil(2, 40) == 42
    assert ctx.floor.mix6(1, 0.5, 2, 0.25, 3, 0.125) == 6.875
    assert ctx.floor.first(b"\x07abc") == 7
    assert ctx.floor.sum8(1, 2, 3, 4, 5, 6, 7, 8) == 36


def test_every_row_runs_and_agrees_with_the_floor(ctx):
    """Each row's statement runs once and, for calls, returns what the group's GIL-kept floor returns."""
    rows, skips = bench.collect(ctx)
    assert rows
    floors = {}
    for row in rows:
        timing.check(row)
        if row.impl == "C floor, GIL kept":
            floors[row.group] = eval(row.stmt, {}, dict(row.env))  # noqa: S307 - our own statement
    for row in rows:
        if row.group in floors and "=" not in row.stmt:
            assert eval(row.stmt, {}, dict(row.env)) == floors[row.group], (row.group, row.impl)  # noqa: S307
    for s in skips:
        assert s.why


def test_peers_missing_are_skipped_not_faked(ctx):
    """Without cffi the cffi rows are replaced by skips that say how to install it."""
    rows, skips = bench.collect(ctx)
    if importlib.util.find_spec("cffi") is None:
        assert not any(r.impl.startswith("cffi") for r in rows)
        assert any("cffi is not installed" in s.why for s in skips)
    else:
        assert any(r.impl == "cffi ABI" for r in rows)


def test_table_and_json_shapes(ctx):
    """A one-round measurement yields positive times, ratios against the named reference rows, and a table."""
    rows, skips = bench.collect(ctx, select="add(")
    timing.measure(rows, rounds=1, round_seconds=0.001)
    res = bench.results(rows)
    assert all(r["ns"] > 0 for r in res)
    assert all((r["ratio"] is None) == (r["ref"] is None) for r in res)
    table = bench.format_table(res, skips, bench.machine())
    assert table.startswith("Machine: ") and "| add(int64, int64) |" in table
