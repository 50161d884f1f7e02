/* Type expressions at the cost of a dictionary hit: Pointer[T], Box[T], Array[T, n], NativeFunction[[...], R].
 *
 * A TypeExpression is the __class_getitem__ of one of those classes: a callable object (no __get__, so the
 * class lookup calls it with the item alone). It reads the item's CTypes with nf_ctype_of, without running
 * Python code, makes a key of them, and returns what it made for that key before. On a miss, or for items it
 * cannot key (a forward reference by name, VarArgs, anything wrong), it calls the Python function that checks
 * the item and makes the result (with the messages), and remembers a result made for a key. Results are kept
 * for good, as the pointer classes always were: a key is made of CTypes and lengths, which grow only with the
 * distinct types a program names. */
#include "expr.h"

/* How the item of an expression is keyed. */
typedef enum {
    SHAPE_TYPE,       /* Pointer[T], Box[T]: the CType of T */
    SHAPE_ARRAY,      /* Array[T, n, ...]: (CType of T, n, ...) with exact int lengths */
    SHAPE_SIGNATURE,  /* NativeFunction[[A, ...], R]: (CType of R, CType of A, ...) */
} nf_shape;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    nf_shape shape;   /* how items are keyed */
    PyObject *made;   /* dict: key -> what `make` returned for an item of that key */
    PyObject *make;   /* make(item): the Python function that checks the item and makes the result */
} nf_expr;

/* The key of `item`: new reference, or NULL with no exception when it has none (the maker decides). */
static PyObject *key_of(nf_shape shape, PyObject *item)
{
    nf_ctype *t;
    if (shape == SHAPE_TYPE) {
        t = nf_ctype_of(item);
        return t ? Py_NewRef(t) : NULL;
    }
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 2)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(item);
    if (shape == SHAPE_ARRAY) {
        if (!(t = nf_ctype_of(PyTuple_GET_ITEM(item, 0))))
            return NULL;
        for (Py_ssize_t i = 1; i < n; i++)
            if (!PyLong_CheckExact(PyTuple_GET_ITEM(item, i)))
                return NULL;
        PyObject *key = PyTuple_New(n);
        if (!key) {
            PyErr_Clear();
            return NULL;
        }
        PyTuple_SET_ITEM(key, 0, Py_NewRef(t));
        for (Py_ssize_t i = 1; i < n; i++)
            PyTuple_SET_ITEM(key, i, Py_NewRef(PyTuple_GET_ITEM(item, i)));
        return key;
    }
    PyObject *params = PyTuple_GET_ITEM(item, 0);
    if (n != 2 || !(PyList_Check(params) || PyTuple_Check(params)) || !(t = nf_ctype_of(PyTuple_GET_ITEM(item, 1))))
        return NULL;
    Py_ssize_t np = PySequence_Fast_GET_SIZE(params);
    PyObject *key = PyTuple_New(np + 1);
    if (!key) {
        PyErr_Clear();
        return NULL;
    }
    PyTuple_SET_ITEM(key, 0, Py_NewRef(t));
    for (Py_ssize_t i = 0; i < np; i++) {
        nf_ctype *p = nf_ctype_of(PySequence_Fast_GET_ITEM(params, i));  /* VarArgs[...] has none: no key */
        if (!p) {
            Py_DECREF(key);
            return NULL;
        }
        PyTuple_SET_ITEM(key, i + 1, Py_NewRef(p));
    }
    return key;
}

PyObject *nf_expr_get(PyObject *self, PyObject *item)
{
    nf_expr *e = (nf_expr *)self;
    PyObject *key = key_of(e->shape, item);
    if (key) {
        PyObject *hit = PyDict_GetItemWithError(e->made, key);
        if (hit || PyErr_Occurred()) {
            Py_DECREF(key);
            return Py_XNewRef(hit);
        }
    }
    PyObject *r = PyObject_CallOneArg(e->make, item);
    if (r && key)  /* the first one made wins if another thread made one meanwhile */
        Py_SETREF(r, Py_XNewRef(PyDict_SetDefault(e->made, key, r)));
    Py_XDECREF(key);
    return r;
}

static PyObject *expr_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "a type expression takes one item: T[item]");
        return NULL;
    }
    return nf_expr_get(self, args[0]);
}

static PyObject *expr_new(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"shape", "make", NULL};
    const char *shape;
    PyObject *make;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sO:TypeExpression", kwlist, &shape, &make))
        return NULL;
    nf_shape s;
    if (!strcmp(shape, "type"))
        s = SHAPE_TYPE;
    else if (!strcmp(shape, "array"))
        s = SHAPE_ARRAY;
    else if (!strcmp(shape, "signature"))
        s = SHAPE_SIGNATURE;
    else {
        PyErr_Format(PyExc_ValueError, "TypeExpression: shape must be 'type', 'array' or 'signature', got %R",
                     PyTuple_GET_ITEM(args, 0));
        return NULL;
    }
    if (!PyCallable_Check(make)) {
        PyErr_SetString(PyExc_TypeError, "TypeExpression: make must be callable");
        return NULL;
    }
    nf_expr *e = (nf_expr *)cls->tp_alloc(cls, 0);
    if (!e)
        return NULL;
    e->vectorcall = expr_vectorcall;
    e->shape = s;
    e->make = Py_NewRef(make);
    if (!(e->made = PyDict_New()))
        Py_CLEAR(e);
    return (PyObject *)e;
}

static void expr_dealloc(nf_expr *e)
{
    PyObject_GC_UnTrack(e);
    Py_XDECREF(e->made);
    Py_XDECREF(e->make);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

static int expr_traverse(nf_expr *e, visitproc visit, void *arg)
{
    Py_VISIT(e->made);
    Py_VISIT(e->make);
    return 0;
}

static int expr_clear(nf_expr *e)
{
    Py_CLEAR(e->made);
    Py_CLEAR(e->make);
    return 0;
}

/* -- The metaclass: C[item] without the __class_getitem__ attribute lookup ------------------------------- */

static PyObject *class_getitem_attr;  /* interned "__class_getitem__" */

/* C[item] for a class of this metaclass: the TypeExpression in the class's own dict, called at once; anything
   else (a concrete Pointer[T] class's refusal) through the attribute, as CPython would. */
static PyObject *meta_subscript(PyObject *cls, PyObject *item)
{
    PyObject *d = ((PyTypeObject *)cls)->tp_dict;
    PyObject *e = d ? PyDict_GetItemWithError(d, class_getitem_attr) : NULL;  /* borrowed, held by the class */
    if (e && nf_expr_check(e))
        return nf_expr_get(e, item);
    if (PyErr_Occurred())
        return NULL;
    PyObject *fn = PyObject_GetAttr(cls, class_getitem_attr);
    PyObject *r = fn ? PyObject_CallOneArg(fn, item) : NULL;
    Py_XDECREF(fn);
    return r;
}

static PyMappingMethods meta_as_mapping = {.mp_subscript = meta_subscript};

PyTypeObject nf_TypeExpressionMeta_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core.TypeExpressionMeta",
    .tp_doc = "The metaclass of Pointer, Box, Array and NativeFunction: C[item] calls the class's own\n"
              "TypeExpression without looking __class_getitem__ up as an attribute.",
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,  /* GC and the type flags come from type */
    .tp_as_mapping = &meta_as_mapping,
};

static PyMemberDef expr_members[] = {
    {"made", T_OBJECT, offsetof(nf_expr, made), READONLY, "dict: key -> what make() returned for it"},
    {"make", T_OBJECT, offsetof(nf_expr, make), READONLY, "make(item): checks an item and makes its value"},
    {NULL},
};

PyTypeObject nf_TypeExpression_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core.TypeExpression",
    .tp_doc = "TypeExpression(shape, make): a __class_getitem__ that remembers make(item) by the item's CTypes\n"
              "(shape 'type': T; 'array': (T, n, ...); 'signature': ([A, ...], R)).",
    .tp_basicsize = sizeof(nf_expr),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(nf_expr, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = expr_new,
    .tp_dealloc = (destructor)expr_dealloc,
    .tp_traverse = (traverseproc)expr_traverse,
    .tp_clear = (inquiry)expr_clear,
    .tp_members = expr_members,
};

int nf_expr_init(PyObject *module)
{
    nf_TypeExpressionMeta_Type.tp_base = &PyType_Type;
    if (!(class_getitem_attr = PyUnicode_InternFromString("__class_getitem__")) ||
        PyType_Ready(&nf_TypeExpression_Type) < 0 || PyType_Ready(&nf_TypeExpressionMeta_Type) < 0)
        return -1;
    if (PyModule_AddObjectRef(module, "TypeExpressionMeta", (PyObject *)&nf_TypeExpressionMeta_Type) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "TypeExpression", (PyObject *)&nf_TypeExpression_Type);
}
