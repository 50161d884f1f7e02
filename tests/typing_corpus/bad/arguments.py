"""Wrong arguments to @native functions: each line marked E is an error both checkers must report."""
# Declarations have `...` bodies, which mypy --strict reports as empty-body errors in .py files:
# mypy: disable-error-code="empty-body"
from __future__ import annotations

from nativeffi import CString, Double, Int, Pointer, Size, Utf8, native


@native(asset="libm.so.6")
def fma(a: Double, b: Double, c: Double) -> Double: ...


@native(asset="libc.so.6")
def strlen(s: CString) -> Size: ...


@native(asset="libc.so.6")
def getenv(name: CString) -> Pointer[Utf8]: ...


@native(asset="libc.so.6")
def abs(x: Int) -> Int: ...


fma("1.0", 2.0, 3.0)  # E: incompatible type "str"; expected "float" || Argument of type "Literal['1.0']" cannot be assigned to parameter "a" of type "Double"
fma(1.0, 2.0)  # E: Missing positional argument "c" || Argument missing for parameter "c"
abs(2.5)  # E: incompatible type "float"; expected "int" || Argument of type "float" cannot be assigned to parameter "x" of type "Int"
strlen(42)  # E: Argument 1 to "strlen" has incompatible type "int" || Argument of type "Literal[42]" cannot be assigned to parameter "s" of type "CString"
strlen(["a"])  # E: incompatible type "list[str]" || Argument of type "list[str]" cannot be assigned to parameter "s" of type "CString"
home: str = getenv("HOME")  # E: expression has type "Pointer[Utf8]", variable has type "str" || Type "Pointer[Utf8]" is not assignable to declared type "str"
length: str = strlen("abc")  # E: expression has type "int", variable has type "str" || Type "Size" is not assignable to declared type "str"
