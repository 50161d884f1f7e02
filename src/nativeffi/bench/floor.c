/* The floors: hand-written METH_FASTCALL functions calling benchlib.c through function pointers. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stddef.h>
#include "benchlib.h"

static int64_t (*p_add)(int64_t, int64_t);
static double (*p_scale)(double);
static double (*p_mix6)(int64_t, double, int32_t, double, int64_t, double);
static int64_t (*p_first)(const uint8_t *);
static double (*p_vec2_dot)(vec2, vec2);
static double (*p_vec3_dot)(vec3, vec3);
static int64_t (*p_sum8)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);

static int nargs(Py_ssize_t n, Py_ssize_t want)
{
    if (n == want)
        return 0;
    PyErr_Format(PyExc_TypeError, "expected %zd arguments, got %zd", want, n);
    return -1;
}

/* Each benchmark twice: GIL kept (the leaf floor) and GIL released around the call (the non-leaf floor). */
#define BOTH(NAME, ...)                                                                                  \
    static PyObject *NAME(PyObject *m, PyObject *const *a, Py_ssize_t n)                                 \
    {                                                                                                    \
        const int release = 0;                                                                           \
        __VA_ARGS__                                                                                      \
    }                                                                                                    \
    static PyObject *NAME##_nogil(PyObject *m, PyObject *const *a, Py_ssize_t n)                         \
    {                                                                                                    \
        const int release = 1;                                                                           \
        __VA_ARGS__                                                                                      \
    }

#define CALL(r, expr)                                                                                    \
    if (release) {                                                                                       \
        Py_BEGIN_ALLOW_THREADS r = expr;                                                                 \
        Py_END_ALLOW_THREADS                                                                             \
    } else {                                                                                             \
        r = expr;                                                                                        \
    }

#define I64(i, v) int64_t v = PyLong_AsLongLong(a[i]); if (v == -1 && PyErr_Occurred()) return NULL;
#define F64(i, v) double v = PyFloat_AsDouble(a[i]); if (v == -1.0 && PyErr_Occurred()) return NULL;

BOTH(add, {
    if (nargs(n, 2) < 0) return NULL;
    I64(0, x) I64(1, y)
    int64_t r;
    CALL(r, p_add(x, y))
    return PyLong_FromLongLong(r);
})

BOTH(scale, {
    if (nargs(n, 1) < 0) return NULL;
    F64(0, x)
    double r;
    CALL(r, p_scale(x))
    return PyFloat_FromDouble(r);
})

BOTH(mix6, {
    if (nargs(n, 6) < 0) return NULL;
    I64(0, x0) F64(1, x1) I64(2, x2) F64(3, x3) I64(4, x4) F64(5, x5)
    if (x2 < INT32_MIN || x2 > INT32_MAX) { PyErr_SetString(PyExc_OverflowError, "int32"); return NULL; }
    double r;
    CALL(r, p_mix6(x0, x1, (int32_t)x2, x3, x4, x5))
    return PyFloat_FromDouble(r);
})

BOTH(first, {
    if (nargs(n, 1) < 0) return NULL;
    if (!PyBytes_Check(a[0])) { PyErr_SetString(PyExc_TypeError, "expected bytes"); return NULL; }
    const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING(a[0]);
    int64_t r;
    CALL(r, p_first(p))
    return PyLong_FromLongLong(r);
})

/* Structs: the floor takes the fields as floats (a hand-written module has no struct objects to read). */
BOTH(vec2_dot, {
    if (nargs(n, 4) < 0) return NULL;
    F64(0, ax) F64(1, ay) F64(2, bx) F64(3, by)
    vec2 u = {ax, ay}, v = {bx, by};
    double r;
    CALL(r, p_vec2_dot(u, v))
    return PyFloat_FromDouble(r);
})

BOTH(vec3_dot, {
    if (nargs(n, 6) < 0) return NULL;
    F64(0, ax) F64(1, ay) F64(2, az) F64(3, bx) F64(4, by) F64(5, bz)
    vec3 u = {ax, ay, az}, v = {bx, by, bz};
    double r;
    CALL(r, p_vec3_dot(u, v))
    return PyFloat_FromDouble(r);
})

BOTH(sum8, {
    if (nargs(n, 8) < 0) return NULL;
    I64(0, x0) I64(1, x1) I64(2, x2) I64(3, x3) I64(4, x4) I64(5, x5) I64(6, x6) I64(7, x7)
    int64_t r;
    CALL(r, p_sum8(x0, x1, x2, x3, x4, x5, x6, x7))
    return PyLong_FromLongLong(r);
})

static PyObject *setup(PyObject *m, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    if (!path)
        return NULL;
    void *h = dlopen(path, RTLD_NOW);
    if (!h) {
        PyErr_SetString(PyExc_OSError, dlerror());
        return NULL;
    }
#define SYM(name) if (!(*(void **)&p_##name = dlsym(h, "nfb_" #name))) { PyErr_SetString(PyExc_OSError, #name); return NULL; }
    SYM(add) SYM(scale) SYM(mix6) SYM(first) SYM(vec2_dot) SYM(vec3_dot) SYM(sum8)
    Py_RETURN_NONE;
}

#define ENTRY(name) {#name, (PyCFunction)(void (*)(void))name, METH_FASTCALL, NULL}, \
                    {#name "_nogil", (PyCFunction)(void (*)(void))name##_nogil, METH_FASTCALL, NULL}
static PyMethodDef methods[] = {
    ENTRY(add), ENTRY(scale), ENTRY(mix6), ENTRY(first), ENTRY(vec2_dot), ENTRY(vec3_dot), ENTRY(sum8),
    {"setup", setup, METH_O, "setup(path): binds the function pointers to benchlib at path"},
    {NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_nfbench_floor", NULL, -1, methods};

PyMODINIT_FUNC PyInit__nfbench_floor(void) { return PyModule_Create(&module); }
