"""Assets and variables: libraries registered by id and through a JSON manifest, a module default asset, a
resolver, native global variables, address_of, binding_of, and NativeSymbolError."""
# Declarations have `...` bodies, which mypy --strict reports as empty-body errors in .py files:
# mypy: disable-error-code="empty-body"
from __future__ import annotations

import json
import os
import tempfile

from nativeffi import (CString, Double, Int, NativeFunction, NativeSymbolError, Pointer, Size, Utf8,
                       address_of, assets, binding_of, default_asset, native, native_var, set_native_resolver)

assets.register("corpus:libm", assets.System("libm.so.6"))
default_asset("corpus:libm")


@native(is_leaf=True)
def cos(x: Double) -> Double: ...


@native(symbol="pow", is_leaf=True)
def power(x: Double, y: Double) -> Double: ...


@native(asset="corpus:zlib")
def zlibVersion() -> Pointer[Utf8]: ...


@native(asset="corpus:nowhere", symbol="nativeffi_corpus_surely_missing")
def missing(x: Int) -> Int: ...


@native(asset="corpus:nowhere", symbol="corpus_from_resolver")
def from_resolver(s: CString) -> Size: ...


daylight = native_var(Int, "daylight", asset="libc.so.6", final=True)


def register_from_manifest() -> list[str]:
    manifest = {"format-version": [1, 0, 0],
                "native-assets": {"linux_x64": {"corpus:zlib": ["system", "libz.so.1"]},
                                  "linux_arm64": {"corpus:zlib": ["system", "libz.so.1"]}}}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "native_assets.json")
        with open(path, "w") as f:
            json.dump(manifest, f)
        return assets.load_manifest(path)


def main() -> None:
    assert cos(0.0) == 1.0 and power(2.0, 10.0) == 1024.0
    assert register_from_manifest() == ["corpus:zlib"]
    assert zlibVersion().to_str().startswith("1.")
    assert assets.lookup("corpus:libm", "cos") is not None

    try:
        missing(1)
    except NativeSymbolError as e:
        assert e.symbol == "nativeffi_corpus_surely_missing"
    else:
        raise AssertionError("expected NativeSymbolError")

    def resolve(name: str, nargs: int) -> int | None:
        if name == "corpus_from_resolver" and nargs == 1:
            return assets.lookup("libc.so.6", "strlen")
        return None

    set_native_resolver(resolve, __name__)
    try:
        assert from_resolver("four") == 4
    finally:
        set_native_resolver(None, __name__)

    binding = binding_of(cos)
    assert binding is not None and binding.symbol == "cos" and binding.is_leaf
    assert daylight.value in (0, 1)
    Mapper = NativeFunction[[Double], Double]
    assert address_of(cos).cast(Mapper).as_function()(0.0) == 1.0


if __name__ == "__main__":
    main()
