/* The C library every benchmark row calls: the same functions for nativeffi, ctypes, cffi and the floors. */
#include <stdint.h>

typedef struct { double x, y; } vec2;          /* 16 bytes: two SSE eightbytes on x86-64, an HFA on AArch64 */
typedef struct { double x, y, z; } vec3;       /* 24 bytes: on the stack on x86-64, by reference on AArch64 */

int64_t nfb_add(int64_t a, int64_t b) { return a + b; }
double nfb_scale(double x) { return x * 2.0; }
double nfb_mix6(int64_t a, double b, int32_t c, double d, int64_t e, double f)
{
    return (double)a + b + (double)c + d + (double)e + f;
}
int64_t nfb_first(const uint8_t *p) { return p[0]; }
int32_t nfb_out_i32(int32_t *out) { *out = 42; return 0; }  /* an out-parameter, as in `int f(int *out)` */
double nfb_vec2_dot(vec2 a, vec2 b) { return a.x * b.x + a.y * b.y; }
double nfb_vec3_dot(vec3 a, vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
vec2 nfb_vec2_make(double x, double y) { vec2 v = {x, y}; return v; }
int64_t nfb_sum8(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f, int64_t g, int64_t h)
{
    return a + b + c + d + e + f + g + h;
}
