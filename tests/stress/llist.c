/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Stress test for tsq/llist.h: N producers, one consumer, exact accounting.
 *
 * Each producer pushes M nodes tagged (producer, sequence); the consumer loops take_all +
 * reverse until it holds all N * M. Checked:
 *   - every node arrives exactly once (a per-node flag);
 *   - per-producer FIFO: a producer's sequence numbers arrive strictly increasing across the
 *     whole run (one consumer, so order holds across chains too);
 *   - pushes that reported "was empty" == take_all calls that returned a chain: each
 *     empty -> non-empty transition is reported once and ended by exactly one take;
 *   - nothing is lost: once every producer has finished, an empty list means a missing node.
 * Phase "push" uses tsq_llist_push(); phase "batch" splices private chains of 1..64 nodes
 * built with tsq_llist_link_local(), half the producers with push_batch, half with _sc.
 *
 * Each round runs both phases with fresh threads.
 *
 * Usage: stress_llist [items_per_producer [producers [rounds]]]   (defaults: 500000 4 1)
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tsq/llist.h>

struct node {
	struct tsq_llist_node link;
	uint32_t producer;
	uint32_t seq;
};

enum mode { MODE_PUSH, MODE_BATCH };

static struct tsq_llist_head list = TSQ_LLIST_INIT;
static struct node *nodes; /* producer p owns nodes[p * per .. (p + 1) * per) */
static unsigned char *seen;
static uint32_t per, nprod;
static enum mode mode;
static uint64_t producers_done;   /* producers that finished pushing */
static uint64_t was_empty_pushes; /* pushes that returned true */
/* Totals over all rounds, per phase, for the summary line. */
static uint64_t sum_items[2], sum_takes[2];

static void fail(const char *msg, uint64_t a, uint64_t b)
{
	fprintf(stderr, "stress_llist: FAIL: %s (%" PRIu64 ", %" PRIu64 ")\n", msg, a, b);
	fflush(stderr);
	exit(1);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *producer(void *arg)
{
	uint32_t p = (uint32_t)(uintptr_t)arg;
	struct node *mine = &nodes[(size_t)p * per];
	uint64_t rng = 0x9e3779b97f4a7c15ull * (p + 1), empties = 0;
	uint32_t i = 0;

	while (i < per) {
		if (mode == MODE_PUSH) {
			empties += tsq_llist_push(&list, &mine[i].link);
			i++;
		} else {
			struct tsq_llist_node *first = NULL, *last = NULL;
			uint32_t n = (uint32_t)(xorshift(&rng) % 64) + 1;

			/* link_local prepends: the chain is newest first, like the list itself. */
			for (uint32_t k = 0; k < n && i < per; k++, i++)
				tsq_llist_link_local(&first, &last, &mine[i].link);
			if (p % 2)
				empties += tsq_llist_push_batch_seqcst(&list, first, last);
			else
				empties += tsq_llist_push_batch(&list, first, last);
			/* A producer also does other work: spread the splices over the consumer's run. */
			for (uint64_t k = xorshift(&rng) & 255; k > 0; k--)
				tsq_cpu_relax();
		}
		/* Now and then let another producer in between, so chains interleave. */
		if ((xorshift(&rng) & 1023) == 0)
			sched_yield();
	}
	tsq_fetch_add(&was_empty_pushes, empties, TSQ_RELAXED);
	/* Release: a consumer that sees the count also sees every push above. */
	tsq_fetch_add(&producers_done, 1, TSQ_RELEASE);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(enum mode m)
{
	uint64_t total = (uint64_t)per * nprod, got = 0, takes = 0, empty_polls = 0;
	uint32_t *next_seq = calloc(nprod, sizeof(*next_seq));
	pthread_t *th = calloc(nprod, sizeof(*th));

	if (next_seq == NULL || th == NULL)
		fail("out of memory", 0, 0);
	mode = m;
	producers_done = 0;
	was_empty_pushes = 0;
	memset(seen, 0, total);
	for (uint64_t i = 0; i < total; i++) {
		nodes[i].producer = (uint32_t)(i / per);
		nodes[i].seq = (uint32_t)(i % per);
	}
	tsq_llist_init(&list);
	for (uint32_t p = 0; p < nprod; p++)
		if (pthread_create(&th[p], NULL, producer, (void *)(uintptr_t)p) != 0)
			fail("pthread_create", p, 0);

	while (got < total) {
		/* Read before take_all: if all producers were done, this take sees every push. */
		uint64_t done = tsq_load(&producers_done, TSQ_ACQUIRE);
		struct tsq_llist_node *chain = tsq_llist_take_all(&list), *pos;

		if (chain == NULL) {
			if (done == nprod)
				fail("producers finished, list empty, nodes missing (got, total)",
				     got, total);
			empty_polls++;
			if ((empty_polls & 63) == 0)
				sched_yield();
			else
				tsq_cpu_relax();
			continue;
		}
		takes++;
		tsq_llist_for_each(pos, tsq_llist_reverse(chain)) {
			struct node *n = tsq_container_of(pos, struct node, link);
			uint64_t idx;

			if (n->producer >= nprod || n->seq >= per)
				fail("corrupt node (producer, seq)", n->producer, n->seq);
			idx = (uint64_t)n->producer * per + n->seq;
			if (&nodes[idx] != n)
				fail("node tags do not match its slot (producer, seq)", n->producer,
				     n->seq);
			if (seen[idx]++)
				fail("node delivered twice (producer, seq)", n->producer, n->seq);
			if (n->seq != next_seq[n->producer])
				fail(n->seq < next_seq[n->producer] ?
					     "per-producer order broken (seq, expected)" :
					     "node skipped, FIFO broken (seq, expected)",
				     n->seq, next_seq[n->producer]);
			next_seq[n->producer]++;
			got++;
		}
	}
	for (uint32_t p = 0; p < nprod; p++)
		pthread_join(th[p], NULL);
	if (tsq_llist_take_all(&list) != NULL)
		fail("nodes left after all were received", got, total);
	for (uint32_t p = 0; p < nprod; p++)
		if (next_seq[p] != per)
			fail("producer short (producer, received)", p, next_seq[p]);
	if (was_empty_pushes != takes)
		fail("was-empty pushes != non-empty takes", was_empty_pushes, takes);

	sum_items[m] += got;
	sum_takes[m] += takes;
	free(next_seq);
	free(th);
}

int main(int argc, char **argv)
{
	unsigned long a = argc > 1 ? strtoul(argv[1], NULL, 10) : 500000;
	unsigned long b = argc > 2 ? strtoul(argv[2], NULL, 10) : 4;
	unsigned long rounds = argc > 3 ? strtoul(argv[3], NULL, 10) : 1;
	double t0 = now_s();

	if (argc > 4 || a == 0 || a > 100000000ul || b == 0 || b > 256 || rounds == 0 ||
	    rounds > 100000) {
		fprintf(stderr,
			"usage: %s [items_per_producer (1..1e8) [producers (1..256) [rounds]]]\n",
			argv[0]);
		return 2;
	}
	per = (uint32_t)a;
	nprod = (uint32_t)b;
	nodes = calloc((size_t)per * nprod, sizeof(*nodes));
	seen = calloc((size_t)per * nprod, 1);
	if (nodes == NULL || seen == NULL)
		fail("out of memory", 0, 0);
	for (unsigned long r = 0; r < rounds; r++) {
		run(MODE_PUSH);
		run(MODE_BATCH);
	}
	printf("stress_llist: producers=%" PRIu32 " rounds=%lu push: items=%" PRIu64
	       " takes=%" PRIu64 " batch: items=%" PRIu64 " takes=%" PRIu64
	       " (each exactly once, per-producer FIFO,"
	       " was-empty == takes) %.2fs OK\n",
	       nprod, rounds, sum_items[MODE_PUSH], sum_takes[MODE_PUSH], sum_items[MODE_BATCH],
	       sum_takes[MODE_BATCH], now_s() - t0);
	free(nodes);
	free(seen);
	return 0;
}
