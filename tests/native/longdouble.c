/* Test helpers for long double: calls, returns, structs, pointers, callbacks and exact values, computed by C. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int ld_mant_dig(void) { return LDBL_MANT_DIG; }
size_t ld_size(void) { return sizeof(long double); }
size_t ld_align(void) { return _Alignof(long double); }

long double ld_id(long double x) { return x; }
long double ld_add(long double a, long double b) { return a + b; }
long double ld_third(void) { return 1.0L / 3; }
long double ld_max(void) { return LDBL_MAX; }
long double ld_true_min(void) { return LDBL_TRUE_MIN; }
/* Exact results are written to memory with their padding bytes zeroed (x87: 6 of 16), never returned (a return
   reaches Python as a double). */
static void put(long double *out, long double x)
{
    memset(out, 0, sizeof x);
    memcpy(out, &x, LDBL_MANT_DIG == 64 ? 10 : sizeof x);
}
/* n / d, correctly rounded by the hardware (both are exact long doubles) */
void ld_ratio_to(long double *out, int64_t n, int64_t d) { put(out, (long double)n / (long double)d); }
/* m * 2**e, correctly rounded into the subnormals too */
void ld_ldexp_to(long double *out, int64_t m, int e) { put(out, ldexpl((long double)m, e)); }
void ld_max_to(long double *out) { put(out, LDBL_MAX); }
/* whether *p is exactly 1.0L / 3 */
int ld_is_third_at(const long double *p) { return *p == 1.0L / 3; }

/* mixed classes: integer and SSE registers, long doubles in memory */
long double ld_mixed(int a, long double b, double c, long double d, float e, int64_t f)
{
    return a + b + c + d + e + f;
}
/* 9 long doubles and 9 doubles: past every register */
long double ld_sum18(long double a0, double b0, long double a1, double b1, long double a2, double b2, long double a3,
                     double b3, long double a4, double b4, long double a5, double b5, long double a6, double b6,
                     long double a7, double b7, long double a8, double b8)
{
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8;
}
/* variadic long doubles: not promoted */
long double ld_va_sum(int n, ...)
{
    va_list ap;
    va_start(ap, n);
    long double s = 0;
    for (int i = 0; i < n; i++)
        s += va_arg(ap, long double);
    va_end(ap);
    return s;
}

/* through pointers */
void ld_scale(long double *p, size_t n, long double k) { for (size_t i = 0; i < n; i++) p[i] *= k; }

/* in structs: layout and by value */
typedef struct { char c; long double x; int n; } LDS;
size_t lds_size(void) { return sizeof(LDS); }
size_t lds_align(void) { return _Alignof(LDS); }
size_t lds_off_x(void) { return offsetof(LDS, x); }
size_t lds_off_n(void) { return offsetof(LDS, n); }
LDS lds_make(char c, long double x, int n) { LDS s = {c, x, n}; return s; }
long double lds_sum(LDS s) { return s.c + s.x + s.n; }
typedef struct { long double x; } LD1;
LD1 ld1_make(long double x) { LD1 s = {x * 2}; return s; }
long double ld1_get(LD1 s) { return s.x; }
typedef struct { double d; long double x; } DLD;
DLD dld_make(double d, long double x) { DLD s = {d, x}; return s; }

/* callbacks */
long double ld_apply(long double (*f)(long double, int), long double x, int n) { return f(x, n) * 2; }
void ld_post(void (*f)(long double, int), long double x) { f(x, 7); }
long double ld_apply_third(long double (*f)(long double)) { return f(1.0L / 3); }
