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

/* Whether interpreter shutdown has begun (after it, native calls into Python are dropped). */
int nf_callback_shutting_down(void);

int nf_callback_init(PyObject *module);
extern PyMethodDef nf_callback_methods[];

#endif
