/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/common/calibrate.c - calibrate/cacheline_pingpong: what one cache-line hand-off between two
 * cores costs on this machine, the unit every other number here is made of.
 *
 * The owner (CPU 0) writes a counter, the peer (CPU 1) waits for it and writes it back on
 * another line, the owner waits for that: two one-way transfers per round trip. Reported:
 * ns_per_item = ns per one-way hand-off, items_per_second = one-way hand-offs per second.
 * A push that touches a shared head once per item cannot beat about one such transfer per
 * item (plus the item's own line); only batching amortises it.
 */
#include "harness.h"
#include "tables.h"

#include <stdio.h>

#define PINGPONG_ROUNDS 4096u

struct pingpong {
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t ping; /* owner writes */
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t pong; /* peer writes */
	_Alignas(TSQ_CACHELINE_SIZE) uint32_t stop;
};

static void *pingpong_peer(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t seen = 0;

	for (;;) {
		unsigned spins = 0;
		uint64_t v;

		/* Acquire/release pairs are not needed for a bare counter; relaxed is the point. */
		while ((v = tsq_load(&pp->ping, TSQ_RELAXED)) == seen) {
			if (tsq_load(&pp->stop, TSQ_RELAXED))
				return NULL;
			bench_spin(&spins);
		}
		seen = v;
		tsq_store(&pp->pong, v, TSQ_RELAXED);
	}
}

static void bm_pingpong(struct gbench_state *st, const void *arg)
{
	struct pingpong *pp = bench_alloc_lines(sizeof(*pp));
	struct bench_cpus cpus;
	pthread_t peer;
	uint64_t n = 0, t0;

	(void)arg;
	if (pp == NULL) {
		gbench_skip_with_error(st, "out of memory");
		return;
	}
	bench_cpus_get(&cpus);
	if (pthread_create(&peer, NULL, pingpong_peer, pp) != 0) {
		gbench_skip_with_error(st, "pthread_create failed");
		free(pp);
		return;
	}
	bench_pin(&cpus, peer, 1);
	bench_pin(&cpus, pthread_self(), 0);

	t0 = bench_now_ns();
	while (gbench_keep_running(st)) {
		for (uint32_t i = 0; i < PINGPONG_ROUNDS; i++) {
			unsigned spins = 0;

			tsq_store(&pp->ping, ++n, TSQ_RELAXED);
			while (tsq_load(&pp->pong, TSQ_RELAXED) != n)
				bench_spin(&spins);
		}
	}
	bench_report_items(st, 2 * n, bench_now_ns() - t0);

	tsq_store(&pp->stop, 1u, TSQ_RELAXED);
	pthread_join(peer, NULL);
	bench_cpus_restore(&cpus);
	free(pp);
}

static void calibrate_register(void)
{
	gbench_unit(gbench_use_real_time(
			    gbench_register("calibrate/cacheline_pingpong", bm_pingpong, NULL)),
		    GBENCH_US);
}
GBENCH_REGISTRAR(calibrate_register)

/* The --tsq_tables line: the unit the other tables' ns/item are made of. */
static void calibrate_tables(FILE *out)
{
	static double v[TABLES_MAX_ROUNDS];
	const unsigned rounds = tables_rounds();
	struct bench_summary s;
	char cell[64];
	size_t i;

	if (gbench_result_find("calibrate/cacheline_pingpong", &i) == NULL ||
	    gbench_result_at(i)->error)
		return;
	/* items/s there are one-way hand-offs per second. */
	for (unsigned k = 0; k < rounds; k++) {
		double x = gbench_result_round_ips(i, k);

		v[k] = x > 0 ? 1e9 / x : NAN;
	}
	if (!tables_summary(v, rounds, &s))
		return;
	tables_cell(cell, sizeof(cell), &s, true, 1, "");
	fprintf(out,
		"\ncache-line hand-off between the owner's and a producer's CPU: %s ns one way "
		"(calibrate/cacheline_pingpong%s)\n",
		cell, gbench_rounds() > 1 ? ", median [min..max] over the rounds" : "");
}
GBENCH_TABLES_PRINTER(calibrate_tables, 10)
