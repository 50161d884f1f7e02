/* Compound values in Python: struct/union values and views, array views, and the field descriptors that read them. */
#include "cdata.h"
#include "compound.h"
#include "convert.h"
#include "errors.h"
#include "pointer.h"

#include <wchar.h>

#define NF_VALUE_ALIGN 16   /* owned storage is aligned to this; every compound's alignment is at most 16 */

/* -- Making values and views ---------------------------------------------- */

/* The object that keeps memory reached through `c` alive: c itself if it owns its bytes, else its owner. */
static PyObject *keeper_of(nf_cdata *c)
{
    return c->owns ? (PyObject *)c : c->keep;
}

static PyTypeObject *value_class(nf_ctype *t)
{
    if (t->kind == NF_ARRAY)
        return &nf_ArrayView_Type;
    if (!t->pyclass || !PyType_Check(t->pyclass)) {
        PyErr_Format(PyExc_TypeError, "%U has no Python class", t->name);
        return NULL;
    }
    return (PyTypeObject *)t->pyclass;
}

/* A new value of class `cls` for type t: owned (zeroed, or a copy of src) when keep is NULL and own is set. */
static nf_cdata *cdata_alloc(PyTypeObject *cls, nf_ctype *t, const void *src, PyObject *keep, int own)
{
    Py_ssize_t extra = own ? t->size + NF_VALUE_ALIGN : 0;
    nf_cdata *c = (nf_cdata *)cls->tp_alloc(cls, extra);
    if (!c)
        return NULL;
    c->type = (nf_ctype *)Py_NewRef(t);
    if (own) {
        c->owns = 1;
        c->addr = (char *)(((uintptr_t)c->data + NF_VALUE_ALIGN - 1) & ~(uintptr_t)(NF_VALUE_ALIGN - 1));
        if (src)
            memcpy(c->addr, src, t->size);
    } else {
        c->addr = (char *)src;
        c->keep = Py_XNewRef(keep);
    }
    return c;
}

PyObject *nf_compound_load(nf_ctype *t, const void *src, PyObject *owner)
{
    PyTypeObject *cls = value_class(t);
    return cls ? (PyObject *)cdata_alloc(cls, t, src, owner, 0) : NULL;
}

PyObject *nf_compound_copy(nf_ctype *t, const void *src)
{
    PyTypeObject *cls = value_class(t);
    return cls ? (PyObject *)cdata_alloc(cls, t, src, NULL, 1) : NULL;
}

/* Whether arrays a and b hold the same elements in the same shape (Int and Int32 count as the same). */
static int same_array(nf_ctype *a, nf_ctype *b)
{
    if (a == b)
        return 1;
    if (a->kind != NF_ARRAY || b->kind != NF_ARRAY || a->length != b->length)
        return 0;
    nf_ctype *x = a->target, *y = b->target;
    if (x->kind == NF_ARRAY)
        return same_array(x, y);
    return x == y || (NF_IS_SCALAR(x->kind) && x->kind == y->kind);
}

void *nf_compound_address(nf_ctype *t, PyObject *obj)
{
    if (!nf_cdata_check(obj))
        return NULL;
    nf_cdata *c = (nf_cdata *)obj;
    if (c->type == t || (t->kind == NF_ARRAY && same_array(t, c->type)))
        return c->addr;
    return NULL;
}

/* -- Python -> C ------------------------------------------------------------ */

/* Text into an array of bytes (bytes, bytearray, or str as UTF-8) or of WChar (str): NUL-padded to the length;
   exactly the length is allowed (no NUL then, as C's char s[3] = "abc"). Returns 1 if done, 0 if t or obj is not
   text, -1 with ValueError if it does not fit. */
static int store_text(nf_ctype *t, char *dst, PyObject *obj)
{
    nf_ctype *e = t->target;
    if (e->scalar == NF_T_WChar && PyUnicode_Check(obj)) {
        Py_ssize_t n = PyUnicode_AsWideChar(obj, NULL, 0) - 1;   /* without the terminator it counts */
        if (n < 0)
            return -1;
        if (n > t->length) {
            PyErr_Format(PyExc_ValueError, "%zd wide characters do not fit %U (at most %zd)", n, t->name,
                         t->length);
            return -1;
        }
        memset(dst, 0, t->size);
        return PyUnicode_AsWideChar(obj, (wchar_t *)dst, n) < 0 ? -1 : 1;
    }
    if (e->size != 1 || !(NF_IS_INTEGER(e->kind)) ||
        !(PyBytes_Check(obj) || PyByteArray_Check(obj) || PyUnicode_Check(obj)))
        return 0;
    Py_ssize_t n;
    const char *s = PyUnicode_Check(obj) ? PyUnicode_AsUTF8AndSize(obj, &n)
                  : PyBytes_Check(obj) ? (n = PyBytes_GET_SIZE(obj), PyBytes_AS_STRING(obj))
                                       : (n = PyByteArray_GET_SIZE(obj), PyByteArray_AS_STRING(obj));
    if (!s)
        return -1;
    if (n > t->length) {
        PyErr_Format(PyExc_ValueError, "%zd bytes%s do not fit %U (at most %zd)", n,
                     PyUnicode_Check(obj) ? " (the str as UTF-8)" : "", t->name, t->length);
        return -1;
    }
    memcpy(dst, s, n);
    memset(dst + n, 0, t->size - n);
    return 1;
}

static int store_array(nf_ctype *t, char *dst, PyObject *obj)
{
    int text = store_text(t, dst, obj);
    if (text != 0)
        return text < 0 ? -1 : 0;
    if (PyUnicode_Check(obj) || PyBytes_Check(obj) || PyByteArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "expected a sequence of %zd items for %U, got %.200s (convert it to a list "
                     "of numbers first)", t->length, t->name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyObject *seq = PySequence_Fast(obj, "");
    if (!seq) {
        PyErr_Format(PyExc_TypeError, "expected a sequence of %zd items for %U, got %.200s", t->length, t->name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n != t->length) {
        PyErr_Format(PyExc_ValueError, "expected a sequence of %zd items for %U, got %zd", t->length, t->name, n);
        Py_DECREF(seq);
        return -1;
    }
    /* Convert into a temporary first, so that a bad item leaves the destination untouched. */
    char stackbuf[256] __attribute__((aligned(16)));
    char *tmp = t->size <= (Py_ssize_t)sizeof stackbuf ? stackbuf : PyMem_Malloc(t->size);
    if (!tmp) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(tmp, dst, t->size);
    nf_ctype *e = t->target;
    int r = 0;
    for (Py_ssize_t i = 0; i < n && r == 0; i++) {
        r = nf_cconv_store(e, tmp + i * e->size, PySequence_Fast_GET_ITEM(seq, i));
        if (r < 0)
            nf_errors_prefix("item %zd", i);
    }
    if (r == 0)
        memcpy(dst, tmp, t->size);
    if (tmp != stackbuf)
        PyMem_Free(tmp);
    Py_DECREF(seq);
    return r;
}

static void swap_scalars(nf_ctype *t, char *p);

/* Writes dst in the platform's byte order: a byte-swapped array view given as the value is swapped back. */
int nf_compound_store(nf_ctype *t, void *dst, PyObject *obj)
{
    void *src = nf_compound_address(t, obj);
    if (src) {
        memmove(dst, src, t->size);
        if (((nf_cdata *)obj)->swap)
            swap_scalars(t, dst);
        return 0;
    }
    if (t->kind == NF_ARRAY)
        return store_array(t, dst, obj);
    if ((PyTuple_Check(obj) || PyList_Check(obj) || PyDict_Check(obj)) && t->pyclass && t->fields) {
        /* an initialiser, as in C: fields by position or by name, the others zero */
        PyObject *args = PyDict_Check(obj) ? PyTuple_New(0) : PySequence_Tuple(obj);
        PyObject *value = args ? PyObject_Call(t->pyclass, args, PyDict_Check(obj) ? obj : NULL) : NULL;
        Py_XDECREF(args);
        void *src = value ? nf_compound_address(t, value) : NULL;
        if (src)
            memmove(dst, src, t->size);
        Py_XDECREF(value);
        return src ? 0 : -1;
    }
    if (nf_cdata_check(obj))
        PyErr_Format(PyExc_TypeError, "expected %U, got %U (a different %s type)", t->name,
                     ((nf_cdata *)obj)->type->name, t->kind == NF_UNION ? "union" : "struct");
    else
        PyErr_Format(PyExc_TypeError, "expected %U, got %.200s", t->name, Py_TYPE(obj)->tp_name);
    return -1;
}

/* -- Element and field reads ------------------------------------------------- */

/* -- Byte order (structs declared with endian=): scalars stored the other way round ------------------- */

static void reverse_copy(char *dst, const char *src, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        dst[i] = src[n - 1 - i];
}

/* Reverses, in place, every scalar of a value of type t at p (arrays: each element; structs and unions are left
   alone: their own fields say their byte order). */
static void swap_scalars(nf_ctype *t, char *p)
{
    if (t->kind == NF_ARRAY) {
        for (Py_ssize_t i = 0; i < t->length; i++)
            swap_scalars(t->target, p + i * t->target->size);
    } else if (NF_IS_SCALAR(t->kind) || t->kind == NF_POINTER) {
        char tmp[16];
        memcpy(tmp, p, t->size);
        reverse_copy(p, tmp, t->size);
    }
}

/* A scalar or pointer of type t stored at a in the other byte order, as a Python value. Out of line: the
   platform's order, the common case, keeps a frame without a buffer. */
static __attribute__((noinline)) PyObject *load_swapped(nf_ctype *t, const char *a, nf_cdata *c)
{
    char tmp[16] __attribute__((aligned(16)));
    reverse_copy(tmp, a, t->size);
    return NF_IS_SCALAR(t->kind) ? nf_cconv_load_scalar(t->kind, tmp) : nf_cconv_load(t, tmp, keeper_of(c));
}

/* Reads a value of type t at a, inside the compound c (views keep c's memory alive); swap: a scalar (or array of
   them) stored in the other byte order. */
static inline __attribute__((always_inline)) PyObject *load_member(nf_ctype *t, char *a, nf_cdata *c, int swap)
{
    if (swap && (NF_IS_SCALAR(t->kind) || t->kind == NF_POINTER))
        return load_swapped(t, a, c);
    if (NF_IS_SCALAR(t->kind))
        return nf_cconv_load_scalar(t->kind, a);
    if (NF_IS_COMPOUND(t->kind)) {
        PyObject *v = nf_compound_load(t, a, keeper_of(c));
        if (v && t->kind == NF_ARRAY)
            ((nf_cdata *)v)->swap = swap;
        return v;
    }
    return nf_cconv_load(t, a, keeper_of(c));
}

/* Writes v as a value of type t at a in the other byte order; nothing is written if v does not convert. */
static __attribute__((noinline)) int store_swapped(nf_ctype *t, char *a, PyObject *v)
{
    char stackbuf[64] __attribute__((aligned(16)));
    char *tmp = t->size <= (Py_ssize_t)sizeof stackbuf ? stackbuf : PyMem_Malloc(t->size);
    if (!tmp) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(tmp, a, t->size);
    swap_scalars(t, tmp);   /* native order, so that a partial store (none today) would keep the rest */
    int r = nf_cconv_store(t, tmp, v);
    if (r == 0) {
        swap_scalars(t, tmp);
        memcpy(a, tmp, t->size);
    }
    if (tmp != stackbuf)
        PyMem_Free(tmp);
    return r;
}

/* Writes v as a value of type t at a (swap: in the other byte order); nothing is written if v does not convert. */
static inline int store_member(nf_ctype *t, char *a, PyObject *v, int swap)
{
    return swap ? store_swapped(t, a, v) : nf_cconv_store(t, a, v);
}

/* -- Bit fields (little-endian bit numbering, as GCC and Clang on x86-64 and AArch64) ---------- */

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bit-field access in cdata.c assumes a little-endian target"
#endif

static unsigned __int128 bits_window(const unsigned char *p, int nbytes)
{
    unsigned __int128 v = 0;
    for (int i = 0; i < nbytes; i++)
        v |= (unsigned __int128)p[i] << (8 * i);
    return v;
}

/* The bits of bit field f in the compound at base, unsigned. */
static uint64_t bits_raw(nf_field *f, const char *base)
{
    const unsigned char *p = (const unsigned char *)base + f->bitpos / 8;
    int shift = (int)(f->bitpos % 8), nbytes = (shift + f->width + 7) / 8;
    uint64_t mask = f->width == 64 ? ~(uint64_t)0 : ((uint64_t)1 << f->width) - 1;
    return (uint64_t)(bits_window(p, nbytes) >> shift) & mask;
}

static PyObject *bits_load(nf_field *f, const char *base)
{
    uint64_t mask = f->width == 64 ? ~(uint64_t)0 : ((uint64_t)1 << f->width) - 1;
    uint64_t u = bits_raw(f, base);
    if (f->type->kind == NF_BOOL)
        return PyBool_FromLong(u != 0);
    if (f->type->is_signed && f->width < 64 && (u >> (f->width - 1)) & 1)
        return PyLong_FromLongLong((long long)(u | ~mask));
    if (f->type->is_signed)
        return PyLong_FromLongLong((long long)u);
    return PyLong_FromUnsignedLongLong(u);
}

static int bits_store(nf_field *f, char *base, PyObject *v)
{
    int w = f->width;
    uint64_t u;
    if (f->type->kind == NF_BOOL) {
        _Bool b;
        if (nf_cconv_store(f->type, &b, v) < 0)
            return -1;
        u = b;
    } else {
        if (!PyLong_Check(v) && (PyFloat_Check(v) || !Py_TYPE(v)->tp_as_number ||
                                 !Py_TYPE(v)->tp_as_number->nb_index)) {
            PyErr_Format(PyExc_TypeError, "expected an int for a %d-bit %U bit field, got %.200s", w, f->type->name,
                         Py_TYPE(v)->tp_name);
            return -1;
        }
        PyObject *num = PyNumber_Index(v);
        if (!num)
            return -1;
        int overflow;
        long long s = PyLong_AsLongLongAndOverflow(num, &overflow);
        unsigned long long us = 0;
        int bad = 0;
        if (s == -1 && PyErr_Occurred()) {
            Py_DECREF(num);
            return -1;
        }
        if (f->type->is_signed) {
            long long lo = w == 64 ? INT64_MIN : -(1LL << (w - 1)), hi = w == 64 ? INT64_MAX : (1LL << (w - 1)) - 1;
            bad = overflow || s < lo || s > hi;
            u = (uint64_t)s;
        } else {
            if (overflow > 0) {
                us = PyLong_AsUnsignedLongLong(num);
                if (us == (unsigned long long)-1 && PyErr_Occurred()) {
                    PyErr_Clear();
                    bad = 1;
                }
            } else {
                us = (unsigned long long)s;
                bad = overflow < 0 || s < 0;
            }
            bad |= w < 64 && us >> w;
            u = us;
        }
        Py_DECREF(num);
        if (bad) {
            if (f->type->is_signed)
                PyErr_Format(PyExc_OverflowError, "expected an int in [%lld, %lld] for a %d-bit %U bit field, got %R",
                             w == 64 ? (long long)INT64_MIN : -(1LL << (w - 1)),
                             w == 64 ? (long long)INT64_MAX : (1LL << (w - 1)) - 1, w, f->type->name, v);
            else
                PyErr_Format(PyExc_OverflowError, "expected an int in [0, %llu] for a %d-bit %U bit field, got %R",
                             w == 64 ? (unsigned long long)UINT64_MAX : (1ULL << w) - 1, w, f->type->name, v);
            return -1;
        }
    }
    unsigned char *p = (unsigned char *)base + f->bitpos / 8;
    int shift = (int)(f->bitpos % 8), nbytes = (shift + w + 7) / 8;
    unsigned __int128 mask = (w == 64 ? (unsigned __int128)~(uint64_t)0 : (((unsigned __int128)1 << w) - 1)) << shift;
    unsigned __int128 win = bits_window(p, nbytes);
    win = (win & ~mask) | (((unsigned __int128)(w == 64 ? u : u & (((uint64_t)1 << w) - 1))) << shift);
    for (int i = 0; i < nbytes; i++)
        p[i] = (unsigned char)(win >> (8 * i));
    return 0;
}

/* -- Field descriptors ------------------------------------------------------------ */

nf_field *nf_field_new(PyObject *name, nf_ctype *type, nf_ctype *owner, Py_ssize_t offset, Py_ssize_t bitpos,
                       int width, Py_ssize_t index)
{
    nf_field *f = PyObject_GC_New(nf_field, &nf_Field_Type);
    if (!f)
        return NULL;
    f->name = Py_NewRef(name);
    f->type = (nf_ctype *)Py_NewRef(type);
    f->owner = (nf_ctype *)Py_NewRef(owner);
    f->offset = offset;
    f->bitpos = bitpos;
    f->width = width;
    f->index = index;
    f->swap = 0;
    PyObject_GC_Track(f);
    return f;
}

nf_field *nf_field_alias(nf_field *f, nf_ctype *owner, Py_ssize_t delta, Py_ssize_t index)
{
    nf_field *a = nf_field_new(f->name, f->type, owner, f->offset + delta, f->width >= 0 ? f->bitpos + 8 * delta : -1,
                               f->width, index);
    if (a)
        a->swap = f->swap;
    return a;
}

static void field_dealloc(nf_field *f)
{
    PyObject_GC_UnTrack(f);
    Py_XDECREF(f->name);
    Py_XDECREF(f->type);
    Py_XDECREF(f->owner);
    PyObject_GC_Del(f);
}

static int field_traverse(nf_field *f, visitproc visit, void *arg)
{
    Py_VISIT(f->type);
    Py_VISIT(f->owner);
    return 0;
}

static int field_clear(nf_field *f)
{
    Py_CLEAR(f->type);
    Py_CLEAR(f->owner);
    return 0;
}

/* The compound `obj` if the field belongs to its type; NULL with a TypeError otherwise. */
static inline nf_cdata *field_target(nf_field *f, PyObject *obj)
{
    if (f->owner && (PyObject *)Py_TYPE(obj) == f->owner->pyclass && ((nf_cdata *)obj)->type == f->owner)
        return (nf_cdata *)obj;  /* an instance of the owner's own class: no walk up the subclass chain */
    if (!f->owner || !PyObject_TypeCheck(obj, &nf_CData_Type) || ((nf_cdata *)obj)->type != f->owner) {
        PyErr_Format(PyExc_TypeError, "field %U of %U used on a %.200s", f->name,
                     f->owner ? f->owner->name : Py_None, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return (nf_cdata *)obj;
}

static PyObject *field_get(nf_field *f, PyObject *obj, PyObject *type)
{
    if (!obj || obj == Py_None)
        return Py_NewRef(f);
    nf_cdata *c = field_target(f, obj);
    if (!c)
        return NULL;
    if (f->width >= 0)
        return bits_load(f, c->addr);
    return load_member(f->type, c->addr + f->offset, c, f->swap);
}

static int field_set(nf_field *f, PyObject *obj, PyObject *v)
{
    nf_cdata *c = field_target(f, obj);
    if (!c)
        return -1;
    if (!v) {
        PyErr_Format(PyExc_TypeError, "cannot delete field %U of %U", f->name, f->owner->name);
        return -1;
    }
    int r = f->width >= 0 ? bits_store(f, c->addr, v) : store_member(f->type, c->addr + f->offset, v, f->swap);
    return r < 0 ? nf_errors_prefix("%U.%U", f->owner->name, f->name) : 0;
}

static PyObject *field_repr(nf_field *f)
{
    if (f->width >= 0)
        return PyUnicode_FromFormat("<field %U.%U: Bits[%U, %d] at bit %zd>", f->owner->name, f->name,
                                    f->type->name, f->width, f->bitpos);
    return PyUnicode_FromFormat("<field %U.%U: %U at offset %zd>", f->owner->name, f->name, f->type->name, f->offset);
}

static PyObject *field_get_bit_offset(nf_field *f, void *c)
{
    return f->width >= 0 ? PyLong_FromSsize_t(f->bitpos) : Py_NewRef(Py_None);
}

static PyObject *field_get_bit_width(nf_field *f, void *c)
{
    return f->width >= 0 ? PyLong_FromLong(f->width) : Py_NewRef(Py_None);
}

static PyMemberDef field_members[] = {
    {"name", T_OBJECT, offsetof(nf_field, name), READONLY, "the field's name"},
    {"type", T_OBJECT, offsetof(nf_field, type), READONLY, "the field's CType (bit fields: the declared type)"},
    {"offset", T_PYSSIZET, offsetof(nf_field, offset), READONLY, "byte offset (bit fields: byte of the first bit)"},
    {"index", T_PYSSIZET, offsetof(nf_field, index), READONLY, "position in declaration order"},
    {NULL},
};

static PyGetSetDef field_getset[] = {
    {"bit_offset", (getter)field_get_bit_offset, NULL, "bit fields: bit offset from the start; else None", NULL},
    {"bit_width", (getter)field_get_bit_width, NULL, "bit fields: width in bits; else None", NULL},
    {NULL},
};

PyTypeObject nf_Field_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core.Field",
    .tp_doc = "A field of a struct or union: reads and writes native memory with the field's type.",
    .tp_basicsize = sizeof(nf_field),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)field_dealloc,
    .tp_traverse = (traverseproc)field_traverse,
    .tp_clear = (inquiry)field_clear,
    .tp_repr = (reprfunc)field_repr,
    .tp_descr_get = (descrgetfunc)field_get,
    .tp_descr_set = (descrsetfunc)field_set,
    .tp_members = field_members,
    .tp_getset = field_getset,
};

/* -- Shared by struct values and array views ------------------------------------- */

static void cdata_dealloc(nf_cdata *c)
{
    PyObject_GC_UnTrack(c);
    Py_CLEAR(c->type);
    Py_CLEAR(c->keep);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static int cdata_traverse(nf_cdata *c, visitproc visit, void *arg)
{
    Py_VISIT(c->type);
    Py_VISIT(c->keep);
    return 0;  /* the class of a Struct value is visited by CPython's subtype_traverse */
}

static int cdata_clear(nf_cdata *c)
{
    Py_CLEAR(c->keep);
    return 0;
}

static int cdata_getbuffer(nf_cdata *c, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)c, c->addr, c->type->size, 0, flags);
}

static PyBufferProcs cdata_as_buffer = {(getbufferproc)cdata_getbuffer, NULL};

static PyObject *cdata_copy(nf_cdata *c, PyObject *unused)
{
    PyObject *r = nf_compound_copy(c->type, c->addr);
    if (r)
        ((nf_cdata *)r)->swap = c->swap;   /* a copy of a byte-swapped array view keeps its bytes and their order */
    return r;
}

static PyObject *cdata_get_address(nf_cdata *c, void *x) { return PyLong_FromVoidPtr(c->addr); }
static PyObject *cdata_get_is_view(nf_cdata *c, void *x) { return PyBool_FromLong(!c->owns); }
static PyObject *cdata_get_keep(nf_cdata *c, void *x) { return Py_NewRef(keeper_of(c) ? keeper_of(c) : Py_None); }

static PyGetSetDef cdata_getset[] = {
    {"_address", (getter)cdata_get_address, NULL, "the address of the value's bytes, as an int", NULL},
    {"_is_view", (getter)cdata_get_is_view, NULL, "whether this is a view of memory owned elsewhere", NULL},
    {"_keep", (getter)cdata_get_keep, NULL, "the object that owns the memory (None for raw native memory)", NULL},
    {NULL},
};

static PyMethodDef cdata_methods[] = {
    {"_copy", (PyCFunction)cdata_copy, METH_NOARGS, "_copy() -> a new Python-owned value with the same bytes."},
    {NULL},
};

/* -- Struct and union values ---------------------------------------------------- */

static PyObject *native_attr;  /* interned "__native__" */

/* The CType of a Struct or Union class: its own __native__ (one dict lookup, no attribute protocol). Borrowed. */
static nf_ctype *class_ctype(PyTypeObject *cls)
{
    PyObject *t = cls->tp_dict ? PyDict_GetItemWithError(cls->tp_dict, native_attr) : NULL;
    if (!t) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "%s cannot be instantiated: declare fields in a subclass of Struct or "
                         "Union", cls->tp_name);
        return NULL;
    }
    nf_ctype *ct = (nf_ctype *)t;
    if (!nf_ctype_check(t) || (ct->kind != NF_STRUCT && ct->kind != NF_UNION) || ct->pyclass != (PyObject *)cls) {
        PyErr_Format(PyExc_TypeError, "%s cannot be instantiated: declare fields in a subclass of Struct or Union",
                     cls->tp_name);
        return NULL;
    }
    if (!ct->fields) {
        PyErr_Format(PyExc_TypeError, "%s is not complete yet", cls->tp_name);
        return NULL;
    }
    return ct;
}

static PyObject *struct_new(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    nf_ctype *t = class_ctype(cls);
    return t ? (PyObject *)cdata_alloc(cls, t, NULL, NULL, 1) : NULL;
}

static PyObject *field_names(nf_ctype *t)
{
    PyObject *names = PyList_New(0);
    for (Py_ssize_t i = 0; names && i < PyTuple_GET_SIZE(t->fields); i++)
        if (PyList_Append(names, ((nf_field *)PyTuple_GET_ITEM(t->fields, i))->name) < 0)
            Py_CLEAR(names);
    if (!names)
        return NULL;
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *s = sep ? PyUnicode_Join(sep, names) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(names);
    return s;
}

/* The field `name` of the value c: a declared field, or an alias on its class (a field of an anonymous member). */
static nf_field *find_field(nf_cdata *c, PyObject *name)
{
    nf_ctype *t = c->type;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t->fields); i++) {
        nf_field *f = (nf_field *)PyTuple_GET_ITEM(t->fields, i);
        int eq = PyUnicode_Compare(f->name, name);
        if (eq == 0)
            return f;
    }
    PyObject *attr = _PyType_Lookup(Py_TYPE(c), name);   /* borrowed */
    if (attr && Py_IS_TYPE(attr, &nf_Field_Type) && ((nf_field *)attr)->owner == t)
        return (nf_field *)attr;
    return NULL;
}

static int struct_init(nf_cdata *c, PyObject *args, PyObject *kw)
{
    nf_ctype *t = c->type;
    Py_ssize_t nf = PyTuple_GET_SIZE(t->fields), np = PyTuple_GET_SIZE(args);
    if (np > nf) {
        PyErr_Format(PyExc_TypeError, "%U() takes at most %zd positional arguments (one per field), got %zd",
                     t->name, nf, np);
        return -1;
    }
    for (Py_ssize_t i = 0; i < np; i++)
        if (field_set((nf_field *)PyTuple_GET_ITEM(t->fields, i), (PyObject *)c, PyTuple_GET_ITEM(args, i)) < 0)
            return -1;
    if (kw) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(kw, &pos, &key, &value)) {
            nf_field *f = PyUnicode_Check(key) ? find_field(c, key) : NULL;
            if (!f) {
                PyObject *names = field_names(t);
                if (names)
                    PyErr_Format(PyExc_TypeError, "%U has no field %R (fields: %U)", t->name, key, names);
                Py_XDECREF(names);
                return -1;
            }
            if (f->index < np) {
                PyErr_Format(PyExc_TypeError, "%U() got field %R both by position and by keyword", t->name, key);
                return -1;
            }
            if (field_set(f, (PyObject *)c, value) < 0)
                return -1;
        }
    }
    return 0;
}

/* -- Equality: member by member, so that padding bytes never count ------------------ */

/* Whether the values of type t at a and b are equal: scalars and pointers by their bytes (so NaN equals the same
   NaN, and 0.0 differs from -0.0), bit fields by their bits, structs field by field, arrays element by element,
   unions by the bytes of their largest member. */
static int values_equal(nf_ctype *t, const char *a, const char *b)
{
    if (t->kind == NF_ARRAY) {
        for (Py_ssize_t i = 0; i < t->length; i++)
            if (!values_equal(t->target, a + i * t->target->size, b + i * t->target->size))
                return 0;
        return 1;
    }
    if (t->kind != NF_STRUCT && t->kind != NF_UNION)
        return memcmp(a, b, t->size) == 0;
    Py_ssize_t largest = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t->fields); i++) {
        nf_field *f = (nf_field *)PyTuple_GET_ITEM(t->fields, i);
        Py_ssize_t end = f->width >= 0 ? (f->bitpos + f->width + 7) / 8 : f->offset + f->type->size;
        largest = end > largest ? end : largest;
        if (t->kind == NF_STRUCT && !(f->width >= 0 ? bits_raw(f, a) == bits_raw(f, b)
                                                    : values_equal(f->type, a + f->offset, b + f->offset)))
            return 0;
    }
    return t->kind == NF_STRUCT || memcmp(a, b, largest) == 0;
}

static PyObject *struct_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(a, &nf_CData_Type) ||
        !PyObject_TypeCheck(b, &nf_CData_Type) || ((nf_cdata *)a)->type != ((nf_cdata *)b)->type)
        Py_RETURN_NOTIMPLEMENTED;
    nf_cdata *x = (nf_cdata *)a, *y = (nf_cdata *)b;
    int eq = values_equal(x->type, x->addr, y->addr);
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

/* Attribute reads: a field of the value's class (found in the type's method cache, as the generic lookup would)
   is read at once (a scalar one inline); everything else takes the generic path. */
static PyObject *struct_getattro(nf_cdata *c, PyObject *name)
{
    PyObject *f = _PyType_Lookup(Py_TYPE(c), name);  /* borrowed: held while a read may run a collection */
    if (f && Py_IS_TYPE(f, &nf_Field_Type)) {
        nf_field *fd = (nf_field *)f;
        if (fd->owner == c->type && fd->width < 0 && !fd->swap && NF_IS_SCALAR(fd->type->kind))  /* no GC runs */
            return nf_cconv_load_scalar(fd->type->kind, c->addr + fd->offset);
        Py_INCREF(f);
        PyObject *v = field_get((nf_field *)f, (PyObject *)c, NULL);
        Py_DECREF(f);
        return v;
    }
    return PyObject_GenericGetAttr((PyObject *)c, name);
}

/* Attribute writes: a field is written at once; a misspelt field gets an error naming the fields instead of a
   bare AttributeError. */
static int struct_setattro(nf_cdata *c, PyObject *name, PyObject *v)
{
    PyObject *f = _PyType_Lookup(Py_TYPE(c), name);
    if (f && Py_IS_TYPE(f, &nf_Field_Type)) {
        nf_field *fd = (nf_field *)f;
        if (v && fd->owner == c->type && fd->width < 0 && !fd->swap && NF_IS_SCALAR(fd->type->kind))
            return nf_cconv_store(fd->type, c->addr + fd->offset, v) < 0
                ? nf_errors_prefix("%U.%U", fd->owner->name, fd->name) : 0;
        Py_INCREF(f);
        int r = field_set((nf_field *)f, (PyObject *)c, v);
        Py_DECREF(f);
        return r;
    }
    int r = PyObject_GenericSetAttr((PyObject *)c, name, v);
    if (r < 0 && PyErr_ExceptionMatches(PyExc_AttributeError) && c->type->fields) {
        PyObject *names = field_names(c->type);
        if (names) {
            PyErr_Clear();
            PyErr_Format(PyExc_AttributeError, "%U has no field %R (fields: %U)", c->type->name, name, names);
            Py_DECREF(names);
        }
    }
    return r;
}

PyTypeObject nf_CData_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core.CData",
    .tp_doc = "Base of Struct and Union: a compound value owned by Python, or a view of native memory.",
    .tp_basicsize = offsetof(nf_cdata, data),
    .tp_itemsize = 1,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = struct_new,
    .tp_init = (initproc)struct_init,
    .tp_dealloc = (destructor)cdata_dealloc,
    .tp_traverse = (traverseproc)cdata_traverse,
    .tp_clear = (inquiry)cdata_clear,
    .tp_getattro = (getattrofunc)struct_getattro,
    .tp_setattro = (setattrofunc)struct_setattro,
    .tp_richcompare = struct_richcompare,
    .tp_as_buffer = &cdata_as_buffer,
    .tp_methods = cdata_methods,
    .tp_getset = cdata_getset,
};

/* -- Array views ---------------------------------------------------------------- */

static Py_ssize_t array_len(nf_cdata *c) { return c->type->length; }

static PyObject *array_item(nf_cdata *c, Py_ssize_t i)
{
    if (i < 0 || i >= c->type->length) {
        PyErr_Format(PyExc_IndexError, "index %zd out of range for %U", i, c->type->name);
        return NULL;
    }
    nf_ctype *e = c->type->target;
    return load_member(e, c->addr + i * e->size, c, c->swap);
}

static int array_ass_item(nf_cdata *c, Py_ssize_t i, PyObject *v)
{
    if (!v) {
        PyErr_SetString(PyExc_TypeError, "array items cannot be deleted");
        return -1;
    }
    if (i < 0 || i >= c->type->length) {
        PyErr_Format(PyExc_IndexError, "index %zd out of range for %U", i, c->type->name);
        return -1;
    }
    nf_ctype *e = c->type->target;
    if (store_member(e, c->addr + i * e->size, v, c->swap) < 0)
        return nf_errors_prefix("%U[%zd]", c->type->name, i);
    return 0;
}

static PyObject *array_subscript(nf_cdata *c, PyObject *key)
{
    if (PySlice_Check(key)) {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0)
            return NULL;
        Py_ssize_t n = PySlice_AdjustIndices(c->type->length, &start, &stop, step);
        PyObject *list = PyList_New(n);
        for (Py_ssize_t k = 0; list && k < n; k++) {
            PyObject *v = array_item(c, start + k * step);
            if (!v)
                Py_CLEAR(list);
            else
                PyList_SET_ITEM(list, k, v);
        }
        return list;
    }
    Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    if (i < 0)
        i += c->type->length;
    return array_item(c, i);
}

static int array_ass_subscript(nf_cdata *c, PyObject *key, PyObject *v)
{
    if (PySlice_Check(key)) {
        if (!v) {
            PyErr_SetString(PyExc_TypeError, "array items cannot be deleted");
            return -1;
        }
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0)
            return -1;
        Py_ssize_t n = PySlice_AdjustIndices(c->type->length, &start, &stop, step);
        PyObject *seq = PySequence_Fast(v, "slice assignment needs a sequence");
        if (!seq)
            return -1;
        if (PySequence_Fast_GET_SIZE(seq) != n) {
            PyErr_Format(PyExc_ValueError, "%U: slice assignment of %zd items to a slice of %zd (an inline array "
                         "cannot change length)", c->type->name, PySequence_Fast_GET_SIZE(seq), n);
            Py_DECREF(seq);
            return -1;
        }
        /* convert everything into a copy first, so that a bad item leaves the array untouched */
        nf_cdata *tmp = (nf_cdata *)cdata_copy(c, NULL);
        int r = tmp ? 0 : -1;
        for (Py_ssize_t k = 0; r == 0 && k < n; k++)
            r = array_ass_item(tmp, start + k * step, PySequence_Fast_GET_ITEM(seq, k));
        if (r == 0)
            memcpy(c->addr, tmp->addr, c->type->size);
        Py_XDECREF(tmp);
        Py_DECREF(seq);
        return r;
    }
    Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred())
        return -1;
    if (i < 0)
        i += c->type->length;
    return array_ass_item(c, i, v);
}

static PyObject *array_tolist(nf_cdata *c, PyObject *unused)
{
    PyObject *list = PyList_New(c->type->length);
    for (Py_ssize_t i = 0; list && i < c->type->length; i++) {
        PyObject *v = array_item(c, i);
        if (v && Py_IS_TYPE(v, &nf_ArrayView_Type)) {
            PyObject *inner = array_tolist((nf_cdata *)v, NULL);
            Py_SETREF(v, inner);
        }
        if (!v)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, v);
    }
    return list;
}

/* -- Text in arrays of bytes or of WChar ------------------------------------------------------- */

/* The count of elements before the first NUL (the length if none) of a text array; -1 with TypeError if c is not
   an array of bytes (wide: of WChar). */
static Py_ssize_t text_length(nf_cdata *c, int wide, const char *what)
{
    nf_ctype *e = c->type->target;
    int ok = wide ? e->scalar == NF_T_WChar && !c->swap : e->size == 1 && NF_IS_INTEGER(e->kind);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s() is for arrays of %s, not %U", what,
                     wide ? "WChar (in the platform's byte order)" : "bytes (Char, Uint8, Int8...) or WChar",
                     c->type->name);
        return -1;
    }
    Py_ssize_t n = 0;
    if (wide)
        while (n < c->type->length && ((wchar_t *)c->addr)[n] != 0)
            n++;
    else
        while (n < c->type->length && c->addr[n] != 0)
            n++;
    return n;
}

static PyObject *array_to_bytes(nf_cdata *c, PyObject *unused)
{
    Py_ssize_t n = text_length(c, 0, "to_bytes");
    return n < 0 ? NULL : PyBytes_FromStringAndSize(c->addr, n);
}

static PyObject *array_to_str(nf_cdata *c, PyObject *unused)
{
    int wide = c->type->target->scalar == NF_T_WChar;
    Py_ssize_t n = text_length(c, wide, "to_str");
    if (n < 0)
        return NULL;
    return wide ? PyUnicode_FromWideChar((wchar_t *)c->addr, n) : PyUnicode_DecodeUTF8(c->addr, n, "strict");
}

static PyObject *array_repr(nf_cdata *c)
{
    PyObject *list = array_tolist(c, NULL);
    if (!list)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("%U(%R)", c->type->name, list);
    Py_DECREF(list);
    return r;
}

static PyObject *array_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !Py_IS_TYPE(a, &nf_ArrayView_Type))
        Py_RETURN_NOTIMPLEMENTED;
    if (!Py_IS_TYPE(b, &nf_ArrayView_Type) && !PyList_Check(b) && !PyTuple_Check(b))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *x = array_tolist((nf_cdata *)a, NULL);
    PyObject *y = Py_IS_TYPE(b, &nf_ArrayView_Type) ? array_tolist((nf_cdata *)b, NULL) : PySequence_List(b);
    PyObject *r = x && y ? PyObject_RichCompare(x, y, op) : NULL;
    Py_XDECREF(x);
    Py_XDECREF(y);
    return r;
}

static PyObject *array_new(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    nf_ctype *t;
    PyObject *init = NULL;
    if (!PyArg_ParseTuple(args, "O!|O:ArrayView", &nf_CType_Type, &t, &init))
        return NULL;
    if (t->kind != NF_ARRAY) {
        PyErr_Format(PyExc_TypeError, "ArrayView() expected an Array CType, got %U", t->name);
        return NULL;
    }
    nf_cdata *c = cdata_alloc(cls, t, NULL, NULL, 1);
    if (c && init && init != Py_None && nf_compound_store(t, c->addr, init) < 0)
        Py_CLEAR(c);
    return (PyObject *)c;
}

static PySequenceMethods array_as_sequence = {
    .sq_length = (lenfunc)array_len,
    .sq_item = (ssizeargfunc)array_item,
};

static PyMappingMethods array_as_mapping = {
    .mp_length = (lenfunc)array_len,
    .mp_subscript = (binaryfunc)array_subscript,
    .mp_ass_subscript = (objobjargproc)array_ass_subscript,
};

static PyObject *array_get_type(nf_cdata *c, void *x) { return Py_NewRef(c->type); }

static PyGetSetDef array_getset[] = {
    {"native_type", (getter)array_get_type, NULL, "the Array CType", NULL},
    {"_address", (getter)cdata_get_address, NULL, "the address of the first element, as an int", NULL},
    {"_is_view", (getter)cdata_get_is_view, NULL, "whether this is a view of memory owned elsewhere", NULL},
    {NULL},
};

static PyMethodDef array_methods[] = {
    {"tolist", (PyCFunction)array_tolist, METH_NOARGS, "tolist() -> the elements as a (nested) list."},
    {"to_bytes", (PyCFunction)array_to_bytes, METH_NOARGS,
     "to_bytes() -> an array of bytes (Char, Uint8...) up to its first NUL, as C reads the string (bytes(a): all)."},
    {"to_str", (PyCFunction)array_to_str, METH_NOARGS,
     "to_str() -> the text up to the first NUL: UTF-8 for arrays of bytes, wchar_t for Array[WChar, n]."},
    {"_copy", (PyCFunction)cdata_copy, METH_NOARGS, "_copy() -> a new Python-owned array with the same bytes."},
    {"copy", (PyCFunction)cdata_copy, METH_NOARGS, "copy() -> a new Python-owned array with the same bytes."},
    {"__copy__", (PyCFunction)cdata_copy, METH_NOARGS, "copy.copy(a): a.copy()."},
    {"__deepcopy__", (PyCFunction)cdata_copy, METH_O, "copy.deepcopy(a): a.copy() (its items are plain values)."},
    {NULL},
};

PyTypeObject nf_ArrayView_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi.ArrayView",
    .tp_doc = "ArrayView(array_ctype, values=None): an inline array (Array[T, n]): len, indexing, iteration,\n"
              "slice reads, and assignment of items or of a whole sequence of the right length.",
    .tp_basicsize = offsetof(nf_cdata, data),
    .tp_itemsize = 1,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = array_new,
    .tp_dealloc = (destructor)cdata_dealloc,
    .tp_traverse = (traverseproc)cdata_traverse,
    .tp_clear = (inquiry)cdata_clear,
    .tp_repr = (reprfunc)array_repr,
    .tp_richcompare = array_richcompare,
    .tp_as_sequence = &array_as_sequence,
    .tp_as_mapping = &array_as_mapping,
    .tp_as_buffer = &cdata_as_buffer,
    .tp_methods = array_methods,
    .tp_getset = array_getset,
};

/* -- Module functions ------------------------------------------------------------- */

static PyObject *m_field_alias(PyObject *m, PyObject *args)
{
    nf_field *f;
    nf_ctype *owner;
    Py_ssize_t delta, index;
    if (!PyArg_ParseTuple(args, "O!O!nn:_field_alias", &nf_Field_Type, &f, &nf_CType_Type, &owner, &delta, &index))
        return NULL;
    if (!NF_IS_COMPOUND(owner->kind) || owner->kind == NF_ARRAY || !owner->fields || delta < 0 ||
        delta + (f->width >= 0 ? (f->bitpos + f->width + 7) / 8 - f->offset : f->type->size) + f->offset > owner->size) {
        PyErr_SetString(PyExc_ValueError, "_field_alias: the field must lie inside a complete struct or union");
        return NULL;
    }
    return (PyObject *)nf_field_alias(f, owner, delta, index);
}

static PyObject *m_set_swapped(PyObject *m, PyObject *fields)
{
    PyObject *seq = PySequence_Fast(fields, "_set_swapped expects a sequence of Field");
    if (!seq)
        return NULL;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *f = PySequence_Fast_GET_ITEM(seq, i);
        if (!Py_IS_TYPE(f, &nf_Field_Type) || ((nf_field *)f)->width >= 0) {
            PyErr_SetString(PyExc_TypeError, "_set_swapped expects fields that are not bit fields");
            Py_DECREF(seq);
            return NULL;
        }
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++)
        ((nf_field *)PySequence_Fast_GET_ITEM(seq, i))->swap = 1;
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

PyMethodDef nf_cdata_methods[] = {
    {"_field_alias", m_field_alias, METH_VARARGS,
     "_field_alias(field, owner, delta, index) -> a copy of field for the compound owner, delta bytes further on."},
    {"_set_swapped", m_set_swapped, METH_O,
     "_set_swapped(fields): these fields store their scalars in the other byte order (declared with endian=)."},
    {NULL},
};

int nf_cdata_init(PyObject *module)
{
    if (!(native_attr = PyUnicode_InternFromString("__native__")))
        return -1;
    if (PyType_Ready(&nf_Field_Type) < 0 || PyType_Ready(&nf_CData_Type) < 0 ||
        PyType_Ready(&nf_ArrayView_Type) < 0)
        return -1;
    if (PyModule_AddObjectRef(module, "Field", (PyObject *)&nf_Field_Type) < 0 ||
        PyModule_AddObjectRef(module, "CData", (PyObject *)&nf_CData_Type) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "ArrayView", (PyObject *)&nf_ArrayView_Type);
}
