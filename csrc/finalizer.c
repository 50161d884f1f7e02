/* Native finalizers (Dart's NativeFinalizer): a native function run with a token when an object dies, or at exit. */
#include "finalizer.h"
#include "sizes.h"

/*
 * One attachment, step by step:
 *
 * 1. attach(obj, token) allocates a node (raw malloc: plain C, read at exit when no Python object may be touched)
 *    holding the function and the token, links it at the head of the one list of pending nodes, and makes a
 *    weak reference to obj whose callback is the attachment object itself (a C callable: no Python code runs).
 *    The node holds the attachment, the attachment holds the weak reference, so the weak reference (whose
 *    callback CPython calls only while the reference itself lives) lives as long as the node is pending.
 * 2. obj dies (its last reference goes, or the cycle collector frees it): CPython clears the weak reference,
 *    drops its callback pointer (so the attachment <-> weak reference cycle is gone) and calls the attachment.
 *    It unlinks the node (under the GIL), then calls fn(token) with the GIL released (kept during interpreter
 *    finalization, where only the finalizing thread may run).
 * 3. detach(key) unlinks the nodes of this finalizer attached with that key and drops their weak references,
 *    so their callbacks are never called.
 * 4. At exit (Py_AtExit: after the interpreter is finalized, when no Python code can run any more), the nodes
 *    still pending are run, newest attachment first, without the GIL (nothing else runs then).
 *
 * A node is unlinked and its function run at most once: every path unlinks under the GIL before it calls, and
 * the exit path runs after every other.
 */

/* A pending attachment, in plain C memory. */
typedef struct nf_fin_node {
    struct nf_fin_node *prev, *next; /* the list of pending nodes (sentinel `pending`), newest first */
    void (*fn)(void *);              /* the native finalizer function */
    void *token;                     /* its argument */
    PyObject *attachment;            /* strong: the attachment object (never read at exit) */
} nf_fin_node;

static nf_fin_node pending = {&pending, &pending, NULL, NULL, NULL};
static Py_ssize_t total_external;    /* external sizes of every pending attachment */

/* The finalizer: a native function and its attachments' detach keys and sizes. */
typedef struct {
    PyObject_HEAD
    void (*fn)(void *);              /* the native function, void (*)(void *) */
    PyObject *keys;                  /* dict: id(detach key) -> set of attachments made with that key */
    Py_ssize_t external;             /* external sizes of this finalizer's pending attachments */
    Py_ssize_t count;                /* this finalizer's pending attachments */
} nf_finalizer;

/* One attach() call: what step 2 or 3 needs to undo it. */
typedef struct {
    PyObject_HEAD
    nf_fin_node *node;               /* pending node, NULL once run or detached */
    nf_finalizer *finalizer;         /* strong: the finalizer attached */
    PyObject *ref;                   /* weak reference to the object, with this attachment as its callback */
    PyObject *key;                   /* weak reference to the detach key, or NULL */
    PyObject *key_id;                /* id(detach key) as an int, or NULL */
    Py_ssize_t external;             /* external size given to attach() */
} nf_attachment;

static PyTypeObject attachment_type;

/* Calls fn(token) without the GIL where that is allowed (not while the interpreter finalizes). */
static void run_native(void (*fn)(void *), void *token)
{
#if PY_VERSION_HEX >= 0x030D0000
    int finalizing = Py_IsFinalizing();
#else
    int finalizing = _Py_IsFinalizing();
#endif
    if (finalizing) {
        fn(token);
        return;
    }
    Py_BEGIN_ALLOW_THREADS
    fn(token);
    Py_END_ALLOW_THREADS
}

/* Unlinks a pending attachment: node, sizes, detach key. Under the GIL; never fails (a failed set or dict removal,
   which needs memory it does not, is cleared). The caller owns a reference to `a`. */
static void attachment_unlink(nf_attachment *a)
{
    nf_fin_node *n = a->node;
    nf_finalizer *f = a->finalizer;
    a->node = NULL;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    total_external -= a->external;
    f->external -= a->external;
    f->count--;
    if (a->key_id) {
        PyObject *set = PyDict_GetItemWithError(f->keys, a->key_id);
        if (set && PySet_Discard(set, (PyObject *)a) >= 0 && PySet_GET_SIZE(set) == 0)
            PyDict_DelItem(f->keys, a->key_id);
        PyErr_Clear();
    }
    Py_DECREF(n->attachment);  /* the caller's reference keeps `a` */
    free(n);
}

/* Step 2: the weak reference's callback, called by CPython when the object dies. */
static PyObject *attachment_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    nf_attachment *a = (nf_attachment *)self;
    if (!a->node)
        Py_RETURN_NONE;
    void (*fn)(void *) = a->node->fn;
    void *token = a->node->token;
    attachment_unlink(a);
    run_native(fn, token);
    Py_RETURN_NONE;
}

static void attachment_dealloc(PyObject *self)
{
    nf_attachment *a = (nf_attachment *)self;
    Py_XDECREF(a->ref);
    Py_XDECREF(a->key);
    Py_XDECREF(a->key_id);
    Py_XDECREF(a->finalizer);
    Py_TYPE(self)->tp_free(self);
}

static PyTypeObject attachment_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core._Attachment",
    .tp_basicsize = sizeof(nf_attachment),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One attachment of a native finalizer (the callback of a weak reference to the object).",
    .tp_call = attachment_call,
    .tp_dealloc = attachment_dealloc,
};

/* -- The Finalizer type -------------------------------------------------------------------------------------- */

static int finalizer_init(PyObject *self, PyObject *args, PyObject *kwargs)
{
    nf_finalizer *f = (nf_finalizer *)self;
    static char *kwlist[] = {"address", NULL};
    PyObject *addr;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Finalizer", kwlist, &addr))
        return -1;
    if (!PyLong_Check(addr)) {
        PyErr_Format(PyExc_TypeError, "Finalizer() expected the int address of a native function, got %.200s",
                     Py_TYPE(addr)->tp_name);
        return -1;
    }
    void *p = PyLong_AsVoidPtr(addr);
    if (!p) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "Finalizer() needs a native function, got the null address");
        return -1;
    }
    if (f->fn) {
        PyErr_SetString(PyExc_TypeError, "Finalizer.__init__() called twice");
        return -1;
    }
    if (!f->keys && !(f->keys = PyDict_New()))
        return -1;
    f->fn = (void (*)(void *))p;
    return 0;
}

/* A new weak reference to `obj` (with `callback`), or NULL with a TypeError naming what must support them. */
static PyObject *weak_ref(PyObject *obj, PyObject *callback, const char *what)
{
    PyObject *r = PyWeakref_NewRef(obj, callback);
    if (!r && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "attach() needs %s that supports weak references, got %.200s; subclass nativeffi.Finalizable "
                     "(or give a class with __slots__ a '__weakref__' slot)", what, Py_TYPE(obj)->tp_name);
    }
    return r;
}

/* Step 1. */
static PyObject *finalizer_attach(PyObject *self, PyObject *args, PyObject *kwargs)
{
    nf_finalizer *f = (nf_finalizer *)self;
    static char *kwlist[] = {"obj", "token", "detach", "external_size", NULL};
    PyObject *obj, *token_obj, *key = Py_None, *size_obj = NULL;
    Py_ssize_t size = 0, new_total, new_own;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OO:attach", kwlist, &obj, &token_obj, &key, &size_obj))
        return NULL;
    if (!f->fn) {
        PyErr_SetString(PyExc_TypeError, "attach() on a Finalizer that was not initialised");
        return NULL;
    }
    if (!PyLong_Check(token_obj)) {
        PyErr_Format(PyExc_TypeError, "attach() expected an int token address, got %.200s",
                     Py_TYPE(token_obj)->tp_name);
        return NULL;
    }
    void *token = PyLong_AsVoidPtr(token_obj);
    if (!token && PyErr_Occurred())
        return NULL;
    if (size_obj && size_obj != Py_None) {
        if (!PyLong_Check(size_obj)) {
            PyErr_Format(PyExc_TypeError, "attach() expected an int external_size, got %.200s",
                         Py_TYPE(size_obj)->tp_name);
            return NULL;
        }
        if (nf_count_from_object(size_obj, "external_size", &size) < 0)
            return NULL;
    }
    if (size > NF_SIZE_MAX || nf_size_add(total_external, size, &new_total) < 0 || new_total > NF_SIZE_MAX
        || nf_size_add(f->external, size, &new_own) < 0) {
        PyErr_Format(PyExc_OverflowError, "attach(): external_size %zd brings the native memory held past "
                     NF_SIZE_MAX_TEXT " bytes", size);
        return NULL;
    }
    nf_attachment *a = PyObject_New(nf_attachment, &attachment_type);
    if (!a)
        return NULL;
    a->node = NULL;
    a->finalizer = (nf_finalizer *)Py_NewRef(self);
    a->ref = a->key = a->key_id = NULL;
    a->external = size;
    PyObject *set = NULL;
    if (key != Py_None) {
        if (!(a->key = weak_ref(key, NULL, "a detach key")) || !(a->key_id = PyLong_FromVoidPtr(key)))
            goto fail;
        set = PyDict_GetItemWithError(f->keys, a->key_id);
        if (!set) {
            if (PyErr_Occurred() || !(set = PySet_New(NULL)))
                goto fail;
            int r = PyDict_SetItem(f->keys, a->key_id, set);
            Py_DECREF(set);  /* the dict holds it */
            if (r < 0)
                goto fail;
        }
        if (PySet_Add(set, (PyObject *)a) < 0)
            goto fail;
    }
    if (!(a->ref = weak_ref(obj, (PyObject *)a, "an object")))
        goto fail_key;
    nf_fin_node *n = malloc(sizeof *n);
    if (!n) {
        PyErr_NoMemory();
        Py_CLEAR(a->ref);  /* its callback is `a` */
        goto fail_key;
    }
    n->fn = f->fn;
    n->token = token;
    n->attachment = Py_NewRef(a);
    n->prev = &pending;
    n->next = pending.next;
    pending.next->prev = n;
    pending.next = n;
    a->node = n;
    total_external = new_total;
    f->external = new_own;
    f->count++;
    Py_DECREF(a);
    Py_RETURN_NONE;
fail_key:
    if (set) {
        if (PySet_Discard(set, (PyObject *)a) >= 0 && PySet_GET_SIZE(set) == 0)
            PyDict_DelItem(f->keys, a->key_id);
    }
fail:
    Py_DECREF(a);
    return NULL;
}

/* Whether the weak reference `ref` refers to `obj` (alive). */
static int refers_to(PyObject *ref, PyObject *obj)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *target;
    if (PyWeakref_GetRef(ref, &target) < 0) {
        PyErr_Clear();
        return 0;
    }
    Py_XDECREF(target);
    return target == obj;
#else
    return PyWeakref_GET_OBJECT(ref) == obj;
#endif
}

/* Step 3: detaches every pending attachment of this finalizer made with `key` (by identity); returns how many. */
static PyObject *finalizer_detach(PyObject *self, PyObject *key)
{
    nf_finalizer *f = (nf_finalizer *)self;
    PyObject *id = PyLong_FromVoidPtr(key);
    if (!id)
        return NULL;
    PyObject *set = f->keys ? PyDict_GetItemWithError(f->keys, id) : NULL;
    Py_DECREF(id);
    if (!set)
        return PyErr_Occurred() ? NULL : PyLong_FromLong(0);
    PyObject *found = PySequence_List(set);  /* unlinking edits the set */
    if (!found)
        return NULL;
    long n = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(found); i++) {
        nf_attachment *a = (nf_attachment *)PyList_GET_ITEM(found, i);
        if (!a->node || !refers_to(a->key, key))  /* another object that had key's id */
            continue;
        attachment_unlink(a);
        Py_CLEAR(a->ref);  /* the weak reference goes, and its callback with it */
        n++;
    }
    Py_DECREF(found);
    return PyLong_FromLong(n);
}

static void finalizer_dealloc(PyObject *self)
{
    Py_XDECREF(((nf_finalizer *)self)->keys);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *finalizer_address(PyObject *self, void *c)
{
    return PyLong_FromVoidPtr((void *)((nf_finalizer *)self)->fn);
}

static PyObject *finalizer_external(PyObject *self, void *c)
{
    return PyLong_FromSsize_t(((nf_finalizer *)self)->external);
}

static PyObject *finalizer_pending(PyObject *self, void *c)
{
    return PyLong_FromSsize_t(((nf_finalizer *)self)->count);
}

static PyMethodDef finalizer_methods[] = {
    {"attach", (PyCFunction)(void (*)(void))finalizer_attach, METH_VARARGS | METH_KEYWORDS,
     "attach(obj, token, detach=None, external_size=0): run the native function with token (an int address) when\n"
     "obj dies, or at exit. obj and detach are held by weak references."},
    {"detach", finalizer_detach, METH_O,
     "detach(key) -> int: forget the pending attachments made with detach=key (by identity); how many there were."},
    {NULL},
};

static PyGetSetDef finalizer_getset[] = {
    {"address", finalizer_address, NULL, "The address of the native function.", NULL},
    {"external_size", finalizer_external, NULL, "The external sizes of this finalizer's pending attachments.", NULL},
    {"pending", finalizer_pending, NULL, "How many attachments of this finalizer have not run yet.", NULL},
    {NULL},
};

static PyTypeObject finalizer_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core.Finalizer",
    .tp_basicsize = sizeof(nf_finalizer),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Finalizer(address): runs the native function void f(void *) with a token when an attached object dies\n"
              "or at exit; see nativeffi.NativeFinalizer.",
    .tp_new = PyType_GenericNew,
    .tp_init = finalizer_init,
    .tp_dealloc = finalizer_dealloc,
    .tp_methods = finalizer_methods,
    .tp_getset = finalizer_getset,
};

/* -- Exit and module functions ------------------------------------------------------------------------------- */

/* Step 4: after finalization, no GIL, no Python objects touched. Nodes stay allocated (the process ends). */
static void run_pending_at_exit(void)
{
    nf_fin_node *n = pending.next;
    pending.next = pending.prev = &pending;
    while (n != &pending) {
        nf_fin_node *next = n->next;
        n->fn(n->token);
        n = next;
    }
}

static PyObject *m_native_memory_held(PyObject *m, PyObject *unused)
{
    return PyLong_FromSsize_t(total_external);
}

PyMethodDef nf_finalizer_methods[] = {
    {"native_memory_held", m_native_memory_held, METH_NOARGS,
     "native_memory_held() -> the external sizes of every pending finalizer attachment, in bytes."},
    {NULL},
};

int nf_finalizer_init(PyObject *module)
{
    static int registered;
    if (PyType_Ready(&attachment_type) < 0 || PyType_Ready(&finalizer_type) < 0 ||
        PyModule_AddObjectRef(module, "Finalizer", (PyObject *)&finalizer_type) < 0)
        return -1;
    if (!registered && Py_AtExit(run_pending_at_exit) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "nativeffi: no room left to register the native finalizers' exit hook");
        return -1;
    }
    registered = 1;
    return 0;
}
