/* How the x86-64 SysV and AArch64 calling conventions pass a compound value: pure functions over its scalar leaves. */
#ifndef NF_CLASSIFY_H
#define NF_CLASSIFY_H

#include <Python.h>
#include <float.h>

/* One scalar piece of a compound, as the calling conventions see it. */
typedef struct {
    Py_ssize_t offset;   /* byte offset from the start of the compound */
    Py_ssize_t size;     /* bytes it covers (for bit fields: the bytes their bits touch) */
    Py_ssize_t align;    /* natural alignment of its type; 1 for bit-field bytes, which are never misaligned */
    char cls;            /* 'i' integer, bool or pointer (bit fields too), 'f' float, 'd' double, long double:
                            'x' x87 80-bit extended, 'q' IEEE binary128 (NF_LDOUBLE_LEAF: this platform's) */
} nf_leaf;

/* The leaf class of this platform's long double (when it is wider than double). */
#define NF_LDOUBLE_LEAF (LDBL_MANT_DIG == 64 ? 'x' : 'q')

/* How a compound travels: in memory (by copy on the stack, or by reference), or in registers as parts. */
typedef struct {
    int in_memory;       /* x86-64: MEMORY class; AArch64: larger than 16 bytes and not an HFA (passed by reference) */
    int by_reference;    /* as an argument the caller passes a pointer to a copy it made (AArch64's in_memory);
                            x86-64 copies MEMORY-class values onto the stack instead */
    int long_double;     /* a long double leaf ('x' or 'q'): only libffi passes it (the stubs decline) */
    int nparts;          /* registers: number of entries in parts */
    char parts[16];      /* in memory order: 'f' float, 'd' double, 'q' binary128 (AArch64 HFAs), or an integer
                            chunk of '1', '2', '4', '8' bytes */
} nf_abi_class;

/* x86-64 System V: eightbytes classified INTEGER or SSE; MEMORY above 16 bytes, with a misaligned scalar, or with
   a long double (X87 class: passed in memory; libffi returns such structs in memory too). */
void nf_classify_sysv(const nf_leaf *leaves, Py_ssize_t nleaves, Py_ssize_t size, Py_ssize_t align,
                      nf_abi_class *out);

/* The x86-64 eightbyte classes of a value classified by nf_classify_sysv: 'i' (INTEGER) or 's' (SSE) per
   eightbyte of its `size` bytes. Returns the number of eightbytes (1 or 2), or 0 if it travels in memory. */
int nf_classify_sysv_eightbytes(const nf_abi_class *c, Py_ssize_t size, char eb[2]);

/* AArch64 AAPCS64: homogeneous float aggregates (float, double or binary128 members) of up to 4 members in vector
   registers; otherwise up to
   16 bytes in general registers, larger by reference. */
void nf_classify_aarch64(const nf_leaf *leaves, Py_ssize_t nleaves, Py_ssize_t size, Py_ssize_t align,
                         nf_abi_class *out);

#endif
