"""Downcalls through the register-image stubs and libffi, checked against what C computes (tests/call_matrix.py)."""
from __future__ import annotations

import ctypes
import struct

import pytest

import nativeffi as nf
from nativeffi import _core

from call_matrix import CASES, EXTEND, NARROW_RET, RANGES, TYPES, Case, c_source
from build import build_generated

REGS = (*_core.STUB_REGISTERS, _core.STUB_STACK_WORDS)  # argument registers (integer, floating), stack words


class Slot(ctypes.Union):
    _fields_ = [("i", ctypes.c_int64), ("u", ctypes.c_uint64), ("d", ctypes.c_double)]


@pytest.fixture(scope="session")
def matrix_lib() -> ctypes.CDLL:
    """The generated matrix library, compiled once per session with the system C compiler."""
    return ctypes.CDLL(str(build_generated("callmatrix", c_source())))


def address(lib: ctypes.CDLL, symbol: str) -> int:
    return ctypes.cast(getattr(lib, symbol), ctypes.c_void_p).value


def bind(lib: ctypes.CDLL, symbol: str, args: list[str], ret: str, is_leaf: bool, variadic_from=None):
    params = [TYPES[a][1] for a in args]
    if variadic_from is not None:
        params = params[:variadic_from] + [nf.VarArgs[tuple(params[variadic_from:])]]
    rtype = nf.Void if ret == "void" else TYPES[ret][1]
    ftype = nf.NativeFunction[params, rtype]
    return nf.Pointer[ftype].from_address(address(lib, symbol)).as_function(is_leaf=is_leaf)


def seen(lib: ctypes.CDLL, n: int) -> list[int]:
    return [s.u for s in (Slot * 32).in_dll(lib, "m_seen")[:n]]


def as_python(ret: str, slot: Slot):
    if ret == "void":
        return None
    if ret in ("f32", "f64"):
        return slot.d
    if ret == "bool":
        return bool(slot.u)
    return slot.i if TYPES[ret][3] == "i" else slot.u


@pytest.mark.parametrize("is_leaf", [True, False], ids=["leaf", "nonleaf"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matrix_case(matrix_lib, case: Case, is_leaf: bool):
    """Every argument reaches C bit for bit and the return equals what a direct C call returns."""
    getattr(matrix_lib, f"o_{case.name}")()
    want_seen = seen(matrix_lib, len(case.args))
    want_ret = as_python(case.ret, Slot.in_dll(matrix_lib, "m_ret"))
    ctypes.memset(ctypes.addressof(Slot.in_dll(matrix_lib, "m_seen")), 0, ctypes.sizeof(Slot) * 32)

    f = bind(matrix_lib, f"m_{case.name}", case.args, case.ret, is_leaf, case.variadic_from)
    args = [nf.Pointer[nf.Void].from_address(v) if t == "ptr" else v for t, v in zip(case.args, case.values)]
    got = f(*args)

    assert seen(matrix_lib, len(case.args)) == want_seen
    if case.ret == "ptr":
        assert got.address == want_ret
    else:
        assert got == want_ret and type(got) is type(want_ret)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matrix_path(matrix_lib, case: Case):
    """The plan takes a stub exactly when the arguments fit in registers and 8 stack words and it is not variadic."""
    f = bind(matrix_lib, f"m_{case.name}", case.args, case.ret, True, case.variadic_from)
    assert nf.binding_of(f).call_path == case.expected_path(_core.STUB_ABI, REGS)


@pytest.mark.parametrize("is_leaf", [True, False], ids=["leaf", "nonleaf"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matrix_entry(matrix_lib, case: Case, is_leaf: bool):
    """Stub calls of up to 3 scalars, leaf or not, enter through the direct entry of their shape; others do not."""
    f = bind(matrix_lib, f"m_{case.name}", case.args, case.ret, is_leaf, case.variadic_from)
    entry = nf.binding_of(f).entry
    want = case.expected_entry(_core.STUB_ABI, REGS)
    assert entry == want if want else not entry.startswith("direct")


def test_matrix_covers_every_direct_entry():
    """The matrix enters through each of the 45 direct entries (15 register shapes, 3 return classes)."""
    if _core.STUB_ABI is None:
        pytest.skip("no call stubs on this platform: every call goes through libffi")
    entries = {c.expected_entry(_core.STUB_ABI, REGS) for c in CASES} - {None}
    assert len(entries) == 45


def test_direct_entry_falls_back_to_the_stub_path(matrix_lib):
    """A direct entry given an argument without a fast path converts it like the stub path, errors included."""
    class MyInt(int):
        pass

    f = bind(matrix_lib, "m_direct_int_gf", ["u16", "f64"], "u8", True)
    assert nf.binding_of(f).entry == "direct int/gf"
    g = nf.binding_of(f)  # the Function object's own entry: the stub path
    assert f(MyInt(7), 2.5) == g(7, 2.5) == f(7, 2.5)
    ba = bytearray(b"abc")
    p = bind(matrix_lib, "x_i32", ["ptr"], "u64", True)
    assert p(ba) == ctypes.addressof((ctypes.c_char * 3).from_buffer(ba))
    with pytest.raises(OverflowError, match=r"argument 1\b.*\[0, 65535\]"):
        f(65536, 1.0)
    with pytest.raises(TypeError, match=r"argument 2\b"):
        f(1, "x")
    with pytest.raises(TypeError, match="takes 2 arguments"):
        f(1)


# Each stub ABI's argument registers (integer, floating) and stack words, so that coverage is checked for every ABI
# on any platform; test_stub_registers_table checks the row of the ABI the tests run on against the core.
STUB_REGS = {"x86-64 System V": (6, 8, 8), "AArch64 AAPCS64 (Linux)": (8, 8, 8)}


def test_stub_registers_table():
    """The coverage test's register counts for this platform's stubs are the core's own."""
    if _core.STUB_ABI is None:
        pytest.skip("no call stubs on this platform: every call goes through libffi")
    assert STUB_REGS[_core.STUB_ABI] == REGS


@pytest.mark.parametrize("abi", sorted(STUB_REGS))
def test_matrix_covers_every_stub(abi: str):
    """The matrix calls every stub of each ABI (the four register sets of every scalar return class) and libffi."""
    paths = {c.expected_path(abi, STUB_REGS[abi]) for c in CASES}
    for rc in ("int", "f32", "f64"):
        for regs in ("g", "gf", "gs", "gfs"):
            assert f"stub {rc}/{regs}" in paths, f"no case reaches stub {rc}/{regs} on {abi}"
    assert "libffi" in paths


@pytest.mark.parametrize("t", EXTEND)
@pytest.mark.parametrize("edge", [0, 1], ids=["min", "max"])
def test_narrow_argument_is_extended(matrix_lib, t: str, edge: int):
    """A narrow argument fills its whole 64-bit register, sign-extended if signed, zero-extended if not."""
    f = bind(matrix_lib, f"x_{t}", [t], "u64", True)
    if t == "bool":
        value, want = (False, 0) if edge == 0 else (True, 1)
    else:
        value = RANGES[t][edge]
        want = value & (2**64 - 1)
    assert f(value) == want


@pytest.mark.parametrize("t", sorted(NARROW_RET))
def test_narrow_return_is_narrowed(matrix_lib, t: str):
    """A narrow return reads only its own low bits of the register, whatever the callee left above them."""
    raw = NARROW_RET[t]
    f = bind(matrix_lib, f"r_{t}", [], t, True)
    if t == "f32":
        want = struct.unpack("<f", struct.pack("<I", raw & 0xFFFFFFFF))[0]
    elif t == "bool":
        want = bool(raw & 0xFF)
    else:
        bits = int(t.lstrip("iu"))
        want = raw & ((1 << bits) - 1)
        if t.startswith("i") and want >= 1 << (bits - 1):
            want -= 1 << bits
    assert f() == want


def test_general_converters_on_the_stub_path(matrix_lib):
    """Int subclasses, __index__ objects, numpy-like floats and True for an int go through convert.c intact."""
    class MyInt(int):
        pass

    class Index:
        def __index__(self):
            return -7

    class MyFloat(float):
        pass

    f = bind(matrix_lib, "m_alt_if", ["i64", "f64"] * 3, "i64", True)
    getattr(matrix_lib, "o_alt_if")()
    case = next(c for c in CASES if c.name == "alt_if")
    a = list(case.values)
    want = Slot.in_dll(matrix_lib, "m_ret").i
    a[0], a[1], a[2] = MyInt(a[0]), MyFloat(a[1]), (Index() if a[2] == -7 else MyInt(a[2]))
    assert f(*a) == want
    g = bind(matrix_lib, "x_i32", ["i32"], "u64", True)
    assert g(Index()) == 2**64 - 7
    assert g(True) == 1


def test_out_of_range_argument_raises_and_calls_nothing(matrix_lib):
    """An int outside the parameter's range raises OverflowError naming the argument; the function is not called."""
    ctypes.memset(ctypes.addressof(Slot.in_dll(matrix_lib, "m_seen")), 0, ctypes.sizeof(Slot) * 32)
    f = bind(matrix_lib, "m_one_i8", ["i8"], "i8", True)
    with pytest.raises(OverflowError, match=r"argument 1\b.*\[-128, 127\]"):
        f(128)
    with pytest.raises(TypeError, match="expected an int"):
        f(1.5)
    assert seen(matrix_lib, 1) == [0]


def test_float_argument_out_of_float_range_raises(matrix_lib):
    """A finite double too large for a float parameter raises OverflowError instead of passing infinity."""
    f = bind(matrix_lib, "m_one_f32", ["f32"], "f32", True)
    with pytest.raises(OverflowError):
        f(1e300)
    f(float("inf"))
    assert (Slot * 32).in_dll(matrix_lib, "m_seen")[0].d == float("inf")


def test_pointer_arguments_accept_bytes_none_and_buffers(matrix_lib):
    """Pointer parameters take a Pointer, None, bytes (no copy) and writable buffers; each arrives as its address."""
    f = bind(matrix_lib, "m_one_ptr", ["ptr"], "ptr", True)
    b = b"abc"
    ba = bytearray(b"xyz")
    for value, want in [(None, 0), (b, ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p).value),
                        (ba, ctypes.addressof((ctypes.c_char * 3).from_buffer(ba)))]:
        f(value)
        assert seen(matrix_lib, 1) == [want]


def test_keywords_and_first_call_resolution(matrix_lib, tmp_path):
    """Keyword arguments map to their parameters on the stub path, and a lazily bound function resolves once."""
    path = str(build_generated("callmatrix", c_source()))

    @nf.native(asset=path, symbol="m_alt_fi", is_leaf=True)
    def alt(a: nf.Double, b: nf.Int32, c: nf.Double, d: nf.Int32, e: nf.Double, f: nf.Int32, g: nf.Double,
            h: nf.Int32) -> nf.Double: ...

    case = next(c for c in CASES if c.name == "alt_fi")
    getattr(matrix_lib, "o_alt_fi")()
    want = Slot.in_dll(matrix_lib, "m_ret").d
    assert not nf.binding_of(alt).resolved
    v = case.values
    assert alt(*v[:4], e=v[4], f=v[5], g=v[6], h=v[7]) == want
    assert nf.binding_of(alt).resolved and nf.binding_of(alt).call_path == case.expected_path(_core.STUB_ABI, REGS)
    assert alt(*v) == want


def test_builtin_form_calls_the_same_function(matrix_lib):
    """What bindings return is a builtin function whose __self__ is the Function, and both call the same way."""
    b = bind(matrix_lib, "x_i16", ["i16"], "u64", True)
    f = nf.binding_of(b)
    assert type(b) is type(len) and b.__self__ is f and f.builtin is b
    assert b(-2) == f(-2) == 2**64 - 2
    with pytest.raises(OverflowError, match=r"\[-32768, 32767\]"):
        b(40000)
    with pytest.raises(TypeError, match="takes 1 argument"):
        b()
    g = bind(matrix_lib, "m_ints_8", ["i64"] * 8, "i64", False)
    getattr(matrix_lib, "o_ints_8")()
    case = next(c for c in CASES if c.name == "ints_8")
    assert g(*case.values) == nf.binding_of(g)(*case.values) == Slot.in_dll(matrix_lib, "m_ret").i


# -- Structs by value ------------------------------------------------------------------------------------------

from call_matrix import STRUCTS, StructShape, struct_values  # noqa: E402

_struct_classes: dict[str, type] = {}


def struct_class(shape: StructShape) -> type:
    """The nativeffi Struct of a shape, declared once."""
    if shape.name not in _struct_classes:
        body = "".join(f"    {n}: T_{t}\n" for n, t in shape.fields)
        ns = {"Struct": nf.Struct, **{f"T_{t}": TYPES[t][1] for _, t in shape.fields}}
        exec(f"class s_{shape.name}(Struct):\n{body}", ns)  # noqa: S102 - fixed declarations
        _struct_classes[shape.name] = ns[f"s_{shape.name}"]
    return _struct_classes[shape.name]


def bind_types(lib: ctypes.CDLL, symbol: str, params: list, ret, is_leaf: bool = True):
    ftype = nf.NativeFunction[params, ret]
    return nf.Pointer[ftype].from_address(address(lib, symbol)).as_function(is_leaf=is_leaf)


def seen_values(lib: ctypes.CDLL, shape: StructShape) -> list:
    slots = (Slot * 32).in_dll(lib, "m_seen")
    return [bool(slots[i].u) if t == "bool" else getattr(slots[i], TYPES[t][3]) for i, (_, t) in
            enumerate(shape.fields)] + [slots[len(shape.fields)].i]


needs_structs = pytest.mark.skipif(not hasattr(nf, "Struct"), reason="compound types are not in this build")
on_x86_64 = _core.STUB_ABI == "x86-64 System V"


@needs_structs
@pytest.mark.parametrize("is_leaf", [True, False], ids=["leaf", "nonleaf"])
@pytest.mark.parametrize("shape", STRUCTS, ids=[s.name for s in STRUCTS])
def test_struct_return(matrix_lib, shape: StructShape, is_leaf: bool):
    """A struct returned by value comes back field for field as C built it from the arguments."""
    S = struct_class(shape)
    vals = struct_values(shape)
    f = bind_types(matrix_lib, f"sm_make_{shape.name}", [TYPES[t][1] for _, t in shape.fields], S, is_leaf)
    r = f(*vals)
    assert [getattr(r, n) for n, _ in shape.fields] == vals
    if on_x86_64 or (_core.STUB_ABI and shape.size <= 16):
        assert nf.binding_of(f).call_path.startswith("stub ")  # x86-64: MEMORY returns through rdi too


@needs_structs
@pytest.mark.parametrize("shape", STRUCTS, ids=[s.name for s in STRUCTS])
def test_struct_argument(matrix_lib, shape: StructShape):
    """A struct argument reaches C field for field, and the argument after it is still in its place."""
    S = struct_class(shape)
    vals = struct_values(shape)
    f = bind_types(matrix_lib, f"sm_take_{shape.name}", [S, nf.Int64], nf.Void)
    f(S(*vals), -12345)
    assert seen_values(matrix_lib, shape) == vals + [-12345]
    assert nf.binding_of(f).call_path.startswith("stub ") == shape.stub_argument(_core.STUB_ABI)


@needs_structs
@pytest.mark.parametrize("shape", STRUCTS, ids=[s.name for s in STRUCTS])
def test_struct_argument_after_registers_run_out(matrix_lib, shape: StructShape):
    """After 5 int64 and 7 doubles a struct goes to registers only if all of it fits, else to the stack."""
    S = struct_class(shape)
    vals = struct_values(shape)
    f = bind_types(matrix_lib, f"sm_late_{shape.name}", [nf.Int64] * 5 + [nf.Double] * 7 + [S], nf.Void)
    f(1, 2, 3, 4, 5, *[0.5] * 7, S(*vals))
    assert seen_values(matrix_lib, shape) == vals + [15 + 3]
    if on_x86_64:  # in registers or in stack words, up to 32 bytes
        assert nf.binding_of(f).call_path.startswith("stub ") == (shape.size <= 32)


@needs_structs
@pytest.mark.parametrize("is_leaf", [True, False], ids=["leaf", "nonleaf"])
@pytest.mark.parametrize("shape", STRUCTS, ids=[s.name for s in STRUCTS])
def test_struct_on_the_stack_leaves_registers_free(matrix_lib, shape: StructShape, is_leaf: bool):
    """After 5 int64 a struct that does not fit the last register goes to the stack and the int64 after it takes it."""
    S = struct_class(shape)
    vals = struct_values(shape)
    f = bind_types(matrix_lib, f"sm_skip_{shape.name}", [nf.Int64] * 5 + [S, nf.Int64], nf.Void, is_leaf)
    f(1, 2, 3, 4, 5, S(*vals), -777)
    slots = (Slot * 32).in_dll(matrix_lib, "m_seen")
    assert seen_values(matrix_lib, shape) == vals + [-777] and slots[len(shape.fields) + 1].i == 15
    if on_x86_64:
        assert nf.binding_of(f).call_path.startswith("stub ") == (shape.size <= 32)


@needs_structs
@pytest.mark.parametrize("shape", STRUCTS, ids=[s.name for s in STRUCTS])
def test_struct_after_a_stack_argument(matrix_lib, shape: StructShape):
    """After 7 int64 (the last on the stack) a struct and an int64 arrive intact, wherever the ABI puts them."""
    S = struct_class(shape)
    vals = struct_values(shape)
    f = bind_types(matrix_lib, f"sm_deep_{shape.name}", [nf.Int64] * 7 + [S, nf.Int64], nf.Void)
    f(1, 2, 3, 4, 5, 6, 7, S(*vals), -4242)
    slots = (Slot * 32).in_dll(matrix_lib, "m_seen")
    assert seen_values(matrix_lib, shape) == vals + [-4242] and slots[len(shape.fields) + 1].i == 21 + 7000
    if on_x86_64:
        assert nf.binding_of(f).call_path.startswith("stub ") == (shape.size <= 32)


@needs_structs
def test_struct_returns_cover_every_return_stub(matrix_lib):
    """The struct cases reach every two-register return stub of x86-64 and the hidden-pointer return."""
    if not on_x86_64:
        pytest.skip("the names checked here are x86-64's return classes")
    paths = set()
    for shape in STRUCTS:
        f = bind_types(matrix_lib, f"sm_make_{shape.name}", [TYPES[t][1] for _, t in shape.fields],
                       struct_class(shape))
        paths.add(nf.binding_of(f).call_path.split()[-1].split("/")[0])
    assert {"ii", "is", "si", "ss", "int", "f64"} <= paths


@needs_structs
@pytest.mark.parametrize("is_leaf", [True, False], ids=["leaf", "nonleaf"])
def test_large_struct_returns_nest_through_a_callback(matrix_lib, is_leaf: bool):
    """A 320-byte return stays intact when the callee calls back into Python, which returns another one."""
    class Big(nf.Struct):
        v: nf.Array[nf.Double, 40]

    make = bind_types(matrix_lib, "bg_make", [nf.Double], Big, is_leaf)
    inner: list = []
    with nf.NativeCallable.isolate_local(nf.NativeFunction[[], nf.Void], lambda: inner.append(make(100.0))) as cb:
        nested = bind_types(matrix_lib, "bg_nested",
                            [nf.Double, nf.Pointer[nf.NativeFunction[[], nf.Void]]], Big, False)
        outer = nested(1.5, cb)
        again = nested(2.5, cb)
    assert list(outer.v) == [3.0 + i for i in range(40)]
    assert list(again.v) == [5.0 + i for i in range(40)]
    assert [list(b.v) for b in inner] == [[100.0 + i for i in range(40)]] * 2
    assert list(make(7.0).v) == [7.0 + i for i in range(40)]
