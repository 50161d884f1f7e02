/* The stub generator both ABI files share: function-pointer calls that pass a whole register image.
 *
 * An ABI file defines its register lists, then includes this file:
 *   GPR_T / GPR_A   the integer registers' parameter types and the image slots that fill them
 *   FPR_A           the image slots of the 8 floating registers (FPR_T is the same on both ABIs)
 *   STK_A           the image slots of the 8 stack words that follow the registers
 * and writes STUBS(name, return type) once per return class, and STUB_ROW(name) in its table.
 */
#ifndef NF_STUBS_GEN_H
#define NF_STUBS_GEN_H

#include "stubs.h"
#include <string.h>

typedef uint64_t u64;

/* The double whose bits a register image slot holds. */
static inline double D(u64 u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

#define FPR_T double, double, double, double, double, double, double, double
#define STK_T u64, u64, u64, u64, u64, u64, u64, u64

/* Four stubs per return class: integer registers only ("g"), integer plus floating ones ("gf"), and each of
   those with the stack words ("gs", "gfs"). */
#define STUBS(NAME, RT)                                                                                  \
    static void NAME##_g(void *fn, const u64 *r, void *ret)                                              \
    {                                                                                                    \
        RT v = ((RT(*)(GPR_T))fn)(GPR_A);                                                                \
        memcpy(ret, &v, sizeof v);                                                                       \
    }                                                                                                    \
    static void NAME##_gf(void *fn, const u64 *r, void *ret)                                             \
    {                                                                                                    \
        RT v = ((RT(*)(GPR_T, FPR_T))fn)(GPR_A, FPR_A);                                                  \
        memcpy(ret, &v, sizeof v);                                                                       \
    }                                                                                                    \
    static void NAME##_gs(void *fn, const u64 *r, void *ret)                                             \
    {                                                                                                    \
        RT v = ((RT(*)(GPR_T, STK_T))fn)(GPR_A, STK_A);                                                  \
        memcpy(ret, &v, sizeof v);                                                                       \
    }                                                                                                    \
    static void NAME##_gfs(void *fn, const u64 *r, void *ret)                                            \
    {                                                                                                    \
        RT v = ((RT(*)(GPR_T, FPR_T, STK_T))fn)(GPR_A, FPR_A, STK_A);                                    \
        memcpy(ret, &v, sizeof v);                                                                       \
    }

/* One row of an ABI's stub table: the four stubs of a return class and their names. */
typedef struct {
    nf_stub_fn fn[4];        /* by register sets: g, gf, gs, gfs */
    const char *name[4];     /* "<class>/<set>", shown by Function.call_path */
} nf_stub_row;

#define STUB_ROW(NAME) \
    {{NAME##_g, NAME##_gf, NAME##_gs, NAME##_gfs}, {#NAME "/g", #NAME "/gf", #NAME "/gs", #NAME "/gfs"}}

#endif
