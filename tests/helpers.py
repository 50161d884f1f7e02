"""Small helpers for tests: bind a C function of a test library by name and signature."""
from __future__ import annotations

from typing import Any, Sequence

from nativeffi import NativeFunction, Pointer, assets


def cfunc(lib: str, symbol: str, params: Sequence[Any], ret: Any, is_leaf: bool = True) -> Any:
    """The function `symbol` of the shared library at path `lib`, callable with the given native signature."""
    address = assets.lookup(lib, symbol)
    assert address is not None, f"{symbol} not found in {lib}"
    return Pointer[NativeFunction[list(params), ret]].from_address(address).as_function(is_leaf=is_leaf)
