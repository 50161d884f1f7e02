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
extern _Thread_local nf_upcall_state nf_upcall;

/* Drops `result` (may be NULL) and raises the pending exception; NULL. */
PyObject *nf_upcall_raise_pending(PyObject *result);

/* Around a non-leaf call (GIL released): leave gives back `result`, or NULL with the callback's KeyboardInterrupt
   or SystemExit raised. */
static inline void nf_nonleaf_enter(void) { nf_upcall.depth++; }
static inline PyObject *nf_nonleaf_leave(PyObject *result)
{
    nf_upcall.depth--;
    if (__builtin_expect(nf_upcall.pending != NULL, 0))
        return nf_upcall_raise_pending(result);
    return result;
}

int nf_callback_init(PyObject *module);
extern PyMethodDef nf_callback_methods[];

#endif
