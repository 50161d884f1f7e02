/* Test helper for tests/test_pointer_slices.py, tests/test_struct_values.py and tests/test_structs_advanced.py:
   strided sums, and the structs of the advanced-struct features (inheritance, anonymous members, byte order,
   flexible array members, text in char arrays) as the C compiler lays them out and fills them. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>

/* -- Slices ------------------------------------------------------------------------ */

/* The sum of p[start], p[start + step], ... while before stop (after it for a negative step): Python's p[a:b:k]. */
int64_t sum_strided(const int64_t *p, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step)
{
    int64_t s = 0;
    for (ptrdiff_t i = start; step > 0 ? i < stop : i > stop; i += step)
        s += p[i];
    return s;
}

/* Writes i * i to p[i] for i in [from, to): indices may be negative (memory before p). */
void squares_range(int64_t *p, ptrdiff_t from, ptrdiff_t to)
{
    for (ptrdiff_t i = from; i < to; i++)
        p[i] = (int64_t)(i * i);
}
