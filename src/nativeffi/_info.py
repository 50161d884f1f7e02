"""``python -m nativeffi info``: the platform, the build of the core, the CPython running it, and what is on the system.

Example:
    >>> from nativeffi import _info
    >>> report = _info.collect()
    >>> report["libraries"]["libc"]["found"]
    True
"""
from __future__ import annotations

import os
import platform
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any, Callable, Optional

from . import _core, _symbols

__all__ = ["version", "collect", "format_report", "LIBRARIES"]


def version() -> str:
    """nativeffi's version: the installed distribution's metadata when it is the copy running, else the package's
    own ``__version__`` (a checkout run with ``PYTHONPATH=src``, or a copy such as the sanitizer job's)."""
    here = Path(__file__).resolve().parent
    try:
        from importlib import metadata
        dist = metadata.distribution("nativeffi")
        if Path(str(dist.locate_file("nativeffi/__init__.py"))).resolve().parent == here:
            return dist.version
    except Exception:  # noqa: BLE001 - not installed, or unreadable metadata: the package's own
        pass
    from . import __version__
    return __version__


def _text_call(asset: str, symbol: str, *args: int) -> Optional[str]:
    """Calls ``const char *symbol(args)`` in `asset` and returns the text, or None when it is not there."""
    from . import Char, Int, NativeFunction, Pointer, assets
    address = assets.lookup(asset, symbol)
    if address is None:
        return None
    signature: Any = NativeFunction[[Int] * len(args), Pointer[Char]]  # type: ignore[misc]
    fn: Any = Pointer[signature].from_address(address).as_function()
    result = fn(*args)
    return None if result.is_null else str(result.to_str())


# name -> (sonames to try, in order; what reports its version, as (symbol, int arguments))
LIBRARIES: dict[str, tuple[tuple[str, ...], Optional[tuple[str, tuple[int, ...]]]]] = {
    "libc": (("libc.so.6",), ("gnu_get_libc_version", ())),
    "libm": (("libm.so.6",), None),
    "zlib": (("libz.so.1",), ("zlibVersion", ())),
    "sqlite3": (("libsqlite3.so.0",), ("sqlite3_libversion", ())),
    "libcrypto": (("libcrypto.so.3", "libcrypto.so.1.1"), ("OpenSSL_version", (0,))),
    "libssl": (("libssl.so.3", "libssl.so.1.1"), None),
    "expat": (("libexpat.so.1",), ("XML_ExpatVersion", ())),
    "libffi": (("libffi.so.8", "libffi.so.7"), None),
}


def _library(sonames: tuple[str, ...], version_of: Optional[tuple[str, tuple[int, ...]]]) -> dict[str, Any]:
    for soname in sonames:
        try:
            handle = _core.dlopen(soname)
        except OSError:
            continue
        entry: dict[str, Any] = {"found": True, "soname": soname, "path": _core.dlpath(handle)}
        if version_of is not None:
            try:
                entry["version"] = _text_call(soname, version_of[0], *version_of[1])
            except Exception as e:  # noqa: BLE001 - a report line, not a failure of the command
                entry["version"] = f"(could not ask: {e})"
        return entry
    return {"found": False, "soname": " or ".join(sonames), "path": None}


def _libclang() -> dict[str, Any]:
    """Whether ``nativeffi gen`` can run: the clang bindings' package and the libclang they load."""
    try:
        import clang.cindex as ci  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return {"found": False, "note": "pip install 'nativeffi[gen]' for python -m nativeffi gen"}
    from importlib import metadata
    package = None
    for name in ("libclang", "clang"):
        try:
            package = f"{name} {metadata.version(name)}"
            break
        except metadata.PackageNotFoundError:
            pass
    library = None
    try:
        library = ci.conf.get_filename()
        bundled = Path(ci.__file__).parent / "native" / library
        library = str(bundled) if bundled.exists() else library
    except Exception:  # noqa: BLE001
        pass
    return {"found": True, "package": package, "library": library}


def _gil() -> str:
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    if not free_threaded:
        return "with the GIL (not a free-threaded build)"
    enabled: Callable[[], bool] = getattr(sys, "_is_gil_enabled", lambda: True)
    return f"free-threaded build, GIL {'enabled' if enabled() else 'disabled'} at run time"


def collect() -> dict[str, Any]:
    """Everything ``info`` prints, as a dict (``info --json`` prints it as JSON)."""
    core = _symbols.core_path()
    libffi = next((p for p in _symbols.loaded() if os.path.basename(p).startswith("libffi.so")), None)
    stat = os.stat(core) if os.path.exists(core) else None
    return {
        "nativeffi": {"version": version(), "package": str(Path(__file__).resolve().parent)},
        "platform": {"system": platform.platform(), "machine": platform.machine(),
                     "abi": sysconfig.get_config_var("MULTIARCH") or getattr(sys.implementation, "_multiarch", None),
                     "libc": " ".join(platform.libc_ver()).strip() or "unknown",
                     "pointer_size": _core.POINTER_SIZE, "byte_order": sys.byteorder},
        "stubs": {"abi": _core.STUB_ABI, "registers": {"integer": _core.STUB_REGISTERS[0],
                                                       "floating": _core.STUB_REGISTERS[1]},
                  "stack_words": _core.STUB_STACK_WORDS},
        "libffi": {"built_against": _core.LIBFFI_VERSION, "loaded": libffi},
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable": sys.executable, "gil": _gil(),
                   "debug": bool(sysconfig.get_config_var("Py_DEBUG")) or hasattr(sys, "gettotalrefcount"),
                   "compiler": platform.python_compiler(), "abiflags": getattr(sys, "abiflags", "")},
        "core": {"path": core, "size": stat.st_size if stat else None,
                 "built": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stat.st_mtime)) if stat else None,
                 "sanitized": any("libasan" in os.path.basename(p) for p in _symbols.loaded())},
        "libraries": {name: _library(*spec) for name, spec in LIBRARIES.items()},
        "libclang": _libclang(),
    }


def format_report(r: dict[str, Any]) -> str:
    """The human-readable form of `collect()`'s report."""
    p, s, py, core = r["platform"], r["stubs"], r["python"], r["core"]
    stubs = (f"{s['abi']} ({s['registers']['integer']} integer and {s['registers']['floating']} floating "
             f"registers, {s['stack_words']} stack words; other calls go through libffi)" if s["abi"]
             else "none on this platform: every call goes through libffi")
    lines = [
        f"nativeffi {r['nativeffi']['version']} ({r['nativeffi']['package']})",
        f"platform:  {p['system']} ({p['abi'] or p['machine']}, {p['libc']}, {p['pointer_size'] * 8}-bit pointers, "
        f"{p['byte_order']}-endian)",
        f"stubs:     {stubs}",
        f"libffi:    {r['libffi']['built_against']} (headers built against), loaded from "
        f"{r['libffi']['loaded'] or '(not found among loaded libraries)'}",
        f"python:    {py['implementation']} {py['version']}, {py['gil']}, {'debug' if py['debug'] else 'release'} "
        f"build, {py['compiler']} ({py['executable']})",
        f"core:      {core['path']} ({core['size']} bytes, dated {core['built']}"
        f"{', sanitizers' if core['sanitized'] else ''})",
        "libraries:",
    ]
    for name, lib in r["libraries"].items():
        if lib["found"]:
            version = f" {lib['version']}" if lib.get("version") else ""
            lines.append(f"  {name:<10} found{version}: {lib['soname']} -> {lib['path']}")
        else:
            lines.append(f"  {name:<10} not found ({lib['soname']})")
    clang = r["libclang"]
    lines.append(f"  {'libclang':<10} " + (f"found: {clang['package']}, {clang['library']} (for gen)" if clang["found"]
                                          else f"not found: {clang['note']}"))
    return "\n".join(lines)
