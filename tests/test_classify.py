"""The calling-convention classifiers (csrc/classify.c) on data: AArch64's rules and SysV's, on any platform.

Both classifiers are compiled on every platform. Each is also checked end to end against its ABI's GCC by the
compound matrix, run on x86-64 and, by .ci/aarch64, on emulated AArch64 (helpers built by aarch64-linux-gnu-gcc);
the AArch64 expectations below come from AAPCS64 (homogeneous floating-point aggregates of
1 to 4 members travel in vector registers; other composites of up to 16 bytes in general registers, larger
ones by reference). A result is "memory" or the parts of the equivalent struct given to libffi: "f" float,
"d" double, and integer chunks "1", "2", "4", "8" (bytes).
"""
from __future__ import annotations

import types

import pytest

from nativeffi import (
    LONG_DOUBLE_INFO, Array, Bits, Double, Float, Int8, Int16, Int32, Int64, LongDouble, Pointer, Struct, Uint8,
    Union, _core,
)

# The platform's long double as a leaf: x87 extended on x86-64 (never an HFA member), binary128 on AArch64.
QUAD = LONG_DOUBLE_INFO["mant_dig"] == 113


def struct(*types_: object, pack: int = 0, kind: type = Struct) -> type:
    """A struct (or union) with fields f0, f1, ... of the given types."""
    ann = {f"f{i}": t for i, t in enumerate(types_)}
    kw = {"pack": pack} if pack else {}
    return types.new_class("T", (kind,), kw, lambda ns: ns.update({"__annotations__": ann}))


F1, F2, F3, F4 = (struct(*[Float] * n) for n in (1, 2, 3, 4))

AARCH64 = [
    (F1, "f", "one float: an HFA of 1"),
    (F2, "ff", "two floats: an HFA of 2"),
    (F4, "ffff", "four floats: the largest float HFA"),
    (struct(*[Float] * 5), "memory", "five floats: not an HFA, 20 bytes, by reference"),
    (struct(*[Double] * 4), "dddd", "four doubles: an HFA of 32 bytes, still in registers"),
    (struct(*[Double] * 3), "ddd", "three doubles: an HFA of 24 bytes"),
    (struct(Double, Double, Float), "memory", "mixed float kinds, 24 bytes: by reference"),
    (struct(Float, Double), "88", "float and double are different kinds: not an HFA, 16 bytes in x registers"),
    (struct(Int32, Float), "44", "an int among floats: general registers"),
    (struct(F2, Array[F1, 2]), "ffff", "nested structs and arrays of floats flatten into an HFA of 4"),
    (struct(Array[Double, 2], Array[Double, 2]), "dddd", "arrays of doubles form an HFA"),
    (struct(Array[Float, 2, 2]), "ffff", "a 2x2 float array is an HFA of 4"),
    (struct(Array[Float, 5]), "memory", "a 5-float array: too many members"),
    (struct(Array[Float, 2], Float, kind=Union), "ff", "a union of float arrays: an HFA of the largest"),
    (struct(Float, Double, kind=Union), "8", "a union of float and double: not homogeneous"),
    (struct(Uint8, Float, pack=1), "11111", "packed 5 bytes: integer chunks no wider than the alignment"),
    (struct(Bits[Int32, 3], Bits[Int32, 20]), "4", "bit fields are integers"),
    (struct(Int64, Int8), "88", "int64 + int8: 16 bytes in two x registers"),
    (struct(Pointer, Pointer, Int8), "memory", "24 bytes of integers: by reference"),
    (struct(Int16, Int8), "22", "int16 + int8 padded to 4 bytes: chunks no wider than the 2-byte alignment"),
    *([(struct(LongDouble), "q", "one binary128 long double: an HFA of 1 (q0)"),
       (struct(Array[LongDouble, 4]), "qqqq", "four long doubles: the largest HFA, 64 bytes"),
       (struct(LongDouble, Double), "memory", "long double and double are different kinds: 32 bytes, by reference")]
      if QUAD else []),
]


@pytest.mark.parametrize("cls,want,reason", AARCH64, ids=[r for _, _, r in AARCH64])
def test_aarch64_classification(cls, want, reason):
    """AArch64: HFAs of up to 4 members in vector registers, other values up to 16 bytes in x registers."""
    assert _core._classify(cls.__native__, "aarch64") == want, reason


SYSV = [
    (F1, "f", "one float: SSE, low half"),
    (F3, "fff", "three floats: a full SSE eightbyte of two floats, then a half"),
    (struct(Double), "d", "one double: SSE"),
    (struct(Int64, Double), "8d", "INTEGER then SSE"),
    (struct(Int32, Float), "44", "int and float share an eightbyte: INTEGER"),
    (struct(Int8, Int16, pack=1), "memory", "pack(1) puts int16 at offset 1: misaligned, so MEMORY"),
    (struct(Float, Uint8, pack=1), "11111", "pack(1) with every field aligned: registers"),
    (struct(Int32, Float, kind=Union), "4", "a union of int and float: INTEGER"),
    (struct(Array[Float, 3], Int32, kind=Union), "44f", "int overlaps the first eightbyte only: INTEGER, SSE"),
    (struct(Bits[Int8, 4], Bits[Int32, 30], pack=1), "11111", "bit fields are INTEGER even when they straddle"),
    (struct(Double, Double, Int8), "memory", "over 16 bytes: MEMORY"),
    (struct(Array[struct(Float, Uint8, pack=1), 3]), "1" * 15,
     "an array of packed structs: GCC checks only the first element's alignment"),
    (struct(Uint8, struct(Float, Uint8, pack=1)), "memory", "a packed struct nested at offset 1: misaligned float"),
    (struct(LongDouble), "memory", "a long double: X87 class, passed in memory"),
    (struct(Int8, LongDouble, kind=Union), "memory", "a union holding a long double: X87 merged, memory"),
]


@pytest.mark.parametrize("cls,want,reason", SYSV, ids=[r for _, _, r in SYSV])
def test_sysv_classification(cls, want, reason):
    """x86-64 SysV: eightbytes INTEGER or SSE; MEMORY above 16 bytes or with a misaligned scalar."""
    assert _core._classify(cls.__native__, "sysv") == want, reason


def test_classify_rejects_non_compounds():
    """_classify is for complete compounds under a known ABI."""
    with pytest.raises(ValueError):
        _core._classify(F1.__native__, "mips")
    with pytest.raises(ValueError):
        _core._classify(Int32.__metadata__[0], "sysv")
