/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/stress/dql.c - dynamic queue limits under concurrency, with exact accounting.
 *
 *   usage: stress.dql [bytes [seed [max_batch]]]
 *
 * Threads
 *   sender     writes objects of 64..9063 bytes into a ring (a single-producer,
 *              single-consumer array standing for the device's TX ring): tsq_dql_tx_sent()
 *              first, then the release store that shows the slot to the "device". When the
 *              call returns TSQ_DQL_STOPPED the sender feeds nothing more until STOPPED
 *              reads clear - only a completion's restart clears it, so a lost restart is a
 *              sender that waits forever.
 *   completer  the device and its completion path: takes 1..max_batch objects off the ring
 *              (a random batch: completion coalescing), now and then yields first (a slow
 *              device, so the queue fills and the limit is exercised in both directions),
 *              calls tsq_dql_tx_completed() once for the batch's bytes and counts
 *              TSQ_DQL_RESTART returns. After each call it publishes the bytes completed.
 *   The clock is virtual (a shared counter, +100 ns per call, +40 us now and then while the
 *   device pauses with objects on the ring), so hold times and the stall detector (threshold
 *   50 us) run, concurrently, without depending on the machine's speed.
 *
 * The lost restart is detected without a timeout: a waiting sender that reads "every byte I
 * sent has completed" (the completer publishes it with a release store after its
 * tsq_dql_tx_completed call returned, restart included) and then still reads STOPPED has
 * been forgotten: no completion is pending that could restart it. Every wait loop is bounded
 * (a failure message, never a hang, if the other thread died).
 *
 * Checked at run time: every return code; after a send that may go on, the bytes in flight
 * (that object included) are at most max_limit, so the ring never overflows; the completer never completes more than was sent.
 * Checked at the end: bytes and objects sent == completed == asked for, byte for byte (a sum
 * of the sizes on both sides and a running checksum of their order); nothing in flight, not
 * stopped; stops and restarts as counted by the threads == tsq_dql_stats(); every stop was
 * restarted: stops <= restarts <= stops + recheck_saves.
 * Prints one accounting line and exits 0, or a message and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <tsq/dql.h>

#define STRESS_NAME "stress.dql"
#include "stress_fail.h"

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

#define RING 65536u /* slots: far more than max_limit / the smallest object */
#define MAX_LIMIT (256u * 1024u)
#define OBJ_MIN 64u
#define OBJ_SPAN 9000u
/* Iterations of a wait loop (each yields) before it declares the other thread gone. */
#define WAIT_BOUND 2000000000ull

static struct tsq_dql q;
static uint32_t ring[RING];
static uint64_t ring_head TSQ_CACHELINE_ALIGNED;  /* objects published: sender */
static uint64_t ring_tail TSQ_CACHELINE_ALIGNED;  /* objects taken: completer */
static uint64_t done_bytes TSQ_CACHELINE_ALIGNED; /* bytes completed, after the call returned */
static uint64_t vclock TSQ_CACHELINE_ALIGNED;

static uint64_t total, seed;
static unsigned max_batch;

/* Results, each written by one thread and read by main after the join. */
static uint64_t s_bytes, s_objs, s_sum, s_stops, s_waits;
static uint64_t c_bytes, c_objs, c_sum, c_restarts, c_batches;

static uint64_t now(void)
{
	return tsq_fetch_add(&vclock, 100, TSQ_RELAXED);
}

static void *sender(void *arg)
{
	uint64_t r = seed * 2 + 1;

	(void)arg;
	while (s_bytes < total) {
		uint32_t size = OBJ_MIN + (uint32_t)(rnd(&r) % OBJ_SPAN);
		uint64_t head = s_objs, spins = 0;
		int rc;

		if (size > total - s_bytes)
			size = (uint32_t)(total - s_bytes);
		/* The ring has room: in flight is bounded by max_limit + one object (checked below). */
		CHECK(head - tsq_load(&ring_tail, TSQ_ACQUIRE) < RING,
		      "the ring is full: %" PRIu64 " objects in flight",
		      head - tsq_load(&ring_tail, TSQ_RELAXED));
		ring[head % RING] = size;
		rc = tsq_dql_tx_sent(&q, size, now());
		CHECK(rc == 0 || rc == TSQ_DQL_STOPPED, "tsq_dql_tx_sent returned %d", rc);
		s_bytes += size;
		s_objs++;
		s_sum = s_sum * 31 + size;
		tsq_store(&ring_head, s_objs, TSQ_RELEASE); /* the device may take it now */
		if (rc == 0) {
			uint32_t inflight = tsq_dql_inflight(&q);

			/* avail was >= 0 with this object counted: in flight <= limit <= max_limit */
			CHECK(inflight <= MAX_LIMIT, "sent on with %u bytes in flight (limit %u)",
			      inflight, tsq_dql_limit(&q));
			continue;
		}
		s_stops++;
		/* Stopped: wait for a restart, which only a completion can give. */
		while (tsq_dql_stopped(&q)) {
			if (tsq_load(&done_bytes, TSQ_ACQUIRE) == s_bytes && tsq_dql_stopped(&q))
				fail("lost restart: stopped with all %" PRIu64
				     " bytes completed and no "
				     "completion pending (limit %u, avail %" PRId64 ")",
				     s_bytes, tsq_dql_limit(&q), tsq_dql_avail(&q));
			CHECK(++spins < WAIT_BOUND, "the completer made no progress");
			s_waits++;
			sched_yield();
		}
	}
	return NULL;
}

static void *completer(void *arg)
{
	uint64_t r = seed * 2 + 3, spins = 0;

	(void)arg;
	while (c_bytes < total) {
		uint64_t head = tsq_load(&ring_head, TSQ_ACQUIRE), n, bytes = 0;
		int rc;

		if (head == c_objs || rnd(&r) % 8 == 0) {
			CHECK(++spins < WAIT_BOUND, "the sender made no progress");
			if (head != c_objs && rnd(&r) % 64 == 0)
				tsq_fetch_add(&vclock, 40000,
					      TSQ_RELAXED); /* a device pause: stalls */
			sched_yield();                      /* nothing yet, or a slow device */
			continue;
		}
		n = 1 + rnd(&r) % max_batch;
		if (n > head - c_objs)
			n = head - c_objs;
		for (uint64_t i = 0; i < n; i++) {
			uint32_t size = ring[(c_objs + i) % RING];

			bytes += size;
			c_sum = c_sum * 31 + size;
		}
		c_objs += n;
		tsq_store(&ring_tail, c_objs, TSQ_RELEASE); /* slots free for the sender */
		rc = tsq_dql_tx_completed(&q, (uint32_t)bytes, now());
		CHECK(rc == 0 || rc == TSQ_DQL_RESTART, "tsq_dql_tx_completed returned %d", rc);
		c_restarts += rc == TSQ_DQL_RESTART;
		c_batches++;
		c_bytes += bytes;
		tsq_store(&done_bytes, c_bytes, TSQ_RELEASE); /* after the call, restart included */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct tsq_dql_opts cfg = { sizeof(cfg), 0, MAX_LIMIT, 200000, 50000 };
	struct tsq_dql_stats st;
	pthread_t ts, tc;

	total = argc > 1 ? strtoull(argv[1], NULL, 0) : 100000000ull;
	seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
	max_batch = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 64;
	if (total == 0 || max_batch == 0 || max_batch > RING) {
		fprintf(stderr, "usage: stress.dql [bytes [seed [max_batch]]]\n");
		return 2;
	}
	CHECK(tsq_dql_init(&q, &cfg, 0) == 0, "init");
	CHECK(pthread_create(&ts, NULL, sender, NULL) == 0, "pthread_create");
	CHECK(pthread_create(&tc, NULL, completer, NULL) == 0, "pthread_create");
	pthread_join(ts, NULL);
	pthread_join(tc, NULL);

	CHECK(tsq_dql_stats(&q, &st) == 0, "stats");
	CHECK(s_bytes == total && c_bytes == total,
	      "bytes: asked %" PRIu64 ", sent %" PRIu64 ", completed %" PRIu64, total, s_bytes,
	      c_bytes);
	CHECK(s_objs == c_objs && s_sum == c_sum,
	      "objects: sent %" PRIu64 ", completed %" PRIu64 " (or their order differs)", s_objs,
	      c_objs);
	CHECK(st.inflight == 0 && !st.stopped, "left %u bytes in flight, stopped %d", st.inflight,
	      st.stopped);
	CHECK(st.stops == s_stops, "stops: dql %" PRIu64 ", sender %" PRIu64, st.stops, s_stops);
	CHECK(st.restarts == c_restarts, "restarts: dql %" PRIu64 ", completer %" PRIu64,
	      st.restarts, c_restarts);
	CHECK(st.stops <= st.restarts && st.restarts <= st.stops + st.recheck_saves,
	      "stops %" PRIu64 ", restarts %" PRIu64 ", re-check saves %" PRIu64, st.stops,
	      st.restarts, st.recheck_saves);
	CHECK(st.limit <= MAX_LIMIT, "limit %u above max", st.limit);
	printf("stress.dql: %" PRIu64 " bytes in %" PRIu64 " objects, %" PRIu64
	       " completion rounds; "
	       "%" PRIu64 " stops, %" PRIu64 " restarts, %" PRIu64 " re-check saves, %" PRIu64
	       " waits; limit %u (%" PRIu64 " grows, %" PRIu64 " shrinks); %" PRIu64
	       " stalls (max %" PRIu64 " ns); OK\n",
	       total, s_objs, c_batches, st.stops, st.restarts, st.recheck_saves, s_waits, st.limit,
	       st.grows, st.shrinks, st.stalls, st.stall_max_ns);
	return 0;
}
