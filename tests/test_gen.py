"""``nativeffi gen``: modules generated from C headers import, match the C compiler's layouts, type-check, and call."""
from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys
import zlib
from typing import Any

import pytest

pytest.importorskip("clang.cindex", reason="libclang is not installed (it comes with the test extra)")

import nativeffi  # noqa: E402
from nativeffi import fields, offsetof, sizeof, alignof  # noqa: E402
from nativeffi.gen import GenError, GenResult, Layout, generate, main  # noqa: E402

from test_typing import run_mypy  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
SAMPLE = HERE / "native" / "gen_sample.h"
from build import CC  # noqa: E402  (the tests' one C compiler: $CC, the cross compiler in the AArch64 job)
# Real headers of the machine, with the library each module binds to and the included files declared too.
REAL = {"zlib.h": ("libz.so.1", []), "sqlite3.h": ("libsqlite3.so.0", []), "bzlib.h": ("libbz2.so.1.0", []),
        "lzma.h": ("liblzma.so.5", ["/lzma/"]), "expat.h": ("libexpat.so.1", ["expat_external"]),
        "openssl/evp.h": ("libcrypto.so.3", []), "yaml.h": ("libyaml-0.2.so.2", []),
        "png.h": ("libpng16.so.16", ["pngconf", "pnglibconf"])}


def installed(header: str) -> bool:
    return os.path.isfile(os.path.join("/usr/include", header))


def load(result: GenResult, path: pathlib.Path, name: str) -> Any:
    """Writes the generated module and imports it."""
    path.write_text(result.source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def python_layout(module: Any, layout: Layout) -> tuple[int, int, dict[str, int], dict[str, int]]:
    """nativeffi's size, alignment, byte offsets (C member name -> offset, anonymous members flattened) and bit
    offsets of one generated struct or union."""
    cls = getattr(module, layout.py_name)
    offsets: dict[str, int] = {}
    bits: dict[str, int] = {}
    by_name = {f.name: f for f in fields(cls)}
    for py, c in layout.fields:
        if c is None:
            inner = next(x for x in LAYOUTS[id(module)] if x.py_name == layout.members[py])
            _, _, inner_offsets, inner_bits = python_layout(module, inner)
            base = offsetof(cls, py)
            offsets.update({k: base + v for k, v in inner_offsets.items()})
            bits.update({k: base * 8 + v for k, v in inner_bits.items()})
        elif c in layout.bit_fields:
            bits[c] = by_name[py].bit_offset
        else:
            offsets[c] = offsetof(cls, py)
    return sizeof(cls), alignof(cls), offsets, bits


LAYOUTS: dict[int, list[Layout]] = {}


def c_layouts(headers: list[str], layouts: list[Layout], tmp_path: pathlib.Path,
              extra: tuple[str, ...] = ()) -> dict[str, tuple[int, int, dict[str, int], dict[str, int]]]:
    """The same figures from a C program compiled with the system compiler: sizeof, alignof, offsetof, and for bit
    fields the lowest bit a field set to all ones occupies."""
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <string.h>"]
    lines += [f'#include "{h}"' if h.startswith("/") else f"#include <{h}>" for h in headers]
    lines += ["static int lowbit(const unsigned char *p, size_t n) {",
              "    for (size_t i = 0; i < n * 8; i++) if (p[i / 8] >> (i % 8) & 1) return (int)i;",
              "    return -1;", "}",
              "int main(void) {"]
    for lay in layouts:
        if lay.c_type is None:
            continue
        t = lay.c_type
        lines.append(f'    printf("T {lay.py_name} %zu %zu\\n", sizeof({t}), _Alignof({t}));')
        for c, kind in flat_members(lay, layouts):
            if kind == "bit":
                lines.append(f"    {{ {t} s; memset(&s, 0, sizeof s); s.{c} = ~0; "
                             f'printf("B {lay.py_name} {c} %d\\n", lowbit((const unsigned char *)&s, sizeof s)); }}')
            else:
                lines.append(f'    printf("O {lay.py_name} {c} %zu\\n", offsetof({t}, {c}));')
    lines += ["    return 0;", "}"]
    src = tmp_path / "probe.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "probe"
    subprocess.run([CC, "-std=gnu11", "-w", *extra, "-o", str(exe), str(src)], check=True)
    out: dict[str, tuple[int, int, dict[str, int], dict[str, int]]] = {}
    for line in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines():
        tag, name, *rest = line.split()
        if tag == "T":
            out[name] = (int(rest[0]), int(rest[1]), {}, {})
        elif tag == "O":
            out[name][2][rest[0]] = int(rest[1])
        else:
            out[name][3][rest[0]] = int(rest[1])
    return out


def flat_members(lay: Layout, layouts: list[Layout]) -> list[tuple[str, str]]:
    """(C member name, "byte" or "bit") of a layout, members of anonymous members included as C names them."""
    out = []
    for py, c in lay.fields:
        if c is None:
            inner = next(x for x in layouts if x.py_name == lay.members[py])
            out += flat_members(inner, layouts)
        else:
            out.append((c, "bit" if c in lay.bit_fields else "byte"))
    return out


def check_layouts(module: Any, result: GenResult, headers: list[str], tmp_path: pathlib.Path,
                  extra: tuple[str, ...] = ()) -> int:
    """Compares every struct and union of a generated module with the C compiler; returns how many were checked."""
    LAYOUTS[id(module)] = result.layouts
    expected = c_layouts(headers, result.layouts, tmp_path, extra)
    checked = 0
    for lay in result.layouts:
        if lay.c_type is None:
            continue
        assert python_layout(module, lay) == expected[lay.py_name], lay.py_name
        checked += 1
    return checked


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, native_lib: Any) -> tuple[GenResult, Any]:
    tmp = tmp_path_factory.mktemp("gen")
    result = generate([str(SAMPLE)], asset=native_lib("gen_sample"), varargs={"gs_sum": ["Int", "Int"]},
                      leaf=["gs_add"])
    return result, load(result, tmp / "gs_module.py", "gs_module")


def test_sample_declarations(sample: tuple[GenResult, Any]) -> None:
    """Every construct of the sample header is declared as nativeffi expresses it, and C calls through it work."""
    result, m = sample
    assert (m.GS_VERSION, m.GS_MASK, m.GS_NEG, m.GS_BIG, m.GS_RATIO, m.GS_NAME, m.GS_EXPR) == \
        (3, 1 << 31, -42, 2**64 - 1, 0.25, "gen sample", 7)
    assert (m.gs_color.GS_GREEN, m.gs_color.GS_BLUE, m.gs_size_class.GS_SMALL, m.GS_ANON_B) == (5, 6, -1, 8)
    assert m.gs_add(2, 3) == 5 and nativeffi.binding_of(m.gs_add).is_leaf
    assert m.gs_keywords(1, 2, 3) == 123
    assert m.gs_strlen(b"four") == 4
    mid = m.gs_mid(m.gs_point(0.0, 0.0), m.gs_point(2.0, 4.0))
    assert (mid.x, mid.y) == (1.0, 2.0)
    assert m.gs_next_color(m.gs_color.GS_RED) == m.gs_color.GS_GREEN
    assert m.gs_sum(2, 40, 2) == 42
    assert m.gs_as_float(1.0).i == 0x3F800000  # a union returned by value
    assert m.gs_classify(-5) == m.gs_size_class.GS_SMALL and m.gs_classify(5) == m.gs_size_class.GS_LARGE
    assert m.gs_array_param(nativeffi.Array[m.Int, 4]([1, 2, 3, 4])) == 5  # an array parameter is a pointer
    assert m.gs_counter.value == 7 and m.gs_greeting.value.to_str() == "hello" and m.gs_origin.value.y == -2.5
    with pytest.raises(Exception):
        m.gs_greeting.value = nativeffi.nullptr  # const: final=True
    values = nativeffi.malloc(m.Int, 4)
    for i, v in enumerate([3, 1, 4, 2]):
        values[i] = v
    compare = nativeffi.NativeCallable.isolate_local(
        m.gs_compare, lambda a, b: a.cast(m.Int).value - b.cast(m.Int).value, exceptional_return=0)
    m.gs_sort(values, 4, compare.native_function)
    assert [values[i] for i in range(4)] == [1, 2, 3, 4]
    compare.close()
    nativeffi.malloc.free(values)
    node = m.gs_node(value=5)
    lst = m.gs_list(head=node.address, count=1)
    node.owner = lst.address
    assert lst.head.ref.value == 5 and node.owner.ref.count == 1 and m.gs_count(lst.address) == 1
    assert issubclass(m.gs_opaque, nativeffi.Opaque)
    # forward references: a callback field taking its own struct, a pointer typedef used inside its struct
    self_type = nativeffi.NativeFunction[[nativeffi.Pointer[m.gs_callbacks], m.Int], m.Int]
    cb = nativeffi.NativeCallable.isolate_local(self_type, lambda p, x: x * 10 + int(p == cbs.address),
                                                exceptional_return=-1)
    cbs = m.gs_callbacks(self_cb=cb.native_function)
    assert m.gs_call_self(cbs.address, 4) == 41
    assert cbs.self_cb.as_function()(cbs.address, 5) == 51
    cb.close()
    leaves = [m.gs_tree(key=k) for k in (1, 2)]
    root = m.gs_tree(left=leaves[0].address, right=leaves[1].address, key=3)
    assert m.gs_tree_sum(root.address) == 6 and root.left.ref.key == 1
    skipped = {s.name: s.reason for s in result.skipped}
    assert m.gs_long_double(1.5) == 0.5  # long double: a LongDouble binding
    for name, words in {"gs_format": "variadic", "gs_vformat": "va_list",
                        "gs_wide": "__int128", "gs_vector": "vector", "gs_inline": "inline", "gs_flex": "flexible",
                        "gs_aligned": "aligned", "gs_overaligned_field": "aligned attribute",
                        "gs_aligned_int": "aligned attribute",
                        "GS_SQUARE": "function-like", "GS_TYPE": "not a constant expression",
                        "GS_ALIAS": "naming the function gs_add", "GS_NOWHERE": "evaluates to a pointer"}.items():
        assert words in skipped[name], (name, skipped[name])
        assert f"#   {name}: " in result.source
    assert "GS_EMPTY" not in result.source and "gs_format" not in result.declared
    assert set(m.__all__) == set(result.declared)


def test_sample_layouts_match_the_compiler(sample: tuple[GenResult, Any], tmp_path: pathlib.Path) -> None:
    """sizeof, alignof, offsetof and bit offsets of every sample struct and union equal what C computes."""
    result, m = sample
    assert check_layouts(m, result, [str(SAMPLE)], tmp_path) == 10


def test_rerun_is_byte_identical(sample: tuple[GenResult, Any], native_lib: Any) -> None:
    """Generating the same module twice gives the same bytes."""
    again = generate([str(SAMPLE)], asset=native_lib("gen_sample"), varargs={"gs_sum": ["Int", "Int"]},
                     leaf=["gs_add"])
    assert again.source == sample[0].source


def test_sample_passes_mypy_strict(sample: tuple[GenResult, Any], tmp_path: pathlib.Path) -> None:
    """The generated module passes mypy --strict (empty-body disabled, as for every module of declarations)."""
    path = tmp_path / "gs_checked.py"
    path.write_text(sample[0].source)
    out, code = run_mypy(tmp_path, "--strict", str(path))
    assert code == 0, out


def test_unparsable_header_reports_clang_errors(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A header clang rejects raises GenError with file:line, and the CLI writes nothing."""
    bad = tmp_path / "bad.h"
    bad.write_text("int ok(void);\nint broken(int x;\n")
    with pytest.raises(GenError, match=r"bad\.h:2:\d+: error: "):
        generate([str(bad)])
    out = tmp_path / "out.py"
    assert main([str(bad), "-o", str(out)]) == 1
    assert not out.exists()
    assert "bad.h:2:" in capsys.readouterr().err


def test_cli_writes_the_module_and_lists_skips(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m nativeffi gen` writes what generate() returns and lists skipped declarations on stderr."""
    out = tmp_path / "z.py"
    assert main(["zlib.h", "--asset", "libz.so.1", "--include", "^(crc32|compress|Z_OK)$", "-o", str(out)]) == 0
    text = out.read_text()
    assert "def crc32(crc: uLong, buf: PointerLike[Bytef], len: uInt) -> uLong: ..." in text
    assert "def compress(" in text and "Z_OK: Final = 0" in text and "def uncompress(" not in text
    err = capsys.readouterr().err
    assert "wrote" in err


# -- Real headers -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[GenResult, Any]]:
    tmp = tmp_path_factory.mktemp("real")
    out = {}
    for header, (asset, files) in REAL.items():
        if installed(header):
            name = "gen_" + header.replace("/", "_").replace(".h", "")
            result = generate([header], asset=asset, files=files)
            out[header] = (result, load(result, tmp / f"{name}.py", name))
    return out


@pytest.mark.parametrize("header", sorted(REAL))
def test_real_header_layouts(header: str, real: dict[str, tuple[GenResult, Any]], tmp_path: pathlib.Path) -> None:
    """Each installed real header's module imports and every struct and union in it matches the C compiler."""
    if header not in real:
        pytest.skip(f"{header} is not installed on this machine")
    result, m = real[header]
    assert result.declared
    check_layouts(m, result, [header], tmp_path)


def test_zlib_round_trip_with_generated_bindings(real: dict[str, tuple[GenResult, Any]]) -> None:
    """compress/uncompress from the generated zlib module round-trip data and agree with Python's zlib module."""
    z = real["zlib.h"][1]
    data = b"nativeffi gen " * 1000
    bound = z.compressBound(len(data))
    dest = bytearray(bound)
    dest_len = nativeffi.malloc(z.uLongf, 1)
    dest_len.value = bound
    assert z.compress(dest, dest_len, data, len(data)) == z.Z_OK
    packed = bytes(dest[:dest_len.value])
    assert zlib.decompress(packed) == data
    back = bytearray(len(data))
    dest_len.value = len(data)
    assert z.uncompress(back, dest_len, packed, len(packed)) == z.Z_OK
    assert bytes(back) == data and dest_len.value == len(data)
    assert z.crc32(0, data, len(data)) == zlib.crc32(data)
    nativeffi.malloc.free(dest_len)


def test_real_modules_pass_mypy_strict(real: dict[str, tuple[GenResult, Any]], tmp_path: pathlib.Path) -> None:
    """Every real header's generated module passes mypy --strict (empty-body disabled)."""
    paths = []
    for header, (result, _) in real.items():
        path = tmp_path / ("checked_" + header.replace("/", "_").replace(".h", ".py"))
        path.write_text(result.source)
        paths.append(str(path))
    out, code = run_mypy(tmp_path, "--strict", *paths)
    assert code == 0, out


def test_sqlite_with_generated_bindings(real: dict[str, tuple[GenResult, Any]]) -> None:
    """open, prepare, bind, step and column through the generated sqlite3 module, with a scalar SQL function
    implemented as a NativeCallable, give what Python's sqlite3 module gives for the same query."""
    if "sqlite3.h" not in real:
        pytest.skip("sqlite3.h is not installed on this machine")
    s = real["sqlite3.h"][1]
    import sqlite3 as pysqlite

    db_out = nativeffi.malloc(nativeffi.Pointer[s.sqlite3], 1)
    assert s.sqlite3_open(b":memory:", db_out) == s.SQLITE_OK
    db = db_out.value

    def twice(ctx: Any, argc: int, argv: Any) -> None:
        s.sqlite3_result_int64(ctx, 2 * s.sqlite3_value_int64(argv[0]))

    xfunc_type = nativeffi.NativeFunction[[nativeffi.Pointer[s.sqlite3_context], s.Int,
                                          nativeffi.Pointer[nativeffi.Pointer[s.sqlite3_value]]], None]
    xfunc = nativeffi.NativeCallable.isolate_local(xfunc_type, twice)
    assert s.sqlite3_create_function(db, b"twice", 1, s.SQLITE_UTF8 | s.SQLITE_DETERMINISTIC, None,
                                     xfunc.native_function, None, None) == s.SQLITE_OK
    query = "SELECT twice(?1), upper(?2), ?1 + 0.5"
    stmt_out = nativeffi.malloc(nativeffi.Pointer[s.sqlite3_stmt], 1)
    assert s.sqlite3_prepare_v2(db, query.encode(), -1, stmt_out, None) == s.SQLITE_OK
    stmt = stmt_out.value
    text = b"native"
    assert s.sqlite3_bind_int(stmt, 1, 21) == s.SQLITE_OK
    assert s.sqlite3_bind_text(stmt, 2, text, len(text), None) == s.SQLITE_OK  # SQLITE_STATIC: `text` outlives stmt
    assert s.sqlite3_step(stmt) == s.SQLITE_ROW
    row = (s.sqlite3_column_int64(stmt, 0), s.sqlite3_column_text(stmt, 1).cast(s.Char).to_str(),
           s.sqlite3_column_double(stmt, 2))
    assert s.sqlite3_step(stmt) == s.SQLITE_DONE
    assert s.sqlite3_finalize(stmt) == s.SQLITE_OK
    assert s.sqlite3_close(db) == s.SQLITE_OK
    xfunc.close()
    conn = pysqlite.connect(":memory:")
    conn.create_function("twice", 1, lambda v: 2 * v)
    # ?1 and ?2 are named parameters to the sqlite3 module (a sequence for them is deprecated since 3.12)
    assert row == conn.execute(query, {"1": 21, "2": "native"}).fetchone() == (42, "NATIVE", 21.5)
    conn.close()
    nativeffi.malloc.free(db_out)
    nativeffi.malloc.free(stmt_out)


def test_pyproject_config_table(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--config NAME` reads [tool.nativeffi.gen.NAME] from ./pyproject.toml, one table per binding set."""
    pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nativeffi.gen.z]\nheaders = ["zlib.h"]\noutput = "z.py"\nasset = "libz.so.1"\n'
        'include = ["^(crc32|adler32)$"]\nleaf = ["crc32"]\n'
        f'[tool.nativeffi.gen.sample]\nheaders = ["{SAMPLE}"]\noutput = "s.py"\nvarargs = ["gs_sum:Int,Double"]\n'
        'include = ["^gs_sum$"]\n')
    monkeypatch.chdir(tmp_path)
    assert main(["--config", "z"]) == 0 and main(["--config", "sample"]) == 0
    z = (tmp_path / "z.py").read_text()
    assert "default_asset('libz.so.1')" in z and "@native(is_leaf=True)\ndef crc32(" in z and "\ndef adler32(" in z
    assert "def compress(" not in z
    assert "@native(NativeFunction[[Int, VarArgs[Int, Double]], Int])" in (tmp_path / "s.py").read_text()
    (tmp_path / "pyproject.toml").write_text('[tool.nativeffi.gen.z]\nheader = ["zlib.h"]\n')
    assert main(["--config", "z"]) == 1


def real_module(real: dict[str, tuple[GenResult, Any]], header: str) -> Any:
    if header not in real:
        pytest.skip(f"{header} is not installed on this machine")
    return real[header][1]


def test_bzip2_round_trip_with_generated_bindings(real: dict[str, tuple[GenResult, Any]]) -> None:
    """BZ2_bzBuffToBuff{Compress,Decompress} from the generated module agree with Python's bz2 module."""
    import bz2
    b = real_module(real, "bzlib.h")
    data = b"nativeffi gen bzip2 " * 500
    dest = bytearray(len(data) + len(data) // 100 + 600)
    n = nativeffi.malloc(b.UnsignedInt, 1)
    n.value = len(dest)
    assert b.BZ2_bzBuffToBuffCompress(dest, n, data, len(data), 9, 0, 0) == b.BZ_OK
    packed = bytes(dest[:n.value])
    assert bz2.decompress(packed) == data
    back = bytearray(len(data))
    n.value = len(back)
    assert b.BZ2_bzBuffToBuffDecompress(back, n, bz2.compress(data), len(bz2.compress(data)), 0, 0) == b.BZ_OK
    assert bytes(back) == data and n.value == len(data)
    nativeffi.malloc.free(n)


def test_lzma_round_trip_with_generated_bindings(real: dict[str, tuple[GenResult, Any]]) -> None:
    """lzma_easy_buffer_encode and lzma_stream_buffer_decode from the generated module agree with Python's lzma."""
    import lzma
    x = real_module(real, "lzma.h")
    data = b"nativeffi gen lzma " * 500
    out = bytearray(len(data) + 1024)
    pos = nativeffi.malloc(x.Size, 2)
    pos[0] = 0
    assert x.lzma_easy_buffer_encode(6, x.lzma_check.LZMA_CHECK_CRC64, None, data, len(data), out, pos,
                                     len(out)) == x.lzma_ret.LZMA_OK
    assert lzma.decompress(bytes(out[:pos[0]])) == data
    packed = lzma.compress(data)
    memlimit = nativeffi.malloc(x.Uint64, 1)
    memlimit.value = 1 << 30
    back = bytearray(len(data))
    pos[0], pos[1] = 0, 0
    assert x.lzma_stream_buffer_decode(memlimit, 0, None, packed, pos, len(packed), back, pos + 1,
                                       len(back)) == x.lzma_ret.LZMA_OK
    assert bytes(back) == data and pos[1] == len(data)
    nativeffi.malloc.free(pos)
    nativeffi.malloc.free(memlimit)


def test_expat_callbacks_with_generated_bindings(real: dict[str, tuple[GenResult, Any]]) -> None:
    """Start and end element handlers made from the generated handler types see what xml.parsers.expat sees."""
    from xml.parsers import expat as pyexpat
    e = real_module(real, "expat.h")
    doc = b'<root a="1"><item id="x">text</item><item id="y"/></root>'
    seen: list[tuple[str, ...]] = []

    def start(user: Any, name: Any, atts: Any) -> None:
        attrs = []
        i = 0
        while not atts[i].is_null:
            attrs.append(atts[i].cast(e.Char).to_str())
            i += 1
        seen.append(("start", name.cast(e.Char).to_str(), *attrs))

    def end(user: Any, name: Any) -> None:
        seen.append(("end", name.cast(e.Char).to_str()))

    on_start = nativeffi.NativeCallable.isolate_local(e.XML_StartElementHandler, start)
    on_end = nativeffi.NativeCallable.isolate_local(e.XML_EndElementHandler, end)
    parser = e.XML_ParserCreate(None)
    e.XML_SetElementHandler(parser, on_start.native_function, on_end.native_function)
    assert e.XML_Parse(parser, doc, len(doc), 1) == e.XML_Status.XML_STATUS_OK
    e.XML_ParserFree(parser)
    on_start.close()
    on_end.close()
    expected: list[tuple[str, ...]] = []
    p = pyexpat.ParserCreate()
    p.StartElementHandler = lambda name, attrs: expected.append(
        ("start", name, *[x for kv in attrs.items() for x in kv]))
    p.EndElementHandler = lambda name: expected.append(("end", name))
    p.Parse(doc, True)
    assert seen == expected and len(seen) == 6


def test_evp_sha256_with_generated_bindings(real: dict[str, tuple[GenResult, Any]]) -> None:
    """SHA-256 through the generated EVP digest API equals hashlib's."""
    import hashlib
    v = real_module(real, "openssl/evp.h")
    data = b"nativeffi gen sha-256 " * 100
    digest = bytearray(64)
    size = nativeffi.malloc(v.UnsignedInt, 1)
    ctx = v.EVP_MD_CTX_new()
    assert v.EVP_DigestInit_ex(ctx, v.EVP_sha256(), None) == 1
    assert v.EVP_DigestUpdate(ctx, data[:100], 100) == 1
    assert v.EVP_DigestUpdate(ctx, data[100:], len(data) - 100) == 1
    assert v.EVP_DigestFinal_ex(ctx, digest, size) == 1
    v.EVP_MD_CTX_free(ctx)
    assert bytes(digest[:size.value]) == hashlib.sha256(data).digest()
    assert v.EVP_MAX_MD_SIZE == 64
    nativeffi.malloc.free(size)


def test_benchmark_runs_and_import_opens_no_library() -> None:
    """The gen benchmark runs once; importing the generated sqlite3 module maps no libsqlite3 (lazy resolution)."""
    if not installed("sqlite3.h"):
        pytest.skip("sqlite3.h is not installed on this machine")
    from nativeffi.bench import gen as bench_gen
    rows: list[tuple[str, float, str, str]] = []
    results = bench_gen.run(lambda *row: rows.append(row), repeat=1)
    assert results["library_opened_at_import"] == 0.0
    assert results["generate"] > 0 and results["import"] > 0 and results["import_lazy"] > 0
    assert len(rows) == 4


def test_lazy_module_declares_functions_on_first_use(tmp_path: pathlib.Path, native_lib: Any) -> None:
    """With lazy=True no function is declared at import; first use declares it, calls work, mypy sees them all."""
    result = generate([str(SAMPLE)], asset=native_lib("gen_sample"), varargs={"gs_sum": ["Int", "Int"]}, lazy=True)
    m = load(result, tmp_path / "gs_lazy.py", "gs_lazy")
    assert "gs_add" not in vars(m) and "gs_add" in dir(m)
    assert m.gs_add(40, 2) == 42 and "gs_add" in vars(m)
    assert m.gs_sum(2, 1, 2) == 3 and m.gs_keywords(1, 2, 3) == 123
    with pytest.raises(AttributeError, match="no attribute 'gs_format'"):
        m.gs_format
    checked = tmp_path / "checked"
    checked.mkdir()
    (checked / "gs_lazy_checked.py").write_text(result.source + "\nx: int = gs_add(1, 2)\n")
    out, code = run_mypy(checked, "--strict", str(checked / "gs_lazy_checked.py"))
    assert code == 0, out


def test_include_dirs_defines_and_name_filters(tmp_path: pathlib.Path) -> None:
    """-I finds included headers, -D reaches the preprocessor, --include/--exclude filter by name, and only the
    named header's declarations are declared (the included header's only when used, or when --files matches)."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "dep.h").write_text("typedef long dep_t;\nint dep_only(void);\n")
    main_h = tmp_path / "top.h"
    main_h.write_text('#include "dep.h"\n#if WITH_EXTRA\nint extra(dep_t x);\n#endif\nint plain(void);\n'
                      "int other(void);\n")
    base = generate([str(main_h)], include_dirs=[str(tmp_path / "inc")])
    assert "def plain() -> Int: ..." in base.source and "extra" not in base.source and "dep_only" not in base.source
    extra = generate([str(main_h)], include_dirs=[str(tmp_path / "inc")], defines=["WITH_EXTRA=1"],
                     exclude=["^other$"])
    assert "dep_t = Long" in extra.source and "def extra(x: dep_t) -> Int: ..." in extra.source
    assert "def other(" not in extra.source and "dep_only" not in extra.source
    assert "def dep_only(" in generate([str(main_h)], include_dirs=[str(tmp_path / "inc")], files=["/inc/"]).source
    only = generate([str(main_h)], include_dirs=[str(tmp_path / "inc")], include=["^pl"])
    assert only.declared == ["plain"]
    with pytest.raises(GenError, match="dep.h"):
        generate([str(main_h)])  # without -I the include fails, with clang's file:line
