/* Library and symbol lookup: dlopen/dlsym with the loader's own messages. */
#ifndef NF_LOOKUP_H
#define NF_LOOKUP_H

#include <Python.h>

extern PyMethodDef nf_lookup_methods[];

#endif
