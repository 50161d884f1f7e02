/* Test helper for NativeCallable: native code that calls function pointers, from this thread or others. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

typedef int64_t (*i64_fn)(int64_t);
typedef void (*event_fn)(int64_t, int32_t);

/* -- Synchronous calls ------------------------------------------------------ */

int64_t call_i64(i64_fn f, int64_t x) { return f(x); }

/* Calls f(0) .. f(n-1) and returns the sum of the results. */
int64_t sum_calls(i64_fn f, int64_t n)
{
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++)
        s += f(i);
    return s;
}

typedef int32_t (*mixed_fn)(int8_t, uint16_t, int32_t, float, double, uint64_t, _Bool);
int32_t call_mixed(mixed_fn f) { return f(-5, 65000, -70000, 1.5f, -2.25, 18446744073709551615ULL, 1); }

typedef int8_t (*i8_fn)(int8_t);
int32_t call_i8_widened(i8_fn f, int8_t x) { return (int32_t)f(x); }  /* checks the narrow return is sign-extended */

typedef float (*f32_fn)(float, float);
float call_f32(f32_fn f, float a, float b) { return f(a, b); }

/* -- Calls from other threads ----------------------------------------------- */

struct sync_job { i64_fn f; int64_t x, n, result; };

static void *sync_main(void *p)
{
    struct sync_job *j = p;
    j->result = 0;
    for (int64_t i = 0; i < j->n; i++)
        j->result += j->f(j->x + i);
    return NULL;
}

/* A new thread calls f(x), f(x+1), ... n times; joined; returns the sum of the results. */
int64_t sum_calls_in_thread(i64_fn f, int64_t x, int64_t n)
{
    struct sync_job j = {f, x, n, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, sync_main, &j) != 0)
        return -999;
    pthread_join(t, NULL);
    return j.result;
}

/* `threads` threads each compute sum_calls over their own range, concurrently; returns the total. */
int64_t sum_calls_in_threads(i64_fn f, int32_t threads, int64_t n)
{
    struct sync_job jobs[64];
    pthread_t ts[64];
    if (threads > 64)
        return -999;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct sync_job){f, i * n, n, 0};
        pthread_create(&ts[i], NULL, sync_main, &jobs[i]);
    }
    int64_t total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ts[i], NULL);
        total += jobs[i].result;
    }
    return total;
}

struct event_job { event_fn f; int64_t a; int32_t b; int32_t count; pthread_barrier_t *start; };

static void *event_main(void *p)
{
    struct event_job *j = p;
    if (j->start)
        pthread_barrier_wait(j->start);
    for (int32_t i = 0; i < j->count; i++)
        j->f(j->a, j->b + i);
    if (!j->start)
        free(j);  /* detached: the job is ours */
    return NULL;
}

/* A new thread calls f(a, b), f(a, b+1), ... count times; the caller joins it. */
void events_in_thread_joined(event_fn f, int64_t a, int32_t b, int32_t count)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 1);
    struct event_job j = {f, a, b, count, &start};
    pthread_t t;
    pthread_create(&t, NULL, event_main, &j);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&start);
}

/* A new detached thread calls f(a, b) .. count times; returns at once. */
void events_in_thread_detached(event_fn f, int64_t a, int32_t b, int32_t count)
{
    struct event_job *j = malloc(sizeof *j);
    *j = (struct event_job){f, a, b, count, NULL};
    pthread_t t;
    pthread_create(&t, NULL, event_main, j);
    pthread_detach(t);
}

/* `threads` producers released together by a barrier; producer i calls f(i, 0), f(i, 1), ... count times.
   Returns after all have finished sending. */
void events_from_producers(event_fn f, int32_t threads, int32_t count)
{
    struct event_job jobs[64];
    pthread_t ts[64];
    pthread_barrier_t start;
    if (threads > 64)
        return;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct event_job){f, i, 0, count, &start};
        pthread_create(&ts[i], NULL, event_main, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(ts[i], NULL);
    pthread_barrier_destroy(&start);
}

/* `threads` threads each call f(i, k) once, concurrently (one call each). */
void events_one_per_thread(event_fn f, int32_t threads)
{
    pthread_t *ts = malloc(sizeof(pthread_t) * (size_t)threads);
    struct event_job *jobs = malloc(sizeof(struct event_job) * (size_t)threads);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct event_job){f, i, 0, 1, &start};
        pthread_create(&ts[i], NULL, event_main, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(ts[i], NULL);
    pthread_barrier_destroy(&start);
    free(jobs);
    free(ts);
}

/* -- Process-level scenarios (keep-alive, shutdown) --------------------------- */

#include <unistd.h>

struct fd_job { event_fn f; int fd; };

static void *after_read_main(void *p)
{
    struct fd_job j = *(struct fd_job *)p;
    free(p);
    char c;
    while (read(j.fd, &c, 1) < 0)
        ;
    j.f(1, 2);
    return NULL;
}

/* A detached thread waits for one byte on `fd`, then calls f(1, 2). */
void events_after_read(event_fn f, int32_t fd)
{
    struct fd_job *j = malloc(sizeof *j);
    *j = (struct fd_job){f, fd};
    pthread_t t;
    pthread_create(&t, NULL, after_read_main, j);
    pthread_detach(t);
}

static void *events_forever_main(void *p)
{
    event_fn f = (event_fn)p;
    for (int32_t i = 0;; i++)
        f(7, i);
    return NULL;
}

static void killed(void *arg)
{
    static const char msg[] = "native thread killed inside a callback\n";
    (void)arg;
    write(2, msg, sizeof msg - 1);
}

/* Runs the cleanup handler only if the thread is ended inside f (CPython's pthread_exit of a thread that
   waits for the GIL during finalization); process exit itself ends it without cleanup. */
static void *calls_forever_main(void *p)
{
    i64_fn f = (i64_fn)p;
    pthread_cleanup_push(killed, NULL);
    for (int64_t i = 0;; i++)
        f(i);
    pthread_cleanup_pop(0);
    return NULL;
}

/* Detached threads that call f until the process ends (interpreter-shutdown tests). */
void events_forever(event_fn f)
{
    pthread_t t;
    pthread_create(&t, NULL, events_forever_main, (void *)f);
    pthread_detach(t);
}

void calls_forever(i64_fn f)
{
    pthread_t t;
    pthread_create(&t, NULL, calls_forever_main, (void *)f);
    pthread_detach(t);
}

/* -- Register boundaries: 6 integer + 8 floating arguments interleaved (a thunk on x86-64), and wider. */

typedef double (*full_fn)(int32_t, double, int64_t, float, uint8_t, double, void *, double, int16_t, double,
                          _Bool, double, double, float);
double call_full(full_fn f, void *p)
{
    return f(-7, 0.25, -(1LL << 40), 2.5f, 200, -1.75, p, 3.0, -300, 1e100, 1, -0.0, 6.5, -8.25f);
}

typedef double (*wide_fn)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, double,
                          double, double, double, double, double, double, double);
double call_wide(wide_fn f) { return f(1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5); }

/* Integer-class arguments only (the thunks that read no floating register), floating returns: C doubles the
   result, so the test sees what C received. */
typedef double (*ints_d_fn)(int8_t, uint16_t, int32_t, int64_t, void *, _Bool);
double call_ints_d(ints_d_fn f, void *p) { return 2 * f(-3, 65535, -100000, (int64_t)1 << 50, p, 1); }
typedef float (*ints_f_fn)(int64_t, uint8_t);
float call_ints_f(ints_f_fn f, int64_t a) { return 2 * f(a, 255); }
