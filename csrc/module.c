/* The nativeffi._core module: the only file that touches module initialisation. */
#include "callback.h"
#include "cdata.h"
#include "compound.h"
#include "downcall.h"
#include "finalizer.h"
#include "longdouble.h"
#include "expr.h"
#include "lookup.h"
#include "memory.h"
#include "pointer.h"
#include "types.h"

#ifndef NF_LIBFFI_VERSION
#define NF_LIBFFI_VERSION "unknown"  /* set by setup.py from pkg-config: the libffi headers built against */
#endif

static PyMethodDef *const method_tables[] = {
    nf_types_methods, nf_pointer_methods, nf_downcall_methods, nf_lookup_methods, nf_memory_methods,
    nf_compound_methods, nf_cdata_methods, nf_callback_methods, nf_finalizer_methods,
    nf_longdouble_methods,
};

static int add_methods(PyObject *m)
{
    for (size_t i = 0; i < sizeof method_tables / sizeof *method_tables; i++)
        if (PyModule_AddFunctions(m, method_tables[i]) < 0)
            return -1;
    return 0;
}

/* The core keeps process-wide state under the GIL of one interpreter (types, caches, callback records, the
   listener queues): until docs/free-threading.md is done, it refuses a free-threaded build and subinterpreters with
   an ImportError that says so. Returns 0 where it may load, or -1 with that ImportError. */
static int check_runtime(void)
{
#ifdef Py_GIL_DISABLED
    PyErr_SetString(PyExc_ImportError, "nativeffi._core does not support free-threaded CPython yet (this is a "
                    "--disable-gil build): its callbacks, listeners and caches rely on the GIL; use a CPython with the "
                    "GIL (see nativeffi's docs/free-threading.md)");
    return -1;
#else
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_ImportError, "nativeffi._core does not support subinterpreters yet: its state is "
                        "per process and belongs to the main interpreter; import nativeffi in the main interpreter "
                        "(see nativeffi's docs/free-threading.md)");
        return -1;
    }
    return 0;
#endif
}

/* The first module's namespace: a later import in the same interpreter (after `del sys.modules[...]`) gets the
   same objects, as a single-phase module would, instead of initialising the process-wide state twice. */
static PyObject *first_namespace;

static int core_exec(PyObject *m)
{
    if (check_runtime() < 0)
        return -1;
    if (first_namespace)
        return PyDict_Merge(PyModule_GetDict(m), first_namespace, 0);
    if (add_methods(m) < 0 || nf_types_init(m) < 0 || nf_expr_init(m) < 0 || nf_pointer_init(m) < 0 ||
        nf_memory_init(m) < 0 || nf_downcall_init(m) < 0 ||
        nf_compound_init(m) < 0 || nf_callback_init(m) < 0 || nf_finalizer_init(m) < 0 || nf_longdouble_init(m) < 0 ||
        PyModule_AddIntConstant(m, "POINTER_SIZE", (long)sizeof(void *)) < 0 ||
        PyModule_AddStringConstant(m, "LIBFFI_VERSION", NF_LIBFFI_VERSION) < 0)
        return -1;
    first_namespace = Py_NewRef(PyModule_GetDict(m));
    return 0;
}

/* Multi-phase initialisation (PEP 489), so that core_exec runs in every interpreter that imports the module: a
   single-phase module is copied into a legacy subinterpreter without its init function running. */
static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, (void *)core_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "nativeffi._core",
    .m_doc = "C core of nativeffi: native types, pointers, calls and callbacks. Use the nativeffi package.",
    .m_size = 0,
    .m_slots = core_slots,
};

PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
