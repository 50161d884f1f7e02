/* Exceptions: re-raising a pending exception with the context it happened in (function, argument, field). */
#ifndef NF_ERRORS_H
#define NF_ERRORS_H

#include <Python.h>

/* Re-raises the pending exception with "<prefix>: " before its message, the prefix made by
   PyUnicode_FromFormat(format, ...). The new exception is of the original's type when that type is made from
   one message without running code of its own (TypeError, OverflowError, NullPointerError, a user exception
   without its own __init__/__new__); else of its nearest base class that is (a UnicodeEncodeError becomes a
   UnicodeError, still a ValueError). Its __cause__ is the original exception, traceback attached. If the new
   exception cannot be made (no memory), the original stays pending unchanged. Always returns -1. */
int nf_errors_prefix(const char *format, ...);

#endif
