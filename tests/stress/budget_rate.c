/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/stress/budget_rate.c - the learned rate of tsq/budget.h with completions on several
 * threads at once, with exact accounting.
 *
 *   usage: stress_budget_rate [units [completers [seed [stall_ms]]]]
 *
 * Threads
 *   sender      one budget with the default options (the rate is learned): sends `units`
 *               units of random cost (1 B .. 64 KiB) while tsq_budget_may_send() allows,
 *               each to a random completer's ring (charge first). When stopped, it waits for
 *               the restart a completion owes it (no progress for stall_ms: a lost restart).
 *               In the second half, every 4096 units it sets a pacing rate by hand, or goes
 *               back to learning.
 *   completers  complete the units of their ring, half of them with the library's clock
 *               (tsq_budget_complete), half with their own (tsq_budget_complete_at, one clock
 *               read per batch); the one that wins THROTTLED -> QUEUED restarts the sender.
 * Checked: the rate the sender sees is never 0 while learning; no restart is lost; after the
 * first half (learning throughout, once all is completed) the bytes the estimator counted
 * equal the bytes charged; at the end nothing is in flight, no window was closed without a
 * completion, and at least one sample was taken.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <tsq/budget.h>

#define STRESS_NAME "stress_budget_rate"
#include "stress_fail.h"

#define RING 256u /* a power of two */
#define MAX_COMP 16u

struct ring {
	uint32_t cost[RING];
	uint64_t head TSQ_CACHELINE_ALIGNED; /* the sender writes */
	uint64_t tail TSQ_CACHELINE_ALIGNED; /* the completer writes */
	uint64_t completions;
	unsigned use_at;
} TSQ_CACHELINE_ALIGNED;

static struct tsq_budget b;
static struct tsq_flags fl = TSQ_FLAGS_INIT;
static struct ring rings[MAX_COMP];
static unsigned ncomp;
static uint64_t restart_pending; /* a completion won the restart: the sender may go on */
static uint64_t done;            /* the sender has sent everything */
static uint64_t restarts;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dull;
}

static void *completer(void *arg)
{
	struct ring *r = arg;

	for (;;) {
		uint64_t head = tsq_load(&r->head, TSQ_ACQUIRE); /* the sender's release */
		uint64_t tail = r->tail, now = now_ns();

		if (tail == head) {
			if (tsq_load(&done, TSQ_ACQUIRE) && tsq_load(&r->head, TSQ_ACQUIRE) == tail)
				return NULL;
			sched_yield();
			continue;
		}
		for (; tail != head; tail++) {
			uint32_t cost = r->cost[tail % RING];
			bool won = r->use_at ? tsq_budget_complete_at(&b, &fl, cost, now) :
					       tsq_budget_complete(&b, &fl, cost);

			r->completions++;
			if (won) {
				tsq_counter_add_shared(&restarts, 1);
				tsq_store(&restart_pending, 1, TSQ_RELEASE);
			}
		}
		tsq_store(&r->tail, tail, TSQ_RELEASE); /* the slots are free again */
	}
}

/* Stopped: wait for the restart that the units in flight owe us. */
static void wait_restart(unsigned stall_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)stall_ms * 1000000ull;

	while (!tsq_load(&restart_pending, TSQ_ACQUIRE)) {
		CHECK(now_ns() < deadline,
		      "lost restart: stopped with %" PRIu64 " B in flight, flags %#x",
		      tsq_budget_inflight(&b), (unsigned)tsq_flags_load(&fl));
		sched_yield();
	}
	tsq_store(&restart_pending, 0, TSQ_RELAXED);
	tsq_flags_unqueue(&fl); /* the worker's part: QUEUED off before sending again */
}

static void send_one(uint32_t cost, uint64_t *rng)
{
	struct ring *r = &rings[rnd(rng) % ncomp];
	uint64_t head = r->head;

	while (head - tsq_load(&r->tail, TSQ_ACQUIRE) == RING)
		sched_yield();
	tsq_budget_charge(&b, cost); /* before the unit can complete */
	r->cost[head % RING] = cost;
	tsq_store(&r->head, head + 1, TSQ_RELEASE);
}

/*
 * The end of the first half (learning throughout): wait until every unit has completed, then
 * the estimator must have counted every byte exactly once.
 */
static void check_quiet_phase(uint64_t charged)
{
	for (unsigned i = 0; i < ncomp; i++)
		while (tsq_load(&rings[i].tail, TSQ_ACQUIRE) != rings[i].head)
			sched_yield();
	CHECK(tsq_budget_inflight(&b) == 0, "in flight after the first half");
	CHECK(tsq_load(&b.delivered, TSQ_RELAXED) == charged,
	      "the estimator counted %" PRIu64 " B, %" PRIu64 " were completed",
	      tsq_load(&b.delivered, TSQ_RELAXED), charged);
}

int main(int argc, char **argv)
{
	uint64_t units = argc > 1 ? strtoull(argv[1], NULL, 0) : 200000;
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 1;
	unsigned stall_ms = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 0) : 5000;
	uint64_t rng = seed * 0x9e3779b97f4a7c15ull | 1, charged = 0, completions = 0;
	pthread_t th[MAX_COMP];
	struct tsq_budget_stats st;

	ncomp = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 3;
	CHECK(ncomp >= 1 && ncomp <= MAX_COMP, "completers: 1 .. %u", MAX_COMP);
	CHECK(tsq_budget_init(&b, NULL) == 0, "init");
	for (unsigned i = 0; i < ncomp; i++) {
		rings[i].use_at = i & 1;
		CHECK(pthread_create(&th[i], NULL, completer, &rings[i]) == 0, "pthread_create");
	}
	for (uint64_t i = 0; i < units; i++) {
		uint32_t cost = (uint32_t)(rnd(&rng) % 65536) + 1;

		if (i == units / 2)
			check_quiet_phase(charged);
		if (i > units / 2 && i % 4096 == 0) {
			if ((i / 4096) % 3 == 1)
				tsq_budget_set_pacing_rate(&b, rnd(&rng) % (1ull << 30));
			else
				tsq_budget_learn_rate(&b);
		}
		CHECK(tsq_budget_rate(&b) != 0 || !tsq_load(&b.learning, TSQ_RELAXED),
		      "a learned rate of 0");
		while (!tsq_budget_may_send(&b, &fl, cost, 0))
			wait_restart(stall_ms);
		send_one(cost, &rng);
		charged += cost;
	}
	tsq_store(&done, 1, TSQ_RELEASE);
	for (unsigned i = 0; i < ncomp; i++) {
		pthread_join(th[i], NULL);
		completions += rings[i].completions;
	}
	tsq_budget_stats(&b, &st);
	CHECK(completions == units, "completed %" PRIu64 " of %" PRIu64 " units", completions,
	      units);
	CHECK(st.inflight_bytes == 0 && st.inflight_units == 0, "left in flight: %" PRIu64 " B",
	      st.inflight_bytes);
	CHECK(st.unmatched_completions == 0, "unmatched completions");
	/* The second half learned only part of the time: never more than was charged. */
	CHECK(b.delivered <= charged, "the estimator counted %" PRIu64 " B of %" PRIu64,
	      b.delivered, charged);
	CHECK(st.rate_samples + st.rate_restarts <= completions, "more windows than completions");
	CHECK(st.rate_samples > 0, "no rate sample in %" PRIu64 " completions", completions);
	printf("%s: %" PRIu64 " units, %" PRIu64 " B, %u completers: %" PRIu64
	       " throttles, %" PRIu64 " restarts, %" PRIu64 " re-check saves, %" PRIu64
	       " samples, %" PRIu64 " windows dropped, last rate %" PRIu64 " B/s\n",
	       STRESS_NAME, units, charged, ncomp, st.throttles, restarts, st.recheck_saves,
	       st.rate_samples, st.rate_restarts, st.rate);
	return 0;
}
