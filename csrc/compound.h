/* Structs, unions and inline arrays: layout, values and views, and their libffi description. */
#ifndef NF_COMPOUND_H
#define NF_COMPOUND_H

#include "types.h"
#include "classify.h"

/* Python -> C: copies a compound value (struct instance, or a sequence for arrays) into `dst`. */
int nf_compound_store(nf_ctype *t, void *dst, PyObject *obj);

/* C -> Python: a view (no copy) of the compound at `src` that keeps `owner` (may be NULL) alive. */
PyObject *nf_compound_load(nf_ctype *t, const void *src, PyObject *owner);

/* C -> Python: a new Python-owned value holding a copy of the compound at `src` (by-value returns). */
PyObject *nf_compound_copy(nf_ctype *t, const void *src);

/* Address of the memory behind a compound value or view, or NULL (no exception) if obj is not one of type t. */
void *nf_compound_address(nf_ctype *t, PyObject *obj);

/* Releases what a STRUCT/UNION/ARRAY CType owns (layout, ffi description). Called from CType dealloc. */
void nf_compound_free(nf_ctype *t);

/* How this platform's calling convention passes a value of the compound type t (classify.c's rules applied
   to its scalar leaves): the one classifier behind the libffi descriptions and the call stubs. Returns 0, or
   -1 with an exception if t is not a complete compound or the platform has no classifier. */
int nf_compound_classify(nf_ctype *t, nf_abi_class *out);

/* Whether this platform's calling convention passes an argument of type t by reference: the caller makes a copy
   and passes its address (AArch64, composites over 16 bytes that are not HFAs; never on x86-64). Calls through
   libffi make that copy themselves and give libffi a pointer argument, as libffi 3.4.4 on AArch64 corrupts the
   stacked pointers of several such arguments (its copies overlap the stack arguments it writes). Returns 1 or 0,
   or -1 with an exception (out of memory). */
int nf_compound_by_reference(nf_ctype *t);

/* Works around libffi on x86-64 (3.4.4 at least): for a struct argument whose first eightbyte is INTEGER and
   second SSE, ffi_call copies all 16 bytes into the last free integer register slot, and the overflow lands
   in the first vector register slot, clobbering an earlier float argument. Such an argument, when it takes
   the last integer register, must be passed to libffi as two scalars (same registers). Returns how many
   arguments of argt[0..n) are affected, marking them in split (n bytes, zeroed by the caller). */
Py_ssize_t nf_compound_ffi_split(nf_ctype *ret, nf_ctype *const *argt, Py_ssize_t n, unsigned char *split);

/* The two scalar libffi types of an argument marked by nf_compound_ffi_split. */
void nf_compound_split_types(nf_ctype *t, ffi_type **lo, ffi_type **hi);

int nf_compound_init(PyObject *module);
extern PyMethodDef nf_compound_methods[];

#endif
