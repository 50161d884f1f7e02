/* Checked size arithmetic: every size, count, offset and address computed in the core goes through these helpers. */
#ifndef NF_SIZES_H
#define NF_SIZES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include "compat.h"

/* The largest size in bytes of a type, an allocation, a memory view or a pointer step: what the platform can
   address. 64-bit: 2**56 (x86-64 with 5-level paging and AArch64 with 52-bit addresses address less); then
   8 * NF_SIZE_MAX bits still fit a Py_ssize_t, so bit layouts never overflow on a single field. */
#if SIZEOF_VOID_P >= 8
#define NF_SIZE_MAX ((Py_ssize_t)1 << 56)
#define NF_SIZE_MAX_TEXT "2**56"
#else
#define NF_SIZE_MAX (PY_SSIZE_T_MAX / 8)
#define NF_SIZE_MAX_TEXT "PY_SSIZE_T_MAX / 8"
#endif

/* The error ending of a size beyond NF_SIZE_MAX: "<what> is" NF_TOO_LARGE. */
#define NF_TOO_LARGE "larger than the platform can address (at most " NF_SIZE_MAX_TEXT " bytes)"

/* *out = a + b. Returns 0, or -1 (no exception set) if the sum overflows Py_ssize_t. */
static inline int nf_size_add(Py_ssize_t a, Py_ssize_t b, Py_ssize_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

/* *out = a * b. Returns 0, or -1 (no exception set) if the product overflows Py_ssize_t. */
static inline int nf_size_mul(Py_ssize_t a, Py_ssize_t b, Py_ssize_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

/* *out = x rounded up to a multiple of a (a > 0). Returns 0, or -1 (no exception set) on overflow. */
static inline int nf_size_round_up(Py_ssize_t x, Py_ssize_t a, Py_ssize_t *out)
{
    Py_ssize_t t;
    if (nf_size_add(x, a - 1, &t) < 0)
        return -1;
    *out = t / a * a;
    return 0;
}

/* *out = addr + offset (offset may be negative), which must stay in [0, UINTPTR_MAX] and |offset| <= NF_SIZE_MAX.
   Returns 0, or -1 (no exception set) if the result would leave the address space. */
static inline int nf_addr_add(const void *addr, Py_ssize_t offset, char **out)
{
    uintptr_t a = (uintptr_t)addr, r;
    if (offset > NF_SIZE_MAX || offset < -NF_SIZE_MAX)
        return -1;
    if (offset >= 0 ? __builtin_add_overflow(a, (uintptr_t)offset, &r) : __builtin_sub_overflow(a, (uintptr_t)-offset, &r))
        return -1;
    *out = (char *)r;
    return 0;
}

/* A count given by Python: an int (or an object with __index__) >= 0. An int past PY_SSIZE_T_MAX is clamped to it,
   which every caller's bound (NF_SIZE_MAX, by the product it computes) then refuses with its own message.
   Returns 0, or -1 with TypeError (not an integer) or ValueError ("<what> must be >= 0, got <obj>"). */
static inline int nf_count_from_object(PyObject *obj, const char *what, Py_ssize_t *out)
{
    int64_t v;
    if (PyLong_CheckExact(obj) && nf_long_compact(obj, &v) && v >= 0 && v <= PY_SSIZE_T_MAX) {  /* read inline */
        *out = (Py_ssize_t)v;
        return 0;
    }
    Py_ssize_t n = PyNumber_AsSsize_t(obj, NULL);
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (n < 0) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0, got %R", what, obj);
        return -1;
    }
    *out = n;
    return 0;
}

#endif
