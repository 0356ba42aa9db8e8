/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq-backlog-latency - how long work waits in an owner's backlog during a long operation,
 * with and without tsq_owner_flush() (the seed: "tcp: make tcp_sendmsg() aware of socket
 * backlog" flushes before every new 64 KB skb; today's kernel does it every 16th).
 *
 * An owner thread performs an operation of --op-bytes (default 1 MiB) in 64 KiB steps - a
 * memcpy of 64 KiB each, like tcp_sendmsg copying from user space - over and over, taking
 * and releasing the object around each operation. A producer thread delivers a work item
 * every --interval-us (default 5 us, paced by a busy-wait on CLOCK_MONOTONIC); each item
 * carries its delivery time, and process() records processing time - delivery time. An
 * item delivered while the object is not owned is processed at once (wait ~0); one that
 * arrives during an operation waits for the next flush, or for the release. Three modes:
 *   none     flush only at release (tsq_owner_release)
 *   64k      tsq_owner_flush() after every 64 KiB step (the seed)
 *   16x64k   tsq_owner_flush_every(..., 16): after every 16th step (today's tcp_sendmsg)
 * For each mode it also measures what the flush check costs the owner when nothing is
 * queued: ns per 64 KiB step with no producer at all (the check is one relaxed load).
 *
 * Each wait is also counted in 64 KiB steps the owner completed between delivery and
 * processing: that number does not depend on the scheduler (p99 <= 1 for 64k, <= 16 for
 * 16x64k, <= the whole operation for none), while the microseconds include every time a
 * thread was preempted - on a loaded machine, milliseconds. The modes take turns in
 * ~0.25 s segments so that a load that changes during the run hits all three alike.
 * The delivery stamps are taken just before tsq_owner_deliver(): a producer preempted in
 * between adds its preemption to that item's wait (seen in the max, rarely in the p99).
 *
 * Usage: tsq-backlog-latency [--quick] [--json] [--op-bytes N[K|M]] [--interval-us N]
 *                            [--seconds S] [--help]
 * Output: a table; --json prints exactly
 *   {"runs":[{"flush":"none"|"64k"|"16x64k","wait_us_p50":..,"wait_us_p99":..,
 *             "wait_us_max":..,"owner_ns_per_64k_step":..},...]}
 * Exit status: 0; 1 if an item was lost (delivered but neither processed nor refused).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tsq/owner.h>

#include "cpus.h"
#include "stats.h"

#define STEP_BYTES (64u << 10)
#define POOL 65536u /* items in flight at most: a 16 MiB operation at 5 us holds ~1000 */
#define ITEM_COST 1500u

struct bitem {
	struct tsq_owner_work work; /* first: process() casts back */
	uint64_t t_deliver;         /* ns, CLOCK_MONOTONIC */
	uint64_t step_deliver;      /* the owner's step count at delivery */
	int busy;                   /* 1 from delivery to processing (atomic) */
};

enum flush_mode { FLUSH_NONE, FLUSH_64K, FLUSH_16X64K };
static const char *const mode_name[] = { "none", "64k", "16x64k" };
static const char *const mode_desc[] = { "none (release only)", "64k (the seed)",
					 "16x64k (today)" };

struct config {
	size_t op_bytes;
	unsigned interval_ns;
	double seconds;
	int quick, json;
};

struct result {
	uint64_t delivered, direct, backlogged, dropped, pool_full, late, ops, samples;
	double p50_us, p99_us, max_us;
	uint64_t p50_steps, p99_steps, max_steps; /* the same waits, counted in owner steps */
	double owner_ns_per_step;                 /* no producer */
	double op_us; /* mean duration of one operation during the latency run */
};

static struct bench {
	struct tsq_owner o;
	struct bitem *pool;
	uint64_t *samples[3];      /* per mode: wait in ns, one per processed item */
	uint64_t *step_samples[3]; /* per mode: wait in 64 KiB steps of the owner */
	uint64_t nsamples[3];      /* (atomic) */
	uint64_t cap;
	uint64_t steps; /* 64 KiB steps done by the owner, ever (atomic; owner-written) */
	int stop_producer, stop_owner; /* (atomic) */
	unsigned char *src, *dst;
	enum flush_mode mode;
	const struct config *cfg;
	/* per mode, summed over the rounds; each written by one thread at a time */
	uint64_t delivered[3], dropped[3], pool_full[3], ops[3], owner_ns[3];
	uint64_t direct[3], backlogged[3], late[3];
} B;

static void process(struct tsq_owner *o, struct tsq_owner_work *w, enum tsq_owner_how how)
{
	struct bitem *it = (struct bitem *)w;
	uint64_t t = bench_now_ns(), i = tsq_fetch_add(&B.nsamples[B.mode], 1, TSQ_RELAXED);

	(void)o;
	(void)how;
	if (i < B.cap) {
		B.samples[B.mode][i] = t - it->t_deliver;
		B.step_samples[B.mode][i] = tsq_load(&B.steps, TSQ_RELAXED) - it->step_deliver;
	}
	/* R1: release; pairs with A1 in producer(): the item may be reused after this. */
	tsq_store(&it->busy, 0, TSQ_RELEASE);
}

static const struct tsq_owner_ops ops = { process, NULL };
/* A backlog limit no run reaches: the benchmark measures waiting, not refusals. */
static const struct tsq_owner_opts unbounded = { .size = sizeof(struct tsq_owner_opts),
						 .limit = UINT32_MAX };

static void *producer(void *arg)
{
	uint64_t next = bench_now_ns(), slot = 0;

	(void)arg;
	while (!tsq_load(&B.stop_producer, TSQ_RELAXED)) {
		struct bitem *it = &B.pool[slot % POOL];
		int rc;

		uint64_t t = bench_now_ns();

		/*
		 * A steady arrival rate: after a preemption the missed ticks are dropped, not
		 * delivered in a burst (a burst would be a different experiment).
		 */
		next += B.cfg->interval_ns;
		if (t > next + B.cfg->interval_ns) {
			B.late[B.mode]++;
			next = t;
		}
		while (t < next)
			t = bench_now_ns();
		/* A1: acquire; pairs with R1 in process(). */
		if (tsq_load(&it->busy, TSQ_ACQUIRE)) {
			B.pool_full[B.mode]++;
			continue;
		}
		slot++;
		tsq_store(&it->busy, 1, TSQ_RELAXED);
		it->t_deliver = bench_now_ns();
		it->step_deliver = tsq_load(&B.steps, TSQ_RELAXED);
		rc = tsq_owner_deliver(&B.o, &it->work, ITEM_COST, 0);
		B.delivered[B.mode]++;
		if (rc == -ENOBUFS) {
			B.dropped[B.mode]++;
			tsq_store(&it->busy, 0, TSQ_RELAXED);
		}
	}
	return NULL;
}

/* One operation: op_bytes in 64 KiB copies, flushing as the mode says. */
static void operation(enum flush_mode mode)
{
	size_t steps = (B.cfg->op_bytes + STEP_BYTES - 1) / STEP_BYTES;
	unsigned n = 0;

	for (size_t s = 0; s < steps; s++) {
		memcpy(B.dst + s * STEP_BYTES, B.src + s * STEP_BYTES, STEP_BYTES);
		tsq_store(&B.steps, tsq_load(&B.steps, TSQ_RELAXED) + 1, TSQ_RELAXED);
		if (mode == FLUSH_64K)
			tsq_owner_flush(&B.o);
		else if (mode == FLUSH_16X64K)
			tsq_owner_flush_every(&B.o, &n, 16);
	}
	/* Keep the copies: the compiler may not drop a memcpy whose result is never read. */
	__asm__ __volatile__("" : : "r"(B.dst) : "memory");
}

static void *owner(void *arg)
{
	(void)arg;
	while (!tsq_load(&B.stop_owner, TSQ_RELAXED)) {
		uint64_t t0;

		tsq_owner_acquire(&B.o);
		t0 = bench_now_ns();
		operation(B.mode);
		B.owner_ns[B.mode] += bench_now_ns() - t0;
		tsq_owner_release(&B.o);
		B.ops[B.mode]++;
	}
	return NULL;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Owner cost with nothing queued: best of a few repetitions, ns per 64 KiB step. */
static double owner_cost(enum flush_mode mode)
{
	size_t steps = (B.cfg->op_bytes + STEP_BYTES - 1) / STEP_BYTES;
	unsigned rounds = 3;
	size_t ops_per_round = (B.cfg->quick ? 8u : 32u) * 1024 * 1024 / (steps * STEP_BYTES);
	double best = 1e300;

	if (ops_per_round == 0)
		ops_per_round = 1;
	tsq_owner_acquire(&B.o);
	for (unsigned r = 0; r < rounds; r++) {
		uint64_t t0 = bench_now_ns();

		double ns;

		for (size_t i = 0; i < ops_per_round; i++)
			operation(mode);
		ns = (double)(bench_now_ns() - t0) / (double)(ops_per_round * steps);
		best = ns < best ? ns : best;
	}
	tsq_owner_release(&B.o);
	return best;
}

/* ns per tsq_owner_flush() call on an empty backlog, the check alone. */
static double flush_check_ns(int quick)
{
	unsigned long n = quick ? 1000000ul : 20000000ul;
	unsigned long ran = 0;
	uint64_t t0;
	double ns;

	tsq_owner_acquire(&B.o);
	t0 = bench_now_ns();
	for (unsigned long i = 0; i < n; i++)
		ran += tsq_owner_flush(&B.o);
	ns = (double)(bench_now_ns() - t0) / (double)n;
	tsq_owner_release(&B.o);
	return ran == 0 ? ns : -1;
}

/* One segment of a mode: the owner cost alone, then owner + producer for `seconds`. */
static int run_segment(enum flush_mode mode, double seconds, double *best_ns_per_step)
{
	pthread_t po, pp;
	struct bench_cpus cpus;
	struct tsq_owner_stats st;
	double ns;

	B.mode = mode;
	B.stop_producer = B.stop_owner = 0;
	for (unsigned i = 0; i < POOL; i++)
		B.pool[i].busy = 0;
	if (tsq_owner_init(&B.o, &ops, &unbounded) != 0)
		return -1;
	ns = owner_cost(mode);
	*best_ns_per_step = ns < *best_ns_per_step ? ns : *best_ns_per_step;
	if (pthread_create(&po, NULL, owner, NULL) != 0 ||
	    pthread_create(&pp, NULL, producer, NULL) != 0)
		return -1;
	/* The owner and the producer on two CPUs (cpus.h; failure only means an unpinned run). */
	bench_cpus_get(&cpus);
	bench_pin(&cpus, po, 0);
	bench_pin(&cpus, pp, 1);
	sleep_s(seconds);
	tsq_store(&B.stop_producer, 1, TSQ_RELAXED);
	pthread_join(pp, NULL);
	tsq_store(&B.stop_owner, 1, TSQ_RELAXED);
	pthread_join(po, NULL); /* its last release drains what is left */
	tsq_owner_stats(&B.o, &st);
	B.direct[mode] += st.inline_runs;
	B.backlogged[mode] += st.backlogged;
	return tsq_owner_destroy(&B.o) == 0 ? 0 : -1;
}

static int summarize(enum flush_mode mode, double best_ns, struct result *r)
{
	uint64_t n = B.nsamples[mode] < B.cap ? B.nsamples[mode] : B.cap;

	memset(r, 0, sizeof(*r));
	r->delivered = B.delivered[mode];
	r->direct = B.direct[mode];
	r->backlogged = B.backlogged[mode];
	r->dropped = B.dropped[mode];
	r->pool_full = B.pool_full[mode];
	r->late = B.late[mode];
	r->ops = B.ops[mode];
	r->samples = n;
	r->owner_ns_per_step = best_ns;
	r->op_us = r->ops ? (double)B.owner_ns[mode] / (double)r->ops / 1e3 : 0;
	if (B.nsamples[mode] + r->dropped != r->delivered) {
		fprintf(stderr,
			"tsq-backlog-latency: %s: %llu delivered, %llu processed, %llu dropped\n",
			mode_name[mode], (unsigned long long)r->delivered,
			(unsigned long long)B.nsamples[mode], (unsigned long long)r->dropped);
		return 1;
	}
	if (n == 0)
		return 0;
	/* Percentiles: stats.h (nearest rank); p100 is the maximum. */
	bench_sort_u64(B.samples[mode], n);
	bench_sort_u64(B.step_samples[mode], n);
	r->p50_us = (double)bench_percentile_u64(B.samples[mode], n, 50) / 1e3;
	r->p99_us = (double)bench_percentile_u64(B.samples[mode], n, 99) / 1e3;
	r->max_us = (double)bench_percentile_u64(B.samples[mode], n, 100) / 1e3;
	r->p50_steps = bench_percentile_u64(B.step_samples[mode], n, 50);
	r->p99_steps = bench_percentile_u64(B.step_samples[mode], n, 99);
	r->max_steps = bench_percentile_u64(B.step_samples[mode], n, 100);
	return 0;
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [--quick] [--json] [--op-bytes N[K|M]] [--interval-us N] [--seconds S]\n"
		"  Wait of work items in a tsq_owner backlog while the owner runs an operation of\n"
		"  --op-bytes (default 1M) in 64 KiB memcpy steps, with no flush, a flush every\n"
		"  64 KiB (the seed) and every 16 x 64 KiB (today's kernel); a producer delivers an\n"
		"  item every --interval-us (default 5). --seconds per mode (default 2, taken in\n"
		"  turns of ~0.25 s; --quick: 0.1). Waits are reported in us and in owner steps.\n"
		"  --json prints {\"runs\":[{\"flush\":...,\"wait_us_p50\":...,\"wait_us_p99\":...,\n"
		"  \"wait_us_max\":...,\"owner_ns_per_64k_step\":...},...]}\n",
		argv0);
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end != '\0' || v == 0 || v > (4ull << 30))
		return -1;
	*out = (size_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg = { 1u << 20, 5000, 2.0, 0, 0 };
	struct result res[3];
	double seconds = -1, check_ns, best_ns[3] = { 1e300, 1e300, 1e300 };
	unsigned rounds;
	size_t buf, steps;
	int err = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			cfg.quick = 1;
		} else if (strcmp(argv[i], "--json") == 0) {
			cfg.json = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout, argv[0]);
			return 0;
		} else if (strcmp(argv[i], "--op-bytes") == 0 && i + 1 < argc) {
			if (parse_size(argv[++i], &cfg.op_bytes) != 0) {
				usage(stderr, argv[0]);
				return 2;
			}
		} else if (strcmp(argv[i], "--interval-us") == 0 && i + 1 < argc) {
			double us = atof(argv[++i]);

			if (!(us >= 0.1 && us < 1e6)) {
				usage(stderr, argv[0]);
				return 2;
			}
			cfg.interval_ns = (unsigned)(us * 1000);
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
			if (!(seconds > 0 && seconds < 3600)) {
				usage(stderr, argv[0]);
				return 2;
			}
		} else {
			usage(stderr, argv[0]);
			return 2;
		}
	}
	cfg.seconds = seconds > 0 ? seconds : cfg.quick ? 0.1 : 2.0;
	/*
	 * The modes take turns in segments of about 0.25 s (starting with a different mode each
	 * round), so a machine whose load changes during the run disturbs all three alike.
	 */
	rounds = cfg.quick ? 1 : (unsigned)(cfg.seconds / 0.25 + 0.5);
	rounds = rounds == 0 ? 1 : rounds;
	B.cfg = &cfg;
	steps = (cfg.op_bytes + STEP_BYTES - 1) / STEP_BYTES;
	buf = steps * STEP_BYTES;
	B.src = malloc(buf);
	B.dst = malloc(buf);
	B.pool = calloc(POOL, sizeof(*B.pool));
	/* Samples per mode: the ticks of `seconds` plus the overshoot of each segment's sleep. */
	B.cap = (uint64_t)(cfg.seconds * 1.5e9 / cfg.interval_ns) + 65536;
	for (int m = 0; m < 3; m++) {
		B.samples[m] = malloc(B.cap * sizeof(uint64_t));
		B.step_samples[m] = malloc(B.cap * sizeof(uint64_t));
		if (B.samples[m] == NULL || B.step_samples[m] == NULL)
			B.src = NULL;
	}
	if (B.src == NULL || B.dst == NULL || B.pool == NULL) {
		fprintf(stderr, "tsq-backlog-latency: out of memory\n");
		return 1;
	}
	memset(B.src, 0x5a, buf);
	memset(B.dst, 0, buf);

	if (tsq_owner_init(&B.o, &ops, &unbounded) != 0)
		return 1;
	check_ns = flush_check_ns(cfg.quick);
	tsq_owner_destroy(&B.o);
	for (unsigned r = 0; r < rounds && err == 0; r++)
		for (unsigned k = 0; k < 3 && err == 0; k++) {
			enum flush_mode m = (enum flush_mode)((r + k) % 3);

			err = run_segment(m, cfg.seconds / rounds, &best_ns[m]);
		}
	for (int m = 0; m < 3 && err == 0; m++)
		err = summarize((enum flush_mode)m, best_ns[m], &res[m]);
	if (err != 0)
		return 1;

	if (cfg.json) {
		printf("{\"runs\":[");
		for (int m = 0; m < 3; m++)
			printf("%s{\"flush\":\"%s\",\"wait_us_p50\":%.2f,\"wait_us_p99\":%.2f,"
			       "\"wait_us_max\":%.2f,\"owner_ns_per_64k_step\":%.1f}",
			       m ? "," : "", mode_name[m], res[m].p50_us, res[m].p99_us,
			       res[m].max_us, res[m].owner_ns_per_step);
		printf("]}\n");
	} else {
		printf("tsq-backlog-latency: operation %zu KiB = %zu x 64 KiB memcpy steps, an item every "
		       "%.1f us, %.2f s per mode in %u rounds\n",
		       cfg.op_bytes >> 10, steps, cfg.interval_ns / 1e3, cfg.seconds, rounds);
		printf("%-19s %8s %8s %7s %7s | %8s %8s %8s | %5s %5s %5s | %8s\n", "flush",
		       "items", "direct", "dropped", "op us", "wait p50", "p99 us", "max us",
		       "steps", "p99", "max", "ns/step");
		for (int m = 0; m < 3; m++) {
			const struct result *r = &res[m];

			printf("%-19s %8llu %8llu %7llu %7.1f | %8.2f %8.2f %8.1f | %5llu %5llu %5llu | "
			       "%8.1f\n",
			       mode_desc[m], (unsigned long long)r->samples,
			       (unsigned long long)r->direct, (unsigned long long)r->dropped,
			       r->op_us, r->p50_us, r->p99_us, r->max_us,
			       (unsigned long long)r->p50_steps, (unsigned long long)r->p99_steps,
			       (unsigned long long)r->max_steps, r->owner_ns_per_step);
			if (r->pool_full)
				printf("  (%llu ticks skipped: item pool full)\n",
				       (unsigned long long)r->pool_full);
			if (r->samples < r->delivered - r->dropped)
				printf("  (only the first %llu waits kept)\n",
				       (unsigned long long)r->samples);
		}
		printf("producer ticks lost to preemption (>1 interval late, skipped): %llu, %llu, %llu\n",
		       (unsigned long long)res[0].late, (unsigned long long)res[1].late,
		       (unsigned long long)res[2].late);
		printf("wait: from tsq_owner_deliver() to process(), in us and in 64 KiB steps the owner "
		       "completed meanwhile\n(the flush interval is 1 step for 64k, 16 for 16x64k, the "
		       "whole operation for none);\nop us: one operation with the producer running; "
		       "ns/step: owner alone, nothing queued, best of %u x 3 repetitions;\n"
		       "the flush check alone: %.2f ns per tsq_owner_flush() on an empty backlog\n",
		       rounds, check_ns);
	}
	free(B.src);
	free(B.dst);
	free(B.pool);
	for (int m = 0; m < 3; m++) {
		free(B.samples[m]);
		free(B.step_samples[m]);
	}
	return 0;
}
