/* Prebuilt callback thunks: compiled function pointers for callbacks whose arguments all travel in registers.
 *
 * On x86-64 SysV and AArch64 integer and floating-point arguments take registers independently, so one C
 * function taking NF_INT_REGS uint64_t and 8 double sees every argument of any signature that fits in
 * registers: an int8_t is the low byte of its register, a float the low half of its xmm/v register
 * (both little-endian in memory, which is where the thunk puts them). Each thunk is an ordinary compiled
 * function with a fixed slot number: no memory is made executable at run time (W^X-safe), and a call skips
 * libffi's per-call decoding of the signature. Signatures that do not fit (structs by value, more than the
 * registers hold) use a libffi closure instead; signatures without floating arguments use thunks that take
 * only the integer registers (fewer stores per call). A thunk hands callback.c the register images
 * themselves, no argument vector. The tables are never freed: a thunk whose slot is free returns zero, and
 * callback.c quarantines closed callables before their slot is reused.
 */
#include "thunks.h"
#include <stdatomic.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(_WIN32)
#define NF_HAVE_THUNKS 1
#if defined(__x86_64__)
#define NF_INT_REGS 6
#else
#define NF_INT_REGS 8
#endif
#define NF_THUNK_SLOTS 256  /* thunks per table; more open callables than this use libffi closures */
#define NF_TABLES 6         /* return class (integer, double, float) x (some floating argument, none) */

/* Slot -> plan of the callable using it (NULL: free). Written with the GIL, read by any thread. */
static _Atomic(nf_thunk_plan *) slots[NF_TABLES][NF_THUNK_SLOTS];
static int free_list[NF_TABLES][NF_THUNK_SLOTS];   /* free slot numbers, a stack (GIL) */
static int free_count[NF_TABLES] = {-1, -1, -1, -1, -1, -1};  /* -1: not filled yet */

/* The return image callback.c writes: ffi_arg-widened integers, a double, or a float in the first bytes. */
typedef union {
    uint64_t u;
    double d;
    float f;
    unsigned char bytes[16];
} nf_retimg;

/* Finds the plan of slot `slot` of `table` and hands the call to callback.c; d is NULL for the tables whose
   signatures have no floating argument. Inlined: each thunk is its own short path to callback.c. */
static inline __attribute__((always_inline)) void run(int table, int slot, const uint64_t *r, const double *d, nf_retimg *out)
{
    nf_thunk_plan *p = atomic_load_explicit(&slots[table][slot], memory_order_acquire);
    if (!p) {
        memset(out, 0, sizeof *out);
        return;  /* a freed slot: nothing to call, zero returned */
    }
    p->entry(p, out, r, d);
}

#if NF_INT_REGS == 6
#define NF_IPARAMS uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5
#define NF_IARRAY {a0, a1, a2, a3, a4, a5}
#else
#define NF_IPARAMS uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, \
                   uint64_t a7
#define NF_IARRAY {a0, a1, a2, a3, a4, a5, a6, a7}
#endif
#define NF_FPARAMS double d0, double d1, double d2, double d3, double d4, double d5, double d6, double d7
#define NF_FARRAY {d0, d1, d2, d3, d4, d5, d6, d7}

/* One thunk of table t (return class t % 3; floating registers read only for t < 3) and slot k. */
#define NF_THUNK_BODY(t, k, rtype, field)                                      \
    static rtype thunk_##t##_##k(NF_IPARAMS, NF_FPARAMS)                        \
    {                                                                           \
        const uint64_t r[NF_INT_REGS] = NF_IARRAY;                              \
        const double d[8] = NF_FARRAY;                                          \
        nf_retimg out;                                                          \
        run(t, k, r, d, &out);                                                  \
        return out.field;                                                       \
    }
#define NF_THUNK_INT_BODY(t, k, rtype, field)                                  \
    static rtype thunk_##t##_##k(NF_IPARAMS)                                    \
    {                                                                           \
        const uint64_t r[NF_INT_REGS] = NF_IARRAY;                              \
        nf_retimg out;                                                          \
        run(t, k, r, NULL, &out);                                               \
        return out.field;                                                       \
    }
#define NF_THUNK_0(t, k) NF_THUNK_BODY(0, k, uint64_t, u)
#define NF_THUNK_1(t, k) NF_THUNK_BODY(1, k, double, d)
#define NF_THUNK_2(t, k) NF_THUNK_BODY(2, k, float, f)
#define NF_THUNK_3(t, k) NF_THUNK_INT_BODY(3, k, uint64_t, u)
#define NF_THUNK_4(t, k) NF_THUNK_INT_BODY(4, k, double, d)
#define NF_THUNK_5(t, k) NF_THUNK_INT_BODY(5, k, float, f)
#define NF_ADDR(t, k) (void *)thunk_##t##_##k,

/* NF_T256(m, t) expands m(t, 0x00) ... m(t, 0xff); no parameter may be named like a hex digit. */
#define NF_T16(m, t, pre) m(t, pre##0) m(t, pre##1) m(t, pre##2) m(t, pre##3) m(t, pre##4) m(t, pre##5) m(t, pre##6) m(t, pre##7) \
                          m(t, pre##8) m(t, pre##9) m(t, pre##a) m(t, pre##b) m(t, pre##c) m(t, pre##d) m(t, pre##e) m(t, pre##f)
#define NF_T256(m, t) NF_T16(m, t, 0x0) NF_T16(m, t, 0x1) NF_T16(m, t, 0x2) NF_T16(m, t, 0x3) NF_T16(m, t, 0x4) \
                      NF_T16(m, t, 0x5) NF_T16(m, t, 0x6) NF_T16(m, t, 0x7) NF_T16(m, t, 0x8) NF_T16(m, t, 0x9) \
                      NF_T16(m, t, 0xa) NF_T16(m, t, 0xb) NF_T16(m, t, 0xc) NF_T16(m, t, 0xd) NF_T16(m, t, 0xe) NF_T16(m, t, 0xf)

NF_T256(NF_THUNK_0, 0)
NF_T256(NF_THUNK_1, 1)
NF_T256(NF_THUNK_2, 2)
NF_T256(NF_THUNK_3, 3)
NF_T256(NF_THUNK_4, 4)
NF_T256(NF_THUNK_5, 5)

static void *const thunks[NF_TABLES][NF_THUNK_SLOTS] = {
    {NF_T256(NF_ADDR, 0)}, {NF_T256(NF_ADDR, 1)}, {NF_T256(NF_ADDR, 2)},
    {NF_T256(NF_ADDR, 3)}, {NF_T256(NF_ADDR, 4)}, {NF_T256(NF_ADDR, 5)},
};

/* -- Plans and slots ------------------------------------------------------------ */

static int in_int_register(nf_kind k) { return NF_IS_INTEGER(k) || k == NF_BOOL || k == NF_POINTER; }

int nf_thunk_plan_init(nf_thunk_plan *plan, nf_ctype *ft, nf_thunk_entry entry, void *user)
{
    Py_ssize_t n = PyTuple_GET_SIZE(ft->params);
    int ints = 0, floats = 0;
    if (n > NF_THUNK_MAX_ARGS)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        nf_kind k = ((nf_ctype *)PyTuple_GET_ITEM(ft->params, i))->kind;
        if (in_int_register(k) && ints < NF_INT_REGS)
            plan->where[i] = (signed char)ints++;
        else if ((k == NF_F32 || k == NF_F64) && floats < 8)
            plan->where[i] = (signed char)(-1 - floats++);
        else
            return -1;  /* a struct, or more arguments than registers: libffi */
    }
    nf_kind rk = ft->ret->kind;
    if (rk == NF_VOID || in_int_register(rk))
        plan->retclass = 0;
    else if (rk == NF_F64)
        plan->retclass = 1;
    else if (rk == NF_F32)
        plan->retclass = 2;
    else
        return -1;
    plan->table = plan->retclass + (floats == 0 ? 3 : 0);
    plan->entry = entry;
    plan->user = user;
    plan->nargs = (int)n;
    plan->slot = -1;
    return 0;
}

void *nf_thunk_acquire(nf_thunk_plan *plan)
{
    int t = plan->table;
    if (free_count[t] < 0) {
        for (int i = 0; i < NF_THUNK_SLOTS; i++)
            free_list[t][i] = NF_THUNK_SLOTS - 1 - i;  /* hand out slot 0 first */
        free_count[t] = NF_THUNK_SLOTS;
    }
    if (free_count[t] == 0)
        return NULL;
    plan->slot = free_list[t][--free_count[t]];
    atomic_store_explicit(&slots[t][plan->slot], plan, memory_order_release);
    return thunks[t][plan->slot];
}

void nf_thunk_release(nf_thunk_plan *plan)
{
    if (plan->slot < 0)
        return;
    atomic_store_explicit(&slots[plan->table][plan->slot], NULL, memory_order_release);
    free_list[plan->table][free_count[plan->table]++] = plan->slot;
    plan->slot = -1;
}

#else /* no thunks on this platform: every callback uses a libffi closure */

int nf_thunk_plan_init(nf_thunk_plan *plan, nf_ctype *ft, nf_thunk_entry entry, void *user) { return -1; }

void *nf_thunk_acquire(nf_thunk_plan *plan) { return NULL; }
void nf_thunk_release(nf_thunk_plan *plan) {}

#endif
