/* Raw native memory: malloc/calloc/free and byte copies for the allocators and arenas of the Python layer. */
#include "memory.h"
#include "compat.h"
#include <stdlib.h>
#include <string.h>

#include "sizes.h"

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
