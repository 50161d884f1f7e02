"""Wrong callbacks: each line marked E is an error both checkers must report."""
from __future__ import annotations

from nativeffi import Int, Int32, NativeCallable, NativeFunction, Pointer, Void

Compare = NativeFunction[[Pointer[Int32], Pointer[Int32]], Int]
OnEvent = NativeFunction[[Int32], Void]


def one_argument(a: Pointer[Int32]) -> int:
    return a.value


def says_text(a: Pointer[Int32], b: Pointer[Int32]) -> str:
    return "less"


def takes_ints(a: int, b: int) -> int:
    return a - b


def returns_int(n: int) -> int:
    return n


# Too few parameters: mypy infers the ParamSpec from the callback and misses it (a known mypy gap: "-").
NativeCallable.isolate_local(Compare, one_argument, exceptional_return=0)  # E: - || Argument of type "(a: Pointer[Int32]) -> int" cannot be assigned to parameter "callback"
NativeCallable.isolate_local(Compare, says_text, exceptional_return=0)  # E: Cannot infer value of type parameter "_R" of "isolate_local" || Argument of type "(a: Pointer[Int32], b: Pointer[Int32]) -> str" cannot be assigned to parameter "callback"
NativeCallable.isolate_group_bound(Compare, takes_ints, exceptional_return=0)  # E: Cannot infer value of type parameter "_P" of "isolate_group_bound" || Argument of type "(a: int, b: int) -> int" cannot be assigned to parameter "callback"
NativeCallable.listener(Compare, takes_ints)  # E: expected "type[NativeFunction[Any, None]]" || Argument of type "Compare" cannot be assigned to parameter "type" of type "type[NativeFunction[_P@listener, None]]"
NativeCallable.listener(OnEvent, returns_int)  # a listener's result is ignored: any return type is fine
NativeCallable.isolate_local(OnEvent, lambda a, b: None)  # E: has incompatible type "Callable[[Any, Any], None]"; expected "Callable[[int], Any]" || Argument of type "(a: Int32, b: Unknown) -> None" cannot be assigned to parameter "callback"
