/* Exact long double values: the bytes of a long double to and from an integer mantissa and a binary exponent. */
#ifndef NF_LONGDOUBLE_H
#define NF_LONGDOUBLE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "compat.h"

/* Adds LONG_DOUBLE (mant_dig, min_exp, max_exp, size of this platform's long double) to the module. */
int nf_longdouble_init(PyObject *module);

/* Module functions of this file (registered by module.c): long_double_parts, long_double_from_parts. */
extern PyMethodDef nf_longdouble_methods[];

#endif
