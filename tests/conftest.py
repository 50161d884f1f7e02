"""Shared fixtures: C helper libraries built with the system compiler, and a capture of unraisable exceptions."""
from __future__ import annotations

import pathlib
import sys
from typing import Callable

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "native"))
from build import build  # noqa: E402


@pytest.fixture(scope="session")
def native_lib() -> Callable[[str], str]:
    """Returns a function: name -> path of tests/native/NAME.c built as a shared library (built once per run)."""
    cache: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in cache:
            cache[name] = str(build(name))
        return cache[name]

    return get


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list:
    """Collects what reaches sys.unraisablehook during the test."""
    seen: list = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u))
    return seen


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Reports how many inputs the fuzz suite tried (tests/test_fuzz.py), when it ran."""
    fuzz = sys.modules.get("test_fuzz")
    counts = getattr(fuzz, "inputs_tried", None)
    if counts:
        detail = ", ".join(f"{k} {v:,}" for k, v in counts.items())
        terminalreporter.write_line(f"fuzz: {sum(counts.values()):,} inputs tried ({detail})")


@pytest.fixture
def clean_registry():
    """Each test starts and ends with no registered assets or resolvers of its own (tests that register use it)."""
    from nativeffi import assets
    before = assets.registered()
    yield
    for k in set(assets.registered()) - set(before):
        assets.unregister(k)
    assets._resolvers.clear()
