"""Type checkers see struct fields as the Python types they read as (mypy on a user module)."""
from __future__ import annotations

import pathlib
import textwrap

import pytest

pytest.importorskip("mypy.api", reason="mypy is not installed (it comes with the test extra)")

from test_typing import revealed_types, run_mypy  # noqa: E402

SAMPLE = '''
from nativeffi import Struct, Union, Array, Bits, Double, Int32, Uint8, Bool, Pointer, calloc

class Coord(Struct):
    x: Double
    y: Double
    next: Pointer["Coord"]

class Flags(Struct):
    on: Bits[Bool, 1]
    mode: Bits[Uint8, 3]

c = Coord()
reveal_type(c.x)
reveal_type(Flags().mode)
reveal_type(Flags().on)
reveal_type(c.address)
c.x = "no"
'''


def test_struct_fields_have_python_types(tmp_path: pathlib.Path) -> None:
    """Scalar fields read as float/int/bool for mypy, .address is a Pointer, and a str written to a Double is flagged."""
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent(SAMPLE))
    out, _ = run_mypy(tmp_path, str(sample))
    revealed = revealed_types(out)
    assert revealed[:3] == ["float", "int", "bool"]
    assert revealed[3].startswith("nativeffi.pointer.Pointer")
    assert 'Incompatible types in assignment (expression has type "str", variable has type "float")' in out
