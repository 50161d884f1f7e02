/* Register-image call stubs for the x86-64 System V ABI (Linux, the BSDs, macOS on Intel). */
#include "stubs.h"
#include "compound.h"

#if defined(__x86_64__) && !defined(_WIN32) && !defined(__CYGWIN__)
#include <string.h>

/* -- The ABI in brief --------------------------------------------------------
 * Integer, pointer and bool arguments take rdi, rsi, rdx, rcx, r8, r9 in order; float and double
 * arguments take xmm0-xmm7, counted independently. A struct of at most 16 bytes is split into eightbytes,
 * each INTEGER (if any integer lies in it) or SSE, and travels in registers only if all of its eightbytes
 * fit; larger structs go on the stack. Returns: rax (and rdx), xmm0 (and xmm1), or, for structs over 16
 * bytes, memory whose address the caller passes in rdi as a hidden first argument. Passing more register
 * arguments than the callee declares is harmless, so one function-pointer type per return class calls
 * every signature that fits. Arguments past the registers take 8-byte stack words in argument order (a
 * struct that does not fit in the registers left, or is MEMORY class, takes whole words of its bytes
 * there, and the registers stay free for later arguments); the "s" stubs pass 8 more uint64_t, which land
 * in those words, and the callee reads only the words it declares. Narrow integers are widened by the caller (downcall.c does it) and narrowed
 * back on return; a float travels as the low 32 bits of its xmm register. Variadic callees need %al set
 * to the number of vector registers used: they go to libffi. */

#define GPR_T u64, u64, u64, u64, u64, u64
#define GPR_A r[0], r[1], r[2], r[3], r[4], r[5]
#define FPR_A D(r[6]), D(r[7]), D(r[8]), D(r[9]), D(r[10]), D(r[11]), D(r[12]), D(r[13])
#define STK_A r[14], r[15], r[16], r[17], r[18], r[19], r[20], r[21]

#include "stubs_gen.h"

typedef struct { u64 a, b; } ret_ii;      /* rax, rdx */
typedef struct { u64 a; double b; } ret_is;  /* rax, xmm0 */
typedef struct { double a; u64 b; } ret_si;  /* xmm0, rax */
typedef struct { double a, b; } ret_ss;    /* xmm0, xmm1 */

STUBS(int, u64)
STUBS(f32, float)
STUBS(f64, double)
STUBS(ii, ret_ii)
STUBS(is, ret_is)
STUBS(si, ret_si)
STUBS(ss, ret_ss)

enum { RC_INT, RC_F32, RC_F64, RC_II, RC_IS, RC_SI, RC_SS, RC_COUNT };

static const nf_stub_row stubs[RC_COUNT] = {
    STUB_ROW(int), STUB_ROW(f32), STUB_ROW(f64), STUB_ROW(ii), STUB_ROW(is), STUB_ROW(si), STUB_ROW(ss),
};

/* -- Struct classes ---------------------------------------------------------- */

/* The eightbyte classes ('i' INTEGER, 's' SSE) of a struct, union or array, from compound.c's classifier (the
   one libffi's descriptions come from too). Returns the number of eightbytes, 0 if it travels in memory
   (MEMORY class: over 16 bytes, or a misaligned field), -1 if it cannot be classified or holds a long double
   (x87: in memory with 16-byte alignment as an argument, in %st0 as a lone return: libffi's business). Never
   raises. */
static int struct_classes(nf_ctype *t, char eb[2])
{
    nf_abi_class c;
    if (nf_compound_classify(t, &c) < 0) {
        PyErr_Clear();
        return -1;
    }
    if (c.long_double)
        return -1;
    return nf_classify_sysv_eightbytes(&c, t->size, eb);
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
        char eb[2];
        int k = ret->size ? struct_classes(ret, eb) : -1;
        if (k < 0)
            return 0;
        if (k == 0) {
            rc = RC_INT;           /* MEMORY class: the callee writes where rdi points and returns rdi */
            out->ret_in_memory = 1;
            al.ngpr = 1;
            break;
        }
        if (k == 1)
            rc = eb[0] == 'i' ? RC_INT : RC_F64;
        else
            rc = eb[0] == 'i' ? (eb[1] == 'i' ? RC_II : RC_IS) : (eb[1] == 'i' ? RC_SI : RC_SS);
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
        if (!NF_IS_COMPOUND(t->kind) || t->size == 0)
            return 0;
        char eb[2];
        int k = struct_classes(t, eb);
        if (k < 0)
            return 0;
        int gi = 0, fi = 0;
        for (int j = 0; j < k; j++) {
            if (eb[j] == 'i')
                gi++;
            else
                fi++;
        }
        if (k > 0 && al.ngpr + gi <= NF_STUB_NGPR && al.nfpr + fi <= NF_STUB_NFPR) {
            a->npieces = (unsigned char)k;
            for (int j = 0; j < k; j++)
                nf_stub_piece(a, j, eb[j] == 'i' ? al.ngpr++ : NF_STUB_NGPR + al.nfpr++, t->size);
            continue;
        }
        /* MEMORY class, or not enough registers left: its bytes in whole stack words, the registers left free */
        int words = (int)((t->size + 7) / 8);
        if (t->align > 8 && (al.nstack & 1))
            al.nstack++;
        if (words > 4 || al.nstack + words > NF_STUB_NSTACK)
            return 0;
        a->npieces = (unsigned char)words;
        for (int j = 0; j < words; j++)
            nf_stub_piece(a, j, NF_STUB_STACK0 + al.nstack++, t->size);
    }
    int set = (al.nfpr ? 1 : 0) + (al.nstack ? 2 : 0);
    out->call = stubs[rc].fn[set];
    out->name = stubs[rc].name[set];
    out->nstack = al.nstack;
    return 1;
}

#endif
