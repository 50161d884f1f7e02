"""Property tests: for any Python number, a scalar parameter either carries exactly what C receives or refuses."""
from __future__ import annotations

import math
import struct

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (it comes with the test extra)")
from hypothesis import given, settings, strategies as st  # noqa: E402

import nativeffi  # noqa: E402
from nativeffi import native_type  # noqa: E402
from nativeffi import types as nt  # noqa: E402
from helpers import cfunc  # noqa: E402
from test_scalars import limits  # noqa: E402

INTS = [n for n in nt.SCALAR_NAMES if n not in ("Float", "Double", "LongDouble", "Bool")]


@pytest.fixture(scope="module")
def lib() -> str:
    import build
    return str(build.build("scalars"))


@pytest.mark.parametrize("name", INTS)
def test_any_int_is_exact_or_refused(lib: str, name: str) -> None:
    """Any int within the type's C range reaches C unchanged (C widens it back); any other is an OverflowError."""
    t = getattr(nativeffi, name)
    signed = native_type(t).signed
    widen = cfunc(lib, f"widen{'s' if signed else 'u'}_{name}", [t], nativeffi.Int64 if signed else nativeffi.Uint64)
    lo, hi = limits(lib, name)

    @settings(max_examples=200, deadline=None)
    @given(st.one_of(st.integers(), st.integers(lo - 2, hi + 2)))
    def check(v: int) -> None:
        if lo <= v <= hi:
            assert widen(v) == v
        else:
            with pytest.raises(OverflowError):
                widen(v)
    check()


def test_any_double_round_trips_bit_exact(lib: str) -> None:
    """Every double, NaN payloads aside, comes back from C with the same bits."""
    ident = cfunc(lib, "id_Double", [nativeffi.Double], nativeffi.Double)

    @settings(max_examples=300, deadline=None)
    @given(st.floats(allow_nan=False))
    def check(v: float) -> None:
        assert struct.pack("<d", ident(v)) == struct.pack("<d", v)
    check()


def test_any_float_rounds_as_c_or_refuses(lib: str) -> None:
    """A double within float range reaches C as C's (float) conversion of it; a finite larger one is refused."""
    ident = cfunc(lib, "id_Float", [nativeffi.Float], nativeffi.Float)
    widen = cfunc(lib, "widen_Float", [nativeffi.Float], nativeffi.Double)

    @settings(max_examples=300, deadline=None)
    @given(st.floats(allow_nan=False))
    def check(v: float) -> None:
        try:
            expected = struct.unpack("<f", struct.pack("<f", v))[0]
        except OverflowError:
            with pytest.raises(OverflowError):
                ident(v)
            return
        assert ident(v) == expected and widen(v) == expected or (math.isinf(v) and ident(v) == v)
    check()
