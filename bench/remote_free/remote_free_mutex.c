/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/remote_free/remote_free_mutex.c - mutex_pool in the remote-free scenario: one free
 * list under a pthread mutex; A pops, B pushes.
 */
#include "remote_free.h"

#include <errno.h>

struct mutex_pool {
	pthread_mutex_t lock;
	struct rf_hdr *head; /* under lock; linked through the header's link */
};

static int mutex_pool_init(struct rf_run *run, const char **why)
{
	struct mutex_pool *mp = bench_alloc_lines(sizeof(*mp));

	if (mp == NULL || pthread_mutex_init(&mp->lock, NULL) != 0) {
		free(mp);
		*why = "allocation";
		return -ENOMEM;
	}
	mp->head = rf_pool_fill(run, NULL);
	run->impl = mp;
	return 0;
}

static void mutex_pool_fini(struct rf_run *run)
{
	struct mutex_pool *mp = run->impl;

	rf_free_chain(mp->head);
	pthread_mutex_destroy(&mp->lock);
	free(mp);
}

BENCH_INLINE struct rf_hdr *mutex_pool_alloc(struct rf_run *run)
{
	struct mutex_pool *mp = run->impl;
	struct rf_hdr *b;

	pthread_mutex_lock(&mp->lock);
	b = mp->head;
	if (b != NULL)
		mp->head = RF_LINK(b, struct rf_next)->next;
	pthread_mutex_unlock(&mp->lock);
	if (b == NULL) {
		run->grown++;
		b = rf_pool_buf_new(run);
	}
	return b;
}

BENCH_INLINE void mutex_pool_free(struct rf_run *run, struct rf_hdr *b)
{
	struct mutex_pool *mp = run->impl;

	pthread_mutex_lock(&mp->lock);
	RF_LINK(b, struct rf_next)->next = mp->head;
	mp->head = b;
	pthread_mutex_unlock(&mp->lock);
}

RF_INSTANTIATE(mutex_pool, mutex_pool_alloc, rf_nothing, mutex_pool_free, rf_nothing)

const struct rf_ops rf_mutex_pool = {
	.name = "mutex_pool",
	.pool = true,
	.init = mutex_pool_init,
	.fini = mutex_pool_fini,
	.a_iteration = mutex_pool_a_iteration,
	.b_main = mutex_pool_b_main,
};
