"""Native types: the table, sizes and alignments against the C compiler, annotations, and bad type expressions."""
from __future__ import annotations

import gc
import subprocess
import sys
import tracemalloc
import typing

import pytest

import nativeffi
from nativeffi import types as nt
from nativeffi import Pointer, NativeFunction, Opaque, Utf8, Void, sizeof, alignof, native_type
from nativeffi import Int8, Int32, Int64, NativeCallable, _core
from helpers import cfunc

SCALARS = list(nt.SCALAR_NAMES)


def test_generated_block_is_current() -> None:
    """The scalar aliases in types.py are exactly what tools/gen_types.py makes from csrc/native_types.def."""
    root = __import__("pathlib").Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "tools" / "gen_types.py"), "--check"])
    assert r.returncode == 0


def test_every_table_row_is_exported() -> None:
    """Every row of the native type table is a public name of nativeffi whose CType has that name."""
    for name in SCALARS:
        assert native_type(getattr(nativeffi, name)).name == name


@pytest.mark.parametrize("name", SCALARS)
def test_size_and_alignment_match_c(native_lib, name: str) -> None:
    """sizeof/alignof of each scalar type equal what the C compiler reports for its C type."""
    lib = native_lib("scalars")
    t = getattr(nativeffi, name)
    assert sizeof(t) == cfunc(lib, f"sizeof_{name}", [], nativeffi.Size)()
    assert alignof(t) == cfunc(lib, f"alignof_{name}", [], nativeffi.Size)()


@pytest.mark.parametrize("name", [n for n in SCALARS if n not in ("Float", "Double", "LongDouble", "Bool")])
def test_signedness_matches_c(native_lib, name: str) -> None:
    """Each integer type is signed exactly when its C type is (char and wchar_t follow the platform)."""
    lib = native_lib("scalars")
    assert native_type(getattr(nativeffi, name)).signed == bool(cfunc(lib, f"signed_{name}", [], nativeffi.Int)())


def test_pointer_size_matches_c() -> None:
    """A pointer of any pointee has the platform's pointer size and alignment."""
    import ctypes
    for t in (Pointer, Pointer[nativeffi.Int8], Pointer[Pointer[nativeffi.Double]], Pointer[Utf8]):
        assert sizeof(t) == ctypes.sizeof(ctypes.c_void_p)
        assert alignof(t) == ctypes.alignment(ctypes.c_void_p)


def test_annotations_carry_python_types() -> None:
    """Scalar aliases are Annotated with the Python type a caller passes, so type checkers see int/float/bool;
    Void is Annotated Any, so that Pointer[Void] is Pointer[Any] for them (void * converts both ways, as in C)."""
    assert typing.get_origin(nativeffi.Int64) is typing.Annotated
    assert typing.get_args(nativeffi.Int64)[0] is int
    assert typing.get_args(nativeffi.Double)[0] is float
    assert typing.get_args(nativeffi.Bool)[0] is bool
    assert typing.get_args(Void)[0] is typing.Any


def test_pointer_classes_are_cached_and_typed() -> None:
    """Pointer[T] is one class per pointee, a subclass of Pointer, and its CType names the pointee."""
    assert Pointer[nativeffi.Int32] is Pointer[nativeffi.Int32]
    assert issubclass(Pointer[nativeffi.Int32], Pointer)
    assert native_type(Pointer[nativeffi.Int32]).target is native_type(nativeffi.Int32)
    assert Pointer[Void] is Pointer


def test_native_function_type() -> None:
    """NativeFunction[[A, B], R] describes parameters and return; it works as a Pointer target."""
    f = NativeFunction[[nativeffi.Int64, Pointer[nativeffi.Char]], nativeffi.Double]
    ct = native_type(f)
    assert ct.kind == "function" and ct.nfixed == 2
    assert [p.name for p in ct.params] == ["Int64", "Pointer[Char]"]
    assert ct.ret.name == "Double"
    assert native_type(Pointer[f]).target is ct


@pytest.mark.parametrize("bad, message", [
    (int, "Python type; use a native one such as Int64"),
    (float, "Double"),
    ("Nope", "unresolved forward reference"),
    (3, "expected a native type"),
    (list, "expected a native type"),
])
def test_invalid_type_expressions(bad: object, message: str) -> None:
    """Things that are not native types are rejected with a TypeError that names what was given."""
    with pytest.raises(TypeError, match=message):
        native_type(bad)


def test_malformed_native_function() -> None:
    """NativeFunction needs [[params...], ret]; anything else is a TypeError."""
    with pytest.raises(TypeError, match="NativeFunction takes"):
        NativeFunction[nativeffi.Int]
    with pytest.raises(TypeError, match="parameter 1"):
        NativeFunction[[int], nativeffi.Int]


def test_sizeless_types_have_no_size() -> None:
    """Void, opaque types and function types have no size; asking is a TypeError."""
    class Handle(Opaque):
        pass
    for t in (Void, Handle, Utf8, NativeFunction[[], Void]):
        with pytest.raises(TypeError, match="has no size"):
            sizeof(t)
    with pytest.raises(TypeError, match="opaque"):
        Handle()


# -- One cached type per type expression ----------------------------------------------------------------------

def test_equal_function_types_are_one_object() -> None:
    """Equal NativeFunction expressions give the same CType, and Pointer[...] of them the same class."""
    a = native_type(NativeFunction[[Int64], Int64])
    assert a is native_type(NativeFunction[[Int64], Int64])
    assert Pointer[NativeFunction[[Int64], Int64]] is Pointer[NativeFunction[[Int64], Int64]]
    assert native_type(NativeFunction[[Int64, Pointer[Int8]], None]) is native_type(
        NativeFunction[[Int64, Pointer[Int8]], None])
    assert native_type(NativeFunction[[Int64], Int64]) is not native_type(NativeFunction[[Int64], Int32])
    assert native_type(NativeFunction[[Int64], Int64]) is not native_type(
        NativeFunction[[nativeffi.VarArgs[Int64]], Int64])


def test_function_type_evaluations_do_not_grow_memory() -> None:
    """Evaluating a function-pointer type and a callable's type inline, many times, keeps traced memory flat."""
    def f(x: int) -> int:
        return x

    def once() -> None:
        Pointer[NativeFunction[[Int64, nativeffi.Double], Int64]]
        NativeCallable.isolate_local(NativeFunction[[Int64], Int64], f, exceptional_return=0).close()

    for _ in range(300):
        once()
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(3000):
            once()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 200_000, after - before   # a Pointer class per evaluation was ~2 KB: 6 MB here


# -- The type-expression caches (csrc/expr.c: a slot per recent key before the dictionary) -----------------------

# Each case: an expression over an integer k, the name of what it makes (the oracle: built from k, not through
# the caches), and why it is there.
EXPRESSION_KEYS = [
    (lambda k: nativeffi.Array[Int32, k + 1], lambda k: f"Array[Int32, {k + 1}]",
     "Array: a CType and a length, keyed by the length's value"),
    (lambda k: nativeffi.Array[Int8, 2, k + 1], lambda k: f"Array[Int8, 2, {k + 1}]",
     "a two-dimensional Array: three parts"),
    (lambda k: NativeFunction[[Int32] * (k % 7), Int64],
     lambda k: f"NativeFunction[[{', '.join(['Int32'] * (k % 7))}], Int64]",
     "NativeFunction with 0-6 parameters: up to 7 parts"),
    (lambda k: Pointer[nativeffi.Array[Int32, k + 1]], lambda k: f"Pointer[Array[Int32, {k + 1}]]",
     "Pointer of a made type: its own CType"),
    (lambda k: nativeffi.Box[Pointer[nativeffi.Array[Int8, k + 1]]],
     lambda k: f"Pointer[Pointer[Array[Int8, {k + 1}]]]", "Box of a made pointer type"),
]


@pytest.mark.parametrize("make, name, why", EXPRESSION_KEYS, ids=[why for _, _, why in EXPRESSION_KEYS])
def test_expressions_are_identical_across_many_keys(make, name, why: str) -> None:
    """An expression evaluates to what its item names and to the identical object every time, also after more
    distinct keys than the per-expression slots hold (evicted keys come back from the dictionary)."""
    first = [make(k) for k in range(200)]
    assert [native_type(t).name for t in first] == [name(k) for k in range(200)]
    for _ in range(2):
        assert all(make(k) is first[k] for k in range(200))
    assert all(make(k) is first[k] for k in reversed(range(200)))


def test_equal_items_share_one_result() -> None:
    """Items naming the same CType (an alias, the CType itself, a list or tuple of parameters) give one result."""
    ct = native_type(Int32)
    assert Pointer[ct] is Pointer[Int32]
    assert nativeffi.Array[ct, 3] is nativeffi.Array[Int32, 3]
    assert NativeFunction[(Int32,), Int32] is NativeFunction[[ct], ct]
    assert nativeffi.Array[Int32, 3] is not nativeffi.Array[Int32, 3, 1]
    assert nativeffi.Array[Int32, 3] is not nativeffi.Array[Int8, 3]


def test_long_keys_are_cached_past_the_slots() -> None:
    """A NativeFunction with more parameters than a slot holds is still one object per signature."""
    params = [Int32, Int64, Int8] * 4
    assert NativeFunction[params, Int32] is NativeFunction[list(params), Int32]
    assert native_type(NativeFunction[params, Int32]).nfixed == 12
    assert NativeFunction[params, Int32] is not NativeFunction[params[:-1], Int32]


@pytest.mark.parametrize("expr, error, message", [
    (lambda: nativeffi.Array[Int32, -1], ValueError, "Array lengths must be >= 1, got -1"),
    (lambda: nativeffi.Array[Int32, 2**70], OverflowError, "larger than the platform can address"),
    (lambda: nativeffi.Array[Int32, 4.0], TypeError, "Array lengths must be ints, got 4.0"),
    (lambda: nativeffi.Array[Int32, True], TypeError, "Array lengths must be ints, got True"),
    (lambda: nativeffi.Array[Int32], TypeError, "Array takes"),
    (lambda: NativeFunction[[int], Int32], TypeError, "parameter 1: expected a native type"),
    (lambda: Pointer[3], TypeError, "Pointer\\[...\\] target: expected a native type"),
    (lambda: Pointer[Int32][Int32], TypeError, "is already a concrete pointer type"),
    (lambda: nativeffi.Box[Int32][Int32], TypeError, "is already a concrete Box type"),
], ids=["negative length", "length past the address space", "float length", "bool length", "no length",
        "Python type parameter", "int target", "concrete Pointer", "concrete Box"])
def test_bad_items_raise_every_time(expr, error: type, message: str) -> None:
    """A bad item raises the maker's error on every evaluation, also once good items of its shape are cached."""
    nativeffi.Array[Int32, 4], NativeFunction[[Int32], Int32], Pointer[Int32], nativeffi.Box[Int32]
    for _ in range(3):
        with pytest.raises(error, match=message):
            expr()


def test_expression_cache_is_collected_with_its_expression() -> None:
    """A TypeExpression's remembered results go with it: nothing it made stays alive after it is collected."""
    import weakref

    class Made:
        pass

    expr = _core.TypeExpression("type", lambda item: Made())
    made = expr(Int32)
    assert expr(Int32) is made and expr(native_type(Int32)) is made
    ref = weakref.ref(made)
    del made, expr
    gc.collect()
    assert ref() is None


# -- Errors inside the type factories ---------------------------------------------------------------------------

def test_type_factories_propagate_allocation_failures() -> None:
    """When an allocation inside array_type, function_type or set_pointer_target fails, MemoryError propagates and
    no half-made type (a NULL name, a target without its name) escapes."""
    import _testcapi

    def under_nomemory(start: int, make):
        """make(), with the start-th allocation from now on failing; None if that raised MemoryError."""
        _testcapi.set_nomemory(start, start + 1)
        try:
            return make()
        except MemoryError:
            return None
        finally:
            _testcapi.remove_mem_hooks()

    elem = native_type(Int32)
    sigs = [tuple([elem] * k) for k in range(1, 81)]
    unresolved = [_core.pointer_type(None, "Pointer['X']") for _ in range(80)]
    for start in range(80):
        makers = (lambda: _core.array_type(elem, 3 + start),
                  lambda: _core.function_type(sigs[start], elem, len(sigs[start])),
                  lambda: _core.set_pointer_target(unresolved[start], elem))
        results = [under_nomemory(start, make) for make in makers]
        array, function, _ = results
        assert array is None or array.name == f"Array[Int32, {3 + start}]"
        assert function is None or function.name.startswith("NativeFunction[[Int32")
        p = unresolved[start]
        assert (p.target is None and p.name == "Pointer['X']") or (p.target is elem and p.name == "Pointer[Int32]")
