/* Raw native memory: malloc/calloc/free and byte copies for the allocators and arenas of the Python layer. */
#ifndef NF_MEMORY_H
#define NF_MEMORY_H

#include <Python.h>

extern PyMethodDef nf_memory_methods[];

#endif
