"""What a library exports, for error messages: the ELF dynamic symbol table, read with the standard library.

Used only when a symbol cannot be resolved, to name the libraries searched and suggest the names meant.
Every function here is best-effort: a file that cannot be read or parsed exports nothing as far as the
message is concerned (the suggestion is left out), never an error of its own.

Example:
    >>> from nativeffi import _symbols
    >>> "strlen" in _symbols.exported(_symbols.library_of("strlen") or "")
    True
"""
from __future__ import annotations

import difflib
import functools
import os
import struct
from typing import BinaryIO, Iterable, Optional

from . import _core

__all__ = ["exported", "loaded", "global_libraries", "library_of", "close_matches", "core_path"]

_SHT_DYNSYM = 11
_DEFINED_TYPES = {1, 2, 5, 6, 10}   # STT_OBJECT, STT_FUNC, STT_COMMON, STT_TLS, STT_GNU_IFUNC
_EXPORTED_BINDS = {1, 2, 10}        # STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE
_MAX_TABLE = 64 << 20               # a .dynsym or .dynstr larger than this is not believed
_SKIP_SECTIONS = (0, 0xFFF1)        # SHN_UNDEF (imported), SHN_ABS (version names such as GLIBC_2.4)


def exported(path: str) -> frozenset[str]:
    """The names `path` exports (defined, global or weak, default or protected visibility); empty on any failure."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return frozenset()
    return _exported(path, st.st_ino, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=256)
def _exported(path: str, ino: int, mtime: int, size: int) -> frozenset[str]:
    try:
        with open(path, "rb") as f:
            return frozenset(_read_dynsym(f, size))
    except (OSError, ValueError, struct.error, IndexError, UnicodeDecodeError, OverflowError):
        return frozenset()


def _read_dynsym(f: BinaryIO, file_size: int) -> Iterable[str]:
    """Parses the ELF header, the section headers, .dynsym and its string table (ELF32/64, either byte order)."""
    ident = f.read(16)
    if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        return ()
    wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
    header = f.read(48 if wide else 36)
    if wide:
        shoff, shentsize, shnum = (struct.unpack_from(order + "Q", header, 24)[0],
                                   *struct.unpack_from(order + "HH", header, 42))
        section = struct.Struct(order + "IIQQQQIIQQ")   # name type flags addr offset size link info align entsize
        symbol = struct.Struct(order + "IBBHQQ")         # name info other shndx value size
    else:
        shoff, shentsize, shnum = (struct.unpack_from(order + "I", header, 16)[0],
                                   *struct.unpack_from(order + "HH", header, 30))
        section = struct.Struct(order + "IIIIIIIIII")
        symbol = struct.Struct(order + "IIIBBH")         # name value size info other shndx
    if shnum == 0 or shentsize < section.size or shoff + shnum * shentsize > file_size:
        return ()

    def read(offset: int, size: int) -> bytes:
        if size > _MAX_TABLE or offset + size > file_size:
            raise ValueError("section outside the file")
        f.seek(offset)
        data: bytes = f.read(size)
        return data

    table = read(shoff, shnum * shentsize)
    sections = [section.unpack_from(table, i * shentsize) for i in range(shnum)]
    dynsym = next((s for s in sections if s[1] == _SHT_DYNSYM), None)
    if dynsym is None or dynsym[6] >= shnum or dynsym[9] < symbol.size:
        return ()
    strtab = sections[dynsym[6]]
    names, symbols, entsize = read(strtab[4], strtab[5]), read(dynsym[4], dynsym[5]), dynsym[9]
    out = []
    for i in range(1, len(symbols) // entsize):   # entry 0 is the null symbol
        fields = symbol.unpack_from(symbols, i * entsize)
        name, info, other, shndx = (fields[0], *fields[1:4]) if wide else (fields[0], *fields[3:6])
        exported = info >> 4 in _EXPORTED_BINDS and info & 0xF in _DEFINED_TYPES and other & 3 not in (1, 2)
        if shndx in _SKIP_SECTIONS or not exported:  # visibility 1, 2: internal, hidden
            continue
        end = names.find(b"\0", name)
        if end > name:
            out.append(names[name:end].decode("utf-8"))
    return out


def loaded() -> list[str]:
    """Paths of the objects loaded in the process, in load order (the executable first; the vDSO left out)."""
    try:
        objects = _core.loaded_libraries()
    except Exception:  # noqa: BLE001 - a listing failure only leaves names out of a message
        return []
    out = []
    for name, _base in objects:
        if not name:
            name = os.path.realpath("/proc/self/exe")
        if os.path.isabs(name) and os.path.exists(name):
            out.append(name)
    return out


def core_path() -> str:
    """The path of nativeffi's own C core (never shown as a library the user asked for)."""
    return os.path.abspath(getattr(_core, "__file__", "") or "")


def library_of(symbol: str, handle: Optional[int] = None) -> Optional[str]:
    """The path of the library that `dlsym(handle or RTLD_DEFAULT, symbol)` finds the symbol in, or None."""
    try:
        address, _ = _core.dlsym(handle, symbol)
        where = _core.dladdr(address) if address is not None else None
    except Exception:  # noqa: BLE001
        return None
    if where is None:
        return None
    return where[0] if os.path.isabs(where[0]) else os.path.realpath("/proc/self/exe")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def global_libraries() -> tuple[list[str], list[str]]:
    """(libraries process lookup searches, libraries loaded but not visible to it), nativeffi's core left out.

    A library is searched by ``dlsym(RTLD_DEFAULT, ...)`` when it was loaded with global visibility (the
    executable, what it links, ``RTLD_GLOBAL`` loads); one of its own exports resolving back into it says so.
    """
    objects = tuple(loaded())
    return _global_libraries(objects)


@functools.lru_cache(maxsize=8)
def _global_libraries(objects: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """global_libraries() for this list of loaded objects (the answer changes only when the list does)."""
    searched: list[str] = []
    hidden: list[str] = []
    core = core_path()
    for i, path in enumerate(objects):
        if _same_file(path, core):
            continue
        if i == 0:
            searched.append(path)
            continue
        probes = [n for n in sorted(exported(path)) if not n.startswith("_")][:8]
        if not probes:  # nothing public to find there (the dynamic loader itself, for one)
            continue
        found = [library_of(n) for n in probes]
        (searched if any(p is not None and _same_file(p, path) for p in found) else hidden).append(path)
    return searched, hidden


def close_matches(symbol: str, names: Iterable[str], n: int = 3, cutoff: float = 0.75) -> list[str]:
    """Up to `n` names close to `symbol` (case-insensitive; names starting with ``_`` only if `symbol` does)."""
    private = symbol.startswith("_")
    by_lower: dict[str, str] = {}
    for name in names:
        if name != symbol and (private or not name.startswith("_")):
            by_lower.setdefault(name.lower(), name)
    return [by_lower[m] for m in difflib.get_close_matches(symbol.lower(), by_lower, n=n, cutoff=cutoff)]
