"""nativeffi: call C from Python the way Dart's FFI does: ``@native`` bindings, native types, pointers, memory.

Example:
    >>> from nativeffi import native, Double
    >>> @native(asset="libm.so.6", is_leaf=True)
    ... def cos(x: Double) -> Double: ...
    >>> cos(0.0)
    1.0
"""
from . import assets
from .assets import NativeSymbolError, set_native_resolver
from .callable import NativeCallable, run
from .longdouble import LONG_DOUBLE_INFO, long_double_bytes, long_double_value
from .finalizer import Finalizable, NativeFinalizer, native_memory_held
from .compound import Array, ArrayView, Bits, Struct, Union, fields, offsetof
from .memory import Allocator, Arena, Box, calloc, malloc, to_native_utf8, to_native_wchar
from .native import NativeVar, address_of, binding_of, default_asset, get_errno, native, native_var
from .pointer import CString, NullPointerError, Pointer, PointerLike, nullptr
from .types import (
    Bool, Char, CType, Double, Float, Int, Int8, Int16, Int32, Int64, IntPtr, Long, LongDouble, LongLong,
    NativeFunction, Opaque, Short, SignedChar, Size, Uint8, Uint16, Uint32, Uint64, UintPtr, UnsignedChar, UnsignedInt, UnsignedLong,
    UnsignedLongLong, UnsignedShort, Utf8, VarArgs, Void, WChar, alignof, native_type, sizeof,
)

__all__ = [
    "assets", "NativeSymbolError", "set_native_resolver", "NativeCallable", "run", "Allocator", "Arena", "Box", "calloc", "malloc",
    "to_native_utf8", "to_native_wchar",
    "NativeVar", "address_of", "binding_of", "default_asset", "get_errno", "native", "native_var",
    "NullPointerError", "Pointer", "PointerLike", "CString", "nullptr", "Bool", "Char", "CType", "Double", "Float",
    "Int", "Int8", "Int16",
    "Int32", "Int64", "IntPtr", "Long", "LongDouble", "LongLong", "NativeFunction", "Opaque", "Short", "SignedChar", "Size",
    "Uint8", "Uint16", "Uint32", "Uint64", "UintPtr", "UnsignedChar", "UnsignedInt", "UnsignedLong",
    "UnsignedLongLong", "UnsignedShort", "Utf8", "VarArgs", "Void", "WChar", "alignof", "native_type", "sizeof",
    "Struct", "Union", "Array", "ArrayView", "Bits", "fields", "offsetof", "Finalizable", "NativeFinalizer",
    "native_memory_held", "LONG_DOUBLE_INFO", "long_double_bytes", "long_double_value",
]
__version__ = "0.1.0"
