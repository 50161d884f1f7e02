/* Callback trampolines and the lifetime of the records behind them: in-flight counts, pooled trampolines, reclaim.
 *
 * The invariant: memory that a native caller can reach is freed only when no caller can be inside it.
 *   1. Trampolines (prebuilt thunk slots, libffi closures) are never freed or unmapped, so a function pointer,
 *      however stale, always lands in one. Each says which record it serves now (`rec`, or NULL).
 *   2. A native entry counts itself into its trampoline first (nf_tramp_enter: an atomic increment, then the
 *      load of `rec`), reads the record only after that, and counts itself out after its last access. A caller
 *      that holds the GIL on its own thread skips the count: every change below is made with the GIL held, and
 *      an upcall that may let the GIL go (it runs Python code) marks the record `busy` first.
 *   3. close() clears `open`, then the record is CLOSING. What only an open record needs is released once the
 *      record is idle: its in-flight count read as 0 after `open` was cleared (both sequentially consistent, so
 *      an entry counted after that read sees `open` == 0 and touches nothing else) and not busy. Then the
 *      listener's queue and node pool go at once; its fd only when no event loop watches it any more (the fd
 *      number must not be closed, and reused, under the loop's selector). Reclaiming runs on close, unwatch,
 *      creation and after drains; a record still in use waits for the next one.
 *   4. An idle closed record is RETIRED: it stays attached to its trampoline, so a late call still gets the
 *      exceptional return (synchronous) or is dropped (listener), and the trampoline goes to the back of its
 *      pool's list.
 *   5. A retired trampoline is reused oldest first, and only when it is idle: `rec` is set to NULL and the
 *      in-flight count read; 0 means no caller can reach the old record any more, which is destroyed. Otherwise
 *      `rec` is put back and the next one is tried. A pool reuses a trampoline only while more than
 *      NF_REUSE_DISTANCE of its trampolines are retired (thunk tables also hand out each of their NF_THUNK_SLOTS
 *      slots once first); otherwise a thunk table leaves the callable to a libffi closure, and a closure pool
 *      (one per signature, each closure prepared once, never re-prepared) makes a new closure.
 *   6. After its reuse, the old function pointer calls the new callable: a function pointer cannot carry a
 *      generation. So a late call gets the closed callable's exceptional return (or is dropped) until at least
 *      NF_REUSE_DISTANCE more callables of its pool (same kind, same thunk table or same signature) have been
 *      closed after it; the oldest retired trampoline goes first, so usually far longer.
 * Once the interpreter is shutting down nothing is reclaimed any more (native threads may be inside any record).
 */
#include "lifetime.h"
#include "thunks.h"
#include <stdlib.h>

#define NF_REUSE_DISTANCE 64  /* retired trampolines of a pool kept before the oldest is reused */

/* Trampolines of one kind: a thunk table, or libffi closures of one signature and entry. */
typedef struct nf_pool {
    nf_tramp *head, *tail;     /* retired trampolines, oldest first */
    Py_ssize_t nretired;       /* length of that list */
    Py_ssize_t reserve;        /* retired trampolines kept before the oldest is reused */
    int table;                 /* thunks: the table; closures: -1 */
    int next_unused;           /* thunks: slots handed out so far (they are handed out in order first) */
    nf_ctype *ft;              /* closures: the function type (owned, forever: its ffi_types are in cif) */
    void *fun;                 /* closures: the libffi entry */
    ffi_cif cif;               /* closures: the signature, prepared once */
    ffi_type **atypes;         /* closures: the parameter types of cif */
    struct nf_pool *next;      /* closures: the next closure pool */
} nf_pool;

static nf_pool thunk_pools[NF_THUNK_TABLES > 0 ? NF_THUNK_TABLES : 1];
static nf_pool *closure_pools;
static nf_life *closing;       /* closed records waiting to be idle */
static Py_ssize_t nclosing;
static int frozen;             /* shutting down: nothing is reclaimed */

/* -- Pools ------------------------------------------------------------------------ */

static void pool_retire(nf_pool *p, nf_tramp *t)
{
    t->next = NULL;
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    p->nretired++;
}

/* The oldest retired trampoline no caller is inside, detached from its old record (destroyed), or NULL. */
static nf_tramp *pool_reuse(nf_pool *p)
{
    if (p->nretired <= p->reserve)
        return NULL;
    for (nf_tramp *prev = NULL, *t = p->head; t; prev = t, t = t->next) {
        nf_life *old = atomic_load_explicit(&t->rec, memory_order_relaxed);
        atomic_store(&t->rec, NULL);
        if (atomic_load(&t->inflight) == 0 && (!old || !old->busy)) {
            if (prev)
                prev->next = t->next;
            else
                p->head = t->next;
            if (p->tail == t)
                p->tail = prev;
            p->nretired--;
            if (old)
                old->destroy(old);
            return t;
        }
        atomic_store(&t->rec, old);  /* a late caller is inside: keep it, try the next */
    }
    return NULL;
}

static nf_tramp *attach(nf_life *rec, nf_tramp *t)
{
    rec->tramp = t;
    rec->state = NF_LIFE_OPEN;
    atomic_store(&rec->open, 1);
    atomic_store(&t->rec, rec);
    return t;
}

nf_tramp *nf_life_attach_thunk(nf_life *rec, int table)
{
    if (table < 0 || table >= NF_THUNK_TABLES)
        return NULL;
    nf_pool *p = &thunk_pools[table];
    nf_tramp *t;
    p->reserve = NF_REUSE_DISTANCE;
    if (p->next_unused < NF_THUNK_SLOTS) {
        t = nf_thunk_tramp(table, p->next_unused++);
        t->pool = p;
    } else if (!(t = pool_reuse(p))) {
        return NULL;  /* every slot open, or too few retired: a libffi closure serves this one */
    }
    return attach(rec, t);
}

static nf_pool *closure_pool(nf_ctype *ft, void *fun)
{
    for (nf_pool *p = closure_pools; p; p = p->next)
        if (p->ft == ft && p->fun == fun)
            return p;
    Py_ssize_t n = PyTuple_GET_SIZE(ft->params);
    nf_pool *p = calloc(1, sizeof *p);
    ffi_type **atypes = calloc(n ? (size_t)n : 1, sizeof *atypes);
    if (!p || !atypes) {
        free(p);
        free(atypes);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        atypes[i] = nf_types_param_wire(ft, i)->ffi;
    ffi_status st = ft->variadic
        ? ffi_prep_cif_var(&p->cif, FFI_DEFAULT_ABI, (unsigned)ft->nfixed, (unsigned)n, ft->ret->ffi, atypes)
        : ffi_prep_cif(&p->cif, FFI_DEFAULT_ABI, (unsigned)n, ft->ret->ffi, atypes);
    if (st != FFI_OK) {
        free(p);
        free(atypes);
        PyErr_Format(PyExc_TypeError, "libffi cannot describe a callback of type %U", ft->name);
        return NULL;
    }
    p->atypes = atypes;
    p->ft = (nf_ctype *)Py_NewRef(ft);
    p->fun = fun;
    p->table = -1;
    p->reserve = NF_REUSE_DISTANCE;
    p->next = closure_pools;
    closure_pools = p;
    return p;
}

nf_tramp *nf_life_attach_closure(nf_life *rec, nf_ctype *ft, void (*fun)(ffi_cif *, void *, void **, void *))
{
    nf_pool *p = closure_pool(ft, (void *)fun);
    if (!p)
        return NULL;
    nf_tramp *t = pool_reuse(p);
    if (!t) {
        t = calloc(1, sizeof *t);
        ffi_closure *closure = t ? ffi_closure_alloc(sizeof(ffi_closure), &t->code) : NULL;
        if (!closure) {
            free(t);
            PyErr_SetString(PyExc_MemoryError, "ffi_closure_alloc failed: cannot allocate a callback trampoline");
            return NULL;
        }
        if (ffi_prep_closure_loc(closure, &p->cif, fun, t, t->code) != FFI_OK) {
            ffi_closure_free(closure);  /* never handed out: nobody can call it */
            free(t);
            PyErr_SetString(PyExc_RuntimeError, "ffi_prep_closure_loc failed");
            return NULL;
        }
        t->pool = p;
    }
    return attach(rec, t);
}

nf_ctype *nf_life_closure_type(nf_tramp *t) { return t->pool->ft; }

/* -- Closing and reclaiming ---------------------------------------------------------- */

void nf_life_close(nf_life *rec)
{
    atomic_store(&rec->open, 0);  /* seq_cst: before the in-flight reads of nf_life_reclaim */
    rec->state = NF_LIFE_CLOSING;
    rec->next_closing = closing;
    closing = rec;
    nclosing++;
    nf_life_reclaim();
}

void nf_life_unwatch(nf_life *rec)
{
    if (rec->watched > 0)
        rec->watched--;
    nf_life_reclaim();
}

void nf_life_reclaim(void)
{
    if (frozen)
        return;
    for (nf_life **link = &closing; *link;) {
        nf_life *rec = *link;
        if (rec->busy || atomic_load(&rec->tramp->inflight)) {
            link = &rec->next_closing;  /* still in use: the next reclaim looks again */
            continue;
        }
        if (!rec->released && rec->release)
            rec->release(rec);
        rec->released = 1;
        if (rec->watched) {
            link = &rec->next_closing;  /* its fd waits for the loop to stop watching it */
            continue;
        }
        *link = rec->next_closing;
        nclosing--;
        if (rec->unwatched)
            rec->unwatched(rec);
        rec->state = NF_LIFE_RETIRED;
        pool_retire(rec->tramp->pool, rec->tramp);
    }
}

Py_ssize_t nf_life_closing_count(void) { return nclosing; }

void nf_life_freeze(void) { frozen = 1; }
