/* How the x86-64 SysV and AArch64 calling conventions pass a compound value: pure functions over its scalar leaves.
 *
 * Both classifiers are compiled on every platform so that tests can check their logic on data; compound.c
 * uses the one of the platform it is built for to describe unions, bit-field and packed structs to libffi.
 */
#include "classify.h"

/* -- Shared ------------------------------------------------------------ */

/* Splits the bytes [from, to) into integer chunks no wider than `unit`, each aligned to its own size. */
static void int_chunks(nf_abi_class *out, Py_ssize_t from, Py_ssize_t to, Py_ssize_t unit)
{
    Py_ssize_t pos = from;
    while (pos < to && out->nparts < (int)sizeof out->parts) {
        Py_ssize_t k = unit >= 8 ? 8 : unit;
        while (k > 1 && (pos % k != 0 || pos + k > to))
            k /= 2;
        out->parts[out->nparts++] = (char)('0' + k);
        pos += k;
    }
}

static int has_long_double(const nf_leaf *leaves, Py_ssize_t nleaves)
{
    for (Py_ssize_t i = 0; i < nleaves; i++)
        if (leaves[i].cls == 'x' || leaves[i].cls == 'q')
            return 1;
    return 0;
}

/* -- x86-64 System V --------------------------------------------------- */

enum { EB_NONE, EB_SSE, EB_INTEGER };

void nf_classify_sysv(const nf_leaf *leaves, Py_ssize_t nleaves, Py_ssize_t size, Py_ssize_t align,
                      nf_abi_class *out)
{
    out->in_memory = 0;
    out->by_reference = 0;
    out->nparts = 0;
    out->long_double = has_long_double(leaves, nleaves);
    if (size > 16) {
        out->in_memory = 1;
        return;
    }
    int eb[2] = {EB_NONE, EB_NONE};
    for (Py_ssize_t i = 0; i < nleaves; i++) {
        const nf_leaf *l = &leaves[i];
        if ((l->align > 1 && l->offset % l->align != 0) || l->cls == 'x' || l->cls == 'q') {
            out->in_memory = 1;   /* a misaligned scalar (packed layouts): GCC passes the whole value in memory; */
            return;               /* a long double: X87 class, in memory (binary128 never occurs on x86-64) */
        }
        for (Py_ssize_t e = l->offset / 8; e <= (l->offset + l->size - 1) / 8 && e < 2; e++) {
            if (l->cls == 'i')
                eb[e] = EB_INTEGER;
            else if (eb[e] == EB_NONE)
                eb[e] = EB_SSE;
        }
    }
    for (Py_ssize_t e = 0; e * 8 < size; e++) {
        Py_ssize_t from = e * 8, to = size < from + 8 ? size : from + 8;
        if (eb[e] == EB_SSE) {
            if (to - from <= 4)
                out->parts[out->nparts++] = 'f';
            else if (align >= 8)
                out->parts[out->nparts++] = 'd';
            else {
                out->parts[out->nparts++] = 'f';   /* two floats share the eightbyte: one SSE register */
                out->parts[out->nparts++] = 'f';
            }
        } else {
            /* INTEGER, or all padding (treated as INTEGER: it carries no value) */
            int_chunks(out, from, to, align);
        }
    }
}

int nf_classify_sysv_eightbytes(const nf_abi_class *c, Py_ssize_t size, char eb[2])
{
    if (c->in_memory || size <= 0 || size > 16)
        return 0;
    Py_ssize_t pos = 0;
    eb[0] = eb[1] = 's';
    for (int i = 0; i < c->nparts; i++) {
        char p = c->parts[i];
        if (p != 'f' && p != 'd')
            eb[pos / 8] = 'i';
        pos += p == 'f' ? 4 : p == 'd' ? 8 : p - '0';
    }
    return size > 8 ? 2 : 1;
}

/* -- AArch64 AAPCS64 --------------------------------------------------- */

/* The HFA member kind ('f' or 'd') and count, or 0 if the leaves are not a homogeneous float aggregate. */
static int hfa(const nf_leaf *leaves, Py_ssize_t nleaves, Py_ssize_t size, char *kind)
{
    if (nleaves == 0)
        return 0;
    char k = leaves[0].cls;
    if (k != 'f' && k != 'd' && k != 'q')
        return 0;
    Py_ssize_t esize = k == 'f' ? 4 : k == 'd' ? 8 : 16;
    for (Py_ssize_t i = 0; i < nleaves; i++)
        if (leaves[i].cls != k || leaves[i].offset % esize != 0)
            return 0;
    if (size % esize != 0 || size / esize > 4)
        return 0;
    /* every member slot must hold a value of the kind (no padding holes) */
    Py_ssize_t n = size / esize;
    for (Py_ssize_t slot = 0; slot < n; slot++) {
        int covered = 0;
        for (Py_ssize_t i = 0; i < nleaves && !covered; i++)
            covered = leaves[i].offset == slot * esize;
        if (!covered)
            return 0;
    }
    *kind = k;
    return (int)n;
}

void nf_classify_aarch64(const nf_leaf *leaves, Py_ssize_t nleaves, Py_ssize_t size, Py_ssize_t align,
                         nf_abi_class *out)
{
    out->in_memory = 0;
    out->by_reference = 0;
    out->nparts = 0;
    out->long_double = has_long_double(leaves, nleaves);
    char kind;
    int n = hfa(leaves, nleaves, size, &kind);
    if (n) {
        for (int i = 0; i < n; i++)
            out->parts[out->nparts++] = kind;
        return;
    }
    if (size > 16) {
        out->in_memory = 1;
        out->by_reference = 1;   /* AAPCS64 B.4: the caller copies it to memory and passes the address */
        return;
    }
    int_chunks(out, 0, size, align);
}
