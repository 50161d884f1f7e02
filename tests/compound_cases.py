"""The compound-type matrix as data: every case is a C struct or union with the reason it is in the matrix.

``generate_c(CASES)`` writes the C oracle: for each case, the declaration, its layout (sizeof, alignof,
offsetof), a dump of every field (recursively, arrays and bit fields included), a by-value argument that is
dumped, a by-value return built in C, an identity function, and for cases marked ``many`` functions taking
10 of them (exhausting the registers) and one after 6 integer and 8 floating scalars. The tests build the
same types with nativeffi and compare what C prints with what Python reads.

Run ``python tests/compound_cases.py`` to print the generated C.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Optional, Union as U

# -- Scalars: nativeffi name -> (C type, class, size) -----------------------------------------------------

SCALARS: dict[str, tuple[str, str, int]] = {
    "Int8": ("int8_t", "s", 1), "Int16": ("int16_t", "s", 2), "Int32": ("int32_t", "s", 4),
    "Int64": ("int64_t", "s", 8), "Uint8": ("uint8_t", "u", 1), "Uint16": ("uint16_t", "u", 2),
    "Uint32": ("uint32_t", "u", 4), "Uint64": ("uint64_t", "u", 8), "Float": ("float", "f", 4),
    "Double": ("double", "f", 8), "Bool": ("_Bool", "b", 1), "Pointer": ("void *", "p", 8),
}


@dataclass(frozen=True)
class Arr:
    """An inline array field type: element type and dimensions (``Arr("Int16", (2, 2))`` is int16_t[2][2])."""
    elem: Any
    dims: tuple[int, ...]


@dataclass(frozen=True)
class F:
    """A field: name, type (scalar name, Arr, or a nested Case), and bit width for bit fields."""
    name: str
    type: Any
    bits: Optional[int] = None


@dataclass(frozen=True)
class Case:
    """One struct or union of the matrix."""
    name: str
    fields: tuple[F, ...]
    reason: str
    kind: str = "struct"
    pack: int = 0
    many: bool = False           # also generate the 10-argument and after-many-scalars functions
    active: Optional[str] = None  # unions: the member that holds the value (default: the largest)

    def value_fields(self) -> list[F]:
        """Fields that hold values (zero-width bit fields are padding)."""
        fs = [f for f in self.fields if f.bits != 0]
        if self.kind == "union":
            return [self.union_member()]
        return fs

    def union_member(self) -> F:
        fs = [f for f in self.fields if f.bits != 0]
        if self.active:
            return next(f for f in fs if f.name == self.active)
        return max(fs, key=lambda f: approx_size(f))


def scalar_size(t: str) -> int:
    return SCALARS[t][2]


def approx_size(f: F) -> float:
    if f.bits is not None:
        return f.bits / 8
    return type_size(f.type)


def type_size(t: Any) -> int:
    """Size of a field type assuming natural alignment (only used to pick union members and write reasons)."""
    if isinstance(t, str):
        return scalar_size(t)
    if isinstance(t, Arr):
        n = 1
        for d in t.dims:
            n *= d
        return n * type_size(t.elem)
    return sum(type_size(f.type) for f in t.fields) if t.kind == "struct" else max(type_size(f.type) for f in t.fields)


def S(name: str, reason: str, *types: Any, many: bool = False, pack: int = 0) -> Case:
    """A struct with fields a, b, c, ... of the given types."""
    return Case(name, tuple(F(chr(ord("a") + i), t) for i, t in enumerate(types)), reason, pack=pack, many=many)


def Un(name: str, reason: str, *types: Any, many: bool = False) -> Case:
    """A union with members a, b, c, ... of the given types."""
    return Case(name, tuple(F(chr(ord("a") + i), t) for i, t in enumerate(types)), reason, kind="union", many=many)


def B(name: str, reason: str, *fields: tuple[str, str, int], pack: int = 0, many: bool = False,
      kind: str = "struct") -> Case:
    """A struct of fields given as (name, type, bits) with bits None for an ordinary field, 0 for padding."""
    return Case(name, tuple(F(n, t, b) for n, t, b in fields), reason, pack=pack, many=many, kind=kind)


# -- Hand-picked cases (Dart's struct-by-value matrix, and more) --------------------------------------

S1 = S("S1ByteInt", "1 byte: the smallest struct, one INTEGER eightbyte", "Int8", many=True)
S3U8 = S("S3BytesHomogeneousUint8", "3 bytes: not a multiple of the word size", "Uint8", "Uint8", "Uint8", many=True)
S3A2 = S("S3BytesInt2ByteAligned", "3 bytes of data, 2-byte aligned: one byte of tail padding", "Int16", "Int8",
         many=True)
S4I16 = S("S4BytesHomogeneousInt16", "4 bytes, two int16: fills half an eightbyte", "Int16", "Int16", many=True)
S4F = S("S4BytesFloat", "a lone float: SSE class, returned in xmm0's low half / an HFA of 1", "Float", many=True)
S5U8 = S("S5BytesHomogeneousUint8", "5 bytes: odd size inside one eightbyte", *["Uint8"] * 5)
S7U8 = S("S7BytesHomogeneousUint8", "7 bytes: one byte short of an eightbyte", *["Uint8"] * 7, many=True)
S7A4 = S("S7BytesInt4ByteAligned", "7 bytes of data, 4-byte aligned: padded to 8", "Int32", "Int16", "Int8",
         many=True)
S8I = S("S8BytesInt", "8 bytes of mixed-width ints: exactly one INTEGER eightbyte", "Int16", "Int16", "Int32",
        many=True)
S8F = S("S8BytesHomogeneousFloat", "two floats share one SSE register (x86-64); HFA of 2 (AArch64)", "Float",
        "Float", many=True)
S8M = S("S8BytesMixed", "float and ints in one eightbyte: INTEGER wins the merge", "Float", "Int16", "Int16",
        many=True)
S9U8 = S("S9BytesHomogeneousUint8", "9 bytes: one byte into the second eightbyte", *["Uint8"] * 9, many=True)
S9A8 = S("S9BytesInt4Or8ByteAligned", "int64 then int8: 9 bytes of data padded to 16", "Int64", "Int8", many=True)
S12F = S("S12BytesHomogeneousFloat", "3 floats: SSE + half an SSE eightbyte; HFA of 3", "Float", "Float", "Float",
         many=True)
S16F = S("S16BytesHomogeneousFloat", "4 floats: the largest float HFA; two SSE eightbytes", *["Float"] * 4,
         many=True)
S16M = S("S16BytesMixed", "double then int64: SSE then INTEGER eightbyte", "Double", "Int64", many=True)
S16M2 = S("S16BytesMixed2", "floats, then float+int in the second eightbyte: SSE then INTEGER", "Float", "Float",
          "Float", "Int32", many=True)
S17 = S("S17BytesInt", "17 bytes: just over two eightbytes, so MEMORY / by reference", "Int64", "Int64", "Int8",
        many=True)
S19U8 = S("S19BytesHomogeneousUint8", "19 bytes of uint8: memory, odd size", *["Uint8"] * 19, many=True)
S20I = S("S20BytesHomogeneousInt32", "5 int32: 20 bytes, memory", *["Int32"] * 5, many=True)
S20F = S("S20BytesHomogeneousFloat", "5 floats: one more than an HFA may hold", *["Float"] * 5, many=True)
S32D = S("S32BytesHomogeneousDouble", "4 doubles: the largest HFA (AArch64), memory on x86-64", *["Double"] * 4,
         many=True)
S40D = S("S40BytesHomogeneousDouble", "5 doubles: not an HFA, passed by reference", *["Double"] * 5, many=True)
S1024 = S("S1024BytesHomogeneousUint64", "1024 bytes: a very large struct copied on the stack",
          Arr("Uint64", (128,)), many=True)
SAL16 = S("StructAlignmentInt16", "int8, int16, int8: padding before and after an aligned int16", "Int8", "Int16",
          "Int8", many=True)
SAL32 = S("StructAlignmentInt32", "int8, int32, int8: 3 bytes of padding twice", "Int8", "Int32", "Int8", many=True)
SAL64 = S("StructAlignmentInt64", "int8, int64, int8: 24 bytes, mostly padding, memory", "Int8", "Int64", "Int8",
          many=True)
S8NI = S("S8BytesNestedInt", "two nested 4-byte structs: nesting flattens to one eightbyte", S4I16, S4I16, many=True)
S8NF = S("S8BytesNestedFloat", "two nested one-float structs: a nested HFA of 2", S4F, S4F, many=True)
S8NM = S("S8BytesNestedMixed", "nested int16 pair and float: INTEGER", S4I16, S4F, many=True)
S16NI = S("S16BytesNestedInt", "nesting two levels deep, 16 bytes", S8NI, S8NI, many=True)
S32NI = S("S32BytesNestedInt", "nesting three levels deep, 32 bytes: memory", S16NI, S16NI, many=True)
SNA16 = S("StructNestedIntStructAlignmentInt16", "nested structs with inner padding (int16)", SAL16, SAL16)
SNA32 = S("StructNestedIntStructAlignmentInt32", "nested structs with inner padding (int32)", SAL32, SAL32)
SNA64 = S("StructNestedIntStructAlignmentInt64", "nested structs with inner padding (int64)", SAL64, SAL64)
SIA8 = S("S8BytesInlineArrayInt", "an inline array of 8 uint8: flattened elements", Arr("Uint8", (8,)), many=True)
SIAI = S("StructInlineArrayIrregular", "an array of 3-byte structs then a byte: irregular element size",
         Arr(S3A2, (2,)), "Uint8", many=True)
SIA100 = S("StructInlineArray100Bytes", "100-byte inline array: memory", Arr("Uint8", (100,)), many=True)
SIABig = S("StructInlineArrayBig", "4008 bytes with a 4000-byte array: a big stack copy", "Uint32", "Uint32",
           Arr("Uint8", (4000,)))
SIAInt = S("StructInlineArrayInt", "10 int32 in an array: 40 bytes", Arr("Int32", (10,)), many=True)
SIA2x2 = S("StructInlineArray2x2", "a 2x2 array of int16: multi-dimensional, one eightbyte", Arr("Int16", (2, 2)),
           many=True)
SIA3x3D = S("StructInlineArray3x3Double", "a 3x3 array of doubles (identity3x3): 72 bytes", Arr("Double", (3, 3)))
S16F2 = S("S16BytesHomogeneousFloat2", "an HFA assembled from a struct, an array of structs and a float", S4F,
          Arr(S4F, (2,)), "Float", many=True)
S32D2 = S("S32BytesHomogeneousDouble2", "an HFA of doubles through nested arrays", Arr("Double", (2,)),
          Arr("Double", (2,)), many=True)
SPtr = S("StructPointerInt", "a pointer and an int: two INTEGER eightbytes", "Pointer", "Int32", many=True)
SDPtr = S("StructDoublePointer", "a double and a pointer: SSE then INTEGER", "Double", "Pointer", many=True)
SBool = S("StructBools", "bools between int8: 1-byte INTEGER pieces", "Bool", "Int8", "Bool", many=True)
SFD = S("StructFloatDouble", "float then double: 4 bytes of padding inside an SSE eightbyte", "Float", "Double",
        many=True)
SDF = S("StructDoubleFloat", "double then float: tail padding after an SSE half", "Double", "Float", many=True)
SIF = S("StructIntFloat", "int32 then float in one eightbyte: INTEGER", "Int32", "Float", many=True)
SFIF = S("StructFloatIntFloat", "float, int, float: INTEGER then SSE", "Float", "Int32", "Float", many=True)

P3 = S("S3BytesPackedInt", "pack(1) int8, int16: a misaligned int16 sends it to memory on x86-64", "Int8", "Int16",
       pack=1, many=True)
P5M = S("S5BytesPackedMixed", "pack(1) float, uint8: all fields aligned, 5 bytes, in registers", "Float", "Uint8",
        pack=1, many=True)
PN5 = S("StructNestedAlignmentStruct5BytesPackedMixed", "a packed struct nested at offset 1: its float is "
        "misaligned", "Uint8", P5M, many=True)
P6IA = S("S6BytesInlineArrayInt", "an array of packed structs", Arr(S("S3BytesPackedIntMembersAligned",
         "pack(1) int8, int16: 3 bytes, used as an array element", "Int8", "Int16", pack=1), (2,)), many=True)
P8 = S("S8BytesPackedInt", "pack(1) uint8, uint32, 3 x uint8: misaligned uint32", "Uint8", "Uint32", "Uint8",
       "Uint8", "Uint8", pack=1, many=True)
P9M = S("S9BytesPackedMixed", "pack(1) uint8, double: a misaligned double", "Uint8", "Double", pack=1, many=True)
P15 = S("S15BytesInlineArrayMixed", "an array of three 5-byte packed structs", Arr(P5M, (3,)), many=True)
P9A = S("S9BytesPackedAligned", "pack(1) double, uint8: fields aligned but tail padding removed", "Double", "Uint8",
        pack=1, many=True)

U4 = Un("Union4BytesMixed", "uint32 and float overlap: INTEGER", "Uint32", "Float", many=True)
U8NF = Un("Union8BytesNestedFloat", "a double over two floats: SSE; not an HFA (float vs double)", "Double", S8F,
          many=True)
U9NI = Un("Union9BytesNestedInt", "8- and 9-byte structs overlap: 12 bytes, 4-byte aligned, two INTEGER eightbytes", S8I,
          S9U8, many=True)
U16IAF = Un("Union16BytesNestedInlineArrayFloat", "a float array over a 4-float struct: HFA of 4 floats",
            Arr("Float", (4,)), S16F, many=True)
U16NF = Un("Union16BytesNestedFloat", "2-, 3- and 4-float structs overlap: HFA of 4 floats", S8F, S12F, S16F,
           many=True)

HAND: list[Case] = [
    S1, S3U8, S3A2, S4I16, S4F, S5U8, S7U8, S7A4, S8I, S8F, S8M, S9U8, S9A8, S12F, S16F, S16M, S16M2, S17, S19U8,
    S20I, S20F, S32D, S40D, S1024, SAL16, SAL32, SAL64, S8NI, S8NF, S8NM, S16NI, S32NI, SNA16, SNA32, SNA64, SIA8,
    SIAI, SIA100, SIABig, SIAInt, SIA2x2, SIA3x3D, S16F2, S32D2, SPtr, SDPtr, SBool, SFD, SDF, SIF, SFIF, P3, P5M,
    PN5, P6IA, P8, P9M, P15, P9A, U4, U8NF, U9NI, U16IAF, U16NF,
]

# -- Generated families, each case with its own reason ---------------------------------------------------------

def _abi_note(size: int, kinds: set[str], n_members: int) -> str:
    floaty = kinds <= {"f"}
    if size > 16:
        note = "over 16 bytes: memory on x86-64"
        if floaty and n_members <= 4:
            note += ", an HFA in vector registers on AArch64"
        else:
            note += ", by reference on AArch64"
        return note
    eb = "one eightbyte" if size <= 8 else "two eightbytes"
    cls = "SSE" if floaty else "INTEGER" if not (kinds & {"f"}) else "SSE/INTEGER per eightbyte"
    return f"{size} bytes in {eb} ({cls})" + (", an HFA on AArch64" if floaty and n_members <= 4 else "")


HOMOGENEOUS = [
    S(f"Hom{n}x{t}", f"{n} x {t}: " + _abi_note(n * scalar_size(t), {SCALARS[t][1]}, n), *[t] * n,
      many=n in (1, 3, 4, 5))
    for t in ["Int8", "Int16", "Int32", "Int64", "Uint8", "Uint16", "Uint32", "Uint64", "Float", "Double"]
    for n in (1, 2, 3, 4, 5, 8)
]

PAIR_TYPES = ["Int8", "Int16", "Int32", "Int64", "Float", "Double", "Pointer"]


def _pair_reason(a: str, b: str) -> str:
    sa, sb = scalar_size(a), scalar_size(b)
    off = -(-sa // sb) * sb
    size = -(-(off + sb) // max(sa, sb)) * max(sa, sb)
    pad, tail = off - sa, size - off - sb
    kinds = {"f" if SCALARS[t][1] == "f" else "s" for t in (a, b)}
    return f"{a} then {b}: {pad} bytes of padding, {tail} of tail; " + _abi_note(size, kinds, 2)


PAIRS = [S(f"Pair{a}{b}", _pair_reason(a, b), a, b, many=(a == "Int8" or b == "Double"))
         for a, b in itertools.product(PAIR_TYPES, repeat=2)]

PACK_SHAPES = [
    ("Int8", "Int32"), ("Int8", "Double"), ("Int16", "Int64", "Int8"), ("Float", "Int8", "Float"),
    ("Int8", Arr("Int16", (3,))),
]


def _pack_reason(pack: int, types: tuple[Any, ...]) -> str:
    names = ", ".join(t if isinstance(t, str) else f"{t.elem}[{t.dims[0]}]" for t in types)
    misaligned = any(not isinstance(t, str) or scalar_size(t) > pack for t in types[1:])
    return (f"pack({pack}) {names}: " + ("fields closer than their alignment; a misaligned scalar goes to memory "
                                        "on x86-64" if misaligned else "packing changes nothing: plain layout"))


PACKED = [S(f"Pack{p}_{i}", _pack_reason(p, shape), *shape, pack=p, many=(p == 1))
          for p in (1, 2, 4, 8) for i, shape in enumerate(PACK_SHAPES)]

UNIONS = [
    Un("UnionInt8Int32", "union of int8 and int32: size of the larger", "Int8", "Int32"),
    Un("UnionInt16Double", "int16 over a double: INTEGER (an int in the eightbyte)", "Int16", "Double", many=True),
    Un("UnionFloatDouble", "float and double: all SSE, but mixed kinds: not an HFA", "Float", "Double", many=True),
    Un("UnionDoubleDouble", "two doubles: SSE; an HFA of 1 double", "Double", "Double"),
    Un("UnionPointerInt64", "pointer and int64: INTEGER", "Pointer", "Int64"),
    Un("UnionArrayInt8x12Int32", "12 bytes of int8 over an int32: two INTEGER eightbytes, 4-byte aligned",
       Arr("Int8", (12,)), "Int32", many=True),
    Un("UnionFloatArray3Int", "3 floats over an int: INTEGER then SSE", Arr("Float", (3,)), "Int32", many=True),
    Un("UnionDoubleArray2Int64", "2 doubles over an int64: INTEGER then SSE", Arr("Double", (2,)), "Int64",
       many=True),
    Un("UnionBigArray", "24 bytes: memory", Arr("Uint8", (24,)), "Double", many=True),
    Un("UnionStructs", "two structs of different shapes overlap", S7A4, S16M, many=True),
    Un("UnionUint8x3", "3-byte union: odd size", Arr("Uint8", (3,)), "Uint16"),
    Un("UnionNestedUnion", "a union inside a union", U4, "Double", many=True),
    S("StructWithUnion", "a struct holding a union after an int8: padding before the union", "Int8", U4, many=True),
    S("StructWithUnionArray", "an array of unions inside a struct", Arr(U4, (3,)), "Double", many=True),
    S("StructFloatUnionFloat", "float, union of float and int, float: INTEGER first eightbyte", "Float", U4, "Float",
      many=True),
]

BITFIELDS = [
    B("BitsFlags", "uint8 fields of 1, 3 and 4 bits in one byte",
      ("ready", "Uint8", 1), ("mode", "Uint8", 3), ("level", "Int8", 4), many=True),
    B("BitsIntPacked", "int32 bit fields of 3, 5 and 24 bits fill one int exactly",
      ("a", "Int32", 3), ("b", "Int32", 5), ("c", "Int32", 24), many=True),
    B("BitsStraddle", "two 20-bit int32 fields: the second would straddle an int, so it moves to the next",
      ("a", "Int32", 20), ("b", "Int32", 20), many=True),
    B("BitsCharInt", "a 3-bit char then a 30-bit int: the int field starts at bit 32",
      ("a", "Int8", 3), ("b", "Int32", 30), many=True),
    B("BitsU64", "uint64 fields of 60 and 10 bits: the second starts the next uint64",
      ("a", "Uint64", 60), ("b", "Uint64", 10), many=True),
    B("BitsI64Mixed", "int64 fields of 33, 31 and 1 bits: 65 bits spill into a second word",
      ("a", "Int64", 33), ("b", "Int64", 31), ("c", "Int64", 1), many=True),
    B("BitsShort9", "two 9-bit shorts: the second cannot share the first short",
      ("a", "Int16", 9), ("b", "Int16", 9)),
    B("BitsCharShort", "a char then a 9-bit short: the short field starts at bit 16",
      ("a", "Int8", None), ("b", "Int16", 9)),
    B("BitsZeroWidthInt", "an unnamed int:0 moves the next char to offset 4; it raises the alignment to 4 on "
      "AArch64, not on x86-64 (8 bytes vs 5)",
      ("a", "Int8", 3), ("_z", "Int32", 0), ("b", "Int8", None), many=True),
    B("BitsZeroWidthLong", "an unnamed int64:0 moves the next field to offset 8 (alignment 8 on AArch64, 1 on x86-64)",
      ("a", "Uint8", 3), ("_z", "Int64", 0), ("b", "Uint8", 5)),
    B("BitsSigned", "signed 3- and 5-bit fields hold negative values",
      ("a", "Int8", 3), ("b", "Int8", 5), ("c", "Int16", 7)),
    B("BitsBools", "bool bit fields of width 1",
      ("a", "Bool", 1), ("b", "Bool", 1), ("c", "Uint8", 6)),
    B("BitsThenDouble", "bit fields then a double: INTEGER then SSE eightbyte",
      ("a", "Uint32", 7), ("b", "Uint32", 9), ("d", "Double", None), many=True),
    B("BitsAfterFloat", "a float then bit fields in the same eightbyte: INTEGER",
      ("f", "Float", None), ("a", "Uint32", 12), ("b", "Uint32", 20), many=True),
    B("BitsPack1Straddle", "pack(1): a 30-bit int straddles bytes right after a 4-bit char",
      ("a", "Int8", 4), ("b", "Int32", 30), pack=1, many=True),
    B("BitsPack2", "pack(2): bit fields are contiguous, alignment capped at 2",
      ("a", "Int8", 7), ("b", "Int32", 12), ("c", "Int8", None), pack=2),
    B("BitsPack4Long", "pack(4): a 62-bit int64 after 4 bits, 12 bytes with alignment 4",
      ("a", "Int8", 4), ("b", "Int64", 62), pack=4, many=True),
    B("BitsPack1ZeroWidth", "pack(1): an int:0 still aligns the next field to 4, and the struct to 4 on AArch64",
      ("a", "Int8", 3), ("_z", "Int32", 0), ("b", "Int8", None), pack=1),
    B("BitsPack2ZeroWidthLong", "pack(2): an int64:0 moves the next field to 8; AArch64 aligns the struct to 8 "
      "whatever the packing", ("a", "Int8", 3), ("_z", "Int64", 0), ("b", "Int8", None), pack=2, many=True),
    B("BitsZeroWidthTail", "a trailing int:0 pads the struct to 4 bytes: alignment 4 on AArch64, 1 on x86-64",
      ("a", "Int8", None), ("_z", "Int32", 0), many=True),
    B("BitsUnionZeroWidth", "a union with an int:0: 1 byte on x86-64, 4 bytes aligned to 4 on AArch64",
      ("a", "Int8", 3), ("_z", "Int32", 0), ("b", "Int8", None), kind="union", many=True),
    B("BitsPack1UnionZeroWidthLong", "pack(1) union with an int64:0: AArch64 still aligns it to 8",
      ("a", "Uint16", None), ("_z", "Int64", 0), pack=1, kind="union"),
    B("BitsUnion", "a union of bit fields and an int: all at bit 0",
      ("a", "Uint32", 5), ("b", "Uint32", 17), ("c", "Int32", None), kind="union", many=True),
    B("BitsFull64", "a 64-bit field of an int64: full width", ("a", "Int64", 64), ("b", "Int8", None)),
    B("BitsFull32", "a 32-bit field of a uint32, then 8 bits", ("a", "Uint32", 32), ("b", "Uint32", 8)),
    B("BitsExact64", "eight 8-bit uint64 fields fill one word", *[(f"f{i}", "Uint64", 8) for i in range(8)]),
    B("BitsLarge", "bit fields over 24 bytes: memory",
      ("a", "Uint64", 40), ("b", "Uint64", 40), ("c", "Uint64", 40), ("d", "Uint64", 40), many=True),
    B("BitsNested", "a bit-field struct nested in a struct with a double",
      ("h", "Int16", None), ("a", "Uint16", 4), ("b", "Uint16", 4), ("x", "Double", None), many=True),
    B("BitsUint8Many", "many 1-bit uint8 fields across 2 bytes",
      *[(f"b{i}", "Uint8", 1) for i in range(11)]),
    B("BitsSignedWide", "a 40-bit signed int64 field next to a 24-bit one",
      ("a", "Int64", 40), ("b", "Int64", 24), many=True),
]

CASES: list[Case] = HAND + HOMOGENEOUS + PAIRS + PACKED + UNIONS + BITFIELDS


def all_cases() -> list[Case]:
    """Every case and every case nested in one, each once, dependencies first."""
    seen: dict[str, Case] = {}

    def visit(t: Any) -> None:
        if isinstance(t, Arr):
            visit(t.elem)
        elif isinstance(t, Case):
            for f in t.fields:
                visit(f.type)
            if t.name not in seen:
                seen[t.name] = t
            elif seen[t.name] != t:
                raise ValueError(f"two different cases named {t.name}")

    for c in CASES:
        visit(c)
    return list(seen.values())


# -- Values ---------------------------------------------------------------------------------------------------

def _h(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def value_for(t: str, bits: Optional[int], key: str) -> Any:
    """A deterministic value of scalar type `t` (within `bits` for bit fields) for the field path `key`."""
    h = _h(key)
    cls = SCALARS[t][1]
    if cls == "f":
        return ((h % 4001) - 2000) / 8
    if cls == "b":
        return bool(h & 1)
    if cls == "p":
        return (h % (1 << 44)) * 16
    w = bits if bits is not None else 8 * scalar_size(t)
    u = h % (1 << w)
    return u - (1 << w) if cls == "s" and u >= 1 << (w - 1) else u


def leaves(case: Case, key: str, path: str = "") -> list[tuple[str, str, Optional[int], Any]]:
    """(path, scalar type, bits, value) for every value-holding scalar of `case`, in dump order."""
    out: list[tuple[str, str, Optional[int], Any]] = []

    def walk(t: Any, bits: Optional[int], p: str) -> None:
        if isinstance(t, str):
            out.append((p, t, bits, value_for(t, bits, key + p)))
        elif isinstance(t, Arr):
            for idx in itertools.product(*(range(d) for d in t.dims)):
                walk(t.elem, None, p + "".join(f"[{i}]" for i in idx))
        else:
            for f in t.value_fields():
                walk(f.type, f.bits, f"{p}.{f.name}")

    walk(case, None, path)
    return out


def fmt(t: str, v: Any) -> str:
    """A scalar as C's dump prints it."""
    cls = SCALARS[t][1]
    if cls == "f":
        return "%.17g" % v
    if cls == "b":
        return str(int(v))
    return str(int(v))


# -- C generation ------------------------------------------------------------------------------------------

def c_type(t: Any) -> str:
    return SCALARS[t][0] if isinstance(t, str) else t.name if isinstance(t, Case) else c_type(t.elem)


def c_decl(c: Case) -> str:
    lines = []
    if c.pack:
        lines.append(f"#pragma pack(push, {c.pack})")
    lines.append(f"typedef {c.kind} {c.name} {{")
    for f in c.fields:
        if f.bits == 0:
            lines.append(f"    {c_type(f.type)} : 0;")
        elif f.bits is not None:
            lines.append(f"    {c_type(f.type)} {f.name} : {f.bits};")
        elif isinstance(f.type, Arr):
            lines.append(f"    {c_type(f.type)} {f.name}{''.join(f'[{d}]' for d in f.type.dims)};")
        else:
            lines.append(f"    {c_type(f.type)} {f.name};")
    lines.append(f"}} {c.name};")
    if c.pack:
        lines.append("#pragma pack(pop)")
    return "\n".join(lines)


def _c_print(t: str, expr: str) -> tuple[str, str]:
    cls = SCALARS[t][1]
    if cls == "f":
        return "%.17g", f"(double)({expr})"
    if cls == "s":
        return "%lld", f"(long long)({expr})"
    if cls == "p":
        return "%llu", f"(unsigned long long)(uintptr_t)({expr})"
    if cls == "b":
        return "%d", f"(int)({expr})"
    return "%llu", f"(unsigned long long)({expr})"


def c_dump(c: Case) -> str:
    """static char *dump_NAME(const NAME *p, char *o, const char *pre): appends "path=value;" per leaf."""
    body = [f"static char *dump_{c.name}(const {c.name} *p, char *o, const char *pre)", "{", "    char path[512];"]
    for f in c.value_fields():
        t = f.type
        if isinstance(t, Arr):
            idx = [f"i{k}" for k in range(len(t.dims))]
            for k, d in enumerate(t.dims):
                body.append("    " * (k + 1) + f"for (int i{k} = 0; i{k} < {d}; i{k}++)")
            ind = "    " * (len(t.dims) + 1)
            sub = "".join(f"[{i}]" for i in idx)
            pfmt = "%s." + f.name + "[%d]" * len(idx)
            if isinstance(t.elem, Case):
                body.append(ind + f"{{ snprintf(path, sizeof path, \"{pfmt}\", pre, {', '.join(idx)}); "
                                  f"o = dump_{t.elem.name}(&p->{f.name}{sub}, o, path); }}")
            else:
                spec, arg = _c_print(t.elem, f"p->{f.name}{sub}")
                body.append(ind + f"o += sprintf(o, \"{pfmt}={spec};\", pre, {', '.join(idx)}, {arg});")
        elif isinstance(t, Case):
            body.append(f"    snprintf(path, sizeof path, \"%s.{f.name}\", pre);")
            body.append(f"    o = dump_{t.name}(&p->{f.name}, o, path);")
        else:
            spec, arg = _c_print(t, f"p->{f.name}")
            body.append(f"    o += sprintf(o, \"%s.{f.name}={spec};\", pre, {arg});")
    body += ["    return o;", "}"]
    return "\n".join(body)


def _c_literal(t: str, v: Any) -> str:
    cls = SCALARS[t][1]
    if cls == "f":
        return repr(float(v)) + ("f" if t == "Float" else "")
    if cls == "b":
        return "1" if v else "0"
    if cls == "p":
        return f"(void *)(uintptr_t){v}ULL"
    if v == -(1 << 63):
        return "(-9223372036854775807LL - 1)"
    return f"{v}LL" if v < 0 else f"{v}ULL"


def c_functions(c: Case) -> str:
    n = c.name
    offs = [f"offsetof({n}, {f.name})" if f.bits is None else "(size_t)-1" for f in c.fields if f.bits != 0]
    assigns = [f"    s{p} = {_c_literal(t, v)};" for p, t, _, v in leaves(c, f"make:{n}")]
    out = [
        c_dump(c),
        f"void nf_layout_{n}(size_t *out) {{ size_t v[] = {{sizeof({n}), _Alignof({n}), "
        f"{', '.join(offs)}}}; memcpy(out, v, sizeof v); }}",
        f"void nf_dump_{n}(const {n} *p, char *out) {{ *dump_{n}(p, out, \"\") = 0; }}",
        f"void nf_take_{n}({n} s, char *out) {{ *dump_{n}(&s, out, \"\") = 0; }}",
        f"{n} nf_make_{n}(void)",
        "{",
        f"    {n} s;",
        "    memset(&s, 0, sizeof s);",
        *assigns,
        "    return s;",
        "}",
        f"void nf_expect_{n}(char *out) {{ {n} s = nf_make_{n}(); *dump_{n}(&s, out, \"\") = 0; }}",
        f"{n} nf_echo_{n}({n} s) {{ return s; }}",
    ]
    if c.many:
        params = ", ".join(f"{n} a{i}" for i in range(10))
        dumps = " ".join(f"o = dump_{n}(&a{i}, o, \"{i}\"); *o++ = '|';" for i in range(10))
        out.append(f"void nf_take10_{n}({params}, char *out) {{ char *o = out; {dumps} *o = 0; }}")
        out.append(
            f"void nf_after_{n}(int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t i4, int64_t i5, "
            "double d0, double d1, double d2, double d3, double d4, double d5, double d6, double d7, "
            f"{n} s, int32_t tail, char *out)\n{{\n"
            "    char *o = out + sprintf(out, \"%lld,%lld,%lld,%lld,%lld,%lld|\", (long long)i0, (long long)i1, "
            "(long long)i2, (long long)i3, (long long)i4, (long long)i5);\n"
            "    o += sprintf(o, \"%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g|\", d0, d1, d2, d3, d4, d5, d6, d7);\n"
            f"    o = dump_{n}(&s, o, \"\");\n"
            "    sprintf(o, \"|%d\", (int)tail);\n}")
    return "\n".join(out)


def generate_c(cases: Optional[list[Case]] = None) -> str:
    """The C oracle for `cases` (default: the whole matrix, with every nested case)."""
    cs = all_cases() if cases is None else cases
    parts = ["/* Generated by tests/compound_cases.py: the compound-type matrix as C. Do not edit. */",
             "#include <stddef.h>", "#include <stdint.h>", "#include <stdio.h>", "#include <string.h>", ""]
    for c in cs:
        parts.append(f"/* {c.name}: {c.reason} */")
        parts.append(c_decl(c))
        parts.append(c_functions(c))
        parts.append("")
    return "\n".join(parts)


if __name__ == "__main__":
    print(generate_c())
