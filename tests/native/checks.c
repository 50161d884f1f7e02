/* Test helpers for argument checks: function pointers of several signatures, writes through pointers, large returns. */
#include <stdint.h>
#include <string.h>

typedef int64_t (*i64_fn)(int64_t);
typedef double (*f64_fn)(double);

int64_t apply_i64(i64_fn f, int64_t x) { return f(x); }
int64_t twice_plus_one(int64_t x) { return 2 * x + 1; }
double half(double x) { return x / 2; }

/* A struct holding a function pointer, as C libraries keep them in tables of operations. */
struct Ops { i64_fn op; int64_t arg; };
int64_t ops_run(const struct Ops *o) { return o->op(o->arg); }

/* Writes through its pointer: what C must never do to a bytes object. */
void poke_u8(uint8_t *p, size_t n) { memset(p, 'X', n); }
int64_t sum_i64(const int64_t *p, size_t n) { int64_t s = 0; for (size_t i = 0; i < n; i++) s += p[i]; return s; }
double sum_f64(const double *p, size_t n) { double s = 0; for (size_t i = 0; i < n; i++) s += p[i]; return s; }
size_t byte_len(const char *s) { return strlen(s); }
intptr_t address_of_ptr(const void *p) { return (intptr_t)p; }

/* A by-value return larger than the 256 bytes a call keeps in its stack frame: it goes to the scratch area. */
struct Big { int64_t v[512]; };
struct Big big_make(int64_t x)
{
    struct Big b;
    for (int i = 0; i < 512; i++)
        b.v[i] = x + i;
    return b;
}
