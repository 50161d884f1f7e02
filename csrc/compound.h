/* Structs, unions and inline arrays: layout, values and views, and their libffi description. */
#ifndef NF_COMPOUND_H
#define NF_COMPOUND_H

#include "types.h"

/* Python -> C: copies a compound value (struct instance, or a sequence for arrays) into `dst`. */
int nf_compound_store(nf_ctype *t, void *dst, PyObject *obj);

/* C -> Python: a view (no copy) of the compound at `src` that keeps `owner` (may be NULL) alive. */
PyObject *nf_compound_load(nf_ctype *t, const void *src, PyObject *owner);

/* C -> Python: a new Python-owned value holding a copy of the compound at `src` (by-value returns). */
PyObject *nf_compound_copy(nf_ctype *t, const void *src);

/* Address of the memory behind a compound value or view, or NULL (no exception) if obj is not one of type t. */
void *nf_compound_address(nf_ctype *t, PyObject *obj);

/* Releases what a STRUCT/UNION/ARRAY CType owns (layout, ffi description). Called from CType dealloc. */
void nf_compound_free(nf_ctype *t);

int nf_compound_init(PyObject *module);
extern PyMethodDef nf_compound_methods[];

#endif
