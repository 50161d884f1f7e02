"""The speed targets the project set itself, read from several runs of the benchmark: each target's value in every
run, the spread, and whether every run met it.

A single run on a shared machine can be off by 2x, so a target counts as met only when every run meets it::

    for i in 1 2 3; do python -m nativeffi.bench --json > run$i.json; done
    python -m nativeffi.bench targets run1.json run2.json run3.json

Each target names where its value comes from in a run's JSON (a row of the call/memory table, a callback figure, a
workload's ratio), so the table cannot drift from the measurements.
"""
from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["Target", "TARGETS", "evaluate", "format_table", "main"]

Run = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One goal, read from a run by `source`: ``("row", group, impl, "ratio" or "ns")`` for the call and memory
    table, ``("callback", name)`` or ``("callback", name, over_name)`` for the callback figures (a ratio of two),
    ``("workload", key, over_impl)`` for nativeffi's time over another implementation's. Met when the value is
    <= limit (>= when `higher_is_better`)."""

    label: str
    limit: float
    unit: str
    source: tuple[str, ...]
    higher_is_better: bool = False

    def met(self, v: float) -> bool:
        return v >= self.limit if self.higher_is_better else v <= self.limit

    def value(self, run: Run) -> Optional[float]:
        """This target's figure in `run`, None when the run does not have it."""
        kind, *args = self.source
        if kind == "row":
            group, impl, key = args
            return next((r[key] for r in run.get("results", []) if r["group"] == group and r["impl"] == impl), None)
        if kind == "callback":
            values = {r["name"]: r["value"] for r in run.get("callbacks", [])}
            v = values.get(args[0])
            if len(args) == 1 or v is None:
                return v
            return v / values[args[1]] if values.get(args[1]) else None
        key, over = args
        ms = {r["impl"]: r["ms"] for r in run.get("workloads", []) if r["workload"] == key}
        return ms["nativeffi"] / ms[over] if "nativeffi" in ms and ms.get(over) else None


def _row(group: str, impl: str, key: str = "ratio") -> tuple[str, ...]:
    return ("row", group, impl, key)


def _callback(*names: str) -> tuple[str, ...]:
    return ("callback", *names)


def _workload(key: str, over: str) -> tuple[str, ...]:
    return ("workload", key, over)


_FLOOR = "upcall: C loop calling PyObject_Vectorcall (floor)"
_LOCAL = "upcall: NativeCallable.isolate_local"
_EXPR = "type expression in a loop body"
_OUT = "out-parameter: create, f(&x), read x"
_ALLOC = "allocate one Int32 (and free it)"

TARGETS: list[Target] = [
    Target("out-parameter round trip, `Box[Int32]()`", 1.0, "x ctypes c_int32() + byref",
           _row(_OUT, "nativeffi Box[Int32]()")),
    Target("out-parameter round trip, `calloc(Int32)` + free", 1.0, "x ctypes c_int32() + byref",
           _row(_OUT, "nativeffi calloc(Int32) + free")),
    Target("allocate one `Box[Int32]()`", 1.0, "x ctypes c_int32()", _row(_ALLOC, "nativeffi Box[Int32]()")),
    Target("`with Arena() as a: a(Int32)`", 2.0, "x ctypes c_int32()",
           _row(_ALLOC, "nativeffi with Arena() as a: a(Int32)")),
    Target("`Pointer[Int32]` in a loop body", 60.0, "ns", _row(_EXPR, "nativeffi Pointer[Int32]", "ns")),
    Target("`Array[Int32, 4]` in a loop body", 60.0, "ns", _row(_EXPR, "nativeffi Array[Int32, 4]", "ns")),
    Target("`NativeFunction[[Int32], Int32]` in a loop body", 60.0, "ns",
           _row(_EXPR, "nativeffi NativeFunction[[Int32], Int32]", "ns")),
    Target("`isolate_local` upcall", 1.1, "x C calling PyObject_Vectorcall", _callback(_LOCAL, _FLOOR)),
    Target("`isolate_group_bound` upcall from a foreign thread", 1.6, "x same-thread isolate_local",
           _callback("upcall: isolate_group_bound, foreign thread", _LOCAL)),
    Target("listener delivery, 1 producer", 8.0, "M msg/s",
           _callback("listener: delivered messages/s, 1 producer(s)"), higher_is_better=True),
    Target("listener delivery, 1 untimed producer", 8.0, "M msg/s",
           _callback("listener: delivered messages/s, 1 untimed producer(s)"), higher_is_better=True),
    Target("listener, native side of one call, Python busy, mean", 150.0, "ns",
           _callback("listener: native side of one call, Python busy, mean")),
    Target("`s.x` read", 0.7, "x ctypes", _row("s.x read", "nativeffi Struct")),
    Target("`s.x` write", 0.7, "x ctypes", _row("s.x write", "nativeffi Struct")),
    Target("`p[i]` read", 0.6, "x ctypes", _row("p[i] read", "nativeffi Pointer[Int32]")),
    Target("`p[i]` write", 0.6, "x ctypes", _row("p[i] write", "nativeffi Pointer[Int32]")),
]
for _key, _title, _std in (("sqlite", "SQLite", True), ("sha256", "SHA-256", True), ("stat_time", "stat + time", True),
                           ("zlib", "zlib", True), ("expat", "expat", True), ("sort_ints", "qsort", False)):
    TARGETS.append(Target(f"workload {_title}", 1.0, "x ctypes", _workload(_key, "ctypes")))
    TARGETS.append(Target(f"workload {_title}", 1.0, "x cffi ABI", _workload(_key, "cffi ABI")))
    if _std:
        TARGETS.append(Target(f"workload {_title}", 1.5, "x its standard library module", _workload(_key, "stdlib")))


def evaluate(runs: list[Run]) -> list[dict[str, Any]]:
    """Per target: its value in each run (None where absent), min, median, max, and whether every run met it."""
    out = []
    for t in TARGETS:
        values = [t.value(run) for run in runs]
        present = [v for v in values if v is not None]
        out.append({"label": t.label, "unit": t.unit, "limit": t.limit, "higher_is_better": t.higher_is_better,
                    "values": values,
                    "min": min(present) if present else None, "median": statistics.median(present) if present else None,
                    "max": max(present) if present else None,
                    "met_in": sum(t.met(v) for v in present), "runs": len(present)})
    return out


def _fmt(v: Optional[float]) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


def format_table(ev: list[dict[str, Any]], runs: list[Run]) -> str:
    """The evaluation as a Markdown table, preceded by when each run was made and the load then."""
    lines = []
    for i, run in enumerate(runs, 1):
        m = run.get("machine", {})
        load = m.get("load_average")
        load_s = ", ".join(f"{x:.2f}" for x in load) if load else "unknown"
        lines.append(f"- run {i}: {m.get('date', '?')}, load average {load_s}")
    lines += ["", "| target | limit | " + " | ".join(f"run {i}" for i in range(1, len(runs) + 1)) +
              " | median | met |",
              "|---|---|" + "---:|" * len(runs) + "---:|---|"]
    for e in ev:
        op = ">=" if e["higher_is_better"] else "<="
        if not e["runs"]:
            met = "**not in these runs**"
        elif e["met_in"] == e["runs"] == len(runs):
            met = "every run"
        else:
            met = f"**{e['met_in']} of {len(runs)} runs**"
        cells = " | ".join(_fmt(v) for v in e["values"])
        lines.append(f"| {e['label']} | {op} {e['limit']:g} {e['unit']} | {cells} | {_fmt(e['median'])} | {met} |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``python -m nativeffi.bench targets RUN.json ...``: 0 when every run met every target, 1 when
    one was missed or absent from a run."""
    p = argparse.ArgumentParser(prog="python -m nativeffi.bench targets",
                                description="The speed targets over several runs of python -m nativeffi.bench --json")
    p.add_argument("runs", nargs="+", help="JSON files written by python -m nativeffi.bench --json")
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    a = p.parse_args(argv)
    runs = []
    for path in a.runs:
        with open(path) as f:
            runs.append(json.load(f))
    ev = evaluate(runs)
    print(json.dumps(ev, indent=2) if a.json else format_table(ev, runs))
    return 0 if all(e["met_in"] == len(runs) for e in ev) else 1
