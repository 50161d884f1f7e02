/* Shims so the core builds on every CPython from 3.9 on. */
#ifndef NF_COMPAT_H
#define NF_COMPAT_H

#include <Python.h>
#include <structmember.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *nf_newref(PyObject *o) { Py_INCREF(o); return o; }
static inline PyObject *nf_xnewref(PyObject *o) { Py_XINCREF(o); return o; }
#define Py_NewRef(o) nf_newref((PyObject *)(o))
#define Py_XNewRef(o) nf_xnewref((PyObject *)(o))
static inline int PyModule_AddObjectRef(PyObject *m, const char *name, PyObject *v)
{
    Py_XINCREF(v);
    if (PyModule_AddObject(m, name, v) < 0) {
        Py_XDECREF(v);
        return -1;
    }
    return 0;
}
#endif

/* getattr that treats a missing attribute as *res = NULL, returning 0; -1 only for other errors. */
static inline int nf_getattr_opt(PyObject *obj, const char *name, PyObject **res)
{
    *res = PyObject_GetAttrString(obj, name);
    if (*res)
        return 1;
    if (!PyErr_ExceptionMatches(PyExc_AttributeError))
        return -1;
    PyErr_Clear();
    return 0;
}

/* The value of an exact int small enough to read without a call (one or two 30-bit digits before 3.12, a
   compact int after); 0 when it is not, and the caller takes the general path. PyLong_SHIFT may be 15 on
   some builds: two digits then still fit. */
static inline __attribute__((always_inline)) int nf_long_compact(PyObject *o, int64_t *v)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (!PyUnstable_Long_IsCompact((PyLongObject *)o))
        return 0;
    *v = (int64_t)PyUnstable_Long_CompactValue((PyLongObject *)o);
    return 1;
#else
    Py_ssize_t s = Py_SIZE(o);
    const digit *d = ((PyLongObject *)o)->ob_digit;
    switch (s) {
    case 0: *v = 0; return 1;
    case 1: *v = (int64_t)d[0]; return 1;
    case -1: *v = -(int64_t)d[0]; return 1;
    case 2: *v = (int64_t)(d[0] | ((uint64_t)d[1] << PyLong_SHIFT)); return 1;
    case -2: *v = -(int64_t)(d[0] | ((uint64_t)d[1] << PyLong_SHIFT)); return 1;
    default: return 0;
    }
#endif
}

#endif
