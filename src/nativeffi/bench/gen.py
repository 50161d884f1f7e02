"""``nativeffi gen`` benchmark: generating the sqlite3.h module, importing it, against cffi's ``cdef`` of the same API.

Measures, in one run:

- the time ``nativeffi.gen.generate(["sqlite3.h"])`` takes (libclang parse, macro evaluation, output);
- the time importing the generated module takes in a fresh interpreter (``nativeffi`` already imported,
  the module's bytecode cached as an installed module's is), generated as is and with ``lazy=True``
  (functions declared on first use), and that no library is opened by it (bindings resolve on first call);
- the time cffi's ABI mode takes to parse the same declarations with ``ffi.cdef`` (sqlite3.h preprocessed
  by ``cc -E``, only its own lines kept) in a fresh interpreter (``cffi`` already imported).

A benchmark, not a test: numbers depend on the machine. Run it with ``python -m nativeffi.bench.gen``.
"""
from __future__ import annotations

import importlib.util
import os
import py_compile
import re
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

__all__ = ["run", "main"]

HEADER = "sqlite3.h"
ASSET = "libsqlite3.so.0"

_IMPORT_PROBE = """
import sys, time
sys.path.insert(0, {dir!r})
import nativeffi
t = time.perf_counter()
import {module}
dt = time.perf_counter() - t
maps = open("/proc/self/maps").read()
print(dt, int("libsqlite3" in maps), len({module}.__all__))
"""

_CFFI_PROBE = """
import sys, time
import cffi
text = open({path!r}).read()
ffi = cffi.FFI()
t = time.perf_counter()
ffi.cdef(text)
print(time.perf_counter() - t)
"""


def cdef_text(header: str = HEADER) -> str:
    """The header's own declarations, preprocessed by ``cc -E`` for cffi (GNU attributes removed)."""
    cc = os.environ.get("CC") or "cc"
    out = subprocess.run([cc, "-E", "-x", "c", "-", "-D__attribute__(x)=", "-D__restrict=", "-D__extension__=",
                          "-D__inline=", "-D__asm__(x)="], input=f"#include <{header}>\n", capture_output=True,
                         text=True, check=True).stdout
    keep, current = [], ""
    for line in out.splitlines():
        m = re.match(r'# \d+ "([^"]+)"', line)
        if m:
            current = m.group(1)
        elif current.endswith("/" + header):
            keep.append(line)
    return "typedef ... va_list;\n" + "\n".join(keep) + "\n"


def _best(cmd: list[str], repeat: int) -> list[str]:
    """The output fields of the fastest of `repeat` runs of a probe printing its time first."""
    best: Optional[list[str]] = None
    for _ in range(repeat):
        fields = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        if best is None or float(fields[0]) < float(best[0]):
            best = fields
    assert best is not None
    return best


def run(report: Callable[[str, float, str, str], None], repeat: int = 5) -> dict[str, float]:
    """Runs the measurements, calling ``report(name, value, unit, note)`` for each; returns them by name."""
    from ..gen import generate

    results: dict[str, float] = {}
    gen_times = []
    for _ in range(max(1, repeat // 2)):
        t = time.perf_counter()
        result = generate([HEADER], asset=ASSET)
        gen_times.append(time.perf_counter() - t)
    results["generate"] = min(gen_times)
    report(f"generate {HEADER}", results["generate"] * 1e3, "ms",
           f"{len(result.declared)} declarations, {len(result.skipped)} skipped")
    lazy = generate([HEADER], asset=ASSET, lazy=True)
    with tempfile.TemporaryDirectory() as tmp:
        env_src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        results["library_opened_at_import"] = 0.0
        for key, module, source in (("import", "sqlite3_bindings", result.source),
                                    ("import_lazy", "sqlite3_bindings_lazy", lazy.source)):
            path = os.path.join(tmp, module + ".py")
            with open(path, "w") as f:
                f.write(source)
            py_compile.compile(path, doraise=True)  # bytecode cached, as for an installed module
            probe = _IMPORT_PROBE.format(dir=tmp, module=module)
            cmd = [sys.executable, "-c", f"import sys; sys.path.insert(0, {env_src!r})\n" + probe]
            seconds, opened, count = _best(cmd, repeat)
            results[key] = float(seconds)
            results["library_opened_at_import"] += float(opened)
            report(f"import the generated module{' (lazy=True)' if key == 'import_lazy' else ''}",
                   results[key] * 1e3, "ms", f"{count} names; libsqlite3 mapped after import: "
                                             f"{'yes' if int(opened) else 'no'}")
        if importlib.util.find_spec("cffi") is None:
            report("cffi cdef of the same declarations", float("nan"), "ms", "cffi is not installed")
            return results
        path = os.path.join(tmp, "sqlite3_cdef.h")
        with open(path, "w") as f:
            f.write(cdef_text())
        results["cffi_cdef"] = float(_best([sys.executable, "-c", _CFFI_PROBE.format(path=path)], repeat)[0])
        report("cffi ABI mode: ffi.cdef of the same declarations", results["cffi_cdef"] * 1e3, "ms",
               f"import is {results['cffi_cdef'] / results['import']:.1f}x faster than cdef, "
               f"{results['cffi_cdef'] / results['import_lazy']:.1f}x with lazy=True")
    return results


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 5

    def report(name: str, value: float, unit: str, note: str) -> None:
        print(f"{name:<52} {value:10.2f} {unit:<3} {note}")

    run(report, repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
