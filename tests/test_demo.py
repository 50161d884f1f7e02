"""The showcase, python -m nativeffi demo, runs and prints what C computed."""
from __future__ import annotations

import subprocess
import sys
import zlib


def test_demo_runs_and_agrees_with_python() -> None:
    """The demo exits 0 and its libc, zlib, struct and callback lines show the results C computed."""
    r = subprocess.run([sys.executable, "-m", "nativeffi", "demo"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert 'strlen("héllo wörld")' in out and "-> 13" in out
    assert zlib.ZLIB_RUNTIME_VERSION in out
    assert "crc32(data) == zlib.crc32(data)" in out and "False" not in out
    assert "quot=-3, rem=-2" in out  # C's truncating division, unlike Python's floor division
    assert "[-11, -3, 0, 5, 7, 42]" in out
    assert "ran on a native thread: True" in out
    assert "['notes#1', 'notes#2', 'notes#3']" in out


def test_demo_usage() -> None:
    """An unknown subcommand prints the usage and exits 2 (tests/test_cli.py checks the command line in full)."""
    r = subprocess.run([sys.executable, "-m", "nativeffi", "nope"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "usage: python -m nativeffi" in r.stderr and "unknown command 'nope'" in r.stderr
