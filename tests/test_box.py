"""Box[T]: Python-owned out-parameters, and type expressions that are dictionary hits once made."""
from __future__ import annotations

import gc
import sys

import pytest

from nativeffi import (Arena, Array, Bool, Box, Double, Int8, Int32, Int64, NativeFunction, Opaque, Pointer, Struct,
                       Uint8, Uint64, VarArgs, Void, calloc, malloc, nullptr)
from helpers import cfunc


class Pair(Struct):
    a: Int32
    b: Int32


class Handle(Opaque):
    pass


def test_box_is_an_out_parameter_c_writes(native_lib) -> None:
    """C's store through an int32_t * lands in the box, read back with .value."""
    store = cfunc(native_lib("foundation"), "store_i32", [Pointer[Int32], Int32], Void)
    n = Box[Int32]()
    assert n.value == 0
    store(n, -123456)
    assert n.value == -123456 and n[0] == -123456


def test_box_takes_the_slow_path_too(native_lib) -> None:
    """A non-leaf binding (a different entry) also passes the box's own storage."""
    store = cfunc(native_lib("foundation"), "store_f64", [Pointer[Double], Double], Void, is_leaf=False)
    x = Box[Double](1.5)
    store(x, 2.25)
    assert x.value == 2.25


def test_box_of_a_pointer_receives_a_pointer(native_lib) -> None:
    """Box[Pointer[T]] is a T ** out-parameter: C writes an address, .value reads it as a Pointer[T]."""
    lib = native_lib("foundation")
    store_ptr = cfunc(lib, "store_ptr", [Pointer[Pointer[Handle]], Pointer[Handle]], Void)
    h = Pointer[Handle].from_address(0x1234)
    out = Box[Pointer[Handle]]()
    assert out.value == nullptr
    store_ptr(out, h)
    assert isinstance(out.value, Pointer[Handle]) and out.value.address == 0x1234


def test_box_address_is_its_own_storage(native_lib) -> None:
    """The address C receives is the box's address, which C's identity function returns unchanged."""
    address_of = cfunc(native_lib("foundation"), "address_of_ptr", [Pointer[Void]], Int64)
    b = Box[Int64](5)
    assert address_of(b) == b.address != 0


def test_box_initial_value_is_checked() -> None:
    """The initial value is converted like an argument: range and type errors name the box."""
    assert Box[Uint8](255).value == 255 and Box[Bool](True).value is True
    with pytest.raises(OverflowError, match=r"Box\[Uint8\]\(\).*\[0, 255\]"):
        Box[Uint8](256)
    with pytest.raises(TypeError, match=r"Box\[Int32\]\(\).*expected an int"):
        Box[Int32]("1")
    with pytest.raises(TypeError, match="at most one argument"):
        Box[Int32](1, 2)


def test_box_types_refused_with_reasons() -> None:
    """Box takes scalars and pointers; structs, arrays and types without values are refused, saying why."""
    with pytest.raises(TypeError, match=r"Pair\(\).*already owns its memory"):
        Box[Pair]
    with pytest.raises(TypeError, match="already owns its memory"):
        Box[Array[Int32, 2]]
    with pytest.raises(TypeError, match="has no values"):
        Box[Void]
    with pytest.raises(TypeError, match="has no values"):
        Box[Handle]
    with pytest.raises(TypeError, match=r"write Box\[T\]\(\)"):
        Box()
    with pytest.raises(TypeError, match="already a concrete Box type"):
        Box[Int32][Int32]
    with pytest.raises(TypeError, match="owns its memory"):
        Box[Int32].from_address(0x1000)


def test_box_is_a_typed_pointer_and_refuses_mismatches(native_lib) -> None:
    """A Box[T] is a Pointer[T]; passed for a Pointer of another type it is refused as any pointer would be."""
    b = Box[Int32]()
    assert isinstance(b, Pointer[Int32]) and isinstance(b, Pointer)
    store = cfunc(native_lib("foundation"), "store_i32", [Pointer[Int32], Int32], Void)
    with pytest.raises(TypeError, match=r"expected Pointer\[Int32\], got Pointer\[Int8\]"):
        store(Box[Int8](), 1)


def test_pointers_from_a_box_keep_it_alive() -> None:
    """p = box + 0 and box.cast(T) are plain pointers that hold a reference to the box (their memory)."""
    b = Box[Int32](0x01020304)
    before = sys.getrefcount(b)
    p, q = b + 0, b.cast(Uint8)
    assert type(p) is Pointer[Int32] and p._keep is b and q._keep is b
    assert sys.getrefcount(b) == before + 2
    del b
    gc.collect()
    assert p.value == 0x01020304 and q[0] == 0x04


BOX_ACCESSES = [
    # (what, the access, why it would leave the box)
    ("index 1", lambda b: b[1], "the element after the one value"),
    ("index -1", lambda b: b[-1], "the element before it"),
    ("slice 0:2", lambda b: b[0:2], "a slice running past the value"),
    ("slice 1:0:-1", lambda b: b[1:0:-1], "a backwards slice starting past it"),
    ("to_bytes(2)", lambda b: b.to_bytes(2), "two elements' bytes"),
    ("as_memoryview(5)", lambda b: b.as_memoryview(5), "one byte more than the value"),
    ("store at 1", lambda b: b.__setitem__(1, 5), "a write past the value"),
    ("slice store 0:2", lambda b: b.__setitem__(slice(0, 2), [1, 2]), "a slice write past it"),
]


@pytest.mark.parametrize("what,access,why", BOX_ACCESSES, ids=[c[0] for c in BOX_ACCESSES])
def test_box_access_stays_inside_it(what, access, why) -> None:
    """A Box holds one value inside the box object: indexing, slices, to_bytes and as_memoryview that would reach
    past it raise IndexError instead of reading or writing Python's heap."""
    b = Box[Int32](3)
    with pytest.raises(IndexError, match=r"Box\[Int32\] holds one Int32 \(4 bytes\)"):
        access(b)
    assert b.value == 3 and b[0:1] == [3] and b.to_bytes(1) == (3).to_bytes(4, sys.byteorder)


def test_box_to_str_finds_its_nul_inside_it() -> None:
    """to_str() on a Box of a byte reads at most the box: a NUL inside it ends the text, none raises IndexError."""
    from nativeffi import Char
    assert Box[Char](0).to_str() == "" and Box[Char](65).to_str(1) == "A"
    with pytest.raises(IndexError, match="outside it"):
        Box[Char](65).to_str()


def test_box_is_freed_with_the_object() -> None:
    """A box is not tracked by a cycle: dropping the last reference frees it (its refcount is 1 when held once)."""
    b = Box[Uint64](7)
    assert sys.getrefcount(b) == 2  # the name and getrefcount's argument


def test_free_refuses_python_owned_memory() -> None:
    """free() of a box, a struct's address or an arena's pointer raises instead of corrupting the heap."""
    with pytest.raises(ValueError, match="owned by a Python object"):
        malloc.free(Box[Int32]())
    with pytest.raises(ValueError, match="owned by a Python object"):
        calloc.free(Pair(1, 2).address)
    with Arena() as arena:
        with pytest.raises(ValueError, match="owned by a Python object"):
            calloc.free(arena(Int32))


def test_repr_shows_the_value() -> None:
    """A box's repr is the expression that makes it again."""
    assert repr(Box[Int32](-5)) == "Box[Int32](-5)"
    assert repr(Box[Double](0.5)) == "Box[Double](0.5)"


# -- Type expressions are made once -------------------------------------------------------------

def test_type_expressions_give_the_same_object() -> None:
    """Evaluating Pointer[T], Box[T], Array[T, n] and NativeFunction[[...], R] again gives the same object."""
    assert Pointer[Int32] is Pointer[Int32]
    assert Pointer[Pointer[Pair]] is Pointer[Pointer[Pair]]
    assert Box[Int32] is Box[Int32]
    assert Array[Int32, 3] is Array[Int32, 3] and Array[Int32, 2, 3] is Array[Int32, 2, 3]
    assert Array[Int32, 3] is not Array[Int32, 4] is not Array[Int8, 4]
    assert NativeFunction[[Int32, Double], Int64] is NativeFunction[(Int32, Double), Int64]
    assert NativeFunction[[Int32], Int64] is not NativeFunction[[Int64], Int64]
    assert Pointer[NativeFunction[[Int32], Int64]] is Pointer[NativeFunction[[Int32], Int64]]


def test_type_expression_errors_are_raised_every_time() -> None:
    """A bad expression raises on each evaluation; nothing is remembered for it."""
    for _ in range(2):
        with pytest.raises(ValueError, match="Array lengths must be >= 1"):
            Array[Int32, 0]
        with pytest.raises(TypeError, match="already a concrete pointer type"):
            Pointer[Int32][Int32]
        with pytest.raises(TypeError, match="Pointer\\[...\\] target"):
            Pointer[int]
        with pytest.raises(TypeError, match="NativeFunction takes"):
            NativeFunction[Int32]


def test_variadic_signatures_are_made_each_time_but_equal() -> None:
    """VarArgs signatures have no cache key: each evaluation makes an equal type."""
    a = NativeFunction[[Int32, VarArgs[Double]], Int32]
    b = NativeFunction[[Int32, VarArgs[Double]], Int32]
    assert a == b


# -- The core's dealloc for Box[T] and Pointer[T] classes (pointer.c: class_dealloc) ---------------------------

def _evict_from_expression_cache(box_class: type) -> None:
    """Names other Box[...] classes until the one of Box's 32 direct-mapped expression slots that holds box_class
    (one reference) is taken, so the next `Box[...]` naming it puts that reference back (expr.c: slot_set)."""
    held = sys.getrefcount(box_class)
    for n in range(1, 10_000):
        Box[Pointer[Array[Int8, n]]]
        if sys.getrefcount(box_class) < held:
            return
    raise AssertionError(f"no Box[...] took the slot of {box_class}")


def test_boxes_and_pointers_give_back_their_class_reference() -> None:
    """Each Box[T] and Pointer[T] instance holds one reference to its class and gives it back when it goes, also
    for a user subclass (which keeps CPython's own dealloc) and for its Box[T] base."""
    from nativeffi import calloc

    class Sub(Box[Int64]):
        pass

    cases = [(Box[Int32], lambda: Box[Int32](7)), (Pointer[Int32], lambda: calloc(Int32)),
             (Pointer, lambda: Pointer.from_address(8)), (Sub, lambda: Sub(5)), (Box[Int64], lambda: Sub(6))]
    _evict_from_expression_cache(Box[Int32])  # as Box[Int64] did in CI when their keys shared a slot
    for cls, make in cases:
        gone = make()  # the first may put cls back in an expression slot, a reference held until the slot is taken
        if isinstance(gone, Pointer) and not isinstance(gone, Box) and gone.address != 8:
            calloc.free(gone)
        del gone
        before = sys.getrefcount(cls)
        made = [make() for _ in range(1000)]
        assert sys.getrefcount(cls) - before == (1000 if type(made[0]) is cls else 0)
        for p in made:
            if isinstance(p, Pointer) and not isinstance(p, Box) and p.address != 8:
                calloc.free(p)
        del made, p
        gc.collect()
        assert sys.getrefcount(cls) == before


def test_box_subclass_values_and_attributes_survive_until_freed() -> None:
    """A subclass of Box[T] with its own attributes keeps its value and its __dict__ and frees both."""
    import weakref

    class Tagged(Box[Int32]):
        pass

    class Marker:
        pass

    t = Tagged(41)
    t.tag = Marker()
    ref = weakref.ref(t.tag)
    assert t.value == 41 and isinstance(t.tag, Marker)
    del t
    gc.collect()
    assert ref() is None
