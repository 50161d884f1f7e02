/* Library and symbol lookup: dlopen/dlsym with the loader's own messages; resolution policy lives in Python. */
#include "lookup.h"
#include "compat.h"
#include <dlfcn.h>
#include <link.h>

/* dlopen(path or None for the process, global=False) -> handle int. OSError with the loader's message. */
static PyObject *m_dlopen(PyObject *m, PyObject *args)
{
    PyObject *path;
    int global = 0;
    if (!PyArg_ParseTuple(args, "O|p:dlopen", &path, &global))
        return NULL;
    PyObject *bytes = NULL;
    if (path != Py_None && !PyUnicode_FSConverter(path, &bytes))
        return NULL;
    const char *p = bytes ? PyBytes_AS_STRING(bytes) : NULL;
    void *h;
    Py_BEGIN_ALLOW_THREADS
    h = dlopen(p, RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
    Py_END_ALLOW_THREADS
    Py_XDECREF(bytes);
    if (!h) {
        const char *e = dlerror();
        PyErr_SetString(PyExc_OSError, e ? e : "dlopen failed");
        return NULL;
    }
    return PyLong_FromVoidPtr(h);
}

/* dlsym(handle or None for every loaded object, name) -> (address or None, loader message or None). */
static PyObject *m_dlsym(PyObject *m, PyObject *args)
{
    PyObject *handle;
    const char *name;
    if (!PyArg_ParseTuple(args, "Os:dlsym", &handle, &name))
        return NULL;
    void *h = RTLD_DEFAULT;
    if (handle != Py_None) {
        h = PyLong_AsVoidPtr(handle);
        if (!h && PyErr_Occurred())
            return NULL;
    }
    dlerror();
    void *a = dlsym(h, name);
    const char *e = dlerror();
    if (!a)
        return Py_BuildValue("(Os)", Py_None, e ? e : "symbol resolved to NULL");
    return Py_BuildValue("(NO)", PyLong_FromVoidPtr(a), Py_None);
}

/* dladdr(address) -> (library path, symbol name or None), or None when no loaded object contains it. */
static PyObject *m_dladdr(PyObject *m, PyObject *arg)
{
    void *a = PyLong_AsVoidPtr(arg);
    if (!a && PyErr_Occurred())
        return NULL;
    Dl_info info;
    if (!dladdr(a, &info))
        Py_RETURN_NONE;
    return Py_BuildValue("(ss)", info.dli_fname, info.dli_sname);
}

/* dlpath(handle) -> the path the loader opened for a dlopen handle (dlinfo RTLD_DI_LINKMAP), or None. */
static PyObject *m_dlpath(PyObject *m, PyObject *arg)
{
    void *h = PyLong_AsVoidPtr(arg);
    if (!h && PyErr_Occurred())
        return NULL;
    struct link_map *map = NULL;
    if (!h || dlinfo(h, RTLD_DI_LINKMAP, &map) != 0 || !map || !map->l_name || !map->l_name[0])
        Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(map->l_name);
}

/* dl_iterate_phdr callback: appends (name, load base) of one loaded object to the list in `data`. */
static int add_loaded(struct dl_phdr_info *info, size_t size, void *data)
{
    PyObject *name = PyUnicode_DecodeFSDefault(info->dlpi_name ? info->dlpi_name : "");
    PyObject *item = name ? Py_BuildValue("(NN)", name, PyLong_FromUnsignedLongLong(info->dlpi_addr)) : NULL;
    int r = item ? PyList_Append((PyObject *)data, item) : -1;
    Py_XDECREF(item);
    return r;  /* non-zero stops the walk; the error is set */
}

/* loaded_libraries() -> [(name, base)]: every object loaded in the process, in load order (the main program's
   name is ""). Error messages list them and read their exported symbols. */
static PyObject *m_loaded_libraries(PyObject *m, PyObject *unused)
{
    PyObject *list = PyList_New(0);
    if (list && dl_iterate_phdr(add_loaded, list) != 0)
        Py_CLEAR(list);
    return list;
}

PyMethodDef nf_lookup_methods[] = {
    {"dlopen", m_dlopen, METH_VARARGS, "dlopen(path or None, global=False) -> handle; OSError with dlerror()."},
    {"dlsym", m_dlsym, METH_VARARGS, "dlsym(handle or None, name) -> (address or None, dlerror() or None)."},
    {"dladdr", m_dladdr, METH_O, "dladdr(address) -> (library, symbol) or None."},
    {"dlpath", m_dlpath, METH_O, "dlpath(handle) -> the opened library's path, or None."},
    {"loaded_libraries", m_loaded_libraries, METH_NOARGS, "loaded_libraries() -> [(name, base address)]."},
    {NULL},
};
