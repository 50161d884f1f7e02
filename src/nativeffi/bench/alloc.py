"""Allocation rows: out-parameters, small allocations and type expressions, against ctypes and cffi.

Each statement is what a program writes in a loop body: ``Box[Int32]()`` and ``Pointer[Int32]`` are
evaluated there, not hoisted, since that is how code reads (and the issue's figures were taken that way).
"""
from __future__ import annotations

import ctypes
import importlib
from typing import Any, Union

import nativeffi as nf

from .build import Context, cdef
from .timing import Row, Skip

OUT_REF = "ctypes c_int32() + byref"
ALLOC_REF = "ctypes c_int32()"
EXPR_REF = "ctypes POINTER(c_int32) (cached)"
NO_CFFI = "cffi is not installed (pip install 'nativeffi[bench]')"


def _cffi() -> Any:
    try:
        return importlib.import_module("cffi").FFI()
    except ImportError:
        return None


def rows(ctx: Context) -> list[Union[Row, Skip]]:
    """Out-parameter round trips through ``int32_t nfb_out_i32(int32_t *out)``, allocations, type expressions."""
    out: list[Union[Row, Skip]] = []
    Box: Any = getattr(nf, "Box", None)
    address = ctypes.cast(ctypes.CDLL(str(ctx.lib)).nfb_out_i32, ctypes.c_void_p).value
    assert address is not None
    cf = ctypes.CDLL(str(ctx.lib)).nfb_out_i32
    cf.argtypes, cf.restype = [ctypes.POINTER(ctypes.c_int32)], ctypes.c_int32
    fn: Any = nf.Pointer[nf.NativeFunction[[nf.Pointer[nf.Int32]], nf.Int32]].from_address(address)
    leaf = fn.as_function(is_leaf=True)
    env = {"Int32": nf.Int32, "Box": Box, "calloc": nf.calloc, "malloc": nf.malloc, "Arena": nf.Arena,
           "Pointer": nf.Pointer, "Array": nf.Array, "NativeFunction": nf.NativeFunction,
           "c_int32": ctypes.c_int32, "byref": ctypes.byref, "POINTER": ctypes.POINTER}
    ffi = _cffi()

    group = "out-parameter: create, f(&x), read x"
    out.append(Row(group, OUT_REF, "x = c_int32(); f(byref(x)); x.value", dict(env, f=cf)))
    if Box is not None:
        out.append(Row(group, "nativeffi Box[Int32]()", "x = Box[Int32](); f(x); x.value", dict(env, f=leaf),
                       ref=OUT_REF, target=1.0))
    else:
        out.append(Skip(group, "nativeffi Box", "nativeffi has no Box in this build"))
    out.append(Row(group, "nativeffi calloc(Int32) + free", "x = calloc(Int32); f(x); x.value; calloc.free(x)",
                   dict(env, f=leaf), ref=OUT_REF, target=1.0))
    out.append(Row(group, "nativeffi Arena", "with Arena() as a:\n            x = a(Int32); f(x); x.value",
                   dict(env, f=leaf), ref=OUT_REF, target=1.0))
    if ffi is not None:
        ffi.cdef(cdef())
        lib = ffi.dlopen(str(ctx.lib))
        out.append(Row(group, "cffi ABI ffi.new('int32_t *')", "x = new('int32_t *'); f(x); x[0]",
                       dict(env, f=lib.nfb_out_i32, new=ffi.new), ref=OUT_REF))
    else:
        out.append(Skip(group, "cffi", NO_CFFI))

    group = "allocate one Int32 (and free it)"
    out.append(Row(group, ALLOC_REF, "c_int32()", env))
    if Box is not None:
        out.append(Row(group, "nativeffi Box[Int32]()", "Box[Int32]()", env, ref=ALLOC_REF, target=1.0))
    # No target for these two: ctypes' c_int32() frees nothing itself, and the issue's target for calloc/free is the
    # out-parameter round trip above; these rows show what a raw C allocation and free cost on their own.
    out.append(Row(group, "nativeffi calloc(Int32) + free", "calloc.free(calloc(Int32))", env, ref=ALLOC_REF))
    out.append(Row(group, "nativeffi malloc(Int32) + free", "malloc.free(malloc(Int32))", env, ref=ALLOC_REF))
    out.append(Row(group, "nativeffi with Arena() as a: a(Int32)", "with Arena() as a:\n            a(Int32)", env,
                   ref=ALLOC_REF, target=2.0))
    if ffi is not None:
        out.append(Row(group, "cffi ffi.new('int32_t *')", "new('int32_t *')", dict(env, new=ffi.new), ref=ALLOC_REF))

    group = "type expression in a loop body"
    out.append(Row(group, EXPR_REF, "POINTER(c_int32)", env))
    out.append(Row(group, "ctypes c_int32 * 4", "c_int32 * 4", env, ref=EXPR_REF))
    out.append(Row(group, "nativeffi Pointer[Int32]", "Pointer[Int32]", env, ref=EXPR_REF))
    out.append(Row(group, "nativeffi Array[Int32, 4]", "Array[Int32, 4]", env, ref=EXPR_REF))
    out.append(Row(group, "nativeffi NativeFunction[[Int32], Int32]", "NativeFunction[[Int32], Int32]", env,
                   ref=EXPR_REF))
    if Box is not None:
        out.append(Row(group, "nativeffi Box[Int32]", "Box[Int32]", env, ref=EXPR_REF))
    return out
