/* The listener queue: native threads hand raw argument bytes to the owner without ever taking the GIL.
 *
 * One message, start to end:
 *   1. A native thread calls a listener's function pointer; the libffi closure lands in callback.c's
 *      listener entry, which checks that the callable is open and the interpreter is not shutting down.
 *   2. It allocates one message with malloc (never a Python object) and copies each argument's raw bytes
 *      to the offsets computed when the callable was made.
 *   3. nf_lqueue_push links the message at the head with one atomic exchange (Vyukov's intrusive MPSC
 *      list): producers never wait for each other or for the consumer, and the exchange order is the
 *      delivery order, so messages from one thread stay in the order that thread sent them.
 *   4. If no wakeup is pending (signaled == 0), the producer sets it and writes once to the eventfd; under
 *      load almost every push skips the write. The native caller returns.
 *   5. The owner (the asyncio loop that watches the fd with add_reader, or the library's dispatcher
 *      thread) wakes, reads the fd (nf_lqueue_begin_drain) and pops messages oldest first; callback.c
 *      turns each one's bytes into Python objects on the owner thread, calls the Python function, and
 *      frees the message. `signaled` stays set while it drains, so busy producers never write the fd.
 *   6. Only when it finds the queue empty does the owner clear `signaled` (nf_lqueue_idle), then look
 *      once more: a message pushed just before the clear is still seen, and one pushed after it finds
 *      signaled == 0 and writes the fd. Nothing is left behind either way.
 *   7. A producer caught between its exchange and its link makes the list look briefly cut; the consumer
 *      treats that like empty, and that producer's own check (step 4) after linking wakes it again.
 */
#define _GNU_SOURCE
#include "listener.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

int nf_lqueue_init(nf_lqueue *q)
{
    atomic_store(&q->stub.next, NULL);
    atomic_store(&q->head, &q->stub);
    q->tail = &q->stub;
    atomic_store(&q->signaled, 0);
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
    return 0;
}

void nf_lqueue_destroy(nf_lqueue *q)
{
    nf_msg *m;
    while ((m = nf_lqueue_pop(q)))
        free(m);
    if (q->rfd >= 0)
        close(q->rfd);
    if (q->wfd >= 0 && q->wfd != q->rfd)
        close(q->wfd);
    q->rfd = q->wfd = -1;
}

nf_msg *nf_lqueue_msg_alloc(size_t argbytes)
{
    return malloc(sizeof(nf_msg) + argbytes);
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
        !atomic_exchange_explicit(&q->signaled, 1, memory_order_seq_cst))
        wake(q);
}

void nf_lqueue_begin_drain(nf_lqueue *q)
{
    char buf[64];
    while (read(q->rfd, buf, sizeof buf) > 0 && q->rfd != q->wfd)
        ;  /* eventfd: one read resets the counter; a pipe: empty it */
}

nf_msg *nf_lqueue_idle(nf_lqueue *q)
{
    atomic_store_explicit(&q->signaled, 0, memory_order_seq_cst);
    nf_msg *m = nf_lqueue_pop(q);
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
