"""The core refuses subinterpreters until it supports them (docs/free-threading.md), and loads once per process.

A free-threaded build refuses it too (csrc/module.c, compiled only into a --disable-gil build, where this suite
cannot import the core at all): no such CPython is on this machine to run that.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

import nativeffi
from nativeffi import _core

# Run in a child process that imports nativeffi in its main interpreter first (the case where CPython copies a
# single-phase module into a legacy subinterpreter without running its init), then tries it in subinterpreters of
# each kind. Prints one line per kind: "loaded" or the ImportError.
SCRIPT = r"""
import os, sys
import nativeffi
try:
    import _interpreters as interp          # 3.13+
    kinds = {"isolated": lambda: interp.create("isolated"), "legacy": lambda: interp.create("legacy")}
except ImportError:
    import _xxsubinterpreters as interp     # 3.12
    kinds = {"isolated": lambda: interp.create(isolated=True), "legacy": lambda: interp.create(isolated=False)}
r, w = os.pipe()
for kind, create in kinds.items():
    i = create()
    interp.run_string(i, f'''
import os, sys
sys.path[:0] = {sys.path!r}
try:
    import nativeffi._core
    msg = "loaded"
except ImportError as e:
    msg = "ImportError: " + str(e)
os.write({w}, msg.encode() + b"\\n")
''')
    interp.destroy(i)
    print(kind, os.read(r, 4096).decode().strip())
"""


@pytest.mark.skipif(sys.version_info < (3, 12), reason="subinterpreters with their own GIL, and the modules that "
                    "make them (_interpreters, _xxsubinterpreters), come with Python 3.12")
def test_import_in_a_subinterpreter_raises_import_error() -> None:
    """Importing the core in an isolated or a legacy (shared-GIL) subinterpreter raises ImportError saying so."""
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert set(lines) == {"isolated", "legacy"}, r.stdout
    for kind, msg in lines.items():
        assert msg.startswith("ImportError:") and "subinterpreters" in msg, (kind, msg)
    # the legacy kind would load a single-phase module: there the core's own message, naming the plan, is seen
    assert "docs/free-threading.md" in lines["legacy"]


def test_main_interpreter_reimport_shares_the_first_modules_objects() -> None:
    """Importing the core again in the main interpreter gives the same types, not a second initialisation."""
    saved = sys.modules.pop("nativeffi._core")
    try:
        import importlib
        again = importlib.import_module("nativeffi._core")
        assert again is not saved
        assert again.CType is _core.CType and again.set_layout is _core.set_layout
    finally:
        sys.modules["nativeffi._core"] = saved
        nativeffi._core = saved
