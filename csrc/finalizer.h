/* Native finalizers (Dart's NativeFinalizer): a native function run with a token when an object dies, or at exit. */
#ifndef NF_FINALIZER_H
#define NF_FINALIZER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "compat.h"

/* Adds the Finalizer type to the module and registers the exit hook that runs what is still pending. */
int nf_finalizer_init(PyObject *module);

/* Module functions of this file (registered by module.c): native_memory_held(). */
extern PyMethodDef nf_finalizer_methods[];

#endif
