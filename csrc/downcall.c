/* Calls from Python into native functions: bound function objects, their call plans, and the libffi path.
 *
 * One call, start to end:
 *   1. Binding (function_new): the signature's CTypes become a plan computed once: each argument's CType
 *      and its slot offset in a per-call argument buffer, the libffi cif, whether any argument may need a
 *      temporary (pointer parameters that accept str/buffers), and the return's storage class.
 *   2. A call enters function_vectorcall with the positional arguments (keywords are mapped to positions
 *      on a slow path).
 *   3. On the first call the address is still NULL: the Python-level resolver runs once (asset ->
 *      resolver -> process) and the address is cached.
 *   4. Each argument is converted straight into its slot (convert.c); a failure is re-raised naming the
 *      function, the parameter and the expected native type, and nothing is called.
 *   5. Non-leaf calls release the GIL (PyEval_SaveThread); leaf calls keep it.
 *   6. ffi_call runs the function with the cif prepared at bind time.
 *   7. errno is saved into thread-local storage when the binding asked for it, before anything else runs.
 *   8. The GIL is taken back, call temporaries (buffers) are released, and the return value is converted:
 *      integer returns that libffi widened to ffi_arg are narrowed back to their C type.
 */
#include "downcall.h"
#include "compound.h"
#include "convert.h"
#include <errno.h>

static _Thread_local int saved_errno;

int nf_saved_errno(void) { return saved_errno; }

#define NF_MAX_STACK_ARGS 32        /* calls with more arguments allocate their scratch on the heap */
#define NF_RET_MIN (sizeof(ffi_arg) > 16 ? sizeof(ffi_arg) : 16)

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    void *fn;                  /* the native address; NULL until the resolver has run */
    nf_ctype *ftype;           /* the FUNCTION CType */
    PyObject *name;            /* str used in messages */
    PyObject *param_names;     /* tuple of str, one per parameter */
    PyObject *resolver;        /* callable() -> int, run once while fn is NULL; or NULL */
    int is_leaf;               /* keep the GIL around the call */
    int capture_errno;         /* save errno after the call */
    int has_ptr_args;          /* some argument may need a call temporary */
    Py_ssize_t nargs;          /* number of arguments a call takes */
    nf_ctype **argt;           /* CType of each argument (borrowed from ftype->params) */
    Py_ssize_t *offsets;       /* slot offset of each argument in the argument buffer */
    Py_ssize_t bufsize;        /* size of the argument buffer */
    nf_ctype *ret;             /* return CType (borrowed from ftype) */
    Py_ssize_t retsize;        /* bytes to reserve for the return value */
    ffi_type **atypes;         /* libffi argument types */
    ffi_cif cif;               /* prepared once, at bind time */
    PyObject *weakreflist;
    PyObject *dict;            /* __doc__, __signature__, __wrapped__ set by the Python layer */
} nf_function;

/* -- Binding: the plan --------------------------------------------------- */

/* The type a variadic argument travels as after C's default argument promotions. */
static nf_ctype *promoted(nf_ctype *t)
{
    switch (t->kind) {
    case NF_F32: return nf_scalar_types[NF_T_Double];
    case NF_I8: case NF_I16: case NF_U8: case NF_U16: case NF_BOOL: return nf_scalar_types[NF_T_Int];
    default: return t;
    }
}

static int check_passable(nf_ctype *t, const char *what, Py_ssize_t i)
{
    if (t->kind == NF_VOID || t->kind == NF_OPAQUE || t->kind == NF_FUNCTION || !t->ffi) {
        PyErr_Format(PyExc_TypeError, "%s %zd has type %U, which cannot be passed by value; use a Pointer to it",
                     what, i + 1, t->name);
        return -1;
    }
    return 0;
}

static int make_plan(nf_function *f)
{
    nf_ctype *ft = f->ftype;
    Py_ssize_t n = PyTuple_GET_SIZE(ft->params);
    f->nargs = n;
    f->ret = ft->ret;
    if (f->ret->kind == NF_OPAQUE || f->ret->kind == NF_FUNCTION || !f->ret->ffi) {
        PyErr_Format(PyExc_TypeError, "return type %U cannot be returned by value; return a Pointer to it",
                     f->ret->name);
        return -1;
    }
    f->argt = PyMem_Calloc(n ? n : 1, sizeof(nf_ctype *));
    f->offsets = PyMem_Calloc(n ? n : 1, sizeof(Py_ssize_t));
    f->atypes = PyMem_Calloc(n ? n : 1, sizeof(ffi_type *));
    if (!f->argt || !f->offsets || !f->atypes) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t off = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        nf_ctype *t = (nf_ctype *)PyTuple_GET_ITEM(ft->params, i);
        if (i >= ft->nfixed)
            t = promoted(t);
        if (check_passable(t, "parameter", i) < 0)
            return -1;
        Py_ssize_t a = t->align > 8 ? t->align : 8;
        off = (off + a - 1) / a * a;
        f->argt[i] = t;
        f->offsets[i] = off;
        f->atypes[i] = t->ffi;
        off += t->size > 8 ? t->size : 8;
        f->has_ptr_args |= t->kind == NF_POINTER;
    }
    f->bufsize = off;
    f->retsize = f->ret->size > (Py_ssize_t)NF_RET_MIN ? f->ret->size : (Py_ssize_t)NF_RET_MIN;
    ffi_status st = ft->variadic
        ? ffi_prep_cif_var(&f->cif, FFI_DEFAULT_ABI, (unsigned)ft->nfixed, (unsigned)n, f->ret->ffi, f->atypes)
        : ffi_prep_cif(&f->cif, FFI_DEFAULT_ABI, (unsigned)n, f->ret->ffi, f->atypes);
    if (st != FFI_OK) {
        PyErr_Format(PyExc_TypeError, "libffi cannot call a function of type %U (ffi_prep_cif status %d)",
                     ft->name, (int)st);
        return -1;
    }
    return 0;
}

/* -- Calling --------------------------------------------------------------- */

static int resolve(nf_function *f)
{
    if (!f->resolver) {
        PyErr_Format(PyExc_RuntimeError, "%U has no address and no resolver", f->name);
        return -1;
    }
    PyObject *r = PyObject_CallNoArgs(f->resolver);
    if (!r)
        return -1;
    void *a = PyLong_Check(r) ? PyLong_AsVoidPtr(r) : NULL;
    Py_DECREF(r);
    if (!a) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_RuntimeError, "resolver of %U returned no address", f->name);
        return -1;
    }
    f->fn = a;
    return 0;
}

/* Memory for large by-value returns: one growing area per thread, never freed per call. */
static _Thread_local char *scratch;
static _Thread_local Py_ssize_t scratch_size;

static char *return_scratch(Py_ssize_t size)
{
    if (size > scratch_size) {
        char *p = PyMem_RawRealloc(scratch, size);
        if (!p) {
            PyErr_NoMemory();
            return NULL;
        }
        scratch = p;
        scratch_size = size;
    }
    return scratch;
}

/* Re-raises the pending conversion error, prefixed with the function and parameter it concerns. */
static void arg_error(nf_function *f, Py_ssize_t i)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (i < PyTuple_GET_SIZE(f->param_names))
        PyErr_Format(type, "%U() argument %zd (%R): %S", f->name, i + 1, PyTuple_GET_ITEM(f->param_names, i), value);
    else
        PyErr_Format(type, "%U() argument %zd: %S", f->name, i + 1, value);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static PyObject *load_return(nf_function *f, void *r)
{
    switch (f->ret->kind) {
    case NF_VOID: Py_RETURN_NONE;
    case NF_I8: return PyLong_FromLong((int8_t)*(ffi_arg *)r);
    case NF_U8: return PyLong_FromLong((uint8_t)*(ffi_arg *)r);
    case NF_I16: return PyLong_FromLong((int16_t)*(ffi_arg *)r);
    case NF_U16: return PyLong_FromLong((uint16_t)*(ffi_arg *)r);
    case NF_I32: return PyLong_FromLong((int32_t)*(ffi_arg *)r);
    case NF_U32: return PyLong_FromUnsignedLong((uint32_t)*(ffi_arg *)r);
    case NF_BOOL: return PyBool_FromLong((uint8_t)*(ffi_arg *)r != 0);
    case NF_STRUCT: case NF_UNION: case NF_ARRAY: return nf_compound_copy(f->ret, r);
    default: return nf_cconv_load(f->ret, r, NULL);
    }
}

/* Puts keyword arguments into their positions; returns a new array in *out (caller frees) or -1. */
static int map_keywords(nf_function *f, PyObject *const *args, Py_ssize_t npos, PyObject *kwnames,
                        PyObject ***out)
{
    Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
    PyObject **all = PyMem_Calloc(f->nargs ? f->nargs : 1, sizeof(PyObject *));
    if (!all) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < npos; i++)
        all[i] = args[i];
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t j = 0, np = PyTuple_GET_SIZE(f->param_names);
        while (j < np && PyUnicode_Compare(PyTuple_GET_ITEM(f->param_names, j), key) != 0)
            j++;
        if (j == np || j >= f->nargs) {
            PyErr_Format(PyExc_TypeError, "%U() got an unexpected keyword argument %R", f->name, key);
            goto fail;
        }
        if (all[j]) {
            PyErr_Format(PyExc_TypeError, "%U() got multiple values for argument %R", f->name, key);
            goto fail;
        }
        all[j] = args[npos + k];
    }
    for (Py_ssize_t j = 0; j < f->nargs; j++) {
        if (!all[j]) {
            PyErr_Format(PyExc_TypeError, "%U() missing argument %zd (%S)", f->name, j + 1,
                         j < PyTuple_GET_SIZE(f->param_names) ? PyTuple_GET_ITEM(f->param_names, j) : Py_None);
            goto fail;
        }
    }
    *out = all;
    return 0;
fail:
    PyMem_Free(all);
    return -1;
}

static PyObject *function_vectorcall(nf_function *f, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    PyObject **kwargs = NULL;
    if (kwnames && PyTuple_GET_SIZE(kwnames)) {
        if (n + PyTuple_GET_SIZE(kwnames) != f->nargs || n > f->nargs) {
            PyErr_Format(PyExc_TypeError, "%U() takes %zd arguments (%zd given)", f->name, f->nargs,
                         n + PyTuple_GET_SIZE(kwnames));
            return NULL;
        }
        if (map_keywords(f, args, n, kwnames, &kwargs) < 0)
            return NULL;
        args = kwargs;
        n = f->nargs;
    }
    if (n != f->nargs) {
        PyErr_Format(PyExc_TypeError, "%U() takes %zd argument%s (%zd given)", f->name, f->nargs,
                     f->nargs == 1 ? "" : "s", n);
        return NULL;
    }
    if (!f->fn && resolve(f) < 0)
        goto fail_kw;

    /* Scratch: on the stack for ordinary calls, on the heap for very wide ones. */
    char stackbuf[NF_MAX_STACK_ARGS * 8] __attribute__((aligned(16)));
    void *stackvals[NF_MAX_STACK_ARGS];
    nf_argtmp stacktmps[NF_MAX_STACK_ARGS];
    char stackret[64] __attribute__((aligned(16)));
    char *buf = stackbuf;
    void **avalues = stackvals;
    nf_argtmp *tmps = stacktmps;
    void *heap = NULL;
    if (n > NF_MAX_STACK_ARGS || f->bufsize > (Py_ssize_t)sizeof stackbuf) {
        heap = PyMem_Malloc(f->bufsize + 16 + n * (sizeof(void *) + sizeof(nf_argtmp)));
        if (!heap) {
            PyErr_NoMemory();
            goto fail_kw;
        }
        buf = (char *)(((uintptr_t)heap + 15) & ~(uintptr_t)15);
        avalues = (void **)(buf + f->bufsize);
        tmps = (nf_argtmp *)(avalues + n);
    }
    if (f->has_ptr_args)
        memset(tmps, 0, n * sizeof(nf_argtmp));

    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        nf_ctype *t = f->argt[i];
        void *slot = buf + f->offsets[i];
        avalues[i] = slot;
        int r = t->kind == NF_POINTER ? nf_cconv_store_arg(t, slot, args[i], &tmps[i])
                                      : nf_cconv_store(t, slot, args[i]);
        if (r < 0) {
            arg_error(f, i);
            goto fail_args;
        }
    }

    char *rbuf = f->retsize <= (Py_ssize_t)sizeof stackret ? stackret : return_scratch(f->retsize);
    if (!rbuf)
        goto fail_args;
    if (f->is_leaf) {
        ffi_call(&f->cif, FFI_FN(f->fn), rbuf, avalues);
        if (f->capture_errno)
            saved_errno = errno;
    } else {
        PyThreadState *ts = PyEval_SaveThread();
        ffi_call(&f->cif, FFI_FN(f->fn), rbuf, avalues);
        if (f->capture_errno)
            saved_errno = errno;
        PyEval_RestoreThread(ts);
    }
    if (f->has_ptr_args)
        for (Py_ssize_t j = 0; j < n; j++)
            nf_argtmp_release(&tmps[j]);
    PyMem_Free(heap);
    PyMem_Free(kwargs);
    return load_return(f, rbuf);

fail_args:
    if (f->has_ptr_args)
        for (Py_ssize_t j = 0; j <= i && j < n; j++)
            nf_argtmp_release(&tmps[j]);
    PyMem_Free(heap);
fail_kw:
    PyMem_Free(kwargs);
    return NULL;
}

/* -- The object ------------------------------------------------------------ */

static void function_dealloc(nf_function *f)
{
    PyObject_GC_UnTrack(f);
    if (f->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)f);
    Py_XDECREF(f->ftype);
    Py_XDECREF(f->name);
    Py_XDECREF(f->param_names);
    Py_XDECREF(f->resolver);
    Py_XDECREF(f->dict);
    PyMem_Free(f->argt);
    PyMem_Free(f->offsets);
    PyMem_Free(f->atypes);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static int function_traverse(nf_function *f, visitproc visit, void *arg)
{
    Py_VISIT(f->resolver);
    Py_VISIT(f->ftype);
    Py_VISIT(f->dict);
    return 0;
}

static int function_clear(nf_function *f)
{
    Py_CLEAR(f->resolver);
    Py_CLEAR(f->dict);
    return 0;
}

static PyObject *function_new(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ftype", "address", "name", "param_names", "is_leaf", "capture_errno", "resolver", NULL};
    nf_ctype *ftype;
    PyObject *address, *name, *pnames = NULL, *resolver = Py_None;
    int is_leaf = 0, capture_errno = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OU|O!ppO:Function", kwlist, &nf_CType_Type, &ftype, &address,
                                     &name, &PyTuple_Type, &pnames, &is_leaf, &capture_errno, &resolver))
        return NULL;
    if (ftype->kind != NF_FUNCTION) {
        PyErr_Format(PyExc_TypeError, "Function() expected a NativeFunction type, got %U", ftype->name);
        return NULL;
    }
    void *fn = PyLong_AsVoidPtr(address);
    if (!fn && PyErr_Occurred())
        return NULL;
    if (!fn && resolver == Py_None) {
        PyErr_Format(PyExc_ValueError, "%U: a null function address needs a resolver", name);
        return NULL;
    }
    nf_function *f = (nf_function *)cls->tp_alloc(cls, 0);
    if (!f)
        return NULL;
    f->vectorcall = (vectorcallfunc)function_vectorcall;
    f->fn = fn;
    f->ftype = (nf_ctype *)Py_NewRef(ftype);
    f->name = Py_NewRef(name);
    f->param_names = pnames ? Py_NewRef(pnames) : PyTuple_New(0);
    f->resolver = resolver == Py_None ? NULL : Py_NewRef(resolver);
    f->is_leaf = is_leaf;
    f->capture_errno = capture_errno;
    if (!f->param_names || make_plan(f) < 0) {
        Py_DECREF(f);
        return NULL;
    }
    return (PyObject *)f;
}

PyObject *nf_function_from_pointer(nf_ctype *ftype, void *fn, int is_leaf)
{
    PyObject *addr = PyLong_FromVoidPtr(fn);
    PyObject *name = PyUnicode_FromString("native function");
    PyObject *pnames = PyTuple_New(0);
    PyObject *r = NULL;
    if (addr && name && pnames)
        r = PyObject_CallFunction((PyObject *)&nf_Function_Type, "OOOOi", ftype, addr, name, pnames, is_leaf);
    Py_XDECREF(addr);
    Py_XDECREF(name);
    Py_XDECREF(pnames);
    return r;
}

static PyObject *function_get_address(nf_function *f, void *c)
{
    if (!f->fn && resolve(f) < 0)
        return NULL;
    return PyLong_FromVoidPtr(f->fn);
}

static PyObject *function_get_resolved(nf_function *f, void *c) { return PyBool_FromLong(f->fn != NULL); }
static PyObject *function_get_ftype(nf_function *f, void *c) { return Py_NewRef(f->ftype); }
static PyObject *function_get_is_leaf(nf_function *f, void *c) { return PyBool_FromLong(f->is_leaf); }
static PyObject *function_get_name(nf_function *f, void *c) { return Py_NewRef(f->name); }

static PyObject *function_repr(nf_function *f)
{
    return PyUnicode_FromFormat("<native function %U: %U%s>", f->name, f->ftype->name, f->is_leaf ? " leaf" : "");
}

static PyGetSetDef function_getset[] = {
    {"address", (getter)function_get_address, NULL, "the native address (resolving it if needed)", NULL},
    {"resolved", (getter)function_get_resolved, NULL, "whether the address is known yet", NULL},
    {"native_type", (getter)function_get_ftype, NULL, "the NativeFunction CType", NULL},
    {"is_leaf", (getter)function_get_is_leaf, NULL, "whether calls keep the GIL", NULL},
    {"__name__", (getter)function_get_name, NULL, "the name used in messages", NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL},
};

PyTypeObject nf_Function_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core.Function",
    .tp_doc = "Function(ftype, address, name, param_names=(), is_leaf=False, capture_errno=False, resolver=None):\n"
              "a callable bound to a native function; address 0 defers to resolver() on the first call.",
    .tp_basicsize = sizeof(nf_function),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = function_new,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(nf_function, vectorcall),
    .tp_dealloc = (destructor)function_dealloc,
    .tp_traverse = (traverseproc)function_traverse,
    .tp_clear = (inquiry)function_clear,
    .tp_repr = (reprfunc)function_repr,
    .tp_getset = function_getset,
    .tp_weaklistoffset = offsetof(nf_function, weakreflist),
    .tp_dictoffset = offsetof(nf_function, dict),
};

static PyObject *m_get_errno(PyObject *m, PyObject *unused) { return PyLong_FromLong(saved_errno); }

static PyObject *m_set_errno(PyObject *m, PyObject *arg)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    saved_errno = (int)v;
    Py_RETURN_NONE;
}

PyMethodDef nf_downcall_methods[] = {
    {"get_errno", m_get_errno, METH_NOARGS, "get_errno() -> errno saved by this thread's last capture_errno call."},
    {"set_errno", m_set_errno, METH_O, "set_errno(v): overwrite this thread's saved errno."},
    {NULL},
};

int nf_downcall_init(PyObject *module)
{
    if (PyType_Ready(&nf_Function_Type) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "Function", (PyObject *)&nf_Function_Type);
}
