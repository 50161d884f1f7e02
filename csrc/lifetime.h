/* Callback trampolines and the lifetime of the records behind them: in-flight counts, pooled trampolines, reclaim. */
#ifndef NF_LIFETIME_H
#define NF_LIFETIME_H

#include "types.h"
#include <stdatomic.h>

typedef struct nf_life nf_life;
struct nf_pool;

/* A trampoline: the code native code calls (a prebuilt thunk or a libffi closure) and what it serves. Never
   freed, never unmapped: a stale function pointer always lands here. */
typedef struct nf_tramp {
    atomic_uint inflight;          /* native calls inside it that hold no GIL; taken before `rec` is read */
    _Atomic(nf_life *) rec;        /* the record it serves (open, or closed and kept for late calls); NULL: none */
    void *code;                    /* the function pointer native code calls */
    struct nf_pool *pool;          /* where it goes back to once its record is retired */
    struct nf_tramp *next;         /* next retired trampoline of that pool, oldest first */
    _Atomic(void *) owner_ts;      /* callback.c's owner check (isolate_local before 3.12), set with the GIL from */
    _Atomic(uint64_t) owner_id;    /* the record: the creator's thread state, its id and the creating thread (a */
    _Atomic(uintptr_t) owner_thread;  /* tag, see callback.c); a listener's: a mark that is no thread state, 0, 0;
                                         NULL, 0, 0 for every other record */
} nf_tramp;

/* Lifetime states of a record. */
enum { NF_LIFE_OPEN, NF_LIFE_CLOSING, NF_LIFE_RETIRED };

/* The lifetime part of a callback record (callback.c's nf_cb begins with it). All fields but `open` are
   touched with the GIL held only. */
struct nf_life {
    atomic_int open;               /* 1 until close(); native entries read it only after taking an in-flight count */
    int busy;                      /* GIL-holding users now: upcalls entered on the caller's own GIL, and drains */
    int watched;                   /* event loops still watching the listener's wakeup fd (reader not removed yet) */
    int state;                     /* NF_LIFE_OPEN, _CLOSING (waiting to be idle), _RETIRED (idle, kept for late calls) */
    nf_tramp *tramp;               /* its trampoline */
    int released;                  /* release() has run */
    void (*release)(nf_life *);    /* when idle: frees what only an open record needs (the listener's queue); or NULL */
    void (*unwatched)(nf_life *);  /* when idle and unwatched: frees what a loop may watch (the fd); or NULL */
    void (*destroy)(nf_life *);    /* frees the record itself */
    nf_life *next_closing;         /* next record waiting to be idle */
};

/* Native entry, before reading anything of the record: counts this call in (any thread, no GIL) and returns the
   record the trampoline serves now, or NULL. Pair with nf_tramp_leave. */
static inline nf_life *nf_tramp_enter(nf_tramp *t)
{
    atomic_fetch_add_explicit(&t->inflight, 1, memory_order_seq_cst);
    return atomic_load_explicit(&t->rec, memory_order_seq_cst);
}

static inline void nf_tramp_leave(nf_tramp *t) { atomic_fetch_sub_explicit(&t->inflight, 1, memory_order_release); }

/* A prebuilt thunk of table `table` (see thunks.h) for `rec`, or NULL if none may be used now (every slot
   open, or too few retired to reuse one: the caller then takes a libffi closure). Each slot is used once before
   any is reused, then the least recently retired one. GIL held. */
nf_tramp *nf_life_attach_thunk(nf_life *rec, int table);

/* A libffi closure for `rec`, calling `fun` with the trampoline as user data, for signature `ft`: closures are
   pooled per (ft, fun), prepared once, and a retired one is reused only when NF_REUSE_DISTANCE newer ones of
   its pool are retired too. NULL with an exception set on failure. GIL held. */
nf_tramp *nf_life_attach_closure(nf_life *rec, nf_ctype *ft, void (*fun)(ffi_cif *, void *, void **, void *));

/* The function type of a closure trampoline's pool: fixed when the pool was made and kept forever, so a native
   entry may read it (and its params tuple) before counting in, without the GIL. */
nf_ctype *nf_life_closure_type(nf_tramp *t);

/* close(): native entries from now on see the record closed; its resources are released once it is idle. */
void nf_life_close(nf_life *rec);

/* An event loop stopped watching the listener's fd: one fewer watcher; the fd goes with the last one. */
void nf_life_unwatch(nf_life *rec);

/* Releases what every closed record that is idle now (no native caller inside, not busy) no longer needs: its
   queue at once, its fd once no loop watches it, and then gives its trampoline back to the pool. Called by close, unwatch, creation and after drains; a no-op once the
   interpreter is shutting down. GIL held. */
void nf_life_reclaim(void);

/* Closed records still waiting to be idle (a native caller inside, busy, or a loop watching the fd). */
Py_ssize_t nf_life_closing_count(void);

/* Stops all reclaiming for good (interpreter exit: native threads may still be inside any record). */
void nf_life_freeze(void);

#endif
