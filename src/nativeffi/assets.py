"""Native assets: a registry from asset ids to libraries, with Dart's kinds of location, and the lookup chain.

An asset id (``"package:zlib"``, a module name, or any string) names a native library. Locations come in
Dart's kinds: an absolute path, a path relative to a manifest, a system library name (``libz.so.1``), the
process (everything already loaded) and the executable.

Example:
    >>> from nativeffi import assets
    >>> assets.register("zlib", assets.System("libz.so.1"))
    >>> assets.lookup("zlib", "zlibVersion") is not None
    True
"""
from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from . import _core, _symbols

__all__ = [
    "Absolute", "Relative", "System", "Process", "Executable", "Location", "register", "unregister",
    "registered", "load_manifest", "lookup", "NativeSymbolError", "resolve_symbol", "set_native_resolver",
]


@dataclass(frozen=True)
class Absolute:
    """A library at an absolute path."""
    path: str

    def open(self) -> Optional[int]:
        return _core.dlopen(self.path)


@dataclass(frozen=True)
class Relative:
    """A library at a path relative to `base` (the manifest's folder)."""
    path: str
    base: str

    def open(self) -> Optional[int]:
        return _core.dlopen(os.path.join(self.base, self.path))


@dataclass(frozen=True)
class System:
    """A library found by the system loader by name, e.g. ``libz.so.1``."""
    name: str

    def open(self) -> Optional[int]:
        return _core.dlopen(self.name)


@dataclass(frozen=True)
class Process:
    """Every library already loaded in the process (``dlsym(RTLD_DEFAULT, ...)``)."""

    def open(self) -> Optional[int]:
        return None


@dataclass(frozen=True)
class Executable:
    """The main program and the libraries it was linked with."""

    def open(self) -> Optional[int]:
        return _core.dlopen(None)


Location = Union[Absolute, Relative, System, Process, Executable]
_KINDS = {"absolute": Absolute, "system": System, "process": Process, "executable": Executable}

_lock = threading.RLock()
_registry: dict[str, Location] = {}
_handles: dict[Location, Optional[int]] = {}     # opened libraries, never closed (functions keep using them)
_entry_points_loaded = False


class NativeSymbolError(LookupError):
    """A native symbol could not be resolved through the asset, the resolver, or the process.

    The message has one line per step (what it searched and why it failed), then close names the searched
    libraries export, and what to do (name a library; a macro is exported by no library).

    Attributes:
        symbol, asset_id: what was looked up.
        available: the ids of the registered assets.
        resolver_answer: what the resolver returned (or None if none was set).
        loader_message: the dynamic loader's own message for the process lookup (without the name of
            nativeffi's own library, which the loader gives as the caller), or the asset step's reason.
    """

    def __init__(self, message: str, *, symbol: str, asset_id: str, available: list[str],
                 resolver_answer: object, loader_message: str, explain: Optional[Callable[[], str]] = None) -> None:
        super().__init__(message)
        self.symbol = symbol
        self.asset_id = asset_id
        self.available = available
        self.resolver_answer = resolver_answer
        self.loader_message = loader_message
        self._explain = explain   # builds the full message on first str(): reading symbol tables takes ~0.1 s,
        self._text: Optional[str] = None  # which code that catches the error to probe for a symbol never pays

    def __str__(self) -> str:
        if self._text is None:
            text = super().__str__()
            if self._explain is not None:
                try:
                    text = self._explain()
                except Exception as e:  # noqa: BLE001 - the short message stands, with why there is no more
                    text += f" (the full explanation failed: {type(e).__name__}: {e})"
            self._text = text
        return self._text

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles with the full message (the explanation is not picklable)."""
        return (_rebuild_symbol_error, (str(self), self.symbol, self.asset_id, self.available,
                                        self.resolver_answer, self.loader_message))


def _rebuild_symbol_error(message: str, symbol: str, asset_id: str, available: list[str], resolver_answer: object,
                          loader_message: str) -> NativeSymbolError:
    return NativeSymbolError(message, symbol=symbol, asset_id=asset_id, available=available,
                             resolver_answer=resolver_answer, loader_message=loader_message)


def _as_location(location: Any) -> Location:
    if isinstance(location, (Absolute, Relative, System, Process, Executable)):
        return location
    if isinstance(location, os.PathLike):
        location = os.fspath(location)
    if isinstance(location, str):
        if os.path.isabs(location):
            return Absolute(location)
        if os.sep in location:
            return Absolute(os.path.abspath(location))
        return System(location)
    raise TypeError("an asset location must be a path, a library name, or one of Absolute, Relative, System, "
                    f"Process, Executable; got {location!r}")


def register(asset_id: str, location: Any) -> None:
    """Binds `asset_id` to a library location (a path, a soname, or a Location object). Replaces any earlier one."""
    if not isinstance(asset_id, str) or not asset_id:
        raise TypeError(f"asset id must be a non-empty str, got {asset_id!r}")
    with _lock:
        _registry[asset_id] = _as_location(location)


def unregister(asset_id: str) -> None:
    """Removes `asset_id` from the registry (no error if it was not there)."""
    with _lock:
        _registry.pop(asset_id, None)


def registered() -> dict[str, Location]:
    """A copy of the registry."""
    _load_entry_points()
    with _lock:
        return dict(_registry)


def _target() -> str:
    arch = os.uname().machine
    return "linux_" + {"x86_64": "x64", "aarch64": "arm64"}.get(arch, arch)


def load_manifest(path: str | os.PathLike[str]) -> list[str]:
    """Registers the assets of a JSON manifest and returns their ids.

    The manifest follows Dart's layout, ``{"native-assets": {"linux_x64": {"id": ["absolute", "/p/lib.so"]}}}``
    (kinds ``absolute``, ``relative`` (to the manifest's folder), ``system``, ``process``, ``executable``);
    a flat ``{"native-assets": {"id": [...]}}`` applies to every target.

    Raises:
        ValueError: the manifest is malformed; the message says where.
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    assets = data.get("native-assets") if isinstance(data, dict) else None
    if not isinstance(assets, dict):
        raise ValueError(f"{path}: expected an object with a 'native-assets' mapping")
    if assets and all(isinstance(v, dict) for v in assets.values()):
        assets = assets.get(_target(), {})
    base = os.path.dirname(os.path.abspath(path))
    ids = []
    for asset_id, spec in assets.items():
        if not (isinstance(spec, list) and spec and isinstance(spec[0], str)):
            raise ValueError(f"{path}: asset {asset_id!r}: expected [kind, path], got {spec!r}")
        kind, rest = spec[0], spec[1:]
        if kind == "relative" and len(rest) == 1:
            loc: Location = Relative(rest[0], base)
        elif kind in ("absolute", "system") and len(rest) == 1:
            loc = _KINDS[kind](rest[0])
        elif kind in ("process", "executable") and not rest:
            loc = _KINDS[kind]()
        else:
            raise ValueError(f"{path}: asset {asset_id!r}: unknown kind or arity {spec!r}")
        register(asset_id, loc)
        ids.append(asset_id)
    return ids


def _load_entry_points() -> None:
    """Registers assets declared by installed packages in the ``nativeffi.assets`` entry-point group (once).

    Each entry point loads to a mapping {asset id: location}, a callable returning one, or a manifest path.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib import metadata
    eps: Any
    if sys.version_info >= (3, 10):
        eps = metadata.entry_points(group="nativeffi.assets")
    else:  # 3.9: entry_points() takes no selection and returns a dict of groups
        eps = metadata.entry_points().get("nativeffi.assets", [])
    for ep in eps:
        value = ep.load()
        if callable(value):
            value = value()
        if isinstance(value, (str, os.PathLike)) and str(value).endswith(".json"):
            load_manifest(value)
        elif isinstance(value, dict):
            for asset_id, loc in value.items():
                register(asset_id, loc)
        else:
            raise TypeError(f"entry point {ep.name!r} in nativeffi.assets gave {value!r}: expected a mapping of "
                            "asset ids to locations, a callable returning one, or a manifest path")


def _open(loc: Location) -> Optional[int]:
    with _lock:
        if loc not in _handles:
            _handles[loc] = loc.open()
        return _handles[loc]


def _looks_loadable(asset_id: str) -> bool:
    base = os.path.basename(asset_id)
    return os.sep in asset_id or ".so" in base or base.endswith(".dylib")


def lookup(asset_id: str, symbol: str) -> Optional[int]:
    """The address of `symbol` in the asset's library, or None (without an error) if it is not found."""
    return _lookup(asset_id, symbol)[0]


def _lookup(asset_id: str, symbol: str) -> tuple[Optional[int], str]:
    """(address or None, why not) for `symbol` in asset `asset_id`."""
    _load_entry_points()
    with _lock:
        loc = _registry.get(asset_id)
    if loc is None:
        if not _looks_loadable(asset_id):
            return None, f"No asset with id '{asset_id}' found"
        loc = _as_location(asset_id)
    try:
        handle = _open(loc)
    except OSError as e:
        return None, f"Asset '{asset_id}' ({loc}) could not be loaded: {e}"
    address, message = _core.dlsym(handle, symbol)
    if address is None:
        return None, f"Asset '{asset_id}' ({loc}) has no symbol '{symbol}': {message}"
    return address, ""


# -- Resolvers ----------------------------------------------------------------

Resolver = Callable[[str, int], Optional[int]]
_resolvers: dict[Optional[str], Resolver] = {}


def set_native_resolver(resolver: Optional[Resolver], module: Optional[str] = None) -> None:
    """Sets the resolver consulted when a symbol is not in its asset: ``resolver(name, nargs) -> address or None``.

    With `module`, the resolver serves only bindings declared in that module (as Dart's per-library
    ``Dart_SetFfiNativeResolver``); without, it serves every module that has none of its own. None removes it.
    """
    if resolver is not None and not callable(resolver):
        raise TypeError(f"resolver must be callable (name, nargs) -> int | None, got {resolver!r}")
    with _lock:
        if resolver is None:
            _resolvers.pop(module, None)
        else:
            _resolvers[module] = resolver


def resolve_symbol(symbol: str, asset_id: str, module: Optional[str], nargs: int, what: str = "function",
                   asset_source: str = "asset") -> int:
    """Resolves `symbol` as Dart does: (1) the asset, (2) the resolver, (3) the process.

    `asset_source` says where `asset_id` came from: ``"asset"`` (given with ``asset=``), ``"default_asset"``
    (the module's ``default_asset()``) or ``"module"`` (no asset given: the module's name stands in).

    Raises:
        NativeSymbolError: nothing provided the symbol; the message says what each step searched, suggests
            close names the searched libraries export, and how to name a library.
    """
    address, why = _lookup(asset_id, symbol)
    if address is not None:
        return address
    resolver = _resolvers.get(module) or _resolvers.get(None)
    answer: object = None
    if resolver is not None:
        answer = resolver(symbol, nargs)
        if isinstance(answer, int) and not isinstance(answer, bool) and answer != 0:
            return answer
        if answer is not None and not isinstance(answer, int):
            raise TypeError(f"native resolver {resolver!r} returned {answer!r} for '{symbol}': expected an int "
                            "address or None")
    address, loader = _core.dlsym(None, symbol)
    if address is not None:
        return address
    raise _unresolved(symbol, asset_id, module, what, asset_source, why, resolver, answer, loader or "")


# -- The message when nothing resolves -------------------------------------------

def _describe(loc: Location) -> str:
    if isinstance(loc, Absolute):
        return f"the library at {loc.path}"
    if isinstance(loc, Relative):
        return f"the library at {os.path.join(loc.base, loc.path)}"
    if isinstance(loc, System):
        return f"the system library {loc.name!r}"
    return "the process" if isinstance(loc, Process) else "the executable"


def _asset_step(symbol: str, asset_id: str, module: Optional[str],
                source: str) -> tuple[str, Optional[str], Optional[Location]]:
    """(what the asset step did, the path of the library it opened, the asset's location if one was named)."""
    with _lock:
        loc = _registry.get(asset_id)
    if loc is None and not _looks_loadable(asset_id):
        if source == "module":
            return (f"none given: module '{module or asset_id}' has no default asset (no asset= on the declaration, "
                    f"no default_asset() call in the module, no asset registered under its name '{asset_id}')",
                    None, None)
        registered_ids = ", ".join(sorted(registered())) or "none"
        given = "asset=" if source == "asset" else "default_asset()"
        return (f"{given} named '{asset_id}', which is neither a registered asset id (registered: {registered_ids}) "
                "nor a library name or path (expected e.g. 'libz.so.1', '/path/to/lib.so')", None, Process())
    named = f"'{asset_id}' ({_describe(loc)})" if loc is not None else None
    loc = loc or _as_location(asset_id)
    named = named or _describe(loc)
    try:
        handle = _open(loc)
    except OSError as e:
        return f"{named} could not be loaded: {e}", None, loc
    if handle is None:
        return f"{named} does not export '{symbol}'", None, loc
    path = _core.dlpath(handle)
    return f"{named}{f' (opened {path})' if path and path != getattr(loc, 'path', None) else ''} does not export " \
        f"'{symbol}'", path, loc


def _similar_libraries(asset_id: str) -> list[str]:
    """Library files near the folders of the loaded libraries whose names are close to `asset_id`."""
    folders = {os.path.dirname(p) for p in _symbols.loaded()} | {"/lib", "/usr/lib", "/usr/local/lib"}
    names: set[str] = set()
    for folder in folders:
        try:
            names.update(n for n in os.listdir(folder) if n.startswith("lib") and ".so" in n)
        except OSError:
            pass
    base = os.path.basename(asset_id)
    stem = base.split(".so")[0]
    versions = sorted(n for n in names if n.startswith(stem + ".so.") and n != base)
    if versions:
        return versions[:3]
    stems: dict[str, str] = {}
    for n in sorted(names, key=lambda n: (n.count(".") != 2, len(n))):  # prefer the soname, libfoo.so.N
        stems.setdefault(n.split(".so")[0], n)
    return [stems[m] for m in _symbols.close_matches(stem, stems, cutoff=0.85)]


def _unresolved(symbol: str, asset_id: str, module: Optional[str], what: str, source: str, why: str,
                resolver: Optional[Resolver], answer: object, loader: str) -> NativeSymbolError:
    """The NativeSymbolError for `symbol`: each step's answer now; the libraries searched, close names and what
    to do when the message is first read (see _explain)."""
    asset_text, asset_path, loc = _asset_step(symbol, asset_id, module, source)
    core = _symbols.core_path()
    if loader.startswith(core + ":"):  # dlsym(RTLD_DEFAULT) names the caller, nativeffi's core: not the user's
        loader = loader[len(core) + 1:].strip()
    resolver_text = ("none set" if resolver is None
                     else f"{getattr(resolver, '__name__', resolver)!r} returned {answer!r}")
    lines = [f"Couldn't resolve native {what} '{symbol}'"
             + (f" (declared in module '{module}')" if module else "") + ": no library searched exports it.",
             f"  asset: {asset_text}.",
             f"  resolver: {resolver_text}.",
             "  process: dlsym(RTLD_DEFAULT) searched the executable and the libraries loaded with global visibility: "
             "not found."]
    return NativeSymbolError("\n".join(lines), symbol=symbol, asset_id=asset_id, available=sorted(registered()),
                             resolver_answer=answer, loader_message=loader or why,
                             explain=lambda: _explain(lines, symbol, asset_id, what, asset_text, asset_path, loc))


def _explain(lines: list[str], symbol: str, asset_id: str, what: str, asset_text: str, asset_path: Optional[str],
             loc: Optional[Location]) -> str:
    """The full message: `lines` with the libraries process lookup searched, then the hints (reads symbol tables)."""
    searched, hidden = _symbols.global_libraries()
    process_names = ", ".join(os.path.basename(p) for p in searched) or "(could not be listed)"
    lines = lines[:3] + [f"  process: dlsym(RTLD_DEFAULT) searched the executable and the libraries loaded with "
                         f"global visibility ({process_names}): not found."]
    exporters = [p for p in hidden if symbol in _symbols.exported(p)]
    if exporters:
        lines.append(f"  '{symbol}' is exported by {', '.join(exporters)}, loaded in the process but not visible "
                     f"to process lookup: name it, e.g. asset='{os.path.basename(exporters[0])}'.")
    loaded = "could not be loaded" not in asset_text
    candidates: dict[str, str] = {}
    for path in ([asset_path] if asset_path else []) + searched:
        for name in _symbols.exported(path):
            candidates.setdefault(name, os.path.basename(path))
    matches = _symbols.close_matches(symbol, candidates) if loaded else []
    if matches:
        lines.append("  Did you mean " + " or ".join(f"'{m}' ({candidates[m]})" for m in matches) + "?")
    if loaded and not exporters:
        lines.append(f"  If '{symbol}' is a macro or an inline function in the C header, no library exports it: "
                     "bind the function it expands to.")
    if not loaded and isinstance(loc, System):
        similar = _similar_libraries(asset_id)
        if similar:
            lines.append(f"  Libraries with a close name on this system: {', '.join(similar)}.")
    if loc is None and not exporters:
        call = "native_var(..., asset=" if what == "variable" else "@native(asset="
        lines.append(f"  To search a library, name it: {call}'libfoo.so.1') or default_asset('libfoo.so.1') in the "
                     "module.")
    return "\n".join(lines)
