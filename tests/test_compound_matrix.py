"""The generated compound matrix (tests/compound_cases.py): layouts, fields and by-value calls checked against C."""
from __future__ import annotations

import itertools
import types
from typing import Any

import pytest

import compound_cases as cc
import nativeffi
from nativeffi import (
    Array, Bits, Char, Double, Int32, Int64, NativeFunction, Pointer, Size, Struct, Union, Void, address_of,
    alignof, assets, fields, native, sizeof,
)

ASSET = "test:compound_matrix"
BUF = 1 << 18


@pytest.fixture(scope="module", autouse=True)
def matrix_lib():
    """Generates the matrix's C oracle, builds it (at -O0: same ABI, much faster to compile) and registers it."""
    from build import build_generated
    path = build_generated("compound_matrix", cc.generate_c(), opt="-O0")
    assets.register(ASSET, assets.Absolute(str(path)))
    yield path
    assets.unregister(ASSET)


# -- The matrix's types, declared with nativeffi ----------------------------------------------------------

_classes: dict[str, type] = {}


def py_type(t: Any) -> Any:
    if isinstance(t, str):
        return Pointer if t == "Pointer" else getattr(nativeffi, t)
    if isinstance(t, cc.Arr):
        return Array[(py_type(t.elem), *t.dims)]
    return declare(t)


def declare(case: cc.Case) -> type:
    """The nativeffi class of a case, made once."""
    if case.name not in _classes:
        ann = {}
        for f in case.fields:
            t = py_type(f.type)
            ann[f.name] = Bits[t, f.bits] if f.bits is not None else t
        base = Struct if case.kind == "struct" else Union
        kw = {"pack": case.pack} if case.pack else {}
        _classes[case.name] = types.new_class(case.name, (base,), kw,
                                              lambda ns: ns.update({"__annotations__": ann}))
    return _classes[case.name]


for _c in cc.all_cases():
    declare(_c)

CASES = cc.CASES
MANY = [c for c in CASES if c.many]


def ids(c: cc.Case) -> str:
    return c.name


# -- Values and dumps -----------------------------------------------------------------------------------------

def to_py(t: str, v: Any) -> Any:
    return Pointer.from_address(v) if t == "Pointer" else v


def fill(obj: Any, case: cc.Case, key: str, path: str = "") -> None:
    """Writes the case's deterministic values for `key` into obj through nativeffi's fields."""
    for f in case.value_fields():
        p = f"{path}.{f.name}"
        t = f.type
        if isinstance(t, str):
            setattr(obj, f.name, to_py(t, cc.value_for(t, f.bits, key + p)))
        elif isinstance(t, cc.Arr):
            view = getattr(obj, f.name)
            for idx in itertools.product(*(range(d) for d in t.dims)):
                container = view
                for i in idx[:-1]:
                    container = container[i]
                q = p + "".join(f"[{i}]" for i in idx)
                if isinstance(t.elem, cc.Case):
                    fill(container[idx[-1]], t.elem, key, q)
                else:
                    container[idx[-1]] = to_py(t.elem, cc.value_for(t.elem, None, key + q))
        else:
            fill(getattr(obj, f.name), t, key, p)


def py_dump(obj: Any, case: cc.Case, path: str = "") -> str:
    """The values nativeffi reads from obj, formatted as the C dump prints them."""
    out = []

    def scalar(t: str, v: Any) -> str:
        return cc.fmt(t, v.address if t == "Pointer" else v)

    for f in case.value_fields():
        p = f"{path}.{f.name}"
        t = f.type
        v = getattr(obj, f.name)
        if isinstance(t, str):
            out.append(f"{p}={scalar(t, v)};")
        elif isinstance(t, cc.Arr):
            for idx in itertools.product(*(range(d) for d in t.dims)):
                e = v
                for i in idx:
                    e = e[i]
                q = p + "".join(f"[{i}]" for i in idx)
                out.append(py_dump(e, t.elem, q) if isinstance(t.elem, cc.Case) else f"{q}={scalar(t.elem, e)};")
        else:
            out.append(py_dump(v, t, p))
    return "".join(out)


def expected(case: cc.Case, key: str, prefix: str = "") -> str:
    """The dump of the values `fill` writes for `key`, computed from the data (not read back)."""
    return "".join(f"{prefix}{p}={cc.fmt(t, v)};" for p, t, _, v in cc.leaves(case, key))


def make_value(case: cc.Case, key: str) -> Any:
    v = declare(case)()
    fill(v, case, key)
    return v


def text(buf: bytearray) -> str:
    return bytes(buf).split(b"\0", 1)[0].decode()


_bound: dict[tuple[str, str], Any] = {}


def bind(symbol: str, params: list[Any], ret: Any) -> Any:
    """An @native binding of `symbol` in the matrix library (made once per symbol)."""
    key = (symbol, "native")
    if key not in _bound:
        names = [f"p{i}" for i in range(len(params))]
        ns: dict[str, Any] = {}
        exec(f"def {symbol}({', '.join(names)}): ...", ns)
        _bound[key] = native(NativeFunction[[*params], ret], asset=ASSET)(ns[symbol])
    return _bound[key]


# -- Tests ----------------------------------------------------------------------------------------------------

def test_matrix_size_and_reasons():
    """The matrix has at least 200 cases with unique names, and every case states its reason."""
    assert len(CASES) >= 200
    assert len({c.name for c in CASES}) == len(CASES)
    assert all(isinstance(c.reason, str) and len(c.reason) > 10 for c in cc.all_cases())


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_layout(case):
    """sizeof, alignof and every field offset agree with the C compiler (bit fields have none)."""
    cls = declare(case)
    fs = fields(cls)
    buf = Array[Size, 2 + len(fs)]()
    bind(f"nf_layout_{case.name}", [Pointer[Size]], Void)(Pointer[Size].from_address(buf._address, buf))
    ours = [sizeof(cls), alignof(cls)] + [f.offset if f.bit_width is None else 2**64 - 1 for f in fs]
    assert ours == list(buf)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_fields_in_memory(case):
    """Values written through nativeffi's fields are where C reads them, and read back the same."""
    v = make_value(case, "mem")
    buf = bytearray(BUF)
    bind(f"nf_dump_{case.name}", [Pointer[declare(case)], Pointer[Char]], Void)(v, buf)
    assert text(buf) == expected(case, "mem")
    assert py_dump(v, case) == expected(case, "mem")


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_by_value_argument(case):
    """A struct passed by value reaches C with every field intact."""
    v = make_value(case, "arg")
    buf = bytearray(BUF)
    bind(f"nf_take_{case.name}", [declare(case), Pointer[Char]], Void)(v, buf)
    assert text(buf) == expected(case, "arg")


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_by_value_return(case):
    """A struct C builds and returns by value reads in Python as C itself reads it."""
    cls = declare(case)
    r = bind(f"nf_make_{case.name}", [], cls)()
    assert isinstance(r, cls) and not r._is_view
    buf = bytearray(BUF)
    bind(f"nf_expect_{case.name}", [Pointer[Char]], Void)(buf)
    assert py_dump(r, case) == text(buf)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_round_trip_through_as_function(case):
    """A struct passed to an identity function by value comes back equal, via @native and via as_function()."""
    cls = declare(case)
    v = make_value(case, "echo")
    echo = bind(f"nf_echo_{case.name}", [cls], cls)
    assert py_dump(echo(v), case) == expected(case, "echo")
    f = address_of(echo).cast(NativeFunction[[cls], cls]).as_function()
    assert py_dump(f(v), case) == expected(case, "echo")


@pytest.mark.parametrize("case", MANY, ids=ids)
def test_ten_struct_arguments(case):
    """Ten structs in one call (more than the registers hold) all arrive intact, in order."""
    cls = declare(case)
    values = [make_value(case, f"ten{i}") for i in range(10)]
    buf = bytearray(BUF)
    bind(f"nf_take10_{case.name}", [cls] * 10 + [Pointer[Char]], Void)(*values, buf)
    assert text(buf) == "".join(expected(case, f"ten{i}", str(i)) + "|" for i in range(10))


@pytest.mark.parametrize("case", MANY, ids=ids)
def test_struct_after_many_scalars(case):
    """A struct after 6 integer and 8 floating arguments (registers exhausted) and before an int arrives intact."""
    cls = declare(case)
    v = make_value(case, "after")
    ints = [-(i + 1) * 1_000_000_007 for i in range(6)]
    dbls = [i + 0.5 for i in range(8)]
    buf = bytearray(BUF)
    f = bind(f"nf_after_{case.name}", [Int64] * 6 + [Double] * 8 + [cls, Int32, Pointer[Char]], Void)
    f(*ints, *dbls, v, -77, buf)
    want = (",".join(map(str, ints)) + "|" + ",".join("%.17g" % d for d in dbls) + "|"
            + expected(case, "after") + "|-77")
    assert text(buf) == want
