"""Builds C test helpers into plain shared libraries under tests/native/build/ (never shipped)."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

BUILD = Path(__file__).parent / "native" / "build"


def build_shared(name: str, source: str) -> Path:
    """Compiles C `source` into ``lib<name>-<hash>.so`` with the system compiler; cached by content.

    Raises:
        RuntimeError: no C compiler, or the compiler rejected the source (its output is in the message).
    """
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise RuntimeError("no C compiler found (set CC, or install gcc) to build the test library " + name)
    digest = hashlib.sha256((cc + source).encode()).hexdigest()[:16]
    BUILD.mkdir(parents=True, exist_ok=True)
    out = BUILD / f"lib{name}-{digest}.so"
    if out.exists():
        return out
    src = BUILD / f"{name}-{digest}.c"
    src.write_text(source)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(src)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"building {name} failed:\n{r.stderr}")
    os.replace(tmp, out)
    return out
