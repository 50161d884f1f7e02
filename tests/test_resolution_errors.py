"""What NativeSymbolError says when a symbol does not resolve: the steps searched, close names, and what to do.

The library's exports come from its ELF dynamic symbol table (nativeffi._symbols); `nm -D` is the oracle.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass

import pytest

from nativeffi import NativeSymbolError, _symbols, assets, binding_of, native, native_var
from nativeffi import Char, Int, Pointer, Size, UnsignedLong  # noqa: F401 - used by the cases' source

CORE = os.path.basename(_symbols.core_path())


@pytest.fixture
def resolution_lib(native_lib) -> str:
    return native_lib("resolution")


# each test starts and ends with no registered assets or resolvers of its own
pytestmark = pytest.mark.usefixtures("clean_registry")


def declare(name: str, source: str, **values: object) -> types.ModuleType:
    """Runs `source` as a fresh module called `name` (its bindings default to that module's assets)."""
    mod = types.ModuleType(name)
    mod.__dict__.update(values)
    sys.modules[name] = mod
    exec(compile(textwrap.dedent(source), f"<{name}>", "exec"), mod.__dict__)
    return mod


@dataclass
class Case:
    name: str
    reason: str
    source: str            # declares `target`, a call or a native variable, in a fresh module
    expected: tuple[str, ...]
    absent: tuple[str, ...] = ()


HEADER = "from nativeffi import native, native_var, default_asset, Pointer, Char, Size, Int, UnsignedLong\n"
CASES = [
    Case("misspelled_no_asset", "the issue's case: no asset given, so only the process was searched",
         HEADER + "@native\ndef strlenn(s: Pointer[Char]) -> Size: ...\ntarget = lambda: strlenn('x')",
         ("Couldn't resolve native function 'strlenn' (declared in module 'resolution_mod_misspelled_no_asset')",
          "asset: none given: module 'resolution_mod_misspelled_no_asset' has no default asset",
          "no asset= on the declaration", "libc.so.6",
          # the library first in lookup order: libc, or a sanitizer's runtime preloaded before it (.ci/sanitize)
          "Did you mean 'strlen' (lib",
          "To search a library, name it: @native(asset='libfoo.so.1')"),
         ("No asset with id",)),
    Case("misspelled_with_asset", "asset= names a library that lacks the name: suggest from its exports",
         HEADER + "@native(asset='libz.so.1')\ndef crc33(c: UnsignedLong) -> UnsignedLong: ...\n"
         "target = lambda: crc33(0)",
         ("asset: the system library 'libz.so.1' (opened ", "libz.so.1) does not export 'crc33'",
          "Did you mean 'crc32' (libz.so.1)?"),
         ("To search a library",)),
    Case("macro_with_asset", "zlib_version is a macro in zlib.h, for zlibVersion(): no library exports it",
         HEADER + "target = native_var(Pointer[Char], 'zlib_version', asset='libz.so.1', final=True)",
         ("Couldn't resolve native variable 'zlib_version'", "does not export 'zlib_version'",
          "Did you mean 'zlibVersion' (libz.so.1)?", "If 'zlib_version' is a macro or an inline function"),),
    Case("macro_no_asset", "the README's old example: a macro, and no asset, so only the process was searched",
         HEADER + "target = native_var(Pointer[Char], 'zlib_version', final=True)",
         ("native variable 'zlib_version'", "has no default asset", "is a macro or an inline function",
          "native_var(..., asset='libfoo.so.1')"),),
    Case("missing_library", "the asset's library is not on the system: say so, suggest no symbol",
         HEADER + "@native(asset='libnope.so.3')\ndef nope() -> Int: ...\ntarget = nope",
         ("asset: the system library 'libnope.so.3' could not be loaded: libnope.so.3: cannot open shared object "
          "file",),
         ("Did you mean", "macro")),
    Case("library_without_version", "a close soname exists on this machine (libz.so.1 is what zlib1g installs)",
         HEADER + "@native(asset='libzz.so.1')\ndef zlibNoSuchFunction() -> Int: ...\ntarget = zlibNoSuchFunction",
         ("could not be loaded", "Libraries with a close name on this system: libz.so.1"),),
    Case("unknown_asset_id", "asset= names neither a registered id nor a library",
         HEADER + "@native(asset='pkg:zlib')\ndef zlibNoSuchFunction() -> Int: ...\ntarget = zlibNoSuchFunction",
         ("asset: asset= named 'pkg:zlib', which is neither a registered asset id (registered: ",
          "nor a library name or path (expected e.g. 'libz.so.1'"),),
    Case("unknown_default_asset", "default_asset() names an id nobody registered",
         HEADER + "default_asset('pkg:nothing')\n@native\ndef zlibNoSuchFunction() -> Int: ...\ntarget = zlibNoSuchFunction",
         ("asset: default_asset() named 'pkg:nothing', which is neither a registered asset id",),
         ("has no default asset",)),
]


def _fail(target: object) -> NativeSymbolError:
    with pytest.raises(NativeSymbolError) as info:
        if callable(target):
            target()
        else:
            target.value  # type: ignore[attr-defined]
    return info.value


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_message(case: Case) -> None:
    """Each case's message says what was searched and what to do, and never names nativeffi's own library."""
    mod = declare(f"resolution_mod_{case.name}", case.source)
    text = str(_fail(mod.target))
    for fragment in case.expected:
        assert fragment in text, f"{case.reason}: {fragment!r} missing from\n{text}"
    for fragment in case.absent + (CORE, "RTLD_DEFAULT, "):
        assert fragment not in text, f"{case.reason}: {fragment!r} in\n{text}"


def test_main_module_without_asset_subprocess() -> None:
    """The issue's exact case, a script's misspelled symbol: the message says '__main__' had no default asset."""
    code = textwrap.dedent("""
        from nativeffi import native, Pointer, Char, Size
        @native
        def strlenn(s: Pointer[Char]) -> Size: ...
        strlenn("x")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "module '__main__' has no default asset" in r.stderr
    assert "Did you mean 'strlen' (libc.so.6)" in r.stderr or "Did you mean 'strlen' (libasan.so" in r.stderr
    assert "No asset with id '__main__'" not in r.stderr and CORE not in r.stderr


def test_lazy_resolution_fails_at_each_call_with_the_same_message(resolution_lib) -> None:
    """A binding that does not resolve stays unresolved: every call raises the same message, not only the first."""
    @native(asset=resolution_lib)
    def resolution_computee(x: Int) -> Int: ...
    first = str(_fail(lambda: resolution_computee(1)))
    assert not binding_of(resolution_computee).resolved
    assert str(_fail(lambda: resolution_computee(1))) == first
    assert "Did you mean 'resolution_compute' (libresolution.so)" in first
    assert f"asset: the library at {resolution_lib} does not export 'resolution_computee'" in first


def test_native_var_suggests_variable(resolution_lib) -> None:
    """A misspelled native variable in a helper library suggests the variable the library exports."""
    v = native_var(Int, "resolution_countr", asset=resolution_lib)
    e = _fail(v)
    assert "native variable 'resolution_countr'" in str(e) and "Did you mean 'resolution_counter'" in str(e)
    assert e.symbol == "resolution_countr" and e.asset_id == resolution_lib


def test_hidden_symbols_are_not_suggested(resolution_lib) -> None:
    """A name defined with hidden visibility or static is not exported, so it is not suggested (dlsym agrees)."""
    @native(asset=resolution_lib)
    def resolution_hiden() -> Int: ...
    text = str(_fail(resolution_hiden))
    assert "resolution_hidden'" not in text
    assert assets.lookup(resolution_lib, "resolution_hidden") is None


def test_symbol_in_a_library_not_visible_to_process_lookup(resolution_lib) -> None:
    """A name exported by a library loaded with local visibility (as Python loads extensions' libraries) is
    pointed at, with the asset to name."""
    assets._core.dlopen(resolution_lib)  # RTLD_LOCAL: loaded, but not searched by dlsym(RTLD_DEFAULT)
    mod = declare("resolution_mod_hidden_lib",
                  HEADER + "@native\ndef resolution_compute(x: Int) -> Int: ...\ntarget = lambda: resolution_compute(1)")
    text = str(_fail(mod.target))
    assert f"'resolution_compute' is exported by {resolution_lib}, loaded in the process but not visible to process " \
        "lookup: name it, e.g. asset='libresolution.so'" in text
    assert "To search a library" not in text and "macro" not in text


def test_loader_message_attribute_does_not_name_the_core() -> None:
    """The loader_message attribute keeps the loader's words but not nativeffi's own library as the one searched."""
    mod = declare("resolution_mod_loader", HEADER + "@native\ndef no_such_fn_qq() -> Int: ...\ntarget = no_such_fn_qq")
    e = _fail(mod.target)
    assert "undefined symbol: no_such_fn_qq" in e.loader_message and CORE not in e.loader_message


def test_resolver_answer_in_message() -> None:
    """The resolver step names the resolver and what it returned."""
    def my_resolver(name: str, nargs: int) -> None:
        return None
    assets.set_native_resolver(my_resolver)
    mod = declare("resolution_mod_resolver",
                  HEADER + "@native\ndef no_such_fn_rr() -> Int: ...\ntarget = no_such_fn_rr")
    assert "resolver: 'my_resolver' returned None." in str(_fail(mod.target))


# -- The ELF reader -------------------------------------------------------------

def _nm() -> str:
    """The nm of the compiler the tests build with (CC: the cross compiler's under the AArch64 job), else nm."""
    try:
        out = subprocess.run([os.environ.get("CC") or "cc", "-print-prog-name=nm"], capture_output=True, text=True,
                             timeout=60).stdout.strip()
    except OSError:
        out = ""
    return out if os.path.isabs(out) and os.path.exists(out) else "nm"


@pytest.mark.skipif(shutil.which(_nm()) is None, reason="nm (binutils), the oracle, is not installed")
@pytest.mark.parametrize("library", ["resolution", "libc", "libz"])
def test_exported_matches_nm(library: str, native_lib) -> None:
    """The names read from .dynsym are exactly those `nm -D --defined-only` lists (the oracle)."""
    path = {"resolution": lambda: native_lib("resolution"), "libc": lambda: _symbols.library_of("strlen"),
            "libz": lambda: assets._core.dlpath(assets._core.dlopen("libz.so.1"))}[library]()
    assert path
    # under emulation the guest's /lib is the sysroot's, which host tools such as nm must be pointed at
    sysroot = os.environ.get("NATIVEFFI_SYSROOT", "")
    host_path = sysroot + path if sysroot and os.path.exists(sysroot + path) else path
    out = subprocess.run([_nm(), "-D", "--defined-only", host_path], capture_output=True, text=True, check=True).stdout
    oracle = {line.split()[-1].split("@")[0] for line in out.splitlines()
              if len(line.split()) == 3 and line.split()[1] not in ("A", "a") and line.split()[-1]}
    assert _symbols.exported(path) == oracle
    if library == "resolution":
        # (a sanitized build adds its own exported globals, __odr_asan_gen_*, which nm lists too)
        assert {n for n in oracle if not n.startswith("__odr_asan")} == {"resolution_compute", "resolution_counter", "resolution_length",
                          "resolution_uses_static", "resolution_weak"}


def test_exported_is_empty_for_what_is_not_an_elf_library(tmp_path, native_lib) -> None:
    """A missing file, a text file, and every truncation of a real library give no names, never an error."""
    real = open(native_lib("resolution"), "rb").read()
    assert _symbols.exported(str(tmp_path / "missing.so")) == frozenset()
    (tmp_path / "text.so").write_text("not an ELF file")
    assert _symbols.exported(str(tmp_path / "text.so")) == frozenset()
    for n, size in enumerate(range(0, len(real), max(1, len(real) // 97))):
        p = tmp_path / f"cut{n}.so"
        p.write_bytes(real[:size])
        assert isinstance(_symbols.exported(str(p)), frozenset)
    corrupt = bytearray(real)
    corrupt[0x28:0x30] = (len(real) * 4).to_bytes(8, "little")  # e_shoff past the end of the file
    (tmp_path / "corrupt.so").write_bytes(bytes(corrupt))
    assert _symbols.exported(str(tmp_path / "corrupt.so")) == frozenset()


def test_close_matches() -> None:
    """close_matches ignores case, leaves out the name itself, and private names unless asked for one."""
    names = ["zlibVersion", "crc32", "_crc32_internal", "zlib_version"]
    assert _symbols.close_matches("ZLIBVERSION", names)[0] == "zlibVersion"
    assert "zlib_version" not in _symbols.close_matches("zlib_version", names)
    assert "_crc32_internal" not in _symbols.close_matches("crc32_internal", names)
    assert _symbols.close_matches("_crc32_internl", names) == ["_crc32_internal"]


# -- When the explanation is built ------------------------------------------------

def test_explanation_is_built_on_first_read_only(monkeypatch, resolution_lib) -> None:
    """Catching the error reads no symbol table; the first str() does, once; later reads reuse the text."""
    calls = []
    real = _symbols.global_libraries
    monkeypatch.setattr(_symbols, "global_libraries", lambda: calls.append(1) or real())

    @native(asset=resolution_lib)
    def resolution_computr(x: Int) -> Int: ...
    e = None
    try:
        resolution_computr(1)
    except NativeSymbolError as caught:
        e = caught
    assert e is not None and calls == []
    text = str(e)
    assert calls == [1] and "Did you mean 'resolution_compute'" in text
    assert str(e) == text and calls == [1]


def test_explanation_failure_keeps_the_steps(monkeypatch, resolution_lib) -> None:
    """If building the full message fails, the steps still show, with why there is no more."""
    def broken() -> None:
        raise RuntimeError("no listing here")
    monkeypatch.setattr(_symbols, "global_libraries", broken)

    @native(asset=resolution_lib)
    def resolution_computs(x: Int) -> Int: ...
    text = str(_fail(lambda: resolution_computs(1)))
    assert f"asset: the library at {resolution_lib} does not export 'resolution_computs'" in text
    assert text.endswith("(the full explanation failed: RuntimeError: no listing here)")


def test_pickles_with_the_full_message(resolution_lib) -> None:
    """The error survives pickling (as multiprocessing does) with its full message and attributes."""
    import pickle

    @native(asset=resolution_lib)
    def resolution_computt(x: Int) -> Int: ...
    e = _fail(lambda: resolution_computt(1))
    copy = pickle.loads(pickle.dumps(e))
    assert type(copy) is NativeSymbolError and str(copy) == str(e)
    assert (copy.symbol, copy.asset_id, copy.loader_message) == (e.symbol, e.asset_id, e.loader_message)
