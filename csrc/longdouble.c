/* Exact long double values: the bytes of a long double to and from an integer mantissa and a binary exponent. */
#include "longdouble.h"
#include "convert.h"
#include <math.h>

/*
 * A finite long double x is exactly M * 2**E with |M| < 2**LDBL_MANT_DIG. frexpl() splits x without rounding,
 * and the mantissa is read 32 bits at a time (each step multiplies by 2**32 and takes the integer part: exact
 * operations on a long double). The other way, M is rebuilt 32 bits at a time (every partial sum has at most
 * LDBL_MANT_DIG bits: exact) and scaled by ldexpl (exact unless the result is subnormal or overflows, which the
 * Python layer rules out by rounding first). Plain C: the same code serves x87 extended and binary128.
 */

#define CHUNK_BITS 32

/* bytes -> (M, E), or the float value itself for an infinity or a NaN. */
static PyObject *m_long_double_parts(PyObject *m, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len != (Py_ssize_t)sizeof(long double)) {
        PyErr_Format(PyExc_ValueError, "long_double_parts() expected %zu bytes (sizeof(long double)), got %zd",
                     sizeof(long double), view.len);
        PyBuffer_Release(&view);
        return NULL;
    }
    long double x;
    memcpy(&x, view.buf, sizeof x);
    PyBuffer_Release(&view);
    if (!isfinite(x))
        return PyFloat_FromDouble((double)x);
    int e;
    long double frac = frexpl(fabsl(x), &e);  /* in [0.5, 1), or 0 */
    PyObject *mant = PyLong_FromLong(0);
    PyObject *shift = PyLong_FromLong(CHUNK_BITS);
    int bits = 0;
    while (mant && shift && bits < LDBL_MANT_DIG) {
        frac = ldexpl(frac, CHUNK_BITS);
        long double whole = truncl(frac);
        frac -= whole;
        bits += CHUNK_BITS;
        PyObject *shifted = PyNumber_Lshift(mant, shift);
        PyObject *chunk = PyLong_FromUnsignedLong((unsigned long)whole);
        Py_SETREF(mant, shifted && chunk ? PyNumber_Or(shifted, chunk) : NULL);
        Py_XDECREF(shifted);
        Py_XDECREF(chunk);
    }
    Py_XDECREF(shift);
    if (mant && signbit(x))
        Py_SETREF(mant, PyNumber_Negative(mant));
    if (!mant)
        return NULL;
    return Py_BuildValue("(Ni)", mant, e - bits);
}

/* (M, E) -> the bytes of M * 2**E, which must be exact: |M| < 2**LDBL_MANT_DIG, and the caller has rounded so
   that the result is neither subnormal-inexact nor an overflow. Padding bytes are zero. */
static PyObject *m_long_double_from_parts(PyObject *m, PyObject *args)
{
    PyObject *mant;
    int e;
    if (!PyArg_ParseTuple(args, "O!i:long_double_from_parts", &PyLong_Type, &mant, &e))
        return NULL;
    int negative = _PyLong_Sign(mant) < 0;
    PyObject *a = negative ? PyNumber_Negative(mant) : Py_NewRef(mant);
    if (!a)
        return NULL;
    int64_t nbits = (int64_t)_PyLong_NumBits(a);
    if (nbits < 0 || nbits > LDBL_MANT_DIG) {
        Py_DECREF(a);
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_OverflowError, "long_double_from_parts(): the mantissa has more than %d bits",
                         LDBL_MANT_DIG);
        return NULL;
    }
    long double x = 0;
    int nchunks = (int)((nbits + CHUNK_BITS - 1) / CHUNK_BITS);
    for (int i = nchunks - 1; i >= 0; i--) {
        PyObject *sh = PyLong_FromLong((long)i * CHUNK_BITS);
        PyObject *part = sh ? PyNumber_Rshift(a, sh) : NULL;
        Py_XDECREF(sh);
        if (!part) {
            Py_DECREF(a);
            return NULL;
        }
        unsigned long chunk = PyLong_AsUnsignedLongMask(part) & 0xFFFFFFFFul;
        Py_DECREF(part);
        if (chunk == (unsigned long)-1 && PyErr_Occurred()) {
            Py_DECREF(a);
            return NULL;
        }
        x = ldexpl(x, CHUNK_BITS) + (long double)chunk;
    }
    Py_DECREF(a);
    x = ldexpl(negative ? -x : x, e);
    unsigned char out[sizeof(long double)];
    nf_cconv_store_long_double(out, x);
    return PyBytes_FromStringAndSize((const char *)out, sizeof out);
}

PyMethodDef nf_longdouble_methods[] = {
    {"long_double_parts", m_long_double_parts, METH_O,
     "long_double_parts(bytes) -> (M, E) with the long double equal to M * 2**E exactly; a float for inf/nan."},
    {"long_double_from_parts", m_long_double_from_parts, METH_VARARGS,
     "long_double_from_parts(M, E) -> the bytes of the long double M * 2**E (|M| < 2**LDBL_MANT_DIG, exact)."},
    {NULL},
};

int nf_longdouble_init(PyObject *module)
{
    PyObject *info = Py_BuildValue("{s:i,s:i,s:i,s:n}", "mant_dig", LDBL_MANT_DIG, "min_exp", LDBL_MIN_EXP,
                                   "max_exp", LDBL_MAX_EXP, "size", (Py_ssize_t)sizeof(long double));
    if (!info)
        return -1;
    int r = PyModule_AddObjectRef(module, "LONG_DOUBLE", info);
    Py_DECREF(info);
    return r;
}
