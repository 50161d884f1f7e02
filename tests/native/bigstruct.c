/* Test helper for the by-value size limit: a struct of exactly 1 MiB passed and returned by value, down and up. */
#include <stdint.h>
#include <stdlib.h>

#define BIG_WORDS ((1 << 20) / 8)

typedef struct { uint64_t v[BIG_WORDS]; } big_t;

typedef uint64_t (*big_arg_fn)(big_t);
typedef big_t (*big_ret_fn)(uint64_t);

/* A checksum that sees every word and its position. */
static uint64_t checksum(const big_t *b)
{
    uint64_t s = 0;
    for (size_t i = 0; i < BIG_WORDS; i++)
        s = s * 31 + b->v[i];
    return s;
}

static void fill(big_t *b, uint64_t seed)
{
    for (size_t i = 0; i < BIG_WORDS; i++)
        b->v[i] = seed + i;
}

size_t big_size(void) { return sizeof(big_t); }

uint64_t big_checksum(big_t b) { return checksum(&b); }

uint64_t big_checksum_of_seed(uint64_t seed)
{
    big_t *b = malloc(sizeof *b);
    fill(b, seed);
    uint64_t s = checksum(b);
    free(b);
    return s;
}

big_t big_make(uint64_t seed)
{
    big_t b;
    fill(&b, seed);
    return b;
}

/* Passes a struct filled from `seed` to f by value (the copy is on this frame's stack, as C does). */
uint64_t big_call_arg(big_arg_fn f, uint64_t seed)
{
    big_t *b = malloc(sizeof *b);
    fill(b, seed);
    uint64_t r = f(*b);
    free(b);
    return r;
}

/* Calls f(seed) and returns the checksum of the struct it returned by value. */
uint64_t big_call_ret(big_ret_fn f, uint64_t seed)
{
    big_t *b = malloc(sizeof *b);
    *b = f(seed);
    uint64_t s = checksum(b);
    free(b);
    return s;
}

/* A 4 MiB struct by value: the size that overflowed an 8 MiB stack inside libffi before the limit. */
typedef struct { uint64_t v[(4 << 20) / 8]; } big4_t;

uint64_t big4_last(big4_t b) { return b.v[(4 << 20) / 8 - 1]; }
