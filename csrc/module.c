/* The nativeffi._core module: the only file that touches module initialisation. */
#include "callback.h"
#include "compound.h"
#include "downcall.h"
#include "expr.h"
#include "lookup.h"
#include "memory.h"
#include "pointer.h"
#include "types.h"

static PyMethodDef *const method_tables[] = {
    nf_types_methods, nf_pointer_methods, nf_downcall_methods, nf_lookup_methods, nf_memory_methods,
    nf_compound_methods, nf_callback_methods,
};

static int add_methods(PyObject *m)
{
    for (size_t i = 0; i < sizeof method_tables / sizeof *method_tables; i++)
        if (PyModule_AddFunctions(m, method_tables[i]) < 0)
            return -1;
    return 0;
}

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "nativeffi._core",
    .m_doc = "C core of nativeffi: native types, pointers, calls and callbacks. Use the nativeffi package.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__core(void)
{
    PyObject *m = PyModule_Create(&core_module);
    if (!m)
        return NULL;
    if (add_methods(m) < 0 || nf_types_init(m) < 0 || nf_expr_init(m) < 0 || nf_pointer_init(m) < 0 ||
        nf_memory_init(m) < 0 || nf_downcall_init(m) < 0 ||
        nf_compound_init(m) < 0 || nf_callback_init(m) < 0 ||
        PyModule_AddIntConstant(m, "POINTER_SIZE", (long)sizeof(void *)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
