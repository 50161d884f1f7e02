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
from .compound import Array, ArrayView, Bits, Struct, Union, fields, offsetof
from .memory import Allocator, Arena, Box, calloc, malloc, to_native_utf8
from .native import NativeVar, address_of, binding_of, default_asset, get_errno, native, native_var
from .pointer import NullPointerError, Pointer, nullptr
from .types import (
    Bool, Char, CType, Double, Float, Int, Int8, Int16, Int32, Int64, IntPtr, Long, LongLong, NativeFunction, Opaque,
    Short, SignedChar, Size, Uint8, Uint16, Uint32, Uint64, UintPtr, UnsignedChar, UnsignedInt, UnsignedLong,
    UnsignedLongLong, UnsignedShort, Utf8, VarArgs, Void, WChar, alignof, native_type, sizeof,
)

__all__ = [
    "assets", "NativeSymbolError", "set_native_resolver", "NativeCallable", "run", "Allocator", "Arena", "Box", "calloc", "malloc",
    "to_native_utf8", "NativeVar", "address_of", "binding_of", "default_asset", "get_errno", "native", "native_var",
    "NullPointerError", "Pointer", "nullptr", "Bool", "Char", "CType", "Double", "Float", "Int", "Int8", "Int16",
    "Int32", "Int64", "IntPtr", "Long", "LongLong", "NativeFunction", "Opaque", "Short", "SignedChar", "Size",
    "Uint8", "Uint16", "Uint32", "Uint64", "UintPtr", "UnsignedChar", "UnsignedInt", "UnsignedLong",
    "UnsignedLongLong", "UnsignedShort", "Utf8", "VarArgs", "Void", "WChar", "alignof", "native_type", "sizeof",
    "Struct", "Union", "Array", "ArrayView", "Bits", "fields", "offsetof",
]
__version__ = "0.1.0"
