/* Calls from native code into Python: NativeCallable records, upcalls, listener delivery, shutdown.
 *
 * Every callable owns a record (nf_cb, plain C memory) and a trampoline (lifetime.h) that finds it: a prebuilt
 * thunk (thunks.c) when every argument travels in a register, else a pooled libffi closure. The trampoline's
 * address is the function pointer native code calls. When a record may be freed, and when a trampoline may
 * serve another record, is lifetime.c's business (its header comment states the rules); this file keeps to
 * them: an entry that does not hold the GIL counts itself into the trampoline before it reads the record, and
 * an upcall that runs Python code marks the record busy.
 *
 * Entries (one body each, inlined into the thunk variant, which reads register images, and the libffi variant,
 * which reads libffi's argument vector):
 *   - on a thread that already holds the GIL (and for isolate_local, is the creator) a synchronous callable's
 *     Python function is called at once, inline, without an in-flight count;
 *   - everything else is entry_counted: listeners copy the raw arguments (structs by value included) into a
 *     node of the callable's queue (listener.c) and return without touching Python; the owner later calls
 *     Callback.drain() to deliver them. Synchronous calls from other threads take the GIL with the thread's own
 *     thread state, created once per native thread and kept until the thread exits; isolate_local aborts,
 *     naming the callable, when the caller is not the creator.
 * Shutdown: an atexit hook sets `shutting_down`, then waits (GIL released) for native threads that are inside a
 * call into Python (a per-thread depth count, so nested callbacks count) to finish. Native threads check the
 * flag before any GIL work, so calls that arrive later are dropped instead of blocking on, or being killed by,
 * a finalizing runtime.
 */
#define _GNU_SOURCE 1  /* as pyconfig.h defines it (3.9 and 3.10 define it again unconditionally) */
#include "callback.h"
#include "compound.h"
#include "convert.h"
#include "errors.h"
#include "lifetime.h"
#include "listener.h"
#include "thunks.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NF_MAX_STACK_ARGS 32     /* wider callbacks allocate their argument vector (> NF_THUNK_MAX_ARGS) */
#define NF_DRAIN_BATCH 65536     /* messages delivered per wakeup before yielding back to the event loop... */
#define NF_DRAIN_NS 5000000LL    /* ...or this long (ns), so the loop's other work and Python threads run */
#define NF_DRAIN_STREAM 64       /* a drain that delivered this many polls briefly before it sleeps (listener.c) */
#define NF_DRAIN_CLOCK 256       /* messages between two looks at the clock (before: after 1, 2, 4, ... messages) */
#define NF_SHUTDOWN_WAIT_NS 2000000000LL  /* how long the exit hook waits for in-flight native callers */
_Static_assert(NF_THUNK_MAX_ARGS < NF_MAX_STACK_ARGS, "thunk calls keep their arguments on the stack");

/* The thread state attached to the calling thread (3.12+) or holding the GIL (3.11 and older), or NULL;
   equal to a thread's own state exactly when that thread holds the GIL. No checks, no errors. */
#if PY_VERSION_HEX >= 0x030D0000
#define nf_current_tstate() PyThreadState_GetUnchecked()
#else
#define nf_current_tstate() _PyThreadState_UncheckedGet()
#endif

static atomic_int shutting_down;      /* set once by the exit hook; never cleared */
static const char listener_mark;      /* a listener trampoline's owner_ts hint: no thread state is ever there, so
                                         try_call_here sends its calls to entry_counted at once (before 3.12) */
static PyInterpreterState *interp;    /* the interpreter foreign threads join */

/* -- The record ------------------------------------------------------------ */

typedef struct nf_cb {
    nf_life life;               /* open flag, busy count, trampoline, lifetime state (lifetime.c); first member */
    atomic_int reported;        /* a call after close has been reported (once) */
    int mode;                   /* nf_cb_mode */
    PyThreadState *owner_ts;    /* creating thread's state: isolate_local runs only where it is current... */
    uint64_t owner_id;          /* ...and has this unique id (a freed state's address can be reused by a new thread) */
    PyObject *self;             /* the Callback object (borrowed; valid while open) */
    PyObject *fn;               /* the Python callable; owned while open, NULL after close */
    PyObject *on_error;         /* listener: handler(exc) for exceptions, NULL for sys.unraisablehook */
    nf_ctype *ftype;            /* the NativeFunction CType; owned until the record is destroyed */
    Py_ssize_t nargs;           /* number of parameters */
    nf_ctype **argt;            /* parameter CTypes (borrowed from ftype->params; variadic ones arrive narrowed to
                                   them by entry_closure_variadic_*) */
    size_t *off;                /* listener: offset of each argument in a message */
    size_t msgsize;             /* listener: bytes of arguments in a message */
    int thunk;                  /* 1: served by a prebuilt thunk (plan), 0: by a libffi closure */
    nf_thunk_plan plan;         /* thunk: where each argument sits in the register images */
    void *code;                 /* the native function pointer: the trampoline's code */
    unsigned char *exc_ret;     /* the return register image for failures (exceptional_return or zeros) */
    size_t retimg;              /* bytes of exc_ret: the return size (scalars narrower than ffi_arg: widened) */
    char *name;                 /* C copy of the callable's name, for aborts and late-call reports */
    int has_queue;              /* q's messages and pool are there (listener, until released) */
    int has_fds;                /* q's wakeup fds are open (listener, until no loop watches them) */
    unsigned qgen;              /* listener: bumped when a forked child replaces q (a drain in progress stops) */
    nf_lqueue q;                /* listener: messages waiting for the owner */
} nf_cb;

typedef struct {
    PyObject_HEAD
    nf_cb *cb;                  /* the record; NULL once closed (lifetime.c then decides when it goes) */
    nf_cb *watched;             /* listener: the record while an event loop may still watch its fd (see _unwatch) */
    PyObject *ftype;            /* the NativeFunction CType */
    PyObject *name;             /* str used in messages */
    int mode;                   /* nf_cb_mode */
    PyObject *weakreflist;
} nf_callback;

/* Releases what only an open listener needs: its queue and node pool (lifetime.c: when idle). */
static void record_release(nf_life *life)
{
    nf_cb *cb = (nf_cb *)life;
    if (cb->has_queue)
        nf_lqueue_free_memory(&cb->q);
    cb->has_queue = 0;
}

/* Closes the listener's wakeup fd (lifetime.c: when idle and no event loop watches it). */
static void record_unwatched(nf_life *life)
{
    nf_cb *cb = (nf_cb *)life;
    if (cb->has_fds)
        nf_lqueue_close_fds(&cb->q);
    cb->has_fds = 0;
}

/* Frees the record (lifetime.c: when no caller can reach it; or a record never handed out). GIL held. */
static void record_destroy(nf_life *life)
{
    nf_cb *cb = (nf_cb *)life;
    record_release(life);
    record_unwatched(life);
    Py_XDECREF(cb->fn);
    Py_XDECREF(cb->on_error);
    Py_XDECREF(cb->ftype);
    PyMem_RawFree(cb->off);
    PyMem_RawFree(cb->exc_ret);
    PyMem_RawFree(cb->argt);
    free(cb->name);
    PyMem_RawFree(cb);
}

/* -- Native threads: cached thread states and the shutdown handshake ------- */

typedef struct nf_thread {
    atomic_int inflight;        /* calls into Python on this thread now, nested ones included (a depth, not a flag) */
    PyThreadState *ts;          /* thread state this library created for a foreign thread, or NULL */
    struct nf_thread *next;     /* all registered threads (for the exit hook's scan) */
} nf_thread;

static _Thread_local nf_thread *this_thread NF_TLS_FAST;  /* initial-exec: one %fs load */
static pthread_key_t thread_key;           /* its destructor releases a thread's record at thread exit */
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static nf_thread *threads;                  /* list of registered threads, under threads_lock */

/* A number unique to the calling thread among live threads (like pthread_self, and like it reused once the thread
   exits), without a call: the address of this thread's own `this_thread`. */
static inline uintptr_t thread_tag(void) { return (uintptr_t)&this_thread; }

static void thread_unlink(nf_thread *th)
{
    pthread_mutex_lock(&threads_lock);
    for (nf_thread **p = &threads; *p; p = &(*p)->next)
        if (*p == th) {
            *p = th->next;
            break;
        }
    pthread_mutex_unlock(&threads_lock);
}

/* Thread exit: deletes the thread state made for this thread (unless Python is finalizing). */
static void thread_exit(void *arg)
{
    nf_thread *th = arg;
    if (th->ts) {
        atomic_fetch_add(&th->inflight, 1);
        if (!atomic_load(&shutting_down)) {
            PyEval_RestoreThread(th->ts);
            PyThreadState_Clear(th->ts);
            PyThreadState_DeleteCurrent();
        }
        atomic_fetch_sub(&th->inflight, 1);
    }
    thread_unlink(th);
    this_thread = NULL;
    free(th);
}

/* Marks the calling thread as about to enter Python. NULL if shutdown has begun (the call must be dropped). */
static nf_thread *thread_enter(void)
{
    nf_thread *th = this_thread;
    if (!th) {
        th = calloc(1, sizeof *th);
        if (!th)
            return NULL;
        pthread_mutex_lock(&threads_lock);
        th->next = threads;
        threads = th;
        pthread_mutex_unlock(&threads_lock);
        pthread_setspecific(thread_key, th);
        this_thread = th;
    }
    atomic_fetch_add(&th->inflight, 1);  /* seq_cst: pairs with the exit hook's store then scan */
    if (atomic_load(&shutting_down)) {
        atomic_fetch_sub(&th->inflight, 1);
        return NULL;
    }
    return th;
}

/* Only its own thread writes a thread's depth (the exit hook only reads it), so leaving needs no locked
   read-modify-write, only release order: what the call did is done before the hook sees the depth drop. */
static void thread_leave(nf_thread *th)
{
    atomic_store_explicit(&th->inflight, atomic_load_explicit(&th->inflight, memory_order_relaxed) - 1,
                          memory_order_release);
}

/* The calling thread's thread state, creating (once) one for a thread Python has never seen. */
static PyThreadState *thread_state(nf_thread *th)
{
    PyThreadState *ts = PyGILState_GetThisThreadState();
    if (!ts && !th->ts) {
        ts = th->ts = PyThreadState_New(interp);  /* also registers it as this thread's PyGILState state */
    }
    return ts ? ts : th->ts;
}

/* -- Values between C and Python ------------------------------------------- */

static inline __attribute__((always_inline)) PyObject *load_arg(nf_ctype *t, const void *src)
{
    if (__builtin_expect(t->kind == NF_I64, 1))  /* the common case first: one compare, not the switch's chain */
        return PyLong_FromLongLong(*(const int64_t *)src);
    switch (t->kind) {
    case NF_I64: return PyLong_FromLongLong(*(const int64_t *)src);
    case NF_I32: return PyLong_FromLong(*(const int32_t *)src);
    case NF_F64: return PyFloat_FromDouble(*(const double *)src);
    case NF_STRUCT: case NF_UNION: case NF_ARRAY: return nf_compound_copy(t, src);  /* the bytes die with the call */
    default: return nf_cconv_load(t, src, NULL);
    }
}

/* Writes `value` (already in C form at src) as libffi's closure return image: small ints widened to ffi_arg. */
static void widen_return(nf_ctype *t, const void *src, void *ret)
{
    switch (t->kind) {
    case NF_I8: *(ffi_sarg *)ret = *(const int8_t *)src; break;
    case NF_U8: *(ffi_arg *)ret = *(const uint8_t *)src; break;
    case NF_BOOL: *(ffi_arg *)ret = *(const _Bool *)src; break;
    case NF_I16: *(ffi_sarg *)ret = *(const int16_t *)src; break;
    case NF_U16: *(ffi_arg *)ret = *(const uint16_t *)src; break;
    case NF_I32: *(ffi_sarg *)ret = *(const int32_t *)src; break;
    case NF_U32: *(ffi_arg *)ret = *(const uint32_t *)src; break;
    default: memcpy(ret, src, t->size); break;
    }
}

/* Python -> the return image at `ret`. -1 with an exception set if `r` does not fit the return type. */
static inline __attribute__((always_inline)) int store_return(nf_ctype *t, void *ret, PyObject *r)
{
    if (t->kind == NF_VOID)
        return 0;
    if (t->kind == NF_I64 && PyLong_CheckExact(r)) {
        int64_t small;
        if (nf_long_compact(r, &small)) {  /* no call for one or two digits */
            *(int64_t *)ret = small;
            return 0;
        }
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(r, &overflow);  /* cannot fail for an exact int */
        if (!overflow) {
            *(int64_t *)ret = v;
            return 0;
        }
    }
    if (NF_IS_SCALAR(t->kind) && t->size < (Py_ssize_t)sizeof(ffi_arg)) {
        unsigned char tmp[8];
        if (nf_cconv_store(t, tmp, r) < 0)
            return -1;
        widen_return(t, tmp, ret);
        return 0;
    }
    return nf_cconv_store(t, ret, r);
}

/* -- Reporting ----------------------------------------------------------- */

/* Reports the pending exception of a synchronous callback: sys.unraisablehook, naming the callable. */
_Thread_local nf_upcall_state nf_upcall NF_TLS_FAST;

/* Reports the pending exception of a synchronous callback. KeyboardInterrupt and SystemExit raised while this
   thread is inside a non-leaf nativeffi call are kept (the first one) and re-raised by that call when it
   returns (nf_nonleaf_leave); everything else goes to sys.unraisablehook, naming the callable. */
static void report_sync(nf_cb *cb)
{
    PyObject *type, *value, *tb;
    if (nf_upcall.depth > 0 && !nf_upcall.pending &&
        (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) || PyErr_ExceptionMatches(PyExc_SystemExit))) {
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb && value)
            PyException_SetTraceback(value, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        nf_upcall.pending = value;
        return;
    }
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    /* The callable (open), or its name if the callback closed it (its object may be gone). */
    PyObject *obj = cb->self ? Py_NewRef(cb->self) : PyUnicode_FromFormat("NativeCallable %s (closed)", cb->name);
    if (!obj)
        PyErr_Clear();
    PyErr_Restore(type, value, tb);
    PyErr_WriteUnraisable(obj);
    Py_XDECREF(obj);
}

PyObject *nf_upcall_raise_pending(PyObject *result)
{
    PyObject *exc = nf_upcall.pending;
    nf_upcall.pending = NULL;
    Py_XDECREF(result);
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

/* A synchronous call through a closed callable: reported once, with the GIL held. */
static void report_late(nf_cb *cb)
{
    if (atomic_exchange(&cb->reported, 1))
        return;
    PyErr_Format(PyExc_RuntimeError, "native code called NativeCallable %s after close(); it got the "
                 "exceptional return (or zero) and Python was not called (reported once)", cb->name);
    PyErr_WriteUnraisable(NULL);
}

/* -- Synchronous upcalls --------------------------------------------------- */

/* Where a call's arguments are: libffi's argument vector (args), or, for a prebuilt thunk, the register images
   r and d (args NULL). Every entry below is written once over this and inlined into one variant per
   trampoline kind, so the thunk path never builds an argument vector. */
static inline __attribute__((always_inline)) void *arg_at(nf_cb *cb, void **args, const uint64_t *r,
                                                          const double *d, Py_ssize_t i)
{
    return args ? args[i] : nf_thunk_arg(&cb->plan, r, d, i);
}

static void exceptional(nf_cb *cb, void *ret)
{
    if (cb->retimg)
        memcpy(ret, cb->exc_ret, cb->retimg);
}

/* After an upcall or a drain: a record closed meanwhile drops the function close() left to the upcall (see
   callback_close_impl), and may be idle now. */
static inline void done_busy(nf_cb *cb)
{
    if (--cb->life.busy == 0 && cb->life.state != NF_LIFE_OPEN) {
        Py_CLEAR(cb->fn);
        nf_life_reclaim();
    }
}

/* PyObject_Vectorcall without its thread-state lookup and result check (36 instructions a call on 3.11): the
   callable's own vectorcall entry, read per call (an object may change it), else the generic call. A NULL result
   without an exception, which PyObject_Vectorcall would turn into a SystemError, becomes one here too. */
static inline __attribute__((always_inline)) PyObject *vectorcall(PyObject *fn, PyObject *const *argv, size_t nargsf)
{
    PyTypeObject *tp = Py_TYPE(fn);
    PyObject *r;
    if (tp->tp_flags & Py_TPFLAGS_HAVE_VECTORCALL) {
        vectorcallfunc f;
        memcpy(&f, (char *)fn + tp->tp_vectorcall_offset, sizeof f);
        if (f) {
            r = f(fn, argv, nargsf, NULL);
            if (!r && !PyErr_Occurred())
                PyErr_Format(PyExc_SystemError, "%R returned NULL without setting an exception", fn);
            return r;
        }
    }
    return PyObject_Vectorcall(fn, argv, nargsf, NULL);
}

/* With the GIL held: converts the arguments, calls the Python function, stores its result. */
static inline __attribute__((always_inline)) void call_locked(nf_cb *cb, void *ret, void **args,
                                                              const uint64_t *r, const double *d)
{
    if (!atomic_load_explicit(&cb->life.open, memory_order_acquire)) {
        exceptional(cb, ret);
        cb->life.busy++;       /* the report runs Python code, which may let the GIL go */
        report_late(cb);
        done_busy(cb);
        return;
    }
    PyObject *fn = cb->fn;  /* borrowed: while the record is busy, close() leaves it to done_busy */
    nf_ctype *rt = cb->ftype->ret;
    cb->life.busy++;        /* the GIL may go while Python runs: the record and fn stay meanwhile */
    Py_ssize_t n = cb->nargs, i;
    PyObject *stack[NF_MAX_STACK_ARGS + 1];
    /* Thunk signatures have at most NF_THUNK_MAX_ARGS arguments: the stack always does (args is a constant). */
    PyObject **argv = !args || n < NF_MAX_STACK_ARGS ? stack : PyMem_Malloc((n + 1) * sizeof(PyObject *));
    PyObject *r_obj = NULL;
    if (!argv) {
        PyErr_NoMemory();
        goto fail;
    }
    for (i = 0; i < n; i++) {
        argv[i + 1] = load_arg(cb->argt[i], arg_at(cb, args, r, d, i));
        if (!argv[i + 1])
            break;
    }
    if (i == n)
        r_obj = vectorcall(fn, argv + 1, (size_t)n | PY_VECTORCALL_ARGUMENTS_OFFSET);
    for (Py_ssize_t j = 0; j < i; j++)
        Py_DECREF(argv[j + 1]);
    if (argv != stack)
        PyMem_Free(argv);
    if (!r_obj)
        goto fail;
    if (store_return(rt, ret, r_obj) < 0) {
        Py_DECREF(r_obj);
        goto fail;
    }
    Py_DECREF(r_obj);
    done_busy(cb);
    return;
fail:
    exceptional(cb, ret);
    report_sync(cb);
    done_busy(cb);
}

static void wrong_thread(nf_cb *cb)
{
    fprintf(stderr, "nativeffi: Cannot invoke native callback from a different isolate: "
            "NativeCallable.isolate_local %s was created on another thread and called from thread %#lx. "
            "Use NativeCallable.listener or NativeCallable.isolate_group_bound for calls from other threads.\n",
            cb->name, (unsigned long)pthread_self());
    fflush(stderr);
    abort();
}

/* Whether this thread holds the GIL (`current`: nf_current_tstate()), asked without reading any record (a record may be freed only by a GIL
   holder, so a caller that holds it may read the record a trampoline names without counting itself in).
   3.12+: the current thread state is this thread's own, set only while attached. Before: it is the GIL
   holder's, whichever thread asks, so compare it with this thread's registered state. */
static inline __attribute__((always_inline)) int gil_is_mine(PyThreadState *current)
{
#if PY_VERSION_HEX >= 0x030C0000
    return current != NULL;
#else
    return current && current == PyGILState_GetThisThreadState();
#endif
}

/* Whether `ts` (a thread state of the calling thread, or NULL) is the creator's: isolate_local's thread check. */
static inline int is_owner(nf_cb *cb, PyThreadState *ts) { return ts == cb->owner_ts && ts->id == cb->owner_id; }

/* With the GIL held by this thread, whose current thread state is `current`: whether the call can go straight
   to Python (not shutting down; for isolate_local, on the creating thread). Anything else, the wrong-thread
   abort included, is the slow path. */
static inline __attribute__((always_inline)) int may_call_here(nf_cb *cb, PyThreadState *current)
{
    if (atomic_load_explicit(&shutting_down, memory_order_relaxed))
        return 0;
    return cb->mode != NF_CB_LOCAL || is_owner(cb, current);
}

/* Synchronous calls off the fast path: other threads (thread state, shutdown handshake), the wrong-thread
   abort, shutdown, calls after close. The caller is counted into the record's trampoline. The calling thread's
   registered state is looked up once (PyGILState_Check and thread_state would each look it up again), and not
   at all on a native thread whose state this library made: PyThreadState_New registered that one as the thread's
   own, and it stays until the thread exits (26 instructions a call on 3.11). */
static void call_sync_slow(nf_cb *cb, void *ret, void **args, const uint64_t *r, const double *d)
{
    int stopping = atomic_load_explicit(&shutting_down, memory_order_relaxed);
    nf_thread *known = this_thread;
    PyThreadState *mine = known && known->ts ? known->ts : PyGILState_GetThisThreadState();
    if (cb->mode == NF_CB_LOCAL && !is_owner(cb, mine))
        wrong_thread(cb);
    if (stopping ||
        (!atomic_load_explicit(&cb->life.open, memory_order_relaxed) && atomic_load(&cb->reported))) {
        exceptional(cb, ret);
        return;
    }
    if (mine && nf_current_tstate() == mine) {  /* called from Python on this thread with the GIL kept (leaf) */
        call_locked(cb, ret, args, r, d);
        return;
    }
    nf_thread *th = thread_enter();
    if (!th) {
        exceptional(cb, ret);
        return;
    }
    PyThreadState *ts = mine ? mine : thread_state(th);
    if (!ts) {
        thread_leave(th);
        exceptional(cb, ret);
        return;
    }
    PyEval_RestoreThread(ts);
    call_locked(cb, ret, args, r, d);
    PyEval_SaveThread();
    thread_leave(th);
}

/* -- Listener: producer side (no GIL) ---------------------------------------- */

/* Queues the raw arguments. The caller is counted into the trampoline, so the queue stays while we use it. */
static void post(nf_cb *cb, void **args, const uint64_t *r, const double *d)
{
    if (!atomic_load_explicit(&cb->life.open, memory_order_seq_cst) ||
        atomic_load_explicit(&shutting_down, memory_order_relaxed))
        return;  /* closed or shutting down: dropped */
    nf_msg *m = nf_lqueue_msg_alloc(&cb->q);
    if (!m)
        return;  /* pool empty and malloc failed: nothing can be queued */
    char *a = NF_MSG_ARGS(m);
    for (Py_ssize_t i = 0; i < cb->nargs; i++)
        memcpy(a + cb->off[i], arg_at(cb, args, r, d, i), cb->argt[i]->size);
    nf_lqueue_push(&cb->q, m);
}

/* -- Entries ------------------------------------------------------------------- */

/* Every call that cannot take the fast path: counted into the trampoline before the record is read (lifetime.c
   frees nothing a counted caller can reach). `retsize`: bytes of the return image, zeroed when the trampoline
   serves no record. */
static __attribute__((noinline)) void entry_counted(nf_tramp *t, void *ret, size_t retsize, void **args,
                                                    const uint64_t *r, const double *d)
{
    nf_cb *cb = (nf_cb *)nf_tramp_enter(t);
    if (!cb)
        memset(ret, 0, retsize);
    else if (cb->mode == NF_CB_LISTENER)
        post(cb, args, r, d);
    else
        call_sync_slow(cb, ret, args, r, d);
    nf_tramp_leave(t);
}

/* The fast path of every synchronous entry: this thread holds the GIL and may call (then the record cannot go
   away under us: see gil_is_mine). Returns 0 if the call must take entry_counted instead. */
static inline __attribute__((always_inline)) int try_call_here(nf_tramp *t, void *ret, void **args,
                                                               const uint64_t *r, const double *d)
{
    PyThreadState *current = nf_current_tstate();
    nf_cb *cb;
#if PY_VERSION_HEX < 0x030C0000
    void *owner = atomic_load_explicit(&t->owner_ts, memory_order_relaxed);
    if (owner) {
        /* isolate_local: the creator's state (its id too: not a later state at a reused address) is current and
           this is the creator's thread, so the GIL is ours without the thread-state lookup gil_is_mine makes
           (26 instructions), and the record, whose owner the hint was set from with the GIL, needs no more checks. */
        if (owner != (void *)current || current->id != atomic_load_explicit(&t->owner_id, memory_order_relaxed) ||
            atomic_load_explicit(&t->owner_thread, memory_order_relaxed) != thread_tag())
            return 0;
        cb = (nf_cb *)atomic_load_explicit(&t->rec, memory_order_relaxed);
        if (!cb || atomic_load_explicit(&shutting_down, memory_order_relaxed))
            return 0;
        call_locked(cb, ret, args, r, d);
        return 1;
    }
#endif
    if (!gil_is_mine(current))
        return 0;
    cb = (nf_cb *)atomic_load_explicit(&t->rec, memory_order_relaxed);
    if (!cb || cb->mode == NF_CB_LISTENER || !may_call_here(cb, current))
        return 0;
    call_locked(cb, ret, args, r, d);
    return 1;
}

/* Every prebuilt thunk's entry (thunks.c); its return image is 16 bytes. */
static void entry_thunk(nf_tramp *t, void *ret, const uint64_t *r, const double *d)
{
    if (!try_call_here(t, ret, NULL, r, d))
        entry_counted(t, ret, 16, NULL, r, d);
}

/* Bytes of a libffi closure's return image: scalars narrower than ffi_arg are widened. */
static size_t closure_retsize(ffi_cif *cif)
{
    size_t n = cif->rtype->type == FFI_TYPE_VOID ? 0 : cif->rtype->size;
    return n && n < sizeof(ffi_arg) ? sizeof(ffi_arg) : n;
}

/* libffi closure entry of isolate_local and isolate_group_bound (user data: the trampoline). */
static void entry_closure_sync(ffi_cif *cif, void *ret, void **args, void *user)
{
    if (!try_call_here(user, ret, args, NULL, NULL))
        entry_counted(user, ret, closure_retsize(cif), args, NULL, NULL);
}

/* libffi closure entry of listeners. */
static void entry_closure_listener(ffi_cif *cif, void *ret, void **args, void *user)
{
    entry_counted(user, ret, 0, args, NULL, NULL);
}

/* Variadic callables (always libffi closures, prepared over the promoted types): the arguments are narrowed back
   to their declared types, as a C callee's va_arg and cast would read them (a Float arrives as a double, an Int8
   as an int), into `store`, and `out` points at them; the rest of the call sees a fixed signature. The types
   come from the closure's pool (immutable), not the record, which may not be read before counting in. 0, or -1
   if there are more arguments than NF_MAX_STACK_ARGS and no memory for them (the call is dropped). */
static int narrow_variadic(void *user, void **args, void ***out, uint64_t *store, void **out_stack)
{
    nf_ctype *ft = nf_life_closure_type(user);
    Py_ssize_t n = PyTuple_GET_SIZE(ft->params);
    void **a = out_stack;
    if (n > NF_MAX_STACK_ARGS && !(a = malloc((size_t)n * (sizeof(void *) + sizeof(uint64_t)))))
        return -1;
    uint64_t *s = n > NF_MAX_STACK_ARGS ? (uint64_t *)(a + n) : store;
    for (Py_ssize_t i = 0; i < n; i++) {
        nf_ctype *t = (nf_ctype *)PyTuple_GET_ITEM(ft->params, i);
        if (i >= ft->nfixed && nf_types_promoted(t) != t) {
            nf_cconv_from_promoted(t, args[i], &s[i]);
            a[i] = &s[i];
        } else {
            a[i] = args[i];
        }
    }
    *out = a;
    return 0;
}

static void entry_closure_variadic_sync(ffi_cif *cif, void *ret, void **args, void *user)
{
    void *stack[NF_MAX_STACK_ARGS], **a;
    uint64_t store[NF_MAX_STACK_ARGS];
    if (narrow_variadic(user, args, &a, store, stack) < 0) {
        memset(ret, 0, closure_retsize(cif));
        return;
    }
    entry_closure_sync(cif, ret, a, user);
    if (a != stack)
        free(a);
}

static void entry_closure_variadic_listener(ffi_cif *cif, void *ret, void **args, void *user)
{
    void *stack[NF_MAX_STACK_ARGS], **a;
    uint64_t store[NF_MAX_STACK_ARGS];
    if (narrow_variadic(user, args, &a, store, stack) < 0)
        return;
    entry_closure_listener(cif, ret, a, user);
    if (a != stack)
        free(a);
}

/* -- Listener: delivery (owner, GIL) ---------------------------------------- */

/* Reports the pending exception of a listener callback to its handler (asyncio) or sys.unraisablehook. */
static void report_listener(nf_cb *cb, PyObject *self)
{
    if (!cb->on_error) {
        PyErr_WriteUnraisable(self);
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    PyObject *handler = Py_NewRef(cb->on_error);
    PyObject *r = PyObject_CallOneArg(handler, value ? value : Py_None);
    Py_DECREF(handler);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    if (!r)
        PyErr_WriteUnraisable(self);
    Py_XDECREF(r);
}

static void deliver(nf_cb *cb, PyObject *self, nf_msg *m)
{
    PyObject *fn = Py_XNewRef(cb->fn);  /* first: making the arguments may run Python code that closes us */
    if (!fn)
        return;  /* closed: dropped */
    Py_ssize_t n = cb->nargs, i;
    PyObject *stack[NF_MAX_STACK_ARGS + 1];
    PyObject **argv = n < NF_MAX_STACK_ARGS ? stack : PyMem_Malloc((n + 1) * sizeof(PyObject *));
    if (!argv) {
        Py_DECREF(fn);
        PyErr_NoMemory();
        report_listener(cb, self);
        return;
    }
    const char *a = NF_MSG_ARGS(m);
    PyObject *r = NULL;
    for (i = 0; i < n; i++) {
        argv[i + 1] = load_arg(cb->argt[i], a + cb->off[i]);
        if (!argv[i + 1])
            break;
    }
    if (i == n)
        r = PyObject_Vectorcall(fn, argv + 1, (size_t)n | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(fn);
    for (Py_ssize_t j = 0; j < i; j++)
        Py_DECREF(argv[j + 1]);
    if (argv != stack)
        PyMem_Free(argv);
    if (r)
        Py_DECREF(r);
    else
        report_listener(cb, self);
}

/* -- The Callback object --------------------------------------------------- */

/* The libffi closure entry of a callable of type `ft` and `mode`. */
static void (*closure_entry(nf_ctype *ft, int mode))(ffi_cif *, void *, void **, void *)
{
    if (ft->variadic)
        return mode == NF_CB_LISTENER ? entry_closure_variadic_listener : entry_closure_variadic_sync;
    return mode == NF_CB_LISTENER ? entry_closure_listener : entry_closure_sync;
}

static int setup_record(nf_cb *cb, nf_ctype *ft, PyObject *exc_ret)
{
    Py_ssize_t n = PyTuple_GET_SIZE(ft->params);
    cb->nargs = n;
    cb->argt = PyMem_RawCalloc(n ? n : 1, sizeof(nf_ctype *));
    cb->off = PyMem_RawCalloc(n ? n : 1, sizeof(size_t));
    if (!cb->argt || !cb->off) {
        PyErr_NoMemory();
        return -1;
    }
    size_t off = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        nf_ctype *t = (nf_ctype *)PyTuple_GET_ITEM(ft->params, i);
        if (t->kind == NF_VOID || t->kind == NF_OPAQUE || t->kind == NF_FUNCTION || !t->ffi) {
            PyErr_Format(PyExc_TypeError, "parameter %zd of a NativeCallable has type %U, which cannot be "
                         "passed by value; use a Pointer to it", i + 1, t->name);
            return -1;
        }
        size_t al = t->align > 1 ? (size_t)t->align : 1;
        if (__builtin_add_overflow(off, al - 1, &off) || __builtin_add_overflow(off / al * al, (size_t)t->size, &off) ||
            off > PY_SSIZE_T_MAX) {
            PyErr_Format(PyExc_OverflowError, "the arguments of %U do not fit in memory", ft->name);
            return -1;
        }
        cb->argt[i] = t;
        cb->off[i] = off - (size_t)t->size;
    }
    cb->msgsize = off;
    nf_ctype *rt = ft->ret;
    if (rt->kind == NF_OPAQUE || rt->kind == NF_FUNCTION || !rt->ffi) {
        PyErr_Format(PyExc_TypeError, "a NativeCallable cannot return %U by value; return a Pointer to it", rt->name);
        return -1;
    }
    if (rt->kind != NF_VOID) {
        /* Scalars: libffi's closure reads a whole ffi_arg. Compounds: exactly their size, since a struct returned
           in memory is written straight into the caller's buffer. */
        cb->retimg = NF_IS_COMPOUND(rt->kind) || (size_t)rt->size > sizeof(ffi_arg) ? (size_t)rt->size
                                                                                    : sizeof(ffi_arg);
        cb->exc_ret = PyMem_RawCalloc(1, cb->retimg);
        if (!cb->exc_ret) {
            PyErr_NoMemory();
            return -1;
        }
        if (exc_ret && store_return(rt, cb->exc_ret, exc_ret) < 0)
            return nf_errors_prefix("exceptional_return %R does not fit the return type %U", exc_ret, rt->name);
    }
    if (cb->mode == NF_CB_LISTENER) {
        if (nf_lqueue_init(&cb->q, cb->msgsize) < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        cb->has_queue = cb->has_fds = 1;
    }
    /* Last, so that a record that fails above was never reachable from native code. */
    nf_tramp *t = NULL;
    if (nf_thunk_plan_init(&cb->plan, ft, cb->mode == NF_CB_LISTENER) == 0 && (t = nf_life_attach_thunk(&cb->life, cb->plan.table)))
        cb->thunk = 1;  /* a prebuilt thunk: no libffi closure needed */
    else if (!(t = nf_life_attach_closure(&cb->life, ft, closure_entry(ft, cb->mode))))
        return -1;
    cb->code = t->code;
    int local = cb->mode == NF_CB_LOCAL;
    void *hint = local ? (void *)cb->owner_ts : cb->mode == NF_CB_LISTENER ? (void *)&listener_mark : NULL;
    atomic_store_explicit(&t->owner_thread, local ? thread_tag() : 0, memory_order_relaxed);
    atomic_store_explicit(&t->owner_id, local ? cb->owner_id : 0, memory_order_relaxed);
    atomic_store_explicit(&t->owner_ts, hint, memory_order_relaxed);
    return 0;
}

static PyObject *callback_new(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ftype", "fn", "mode", "name", "exceptional_return", NULL};
    nf_ctype *ft;
    PyObject *fn, *name, *exc_ret = NULL;
    int mode;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OiU|O:Callback", kwlist, &nf_CType_Type, &ft, &fn, &mode, &name,
                                     &exc_ret))
        return NULL;
    if (ft->kind != NF_FUNCTION) {
        PyErr_Format(PyExc_TypeError, "NativeCallable expected a NativeFunction[[...], R] type, got %U", ft->name);
        return NULL;
    }
    if (mode < NF_CB_LOCAL || mode > NF_CB_GROUP) {
        PyErr_Format(PyExc_ValueError, "Callback mode must be 0, 1 or 2, got %d", mode);
        return NULL;
    }
    if (!PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "NativeCallable expected a callable, got %.200s", Py_TYPE(fn)->tp_name);
        return NULL;
    }
    if (atomic_load(&shutting_down)) {
        PyErr_SetString(PyExc_RuntimeError, "cannot create a NativeCallable: the interpreter is shutting down");
        return NULL;
    }
    nf_callback *self = (nf_callback *)cls->tp_alloc(cls, 0);
    if (!self)
        return NULL;
    self->ftype = Py_NewRef(ft);
    self->name = Py_NewRef(name);
    self->mode = mode;
    nf_cb *cb = PyMem_RawCalloc(1, sizeof *cb);
    const char *cname = PyUnicode_AsUTF8(name);
    if (!cb || !cname) {
        PyMem_RawFree(cb);
        Py_DECREF(self);
        return cname ? PyErr_NoMemory() : NULL;
    }
    cb->mode = mode;
    cb->owner_ts = PyThreadState_Get();
    cb->owner_id = cb->owner_ts->id;
    cb->life.release = record_release;
    cb->life.unwatched = record_unwatched;
    cb->life.destroy = record_destroy;
    cb->self = (PyObject *)self;
    cb->fn = Py_NewRef(fn);
    cb->ftype = (nf_ctype *)Py_NewRef(ft);
    cb->name = strdup(cname);
    if (!cb->name || setup_record(cb, ft, exc_ret) < 0) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        record_destroy(&cb->life);
        Py_DECREF(self);
        return NULL;
    }
    self->cb = cb;
    nf_life_reclaim();  /* records closed while in use may be idle by now */
    return (PyObject *)self;
}

/* Closes: native calls from now on are dropped or get the exceptional return. True if it was open. */
static int callback_close_impl(nf_callback *self)
{
    nf_cb *cb = self->cb;
    if (!cb)
        return 0;
    self->cb = NULL;
    if (!cb->life.busy || cb->mode == NF_CB_LISTENER)
        Py_CLEAR(cb->fn);      /* the record lives on (lifetime.c) without Python references; a synchronous
                                  record in an upcall keeps fn until the upcall's done_busy (the upcall borrows it) */
    Py_CLEAR(cb->on_error);
    cb->self = NULL;
    nf_life_close(&cb->life);
    return 1;
}

static void callback_dealloc(nf_callback *self)
{
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->watched) {       /* no loop can watch the fd any more: a reader's callback would keep us alive */
        self->watched->life.watched = 0;
        self->watched = NULL;
        if (!self->cb)
            nf_life_reclaim();
    }
    callback_close_impl(self);
    Py_XDECREF(self->ftype);
    Py_XDECREF(self->name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *callback_close(nf_callback *self, PyObject *unused)
{
    return PyBool_FromLong(callback_close_impl(self));
}

static PyObject *closed_error(nf_callback *self)
{
    PyErr_Format(PyExc_RuntimeError, "NativeCallable %U is closed; its native function no longer exists", self->name);
    return NULL;
}

/* Whether a drain looks at the clock after its n-th message: after 1, 2, 4, ... 128 (slow callbacks), then
   every NF_DRAIN_CLOCK (fast ones: the clock costs less than 1% of a delivery). */
static inline int look_at_clock(long n) { return (n & (n - 1)) == 0 || n % NF_DRAIN_CLOCK == 0; }

/* The owner's side: delivers the queued messages in one batch with the GIL held throughout (Python code in the
   callbacks still lets other threads run at the interpreter's switch interval), until the queue is empty, or
   NF_DRAIN_BATCH messages or NF_DRAIN_NS have passed: then the owner wakes itself and returns to its loop. */
static PyObject *callback_drain(nf_callback *self, PyObject *unused)
{
    nf_cb *cb = self->cb;
    if (!cb || !cb->has_queue)
        return PyLong_FromLong(0);
    Py_INCREF(self);
    cb->life.busy++;  /* a callback that closes its listener (and many others) must not free the queue under us */
    unsigned gen = cb->qgen;  /* a fork inside the callback gives the child a new queue: this one is then left */
    nf_lqueue_begin_drain(&cb->q);
    long n = 0;
    int64_t start = nf_lqueue_now_ns();
    while (self->cb == cb && cb->qgen == gen) {
        nf_msg *m = nf_lqueue_pop(&cb->q);
        if (!m && !(m = nf_lqueue_idle(&cb->q, n >= NF_DRAIN_STREAM)))
            break;  /* empty, and the next push wakes us */
        deliver(cb, (PyObject *)self, m);  /* may close self: the loop then stops, the rest is freed later */
        if (cb->qgen != gen)
            break;  /* forked meanwhile (we are the child): m belongs to the parent's pool, left as it is */
        nf_lqueue_msg_free(&cb->q, m);
        if (++n == NF_DRAIN_BATCH || (look_at_clock(n) && nf_lqueue_now_ns() - start >= NF_DRAIN_NS)) {
            if (self->cb == cb)
                nf_lqueue_rewake(&cb->q);  /* let the loop run other work, then come back */
            break;
        }
    }
    if (cb->qgen == gen)
        nf_lqueue_flush(&cb->q);  /* the nodes still collected go back to the producers */
    if (self->cb == cb && cb->qgen == gen)
        nf_lqueue_grow(&cb->q);  /* if the pool ran dry during this burst */
    done_busy(cb);
    Py_DECREF(self);
    return PyLong_FromLong(n);
}

/* The Python layer tells when an event loop starts and stops watching the wakeup fd: the fd is closed only
   when no loop watches it any more, so that its number is never reused under a loop's selector. */
static PyObject *callback_watch(nf_callback *self, PyObject *unused)
{
    if (!self->cb || !self->cb->has_queue) {
        PyErr_SetString(PyExc_RuntimeError, "only an open listener's wakeup fd can be watched");
        return NULL;
    }
    self->cb->life.watched++;
    self->watched = self->cb;
    Py_RETURN_NONE;
}

static PyObject *callback_unwatch(nf_callback *self, PyObject *unused)
{
    nf_cb *cb = self->watched;
    if (cb) {
        if (cb->life.watched <= 1)
            self->watched = NULL;  /* after the last one the record may be released: forget it first */
        nf_life_unwatch(&cb->life);
    }
    Py_RETURN_NONE;
}

/* In a forked child: the listener gets a fresh queue and wakeup fd of its own (no loop watches it yet). */
static PyObject *callback_after_fork(nf_callback *self, PyObject *unused)
{
    nf_cb *cb = self->cb;
    if (!cb || !cb->has_queue)
        Py_RETURN_NONE;
    if (cb->life.busy)
        nf_lqueue_close_fds(&cb->q);  /* forked inside this listener's own drain, which holds a node: keep the pool */
    else
        nf_lqueue_forget(&cb->q);
    cb->qgen++;
    cb->has_queue = cb->has_fds = 0;
    cb->life.watched = 0;
    self->watched = NULL;
    if (nf_lqueue_init(&cb->q, cb->msgsize) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    cb->has_queue = cb->has_fds = 1;
    Py_RETURN_NONE;
}

static PyObject *callback_fileno(nf_callback *self, PyObject *unused)
{
    if (!self->cb)
        return closed_error(self);
    if (!self->cb->has_queue) {
        PyErr_SetString(PyExc_TypeError, "only listener callables have a wakeup fd");
        return NULL;
    }
    return PyLong_FromLong(self->cb->q.rfd);
}

static PyObject *callback_queue_stats(nf_callback *self, PyObject *unused)
{
    if (!self->cb || !self->cb->has_queue)
        return PyDict_New();
    nf_lqueue *q = &self->cb->q;
    return Py_BuildValue("{s:n,s:n,s:n}", "pool_nodes", (Py_ssize_t)nf_lqueue_pool_nodes(q), "fallback_nodes",
                         (Py_ssize_t)q->heap_total, "wakeups", (Py_ssize_t)atomic_load(&q->wakeups));
}

static PyObject *callback_get_address(nf_callback *self, void *c)
{
    return self->cb ? PyLong_FromVoidPtr(self->cb->code) : closed_error(self);
}

static PyObject *callback_get_closed(nf_callback *self, void *c) { return PyBool_FromLong(self->cb == NULL); }
static PyObject *callback_get_ftype(nf_callback *self, void *c) { return Py_NewRef(self->ftype); }
static PyObject *callback_get_name(nf_callback *self, void *c) { return Py_NewRef(self->name); }
static PyObject *callback_get_mode(nf_callback *self, void *c) { return PyLong_FromLong(self->mode); }

static PyObject *callback_get_trampoline(nf_callback *self, void *c)
{
    if (!self->cb)
        return closed_error(self);
    return PyUnicode_FromString(self->cb->thunk ? "thunk" : "libffi");
}

static PyObject *callback_get_on_error(nf_callback *self, void *c)
{
    return Py_NewRef(self->cb && self->cb->on_error ? self->cb->on_error : Py_None);
}

static int callback_set_on_error(nf_callback *self, PyObject *v, void *c)
{
    if (!self->cb)
        return 0;  /* closed: nothing will be reported any more */
    if (v && v != Py_None && !PyCallable_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "on_error must be a callable taking the exception, or None");
        return -1;
    }
    Py_XSETREF(self->cb->on_error, v && v != Py_None ? Py_NewRef(v) : NULL);
    return 0;
}

static PyObject *callback_repr(nf_callback *self)
{
    static const char *const modes[] = {"isolate_local", "listener", "isolate_group_bound"};
    return PyUnicode_FromFormat("<NativeCallable.%s %U: %U%s>", modes[self->mode], self->name,
                                ((nf_ctype *)self->ftype)->name, self->cb ? "" : " closed");
}

static PyMethodDef callback_methods[] = {
    {"close", (PyCFunction)callback_close, METH_NOARGS, "close() -> bool: closes (idempotent); True if it was open."},
    {"drain", (PyCFunction)callback_drain, METH_NOARGS,
     "drain() -> int: listener owner side: delivers the queued calls; returns how many."},
    {"fileno", (PyCFunction)callback_fileno, METH_NOARGS, "fileno() -> int: the listener's wakeup fd."},
    {"_after_fork", (PyCFunction)callback_after_fork, METH_NOARGS,
     "_after_fork(): in a forked child, a listener gets a queue and wakeup fd of its own."},
    {"_watch", (PyCFunction)callback_watch, METH_NOARGS,
     "_watch(): an event loop starts watching the wakeup fd (it stays open, even after close(), until _unwatch)."},
    {"_unwatch", (PyCFunction)callback_unwatch, METH_NOARGS,
     "_unwatch(): an event loop no longer watches the wakeup fd (its reader is removed)."},
    {"_queue_stats", (PyCFunction)callback_queue_stats, METH_NOARGS,
     "_queue_stats() -> dict: listener: nodes in the message pool, fallback (malloc) nodes delivered so far, "
     "producers' writes to the wakeup fd so far."},
    {NULL},
};

static PyGetSetDef callback_getset[] = {
    {"address", (getter)callback_get_address, NULL, "the native function pointer (RuntimeError once closed)", NULL},
    {"closed", (getter)callback_get_closed, NULL, "whether close() has run", NULL},
    {"native_type", (getter)callback_get_ftype, NULL, "the NativeFunction CType", NULL},
    {"name", (getter)callback_get_name, NULL, "the name used in messages", NULL},
    {"mode", (getter)callback_get_mode, NULL, "0 isolate_local, 1 listener, 2 isolate_group_bound", NULL},
    {"trampoline", (getter)callback_get_trampoline, NULL,
     "'thunk' (prebuilt, register-only signatures) or 'libffi' (a closure)", NULL},
    {"on_error", (getter)callback_get_on_error, (setter)callback_set_on_error,
     "listener: handler(exc) for exceptions in the callback; None: sys.unraisablehook", NULL},
    {NULL},
};

PyTypeObject nf_Callback_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nativeffi._core.Callback",
    .tp_doc = "Callback(ftype, fn, mode, name, exceptional_return=None): a native function pointer that calls fn.\n"
              "mode: 0 isolate_local, 1 listener, 2 isolate_group_bound. Use nativeffi.NativeCallable.",
    .tp_basicsize = sizeof(nf_callback),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = callback_new,
    .tp_dealloc = (destructor)callback_dealloc,
    .tp_repr = (reprfunc)callback_repr,
    .tp_methods = callback_methods,
    .tp_getset = callback_getset,
    .tp_weaklistoffset = offsetof(nf_callback, weakreflist),
};

/* -- Module functions: shutdown and fork ------------------------------------ */

static int any_inflight(void)
{
    int busy = 0;
    pthread_mutex_lock(&threads_lock);
    for (nf_thread *th = threads; th && !busy; th = th->next)
        busy = atomic_load(&th->inflight);
    pthread_mutex_unlock(&threads_lock);
    return busy;
}

static PyObject *m_shutdown(PyObject *m, PyObject *unused)
{
    atomic_store(&shutting_down, 1);
    nf_life_freeze();  /* native threads may be inside any record from now on: nothing is freed */
    Py_BEGIN_ALLOW_THREADS
    struct timespec pause = {0, 200000};
    for (long long waited = 0; any_inflight() && waited < NF_SHUTDOWN_WAIT_NS; waited += pause.tv_nsec)
        nanosleep(&pause, NULL);  /* native callers that passed the check finish their call, then we go on */
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *m_after_fork_child(PyObject *m, PyObject *unused)
{
    /* Only the forking thread survives; its thread state is the child's main one. */
    pthread_mutex_init(&threads_lock, NULL);
    threads = NULL;
    nf_thread *th = this_thread;
    if (th) {
        th->next = NULL;
        th->ts = NULL;  /* a state we made for this thread is now Python's own */
        atomic_store(&th->inflight, 0);
        threads = th;
    }
    Py_RETURN_NONE;
}

static PyObject *m_shutting_down(PyObject *m, PyObject *unused) { return PyBool_FromLong(atomic_load(&shutting_down)); }

static PyObject *m_closing(PyObject *m, PyObject *unused) { return PyLong_FromSsize_t(nf_life_closing_count()); }

PyMethodDef nf_callback_methods[] = {
    {"_callbacks_shutdown", m_shutdown, METH_NOARGS,
     "Exit hook: from now on native calls into Python are dropped; waits for calls already in flight."},
    {"_callbacks_after_fork_child", m_after_fork_child, METH_NOARGS, "Resets thread bookkeeping in a forked child."},
    {"_callbacks_shutting_down", m_shutting_down, METH_NOARGS, "Whether the exit hook has run."},
    {"_callbacks_closing", m_closing, METH_NOARGS,
     "Closed callables whose resources wait for them to be idle (a native caller inside, or a loop watching)."},
    {NULL},
};

int nf_callback_init(PyObject *module)
{
    interp = PyInterpreterState_Get();
    nf_thunk_set_entry(entry_thunk);
    if (pthread_key_create(&thread_key, thread_exit) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_key_create failed");
        return -1;
    }
    if (PyType_Ready(&nf_Callback_Type) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "Callback", (PyObject *)&nf_Callback_Type);
}
