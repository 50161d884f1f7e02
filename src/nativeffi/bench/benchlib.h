/* Declarations of benchlib.c, for cffi (cdef and API mode) and the floor module. */
#include <stdint.h>
typedef struct { double x, y; } vec2;
typedef struct { double x, y, z; } vec3;
int64_t nfb_add(int64_t a, int64_t b);
double nfb_scale(double x);
double nfb_mix6(int64_t a, double b, int32_t c, double d, int64_t e, double f);
int64_t nfb_first(const uint8_t *p);
int32_t nfb_out_i32(int32_t *out);
double nfb_vec2_dot(vec2 a, vec2 b);
double nfb_vec3_dot(vec3 a, vec3 b);
vec2 nfb_vec2_make(double x, double y);
int64_t nfb_sum8(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f, int64_t g, int64_t h);
