/* Calls from Python into native functions: bound function objects, their call plans, and the two call paths.
 *
 * One call, start to end:
 *   1. Binding (function_new): the signature's CTypes become a plan computed once: each argument's CType,
 *      its fast-path converter (exact int, float, bool, Pointer, bytes) and accepted range, and the call
 *      path. If every argument fits in registers and the function is not variadic, stubs_<abi>.c picks a
 *      register-image stub and the register slot of each argument; otherwise calls go through libffi,
 *      with a cif prepared here and each argument's slot offset in a per-call argument buffer.
 *   2. A call enters the METH_FASTCALL entry of the builtin form (what @native and as_function() return, which
 *      CPython calls without its generic dispatch), or the Function's own vectorcall entry; both are chosen at
 *      bind time. A stub call without errno capture of up to three scalar arguments (scalar, pointer or void
 *      return) gets a direct entry for its shape (integer or floating register per argument, return class),
 *      which does steps 4-8 itself with a typed call and no register image; other stub calls get the entry
 *      of their arity 0-4. Plain positional calls of a resolved function go straight to their path; keywords
 *      (mapped to positions), wrong counts and the first call go through general_call.
 *   3. On the first call the address is still NULL: the Python-level resolver runs once (asset ->
 *      resolver -> process) and the address is cached.
 *   4. Each argument is converted: an exact int, float, bool, Pointer of the parameter's class (or a Box of
 *      its pointee), None or bytes (for a pointer to a byte type or Void) inline, without allocating; anything else through convert.c (subclasses, __index__, buffers,
 *      str, structs), whose temporaries are kept until the call returns. Stub calls write each value,
 *      widened to 64 bits (narrow integers sign- or zero-extended, a float's bits in the low half), into
 *      its register slot; libffi calls write it into its slot of the argument buffer (a struct the ABI passes by
 *      reference: the copy the caller makes, and after it the pointer libffi passes). A failure is
 *      re-raised naming the function, the parameter and the expected native type, and nothing is called.
 *   5. Non-leaf calls release the GIL (PyEval_SaveThread, the cheapest correct way); leaf calls keep it.
 *   6. The stub loads the register image into the argument registers and calls the function; or ffi_call
 *      runs it with the cif prepared at bind time. No allocation per call: struct returns too large for
 *      registers go to memory in this call's C stack frame (up to 256 bytes), else to a per-thread
 *      scratch area, freed when the thread exits (a nested call on the same thread, from a callback, gets
 *      a block of its own).
 *   7. errno is saved into thread-local storage when the binding asked for it, before anything else runs.
 *   8. The GIL is taken back, call temporaries (buffers) are released, and the return value is converted:
 *      integer returns that arrive widened (ffi_arg, or a register with undefined upper bits) are narrowed
 *      back to their C type.
 */
#include "downcall.h"
#include "callback.h"
#include "cdata.h"
#include "compound.h"
#include "convert.h"
#include "errors.h"
#include "pointer.h"
#include "stubs.h"
#include <errno.h>
#include <pthread.h>
#include <math.h>

static _Thread_local int saved_errno;

#define NF_MAX_STACK_ARGS 32        /* calls with more arguments allocate their scratch on the heap */
#define NF_RET_MIN (sizeof(ffi_arg) > 16 ? sizeof(ffi_arg) : 16)

/* Fast-path converters, chosen per argument at bind time. */
enum { CV_OTHER, CV_SINT, CV_UINT, CV_F64, CV_F32, CV_BOOL, CV_PTR, CV_COMPOUND };

/* What a call does with one argument. */
typedef struct {
    nf_ctype *t;               /* its CType (borrowed from the function's CType) */
    unsigned char conv;        /* CV_*: the exact-type fast path to try first */
    unsigned char bytes_ok;    /* CV_PTR: bytes may pass inline (the pointee is a byte type or Void) */
    int64_t lo;                /* CV_SINT: smallest accepted value */
    uint64_t hi;               /* CV_SINT/CV_UINT: largest accepted value */
    unsigned char slot;        /* stub calls, scalars: its register-image slot (copied from sargs) */
} nf_argplan;

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
    int plain;                 /* stub calls: leaf, no errno capture, return in registers (the shortest path) */
    Py_ssize_t nargs;          /* number of arguments a call takes */
    nf_ctype **argt;           /* CType of each argument (borrowed from ftype->params) */
    Py_ssize_t *offsets;       /* slot offset of each argument in the argument buffer */
    Py_ssize_t bufsize;        /* size of the argument buffer */
    nf_ctype *ret;             /* return CType (borrowed from ftype) */
    Py_ssize_t retsize;        /* bytes to reserve for the return value */
    nf_argplan *plan;          /* per argument: converter and range */
    nf_stub_plan stub;         /* the register-image stub; stub.call is NULL when calls go through libffi */
    nf_stub_arg *sargs;        /* stub calls: the register slots of each argument */
    ffi_type **atypes;         /* libffi argument types (nffi of them) */
    Py_ssize_t nffi;           /* libffi arguments: nargs, plus one per split argument */
    unsigned char *split;      /* per argument: passed to libffi as two scalars (nf_compound_ffi_split); or NULL */
    unsigned char *byref;      /* per argument: passed by reference (nf_compound_by_reference): libffi gets a pointer
                                  to the copy in the argument buffer, stored right after it; or NULL */
    ffi_cif cif;               /* prepared once, at bind time */
    PyObject *weakreflist;
    PyObject *dict;            /* __doc__, __signature__, __wrapped__ set by the Python layer */
    PyMethodDef fastdef;       /* the METH_FASTCALL entry behind .builtin (ml_name points into name) */
    PyObject *builtin;         /* .builtin, made on first use; it holds f as __self__ (a cycle the GC clears) */
    PyObject *builtin_doc;     /* str behind fastdef.ml_doc, or NULL */
} nf_function;

/* -- Binding: the plan --------------------------------------------------- */

static int check_passable(nf_ctype *t, const char *what, Py_ssize_t i)
{
    if (t->kind == NF_VOID || t->kind == NF_OPAQUE || t->kind == NF_FUNCTION || !t->ffi) {
        PyErr_Format(PyExc_TypeError, "%s %zd has type %U, which cannot be passed by value; use a Pointer to it",
                     what, i + 1, t->name);
        return -1;
    }
    return 0;
}

/* The exact-type fast path for an argument of type t. */
static void choose_converter(nf_argplan *a, nf_ctype *t)
{
    a->t = t;
    switch (t->kind) {
    case NF_I8: a->conv = CV_SINT; a->lo = INT8_MIN; a->hi = INT8_MAX; break;
    case NF_I16: a->conv = CV_SINT; a->lo = INT16_MIN; a->hi = INT16_MAX; break;
    case NF_I32: a->conv = CV_SINT; a->lo = INT32_MIN; a->hi = INT32_MAX; break;
    case NF_I64: a->conv = CV_SINT; a->lo = INT64_MIN; a->hi = INT64_MAX; break;
    case NF_U8: a->conv = CV_UINT; a->hi = UINT8_MAX; break;
    case NF_U16: a->conv = CV_UINT; a->hi = UINT16_MAX; break;
    case NF_U32: a->conv = CV_UINT; a->hi = UINT32_MAX; break;
    case NF_U64: a->conv = CV_UINT; a->hi = UINT64_MAX; break;
    case NF_F32: a->conv = CV_F32; break;
    case NF_F64: a->conv = CV_F64; break;
    case NF_BOOL: a->conv = CV_BOOL; break;
    case NF_POINTER: a->conv = CV_PTR; a->bytes_ok = (unsigned char)nf_cconv_takes_bytes(t); break;
    case NF_STRUCT: case NF_UNION: case NF_ARRAY: a->conv = CV_COMPOUND; break;
    default: a->conv = CV_OTHER; break;
    }
}

/* Struct arguments libffi would mishandle go to it as two scalars (see nf_compound_ffi_split). */
static int make_splits(nf_function *f, Py_ssize_t *nfixed)
{
    Py_ssize_t n = f->nargs;
    unsigned char *split = PyMem_Calloc(n, 1);
    if (!split) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t extra = nf_compound_ffi_split(f->ret, f->argt, n, split);
    if (extra == 0) {
        PyMem_Free(split);
        return 0;
    }
    ffi_type **at = PyMem_Calloc(n + extra, sizeof(ffi_type *));
    if (!at) {
        PyMem_Free(split);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0, k = 0; i < n; i++) {
        if (split[i]) {
            nf_compound_split_types(f->argt[i], &at[k], &at[k + 1]);
            k += 2;
            if (i < f->ftype->nfixed)
                (*nfixed)++;
        } else {
            at[k++] = f->atypes[i];
        }
    }
    PyMem_Free(f->atypes);
    PyMem_Free(f->split);
    f->atypes = at;
    f->split = split;
    f->nffi = n + extra;
    return 0;
}

/* Where the pointer to a by-reference argument's copy is stored, from the start of its slot: after the copy. */
static Py_ssize_t byref_pointer_at(nf_ctype *t)
{
    return (t->size + 7) / 8 * 8;
}

/* What libffi reads for argument i whose value is in its slot of buf: the slot, or for an argument passed by
   reference the pointer to it (written here, after the copy). */
static void *ffi_value(nf_function *f, char *buf, Py_ssize_t i)
{
    char *slot = buf + f->offsets[i];
    if (!f->byref || !f->byref[i])
        return slot;
    void **p = (void **)(slot + byref_pointer_at(f->argt[i]));
    *p = slot;
    return p;
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
        nf_ctype *t = nf_types_param_wire(ft, i);
        if (check_passable(t, "parameter", i) < 0)
            return -1;
        int byref = nf_compound_by_reference(t);
        if (byref < 0)
            return -1;
        if (byref && !f->byref && !(f->byref = PyMem_Calloc(n, 1))) {
            PyErr_NoMemory();
            return -1;
        }
        Py_ssize_t a = t->align > 8 ? t->align : 8;
        off = (off + a - 1) / a * a;
        f->argt[i] = t;
        f->offsets[i] = off;
        f->atypes[i] = byref ? &ffi_type_pointer : t->ffi;
        /* sizes are at most NF_BYVALUE_MAX (1 MiB) each: no overflow */
        off += byref ? byref_pointer_at(t) + 8 : t->size > 8 ? t->size : 8;
        if (byref)
            f->byref[i] = 1;
        f->has_ptr_args |= t->kind == NF_POINTER;
    }
    f->bufsize = off;
    f->plan = PyMem_Calloc(n ? n : 1, sizeof(nf_argplan));
    f->sargs = PyMem_Calloc(n ? n : 1, sizeof(nf_stub_arg));
    if (!f->plan || !f->sargs) {
        PyErr_NoMemory();
        return -1;
    }
    /* Converters check the declared type (a variadic Int8 accepts [-128, 127]); ffi_path then stores the
       value as its promoted type. */
    for (Py_ssize_t i = 0; i < n; i++)
        choose_converter(&f->plan[i], (nf_ctype *)PyTuple_GET_ITEM(ft->params, i));
    if (nf_stub_plan_make(f->ret, f->argt, n, ft->variadic, &f->stub, f->sargs))
        for (Py_ssize_t i = 0; i < n; i++)
            f->plan[i].slot = f->sargs[i].slot[0];
    f->retsize = f->ret->size > (Py_ssize_t)NF_RET_MIN ? f->ret->size : (Py_ssize_t)NF_RET_MIN;
    f->nffi = n;
    Py_ssize_t nfixed = ft->nfixed;
    if (n && make_splits(f, &nfixed) < 0)
        return -1;
    ffi_status st = ft->variadic
        ? ffi_prep_cif_var(&f->cif, FFI_DEFAULT_ABI, (unsigned)nfixed, (unsigned)f->nffi, f->ret->ffi, f->atypes)
        : ffi_prep_cif(&f->cif, FFI_DEFAULT_ABI, (unsigned)f->nffi, f->ret->ffi, f->atypes);
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

/* Memory for by-value returns too large for the C stack frame: one growing area per thread, never freed
   per call. A call made while the area is in use (a callback that calls out again) gets its own block. The
   area is also the value of scratch_key, whose destructor frees it when the thread exits. */
static _Thread_local char *scratch;
static _Thread_local Py_ssize_t scratch_size;
static _Thread_local int scratch_busy;
static pthread_key_t scratch_key;  /* per thread: its scratch area, freed at thread exit */
static int scratch_key_made;       /* scratch_key exists (made once per process, by the first module init) */

static void scratch_free(void *p) { PyMem_RawFree(p); }

static char *scratch_acquire(Py_ssize_t size)
{
    if (scratch_busy) {
        char *p = PyMem_RawMalloc(size);
        if (!p)
            PyErr_NoMemory();
        return p;
    }
    if (size > scratch_size) {
        char *p = PyMem_RawRealloc(scratch, size);
        if (!p) {
            PyErr_NoMemory();
            return NULL;
        }
        if (pthread_setspecific(scratch_key, p) != 0) {  /* without it the area would outlive the thread */
            PyMem_RawFree(p);
            scratch = NULL;
            scratch_size = 0;
            PyErr_NoMemory();
            return NULL;
        }
        scratch = p;
        scratch_size = size;
    }
    scratch_busy = 1;
    return scratch;
}

static void scratch_release(char *p)
{
    if (p == scratch)
        scratch_busy = 0;
    else
        PyMem_RawFree(p);
}

#define NF_STACK_RET 256  /* by-value returns up to this size stay in the caller's stack frame */

/* Re-raises the pending conversion error, prefixed with the function and parameter it concerns. */
static void arg_error(nf_function *f, Py_ssize_t i)
{
    if (i < PyTuple_GET_SIZE(f->param_names))
        nf_errors_prefix("%U() argument %zd (%R)", f->name, i + 1, PyTuple_GET_ITEM(f->param_names, i));
    else
        nf_errors_prefix("%U() argument %zd", f->name, i + 1);
}

/* -- Arguments: Python -> 64-bit images ---------------------------------------- */

/* The 64-bit register image of a scalar of kind k stored at p: narrow integers sign- or zero-extended, a
   float's bits in the low half. */
static uint64_t widen(nf_kind k, const void *p)
{
    switch (k) {
    case NF_I8: return (uint64_t)(int64_t)*(const int8_t *)p;
    case NF_U8: case NF_BOOL: return *(const uint8_t *)p;
    case NF_I16: return (uint64_t)(int64_t)*(const int16_t *)p;
    case NF_U16: return *(const uint16_t *)p;
    case NF_I32: return (uint64_t)(int64_t)*(const int32_t *)p;
    case NF_U32: case NF_F32: return *(const uint32_t *)p;
    case NF_POINTER: return (uint64_t)(uintptr_t)*(void *const *)p;
    default: return *(const uint64_t *)p;
    }
}

/* The general conversion (convert.c) of argument i into *v. Pointer parameters may leave a temporary in
   tmps[i] (zeroed here, and marked in *mask when mask is given), to release after the call. */
static __attribute__((noinline)) int convert_slow(nf_function *f, Py_ssize_t i, PyObject *o, uint64_t *v,
                                                  nf_argtmp *tmps, unsigned *mask)
{
    nf_ctype *t = f->plan[i].t;
    union { uint64_t u; double d; void *p; } buf = {0};
    int r;
    if (t->kind == NF_POINTER) {
        memset(&tmps[i], 0, sizeof tmps[i]);
        if (mask)
            *mask |= 1u << i;
        r = nf_cconv_store_arg(t, &buf, o, &tmps[i]);
    } else {
        r = nf_cconv_store(t, &buf, o);
    }
    if (r < 0) {
        arg_error(f, i);
        return -1;
    }
    *v = widen(t->kind, &buf);
    return 0;
}

static int convert_compound(nf_function *f, Py_ssize_t i, PyObject *o, uint64_t *regs, uint64_t *v);

/* The exact-type fast path of a scalar or pointer argument (plan a): 1 with its 64-bit image in *v, or 0
   when `o` needs the general conversion of convert.c, which then gives the value or the error. An exact int,
   float, bool, Pointer of the parameter's class, None, bytes (bytes_ok) or a Box of the pointee; nothing
   allocated, never raises. */
static inline __attribute__((always_inline)) int fast_arg(const nf_argplan *a, PyObject *o, uint64_t *v)
{
    int64_t x;
    switch (a->conv) {
    case CV_SINT:
        if (PyLong_CheckExact(o) && nf_long_compact(o, &x) && x >= a->lo && x <= (int64_t)a->hi) {
            *v = (uint64_t)x;
            return 1;
        }
        return 0;
    case CV_UINT:
        if (PyLong_CheckExact(o) && nf_long_compact(o, &x) && x >= 0 && (uint64_t)x <= a->hi) {
            *v = (uint64_t)x;
            return 1;
        }
        return 0;
    case CV_F64:
        if (PyFloat_CheckExact(o)) {
            double d = PyFloat_AS_DOUBLE(o);
            memcpy(v, &d, sizeof d);
            return 1;
        }
        return 0;
    case CV_F32:
        if (PyFloat_CheckExact(o)) {
            double d = PyFloat_AS_DOUBLE(o);
            float fl = (float)d;
            if (isinf(fl) && isfinite(d))
                return 0;  /* out of range: convert.c raises the error */
            uint32_t bits;
            memcpy(&bits, &fl, sizeof bits);
            *v = bits;
            return 1;
        }
        return 0;
    case CV_BOOL:
        if (o == Py_True || o == Py_False) {
            *v = o == Py_True;
            return 1;
        }
        return 0;
    case CV_PTR:
        if ((PyObject *)Py_TYPE(o) == a->t->pyclass) {
            *v = (uint64_t)(uintptr_t)((nf_pointer *)o)->addr;
            return 1;
        }
        if (o == Py_None) {
            *v = 0;
            return 1;
        }
        if (a->bytes_ok && PyBytes_CheckExact(o)) {  /* kept alive by the caller for the whole call */
            *v = (uint64_t)(uintptr_t)PyBytes_AS_STRING(o);
            return 1;
        }
        if (nf_box_check(o) && ((nf_pointer *)o)->type == a->t) {  /* Box[T] for Pointer[T]: an out-parameter */
            *v = (uint64_t)(uintptr_t)((nf_pointer *)o)->addr;
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

/* Argument i as a 64-bit image in *v: the fast path, else convert.c (which may fill tmps[i], marked in *mask
   when mask is given). A struct of a stub call (regs given) is copied into its register slots, *v being its
   first. Returns 0, or -1 with an exception set. */
static inline __attribute__((always_inline)) int convert_arg(nf_function *f, Py_ssize_t i, PyObject *o,
                                                             uint64_t *v, nf_argtmp *tmps, unsigned *mask,
                                                             uint64_t *regs)
{
    const nf_argplan *a = &f->plan[i];
    if (a->conv == CV_COMPOUND)
        return convert_compound(f, i, o, regs, v);
    if (fast_arg(a, o, v))
        return 0;
    return convert_slow(f, i, o, v, tmps, mask);
}

/* A struct argument of a stub call: its bytes copied into its register slots (the first into *v). */
static __attribute__((noinline)) int convert_compound(nf_function *f, Py_ssize_t i, PyObject *o, uint64_t *regs,
                                                      uint64_t *v)
{
    nf_ctype *t = f->plan[i].t;
    const nf_stub_arg *a = &f->sargs[i];
    union { uint64_t u[4]; char b[32]; } copy;  /* stubs pass structs of at most 32 bytes (4 stack words) */
    const char *src;
    if ((PyObject *)Py_TYPE(o) == t->pyclass && ((nf_cdata *)o)->type == t)
        src = ((nf_cdata *)o)->addr;  /* an instance of the parameter's own class */
    else
        src = nf_compound_address(t, o);
    if (!src) {
        if (PyErr_Occurred() || t->size > (Py_ssize_t)sizeof copy || nf_cconv_store(t, copy.b, o) < 0) {
            arg_error(f, i);
            return -1;
        }
        src = copy.b;
    }
    for (int j = 0; j < a->npieces; j++) {
        uint64_t piece = 0;
        if (a->size[j] == 8)
            memcpy(&piece, src + a->off[j], 8);  /* a whole eightbyte: one load */
        else
            memcpy(&piece, src + a->off[j], a->size[j]);
        regs[a->slot[j]] = piece;
    }
    *v = regs[a->slot[0]];
    return 0;
}

/* -- Returns: C -> Python ------------------------------------------------------ */

static __attribute__((noinline)) PyObject *load_other_return(nf_function *f, const void *r)
{
    if (NF_IS_COMPOUND(f->ret->kind))
        return nf_compound_copy(f->ret, r);
    return nf_cconv_load_scalar(f->ret->kind, r);
}

/* A return read from a stub's register image (or from the memory it returned into). The upper bits of a
   register holding a narrow integer are undefined: nf_cconv_load_scalar reads only the low bytes. */
static inline __attribute__((always_inline)) PyObject *load_stub_return(nf_function *f, const void *r)
{
    switch (f->ret->kind) {
    case NF_VOID: Py_RETURN_NONE;
    case NF_I64: return PyLong_FromLongLong(*(const int64_t *)r);
    case NF_F64: return PyFloat_FromDouble(*(const double *)r);
    case NF_POINTER: return nf_pointer_new(f->ret, *(void *const *)r, NULL);
    default: return load_other_return(f, r);
    }
}

/* A return as libffi leaves it: integers narrower than ffi_arg are widened to it. */
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

/* -- The stub path --------------------------------------------------------------- */

/* Slots of the register image that no argument fills are loaded into registers the callee never reads. */
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

/* A stub call of n arguments; the entries below instantiate it with n a constant for short signatures. */
static inline __attribute__((always_inline)) PyObject *stub_call(nf_function *f, PyObject *const *args,
                                                                Py_ssize_t n)
{
    uint64_t regs[NF_STUB_NSLOTS];  /* the register image; slots no argument fills stay unset */
    uint64_t rimg[NF_STUB_RETSIZE / 8];
    char retmem[NF_STACK_RET] __attribute__((aligned(16)));
    nf_argtmp tmps[NF_STUB_NSLOTS];
    unsigned tmpmask = 0;  /* arguments whose tmps[] entry was filled */
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        uint64_t v;
        if (convert_arg(f, i, args[i], &v, tmps, &tmpmask, regs) < 0)
            goto fail;
        regs[f->plan[i].slot] = v;
    }
    if (f->plain) {  /* a leaf call returning in registers, no errno to save */
        f->stub.call(f->fn, regs, rimg);
        if (tmpmask)
            goto release;
        return load_stub_return(f, rimg);
    }
    void *rdst = rimg;
    if (f->stub.ret_in_memory) {
        rdst = f->ret->size <= NF_STACK_RET ? retmem : scratch_acquire(f->ret->size);
        if (!rdst)
            goto fail;
        regs[0] = (uint64_t)(uintptr_t)rdst;
    }
    nf_upcall_state *upcalls = NULL;
    if (f->is_leaf) {
        f->stub.call(f->fn, regs, rimg);
        if (f->capture_errno)
            saved_errno = errno;
    } else {
        upcalls = nf_nonleaf_enter();
        PyThreadState *ts = PyEval_SaveThread();
        f->stub.call(f->fn, regs, rimg);
        if (f->capture_errno)
            saved_errno = errno;
        PyEval_RestoreThread(ts);
    }
    if (tmpmask)
        for (i = 0; i < n; i++)
            if (tmpmask & (1u << i))
                nf_argtmp_release(&tmps[i]);
    PyObject *res = load_stub_return(f, rdst);
    if (rdst != rimg && rdst != retmem)
        scratch_release(rdst);
    return f->is_leaf ? res : nf_nonleaf_leave(upcalls, res);

release:
    for (i = 0; i < n; i++)
        if (tmpmask & (1u << i))
            nf_argtmp_release(&tmps[i]);
    return load_stub_return(f, rimg);

fail:
    for (i = 0; i < n; i++)
        if (tmpmask & (1u << i))
            nf_argtmp_release(&tmps[i]);
    return NULL;
}

static __attribute__((noinline)) PyObject *stub_call_outlined(nf_function *f, PyObject *const *args)
{
    return stub_call(f, args, f->nargs);
}

/* -- The libffi path ------------------------------------------------------------- */

/* Stores a 64-bit image into an argument buffer slot as a value of kind k. */
static void store_image(nf_kind k, void *slot, uint64_t v)
{
    switch (k) {
    case NF_I8: case NF_U8: case NF_BOOL: *(uint8_t *)slot = (uint8_t)v; break;
    case NF_I16: case NF_U16: *(uint16_t *)slot = (uint16_t)v; break;
    case NF_I32: case NF_U32: case NF_F32: *(uint32_t *)slot = (uint32_t)v; break;
    case NF_POINTER: *(void **)slot = (void *)(uintptr_t)v; break;
    default: *(uint64_t *)slot = v; break;
    }
}

static __attribute__((noinline)) PyObject *ffi_path(nf_function *f, PyObject *const *args)
{
    Py_ssize_t n = f->nargs;
    /* Scratch: on the stack for ordinary calls, on the heap for very wide ones. */
    char stackbuf[NF_MAX_STACK_ARGS * 8] __attribute__((aligned(16)));
    void *stackvals[NF_MAX_STACK_ARGS];
    nf_argtmp stacktmps[NF_MAX_STACK_ARGS];
    char stackret[NF_STACK_RET] __attribute__((aligned(16)));
    char *buf = stackbuf;
    void **avalues = stackvals;
    nf_argtmp *tmps = stacktmps;
    void *heap = NULL;
    char *rbuf = NULL;
    if (f->nffi > NF_MAX_STACK_ARGS || f->bufsize > (Py_ssize_t)sizeof stackbuf) {
        heap = PyMem_Malloc(f->bufsize + 16 + f->nffi * sizeof(void *) + n * sizeof(nf_argtmp));
        if (!heap) {
            PyErr_NoMemory();
            return NULL;
        }
        buf = (char *)(((uintptr_t)heap + 15) & ~(uintptr_t)15);
        avalues = (void **)(buf + f->bufsize);
        tmps = (nf_argtmp *)(avalues + f->nffi);
    }
    if (f->has_ptr_args)
        memset(tmps, 0, n * sizeof(nf_argtmp));

    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        nf_ctype *t = f->argt[i];
        void *slot = buf + f->offsets[i];
        avalues[i] = slot;
        if (f->plan[i].conv != CV_COMPOUND && f->plan[i].conv != CV_OTHER) {
            uint64_t v;
            if (convert_arg(f, i, args[i], &v, tmps, NULL, NULL) < 0)
                goto fail;
            if (t->kind == NF_F64 && f->plan[i].t->kind == NF_F32) {  /* a variadic Float, promoted */
                float fl;
                uint32_t bits = (uint32_t)v;
                memcpy(&fl, &bits, sizeof fl);
                double d = fl;
                memcpy(&v, &d, sizeof d);
            }
            store_image(t->kind, slot, v);
            continue;
        }
        int r = t->kind == NF_POINTER ? nf_cconv_store_arg(t, slot, args[i], &tmps[i])
                                      : nf_cconv_store(t, slot, args[i]);
        if (r < 0) {
            arg_error(f, i);
            goto fail;
        }
    }
    if (f->split) {  /* rare: lay the values out again with two entries for each split argument */
        for (Py_ssize_t j = 0, k = 0; j < n; j++) {
            avalues[k++] = ffi_value(f, buf, j);
            if (f->split[j])
                avalues[k++] = buf + f->offsets[j] + 8;
        }
    } else if (f->byref) {  /* by-reference arguments: libffi gets pointers to their copies */
        for (Py_ssize_t j = 0; j < n; j++)
            avalues[j] = ffi_value(f, buf, j);
    }

    rbuf = f->retsize <= (Py_ssize_t)sizeof stackret ? stackret : scratch_acquire(f->retsize);
    if (!rbuf)
        goto fail;
    nf_upcall_state *upcalls = NULL;
    if (f->is_leaf) {
        ffi_call(&f->cif, FFI_FN(f->fn), rbuf, avalues);
        if (f->capture_errno)
            saved_errno = errno;
    } else {
        upcalls = nf_nonleaf_enter();
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
    PyObject *res = load_return(f, rbuf);
    if (rbuf != stackret)
        scratch_release(rbuf);
    return f->is_leaf ? res : nf_nonleaf_leave(upcalls, res);

fail:
    if (f->has_ptr_args)
        for (Py_ssize_t j = 0; j <= i && j < n; j++)
            nf_argtmp_release(&tmps[j]);
    PyMem_Free(heap);
    return NULL;
}

/* -- Entry ------------------------------------------------------------------------- */

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

/* Calls that are not plain positional calls of a resolved function: keywords, wrong counts, first call. */
static __attribute__((noinline)) PyObject *general_call(nf_function *f, PyObject *const *args, size_t nargsf, PyObject *kwnames)
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
    PyObject *res = NULL;
    if (n != f->nargs)
        PyErr_Format(PyExc_TypeError, "%U() takes %zd argument%s (%zd given)", f->name, f->nargs,
                     f->nargs == 1 ? "" : "s", n);
    else if (f->fn || resolve(f) == 0)
        res = f->stub.call ? stub_call_outlined(f, args) : ffi_path(f, args);
    PyMem_Free(kwargs);
    return res;
}

/* The entries (tp_vectorcall), chosen at bind time: plain positional calls of a resolved function go
   straight to their path; everything else through general_call. */
static PyObject *function_vectorcall(nf_function *f, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) == f->nargs && !kwnames && f->fn)
        return f->stub.call ? stub_call(f, args, f->nargs) : ffi_path(f, args);
    return general_call(f, args, nargsf, kwnames);
}

#define STUB_ENTRY(N)                                                                                    \
    static PyObject *stub_vectorcall_##N(nf_function *f, PyObject *const *args, size_t nargsf,          \
                                         PyObject *kwnames)                                             \
    {                                                                                                    \
        if (PyVectorcall_NARGS(nargsf) == N && !kwnames && f->fn)                                        \
            return stub_call(f, args, N);                                                                \
        return general_call(f, args, nargsf, kwnames);                                                   \
    }
STUB_ENTRY(0)
STUB_ENTRY(1)
STUB_ENTRY(2)
STUB_ENTRY(3)
STUB_ENTRY(4)

/* The METH_FASTCALL|METH_KEYWORDS entries of the builtin form (what @native returns): CPython specializes
   calls to builtin functions (no generic vectorcall dispatch, no result check), worth several ns per call. */
static PyObject *function_fastcall(nf_function *f, PyObject *const *args, Py_ssize_t n, PyObject *kwnames)
{
    if (n == f->nargs && !kwnames && f->fn)
        return f->stub.call ? stub_call(f, args, f->nargs) : ffi_path(f, args);
    return general_call(f, args, (size_t)n, kwnames);
}

#define STUB_FASTCALL(N)                                                                                 \
    static PyObject *stub_fastcall_##N(nf_function *f, PyObject *const *args, Py_ssize_t n,            \
                                       PyObject *kwnames)                                               \
    {                                                                                                    \
        if (n == N && !kwnames && f->fn)                                                                 \
            return stub_call(f, args, N);                                                                \
        return general_call(f, args, (size_t)n, kwnames);                                                \
    }
STUB_FASTCALL(0)
STUB_FASTCALL(1)
STUB_FASTCALL(2)
STUB_FASTCALL(3)
STUB_FASTCALL(4)

/* -- Direct entries (stub calls of up to three scalar arguments) ---------------------------------
 * A stub call without errno capture whose arguments are at most NF_DIRECT_MAX scalars or pointers, and whose
 * return is a scalar, a pointer or void, gets an entry of its own shape: one integer (uint64_t) or floating
 * (double) register per argument and its return class (uint64_t, float or double). It converts each
 * argument by its fast path and calls the function through a function-pointer type of exactly those
 * registers (releasing the GIL around it unless the binding is a leaf): the stub call without the register
 * image, the stub's indirect call or the temporaries. Values travel as in the stubs (narrow integers
 * widened, a float's bits in the low half of a double). An argument without an exact-type fast path sends
 * the whole call to the stub path, which converts every argument again, so values, temporaries and errors
 * are exactly the stub path's. */
#if NF_STUB_NGPR
#define NF_DIRECT_MAX 3

static inline double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

#define G_ uint64_t
#define F_ double
#define g_(i) v[i]
#define f_(i) bits_double(v[i])

/* (name, arity, parameter types, arguments), in the order of shape_index(). */
#define DIRECT_SHAPES(X, RC, RT)                                                                         \
    X(RC, RT, v, 0, (void), ())                                                                          \
    X(RC, RT, g, 1, (G_), (g_(0)))                                                                       \
    X(RC, RT, f, 1, (F_), (f_(0)))                                                                       \
    X(RC, RT, gg, 2, (G_, G_), (g_(0), g_(1)))                                                           \
    X(RC, RT, gf, 2, (G_, F_), (g_(0), f_(1)))                                                           \
    X(RC, RT, fg, 2, (F_, G_), (f_(0), g_(1)))                                                           \
    X(RC, RT, ff, 2, (F_, F_), (f_(0), f_(1)))                                                           \
    X(RC, RT, ggg, 3, (G_, G_, G_), (g_(0), g_(1), g_(2)))                                               \
    X(RC, RT, ggf, 3, (G_, G_, F_), (g_(0), g_(1), f_(2)))                                               \
    X(RC, RT, gfg, 3, (G_, F_, G_), (g_(0), f_(1), g_(2)))                                               \
    X(RC, RT, gff, 3, (G_, F_, F_), (g_(0), f_(1), f_(2)))                                               \
    X(RC, RT, fgg, 3, (F_, G_, G_), (f_(0), g_(1), g_(2)))                                               \
    X(RC, RT, fgf, 3, (F_, G_, F_), (f_(0), g_(1), f_(2)))                                               \
    X(RC, RT, ffg, 3, (F_, F_, G_), (f_(0), f_(1), g_(2)))                                               \
    X(RC, RT, fff, 3, (F_, F_, F_), (f_(0), f_(1), f_(2)))

/* The return, by class: integer registers through load_stub_return (narrowed there), floats directly. */
#define RET_int(f, r) load_stub_return(f, &r)
#define RET_f32(f, r) PyFloat_FromDouble(r)
#define RET_f64(f, r) PyFloat_FromDouble(r)

/* One entry; LEAF is a constant, so that a leaf entry has no trace of the GIL hand-off (a branch on
   f->is_leaf alone cost leaf add 14 instructions: more registers to save for the non-leaf path). */
#define DIRECT_ENTRY(NAME, RC, RT, N, PARAMS, ARGS, LEAF)                                                \
    static PyObject *NAME(nf_function *f, PyObject *const *args, Py_ssize_t n, PyObject *kwnames)        \
    {                                                                                                    \
        uint64_t v[N + 1];                                                                               \
        if (n != N || kwnames || !f->fn)                                                                 \
            return general_call(f, args, (size_t)n, kwnames);                                            \
        for (int i = 0; i < N; i++)                                                                      \
            if (!fast_arg(&f->plan[i], args[i], &v[i]))                                                  \
                return stub_call_outlined(f, args);                                                      \
        RT r;                                                                                            \
        if (LEAF) {                                                                                      \
            r = ((RT(*) PARAMS)f->fn) ARGS;                                                              \
            return RET_##RC(f, r);                                                                       \
        }                                                                                                \
        nf_upcall_state *upcalls = nf_nonleaf_enter();                                                   \
        PyThreadState *ts = PyEval_SaveThread();                                                         \
        r = ((RT(*) PARAMS)f->fn) ARGS;                                                                  \
        PyEval_RestoreThread(ts);                                                                        \
        return nf_nonleaf_leave(upcalls, RET_##RC(f, r));                                                \
    }
#define DIRECT_LEAF(RC, RT, SHAPE, N, PARAMS, ARGS) DIRECT_ENTRY(direct_##RC##_##SHAPE, RC, RT, N, PARAMS, ARGS, 1)
#define DIRECT_NOGIL(RC, RT, SHAPE, N, PARAMS, ARGS)                                                     \
    DIRECT_ENTRY(direct_nogil_##RC##_##SHAPE, RC, RT, N, PARAMS, ARGS, 0)
DIRECT_SHAPES(DIRECT_LEAF, int, uint64_t)
DIRECT_SHAPES(DIRECT_LEAF, f32, float)
DIRECT_SHAPES(DIRECT_LEAF, f64, double)
DIRECT_SHAPES(DIRECT_NOGIL, int, uint64_t)
DIRECT_SHAPES(DIRECT_NOGIL, f32, float)
DIRECT_SHAPES(DIRECT_NOGIL, f64, double)

#define DIRECT_ROW(RC, RT, SHAPE, N, PARAMS, ARGS) (_PyCFunctionFastWithKeywords) direct_##RC##_##SHAPE,
#define NOGIL_ROW(RC, RT, SHAPE, N, PARAMS, ARGS) (_PyCFunctionFastWithKeywords) direct_nogil_##RC##_##SHAPE,
#define DIRECT_NAME(RC, RT, SHAPE, N, PARAMS, ARGS) "direct " #RC "/" #SHAPE,
static const _PyCFunctionFastWithKeywords direct_entries[2][3][15] = {  /* [leaf, GIL released][return][shape] */
    {{DIRECT_SHAPES(DIRECT_ROW, int, uint64_t)},
     {DIRECT_SHAPES(DIRECT_ROW, f32, float)},
     {DIRECT_SHAPES(DIRECT_ROW, f64, double)}},
    {{DIRECT_SHAPES(NOGIL_ROW, int, uint64_t)},
     {DIRECT_SHAPES(NOGIL_ROW, f32, float)},
     {DIRECT_SHAPES(NOGIL_ROW, f64, double)}},
};
static const char *const direct_names[3][15] = {
    {DIRECT_SHAPES(DIRECT_NAME, int, uint64_t)},
    {DIRECT_SHAPES(DIRECT_NAME, f32, float)},
    {DIRECT_SHAPES(DIRECT_NAME, f64, double)},
};
#undef NOGIL_ROW
#undef DIRECT_ROW
#undef DIRECT_NAME

/* Whether f has a direct entry: 1 with its row (return class) and column (shape) in the tables above; 0 if
   its calls go through libffi or capture errno, or its signature is not one of the shapes. */
static int direct_index(nf_function *f, int *rc, int *col)
{
    if (!f->stub.call || f->stub.ret_in_memory || f->capture_errno || f->nargs > NF_DIRECT_MAX)
        return 0;
    nf_kind rk = f->ret->kind;
    if (rk != NF_VOID && !NF_IS_SCALAR(rk) && rk != NF_POINTER)
        return 0;
    int shape = 0;  /* one bit per argument, 1 for floating; the first argument most significant */
    for (Py_ssize_t i = 0; i < f->nargs; i++) {
        nf_kind k = f->argt[i]->kind;
        if (!NF_IS_SCALAR(k) && k != NF_POINTER)
            return 0;
        shape = 2 * shape + (k == NF_F32 || k == NF_F64);
    }
    *rc = rk == NF_F32 ? 1 : rk == NF_F64 ? 2 : 0;
    *col = (1 << f->nargs) - 1 + shape;
    return 1;
}

static _PyCFunctionFastWithKeywords choose_direct(nf_function *f)
{
    int rc, col;
    return direct_index(f, &rc, &col) ? direct_entries[f->is_leaf ? 0 : 1][rc][col] : NULL;
}

static const char *direct_name(nf_function *f)
{
    int rc, col;
    return direct_index(f, &rc, &col) ? direct_names[rc][col] : NULL;
}
#else
static _PyCFunctionFastWithKeywords choose_direct(nf_function *f) { return NULL; }
static const char *direct_name(nf_function *f) { return NULL; }
#endif

static PyCFunction choose_fastcall(nf_function *f)
{
    _PyCFunctionFastWithKeywords direct = choose_direct(f);
    if (direct)
        return (PyCFunction)(void (*)(void))direct;
    static const _PyCFunctionFastWithKeywords by_arity[] = {
        (_PyCFunctionFastWithKeywords)stub_fastcall_0, (_PyCFunctionFastWithKeywords)stub_fastcall_1,
        (_PyCFunctionFastWithKeywords)stub_fastcall_2, (_PyCFunctionFastWithKeywords)stub_fastcall_3,
        (_PyCFunctionFastWithKeywords)stub_fastcall_4,
    };
    if (f->stub.call && f->nargs < (Py_ssize_t)(sizeof by_arity / sizeof *by_arity))
        return (PyCFunction)(void (*)(void))by_arity[f->nargs];
    return (PyCFunction)(void (*)(void))function_fastcall;
}

static vectorcallfunc choose_entry(nf_function *f)
{
    static const vectorcallfunc by_arity[] = {
        (vectorcallfunc)stub_vectorcall_0, (vectorcallfunc)stub_vectorcall_1, (vectorcallfunc)stub_vectorcall_2,
        (vectorcallfunc)stub_vectorcall_3, (vectorcallfunc)stub_vectorcall_4,
    };
    if (f->stub.call && f->nargs < (Py_ssize_t)(sizeof by_arity / sizeof *by_arity))
        return by_arity[f->nargs];
    return (vectorcallfunc)function_vectorcall;
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
    Py_XDECREF(f->builtin);
    Py_XDECREF(f->builtin_doc);
    PyMem_Free(f->argt);
    PyMem_Free(f->offsets);
    PyMem_Free(f->atypes);
    PyMem_Free(f->split);
    PyMem_Free(f->byref);
    PyMem_Free(f->plan);
    PyMem_Free(f->sargs);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static int function_traverse(nf_function *f, visitproc visit, void *arg)
{
    Py_VISIT(f->resolver);
    Py_VISIT(f->ftype);
    Py_VISIT(f->dict);
    Py_VISIT(f->builtin);
    return 0;
}

static int function_clear(nf_function *f)
{
    Py_CLEAR(f->resolver);
    Py_CLEAR(f->dict);
    Py_CLEAR(f->builtin);
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
    f->plain = f->stub.call && is_leaf && !capture_errno && !f->stub.ret_in_memory;
    f->vectorcall = choose_entry(f);
    return (PyObject *)f;
}

static PyObject *function_get_address(nf_function *f, void *c)
{
    if (!f->fn && resolve(f) < 0)
        return NULL;
    return PyLong_FromVoidPtr(f->fn);
}

/* The builtin form, made once: `doc` (with a leading "name(params)\n--\n\n" text signature, so that
   inspect.signature works) and `module` become its __doc__ and __module__; its __self__ is f. */
static PyObject *make_builtin(nf_function *f, PyObject *doc, PyObject *module)
{
    if (!f->builtin) {
        const char *name = PyUnicode_AsUTF8(f->name);
        const char *text = doc ? PyUnicode_AsUTF8(doc) : NULL;  /* cached in doc, which f keeps */
        if (!name || (doc && !text))
            return NULL;
        Py_XSETREF(f->builtin_doc, Py_XNewRef(doc));
        f->fastdef.ml_name = name;
        f->fastdef.ml_meth = choose_fastcall(f);
        f->fastdef.ml_flags = METH_FASTCALL | METH_KEYWORDS;
        f->fastdef.ml_doc = text;
        f->builtin = PyCFunction_NewEx(&f->fastdef, (PyObject *)f, module);
        if (!f->builtin)
            return NULL;
    }
    return Py_NewRef(f->builtin);
}

static PyObject *function_get_builtin(nf_function *f, void *c) { return make_builtin(f, NULL, NULL); }

static PyObject *function_make_builtin(nf_function *f, PyObject *args)
{
    PyObject *doc = Py_None, *module = Py_None;
    if (!PyArg_ParseTuple(args, "|OO:_builtin", &doc, &module))
        return NULL;
    if ((doc != Py_None && !PyUnicode_Check(doc)) || (module != Py_None && !PyUnicode_Check(module))) {
        PyErr_SetString(PyExc_TypeError, "_builtin(doc, module): str or None expected");
        return NULL;
    }
    return make_builtin(f, doc == Py_None ? NULL : doc, module == Py_None ? NULL : module);
}

static PyMethodDef function_methods[] = {
    {"_builtin", (PyCFunction)function_make_builtin, METH_VARARGS,
     "_builtin(doc=None, module=None): the builtin form (made once), with this docstring and module."},
    {NULL},
};

static PyObject *function_get_call_path(nf_function *f, void *c)
{
    if (f->stub.call)
        return PyUnicode_FromFormat("stub %s", f->stub.name);
    return PyUnicode_FromString("libffi");
}

/* Which entry the builtin form calls: a direct entry, the stub entry of its arity, or the general one. */
static PyObject *function_get_entry(nf_function *f, void *c)
{
    const char *direct = direct_name(f);
    if (direct)
        return PyUnicode_FromString(direct);
    if (f->stub.call && f->nargs <= 4)
        return PyUnicode_FromFormat("stub arity %zd", f->nargs);
    return PyUnicode_FromString("general");
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
    {"builtin", (getter)function_get_builtin, NULL,
     "the same function as a builtin (METH_FASTCALL) function, which CPython calls faster", NULL},
    {"call_path", (getter)function_get_call_path, NULL,
     "how calls are made: 'stub <return class>/<registers>' (register-image stub) or 'libffi'", NULL},
    {"entry", (getter)function_get_entry, NULL,
     "the C entry calls of the builtin form enter: 'direct <return class>/<argument registers>' (stub calls of "
     "up to 3 scalars, no errno capture), 'stub arity N', or 'general'", NULL},
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
    .tp_methods = function_methods,
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
    if (!scratch_key_made) {
        if (pthread_key_create(&scratch_key, scratch_free) != 0) {
            PyErr_SetString(PyExc_RuntimeError, "nativeffi: pthread_key_create failed (scratch area of large returns)");
            return -1;
        }
        scratch_key_made = 1;
    }
    if (PyModule_AddObjectRef(module, "Function", (PyObject *)&nf_Function_Type) < 0)
        return -1;
    /* Which call stubs this build has: the ABI's name (None: every call goes through libffi) and its
       argument registers (integer, floating) and stack words. Tests and benchmarks read them. */
    PyObject *abi = NF_STUBS_ABI ? PyUnicode_FromString(NF_STUBS_ABI) : Py_NewRef(Py_None);
    PyObject *regs = Py_BuildValue("(ii)", NF_STUB_NGPR, NF_STUB_NFPR);
    int r = abi && regs && PyModule_AddObjectRef(module, "STUB_ABI", abi) == 0 &&
            PyModule_AddObjectRef(module, "STUB_REGISTERS", regs) == 0 &&
            PyModule_AddIntConstant(module, "STUB_STACK_WORDS", NF_STUB_NSTACK) == 0 ? 0 : -1;
    Py_XDECREF(abi);
    Py_XDECREF(regs);
    return r;
}
