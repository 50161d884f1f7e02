/* Type expressions at the cost of a dictionary hit: Pointer[T], Box[T], Array[T, n], NativeFunction[[...], R].
 *
 * A TypeExpression is the __class_getitem__ of one of those classes: a callable object (no __get__, so the
 * class lookup calls it with the item alone). It reads the item's CTypes with nf_ctype_of, without running
 * Python code: the key's parts (CTypes, and an array's lengths). It first looks in a small direct-mapped table of
 * slots that compares those parts word for word (no key object is built, nothing is hashed by Python), then in
 * the dictionary of everything made; on a miss, or for items it cannot key (a forward reference by name, VarArgs,
 * anything wrong), it calls the Python function that checks the item and makes the result (with the messages),
 * and remembers a result made for a key. Results are kept for good, as the pointer classes always were: a key is
 * made of CTypes and lengths, which grow only with the distinct types a program names; the slots are a fixed
 * number per expression (NF_EXPR_SLOTS), each holding one dictionary key and its value. */
#include "expr.h"

/* How the item of an expression is keyed. */
typedef enum {
    SHAPE_TYPE,       /* Pointer[T], Box[T]: the CType of T */
    SHAPE_ARRAY,      /* Array[T, n, ...]: (CType of T, n, ...) with exact int lengths */
    SHAPE_SIGNATURE,  /* NativeFunction[[A, ...], R]: (CType of R, CType of A, ...) */
} nf_shape;

#define NF_EXPR_WORDS 8   /* the most parts a key may have to be remembered in a slot (7 parameters) */
#define NF_EXPR_SLOTS 32  /* slots per expression, direct-mapped: a fixed bound, a new key evicts the old */

/* A remembered key, compared word for word: the first look before the dictionary, with no key object built. */
typedef struct {
    Py_ssize_t n;                    /* words used; 0: empty */
    uintptr_t words[NF_EXPR_WORDS];  /* the key's parts: a CType's address, or a length's value */
    PyObject *key;                   /* the dictionary key this stands for: holds the CTypes, so no other
                                        CType can take their addresses while the slot names them */
    PyObject *value;                 /* made[key] */
} nf_expr_slot;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    nf_shape shape;   /* how items are keyed */
    PyObject *made;   /* dict: key -> what `make` returned for an item of that key */
    PyObject *make;   /* make(item): the Python function that checks the item and makes the result */
    nf_expr_slot slots[NF_EXPR_SLOTS];  /* the most recent keys per hash: a front of `made` */
} nf_expr;

/* The parts of `item`'s key, borrowed (CTypes and exact ints, held by the item), in parts[0..cap): their count,
   which may exceed cap (call again with room for them all), or -1 when the item has no key (the maker decides). */
static Py_ssize_t parts_of(nf_shape shape, PyObject *item, PyObject **parts, Py_ssize_t cap)
{
    nf_ctype *t;
    if (shape == SHAPE_TYPE) {
        if (!(t = nf_ctype_of(item)))
            return -1;
        parts[0] = (PyObject *)t;
        return 1;
    }
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 2)
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(item);
    if (shape == SHAPE_ARRAY) {
        if (!(t = nf_ctype_of(PyTuple_GET_ITEM(item, 0))))
            return -1;
        for (Py_ssize_t i = 1; i < n; i++)
            if (!PyLong_CheckExact(PyTuple_GET_ITEM(item, i)))
                return -1;
        parts[0] = (PyObject *)t;
        for (Py_ssize_t i = 1; i < n && i < cap; i++)
            parts[i] = PyTuple_GET_ITEM(item, i);
        return n;
    }
    PyObject *params = PyTuple_GET_ITEM(item, 0);
    if (n != 2 || !(PyList_Check(params) || PyTuple_Check(params)) || !(t = nf_ctype_of(PyTuple_GET_ITEM(item, 1))))
        return -1;
    Py_ssize_t np = PySequence_Fast_GET_SIZE(params);
    parts[0] = (PyObject *)t;
    for (Py_ssize_t i = 0; i < np; i++) {
        nf_ctype *p = nf_ctype_of(PySequence_Fast_GET_ITEM(params, i));  /* VarArgs[...] has none: no key */
        if (!p)
            return -1;
        if (i + 1 < cap)
            parts[i + 1] = (PyObject *)p;
    }
    return np + 1;
}

/* The dictionary key of parts[0..n): the CType alone for one part, else a tuple. New reference; NULL with no
   exception when it cannot be made (the maker decides). */
static PyObject *key_of(PyObject **parts, Py_ssize_t n)
{
    if (n == 1)
        return Py_NewRef(parts[0]);
    PyObject *key = PyTuple_New(n);
    if (!key) {
        PyErr_Clear();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(key, i, Py_NewRef(parts[i]));
    return key;
}

/* The slot words of parts[0..n) into words: 1, or 0 when they do not fit (too many, a length past Py_ssize_t). */
static int words_of(PyObject **parts, Py_ssize_t n, uintptr_t *words)
{
    if (n > NF_EXPR_WORDS)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (nf_ctype_check(parts[i])) {
            words[i] = (uintptr_t)parts[i];
            continue;
        }
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(parts[i], &overflow);  /* an exact int: no error but overflow */
        if (overflow)
            return 0;
        words[i] = (uintptr_t)v;  /* a length is at its place in the key, never where a CType is */
    }
    return 1;
}

static nf_expr_slot *slot_for(nf_expr *e, const uintptr_t *words, Py_ssize_t n)
{
    uint64_t h = (uint64_t)n;
    for (Py_ssize_t i = 0; i < n; i++)
        h = (h ^ words[i] ^ (words[i] >> 17)) * 0x9E3779B97F4A7C15ull;
    return &e->slots[(h >> 40) % NF_EXPR_SLOTS];
}

/* Remembers key -> value in `s` (both borrowed). Note: the old entry's references go last, so code their
   release runs sees the slot whole. */
static void slot_set(nf_expr_slot *s, const uintptr_t *words, Py_ssize_t n, PyObject *key, PyObject *value)
{
    PyObject *old_key = s->key, *old_value = s->value;
    s->key = Py_NewRef(key);
    s->value = Py_NewRef(value);
    memcpy(s->words, words, (size_t)n * sizeof *words);
    s->n = n;
    Py_XDECREF(old_key);
    Py_XDECREF(old_value);
}

PyObject *nf_expr_get(PyObject *self, PyObject *item)
{
    nf_expr *e = (nf_expr *)self;
    PyObject *small[NF_EXPR_WORDS], **parts = small;
    Py_ssize_t n = parts_of(e->shape, item, parts, NF_EXPR_WORDS);
    uintptr_t words[NF_EXPR_WORDS];
    nf_expr_slot *slot = NULL;
    if (n > 0 && words_of(parts, n, words)) {
        slot = slot_for(e, words, n);
        Py_ssize_t i = 0;
        if (slot->n == n)
            while (i < n && slot->words[i] == words[i])  /* a loop: n is small, a memcmp call costs more */
                i++;
        if (i == n)
            return Py_NewRef(slot->value);
    }
    if (n > NF_EXPR_WORDS) {  /* a long key: its parts need room of their own */
        if (!(parts = PyMem_New(PyObject *, (size_t)n)))
            return PyErr_NoMemory();
        parts_of(e->shape, item, parts, n);
    }
    PyObject *key = n > 0 ? key_of(parts, n) : NULL;
    if (parts != small)
        PyMem_Free(parts);
    PyObject *r = NULL;
    if (key) {
        PyObject *hit = PyDict_GetItemWithError(e->made, key);
        if (!hit && PyErr_Occurred()) {
            Py_DECREF(key);
            return NULL;
        }
        r = Py_XNewRef(hit);
    }
    if (!r) {
        r = PyObject_CallOneArg(e->make, item);
        if (r && key)  /* the first one made wins if another thread made one meanwhile */
            Py_SETREF(r, Py_XNewRef(PyDict_SetDefault(e->made, key, r)));
    }
    if (r && key && slot)
        slot_set(slot, words, n, key, r);
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

static int expr_traverse(nf_expr *e, visitproc visit, void *arg)
{
    Py_VISIT(e->made);
    Py_VISIT(e->make);
    for (int i = 0; i < NF_EXPR_SLOTS; i++) {
        Py_VISIT(e->slots[i].key);
        Py_VISIT(e->slots[i].value);
    }
    return 0;
}

static int expr_clear(nf_expr *e)
{
    for (int i = 0; i < NF_EXPR_SLOTS; i++) {
        e->slots[i].n = 0;
        Py_CLEAR(e->slots[i].key);
        Py_CLEAR(e->slots[i].value);
    }
    Py_CLEAR(e->made);
    Py_CLEAR(e->make);
    return 0;
}

static void expr_dealloc(nf_expr *e)
{
    PyObject_GC_UnTrack(e);
    expr_clear(e);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

/* -- The metaclass: C[item] without the __class_getitem__ attribute lookup ------------------------------- */

static PyObject *class_getitem_attr;  /* interned "__class_getitem__" */

/* C[item] for a class of this metaclass: the TypeExpression its __class_getitem__ names, called at once (the
   type attribute cache finds it: a TypeExpression has no __get__, so the attribute is the object itself); anything
   else (a concrete Pointer[T] class's refusal) through the attribute, as CPython would. */
static PyObject *meta_subscript(PyObject *cls, PyObject *item)
{
    PyObject *e = _PyType_Lookup((PyTypeObject *)cls, class_getitem_attr);  /* borrowed, held by the class */
    if (e && nf_expr_check(e))
        return nf_expr_get(e, item);
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
