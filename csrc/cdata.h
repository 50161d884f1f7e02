/* Compound values in Python: struct/union values and views, array views, and the field descriptors that read them. */
#ifndef NF_CDATA_H
#define NF_CDATA_H

#include "types.h"

/* A struct, union or array value: owned bytes stored inline after the header, or a view of memory elsewhere. */
typedef struct {
    PyObject_VAR_HEAD    /* ob_size: bytes of inline storage (owned values), 0 for views */
    char *addr;          /* the compound's bytes */
    nf_ctype *type;      /* its STRUCT/UNION/ARRAY CType; strong reference */
    PyObject *keep;      /* views: the object that owns the memory (NULL for raw native memory); owned: NULL */
    int owns;            /* addr points into this object's own storage */
    int swap;            /* array views: scalar elements are stored in the other byte order (an array field of a
                            struct declared with endian= other than the platform's) */
    char data[];         /* owned values: inline storage; addr is the first suitably aligned byte in it */
} nf_cdata;

/* One field of a struct or union, set on the Python class as a data descriptor. */
typedef struct {
    PyObject_HEAD
    PyObject *name;      /* the field's name */
    nf_ctype *type;      /* its type (bit fields: the declared integer type) */
    nf_ctype *owner;     /* the struct or union it belongs to */
    Py_ssize_t offset;   /* byte offset; for bit fields the byte holding the first bit */
    Py_ssize_t bitpos;   /* bit fields: bit offset from the start of the compound; -1 otherwise */
    int width;           /* bit fields: width in bits; -1 otherwise */
    Py_ssize_t index;    /* position in declaration order (an alias: that of the member it reads through) */
    int swap;            /* scalars (and arrays of them) are stored in the other byte order: endian= */
} nf_field;

extern PyTypeObject nf_CData_Type;      /* base of Struct and Union classes */
extern PyTypeObject nf_ArrayView_Type;  /* values of Array[T, n] */
extern PyTypeObject nf_Field_Type;

#define nf_cdata_check(o) (PyObject_TypeCheck((o), &nf_CData_Type) || Py_IS_TYPE((o), &nf_ArrayView_Type))

/* A new field descriptor. New reference. */
nf_field *nf_field_new(PyObject *name, nf_ctype *type, nf_ctype *owner, Py_ssize_t offset, Py_ssize_t bitpos,
                       int width, Py_ssize_t index);

/* A copy of field f for the compound `owner`, `delta` bytes further (an inherited field, or a field of an anonymous
   member read through its parent), at declaration position `index`. New reference. */
nf_field *nf_field_alias(nf_field *f, nf_ctype *owner, Py_ssize_t delta, Py_ssize_t index);

int nf_cdata_init(PyObject *module);
extern PyMethodDef nf_cdata_methods[];

#endif
