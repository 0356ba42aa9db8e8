/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the rate tsq/budget.h learns from completions: the input bytes are a
 * single-threaded sequence of operations on one budget - may_send + charge (costs 0, 1, MTU,
 * 64 KiB, 2^32 - 1, any u32), completions of the oldest unit in flight through
 * tsq_budget_complete_at or tsq_budget_complete (whose clock, TSQ_CFG_NOW_NS(), is the
 * fuzzer's: it steps the window only when the bytes cross 2^clock_shift), the clock moving by 0 .. 7 ns, microseconds to seconds, 2^40 and
 * 2^62 ns, or backwards, tsq_budget_set_pacing_rate (any u64, 0 and UNLIMITED included) and
 * tsq_budget_learn_rate - after a configuration (window 1 ns .. 2^40 ns or the default, a
 * cap, a start time anywhere in the 64-bit clock, a delivered count near its wrap).
 * Each operation runs on a reference model too; after every one they must agree on the
 * rate, the limit for several costs (before the first sample, the startup limit), the bytes
 * and units in flight and the sample counters.
 * The model is written differently: 128-bit totals that never wrap and an exact 128-bit
 * division for the rate (windows over 2^64 / 1e9 ns, where the header scales the interval
 * down, are held to the exact value within 2^-30 instead). Also checked: a learned rate is
 * never 0; a stop (may_send false) always leaves a unit in flight whose completion restarts
 * the flow - no lost restart, whatever the limit does meanwhile.
 *
 * Built two ways (tests/tsq_small_queues.cmake): budget_rate_fuzz (clang, -DTSQ_FUZZ=ON,
 * label fuzz) and budget_rate_fuzz_replay (N deterministic pseudo-random inputs, label unit).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tsq_budget_complete()'s clock is the fuzzer's: the same `now` as tsq_budget_complete_at(). */
static uint64_t now;
static uint64_t fuzz_now(void)
{
	return now;
}
#define TSQ_CFG_NOW_NS() fuzz_now()

#include <tsq/budget.h>

#define FUZZ_NAME "budget_rate_fuzz"
static unsigned op_no;
#include "fuzz_input.h"

__extension__ typedef unsigned __int128 u128;

#define MAX_UNITS 4096

static struct model {
	bool learning, win_new, win_idle;
	unsigned clock_shift; /* tsq_budget_complete() steps the window on crossing 2^this */
	uint64_t rate, est, prev, t0, window, cap;
	u128 delivered, d0; /* never wrap */
	uint64_t samples, restarts;
	uint32_t units[MAX_UNITS]; /* in flight, oldest first */
	unsigned head, n;
	u128 inflight_bytes;
} m;

static struct tsq_budget b;
static struct tsq_flags fl;
static bool stopped; /* may_send said stop: THROTTLED, waiting for the restart */

/* bytes * 1e9 / ns, exact, saturating; for long windows the header's scaled value, checked. */
static uint64_t m_rate_of(u128 bytes, uint64_t ns)
{
	u128 exact = bytes * 1000000000u / ns;
	uint64_t hdr;

	if (exact > UINT64_MAX)
		exact = UINT64_MAX;
	if (ns <= UINT64_MAX / 1000000000u)
		return (uint64_t)exact;
	hdr = tsq__budget_rate_of((uint64_t)bytes, ns);
	CHECK(hdr + (uint64_t)(exact >> 30) + 1 >= exact && hdr <= exact + (exact >> 30) + 1,
	      "rate over a long window: %" PRIu64 ", exact %" PRIu64, hdr, (uint64_t)exact);
	return hdr;
}

static uint64_t m_limit(uint32_t cost, unsigned factor)
{
	uint64_t rate = m.learning ? m.est : m.rate;
	u128 limit = rate >> b.pacing_shift;

	/* Learning with no sample yet: the startup limit stands in for the pacing term. */
	if (m.learning && m.est == TSQ_BUDGET_RATE_UNLIMITED)
		limit = TSQ_BUDGET_CAP_2012;
	if (limit < 2 * (u128)cost)
		limit = 2 * (u128)cost;
	if (limit > m.cap)
		limit = m.cap;
	limit <<= factor;
	if (limit > TSQ_BUDGET_MAX_INFLIGHT)
		limit = TSQ_BUDGET_MAX_INFLIGHT;
	return (uint64_t)limit;
}

/* ~1/16 of a window's bytes at `rate`, as a power of two: log2 rate + log2 window - 34. */
static unsigned m_clock_shift(uint64_t rate, uint64_t window)
{
	int lr = 0, lw = 0, s;

	if (rate == 0 || window == 0)
		return 0;
	while (lr < 63 && (rate >> (lr + 1)) != 0)
		lr++;
	while (lw < 63 && (window >> (lw + 1)) != 0)
		lw++;
	s = lr + lw - 34;
	return s < 0 ? 0 : s > 40 ? 40 : (unsigned)s;
}

/* via_complete: tsq_budget_complete(), whose window steps only when the bytes cross
 * 2^clock_shift; else tsq_budget_complete_at(). */
static void m_complete(uint32_t cost, bool emptied, bool via_complete)
{
	uint64_t t = now & ~7ull;
	bool clocked;

	if (!m.learning)
		return;
	m.delivered += cost;
	clocked = !via_complete || (((uint64_t)(m.delivered - cost) >> m.clock_shift) !=
				    ((uint64_t)m.delivered >> m.clock_shift));
	if (clocked && (m.win_new || t < m.t0 || t - m.t0 >= m.window)) {
		bool took = false;

		if (m.win_new) {
			m.prev = 0;
		} else if (t > m.t0) {
			uint64_t s = m_rate_of(m.delivered - m.d0, t - m.t0);

			s = s == 0 ? 1 : s == UINT64_MAX ? UINT64_MAX - 1 : s;
			if (!(m.win_idle && m.est != TSQ_BUDGET_RATE_UNLIMITED && s < m.est)) {
				m.est = s > m.prev ? s : m.prev;
				m.prev = s;
				m.clock_shift = m_clock_shift(m.est, m.window);
				took = true;
				CHECK(m.est != TSQ_BUDGET_RATE_UNLIMITED,
				      "a learned rate of UNLIMITED");
			}
		}
		if (took)
			m.samples++;
		else
			m.restarts++;
		m.d0 = m.delivered;
		m.t0 = t;
		m.win_new = m.win_idle = false;
	}
	if (emptied)
		m.win_idle = true;
}

static void compare(void)
{
	static const uint32_t costs[] = { 0, 1, 1538, 65536, UINT32_MAX };
	struct tsq_budget_stats s;
	uint64_t rate = m.learning ? m.est : m.rate;

	tsq_budget_stats(&b, &s);
	CHECK(tsq_budget_rate(&b) == rate, "rate %" PRIu64 ", model %" PRIu64, tsq_budget_rate(&b),
	      rate);
	CHECK(s.rate == rate, "stats.rate");
	CHECK(!m.learning || rate != 0, "a learned rate of 0");
	CHECK(s.rate_samples == m.samples && s.rate_restarts == m.restarts,
	      "samples %" PRIu64 "/%" PRIu64 ", model %" PRIu64 "/%" PRIu64, s.rate_samples,
	      s.rate_restarts, m.samples, m.restarts);
	CHECK(s.inflight_units == m.n && s.inflight_bytes == (uint64_t)m.inflight_bytes,
	      "in flight");
	CHECK(b.clock_shift == m.clock_shift, "clock shift %u, model %u", b.clock_shift,
	      m.clock_shift);
	for (unsigned i = 0; i < sizeof(costs) / sizeof(costs[0]); i++)
		for (unsigned f = 0; f < 2; f++)
			CHECK(tsq_budget_limit(&b, costs[i], f) == m_limit(costs[i], f),
			      "limit(%u, %u): %" PRIu64 ", model %" PRIu64, costs[i], f,
			      tsq_budget_limit(&b, costs[i], f), m_limit(costs[i], f));
	/* No lost restart: a stopped sender always has a unit in flight to restart it. */
	CHECK(!stopped || m.n > 0, "stopped with nothing in flight");
}

static uint32_t pick_cost(struct reader *r)
{
	switch (get8(r) % 8) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return 1538;
	case 3:
		return 65536;
	case 4:
		return UINT32_MAX;
	case 5:
		return (uint32_t)get_bytes(r, 4);
	default:
		return 64 + (uint32_t)get_bytes(r, 2);
	}
}

static void clock_step(struct reader *r)
{
	uint64_t v = get8(r);

	switch (get8(r) % 8) {
	case 0:
		now += v % 8;
		break;
	case 1:
		now += v * 1000;
		break;
	case 2:
		now += v * 100000;
		break;
	case 3:
		now += v * 100000000;
		break;
	case 4:
		now += 1ull << 40;
		break;
	case 5:
		now += 1ull << 62;
		break;
	case 6:
		now -= v * 1000000; /* backwards */
		break;
	default:
		now += v * 10000;
		break;
	}
}

static void op_send(struct reader *r)
{
	uint32_t cost = pick_cost(r);
	bool go = tsq_budget_may_send(&b, &fl, cost, 0);
	uint64_t inflight = (uint64_t)m.inflight_bytes;

	/* The limit's promise: go while in flight < limit (or nothing is), stop otherwise. */
	CHECK(go == (m.n == 0 || inflight < m_limit(cost, 0)), "may_send(%u): %d", cost, go);
	if (!go) {
		stopped = true;
		return;
	}
	if (m.n == MAX_UNITS || (tsq_flags_load(&fl) & TSQ_F_THROTTLED))
		return; /* a stopped sender waits for its restart */
	tsq_budget_charge(&b, cost);
	m.units[(m.head + m.n++) % MAX_UNITS] = cost;
	m.inflight_bytes += cost;
}

static void op_complete(bool via_complete)
{
	uint32_t cost;
	bool restart;

	if (m.n == 0)
		return;
	cost = m.units[m.head];
	m.head = (m.head + 1) % MAX_UNITS;
	m.n--;
	m.inflight_bytes -= cost;
	restart = via_complete ? tsq_budget_complete(&b, &fl, cost) :
				 tsq_budget_complete_at(&b, &fl, cost, now);
	m_complete(cost, m.n == 0, via_complete);
	CHECK(restart == stopped, "completion restart %d, sender stopped %d", restart, stopped);
	if (restart) {
		stopped = false;
		tsq_flags_unqueue(&fl); /* the worker: QUEUED off, then send */
	}
}

static void configure(struct reader *r)
{
	struct tsq_budget_opts o;
	unsigned sel;

	memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	o.size = sizeof(o);
	o.rate_window_ns = get8(r) % 3 == 0 ? 0 : get_bytes(r, 5) >> (get8(r) % 40);
	/* The cap: the default, any u32, or one around the startup limit (128 KiB). */
	sel = get8(r) % 3;
	o.cap = sel == 0 ? 0 : sel == 1 ? get_bytes(r, 4) : get_bytes(r, 3) >> (get8(r) % 8);
	now = get_bytes(r, 8);
	CHECK(tsq_budget_init(&b, &o) == 0, "init");
	tsq_flags_init(&fl);
	stopped = false;
	m.learning = true;
	m.win_new = true;
	m.est = TSQ_BUDGET_RATE_UNLIMITED;
	m.rate = TSQ_BUDGET_RATE_UNLIMITED;
	m.window = o.rate_window_ns != 0 ? o.rate_window_ns : TSQ_BUDGET_RATE_WINDOW_NS_DEFAULT;
	m.cap = o.cap != 0 ? o.cap : TSQ_BUDGET_CAP_DEFAULT;
	if (get8(r) % 2 == 0) {
		b.delivered = UINT64_MAX - (get_bytes(r, 2) << 16); /* white-box: near the wrap */
		m.delivered = b.delivered;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };

	op_no = 0;
	configure(&r);
	compare();
	while (r.n > 0 && op_no < 4000) {
		uint64_t v;

		op_no++;
		switch (get8(&r) % 10) {
		case 0:
		case 1:
		case 2:
			op_send(&r);
			break;
		case 3:
		case 4:
			op_complete(false);
			break;
		case 5:
			op_complete(true);
			break;
		case 6:
		case 7:
			clock_step(&r);
			break;
		case 8:
			v = get8(&r) % 4 == 0 ? TSQ_BUDGET_RATE_UNLIMITED :
						get_bytes(&r, 1 + get8(&r) % 8);
			tsq_budget_set_pacing_rate(&b, v);
			m.learning = false;
			m.rate = v;
			break;
		default:
			tsq_budget_learn_rate(&b);
			m.learning = m.win_new = true;
			m.est = TSQ_BUDGET_RATE_UNLIMITED;
			m.clock_shift = 0;
			break;
		}
		compare();
	}
	/* Drain: every unit completes; a stopped sender is restarted by one of them. */
	while (m.n > 0) {
		op_no++;
		op_complete(m.n % 2 == 0);
		compare();
	}
	CHECK(!stopped, "stopped after everything completed");
	return 0;
}

#ifdef TSQ_FUZZ_REPLAY_MAIN
#define TSQ_FUZZ_NAME FUZZ_NAME
#include "replay_main.h"
#endif
