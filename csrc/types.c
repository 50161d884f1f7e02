/* Native type descriptors (CType): the scalar table from native_types.def, pointers, function signatures, opaque types. */
#include "types.h"
#include "compound.h"
#include "sizes.h"
#include <stddef.h>
#include <wchar.h>

nf_ctype *nf_scalar_types[NF_T_COUNT];
nf_ctype *nf_void_type;

static const char *const kind_names[] = {
    "void", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float", "double", "bool", "longdouble", "pointer", "struct", "union", "array", "function", "opaque",
};

/* -- The CType object ---------------------------------------------------- */

static void ctype_dealloc(nf_ctype *t)
{
    PyObject_GC_UnTrack(t);
    if (NF_IS_COMPOUND(t->kind))
        nf_compound_free(t);
    if (t->ffi_owned && t->ffi) {
        PyMem_Free(t->ffi->elements);
        PyMem_Free(t->ffi);
    }
    Py_XDECREF(t->name);
    Py_XDECREF(t->target);
    Py_XDECREF(t->pyclass);
    Py_XDECREF(t->params);
    Py_XDECREF(t->ret);
    Py_XDECREF(t->fields);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static int ctype_traverse(nf_ctype *t, visitproc visit, void *arg)
{
    Py_VISIT(t->target);
    Py_VISIT(t->pyclass);
    Py_VISIT(t->params);
    Py_VISIT(t->ret);
    Py_VISIT(t->fields);
    return 0;
}

static int ctype_clear(nf_ctype *t)
{
    Py_CLEAR(t->target);
    Py_CLEAR(t->pyclass);
    Py_CLEAR(t->params);
    Py_CLEAR(t->ret);
    Py_CLEAR(t->fields);
    return 0;
}

static PyObject *ctype_repr(nf_ctype *t)
{
    return PyUnicode_FromFormat("<CType %U size=%zd align=%zd>", t->name, t->size, t->align);
}

static PyObject *ctype_get_kind(nf_ctype *t, void *c) { return PyUnicode_FromString(kind_names[t->kind]); }
static PyObject *ctype_get_signed(nf_ctype *t, void *c) { return PyBool_FromLong(t->is_signed); }
static PyObject *ctype_get_variadic(nf_ctype *t, void *c) { return PyBool_FromLong(t->variadic); }

static PyObject *ctype_get_obj(nf_ctype *t, void *offset)
{
    PyObject *v = *(PyObject **)((char *)t + (Py_ssize_t)offset);
    return Py_NewRef(v ? v : Py_None);
}

/* pyclass may be set once by the Python layer (pointer classes and compounds are created after their CType). */
static int ctype_set_pyclass(nf_ctype *t, PyObject *v, void *c)
{
    if (t->pyclass) {
        PyErr_Format(PyExc_AttributeError, "%U already has a Python class", t->name);
        return -1;
    }
    if (!v || !PyType_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "pyclass must be a class");
        return -1;
    }
    t->pyclass = Py_NewRef(v);
    return 0;
}

#define OBJ_GETTER(field, doc) \
    {#field, (getter)ctype_get_obj, NULL, doc, (void *)offsetof(nf_ctype, field)}

static PyGetSetDef ctype_getset[] = {
    {"kind", (getter)ctype_get_kind, NULL, "storage class: 'int32', 'pointer', 'struct', ...", NULL},
    {"signed", (getter)ctype_get_signed, NULL, "for integers: whether the C type is signed", NULL},
    {"variadic", (getter)ctype_get_variadic, NULL, "for functions: declared with VarArgs", NULL},
    OBJ_GETTER(name, "the type's name"),
    OBJ_GETTER(target, "Pointer: the pointee; Array: the element type"),
    OBJ_GETTER(params, "function: parameter types"),
    OBJ_GETTER(ret, "function: return type"),
    OBJ_GETTER(fields, "struct/union: field descriptors"),
    {"pyclass", (getter)ctype_get_obj, (setter)ctype_set_pyclass, "the Python class of values or pointers of this type",
     (void *)offsetof(nf_ctype, pyclass)},
    {NULL},
};

static PyMemberDef ctype_members[] = {
    {"size", T_PYSSIZET, offsetof(nf_ctype, size), READONLY, "sizeof"},
    {"align", T_PYSSIZET, offsetof(nf_ctype, align), READONLY, "alignof"},
    {"length", T_PYSSIZET, offsetof(nf_ctype, length), READONLY, "Array: number of elements"},
    {"nfixed", T_PYSSIZET, offsetof(nf_ctype, nfixed), READONLY, "function: number of fixed parameters"},
    {"scalar", T_INT, offsetof(nf_ctype, scalar), READONLY, "row of the scalar table, or -1"},
    {NULL},
};

PyTypeObject nf_CType_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core.CType",
    .tp_doc = "A native type: size, alignment and ABI class. Made by the type factories, never directly.",
    .tp_basicsize = sizeof(nf_ctype),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)ctype_dealloc,
    .tp_traverse = (traverseproc)ctype_traverse,
    .tp_clear = (inquiry)ctype_clear,
    .tp_repr = (reprfunc)ctype_repr,
    .tp_getset = ctype_getset,
    .tp_members = ctype_members,
};

nf_ctype *nf_ctype_alloc(nf_kind kind, const char *name)
{
    nf_ctype *t = PyObject_GC_New(nf_ctype, &nf_CType_Type);
    if (!t)
        return NULL;
    memset((char *)t + sizeof(PyObject), 0, sizeof(nf_ctype) - sizeof(PyObject));
    t->kind = kind;
    t->scalar = -1;
    t->name = PyUnicode_FromString(name);
    if (!t->name) {
        Py_DECREF(t);
        return NULL;
    }
    PyObject_GC_Track(t);
    return t;
}

/* -- Scalars, from native_types.def ------------------------------------ */

#define NF_IS_SIGNED_INT(ctype) ((ctype)-1 < (ctype)0)

static nf_kind int_kind(size_t size, int is_signed)
{
    switch (size) {
    case 1: return is_signed ? NF_I8 : NF_U8;
    case 2: return is_signed ? NF_I16 : NF_U16;
    case 4: return is_signed ? NF_I32 : NF_U32;
    default: return is_signed ? NF_I64 : NF_U64;
    }
}

static ffi_type *scalar_ffi(nf_kind k)
{
    switch (k) {
    case NF_I8: return &ffi_type_sint8;
    case NF_U8: return &ffi_type_uint8;
    case NF_I16: return &ffi_type_sint16;
    case NF_U16: return &ffi_type_uint16;
    case NF_I32: return &ffi_type_sint32;
    case NF_U32: return &ffi_type_uint32;
    case NF_I64: return &ffi_type_sint64;
    case NF_U64: return &ffi_type_uint64;
    case NF_F32: return &ffi_type_float;
    case NF_F64: return &ffi_type_double;
    case NF_LDOUBLE: return &ffi_type_longdouble;
    case NF_BOOL: return &ffi_type_uint8;
    case NF_POINTER: return &ffi_type_pointer;
    case NF_VOID: return &ffi_type_void;
    default: return NULL;
    }
}

/* Category rules: an INT row takes its storage from the C type's size and signedness. */
#define NF_KIND_INT(ctype) int_kind(sizeof(ctype), NF_IS_SIGNED_INT(ctype))
/* A FLOAT row the size of float or double is stored as one (long double is double on some platforms). */
#define NF_KIND_FLOAT(ctype) \
    (sizeof(ctype) == sizeof(float) ? NF_F32 : sizeof(ctype) == sizeof(double) ? NF_F64 : NF_LDOUBLE)
#define NF_KIND_BOOL(ctype) NF_BOOL
#define NF_SIGNED_INT(ctype) NF_IS_SIGNED_INT(ctype)
#define NF_SIGNED_FLOAT(ctype) 1
#define NF_SIGNED_BOOL(ctype) 0

static int make_scalars(void)
{
    const struct {
        const char *name;
        nf_kind kind;
        Py_ssize_t size, align;
        int is_signed;
    } rows[] = {
#define NF_SCALAR(name, ctype, cat, py) \
    {#name, NF_KIND_##cat(ctype), sizeof(ctype), _Alignof(ctype), NF_SIGNED_##cat(ctype)},
#include "native_types.def"
#undef NF_SCALAR
    };
    for (int i = 0; i < NF_T_COUNT; i++) {
        nf_ctype *t = nf_ctype_alloc(rows[i].kind, rows[i].name);
        if (!t)
            return -1;
        t->scalar = i;
        t->size = rows[i].size;
        t->align = rows[i].align;
        t->is_signed = rows[i].is_signed;
        t->ffi = scalar_ffi(rows[i].kind);
        nf_scalar_types[i] = t;
    }
    nf_void_type = nf_ctype_alloc(NF_VOID, "Void");
    if (!nf_void_type)
        return -1;
    nf_void_type->ffi = &ffi_type_void;
    nf_void_type->align = 1;
    return 0;
}

/* -- Factories --------------------------------------------------------- */

nf_ctype *nf_pointer_type(nf_ctype *target, PyObject *pyclass)
{
    PyObject *name = target ? PyUnicode_FromFormat("Pointer[%U]", target->name) : NULL;
    if (target && !name)
        return NULL;
    nf_ctype *t = nf_ctype_alloc(NF_POINTER, "Pointer");
    if (!t) {
        Py_XDECREF(name);
        return NULL;
    }
    if (name)
        Py_SETREF(t->name, name);
    t->size = sizeof(void *);
    t->align = _Alignof(void *);
    t->ffi = &ffi_type_pointer;
    t->target = (nf_ctype *)Py_XNewRef((PyObject *)target);
    t->pyclass = Py_XNewRef(pyclass);
    return t;
}

static PyObject *m_scalar_types(PyObject *m, PyObject *unused)
{
    PyObject *d = PyDict_New();
    for (int i = 0; d && i < NF_T_COUNT; i++) {
        if (PyDict_SetItem(d, nf_scalar_types[i]->name, (PyObject *)nf_scalar_types[i]) < 0)
            Py_CLEAR(d);
    }
    return d;
}

static PyObject *m_pointer_type(PyObject *m, PyObject *args)
{
    PyObject *target, *name = NULL;
    if (!PyArg_ParseTuple(args, "O|U:pointer_type", &target, &name))
        return NULL;
    if (target != Py_None && !nf_ctype_check(target)) {
        PyErr_SetString(PyExc_TypeError, "pointer_type(target): target must be a CType or None");
        return NULL;
    }
    nf_ctype *t = nf_pointer_type(target == Py_None ? NULL : (nf_ctype *)target, NULL);
    if (t && name)
        Py_SETREF(t->name, Py_NewRef(name));
    return (PyObject *)t;
}

static PyObject *m_set_pointer_target(PyObject *m, PyObject *args)
{
    nf_ctype *p, *target;
    if (!PyArg_ParseTuple(args, "O!O!:set_pointer_target", &nf_CType_Type, &p, &nf_CType_Type, &target))
        return NULL;
    if (p->kind != NF_POINTER || p->target) {
        PyErr_SetString(PyExc_ValueError, "set_pointer_target: not an unresolved pointer type");
        return NULL;
    }
    PyObject *name = PyUnicode_FromFormat("Pointer[%U]", target->name);
    if (!name)
        return NULL;
    p->target = (nf_ctype *)Py_NewRef(target);
    Py_SETREF(p->name, name);
    Py_RETURN_NONE;
}

nf_ctype *nf_types_promoted(nf_ctype *t)
{
    switch (t->kind) {
    case NF_F32: return nf_scalar_types[NF_T_Double];
    case NF_I8: case NF_I16: case NF_U8: case NF_U16: case NF_BOOL: return nf_scalar_types[NF_T_Int];
    default: return t;
    }
}

nf_ctype *nf_types_param_wire(nf_ctype *ft, Py_ssize_t i)
{
    nf_ctype *t = (nf_ctype *)PyTuple_GET_ITEM(ft->params, i);
    return i >= ft->nfixed ? nf_types_promoted(t) : t;
}

/* Function types made so far, by (return type, nfixed, parameter types): equal type expressions give one CType, so
   that everything keyed by a CType (pointer classes, bindings) is made once. Holds what it caches for good. */
static PyObject *function_types;

/* The name of a signature: "NativeFunction[[Int64, Double], Int64]". New reference, NULL with an exception. */
static PyObject *function_name(PyObject *params, Py_ssize_t nfixed, nf_ctype *ret)
{
    Py_ssize_t n = PyTuple_GET_SIZE(params);
    PyObject *names = PyList_New(n);
    if (!names)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        PyList_SET_ITEM(names, i, Py_NewRef(((nf_ctype *)PyTuple_GET_ITEM(params, i))->name));
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *joined = sep ? PyUnicode_Join(sep, names) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(names);
    if (!joined)
        return NULL;
    PyObject *name = PyUnicode_FromFormat("NativeFunction[[%U%s], %U]", joined, nfixed < n ? " (variadic)" : "",
                                          ret->name);
    Py_DECREF(joined);
    return name;
}

/* Refuses a signature whose by-value compounds pass NF_BYVALUE_MAX (see types.h). 0, or -1 with a TypeError. */
static int check_byvalue_sizes(PyObject *name, PyObject *params, nf_ctype *ret)
{
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(params); i++) {
        nf_ctype *p = (nf_ctype *)PyTuple_GET_ITEM(params, i);
        if (NF_IS_COMPOUND(p->kind) && nf_size_add(total, p->size, &total) < 0)
            total = PY_SSIZE_T_MAX;
    }
    if (total > NF_BYVALUE_MAX) {
        PyErr_Format(PyExc_TypeError, "the by-value arguments of %U take %zd bytes; the limit is %zd bytes (a by-value "
                     "struct is copied on the native stack): pass large structs by Pointer", name, total,
                     NF_BYVALUE_MAX);
        return -1;
    }
    if (NF_IS_COMPOUND(ret->kind) && ret->size > NF_BYVALUE_MAX) {
        PyErr_Format(PyExc_TypeError, "%U returns %U by value (%zd bytes); the limit is %zd bytes (a by-value struct "
                     "is copied on the native stack): return large structs through a Pointer parameter", name,
                     ret->name, ret->size, NF_BYVALUE_MAX);
        return -1;
    }
    return 0;
}

static PyObject *m_function_type(PyObject *m, PyObject *args)
{
    PyObject *params;
    nf_ctype *ret;
    Py_ssize_t nfixed;
    if (!PyArg_ParseTuple(args, "O!O!n:function_type", &PyTuple_Type, &params, &nf_CType_Type, &ret, &nfixed))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(params);
    if (nfixed < 0 || nfixed > n) {
        PyErr_SetString(PyExc_ValueError, "function_type: nfixed out of range");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!nf_ctype_check(PyTuple_GET_ITEM(params, i))) {
            PyErr_SetString(PyExc_TypeError, "function_type: parameters must be CTypes");
            return NULL;
        }
    PyObject *key = Py_BuildValue("(OnO)", ret, nfixed, params);
    if (!key)
        return NULL;
    PyObject *cached = PyDict_GetItemWithError(function_types, key);
    if (cached || PyErr_Occurred()) {
        Py_DECREF(key);
        return Py_XNewRef(cached);
    }
    nf_ctype *t = NULL;
    PyObject *name = function_name(params, nfixed, ret);
    if (!name || check_byvalue_sizes(name, params, ret) < 0 || !(t = nf_ctype_alloc(NF_FUNCTION, "NativeFunction")))
        goto done;
    Py_SETREF(t->name, Py_NewRef(name));
    t->params = Py_NewRef(params);
    t->nfixed = nfixed;
    t->variadic = nfixed < n;
    t->ret = (nf_ctype *)Py_NewRef(ret);
    t->align = 1;
    /* keep the first if a finalizer run by an allocation above made the same type meanwhile */
    cached = PyDict_SetDefault(function_types, key, (PyObject *)t);
    Py_SETREF(t, (nf_ctype *)Py_XNewRef(cached));
done:
    Py_XDECREF(name);
    Py_DECREF(key);
    return (PyObject *)t;
}

static PyObject *m_opaque_type(PyObject *m, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s:opaque_type", &name))
        return NULL;
    nf_ctype *t = nf_ctype_alloc(NF_OPAQUE, name);
    if (t)
        t->align = 1;
    return (PyObject *)t;
}

/* -- Type expressions read without running Python code ---------------- */

static PyTypeObject *annotated_type;  /* typing._AnnotatedAlias (the type of Int32), set by types.py */
static PyObject *native_type_fn;      /* nativeffi.types.native_type: the full resolver, with its messages */
static PyObject *native_attr;         /* interned "__native__" */
static PyObject *metadata_attr;       /* interned "__metadata__" */

/* Annotated aliases read recently, by address: strong references, replaced on collision. */
#define NF_RECENT_ALIASES 64
static struct recent_alias {
    PyObject *alias;     /* the Annotated alias (Int32, or a user's Annotated[int, ct]) */
    nf_ctype *ct;        /* its CType */
} recent_aliases[NF_RECENT_ALIASES];

/* A CType or NULL, from a borrowed lookup result. */
static nf_ctype *as_ctype(PyObject *o) { return o && nf_ctype_check(o) ? (nf_ctype *)o : NULL; }

nf_ctype *nf_ctype_of(PyObject *expr)
{
    if (nf_ctype_check(expr))
        return (nf_ctype *)expr;
    PyTypeObject *tp = Py_TYPE(expr);
    if (tp == annotated_type) {
        /* Int32 and its kind: a small cache by identity first (it holds the alias, so its address stays its own;
           an alias's metadata does not change), then its own attribute (generic lookup: typing's __getattr__
           hook never runs); Bits[...] has two items and no CType of its own */
        struct recent_alias *r = &recent_aliases[((uintptr_t)expr >> 4) % NF_RECENT_ALIASES];
        if (r->alias == expr)
            return r->ct;
        PyObject *meta = PyObject_GenericGetAttr(expr, metadata_attr);
        if (!meta) {
            PyErr_Clear();
            return NULL;
        }
        nf_ctype *t = PyTuple_Check(meta) && PyTuple_GET_SIZE(meta) == 1 ? as_ctype(PyTuple_GET_ITEM(meta, 0)) : NULL;
        Py_DECREF(meta);  /* still held by the alias, which the caller holds */
        if (t) {
            PyObject *old_alias = r->alias, *old_ct = (PyObject *)r->ct;
            r->alias = Py_NewRef(expr);
            r->ct = (nf_ctype *)Py_NewRef(t);
            Py_XDECREF(old_alias);  /* last: a finalizer run here sees the cache consistent */
            Py_XDECREF(old_ct);
        }
        return t;
    }
    if (PyType_Check(expr)) {
        PyObject *d = ((PyTypeObject *)expr)->tp_dict;
        PyObject *t = d ? PyDict_GetItemWithError(d, native_attr) : NULL;
        if (!t)
            PyErr_Clear();
        return as_ctype(t);
    }
    if (tp->tp_getattro != PyObject_GenericGetAttr || expr == Py_None)
        return NULL;
    PyObject *t = PyObject_GenericGetAttr(expr, native_attr);
    if (!t) {
        PyErr_Clear();
        return NULL;
    }
    nf_ctype *ct = as_ctype(t);
    Py_DECREF(t);  /* held by the expression's __dict__ */
    return ct;
}

nf_ctype *nf_ctype_resolve(PyObject *expr, const char *what)
{
    nf_ctype *t = nf_ctype_of(expr);
    if (t)
        return (nf_ctype *)Py_NewRef(t);
    if (!native_type_fn) {
        PyErr_SetString(PyExc_RuntimeError, "nativeffi: the type resolver is not registered");
        return NULL;
    }
    PyObject *whatstr = PyUnicode_FromString(what);
    PyObject *r = whatstr ? PyObject_CallFunctionObjArgs(native_type_fn, expr, whatstr, NULL) : NULL;
    Py_XDECREF(whatstr);
    if (r && !nf_ctype_check(r)) {
        PyErr_Format(PyExc_TypeError, "native_type() returned %.200s, not a CType", Py_TYPE(r)->tp_name);
        Py_CLEAR(r);
    }
    return (nf_ctype *)r;
}

static PyObject *m_ctype_of(PyObject *m, PyObject *expr)
{
    nf_ctype *t = nf_ctype_of(expr);
    return Py_NewRef(t ? (PyObject *)t : Py_None);
}

static PyObject *m_set_type_hooks(PyObject *m, PyObject *args)
{
    PyObject *fn, *alias;
    if (!PyArg_ParseTuple(args, "OO!:_set_type_hooks", &fn, &PyType_Type, &alias))
        return NULL;
    Py_XSETREF(native_type_fn, Py_NewRef(fn));
    Py_XSETREF(annotated_type, (PyTypeObject *)Py_NewRef(alias));
    Py_RETURN_NONE;
}

PyMethodDef nf_types_methods[] = {
    {"ctype_of", m_ctype_of, METH_O,
     "ctype_of(expr) -> the CType of a type expression read without running Python code, or None."},
    {"_set_type_hooks", m_set_type_hooks, METH_VARARGS,
     "_set_type_hooks(resolve, annotated_alias_type): registers resolve(expr, what) -> CType (the Python layer's\n"
     "native_type, with its messages) and the type of typing's Annotated aliases."},
    {"scalar_types", m_scalar_types, METH_NOARGS, "scalar_types() -> dict of name to CType, in table order."},
    {"pointer_type", m_pointer_type, METH_VARARGS,
     "pointer_type(target, name=None) -> CType of a pointer to target (None: forward reference)."},
    {"set_pointer_target", m_set_pointer_target, METH_VARARGS,
     "set_pointer_target(ptype, target): resolve a forward-referenced pointer type."},
    {"function_type", m_function_type, METH_VARARGS,
     "function_type(params, ret, nfixed) -> CType of a native function signature."},
    {"opaque_type", m_opaque_type, METH_VARARGS, "opaque_type(name) -> CType of an opaque type."},
    {NULL},
};

static int add_size_constant(PyObject *module, const char *name, Py_ssize_t value)
{
    PyObject *v = PyLong_FromSsize_t(value);
    int r = v ? PyModule_AddObjectRef(module, name, v) : -1;
    Py_XDECREF(v);
    return r;
}

int nf_types_init(PyObject *module)
{
    if (PyType_Ready(&nf_CType_Type) < 0 || make_scalars() < 0 || !(function_types = PyDict_New()) ||
        !(native_attr = PyUnicode_InternFromString("__native__")) ||
        !(metadata_attr = PyUnicode_InternFromString("__metadata__")))
        return -1;
    if (PyModule_AddObjectRef(module, "CType", (PyObject *)&nf_CType_Type) < 0 ||
        add_size_constant(module, "SIZE_MAX", NF_SIZE_MAX) < 0 ||
        add_size_constant(module, "BYVALUE_MAX", NF_BYVALUE_MAX) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "void_type", (PyObject *)nf_void_type);
}
