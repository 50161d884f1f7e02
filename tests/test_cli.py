"""The command line, python -m nativeffi: help, version, the subcommands' own help, info, and usage errors.

Every test runs the real CLI in a subprocess, as a user would.
"""
from __future__ import annotations

import json
import platform
import re
import shutil
import ssl
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from nativeffi import _core, _info

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["demo", "info", "bench", "gen"]


def cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """Runs ``python -m nativeffi ARGS`` and returns the finished process (text output)."""
    return subprocess.run([sys.executable, "-m", "nativeffi", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_help_lists_every_command_and_the_docs() -> None:
    """--help exits 0 and names each command, --version, and where the documentation is."""
    r = cli("--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: python -m nativeffi")
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\w", r.stdout, re.M), command
    assert "--version" in r.stdout and "docs/index.md" in r.stdout


def test_version_is_the_projects() -> None:
    """--version exits 0 and prints the version pyproject.toml declares (the source tree's, or the installed one's)."""
    r = cli("--version")
    assert r.returncode == 0, r.stderr
    declared = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert declared is not None
    assert r.stdout.strip() == f"nativeffi {declared.group(1)}" == f"nativeffi {_info.version()}"


def test_package_version_is_the_projects() -> None:
    """nativeffi.__version__, which a copy without metadata reports, is the version pyproject.toml declares."""
    import nativeffi
    declared = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert declared is not None and nativeffi.__version__ == declared.group(1)


# command -> text the command prints when it runs, which its --help must not print
RUNS = {
    "demo": ("libc (resolved from the process)", "the demo prints its first section at once"),
    "info": ("libraries:", "info's report has a libraries section"),
    "bench": ("round ", "bench reports rounds on stderr while measuring"),
    "gen": ("no HEADER given", "gen without a header complains instead of showing help"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help_does_not_run_it(command: str) -> None:
    """`COMMAND --help` exits 0 with that command's own usage and does not run the command."""
    r = cli(command, "--help", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: python -m nativeffi {command}")
    marker, reason = RUNS[command]
    assert marker not in r.stdout + r.stderr, reason


@pytest.mark.parametrize("args, expected", [
    (["nope"], "unknown command 'nope': expected one of demo, info, bench, gen"),
    (["Demo"], "unknown command 'Demo'"),          # commands are case-sensitive
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["info", "--nope"], "unrecognized arguments: --nope"),
])
def test_usage_errors_exit_2(args: list[str], expected: str) -> None:
    """An unknown command or option prints the usage and a message saying what was expected, and exits 2."""
    r = cli(*args, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith("usage: python -m nativeffi") and expected in r.stderr
    assert r.stdout == ""


def test_no_arguments_runs_the_demo_and_points_to_the_docs() -> None:
    """`python -m nativeffi` alone runs the demo, as the README's command always did, ending with the docs' path."""
    r = cli()
    assert r.returncode == 0, r.stderr
    assert 'strlen("héllo wörld")' in r.stdout and "-> 13" in r.stdout
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("Next: the documentation") and "docs/index.md" in last


def test_info_json_agrees_with_python_and_the_system() -> None:
    """info --json reports what Python's own modules, the core and pkg-config report for the same things."""
    r = cli("info", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    py = report["python"]
    assert py["version"] == platform.python_version() and py["implementation"] == platform.python_implementation()
    assert py["debug"] == hasattr(sys, "gettotalrefcount")
    assert report["stubs"]["abi"] == _core.STUB_ABI
    assert report["core"]["path"] == str(Path(_core.__file__).resolve())
    assert report["platform"]["pointer_size"] * 8 == int(platform.architecture()[0][:2])
    libs = report["libraries"]
    assert libs["libc"]["found"] and libs["libc"]["version"] == platform.libc_ver()[1]
    assert libs["zlib"]["version"] == zlib.ZLIB_RUNTIME_VERSION
    assert libs["sqlite3"]["version"] == sqlite3.sqlite_version
    assert libs["libcrypto"]["version"] == ssl.OPENSSL_VERSION
    assert all(lib["path"] and Path(lib["path"]).exists() for lib in libs.values() if lib["found"])
    pkg_config = shutil.which("pkg-config")
    if pkg_config:
        built = subprocess.run([pkg_config, "--modversion", "libffi"], capture_output=True, text=True).stdout.strip()
        assert report["libffi"]["built_against"] == built
    assert report["libffi"]["loaded"] and "libffi.so" in report["libffi"]["loaded"]


def test_info_text_names_each_section() -> None:
    """info prints one line per topic and one per library, found or not."""
    r = cli("info")
    assert r.returncode == 0, r.stderr
    for label in ("nativeffi ", "platform:", "stubs:", "libffi:", "python:", "core:", "libraries:"):
        assert re.search(rf"^{re.escape(label)}", r.stdout, re.M), label
    for name in list(_info.LIBRARIES) + ["libclang"]:
        assert re.search(rf"^  {name}\s+(found|not found)", r.stdout, re.M), name


def test_info_reports_a_missing_library() -> None:
    """A library that is not on the system is reported as not found, with the names tried."""
    missing = _info._library(("libnativeffi-absent.so.9",), ("absent_version", ()))
    assert missing == {"found": False, "soname": "libnativeffi-absent.so.9", "path": None}
    report = _info.collect()
    report["libraries"] = {"absent": missing}
    assert "  absent     not found (libnativeffi-absent.so.9)" in _info.format_report(report)


def test_gen_without_header_is_a_usage_error() -> None:
    """`gen` with no header exits 2 naming what is missing (its own parser's usage)."""
    r = cli("gen", timeout=60)
    assert r.returncode == 2 and "usage: python -m nativeffi gen" in r.stderr and "no HEADER given" in r.stderr
