"""``nativeffi gen``: turns C headers into a typed module of ``@native`` declarations, parsed by libclang.

Functions, structs and unions (nested, anonymous, arrays, bit fields, packing), enums, typedefs, function
pointer types, object-like ``#define`` constants (evaluated by clang) and globals become Python declarations;
what nativeffi cannot express is listed as skipped, with its reason, never declared wrongly.

Example:
    >>> from nativeffi.gen import generate
    >>> result = generate(["/usr/include/zlib.h"], asset="libz.so.1")    # doctest: +SKIP
    >>> print(result.source[:60])                                          # doctest: +SKIP
"""
from __future__ import annotations

import ctypes
import keyword
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

__all__ = ["generate", "main", "parse_varargs", "GenError", "GenResult", "Skip", "Layout", "system_include_dirs",
           "GENERATOR_VERSION"]

GENERATOR_VERSION = "2"


class GenError(Exception):
    """The headers cannot be turned into a module (clang's errors, or libclang missing); nothing was written."""


@dataclass(frozen=True)
class Skip:
    """A declaration left out of the module, and why."""

    name: str
    reason: str


@dataclass
class Layout:
    """A struct or union of the module and how C names it, for checking its layout against the compiler.

    ``c_type`` is a C type expression (None for an anonymous member's type); ``fields`` pairs each Python field
    name with its C member name (None for an anonymous member, whose own Layout follows via ``members``).
    """

    py_name: str
    c_type: Optional[str]
    fields: list[tuple[str, Optional[str]]]
    bit_fields: list[str] = field(default_factory=list)
    members: dict[str, str] = field(default_factory=dict)  # Python field name -> Python class of an anonymous member


@dataclass
class GenResult:
    """The generated module's source, what was skipped, and the layouts to check."""

    source: str
    declared: list[str]
    skipped: list[Skip]
    layouts: list[Layout]


def _parameter_type(expr: str) -> str:
    """A declared function's pointer parameter as callers may pass it: ``char *`` as ``CString`` (str, bytes),
    ``T *`` as ``PointerLike[T]`` (buffers, struct values, None too); the same native types at run time."""
    if not (expr.startswith("Pointer[") and expr.endswith("]")):
        return expr
    inner = expr[len("Pointer["):-1]
    return "CString" if inner in ("Char", "SignedChar", "UnsignedChar") else f"PointerLike[{inner}]"


class _Unsupported(Exception):
    """A type nativeffi cannot express; the message is the reason."""


# -- libclang ------------------------------------------------------------------------------------------------

def _cindex() -> Any:
    try:
        import clang.cindex as ci  # type: ignore[import-untyped, import-not-found, unused-ignore]  # no type info
    except ImportError as e:
        raise GenError("nativeffi gen needs libclang: pip install 'nativeffi[gen]' (or pip install libclang)") from e
    return ci


def system_include_dirs(cc: Optional[str] = None) -> list[str]:
    """The directories the C compiler searches for ``#include <...>``, in its order (asks ``cc -E -v``)."""
    compiler = cc or os.environ.get("CC") or "cc"
    try:
        proc = subprocess.run([compiler, "-E", "-v", "-x", "c", "/dev/null"], capture_output=True, text=True,
                              check=False)
    except OSError:
        return []
    dirs, inside = [], False
    for line in proc.stderr.splitlines():
        if line.startswith("#include <...> search starts here"):
            inside = True
        elif line.startswith("End of search list"):
            break
        elif inside and line.startswith(" "):
            dirs.append(line.strip())
    return dirs


_SCALAR_KINDS = {
    "BOOL": "Bool", "CHAR_S": "Char", "CHAR_U": "Char", "SCHAR": "SignedChar", "UCHAR": "UnsignedChar",
    "SHORT": "Short", "USHORT": "UnsignedShort", "INT": "Int", "UINT": "UnsignedInt", "LONG": "Long",
    "ULONG": "UnsignedLong", "LONGLONG": "LongLong", "ULONGLONG": "UnsignedLongLong", "FLOAT": "Float",
    "DOUBLE": "Double", "LONGDOUBLE": "LongDouble", "WCHAR": "WChar", "CHAR16": "Uint16", "CHAR32": "Uint32",
}
_UNSUPPORTED_KINDS = {
    "INT128": "__int128 is not a nativeffi type",
    "UINT128": "unsigned __int128 is not a nativeffi type", "FLOAT128": "__float128 is not a nativeffi type",
    "HALF": "half floats are not nativeffi types", "FLOAT16": "_Float16 is not a nativeffi type",
    "VECTOR": "vector types are not nativeffi types", "EXTVECTOR": "vector types are not nativeffi types",
    "COMPLEX": "_Complex is not a nativeffi type", "ATOMIC": "_Atomic types are not nativeffi types",
    "BLOCKPOINTER": "blocks are not nativeffi types", "BFLOAT16": "__bf16 is not a nativeffi type",
}
_KNOWN_TYPEDEFS = {
    "int8_t": "Int8", "int16_t": "Int16", "int32_t": "Int32", "int64_t": "Int64", "uint8_t": "Uint8",
    "uint16_t": "Uint16", "uint32_t": "Uint32", "uint64_t": "Uint64", "intptr_t": "IntPtr", "uintptr_t": "UintPtr",
    "size_t": "Size", "wchar_t": "WChar",
}
_VA_LIST = {"va_list", "__gnuc_va_list", "__builtin_va_list"}
_RESERVED_FIELDS = {"address", "copy", "native_type"}
# Names the generated module defines or imports itself: a C name equal to one is renamed.
_BUILTIN_NAMES = {"native", "native_var", "Struct", "Union", "Array", "Bits", "Opaque", "Pointer", "NativeFunction",
                  "VarArgs", "Void", "enum", "Any", "Final", "Literal", "TYPE_CHECKING", "default_asset", "_LAZY",
                  "PointerLike", "CString"} \
    | set(_SCALAR_KINDS.values()) | set(_KNOWN_TYPEDEFS.values())


def _no_tag(decl: Any) -> bool:
    """Whether a struct, union or enum has no tag of its own (clang may show a typedef's name as its spelling)."""
    if not decl.spelling or "(" in decl.spelling or decl.is_anonymous():
        return True
    for tok in decl.get_tokens():
        if tok.spelling == decl.spelling:
            return False
        if tok.spelling == "{":
            return True
    return False


def _ref(name: str) -> str:
    """A reference to a declaration that may come later in the module: quoted at output if it does."""
    return f"\0{name}\0"


def _py_ident(name: str) -> str:
    """A C identifier usable as a Python name (keywords and soft keywords get a trailing underscore)."""
    if keyword.iskeyword(name):
        return name + "_"
    return name


# -- The generator ---------------------------------------------------------------------------------------------

class _Decl:
    """One emitted top-level Python statement and the names it needs defined before it runs."""

    def __init__(self, name: str, lines: list[str], needs: set[str], kind: str) -> None:
        self.name = name
        self.lines = lines
        self.needs = needs
        self.kind = kind


class _Generator:
    def __init__(self, ci: Any, tu: Any, headers: set[str], options: dict[str, Any]) -> None:
        self.ci = ci
        self.tu = tu
        self.headers = headers
        self.include = [re.compile(p) for p in options.get("include") or []]
        self.exclude = [re.compile(p) for p in options.get("exclude") or []]
        self.leaf = set(options.get("leaf") or [])
        self.varargs: dict[str, list[str]] = options.get("varargs") or {}
        self.all_files = bool(options.get("all_files"))
        self.files = [re.compile(p) for p in options.get("files") or []]
        self.skipped: list[Skip] = []
        self.decls: list[_Decl] = []
        self.by_name: dict[str, _Decl] = {}
        self.names: dict[str, str] = {}  # C entity key -> Python name
        self.taken: set[str] = set(_BUILTIN_NAMES)
        self.in_progress: set[str] = set()
        self.layouts: list[Layout] = []
        self.exported: list[str] = []
        self.anon_counter = 0
        self.file_cache: dict[str, bool] = {}
        self.opaque_keys: set[str] = set()  # records only declared, emitted as Opaque

    # -- selection --
    def wanted(self, name: str) -> bool:
        if self.include and not any(p.search(name) for p in self.include):
            return False
        return not any(p.search(name) for p in self.exclude)

    def in_headers(self, cursor: Any) -> bool:
        f = cursor.location.file
        if f is None:
            return False
        if f.name not in self.file_cache:
            path = os.path.realpath(f.name)
            self.file_cache[f.name] = self.all_files or path in self.headers or any(p.search(path)
                                                                                     for p in self.files)
        return self.file_cache[f.name]

    def skip(self, name: str, reason: str) -> None:
        if all(s.name != name for s in self.skipped):
            self.skipped.append(Skip(name, reason))

    def claim(self, key: str, wanted: str, prefix: str) -> str:
        """The Python name for a C entity `key`, `wanted` if free, else `prefix_wanted` (made unique)."""
        if key in self.names:
            return self.names[key]
        name = _py_ident(wanted)
        # a name with two leading underscores would be mangled inside the class bodies that use it
        if name in self.taken or (name.startswith("__") and not name.endswith("__")):
            name = f"{prefix}_{wanted}"
            while name in self.taken:
                name += "_"
        self.taken.add(name)
        self.names[key] = name
        return name

    def add(self, decl: _Decl, export: bool = True) -> None:
        self.decls.append(decl)
        self.by_name[decl.name] = decl
        if export:
            self.exported.append(decl.name)

    # -- types --
    @staticmethod
    def strip(t: Any) -> Any:
        ci = _cindex()
        while t.kind in (ci.TypeKind.ELABORATED,) or t.kind.name in ("ATTRIBUTED", "PAREN", "BTF_TAG_ATTRIBUTED"):
            t = t.get_named_type() if t.kind == ci.TypeKind.ELABORATED else t.get_modified_type() \
                if t.kind.name in ("ATTRIBUTED", "BTF_TAG_ATTRIBUTED") else t.get_canonical()
        return t

    def type_expr(self, t: Any, needs: set[str], *, context: str) -> str:
        """The Python type expression for C type `t`; names it needs at definition time go into `needs`.

        `context`: "param", "return", "field", "pointee" or "alias". Raises _Unsupported with the reason.
        """
        ci = self.ci
        t = self.strip(t)
        k = t.kind
        if k == ci.TypeKind.TYPEDEF:
            decl = t.get_declaration()
            name = decl.spelling
            if name in _VA_LIST:
                raise _Unsupported("va_list parameters cannot be made from Python")
            if name in _KNOWN_TYPEDEFS:
                return _KNOWN_TYPEDEFS[name]
            py, fnptr = self.typedef(decl)
            if py is None:
                why = next((s.reason for s in self.skipped if s.name == name), "skipped")
                raise _Unsupported(f"uses typedef {name} ({why})")
            if fnptr:
                return f"Pointer[{_ref(py)}]" if context == "pointee" else f"Pointer[{py}]"
            if context == "pointee":
                return _ref(py)
            needs.add(py)
            return py
        if k == ci.TypeKind.VOID:
            if context in ("return", "pointee", "alias"):
                return "None" if context == "return" else "Void"
            raise _Unsupported("void used as a value type")
        if k.name in _SCALAR_KINDS:
            return _SCALAR_KINDS[k.name]
        if k.name in _UNSUPPORTED_KINDS:
            raise _Unsupported(_UNSUPPORTED_KINDS[k.name])
        if k == ci.TypeKind.ENUM:
            py = self.enum(t.get_declaration())
            if context == "pointee":
                return _ref(py)
            needs.add(py)
            return py
        if k == ci.TypeKind.RECORD:
            decl = t.get_declaration()
            py, opaque = self.record(decl)
            if py is None:
                why = next((s.reason for s in self.skipped if s.name == decl.spelling), "skipped")
                raise _Unsupported(f"uses {t.spelling} ({why})")
            if context == "pointee":
                return _ref(py)
            if opaque and context != "alias":
                raise _Unsupported(f"{t.spelling} is only declared (incomplete) and used by value")
            needs.add(py)
            return py
        if k == ci.TypeKind.POINTER or (context == "param" and k in (ci.TypeKind.CONSTANTARRAY,
                                                                      ci.TypeKind.INCOMPLETEARRAY)):
            pointee = t.get_pointee() if k == ci.TypeKind.POINTER else t.get_array_element_type()
            p = self.strip(pointee)
            if p.kind in (ci.TypeKind.FUNCTIONPROTO, ci.TypeKind.FUNCTIONNOPROTO):
                return f"Pointer[{self.function_type(p, needs)}]"
            inner = self.type_expr(pointee, needs, context="pointee")
            return f"Pointer[{inner}]"
        if k == ci.TypeKind.CONSTANTARRAY:
            if context not in ("field", "alias", "pointee"):
                raise _Unsupported("arrays cannot be passed or returned by value in C")
            dims = []
            while self.strip(t).kind == ci.TypeKind.CONSTANTARRAY:
                t = self.strip(t)
                dims.append(t.get_array_size())
                t = t.get_array_element_type()
            if any(d < 1 for d in dims):
                raise _Unsupported("zero-length array")
            elem = self.type_expr(t, needs, context="field")
            return f"Array[{elem}, {', '.join(f'Literal[{d}]' for d in dims)}]"  # Literal: what checkers take
        if k == ci.TypeKind.INCOMPLETEARRAY:
            raise _Unsupported("array of unknown size: nativeffi arrays have a fixed length")
        if k in (ci.TypeKind.FUNCTIONPROTO, ci.TypeKind.FUNCTIONNOPROTO):
            return self.function_type(t, needs)
        raise _Unsupported(f"type {t.spelling} ({k.name}) is not supported")

    def function_type(self, t: Any, needs: set[str], variadic: Optional[list[str]] = None) -> str:
        ci = self.ci
        if t.kind == ci.TypeKind.FUNCTIONNOPROTO:
            raise _Unsupported("function type without a prototype (unspecified parameters)")
        if t.is_function_variadic() and variadic is None:
            raise _Unsupported("variadic function type (pass --varargs NAME:TYPE,... to bind one signature)")
        params = [self.type_expr(a, needs, context="param") for a in t.argument_types()]
        if variadic:
            params.append(f"VarArgs[{', '.join(variadic)}]")
        ret = self.type_expr(t.get_result(), needs, context="return")
        return f"NativeFunction[[{', '.join(params)}], {ret}]"

    # -- declarations --
    def typedef(self, decl: Any) -> tuple[Optional[str], bool]:
        """Emits typedef `decl` if not yet done; returns (Python name or None if skipped, is a function pointer)."""
        ci = self.ci
        key = "typedef " + decl.spelling
        under = self.strip(decl.underlying_typedef_type)
        fnptr = under.kind == ci.TypeKind.POINTER and self.strip(under.get_pointee()).kind in (
            ci.TypeKind.FUNCTIONPROTO, ci.TypeKind.FUNCTIONNOPROTO)
        if key in self.names:
            return self.names[key], fnptr
        if key in self.in_progress or any(s.name == decl.spelling for s in self.skipped):
            return (None, fnptr) if key not in self.in_progress else (decl.spelling, fnptr)
        if decl.type.get_align() != decl.type.get_canonical().get_align():
            self.skip(decl.spelling, "typedef with an aligned attribute: nativeffi types have their natural "
                                     "alignment")
            return None, fnptr
        # A typedef naming a record or enum that has no name of its own (or the same name) *is* that type.
        if under.kind in (ci.TypeKind.RECORD, ci.TypeKind.ENUM):
            target = under.get_declaration()
            if target.spelling == decl.spelling or _no_tag(target):
                py = self.record(target, decl.spelling)[0] if under.kind == ci.TypeKind.RECORD else \
                    self.enum(target, decl.spelling)
                if py is not None:
                    self.names[key] = py
                return py, False
        self.in_progress.add(key)
        needs: set[str] = set()
        try:
            if fnptr:
                expr = self.function_type(self.strip(under.get_pointee()), needs)
            else:
                expr = self.type_expr(decl.underlying_typedef_type, needs, context="alias")
        except _Unsupported as e:
            self.in_progress.discard(key)
            self.skip(decl.spelling, str(e))
            return None, fnptr
        self.in_progress.discard(key)
        py = self.claim(key, decl.spelling, "typedef")
        self.add(_Decl(py, [f"{py} = {expr}"], needs, "alias"))
        return py, fnptr

    def enum(self, decl: Any, typedef_name: Optional[str] = None) -> str:
        """Emits enum `decl` (an IntEnum class and its ``<name>_native`` alias); returns the alias's name."""
        ci = self.ci
        key = "enum " + decl.get_usr()
        if key in self.names:
            return self.names[key]
        cname = typedef_name or ("" if _no_tag(decl) else decl.spelling)
        under = _SCALAR_KINDS.get(self.strip(decl.enum_type).kind.name, "Int")
        if not cname:
            # An anonymous enum: its constants, and its underlying type for uses.
            for c in decl.get_children():
                if c.kind == ci.CursorKind.ENUM_CONSTANT_DECL and self.wanted(c.spelling):
                    py = self.claim("const " + c.spelling, c.spelling, "enum")
                    self.add(_Decl(py, [f"{py}: Final = {c.enum_value}"], set(), "const"))
            self.names[key] = under
            return under
        cls = self.claim("enumclass " + decl.get_usr(), cname, "enum")
        alias = self.claim(key, cname + "_native", "enum")
        lines = [f"class {cls}(enum.IntEnum):"]
        lines += self.docstring(decl, "    ")
        members = [c for c in decl.get_children() if c.kind == ci.CursorKind.ENUM_CONSTANT_DECL]
        for c in members:
            name = _py_ident(c.spelling)
            if name.startswith("_") and name.endswith("_") or name.startswith("__"):
                name = "m" + name
            lines.append(f"    {name} = {c.enum_value}")
        if not members:
            lines.append("    pass")
        self.add(_Decl(cls, lines, set(), "enum"))
        self.add(_Decl(alias, [f"{alias} = {under}  # the native type of {cls}"], set(), "alias"))
        return alias

    def record(self, decl: Any, typedef_name: Optional[str] = None, anon_name: Optional[str] = None,
               anon_c_type: Optional[str] = None) -> tuple[Optional[str], bool]:
        """Emits struct/union `decl`; returns (Python class name or None if skipped, is opaque)."""
        ci = self.ci
        defn = decl.get_definition()
        key = "record " + (defn or decl).get_usr()
        if key in self.names:
            return self.names[key], key in self.opaque_keys
        is_union = decl.kind == ci.CursorKind.UNION_DECL
        tag = "union" if is_union else "struct"
        anonymous = _no_tag(decl)
        if typedef_name:
            cname = typedef_name
        elif not anonymous:
            cname = decl.spelling
        else:
            self.anon_counter += 1
            cname = anon_name or f"anonymous_{tag}{self.anon_counter}"
        if any(s.name == cname for s in self.skipped):
            return None, False
        py = self.claim(key, cname, tag)
        c_type = typedef_name if typedef_name else (anon_c_type if anonymous else f"{tag} {decl.spelling}")
        if defn is None:
            self.opaque_keys.add(key)
            self.add(_Decl(py, [f"class {py}(Opaque):", f'    """{c_type or py}: only declared in C; use it '
                                                        f'through a Pointer."""'], set(), "opaque"))
            return py, True
        lines: list[str] = []
        needs: set[str] = set()
        layout = Layout(py, c_type, [])
        try:
            body, pack = self.fields(defn, py, c_type, needs, layout)
        except _Unsupported as e:
            del self.names[key]
            self.taken.discard(py)
            self.skip(cname, str(e))
            return None, False
        base = "Union" if is_union else "Struct"
        lines.append(f"class {py}({base}{f', pack={pack}' if pack else ''}):")
        lines += self.docstring(defn, "    ") or [f'    """C {c_type or "anonymous " + tag}."""']
        lines += body
        needs.discard(py)
        self.add(_Decl(py, lines, needs, "record"), export=not (anonymous and not typedef_name))
        self.layouts.append(layout)
        return py, False

    def fields(self, defn: Any, owner: str, owner_c: Optional[str], needs: set[str],
               layout: Layout) -> tuple[list[str], int]:
        ci = self.ci
        t = defn.type
        align = t.get_align()
        max_field_align = 1
        body = []
        used: set[str] = set()
        unnamed = 0
        for f in t.get_fields():
            for c in f.get_children():
                if c.kind in (ci.CursorKind.ALIGNED_ATTR, ci.CursorKind.PACKED_ATTR):
                    raise _Unsupported(f"field {f.spelling} has an aligned/packed attribute")
            ftype = self.strip(f.type)
            if ftype.kind == ci.TypeKind.INCOMPLETEARRAY:
                raise _Unsupported(f"flexible array member {f.spelling}[] (its struct has no fixed layout "
                                   "in nativeffi)")
            fa = f.type.get_align()
            if fa != f.type.get_canonical().get_align():
                raise _Unsupported(f"field {f.spelling} has a typedef with an aligned attribute")
            if fa > 0:
                max_field_align = max(max_field_align, fa)
            anonymous_member = not f.spelling.isidentifier() and not f.is_bitfield()
            if anonymous_member:
                inner, _ = self.record(ftype.get_declaration(), anon_name=f"{owner}_anon{unnamed + 1}")
                if inner is None:
                    raise _Unsupported(f"anonymous member of {owner} is skipped")
                unnamed += 1
                name = f"_anon{unnamed}"
                needs.add(inner)
                layout.fields.append((name, None))
                layout.members[name] = inner
                body.append(f"    {name}: {inner}  # anonymous member: C reads its fields directly")
                continue
            if ftype.kind == ci.TypeKind.RECORD and _no_tag(ftype.get_declaration()):
                self.record(ftype.get_declaration(), anon_name=f"{owner}_{f.spelling}",
                            anon_c_type=owner_c and f"__typeof__((({owner_c} *)0)->{f.spelling})")
            expr = self.type_expr(f.type, needs, context="field")
            if f.is_bitfield():
                width = f.get_bitfield_width()
                size_bits = f.type.get_size() * 8
                if width > size_bits:
                    raise _Unsupported(f"bit field {f.spelling} is wider than its type")
                if ftype.kind == ci.TypeKind.ENUM:
                    expr = _SCALAR_KINDS.get(self.strip(ftype.get_declaration().enum_type).kind.name, "Int")
                expr = f"Bits[{expr}, {width}]"
                if not f.spelling:
                    unnamed += 1
                    name = f"_pad{unnamed}"
                    body.append(f"    {name}: {expr}")
                    continue
                layout.bit_fields.append(f.spelling)
            name = f.spelling
            if keyword.iskeyword(name) or name in _RESERVED_FIELDS or name.startswith("__"):
                name = f"{name.lstrip('_') or 'f'}_"
                while name in used:
                    name += "_"
            used.add(name)
            layout.fields.append((name, f.spelling))
            body.append(f"    {name}: {expr}")
        if not body:
            raise _Unsupported("a struct with no fields has no C layout nativeffi accepts")
        pack = 0
        if align > max_field_align:
            raise _Unsupported(f"aligned({align}) beyond its fields' alignment: a Struct has no align= option")
        if align < max_field_align:
            pack = align
        return body, pack

    def docstring(self, cursor: Any, indent: str) -> list[str]:
        raw = cursor.raw_comment
        if not raw:
            return []
        lines = []
        for line in raw.splitlines():
            s = line.strip()
            s = re.sub(r"^(/\*\*+|/\*!|///?!?|\*/|\*+(?!/))", "", s)
            s = re.sub(r"\*+/$", "", s).rstrip()
            lines.append(s.strip() if not s.startswith(" ") else s[1:])
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            return []
        text = "\n".join(lines).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        out = [f'{indent}"""{text.splitlines()[0]}']
        out += [f"{indent}{x}" if x else "" for x in text.splitlines()[1:]]
        if text.endswith('"'):
            out[-1] += " "
        out[-1] += '"""'
        return out

    def function(self, c: Any) -> None:
        ci = self.ci
        name = c.spelling
        if name in self.by_name or f"fn {name}" in self.names:
            return
        if c.is_definition() or c.storage_class == ci.StorageClass.STATIC or \
                ci.conf.lib.clang_Cursor_isFunctionInlined(c):
            self.skip(name, "defined in the header (inline): no exported symbol to bind")
            return
        t = c.type
        variadic = None
        if t.kind == ci.TypeKind.FUNCTIONPROTO and t.is_function_variadic():
            if name not in self.varargs:
                self.skip(name, "variadic: list a signature with --varargs NAME:TYPE,TYPE to bind it")
                return
            variadic = self.varargs[name]
        needs: set[str] = set()
        try:
            if t.kind == ci.TypeKind.FUNCTIONNOPROTO:
                raise _Unsupported("no prototype (unspecified parameters)")
            params = []
            used: set[str] = set()
            for i, a in enumerate(c.get_arguments()):
                pname = _py_ident(a.spelling) if a.spelling else f"arg{i}"
                while pname in used or pname in ("args",):
                    pname += "_"
                used.add(pname)
                params.append((pname, _parameter_type(self.type_expr(a.type, needs, context="param"))))
            ret = self.type_expr(t.get_result(), needs, context="return")
            ftype = self.function_type(t, needs, variadic) if variadic is not None else None
        except _Unsupported as e:
            self.skip(name, str(e))
            return
        py = self.claim(f"fn {name}", name, "fn")
        opts = []
        if ftype:
            opts.append(ftype)
        if py != name:
            opts.append(f'symbol="{name}"')
        if name in self.leaf:
            opts.append("is_leaf=True")
        parts = [f"{p}: {ty}" for p, ty in params] + (["*args: Any"] if variadic is not None else [])
        sig = ", ".join(parts)
        # a checker cannot read VarArgs[...] inside NativeFunction[...] (it takes only [[params], ret])
        ignore = "  # type: ignore[call-arg, type-arg]" if ftype else ""
        lines = [f"@native({', '.join(opts)}){ignore}" if opts else "@native", f"def {py}({sig}) -> {ret}:"]
        if len(lines[1]) > 116:  # one parameter a line
            lines[1:] = [f"def {py}("] + [f"    {p}," for p in parts] + [f") -> {ret}:"]
        doc = self.docstring(c, "    ")
        if doc:
            lines += doc
            lines.append("    ...")
        else:
            lines[-1] += " ..."
        self.add(_Decl(py, lines, needs, "function"))

    def variable(self, c: Any) -> None:
        name = c.spelling
        if name in self.by_name:
            return
        needs: set[str] = set()
        try:
            expr = self.type_expr(c.type, needs, context="field")
        except _Unsupported as e:
            self.skip(name, str(e))
            return
        py = self.claim(f"var {name}", name, "var")
        final = ", final=True" if c.type.is_const_qualified() else ""
        self.add(_Decl(py, [f'{py} = native_var({expr}, "{name}"{final})'], needs, "var"))

    def run(self) -> None:
        ci = self.ci
        K = ci.CursorKind
        typedefed = {self.strip(c.underlying_typedef_type).get_declaration().get_usr()
                     for c in self.tu.cursor.get_children() if c.kind == K.TYPEDEF_DECL}
        for c in self.tu.cursor.get_children():
            if not self.in_headers(c) or not c.spelling or not self.wanted(c.spelling):
                continue
            if c.kind == K.FUNCTION_DECL:
                self.function(c)
            elif c.kind in (K.STRUCT_DECL, K.UNION_DECL):
                if not _no_tag(c):
                    self.record(c)
            elif c.kind == K.ENUM_DECL:
                if not (_no_tag(c) and c.get_usr() in typedefed):
                    self.enum(c)
            elif c.kind == K.TYPEDEF_DECL:
                if c.spelling not in _KNOWN_TYPEDEFS and c.spelling not in _VA_LIST:
                    self.typedef(c)
            elif c.kind == K.VAR_DECL:
                self.variable(c)


# -- Macros ---------------------------------------------------------------------------------------------------

def _macros(gen: _Generator, ci: Any, prelude: str, args: list[str]) -> None:
    """Object-like macros of the headers that clang evaluates to an int, float or string become constants."""
    candidates: list[tuple[str, Any]] = []
    for c in gen.tu.cursor.get_children():
        if c.kind != ci.CursorKind.MACRO_DEFINITION or not gen.in_headers(c) or not gen.wanted(c.spelling):
            continue
        name = c.spelling
        if ci.conf.lib.clang_Cursor_isMacroFunctionLike(c):
            gen.skip(name, "function-like macro")
            continue
        if len(list(c.get_tokens())) <= 1:
            continue  # empty: a guard or a feature flag, not a value
        if name in gen.taken or name in [n for n, _ in candidates]:
            continue
        candidates.append((name, c))
    if not candidates:
        return
    probe = prelude + "".join(f"\nstatic const __auto_type nf_gen_{i} = ({n});" for i, (n, _) in
                              enumerate(candidates))
    tu = ci.Index.create().parse("nf_gen_probe.c", args=args + ["-ferror-limit=0", "-Wno-everything"],
                                 unsaved_files=[("nf_gen_probe.c", probe)])
    first = prelude.count("\n") + 2
    bad = {d.location.line - first for d in tu.diagnostics if d.severity >= 3 and d.location.file and
           d.location.file.name == "nf_gen_probe.c"}
    lib = ci.conf.lib
    lib.clang_Cursor_Evaluate.restype = ctypes.c_void_p
    lib.clang_Cursor_Evaluate.argtypes = [ci.Cursor]
    for name, restype in (("getKind", ctypes.c_int), ("isUnsignedInt", ctypes.c_uint),
                          ("getAsUnsigned", ctypes.c_ulonglong), ("getAsLongLong", ctypes.c_longlong),
                          ("getAsDouble", ctypes.c_double), ("getAsStr", ctypes.c_char_p), ("dispose", None)):
        fn = getattr(lib, f"clang_EvalResult_{name}")  # each takes the evaluation result
        fn.argtypes = [ctypes.c_void_p]
        if restype is not None:
            fn.restype = restype
    values: dict[int, str] = {}
    for c in tu.cursor.get_children():
        if c.kind != ci.CursorKind.VAR_DECL or not c.spelling.startswith("nf_gen_"):
            continue
        i = int(c.spelling[7:])
        if i in bad:
            continue
        init = [x for x in c.get_children() if x.kind.is_expression()]
        if not init:
            continue
        literal = init[-1]
        while literal.kind in (ci.CursorKind.UNEXPOSED_EXPR, ci.CursorKind.PAREN_EXPR):
            inner = list(literal.get_children())
            if len(inner) != 1:
                break
            literal = inner[0]
        if literal.kind == ci.CursorKind.STRING_LITERAL:
            text = _c_string(literal.spelling)
            if text is not None:
                values[i] = text
            continue
        res = lib.clang_Cursor_Evaluate(init[-1])
        if not res:
            continue
        try:
            kind = lib.clang_EvalResult_getKind(res)
            ct = c.type.get_canonical()
            if kind == 1 and ct.kind.name in _SCALAR_KINDS:
                if lib.clang_EvalResult_isUnsignedInt(res):
                    values[i] = str(lib.clang_EvalResult_getAsUnsigned(res))
                else:
                    values[i] = str(lib.clang_EvalResult_getAsLongLong(res))
            elif kind == 2 and ct.kind.name in ("FLOAT", "DOUBLE"):
                values[i] = repr(lib.clang_EvalResult_getAsDouble(res))
        finally:
            lib.clang_EvalResult_dispose(res)
    pointers = {int(c.spelling[7:]) for c in tu.cursor.get_children() if c.kind == ci.CursorKind.VAR_DECL and
                 c.spelling.startswith("nf_gen_") and c.type.get_canonical().kind == ci.TypeKind.POINTER}
    for i, (name, macro) in enumerate(candidates):
        if i not in values:
            body = [t.spelling for t in macro.get_tokens()][1:]
            if len(body) == 1 and gen.by_name.get(body[0]) is not None and gen.by_name[body[0]].kind == "function":
                why = f"macro naming the function {body[0]}: call {body[0]}"
            elif i in pointers and i not in bad:
                why = "macro evaluates to a pointer: generated modules have int, float and str constants"
            else:
                why = "macro is not a constant expression (or not an expression)"
            gen.skip(name, why)
            continue
        py = gen.claim("const " + name, name, "const")
        if py != name:
            gen.skip(name, f"constant renamed {py}: the name is taken")
        gen.add(_Decl(py, [f"{py}: Final = {values[i]}"], set(), "const"))


_ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, "'": 39, '"': 34, "?": 63}


def _c_string(spelling: str) -> Optional[str]:
    """The Python literal of a plain C string literal's spelling (None for L"", u"", u8"" and U"" literals)."""
    if not spelling.startswith('"') or not spelling.endswith('"'):
        return None
    body, out, i = spelling[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "x":
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            if m is None:
                return None
            out.append(int(m.group(), 16) & 0xFF)
            i += 2 + len(m.group())
        elif nxt in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            assert m is not None
            out.append(int(m.group(), 8) & 0xFF)
            i += 1 + len(m.group())
        else:
            return None
    try:
        return repr(out.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(bytes(out))


# -- Ordering and output -------------------------------------------------------------------------------------

def _ordered(decls: list[_Decl]) -> list[_Decl]:
    """Constants and enums first, then types in source order, each after what it needs, then variables and
    functions."""
    by_name = {d.name: d for d in decls}
    done: set[str] = set()
    out: list[_Decl] = []

    def visit(d: _Decl, stack: set[str]) -> None:
        if d.name in done or d.name in stack:
            return
        stack.add(d.name)
        for n in sorted(d.needs):
            if n in by_name:
                visit(by_name[n], stack)
        stack.discard(d.name)
        done.add(d.name)
        out.append(d)

    for kinds in (("const",), ("enum",), ("opaque", "alias", "record"), ("var", "function")):
        for d in decls:
            if d.kind in kinds:
                visit(d, set())
    return out


def _parse_args(include_dirs: Sequence[str], defines: Sequence[str], target: Optional[str],
                extra: Sequence[str]) -> list[str]:
    args = ["-x", "c", "-std=gnu11"]
    if target:
        args.append(f"--target={target}")
    args += [f"-I{d}" for d in include_dirs]
    args += [f"-D{d}" for d in defines]
    for d in system_include_dirs():
        args += ["-isystem", d]
    return args + list(extra)


def generate(headers: Sequence[str], *, asset: Optional[str] = None, include_dirs: Sequence[str] = (),
             defines: Sequence[str] = (), target: Optional[str] = None, include: Sequence[str] = (),
             exclude: Sequence[str] = (), leaf: Iterable[str] = (), varargs: Optional[dict[str, list[str]]] = None,
             all_files: bool = False, files: Sequence[str] = (), lazy: bool = False, clang_args: Sequence[str] = (),
             command: Optional[str] = None) -> GenResult:
    """Parses `headers` with libclang and returns the module declaring them.

    Args:
        headers: header paths (or names found on the include path, e.g. ``zlib.h``).
        asset: asset id, soname or path the module's functions and variables bind to (``default_asset``).
        include_dirs: ``-I`` directories for clang.
        defines: ``-D`` definitions for clang (``NAME`` or ``NAME=VALUE``).
        target: ``--target`` triple for clang.
        include: regular expressions over C names; a name must match one of them (if any are given).
        exclude: regular expressions over C names; a name must match none of them.
        leaf: function names declared ``is_leaf=True``.
        varargs: variadic function name -> the native type names of its variadic part (``["Int", "Double"]``).
        all_files: also declare what the headers include (otherwise only what they need from it).
        files: regular expressions over included files' paths whose declarations are declared too (an umbrella
            header such as lzma.h declares nothing itself: ``files=["/lzma/"]``).
        lazy: declare each function on its first use (module ``__getattr__``) instead of at import; checkers
            see the same declarations (under ``TYPE_CHECKING``).
        command: the command line to name in the module's header comment.

    Raises:
        GenError: libclang is missing, a header is not found, or clang reports errors (their file:line).

    Example:
        >>> "def crc32(" in generate(["zlib.h"], asset="libz.so.1").source   # doctest: +SKIP
        True
    """
    ci = _cindex()
    args = _parse_args(include_dirs, defines, target, clang_args)
    search = list(include_dirs) + system_include_dirs()
    paths = []
    for h in headers:
        found = h if os.path.isfile(h) else next((os.path.join(d, h) for d in search
                                                   if os.path.isfile(os.path.join(d, h))), None)
        if found is None:
            raise GenError(f"header {h!r} not found (looked in the current directory and {', '.join(search)})")
        paths.append(os.path.realpath(found))
    prelude = "".join(f'#include "{p}"\n' for p in paths)
    index = ci.Index.create()
    opts = ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD | ci.TranslationUnit.PARSE_SKIP_FUNCTION_BODIES
    try:
        tu = index.parse("nf_gen_main.c", args=args, unsaved_files=[("nf_gen_main.c", prelude)], options=opts)
    except ci.TranslationUnitLoadError as e:
        raise GenError(f"clang could not parse {', '.join(headers)}: {e}") from e
    errors = [d for d in tu.diagnostics if d.severity >= 3]
    if errors:
        lines = []
        for d in errors:
            loc = d.location
            where = f"{loc.file.name}:{loc.line}:{loc.column}" if loc.file else "<command line>"
            lines.append(f"{where}: error: {d.spelling}")
        raise GenError("clang cannot parse the headers:\n" + "\n".join(lines))
    gen = _Generator(ci, tu, set(paths), {"include": include, "exclude": exclude, "leaf": leaf,
                                          "varargs": varargs or {}, "all_files": all_files, "files": files})
    gen.run()
    _macros(gen, ci, prelude, args)
    return _render(gen, headers, asset, command, lazy)


def _render(gen: _Generator, headers: Sequence[str], asset: Optional[str], command: Optional[str],
            lazy: bool) -> GenResult:
    decls = _ordered(gen.decls)
    defined: set[str] = set()
    chunks: list[tuple[bool, list[str]]] = []
    lazy_functions: list[tuple[str, list[str]]] = []

    def name_or_forward(m: re.Match[str]) -> str:
        """A name defined above stays bare; a later one becomes a forward reference string."""
        return m.group(1) if m.group(1) in defined else f'"{m.group(1)}"'

    for d in decls:
        lines = [re.sub("\0(\\w+)\0", name_or_forward, x) for x in d.lines]
        defined.add(d.name)
        if lazy and d.kind == "function":
            lazy_functions.append((d.name, lines))
        else:
            chunks.append((d.kind in ("record", "enum", "opaque", "function"), lines))
    if lazy_functions:
        chunks.append((True, _lazy_block(lazy_functions)))
    used = set(re.findall(r"\w+", "\n".join(x for _, lines in chunks for x in lines)))
    nativeffi_names = sorted((_BUILTIN_NAMES - {"enum", "Any", "Final", "Literal", "TYPE_CHECKING", "_LAZY"}) & used)
    if asset:
        nativeffi_names = sorted(set(nativeffi_names) | {"default_asset"})
    names = ", ".join(os.path.basename(h) for h in headers)
    out = [f'"""Bindings for {names}, generated by nativeffi gen: do not edit."""',
           f"# Generated by nativeffi gen (generator version {GENERATOR_VERSION}) from: {' '.join(headers)}"]
    if command:
        out.append(f"# Command: {command}")
    if gen.skipped:
        out.append(f"# Skipped ({len(gen.skipped)}):")
        out += [f"#   {s.name}: {s.reason}" for s in gen.skipped]
    out += ["# Declarations have `...` bodies (mypy: empty-body).", '# mypy: disable-error-code="empty-body"',
            ""]
    if "enum" in used:
        out.append("import enum")
    typing_names = [n for n in ("TYPE_CHECKING", "Any", "Final", "Literal") if n in used]
    if typing_names:
        out.append(f"from typing import {', '.join(typing_names)}")
    out.append("")
    out += _wrapped("from nativeffi import (", nativeffi_names, ")")
    if asset:
        out += ["", f"default_asset({asset!r})"]
    exported = [d.name for d in decls if d.name in set(gen.exported)]
    out += [""] + _wrapped("__all__ = [", [f'"{n}"' for n in exported], "]")
    previous_block = True
    for block, lines in chunks:
        out += ["", ""] if block or previous_block else []
        out += lines
        previous_block = block
    source = "\n".join(out) + "\n"
    return GenResult(source, exported, list(gen.skipped), gen.layouts)


def _lazy_block(functions: list[tuple[str, list[str]]]) -> list[str]:
    """Functions declared on first use: the declarations for checkers, their source for ``__getattr__``."""
    out = ["if TYPE_CHECKING:"]
    for i, (_, lines) in enumerate(functions):
        out += ([""] if i else []) + [f"    {x}" if x else "" for x in lines]
    out += ["else:", "    # each function is declared when first used: importing makes no binding", "    _LAZY = {"]
    out += [f"        {name!r}: {chr(10).join(lines) + chr(10)!r}," for name, lines in functions]
    out += ["    }", "",
            "    def __getattr__(name: str) -> Any:",
            "        source = _LAZY.get(name)",
            "        if source is None:",
            '            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")',
            '        exec(compile(source, __file__, "exec"), globals())  # noqa: S102 - the declaration above',
            "        return globals()[name]", "",
            "    def __dir__() -> list[str]:",
            "        return sorted(set(globals()) | set(_LAZY))"]
    return out


def _wrapped(opening: str, items: list[str], closing: str) -> list[str]:
    """`opening` items... `closing`, one item list wrapped at 116 columns."""
    lines, line = [opening], "   "
    for item in items:
        if len(line) + len(item) + 2 > 116:
            lines.append(line)
            line = "   "
        line += f" {item},"
    if line.strip():
        lines.append(line)
    lines.append(closing)
    return lines


def parse_varargs(specs: Iterable[str]) -> dict[str, list[str]]:
    """``["printf:Int,Double"]`` -> ``{"printf": ["Int", "Double"]}`` (the --varargs option)."""
    out: dict[str, list[str]] = {}
    for s in specs:
        name, sep, types = s.partition(":")
        if not sep or not name or not types:
            raise GenError(f"--varargs expects NAME:TYPE[,TYPE...] such as printf:Int,Double, got {s!r}")
        out[name] = [t.strip() for t in types.split(",") if t.strip()]
    return out


def _read_toml(name: str, path: str) -> dict[str, Any]:
    """The contents of the TOML file `path`, read with tomllib (Python 3.11+; before, a GenError says so)."""
    if sys.version_info < (3, 11):  # a version test, so that type checkers of 3.9 and 3.10 skip the other branch
        raise GenError("--config needs Python 3.11+ (tomllib) to read pyproject.toml")
    else:
        import tomllib
        try:
            with open(path, "rb") as f:
                return tomllib.load(f)
        except OSError as e:
            raise GenError(f"--config {name}: cannot read {path}: {e}") from e


def _config(name: str, path: str = "pyproject.toml") -> dict[str, Any]:
    """The ``[tool.nativeffi.gen.<name>]`` table of `path`."""
    data = _read_toml(name, path)
    table = data.get("tool", {}).get("nativeffi", {}).get("gen", {}).get(name)
    if not isinstance(table, dict):
        raise GenError(f"--config {name}: {path} has no [tool.nativeffi.gen.{name}] table")
    known = {"headers", "output", "asset", "include-dirs", "defines", "target", "include", "exclude", "leaf",
             "varargs", "all-files", "files", "lazy"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise GenError(f"[tool.nativeffi.gen.{name}]: unknown keys {unknown} (known: {sorted(known)})")
    return table


def main(argv: Sequence[str]) -> int:
    """``python -m nativeffi gen``: writes the module for the headers; skipped declarations go to stderr."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m nativeffi gen",
                                     description="Write a module of @native declarations for C headers (libclang).")
    parser.add_argument("headers", nargs="*", metavar="HEADER")
    parser.add_argument("-o", "--output", help="the module to write (default: stdout)")
    parser.add_argument("--asset", help="asset id, soname or path the declarations bind to (default_asset)")
    parser.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR")
    parser.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VALUE]")
    parser.add_argument("--target", help="clang target triple")
    parser.add_argument("--include", action="append", default=[], metavar="REGEX",
                        help="declare only names matching one of these")
    parser.add_argument("--exclude", action="append", default=[], metavar="REGEX", help="leave out matching names")
    parser.add_argument("--leaf", nargs="+", default=[], metavar="NAME", help="functions bound with is_leaf=True")
    parser.add_argument("--varargs", action="append", default=[], metavar="NAME:TYPE,...",
                        help="bind variadic function NAME with this variadic part, e.g. printf:Int,Double")
    parser.add_argument("--all-files", action="store_true", help="also declare what the headers include")
    parser.add_argument("--lazy", action="store_true", help="declare each function on its first use")
    parser.add_argument("--files", action="append", default=[], metavar="REGEX",
                        help="also declare what included files whose path matches declare (e.g. /lzma/)")
    parser.add_argument("--config", metavar="NAME", help="read settings from [tool.nativeffi.gen.NAME] in "
                                                         "./pyproject.toml (command-line values are added)")
    a = parser.parse_args(list(argv))
    try:
        settings: dict[str, Any] = _config(a.config) if a.config else {}
        headers = list(settings.get("headers", [])) + a.headers
        if not headers:
            parser.error("no HEADER given")
        varargs = parse_varargs(list(settings.get("varargs", [])) + a.varargs)
        output = a.output or settings.get("output")
        command = "python -m nativeffi gen " + " ".join(argv)
        result = generate(headers, asset=a.asset or settings.get("asset"),
                          include_dirs=list(settings.get("include-dirs", [])) + a.include_dirs,
                          defines=list(settings.get("defines", [])) + a.defines, target=a.target or
                          settings.get("target"), include=list(settings.get("include", [])) + a.include,
                          exclude=list(settings.get("exclude", [])) + a.exclude,
                          leaf=list(settings.get("leaf", [])) + a.leaf, varargs=varargs,
                          all_files=a.all_files or bool(settings.get("all-files")),
                          files=list(settings.get("files", [])) + a.files,
                          lazy=a.lazy or bool(settings.get("lazy")), command=command)
    except GenError as e:
        print(f"nativeffi gen: {e}", file=sys.stderr)
        return 1
    for s in result.skipped:
        print(f"nativeffi gen: skipped {s.name}: {s.reason}", file=sys.stderr)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(result.source)
        print(f"nativeffi gen: wrote {output}: {len(result.declared)} declarations, {len(result.skipped)} skipped",
              file=sys.stderr)
    else:
        sys.stdout.write(result.source)
    return 0
