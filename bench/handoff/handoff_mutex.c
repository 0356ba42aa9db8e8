/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff/handoff_mutex.c - the baseline every lock-free list is measured against:
 *   mutex_list   a pthread mutex around an intrusive singly linked list; a producer locks,
 *                links one item at the head and unlocks; the owner locks, takes the whole
 *                list (swaps the head with NULL), unlocks, and walks it newest first
 */
#include "handoff.h"

#include <errno.h>

struct mutex_q {
	pthread_mutex_t lock;
	/*
	 * Written under the lock; the owner's unlocked peek reads it atomically (relaxed), so
	 * every access is atomic to keep that peek free of a data race.
	 */
	struct handoff_item *head;
};

/* The item's link, for this list: a bare next pointer. */
struct mutex_node {
	struct handoff_item *next;
};
HANDOFF_LINK_FITS(struct mutex_node);

static int mutex_init(struct handoff_run *run, const char **why)
{
	struct mutex_q *q = bench_alloc_lines(sizeof(*q));
	int err;

	if (q == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	err = pthread_mutex_init(&q->lock, NULL);
	if (err != 0) {
		free(q);
		*why = "pthread_mutex_init";
		return -err;
	}
	q->head = NULL;
	run->impl = q;
	return 0;
}

static void mutex_fini(struct handoff_run *run)
{
	struct mutex_q *q = run->impl;

	pthread_mutex_destroy(&q->lock);
	free(q);
}

BENCH_INLINE void mutex_push(struct handoff_run *run, struct handoff_producer *p,
			     struct handoff_item *it)
{
	struct mutex_q *q = run->impl;

	(void)p;
	pthread_mutex_lock(&q->lock);
	HANDOFF_LINK(it, struct mutex_node)->next = tsq_load(&q->head, TSQ_RELAXED);
	tsq_store(&q->head, it, TSQ_RELAXED);
	pthread_mutex_unlock(&q->lock);
}

static void mutex_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, mutex_push, handoff_no_flush);
}

static uint64_t mutex_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	struct mutex_q *q = run->impl;
	struct handoff_item *it, *next;
	uint64_t got = 0;

	/* Do not take the lock (and its line) away from the producers for an empty list. */
	if (tsq_load(&q->head, TSQ_RELAXED) == NULL)
		return 0;
	pthread_mutex_lock(&q->lock);
	it = tsq_load(&q->head, TSQ_RELAXED);
	tsq_store(&q->head, (struct handoff_item *)NULL, TSQ_RELAXED);
	pthread_mutex_unlock(&q->lock);
	for (; it != NULL; it = next) {
		next = HANDOFF_LINK(it, struct mutex_node)->next;
		handoff_touch(acc, it);
		got++;
	}
	return got;
}

const struct handoff_ops handoff_mutex_list = {
	.name = "mutex_list",
	.init = mutex_init,
	.fini = mutex_fini,
	.produce = mutex_produce,
	.drain = mutex_drain,
};
