/* Conversion of values between Python objects and native memory, with range and type checks. */
#ifndef NF_CONVERT_H
#define NF_CONVERT_H

#include "types.h"
#include <float.h>
#include <string.h>

/* Python -> C: writes `obj` converted to `t` at `dst`. -1 with TypeError/OverflowError set on bad input. */
int nf_cconv_store(nf_ctype *t, void *dst, PyObject *obj);

/* C -> Python: reads a `t` at `src`. Compounds and arrays come back as views that keep `owner` alive. */
PyObject *nf_cconv_load(nf_ctype *t, const void *src, PyObject *owner);

/* Temporaries an argument needs for the duration of one call (str encoded to UTF-8, an exported buffer). */
typedef struct {
    PyObject *obj;   /* owned reference to release after the call, or NULL */
    Py_buffer view;  /* exported buffer to release after the call, valid when has_view */
    int has_view;
} nf_argtmp;

/* Python -> C for an argument: as nf_cconv_store, and pointer parameters also accept buffers whose elements
   are the pointee (nf_cconv_check_buffer; bytes for the byte types and Void) and str (for Pointer[Utf8] and
   Pointer[Char]); those live in *tmp until nf_argtmp_release. */
int nf_cconv_store_arg(nf_ctype *t, void *dst, PyObject *obj, nf_argtmp *tmp);
void nf_argtmp_release(nf_argtmp *tmp);

/* Whether a buffer of PEP 3118 `format` (NULL: bytes) and `itemsize`, exported by obj, may be passed for the
   pointer type t: any buffer for Pointer[Void]; one of 1-byte integers or chars ('b', 'B', 'c') for the byte
   types (Int8, Uint8, Char, Utf8); else elements of the pointee's kind and size in this machine's byte order
   (an array pointee: its innermost element). 0, or -1 with a TypeError naming both. */
int nf_cconv_check_buffer(nf_ctype *t, const char *format, Py_ssize_t itemsize, PyObject *obj);

/* Whether a pointer parameter of type t takes bytes (its pointee is known to be a byte type or Void). */
int nf_cconv_takes_bytes(nf_ctype *t);

/* Reads one scalar of kind `k` (NF_I8..NF_BOOL) at src, which may be misaligned, as a Python int, float or bool.
   Inline: field reads, element reads and call returns are its hot paths. New reference (None for other kinds). */
static inline PyObject *nf_cconv_load_scalar(nf_kind k, const void *src)
{
#define NF_LOAD(T) ({ T v_; memcpy(&v_, src, sizeof v_); v_; })
    switch (k) {
    case NF_I8: return PyLong_FromLong(NF_LOAD(int8_t));
    case NF_U8: return PyLong_FromLong(NF_LOAD(uint8_t));
    case NF_I16: return PyLong_FromLong(NF_LOAD(int16_t));
    case NF_U16: return PyLong_FromLong(NF_LOAD(uint16_t));
    case NF_I32: return PyLong_FromLong(NF_LOAD(int32_t));
    case NF_U32: return PyLong_FromUnsignedLong(NF_LOAD(uint32_t));
    case NF_I64: return PyLong_FromLongLong(NF_LOAD(int64_t));
    case NF_U64: return PyLong_FromUnsignedLongLong(NF_LOAD(uint64_t));
    case NF_F32: return PyFloat_FromDouble(NF_LOAD(float));
    case NF_F64: return PyFloat_FromDouble(NF_LOAD(double));
    case NF_BOOL: return PyBool_FromLong(NF_LOAD(_Bool));
    default: Py_RETURN_NONE;
    }
#undef NF_LOAD
}

/* Describes what a parameter of type `t` accepts, for error messages: "an int in [-128, 127]". */
const char *nf_cconv_expected(nf_ctype *t);

/* The bytes of a long double that hold its value (x87's 80-bit format: 10 of 16); the rest are padding. */
#define NF_LDOUBLE_VALUE_BYTES (LDBL_MANT_DIG == 64 ? (size_t)10 : sizeof(long double))

/* Stores a long double at dst with its padding bytes zeroed (so equal values have equal bytes). */
void nf_cconv_store_long_double(void *dst, long double v);

/* C -> C: a variadic argument as C's default promotions passed it (at `src`, of type nf_types_promoted(t)) back to
   its declared type `t` at `dst`, as the callee's va_arg and cast would: a double narrowed to float, an int
   truncated to a narrow integer, an int tested for non-zero as a Bool. */
void nf_cconv_from_promoted(nf_ctype *t, const void *src, void *dst);

#endif
