"""Pointer objects as Python objects: the core reuses their memory (a free list), and an object made from reused
memory behaves exactly as a new one (address, type, hash, equality, what it keeps alive, garbage collection,
finalizers of subclasses)."""
from __future__ import annotations

import gc
import sys
import weakref
from typing import Any, Callable

import pytest

from nativeffi import Box, Char, Int8, Int32, NullPointerError, Pointer, Uint8, malloc


class Owner:
    """A memory owner a pointer keeps alive, which can be weakly referenced (to see when it dies)."""

    def __init__(self) -> None:
        self.ref: object = None


def churn(n: int = 200) -> None:
    """Makes and drops n pointer objects, so the next ones come from reused memory."""
    p = Pointer[Uint8].from_address(4096)
    objs = [p + i for i in range(n)]
    del objs


def test_reused_objects_are_like_new_ones() -> None:
    """Pointers made after many were dropped have their own address, class, type, hash and equality."""
    churn()
    base = Pointer[Int32].from_address(0x10000)
    ps = [base + i for i in range(100)]
    for i, q in enumerate(ps):
        assert type(q) is Pointer[Int32] and q.native_type is Pointer[Int32].__native__
        assert q.address == 0x10000 + 4 * i and not q.is_null
        assert q == Pointer[Int32].from_address(0x10000 + 4 * i)
        assert hash(q) == hash(Pointer[Uint8].from_address(0x10000 + 4 * i))
        assert q._keep is None and gc.is_tracked(q)
    assert len({id(q) for q in ps}) == len(ps)


def test_class_and_owner_references_are_balanced() -> None:
    """Making and dropping pointers leaves their class's reference count as it was, and frees what they kept."""
    cls = Pointer[Char]
    churn()
    before = sys.getrefcount(cls)
    owner = Owner()
    gone = weakref.ref(owner)
    for _ in range(1000):
        q = cls.from_address(4096, keep=owner)
        assert q._keep is owner
        del q
    assert sys.getrefcount(cls) == before
    del owner
    assert gone() is None


def test_cycles_through_reused_objects_are_collected() -> None:
    """A pointer that keeps an object referring back to it is found by the garbage collector (it stays tracked)."""
    churn()
    owner = Owner()
    owner.ref = Pointer[Int32].from_address(4096, keep=owner)
    gone = weakref.ref(owner)
    del owner
    gc.collect()
    assert gone() is None


def test_subclass_with_dict_and_finalizer() -> None:
    """A Pointer subclass with attributes and __del__ gets each finalizer called once, among plain pointers."""
    calls: list[int] = []

    class Tagged(Pointer[Int32]):  # type: ignore[misc,valid-type]
        def __del__(self) -> None:
            calls.append(self.address)

    t = Tagged.from_address(64)
    t.tag = "x"
    me = weakref.ref(t)
    plain = Pointer[Int32].from_address(128)
    del t
    assert calls == [64] and me() is None and plain.address == 128
    for k in range(100):
        u = Tagged.from_address(k)
        u.tag = k
        del u
    assert calls == [64, *range(100)]
    churn()


def test_finalizer_added_to_a_plain_class_later() -> None:
    """__del__ assigned to a plain pointer class after it was made runs once per object; a resurrected object stays
    usable and its memory is not reused for an object whose finalizer would then be skipped."""
    class Plain(Pointer[Uint8]):  # type: ignore[misc,valid-type]
        __slots__ = ()

    churn()
    Plain.from_address(1)  # made and dropped before any finalizer: quietly
    seen: list[int] = []
    saved: list[object] = []

    def fin(self: Plain) -> None:
        seen.append(self.address)
        if self.address == 7:
            saved.append(self)  # resurrected

    Plain.__del__ = fin  # type: ignore[attr-defined]
    Plain.from_address(5)
    q = Plain.from_address(7)
    del q
    assert seen == [5, 7] and saved[0].address == 7  # type: ignore[attr-defined]
    saved.clear()  # finalized before: not again
    assert seen == [5, 7]
    Plain.from_address(9)
    assert seen == [5, 7, 9]


def test_pointers_from_allocations_and_elements() -> None:
    """Pointers read out of memory (a char ** element) and made by allocation are complete objects each time."""
    table = malloc(Pointer[Char], 3)
    for _ in range(3):
        for i in range(3):
            table[i] = Pointer[Char].from_address(1000 + i)
        got = [table[i] for i in range(3)]
        assert [type(g) for g in got] == [Pointer[Char]] * 3
        assert [g.address for g in got] == [1000, 1001, 1002]
        del got
    malloc.free(table)


# p[i] on a Pointer[Pointer[Char]] (a char **, as expat's attributes): (reason, read, expected address or exception).
# The common case takes the core's fast path; each other one must still be decided, and said, by the general path.
def _table() -> Any:
    t = malloc(Pointer[Char], 4)
    for i in range(4):
        t[i] = Pointer[Char].from_address(1000 + 8 * i) if i < 3 else None
    return t


class Index(int):
    """An int subclass: not an exact int, so the general path reads it."""


ELEMENT_CASES: list[tuple[str, Callable[[Any], Any], Any]] = [
    ("index 0, the common case", lambda t: t[0], 1000),
    ("a positive index", lambda t: t[2], 1016),
    ("a negative index counts back", lambda t: (t + 2)[-1], 1008),
    ("p.value is p[0]", lambda t: (t + 1).value, 1008),
    ("a NULL element is a null pointer", lambda t: t[3], 0),
    ("an int subclass index", lambda t: t[Index(1)], 1008),
    ("a bool index is 0 or 1", lambda t: t[True], 1008),
    ("a null table raises", lambda t: Pointer[Pointer[Char]].from_address(0)[0], NullPointerError),
    ("an index leaving the address space raises", lambda t: t[2 ** 62], OverflowError),
    ("a float index is refused", lambda t: t[1.0], TypeError),
    ("a Box of a pointer holds one", lambda t: Box[Pointer[Char]]()[1], IndexError),
]


@pytest.mark.parametrize("why,read,expected", ELEMENT_CASES, ids=[c[0] for c in ELEMENT_CASES])
def test_char_pointer_elements(why: str, read: Callable[[Any], Any], expected: Any) -> None:
    """Elements of a char ** read as Pointer[Char] objects at the stored address, or raise as any pointer does."""
    t = _table()
    try:
        if isinstance(expected, type):
            with pytest.raises(expected):
                read(t)
        else:
            got = read(t)
            assert type(got) is Pointer[Char] and got.address == expected and got.is_null == (expected == 0)
            assert got._keep is None
    finally:
        malloc.free(t)


def test_each_pointer_class_has_the_core_methods_as_its_own() -> None:
    """Pointer[T] classes have descriptors of their own for the core's methods and attributes (so CPython's
    specialized calls apply to their objects), with the same documentation and behaviour as the inherited ones."""
    from nativeffi._core import PointerBase
    for name in ("to_str", "to_bytes", "as_memoryview", "is_null", "address", "value", "ref", "native_type"):
        mine = Pointer[Char].__dict__[name]
        assert mine is not PointerBase.__dict__[name] and mine.__doc__ == PointerBase.__dict__[name].__doc__
    assert "from_address" not in Pointer[Char].__dict__  # class methods work on any class as they are


def test_methods_at_one_call_site_for_objects_of_many_classes() -> None:
    """One call site that sees objects of several pointer classes (CPython specializes it to the first) reads each
    one right, as does a call of a class's descriptor on its objects."""
    buf = malloc(Uint8, 8)
    buf.as_memoryview(8)[:] = b"abc\0def\0"
    objs = [buf.cast(Char), buf.cast(Uint8), buf + 4, (buf + 4).cast(Char), buf.cast(Int8), Pointer[Char].from_address(0)]
    got = []
    for _ in range(50):
        for q in objs:
            got.append((q.is_null, None if q.is_null else q.to_str(), q.address - buf.address))
    assert got[:6] == [(False, "abc", 0), (False, "abc", 0), (False, "def", 4), (False, "def", 4), (False, "abc", 0),
                       (True, None, -buf.address)]
    assert got == got[:6] * 50
    assert Pointer[Char].to_str(buf.cast(Char)) == "abc" and Pointer[Char].is_null.__get__(buf.cast(Char)) is False
    malloc.free(buf)


def test_subclass_overrides_stay_in_force() -> None:
    """A method or attribute a Pointer subclass defines is what its own subclasses see, not the core's."""
    class Upper(Pointer[Char]):  # type: ignore[misc,valid-type]
        __slots__ = ()

        def to_str(self, length: Any = None) -> str:
            return str(super().to_str(length)).upper()

        @property
        def is_null(self) -> bool:
            return True

    class Sub(Upper):
        __slots__ = ()

    buf = malloc(Char, 4)
    buf.cast(Uint8).as_memoryview(4)[:] = b"abc\0"
    for cls in (Upper, Sub):
        q = cls.from_address(buf.address)
        assert q.to_str() == "ABC" and q.is_null is True
        assert "to_str" not in cls.__dict__ or cls is Upper
    assert Sub.__dict__.get("to_bytes") is not None  # the rest are still its own
    malloc.free(buf)


def test_subclass_with_only_a_dict_frees_it() -> None:
    """A Pointer subclass with a __dict__ and no __weakref__ (whose dict CPython 3.11+ keeps before the object, so
    its objects are no bigger than a plain pointer) frees each object's attributes with it."""
    class WithDict(Pointer[Int32]):  # type: ignore[misc,valid-type]
        __slots__ = ("__dict__",)

    churn()
    for k in range(200):
        q = WithDict.from_address(8 * k)
        value = Owner()
        q.attr = value
        gone = weakref.ref(value)
        del q, value
        assert gone() is None
        r = Pointer[Int32].from_address(8 * k)  # memory a plain pointer may reuse
        assert r.address == 8 * k and not hasattr(r, "attr")


def _refs_to(obj: object, target: object) -> int:
    return sum(r is target for r in gc.get_referents(obj))


def test_the_collector_sees_one_reference_from_a_pointer_to_its_class():
    """A pointer, a box and a subclass's pointer each hold one reference to their class, and the garbage collector
    is shown exactly one: counting it twice made a young Box[T] class whose instances were garbage look
    unreachable, and a partial collection cleared the class while Box[T] still returned it."""
    class Sub(Pointer[Int32]):
        pass

    p = malloc(Int32)
    try:
        box = Box[Int32](3)
        sub = p.cast(Int32)
        objects = [p, box, Sub.from_address(p.address)]
        for obj in objects:
            assert _refs_to(obj, type(obj)) == 1, type(obj)
        assert _refs_to(sub, type(sub)) == 1
    finally:
        malloc.free(p)
