"""@native and native_var: declaration checks, lazy resolution (asset -> resolver -> process), errors, errno,
address_of, and leaf versus non-leaf calls."""
from __future__ import annotations

import errno as errno_codes
import json
import os
import sys
import textwrap
import threading
import types

import pytest

import nativeffi
from nativeffi import (Double, Int, Int32, Int64, NativeFunction, NativeSymbolError, Pointer, Size, Char, Void,
                       address_of, assets, binding_of, native, native_var, set_native_resolver, get_errno)


@pytest.fixture
def lib(native_lib):
    return native_lib("foundation")


# each test starts and ends with no registered assets or resolvers of its own
pytestmark = pytest.mark.usefixtures("clean_registry")


def make_module(name: str, source: str) -> types.ModuleType:
    """Executes `source` as a fresh module called `name` (so module-level defaults apply)."""
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    exec(compile(textwrap.dedent(source), f"<{name}>", "exec"), mod.__dict__)
    return mod


# -- Declarations ---------------------------------------------------------------

def test_signature_from_annotations(lib) -> None:
    """Without a type, parameters and return come from the annotations, and the call computes what C does."""
    @native(asset=lib, symbol="resolver_target")
    def f(x: Int64) -> Int64: ...
    assert f(5) == 16
    assert binding_of(f).native_type.name == "NativeFunction[[Int64], Int64]"


def test_explicit_type_and_default_symbol(lib) -> None:
    """With NativeFunction[...] the annotations may be absent; the symbol defaults to the function's name."""
    @native(NativeFunction[[Pointer[Int64], Size], Int64], asset=lib)
    def sum_i64(p, n): ...
    assert sum_i64(__import__("array").array("q", [4, 5, 6]), 3) == 15
    assert binding_of(sum_i64).symbol == "sum_i64"


def test_keyword_arguments(lib) -> None:
    """Arguments may be passed by parameter name; unknown and duplicate names are TypeErrors."""
    @native(asset=lib, symbol="fill_u8")
    def fill(p: Pointer[nativeffi.Uint8], n: Size, v: nativeffi.Uint8) -> None: ...
    buf = bytearray(3)
    fill(buf, v=4, n=2)
    assert buf == b"\x04\x04\x00"
    with pytest.raises(TypeError, match="unexpected keyword argument 'w'"):
        fill(buf, 1, w=2)
    with pytest.raises(TypeError, match="multiple values"):
        fill(buf, 1, n=2)


@pytest.mark.parametrize("source, message", [
    ("def f(x: Int64) -> Int64:\n    return x", "the body must be `...`"),
    ("def f(x) -> Int64: ...", "parameter 'x' has no native type annotation"),
    ("def f(x: Int64): ...", "missing return annotation"),
    ("def f(x: int) -> Int64: ...", "Python type; use a native one such as Int64"),
    ("def f(*xs: Int64) -> Int64: ...", "must be a plain positional parameter"),
    ("def f(x: Undefined) -> Int64: ...", "cannot evaluate the annotations"),
])
def test_bad_declarations(source: str, message: str) -> None:
    """Malformed declarations are TypeErrors at decoration time, each naming the problem."""
    ns = {"Int64": Int64}
    exec(source, ns)
    with pytest.raises(TypeError, match=message):
        native()(ns["f"])


def test_type_and_annotations_must_agree() -> None:
    """A parameter-count or type mismatch between NativeFunction[...] and the annotations is a TypeError."""
    with pytest.raises(TypeError, match="takes 2 parameters, the declaration has 1"):
        @native(NativeFunction[[Int64, Int64], Int64])
        def f(a): ...
    with pytest.raises(TypeError, match="parameter 'a' is annotated Double but the type says Int64"):
        @native(NativeFunction[[Int64], Int64])
        def g(a: Double) -> Int64: ...
    with pytest.raises(TypeError, match="return is annotated Int32 but the type says Int64"):
        @native(NativeFunction[[Int64], Int64])
        def h(a: Int64) -> Int32: ...


def test_wrong_argument_count_and_type(lib) -> None:
    """Wrong argument counts and types raise TypeError naming the function, the parameter and the native type."""
    @native(asset=lib, symbol="resolver_target")
    def f(x: Int64) -> Int64: ...
    with pytest.raises(TypeError, match=r"f\(\) takes 1 argument \(2 given\)"):
        f(1, 2)
    with pytest.raises(TypeError, match=r"f\(\) argument 1 \('x'\): expected an int for Int64, got str"):
        f("1")
    with pytest.raises(OverflowError, match=r"argument 1 \('x'\)"):
        f(1 << 63)


def test_metadata_is_kept(lib) -> None:
    """The bound function keeps the declaration's name, docstring and module, and inspect sees its signature."""
    import inspect

    @native(asset=lib, symbol="resolver_target")
    def tripled(x: Int64) -> Int64:
        """Three x plus one."""
    assert tripled.__doc__ == "Three x plus one."
    assert tripled.__name__.endswith("tripled") and tripled.__module__ == __name__
    assert list(inspect.signature(tripled).parameters) == ["x"]


# -- Resolution ---------------------------------------------------------------

def test_import_never_fails_and_resolution_is_lazy(lib) -> None:
    """Declaring a missing symbol succeeds; the first call raises NativeSymbolError naming every step."""
    @native(asset="no.such.asset")
    def definitely_not_a_symbol_xyz(x: Int) -> Int: ...
    assert not binding_of(definitely_not_a_symbol_xyz).resolved
    with pytest.raises(NativeSymbolError) as info:
        definitely_not_a_symbol_xyz(1)
    e = info.value
    assert isinstance(e, LookupError)
    text = str(e)
    assert "Couldn't resolve native function 'definitely_not_a_symbol_xyz' (declared in module" in text
    assert "asset: asset= named 'no.such.asset', which is neither a registered asset id" in text
    assert "resolver: none set." in text
    assert "process: dlsym(RTLD_DEFAULT) searched the executable" in text and "not found." in text
    assert "undefined symbol" in e.loader_message  # the loader's own words
    assert e.symbol == "definitely_not_a_symbol_xyz" and e.asset_id == "no.such.asset"


def test_error_lists_registered_assets_and_resolver_answer() -> None:
    """The failure message lists the registered asset ids and what the resolver answered."""
    assets.register("pkg:one", assets.Process())
    set_native_resolver(lambda name, nargs: None)

    @native(asset="pkg:two")
    def nothing_here_abc() -> Int: ...
    with pytest.raises(NativeSymbolError, match=r"(?s)registered asset id \(registered: .*pkg:one.*returned None") as info:
        nothing_here_abc()
    assert info.value.resolver_answer is None and "pkg:one" in info.value.available


def test_registered_asset_is_used(lib) -> None:
    """An asset id registered to a library path resolves symbols in that library."""
    assets.register("tests:foundation", lib)

    @native(asset="tests:foundation", symbol="resolver_target")
    def f(x: Int64) -> Int64: ...
    assert f(2) == 7 and binding_of(f).resolved


def test_asset_without_the_symbol(lib) -> None:
    """A loadable asset that lacks the symbol says so with the loader's message, then falls back to the process."""
    assets.register("tests:nosym", lib)

    @native(asset="tests:nosym")
    def symbol_absent_everywhere_q() -> Int: ...
    with pytest.raises(NativeSymbolError, match=r"asset: 'tests:nosym' \(the library at .*libfoundation.so\) does not "
                                                 r"export 'symbol_absent_everywhere_q'"):
        symbol_absent_everywhere_q()

    @native(asset="tests:nosym")
    def getppid() -> Int: ...  # not in the asset, found in the process
    assert getppid() == os.getppid()


def test_bad_library_reports_loader_message(tmp_path) -> None:
    """An asset whose library cannot be loaded reports the loader's message in the error."""
    bogus = tmp_path / "libbogus.so"
    bogus.write_text("not an ELF file")
    assets.register("tests:bogus", str(bogus))

    @native(asset="tests:bogus")
    def nope_fn_q() -> Int: ...
    with pytest.raises(NativeSymbolError, match=r"could not be loaded: .*libbogus.so"):
        nope_fn_q()


def test_default_asset_and_module_name(lib) -> None:
    """A module's default_asset applies to its bindings; without one, the module's __name__ is the asset id."""
    assets.register("tests:default", lib)
    mod = make_module("tests_default_asset_mod", """
        from nativeffi import native, default_asset, Int64
        default_asset("tests:default")
        @native(symbol="resolver_target")
        def f(x: Int64) -> Int64: ...
    """)
    assert mod.__native_asset__ == "tests:default" and mod.f(1) == 4
    assets.register("tests_module_named", lib)
    mod2 = make_module("tests_module_named", """
        from nativeffi import native, Int64
        @native(symbol="resolver_target")
        def f(x: Int64) -> Int64: ...
    """)
    assert mod2.f(0) == 1


def test_resolver_is_second(lib) -> None:
    """When the asset has no such symbol, the module's resolver is asked (name, nargs) and its address used."""
    target = assets.lookup(lib, "resolver_target")
    calls = []

    def resolver(name: str, nargs: int):
        calls.append((name, nargs))
        return target if name == "tripler" else None
    set_native_resolver(resolver, module=__name__)

    @native(asset="tests:absent")
    def tripler(x: Int64) -> Int64: ...
    assert tripler(10) == 31 and tripler(0) == 1
    assert calls == [("tripler", 1)]  # resolved once, then cached


def test_resolver_per_module_and_global(lib) -> None:
    """A resolver set for another module is not consulted; a global one serves modules without their own."""
    target = assets.lookup(lib, "resolver_target")
    set_native_resolver(lambda n, k: target, module="some.other.module")

    @native(asset="tests:absent2")
    def only_by_resolver_1(x: Int64) -> Int64: ...
    with pytest.raises(NativeSymbolError):
        only_by_resolver_1(1)
    set_native_resolver(lambda n, k: target)

    @native(asset="tests:absent2")
    def only_by_resolver_2(x: Int64) -> Int64: ...
    assert only_by_resolver_2(1) == 4


def test_resolver_wrong_answer_is_an_error() -> None:
    """A resolver returning something other than an int or None is a TypeError naming what it returned."""
    set_native_resolver(lambda n, k: "0x1234")

    @native(asset="tests:absent3")
    def via_bad_resolver() -> Int: ...
    with pytest.raises(TypeError, match="returned '0x1234'"):
        via_bad_resolver()
    with pytest.raises(TypeError, match="must be callable"):
        set_native_resolver(42)


def test_process_is_last() -> None:
    """A symbol in no asset and no resolver is found in the process (libc's getpid here)."""
    @native(asset="tests:nothing")
    def getpid() -> Int: ...
    assert getpid() == os.getpid()


def test_asset_kinds(lib) -> None:
    """Absolute, System, Process and Executable locations each resolve what they should."""
    assets.register("k:abs", assets.Absolute(lib))
    assets.register("k:sys", assets.System("libm.so.6"))
    assets.register("k:proc", assets.Process())
    assets.register("k:exe", assets.Executable())
    assert assets.lookup("k:abs", "resolver_target") is not None
    assert assets.lookup("k:sys", "cbrt") is not None
    assert assets.lookup("k:proc", "getpid") is not None
    assert assets.lookup("k:exe", "main") is not None or assets.lookup("k:exe", "Py_Initialize") is not None
    assert assets.lookup("k:sys", "resolver_target") is None


def test_unregistered_path_or_soname_opens_directly(lib) -> None:
    """An asset id that is a path or a soname is loaded directly without registration."""
    assert assets.lookup(lib, "resolver_target") is not None
    assert assets.lookup("libz.so.1", "zlibVersion") is not None


def test_manifest(lib, tmp_path) -> None:
    """A Dart-style JSON manifest registers relative, absolute, system and process assets for this target."""
    os.symlink(lib, tmp_path / "libfound.so")
    target = assets._target()
    manifest = tmp_path / "native_assets.json"
    manifest.write_text(json.dumps({"format-version": [1, 0, 0], "native-assets": {target: {
        "m:rel": ["relative", "libfound.so"], "m:abs": ["absolute", lib],
        "m:sys": ["system", "libz.so.1"], "m:proc": ["process"]}}}))
    assert sorted(assets.load_manifest(manifest)) == ["m:abs", "m:proc", "m:rel", "m:sys"]
    assert assets.registered()["m:rel"] == assets.Relative("libfound.so", str(tmp_path))
    assert assets.lookup("m:rel", "resolver_target") == assets.lookup("m:abs", "resolver_target")
    assert assets.lookup("m:sys", "crc32") is not None


def test_manifest_errors(tmp_path) -> None:
    """A malformed manifest is a ValueError that says where."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"native-assets": {"x": ["teleport", "y"]}}))
    with pytest.raises(ValueError, match="asset 'x': unknown kind"):
        assets.load_manifest(bad)
    bad.write_text("[]")
    with pytest.raises(ValueError, match="native-assets"):
        assets.load_manifest(bad)


def test_entry_point_assets(lib, tmp_path, monkeypatch) -> None:
    """An installed package's nativeffi.assets entry point registers its assets."""
    pkg = tmp_path / "ep_pkg_mod.py"
    pkg.write_text(f"ASSETS = {{'ep:lib': {lib!r}}}\n")
    dist = tmp_path / "ep_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nativeffi.assets]\nep = ep_pkg_mod:ASSETS\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(assets, "_entry_points_loaded", False)
    assert assets.lookup("ep:lib", "resolver_target") is not None


# -- address_of, function pointers, variables -----------------------------------

def test_address_of_function(lib) -> None:
    """address_of gives the function's address as a Pointer[NativeFunction]; as_function calls it."""
    @native(asset=lib, symbol="resolver_target")
    def f(x: Int64) -> Int64: ...
    p = address_of(f)
    assert p.address == assets.lookup(lib, "resolver_target")
    assert p.native_type.target is binding_of(f).native_type
    assert p.as_function(is_leaf=True)(4) == 13
    with pytest.raises(TypeError, match="expected a @native function or variable"):
        address_of(len)


def test_native_variables(lib) -> None:
    """native_var reads and writes C globals; C sees the writes; final variables refuse writes."""
    assets.register("tests:vars", lib)
    counter = native_var(Int64, "counter", asset="tests:vars")
    ratio = native_var(Double, "ratio", asset="tests:vars")
    answer = native_var(Int32, "answer", asset="tests:vars", final=True)
    text = native_var(Pointer[Char], "greeting_text", asset="tests:vars", final=True)

    @native(asset="tests:vars")
    def get_counter() -> Int64: ...

    @native(asset="tests:vars")
    def get_ratio() -> Double: ...
    assert counter.value == get_counter() == 42
    counter.value = -9
    assert get_counter() == -9
    ratio.value = 2.25
    assert get_ratio() == 2.25
    assert answer.value == 7
    with pytest.raises(AttributeError, match="final"):
        answer.value = 8
    assert text.value.to_str() == "hello from C"
    assert address_of(counter).address == assets.lookup(lib, "counter")
    with pytest.raises(OverflowError):
        counter.value = 1 << 64


def test_native_variable_lazy_errors() -> None:
    """A missing variable fails on first access with NativeSymbolError, not when declared."""
    v = native_var(Int32, "no_such_global_var_zz", asset="tests:none")
    with pytest.raises(NativeSymbolError, match="native variable 'no_such_global_var_zz'"):
        v.value
    with pytest.raises(TypeError, match="no values"):
        native_var(Void, "x")


def test_errno_capture(lib) -> None:
    """capture_errno saves errno right after the call; get_errno reads this thread's value only."""
    @native(asset=lib, capture_errno=True)
    def fail_with_errno(e: Int) -> Int: ...
    assert fail_with_errno(errno_codes.ENOENT) == -1
    assert get_errno() == errno_codes.ENOENT
    seen = []
    t = threading.Thread(target=lambda: (fail_with_errno(errno_codes.EACCES), seen.append(get_errno())))
    t.start()
    t.join()
    assert seen == [errno_codes.EACCES] and get_errno() == errno_codes.ENOENT
    assert not nativeffi.binding_of(fail_with_errno).entry.startswith("direct")  # errno is saved on the stub path


# -- Leaf and non-leaf -----------------------------------------------------------

@pytest.mark.parametrize("is_leaf, other_thread_runs", [(False, True), (True, False)])
def test_leaf_keeps_the_gil(lib, is_leaf: bool, other_thread_runs: bool) -> None:
    """A non-leaf call releases the GIL so another Python thread runs meanwhile; a leaf call keeps it."""
    @native(asset=lib, symbol="wait_for_flag", is_leaf=is_leaf)
    def wait(flag: Pointer[Int32], ms: Int) -> Int: ...
    flag = nativeffi.calloc(Int32)
    done = threading.Event()

    def setter() -> None:
        while not done.is_set():  # keeps setting the flag whenever it holds the GIL
            flag.value = 1
    t = threading.Thread(target=setter)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        t.start()
        seen = wait(flag, 300)  # clears the flag, then waits up to 300 ms for the other thread to set it
    finally:
        done.set()
        sys.setswitchinterval(old)
        t.join()
    assert bool(seen) == other_thread_runs
    if nativeffi._core.STUB_ABI:  # the direct entry of two integer registers made the call
        assert nativeffi.binding_of(wait).entry == "direct int/gg"
    nativeffi.calloc.free(flag)
