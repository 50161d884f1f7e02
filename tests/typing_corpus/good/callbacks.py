"""Callbacks of the three kinds: qsort's comparator (isolate_local), a pthread's start routine
(isolate_group_bound) and events posted from a native thread to asyncio (listener)."""
# Declarations have `...` bodies, which mypy --strict reports as empty-body errors in .py files:
# mypy: disable-error-code="empty-body"
from __future__ import annotations

import array
import asyncio

from nativeffi import (Int, Int32, Int64, NativeCallable, NativeFunction, Pointer, PointerLike, Size, UnsignedLong,
                       Void, calloc, native, run)

Compare = NativeFunction[[Pointer[Int32], Pointer[Int32]], Int]
StartRoutine = NativeFunction[[Pointer[Void]], Pointer[Void]]
OnEvent = NativeFunction[[Int64], Void]


@native(asset="libc.so.6")
def qsort(base: PointerLike[Int32], count: Size, size: Size, compare: PointerLike[Compare]) -> None: ...


@native(asset="libc.so.6")
def pthread_create(thread: PointerLike[UnsignedLong], attr: PointerLike[Void], start: PointerLike[StartRoutine],
                   arg: PointerLike[Void]) -> Int: ...


@native(asset="libc.so.6")
def pthread_join(thread: UnsignedLong, retval: PointerLike[Pointer[Void]]) -> Int: ...


def by_value(a: Pointer[Int32], b: Pointer[Int32]) -> int:
    return (a.value > b.value) - (a.value < b.value)


def sort_numbers(values: list[int]) -> list[int]:
    data = array.array("i", values)
    with NativeCallable.isolate_local(Compare, by_value, exceptional_return=0) as compare:
        qsort(data, len(data), data.itemsize, compare)
    return data.tolist()


def in_a_thread() -> list[int]:
    seen: list[int] = []

    def start(arg: Pointer[Void]) -> Pointer[Void]:
        seen.append(arg.address)
        return arg

    with NativeCallable.isolate_group_bound(StartRoutine, start, exceptional_return=None) as routine:
        thread = calloc(UnsignedLong)
        marker = Pointer[Void].from_address(0x1234)
        assert pthread_create(thread, None, routine, marker) == 0
        assert pthread_join(thread.value, None) == 0
        calloc.free(thread)
    return seen


async def events() -> list[int]:
    received: list[int] = []
    done = asyncio.get_running_loop().create_future()

    def on_event(n: int) -> None:
        received.append(n)
        if len(received) == 3:
            done.set_result(None)

    listener = NativeCallable.listener(OnEvent, on_event)
    post = listener.native_function.cast(OnEvent).as_function()
    for n in (1, 2, 3):
        post(n)
    await done
    listener.close()
    return received


def main() -> None:
    assert sort_numbers([5, -2, 9, 0]) == [-2, 0, 5, 9]
    assert in_a_thread() == [0x1234]
    assert run(events()) == [1, 2, 3]


if __name__ == "__main__":
    main()
