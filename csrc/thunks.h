/* Prebuilt callback thunks: compiled function pointers for callbacks whose arguments all travel in registers. */
#ifndef NF_THUNKS_H
#define NF_THUNKS_H

#include "lifetime.h"
#include "types.h"
#include <stdint.h>

#define NF_THUNK_MAX_ARGS 14  /* 6 (AArch64: 8) integer registers + 8 floating-point registers at most */
#define NF_THUNK_SLOTS 256    /* thunks per table; more open callables than this use libffi closures */
#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(_WIN32)
#define NF_THUNK_TABLES 8     /* (integer, double, float return) x (some floating argument, none), + 2 for listeners */
#else
#define NF_THUNK_TABLES 0     /* no thunks on this platform: every callback uses a libffi closure */
#endif

/* callback.c's entry for every thunk call: the arguments are still in the register images r (integer) and d
   (floating point; NULL for tables without floating arguments), where nf_thunk_arg finds them; the result goes
   to `ret` (16 bytes) as a libffi closure's would. */
typedef void (*nf_thunk_entry)(nf_tramp *tramp, void *ret, const uint64_t *r, const double *d);

/* How a callable's arguments sit in the register images (kept in its record). */
typedef struct nf_thunk_plan {
    int retclass;                                       /* return: 0 integer/pointer/void, 1 double, 2 float */
    int table;                                          /* thunk table: retclass, + 3 if no argument is floating;
                                                           listeners: 6, + 1 if none (their own: a stale pointer
                                                           of one kind never reaches the other) */
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
int nf_thunk_plan_init(nf_thunk_plan *plan, nf_ctype *ft, int listener);

/* The trampoline of thunk `slot` of `table` (its code filled in); lifetime.c hands them out. */
nf_tramp *nf_thunk_tramp(int table, int slot);

/* Sets the one entry every thunk calls (callback.c, at module init). */
void nf_thunk_set_entry(nf_thunk_entry entry);

#endif
