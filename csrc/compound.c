/* Structs, unions and inline arrays as types: the C compiler's layout rules and the libffi description of each.
 *
 * A struct or union CType is made in two steps so that its fields can mention it (Pointer["Node"]):
 * compound_type() makes an incomplete CType (fields NULL), then set_layout() lays the fields out and
 * completes it. A compound CType that is still incomplete cannot be used by value.
 *
 * Layout follows GCC/Clang on x86-64 and AArch64 Linux:
 *   - a field is aligned to its type's alignment, capped by `pack` (#pragma pack(n));
 *   - a bit field of type T starts at the next free bit, unless that would make it straddle a boundary of
 *     sizeof(T) bytes, in which case it starts at the next such boundary; under #pragma pack it never moves;
 *   - a zero-width bit field moves the next field to a boundary of alignof(T), whatever the packing; whether it
 *     also raises the compound's alignment (unions included) depends on the ABI (layout_rules below);
 *   - a union puts every field at offset 0; size is rounded up to the alignment;
 *   - a derived struct (set_layout's base) is laid out as C's struct D { struct B base; ... }: the base is a
 *     leading member, so new fields never use its tail padding; its fields are then re-owned by D (aliases);
 *   - a flexible array member (flexible_array_type) is an array of no elements: aligned as its element, no size.
 *
 * libffi description (t->ffi): a small struct (NF_FIELDS_MAX) whose layout libffi would compute itself is
 * described field by field (arrays flattened to repeated elements). Unions, structs with bit fields, packed and
 * larger structs are classified here (classify.c) by the rules of the platform's calling convention and
 * described as an equivalent struct whose size and alignment are preset, so libffi never recomputes them: a
 * struct of any size costs a description of at most 32 elements.
 *
 * Sizes: every offset and size is computed with sizes.h's checked arithmetic and bounded by NF_SIZE_MAX.
 */
#include "compound.h"
#include "cdata.h"
#include "classify.h"
#include "sizes.h"

/* What compound.c keeps per struct or union CType (t->layout). */
typedef struct {
    Py_ssize_t pack;      /* #pragma pack value, 0 for none */
    int has_bitfields;    /* some field (maybe zero-width) is a bit field */
    int natural;          /* libffi can describe it field by field: no union, bit field or packing effect inside */
} nf_layout;

/* -- Helpers -------------------------------------------------------------- */

static int is_complete(nf_ctype *t)
{
    return !((t->kind == NF_STRUCT || t->kind == NF_UNION) && !t->fields);
}

/* Whether a value of `t` can live inside a struct (a field or an array element); sets a TypeError if not. */
static int check_member_type(nf_ctype *t, PyObject *what)
{
    if (t->kind == NF_VOID || t->kind == NF_OPAQUE || t->kind == NF_FUNCTION) {
        PyErr_Format(PyExc_TypeError, "%U has type %U, which has no values (%s); use Pointer[%U]", what, t->name,
                     t->kind == NF_VOID ? "Void" : t->kind == NF_OPAQUE ? "opaque types live only behind a pointer"
                                                                         : "a function type",
                     t->name);
        return -1;
    }
    if (!is_complete(t)) {
        PyErr_Format(PyExc_TypeError, "%U has type %U by value, which is not complete yet: a struct cannot contain "
                     "itself; use Pointer[%R]", what, t->name, t->name);
        return -1;
    }
    return 0;
}

/* Whether libffi can describe `t` as itself (scalars, pointers, natural structs, arrays of those). */
static int is_natural(nf_ctype *t)
{
    switch (t->kind) {
    case NF_ARRAY: return is_natural(t->target);
    case NF_UNION: return 0;
    case NF_STRUCT: return t->layout && ((nf_layout *)t->layout)->natural;
    default: return 1;
    }
}

/* -- Layout ------------------------------------------------------------------ */

/* The C layout rules that differ between ABIs, as GCC applies them: one row per ABI, the one place they are
   decided. set_layout uses the row of the platform it is built for, or the one a test names. */
typedef struct layout_rules {
    const char *abi;           /* "sysv" (x86-64) or "aarch64" */
    int zero_width_aligns;     /* a zero-width bit field of type T raises the compound's alignment to alignof(T),
                                  even under pack(n) and in unions (AAPCS64); x86-64 leaves the alignment alone */
} layout_rules;

static const layout_rules layout_rules_of[] = {
    {"sysv", 0},
    {"aarch64", 1},
};

#if defined(__aarch64__)
#define NF_LAYOUT_ABI 1
#else
#define NF_LAYOUT_ABI 0   /* x86-64, and other platforms until they have a row of their own */
#endif

/* The rules of `abi` ("sysv" or "aarch64"), or NULL. */
static const layout_rules *layout_rules_named(const char *abi)
{
    for (size_t i = 0; i < sizeof layout_rules_of / sizeof layout_rules_of[0]; i++)
        if (strcmp(layout_rules_of[i].abi, abi) == 0)
            return &layout_rules_of[i];
    return NULL;
}

/* One field as given to set_layout. */
typedef struct {
    PyObject *name;      /* borrowed */
    nf_ctype *type;      /* borrowed */
    Py_ssize_t width;    /* bit width, or -1 for an ordinary field */
    Py_ssize_t offset;   /* result: byte offset */
    Py_ssize_t bitpos;   /* result: bit position of a bit field, -1 otherwise */
} field_spec;

/* Lays out `n` fields of the compound t (kind and name only are read); writes offsets into specs and the size
   and alignment. Positions are counted in bits, every step checked: returns 0, or -1 with OverflowError if the
   compound would be larger than NF_SIZE_MAX bytes. */
static int lay_out(const layout_rules *rules, nf_ctype *t, field_spec *specs, Py_ssize_t n, Py_ssize_t pack,
                   Py_ssize_t *size_out, Py_ssize_t *align_out)
{
    Py_ssize_t bit = 0, end = 0, align = 1;   /* bit: next free bit (structs); end: bits used (unions) */
    for (Py_ssize_t i = 0; i < n; i++) {
        field_spec *f = &specs[i];
        nf_ctype *ft = f->type;
        Py_ssize_t a = pack && ft->align > pack ? pack : ft->align;
        Py_ssize_t bits = f->width >= 0 ? f->width : 8 * ft->size;   /* member sizes are <= NF_SIZE_MAX: no overflow */
        if (t->kind == NF_UNION) {
            f->offset = 0;
            f->bitpos = f->width >= 0 ? 0 : -1;
            end = bits > end ? bits : end;
            if (f->width == 0 && rules->zero_width_aligns && ft->align > align)
                align = ft->align;
            if (f->width != 0 && a > align)
                align = a;
            continue;
        }
        if (f->width == 0) {
            if (nf_size_round_up(bit, 8 * ft->align, &bit) < 0)
                goto too_large;
            if (rules->zero_width_aligns && ft->align > align)
                align = ft->align;
            f->offset = bit / 8;
            f->bitpos = bit;
            continue;
        }
        if (f->width > 0) {
            Py_ssize_t unit = 8 * ft->size, last;
            if (nf_size_add(bit, f->width - 1, &last) < 0)
                goto too_large;
            if (!pack && bit / unit != last / unit && nf_size_round_up(bit, unit, &bit) < 0)
                goto too_large;
            f->bitpos = bit;
        } else {
            if (nf_size_round_up(bit, 8 * a, &bit) < 0)
                goto too_large;
            f->bitpos = -1;
        }
        f->offset = bit / 8;
        if (nf_size_add(bit, bits, &bit) < 0)
            goto too_large;
        if (a > align)
            align = a;
    }
    Py_ssize_t bytes, size;
    if (nf_size_round_up(t->kind == NF_UNION ? end : bit, 8, &bytes) < 0 ||
        nf_size_round_up(bytes / 8, align, &size) < 0 || size > NF_SIZE_MAX)
        goto too_large;
    *size_out = size;
    *align_out = align;
    return 0;
too_large:
    PyErr_Format(PyExc_OverflowError, "%U is " NF_TOO_LARGE, t->name);
    return -1;
}

/* -- Scalar leaves, for the calling-convention classifiers -------------------- */

typedef struct {
    nf_leaf *items;      /* PyMem array */
    Py_ssize_t n, cap;
} leaf_list;

static int add_leaf(leaf_list *l, Py_ssize_t offset, Py_ssize_t size, Py_ssize_t align, char cls)
{
    if (l->n == l->cap) {
        Py_ssize_t cap = l->cap ? 2 * l->cap : 16;
        nf_leaf *p = PyMem_Realloc(l->items, cap * sizeof(nf_leaf));
        if (!p) {
            PyErr_NoMemory();
            return -1;
        }
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = (nf_leaf){offset, size, align, cls};
    return 0;
}

/* Appends the scalar leaves of a `t` at byte `base`. GCC checks the alignment of an array's first element
   only (it classifies one element and repeats its classes), so the leaves of later elements of an array
   are added with `aligned` cleared: they never make the value MEMORY. */
static int collect_leaves(nf_ctype *t, Py_ssize_t base, int aligned, leaf_list *l)
{
    Py_ssize_t align = aligned ? t->align : 1;
    switch (t->kind) {
    case NF_F32: return add_leaf(l, base, 4, align, 'f');
    case NF_F64: return add_leaf(l, base, 8, align, 'd');
    case NF_LDOUBLE: return add_leaf(l, base, t->size, align, NF_LDOUBLE_LEAF);
    case NF_ARRAY:
        for (Py_ssize_t i = 0; i < t->length; i++)
            if (collect_leaves(t->target, base + i * t->target->size, aligned && i == 0, l) < 0)
                return -1;
        return 0;
    case NF_STRUCT: case NF_UNION:
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t->fields); i++) {
            nf_field *f = (nf_field *)PyTuple_GET_ITEM(t->fields, i);
            int r;
            if (f->width > 0) {
                Py_ssize_t first = f->bitpos / 8, last = (f->bitpos + f->width - 1) / 8;
                r = add_leaf(l, base + first, last - first + 1, 1, 'i');
            } else {
                r = collect_leaves(f->type, base + f->offset, aligned, l);
            }
            if (r < 0)
                return -1;
        }
        return 0;
    default:
        return add_leaf(l, base, t->size, align, 'i');
    }
}

/* Classifies `t` with the rules of `abi` ("sysv" or "aarch64"). */
static int classify(nf_ctype *t, const char *abi, nf_abi_class *out)
{
    leaf_list l = {0};
    /* Leaves matter only for values that may travel in registers (16 bytes, or an HFA of 4 doubles). */
    if (t->size <= 64 && collect_leaves(t, 0, 1, &l) < 0) {
        PyMem_Free(l.items);
        return -1;
    }
    if (strcmp(abi, "sysv") == 0)
        nf_classify_sysv(l.items, l.n, t->size, t->align, out);
    else
        nf_classify_aarch64(l.items, l.n, t->size, t->align, out);
    PyMem_Free(l.items);
    return 0;
}

/* -- libffi descriptions ------------------------------------------------------- */

/* An ffi_type of kind STRUCT with room for `n` elements (NULL-terminated), owned by the CType. */
static ffi_type *new_ffi_struct(Py_ssize_t n)
{
    ffi_type *ft = PyMem_Calloc(1, sizeof(ffi_type));
    ffi_type **el = PyMem_Calloc(n + 1, sizeof(ffi_type *));
    if (!ft || !el) {
        PyMem_Free(ft);
        PyMem_Free(el);
        PyErr_NoMemory();
        return NULL;
    }
    ft->type = FFI_TYPE_STRUCT;
    ft->elements = el;
    return ft;
}

/* Number of libffi elements a field of type t becomes (arrays are flattened). Called only for structs of at most
   NF_FIELDS_MAX bytes: every element takes at least a byte, so the count is at most that size (no overflow). */
static Py_ssize_t flat_count(nf_ctype *t)
{
    return t->kind == NF_ARRAY ? t->length * flat_count(t->target) : 1;
}

static void flat_fill(nf_ctype *t, ffi_type **el, Py_ssize_t *k)
{
    if (t->kind == NF_ARRAY) {
        for (Py_ssize_t i = 0; i < t->length; i++)
            flat_fill(t->target, el, k);
    } else {
        el[(*k)++] = t->ffi;
    }
}

/* Field by field; NULL without an exception if libffi's own layout would differ from ours. */
static ffi_type *natural_ffi(nf_ctype *t)
{
    Py_ssize_t n = 0, k = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t->fields); i++)
        n += flat_count(((nf_field *)PyTuple_GET_ITEM(t->fields, i))->type);
    ffi_type *ft = new_ffi_struct(n);
    if (!ft)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t->fields); i++)
        flat_fill(((nf_field *)PyTuple_GET_ITEM(t->fields, i))->type, ft->elements, &k);
    if (ffi_get_struct_offsets(FFI_DEFAULT_ABI, ft, NULL) != FFI_OK || (Py_ssize_t)ft->size != t->size ||
        (Py_ssize_t)ft->alignment != t->align) {
        PyMem_Free(ft->elements);
        PyMem_Free(ft);
        return NULL;
    }
    return ft;
}

#if defined(__x86_64__) && !defined(_WIN32)
#define NF_ABI "sysv"
#define NF_HAVE_CLASSIFIER 1
/* libffi passes a struct in memory when an eightbyte merges an x87 class with SSE; a struct whose first
   element is this marker followed by a float is therefore always passed in memory (its size is preset). */
static ffi_type x87_marker = {1, 1, FFI_TYPE_LONGDOUBLE, NULL};
#elif defined(__aarch64__) && !defined(__APPLE__) && !defined(_WIN32)
#define NF_ABI "aarch64"
#define NF_HAVE_CLASSIFIER 1
#endif

static ffi_type *part_ffi(char p)
{
    switch (p) {
    case 'f': return &ffi_type_float;
    case 'd': return &ffi_type_double;
    case 'q': return &ffi_type_longdouble;
    case '1': return &ffi_type_uint8;
    case '2': return &ffi_type_uint16;
    case '4': return &ffi_type_uint32;
    default: return &ffi_type_uint64;
    }
}

/* An equivalent struct by the calling convention's classes; NULL with an exception on failure. */
static ffi_type *classified_ffi(nf_ctype *t)
{
#ifdef NF_HAVE_CLASSIFIER
    nf_abi_class c;
    if (classify(t, NF_ABI, &c) < 0)
        return NULL;
    ffi_type *ft;
    if (c.in_memory) {
#ifdef __x86_64__
        if (t->size <= 16) {
            if (!(ft = new_ffi_struct(2)))
                return NULL;
            ft->elements[0] = &x87_marker;
            ft->elements[1] = &ffi_type_float;
        } else
#endif
        {
            if (!(ft = new_ffi_struct(1)))
                return NULL;
            ft->elements[0] = &ffi_type_uint8;   /* larger than 16 bytes: memory whatever the elements */
        }
    } else {
        if (!(ft = new_ffi_struct(c.nparts)))
            return NULL;
        for (int i = 0; i < c.nparts; i++)
            ft->elements[i] = part_ffi(c.parts[i]);
    }
    ft->size = (size_t)t->size;              /* preset: libffi only computes sizes that are 0 */
    ft->alignment = (unsigned short)t->align;
    return ft;
#else
    return NULL;  /* no classifier for this platform: such values cannot be passed by value */
#endif
}

/* The largest struct described field by field. With a classifier: the largest value that may travel in registers
   (x86-64: 16 bytes; AArch64: an HFA of four doubles, 32). Larger ones travel in memory whatever their fields, so
   the classified description (one element, size and alignment preset) is exact and costs nothing per array item.
   Without one: the by-value limit, above which no signature can use the struct anyway. */
#ifdef NF_HAVE_CLASSIFIER
#define NF_FIELDS_MAX 32
#else
#define NF_FIELDS_MAX NF_BYVALUE_MAX
#endif

/* x86-64: whether `t` is exactly one long double (struct { long double x; }, nested or an array of one). GCC
   returns such a value in %st0 as it does a long double (and passes both in memory), where libffi would return
   a struct in memory: it is described to libffi as the long double it is. */
static int is_lone_long_double(nf_ctype *t)
{
#if defined(__x86_64__) && LDBL_MANT_DIG == 64
    leaf_list l = {0};
    if (t->size != (Py_ssize_t)sizeof(long double) || collect_leaves(t, 0, 1, &l) < 0) {
        PyErr_Clear();
        PyMem_Free(l.items);
        return 0;
    }
    int lone = l.n == 1 && l.items[0].cls == 'x' && l.items[0].offset == 0;
    PyMem_Free(l.items);
    return lone;
#else
    return 0;
#endif
}

static int describe_to_ffi(nf_ctype *t)
{
    ffi_type *ft = NULL;
    if (is_lone_long_double(t)) {
        t->ffi = &ffi_type_longdouble;
        t->ffi_owned = 0;
        return 0;
    }
    if (t->kind == NF_STRUCT && ((nf_layout *)t->layout)->natural && t->size <= NF_FIELDS_MAX)
        ft = natural_ffi(t);
    if (!ft && !PyErr_Occurred())
        ft = classified_ffi(t);
    if (!ft)
        return PyErr_Occurred() ? -1 : 0;
    t->ffi = ft;
    t->ffi_owned = 1;
    return 0;
}

/* -- A libffi workaround (x86-64) -------------------------------------------- */

int nf_compound_classify(nf_ctype *t, nf_abi_class *out)
{
#ifdef NF_HAVE_CLASSIFIER
    if (!NF_IS_COMPOUND(t->kind) || !is_complete(t)) {
        PyErr_Format(PyExc_TypeError, "%U is not a complete struct, union or array", t->name);
        return -1;
    }
    return classify(t, NF_ABI, out);
#else
    PyErr_SetString(PyExc_NotImplementedError, "no calling-convention classifier for this platform");
    return -1;
#endif
}

int nf_compound_by_reference(nf_ctype *t)
{
#ifdef NF_HAVE_CLASSIFIER
    nf_abi_class c;
    if (!NF_IS_COMPOUND(t->kind) || !is_complete(t))
        return 0;
    return classify(t, NF_ABI, &c) < 0 ? -1 : c.by_reference;
#else
    return 0;
#endif
}

#if defined(__x86_64__) && !defined(_WIN32)
/* Eightbyte classes of a by-value argument as libffi sees it: 'i' or 's' per eightbyte; 0 if in memory. */
static int eightbytes(nf_ctype *t, char eb[2])
{
    if (NF_IS_SCALAR(t->kind) || t->kind == NF_POINTER) {
        eb[0] = t->kind == NF_F32 || t->kind == NF_F64 ? 's' : 'i';
        return 1;
    }
    nf_abi_class c;
    if (!NF_IS_COMPOUND(t->kind) || classify(t, "sysv", &c) < 0) {
        PyErr_Clear();
        return 0;
    }
    return nf_classify_sysv_eightbytes(&c, t->size, eb);
}
#endif

Py_ssize_t nf_compound_ffi_split(nf_ctype *ret, nf_ctype *const *argt, Py_ssize_t n, unsigned char *split)
{
#if defined(__x86_64__) && !defined(_WIN32)
    int gpr = 0, sse = 0;
    Py_ssize_t count = 0;
    char eb[2];
    if (NF_IS_COMPOUND(ret->kind) && eightbytes(ret, eb) == 0)
        gpr = 1;  /* the hidden pointer for a return in memory */
    for (Py_ssize_t i = 0; i < n; i++) {
        int k = eightbytes(argt[i], eb), ng = 0, ns = 0;
        for (int j = 0; j < k; j++)
            eb[j] == 'i' ? ng++ : ns++;
        if (k == 0 || gpr + ng > 6 || sse + ns > 8)
            continue;  /* on the stack */
        if (k == 2 && eb[0] == 'i' && eb[1] == 's' && gpr == 5 && sse > 0) {
            split[i] = 1;
            count++;
        }
        gpr += ng;
        sse += ns;
    }
    return count;
#else
    return 0;
#endif
}

void nf_compound_split_types(nf_ctype *t, ffi_type **lo, ffi_type **hi)
{
    *lo = &ffi_type_uint64;
    *hi = t->size - 8 <= 4 ? &ffi_type_float : &ffi_type_double;
}

/* -- Module functions ------------------------------------------------------ */

static PyObject *m_compound_type(PyObject *m, PyObject *args)
{
    const char *kind, *name;
    if (!PyArg_ParseTuple(args, "ss:compound_type", &kind, &name))
        return NULL;
    nf_kind k;
    if (strcmp(kind, "struct") == 0)
        k = NF_STRUCT;
    else if (strcmp(kind, "union") == 0)
        k = NF_UNION;
    else {
        PyErr_Format(PyExc_ValueError, "compound_type: kind must be 'struct' or 'union', got %R", PyTuple_GET_ITEM(args, 0));
        return NULL;
    }
    nf_ctype *t = nf_ctype_alloc(k, name);
    if (t)
        t->align = 1;
    return (PyObject *)t;
}

static PyObject *set_layout(nf_ctype *t, PyObject *fields, Py_ssize_t pack, const layout_rules *rules, int derived);

static int parse_specs(nf_ctype *t, PyObject *seq, field_spec *specs, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *name, *ft;
        Py_ssize_t width;
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "UO!n", &name, &nf_CType_Type, &ft, &width)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "set_layout: field %zd must be (name, CType, width)", i);
            return -1;
        }
        nf_ctype *f = (nf_ctype *)ft;
        PyObject *what = PyUnicode_FromFormat("field %R of %U", name, t->name);
        if (!what)
            return -1;
        int bad = check_member_type(f, what);
        if (!bad && width >= 0) {
            if (!NF_IS_INTEGER(f->kind) && f->kind != NF_BOOL) {
                PyErr_Format(PyExc_TypeError, "%U: Bits[...] needs an integer or Bool type, got %U", what, f->name);
                bad = -1;
            } else if (width > 8 * f->size || (f->kind == NF_BOOL && width > 1)) {
                PyErr_Format(PyExc_ValueError, "%U: a bit field of %U holds at most %d bits, got %zd", what, f->name,
                             f->kind == NF_BOOL ? 1 : (int)(8 * f->size), width);
                bad = -1;
            }
        }
        Py_DECREF(what);
        if (bad)
            return -1;
        for (Py_ssize_t j = 0; j < i; j++)
            if (PyUnicode_Compare(specs[j].name, name) == 0 && width != 0) {
                PyErr_Format(PyExc_TypeError, "%U has two fields named %R", t->name, name);
                return -1;
            }
        specs[i] = (field_spec){name, f, width, 0, -1};
    }
    return 0;
}

/* -- Inheritance: a struct class derived from another appends fields, as ctypes does ---------------- */

/* The base as a leading member, named so that no field can clash: C's struct D { struct B base; ... }. */
static PyObject *base_spec_name;

/* The field tuple of a derived struct: the base's fields (aliases owned by t, at the same offsets, since the base
   is at offset 0), then the fields laid out after it (own[1..]). Steals nothing; new reference. */
static PyObject *inherited_fields(nf_ctype *t, nf_ctype *base, PyObject *own)
{
    Py_ssize_t nb = PyTuple_GET_SIZE(base->fields), no = PyTuple_GET_SIZE(own) - 1;
    PyObject *all = PyTuple_New(nb + no);
    for (Py_ssize_t i = 0; all && i < nb + no; i++) {
        nf_field *f = i < nb ? (nf_field *)PyTuple_GET_ITEM(base->fields, i) : (nf_field *)PyTuple_GET_ITEM(own, i - nb + 1);
        nf_field *a = nf_field_alias(f, t, 0, i);
        if (!a)
            Py_CLEAR(all);
        else
            PyTuple_SET_ITEM(all, i, (PyObject *)a);
    }
    return all;
}

static PyObject *m_set_layout(PyObject *m, PyObject *args)
{
    nf_ctype *t, *base = NULL;
    PyObject *fields, *given;
    Py_ssize_t pack;
    const char *abi = NULL;
    if (!PyArg_ParseTuple(args, "O!On|zO!:set_layout", &nf_CType_Type, &t, &given, &pack, &abi, &nf_CType_Type,
                          &base))
        return NULL;
    const layout_rules *rules = abi ? layout_rules_named(abi) : &layout_rules_of[NF_LAYOUT_ABI];
    if (!rules) {
        PyErr_Format(PyExc_ValueError, "set_layout: abi must be 'sysv' or 'aarch64', got %R", PyTuple_GET_ITEM(args, 3));
        return NULL;
    }
    if (base && (base->kind != NF_STRUCT || t->kind != NF_STRUCT || !base->fields)) {
        PyErr_Format(PyExc_TypeError, "%U: only a struct derives from a complete struct (the base %U is not one)",
                     t->name, base->name);
        return NULL;
    }
    if (base) {   /* lay out (base, *fields): the base is a member at offset 0, the new fields come after it */
        PyObject *lead = Py_BuildValue("[(OOn)]", base_spec_name, base, (Py_ssize_t)-1);
        fields = lead ? PySequence_InPlaceConcat(lead, given) : NULL;
        Py_XDECREF(lead);
        if (!fields)
            return NULL;
    } else {
        fields = Py_NewRef(given);
    }
    PyObject *r = set_layout(t, fields, pack, rules, base != NULL);
    Py_DECREF(fields);
    if (r && base) {
        Py_SETREF(r, inherited_fields(t, base, r));
        if (r)
            Py_SETREF(t->fields, Py_NewRef(r));
    }
    return r;
}

static PyObject *set_layout(nf_ctype *t, PyObject *fields, Py_ssize_t pack, const layout_rules *rules, int derived)
{
    /* laid out for another ABI (tests of its rules): a type to measure, never passed by value here */
    int foreign = rules != &layout_rules_of[NF_LAYOUT_ABI];
    if ((t->kind != NF_STRUCT && t->kind != NF_UNION) || t->fields) {
        PyErr_Format(PyExc_TypeError, "set_layout: %U is not an incomplete struct or union", t->name);
        return NULL;
    }
    if (pack != 0 && pack != 1 && pack != 2 && pack != 4 && pack != 8 && pack != 16) {
        PyErr_Format(PyExc_ValueError, "%U: pack must be 1, 2, 4, 8 or 16 (as #pragma pack), got %zd", t->name, pack);
        return NULL;
    }
    PyObject *seq = PySequence_Fast(fields, "set_layout: fields must be a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    field_spec *specs = PyMem_Calloc(n ? n : 1, sizeof(field_spec));
    nf_layout *lay = PyMem_Calloc(1, sizeof(nf_layout));
    PyObject *result = NULL;
    if (!specs || !lay) {
        PyErr_NoMemory();
        goto done;
    }
    if (parse_specs(t, seq, specs, n) < 0)
        goto done;
    Py_ssize_t nvalues = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        nvalues += specs[i].width != 0;
        lay->has_bitfields |= specs[i].width >= 0;
    }
    if (nvalues == 0) {
        PyErr_Format(PyExc_TypeError, "%U has no fields: C structs and unions need at least one (declare fields "
                     "as annotations, e.g. `x: Int32`)", t->name);
        goto done;
    }
    Py_ssize_t size, align;
    if (lay_out(rules, t, specs, n, pack, &size, &align) < 0)
        goto done;
    lay->pack = pack;
    /* a derived struct's own fields may not go into the base's tail padding, which libffi's field-by-field layout
       would do: it is classified instead */
    lay->natural = t->kind == NF_STRUCT && !lay->has_bitfields && !derived;
    for (Py_ssize_t i = 0; i < n && lay->natural; i++)
        lay->natural = is_natural(specs[i].type);
    if (lay->natural && pack) {
        /* packing that changes nothing keeps the struct natural */
        field_spec *plain = PyMem_Calloc(n, sizeof(field_spec));
        if (!plain) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(plain, specs, n * sizeof(field_spec));
        Py_ssize_t psize, palign;
        lay->natural = lay_out(rules, t, plain, n, 0, &psize, &palign) == 0 && psize == size && palign == align;
        PyErr_Clear();   /* unpacked, it may be too large: then packing changed it */
        for (Py_ssize_t i = 0; i < n && lay->natural; i++)
            lay->natural = plain[i].offset == specs[i].offset;
        PyMem_Free(plain);
    }
    PyObject *tuple = PyTuple_New(nvalues);
    if (!tuple)
        goto done;
    for (Py_ssize_t i = 0, k = 0; i < n; i++) {
        if (specs[i].width == 0)
            continue;
        nf_field *f = nf_field_new(specs[i].name, specs[i].type, t, specs[i].offset, specs[i].bitpos,
                                   (int)specs[i].width, k);   /* checked: at most 64 */
        if (!f) {
            Py_DECREF(tuple);
            goto done;
        }
        PyTuple_SET_ITEM(tuple, k++, (PyObject *)f);
    }
    t->size = size;
    t->align = align;
    t->fields = tuple;
    t->layout = lay;
    lay = NULL;
    if (!foreign && describe_to_ffi(t) < 0) {
        /* leave the type complete but not passable by value */
        PyErr_Clear();
    }
    result = Py_NewRef(t->fields);
done:
    PyMem_Free(specs);
    PyMem_Free(lay);
    Py_DECREF(seq);
    return result;
}

static PyObject *m_array_type(PyObject *m, PyObject *args)
{
    nf_ctype *elem;
    PyObject *length, *given = NULL;
    if (!PyArg_ParseTuple(args, "O!O|U:array_type", &nf_CType_Type, &elem, &length, &given))
        return NULL;
    PyObject *name = given ? Py_NewRef(given) : PyUnicode_FromFormat("Array[%U, %S]", elem->name, length);
    if (!name)
        return NULL;
    nf_ctype *t = NULL;
    Py_ssize_t n, size;
    PyObject *what = PyUnicode_FromFormat("the element of %U", name);
    if (!what || check_member_type(elem, what) < 0 || nf_count_from_object(length, "an Array length", &n) < 0)
        goto done;
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "%U: an inline array needs a length >= 1", name);
        goto done;
    }
    if (nf_size_mul(n, elem->size, &size) < 0 || size > NF_SIZE_MAX) {
        PyErr_Format(PyExc_OverflowError, "%U is " NF_TOO_LARGE, name);
        goto done;
    }
    if (!(t = nf_ctype_alloc(NF_ARRAY, "Array")))
        goto done;
    Py_SETREF(t->name, Py_NewRef(name));
    t->target = (nf_ctype *)Py_NewRef(elem);
    t->length = n;
    t->size = size;
    t->align = elem->align;
    /* t->ffi stays NULL: C arrays are never passed by value; small structs flatten them (natural_ffi) */
done:
    Py_XDECREF(what);
    Py_DECREF(name);
    return (PyObject *)t;
}

/* A flexible array member's type (C's `double values[];`, Dart's Array.variable): an array of no elements, so that
   it takes no room in sizeof yet is aligned as its element, which places it as the compiler does. Only valid as the
   last field of a struct (checked by the Python layer, which also reads it as a Pointer to its first element). */
static PyObject *m_flexible_array_type(PyObject *m, PyObject *arg)
{
    if (!nf_ctype_check(arg)) {
        PyErr_SetString(PyExc_TypeError, "flexible_array_type(element): element must be a CType");
        return NULL;
    }
    nf_ctype *elem = (nf_ctype *)arg, *t = NULL;
    PyObject *name = PyUnicode_FromFormat("Array[%U, ...]", elem->name);
    PyObject *what = name ? PyUnicode_FromFormat("the element of %U", name) : NULL;
    if (what && check_member_type(elem, what) == 0 && (t = nf_ctype_alloc(NF_ARRAY, "Array"))) {
        Py_SETREF(t->name, Py_NewRef(name));
        t->target = (nf_ctype *)Py_NewRef(elem);
        t->align = elem->align;   /* length and size stay 0 */
    }
    Py_XDECREF(what);
    Py_XDECREF(name);
    return (PyObject *)t;
}

static PyObject *m_classify(PyObject *m, PyObject *args)
{
    nf_ctype *t;
    const char *abi;
    if (!PyArg_ParseTuple(args, "O!s:_classify", &nf_CType_Type, &t, &abi))
        return NULL;
    if (!NF_IS_COMPOUND(t->kind) || !is_complete(t) || (strcmp(abi, "sysv") && strcmp(abi, "aarch64"))) {
        PyErr_SetString(PyExc_ValueError, "_classify(ctype, abi): a complete compound, abi 'sysv' or 'aarch64'");
        return NULL;
    }
    nf_abi_class c;
    if (classify(t, abi, &c) < 0)
        return NULL;
    if (c.in_memory)
        return PyUnicode_FromString("memory");
    return PyUnicode_FromStringAndSize(c.parts, c.nparts);
}

static PyObject *m_layout_info(PyObject *m, PyObject *arg)
{
    if (!nf_ctype_check(arg) || !NF_IS_COMPOUND(((nf_ctype *)arg)->kind)) {
        PyErr_SetString(PyExc_TypeError, "_layout_info() expects a compound CType");
        return NULL;
    }
    nf_ctype *t = (nf_ctype *)arg;
    nf_layout *lay = t->layout;
    return Py_BuildValue("{s:n,s:O,s:O,s:s}", "pack", lay ? lay->pack : (Py_ssize_t)0,
                         "natural", is_natural(t) ? Py_True : Py_False,
                         "by_value", t->ffi ? Py_True : Py_False,
                         "ffi", !t->ffi ? "none" : (t->kind == NF_STRUCT && lay && lay->natural) ? "fields"
                                                                                             : "classified");
}

PyMethodDef nf_compound_methods[] = {
    {"compound_type", m_compound_type, METH_VARARGS,
     "compound_type(kind, name) -> an incomplete 'struct' or 'union' CType, completed by set_layout."},
    {"set_layout", m_set_layout, METH_VARARGS,
     "set_layout(ctype, [(name, CType, width), ...], pack, abi=None, base=None) -> tuple of Field: lays out and\n"
     "completes ctype; width -1 for an ordinary field, >= 0 for a bit field (0: unnamed padding as in C);\n"
     "abi: laid out by the rules of 'sysv' or 'aarch64' instead of this platform's, for tests of those rules (such a\n"
     "type is measured, never passed by value); base: a struct whose fields come first, the new ones after its whole\n"
     "size (C's struct D { struct B base; ... })."},
    {"array_type", m_array_type, METH_VARARGS, "array_type(element, length, name=None) -> CType of an inline array."},
    {"flexible_array_type", m_flexible_array_type, METH_O,
     "flexible_array_type(element) -> CType of a flexible array member (Array[T, ...]): no elements, no size."},
    {"_classify", m_classify, METH_VARARGS,
     "_classify(ctype, abi) -> 'memory' or the register parts ('d', 'ff', '84'...) under abi 'sysv' or 'aarch64'."},
    {"_layout_info", m_layout_info, METH_O, "_layout_info(ctype) -> dict: pack, natural, by_value, ffi."},
    {NULL},
};

void nf_compound_free(nf_ctype *t)
{
    PyMem_Free(t->layout);
    t->layout = NULL;
}

int nf_compound_init(PyObject *module)
{
    if (!(base_spec_name = PyUnicode_InternFromString("(base)")))
        return -1;
    return nf_cdata_init(module);
}
