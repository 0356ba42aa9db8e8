/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/dql/sim_dql.c - does tsq_dql size a TX ring the way Byte Queue Limits should?
 *
 * A deterministic discrete-event simulation (a virtual clock in nanoseconds, one thread, no
 * real time) of one device TX ring, so that the figures hold on any machine, in CI and under
 * valgrind.
 *
 * The model
 *   - A backlogged stack always has frames of FRAME_BYTES to send. While the queue is not
 *     stopped it fills the ring: one tsq_dql_tx_sent() per frame (the real code), until the
 *     call returns TSQ_DQL_STOPPED or the ring's RING_SLOTS descriptors are all in use.
 *   - The device sends the ring's frames in order at the line rate of the current phase
 *     (the rate changes between phases: the completion rate varies).
 *   - Completions are batched the way NICs moderate interrupts: the interrupt fires when
 *     BATCH_FRAMES frames have been sent since the last one, or COALESCE_NS after the first
 *     of them, whichever comes first; the driver's completion handler runs IRQ_NS later and
 *     reports every frame sent by then with one tsq_dql_tx_completed() - the real code. A
 *     TSQ_DQL_RESTART return restarts the stack at once.
 *   - "one completion batch" is what one completion reports, in time: the interval between
 *     interrupts plus the handler's latency, min(BATCH_FRAMES frame times, max(COALESCE_NS,
 *     one frame time)) + IRQ_NS (at 100 Mbit/s a frame takes longer than COALESCE_NS, so
 *     each interrupt reports one frame, one frame time apart).
 *   Beside tsq_dql, the same ring limited to a fixed 64 and a fixed 2048 frames in flight.
 *   Measured over the second half of each phase (the first half lets the limit converge;
 *   the default hold time is the kernel's 1 s): the device's busy fraction (it could always
 *   send: the stack is backlogged; also given over the whole phase, transient included), each
 *   frame's queueing delay (handed to the ring -> its first bit on the wire; median and p99),
 *   the limit (min and max: converged means they are close), when it last left that range
 *   (convergence time after the rate change) and the stops.
 *
 * Limitations
 *   One ring, one backlogged flow, fixed-size frames, no qdisc in front of the ring (the
 *   delay measured is the ring's own). A completion is reported only through the modelled
 *   interrupt (no polling between interrupts).
 *
 * Usage
 *   tsq-sim-dql            table: each phase x {dql, fixed 64, fixed 2048}
 *   tsq-sim-dql --json     one JSON object {"runs":[...]}
 *   tsq-sim-dql --check    exit 1 unless the goals hold (deterministic)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsq/dql.h>

#include "stats.h"

/* A 1500-byte MTU frame with its Ethernet header (the bytes the driver accounts). */
#define FRAME_BYTES 1514u
/* On the wire: + FCS 4 + preamble 8 + inter-frame gap 12. */
#define FRAME_WIRE_BYTES (FRAME_BYTES + 24u)
/* Descriptors in the ring: the hard cap under any limit. */
#define RING_SLOTS 4096u
/* Interrupt moderation: ethtool's tx-frames / tx-usecs on common 10-25G NICs. */
#define BATCH_FRAMES 64u
#define COALESCE_NS 50000ull
/* Interrupt -> the driver's completion handler runs. */
#define IRQ_NS 5000ull

#define NS_PER_S 1000000000ull

struct phase {
	uint64_t rate_bps;
	uint64_t dur_ns;
};

/* The completion rate varies: fast, slow, faster, very slow, fast again. */
static const struct phase phases[] = {
	{ 10000000000ull, 3 * NS_PER_S }, { 1000000000ull, 3 * NS_PER_S },
	{ 25000000000ull, 3 * NS_PER_S }, { 100000000ull, 3 * NS_PER_S },
	{ 10000000000ull, 3 * NS_PER_S },
};
#define NPHASES (sizeof(phases) / sizeof(phases[0]))

enum scheme { S_DQL, S_FIXED64, S_FIXED2048, NSCHEMES };
static const char *const scheme_name[NSCHEMES] = { "dql", "fixed64", "fixed2048" };

struct result {
	uint64_t rate_bps;
	enum scheme scheme;
	double busy;                   /* busy time / window */
	double busy_phase;             /* busy time / whole phase */
	double converged_ms;           /* last time in the phase the limit was outside [min, max] */
	double p50_us, p99_us;         /* queueing delay */
	double batch_us;               /* one completion batch */
	uint32_t limit_min, limit_max; /* bytes (dql) or frames x FRAME_BYTES (fixed) */
	uint64_t stops, frames;
};

/* ---- the simulation ------------------------------------------------------------------------ */

static uint64_t *enq_time; /* per frame, by index mod RING_SLOTS */
static uint64_t *delays;
static size_t ndelays, cap_delays;

/* The p-th percentile (stats.h: nearest rank, p in percent) of the sorted delays, in us. */
static double pct_us(double p)
{
	return (double)bench_percentile_u64(delays, ndelays, p) / 1e3;
}

static void note_delay(uint64_t d)
{
	if (ndelays == cap_delays) {
		cap_delays = cap_delays ? cap_delays * 2 : 1 << 20;
		delays = realloc(delays, cap_delays * sizeof(*delays));
		if (delays == NULL) {
			fprintf(stderr, "tsq-sim-dql: out of memory\n");
			exit(2);
		}
	}
	delays[ndelays++] = d;
}

static uint64_t hold_ns = TSQ_DQL_HOLD_NS_DEFAULT;

/* Limit changes within the current phase (time, value), for the convergence time. */
#define MAX_CHANGES 100000u
static uint64_t chg_time[MAX_CHANGES];
static uint32_t chg_limit[MAX_CHANGES];

static void simulate(enum scheme sch, struct result *res)
{
	struct tsq_dql q;
	uint64_t now = 0, enq = 0, txd = 0, cmp = 0;
	uint64_t tx_end = UINT64_MAX, irq_at = UINT64_MAX, handler_at = UINT64_MAX;
	uint64_t since_irq = 0, fixed = sch == S_FIXED64 ? 64 : 2048;
	uint64_t phase_end = 0, win_start = 0, busy_ns = 0, stops = 0, stops0 = 0, frames0 = 0;
	uint64_t busy_all = 0, phase_start = 0, nchg = 0;
	uint32_t last_limit = UINT32_MAX;
	bool stopped = false;
	size_t p = 0;
	struct tsq_dql_opts cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg);
	cfg.hold_ns = hold_ns;
	if (tsq_dql_init(&q, &cfg, 0) != 0)
		abort();
	phase_end = phases[0].dur_ns;
	win_start = phases[0].dur_ns / 2;
	for (size_t i = 0; i < NPHASES; i++) {
		res[i].rate_bps = phases[i].rate_bps;
		res[i].scheme = sch;
		res[i].limit_min = UINT32_MAX;
		res[i].limit_max = 0;
	}
	ndelays = 0;

	for (;;) {
		uint64_t wire_ns = FRAME_WIRE_BYTES * 8ull * NS_PER_S / phases[p].rate_bps;
		uint64_t next;

		/* The stack fills the ring while it may. */
		while (!stopped && enq - cmp < RING_SLOTS && (sch == S_DQL || enq - cmp < fixed)) {
			enq_time[enq % RING_SLOTS] = now;
			enq++;
			if (sch == S_DQL &&
			    tsq_dql_tx_sent(&q, FRAME_BYTES, now) == TSQ_DQL_STOPPED) {
				stopped = true;
				stops++;
			}
		}
		if (sch != S_DQL && enq - cmp >= fixed && !stopped) {
			stopped = true; /* the driver stops the queue: its fixed ring is full */
			stops++;
		}
		/* The device starts the next frame when idle. */
		if (tx_end == UINT64_MAX && txd < enq) {
			uint64_t d = now - enq_time[txd % RING_SLOTS];

			if (now >= win_start)
				note_delay(d);
			tx_end = now + wire_ns;
			busy_ns += now >= win_start ? wire_ns : 0;
			busy_all += wire_ns;
		}
		next = tx_end < irq_at ? tx_end : irq_at;
		next = handler_at < next ? handler_at : next;
		if (next >= phase_end) {
			/* Close the phase: the window's figures, then the next rate. */
			struct result *r = &res[p];
			uint64_t win = phase_end - win_start;

			/* A frame still on the wire counted its whole time; take back the part after. */
			if (tx_end != UINT64_MAX && tx_end > phase_end) {
				busy_ns -= tx_end - phase_end;
				busy_all -= tx_end - phase_end;
			}
			r->busy = (double)busy_ns / (double)win;
			r->busy_phase = (double)busy_all / (double)phases[p].dur_ns;
			r->converged_ms = 0;
			for (uint64_t k = 0; k < nchg; k++)
				if (chg_limit[k] < r->limit_min || chg_limit[k] > r->limit_max)
					r->converged_ms = (double)(chg_time[k] - phase_start) / 1e6;
			bench_sort_u64(delays, ndelays);
			r->p50_us = pct_us(50);
			r->p99_us = pct_us(99);
			{
				uint64_t gap = COALESCE_NS > wire_ns ? COALESCE_NS : wire_ns;

				gap = BATCH_FRAMES * wire_ns < gap ? BATCH_FRAMES * wire_ns : gap;
				r->batch_us = (double)(gap + IRQ_NS) / 1e3;
			}
			r->stops = stops - stops0;
			r->frames = txd - frames0;
			if (sch != S_DQL)
				r->limit_min = r->limit_max = (uint32_t)(fixed * FRAME_BYTES);
			if (++p == NPHASES)
				break;
			now = phase_end;
			phase_start = phase_end;
			busy_all = tx_end != UINT64_MAX ? tx_end - phase_end :
							  0; /* finishing frame */
			nchg = 0;
			win_start = phase_end + phases[p].dur_ns / 2;
			phase_end += phases[p].dur_ns;
			busy_ns = 0; /* the window starts half a phase later */
			ndelays = 0;
			stops0 = stops;
			frames0 = txd;
			/* The frame on the wire finishes at the old rate. */
			continue;
		}
		now = next;
		if (now == tx_end) {
			txd++;
			tx_end = UINT64_MAX;
			if (since_irq++ == 0 && irq_at == UINT64_MAX && handler_at == UINT64_MAX)
				irq_at = now + COALESCE_NS;
			if (since_irq >= BATCH_FRAMES && handler_at == UINT64_MAX)
				irq_at = now;
		}
		if (now == irq_at) {
			irq_at = UINT64_MAX;
			handler_at = now + IRQ_NS;
		}
		if (now == handler_at) {
			uint64_t n = txd - cmp;

			handler_at = UINT64_MAX;
			since_irq = 0;
			if (n != 0) {
				if (sch == S_DQL) {
					int rc = tsq_dql_tx_completed(
						&q, (uint32_t)(n * FRAME_BYTES), now);

					if (rc == TSQ_DQL_RESTART)
						stopped = false;
				} else {
					stopped = false;
				}
				cmp += n;
			}
		}
		if (sch == S_DQL && tsq_dql_limit(&q) != last_limit) {
			last_limit = tsq_dql_limit(&q);
			if (nchg < MAX_CHANGES) {
				chg_time[nchg] = now;
				chg_limit[nchg++] = last_limit;
			}
		}
		if (sch == S_DQL && now >= win_start) {
			uint32_t l = tsq_dql_limit(&q);

			if (l < res[p].limit_min)
				res[p].limit_min = l;
			if (l > res[p].limit_max)
				res[p].limit_max = l;
		}
	}
}

/* ---- output ------------------------------------------------------------------------------------ */

static void print_table(const struct result *res)
{
	printf("tsq-sim-dql: one TX ring, %u-byte frames, completions every %u frames or %llu us "
	       "+ %llu us IRQ, hold %.3f s; second half of each %.0f s phase\n\n",
	       FRAME_BYTES, BATCH_FRAMES, COALESCE_NS / 1000, IRQ_NS / 1000, (double)hold_ns / 1e9,
	       (double)phases[0].dur_ns / 1e9);
	printf("| rate | ring limit | busy %% | busy %% (phase) | delay p50 (us) | delay p99 (us) | "
	       "one batch (us) | p99 / batch | limit min..max (frames) | converged (ms) | stops/s |\n");
	printf("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (size_t i = 0; i < NPHASES * NSCHEMES; i++) {
		const struct result *r = &res[i];
		double secs = (double)phases[0].dur_ns / 2e9;

		printf("| %g Gbit/s | %s | %.2f | %.2f | %.1f | %.1f | %.1f | %.2f | %.1f..%.1f | %.0f | %.0f |\n",
		       (double)r->rate_bps / 1e9, scheme_name[r->scheme], 100.0 * r->busy,
		       100.0 * r->busy_phase, r->p50_us, r->p99_us, r->batch_us,
		       r->p99_us / r->batch_us, (double)r->limit_min / FRAME_BYTES,
		       (double)r->limit_max / FRAME_BYTES, r->converged_ms,
		       (double)r->stops / secs);
	}
}

static void print_json(const struct result *res)
{
	printf("{\"frame_bytes\":%u,\"batch_frames\":%u,\"coalesce_ns\":%llu,\"irq_ns\":%llu,"
	       "\"hold_ns\":%" PRIu64 ",\"runs\":[",
	       FRAME_BYTES, BATCH_FRAMES, COALESCE_NS, IRQ_NS, hold_ns);
	for (size_t i = 0; i < NPHASES * NSCHEMES; i++) {
		const struct result *r = &res[i];

		printf("%s{\"phase\":%zu,\"rate_bps\":%" PRIu64 ",\"scheme\":\"%s\",\"busy\":%.6f,"
		       "\"busy_phase\":%.6f,\"delay_p50_us\":%.3f,\"delay_p99_us\":%.3f,\"batch_us\":%.3f,"
		       "\"limit_min\":%u,\"limit_max\":%u,\"converged_ms\":%.3f,\"stops\":%" PRIu64
		       ",\"frames\":%" PRIu64 "}",
		       i ? "," : "", i % NPHASES, r->rate_bps, scheme_name[r->scheme], r->busy,
		       r->busy_phase, r->p50_us, r->p99_us, r->batch_us, r->limit_min, r->limit_max,
		       r->converged_ms, r->stops, r->frames);
	}
	printf("]}\n");
}

/* ---- goals ----------------------------------------------------------------------------------- */

#define GOAL_BUSY 0.99
#define GOAL_DELAY_BATCHES 3.0 /* p99 queueing delay, in completion batches */
#define GOAL_LIMIT_SPREAD 1.5  /* converged: max / min of the limit over the window */

static int goal(FILE *out, bool ok, const struct result *r, const char *what, double v,
		const char *op, double bound)
{
	fprintf(out, "%s %6g Gbit/s %-9s %-28s %10.4g %s %g\n", ok ? "PASS" : "FAIL",
		(double)r->rate_bps / 1e9, scheme_name[r->scheme], what, v, op, bound);
	return ok ? 0 : 1;
}

static int check(const struct result *res, FILE *out)
{
	int failed = 0;

	for (size_t i = 0; i < NPHASES; i++) {
		const struct result *r = &res[S_DQL * NPHASES + i];

		failed |= goal(out, r->busy >= GOAL_BUSY, r, "busy", r->busy, ">=", GOAL_BUSY);
		failed |= goal(out, r->p99_us <= GOAL_DELAY_BATCHES * r->batch_us, r,
			       "delay p99 / one batch", r->p99_us / r->batch_us,
			       "<=", GOAL_DELAY_BATCHES);
		failed |= goal(out,
			       r->limit_min > 0 && r->limit_max <= GOAL_LIMIT_SPREAD * r->limit_min,
			       r, "limit max / min (converged)",
			       r->limit_min ? (double)r->limit_max / r->limit_min : 1e9,
			       "<=", GOAL_LIMIT_SPREAD);
	}
	return failed;
}

int main(int argc, char **argv)
{
	struct result res[NSCHEMES * NPHASES];
	bool json = false, do_check = false;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--check") == 0) {
			do_check = true;
		} else if (i + 1 < argc && strcmp(argv[i], "--hold-ms") == 0) {
			char *end;
			double v = strtod(argv[++i], &end);

			if (*end != '\0' || !(v >= 0 && v <= 1e6)) {
				fprintf(stderr, "tsq-sim-dql: bad --hold-ms\n");
				return 2;
			}
			hold_ns = (uint64_t)(v * 1e6);
		} else {
			fprintf(stderr, "usage: tsq-sim-dql [--json] [--check] [--hold-ms MS]\n");
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	enq_time = calloc(RING_SLOTS, sizeof(*enq_time));
	if (enq_time == NULL)
		return 2;
	for (int s = 0; s < NSCHEMES; s++)
		simulate((enum scheme)s, &res[s * NPHASES]);
	if (json)
		print_json(res);
	else
		print_table(res);
	if (do_check) {
		FILE *out = json ? stderr : stdout;

		if (!json)
			printf("\n");
		if (check(res, out) != 0) {
			fprintf(out, "tsq-sim-dql: goals NOT met\n");
			rc = 1;
		} else {
			fprintf(out, "tsq-sim-dql: all goals met\n");
		}
	}
	free(enq_time);
	free(delays);
	return rc;
}
