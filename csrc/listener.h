/* The listener queue: a multi-producer, single-consumer message queue with a one-shot wakeup fd. */
#ifndef NF_LISTENER_H
#define NF_LISTENER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A queued message: this header, then the raw argument bytes at NF_MSG_ARGS(m). */
typedef struct nf_msg {
    _Atomic(struct nf_msg *) next;  /* the message pushed after this one, NULL while it is the newest */
    uint32_t index;                 /* its node number in the queue's pool, or NF_MSG_HEAP (malloc'ed) */
    _Atomic uint32_t free_next;     /* while free: node number of the next free node, or NF_MSG_NONE */
} nf_msg;                           /* 16 bytes: keeps the arguments 16-byte aligned */

#define NF_MSG_ARGS(m) ((char *)(m) + sizeof(nf_msg))
#define NF_MSG_NONE UINT32_MAX          /* no node (end of the free stack) */
#define NF_MSG_HEAP (UINT32_MAX - 1)    /* a fallback node from malloc, freed with free() */
#define NF_POOL_CHUNKS 24               /* chunk c holds (first node count) << c nodes */

#define NF_LQ_PAD 64  /* bytes between the producers' and the consumer's fields: never one cache line */

typedef struct {
    /* Written by producers (every push), read by the consumer only when it catches up. */
    _Atomic(nf_msg *) head;  /* producers' end: the newest message (or the stub) */
    _Atomic int signaled;    /* a wakeup is pending: producers skip the write() */
    int wfd;                 /* fd producers write to (the same eventfd, or the write end of the pipe) */
    /* The node pool: fixed-size nodes in chunks that live as long as the queue, and a free stack. */
    _Atomic uint64_t free_top;         /* free stack: top node number (low 32 bits), ABA tag (high 32 bits) */
    _Atomic(char *) chunks[NF_POOL_CHUNKS];  /* chunk memory, NULL until the consumer adds it */
    size_t stride;                     /* bytes per node: header + arguments, rounded up to 16 */
    size_t argbytes;                   /* argument bytes per message */
    int first_shift;                   /* chunk 0 holds 1 << first_shift nodes */
    _Atomic size_t wakeups;            /* producers' writes to the wakeup fd so far (statistics: a flood needs few) */
    char pad[NF_LQ_PAD];               /* the consumer's fields below never share a line with those above */
    /* The consumer's own: written on every pop and free, never read by producers. */
    nf_msg *tail;            /* consumer's end: the oldest message not yet popped (or the stub) */
    nf_msg stub;             /* placeholder that keeps the list non-empty */
    nf_msg *freed;           /* nodes given back but not yet pushed on the free stack: a chain through free_next */
    nf_msg *freed_last;      /* the chain's oldest node (its free_next gets the stack's top) */
    unsigned nfreed;         /* nodes in that chain */
    unsigned free_batch;     /* the chain goes to the free stack at this length: 64, or an eighth of a small pool */
    int rfd;                 /* fd the consumer watches (eventfd, or the read end of a pipe) */
    int nchunks;             /* chunks allocated (consumer only) */
    size_t heap_frees;       /* fallback nodes the consumer freed since it last grew the pool */
    size_t heap_total;       /* fallback nodes the consumer freed in all (statistics) */
} nf_lqueue;

/* Nodes in the pool (consumer). */
size_t nf_lqueue_pool_nodes(const nf_lqueue *q);

/* Sets up an empty queue for messages of `argbytes` argument bytes, its first pool chunk and its wakeup fd.
   0, or -1 with errno set. */
int nf_lqueue_init(nf_lqueue *q, size_t argbytes);

/* Frees every message still queued and the pool; the fds stay open. No producer may be running. */
void nf_lqueue_free_memory(nf_lqueue *q);

/* Closes the fds (after nf_lqueue_free_memory, or on a queue that never got its pool). */
void nf_lqueue_close_fds(nf_lqueue *q);

/* In a forked child: drops the parent's queue without reading it (a producer that no longer exists may have
   been halfway through a push): frees the pool and closes the fds; fallback nodes still queued are lost. */
void nf_lqueue_forget(nf_lqueue *q);

/* Any thread, no GIL, no lock: a free node of the pool, or when the pool is empty a node from malloc (never
   lost, just slower). NULL only if malloc fails. */
nf_msg *nf_lqueue_msg_alloc(nf_lqueue *q);

/* Consumer: gives a popped message back (to the pool, or free() for a fallback node). Pool nodes are
   collected and go back to the free stack in batches (one compare-and-swap each): see nf_lqueue_flush. */
void nf_lqueue_msg_free(nf_lqueue *q, nf_msg *m);

/* Consumer: puts the nodes nf_lqueue_msg_free collected back on the free stack, for producers to take. */
void nf_lqueue_flush(nf_lqueue *q);

/* Consumer, between drains: if fallback nodes were needed since the last call, grows the pool to twice the
   backlog seen (up to NF_POOL_MAX_BYTES), so that a steady load stops reaching malloc. */
void nf_lqueue_grow(nf_lqueue *q);

/* Any thread, no GIL, never blocks: appends `m` and wakes the consumer unless a wakeup is already pending. */
void nf_lqueue_push(nf_lqueue *q, nf_msg *m);

/* Consumer: acknowledges the wakeup fd; call before popping. */
void nf_lqueue_begin_drain(nf_lqueue *q);
/* The monotonic clock in ns: the time limits of a drain (callback.c) and of the owner's poll before it sleeps. */
int64_t nf_lqueue_now_ns(void);

/* Consumer: the oldest message (give it back with nf_lqueue_msg_free), or NULL if none is ready yet. */
nf_msg *nf_lqueue_pop(nf_lqueue *q);

/* Consumer, when pop returned NULL: gives back the collected nodes; if `streaming` (many messages came in this
   drain), polls a few microseconds for the next message; else re-arms the wakeup (the next push writes the
   fd), then pops once more so that a message pushed meanwhile is not missed. Returns a message (draining goes
   on) or NULL. */
nf_msg *nf_lqueue_idle(nf_lqueue *q, int streaming);

/* Consumer: wakes itself again (used when it stops draining before the queue is empty). */
void nf_lqueue_rewake(nf_lqueue *q);

#endif
