/* Exceptions: re-raising a pending exception with the context it happened in, chained to the original. */
#include "errors.h"
#include <stdarg.h>

/* Whether calling exception class `cls` with one message runs only CPython's own constructors: every heap
   (Python-defined) class of its MRO, up to the first built-in one, leaves __init__ and __new__ alone. */
static int made_from_message(PyTypeObject *cls)
{
    PyObject *mro = cls->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *m = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!(m->tp_flags & Py_TPFLAGS_HEAPTYPE))
            return 1;
        if (!m->tp_dict || PyDict_GetItemString(m->tp_dict, "__init__") ||
            PyDict_GetItemString(m->tp_dict, "__new__"))
            return 0;
    }
    return 0;
}

/* A new exception of the first class in the MRO of `orig`'s class that can be made from `msg`, or NULL
   (no exception set). BaseException always can. */
static PyObject *remade(PyObject *orig, PyObject *msg)
{
    PyObject *mro = Py_TYPE(orig)->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!PyType_IsSubtype(cls, (PyTypeObject *)PyExc_BaseException) || !made_from_message(cls))
            continue;
        PyObject *exc = PyObject_CallOneArg((PyObject *)cls, msg);
        if (exc && PyExceptionInstance_Check(exc))
            return exc;
        Py_XDECREF(exc);
        PyErr_Clear();  /* a built-in that needs more than a message (UnicodeEncodeError): try its base */
    }
    return NULL;
}

int nf_errors_prefix(const char *format, ...)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type) {
        PyErr_SetString(PyExc_SystemError, "nf_errors_prefix: no exception is pending");
        return -1;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    va_list va;
    va_start(va, format);
    PyObject *prefix = PyUnicode_FromFormatV(format, va);
    va_end(va);
    PyObject *msg = prefix ? PyUnicode_FromFormat("%U: %S", prefix, value) : NULL;
    PyObject *exc = msg ? remade(value, msg) : NULL;
    Py_XDECREF(prefix);
    Py_XDECREF(msg);
    if (!exc) {
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
        return -1;
    }
    PyException_SetCause(exc, value);  /* steals the reference to value */
    Py_XDECREF(type);
    Py_XDECREF(tb);
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return -1;
}
