"""Wrong uses of pointers: each line marked E is an error both checkers must report."""
# Declarations have `...` bodies, which mypy --strict reports as empty-body errors in .py files:
# mypy: disable-error-code="empty-body"
from __future__ import annotations

from nativeffi import Char, Double, Int32, Pointer, PointerLike, Size, Void, malloc, native


@native(asset="libc.so.6", symbol="memset")
def fill_ints(p: PointerLike[Int32], c: Int32, n: Size) -> Pointer[Void]: ...


@native(asset="libc.so.6", symbol="strlen")
def strict_strlen(s: Pointer[Char]) -> Size: ...


def use(ints: Pointer[Int32], doubles: Pointer[Double]) -> None:
    fill_ints(doubles, 0, 8)  # E: incompatible type "Pointer[float]" || Argument of type "Pointer[Double]" cannot be assigned to parameter "p" of type "PointerLike[Int32]"
    fill_ints("text", 0, 4)  # E: incompatible type "str" || Argument of type "Literal['text']" cannot be assigned to parameter "p" of type "PointerLike[Int32]"
    fill_ints(3, 0, 4)  # E: incompatible type "int" || Argument of type "Literal[3]" cannot be assigned to parameter "p" of type "PointerLike[Int32]"
    strict_strlen("a str")  # E: incompatible type "str"; expected "Pointer[int]" || Argument of type "Literal['a str']" cannot be assigned to parameter "s" of type "Pointer[Char]"
    strict_strlen(None)  # E: incompatible type "None"; expected "Pointer[int]" || Argument of type "None" cannot be assigned to parameter "s" of type "Pointer[Char]"
    ints.value = 1.5  # E: expression has type "float", variable has type "int" || Cannot assign to attribute "value" for class "Pointer[Int32]"
    ints[0] = "x"  # E: No overload variant of "__setitem__" of "Pointer" matches argument types "int", "str" || Argument of type "Literal['x']" cannot be assigned to parameter "v" of type "Int32"
    later = ints + 1.5  # E: Unsupported operand types for + || Operator "+" not supported
    ints.as_function()  # E: Invalid self argument || Cannot access attribute "as_function" for class "Pointer[Int32]"
    x: float = ints.value
    n: str = doubles - doubles  # E: expression has type "int", variable has type "str" || Type "int" is not assignable to declared type "str"
    del later, x, n


buf = malloc(Int32, 4)
buf.free()  # E: "Pointer[int]" has no attribute "free" || Cannot access attribute "free" for class "Pointer[Any]"
