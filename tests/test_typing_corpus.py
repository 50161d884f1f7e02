"""Both type checkers over user-style programs: mypy --strict and pyright (basedpyright, strict) accept the good
corpus with no error, and report exactly the marked lines of the bad corpus; the good programs also run.

A line of tests/typing_corpus/bad/*.py that a checker must flag ends with ``# E: <mypy text> || <pyright text>``:
each checker must report an error on that line whose message contains its text, and no error on unmarked
lines. ``-`` instead of a text says that checker is known to miss it (the line says why).
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest

import nativeffi

CORPUS = pathlib.Path(__file__).parent / "typing_corpus"
GOOD = sorted((CORPUS / "good").glob("*.py"))
BAD = sorted((CORPUS / "bad").glob("*.py"))
MARK = re.compile(r"#\s*E:\s*(.*?)\s*\|\|\s*(.*?)\s*$")

pytest.importorskip("mypy", reason="mypy is not installed (it comes with the test extra)")
pytest.importorskip("basedpyright", reason="basedpyright is not installed (it comes with the test extra)")


def _package_root() -> str | None:
    """The directory to add to the checkers' search path when nativeffi runs from a source checkout."""
    src = str(pathlib.Path(nativeffi.__file__).resolve().parent.parent)
    return None if "-packages" in src else src


def run_mypy(files: list[pathlib.Path], cache: pathlib.Path) -> dict[tuple[str, int], list[str]]:
    """mypy --strict over `files` (modules of declarations disable ``empty-body`` in a comment, as the docs
    say); the error messages by (file name, line)."""
    env = dict(os.environ)
    root = _package_root()
    if root:
        env["MYPYPATH"] = root
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), "--no-error-summary",
                           "--no-pretty", "--hide-error-context", "--show-column-numbers", *map(str, files)],
                          capture_output=True, text=True, env=env, timeout=600)
    errors: dict[tuple[str, int], list[str]] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"(.+?):(\d+):(?:\d+:)? error: (.*)$", line)
        if m:
            errors.setdefault((pathlib.Path(m[1]).name, int(m[2])), []).append(m[3])
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return errors


def run_pyright(files: list[pathlib.Path], tmp: pathlib.Path) -> dict[tuple[str, int], list[str]]:
    """basedpyright in pyright's strict mode over `files`; the error messages by (file name, line)."""
    config = {"typeCheckingMode": "strict", "pythonVersion": f"{sys.version_info[0]}.{sys.version_info[1]}",
              "extraPaths": [p for p in [_package_root()] if p]}
    (tmp / "pyrightconfig.json").write_text(json.dumps(config))
    exe = shutil.which("basedpyright", path=os.path.dirname(sys.executable)) or shutil.which("basedpyright")
    assert exe, "the basedpyright command is not on PATH"
    proc = subprocess.run([exe, "-p", str(tmp / "pyrightconfig.json"), "--pythonpath", sys.executable,
                           "--outputjson", *map(str, files)], capture_output=True, text=True, timeout=600)
    report = json.loads(proc.stdout)
    errors: dict[tuple[str, int], list[str]] = {}
    for d in report["generalDiagnostics"]:
        if d["severity"] == "error":
            errors.setdefault((pathlib.Path(d["file"]).name, d["range"]["start"]["line"] + 1), []).append(d["message"])
    return errors


def expected_errors(files: list[pathlib.Path], checker: int) -> dict[tuple[str, int], str]:
    """The marked lines of `files` and the text checker 0 (mypy) or 1 (pyright) must report there ("-": a
    known gap of that checker)."""
    marks = {}
    for f in files:
        for n, line in enumerate(f.read_text().splitlines(), start=1):
            m = MARK.search(line)
            if m:
                marks[(f.name, n)] = m[checker + 1]
    return marks


def describe(errors: dict[tuple[str, int], list[str]]) -> str:
    return "\n".join(f"{f}:{n}: {' / '.join(msgs)}" for (f, n), msgs in sorted(errors.items()))


def test_corpus_is_there() -> None:
    """The corpora hold the programs this test is about (a glob that found nothing would pass vacuously)."""
    assert {f.stem for f in GOOD} >= {"sqlite_binding", "callbacks", "structs", "out_params", "memory",
                                      "assets_and_vars"}
    assert {f.stem for f in BAD} >= {"arguments", "pointers", "callbacks", "structs"}
    assert all(MARK.search(f.read_text()) for f in BAD)


def test_mypy_accepts_good_corpus(tmp_path: pathlib.Path) -> None:
    """mypy --strict reports no error in the user-style programs."""
    start = time.perf_counter()
    errors = run_mypy(GOOD, tmp_path / "cache")
    print(f"mypy over the good corpus: {time.perf_counter() - start:.1f} s")
    assert not errors, describe(errors)


def test_pyright_accepts_good_corpus(tmp_path: pathlib.Path) -> None:
    """pyright in strict mode reports no error in the user-style programs."""
    start = time.perf_counter()
    errors = run_pyright(GOOD, tmp_path)
    print(f"pyright over the good corpus: {time.perf_counter() - start:.1f} s")
    assert not errors, describe(errors)


@pytest.mark.parametrize("checker", [0, 1], ids=["mypy", "pyright"])
def test_checkers_report_bad_corpus(tmp_path: pathlib.Path, checker: int) -> None:
    """Each checker reports an error on exactly the marked lines of the wrong programs, saying what is marked."""
    errors = run_mypy(BAD, tmp_path / "cache") if checker == 0 else run_pyright(BAD, tmp_path)
    marks = expected_errors(BAD, checker)
    expected = {k: v for k, v in marks.items() if v != "-"}
    missing = {k: v for k, v in expected.items() if k not in errors}
    unexpected = {k: v for k, v in errors.items() if k not in marks}  # a known gap that closes is no failure
    wrong_text = {k: errors[k] + [f"expected: {v}"] for k, v in expected.items()
                  if k in errors and not any(v in msg for msg in errors[k])}
    assert not missing, "not reported:\n" + "\n".join(f"{f}:{n}: {t}" for (f, n), t in sorted(missing.items()))
    assert not unexpected, "reported but not marked:\n" + describe(unexpected)
    assert not wrong_text, "reported with another message:\n" + describe(wrong_text)


@pytest.mark.parametrize("program", GOOD, ids=[f.stem for f in GOOD])
def test_good_corpus_runs(program: pathlib.Path) -> None:
    """Each program of the good corpus runs to completion with the real libraries (its main() asserts results)."""
    env = dict(os.environ)
    root = _package_root()
    if root:
        env["PYTHONPATH"] = os.pathsep.join(p for p in [root, env.get("PYTHONPATH", "")] if p)
    proc = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("checker", [0, 1], ids=["mypy", "pyright"])
def test_type_checking_page_passes_checkers(tmp_path: pathlib.Path, checker: int) -> None:
    """The examples of docs/type-checking.md, one module as the docs test runs them, give no error to either
    checker (the docs test executes them)."""
    page = (CORPUS.parent.parent / "docs" / "type-checking.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert len(blocks) >= 5
    module = tmp_path / "type_checking_page.py"
    module.write_text('# mypy: disable-error-code="empty-body"\n' + "\n".join(blocks))
    errors = run_mypy([module], tmp_path / "cache") if checker == 0 else run_pyright([module], tmp_path)
    assert not errors, describe(errors)
