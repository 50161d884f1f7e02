/* Prebuilt callback thunks: compiled function pointers for callbacks whose arguments all travel in registers.
 *
 * On x86-64 SysV and AArch64 integer and floating-point arguments take registers independently, so one C
 * function taking NF_INT_REGS uint64_t and 8 double sees every argument of any signature that fits in
 * registers: an int8_t is the low byte of its register, a float the low half of its xmm/v register
 * (both little-endian in memory, which is where the thunk puts them). Each thunk is an ordinary compiled
 * function with a fixed slot number: no memory is made executable at run time (W^X-safe), and a call skips
 * libffi's per-call decoding of the signature. Signatures that do not fit (structs by value, more than the
 * registers hold) use a libffi closure instead; signatures without floating arguments use thunks that take
 * only the integer registers (fewer stores per call). A thunk hands callback.c its trampoline and the register
 * images themselves, no argument vector. Each slot's trampoline (lifetime.h) lives as long as the process;
 * lifetime.c decides which record it serves and when a slot may be reused.
 */
#include "thunks.h"
#include <stdatomic.h>
#include <string.h>

#if NF_THUNK_TABLES > 0
#if defined(__x86_64__)
#define NF_INT_REGS 6
#else
#define NF_INT_REGS 8
#endif
static nf_tramp tramps[NF_THUNK_TABLES][NF_THUNK_SLOTS];  /* one per thunk, never freed */
static nf_thunk_entry thunk_entry;                         /* callback.c's entry */

/* The return image callback.c writes: ffi_arg-widened integers, a double, or a float in the first bytes. */
typedef union {
    uint64_t u;
    double d;
    float f;
    unsigned char bytes[16];
} nf_retimg;

/* Hands the call to callback.c with the slot's trampoline; d is NULL for the tables whose signatures have no
   floating argument. Inlined: each thunk is its own short path to callback.c. */
static inline __attribute__((always_inline)) void run(int table, int slot, const uint64_t *r, const double *d, nf_retimg *out)
{
    thunk_entry(&tramps[table][slot], out, r, d);
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
#define NF_THUNK_6(t, k) NF_THUNK_BODY(6, k, uint64_t, u)
#define NF_THUNK_7(t, k) NF_THUNK_INT_BODY(7, k, uint64_t, u)
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
NF_T256(NF_THUNK_6, 6)
NF_T256(NF_THUNK_7, 7)

static void *const thunks[NF_THUNK_TABLES][NF_THUNK_SLOTS] = {
    {NF_T256(NF_ADDR, 0)}, {NF_T256(NF_ADDR, 1)}, {NF_T256(NF_ADDR, 2)},
    {NF_T256(NF_ADDR, 3)}, {NF_T256(NF_ADDR, 4)}, {NF_T256(NF_ADDR, 5)},
    {NF_T256(NF_ADDR, 6)}, {NF_T256(NF_ADDR, 7)},
};

/* -- Plans and slots ------------------------------------------------------------ */

static int in_int_register(nf_kind k) { return NF_IS_INTEGER(k) || k == NF_BOOL || k == NF_POINTER; }

int nf_thunk_plan_init(nf_thunk_plan *plan, nf_ctype *ft, int listener)
{
    Py_ssize_t n = PyTuple_GET_SIZE(ft->params);
    int ints = 0, floats = 0;
    if (n > NF_THUNK_MAX_ARGS || ft->variadic)  /* variadic: libffi knows each platform's convention for them */
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
    plan->table = listener ? 6 + (floats == 0) : plan->retclass + (floats == 0 ? 3 : 0);
    return 0;
}

nf_tramp *nf_thunk_tramp(int table, int slot)
{
    nf_tramp *t = &tramps[table][slot];
    t->code = thunks[table][slot];
    return t;
}

void nf_thunk_set_entry(nf_thunk_entry entry) { thunk_entry = entry; }

#else /* no thunks on this platform: every callback uses a libffi closure */

int nf_thunk_plan_init(nf_thunk_plan *plan, nf_ctype *ft, int listener) { return -1; }
nf_tramp *nf_thunk_tramp(int table, int slot) { return NULL; }
void nf_thunk_set_entry(nf_thunk_entry entry) {}

#endif
