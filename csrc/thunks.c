/* Prebuilt callback thunks: compiled function pointers for callbacks whose arguments all travel in registers.
 *
 * On x86-64 SysV and AArch64 integer and floating-point arguments take registers independently, so one C
 * function taking NF_INT_REGS uint64_t and 8 double sees every argument of any signature that fits in
 * registers: an int8_t is the low byte of its register, a float the low half of its xmm/v register
 * (both little-endian in memory, which is where the thunk puts them). Each thunk is an ordinary compiled
 * function with a fixed slot number: no memory is made executable at run time (W^X-safe), and a call skips
 * libffi's per-call decoding of the signature. Signatures that do not fit (structs by value, more than the
 * registers hold) use a libffi closure instead. The tables are never freed: a thunk whose slot is free
 * returns zero, and callback.c quarantines closed callables before their slot is reused.
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
#define NF_THUNK_SLOTS 256  /* thunks per return class; more open callables than this use libffi closures */

/* Slot -> plan of the callable using it (NULL: free). Written with the GIL, read by any thread. */
static _Atomic(nf_thunk_plan *) slots[3][NF_THUNK_SLOTS];
static int free_list[3][NF_THUNK_SLOTS];   /* free slot numbers, a stack (GIL) */
static int free_count[3] = {-1, -1, -1};   /* -1: not filled yet */

/* The return image callback.c writes: ffi_arg-widened integers, a double, or a float in the first bytes. */
typedef union {
    uint64_t u;
    double d;
    float f;
    unsigned char bytes[16];
} nf_retimg;

__attribute__((noinline)) static void run(int retclass, int slot, const uint64_t *r, const double *d,
                                          nf_retimg *out)
{
    nf_thunk_plan *p = atomic_load_explicit(&slots[retclass][slot], memory_order_acquire);
    if (!p) {
        memset(out, 0, sizeof *out);
        return;  /* a freed slot: nothing to call, zero returned */
    }
    void *args[NF_THUNK_MAX_ARGS];
    for (int i = 0; i < p->nargs; i++) {
        int w = p->where[i];
        args[i] = w >= 0 ? (void *)&r[w] : (void *)&d[-1 - w];
    }
    p->entry(NULL, out, args, p->user);
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

/* One thunk of return class cls (0 u64, 1 double, 2 float) and slot k. */
#define NF_THUNK_BODY(cls, k, rtype, field)                                    \
    static rtype thunk_##cls##_##k(NF_IPARAMS, NF_FPARAMS)                      \
    {                                                                           \
        const uint64_t r[NF_INT_REGS] = NF_IARRAY;                              \
        const double d[8] = NF_FARRAY;                                          \
        nf_retimg out;                                                          \
        run(cls, k, r, d, &out);                                                \
        return out.field;                                                       \
    }
#define NF_THUNK_0(cls, k) NF_THUNK_BODY(0, k, uint64_t, u)
#define NF_THUNK_1(cls, k) NF_THUNK_BODY(1, k, double, d)
#define NF_THUNK_2(cls, k) NF_THUNK_BODY(2, k, float, f)
#define NF_ADDR(cls, k) (void *)thunk_##cls##_##k,

/* NF_T256(m, cls) expands m(cls, 0x00) ... m(cls, 0xff); no parameter may be named like a hex digit. */
#define NF_T16(m, cls, pre) m(cls, pre##0) m(cls, pre##1) m(cls, pre##2) m(cls, pre##3) m(cls, pre##4) m(cls, pre##5) m(cls, pre##6) m(cls, pre##7) \
                            m(cls, pre##8) m(cls, pre##9) m(cls, pre##a) m(cls, pre##b) m(cls, pre##c) m(cls, pre##d) m(cls, pre##e) m(cls, pre##f)
#define NF_T256(m, cls) NF_T16(m, cls, 0x0) NF_T16(m, cls, 0x1) NF_T16(m, cls, 0x2) NF_T16(m, cls, 0x3) NF_T16(m, cls, 0x4) \
                        NF_T16(m, cls, 0x5) NF_T16(m, cls, 0x6) NF_T16(m, cls, 0x7) NF_T16(m, cls, 0x8) NF_T16(m, cls, 0x9) \
                        NF_T16(m, cls, 0xa) NF_T16(m, cls, 0xb) NF_T16(m, cls, 0xc) NF_T16(m, cls, 0xd) NF_T16(m, cls, 0xe) NF_T16(m, cls, 0xf)

NF_T256(NF_THUNK_0, 0)
NF_T256(NF_THUNK_1, 1)
NF_T256(NF_THUNK_2, 2)

static void *const thunks[3][NF_THUNK_SLOTS] = {
    {NF_T256(NF_ADDR, 0)},
    {NF_T256(NF_ADDR, 1)},
    {NF_T256(NF_ADDR, 2)},
};

/* -- Plans and slots ------------------------------------------------------------ */

static int in_int_register(nf_kind k) { return NF_IS_INTEGER(k) || k == NF_BOOL || k == NF_POINTER; }

int nf_thunk_plan_init(nf_thunk_plan *plan, nf_ctype *ft, void (*entry)(ffi_cif *, void *, void **, void *),
                       void *user)
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
    plan->entry = entry;
    plan->user = user;
    plan->nargs = (int)n;
    plan->slot = -1;
    return 0;
}

void *nf_thunk_acquire(nf_thunk_plan *plan)
{
    int c = plan->retclass;
    if (free_count[c] < 0) {
        for (int i = 0; i < NF_THUNK_SLOTS; i++)
            free_list[c][i] = NF_THUNK_SLOTS - 1 - i;  /* hand out slot 0 first */
        free_count[c] = NF_THUNK_SLOTS;
    }
    if (free_count[c] == 0)
        return NULL;
    plan->slot = free_list[c][--free_count[c]];
    atomic_store_explicit(&slots[c][plan->slot], plan, memory_order_release);
    return thunks[c][plan->slot];
}

void nf_thunk_release(nf_thunk_plan *plan)
{
    if (plan->slot < 0)
        return;
    atomic_store_explicit(&slots[plan->retclass][plan->slot], NULL, memory_order_release);
    free_list[plan->retclass][free_count[plan->retclass]++] = plan->slot;
    plan->slot = -1;
}

#else /* no thunks on this platform: every callback uses a libffi closure */

int nf_thunk_plan_init(nf_thunk_plan *plan, nf_ctype *ft, void (*entry)(ffi_cif *, void *, void **, void *),
                       void *user)
{
    return -1;
}

void *nf_thunk_acquire(nf_thunk_plan *plan) { return NULL; }
void nf_thunk_release(nf_thunk_plan *plan) {}

#endif
