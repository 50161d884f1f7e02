"""Type checkers see the Python types callers pass: mypy on a user module, and on the package itself."""
from __future__ import annotations

import os
import pathlib
import textwrap

import pytest

mypy_api = pytest.importorskip("mypy.api", reason="mypy is not installed (it comes with the test extra)")

import nativeffi  # noqa: E402

SAMPLE = '''
from nativeffi import native, Int64, Double, Bool, Pointer, Int32, NativeFunction, malloc

@native(asset="libm.so.6")
def fma(a: Double, b: Double, c: Double) -> Double: ...

@native
def getpid() -> Int64: ...

p = malloc(Int32, 2)
q: Pointer[Int32] = p
reveal_type(fma(1.0, 2.0, 3.0))
reveal_type(getpid())
reveal_type(q.value)
reveal_type(q[1])
reveal_type(q + 1)
fma("x", 1.0, 2.0)
'''


def run_mypy(tmp_path: pathlib.Path, *args: str) -> tuple[str, int]:
    # An installed nativeffi is found by mypy in site-packages; a source checkout needs MYPYPATH.
    src = str(pathlib.Path(nativeffi.__file__).resolve().parent.parent)
    env_before = os.environ.get("MYPYPATH")
    if "-packages" not in src:
        os.environ["MYPYPATH"] = src
    try:
        out, err, code = mypy_api.run(["--cache-dir", str(tmp_path / "cache"), "--no-error-summary",
                                       "--disable-error-code", "empty-body", *args])
    finally:
        if env_before is None:
            os.environ.pop("MYPYPATH", None)
        else:
            os.environ["MYPYPATH"] = env_before
    return out + err, code


def revealed_types(out: str) -> list[str]:
    """The types of mypy's reveal_type lines, in order; mypy 1.x (the last for Python 3.9) writes builtins as
    'builtins.float' where mypy 2 writes 'float', so the prefix is dropped."""
    return [line.split('Revealed type is "')[1].rstrip('"').replace("builtins.", "")
            for line in out.splitlines() if "Revealed" in line]


def test_user_code_sees_python_types(tmp_path: pathlib.Path) -> None:
    """Native annotations read as int/float for callers; Pointer[Int32] elements are int; bad calls are flagged."""
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent(SAMPLE))
    out, _ = run_mypy(tmp_path, str(sample))
    revealed = revealed_types(out)
    assert revealed == ["float", "int", "int", "int", "nativeffi.pointer.Pointer[int]"]
    assert 'Argument 1 to "fma" has incompatible type "str"; expected "float"' in out


def test_package_is_strictly_typed(tmp_path: pathlib.Path) -> None:
    """The package passes mypy --strict, so its public API carries real types."""
    out, code = run_mypy(tmp_path, "--strict", "-p", "nativeffi")
    assert code == 0, out


BOX_SAMPLE = '''
from nativeffi import native, Box, Double, Int32, Pointer, Void

@native(asset="libc.so.6")
def store(p: Pointer[Int32], v: Int32) -> Void: ...

n = Box[Int32]()
store(n, 5)
reveal_type(n)
reveal_type(n.value)
store(Box[Double](), 5)
'''


def test_box_passes_for_its_pointer_type(tmp_path: pathlib.Path) -> None:
    """A checker sees Box[Int32] as a Pointer[Int32] whose .value is an int; a Box of another type is flagged."""
    sample = tmp_path / "box_sample.py"
    sample.write_text(textwrap.dedent(BOX_SAMPLE))
    out, _ = run_mypy(tmp_path, str(sample))
    assert revealed_types(out) == ["nativeffi.memory.Box[int]", "int"]
    assert 'Argument 1 to "store" has incompatible type "Box[float]"; expected "Pointer[int]"' in out
    assert out.count("error:") == 1, out
