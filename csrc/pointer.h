/* Pointer objects: typed addresses with element access, arithmetic and buffer interop. */
#ifndef NF_POINTER_H
#define NF_POINTER_H

#include "types.h"

typedef struct {
    PyObject_HEAD
    char *addr;          /* the address; NULL is nullptr */
    nf_ctype *type;      /* the POINTER CType (type->target is the pointee); strong reference */
    PyObject *keep;      /* object whose memory this points into (buffer, struct value, arena), or NULL */
} nf_pointer;

extern PyTypeObject nf_PointerBase_Type;
#define nf_pointer_check(o) PyObject_TypeCheck((o), &nf_PointerBase_Type)

/* Box[T] values: pointers whose pointee lives inside the object (Python-owned, freed with it). */
extern PyTypeObject nf_BoxBase_Type;
#define nf_box_check(o) PyObject_TypeCheck((o), &nf_BoxBase_Type)

/* A new pointer instance of ptype->pyclass. `keep` (may be NULL) is kept alive by the pointer. */
PyObject *nf_pointer_new(nf_ctype *ptype, void *addr, PyObject *keep);

/* A new Pointer[target] (the class Pointer[target] evaluates to) at addr, keeping `keep` (may be NULL) alive.
   Finding the class may run Python code; an allocator passes addr NULL and sets it after allocating, so that no
   code runs between an allocation and the pointer that holds it. */
PyObject *nf_pointer_to(nf_ctype *target, void *addr, PyObject *keep);

/* The pointee of a pointer type, resolving a forward reference through the Python layer if needed.
   Borrowed; NULL with an exception if it cannot be resolved. */
nf_ctype *nf_pointer_target(nf_ctype *ptype);

int nf_pointer_init(PyObject *module);
extern PyMethodDef nf_pointer_methods[];

#endif
