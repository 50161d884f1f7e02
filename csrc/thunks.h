/* Prebuilt callback thunks: compiled function pointers for callbacks whose arguments all travel in registers. */
#ifndef NF_THUNKS_H
#define NF_THUNKS_H

#include "types.h"
#include <stdint.h>

#define NF_THUNK_MAX_ARGS 14  /* 6 (AArch64: 8) integer registers + 8 floating-point registers at most */

struct nf_thunk_plan;

/* callback.c's entry for thunk calls: the arguments are still in the register images r (integer) and d
   (floating point), where nf_thunk_arg finds them; the result goes to `ret` as a libffi closure's would. */
typedef void (*nf_thunk_entry)(struct nf_thunk_plan *plan, void *ret, const uint64_t *r, const double *d);

/* What a thunk needs to hand a call to callback.c. */
typedef struct nf_thunk_plan {
    nf_thunk_entry entry;                               /* callback.c's entry for this callable's kind */
    void *user;                                         /* the callback record */
    int nargs;                                          /* number of parameters */
    int retclass;                                       /* return: 0 integer/pointer/void, 1 double, 2 float */
    int table;                                          /* thunk table: retclass, + 3 if no argument is floating */
    int slot;                                           /* index in that table, or -1 */
    signed char where[NF_THUNK_MAX_ARGS];               /* argument i: >= 0 integer register, < 0 FP register -1-w */
} nf_thunk_plan;

/* The address of argument i's value inside the register images (little-endian: narrow values are the low
   bytes of their register). */
static inline void *nf_thunk_arg(const nf_thunk_plan *plan, const uint64_t *r, const double *d, Py_ssize_t i)
{
    int w = plan->where[i];
    return w >= 0 ? (void *)&r[w] : (void *)&d[-1 - w];
}

/* Fills `plan` for signature `ft` if this platform has thunks and every argument and the return fit in
   registers; 0 on success, -1 (no exception) if the libffi closure must be used instead. */
int nf_thunk_plan_init(nf_thunk_plan *plan, nf_ctype *ft, nf_thunk_entry entry, void *user);

/* Takes a free thunk for `plan` and returns its address, or NULL if the table is full. With the GIL held. */
void *nf_thunk_acquire(nf_thunk_plan *plan);

/* Gives the thunk back; a call arriving afterwards returns zero. With the GIL held. */
void nf_thunk_release(nf_thunk_plan *plan);

#endif
