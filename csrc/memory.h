/* Native memory: the malloc and calloc allocators, Arena, and raw malloc/calloc/free and byte copies. */
#ifndef NF_MEMORY_H
#define NF_MEMORY_H

#include <Python.h>

extern PyMethodDef nf_memory_methods[];
extern PyTypeObject nf_Allocator_Type;  /* nativeffi.Allocator: malloc and calloc */
extern PyTypeObject nf_Arena_Type;      /* nativeffi.Arena */

int nf_memory_init(PyObject *module);

#endif
