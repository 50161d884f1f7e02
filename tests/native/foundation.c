/* Test helpers for the foundation: pointers, globals, errno, and blocking calls for leaf/non-leaf tests. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* -- Globals ---------------------------------------------------------------- */
int64_t counter = 42;
const int32_t answer = 7;          /* bound with final=True */
double ratio = 0.5;
const char *greeting_text = "hello from C";

int64_t get_counter(void) { return counter; }
double get_ratio(void) { return ratio; }

/* -- Pointers --------------------------------------------------------------- */
int64_t sum_i64(const int64_t *p, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

double sum_f64(const double *p, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

void fill_u8(uint8_t *p, size_t n, uint8_t v) { memset(p, v, n); }
void store_i32(int32_t *p, int32_t v) { *p = v; }
void store_ptr(void **out, void *v) { *out = v; }  /* a pointer out-parameter, as sqlite3_open's */
void store_f64(double *p, double v) { *p = v; }
size_t count_bytes(const char *s) { return s ? strlen(s) : (size_t)-1; }
int is_null(const void *p) { return p == NULL; }
const char *greeting(void) { return greeting_text; }
int32_t *advance_i32(int32_t *p, int64_t n) { return p + n; }
intptr_t address_of_ptr(const void *p) { return (intptr_t)p; }

/* Writes the squares 0, 1, 4, ... into out[0..n). */
void squares(int64_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (int64_t)(i * i);
}

/* -- errno ------------------------------------------------------------------ */
int fail_with_errno(int e)
{
    errno = e;
    return -1;
}

/* -- Blocking ------------------------------------------------------------------ */
/* Clears *flag, then spins until it becomes nonzero or timeout_ms passes; returns 1 if the flag was seen.
   A non-leaf call lets another Python thread set the flag meanwhile; a leaf call holds the GIL so none can. */
int wait_for_flag(volatile int32_t *flag, int timeout_ms)
{
    struct timespec start, now;
    *flag = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (*flag)
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms >= timeout_ms)
            return 0;
        struct timespec pause = {0, 100000};
        nanosleep(&pause, NULL);
    }
}

/* -- For the resolver tests: found only through a resolver given this address ------------ */
int64_t resolver_target(int64_t x) { return x * 3 + 1; }
