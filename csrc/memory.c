/* Native memory: the malloc and calloc allocators, Arena, and raw malloc/calloc/free and byte copies. */
#include "memory.h"
#include "compat.h"
#include <stdlib.h>
#include <string.h>

#include "pointer.h"
#include "sizes.h"
#include "types.h"

/* A byte count `o` of `fn` at address `addr`: an int in [0, NF_SIZE_MAX] whose region does not wrap around the
   address space. 0, or -1 with TypeError, ValueError or OverflowError. */
static int as_size(PyObject *o, const void *addr, size_t *n, const char *fn)
{
    Py_ssize_t v;
    char *end;
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s() expected an int byte count, got %.200s", fn, Py_TYPE(o)->tp_name);
        return -1;
    }
    if (nf_count_from_object(o, "byte count", &v) < 0)
        return -1;
    if (v > NF_SIZE_MAX || nf_addr_add(addr, v, &end) < 0) {
        PyErr_Format(PyExc_OverflowError, "%s(): %R bytes from %p leave the address space", fn, o, addr);
        return -1;
    }
    *n = (size_t)v;
    return 0;
}

/* The bytes of `count` items of `size` bytes (ints from Python), checked: 0, or -1 with TypeError, ValueError
   ("count must be >= 0") or OverflowError (more than the platform can address). */
static int allocation_size(PyObject *count, PyObject *size, const char *fn, size_t *out)
{
    Py_ssize_t c, s, n;
    if (!PyLong_Check(count) || !PyLong_Check(size)) {
        PyErr_Format(PyExc_TypeError, "%s() expected int count and item size, got %.200s and %.200s", fn,
                     Py_TYPE(count)->tp_name, Py_TYPE(size)->tp_name);
        return -1;
    }
    if (nf_count_from_object(count, "count", &c) < 0 || nf_count_from_object(size, "item size", &s) < 0)
        return -1;
    if (nf_size_mul(c, s, &n) < 0 || n > NF_SIZE_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s(): %R items of %R bytes is " NF_TOO_LARGE, fn, count, size);
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

static PyObject *m_malloc(PyObject *m, PyObject *args)
{
    PyObject *count, *size;
    size_t n;
    if (!PyArg_ParseTuple(args, "OO:malloc", &count, &size) || allocation_size(count, size, "malloc", &n) < 0)
        return NULL;
    void *p = malloc(n ? n : 1);
    if (!p)
        return PyErr_NoMemory();
    return PyLong_FromVoidPtr(p);
}

static PyObject *m_calloc(PyObject *m, PyObject *args)
{
    PyObject *count, *size;
    size_t n;
    if (!PyArg_ParseTuple(args, "OO:calloc", &count, &size) || allocation_size(count, size, "calloc", &n) < 0)
        return NULL;
    void *p = calloc(n ? n : 1, 1);
    if (!p)
        return PyErr_NoMemory();
    return PyLong_FromVoidPtr(p);
}

static PyObject *m_free(PyObject *m, PyObject *arg)
{
    void *p = PyLong_AsVoidPtr(arg);
    if (!p && PyErr_Occurred())
        return NULL;
    free(p);
    Py_RETURN_NONE;
}

static PyObject *m_memmove(PyObject *m, PyObject *args)
{
    PyObject *dst, *src, *count;
    size_t n;
    if (!PyArg_ParseTuple(args, "OOO:memmove", &dst, &src, &count))
        return NULL;
    void *d = PyLong_AsVoidPtr(dst), *s = PyLong_AsVoidPtr(src);
    if (PyErr_Occurred() || as_size(count, d, &n, "memmove") < 0 || as_size(count, s, &n, "memmove") < 0)
        return NULL;
    if (n && (!d || !s)) {
        PyErr_SetString(PyExc_ValueError, "memmove() through a null address");
        return NULL;
    }
    memmove(d, s, n);
    Py_RETURN_NONE;
}

static PyObject *m_string_at(PyObject *m, PyObject *args)
{
    PyObject *addr, *count;
    size_t n;
    if (!PyArg_ParseTuple(args, "OO:string_at", &addr, &count))
        return NULL;
    void *a = PyLong_AsVoidPtr(addr);
    if ((!a && PyErr_Occurred()) || as_size(count, a, &n, "string_at") < 0)
        return NULL;
    if (!a && n) {
        PyErr_SetString(PyExc_ValueError, "string_at() through a null address");
        return NULL;
    }
    return PyBytes_FromStringAndSize(a, (Py_ssize_t)n);
}

/* -- Typed allocation: allocator(T, count=1) -> Pointer[T] ----------------------- */

/* The item type and count of a call `allocator(t, count=1)` (count also by keyword), and their bytes, checked.
   The CType is a new reference; NULL with TypeError, ValueError or OverflowError. */
static nf_ctype *allocation_args(const char *fn, PyObject *const *args, size_t nargsf, PyObject *kwnames,
                                 size_t *nbytes)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *count = NULL;
    if (nargs == 2 && !nkw)
        count = args[1];
    else if (nargs == 1 && nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "count") == 0)
        count = args[1];
    else if (nargs != 1 || nkw) {
        PyErr_Format(PyExc_TypeError, "%s() takes (type, count=1)", fn);
        return NULL;
    }
    Py_ssize_t n = 1;
    if (count && (!PyLong_Check(count) || PyBool_Check(count))) {
        PyErr_Format(PyExc_TypeError, "count must be an int, got %.200s", Py_TYPE(count)->tp_name);
        return NULL;
    }
    if (count && nf_count_from_object(count, "count", &n) < 0)
        return NULL;
    nf_ctype *t = nf_ctype_resolve(args[0], "allocation type");
    if (!t)
        return NULL;
    if (t->kind == NF_VOID || t->kind == NF_OPAQUE || t->kind == NF_FUNCTION) {
        PyErr_Format(PyExc_TypeError, "cannot allocate %U: it has no size; allocate a sized type and cast the pointer",
                     t->name);
        Py_DECREF(t);
        return NULL;
    }
    Py_ssize_t total;
    if (nf_size_mul(n, t->size, &total) < 0 || total > NF_SIZE_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s(%U, %zd): %zd items of %zd bytes is " NF_TOO_LARGE, fn, t->name, n, n,
                     t->size);
        Py_DECREF(t);
        return NULL;
    }
    *nbytes = (size_t)total;
    return t;
}

/* nbytes of fresh memory (at least 1 byte, so that 0 bytes still give a distinct address), zeroed or not. */
static void *allocate(int zeroed, size_t nbytes)
{
    void *p = zeroed ? calloc(nbytes ? nbytes : 1, 1) : malloc(nbytes ? nbytes : 1);
    if (!p)
        PyErr_NoMemory();
    return p;
}

/* allocate_bytes(nbytes): the byte count of allocate_bytes() as a size_t. */
static int byte_count(PyObject *o, size_t *n)
{
    Py_ssize_t v;
    if (!PyLong_Check(o) || PyBool_Check(o)) {
        PyErr_Format(PyExc_TypeError, "allocate_bytes() expected an int byte count, got %.200s", Py_TYPE(o)->tp_name);
        return -1;
    }
    if (nf_count_from_object(o, "byte count", &v) < 0)
        return -1;
    if (v > NF_SIZE_MAX) {
        PyErr_Format(PyExc_OverflowError, "allocate_bytes(%R) is " NF_TOO_LARGE, o);
        return -1;
    }
    *n = (size_t)v;
    return 0;
}

/* The address free() may release: a Pointer to native memory. Memory Python owns (a Box, a struct value, a
   buffer, an Arena's allocations) is refused, since C's free() of it would corrupt the heap. */
static int freeable(PyObject *p, const char *fn, void **addr)
{
    if (!nf_pointer_check(p)) {
        PyErr_Format(PyExc_TypeError, "%s() expected a Pointer, got %.200s", fn, Py_TYPE(p)->tp_name);
        return -1;
    }
    nf_pointer *q = (nf_pointer *)p;
    if (nf_box_check(p) || q->keep) {
        PyErr_Format(PyExc_ValueError, "%s(): this %U points into memory owned by a Python object (%.200s), which "
                     "frees it itself; free() is only for memory from malloc or calloc", fn, q->type->name,
                     Py_TYPE(nf_box_check(p) ? p : q->keep)->tp_name);
        return -1;
    }
    *addr = q->addr;
    return 0;
}

/* -- Allocator: malloc and calloc ------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    int zeroed;          /* calloc (1) or malloc (0) */
} nf_allocator;

static PyObject *allocator_call(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    size_t n;
    int zeroed = ((nf_allocator *)self)->zeroed;
    nf_ctype *t = allocation_args(zeroed ? "calloc" : "malloc", args, nargsf, kwnames, &n);
    /* The pointer is made first: making it may run Python code (the Pointer[T] class's maker, a finalizer the
       collector runs), which could use the same allocator or arena; nothing runs between the allocation and the
       pointer holding it, so a failure has only the pointer to drop. */
    PyObject *p = t ? nf_pointer_to(t, NULL, NULL) : NULL;
    void *a = p ? allocate(zeroed, n) : NULL;
    if (a)
        ((nf_pointer *)p)->addr = a;
    else
        Py_CLEAR(p);
    Py_XDECREF(t);
    return p;
}

static PyObject *allocator_new(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"zeroed", NULL};
    int zeroed;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "p:Allocator", kwlist, &zeroed))
        return NULL;
    nf_allocator *a = (nf_allocator *)cls->tp_alloc(cls, 0);
    if (a) {
        a->vectorcall = allocator_call;
        a->zeroed = zeroed;
    }
    return (PyObject *)a;
}

static PyObject *allocator_allocate_bytes(nf_allocator *self, PyObject *arg)
{
    size_t n;
    void *a = byte_count(arg, &n) < 0 ? NULL : allocate(self->zeroed, n);
    return a ? PyLong_FromVoidPtr(a) : NULL;
}

static PyObject *allocator_free(nf_allocator *self, PyObject *p)
{
    void *a;
    if (freeable(p, "free", &a) < 0)
        return NULL;
    free(a);
    Py_RETURN_NONE;
}

static PyObject *allocator_repr(nf_allocator *self)
{
    return PyUnicode_FromString(self->zeroed ? "calloc" : "malloc");
}

static PyMethodDef allocator_methods[] = {
    {"allocate_bytes", (PyCFunction)allocator_allocate_bytes, METH_O,
     "allocate_bytes(nbytes) -> the address (an int) of nbytes of fresh memory."},
    {"free", (PyCFunction)allocator_free, METH_O,
     "free(p): frees memory this allocator (or C's malloc family) allocated. Freeing nullptr does nothing;\n"
     "memory Python owns (Box, struct values, buffers, Arena allocations) is refused with ValueError."},
    {NULL},
};

static PyMemberDef allocator_members[] = {
    {"zeroed", T_BOOL, offsetof(nf_allocator, zeroed), READONLY, "whether allocations are zeroed (calloc)"},
    {NULL},
};

PyTypeObject nf_Allocator_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi.Allocator",
    .tp_doc = "Allocator(zeroed): allocates native memory with the C library; nativeffi.malloc and nativeffi.calloc.\n\n"
              "allocator(T, count=1) -> Pointer[T] to count values of T (uninitialised for malloc, zeroed for\n"
              "calloc); allocator.free(p) frees it.\n\n"
              "Raises TypeError when T has no size (Void, Opaque) or count is not an int, ValueError for a negative\n"
              "count, OverflowError past what the platform can address, MemoryError when the system has none.\n\n"
              "Example:\n"
              "    >>> from nativeffi import calloc, Int32\n"
              "    >>> p = calloc(Int32, 4)\n"
              "    >>> p[3]\n"
              "    0\n"
              "    >>> calloc.free(p)",
    .tp_basicsize = sizeof(nf_allocator),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(nf_allocator, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = allocator_new,
    .tp_repr = (reprfunc)allocator_repr,
    .tp_methods = allocator_methods,
    .tp_members = allocator_members,
};

/* -- Arena --------------------------------------------------------------------------- */

#define NF_ARENA_INLINE 8   /* allocations an arena holds before it grows an array for them */
#define NF_ARENA_BYTES 128  /* bytes an arena serves from inside itself before it calls malloc (out-parameters) */
#define NF_ARENA_ALIGN 16   /* alignment of each allocation, as malloc's (alignof(max_align_t)) */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    int zeroed;                   /* allocations come from calloc (1) or malloc (0) */
    Py_ssize_t count;             /* allocations held */
    Py_ssize_t cap;               /* room in `held` */
    void **held;                  /* the allocations, freed by release_all: `inline_held` or a PyMem array */
    void *inline_held[NF_ARENA_INLINE];
    size_t used;                  /* bytes of `bytes` given out, counted from its first aligned address */
    unsigned char bytes[NF_ARENA_BYTES + NF_ARENA_ALIGN];  /* the first small allocations: no malloc, no free */
} nf_arena;

/* The first NF_ARENA_ALIGN-aligned address in ar->bytes. */
static unsigned char *arena_bytes(nf_arena *ar)
{
    return (unsigned char *)(((uintptr_t)ar->bytes + NF_ARENA_ALIGN - 1) & ~(uintptr_t)(NF_ARENA_ALIGN - 1));
}

static int arena_owns_bytes(nf_arena *ar, void *a)
{
    unsigned char *b = arena_bytes(ar);
    return (unsigned char *)a >= b && (unsigned char *)a < b + NF_ARENA_BYTES;
}

/* Records allocation a: 0, or -1 with MemoryError if there is no room to record it. */
static int arena_hold(nf_arena *ar, void *a)
{
    if (ar->count == ar->cap) {
        Py_ssize_t cap = ar->cap * 2;
        void **held = ar->held == ar->inline_held ? PyMem_Malloc(cap * sizeof *held)
                                                  : PyMem_Realloc(ar->held, cap * sizeof *held);
        if (!held || cap < ar->cap) {
            PyErr_NoMemory();
            return -1;
        }
        if (ar->held == ar->inline_held)
            memcpy(held, ar->inline_held, sizeof ar->inline_held);
        ar->held = held;
        ar->cap = cap;
    }
    ar->held[ar->count++] = a;
    return 0;
}

/* nbytes for the arena to hold: from its own bytes while they last (zeroed like calloc's when it is zeroed),
   from malloc or calloc after. NULL with MemoryError. */
_Static_assert(NF_ARENA_BYTES % NF_ARENA_ALIGN == 0, "an allocation that fits, rounded up, still fits");

static void *arena_allocate(nf_arena *ar, size_t nbytes)
{
    void *a;
    size_t n = nbytes ? nbytes : 1;
    int inside = n <= NF_ARENA_BYTES - ar->used;
    if (inside) {
        a = arena_bytes(ar) + ar->used;
        ar->used += (n + NF_ARENA_ALIGN - 1) & ~(size_t)(NF_ARENA_ALIGN - 1);
        if (ar->zeroed)
            memset(a, 0, n);
    } else if (!(a = allocate(ar->zeroed, nbytes))) {
        return NULL;
    }
    if (arena_hold(ar, a) == 0)
        return a;
    if (!inside)
        free(a);
    return NULL;
}

static PyObject *arena_call(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    nf_arena *ar = (nf_arena *)self;
    size_t n;
    nf_ctype *t = allocation_args("Arena", args, nargsf, kwnames, &n);
    PyObject *p = t ? nf_pointer_to(t, NULL, self) : NULL;  /* first: see allocator_call */
    void *a = p ? arena_allocate(ar, n) : NULL;
    if (a)
        ((nf_pointer *)p)->addr = a;
    else
        Py_CLEAR(p);
    Py_XDECREF(t);
    return p;
}

/* Arenas come and go once per `with Arena() as arena:` block: the memory of the last few goes to a free list. */
#define ARENA_FREE_MAX 8
static nf_arena *arena_free_list[ARENA_FREE_MAX];
static int arena_free_count;

/* A new arena of class cls over `allocator` (NULL: calloc). */
static PyObject *arena_make(PyTypeObject *cls, PyObject *allocator)
{
    if (allocator && !PyObject_TypeCheck(allocator, &nf_Allocator_Type)) {
        PyErr_Format(PyExc_TypeError, "Arena() expected an Allocator (malloc or calloc), got %.200s",
                     Py_TYPE(allocator)->tp_name);
        return NULL;
    }
    nf_arena *ar;
    if (arena_free_count && cls == &nf_Arena_Type)
        PyObject_Init((PyObject *)(ar = arena_free_list[--arena_free_count]), cls);
    else if (!(ar = (nf_arena *)cls->tp_alloc(cls, 0)))
        return NULL;
    ar->vectorcall = arena_call;
    ar->zeroed = allocator ? ((nf_allocator *)allocator)->zeroed : 1;
    ar->count = 0;
    ar->held = ar->inline_held;
    ar->cap = NF_ARENA_INLINE;
    ar->used = 0;
    return (PyObject *)ar;
}

static PyObject *arena_new(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"allocator", NULL};
    PyObject *allocator = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:Arena", kwlist, &allocator))
        return NULL;
    return arena_make(cls, allocator);
}

/* Arena() and Arena(allocator): no argument tuple (the common `with Arena() as arena:` in a loop body). */
static PyObject *arena_vectorcall_new(PyObject *cls, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf), nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (n + nkw > 1 || (nkw && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "allocator") != 0)) {
        PyErr_SetString(PyExc_TypeError, "Arena() takes one argument, allocator (malloc or calloc)");
        return NULL;
    }
    return arena_make((PyTypeObject *)cls, n + nkw ? args[0] : NULL);
}

static void arena_release(nf_arena *ar)
{
    while (ar->count) {
        void *a = ar->held[--ar->count];
        if (!arena_owns_bytes(ar, a))
            free(a);
    }
    ar->used = 0;
    if (ar->held != ar->inline_held) {
        PyMem_Free(ar->held);
        ar->held = ar->inline_held;
        ar->cap = NF_ARENA_INLINE;
    }
}

static void arena_dealloc(nf_arena *ar)
{
    arena_release(ar);  /* no pointer from it is left: each keeps the arena alive */
    if (Py_IS_TYPE(ar, &nf_Arena_Type) && arena_free_count < ARENA_FREE_MAX)
        arena_free_list[arena_free_count++] = ar;
    else
        Py_TYPE(ar)->tp_free((PyObject *)ar);
}

static PyObject *arena_release_all(nf_arena *ar, PyObject *unused)
{
    arena_release(ar);
    Py_RETURN_NONE;
}

/* -- `with Arena() as arena:` without a new method object per block ---------------------------------------

   The with statement looks __enter__ and __exit__ up on the type and binds each to the arena: for a method
   descriptor that makes a builtin-method object, tracked by the GC, for each name and each block (about 450 of
   the 2,300 instructions of `with Arena() as a: a(Int32)`). Arena's two are descriptors of this type instead,
   whose binding takes an untracked object from a free list: it holds only the arena, which holds no Python
   object, so it is in no cycle. Called unbound (Arena.__exit__(arena, ...)) they take the arena first. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    int exit;              /* __exit__ (1: releases, returns False) or __enter__ (0: returns the arena) */
    PyObject *arena;       /* bound: the arena, a reference; the descriptor in Arena's dict: NULL */
} nf_arena_method;

static PyTypeObject nf_ArenaMethod_Type;

#define METHOD_FREE_MAX 4
static nf_arena_method *method_free_list[METHOD_FREE_MAX];
static int method_free_count;

static const char *arena_method_str(const nf_arena_method *m) { return m->exit ? "__exit__" : "__enter__"; }

static PyObject *arena_method_call(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames);

/* A new __enter__ (exit 0) or __exit__ (1) bound to `arena`, or unbound (NULL: the descriptor). */
static PyObject *arena_method_new(int exit, PyObject *arena)
{
    nf_arena_method *m;
    if (method_free_count)
        PyObject_Init((PyObject *)(m = method_free_list[--method_free_count]), &nf_ArenaMethod_Type);
    else if (!(m = PyObject_New(nf_arena_method, &nf_ArenaMethod_Type)))
        return NULL;
    m->vectorcall = arena_method_call;
    m->exit = exit;
    m->arena = Py_XNewRef(arena);
    return (PyObject *)m;
}

static PyObject *arena_method_call(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    nf_arena_method *m = (nf_arena_method *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *ar = m->arena;
    if (!ar) {  /* unbound: the arena is the first argument */
        if (nargs < 1 || !Py_IS_TYPE(args[0], &nf_Arena_Type)) {
            PyErr_Format(PyExc_TypeError, "Arena.%s() expected an Arena first, got %.200s", arena_method_str(m),
                         nargs < 1 ? "no argument" : Py_TYPE(args[0])->tp_name);
            return NULL;
        }
        ar = args[0];
        nargs--;
    }
    if (kwnames && PyTuple_GET_SIZE(kwnames)) {
        PyErr_Format(PyExc_TypeError, "Arena.%s() takes no keyword arguments", arena_method_str(m));
        return NULL;
    }
    if (!m->exit) {
        if (nargs) {
            PyErr_Format(PyExc_TypeError, "Arena.__enter__() takes no arguments (%zd given)", nargs);
            return NULL;
        }
        return Py_NewRef(ar);
    }
    arena_release((nf_arena *)ar);  /* any (type, value, traceback): exceptions propagate */
    Py_RETURN_FALSE;
}

static PyObject *arena_method_get(PyObject *self, PyObject *obj, PyObject *type)
{
    nf_arena_method *d = (nf_arena_method *)self;
    if (!obj || d->arena)
        return Py_NewRef(self);
    if (!Py_IS_TYPE(obj, &nf_Arena_Type)) {
        PyErr_Format(PyExc_TypeError, "Arena.%s binds to an Arena, not %.200s", arena_method_str(d),
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return arena_method_new(d->exit, obj);
}

static void arena_method_dealloc(nf_arena_method *m)
{
    Py_CLEAR(m->arena);
    if (method_free_count < METHOD_FREE_MAX)
        method_free_list[method_free_count++] = m;
    else
        PyObject_Free(m);
}

static PyObject *arena_method_repr(nf_arena_method *m)
{
    return m->arena ? PyUnicode_FromFormat("<bound method Arena.%s of %R>", arena_method_str(m), m->arena)
                    : PyUnicode_FromFormat("<method '%s' of 'nativeffi.Arena' objects>", arena_method_str(m));
}

static PyObject *arena_method_name(nf_arena_method *m, void *c)
{
    return PyUnicode_FromString(arena_method_str(m));
}

static PyObject *arena_method_doc(nf_arena_method *m, void *c)
{
    return PyUnicode_FromString(m->exit ? "__exit__(*exc_info) -> False: releases everything (release_all()); an "
                                          "exception from the block propagates."
                                        : "__enter__() -> the arena.");
}

static PyObject *arena_method_qualname(nf_arena_method *m, void *c)
{
    return PyUnicode_FromFormat("Arena.%s", arena_method_str(m));
}

static PyObject *arena_method_self(nf_arena_method *m, void *c)
{
    if (!m->arena) {  /* as a method descriptor: only a bound method has one */
        PyErr_SetString(PyExc_AttributeError, "an unbound Arena method has no __self__");
        return NULL;
    }
    return Py_NewRef(m->arena);
}

static PyObject *arena_method_objclass(nf_arena_method *m, void *c)
{
    return Py_NewRef((PyObject *)&nf_Arena_Type);
}

static PyObject *arena_method_none(nf_arena_method *m, void *c)
{
    Py_RETURN_NONE;  /* __text_signature__: none, as for a METH_VARARGS method */
}

static PyGetSetDef arena_method_getset[] = {
    {"__name__", (getter)arena_method_name, NULL, NULL, NULL},
    {"__qualname__", (getter)arena_method_qualname, NULL, NULL, NULL},
    {"__doc__", (getter)arena_method_doc, NULL, NULL, NULL},
    {"__self__", (getter)arena_method_self, NULL, NULL, NULL},
    {"__objclass__", (getter)arena_method_objclass, NULL, NULL, NULL},
    {"__text_signature__", (getter)arena_method_none, NULL, NULL, NULL},
    {NULL},
};

/* Pickled and copied as a method: getattr(arena or Arena, name). */
static PyObject *arena_method_reduce(nf_arena_method *m, PyObject *unused)
{
    PyObject *getattr_fn = PyDict_GetItemString(PyEval_GetBuiltins(), "getattr");  /* borrowed */
    if (!getattr_fn)
        return PyErr_Format(PyExc_RuntimeError, "no builtin getattr");
    return Py_BuildValue("O(Os)", getattr_fn, m->arena ? m->arena : (PyObject *)&nf_Arena_Type,
                         arena_method_str(m));
}

static PyMethodDef arena_method_methods[] = {
    {"__reduce__", (PyCFunction)arena_method_reduce, METH_NOARGS, NULL},
    {NULL},
};

/* Equal when they are the same method of the same arena (or both unbound), as bound methods are. */
static PyObject *arena_method_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !Py_IS_TYPE(b, &nf_ArenaMethod_Type))
        Py_RETURN_NOTIMPLEMENTED;
    nf_arena_method *x = (nf_arena_method *)a, *y = (nf_arena_method *)b;
    int eq = x->exit == y->exit && x->arena == y->arena;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t arena_method_hash(nf_arena_method *m)
{
    uintptr_t a = (uintptr_t)(m->arena ? m->arena : (PyObject *)&nf_Arena_Type);
    Py_hash_t h = (Py_hash_t)((a >> 4) | (a << (8 * sizeof a - 4))) ^ m->exit;  /* as CPython hashes a pointer */
    return h == -1 ? -2 : h;
}

static PyTypeObject nf_ArenaMethod_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi.ArenaMethod",
    .tp_basicsize = sizeof(nf_arena_method),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(nf_arena_method, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_descr_get = arena_method_get,
    .tp_dealloc = (destructor)arena_method_dealloc,
    .tp_repr = (reprfunc)arena_method_repr,
    .tp_getset = arena_method_getset,
    .tp_methods = arena_method_methods,
    .tp_richcompare = arena_method_richcompare,
    .tp_hash = (hashfunc)arena_method_hash,
};

/* Puts Arena's __enter__ and __exit__ in its dict, after PyType_Ready. */
static int arena_add_methods(void)
{
    for (int exit = 0; exit < 2; exit++) {
        PyObject *d = arena_method_new(exit, NULL);
        if (!d)
            return -1;
        int r = PyDict_SetItemString(nf_Arena_Type.tp_dict, arena_method_str((nf_arena_method *)d), d);
        Py_DECREF(d);
        if (r < 0)
            return -1;
    }
    PyType_Modified(&nf_Arena_Type);
    return 0;
}

static PyObject *arena_allocate_bytes(nf_arena *ar, PyObject *arg)
{
    size_t n;
    void *a = byte_count(arg, &n) < 0 ? NULL : arena_allocate(ar, n);
    return a ? PyLong_FromVoidPtr(a) : NULL;
}

static PyObject *arena_free(nf_arena *ar, PyObject *p)
{
    if (!nf_pointer_check(p)) {
        PyErr_Format(PyExc_TypeError, "free() expected a Pointer, got %.200s", Py_TYPE(p)->tp_name);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *arena_get_addresses(nf_arena *ar, void *c)
{
    PyObject *list = PyList_New(ar->count);
    for (Py_ssize_t i = 0; list && i < ar->count; i++) {
        PyObject *a = PyLong_FromVoidPtr(ar->held[i]);
        if (!a)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, a);
    }
    return list;
}

static PyMethodDef arena_methods[] = {
    {"allocate_bytes", (PyCFunction)arena_allocate_bytes, METH_O,
     "allocate_bytes(nbytes) -> the address (an int) of nbytes, freed by release_all()."},
    {"free", (PyCFunction)arena_free, METH_O, "free(p): does nothing; an arena frees all its memory in release_all()."},
    {"release_all", (PyCFunction)arena_release_all, METH_NOARGS,
     "release_all(): frees everything this arena allocated; pointers into it dangle afterwards."},
    {NULL},
};

static PyGetSetDef arena_getset[] = {
    {"_addresses", (getter)arena_get_addresses, NULL, "the addresses held, oldest first", NULL},
    {NULL},
};

PyTypeObject nf_Arena_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi.Arena",
    .tp_doc = "Arena(allocator=calloc): an allocator that frees everything it allocated when released (at the end\n"
              "of a with block, by release_all(), or when the arena and every pointer from it are gone).\n\n"
              "arena(T, count=1) -> Pointer[T], zeroed with the default calloc (as Dart's Arena); each pointer keeps\n"
              "the arena alive. arena.free(p) does nothing. Pointers dangle after release_all().\n\n"
              "Example:\n"
              "    >>> from nativeffi import Arena, Int64\n"
              "    >>> with Arena() as arena:\n"
              "    ...     p = arena(Int64, 10)\n"
              "    ...     p[9]\n"
              "    0",
    .tp_basicsize = sizeof(nf_arena),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(nf_arena, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = arena_new,
    .tp_vectorcall = arena_vectorcall_new,
    .tp_dealloc = (destructor)arena_dealloc,
    .tp_methods = arena_methods,
    .tp_getset = arena_getset,
};

int nf_memory_init(PyObject *module)
{
    if (PyType_Ready(&nf_Allocator_Type) < 0 || PyType_Ready(&nf_Arena_Type) < 0 ||
        PyType_Ready(&nf_ArenaMethod_Type) < 0 || arena_add_methods() < 0)
        return -1;
    if (PyModule_AddObjectRef(module, "Allocator", (PyObject *)&nf_Allocator_Type) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "Arena", (PyObject *)&nf_Arena_Type);
}

PyMethodDef nf_memory_methods[] = {
    {"malloc", m_malloc, METH_VARARGS,
     "malloc(count, size) -> address of count * size bytes (OverflowError past what the platform can address,\n"
     "MemoryError when the system has none)."},
    {"calloc", m_calloc, METH_VARARGS, "calloc(count, size) -> address of count * size zeroed bytes."},
    {"free", m_free, METH_O, "free(address)."},
    {"memmove", m_memmove, METH_VARARGS, "memmove(dst, src, nbytes)."},
    {"string_at", m_string_at, METH_VARARGS, "string_at(address, nbytes) -> bytes (a copy)."},
    {NULL},
};
