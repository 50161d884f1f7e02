"""Benchmark set-up: compiles benchlib.c, the floor extension and cffi's API-mode module into a work directory."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Optional

HERE = Path(__file__).resolve().parent


@dataclass
class Context:
    """What set-up produced; also handed to bench/callbacks.py."""

    workdir: Path
    cc: str
    lib: Path                      # libnfbench.so: the functions every row calls
    floor: ModuleType              # _nfbench_floor: the hand-written METH_FASTCALL floors
    cffi_api: Optional[ModuleType]  # cffi's API-mode module, or None
    cffi_api_note: str = ""

    def compile_shared(self, name: str, source: str, *flags: str) -> Path:
        """Compiles C `source` into workdir/lib<name>.so."""
        src = self.workdir / f"{name}.c"
        src.write_text(source)
        out = self.workdir / f"lib{name}.so"
        _run([self.cc, "-O2", "-shared", "-fPIC", "-o", str(out), str(src), *flags])
        return out

    def compile_extension(self, name: str, source: str, *flags: str) -> ModuleType:
        """Compiles C `source` into the CPython extension module `name` and imports it."""
        src = self.workdir / f"{name}.c"
        src.write_text(source)
        out = self.workdir / (name + sysconfig.get_config_var("EXT_SUFFIX"))
        _run([self.cc, "-O2", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", f"-I{HERE}",
              "-o", str(out), str(src), *flags])
        return _import(name, out)


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"benchmark set-up: {' '.join(cmd)} failed:\n{r.stderr}")


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cffi_api(workdir: Path, lib: Path) -> tuple[Optional[ModuleType], str]:
    try:
        cffi = importlib.import_module("cffi")
    except ImportError:
        return None, "cffi is not installed (pip install 'nativeffi[bench]')"
    ffi = cffi.FFI()
    ffi.cdef(cdef())
    ffi.set_source("_nfbench_cffi", '#include "benchlib.h"', include_dirs=[str(HERE)], libraries=["nfbench"],
                   library_dirs=[str(workdir)], runtime_library_dirs=[str(workdir)], extra_compile_args=["-O2"])
    try:
        path = ffi.compile(tmpdir=str(workdir), verbose=False)
    except Exception as e:  # a missing compiler or Python headers: report, do not fake
        return None, f"cffi API mode could not be compiled: {e}"
    return _import("_nfbench_cffi", Path(path)), ""


def cdef() -> str:
    """benchlib.h without preprocessor lines, as cffi's cdef wants it."""
    text = (HERE / "benchlib.h").read_text()
    return "\n".join(line for line in text.splitlines() if not line.startswith(("#", "/*")))


def setup(workdir: Path) -> Context:
    """Builds everything the rows need into `workdir`.

    Raises:
        RuntimeError: no C compiler, or a compile failed (the compiler's output is in the message).
    """
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise RuntimeError("the benchmarks compile C: install a C compiler (e.g. apt-get install gcc) or set CC")
    workdir.mkdir(parents=True, exist_ok=True)
    lib = workdir / "libnfbench.so"
    _run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(HERE / "benchlib.c")])
    ctx = Context(workdir, cc, lib, None, None)  # type: ignore[arg-type]
    ctx.floor = ctx.compile_extension("_nfbench_floor", (HERE / "floor.c").read_text(), "-ldl")
    ctx.floor.setup(str(lib))
    ctx.cffi_api, ctx.cffi_api_note = _cffi_api(workdir, lib)
    return ctx
