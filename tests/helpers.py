"""Small helpers for tests: bind a C function of a test library by name and signature."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Sequence

import pytest

import nativeffi

from nativeffi import Int64, NativeFunction, Pointer, Struct, assets


def cfunc(lib: str, symbol: str, params: Sequence[Any], ret: Any, is_leaf: bool = True) -> Any:
    """The function `symbol` of the shared library at path `lib`, callable with the given native signature."""
    address = assets.lookup(lib, symbol)
    assert address is not None, f"{symbol} not found in {lib}"
    return Pointer[NativeFunction[list(params), ret]].from_address(address).as_function(is_leaf=is_leaf)


UNDER_ASAN = "libasan" in open("/proc/self/maps").read()  # the sanitizer job (.ci/sanitize) preloads ASan

SRC = os.path.dirname(os.path.dirname(os.path.abspath(nativeffi.__file__)))

PRELUDE = '''
import atexit, os, signal, sys, threading
signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C raises KeyboardInterrupt even if started ignoring it
from nativeffi import NativeCallable, NativeFunction, Int32, Int64, Pointer, Void, assets
lib = sys.argv[1]
EVENT_FN = NativeFunction[[Int64, Int32], Void]
I64_FN = NativeFunction[[Int64], Int64]
def cfunc(symbol, params, ret):
    return Pointer[NativeFunction[params, ret]].from_address(assets.lookup(lib, symbol)).as_function()
def say(line):
    sys.stdout.write(line + "\\n"); sys.stdout.flush()
atexit.register(say, "exiting")
'''


def spawn(script: str, lib: str, *args: str, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[str]:
    """Runs PRELUDE + script in a new interpreter with argv [lib, *args]. The child handles SIGINT as Python in a
    terminal does even when the tests run as a shell's background job, which starts with SIGINT ignored (and
    Python then installs no KeyboardInterrupt handler): tests that send it SIGINT expect the terminal's behaviour."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(script), lib, *args], env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds)


class Big3(Struct):
    """24 bytes by value: MEMORY class on x86-64, beyond the registers on AArch64: always a libffi closure."""
    a: Int64
    b: Int64
    c: Int64


BIG3_FN = NativeFunction[[Big3], Int64]


# .ci/aarch64 runs a plain C program (a threaded process forks and the child starts a thread) under its emulator and
# sets NATIVEFFI_QEMU_FORK_THREAD_BUG to the emulator's version when that program fails: qemu-user 7.2 aborts there
# ("qemu_plugin_vcpu_init_hook: assertion failed"). Tests whose forked child starts a thread are skipped under it.
QEMU_FORK_THREAD_BUG = os.environ.get("NATIVEFFI_QEMU_FORK_THREAD_BUG", "")
skip_under_qemu_fork_bug = pytest.mark.skipif(
    bool(QEMU_FORK_THREAD_BUG), reason=f"the emulator ({QEMU_FORK_THREAD_BUG}) aborts when a forked child of a "
    "threaded process starts a thread, as a plain C program shows (.ci/aarch64's probe)")

