"""Fuzz suite: each property of tests/fuzz_cases.py runs in a process of its own, so a crash fails its test cleanly.

``NATIVEFFI_FUZZ_EXAMPLES`` (default 200) sets the hypothesis examples per property; the number of inputs tried
is printed at the end of the run. ``python tests/fuzz_cases.py NAME`` runs one property by hand.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from fuzz_cases import PROPERTIES

HERE = pathlib.Path(__file__).resolve().parent
inputs_tried: dict[str, int] = {}  # property -> inputs, read by conftest's terminal summary


@pytest.mark.parametrize("name", list(PROPERTIES))
def test_fuzz_property(name: str) -> None:
    """The property holds for every input tried, and its process ends normally (no crash, no hang)."""
    p = subprocess.run([sys.executable, "-X", "faulthandler", str(HERE / "fuzz_cases.py"), name],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONHASHSEED": "0"})
    counts = [line for line in p.stdout.splitlines() if line.startswith("inputs tried: ")]
    if counts:
        inputs_tried[name] = int(counts[-1].split(": ")[1])
    if p.returncode != 0:
        pytest.fail(f"{name} (exit status {p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-12000:]}", pytrace=False)
