"""The core's layout rules of each ABI (x86-64 SysV and AArch64) checked against that ABI's own C compiler.

The compound matrix (test_compound_matrix.py) checks the rules of the platform the tests run on, end to end. Here
every matrix case is laid out by both ABIs' rules (set_layout's `abi`) on any platform, and compared with what each
ABI's GCC computes at compile time (its assembly, so a cross compiler needs no emulator): the x86-64 compiler on
x86-64 and `aarch64-linux-gnu-gcc` for AArch64 (build.abi_compiler: $CC for the host's ABI, $CC_SYSV/$CC_AARCH64 or
Debian's cross compiler names for the other).
"""
from __future__ import annotations

import functools
import re
import subprocess
from typing import Any

import pytest

import compound_cases as cc
import nativeffi
from build import BUILD, HOST_ABI, abi_compiler
from nativeffi import _core
from nativeffi.types import native_type

ABIS = ["sysv", "aarch64"]
CASES = cc.all_cases()


@functools.lru_cache(maxsize=None)
def compiler_layouts(abi: str) -> dict[str, list[int]]:
    """{case name: [sizeof, alignof, offsets of the value fields (bit fields: 2**64 - 1)]} from the ABI's compiler."""
    exe = abi_compiler(abi)
    if exe is None:
        pytest.skip(f"no C compiler for {abi} is installed (install gcc-aarch64-linux-gnu, or set "
                    f"CC_{abi.upper()}; .ci/aarch64 installs it)")
    lines = ["#include <stdint.h>", "#include <stddef.h>", "#include <stdbool.h>"]
    for c in CASES:
        offs = [f"offsetof({c.name}, {f.name})" if f.bits is None else "(uint64_t)-1"
                for f in c.fields if f.bits != 0]
        lines += [cc.c_decl(c),
                  f"const uint64_t nf_lay_{c.name}[] = {{sizeof({c.name}), _Alignof({c.name}), {', '.join(offs)}}};"]
    BUILD.mkdir(exist_ok=True)
    src = BUILD / f"layout_{abi}.c"
    src.write_text("\n".join(lines) + "\n")
    # freestanding: the compiler's own stdint.h/stddef.h, so a cross compiler needs no target C library
    r = subprocess.run([exe, "-S", "-O0", "-std=gnu11", "-ffreestanding", "-o", "-", str(src)], capture_output=True,
                       text=True)
    assert r.returncode == 0, f"{exe} failed on {src}:\n{r.stderr[-2000:]}"
    return parse_asm(r.stdout)


def parse_asm(asm: str) -> dict[str, list[int]]:
    """The 8-byte values under each nf_lay_NAME label of GCC's assembly (.quad/.xword/.8byte; .zero for zeros)."""
    out: dict[str, list[int]] = {}
    cur: list[int] | None = None
    for line in asm.splitlines():
        m = re.match(r"^nf_lay_(\w+):", line)
        if m:
            cur = out.setdefault(m.group(1), [])
            continue
        m = re.match(r"^\s+\.(quad|xword|8byte|dword)\s+(-?\d+)", line)
        if m and cur is not None:
            cur.append(int(m.group(2)) % 2**64)
            continue
        m = re.match(r"^\s+\.zero\s+(\d+)", line)
        if m and cur is not None:
            cur.extend([0] * (int(m.group(1)) // 8))
            continue
        if not line.startswith("\t.") or line.strip().startswith((".size", ".type", ".globl", ".section")):
            cur = None if not line.strip().startswith(".") else cur
    return out


def laid_out(case: cc.Case, abi: str, made: dict[str, Any]) -> Any:
    """The case's CType laid out by `abi`'s rules (nested cases too), through the core's set_layout."""
    if case.name in made:
        return made[case.name]

    def ctype(t: Any) -> Any:
        if isinstance(t, str):
            return native_type(nativeffi.Pointer if t == "Pointer" else getattr(nativeffi, t))
        if isinstance(t, cc.Arr):
            inner = ctype(t.elem)
            for d in reversed(t.dims):
                inner = _core.array_type(inner, d)
            return inner
        return laid_out(t, abi, made)

    ct = _core.compound_type(case.kind, case.name)
    specs = [(f.name, ctype(f.type), -1 if f.bits is None else f.bits) for f in case.fields]
    _core.set_layout(ct, specs, case.pack, abi)
    made[case.name] = ct
    return ct


def our_layout(case: cc.Case, abi: str) -> list[int]:
    """[sizeof, alignof, offsets of the value fields (bit fields: 2**64 - 1)] by the core's rules for `abi`."""
    ct = laid_out(case, abi, {})
    return [ct.size, ct.align] + [f.offset if f.bit_width is None else 2**64 - 1 for f in ct.fields]


@pytest.mark.parametrize("abi", ABIS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_layout_matches_the_abis_compiler(case: cc.Case, abi: str) -> None:
    """sizeof, alignof and field offsets by the core's rules for `abi` agree with that ABI's GCC."""
    want = compiler_layouts(abi)[case.name]
    assert our_layout(case, abi) == want, case.reason


ZERO_WIDTH = {
    # case: (x86-64 size, align), (AArch64 size, align), as GCC lays them out
    "BitsZeroWidthInt": ((5, 1), (8, 4)),
    "BitsPack1ZeroWidth": ((5, 1), (8, 4)),
    "BitsUnionZeroWidth": ((1, 1), (4, 4)),
}


@pytest.mark.parametrize("name", sorted(ZERO_WIDTH))
def test_zero_width_bit_fields_differ_by_abi(name: str) -> None:
    """A zero-width bit field raises the alignment on AArch64 only, also under pack(1) and in unions."""
    case = next(c for c in CASES if c.name == name)
    sysv, arm = ZERO_WIDTH[name]
    assert our_layout(case, "sysv")[:2] == list(sysv)
    assert our_layout(case, "aarch64")[:2] == list(arm)


def test_host_layout_is_the_host_abis() -> None:
    """A struct declared normally is laid out by the rules of the ABI the tests run on."""
    if HOST_ABI is None:
        pytest.skip("the tests run on an ABI the core has no layout rules of its own for")
    case = next(c for c in CASES if c.name == "BitsZeroWidthInt")
    cls = type("Z", (nativeffi.Struct,), {"__annotations__": {
        "a": nativeffi.Bits[nativeffi.Int8, 3], "_z": nativeffi.Bits[nativeffi.Int32, 0], "b": nativeffi.Int8}})
    assert [nativeffi.sizeof(cls), nativeffi.alignof(cls)] == our_layout(case, HOST_ABI)[:2]


def test_foreign_abi_layout_is_not_passable_by_value() -> None:
    """A type laid out for another ABI is only measured: it has no libffi description."""
    other = "aarch64" if HOST_ABI != "aarch64" else "sysv"
    ct = _core.compound_type("struct", "Foreign")
    _core.set_layout(ct, [("a", native_type(nativeffi.Int32), -1)], 0, other)
    assert _core._layout_info(ct)["by_value"] is False


def test_set_layout_rejects_unknown_abi() -> None:
    """An ABI the core has no rules for is a ValueError naming the choices."""
    ct = _core.compound_type("struct", "T")
    with pytest.raises(ValueError, match="'sysv' or 'aarch64'.*'mips'"):
        _core.set_layout(ct, [("a", native_type(nativeffi.Int32), -1)], 0, "mips")
