/* Native type descriptors (CType): what every other file reads to know a type's size, layout and ABI class. */
#ifndef NF_TYPES_H
#define NF_TYPES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "compat.h"
#include <ffi.h>
#include <stdint.h>

/* How a value of the type is stored in memory; convert.c switches on it. */
typedef enum {
    NF_VOID,
    NF_I8, NF_U8, NF_I16, NF_U16, NF_I32, NF_U32, NF_I64, NF_U64,
    NF_F32, NF_F64, NF_BOOL,
    NF_LDOUBLE,   /* long double wider than double (x86-64: 80-bit x87 in 16 bytes; AArch64 Linux: binary128):
                     never in a general or stub register, so outside NF_IS_SCALAR; libffi passes it */
    NF_POINTER,   /* Pointer[T] */
    NF_STRUCT,    /* Struct subclass (compound.c) */
    NF_UNION,     /* Union subclass (compound.c) */
    NF_ARRAY,     /* Array[T, n] inline array (compound.c) */
    NF_FUNCTION,  /* NativeFunction[[...], R]: a signature, only behind a pointer or as a binding's type */
    NF_OPAQUE,    /* Opaque subclasses and Utf8: only behind a pointer */
} nf_kind;

#define NF_IS_SCALAR(k) ((k) >= NF_I8 && (k) <= NF_BOOL)
#define NF_IS_INTEGER(k) ((k) >= NF_I8 && (k) <= NF_U64)
#define NF_IS_COMPOUND(k) ((k) == NF_STRUCT || (k) == NF_UNION || (k) == NF_ARRAY)

/* Rows of native_types.def, as an enum: NF_T_Int8, NF_T_Int16, ... */
typedef enum {
#define NF_SCALAR(name, ctype, cat, py) NF_T_##name,
#include "native_types.def"
#undef NF_SCALAR
    NF_T_COUNT
} nf_scalar_id;

/* A native type: one immutable object per type, shared by everything that mentions it. */
typedef struct nf_ctype {
    PyObject_HEAD
    nf_kind kind;             /* storage class, see above */
    int scalar;               /* row of native_types.def (nf_scalar_id), or -1 */
    Py_ssize_t size;          /* sizeof, as the C compiler says; 0 for Void, Opaque, Function */
    Py_ssize_t align;         /* alignof */
    ffi_type *ffi;            /* libffi description; NULL where a value cannot be passed (Opaque, Function) */
    int ffi_owned;            /* ffi (and its elements array) was PyMem_Malloc'ed by this object */
    PyObject *name;           /* str shown to users: "Int32", "Pointer[Int32]", "Coord" */
    struct nf_ctype *target;  /* POINTER: pointee (NULL until a forward reference is resolved); ARRAY: element */
    Py_ssize_t length;        /* ARRAY: number of elements */
    PyObject *pyclass;        /* POINTER: Pointer subclass to instantiate; STRUCT/UNION/OPAQUE: user's class */
    PyObject *params;         /* FUNCTION: tuple of CType, fixed parameters then variadic ones */
    Py_ssize_t nfixed;        /* FUNCTION: number of fixed parameters */
    int variadic;             /* FUNCTION: declared with VarArgs[...] */
    struct nf_ctype *ret;     /* FUNCTION: return type */
    PyObject *fields;         /* STRUCT/UNION: tuple of field descriptors, owned by compound.c */
    void *layout;             /* STRUCT/UNION: compound.c's private data (freed by nf_compound_free) */
    int is_signed;            /* integer scalars: the C type is signed */
} nf_ctype;

extern PyTypeObject nf_CType_Type;
#define nf_ctype_check(o) Py_IS_TYPE((o), &nf_CType_Type)

/* The scalar CType of each row of native_types.def, and Void; borrowed, live as long as the module. */
extern nf_ctype *nf_scalar_types[NF_T_COUNT];
extern nf_ctype *nf_void_type;

/* The most bytes of by-value compound (struct, union) arguments one signature may take in total, and the largest
   by-value compound return. A by-value argument lives on the native stack: libffi copies it there twice for a
   downcall, and the C caller of a callback builds it there; past a few MiB the 8 MiB stack of a thread overflows
   (a 4 MiB struct did). Larger compounds pass by pointer. */
#define NF_BYVALUE_MAX ((Py_ssize_t)1 << 20)

/* The type a variadic argument of type `t` travels as after C's default argument promotions (Float as Double,
   integers narrower than int and Bool as Int); `t` itself otherwise. Borrowed. */
nf_ctype *nf_types_promoted(nf_ctype *t);

/* The CType of parameter i of function type `ft` as it travels: promoted if it is variadic. Borrowed. */
nf_ctype *nf_types_param_wire(nf_ctype *ft, Py_ssize_t i);

/* Allocates a blank CType of `kind` named `name`; the caller fills in the rest. New reference. */
nf_ctype *nf_ctype_alloc(nf_kind kind, const char *name);

/* A POINTER CType to `target` (NULL: unresolved forward reference) instantiated as `pyclass`. New reference. */
nf_ctype *nf_pointer_type(nf_ctype *target, PyObject *pyclass);

/* The CType a type expression names when it can be read without running Python code: a CType; a class with
   its own __native__ (Pointer classes, structs, opaque types); an Annotated alias whose only metadata is a
   CType (Int32); an object with a __native__ attribute and the generic getattr (Array[...], NativeFunction[...]).
   Borrowed (the expression holds it); NULL, with no exception, for anything else (the Python layer decides). */
nf_ctype *nf_ctype_of(PyObject *expr);

/* The CType of any type expression: nf_ctype_of, else nativeffi.types.native_type(expr, what=what), which
   explains what was wrong. New reference; NULL with an exception. */
nf_ctype *nf_ctype_resolve(PyObject *expr, const char *what);

/* Adds CType, the scalar table and the type factories to the module. */
int nf_types_init(PyObject *module);

/* Module functions of this file (registered by module.c). */
extern PyMethodDef nf_types_methods[];

#endif
