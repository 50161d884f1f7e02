"""The benchmark suite's set-up and harness (no timing is asserted: speed is checked by running the suite)."""
from __future__ import annotations

import importlib.util
from typing import Optional

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


# -- Workloads ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workload_impls(tmp_path_factory):
    """Every workload implementation this machine can run, and the tiny inputs they share."""
    from nativeffi.bench import workloads
    from nativeffi.bench.workloads import data
    if workloads.supported():
        pytest.skip(workloads.supported())
    wd = tmp_path_factory.mktemp("workloads")
    impls, skips = workloads.implementations(wd)
    return impls, skips, data.make(wd, scale=0.01)


def _expected(key, inp):
    """What each workload must return, computed in plain Python without the C library where that is possible."""
    import hashlib
    import zlib
    from nativeffi.bench.workloads import data
    if key == "sqlite":
        counts: dict = {}
        for i in range(inp.rows):
            counts[data.bucket(data.score(i))] = counts.get(data.bucket(data.score(i)), 0) + 1
        return sorted(counts.items())
    if key == "sha256":
        return [hashlib.sha256(m).digest() for m in inp.messages]
    if key == "zlib":
        return [zlib.crc32(b) for b in inp.buffers], [zlib.compress(b, data.ZLIB_LEVEL) for b in inp.buffers]
    if key == "sort_ints":
        return sorted(inp.ints)
    return None  # stat_time and expat: the standard library's module is the reference


@pytest.mark.parametrize("key", ["sqlite", "sha256", "stat_time", "zlib", "expat", "sort_ints"])
def test_workload_implementations_agree(workload_impls, key):
    """Each workload returns the same result in nativeffi, ctypes, cffi ABI/API and the standard library."""
    impls, skips, inp = workload_impls
    got = {name: getattr(impl, key)(inp) for name, impl in impls.items()}
    want = _expected(key, inp)
    reference = got["stdlib"] if want is None else want
    assert reference, key
    for name, value in got.items():
        assert value == reference, (key, name)
    assert {"nativeffi", "ctypes", "stdlib"} <= set(got)
    if importlib.util.find_spec("cffi") is not None:
        assert "cffi ABI" in got
        assert "cffi API" in got or any(s.impl == "cffi API" and s.why for s in skips)


def test_workload_inputs_have_the_issue_sizes(tmp_path):
    """At scale 1 the inputs are the sizes the issue names: 10,000 rows/messages/stats/buffers, 100,000 ints, 5 MB."""
    from nativeffi.bench.workloads import data
    inp = data.make(tmp_path, scale=1.0)
    assert inp.rows == len(inp.messages) == len(inp.paths) == len(inp.buffers) == 10_000
    assert len(inp.ints) == 100_000
    assert 5_000_000 <= len(inp.document) < 5_001_000
    assert inp.document.count(b"<record ") > 30_000


def test_workload_table_and_ratios(workload_impls):
    """One measured round yields a table row per workload and implementation, ratios to ctypes and the stdlib."""
    from nativeffi.bench import workloads
    impls, skips, inp = workload_impls
    res = workloads.results(workloads.measure(impls, inp, rounds=1, select="sha"))
    assert {r["impl"] for r in res} == set(impls)
    assert all(r["results_agree"] and r["ms"] > 0 for r in res)
    ct = next(r for r in res if r["impl"] == "ctypes")
    assert ct["x_ctypes"] == 1.0 and next(r for r in res if r["impl"] == "stdlib")["x_stdlib"] == 1.0
    table = workloads.format_table(res, skips)
    assert "| SHA-256 of 10,000 small messages through EVP_Digest | nativeffi |" in table
    assert "hashlib.sha256" in table


# -- Targets over several runs -----------------------------------------------------------------------

def test_every_target_reads_a_figure_the_benchmark_produces(ctx):
    """Each target names a row the call/memory table has, a figure the callback benchmark reports, or a workload
    and implementation the workload benchmark runs, so none can silently read nothing."""
    import re
    from pathlib import Path
    from nativeffi.bench import targets, workloads
    rows, _ = bench.collect(ctx)
    keys = {(r.group, r.impl) for r in rows}
    callback_src = (Path(bench.__file__).parent / "callbacks.py").read_text()
    for t in targets.TARGETS:
        kind, *args = t.source
        if kind == "row":
            assert (args[0], args[1]) in keys, t
        elif kind == "callback":
            for name in args:
                assert name in callback_src or re.sub(r"\b1 ", "{producers} ", name) in callback_src, t
        else:
            assert args[0] in {w.key for w in workloads.WORKLOADS} and args[1] in workloads.IMPLEMENTATIONS, t


def test_targets_are_met_only_when_every_run_meets_them():
    """A target's value is read from each run; it counts as met only if every run meets it, in the direction it
    names (at most a ratio, at least a rate), and a run lacking the figure is reported, not passed."""
    from nativeffi.bench import targets

    def run(local: float, floor: float, listener: float, expat_ms: Optional[float]) -> dict:
        wl = [{"workload": "expat", "impl": "ctypes", "ms": 100.0}] if expat_ms is None else [
            {"workload": "expat", "impl": "ctypes", "ms": 100.0}, {"workload": "expat", "impl": "nativeffi", "ms": expat_ms}]
        return {"machine": {"date": "d", "load_average": [0.5, 0.5, 0.5]}, "results": [
            {"group": "p[i] read", "impl": "nativeffi Pointer[Int32]", "ratio": 0.5, "ns": 17.0}],
            "callbacks": [{"name": "upcall: C loop calling PyObject_Vectorcall (floor)", "value": floor},
                          {"name": "upcall: NativeCallable.isolate_local", "value": local},
                          {"name": "listener: delivered messages/s, 1 producer(s)", "value": listener}],
            "workloads": wl}

    runs = [run(52.0, 50.0, 9.0, 90.0), run(60.0, 50.0, 7.0, 80.0), run(54.0, 50.0, 8.5, None)]
    ev = {(e["label"], e["unit"]): e for e in targets.evaluate(runs)}
    local = ev[("`isolate_local` upcall", "x C calling PyObject_Vectorcall")]
    assert local["values"] == [52.0 / 50.0, 60.0 / 50.0, 54.0 / 50.0] and local["met_in"] == 2
    listener = ev[("listener delivery, 1 producer", "M msg/s")]
    assert listener["met_in"] == 2 and listener["median"] == 8.5
    expat = ev[("workload expat", "x ctypes")]
    assert expat["values"] == [0.9, 0.8, None] and expat["met_in"] == 2 and expat["runs"] == 2
    table = targets.format_table(targets.evaluate(runs), runs)
    assert "| `p[i]` read | <= 0.6 x ctypes | 0.50 | 0.50 | 0.50 | 0.50 | every run |" in table
    assert "| workload expat | <= 1 x ctypes | 0.90 | 0.80 | - | 0.85 | **2 of 3 runs** |" in table
    assert "**not in these runs**" in table  # e.g. the SQLite workload, absent from all three
