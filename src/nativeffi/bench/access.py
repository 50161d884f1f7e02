"""Memory-access rows: pointer element p[i] and struct field reads and writes, against ctypes and cffi."""
from __future__ import annotations

import ctypes
import importlib
from typing import Any, Union

import nativeffi as nf

from .build import Context
from .timing import Row, Skip

CTYPES = "ctypes"


def rows(ctx: Context) -> list[Union[Row, Skip]]:
    """p[i] read/write on Int32 memory and s.x read/write on a struct of two doubles."""
    out: list[Union[Row, Skip]] = []
    try:
        ffi = importlib.import_module("cffi").FFI()
        ffi.cdef("typedef struct { double x, y; } vec2;")
    except ImportError:
        ffi = None
    n = 16
    p = nf.malloc(nf.Int32, n)
    for k in range(n):
        p[k] = k
    carr = (ctypes.c_int32 * n)(*range(n))
    cptr = ctypes.cast(carr, ctypes.POINTER(ctypes.c_int32))
    impls: list[tuple[str, Any]] = [("nativeffi Pointer[Int32]", p), ("ctypes POINTER(c_int32)", cptr)]
    if ffi is not None:
        impls.append(("cffi int32_t *", ffi.new("int32_t[]", list(range(n)))))
    impls.append(("Python list (reference)", list(range(n))))
    for group, stmt in (("p[i] read", "p[i]"), ("p[i] write", "p[i] = v")):
        for name, obj in impls:
            ref = None if name.startswith("ctypes") else "ctypes POINTER(c_int32)"
            target = 0.6 if name.startswith("nativeffi") else None
            out.append(Row(group, name, stmt, {"p": obj, "i": 5, "v": 7}, ref=ref, target=target))
    if ffi is None:
        out.append(Skip("p[i]", "cffi", "cffi is not installed (pip install 'nativeffi[bench]')"))

    Struct = getattr(nf, "Struct", None)

    class CVec2(ctypes.Structure):
        _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double)]

    simpls: list[tuple[str, Any]] = []
    if Struct is not None:
        ns: dict[str, Any] = {"Struct": Struct, "Double": nf.Double}
        exec("class vec2(Struct):\n    x: Double\n    y: Double\n", ns)  # noqa: S102 - fixed declaration
        simpls.append(("nativeffi Struct", ns["vec2"](1.5, 2.5)))
    else:
        out.append(Skip("s.x", "nativeffi", "nativeffi has no Struct in this build yet (compound types issue)"))
    simpls.append(("ctypes Structure", CVec2(1.5, 2.5)))
    if ffi is not None:
        simpls.append(("cffi struct", ffi.new("vec2 *", (1.5, 2.5))))
    for group, stmt in (("s.x read", "s.x"), ("s.x write", "s.x = v")):
        for name, obj in simpls:
            ref = None if name.startswith("ctypes") else "ctypes Structure"
            target = 0.7 if name.startswith("nativeffi") else None
            out.append(Row(group, name, stmt, {"s": obj, "v": 0.5}, ref=ref, target=target))
    return out
