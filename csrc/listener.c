/* The listener queue: native threads hand raw argument bytes to the owner without ever taking the GIL.
 *
 * One message, start to end:
 *   1. A native thread calls a listener's function pointer; the libffi closure lands in callback.c's
 *      listener entry, which checks that the callable is open and the interpreter is not shutting down.
 *   2. It takes a node from the queue's pool (nf_lqueue_msg_alloc: one compare-and-swap on a free stack of
 *      fixed-size nodes; never a Python object) and copies each argument's raw bytes to the offsets
 *      computed when the callable was made. If the pool is empty it falls back to malloc: slower, but the
 *      message is neither dropped nor waits for the consumer.
 *   3. nf_lqueue_push links the message at the head with one atomic exchange (Vyukov's intrusive MPSC
 *      list): producers never wait for each other or for the consumer, and the exchange order is the
 *      delivery order, so messages from one thread stay in the order that thread sent them.
 *   4. If no wakeup is pending (signaled == 0), the producer sets it and writes once to the eventfd; under
 *      load almost every push skips the write. The native caller returns.
 *   5. The owner (the asyncio loop that watches the fd with add_reader, or the library's dispatcher
 *      thread) wakes, reads the fd (nf_lqueue_begin_drain) and pops messages oldest first; callback.c
 *      turns each one's bytes into Python objects on the owner thread, calls the Python function, and
 *      gives the node back (a fallback node is freed; pool nodes go back to the free stack in batches of
 *      up to NF_FREE_BATCH, one compare-and-swap each, and all of them before the owner sleeps). `signaled`
 *      stays set while it drains, so busy producers never write the fd.
 *   6. Only when it finds the queue empty does the owner clear `signaled` (nf_lqueue_idle; if this drain
 *      has delivered a stream of messages it first polls a few microseconds for the next one, which a producer
 *      still sending usually brings, so a steady stream costs no wakeups), then look once more: a message pushed just before the clear is still seen, and one pushed after it finds
 *      signaled == 0 and writes the fd. Nothing is left behind either way.
 *   7. A producer caught between its exchange and its link makes the list look briefly cut; the consumer
 *      treats that like empty, and that producer's own check (step 4) after linking wakes it again.
 *   8. After a drain, if fallback nodes were needed, the consumer grows the pool to twice the backlog it
 *      just saw (nf_lqueue_grow, up to NF_POOL_MAX_BYTES): allocation and page faults happen on the owner,
 *      not on the native callers. In a long flood it grows during the drain too, once it has freed as many
 *      fallback nodes as half the pool (and at least NF_GROW_EARLY).
 *
 * The pool: nodes are numbered; chunk c holds (1 << first_shift) << c of them, so a number finds its chunk
 * with one bit scan. Free nodes form a stack whose top word packs the top node's number with a tag that
 * every push and pop increments, so a producer whose compare-and-swap raced with a pop and a push of the
 * same node fails and retries (no ABA). Only the consumer pushes; chunks are freed only with the queue.
 *
 * Cache lines: the fields producers write (head, the free stack) and those only the consumer writes (tail,
 * its batch of freed nodes) sit on different lines (listener.h), so a pop does not take the line a push
 * needs; the consumer prefetches the message it will pop next. (Producers prefetching the node they would
 * take next cost 19 instructions a call, a quarter more in nf_lqueue_msg_alloc, for a gain this 2-core
 * machine could not show: left out.)
 */
#define _GNU_SOURCE 1  /* as pyconfig.h defines it (3.9 and 3.10 define it again unconditionally) */
#include "listener.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#define NF_POOL_FIRST_BYTES 16384         /* about this much in the first chunk... */
#define NF_POOL_FIRST_MIN 16              /* ...but at least this many nodes... */
#define NF_POOL_FIRST_MAX_BYTES (1u << 20) /* ...as long as they take no more than this (else: one node) */
#define NF_POOL_MAX_BYTES (8u << 20)      /* the pool stops growing here; beyond it, fallback nodes */
#define NF_GROW_EARLY 1024                /* fallback nodes freed within one drain before the pool grows during it */
#define NF_IDLE_SPIN_NS 4000              /* a streaming owner polls this long for a message before it sleeps */
#define NF_FREE_BATCH 64                  /* nodes the consumer gives back to the free stack at once (at most) */

/* -- The node pool ---------------------------------------------------------- */

static nf_msg *node_at(nf_lqueue *q, uint32_t index)
{
    uint64_t n = (uint64_t)index + ((uint64_t)1 << q->first_shift);
    int c = 63 - __builtin_clzll(n) - q->first_shift;               /* chunk number */
    uint64_t offset = n - ((uint64_t)1 << (q->first_shift + c));     /* node within the chunk */
    char *chunk = atomic_load_explicit(&q->chunks[c], memory_order_relaxed);  /* published before its nodes */
    return (nf_msg *)(chunk + offset * q->stride);
}

/* Consumer: allocates chunk number q->nchunks and pushes all its nodes. -1 if out of memory (nothing changes). */
static int add_chunk(nf_lqueue *q)
{
    int c = q->nchunks;
    if (c >= NF_POOL_CHUNKS)
        return -1;
    uint64_t count = (uint64_t)1 << (q->first_shift + c);
    uint64_t base = count - ((uint64_t)1 << q->first_shift);      /* number of the chunk's first node */
    if (base + count >= NF_MSG_HEAP)
        return -1;
    void *mem = NULL;
    if (posix_memalign(&mem, 64, count * q->stride) != 0)
        return -1;
    char *chunk = mem;
    memset(chunk, 0, count * q->stride);  /* touch every page now, not on a producer's first use */
    for (uint64_t i = 0; i < count; i++) {
        nf_msg *m = (nf_msg *)(chunk + i * q->stride);
        m->index = (uint32_t)(base + i);
        atomic_store_explicit(&m->free_next, i + 1 < count ? (uint32_t)(base + i + 1) : NF_MSG_NONE,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&q->chunks[c], chunk, memory_order_relaxed);
    q->nchunks = c + 1;
    size_t eighth = nf_lqueue_pool_nodes(q) / 8;
    q->free_batch = eighth < 1 ? 1 : eighth > NF_FREE_BATCH ? NF_FREE_BATCH : (unsigned)eighth;
    /* Splice the chain base .. base+count-1 on top of the free stack. */
    nf_msg *last = (nf_msg *)(chunk + (count - 1) * q->stride);
    uint64_t top = atomic_load_explicit(&q->free_top, memory_order_relaxed), want;
    do {
        atomic_store_explicit(&last->free_next, (uint32_t)top, memory_order_relaxed);
        want = (((top >> 32) + 1) << 32) | (uint32_t)base;
    } while (!atomic_compare_exchange_weak_explicit(&q->free_top, &top, want, memory_order_release,
                                                    memory_order_relaxed));
    return 0;
}

nf_msg *nf_lqueue_msg_alloc(nf_lqueue *q)
{
    uint64_t top = atomic_load_explicit(&q->free_top, memory_order_acquire);
    while ((uint32_t)top != NF_MSG_NONE) {
        nf_msg *m = node_at(q, (uint32_t)top);
        uint32_t next = atomic_load_explicit(&m->free_next, memory_order_relaxed);  /* stale if we lose the race */
        uint64_t want = (((top >> 32) + 1) << 32) | next;
        if (atomic_compare_exchange_weak_explicit(&q->free_top, &top, want, memory_order_acquire,
                                                  memory_order_acquire))
            return m;
    }
    nf_msg *m = malloc(sizeof(nf_msg) + q->argbytes);  /* pool empty: a fallback node, freed by the consumer */
    if (m)
        m->index = NF_MSG_HEAP;
    return m;
}

void nf_lqueue_msg_free(nf_lqueue *q, nf_msg *m)
{
    if (m->index == NF_MSG_HEAP) {
        free(m);
        q->heap_total++;
        if (++q->heap_frees >= NF_GROW_EARLY && q->heap_frees >= nf_lqueue_pool_nodes(q) / 2)
            nf_lqueue_grow(q);  /* a long flood: grow now, not only after the drain, so producers stop calling malloc */
        return;
    }
    /* Chained here, not pushed: the free stack's line then moves to the consumer once per batch, not per node. */
    atomic_store_explicit(&m->free_next, q->freed ? q->freed->index : NF_MSG_NONE, memory_order_relaxed);
    if (!q->freed)
        q->freed_last = m;
    q->freed = m;
    if (++q->nfreed >= q->free_batch)
        nf_lqueue_flush(q);
}

void nf_lqueue_flush(nf_lqueue *q)
{
    if (!q->freed)
        return;
    uint64_t top = atomic_load_explicit(&q->free_top, memory_order_relaxed), want;
    do {
        atomic_store_explicit(&q->freed_last->free_next, (uint32_t)top, memory_order_relaxed);
        want = (((top >> 32) + 1) << 32) | q->freed->index;
    } while (!atomic_compare_exchange_weak_explicit(&q->free_top, &top, want, memory_order_release,
                                                    memory_order_relaxed));
    q->freed = q->freed_last = NULL;
    q->nfreed = 0;
}

size_t nf_lqueue_pool_nodes(const nf_lqueue *q)
{
    return ((size_t)1 << (q->first_shift + q->nchunks)) - ((size_t)1 << q->first_shift);
}

void nf_lqueue_grow(nf_lqueue *q)
{
    if (!q->heap_frees)
        return;
    /* Room for twice the backlog just seen (pool + fallback nodes); each chunk doubles the pool. */
    size_t want = 2 * (nf_lqueue_pool_nodes(q) + q->heap_frees);
    q->heap_frees = 0;
    while (nf_lqueue_pool_nodes(q) < want && nf_lqueue_pool_nodes(q) * 2 * q->stride <= NF_POOL_MAX_BYTES)
        if (add_chunk(q) < 0)
            break;  /* out of memory: keep using fallback nodes */
}

/* -- The queue -------------------------------------------------------------- */

int nf_lqueue_init(nf_lqueue *q, size_t argbytes)
{
    q->argbytes = argbytes;
    q->stride = (sizeof(nf_msg) + argbytes + 15) / 16 * 16;
    q->first_shift = 0;
    while (((size_t)2 << q->first_shift) * q->stride <= NF_POOL_FIRST_BYTES && q->first_shift < 16)
        q->first_shift++;
    while (((size_t)1 << q->first_shift) < NF_POOL_FIRST_MIN &&
           ((size_t)2 << q->first_shift) * q->stride <= NF_POOL_FIRST_MAX_BYTES)
        q->first_shift++;
    q->nchunks = 0;
    q->freed = q->freed_last = NULL;
    q->nfreed = 0;
    q->heap_frees = q->heap_total = 0;
    for (int c = 0; c < NF_POOL_CHUNKS; c++)
        atomic_store(&q->chunks[c], NULL);
    atomic_store(&q->free_top, (uint64_t)NF_MSG_NONE);
    q->rfd = q->wfd = -1;
    atomic_store(&q->stub.next, NULL);
    q->stub.index = NF_MSG_NONE;
    atomic_store(&q->head, &q->stub);
    q->tail = &q->stub;
    atomic_store(&q->signaled, 0);
    atomic_store(&q->wakeups, 0);
#ifdef __linux__
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -1;
    q->rfd = q->wfd = fd;
#else
    int p[2];
    if (pipe(p) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
        fcntl(p[i], F_SETFD, FD_CLOEXEC);
    }
    q->rfd = p[0];
    q->wfd = p[1];
#endif
    if (add_chunk(q) < 0) {
        nf_lqueue_close_fds(q);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* Frees the pool's chunks (the nodes the consumer collected for the free stack were in them). */
static void free_chunks(nf_lqueue *q)
{
    for (int c = 0; c < NF_POOL_CHUNKS; c++) {
        free(atomic_load(&q->chunks[c]));
        atomic_store(&q->chunks[c], NULL);
    }
    q->nchunks = 0;
    q->freed = q->freed_last = NULL;
    q->nfreed = 0;
}

void nf_lqueue_free_memory(nf_lqueue *q)
{
    nf_msg *m;
    while ((m = nf_lqueue_pop(q)))
        if (m->index == NF_MSG_HEAP)
            free(m);
    free_chunks(q);
}

void nf_lqueue_close_fds(nf_lqueue *q)
{
    if (q->rfd >= 0)
        close(q->rfd);
    if (q->wfd >= 0 && q->wfd != q->rfd)
        close(q->wfd);
    q->rfd = q->wfd = -1;
}

void nf_lqueue_forget(nf_lqueue *q)
{
    free_chunks(q);
    nf_lqueue_close_fds(q);
}

static void wake(nf_lqueue *q)
{
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(q->wfd, &one, sizeof one);  /* a pipe takes the first byte; EAGAIN: already readable */
    while (r < 0 && errno == EINTR);
}

static void link_message(nf_lqueue *q, nf_msg *m)
{
    atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
    nf_msg *prev = atomic_exchange_explicit(&q->head, m, memory_order_acq_rel);
    /* seq_cst pairs with begin_drain's store: either the consumer sees this link, or we see signaled == 0. */
    atomic_store_explicit(&prev->next, m, memory_order_seq_cst);
}

void nf_lqueue_push(nf_lqueue *q, nf_msg *m)
{
    link_message(q, m);
    if (!atomic_load_explicit(&q->signaled, memory_order_seq_cst) &&
        !atomic_exchange_explicit(&q->signaled, 1, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&q->wakeups, 1, memory_order_relaxed);
        wake(q);
    }
}

void nf_lqueue_begin_drain(nf_lqueue *q)
{
    char buf[64];
    while (read(q->rfd, buf, sizeof buf) > 0 && q->rfd != q->wfd)
        ;  /* eventfd: one read resets the counter; a pipe: empty it */
}

int64_t nf_lqueue_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Consumer: polls for the next message for up to NF_IDLE_SPIN_NS: a producer that is still sending is usually
   closer than that, and finding its message here saves it the write() and the owner a trip through its loop. */
static nf_msg *pop_soon(nf_lqueue *q)
{
    int64_t until = nf_lqueue_now_ns() + NF_IDLE_SPIN_NS;
    for (unsigned i = 1;; i++) {
        cpu_relax();
        nf_msg *m = nf_lqueue_pop(q);
        if (m || (i % 16 == 0 && nf_lqueue_now_ns() >= until))
            return m;
    }
}

nf_msg *nf_lqueue_idle(nf_lqueue *q, int streaming)
{
    nf_lqueue_flush(q);  /* producers may need them while we sleep */
    nf_msg *m = streaming ? pop_soon(q) : NULL;
    if (m)
        return m;
    atomic_store_explicit(&q->signaled, 0, memory_order_seq_cst);
    m = nf_lqueue_pop(q);
    if (m)
        atomic_store_explicit(&q->signaled, 1, memory_order_seq_cst);  /* draining again: producers stay quiet */
    return m;
}

void nf_lqueue_rewake(nf_lqueue *q)
{
    atomic_store_explicit(&q->signaled, 1, memory_order_seq_cst);
    wake(q);  /* always: the consumer read the fd at the start of this drain */
}

nf_msg *nf_lqueue_pop(nf_lqueue *q)
{
    nf_msg *tail = q->tail;
    nf_msg *next = atomic_load_explicit(&tail->next, memory_order_seq_cst);
    if (tail == &q->stub) {
        if (!next)
            return NULL;
        q->tail = tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_seq_cst);
    }
    if (next) {
        q->tail = next;
        __builtin_prefetch(next);  /* the next pop's message, written by a producer's core */
        return tail;
    }
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
        return NULL;  /* a producer is between its exchange and its link (step 7) */
    link_message(q, &q->stub);  /* tail is the newest message: put the stub behind it to detach it */
    next = atomic_load_explicit(&tail->next, memory_order_seq_cst);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL;
}
