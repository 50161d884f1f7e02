"""Leak check: each scenario of tests/leak_cases.py (call paths, callable create/close, Arena) in a process of its
own, at the suite's counts; CI also runs `python tests/leak_cases.py --full` (the issue's counts)."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from leak_cases import SCENARIOS

HERE = pathlib.Path(__file__).resolve().parent


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_memory_stays_flat(name: str) -> None:
    """RSS and traced memory grow by less than their allowance (noise, and well under one allocation per
    iteration) over the scenario's iterations."""
    p = subprocess.run([sys.executable, "-X", "faulthandler", str(HERE / "leak_cases.py"), name],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        pytest.fail(f"{name} (exit status {p.returncode}):\n{p.stdout}\n{p.stderr[-8000:]}", pytrace=False)
