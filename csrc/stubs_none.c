/* Register-image call stubs on platforms without an ABI file: none, every call goes through libffi. */
#include "stubs.h"

#if NF_STUB_NGPR == 0
#include <string.h>

int nf_stub_plan_make(nf_ctype *ret, nf_ctype *const *params, Py_ssize_t n, int variadic, nf_stub_plan *out,
                      nf_stub_arg *args)
{
    memset(out, 0, sizeof *out);
    return 0;
}

#endif
