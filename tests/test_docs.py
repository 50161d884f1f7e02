"""The documentation: every ```python block of README.md and docs/*.md runs, and the site builds strictly.

Each page is one test: its python blocks run in order, in one namespace (a module of its own), in a temporary
working directory, with the real libraries of this machine. A failure names the page and the line of the block
that failed. A block that cannot run here is marked on the line before its fence with
``<!-- not run: reason -->``; those are counted and listed in the summary, with the blocks that ran.

Run ``python tests/test_docs.py`` to list the pages, their blocks and the marked ones without pytest.
"""
from __future__ import annotations

import faulthandler
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import time
import traceback
import types
from dataclasses import dataclass
from typing import Iterator, Optional

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGE_TIMEOUT = 120  # seconds a page's blocks may take before faulthandler dumps every thread and ends the run

_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
_NOT_RUN = re.compile(r"^\s*<!--\s*not run:\s*(.+?)\s*-->\s*$")


@dataclass
class Block:
    """A ```python block of a page: the line of its opening fence (1-based), its code, and why it is not run."""
    line: int
    code: str
    not_run: Optional[str]


def pages() -> list[pathlib.Path]:
    """README.md, then every page under docs/ in name order."""
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))


def blocks(path: pathlib.Path) -> Iterator[Block]:
    """The python blocks of a Markdown page, in order (fences of other languages are skipped whole)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    previous = ""
    while i < len(lines):
        m = _FENCE.match(lines[i].strip())
        if not m:
            if lines[i].strip():
                previous = lines[i]
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i
        indent = len(lines[i]) - len(lines[i].lstrip())
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i >= len(lines):
            raise ValueError(f"{path.relative_to(ROOT)}:{start + 1}: unclosed code fence")
        i += 1
        if lang in ("python", "py"):
            marker = _NOT_RUN.match(previous)
            yield Block(start + 1, "\n".join(body) + "\n", marker.group(1) if marker else None)
        previous = ""


def _name(path: pathlib.Path) -> str:
    return str(path.relative_to(ROOT))


# What ran, for the summary: page -> (blocks executed, [(line, reason) not run])
_results: dict[str, tuple[int, list[tuple[int, str]]]] = {}


class _Summary:
    """Prints how many examples ran and which were marked not to run, at the end of the session."""

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not _results:
            return
        ran = sum(n for n, _ in _results.values())
        skipped = [(page, line, why) for page, (_, marks) in sorted(_results.items()) for line, why in marks]
        terminalreporter.write_line(f"docs: {ran} python examples executed on {len(_results)} pages, "
                                    f"{len(skipped)} marked not run")
        for page, line, why in skipped:
            terminalreporter.write_line(f"  not run: {page}:{line}: {why}")


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    """Registers the end-of-session summary of executed examples."""
    plugin = _Summary()
    if not request.config.pluginmanager.is_registered(plugin):
        request.config.pluginmanager.register(plugin, "nativeffi-docs-summary")
    yield


def _open_callables() -> set[int]:
    from nativeffi import callable as nc
    with nc._lock:
        return set(nc._open)


# Pages whose examples crash a child process on purpose, and why.
CRASHES_A_CHILD = {"docs/troubleshooting.md": "shows faulthandler's report of a child that reads a bad address"}


@pytest.mark.parametrize("path", pages(), ids=_name)
def test_examples_run(path: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every python block of the page runs in order in one namespace, leaves no callable open and no file behind."""
    page = _name(path)
    module_name = "docs_" + re.sub(r"\W", "_", page[:-3])
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    monkeypatch.setitem(sys.modules, module_name, module)
    monkeypatch.chdir(tmp_path)
    # Interpreters the examples start import the nativeffi under test (PYTHONPATH=src is relative to the checkout).
    import nativeffi
    package_root = str(pathlib.Path(nativeffi.__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    if page in CRASHES_A_CHILD and os.environ.get("NATIVEFFI_SANITIZE") == "1":
        # under the sanitizer job: the child's deliberate SIGSEGV goes to faulthandler, as the page shows, not to
        # ASan's handler (whose report would fail the job); ASan still reports any memory error it detects
        monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":handle_segv=0:handle_abort=0")
    before = _open_callables()
    from nativeffi import assets
    monkeypatch.setattr(assets, "_registry", dict(assets._registry))    # what a page registers stays with it
    monkeypatch.setattr(assets, "_resolvers", dict(assets._resolvers))
    ran, marks = 0, []
    faulthandler.dump_traceback_later(PAGE_TIMEOUT, exit=True, file=sys.__stderr__)  # a real fd, whatever pytest's capture
    try:
        for block in blocks(path):
            if block.not_run is not None:
                marks.append((block.line, block.not_run))
                continue
            # Padding the code to its line in the page makes tracebacks point at the page's own lines.
            code = compile("\n" * block.line + block.code, str(path), "exec")
            failure = None
            try:
                exec(code, module.__dict__)
            except BaseException:
                failure = traceback.format_exc()
            if failure is not None:
                pytest.fail(f"{page}:{block.line}: the python block starting here raised:\n{failure}", pytrace=False)
            ran += 1
    finally:
        faulthandler.cancel_dump_traceback_later()
    _results[page] = (ran, marks)
    left_open = _open_callables() - before
    assert not left_open, f"{page}: its examples left {len(left_open)} NativeCallable(s) open: close them"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not left, f"{page}: its examples left files behind in the working directory: {left}"


def test_every_page_has_examples() -> None:
    """Every docs page except the API reference has at least one python example that runs."""
    for path in pages():
        if path.parent.name == "docs" and path.name != "reference.md":
            assert any(b.not_run is None for b in blocks(path)), f"{_name(path)} has no python example that runs"


def test_not_run_markers_have_reasons() -> None:
    """A ``not run`` marker is only used before a python block and names its reason."""
    for path in pages():
        lines = path.read_text(encoding="utf-8").splitlines()
        marked = {b.line for b in blocks(path) if b.not_run is not None}
        for i, line in enumerate(lines):
            if _NOT_RUN.match(line):
                following = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)
                assert following is not None and following + 1 in marked, \
                    f"{_name(path)}:{i + 1}: a 'not run' marker must come right before a ```python block"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason="mkdocs is not installed (pip install '.[docs]')")
def test_site_builds_strictly(tmp_path: pathlib.Path) -> None:
    """``mkdocs build --strict`` builds the site, API reference included, without a warning."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - start
    assert r.returncode == 0, f"mkdocs build --strict failed after {elapsed:.1f} s:\n{r.stdout}\n{r.stderr}"
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "reference" / "index.html").exists()


if __name__ == "__main__":
    total = 0
    for p in pages():
        bs = list(blocks(p))
        total += sum(b.not_run is None for b in bs)
        print(f"{_name(p)}: {sum(b.not_run is None for b in bs)} blocks to run"
              + "".join(f"\n  not run: line {b.line}: {b.not_run}" for b in bs if b.not_run is not None))
    print(f"{total} python blocks to run")
