"""Pointers and text as ctypes users expect them: nullptr's value, str for byte pointers, wchar_t strings, lambdas."""
from __future__ import annotations

import pytest

import nativeffi
from nativeffi import (Char, Int8, Int32, NativeFunction, NullPointerError, Pointer, Size, UnsignedChar, Uint8,
                       Utf8, WChar, malloc, native, nullptr, sizeof)

BYTE_POINTERS = [  # (pointee, why C code passes text through a pointer to it)
    (Char, "char *: C strings"),
    (Utf8, "nativeffi's UTF-8 marker type"),
    (Uint8, "uint8_t *: byte buffers that hold text (zlib, OpenSSL)"),
    (UnsignedChar, "unsigned char *: sqlite3_column_text, libxml2's xmlChar"),
    (Int8, "int8_t *: signed bytes, the same memory as char on x86-64"),
]


def test_nullptr_value_raises_null_pointer_error() -> None:
    """nullptr.value, nullptr[0] and writes through it raise NullPointerError (not TypeError), as the README says."""
    with pytest.raises(NullPointerError, match="cannot read through a null Pointer"):
        nullptr.value
    with pytest.raises(NullPointerError):
        nullptr[0]
    with pytest.raises(NullPointerError, match="cannot write through a null"):
        nullptr.value = 1
    with pytest.raises(TypeError, match="its pointee has no values"):   # a non-null untyped pointer: no pointee
        Pointer.from_address(8).value


@pytest.mark.parametrize("pointee,why", BYTE_POINTERS, ids=[w.split(":")[0] for _, w in BYTE_POINTERS])
def test_str_passes_for_every_byte_pointer(pointee, why) -> None:
    """A str argument for a pointer to any byte type is its NUL-terminated UTF-8, as C's strlen counts it."""
    strlen = native(NativeFunction[[Pointer[pointee]], Size], symbol="strlen")(lambda s: ...)
    assert strlen("héllo") == len("héllo".encode()) == 6


@pytest.mark.parametrize("pointee,why", BYTE_POINTERS, ids=[w.split(":")[0] for _, w in BYTE_POINTERS])
def test_to_str_reads_every_byte_pointer(pointee, why) -> None:
    """to_str() decodes UTF-8 through a pointer to any byte type, up to the NUL or exactly `length` bytes."""
    raw = malloc(Uint8, 8)
    raw.as_memoryview(8)[:] = "héllo\0xy".encode()[:8]
    p = raw.cast(pointee)
    assert p.to_str() == "héllo" and p.to_str(3) == "hé"
    malloc.free(raw)


def test_str_refused_for_wider_pointers() -> None:
    """A str for a pointer to a wider type is a TypeError naming the byte types that accept str."""
    strlen = native(NativeFunction[[Pointer[Int32]], Size], symbol="strlen")(lambda s: ...)
    with pytest.raises(TypeError, match=r"str is accepted for pointers to bytes: Pointer\[Utf8\], Pointer\[Char\], "
                                        r"Pointer\[Uint8\]"):
        strlen("abc")
    with pytest.raises(TypeError, match=r"to_str\(\) is for pointers to bytes .* and Pointer\[WChar\], not "
                                        r"Pointer\[Int32\]"):
        malloc(Int32).to_str()


def test_native_accepts_a_lambda_with_ellipsis_body() -> None:
    """native(T, symbol=...)(lambda a, b: ...) binds like a def; the binding is named after its symbol."""
    strncmp = native(NativeFunction[[Pointer[Char], Pointer[Char], Size], nativeffi.Int], symbol="strncmp")(
        lambda a, b, n: ...)
    assert strncmp("abcd", "abcz", 3) == 0 and strncmp("abcd", "abcz", 4) < 0
    assert strncmp.__name__ == "strncmp" and strncmp.__text_signature__ == "(a, b, n)"


def test_native_lambda_needs_ellipsis_body_and_symbol() -> None:
    """A lambda with another body, or without symbol=, is refused with a message saying what to write."""
    T = NativeFunction[[Pointer[Char]], Size]
    with pytest.raises(TypeError, match=r"the body must be `...`.*lambda a, b: ..."):
        native(T, symbol="strlen")(lambda s: 0)
    with pytest.raises(TypeError, match="a lambda has no name to look up; give symbol="):
        native(T)(lambda s: ...)


# Text through to_str(): (reason, bytes). Short ASCII text takes the core's shortcut (2 to 256 bytes, scanned 8 at a
# time), everything else CPython's decoder; both must give what bytes.decode gives, or raise what it raises.
TO_STR_CASES = [
    ("empty: CPython's shared empty str", b""),
    ("one byte: CPython's shared 1-character str", b"a"),
    ("two bytes: the shortest shortcut", b"ab"),
    ("two bytes, one character of two", b"\xc3\xa9"),
    ("three bytes: two 2-byte reads that overlap", b"a\xc3\xa9"),
    ("three bytes, an invalid byte only in the second 2-byte read", b"ab\x80"),
    ("six bytes: two 4-byte reads, non-ASCII only in the second", b"abcd\xc3\xa9"),
    ("seven bytes, an invalid byte in the middle", b"abc\x80def"),
    ("an element name, under one word", b"record"),
    ("exactly one 8-byte word", b"abcdefgh"),
    ("a word and a tail byte", b"abcdefghi"),
    ("DEL is still ASCII", b"a\x7fb\x7f\x7f\x7f\x7f\x7f\x7f"),
    ("256 bytes: the longest shortcut", bytes(range(32, 128)) * 2 + b"x" * 64),
    ("257 bytes: the decoder", b"y" * 257),
    ("two-byte character in the tail", b"abcdefgh\xc3\xa9"),
    ("two-byte character across a word's end", b"abcdefg\xc3\xa9"),
    ("three-byte character first", b"\xe2\x82\xac 5"),
    ("long non-ASCII text", "Grüße, 世界! ".encode() * 30),
    ("invalid start byte at a word's last byte", b"abcdefg\x80"),
    ("invalid byte after 100 ASCII bytes", b"x" * 100 + b"\xff"),
    ("truncated sequence at the end", b"abc\xe2\x82"),
    ("invalid continuation byte in the tail", b"abcdefgh\xc3("),
    ("surrogate encoded as UTF-8 (refused by strict)", b"ab\xed\xa0\x80"),
]


@pytest.mark.parametrize("why,raw", TO_STR_CASES, ids=[c[0] for c in TO_STR_CASES])
def test_to_str_decodes_as_bytes_decode(why: str, raw: bytes) -> None:
    """to_str(n) and to_str() (up to the NUL) give bytes.decode('utf-8')'s str, or its UnicodeDecodeError message."""
    buf = malloc(Char, len(raw) + 1)
    buf.cast(Uint8).as_memoryview(len(raw) + 1)[:] = raw + b"\0"
    try:
        expected: object = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        expected = e
    try:
        for read in (lambda: buf.to_str(len(raw)), buf.to_str):
            if isinstance(expected, UnicodeDecodeError):
                with pytest.raises(UnicodeDecodeError) as got:
                    read()
                assert str(got.value) == str(expected) and got.value.object == raw
            else:
                s = read()
                assert type(s) is str and s == expected and hash(s) == hash(expected) and {expected: 1}[s] == 1
                assert s.isascii() == expected.isascii()
    finally:
        malloc.free(buf)
