/* Conversion of values between Python objects and native memory, with range and type checks. */
#include "convert.h"
#include "cdata.h"
#include "compound.h"
#include "pointer.h"
#include <float.h>
#include <math.h>
#include <string.h>

/* A C value at an address that may be misaligned (packed structs, cast pointers): through memcpy, which compiles to
 * one move where the target allows it and is defined behaviour everywhere. */
#define STORE(T, dst, value) do { T v_ = (T)(value); memcpy((dst), &v_, sizeof v_); } while (0)
#define LOAD(T, src) ({ T v_; memcpy(&v_, (src), sizeof v_); v_; })

/* -- Error messages ---------------------------------------------------- */

static void int_range(nf_kind k, char *buf, size_t n)
{
    switch (k) {
    case NF_I8: snprintf(buf, n, "[-128, 127]"); break;
    case NF_U8: snprintf(buf, n, "[0, 255]"); break;
    case NF_I16: snprintf(buf, n, "[-32768, 32767]"); break;
    case NF_U16: snprintf(buf, n, "[0, 65535]"); break;
    case NF_I32: snprintf(buf, n, "[-2147483648, 2147483647]"); break;
    case NF_U32: snprintf(buf, n, "[0, 4294967295]"); break;
    case NF_I64: snprintf(buf, n, "[-9223372036854775808, 9223372036854775807]"); break;
    default: snprintf(buf, n, "[0, 18446744073709551615]"); break;
    }
}

const char *nf_cconv_expected(nf_ctype *t)
{
    switch (t->kind) {
    case NF_F32: case NF_F64: case NF_LDOUBLE: return "a float (or int)";
    case NF_BOOL: return "a bool";
    case NF_POINTER: return "a Pointer (or None for nullptr)";
    case NF_STRUCT: case NF_UNION: return "an instance of the struct or union";
    case NF_ARRAY: return "a sequence of the array's length";
    case NF_VOID: return "nothing (Void has no values)";
    case NF_OPAQUE: return "nothing: an Opaque type has no values, only pointers to it";
    case NF_FUNCTION: return "nothing: a function type has no values, only pointers to it";
    default: return "an int";
    }
}

static int type_error(nf_ctype *t, PyObject *obj)
{
    PyErr_Format(PyExc_TypeError, "expected %s for %U, got %.200s", nf_cconv_expected(t), t->name,
                 Py_TYPE(obj)->tp_name);
    return -1;
}

static int range_error(nf_ctype *t, PyObject *obj)
{
    char range[64];
    int_range(t->kind, range, sizeof range);
    PyErr_Format(PyExc_OverflowError, "expected an int in %s for %U, got %R", range, t->name, obj);
    return -1;
}

/* -- Python -> C: scalars ---------------------------------------------- */

static int store_int(nf_ctype *t, void *dst, PyObject *obj)
{
    PyObject *num = obj;
    if (!PyLong_Check(obj)) {
        if (PyFloat_Check(obj) || !Py_TYPE(obj)->tp_as_number || !Py_TYPE(obj)->tp_as_number->nb_index)
            return type_error(t, obj);
        num = PyNumber_Index(obj);
        if (!num)
            return -1;
    }
    int overflow = 0, bad = 0;
    if (t->kind == NF_U64) {
        unsigned long long u = PyLong_AsUnsignedLongLong(num);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError))
                goto fail;
            PyErr_Clear();
            bad = 1;
        } else {
            STORE(uint64_t, dst, u);
        }
    } else {
        long long v = PyLong_AsLongLongAndOverflow(num, &overflow);
        if (v == -1 && PyErr_Occurred())
            goto fail;
        bad = overflow != 0;
        switch (t->kind) {
        case NF_I8: bad |= v < INT8_MIN || v > INT8_MAX; if (!bad) STORE(int8_t, dst, v); break;
        case NF_U8: bad |= v < 0 || v > UINT8_MAX; if (!bad) STORE(uint8_t, dst, v); break;
        case NF_I16: bad |= v < INT16_MIN || v > INT16_MAX; if (!bad) STORE(int16_t, dst, v); break;
        case NF_U16: bad |= v < 0 || v > UINT16_MAX; if (!bad) STORE(uint16_t, dst, v); break;
        case NF_I32: bad |= v < INT32_MIN || v > INT32_MAX; if (!bad) STORE(int32_t, dst, v); break;
        case NF_U32: bad |= v < 0 || v > (long long)UINT32_MAX; if (!bad) STORE(uint32_t, dst, v); break;
        default: if (!bad) STORE(int64_t, dst, v); break;
        }
    }
    if (num != obj)
        Py_DECREF(num);
    return bad ? range_error(t, obj) : 0;
fail:
    if (num != obj)
        Py_DECREF(num);
    return -1;
}

void nf_cconv_store_long_double(void *dst, long double v)
{
    memset(dst, 0, sizeof v);
    memcpy(dst, &v, NF_LDOUBLE_VALUE_BYTES);
}

static int store_float(nf_ctype *t, void *dst, PyObject *obj)
{
    double d;
    if (t->kind == NF_LDOUBLE && PyLong_Check(obj)) {  /* exact for every int64: long double holds 64 bits or more */
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
        if (v == -1 && PyErr_Occurred())
            return -1;
        if (!overflow) {
            nf_cconv_store_long_double(dst, (long double)v);
            return 0;
        }
    }
    if (PyFloat_CheckExact(obj)) {
        d = PyFloat_AS_DOUBLE(obj);
    } else if (PyLong_Check(obj)) {
        d = PyLong_AsDouble(obj);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Format(PyExc_OverflowError, "expected a float for %U, got an int too large for a double", t->name);
            return -1;
        }
    } else if (Py_TYPE(obj)->tp_as_number && (Py_TYPE(obj)->tp_as_number->nb_float ||
                                              Py_TYPE(obj)->tp_as_number->nb_index)) {
        d = PyFloat_AsDouble(obj);
        if (d == -1.0 && PyErr_Occurred())
            return -1;
    } else {
        return type_error(t, obj);
    }
    if (t->kind == NF_F32) {
        float f = (float)d;
        if (isinf(f) && isfinite(d)) {
            char lim[32];
            snprintf(lim, sizeof lim, "%g", (double)FLT_MAX);
            PyErr_Format(PyExc_OverflowError, "expected a float within +-%s for %U, got %R", lim, t->name, obj);
            return -1;
        }
        STORE(float, dst, f);
    } else if (t->kind == NF_LDOUBLE) {
        nf_cconv_store_long_double(dst, (long double)d);  /* exact: every double is a long double */
    } else {
        STORE(double, dst, d);
    }
    return 0;
}

static int store_bool(nf_ctype *t, void *dst, PyObject *obj)
{
    if (obj == Py_True || obj == Py_False) {
        STORE(_Bool, dst, obj == Py_True);
        return 0;
    }
    if (PyLong_Check(obj) || (Py_TYPE(obj)->tp_as_number && Py_TYPE(obj)->tp_as_number->nb_index &&
                              !PyFloat_Check(obj))) {
        PyObject *num = PyNumber_Index(obj);
        if (!num)
            return -1;
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(num, &overflow);
        Py_DECREF(num);
        if (overflow || (v != 0 && v != 1)) {
            PyErr_Format(PyExc_OverflowError, "expected a bool (or 0 or 1) for %U, got %R", t->name, obj);
            return -1;
        }
        STORE(_Bool, dst, v != 0);
        return 0;
    }
    return type_error(t, obj);
}

/* -- Python -> C: pointers --------------------------------------------- */

/* Strings of bytes: Int8, Uint8, Char (and the other 1-byte integers) and Utf8. A str passed as an argument for a
   pointer to any of them is its NUL-terminated UTF-8 (C spells byte strings `char *`, `unsigned char *`,
   `uint8_t *` alike: sqlite3_column_text, xmlChar), and Pointer.to_str reads any of them. */
static int is_text_target(nf_ctype *target)
{
    if (!target)
        return 0;
    if (target->kind == NF_OPAQUE)
        return PyUnicode_CompareWithASCIIString(target->name, "Utf8") == 0;
    return target->kind == NF_I8 || target->kind == NF_U8;
}

/* The pointee of pointer type t, resolving a forward reference. Borrowed; NULL with an exception. */
static nf_ctype *target_of(nf_ctype *t)
{
    return t->target ? t->target : nf_pointer_target(t);
}

static int same_type(nf_ctype *a, nf_ctype *b);

/* Whether function types a and b are one C function type: the same return type, fixed parameters and
   presence of `...` (the VarArgs types describe calls, not the function: a pointer to printf is one type). */
static int same_signature(nf_ctype *a, nf_ctype *b)
{
    if (a->variadic != b->variadic || a->nfixed != b->nfixed)
        return 0;
    int r = same_type(a->ret, b->ret);
    for (Py_ssize_t i = 0; r == 1 && i < a->nfixed; i++)
        r = same_type((nf_ctype *)PyTuple_GET_ITEM(a->params, i), (nf_ctype *)PyTuple_GET_ITEM(b->params, i));
    return r;
}

/* Whether a and b are the same type in memory and in calls: identical; scalars of one storage (Int and Int32,
   Long and Int64); the byte types (Char, Uint8, Utf8); pointers to the same type; arrays of the same length
   of the same type; the same signature. Compared by structure, since equal type expressions may give distinct
   CType objects. 1, 0, or -1 with an exception (a forward reference that cannot be resolved). */
static int same_type(nf_ctype *a, nf_ctype *b)
{
    if (a == b)
        return 1;
    if (is_text_target(a) && is_text_target(b))
        return 1;
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case NF_VOID:
        return 1;
    case NF_POINTER: {
        nf_ctype *x = target_of(a), *y = x ? target_of(b) : NULL;
        return y ? same_type(x, y) : -1;
    }
    case NF_ARRAY:
        return a->length == b->length ? same_type(a->target, b->target) : 0;
    case NF_FUNCTION:
        return same_signature(a, b);
    case NF_STRUCT: case NF_UNION: case NF_OPAQUE:
        return 0;  /* one CType per declared class */
    default:
        return 1;  /* scalars of the same storage kind */
    }
}

/* Whether a pointer to `have` may be passed where a pointer to `want` is expected: as in C, either may be
   Void; the byte types and pointers to pointers are compared leniently (Void inside); everything else must be
   the same type. 1, 0, or -1 with an exception. */
static int pointee_compatible(nf_ctype *want, nf_ctype *have)
{
    if (want == have || want->kind == NF_VOID || have->kind == NF_VOID)
        return 1;
    if (want->kind == NF_POINTER && have->kind == NF_POINTER) {
        nf_ctype *x = target_of(want), *y = x ? target_of(have) : NULL;
        return y ? pointee_compatible(x, y) : -1;
    }
    if (want->kind == NF_ARRAY && have->kind == NF_ARRAY)
        return want->length == have->length ? pointee_compatible(want->target, have->target) : 0;
    return same_type(want, have);
}

/* The class of a buffer's elements, from the struct-module code of its PEP 3118 format. */
typedef enum { EL_SIGNED, EL_UNSIGNED, EL_FLOAT, EL_BOOL, EL_CHAR, EL_WCHAR, EL_POINTER, EL_OTHER } el_class;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NF_FOREIGN_ORDER ">!"
#else
#define NF_FOREIGN_ORDER "<"
#endif

/* The class of the elements of a buffer of format `fmt` ("d", "<q", "=I"; NULL means "B"): EL_OTHER for
   structs ("T{...}"), multi-item codes and a byte order other than this machine's. The element size is the
   buffer's itemsize, not the format's (ctypes says "<l" for an 8-byte long). */
static el_class format_class(const char *fmt, Py_ssize_t itemsize)
{
    if (!fmt)
        return EL_UNSIGNED;
    if (*fmt && strchr("@=<>!", *fmt)) {
        if (strchr(NF_FOREIGN_ORDER, *fmt) && itemsize > 1)
            return EL_OTHER;
        fmt++;
    }
    if (!fmt[0] || fmt[1])
        return EL_OTHER;
    switch (fmt[0]) {
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n': return EL_SIGNED;
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N': return EL_UNSIGNED;
    case 'e': case 'f': case 'd': case 'g': return EL_FLOAT;
    case '?': return EL_BOOL;
    case 'c': return EL_CHAR;
    case 'u': case 'w': return EL_WCHAR;
    case 'P': return EL_POINTER;
    default: return EL_OTHER;
    }
}

/* Whether a buffer of elements `fmt`/`itemsize` may stand for memory of `want`: any buffer for Void; a buffer
   of 1-byte integers or chars for the byte types; else elements of want's kind and size (for an array, of
   its innermost element). */
static int buffer_fits(nf_ctype *want, const char *fmt, Py_ssize_t itemsize)
{
    if (want->kind == NF_VOID)
        return 1;
    while (want->kind == NF_ARRAY)
        want = want->target;
    el_class c = format_class(fmt, itemsize);
    if (is_text_target(want))
        return itemsize == 1 && (c == EL_SIGNED || c == EL_UNSIGNED || c == EL_CHAR);
    if (itemsize != want->size)
        return 0;
    if (c == EL_WCHAR)
        return want->scalar == NF_T_WChar;
    switch (want->kind) {
    case NF_I8: case NF_I16: case NF_I32: case NF_I64: return c == EL_SIGNED;
    case NF_U8: case NF_U16: case NF_U32: case NF_U64: return c == EL_UNSIGNED;
    case NF_F32: case NF_F64: case NF_LDOUBLE: return c == EL_FLOAT;
    case NF_BOOL: return c == EL_BOOL;
    case NF_POINTER: return c == EL_POINTER;
    default: return 0;  /* structs, unions, opaque and function types: no format says them */
    }
}

int nf_cconv_check_buffer(nf_ctype *t, const char *format, Py_ssize_t itemsize, PyObject *obj)
{
    nf_ctype *want = target_of(t);
    if (!want)
        return -1;
    if (buffer_fits(want, format, itemsize))
        return 0;
    PyErr_Format(PyExc_TypeError, "expected %U, got a buffer of format '%s' (itemsize %zd) from %.200s: its "
                 "elements are not %U (use memoryview(obj).cast() or Pointer.from_buffer(obj).cast() to "
                 "reinterpret)", t->name, format ? format : "B", itemsize, Py_TYPE(obj)->tp_name, want->name);
    return -1;
}

int nf_cconv_takes_bytes(nf_ctype *t)
{
    return t->kind == NF_POINTER && t->target && buffer_fits(t->target, "B", 1);
}

/* A struct, union or array value passed for pointer type t: its address, for a pointer to its own type or to
   Void, and an array's for a pointer to its element too (C's array-to-pointer decay). */
static int store_value_address(nf_ctype *t, void *dst, nf_cdata *c)
{
    nf_ctype *want = target_of(t);
    if (!want)
        return -1;
    int ok = want->kind == NF_VOID ? 1 : same_type(want, c->type);
    if (ok == 0 && c->type->kind == NF_ARRAY)
        ok = same_type(want, c->type->target);
    if (ok < 0)
        return -1;
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "expected %U, got a %U value (a struct, union or array passes for a "
                     "pointer to its own type or Pointer[Void]; use .address.cast() to reinterpret)", t->name,
                     c->type->name);
        return -1;
    }
    STORE(void *, dst, c->addr);
    return 0;
}

static int store_pointer(nf_ctype *t, void *dst, PyObject *obj)
{
    if (nf_pointer_check(obj)) {
        nf_pointer *p = (nf_pointer *)obj;
        if (p->type != t) {
            nf_ctype *want = target_of(t), *have = want ? target_of(p->type) : NULL;
            int ok = have ? pointee_compatible(want, have) : -1;
            if (ok < 0)
                return -1;
            if (!ok) {
                PyErr_Format(PyExc_TypeError, "expected %U, got %U (use .cast() to reinterpret a pointer)", t->name,
                             p->type->name);
                return -1;
            }
        }
        STORE(void *, dst, p->addr);
        return 0;
    }
    if (obj == Py_None) {
        STORE(void *, dst, NULL);
        return 0;
    }
    if (nf_cdata_check(obj))
        return store_value_address(t, dst, (nf_cdata *)obj);
    /* Objects that stand for a pointer (NativeCallable) expose __native_pointer__. */
    PyObject *np;
    if (nf_getattr_opt(obj, "__native_pointer__", &np) < 0)
        return -1;
    if (np) {
        int r = nf_pointer_check(np) ? store_pointer(t, dst, np) : type_error(t, obj);
        Py_DECREF(np);
        return r;
    }
    return type_error(t, obj);
}

/* -- Public entry points ----------------------------------------------- */

int nf_cconv_store(nf_ctype *t, void *dst, PyObject *obj)
{
    switch (t->kind) {
    case NF_I8: case NF_U8: case NF_I16: case NF_U16: case NF_I32: case NF_U32: case NF_I64: case NF_U64:
        return store_int(t, dst, obj);
    case NF_F32: case NF_F64: case NF_LDOUBLE:
        return store_float(t, dst, obj);
    case NF_BOOL:
        return store_bool(t, dst, obj);
    case NF_POINTER:
        return store_pointer(t, dst, obj);
    case NF_STRUCT: case NF_UNION: case NF_ARRAY:
        return nf_compound_store(t, dst, obj);
    default:
        return type_error(t, obj);
    }
}

int nf_cconv_store_arg(nf_ctype *t, void *dst, PyObject *obj, nf_argtmp *tmp)
{
    if (t->kind != NF_POINTER || nf_pointer_check(obj) || obj == Py_None || nf_cdata_check(obj))
        return nf_cconv_store(t, dst, obj);
    if (PyBytes_Check(obj)) {
        /* Kept alive by the caller for the whole call: no copy needed. Read-only: C must not write to it. */
        if (nf_cconv_check_buffer(t, "B", 1, obj) < 0)
            return -1;
        *(void **)dst = PyBytes_AS_STRING(obj);
        return 0;
    }
    if (PyUnicode_Check(obj)) {
        nf_ctype *want = target_of(t);
        if (!want)
            return -1;
        if (!is_text_target(want)) {
            PyErr_Format(PyExc_TypeError, "expected a Pointer (or None for nullptr) for %U, got str "
                         "(str is accepted for pointers to bytes: Pointer[Utf8], Pointer[Char], Pointer[Uint8], Pointer[Int8] "
                         "and the other 1-byte integers)", t->name);
            return -1;
        }
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(obj, &n);
        if (!s)
            return -1;
        if ((Py_ssize_t)strlen(s) != n) {
            PyErr_Format(PyExc_ValueError, "str passed for %U contains a NUL character, which would cut the "
                         "C string short; pass bytes or a Pointer instead", t->name);
            return -1;
        }
        *(const char **)dst = s;  /* the UTF-8 form is cached on the str, which the caller keeps alive */
        return 0;
    }
    if (PyObject_CheckBuffer(obj)) {
        if (PyObject_GetBuffer(obj, &tmp->view, PyBUF_ANY_CONTIGUOUS | PyBUF_FORMAT) < 0) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "expected a Pointer or a contiguous buffer for %U, got a "
                         "non-contiguous %.200s", t->name, Py_TYPE(obj)->tp_name);
            return -1;
        }
        if (nf_cconv_check_buffer(t, tmp->view.format, tmp->view.itemsize, obj) < 0) {
            PyBuffer_Release(&tmp->view);
            return -1;
        }
        tmp->has_view = 1;
        *(void **)dst = tmp->view.buf;
        return 0;
    }
    return nf_cconv_store(t, dst, obj);
}

void nf_argtmp_release(nf_argtmp *tmp)
{
    if (tmp->has_view) {
        PyBuffer_Release(&tmp->view);
        tmp->has_view = 0;
    }
    Py_CLEAR(tmp->obj);
}

PyObject *nf_cconv_load(nf_ctype *t, const void *src, PyObject *owner)
{
    switch (t->kind) {
    case NF_VOID:
        Py_RETURN_NONE;
    case NF_POINTER:
        return nf_pointer_new(t, LOAD(void *, src), NULL);
    case NF_STRUCT: case NF_UNION: case NF_ARRAY:
        return nf_compound_load(t, src, owner);
    case NF_OPAQUE: case NF_FUNCTION:
        PyErr_Format(PyExc_TypeError, "%U has no values to read; only pointers to it can be used", t->name);
        return NULL;
    case NF_LDOUBLE:  /* rounded to the nearest double (beyond its range: +-inf or 0), as ctypes does */
        return PyFloat_FromDouble((double)LOAD(long double, src));
    default:
        return nf_cconv_load_scalar(t->kind, src);
    }
}

void nf_cconv_from_promoted(nf_ctype *t, const void *src, void *dst)
{
    int v = t->kind == NF_F32 ? 0 : *(const int *)src;
    switch (t->kind) {
    case NF_F32: *(float *)dst = (float)*(const double *)src; break;
    case NF_I8: *(int8_t *)dst = (int8_t)v; break;
    case NF_U8: *(uint8_t *)dst = (uint8_t)v; break;
    case NF_I16: *(int16_t *)dst = (int16_t)v; break;
    case NF_U16: *(uint16_t *)dst = (uint16_t)v; break;
    case NF_BOOL: *(_Bool *)dst = v != 0; break;
    default: memcpy(dst, src, (size_t)t->size); break;
    }
}
