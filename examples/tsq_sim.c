/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq_sim: TCP Small Queues in one file, with no network, no root and no libxdp.
 *
 * A simulated NIC sends frames from a device queue (1000 frames, like a txqueuelen) at
 * 120 Mbit/s, on a simulated clock. Two flows share it: a bulk flow that always has data,
 * and a probe (a ping) that puts a 98-byte frame in every millisecond. Without TSQ the bulk
 * flow fills the device queue and the probe waits behind ~100 ms of it. With TSQ the bulk
 * flow keeps about 1 ms below itself, and its data waits in its own queue instead.
 *
 * One thread does everything, as a small userspace stack's loop would: it is the sender and
 * the flow's home worker, so the flow uses TSQ_FLOW_OPS_SINGLE_THREAD (no owner lock). Each
 * turn of the loop:
 *   1. the NIC finishes a frame: a bulk frame's TX completion calls tsq_flow_complete_at(),
 *      which queues the flow for a restart if it was throttled;
 *   2. the worker part, tsq_defer_drain(), runs the restarted flow's send_more();
 *   3. send_more() sends while tsq_flow_may_send() allows, tsq_flow_charge() before each.
 * A real stack calls tsq_flow_complete() (the library reads the clock); the simulation passes
 * its own clock with tsq_flow_complete_at() so that the result is the same on every machine.
 *
 * Four runs: TSQ off; TSQ on with no rate and learning off (opts.no_rate_learning: the 4 MiB
 * cap alone, more than the whole device queue, so TSQ never stops the flow); TSQ on with the
 * defaults (no rate given: the budget learns the rate from its completions); TSQ on with the
 * pacing rate set by hand to the link rate. Exit status 0 when the last two cut the probe's
 * p99 at least tenfold at the same bulk throughput (the simulation is deterministic), 1
 * otherwise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsq/flow.h>

#define LINK_BPS 120000000ull /* bits per second */
#define BULK_FRAME 1514u      /* bytes: also the unit's cost */
#define PROBE_FRAME 98u
#define DEVQ_FRAMES 1000u
#define PROBE_GAP_NS 1000000ull
#define RUN_NS 3000000000ull   /* 3 s simulated */
#define WARMUP_NS 500000000ull /* statistics from 0.5 s on */
#define MAX_PROBES (RUN_NS / PROBE_GAP_NS + 1)

enum mode { TSQ_OFF, TSQ_CAP_ONLY, TSQ_DEFAULTS, TSQ_RATE_SET, NMODES };

static const char *const mode_name[NMODES] = { "TSQ off", "TSQ on, no rate, learning off",
					       "TSQ on, defaults (rate learned)",
					       "TSQ on, pacing rate set" };

struct frame {
	uint64_t enqueued_ns;
	uint32_t len;
	bool bulk;
};

/* The simulated NIC: a FIFO device queue, its head on the wire. */
static struct nic {
	struct frame q[DEVQ_FRAMES];
	unsigned head, n;
	uint64_t tx_end_ns; /* when the head frame is fully sent (n > 0) */
} nic;

static struct sim {
	enum mode mode;
	uint64_t now;
	struct tsq_defer_set set;
	struct tsq_defer_shard *shards;
	struct tsq_flow bulk; /* the bulk flow's TSQ state */
	bool ring_blocked;    /* the bulk flow found the device queue full */
	uint64_t bulk_bytes;  /* sent after the warm-up */
	uint64_t delays[MAX_PROBES];
	size_t ndelays;
	uint64_t probes_dropped;
} s;

static uint64_t wire_ns(uint32_t len)
{
	return ((uint64_t)len * 8 * 1000000000ull + LINK_BPS - 1) / LINK_BPS;
}

static bool nic_enqueue(uint32_t len, bool bulk)
{
	if (nic.n == DEVQ_FRAMES)
		return false;
	nic.q[(nic.head + nic.n) % DEVQ_FRAMES] = (struct frame){ s.now, len, bulk };
	if (nic.n++ == 0)
		nic.tx_end_ns = s.now + wire_ns(len);
	return true;
}

/* The bulk flow's sender: as much as the device queue and, with TSQ, the budget allow. */
static void bulk_send(struct tsq_flow *f)
{
	for (;;) {
		if (nic.n == DEVQ_FRAMES) {
			s.ring_blocked = true; /* the device's "room again" will call us */
			return;
		}
		if (s.mode != TSQ_OFF && !tsq_flow_may_send(f, BULK_FRAME, 0))
			return; /* THROTTLED: a completion restarts us through the drain */
		if (s.mode != TSQ_OFF)
			tsq_flow_charge(f, BULK_FRAME); /* before the frame can complete */
		nic_enqueue(BULK_FRAME, true);
	}
}

/* TSQ's one callback: the home worker (this thread's drain) restarts the flow. */
static void send_more(struct tsq_flow *f, enum tsq_flow_how how)
{
	(void)how;
	bulk_send(f);
}

static const struct tsq_flow_ops bulk_ops = TSQ_FLOW_OPS_SINGLE_THREAD(send_more);

/* The worker never sleeps here (it drains after every event): nothing to wake. */
static void no_kick(void *ctx, unsigned shard)
{
	(void)ctx;
	(void)shard;
}

/* The head frame left the wire: its TX completion. */
static void nic_tx_done(void)
{
	struct frame fr = nic.q[nic.head];

	nic.head = (nic.head + 1) % DEVQ_FRAMES;
	if (--nic.n > 0)
		nic.tx_end_ns = s.now + wire_ns(nic.q[nic.head].len);
	if (!fr.bulk) {
		if (fr.enqueued_ns >= WARMUP_NS && s.ndelays < MAX_PROBES)
			s.delays[s.ndelays++] = s.now - fr.enqueued_ns;
		return;
	}
	if (s.now >= WARMUP_NS)
		s.bulk_bytes += fr.len;
	if (s.mode != TSQ_OFF)
		tsq_flow_complete_at(&s.bulk, BULK_FRAME, s.now); /* may queue a restart */
	/* The device wakes a blocked sender once a quarter of its queue is free (a driver's wake
	 * threshold): other flows' frames find room in between. */
	if (s.ring_blocked && nic.n <= DEVQ_FRAMES * 3 / 4) {
		s.ring_blocked = false;
		bulk_send(&s.bulk);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_ms(double p)
{
	size_t i;

	if (s.ndelays == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)(s.ndelays - 1) + 0.5);
	return (double)s.delays[i] / 1e6;
}

struct result {
	double p50, p99, max, mbps;
	uint64_t limit, throttles, restarts;
};

static void run(enum mode mode, struct result *r)
{
	struct tsq_defer_opts dopts = { .size = sizeof(dopts), .kick = no_kick };
	struct tsq_budget_opts bopts = { .size = sizeof(bopts), .no_rate_learning = true };
	struct tsq_flow_stats st;
	uint64_t next_probe = 0;

	memset(&nic, 0, sizeof(nic));
	memset(&s, 0, sizeof(s));
	s.mode = mode;
	s.shards = tsq_defer_shards_alloc(1);
	if (s.shards == NULL || tsq_defer_set_init(&s.set, s.shards, 1, &dopts) != 0 ||
	    tsq_flow_init(&s.bulk, &s.set, 0, &bulk_ops, mode == TSQ_CAP_ONLY ? &bopts : NULL) !=
		    0) {
		fprintf(stderr, "tsq_sim: setting up the flow failed\n");
		exit(2);
	}
	if (mode == TSQ_RATE_SET)
		tsq_flow_set_pacing_rate(&s.bulk, LINK_BPS / 8); /* bytes per second */

	bulk_send(&s.bulk);
	while (s.now < RUN_NS) {
		if (nic.n > 0 && nic.tx_end_ns <= next_probe) {
			s.now = nic.tx_end_ns;
			nic_tx_done();
		} else {
			s.now = next_probe;
			if (!nic_enqueue(PROBE_FRAME, false))
				s.probes_dropped++;
			next_probe += PROBE_GAP_NS;
		}
		tsq_defer_drain(&s.set, 0); /* the worker's part of the loop */
	}

	qsort(s.delays, s.ndelays, sizeof(s.delays[0]), cmp_u64);
	r->p50 = pct_ms(50);
	r->p99 = pct_ms(99);
	r->max = pct_ms(100);
	r->mbps = (double)s.bulk_bytes * 8 / ((double)(RUN_NS - WARMUP_NS) / 1e9) / 1e6;
	tsq_flow_stats(&s.bulk, &st);
	r->limit = mode == TSQ_OFF ? (uint64_t)DEVQ_FRAMES * BULK_FRAME : tsq_flow_limit(&s.bulk);
	r->throttles = st.budget.throttles;
	r->restarts = st.queued;
	tsq_defer_set_destroy(&s.set);
	free(s.shards);
}

int main(void)
{
	struct result r[NMODES];
	bool ok = true;

	printf("tsq_sim: a bulk flow and a 1 ms probe share a simulated %" PRIu64
	       " Mbit/s NIC with a "
	       "%u-frame device queue\n\n",
	       (uint64_t)(LINK_BPS / 1000000), DEVQ_FRAMES);
	printf("%-32s %9s %9s %9s %11s %10s %9s %9s\n", "", "probe p50", "p99", "max",
	       "bulk Mbit/s", "limit B", "throttles", "restarts");
	for (int m = 0; m < NMODES; m++) {
		run((enum mode)m, &r[m]);
		printf("%-32s %6.2f ms %6.2f ms %6.2f ms %11.1f %10" PRIu64 " %9" PRIu64
		       " %9" PRIu64 "\n",
		       mode_name[m], r[m].p50, r[m].p99, r[m].max, r[m].mbps, r[m].limit,
		       r[m].throttles, r[m].restarts);
		if (m >= TSQ_DEFAULTS)
			ok &= r[m].p99 * 10 <= r[TSQ_OFF].p99 &&
			      r[m].mbps >= 0.95 * r[TSQ_OFF].mbps;
	}
	printf("\nlimit: TSQ's byte limit at the end (TSQ off: the device queue); the defaults learn "
	       "~1 ms of the rate\nthe completions deliver, as the hand-set rate gives.\n");
	return ok ? 0 : 1;
}
