/* Register-image call stubs for AArch64 Linux (AAPCS64, little-endian). */
#include "stubs.h"
#include "compound.h"

#if defined(__aarch64__) && defined(__linux__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <string.h>

/* -- The ABI in brief --------------------------------------------------------
 * Integer, pointer and bool arguments take x0-x7 in order; float and double arguments take v0-v7, counted
 * independently. A homogeneous floating-point aggregate (HFA: 1-4 members, all float or all double) takes
 * one v register per member; any other struct of at most 16 bytes takes one or two consecutive x
 * registers (an even pair when 16-aligned). What does not fit goes on the stack, and structs over 16
 * bytes go by reference: both to libffi here. Returns: x0 (and x1), v0-v3 for an HFA, or memory at x8 for
 * larger structs (libffi). Passing more register arguments than the callee declares is harmless, so one
 * function-pointer type per return class calls every signature that fits. Scalars past the registers take
 * 8-byte stack words in argument order (the value in the low bytes, as AAPCS64 on Linux places them); the
 * "s" stubs pass 8 more uint64_t, which land in those words. Structs that do not fit in registers go to
 * libffi. The callee extends narrow
 * integers itself; downcall.c widens them anyway. A float travels as the low 32 bits of its v register. */

#define GPR_T u64, u64, u64, u64, u64, u64, u64, u64
#define GPR_A r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
#define FPR_A D(r[8]), D(r[9]), D(r[10]), D(r[11]), D(r[12]), D(r[13]), D(r[14]), D(r[15])
#define STK_A r[16], r[17], r[18], r[19], r[20], r[21], r[22], r[23]

#include "stubs_gen.h"

typedef struct { u64 a, b; } ret_ii;            /* x0, x1 */
typedef struct { float a, b, c, d; } ret_hf;    /* s0-s3: float HFAs of 1-4 members */
typedef struct { double a, b, c, d; } ret_hd;   /* d0-d3: double HFAs of 1-4 members */

STUBS(int, u64)
STUBS(f32, float)
STUBS(f64, double)
STUBS(ii, ret_ii)
STUBS(hfa_f32, ret_hf)
STUBS(hfa_f64, ret_hd)

enum { RC_INT, RC_F32, RC_F64, RC_II, RC_HF, RC_HD, RC_COUNT };

static const nf_stub_row stubs[RC_COUNT] = {
    STUB_ROW(int), STUB_ROW(f32), STUB_ROW(f64), STUB_ROW(ii), STUB_ROW(hfa_f32), STUB_ROW(hfa_f64),
};

/* -- Struct shapes ------------------------------------------------------------ */

/* From compound.c's classifier (the one libffi's descriptions come from too): 1 and the member kind ('f' or
   'd') and count if `t` is a homogeneous floating-point aggregate; 0 if it is another compound of at most 16
   bytes (general registers); -1 if it goes by reference (over 16 bytes). Never raises. */
static int struct_shape(nf_ctype *t, char *hfa_kind, int *hfa_n)
{
    nf_abi_class c;
    if (t->size == 0 || nf_compound_classify(t, &c) < 0) {
        PyErr_Clear();
        return -1;
    }
    if (c.in_memory || c.long_double)
        return -1;  /* by reference, or holding a long double (binary128, q registers): libffi */
    if (c.nparts >= 1 && (c.parts[0] == 'f' || c.parts[0] == 'd')) {  /* only HFAs have floating parts here */
        *hfa_kind = c.parts[0];
        *hfa_n = c.nparts;
        return 1;
    }
    return t->size <= 16 ? 0 : -1;
}

/* -- Choosing a stub ------------------------------------------------------------ */

int nf_stub_plan_make(nf_ctype *ret, nf_ctype *const *params, Py_ssize_t n, int variadic, nf_stub_plan *out,
                      nf_stub_arg *args)
{
    memset(out, 0, sizeof *out);
    if (variadic)
        return 0;
    int rc;
    nf_stub_alloc al = {0, 0, 0};
    switch (ret->kind) {
    case NF_F32: rc = RC_F32; break;
    case NF_F64: rc = RC_F64; break;
    case NF_STRUCT: case NF_UNION: case NF_ARRAY: {
        char hk = 0;
        int hn = 0, s = struct_shape(ret, &hk, &hn);
        if (s < 0)
            return 0;  /* over 16 bytes: returned through x8, which only libffi sets */
        rc = s == 1 ? (hk == 'f' ? RC_HF : RC_HD) : (ret->size > 8 ? RC_II : RC_INT);
        break;
    }
    default:
        if (!NF_IS_SCALAR(ret->kind) && ret->kind != NF_POINTER && ret->kind != NF_VOID)
            return 0;
        rc = RC_INT;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        nf_ctype *t = params[i];
        nf_stub_arg *a = &args[i];
        memset(a, 0, sizeof *a);
        int placed = nf_stub_place_scalar(t, &al, a);
        if (placed < 0)
            return 0;
        if (placed)
            continue;
        if (!NF_IS_COMPOUND(t->kind))
            return 0;
        char hk = 0;
        int hn = 0, s = struct_shape(t, &hk, &hn);
        if (s < 0)
            return 0;  /* over 16 bytes: passed by reference to a copy; libffi does that */
        if (s == 1) {
            if (al.nfpr + hn > NF_STUB_NFPR)
                return 0;  /* on the stack: libffi */
            int es = hk == 'f' ? 4 : 8;
            a->npieces = (unsigned char)hn;
            for (int j = 0; j < hn; j++) {
                a->slot[j] = (unsigned char)(NF_STUB_NGPR + al.nfpr++);
                a->off[j] = (unsigned char)(es * j);
                a->size[j] = (unsigned char)es;
            }
        } else {
            int k = t->size > 8 ? 2 : 1;
            if (t->align >= 16 && (al.ngpr & 1))
                al.ngpr++;
            if (al.ngpr + k > NF_STUB_NGPR)
                return 0;  /* on the stack: libffi */
            a->npieces = (unsigned char)k;
            for (int j = 0; j < k; j++)
                nf_stub_piece(a, j, al.ngpr++, t->size);
        }
    }
    int set = (al.nfpr ? 1 : 0) + (al.nstack ? 2 : 0);
    out->call = stubs[rc].fn[set];
    out->name = stubs[rc].name[set];
    out->nstack = al.nstack;
    return 1;
}

#endif
