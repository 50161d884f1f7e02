"""Workload benchmarks: whole tasks on real C libraries, written idiomatically in nativeffi, ctypes, cffi (ABI and
API mode) and, where the standard library binds the same C library, its module; all timed in one run.

Run ``python -m nativeffi.bench workloads`` (``--rounds N``, ``--json``, ``-k TEXT``). Each implementation lives in
its own file (``with_nativeffi.py``, ``with_ctypes.py``, ``with_cffi.py``, ``with_stdlib.py``), reads the same
inputs (``data.py``) and returns the same result; the test suite runs every one at a tiny scale and checks that
they agree. A row's time is the minimum over interleaved rounds of the whole workload, in ms; its ratios are to
ctypes and to the standard library's module (where that binds the same C library: not for qsort, whose reference
is ``sorted`` with ``functools.cmp_to_key``, shown for orientation).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..timing import Skip
from . import data

__all__ = ["WORKLOADS", "IMPLEMENTATIONS", "Workload", "Result", "implementations", "measure", "results",
           "format_table", "main"]


@dataclass(frozen=True)
class Workload:
    """One task: `key` names the function every implementation defines; `stdlib` describes the reference."""

    key: str
    title: str
    stdlib: str
    stdlib_binds_same_library: bool = True


WORKLOADS = [
    Workload("sqlite", "SQLite: 10,000 prepared inserts, then a GROUP BY calling a Python scalar function",
             "sqlite3 module (executemany, create_function)"),
    Workload("sha256", "SHA-256 of 10,000 small messages through EVP_Digest", "hashlib.sha256"),
    Workload("stat_time", "stat + localtime_r + strftime, 10,000 times", "os.stat + time.localtime + time.strftime"),
    Workload("zlib", "zlib: crc32 + compress2 + uncompress of 10,000 small buffers",
             "zlib.crc32 + zlib.compress + zlib.decompress"),
    Workload("expat", "expat: a generated 5 MB document, start/end/character-data callbacks",
             "pyexpat (xml.parsers.expat)"),
    Workload("sort_ints", "qsort of 100,000 ints with a Python comparator",
             "sorted(key=functools.cmp_to_key(...)), not a qsort binding", stdlib_binds_same_library=False),
]
IMPLEMENTATIONS = ["nativeffi", "ctypes", "cffi ABI", "cffi API", "stdlib"]
CFFI_MISSING = "cffi is not installed (pip install 'nativeffi[bench]')"


def implementations(workdir: Path) -> tuple[dict[str, Any], list[Skip]]:
    """Every implementation that can run here (name -> object with the workload functions), and skips with why."""
    from . import with_ctypes, with_nativeffi, with_stdlib
    impls: dict[str, Any] = {"nativeffi": with_nativeffi, "ctypes": with_ctypes}
    skips = []
    try:
        from . import with_cffi
        impls["cffi ABI"] = with_cffi.make_abi()
        api, why = with_cffi.build_api(workdir)
        if api is None:
            skips.append(Skip("workloads", "cffi API", why))
        else:
            impls["cffi API"] = api
    except ImportError:
        skips += [Skip("workloads", "cffi ABI", CFFI_MISSING), Skip("workloads", "cffi API", CFFI_MISSING)]
    impls["stdlib"] = with_stdlib
    return impls, skips


@dataclass
class Result:
    """One workload in one implementation: its result (to compare) and its time per round in ms."""

    workload: Workload
    impl: str
    ms: list[float] = field(default_factory=list)
    value: Any = None


def measure(impls: dict[str, Any], inp: data.Inputs, rounds: int = 5, select: Optional[str] = None,
            progress: Optional[Callable[[int, int], None]] = None) -> list[Result]:
    """Runs each selected workload in each implementation once per round, rounds interleaved."""
    out = [Result(w, name) for w in WORKLOADS if not select or select.lower() in (w.key + w.title).lower()
           for name in impls]
    for r in range(rounds):
        for res in out:
            fn = getattr(impls[res.impl], res.workload.key)
            t = time.perf_counter()
            res.value = fn(inp)
            res.ms.append((time.perf_counter() - t) * 1e3)
        if progress:
            progress(r + 1, rounds)
    return out


def results(measured: list[Result]) -> list[dict[str, Any]]:
    """Plain records: ms (min and median over rounds), ratios to ctypes and to the standard library's module,
    and whether every implementation of the workload returned the same result."""
    best = {(r.workload.key, r.impl): min(r.ms) for r in measured}
    agree = {w.key: len({repr(r.value) for r in measured if r.workload is w}) <= 1 for w in WORKLOADS}
    out = []
    for r in measured:
        ms, ct, std = min(r.ms), best.get((r.workload.key, "ctypes")), best.get((r.workload.key, "stdlib"))
        out.append({"workload": r.workload.key, "title": r.workload.title, "impl": r.impl, "ms": round(ms, 2),
                    "ms_median": round(statistics.median(r.ms), 2),
                    "ms_spread": round(max(r.ms) - ms, 2),
                    "x_ctypes": round(ms / ct, 3) if ct else None,
                    "x_stdlib": round(ms / std, 3) if std and r.workload.stdlib_binds_same_library else None,
                    "stdlib": r.workload.stdlib, "results_agree": agree[r.workload.key]})
    return out


def format_table(res: list[dict[str, Any]], skips: list[Skip]) -> str:
    """The results as a Markdown table (one line per workload and implementation)."""
    lines = ["| workload | implementation | ms (min) | ms (median) | x ctypes | x stdlib module |",
             "|---|---|---:|---:|---:|---:|"]
    last = None
    for r in res:
        title = r["title"] if r["workload"] != last else ""
        last = r["workload"]
        impl = r["stdlib"] if r["impl"] == "stdlib" else r["impl"]
        x_std = "" if r["x_stdlib"] is None else f"{r['x_stdlib']:.2f}"
        x_ct = "" if r["x_ctypes"] is None else f"{r['x_ctypes']:.2f}"
        lines.append(f"| {title} | {impl} | {r['ms']:.1f} | {r['ms_median']:.1f} | {x_ct} | {x_std} |")
    bad = sorted({r["workload"] for r in res if not r["results_agree"]})
    if bad:
        lines += ["", f"**The implementations disagree on: {', '.join(bad)}**"]
    if skips:
        lines.append("")
        lines += [f"- skipped {s.impl}: {s.why}" for s in skips]
    return "\n".join(lines)


def supported() -> Optional[str]:
    """None where the workloads run (the struct stat layouts are x86-64 Linux's), else why not."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return f"the workloads spell out x86-64 Linux's struct stat; this is {platform.system()} {platform.machine()}"
    return None


def run(rounds: int = 5, select: Optional[str] = None, scale: float = 1.0, workdir: Optional[Path] = None,
        progress: Optional[Callable[[int, int], None]] = None) -> tuple[list[dict[str, Any]], list[Skip]]:
    """Builds the inputs and implementations (in `workdir`, else a temporary directory) and measures them."""
    why = supported()
    if why:
        return [], [Skip("workloads", "all", why)]
    with tempfile.TemporaryDirectory(prefix="nativeffi-workloads-") as tmp:
        wd = Path(workdir or tmp)
        wd.mkdir(parents=True, exist_ok=True)
        impls, skips = implementations(wd)
        inp = data.make(wd, scale)
        return results(measure(impls, inp, rounds, select, progress)), skips


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``python -m nativeffi.bench workloads``."""
    p = argparse.ArgumentParser(prog="python -m nativeffi.bench workloads", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5; the minimum is reported)")
    p.add_argument("--quick", action="store_true", help="one round")
    p.add_argument("--scale", type=float, default=1.0, help="input sizes relative to the issue's (default 1)")
    p.add_argument("-k", dest="select", default=None, help="only workloads whose name contains this text")
    a = p.parse_args(argv)

    def progress(done: int, total: int) -> None:
        if not a.json:
            print(f"\rworkload round {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    res, skips = run(1 if a.quick else a.rounds, a.select, a.scale, progress=progress)
    if a.json:
        from .. import machine
        print(json.dumps({"machine": machine(), "workloads": res, "skipped": [s.__dict__ for s in skips]}, indent=2))
    else:
        print(format_table(res, skips))
    return 0 if all(r["results_agree"] for r in res) else 1
