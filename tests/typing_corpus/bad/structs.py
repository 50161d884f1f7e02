"""Wrong uses of structs, unions and arrays: each line marked E is an error both checkers must report."""
from __future__ import annotations

from typing import Literal

from nativeffi import Array, Bits, Double, Int32, Pointer, Struct, Uint8, Union


class Coord(Struct):
    x: Double
    y: Double
    next: Pointer["Coord"]


class Number(Union):
    i: Int32
    d: Double


class Grid(Struct):
    cells: Array[Int32, Literal[3], Literal[3]]
    flags: Bits[Uint8, 3]
    bare: Array[Int32, 3]  # E: Invalid type: try using Literal[3] instead? || Expected class but received "Literal[3]"


c = Coord(x=1.0, y=2.0)
c.x = "far"  # E: expression has type "str", variable has type "float" || Cannot assign to attribute "x" for class "Coord"
c.z = 1.0  # E: "Coord" has no attribute "z" || Cannot assign to attribute "z" for class "Coord"
print(c.depth)  # E: "Coord" has no attribute "depth" || Cannot access attribute "depth" for class "Coord"
c.next = c  # E: expression has type "Coord", variable has type "Pointer[Coord]" || Cannot assign to attribute "next" for class "Coord"
n: str = Number(d=1.0).i  # E: expression has type "int", variable has type "str" || Type "Int32" is not assignable to declared type "str"
g = Grid()
row: int = g.cells[0]  # E: expression has type "Array[int, Literal[3]]", variable has type "int" || Type "Array[Int32, Literal[3]]" is not assignable to declared type "int"
g.cells = 5  # E: Incompatible types in assignment (expression has type "int", variable has type || Cannot assign to attribute "cells" for class "Grid"
flag: str = g.flags  # E: expression has type "int", variable has type "str" || Type "Uint8" is not assignable to declared type "str"
