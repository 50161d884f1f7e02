/* Pointer objects: typed addresses with element access, slices, arithmetic, strings and buffer interop. */
#include "pointer.h"
#include "compound.h"
#include "convert.h"
#include "errors.h"
#include "expr.h"
#include "sizes.h"

#include <wchar.h>

static PyObject *default_pointer_class;  /* nativeffi.Pointer, set by the Python layer */
static PyObject *pointer_expr;           /* Pointer.__class_getitem__ (a TypeExpression), set with it */
static PyObject *native_attr;            /* interned "__native__" */
PyObject *nf_NullPointerError;

/* -- Construction ------------------------------------------------------ */

/* Pointer objects come and go by the million in callbacks (every pointer argument, every p[i] of a char **): the
   classes the Python layer makes (Pointer[T], __slots__ = ()) get plain_dealloc instead of subtype_dealloc when
   they are made (PointerBase.__init_subclass__), and their objects' memory goes to a free list that new_of_class
   takes from, as CPython's floats and tuples do. Objects from the list are indistinguishable from new ones. */
#define FREE_LIST_MAX 64
static nf_pointer *free_list[FREE_LIST_MAX];  /* untracked, unreferenced objects of sizeof(nf_pointer) */
static int free_count;                        /* how many free_list holds */

/* Whether objects of cls may come from and go to the free list: nothing beyond nf_pointer (no slots, no __dict__
   or __weakref__, not even the ones CPython 3.11+ keeps before the object: tp_dictoffset and tp_weaklistoffset
   are then negative), the default GC allocator. */
static int plain_class(PyTypeObject *cls)
{
    return cls->tp_basicsize == sizeof(nf_pointer) && cls->tp_itemsize == 0 && cls->tp_dictoffset == 0 &&
           cls->tp_weaklistoffset == 0 && cls->tp_alloc == PyType_GenericAlloc && cls->tp_free == PyObject_GC_Del &&
           (cls->tp_flags & Py_TPFLAGS_HEAPTYPE);
}

static void plain_dealloc(nf_pointer *p);

static PyObject *new_of_class(PyTypeObject *cls, nf_ctype *ptype, void *addr, PyObject *keep)
{
    nf_pointer *p;
    if (free_count && cls->tp_dealloc == (destructor)plain_dealloc) {  /* a plain class (pointer_init_subclass) */
        p = free_list[--free_count];
        PyObject_Init((PyObject *)p, cls);  /* takes a reference to cls, refcount 1 */
        PyObject_GC_Track(p);
    } else if (!(p = (nf_pointer *)cls->tp_alloc(cls, 0))) {
        return NULL;
    }
    p->addr = addr;
    p->type = (nf_ctype *)Py_NewRef(ptype);
    p->keep = Py_XNewRef(keep);
    return (PyObject *)p;
}

PyObject *nf_pointer_new(nf_ctype *ptype, void *addr, PyObject *keep)
{
    PyObject *cls = ptype->pyclass ? ptype->pyclass : default_pointer_class;
    if (!cls) {
        PyErr_SetString(PyExc_RuntimeError, "nativeffi: the Pointer class is not registered");
        return NULL;
    }
    return new_of_class((PyTypeObject *)cls, ptype, addr, keep);
}

/* The __native__ of a Pointer class found without running code, borrowed: through the type attribute cache for
   a class of the core's metaclass (which has no __native__ of its own, and a CType no __get__, so that is the
   attribute), else the class's own dict entry; NULL (an error set only if the dict lookup failed) otherwise. */
static PyObject *own_native(PyTypeObject *cls)
{
    if (Py_IS_TYPE(cls, &nf_TypeExpressionMeta_Type))
        return _PyType_Lookup(cls, native_attr);
    return cls->tp_dict ? PyDict_GetItemWithError(cls->tp_dict, native_attr) : NULL;
}

/* The POINTER CType of a Pointer class (its __native__, which may be computed on each access). New reference. */
static nf_ctype *class_ptype(PyTypeObject *cls)
{
    PyObject *t = own_native(cls);
    if (t && nf_ctype_check(t) && ((nf_ctype *)t)->kind == NF_POINTER)
        return (nf_ctype *)Py_NewRef(t);
    if (PyErr_Occurred())
        return NULL;
    t = PyObject_GetAttr((PyObject *)cls, native_attr);
    if (t && (!nf_ctype_check(t) || ((nf_ctype *)t)->kind != NF_POINTER)) {
        PyErr_Format(PyExc_TypeError, "%s.__native__ is not a pointer type", cls->tp_name);
        Py_CLEAR(t);
    }
    return (nf_ctype *)t;
}

/* A new pointer of class `cls` at `addr`, typed by the class's __native__. */
static PyObject *new_of_class_type(PyTypeObject *cls, void *addr, PyObject *keep)
{
    nf_ctype *t = class_ptype(cls);
    if (!t)
        return NULL;
    PyObject *p = new_of_class(cls, t, addr, keep);
    Py_DECREF(t);
    return p;
}

/* The class Pointer[target] and its __native__ for the targets allocators were last asked for (calloc(T),
   arena(T) in a loop), direct-mapped by address. All three are references: the expression keeps what it made
   for good, so an entry stays right, and no other CType can take a remembered target's address. */
#define POINTER_MEMO 8
static struct {
    nf_ctype *target;
    PyTypeObject *cls;
    nf_ctype *ptype;
} pointer_memo[POINTER_MEMO];

/* Sets entry i (NULLs: empties it). The old references go last, so code their release runs sees the entry
   whole. */
static void pointer_memo_set(size_t i, nf_ctype *target, PyTypeObject *cls, nf_ctype *ptype)
{
    nf_ctype *old_target = pointer_memo[i].target, *old_ptype = pointer_memo[i].ptype;
    PyTypeObject *old_cls = pointer_memo[i].cls;
    pointer_memo[i].target = (nf_ctype *)Py_XNewRef(target);
    pointer_memo[i].cls = (PyTypeObject *)Py_XNewRef(cls);
    pointer_memo[i].ptype = (nf_ctype *)Py_XNewRef(ptype);
    Py_XDECREF(old_target);
    Py_XDECREF(old_cls);
    Py_XDECREF(old_ptype);
}

PyObject *nf_pointer_to(nf_ctype *target, void *addr, PyObject *keep)
{
    size_t i = ((uintptr_t)target / sizeof(nf_ctype)) % POINTER_MEMO;
    if (pointer_memo[i].target == target)
        return new_of_class(pointer_memo[i].cls, pointer_memo[i].ptype, addr, keep);
    if (!pointer_expr) {
        PyErr_SetString(PyExc_RuntimeError, "nativeffi: the Pointer class is not registered");
        return NULL;
    }
    PyObject *cls = nf_expr_get(pointer_expr, (PyObject *)target);
    if (!cls)
        return NULL;
    nf_ctype *t = NULL;
    PyObject *p = NULL;
    if (!PyType_Check(cls))
        PyErr_Format(PyExc_TypeError, "Pointer[%U] is not a class", target->name);
    else if ((t = class_ptype((PyTypeObject *)cls)) && (p = new_of_class((PyTypeObject *)cls, t, addr, keep)))
        pointer_memo_set(i, target, (PyTypeObject *)cls, t);
    Py_XDECREF(t);
    Py_DECREF(cls);
    return p;
}

/* -- Boxes: pointers to a value inside themselves ------------------------------ */

/* A Box[T]: a Pointer[T] whose pointee is stored in the object itself, so Python owns it and frees it with the
   box. Pointers derived from a box (p + n, cast) are plain pointers that keep the box alive. */
typedef struct {
    nf_pointer p;        /* p.addr points at `data`; p.keep is NULL (the box owns its memory) */
    union {
        int64_t i;
        double d;
        void *ptr;
    } data;              /* the value: any scalar or pointer (at most 8 bytes, aligned for all of them) */
} nf_box;

/* The class and owner of a pointer derived from p: a box's derivatives are its pointer class and keep it. */
static PyTypeObject *derived_class(nf_pointer *p)
{
    if (!nf_box_check(p))
        return Py_TYPE(p);
    return (PyTypeObject *)(p->type->pyclass ? p->type->pyclass : default_pointer_class);
}

static PyObject *owner_of(nf_pointer *p)
{
    return nf_box_check(p) ? (PyObject *)p : p->keep;
}

nf_ctype *nf_pointer_target(nf_ctype *ptype)
{
    if (ptype->target)
        return ptype->target;
    if (ptype->pyclass) {
        PyObject *r = PyObject_CallMethod(ptype->pyclass, "_resolve_target", NULL);
        Py_XDECREF(r);
        if (!r)
            return NULL;
        if (ptype->target)
            return ptype->target;
    }
    PyErr_Format(PyExc_TypeError, "%U: the pointee is an unresolved forward reference", ptype->name);
    return NULL;
}

static void pointer_dealloc(nf_pointer *p)
{
    PyObject_GC_UnTrack(p);
    Py_XDECREF(p->type);
    Py_XDECREF(p->keep);
    Py_TYPE(p)->tp_free((PyObject *)p);
}

/* The tp_dealloc of plain pointer classes (see free_list), and the base dealloc a subclass's subtype_dealloc
   calls (which leaves the class's reference to us, as for any heap-type base). Memory goes to the free list only
   from a plain class's own objects that were never finalized (a finalized flag would pass to the next object). */
static void plain_dealloc(nf_pointer *p)
{
    PyTypeObject *cls = Py_TYPE(p);
    int own = cls->tp_dealloc == (destructor)plain_dealloc;
    if (own && cls->tp_finalize) {  /* a __del__ given to the class after it was made; p is still tracked */
        if (PyObject_CallFinalizerFromDealloc((PyObject *)p) < 0)
            return;  /* resurrected */
    }
    PyObject_GC_UnTrack(p);
    Py_CLEAR(p->type);
    Py_CLEAR(p->keep);
    if (own && free_count < FREE_LIST_MAX && !PyObject_GC_IsFinalized((PyObject *)p))
        free_list[free_count++] = p;
    else
        cls->tp_free((PyObject *)p);
    Py_DECREF(cls);
}

/* Visits what a pointer owns besides its class: the class of an instance of a heap class (Pointer[T], Box[T], a
   user's subclass) is visited by subtype_traverse, which calls this after. Visiting it here too counted each
   instance's one reference twice, so a young class whose instances were garbage looked unreachable to a partial
   collection and was cleared while the type-expression cache still returned it. */
static int pointer_traverse(nf_pointer *p, visitproc visit, void *arg)
{
    Py_VISIT(p->keep);
    return 0;
}

static int pointer_clear(nf_pointer *p)
{
    Py_CLEAR(p->keep);
    return 0;
}

static PyObject *pointer_from_address(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"address", "keep", NULL};
    PyObject *addr, *keep = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:from_address", kwlist, &addr, &keep))
        return NULL;
    if (!PyLong_Check(addr)) {
        PyErr_Format(PyExc_TypeError, "from_address() expected an int address, got %.200s", Py_TYPE(addr)->tp_name);
        return NULL;
    }
    void *a = PyLong_AsVoidPtr(addr);
    if (!a && PyErr_Occurred()) {
        PyErr_Format(PyExc_OverflowError, "from_address() expected an address in [0, 2**%d), got %R",
                     (int)(8 * sizeof(void *)), addr);
        return NULL;
    }
    if (PyLong_Check(addr) && _PyLong_Sign(addr) < 0) {
        PyErr_Format(PyExc_OverflowError, "from_address() expected a non-negative address, got %R", addr);
        return NULL;
    }
    return new_of_class_type(cls, a, keep == Py_None ? NULL : keep);
}

/* -- Buffers: Pointer.from_buffer and as_memoryview --------------------- */

/* Holds an exported buffer for as long as a pointer into it lives. */
typedef struct {
    PyObject_HEAD
    Py_buffer view;     /* the exported buffer, released on dealloc */
} nf_bufkeeper;

static void bufkeeper_dealloc(nf_bufkeeper *k)
{
    PyBuffer_Release(&k->view);
    Py_TYPE(k)->tp_free((PyObject *)k);
}

static PyTypeObject nf_BufKeeper_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core._BufferKeeper",
    .tp_basicsize = sizeof(nf_bufkeeper),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)bufkeeper_dealloc,
};

static PyObject *pointer_from_buffer(PyTypeObject *cls, PyObject *obj)
{
    nf_ctype *t = class_ptype(cls);
    if (!t)
        return NULL;
    nf_bufkeeper *k = PyObject_New(nf_bufkeeper, &nf_BufKeeper_Type);
    if (!k) {
        Py_DECREF(t);
        return NULL;
    }
    if (PyObject_GetBuffer(obj, &k->view, PyBUF_WRITABLE | PyBUF_ANY_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        k->view.obj = NULL;
        Py_DECREF(k);
        Py_DECREF(t);
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "from_buffer() expected a writable contiguous buffer (bytearray, memoryview, "
                     "array, numpy array), got %.200s", Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyObject *p = NULL;
    if (nf_cconv_check_buffer(t, k->view.format, k->view.itemsize, obj) == 0)
        p = new_of_class(cls, t, k->view.buf, (PyObject *)k);
    Py_DECREF(k);
    Py_DECREF(t);
    return p;
}

/* A region of native memory exporting the buffer protocol, so that memoryview() can wrap it. */
typedef struct {
    PyObject_HEAD
    char *addr;
    Py_ssize_t len;
    PyObject *keep;     /* what the memory belongs to, kept alive with the view */
} nf_region;

static int region_getbuffer(nf_region *r, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)r, r->addr, r->len, 0, flags);
}

static void region_dealloc(nf_region *r)
{
    Py_XDECREF(r->keep);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyBufferProcs region_as_buffer = {(getbufferproc)region_getbuffer, NULL};

static PyTypeObject nf_Region_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core._Region",
    .tp_basicsize = sizeof(nf_region),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)region_dealloc,
    .tp_as_buffer = &region_as_buffer,
};

static int check_not_null(nf_pointer *p, const char *what)
{
    if (p->addr)
        return 0;
    PyErr_Format(nf_NullPointerError, "cannot %s through a null %U", what, p->type->name);
    return -1;
}

static PyObject *box_new(PyTypeObject *cls, PyObject *args, PyObject *kw);

/* A Box holds one value, inside the box object: whether the n bytes at a leave it (then IndexError; returns -1).
   Other pointers have no known extent, as in C, and pass (a Box class is the one whose objects box_new makes). */
static int outside_box(nf_pointer *p, const char *a, Py_ssize_t n)
{
    if (Py_TYPE(p)->tp_new != box_new)
        return 0;
    Py_ssize_t size = p->type->target->size;
    intptr_t off = (intptr_t)a - (intptr_t)p->addr;
    if (off >= 0 && n <= size && off <= size - n)
        return 0;
    PyErr_Format(PyExc_IndexError, "%s holds one %U (%zd bytes): %zd bytes at byte offset %zd would be outside "
                 "it (a Box is not an array: allocate one with calloc(T, n) or Array[T, n]())", Py_TYPE(p)->tp_name,
                 p->type->target->name, size, n, (Py_ssize_t)off);
    return -1;
}

/* Checks that n >= 0 bytes from p are a region of the address space (and inside p's box, if it is one). */
static int region_ok(nf_pointer *p, Py_ssize_t n, const char *what)
{
    char *end;
    if (n > NF_SIZE_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s %zd is " NF_TOO_LARGE, what, n);
        return -1;
    }
    if (nf_addr_add(p->addr, n, &end) < 0) {
        PyErr_Format(PyExc_OverflowError, "%s %zd from %p leaves the address space", what, n, p->addr);
        return -1;
    }
    return outside_box(p, p->addr, n);
}

/* Checks that `length` (a Python int) bytes from p are a region of the address space; its length in *n. */
static int region_length(nf_pointer *p, PyObject *length, const char *what, Py_ssize_t *n)
{
    if (nf_count_from_object(length, what, n) < 0)
        return -1;
    if (*n > NF_SIZE_MAX) {  /* shown as given (beyond PY_SSIZE_T_MAX, *n is clamped) */
        PyErr_Format(PyExc_OverflowError, "%s %R is " NF_TOO_LARGE, what, length);
        return -1;
    }
    return region_ok(p, *n, what);
}

static PyObject *pointer_as_memoryview(nf_pointer *p, PyObject *arg)
{
    Py_ssize_t n;
    if (region_length(p, arg, "as_memoryview() byte count", &n) < 0)
        return NULL;
    if (n > 0 && check_not_null(p, "make a memoryview") < 0)
        return NULL;
    nf_region *r = PyObject_New(nf_region, &nf_Region_Type);
    if (!r)
        return NULL;
    r->addr = p->addr;
    r->len = n;
    r->keep = Py_NewRef(owner_of(p) ? owner_of(p) : (PyObject *)p);
    PyObject *mv = PyMemoryView_FromObject((PyObject *)r);
    Py_DECREF(r);
    return mv;
}

/* p.to_bytes(n): a copy of the memory of n elements (n bytes for Pointer[Void]). */
static PyObject *pointer_to_bytes(nf_pointer *p, PyObject *arg)
{
    nf_ctype *t = nf_pointer_target(p->type);
    if (!t)
        return NULL;
    Py_ssize_t n, nbytes, size = t->kind == NF_VOID ? 1 : t->size;
    if (t->kind == NF_OPAQUE || t->kind == NF_FUNCTION) {
        PyErr_Format(PyExc_TypeError, "to_bytes() through %U: its pointee has no size; cast it to Pointer[Uint8] "
                     "first", p->type->name);
        return NULL;
    }
    if (nf_count_from_object(arg, "to_bytes() element count", &n) < 0)
        return NULL;
    if (nf_size_mul(n, size, &nbytes) < 0) {
        PyErr_Format(PyExc_OverflowError, "to_bytes() element count %R is " NF_TOO_LARGE, arg);
        return NULL;
    }
    if (region_ok(p, nbytes, "to_bytes() size in bytes") < 0 || (nbytes > 0 && check_not_null(p, "read bytes") < 0))
        return NULL;
    return PyBytes_FromStringAndSize(p->addr, nbytes);
}

/* -- Element access ------------------------------------------------------ */

/* The pointee, which must have values of a known size. Borrowed. */
static nf_ctype *element_type(nf_pointer *p, const char *what)
{
    nf_ctype *t = nf_pointer_target(p->type);
    if (!t)
        return NULL;
    if (t->kind == NF_VOID || t->kind == NF_OPAQUE || t->kind == NF_FUNCTION) {
        PyErr_Format(PyExc_TypeError, "cannot %s through %U: its pointee has no values; cast it to a pointer of "
                     "a sized type first", what, p->type->name);
        return NULL;
    }
    return t;
}

/* *out = the address `index` (a Python int of any size) elements of t from p, stepping forward (sign 1) or back
   (-1); `op` names the operation in errors ("+", "-" or "[]"). Returns 0, or -1 with OverflowError if the byte
   offset or the address would leave the address space (nothing wraps around). */
static int element_address(nf_pointer *p, nf_ctype *t, PyObject *index, int sign, const char *op, char **out)
{
    Py_ssize_t i = PyNumber_AsSsize_t(index, NULL), off;   /* clamped: a huge int then fails below */
    if (i == -1 && PyErr_Occurred())
        return -1;
    if (nf_size_mul(i, sign * t->size, &off) < 0 || nf_addr_add(p->addr, off, out) < 0) {
        if (op[0] == '[')
            PyErr_Format(PyExc_OverflowError, "%U[%R]: %R elements of %zd bytes from %p leave the address space",
                         p->type->name, index, index, t->size, p->addr);
        else
            PyErr_Format(PyExc_OverflowError, "%U %s %R: %R elements of %zd bytes from %p leave the address space",
                         p->type->name, op, index, index, t->size, p->addr);
        return -1;
    }
    return 0;
}

/* The pointee type and the address of p[index] (index NULL: p[0]) to `what` ("read", "write"). NULL with an
   exception if the pointee has no values, p is null, or the address leaves the address space. */
static inline __attribute__((always_inline)) nf_ctype *element_at(nf_pointer *p, PyObject *index, const char *what, char **a)
{
    if (check_not_null(p, what) < 0)   /* first: nullptr, untyped, raises NullPointerError as any null pointer */
        return NULL;
    nf_ctype *t = element_type(p, what);
    if (!t)
        return NULL;
    *a = p->addr;
    if (index && element_address(p, t, index, 1, "[]", a) < 0)
        return NULL;
    return t;
}

/* -- Slices: p[a:b], p[a:b:k], as ctypes pointers: indices count elements from p (negative ones lie before it),
      stop is required (a pointer has no length), start too when stepping backwards. ---------------------- */

/* The pointee, the address of element `start` and the count of a slice of p; NULL with an exception. */
static nf_ctype *slice_at(nf_pointer *p, PyObject *slice, const char *what, char **a, Py_ssize_t *step,
                          Py_ssize_t *count)
{
    PySliceObject *sl = (PySliceObject *)slice;
    Py_ssize_t start, stop;
    if (sl->stop == Py_None) {
        PyErr_SetString(PyExc_ValueError, "the slice needs a stop (a pointer has no length)");
        return NULL;
    }
    if (PySlice_Unpack(slice, &start, &stop, step) < 0)
        return NULL;
    if (sl->start == Py_None && *step < 0) {
        PyErr_SetString(PyExc_ValueError, "a slice with a negative step needs a start");
        return NULL;
    }
    /* PySlice_Unpack clamps to +-PY_SSIZE_T_MAX; element_address then refuses such offsets */
    *count = *step > 0 ? (stop > start ? (stop - start - 1) / *step + 1 : 0)
                       : (stop < start ? (start - stop - 1) / -*step + 1 : 0);
    if (check_not_null(p, what) < 0)
        return NULL;
    nf_ctype *t = element_type(p, what);
    PyObject *first = t ? PyLong_FromSsize_t(start) : NULL;
    int bad = !first || element_address(p, t, first, 1, "[]", a) < 0;
    Py_XDECREF(first);
    if (bad)
        return NULL;
    Py_ssize_t span, last;   /* the last element's offset from the first, in bytes: must stay in the address space */
    char *end;
    if (*count > 0 && (nf_size_mul(*count - 1, *step, &span) < 0 || nf_size_mul(span, t->size, &last) < 0 ||
                       nf_addr_add(*a, last, &end) < 0)) {
        PyErr_SetString(PyExc_OverflowError, "the slice leaves the address space");
        return NULL;
    }
    if (*count > 0 && (outside_box(p, *a, t->size) < 0 || outside_box(p, end, t->size) < 0))
        return NULL;
    return t;
}

static __attribute__((noinline)) PyObject *slice_read(nf_pointer *p, PyObject *slice)
{
    char *a;
    Py_ssize_t step, n;
    nf_ctype *t = slice_at(p, slice, "read", &a, &step, &n);
    if (!t)
        return NULL;
    PyObject *list = PyList_New(n);
    for (Py_ssize_t k = 0; list && k < n; k++, a += step * t->size) {
        PyObject *v = NF_IS_SCALAR(t->kind) ? nf_cconv_load_scalar(t->kind, a) : nf_cconv_load(t, a, p->keep);
        if (!v)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, k, v);
    }
    return list;
}

/* p[a:b] = values: every value is converted first (into a temporary), so a bad one writes nothing. */
static __attribute__((noinline)) int slice_write(nf_pointer *p, PyObject *slice, PyObject *values)
{
    char *a;
    Py_ssize_t step, n, nbytes;
    nf_ctype *t = slice_at(p, slice, "write", &a, &step, &n);
    if (!t)
        return -1;
    PyObject *seq = PySequence_Fast(values, "");
    if (!seq) {
        PyErr_Format(PyExc_TypeError, "expected a sequence of %zd values, got %.200s", n, Py_TYPE(values)->tp_name);
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(seq) != n) {
        PyErr_Format(PyExc_ValueError, "expected a sequence of %zd values (the slice's length), got %zd", n,
                     PySequence_Fast_GET_SIZE(seq));
        Py_DECREF(seq);
        return -1;
    }
    char *tmp = NULL;
    int r = -1;
    if (nf_size_mul(n, t->size, &nbytes) < 0 || !(tmp = PyMem_Malloc(nbytes ? nbytes : 1))) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < n; k++)
        if (nf_cconv_store(t, tmp + k * t->size, PySequence_Fast_GET_ITEM(seq, k)) < 0) {
            nf_errors_prefix("item %zd", k);
            goto done;
        }
    for (Py_ssize_t k = 0; k < n; k++, a += step * t->size)
        memcpy(a, tmp + k * t->size, t->size);
    r = 0;
done:
    PyMem_Free(tmp);
    Py_DECREF(seq);
    return r;
}

/* Puts "Pointer[T][a:b:k]" before the pending exception's message; returns -1. */
static __attribute__((noinline)) int slice_context(nf_pointer *p, PyObject *slice)
{
    PySliceObject *sl = (PySliceObject *)slice;
    PyObject *part[3] = {sl->start, sl->stop, sl->step}, *text[3] = {NULL, NULL, NULL}, *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    for (int i = 0; i < 3; i++)
        text[i] = part[i] == Py_None ? PyUnicode_FromString("") : PyObject_Str(part[i]);
    PyErr_Restore(type, value, tb);
    if (text[0] && text[1] && text[2])
        nf_errors_prefix(sl->step == Py_None ? "%U[%U:%U]" : "%U[%U:%U:%U]", p->type->name, text[0], text[1], text[2]);
    for (int i = 0; i < 3; i++)
        Py_XDECREF(text[i]);
    return -1;
}

/* The address of p[index] when it is the common case: a resolved scalar or pointer pointee (a char ** read in a
   callback), a non-null pointer and an exact int index (NULL: 0) of at most 2**40 elements either way whose
   address stays in the address space. Its pointee type, or NULL (no exception) when the general path must decide,
   and say what is wrong. */
static inline nf_ctype *simple_element(nf_pointer *p, PyObject *index, char **a)
{
    nf_ctype *t = p->type->target;
    int64_t i = 0;
    if (!t || !(NF_IS_SCALAR(t->kind) || t->kind == NF_POINTER) || !p->addr)
        return NULL;
    if (index && !(PyLong_CheckExact(index) && nf_long_compact(index, &i) && i >= -((int64_t)1 << 40) &&
                   i <= (int64_t)1 << 40))
        return NULL;
    return nf_addr_add(p->addr, (Py_ssize_t)i * t->size, a) == 0 ? t : NULL;
}

static PyObject *load_at(nf_pointer *p, PyObject *index)
{
    if (index && PySlice_Check(index)) {
        PyObject *r = slice_read(p, index);
        if (!r)
            slice_context(p, index);
        return r;
    }
    char *a;
    nf_ctype *s = simple_element(p, index, &a);
    if (s && (a == p->addr || !outside_box(p, a, s->size)))
        return s->kind == NF_POINTER ? nf_cconv_load(s, a, NULL) : nf_cconv_load_scalar(s->kind, a);
    if (s)
        return NULL;
    nf_ctype *t = element_at(p, index, "read", &a);
    if (!t || (a != p->addr && outside_box(p, a, t->size) < 0))
        return NULL;
    if (NF_IS_SCALAR(t->kind))
        return nf_cconv_load_scalar(t->kind, a);
    return nf_cconv_load(t, a, owner_of(p));
}

static int store_at(nf_pointer *p, PyObject *index, PyObject *v)
{
    if (!v) {
        PyErr_SetString(PyExc_TypeError, "pointer elements cannot be deleted");
        return -1;
    }
    if (index && PySlice_Check(index))
        return slice_write(p, index, v) < 0 ? slice_context(p, index) : 0;
    char *a;
    nf_ctype *t = simple_element(p, index, &a);
    if (!t)
        t = element_at(p, index, "write", &a);
    if (!t || (a != p->addr && outside_box(p, a, t->size) < 0))
        return -1;
    return nf_cconv_store(t, a, v);
}

static PyMappingMethods pointer_as_mapping = {
    .mp_subscript = (binaryfunc)load_at,
    .mp_ass_subscript = (objobjargproc)store_at,
};

static PyObject *pointer_get_value(nf_pointer *p, void *c)
{
    nf_ctype *t = nf_pointer_target(p->type);
    if (t && NF_IS_COMPOUND(t->kind) && t->kind != NF_ARRAY) {
        PyErr_Format(PyExc_TypeError, "%U.value: use .ref to get a view of the struct or union", p->type->name);
        return NULL;
    }
    return t ? load_at(p, NULL) : NULL;
}

static int pointer_set_value(nf_pointer *p, PyObject *v, void *c)
{
    return store_at(p, NULL, v);
}

static PyObject *pointer_get_ref(nf_pointer *p, void *c)
{
    nf_ctype *t = nf_pointer_target(p->type);
    if (!t)
        return NULL;
    if (!NF_IS_COMPOUND(t->kind)) {
        PyErr_Format(PyExc_TypeError, "%U.ref: .ref is for structs, unions and arrays; use .value", p->type->name);
        return NULL;
    }
    return load_at(p, NULL);
}

static int pointer_set_ref(nf_pointer *p, PyObject *v, void *c)
{
    return store_at(p, NULL, v);
}

/* -- Arithmetic, comparison, representation ----------------------------- */

static PyObject *offset_by(nf_pointer *p, PyObject *n, int sign)
{
    if (!PyLong_Check(n))
        Py_RETURN_NOTIMPLEMENTED;
    nf_ctype *t = element_type(p, "do arithmetic");
    char *a;
    if (!t || element_address(p, t, n, sign, sign > 0 ? "+" : "-", &a) < 0)
        return NULL;
    return new_of_class(derived_class(p), p->type, a, owner_of(p));
}

static PyObject *pointer_add(PyObject *a, PyObject *b)
{
    if (nf_pointer_check(a))
        return offset_by((nf_pointer *)a, b, 1);
    return offset_by((nf_pointer *)b, a, 1);
}

static PyObject *pointer_sub(PyObject *a, PyObject *b)
{
    if (!nf_pointer_check(a))
        Py_RETURN_NOTIMPLEMENTED;
    if (nf_pointer_check(b)) {
        nf_pointer *p = (nf_pointer *)a, *q = (nf_pointer *)b;
        nf_ctype *t = element_type(p, "subtract");
        if (!t)
            return NULL;
        if (p->type->target != q->type->target) {
            PyErr_Format(PyExc_TypeError, "cannot subtract %U from %U", q->type->name, p->type->name);
            return NULL;
        }
        /* exact, in unsigned arithmetic: C's (p - q) for addresses of any distance, rounded toward zero */
        uintptr_t a = (uintptr_t)p->addr, b = (uintptr_t)q->addr;
        PyObject *d = PyLong_FromSize_t((a >= b ? a - b : b - a) / (uintptr_t)t->size);
        if (d && a < b)
            Py_SETREF(d, PyNumber_Negative(d));
        return d;
    }
    return offset_by((nf_pointer *)a, b, -1);
}

static int pointer_bool(nf_pointer *p) { return p->addr != NULL; }

static PyNumberMethods pointer_as_number = {
    .nb_add = pointer_add,
    .nb_subtract = pointer_sub,
    .nb_bool = (inquiry)pointer_bool,
};

static PyObject *pointer_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!nf_pointer_check(a) || !nf_pointer_check(b))
        Py_RETURN_NOTIMPLEMENTED;
    uintptr_t x = (uintptr_t)((nf_pointer *)a)->addr, y = (uintptr_t)((nf_pointer *)b)->addr;
    Py_RETURN_RICHCOMPARE(x, y, op);
}

static Py_hash_t pointer_hash(nf_pointer *p)
{
    Py_hash_t h = (Py_hash_t)((uintptr_t)p->addr >> 3 | (uintptr_t)p->addr << (8 * sizeof(void *) - 3));
    return h == -1 ? -2 : h;
}

static PyObject *pointer_repr(nf_pointer *p)
{
    if (!p->addr)
        return PyUnicode_FromFormat("<%U nullptr>", p->type->name);
    return PyUnicode_FromFormat("<%U %p>", p->type->name, p->addr);
}

static PyObject *pointer_get_address(nf_pointer *p, void *c) { return PyLong_FromVoidPtr(p->addr); }
static PyObject *pointer_get_is_null(nf_pointer *p, void *c) { return PyBool_FromLong(p->addr == NULL); }
static PyObject *pointer_get_type(nf_pointer *p, void *c) { return Py_NewRef(p->type); }
static PyObject *pointer_get_keep(nf_pointer *p, void *c) { return Py_NewRef(p->keep ? p->keep : Py_None); }

/* -- Strings -------------------------------------------------------------- */

/* Whether t is a byte type a C string is made of: the 1-byte integers (Char, Uint8, Int8...) or Utf8. */
static int is_byte_text(nf_ctype *t)
{
    return t->kind == NF_I8 || t->kind == NF_U8 ||
           (t->kind == NF_OPAQUE && PyUnicode_CompareWithASCIIString(t->name, "Utf8") == 0);
}

/* Whether the n >= 2 bytes at s are ASCII: whole words, then the last word again (overlapping), so no byte loop. */
static int short_ascii(const char *s, Py_ssize_t n)
{
    uint64_t high = 0, w;
    if (n >= 8) {
        for (Py_ssize_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&w, s + i, 8);
            high |= w;
        }
        memcpy(&w, s + n - 8, 8);
        high |= w;
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        high = a | b;
    } else {
        uint16_t a, b;
        memcpy(&a, s, 2);
        memcpy(&b, s + n - 2, 2);
        high = a | b;
    }
    return !(high & 0x8080808080808080u);
}

/* UTF-8 text as a str, as PyUnicode_DecodeUTF8(s, n, "strict"), with a shortcut for the short ASCII text a callback
   gets most (names, numbers, words: 2 to 256 bytes): a scan a word at a time and one copy into the new str, instead
   of the decoder's rounds (about 75 instructions less a call in the expat workload, callgrind). Other text, and 0 or 1
   byte (CPython's shared strings), go to the decoder. */
static PyObject *decode_utf8(const char *s, Py_ssize_t n)
{
    if (n > 1 && n <= 256 && short_ascii(s, n)) {
        PyObject *u = PyUnicode_New(n, 127);
        if (u)
            memcpy(PyUnicode_DATA(u), s, (size_t)n);
        return u;
    }
    return PyUnicode_DecodeUTF8(s, n, "strict");
}

/* to_str(length=None), METH_FASTCALL: PyArg_ParseTupleAndKeywords cost 430 instructions a call (callgrind),
   a third of `s.to_str(n)` in a callback. */
static PyObject *pointer_to_str(nf_pointer *p, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw > 1) {
        PyErr_Format(PyExc_TypeError, "to_str() takes at most 1 argument (%zd given)", nargs + nkw);
        return NULL;
    }
    if (nkw && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "length") != 0) {
        PyErr_Format(PyExc_TypeError, "to_str() got an unexpected keyword argument '%U'",
                     PyTuple_GET_ITEM(kwnames, 0));
        return NULL;
    }
    PyObject *length = nargs + nkw ? args[0] : Py_None;
    nf_ctype *t = nf_pointer_target(p->type);
    if (!t)
        return NULL;
    int wide = t->scalar == NF_T_WChar;
    if (!wide && !is_byte_text(t)) {
        PyErr_Format(PyExc_TypeError, "to_str() is for pointers to bytes (Pointer[Utf8], Pointer[Char], "
                     "Pointer[Uint8], Pointer[Int8]...) and Pointer[WChar], not %U", p->type->name);
        return NULL;
    }
    if (check_not_null(p, "read a string") < 0)
        return NULL;
    Py_ssize_t n, nbytes;
    if (length == Py_None && Py_TYPE(p)->tp_new == box_new) {   /* the NUL must lie inside the box */
        Py_ssize_t unit = wide ? (Py_ssize_t)sizeof(wchar_t) : 1, cap = t->size / unit;
        n = wide ? (Py_ssize_t)wcsnlen((const wchar_t *)p->addr, (size_t)cap) : (Py_ssize_t)strnlen(p->addr, (size_t)cap);
        if (n == cap && outside_box(p, p->addr, (n + 1) * unit) < 0)
            return NULL;
    } else if (length == Py_None) {
        n = wide ? (Py_ssize_t)wcslen((const wchar_t *)p->addr) : (Py_ssize_t)strlen(p->addr);
    } else {
        if (nf_count_from_object(length, "to_str() length", &n) < 0)
            return NULL;
        if (nf_size_mul(n, wide ? (Py_ssize_t)sizeof(wchar_t) : 1, &nbytes) < 0) {
            PyErr_Format(PyExc_OverflowError, "to_str() length %R is " NF_TOO_LARGE, length);
            return NULL;
        }
        if (region_ok(p, nbytes, "to_str() length") < 0)
            return NULL;
    }
    if (wide)
        return PyUnicode_FromWideChar((const wchar_t *)p->addr, n);
    return decode_utf8(p->addr, n);
}

/* A new pointer of class `cls` (a Pointer subclass) at the same address, keeping the same memory alive. */
static PyObject *pointer_retype(nf_pointer *p, PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &nf_PointerBase_Type)) {
        PyErr_SetString(PyExc_TypeError, "_retype() expects a Pointer class");
        return NULL;
    }
    return new_of_class_type((PyTypeObject *)cls, p->addr, owner_of(p));
}

static PyObject *pointer_init_subclass(PyTypeObject *cls, PyObject *args, PyObject *kw);

static PyMethodDef pointer_methods[] = {
    {"__init_subclass__", (PyCFunction)(void (*)(void))pointer_init_subclass, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "Gives a Pointer class whose objects are plain pointers the core's deallocator."},
    {"from_address", (PyCFunction)(void (*)(void))pointer_from_address, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "from_address(address, keep=None): a pointer to `address`; `keep` is kept alive with it."},
    {"from_buffer", (PyCFunction)pointer_from_buffer, METH_O | METH_CLASS,
     "from_buffer(obj): a pointer to the memory of a writable buffer whose elements are the pointee (any buffer "
     "for Pointer[Void]), keeping obj alive."},
    {"as_memoryview", (PyCFunction)pointer_as_memoryview, METH_O,
     "as_memoryview(nbytes): a writable memoryview of nbytes at this address (no copy)."},
    {"to_bytes", (PyCFunction)pointer_to_bytes, METH_O,
     "to_bytes(n): a bytes copy of the memory of n elements from this address (n bytes for Pointer[Void])."},
    {"to_str", (PyCFunction)(void (*)(void))pointer_to_str, METH_FASTCALL | METH_KEYWORDS,
     "to_str(length=None): decode the string up to the NUL terminator, or exactly `length` elements: UTF-8 for "
     "pointers to bytes, wchar_t (UTF-32 on Linux) for Pointer[WChar]."},
    {"_retype", (PyCFunction)pointer_retype, METH_O, "_retype(cls): the same address as another Pointer class."},
    {NULL},
};

static PyGetSetDef pointer_getset[] = {
    {"address", (getter)pointer_get_address, NULL, "the address as an int", NULL},
    {"is_null", (getter)pointer_get_is_null, NULL, "whether this is nullptr", NULL},
    {"value", (getter)pointer_get_value, (setter)pointer_set_value, "the pointee (same as p[0])", NULL},
    {"ref", (getter)pointer_get_ref, (setter)pointer_set_ref, "a view of the pointed-to struct, union or array",
     NULL},
    {"native_type", (getter)pointer_get_type, NULL, "the pointer's CType", NULL},
    {"_keep", (getter)pointer_get_keep, NULL, "the object whose memory this points into, or None", NULL},
    {NULL},
};

/* Own descriptors. CPython's specialized method calls (and the type check of every C method and attribute) want
   self's class to be exactly the one the descriptor was made for: an object of Pointer[Char] calling PointerBase's
   to_str takes the generic call path each time (85 instructions more a call, callgrind). So each Pointer class
   gets descriptors of its own for PointerBase's instance methods and attributes, where its lookup would find
   PointerBase's (or a base's copy of them), never over a name a class in between defines. 0, or -1 with an
   exception. */
static int inherited_here(PyTypeObject *cls, PyObject *name, PyObject **found)
{
    PyObject *mro = cls->tp_mro;
    *found = NULL;
    for (Py_ssize_t i = 1; mro && i < PyTuple_GET_SIZE(mro); i++) {  /* cls itself (0) is being made: skip it */
        PyObject *dict = ((PyTypeObject *)PyTuple_GET_ITEM(mro, i))->tp_dict;
        if (dict && (*found = PyDict_GetItemWithError(dict, name)))
            return 0;
        if (PyErr_Occurred())
            return -1;
    }
    return 0;
}

static int set_own(PyTypeObject *cls, PyObject *name, PyObject *descr)
{
    int r = descr ? PyDict_SetItem(cls->tp_dict, name, descr) : -1;
    Py_XDECREF(descr);
    return r;
}

static int own_descriptors(PyTypeObject *cls)
{
    PyObject *found;
    for (PyMethodDef *m = pointer_methods; m->ml_name; m++) {
        if (m->ml_flags & METH_CLASS)
            continue;
        PyObject *name = PyUnicode_InternFromString(m->ml_name);
        int r = !name || inherited_here(cls, name, &found) < 0 ? -1 : 0;
        if (r == 0 && found && !PyDict_Contains(cls->tp_dict, name) && Py_IS_TYPE(found, &PyMethodDescr_Type) &&
            ((PyMethodDescrObject *)found)->d_method == m)
            r = set_own(cls, name, PyDescr_NewMethod(cls, m));
        Py_XDECREF(name);
        if (r < 0)
            return -1;
    }
    for (PyGetSetDef *g = pointer_getset; g->name; g++) {
        PyObject *name = PyUnicode_InternFromString(g->name);
        int r = !name || inherited_here(cls, name, &found) < 0 ? -1 : 0;
        if (r == 0 && found && !PyDict_Contains(cls->tp_dict, name) && Py_IS_TYPE(found, &PyGetSetDescr_Type) &&
            ((PyGetSetDescrObject *)found)->d_getset == g)
            r = set_own(cls, name, PyDescr_NewGetSet(cls, g));
        Py_XDECREF(name);
        if (r < 0)
            return -1;
    }
    PyType_Modified(cls);
    return 0;
}

/* PointerBase.__init_subclass__: a new Pointer class gets its own descriptors, and one whose objects are plain
   nf_pointers and that has no finalizer (the Pointer[T] classes) is deallocated by plain_dealloc. Takes no
   keywords, as object.__init_subclass__. */
static PyObject *pointer_init_subclass(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    if (PyTuple_GET_SIZE(args) || (kw && PyDict_GET_SIZE(kw))) {
        PyErr_SetString(PyExc_TypeError, "PointerBase.__init_subclass__() takes no arguments");
        return NULL;
    }
    if (!PyType_IsSubtype(cls, &nf_PointerBase_Type) || own_descriptors(cls) < 0)
        return NULL;
    if (plain_class(cls) && !cls->tp_finalize && !cls->tp_del && !PyType_IsSubtype(cls, &nf_BoxBase_Type))
        cls->tp_dealloc = (destructor)plain_dealloc;
    Py_RETURN_NONE;
}

PyTypeObject nf_PointerBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core.PointerBase",
    .tp_doc = "Base of nativeffi.Pointer: a typed native address.",
    .tp_basicsize = sizeof(nf_pointer),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)pointer_dealloc,
    .tp_traverse = (traverseproc)pointer_traverse,
    .tp_clear = (inquiry)pointer_clear,
    .tp_repr = (reprfunc)pointer_repr,
    .tp_hash = (hashfunc)pointer_hash,
    .tp_richcompare = pointer_richcompare,
    .tp_as_number = &pointer_as_number,
    .tp_as_mapping = &pointer_as_mapping,
    .tp_methods = pointer_methods,
    .tp_getset = pointer_getset,
};


/* -- The Box type ------------------------------------------------------------ */

/* A new box of class `cls` holding `value` (NULL: zero). */
static PyObject *box_make(PyTypeObject *cls, PyObject *value)
{
    PyObject *t = own_native(cls);
    nf_ctype *ptype = t && nf_ctype_check(t) && ((nf_ctype *)t)->kind == NF_POINTER ? (nf_ctype *)t : NULL;
    nf_ctype *target = ptype ? ptype->target : NULL;
    if (!target || !(NF_IS_SCALAR(target->kind) || target->kind == NF_POINTER)) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "%s cannot be instantiated: write Box[T]() with the type of the value, "
                         "e.g. Box[Int32]()", cls->tp_name);
        return NULL;
    }
    nf_box *b = (nf_box *)cls->tp_alloc(cls, 0);  /* zeroed: the value starts at 0 */
    if (!b)
        return NULL;
    b->p.addr = (char *)&b->data;
    b->p.type = (nf_ctype *)Py_NewRef(ptype);
    if (value && nf_cconv_store(target, b->p.addr, value) < 0) {
        nf_errors_prefix("%s()", cls->tp_name);
        Py_DECREF(b);
        return NULL;
    }
    return (PyObject *)b;
}

static PyObject *box_new(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    if ((kw && PyDict_GET_SIZE(kw)) || PyTuple_GET_SIZE(args) > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most one argument, the initial value", cls->tp_name);
        return NULL;
    }
    return box_make(cls, PyTuple_GET_SIZE(args) ? PyTuple_GET_ITEM(args, 0) : NULL);
}

/* Box[T](value) called through the class's own vectorcall entry (set by _box_class_ready): no argument tuple,
   no __init__ round. */
static PyObject *box_vectorcall(PyObject *cls, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    if ((kwnames && PyTuple_GET_SIZE(kwnames)) || n > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most one argument, the initial value",
                     ((PyTypeObject *)cls)->tp_name);
        return NULL;
    }
    return box_make((PyTypeObject *)cls, n ? args[0] : NULL);
}

/* The tp_dealloc of a Box[T] class (Pointer[T] classes get plain_dealloc and the free list, which a box's larger
   objects cannot use): what subtype_dealloc does for such a class (a heap type adding
   no __dict__, __weakref__, slots or finalizer to its core base, which plain_class_dealloc checks), without its
   search of the bases: the base's dealloc, then the reference an instance holds to its heap type. A subclass
   keeps subtype_dealloc, which calls this and, its base being a heap type, leaves the type's reference to it.
   Note: a __del__ assigned to the class afterwards would not run (the classes are the core's own). */
static void class_dealloc(nf_pointer *p)
{
    PyTypeObject *tp = Py_TYPE(p);
    pointer_dealloc(p);
    Py_DECREF(tp);
}

/* Gives heap class `tp`, a subclass of `base` (whose dealloc is pointer_dealloc), class_dealloc when its
   instances are exactly base's. */
static void plain_class_dealloc(PyTypeObject *tp, PyTypeObject *base)
{
    if ((tp->tp_flags & Py_TPFLAGS_HEAPTYPE) && tp->tp_dealloc != (destructor)class_dealloc &&
        base->tp_dealloc == (destructor)pointer_dealloc && tp->tp_basicsize == base->tp_basicsize &&
        tp->tp_itemsize == 0 && !tp->tp_dictoffset && tp->tp_weaklistoffset == base->tp_weaklistoffset &&
        !tp->tp_finalize && !tp->tp_del)
        tp->tp_dealloc = (destructor)class_dealloc;
}

static PyObject *m_box_class_ready(PyObject *m, PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &nf_BoxBase_Type) ||
        ((PyTypeObject *)cls)->tp_new != box_new || ((PyTypeObject *)cls)->tp_init != PyBaseObject_Type.tp_init) {
        PyErr_SetString(PyExc_TypeError, "_box_class_ready() expects a Box class with the core's __new__");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)cls;
    tp->tp_vectorcall = box_vectorcall;  /* as CPython's own types: calls skip type_call */
    plain_class_dealloc(tp, &nf_BoxBase_Type);
    Py_RETURN_NONE;
}

static PyObject *box_repr(nf_box *b)
{
    PyObject *v = pointer_get_value(&b->p, NULL);
    if (!v)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("%s(%R)", Py_TYPE(b)->tp_name, v);
    Py_DECREF(v);
    return r;
}

static PyObject *box_not_from(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    PyErr_Format(PyExc_TypeError, "%s owns its memory: use Pointer[T].from_address or Pointer[T].from_buffer for "
                 "memory owned elsewhere", cls->tp_name);
    return NULL;
}

static PyMethodDef box_methods[] = {
    {"from_address", (PyCFunction)(void (*)(void))box_not_from, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "Not for boxes, which own their memory: use Pointer[T].from_address."},
    {"from_buffer", (PyCFunction)(void (*)(void))box_not_from, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "Not for boxes, which own their memory: use Pointer[T].from_buffer."},
    {NULL},
};

PyTypeObject nf_BoxBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core.BoxBase",
    .tp_doc = "Base of nativeffi.Box: a pointer to one scalar or pointer stored in the object itself.",
    .tp_basicsize = sizeof(nf_box),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_base = &nf_PointerBase_Type,
    .tp_dealloc = (destructor)pointer_dealloc,
    .tp_traverse = (traverseproc)pointer_traverse,
    .tp_clear = (inquiry)pointer_clear,
    .tp_new = box_new,
    .tp_repr = (reprfunc)box_repr,
    .tp_methods = box_methods,
};

static PyObject *m_set_pointer_class(PyObject *m, PyObject *args)
{
    PyObject *cls, *expr;
    if (!PyArg_ParseTuple(args, "OO!:_set_pointer_class", &cls, &nf_TypeExpression_Type, &expr))
        return NULL;
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &nf_PointerBase_Type)) {
        PyErr_SetString(PyExc_TypeError, "_set_pointer_class() expects a PointerBase subclass");
        return NULL;
    }
    Py_XSETREF(default_pointer_class, Py_NewRef(cls));
    Py_XSETREF(pointer_expr, Py_NewRef(expr));
    for (size_t i = 0; i < POINTER_MEMO; i++)
        pointer_memo_set(i, NULL, NULL, NULL);  /* the classes it remembers are the old expression's */
    Py_RETURN_NONE;
}

PyMethodDef nf_pointer_methods[] = {
    {"_box_class_ready", m_box_class_ready, METH_O,
     "_box_class_ready(cls): gives a Box[T] class the core's vectorcall constructor and dealloc."},
    {"_set_pointer_class", m_set_pointer_class, METH_VARARGS,
     "_set_pointer_class(Pointer, expr): registers nativeffi.Pointer and its __class_getitem__ (pointer classes by "
     "pointee)."},
    {NULL},
};

int nf_pointer_init(PyObject *module)
{
    if (!(native_attr = PyUnicode_InternFromString("__native__")) || PyType_Ready(&nf_PointerBase_Type) < 0 ||
        PyType_Ready(&nf_BufKeeper_Type) < 0 || PyType_Ready(&nf_Region_Type) < 0 || PyType_Ready(&nf_BoxBase_Type) < 0 ||
        PyModule_AddObjectRef(module, "BoxBase", (PyObject *)&nf_BoxBase_Type) < 0)
        return -1;
    nf_NullPointerError = PyErr_NewExceptionWithDoc(
        "nativeffi.NullPointerError", "Raised on a read or write through nullptr.", PyExc_ValueError, NULL);
    if (!nf_NullPointerError || PyModule_AddObjectRef(module, "NullPointerError", nf_NullPointerError) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "PointerBase", (PyObject *)&nf_PointerBase_Type);
}
