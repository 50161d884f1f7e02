/* Type expressions at the cost of a dictionary hit: Pointer[T], Box[T], Array[T, n], NativeFunction[[...], R]. */
#ifndef NF_EXPR_H
#define NF_EXPR_H

#include "types.h"

/* The value of `expr[item]` for a TypeExpression object (what Pointer.__class_getitem__ and the others are).
   New reference; NULL with an exception. */
PyObject *nf_expr_get(PyObject *expr, PyObject *item);

extern PyTypeObject nf_TypeExpression_Type;
extern PyTypeObject nf_TypeExpressionMeta_Type;  /* metaclass: C[item] calls C's own TypeExpression directly */
#define nf_expr_check(o) Py_IS_TYPE((o), &nf_TypeExpression_Type)

int nf_expr_init(PyObject *module);

#endif
