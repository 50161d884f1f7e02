/* Prebuilt callback thunks: compiled function pointers for callbacks whose arguments all travel in registers. */
#ifndef NF_THUNKS_H
#define NF_THUNKS_H

#include "types.h"

#define NF_THUNK_MAX_ARGS 14  /* 6 (AArch64: 8) integer registers + 8 floating-point registers at most */

/* What a thunk needs to hand a call to callback.c: the same entry a libffi closure would call. */
typedef struct nf_thunk_plan {
    void (*entry)(ffi_cif *, void *, void **, void *);  /* callback.c's entry; called with cif NULL */
    void *user;                                         /* the callback record */
    int nargs;                                          /* number of parameters */
    int retclass;                                       /* which table: 0 integer/pointer/void, 1 double, 2 float */
    int slot;                                           /* index in that table, or -1 */
    signed char where[NF_THUNK_MAX_ARGS];               /* argument i: >= 0 integer register, < 0 FP register -1-w */
} nf_thunk_plan;

/* Fills `plan` for signature `ft` if this platform has thunks and every argument and the return fit in
   registers; 0 on success, -1 (no exception) if the libffi closure must be used instead. */
int nf_thunk_plan_init(nf_thunk_plan *plan, nf_ctype *ft, void (*entry)(ffi_cif *, void *, void **, void *),
                       void *user);

/* Takes a free thunk for `plan` and returns its address, or NULL if the table is full. With the GIL held. */
void *nf_thunk_acquire(nf_thunk_plan *plan);

/* Gives the thunk back; a call arriving afterwards returns zero. With the GIL held. */
void nf_thunk_release(nf_thunk_plan *plan);

#endif
