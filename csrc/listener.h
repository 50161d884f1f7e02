/* The listener queue: a multi-producer, single-consumer message queue with a one-shot wakeup fd. */
#ifndef NF_LISTENER_H
#define NF_LISTENER_H

#include <stdatomic.h>
#include <stddef.h>

/* A queued message: this header, then the raw argument bytes at NF_MSG_ARGS(m). */
typedef struct nf_msg {
    _Atomic(struct nf_msg *) next;  /* the message pushed after this one, NULL while it is the newest */
    void *pad;                      /* keeps the arguments 16-byte aligned */
} nf_msg;

#define NF_MSG_ARGS(m) ((char *)(m) + sizeof(nf_msg))

typedef struct {
    _Atomic(nf_msg *) head;  /* producers' end: the newest message (or the stub) */
    nf_msg *tail;            /* consumer's end: the oldest message not yet popped (or the stub) */
    nf_msg stub;             /* placeholder that keeps the list non-empty */
    _Atomic int signaled;    /* a wakeup is pending: producers skip the write() */
    int rfd;                 /* fd the consumer watches (eventfd, or the read end of a pipe) */
    int wfd;                 /* fd producers write to (the same eventfd, or the write end of the pipe) */
} nf_lqueue;

/* Sets up an empty queue and its wakeup fd. 0, or -1 with errno set. */
int nf_lqueue_init(nf_lqueue *q);

/* Frees every message still queued and closes the fds. No producer may be running. */
void nf_lqueue_destroy(nf_lqueue *q);

/* A message with room for `argbytes` bytes of arguments (malloc: no GIL, any thread). NULL if out of memory. */
nf_msg *nf_lqueue_msg_alloc(size_t argbytes);

/* Any thread, no GIL, never blocks: appends `m` and wakes the consumer unless a wakeup is already pending. */
void nf_lqueue_push(nf_lqueue *q, nf_msg *m);

/* Consumer: acknowledges the wakeup fd; call before popping. */
void nf_lqueue_begin_drain(nf_lqueue *q);

/* Consumer: the oldest message (caller frees it with free()), or NULL if none is ready yet. */
nf_msg *nf_lqueue_pop(nf_lqueue *q);

/* Consumer, when pop returned NULL: re-arms the wakeup (the next push writes the fd), then pops once more
   so that a message pushed meanwhile is not missed. Returns that message (draining goes on) or NULL. */
nf_msg *nf_lqueue_idle(nf_lqueue *q);

/* Consumer: wakes itself again (used when it stops draining before the queue is empty). */
void nf_lqueue_rewake(nf_lqueue *q);

#endif
