/* Register-image call stubs: the interface between downcall.c and the per-ABI stubs_*.c files. */
#ifndef NF_STUBS_H
#define NF_STUBS_H

#include "types.h"

/* Which ABI file provides the stubs. Every signature whose arguments travel in registers, plus at most
   NF_STUB_NSTACK 8-byte words of stack, is called through one C function-pointer type per return class
   taking all the argument registers (integer registers as uint64_t, floating ones as double) and, for
   signatures that need them, NF_STUB_NSTACK more uint64_t, which the ABI puts on the stack in order. The
   register image is an array of uint64_t "slots": slots [0, NF_STUB_NGPR) are the integer registers in
   order, the next NF_STUB_NFPR slots hold the bit patterns of the floating registers, and the last
   NF_STUB_NSTACK slots the stack words (the first at the lowest address). */
#if defined(__x86_64__) && !defined(_WIN32) && !defined(__CYGWIN__)
#define NF_STUBS_ABI "x86-64 System V"
#define NF_STUB_NGPR 6
#define NF_STUB_NFPR 8
#define NF_STUB_NSTACK 8
#elif defined(__aarch64__) && defined(__linux__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NF_STUBS_ABI "AArch64 AAPCS64 (Linux)"
#define NF_STUB_NGPR 8
#define NF_STUB_NFPR 8
#define NF_STUB_NSTACK 8
#else
#define NF_STUBS_ABI NULL  /* no stubs on this platform: every call goes through libffi */
#define NF_STUB_NGPR 0
#define NF_STUB_NFPR 0
#define NF_STUB_NSTACK 0
#endif

#define NF_STUB_STACK0 (NF_STUB_NGPR + NF_STUB_NFPR)  /* slot of the first stack word */
#define NF_STUB_NSLOTS 24    /* room in a register image for every ABI above (NGPR + NFPR + NSTACK <= 24) */
#define NF_STUB_RETSIZE 32   /* bytes of the return image: up to four registers */

/* Calls `fn` with the argument registers loaded from `regs` and writes the return registers to `ret`
   (NF_STUB_RETSIZE bytes, 8-aligned): an integer or pointer as a uint64_t, a float or a double at the
   start, a struct returned in registers as its bytes in memory order. */
typedef void (*nf_stub_fn)(void *fn, const uint64_t *regs, void *ret);

/* Where one argument goes: a scalar is one piece; a struct is split into the pieces that fill registers. */
typedef struct {
    unsigned char npieces;   /* 1 for scalars, 1..4 for structs (up to 4 stack words) */
    unsigned char slot[4];   /* register-image slot of each piece */
    unsigned char off[4];    /* structs: byte offset of each piece in the value */
    unsigned char size[4];   /* structs: bytes of the value copied into each slot (the rest is zero) */
} nf_stub_arg;

/* The stub chosen for one signature. */
typedef struct {
    nf_stub_fn call;         /* the stub; NULL when the signature needs libffi */
    const char *name;        /* the stub's name ("int/g", "f64/gf", ...), shown by Function.call_path */
    int ret_in_memory;       /* the return goes to memory whose address travels in slot 0 (x86-64 MEMORY) */
    int nstack;              /* stack words the arguments use (0: registers only) */
} nf_stub_plan;

/* Counts of the argument locations used so far while a plan is made. */
typedef struct {
    int ngpr, nfpr, nstack;  /* integer registers, floating registers, stack words */
} nf_stub_alloc;

/* Piece j of a compound argument: its 8 bytes at offset 8*j (the last piece may be shorter) travel in
   image slot `slot`. */
static inline void nf_stub_piece(nf_stub_arg *a, int j, int slot, Py_ssize_t size)
{
    a->slot[j] = (unsigned char)slot;
    a->off[j] = (unsigned char)(8 * j);
    a->size[j] = (unsigned char)(size - 8 * j < 8 ? size - 8 * j : 8);
}

/* Places a scalar or pointer argument in the next free integer or floating register, as both ABIs do (the
   two register files are counted independently), or, once its register file is used up, in the next stack
   word (both ABIs give each scalar on the stack an 8-byte word of its own, the value in its low bytes).
   Returns 1 if placed, 0 if `t` is not a scalar or pointer (the ABI file places structs), -1 if the stack
   words are used up too (the call needs libffi). */
static inline int nf_stub_place_scalar(nf_ctype *t, nf_stub_alloc *al, nf_stub_arg *a)
{
    int fp = t->kind == NF_F32 || t->kind == NF_F64;
    if (!fp && !NF_IS_SCALAR(t->kind) && t->kind != NF_POINTER)
        return 0;
    a->npieces = 1;
    if (fp && al->nfpr < NF_STUB_NFPR)
        a->slot[0] = (unsigned char)(NF_STUB_NGPR + al->nfpr++);
    else if (!fp && al->ngpr < NF_STUB_NGPR)
        a->slot[0] = (unsigned char)al->ngpr++;
    else if (al->nstack < NF_STUB_NSTACK)
        a->slot[0] = (unsigned char)(NF_STUB_STACK0 + al->nstack++);
    else
        return -1;
    return 1;
}

/* Chooses a stub for a signature of n parameters (all fixed when !variadic), filling *out and args[0..n).
   Returns 1 if a stub can make the call, 0 if libffi must: variadic functions, arguments that need more
   than NF_STUB_NSTACK stack words, structs the stubs do not pass. Never raises. */
int nf_stub_plan_make(nf_ctype *ret, nf_ctype *const *params, Py_ssize_t n, int variadic, nf_stub_plan *out,
                      nf_stub_arg *args);

#endif
