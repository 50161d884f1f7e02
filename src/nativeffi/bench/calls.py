"""Downcall rows: each benchlib function through the floors, nativeffi, ctypes and cffi."""
from __future__ import annotations

import ctypes
import importlib
from typing import Any, Union

import nativeffi as nf

from .build import Context, cdef
from .timing import Row, Skip

_Pointer: Any = nf.Pointer          # subscripted with runtime values below
_NativeFunction: Any = nf.NativeFunction
KEPT = "C floor, GIL kept"
RELEASED = "C floor, GIL released"


class _CVec2(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double)]


class _CVec3(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("z", ctypes.c_double)]


# group, symbol, nativeffi params, nativeffi return, ctypes params, ctypes return, arguments, floor arguments
def _signatures(structs: Any) -> list[tuple[Any, ...]]:
    i64, f64, c_i64, c_f64 = nf.Int64, nf.Double, ctypes.c_int64, ctypes.c_double
    rows = [
        ("add(int64, int64)", "add", [i64, i64], i64, [c_i64, c_i64], c_i64, "a, b", "a, b"),
        ("scale(double)", "scale", [f64], f64, [c_f64], c_f64, "x", "x"),
        ("mix6(i64, f64, i32, f64, i64, f64)", "mix6", [i64, f64, nf.Int32, f64, i64, f64], f64,
         [c_i64, c_f64, ctypes.c_int32, c_f64, c_i64, c_f64], c_f64, "a, x, c, y, b, z", "a, x, c, y, b, z"),
        ("first(bytes)", "first", [nf.Pointer[nf.Uint8]], i64, [ctypes.c_char_p], c_i64, "buf", "buf"),
        ("sum8(8 x int64): 2 on the stack", "sum8", [i64] * 8, i64, [c_i64] * 8, c_i64,
         "a, b, a, b, a, b, a, b", "a, b, a, b, a, b, a, b"),
    ]
    if structs:
        vec2, vec3 = structs
        rows += [
            ("vec2_dot(16-byte struct x2)", "vec2_dot", [vec2, vec2], f64, [_CVec2, _CVec2], c_f64, "u, v",
             "x, y, x, y"),
            ("vec3_dot(24-byte struct x2)", "vec3_dot", [vec3, vec3], f64, [_CVec3, _CVec3], c_f64, "u, v",
             "x, y, z, x, y, z"),
        ]
    return rows


def _structs() -> Any:
    """nativeffi's vec2 and vec3 Struct classes, or None while compound types are not in this build."""
    Struct = getattr(nf, "Struct", None)
    if Struct is None:
        return None
    ns: dict[str, Any] = {"Struct": Struct, "Double": nf.Double}
    exec("class vec2(Struct):\n    x: Double\n    y: Double\n"  # noqa: S102 - fixed declarations
         "class vec3(Struct):\n    x: Double\n    y: Double\n    z: Double\n", ns)
    return ns["vec2"], ns["vec3"]


def rows(ctx: Context) -> list[Union[Row, Skip]]:
    """Every downcall row, with Skip entries for peers or features that are missing."""
    out: list[Union[Row, Skip]] = []
    structs = _structs()
    try:
        ffi = importlib.import_module("cffi").FFI()
        ffi.cdef(cdef())
        cffi_abi = ffi.dlopen(str(ctx.lib))
    except ImportError:
        ffi = cffi_abi = None
    cdll, pydll = ctypes.CDLL(str(ctx.lib)), ctypes.PyDLL(str(ctx.lib))
    base = {"a": 1234, "b": 5678, "c": 42, "x": 1.5, "y": 2.5, "z": -0.75, "buf": b"hello, world"}

    for group, sym, params, ret, cparams, cret, args, floor_args in _signatures(structs):
        env = dict(base)
        if sym.startswith("vec"):
            vec = structs[0] if sym == "vec2_dot" else structs[1]
            cvec = _CVec2 if sym == "vec2_dot" else _CVec3
            fields = (1.5, 2.5) if sym == "vec2_dot" else (1.5, 2.5, -0.75)
            env.update(u=vec(*fields), v=vec(*fields))
            cenv = dict(env, u=cvec(*fields), v=cvec(*fields))
            fenv = dict(env, u=ffi.new(f"{sym[:4]} *", fields)[0], v=ffi.new(f"{sym[:4]} *", fields)[0]) if ffi else {}
        else:
            cenv = fenv = env
        fn = getattr(ctx.floor, sym)
        out.append(Row(group, KEPT, f"f({floor_args})", dict(env, f=fn)))
        out.append(Row(group, RELEASED, f"f({floor_args})", dict(env, f=getattr(ctx.floor, sym + "_nogil"))))
        address = ctypes.cast(getattr(cdll, "nfb_" + sym), ctypes.c_void_p).value
        assert address is not None
        ptr = _Pointer[_NativeFunction[params, ret]].from_address(address)
        spill = "stack" in group
        tight = 1.2 if sym in ("add", "scale") else 1.3 if sym in ("mix6", "first") else 2.0 if sym == "vec2_dot" else None
        if spill:
            tight = None
        leaf, nonleaf = ptr.as_function(is_leaf=True), ptr.as_function()
        out.append(Row(group, "nativeffi is_leaf=True", f"f({args})", dict(env, f=leaf), ref=KEPT, target=tight))
        out.append(Row(group, "nativeffi", f"f({args})", dict(env, f=nonleaf), ref=RELEASED, target=tight))
        for name, lib, ref in (("ctypes PyDLL", pydll, KEPT), ("ctypes CDLL", cdll, RELEASED)):
            cf = getattr(lib, "nfb_" + sym)
            cf.argtypes, cf.restype = cparams, cret
            out.append(Row(group, name + " (argtypes)", f"f({args})", dict(cenv, f=cf), ref=ref))
        if cffi_abi is None:
            out.append(Skip(group, "cffi", "cffi is not installed (pip install 'nativeffi[bench]')"))
            continue
        out.append(Row(group, "cffi ABI", f"f({args})", dict(fenv, f=getattr(cffi_abi, "nfb_" + sym)), ref=RELEASED))
        if ctx.cffi_api is None:
            out.append(Skip(group, "cffi API", ctx.cffi_api_note))
        else:
            aenv = dict(fenv)
            if sym.startswith("vec"):  # struct values must come from the API module's own ffi
                aenv.update(u=ctx.cffi_api.ffi.new(f"{sym[:4]} *", fields)[0],
                            v=ctx.cffi_api.ffi.new(f"{sym[:4]} *", fields)[0])
            out.append(Row(group, "cffi API", f"f({args})", dict(aenv, f=getattr(ctx.cffi_api.lib, "nfb_" + sym)),
                           ref=RELEASED))
    if structs is None:
        out.append(Skip("vec2_dot / vec3_dot (struct by value)", "all",
                        "nativeffi has no Struct in this build yet (compound types issue); the struct rows wait "
                        "for it"))
    return out
