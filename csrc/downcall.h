/* Calls from Python into native functions: bound function objects and their call plans. */
#ifndef NF_DOWNCALL_H
#define NF_DOWNCALL_H

#include "types.h"

extern PyTypeObject nf_Function_Type;

int nf_downcall_init(PyObject *module);
extern PyMethodDef nf_downcall_methods[];

#endif
