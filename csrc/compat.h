/* Shims so the core builds on every CPython from 3.9 on. */
#ifndef NF_COMPAT_H
#define NF_COMPAT_H

#include <Python.h>
#include <structmember.h>

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

#endif
