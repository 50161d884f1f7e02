"""Rows of the benchmark table and the loop that times them, interleaved so that all rows see the same machine."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

UNROLL = 20  # statements per loop iteration: the loop's own cost is spread over 20 calls


@dataclass
class Row:
    """One measured line: `stmt` (e.g. ``"f(a, b)"``) run with the names of `env` as local variables.

    `ref` names the row of the same group this one is compared with (its floor, or ctypes for memory
    access); `target` is the ratio to `ref` the issue asks for, if any.
    """

    group: str
    impl: str
    stmt: str
    env: dict[str, Any]
    ref: Optional[str] = None
    target: Optional[float] = None
    ns: list[float] = field(default_factory=list)  # per-call times of each round
    _run: Optional[Callable[[int], None]] = None
    _n: int = 0

    @property
    def best(self) -> float:
        """Minimum over rounds: the least disturbed measurement."""
        return min(self.ns)

    @property
    def median(self) -> float:
        return statistics.median(self.ns)


@dataclass
class Skip:
    """A row or group that could not be measured, and why (a missing peer, a missing feature)."""

    group: str
    impl: str
    why: str


def _compile(row: Row) -> Callable[[int], None]:
    names = sorted(row.env)
    src = (f"def run(_n, {', '.join(names)}):\n"
           f"    for _ in range(_n):\n" + f"        {row.stmt}\n" * UNROLL)
    ns: dict[str, Any] = {}
    exec(compile(src, f"<bench {row.group}: {row.impl}>", "exec"), ns)  # noqa: S102 - our own statements
    run = ns["run"]
    values = [row.env[k] for k in names]
    return lambda n: run(n, *values)


def check(row: Row) -> None:
    """Runs the statement once, so that a broken row fails before timing (and binds lazy symbols)."""
    row._run = _compile(row)
    row._run(1)


def measure(rows: list[Row], rounds: int = 7, round_seconds: float = 0.02,
            progress: Optional[Callable[[int, int], None]] = None) -> None:
    """Times every row `rounds` times, round-robin, each time for about `round_seconds`."""
    for row in rows:
        if row._run is None:
            check(row)
        run = row._run
        assert run is not None
        n = 1
        while True:  # calibrate the iteration count
            t = time.perf_counter()
            run(n)
            dt = time.perf_counter() - t
            if dt > round_seconds / 4 or n > 1 << 24:
                break
            n *= 4
        row._n = max(1, int(n * round_seconds / max(dt, 1e-9)))
    for r in range(rounds):
        for row in rows:
            run = row._run
            assert run is not None
            t = time.perf_counter()
            run(row._n)
            dt = time.perf_counter() - t
            row.ns.append(dt / (row._n * UNROLL) * 1e9)
        if progress:
            progress(r + 1, rounds)
