/* Calls from native code into Python: NativeCallable trampolines, upcalls, listener delivery, shutdown. */
#ifndef NF_CALLBACK_H
#define NF_CALLBACK_H

#include "types.h"

/* How a callable may be invoked; the values are those of the Python layer's `mode` argument. */
typedef enum {
    NF_CB_LOCAL = 0,     /* isolate_local: synchronous, creating thread only (else abort) */
    NF_CB_LISTENER = 1,  /* listener: asynchronous, any thread, delivered on the owner */
    NF_CB_GROUP = 2,     /* isolate_group_bound: synchronous, any thread, takes the GIL */
} nf_cb_mode;

extern PyTypeObject nf_Callback_Type;

/* Per thread: non-leaf nativeffi calls in progress, and a KeyboardInterrupt or SystemExit that a synchronous
   callback raised inside one of them (owned; re-raised when the call returns). */
typedef struct {
    int depth;
    PyObject *pending;
} nf_upcall_state;
/* initial-exec: one %fs-relative load instead of a __tls_get_addr call on every non-leaf call (16 bytes of the
   static TLS that glibc keeps for libraries loaded later). */
#define NF_TLS_FAST __attribute__((tls_model("initial-exec")))
extern _Thread_local nf_upcall_state nf_upcall NF_TLS_FAST;

/* Drops `result` (may be NULL) and raises the pending exception; NULL. */
PyObject *nf_upcall_raise_pending(PyObject *result);

/* Around a non-leaf call (GIL released): leave gives back `result`, or NULL with the callback's KeyboardInterrupt
   or SystemExit raised. */
static inline nf_upcall_state *nf_nonleaf_enter(void)
{
    nf_upcall_state *u = &nf_upcall;  /* one thread-local address lookup for both ends */
    u->depth++;
    return u;
}
static inline PyObject *nf_nonleaf_leave(nf_upcall_state *u, PyObject *result)
{
    u->depth--;
    if (__builtin_expect(u->pending != NULL, 0))
        return nf_upcall_raise_pending(result);
    return result;
}

int nf_callback_init(PyObject *module);
extern PyMethodDef nf_callback_methods[];

#endif
