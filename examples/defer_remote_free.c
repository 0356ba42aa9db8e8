/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * defer_remote_free: buffers go back to the thread that allocated them.
 *
 * Two workers, each owning a private buffer pool (no lock: only its owner touches it). Worker
 * A fills buffers and hands them to B; B consumes them and, instead of freeing into a shared
 * allocator, pushes each buffer back to A's shard with tsq_defer_push(). A recycles them in
 * batches when it drains, and sleeps with tsq_defer_wait() when its pool is empty - woken by
 * the eventfd kick, never by polling. This is the kernel's skb_attempt_defer_free() pattern,
 * over the per-pair ring B -> A (opts.ring_size).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tsq/defer.h>

enum { SHARD_A = 0, SHARD_B = 1, POOL = 256, ROUNDS = 200000, BUF = 2048 };

struct buf {
	struct tsq_defer_item ret;  /* how the buffer travels home */
	struct tsq_llist_node hand; /* how it travels A -> B */
	char data[BUF];
};

static struct tsq_defer_set set;
static struct tsq_llist_head to_b = TSQ_LLIST_INIT;
static struct buf *pool_a[POOL]; /* A's private free list: no lock, A only */
static unsigned pool_a_len;
static unsigned long fallback_frees;

static void recycle(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct buf *b = tsq_container_of(it, struct buf, ret);

	if (how == TSQ_DEFER_FALLBACK) {
		/* Runs on B: A's pool is not B's to touch, so the general allocator takes it. */
		__atomic_fetch_add(&fallback_frees, 1, __ATOMIC_RELAXED);
		free(b);
		return;
	}
	pool_a[pool_a_len++] = b; /* on A: DRAINED or INLINE */
}

static void *worker_a(void *arg)
{
	unsigned long sent = 0;

	(void)arg;
	while (sent < ROUNDS) {
		tsq_defer_drain(&set, SHARD_A); /* one relaxed load when nothing came back */
		if (pool_a_len == 0) {
			tsq_defer_wait(&set, SHARD_A, 1000); /* sleep until B returns some */
			continue;
		}
		struct buf *b = pool_a[--pool_a_len];

		memset(b->data, (int)(sent & 0xff), sizeof(b->data));
		tsq_llist_push(&to_b, &b->hand);
		sent++;
	}
	return NULL;
}

static void *worker_b(void *arg)
{
	unsigned long got = 0, sum = 0;

	(void)arg;
	while (got < ROUNDS) {
		struct tsq_llist_node *n = tsq_llist_reverse(tsq_llist_take_all(&to_b)), *next;

		tsq_llist_for_each_safe(n, next, n) {
			struct buf *b = tsq_container_of(n, struct buf, hand);

			sum += (unsigned char)b->data[BUF - 1];
			tsq_defer_item_init(&b->ret, recycle);
			tsq_defer_push(&set, SHARD_A, SHARD_B, &b->ret); /* home, not free() */
			got++;
		}
	}
	return (void *)(uintptr_t)sum;
}

int main(void)
{
	struct tsq_defer_shard *shards = tsq_defer_shards_alloc(2);
	struct tsq_defer_stats st = { 0 };
	pthread_t a, b;
	int err;

	/*
	 * B is a shard, so its returns take the B -> A ring: a slot store and a tail store per
	 * buffer, no contended atomic. The ring holds the whole pool, so B never finds it full;
	 * with a smaller one B would spill to A's shared list, and past its bound run recycle()
	 * itself (TSQ_DEFER_FALLBACK) and free() the buffer, counted.
	 */
	struct tsq_defer_opts opts = { .size = sizeof(opts), .ring_size = POOL };

	if (shards == NULL || (err = tsq_defer_set_init(&set, shards, 2, &opts)) != 0) {
		fprintf(stderr, "defer set: %s\n", shards ? strerror(-err) : "no memory");
		return 1;
	}
	for (unsigned i = 0; i < POOL; i++) {
		pool_a[i] = (struct buf *)malloc(sizeof(struct buf));
		if (pool_a[i] == NULL)
			return 1;
	}
	pool_a_len = POOL;
	pthread_create(&a, NULL, worker_a, NULL);
	pthread_create(&b, NULL, worker_b, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	tsq_defer_drain(&set, SHARD_A); /* the last returns */

	tsq_defer_stats(&set, SHARD_A, &st);
	printf("defer_remote_free: %d buffers moved; shard A: pushed %llu drained %llu in %llu "
	       "drains, fallback %llu, kicks %llu\n",
	       ROUNDS, (unsigned long long)st.pushed, (unsigned long long)st.drained,
	       (unsigned long long)st.drains, (unsigned long long)st.fallback,
	       (unsigned long long)st.kicks);
	if (pool_a_len + fallback_frees != POOL || st.pushed != st.drained) {
		fprintf(stderr, "lost buffers: %u of %d came home, %lu freed by fallback\n",
			pool_a_len, POOL, fallback_frees);
		return 1;
	}
	for (unsigned i = 0; i < POOL; i++)
		free(pool_a[i]);
	tsq_defer_set_destroy(&set);
	free(shards);
	return 0;
}
