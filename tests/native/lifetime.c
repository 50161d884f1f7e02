/* Test helpers for callback lifetimes: native threads that call a function pointer in a loop while Python closes it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*event_fn)(int64_t, int32_t);
typedef int64_t (*i64_fn)(int64_t);
typedef struct { int64_t a, b, c; } big3;             /* 24 bytes: MEMORY class, so a libffi closure */
typedef int64_t (*big3_fn)(big3);

enum { KIND_EVENT, KIND_I64, KIND_BIG3 };

typedef struct racer {
    void *fn;                   /* the function pointer every thread calls */
    int kind;                   /* which signature fn has */
    int nthreads;               /* threads started */
    atomic_int stop;            /* set by race_stop */
    atomic_int started;         /* threads that made their first call */
    atomic_long calls;          /* calls made in all */
    atomic_long sum;            /* sum of what synchronous calls returned */
    pthread_t th[64];
} racer;

static void call_once(racer *r, int64_t i)
{
    switch (r->kind) {
    case KIND_EVENT: ((event_fn)r->fn)(i, 7); break;
    case KIND_I64: atomic_fetch_add(&r->sum, ((i64_fn)r->fn)(i)); break;
    default: {
        big3 s = {i, 1, 2};
        atomic_fetch_add(&r->sum, ((big3_fn)r->fn)(s));
    }
    }
}

static void *race_main(void *p)
{
    racer *r = p;
    int64_t i = 0;
    call_once(r, i++);
    atomic_fetch_add(&r->started, 1);
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed))
        call_once(r, i++);
    atomic_fetch_add(&r->calls, i);
    return NULL;
}

/* Starts `nthreads` threads calling fn (signature `kind`) in a loop; returns once each has made one call. */
racer *race_start(void *fn, int32_t kind, int32_t nthreads)
{
    racer *r = calloc(1, sizeof *r);
    r->fn = fn;
    r->kind = kind;
    r->nthreads = nthreads > 64 ? 64 : nthreads;
    for (int i = 0; i < r->nthreads; i++)
        pthread_create(&r->th[i], NULL, race_main, r);
    while (atomic_load(&r->started) < r->nthreads)
        sched_yield();
    return r;
}

/* Stops and joins the threads; returns the number of calls they made. */
int64_t race_stop(racer *r)
{
    atomic_store(&r->stop, 1);
    for (int i = 0; i < r->nthreads; i++)
        pthread_join(r->th[i], NULL);
    int64_t n = atomic_load(&r->calls);
    free(r);
    return n;
}

/* One call through fn from this thread: for late calls after close(). */
void call_event(event_fn f, int64_t a, int32_t b) { f(a, b); }
int64_t call_big3(big3_fn f, int64_t a) { big3 s = {a, 1, 2}; return f(s); }
int64_t call_i64(i64_fn f, int64_t x) { return f(x); }

/* A thread that calls fn once from a fresh native thread and returns what it got. */
typedef struct { i64_fn f; int64_t x, out; } once_arg;
static void *once_main(void *p) { once_arg *a = p; a->out = a->f(a->x); return NULL; }
int64_t call_i64_in_thread(i64_fn f, int64_t x)
{
    once_arg a = {f, x, 0};
    pthread_t t;
    pthread_create(&t, NULL, once_main, &a);
    pthread_join(t, NULL);
    return a.out;
}

/* Calls fn(x) once from a new detached thread and returns at once. */
static void *detached_main(void *p) { once_arg *a = p; a->f(a->x); free(a); return NULL; }
void call_i64_detached(i64_fn f, int64_t x)
{
    once_arg *a = malloc(sizeof *a);
    a->f = f;
    a->x = x;
    pthread_t t;
    pthread_create(&t, NULL, detached_main, a);
    pthread_detach(t);
}

/* A swarm: threads that keep calling whatever function pointer is published now (NULL: none), while Python
   publishes, closes and replaces callables under them. */
typedef struct swarm {
    _Atomic(void *) fn;         /* the pointer called now */
    int kind;                   /* its signature */
    int nthreads;
    atomic_int stop;
    atomic_long calls;          /* calls made so far, all threads */
    pthread_t th[64];
} swarm;

static void *swarm_main(void *p)
{
    swarm *s = p;
    racer r = {0};
    r.kind = s->kind;
    for (int64_t i = 0; !atomic_load_explicit(&s->stop, memory_order_relaxed); i++) {
        r.fn = atomic_load(&s->fn);
        if (!r.fn) {
            sched_yield();
            continue;
        }
        call_once(&r, i);
        atomic_fetch_add_explicit(&s->calls, 1, memory_order_relaxed);
        if (s->kind != KIND_EVENT || (i & 15) == 0)
            sched_yield();  /* more threads than cores: let a preempted GIL holder (or the listener's consumer) run */
    }
    return NULL;
}

swarm *swarm_start(int32_t kind, int32_t nthreads)
{
    swarm *s = calloc(1, sizeof *s);
    s->kind = kind;
    s->nthreads = nthreads > 64 ? 64 : nthreads;
    for (int i = 0; i < s->nthreads; i++)
        pthread_create(&s->th[i], NULL, swarm_main, s);
    return s;
}

void swarm_set(swarm *s, void *fn) { atomic_store(&s->fn, fn); }

/* Waits (call with the GIL released) until the swarm made `more` further calls; returns the total. */
int64_t swarm_wait(swarm *s, int64_t more)
{
    int64_t target = atomic_load(&s->calls) + more;
    while (atomic_load(&s->calls) < target)
        sched_yield();
    return atomic_load(&s->calls);
}

int64_t swarm_stop(swarm *s)
{
    atomic_store(&s->stop, 1);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->th[i], NULL);
    int64_t n = atomic_load(&s->calls);
    free(s);
    return n;
}

/* Recursion through C: f(depth) calls back into Python, which calls this again. */
int64_t recurse(i64_fn f, int64_t depth) { return f(depth); }
