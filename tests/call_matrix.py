"""The call-stub correctness matrix as data, and the generator of its C side.

Every case is a signature with the reason it is in the matrix. For each case the generator writes a C
function that records every argument it receives (``m_seen``) and returns a value mixed from all of their
bits, and an oracle that calls it directly from C with the case's values and stores the result
(``m_ret``): the C compiler is the ABI oracle. The tests call the same function through nativeffi and
compare the recorded arguments and the result with the oracle's.
"""
from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from typing import Any, Optional

import nativeffi as nf

# code: (C type, nativeffi type, register file, ctypes-readable slot field)
TYPES: dict[str, tuple[str, Any, str, str]] = {
    "i8": ("int8_t", nf.Int8, "g", "i"), "u8": ("uint8_t", nf.Uint8, "g", "u"),
    "i16": ("int16_t", nf.Int16, "g", "i"), "u16": ("uint16_t", nf.Uint16, "g", "u"),
    "i32": ("int32_t", nf.Int32, "g", "i"), "u32": ("uint32_t", nf.Uint32, "g", "u"),
    "i64": ("int64_t", nf.Int64, "g", "i"), "u64": ("uint64_t", nf.Uint64, "g", "u"),
    "f32": ("float", nf.Float, "f", "d"), "f64": ("double", nf.Double, "f", "d"),
    "bool": ("_Bool", nf.Bool, "g", "u"), "ptr": ("void *", nf.Pointer[nf.Void], "g", "u"),
}
SCALARS = list(TYPES)
RANGES = {"i8": (-2**7, 2**7 - 1), "u8": (0, 2**8 - 1), "i16": (-2**15, 2**15 - 1), "u16": (0, 2**16 - 1),
          "i32": (-2**31, 2**31 - 1), "u32": (0, 2**32 - 1), "i64": (-2**63, 2**63 - 1), "u64": (0, 2**64 - 1)}


@dataclass
class Case:
    """One signature of the matrix."""

    name: str
    ret: str                    # a TYPES code or "void"
    args: list[str]
    reason: str
    variadic_from: Optional[int] = None   # index of the first variadic argument, if any
    values: list[Any] = field(default_factory=list)

    def registers(self) -> tuple[int, int]:
        """(integer, floating) registers the arguments need."""
        g = sum(1 for a in self.args if TYPES[a][2] == "g")
        return g, len(self.args) - g

    def expected_path(self, abi: Optional[str], regs: tuple[int, int, int]) -> str:
        """The call path the plan must choose on this build, given its (integer, floating) argument registers
        and stack words: a stub name, or 'libffi'."""
        g, f = self.registers()
        stack = max(0, g - regs[0]) + max(0, f - regs[1])
        if abi is None or self.variadic_from is not None or stack > regs[2]:
            return "libffi"
        rc = {"f32": "f32", "f64": "f64"}.get(self.ret, "int")
        return f"stub {rc}/g{'f' if f else ''}{'s' if stack else ''}"

    def expected_entry(self, abi: Optional[str], regs: tuple[int, int, int]) -> Optional[str]:
        """The direct entry of the builtin form ('direct <return class>/<shape>'), or None if it has none."""
        if len(self.args) > 3 or not self.expected_path(abi, regs).startswith("stub"):
            return None
        rc = {"f32": "f32", "f64": "f64"}.get(self.ret, "int")
        return f"direct {rc}/{''.join(TYPES[a][2] for a in self.args) or 'v'}"


def _cases() -> list[Case]:
    cs: list[Case] = []
    for t in SCALARS:
        cs.append(Case(f"one_{t}", t, [t], f"one {t} argument and a {t} return: widening, then narrowing"))
        cs.append(Case(f"ret_{t}", t, [], f"{t} return with no arguments"))
        cs.append(Case(f"fp_{t}", t, ["f64", t, "f32", t],
                       f"{t} between floating arguments: the integer-and-floating stub of the {t} return class"))
    cs.append(Case("ret_void", "void", [], "void return, no arguments"))
    cs.append(Case("void_mixed", "void", ["i32", "f64", "ptr"], "void return with mixed arguments"))
    for k in range(0, 18):
        cs.append(Case(f"ints_{k}", "i64", ["i64"] * k,
                       f"{k} integer arguments: registers, then up to 8 stack words (a stub), libffi past them"))
    for k in range(0, 18):
        cs.append(Case(f"dbls_{k}", "f64", ["f64"] * k,
                       f"{k} double arguments: 8 floating registers, then up to 8 stack words, libffi past them"))
    for k in range(1, 18):
        cs.append(Case(f"flts_{k}", "f32", ["f32"] * k,
                       f"{k} float arguments: each a 32-bit pattern in the low half of its register or stack word"))
    cs.append(Case("alt_if", "i64", ["i64", "f64"] * 3, "alternating integer and double: counted independently"))
    cs.append(Case("alt_fi", "f64", ["f64", "i32"] * 4, "alternating double and int32, double first"))
    cs.append(Case("narrow_mix", "i32", ["i8", "f32", "u8", "i16", "f64", "u16", "bool", "u32", "f32"],
                   "every narrow type between floats: each extended on its own"))
    cs.append(Case("full_x86", "f64", ["i64", "f64", "u8", "f32", "ptr", "f64", "i16", "f64", "u32", "f32",
                                       "f64", "i8", "f64", "f32"],
                   "6 integer and 8 floating arguments interleaved: every x86-64 argument register"))
    cs.append(Case("full_x86_plus_int", "f64", ["i64"] * 7 + ["f64"] * 8,
                   "7 integer and 8 floating arguments: one integer on the stack on x86-64 (libffi)"))
    cs.append(Case("full_x86_plus_dbl", "i64", ["i64"] * 6 + ["f64"] * 9,
                   "6 integer and 9 floating arguments: one double on the stack (libffi)"))
    cs.append(Case("full_a64", "i64", ["i64", "f64"] * 8,
                   "8 integer and 8 floating arguments: every AArch64 argument register (libffi on x86-64)"))
    narrow = ["i8", "u8", "i16", "u16", "i32", "u32", "bool", "ptr"]
    cs.append(Case("stack_narrow", "i16", ["i64"] * 8 + narrow,
                   "every narrow type in a stack word of its own (low bytes), after the integer registers"))
    cs.append(Case("stack_mixed", "f32", ["f64"] * 8 + ["i64"] * 8 + ["f32", "u8", "f64", "i16", "f32", "bool"],
                   "floats, doubles and integers interleaved on the stack once both register files are full"))
    cs.append(Case("stack_full_x86", "f64", ["i64"] * 6 + ["f64"] * 8 + ["i32", "f64"] * 4,
                   "all x86-64 registers and 8 stack words: the largest signature of the x86-64 stack stubs"))
    cs.append(Case("stack_over_x86", "f64", ["i64"] * 6 + ["f64"] * 8 + ["i32", "f64"] * 4 + ["u8"],
                   "one stack word more than the stubs pass on x86-64: libffi"))
    cs.append(Case("stack_full_a64", "u64", ["i64"] * 8 + ["f64"] * 8 + ["u32", "f32"] * 4,
                   "all AArch64 registers and 8 stack words: the largest signature of the AArch64 stack stubs"))
    cs.append(Case("stack_over_a64", "u64", ["i64"] * 8 + ["f64"] * 8 + ["u32", "f32"] * 4 + ["i8"],
                   "one stack word more than the stubs pass on AArch64: libffi"))
    cs.append(Case("stack_ret_f32", "f32", ["i32"] * 7, "a float return after one integer stack word on x86-64"))
    cs.append(Case("stack_ret_f32_a64", "f32", ["i32"] * 9,
                   "a float return after one integer stack word on AArch64 (8 integer registers there)"))
    cs.append(Case("stack_ret_f64", "f64", ["u64"] * 9, "a double return after integer stack words only"))
    cs.append(Case("ptrs", "ptr", ["ptr", "i32", "ptr", "ptr"], "pointers in integer registers, pointer return"))
    # Stub calls of up to 3 scalars (no errno capture) take a direct entry per shape (integer or floating register per
    # argument) and return class (integer, float, double): every one of them, with varied types in each place.
    gs, fs = ["i8", "u16", "i32", "u64", "bool", "ptr", "i64", "u8", "i16", "u32"], ["f32", "f64"]
    rets = {"int": ["i64", "u8", "i16", "u32", "bool", "ptr", "void", "i8", "u64", "i32"], "f32": ["f32"],
            "f64": ["f64"]}
    k = 0
    for n in range(4):
        for bits in range(1 << n):
            shape = "".join("f" if bits >> (n - 1 - i) & 1 else "g" for i in range(n))
            for rc, rts in rets.items():
                args = [fs[(k + i) % 2] if c == "f" else gs[(k + i) % len(gs)] for i, c in enumerate(shape)]
                cs.append(Case(f"direct_{rc}_{shape or 'v'}", rts[k % len(rts)], args,
                               f"direct entry {rc}/{shape or 'v'}: {n} argument(s) in these register files"))
                k += 1
    cs.append(Case("varargs", "i64", ["i32", "i64", "f64", "i64", "f64"],
                   "variadic: x86-64 needs %al set, so libffi", variadic_from=1))
    return cs


CASES = _cases()


def _value(t: str, rng: random.Random, i: int) -> Any:
    if t in RANGES:
        lo, hi = RANGES[t]
        edges = [lo, hi, 0, -1 if lo < 0 else 1, lo + 1, hi - 1]
        return edges[i % len(edges)] if rng.random() < 0.5 else rng.randint(lo, hi)
    if t == "f64":
        return rng.choice([-1.0, 1.0]) * rng.random() * 10.0 ** rng.randint(-300, 300)
    if t == "f32":
        return struct.unpack("f", struct.pack("f", rng.choice([-1.0, 1.0]) * rng.random() *
                                              10.0 ** rng.randint(-30, 30)))[0]
    if t == "bool":
        return bool(i % 2) if rng.random() < 0.5 else rng.random() < 0.5
    return rng.randrange(1, 2**47) << 3   # ptr: never dereferenced


for _c in CASES:
    _rng = random.Random(_c.name)
    _c.values = [_value(t, _rng, i) for i, t in enumerate(_c.args)]


def _c_literal(t: str, v: Any) -> str:
    if t in RANGES:
        if v == -2**63:
            return "(-9223372036854775807LL - 1)"
        return f"{v}ULL" if t.startswith("u") else f"{v}LL"
    if t == "f64":
        return v.hex()
    if t == "f32":
        return v.hex() + "f"
    if t == "bool":
        return "1" if v else "0"
    return f"(void *)(uintptr_t){v}ULL"


def _bits(t: str, name: str) -> str:
    if t == "f32":
        return f"f32bits({name})"
    if t == "f64":
        return f"f64bits({name})"
    if t == "ptr":
        return f"(uint64_t)(uintptr_t){name}"
    if t.startswith("i"):
        return f"(uint64_t)(int64_t){name}"
    return f"(uint64_t){name}"


def _record(t: str, name: str) -> str:
    field_ = TYPES[t][3]
    value = f"(uintptr_t){name}" if t == "ptr" else name
    return f"m_seen_[{{i}}].{field_} = {value};"


def _from_hash(t: str) -> str:
    if t == "f64":
        return "(double)(h >> 11) / 1024.0"
    if t == "f32":
        return "(float)(h >> 40) / 8.0f"
    if t == "bool":
        return "(_Bool)(h & 1)"
    if t == "ptr":
        return "(void *)(uintptr_t)h"
    return f"({TYPES[t][0]})h"


PRELUDE = r"""/* Generated by tests/call_matrix.py: the call-stub correctness matrix. Do not edit. */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#define EXPORT __attribute__((visibility("default")))
typedef union { int64_t i; uint64_t u; double d; } slot;
EXPORT slot m_seen[32];
EXPORT slot m_ret;
static slot m_seen_[32];
static uint64_t f32bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static uint64_t f64bits(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }
static uint64_t mix(uint64_t h, uint64_t v, int i) { return (h ^ (v + (uint64_t)i * 0x9E3779B97F4A7C15ULL)) * 1000003ULL; }
static void publish(int n) { memcpy(m_seen, m_seen_, sizeof m_seen_); (void)n; }
"""


def _function(c: Case) -> str:
    rt = "void" if c.ret == "void" else TYPES[c.ret][0]
    lines = []
    if c.variadic_from is not None:
        fixed = c.args[:c.variadic_from]
        params = ", ".join(f"{TYPES[t][0]} a{i}" for i, t in enumerate(fixed)) + ", ..."
        lines.append(f"EXPORT {rt} m_{c.name}({params})\n{{\n    uint64_t h = 17;\n    va_list ap;\n"
                     f"    va_start(ap, a{c.variadic_from - 1});")
        for i, t in enumerate(c.args):
            if i >= c.variadic_from:
                promoted = {"f32": "double", "i8": "int", "u8": "int", "i16": "int", "u16": "int",
                            "bool": "int"}.get(t, TYPES[t][0])
                lines.append(f"    {TYPES[t][0]} a{i} = ({TYPES[t][0]})va_arg(ap, {promoted});")
        lines.append("    va_end(ap);")
    else:
        params = ", ".join(f"{TYPES[t][0]} a{i}" for i, t in enumerate(c.args)) or "void"
        lines.append(f"EXPORT {rt} m_{c.name}({params})\n{{\n    uint64_t h = 17;")
    for i, t in enumerate(c.args):
        lines.append("    " + _record(t, f"a{i}").replace("{i}", str(i)) + f" h = mix(h, {_bits(t, f'a{i}')}, {i});")
    lines.append(f"    publish({len(c.args)});")
    if c.ret != "void":
        lines.append(f"    return {_from_hash(c.ret)};")
    lines.append("}")
    call = f"m_{c.name}({', '.join(_c_literal(t, v) for t, v in zip(c.args, c.values))})"
    if c.ret == "void":
        store = f"{call};"
    elif c.ret == "ptr":
        store = f"m_ret.u = (uintptr_t){call};"
    else:
        store = f"m_ret.{TYPES[c.ret][3]} = {call};"
    lines.append(f"EXPORT void o_{c.name}(void) {{ memset(&m_ret, 0, sizeof m_ret); {store} }}")
    return "\n".join(lines) + "\n"


# Probes of the register contract itself: the C side declares full 64-bit registers, nativeffi the narrow type.
EXTEND = ["i8", "u8", "i16", "u16", "i32", "u32", "bool"]
NARROW_RET = {"i8": 0x12345678_9ABCDEF0, "u8": 0x12345678_9ABCDEF0, "i16": 0x0BADF00D_0000FFFE,
              "u16": 0x0BADF00D_0000FFFE, "i32": 0xFFFF0000_80000001, "u32": 0xFFFF0000_80000001,
              "bool": 0xFFFFFFFF_FFFFFF01, "f32": 0x7FF12345_3FC00000}


def _probes() -> str:
    out = ["/* Widening probes: the callee reads the whole register the narrow argument travelled in. */"]
    for t in EXTEND:
        out.append(f"EXPORT uint64_t x_{t}(uint64_t raw) {{ return raw; }}")
    out.append("/* Narrowing probes: the register holds more than the narrow return type. */")
    for t, v in NARROW_RET.items():
        if t == "f32":
            out.append(f"EXPORT double r_{t}(void) {{ uint64_t b = {v}ULL; double d; memcpy(&d, &b, 8); return d; }}")
        else:
            out.append(f"EXPORT uint64_t r_{t}(void) {{ return {v}ULL; }}")
    return "\n".join(out) + "\n"


def c_source() -> str:
    """The whole C file of the matrix."""
    return PRELUDE + "\n".join(_function(c) for c in CASES) + _probes() + c_source_structs()


# -- Structs by value: one shape per register class of the stubs ---------------------------------------------

@dataclass
class StructShape:
    """A struct passed and returned by value: its fields (name, TYPES code) and why it is in the matrix."""

    name: str
    fields: list[tuple[str, str]]
    reason: str

    @property
    def size(self) -> int:
        """sizeof the C struct (natural alignment, as the compiler lays it out)."""
        off, align = 0, 1
        for _, t in self.fields:
            n = _SIZES[t]
            off = (off + n - 1) // n * n + n
            align = max(align, n)
        return (off + align - 1) // align * align

    def stub_argument(self, abi: Optional[str]) -> bool:
        """Whether a stub passes it as an argument: x86-64 in registers or in up to 4 stack words (32
        bytes); AArch64 only in registers (16 bytes, or a homogeneous float aggregate of up to 4)."""
        if abi is None:
            return False
        if abi.startswith("x86-64"):
            return self.size <= 32
        kinds = {t for _, t in self.fields}
        return self.size <= 16 or (len(kinds) == 1 and kinds <= {"f32", "f64"} and len(self.fields) <= 4)


_SIZES = {"i8": 1, "u8": 1, "bool": 1, "i16": 2, "u16": 2, "i32": 4, "u32": 4, "f32": 4, "i64": 8, "u64": 8,
          "f64": 8, "ptr": 8}


STRUCTS = [
    StructShape("dd", [("x", "f64"), ("y", "f64")], "two doubles: SSE+SSE on x86-64, a double HFA on AArch64"),
    StructShape("ll", [("a", "i64"), ("b", "i64")], "two int64: INTEGER+INTEGER, two x registers"),
    StructShape("ld", [("a", "i64"), ("b", "f64")], "int64 then double: INTEGER+SSE"),
    StructShape("dl", [("a", "f64"), ("b", "i64")], "double then int64: SSE+INTEGER"),
    StructShape("fff", [("x", "f32"), ("y", "f32"), ("z", "f32")],
                "three floats, 12 bytes: two floats share one SSE eightbyte; a float HFA of 3"),
    StructShape("ff", [("x", "f32"), ("y", "f32")], "two floats, 8 bytes: one SSE eightbyte"),
    StructShape("ci", [("c", "i8"), ("i", "i32")], "int8 and int32 with padding: one INTEGER eightbyte"),
    StructShape("fi", [("f", "f32"), ("i", "i32")], "float and int32 in one eightbyte: INTEGER wins"),
    StructShape("i3", [("a", "i32"), ("b", "i32"), ("c", "i32")], "three int32, 12 bytes: INTEGER+INTEGER"),
    StructShape("ffff", [("a", "f32"), ("b", "f32"), ("c", "f32"), ("d", "f32")], "four floats: SSE+SSE, HFA of 4"),
    StructShape("ddd", [("x", "f64"), ("y", "f64"), ("z", "f64")],
                "24 bytes: returned in memory (x86-64: hidden pointer in rdi), passed in 3 stack words (x86-64 "
                "stubs) or by reference (AArch64: libffi)"),
    StructShape("dddd", [("a", "f64"), ("b", "f64"), ("c", "f64"), ("d", "f64")],
                "32 bytes: the largest struct in stack words on x86-64 (4); a double HFA of 4 on AArch64"),
    StructShape("lcl5", [("a", "i64"), ("c", "i8"), ("b", "i64"), ("d", "i32"), ("e", "i64")],
                "40 bytes: 5 stack words, more than a struct may take in the x86-64 stubs (libffi)"),
]


def struct_values(s: StructShape) -> list[Any]:
    """Deterministic field values for a shape."""
    rng = random.Random("struct " + s.name)
    return [_value(t, rng, i) for i, (_, t) in enumerate(s.fields)]


def _struct_c(s: StructShape) -> str:
    decl = "typedef struct { " + " ".join(f"{TYPES[t][0]} {n};" for n, t in s.fields) + f" }} s_{s.name};"
    params = ", ".join(f"{TYPES[t][0]} {n}" for n, t in s.fields)
    init = ", ".join(n for n, _ in s.fields)
    record = " ".join(f"m_seen_[{i}].{TYPES[t][3]} = a.{n};" for i, (n, t) in enumerate(s.fields))
    k = len(s.fields)
    return "\n".join([
        decl,
        f"EXPORT s_{s.name} sm_make_{s.name}({params}) {{ s_{s.name} r = {{{init}}}; return r; }}",
        f"EXPORT void sm_take_{s.name}(s_{s.name} a, int64_t tail) {{ {record} m_seen_[{k}].i = tail; publish(0); }}",
        # last, after 5 int64 and 7 doubles: a struct needing two registers of one kind no longer fits on x86-64
        f"EXPORT void sm_late_{s.name}(int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t i4, double d0, "
        f"double d1, double d2, double d3, double d4, double d5, double d6, s_{s.name} a) "
        f"{{ {record} m_seen_[{k}].i = i0 + i1 + i2 + i3 + i4 + (int64_t)(d0 + d1 + d2 + d3 + d4 + d5 + d6); "
        f"publish(0); }}",
        # after 5 int64: a struct needing two integer registers goes on the stack on x86-64, and the int64
        # after it still takes the last integer register
        f"EXPORT void sm_skip_{s.name}(int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t i4, s_{s.name} a, "
        f"int64_t tail) {{ {record} m_seen_[{k}].i = tail; m_seen_[{k + 1}].i = i0 + i1 + i2 + i3 + i4; "
        f"publish(0); }}",
        # after 7 int64 (one already on the stack): the struct takes the next stack words, or the floating
        # registers if it is all SSE, and the int64 after it the word after those
        f"EXPORT void sm_deep_{s.name}(int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t i4, int64_t i5, "
        f"int64_t i6, s_{s.name} a, int64_t tail) {{ {record} m_seen_[{k}].i = tail; "
        f"m_seen_[{k + 1}].i = i0 + i1 + i2 + i3 + i4 + i5 + 1000 * i6; publish(0); }}",
    ]) + "\n"


NESTED_C = r"""
/* A 320-byte struct returned by value (memory class on both ABIs), and a function that returns one after
   calling back into Python, which makes another such call while the first one's return memory is in use. */
typedef struct { double v[40]; } s_big;
EXPORT s_big bg_make(double seed) { s_big b; for (int i = 0; i < 40; i++) b.v[i] = seed + i; return b; }
EXPORT s_big bg_nested(double seed, void (*cb)(void))
{
    s_big b;
    for (int i = 0; i < 40; i++) b.v[i] = seed * 2 + i;
    cb();
    return b;
}
"""


def c_source_structs() -> str:
    """The struct part of the matrix (appended to c_source())."""
    return "/* Structs by value. */\n" + "".join(_struct_c(s) for s in STRUCTS) + NESTED_C
