/* Raw native memory: malloc/calloc/free and byte copies for the allocators and arenas of the Python layer. */
#include "memory.h"
#include "compat.h"
#include <stdlib.h>
#include <string.h>

static int as_size(PyObject *o, size_t *n, const char *fn)
{
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s() expected an int byte count, got %.200s", fn, Py_TYPE(o)->tp_name);
        return -1;
    }
    Py_ssize_t v = PyLong_AsSsize_t(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < 0) {
        PyErr_Format(PyExc_ValueError, "%s() expected a byte count >= 0, got %zd", fn, v);
        return -1;
    }
    *n = (size_t)v;
    return 0;
}

static PyObject *m_malloc(PyObject *m, PyObject *arg)
{
    size_t n;
    if (as_size(arg, &n, "malloc") < 0)
        return NULL;
    void *p = malloc(n ? n : 1);
    if (!p)
        return PyErr_NoMemory();
    return PyLong_FromVoidPtr(p);
}

static PyObject *m_calloc(PyObject *m, PyObject *arg)
{
    size_t n;
    if (as_size(arg, &n, "calloc") < 0)
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
    if (!PyArg_ParseTuple(args, "OOO:memmove", &dst, &src, &count) || as_size(count, &n, "memmove") < 0)
        return NULL;
    void *d = PyLong_AsVoidPtr(dst), *s = PyLong_AsVoidPtr(src);
    if (PyErr_Occurred())
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
    if (!PyArg_ParseTuple(args, "OO:string_at", &addr, &count) || as_size(count, &n, "string_at") < 0)
        return NULL;
    void *a = PyLong_AsVoidPtr(addr);
    if (!a && PyErr_Occurred())
        return NULL;
    if (!a && n) {
        PyErr_SetString(PyExc_ValueError, "string_at() through a null address");
        return NULL;
    }
    return PyBytes_FromStringAndSize(a, (Py_ssize_t)n);
}

PyMethodDef nf_memory_methods[] = {
    {"malloc", m_malloc, METH_O, "malloc(nbytes) -> address (MemoryError when the system has none)."},
    {"calloc", m_calloc, METH_O, "calloc(nbytes) -> address of zeroed memory."},
    {"free", m_free, METH_O, "free(address)."},
    {"memmove", m_memmove, METH_VARARGS, "memmove(dst, src, nbytes)."},
    {"string_at", m_string_at, METH_VARARGS, "string_at(address, nbytes) -> bytes (a copy)."},
    {NULL},
};
