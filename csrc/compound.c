/* Structs, unions and inline arrays: layout, values and views, and their libffi description. */
#include "compound.h"

/* Compound types are declared by the Python layer's Struct/Union/Array (compound-types issue); until then
   no CType of these kinds exists, and these entry points only report that. */

static int no_compounds(void)
{
    PyErr_SetString(PyExc_NotImplementedError, "structs, unions and arrays are not available in this build");
    return -1;
}

int nf_compound_store(nf_ctype *t, void *dst, PyObject *obj) { return no_compounds(); }
PyObject *nf_compound_load(nf_ctype *t, const void *src, PyObject *owner) { no_compounds(); return NULL; }
PyObject *nf_compound_copy(nf_ctype *t, const void *src) { no_compounds(); return NULL; }
void *nf_compound_address(nf_ctype *t, PyObject *obj) { return NULL; }
void nf_compound_free(nf_ctype *t) {}

PyMethodDef nf_compound_methods[] = {{NULL}};

int nf_compound_init(PyObject *module) { return 0; }
