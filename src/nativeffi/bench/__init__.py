"""Benchmarks: nativeffi against ctypes, cffi and hand-written C, measured side by side in one run.

Run ``python -m nativeffi.bench`` (``--json`` for machines, ``--quick`` for a rough pass, ``-k TEXT`` to
select groups). Set-up compiles, into a temporary directory: ``benchlib.c`` (the functions every row
calls), ``floor.c`` (hand-written METH_FASTCALL functions calling them through function pointers, with
and without releasing the GIL: the floors), and cffi's API-mode module. Each row's time is the minimum
over interleaved rounds of ns per call; its ratio is to the row named in ``ref`` (the floor with the
same GIL policy for calls, ctypes for memory access). Peers that are not installed are skipped with a
note, never faked. bench-only dependencies: ``pip install 'nativeffi[bench]'`` (cffi, numpy).

Callback results come from ``nativeffi.bench.callbacks`` (``run(report)``, also runnable alone as
``python -m nativeffi.bench.callbacks``): they are timed by C loops of their own and printed as a
second table. Workload results (whole tasks on SQLite, OpenSSL, libc, zlib and expat against ctypes, cffi and
the standard library's modules) come from ``nativeffi.bench.workloads`` and are printed as a third table; run
them alone with ``python -m nativeffi.bench workloads``. ``python -m nativeffi.bench targets RUN.json ...`` reads
several ``--json`` runs and shows each speed target's value in every run, its median, and whether every run met it.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

from .timing import Row, Skip, measure

__all__ = ["main", "machine", "collect", "results", "format_table", "callback_results", "format_callbacks"]


def machine() -> dict[str, Any]:
    """The machine and build a table came from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    from nativeffi import __version__, _core
    return {
        "cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(), "system": platform.system(),
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "nativeffi": __version__, "stub_abi": _core.STUB_ABI,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def collect(ctx: Any, select: Optional[str] = None) -> tuple[list[Row], list[Skip]]:
    """All rows (calls, memory access, allocation, callbacks when present), split into rows to time and skips."""
    from . import access, alloc, calls
    entries: list[Union[Row, Skip]] = calls.rows(ctx) + access.rows(ctx) + alloc.rows(ctx)
    if select:
        entries = [e for e in entries if select.lower() in e.group.lower()]
    return [e for e in entries if isinstance(e, Row)], [e for e in entries if isinstance(e, Skip)]


def _ratio(row: Row, by_key: dict[tuple[str, str], Row]) -> Optional[float]:
    ref = by_key.get((row.group, row.ref)) if row.ref else None
    return row.best / ref.best if ref else None


def results(rows: list[Row]) -> list[dict[str, Any]]:
    """Rows as plain data: ns (min and median), ratio to the reference row, target and whether it is met."""
    by_key = {(r.group, r.impl): r for r in rows}
    out = []
    for r in rows:
        ratio = _ratio(r, by_key)
        out.append({"group": r.group, "impl": r.impl, "ns": round(r.best, 2), "ns_median": round(r.median, 2),
                    "ref": r.ref, "ratio": None if ratio is None else round(ratio, 3), "target": r.target,
                    "met": None if r.target is None or ratio is None else ratio <= r.target})
    return out


def format_table(res: list[dict[str, Any]], skips: list[Skip], info: dict[str, Any]) -> str:
    """The results as a Markdown table, with the machine and the skipped rows."""
    lines = [f"Machine: {info['cpu']}, {info['cores']} cores, {info['system']} {info['machine']}, "
             f"{info['implementation']} {info['python']}, nativeffi {info['nativeffi']} "
             f"(stubs: {info['stub_abi'] or 'none, libffi only'}), {info['date']}",
             "",
             "| benchmark | implementation | ns/call | x ref | ref | target |",
             "|---|---|---:|---:|---|---|"]
    last = None
    for r in res:
        group = r["group"] if r["group"] != last else ""
        last = r["group"]
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        target = "" if r["target"] is None else f"<= {r['target']:g}: " + ("met" if r["met"] else "**missed**")
        lines.append(f"| {group} | {r['impl']} | {r['ns']:.1f} | {ratio} | {r['ref'] or ''} | {target} |")
    if skips:
        lines.append("")
        lines += [f"- skipped {s.group} / {s.impl}: {s.why}" for s in skips]
    return "\n".join(lines)


def callback_results(select: Optional[str] = None) -> tuple[list[dict[str, Any]], list[Skip]]:
    """The callback benchmarks of bench/callbacks.py, as (name, value, unit, note) records."""
    try:
        callbacks = importlib.import_module(".callbacks", __name__)
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.callbacks":
            raise
        return [], [Skip("callbacks", "all", "nativeffi/bench/callbacks.py is not in this build")]
    out: list[dict[str, Any]] = []

    def report(name: str, value: float, unit: str, note: str) -> None:
        if not select or select.lower() in name.lower():
            out.append({"name": name, "value": round(value, 3), "unit": unit, "note": note})

    callbacks.run(report)
    return out, []


def format_callbacks(res: list[dict[str, Any]]) -> str:
    """The callback results as a Markdown table."""
    lines = ["| callback benchmark | value | unit | note |", "|---|---:|---|---|"]
    lines += [f"| {r['name']} | {r['value']:.2f} | {r['unit']} | {r['note']} |" for r in res]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None, prog: str = "python -m nativeffi.bench") -> int:
    """Entry point of ``python -m nativeffi.bench`` (and ``python -m nativeffi bench``, which passes its `prog`);
    ``workloads`` as the first argument runs those alone; ``targets RUN.json ...`` reads several ``--json`` runs
    and tells which targets every run met (``nativeffi.bench.targets``)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["workloads"]:
        from . import workloads
        return workloads.main(argv[1:])
    if argv[:1] == ["targets"]:
        from . import targets
        return targets.main(argv[1:])
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0],
                                epilog=f"{prog} workloads --help: the workloads alone. {prog} targets RUN.json ...: "
                                       "the speed targets over several --json runs.")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--quick", action="store_true", help="3 short rounds instead of 9 (rough figures)")
    p.add_argument("--rounds", type=int, default=None, help="number of interleaved rounds")
    p.add_argument("-k", dest="select", default=None, help="only groups whose name contains this text")
    p.add_argument("--workdir", default=None, help="where to compile (default: a temporary directory)")
    p.add_argument("--no-callbacks", action="store_true", help="leave out the callback benchmarks")
    p.add_argument("--no-workloads", action="store_true", help="leave out the workload benchmarks")
    a = p.parse_args(argv)
    from .build import setup
    with tempfile.TemporaryDirectory(prefix="nativeffi-bench-") as tmp:
        ctx = setup(Path(a.workdir or tmp))
        rows, skips = collect(ctx, a.select)
        rounds = a.rounds or (3 if a.quick else 9)

        def progress(done: int, total: int) -> None:
            if not a.json:
                print(f"\rround {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

        measure(rows, rounds=rounds, round_seconds=0.01 if a.quick else 0.03, progress=progress)
        res, info = results(rows), machine()
        cb: list[dict[str, Any]] = []
        if not a.no_callbacks:
            if not a.json:
                print("callback benchmarks...", file=sys.stderr, flush=True)
            cb, cb_skips = callback_results(a.select)
            skips += cb_skips
        wl: list[dict[str, Any]] = []
        if not a.no_workloads:
            from . import workloads
            wl, wl_skips = workloads.run(1 if a.quick else 5, a.select, workdir=Path(tmp) / "workloads",
                                         progress=None if a.json else progress)
            skips += wl_skips
        if a.json:
            print(json.dumps({"machine": info, "results": res, "callbacks": cb, "workloads": wl,
                              "skipped": [s.__dict__ for s in skips]}, indent=2))
        else:
            print(format_table(res, skips, info))
            if cb:
                print()
                print(format_callbacks(cb))
            if wl:
                print()
                print(workloads.format_table(wl, []))
    return 0
