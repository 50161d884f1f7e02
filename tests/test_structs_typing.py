"""Type checkers see the advanced struct and pointer features with their Python types (mypy on a user module)."""
from __future__ import annotations

import pathlib
import textwrap

import pytest

pytest.importorskip("mypy.api", reason="mypy is not installed (it comes with the test extra)")

from test_typing import revealed_types, run_mypy  # noqa: E402

SAMPLE = '''
import copy
from nativeffi import Struct, Array, Double, Int32, Char, Pointer, malloc, to_native_wchar

class Coord(Struct, endian="big"):
    x: Double
    y: Double

class Coord3(Coord):
    z: Double

class Text(Struct):
    name: Array[Char, 8]  # type: ignore[type-arg, valid-type]  # checkers see Array[T] with one parameter

p: Pointer[Int32] = malloc(Int32, 4)
reveal_type(p[0:2])
reveal_type(p.to_bytes(2))
reveal_type(Coord.from_buffer(bytearray(16)))
reveal_type(Coord.from_buffer_copy(bytes(16)))
reveal_type(copy.copy(Coord3()).z)
reveal_type(to_native_wchar("w"))
reveal_type(Text().name.to_str())
p[0:2] = ["a", "b"]
'''


def test_advanced_features_have_python_types(tmp_path: pathlib.Path) -> None:
    """Slices are lists of the element type (str items are flagged), from_buffer gives the class, inherited fields
    keep their types."""
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent(SAMPLE))
    out, _ = run_mypy(tmp_path, str(sample))
    assert revealed_types(out) == ["list[int]", "bytes", "sample.Coord", "sample.Coord", "float",
                                   "nativeffi.pointer.Pointer[int]", "str"], out
    assert 'List item 0 has incompatible type "str"; expected "int"' in out, out
