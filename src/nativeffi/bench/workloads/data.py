"""The workloads' inputs, generated deterministically at a given scale (1.0: the sizes the issue names)."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
ZLIB_LEVEL = 6


@dataclass
class Inputs:
    """Everything the six workloads read; every implementation gets the same objects."""

    rows: int                   # SQLite: rows inserted (each (id, name, score)), then grouped by a Python function
    messages: list[bytes]       # SHA-256: small messages, 16 to 160 bytes
    paths: list[str]            # stat + localtime_r + strftime: the files stat'ed, in order (100 distinct files)
    buffers: list[bytes]        # zlib: small buffers, 64 to 1,024 bytes, compressible
    document: bytes             # expat: a generated XML document (5 MB at scale 1)
    ints: list[int]             # qsort: ints in [-10**6, 10**6]


def score(i: int) -> int:
    """The SQLite rows' score column."""
    return i * 7919 % 1000


def bucket(score: int) -> int:
    """The Python scalar function the SQLite query calls once per row."""
    return score // 100


def document(nbytes: int) -> bytes:
    """An XML document of about `nbytes`: records with attributes, two child elements with text each."""
    parts = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<records>\n"]
    size, i = len(parts[0]), 0
    while size < nbytes:
        rec = (f'<record id="{i}" kind="{"abc"[i % 3]}"><title>Record number {i}</title>'
               f'<body>Some text for record {i}, long enough to be split {i * 31 % 97} times.</body></record>\n')
        parts.append(rec)
        size += len(rec)
        i += 1
    parts.append("</records>\n")
    return "".join(parts).encode()


def make(workdir: Path, scale: float = 1.0) -> Inputs:
    """The inputs at `scale` (the test suite uses a tiny one); creates the files to stat under `workdir`."""
    rng = random.Random(13)
    n = max(1, int(10_000 * scale))
    messages = [(f"message {i}: " * (1 + i % 10)).encode()[:16 + i % 145] for i in range(n)]
    files = workdir / "stat-files"
    files.mkdir(parents=True, exist_ok=True)
    distinct = []
    for k in range(100):
        p = files / f"f{k:03d}"
        p.write_bytes(b"x" * k)
        t = 1_700_000_000 + k * 86_400 * 3 + k * 3_661  # whole seconds: C sees what os.stat rounds
        os.utime(p, (t, t))
        distinct.append(str(p))
    paths = [distinct[i % 100] for i in range(n)]
    buffers = [(f"{i} " + "the quick brown fox jumps over the lazy dog " * (1 + i % 23)).encode()[:64 + i * 37 % 961]
               for i in range(n)]
    ints = [rng.randint(-10**6, 10**6) for _ in range(max(2, int(100_000 * scale)))]
    return Inputs(rows=n, messages=messages, paths=paths, buffers=buffers,
                  document=document(max(1000, int(5_000_000 * scale))), ints=ints)
