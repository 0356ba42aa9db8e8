/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for tsq/dql.h: the input bytes are a single-threaded sequence of
 * operations on one queue - tsq_dql_charge / tsq_dql_tx_sent (sizes 0, 1, MTU-sized, jumbo,
 * TSQ_DQL_MAX_OBJECT and one past it, any u32), tsq_dql_complete / tsq_dql_tx_completed
 * (part of what is in flight, all of it, one past it), the clock moving by nanoseconds to
 * seconds, tsq_dql_set_limits (valid and invalid), tsq_dql_set_hold_time, tsq_dql_reset,
 * tsq_dql_set_stall_thrs, and bursts of the largest objects up to the in-flight bound -
 * after a configuration (limits, hold time, stall threshold, a start time anywhere below
 * 2^62 ns).
 * Each operation runs on a reference model first and then on the real queue; they must
 * agree on every return code and, after every operation, on the limit, bytes in flight,
 * avail, STOPPED and every counter of tsq_dql_stats (stalls and stall_max_ns included).
 * The model is written differently from the header: 64-bit totals that never wrap (the
 * header's u32 counters wrap every 4 GiB, which bursts of the largest object reach within a
 * few operations), signed 64-bit arithmetic instead of POSDIFF/AFTER_EQ, and for the stall
 * detector a plain set of the ticks in which something was queued, trimmed to the four
 * newest 64-tick words, instead of the header's bitmap ring.
 * Any divergence abort()s with a line on stderr.
 *
 * Built two ways (tests/dql.cmake):
 *   dql_fuzz         clang -fsanitize=fuzzer,address,undefined (label fuzz);
 *   dql_fuzz_replay  TSQ_FUZZ_REPLAY_MAIN: a main() that feeds N deterministic pseudo-random
 *                    inputs (default 20000), or replays the files named on the command line.
 *
 * Input format: 6 configuration bytes, then one opcode byte per operation followed by its
 * parameters; reading past the end yields zeros, so every input is valid.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsq/dql.h>

#define FUZZ_NAME "dql_fuzz"
static unsigned op_no;
#include "fuzz_input.h"

#define MAX_TICKS 512

/* ---- the reference model ----------------------------------------------------------------- */

static struct model {
	uint64_t queued, completed; /* totals, never wrap */
	int64_t limit, min, max;
	uint64_t last_obj, prev_ov, prev_queued, prev_last_obj;
	int64_t lowest; /* -1: none */
	uint64_t slack_start, hold;
	int stopped;
	uint64_t stops, restarts, grows, shrinks, stalls, stall_max;
	uint64_t thrs, reap, head; /* head: newest 64-tick word of the history */
	uint64_t ticks[MAX_TICKS];
	unsigned nticks;
} m;

static struct tsq_dql q;
static uint64_t now;

static unsigned m_shift(uint64_t thrs)
{
	unsigned s = 0;

	/* the smallest power-of-two tick that divides the threshold into <= 64 ticks */
	while (s < 63 && (thrs >> s) + ((thrs & ((1ull << s) - 1)) != 0) > 64)
		s++;
	return s;
}

static void m_hist_reset(void)
{
	m.nticks = 0;
	m.head = (now >> m_shift(m.thrs)) / 64;
	m.reap = now;
}

static void m_reset(void)
{
	m.queued = m.completed = 0;
	m.limit = m.min;
	m.last_obj = m.prev_ov = m.prev_queued = m.prev_last_obj = 0;
	m.lowest = -1;
	m.slack_start = now;
	m.stopped = 0;
	m_hist_reset();
}

static void m_note(void)
{
	uint64_t tick = now >> m_shift(m.thrs), word = tick / 64;
	unsigned k = 0;

	if (word > m.head) {
		m.head = word;
		for (unsigned i = 0; i < m.nticks; i++) /* forget what left the four words */
			if (m.ticks[i] / 64 + 3 >= m.head)
				m.ticks[k++] = m.ticks[i];
		m.nticks = k;
	}
	for (unsigned i = 0; i < m.nticks; i++)
		if (m.ticks[i] == tick)
			return;
	CHECK(m.nticks < MAX_TICKS, "model: tick set full");
	m.ticks[m.nticks++] = tick;
}

static int m_queued(uint64_t count)
{
	if (count > TSQ_DQL_MAX_OBJECT)
		return -EINVAL;
	if (m.queued - m.completed + count > TSQ_DQL_MAX_INFLIGHT)
		return -EOVERFLOW;
	m.last_obj = count;
	m.queued += count;
	if (m.thrs != 0)
		m_note();
	return 0;
}

static int64_t m_avail(void)
{
	return m.limit - (int64_t)(m.queued - m.completed);
}

static void m_stall(void)
{
	unsigned s = m_shift(m.thrs);
	uint64_t lo, hi, best = UINT64_MAX;

	if (m.thrs != 0 && now - m.reap >= m.thrs) {
		lo = (m.reap >> s) + 1;
		if (m.head >= 3 && lo < (m.head - 3) * 64)
			lo = (m.head - 3) * 64;
		hi = m.head * 64 + 63;
		if (((now - m.thrs / 2) >> s) < hi)
			hi = (now - m.thrs / 2) >> s;
		for (unsigned i = 0; i < m.nticks; i++)
			if (m.ticks[i] >= lo && m.ticks[i] <= hi && m.ticks[i] < best)
				best = m.ticks[i];
		if (best != UINT64_MAX) {
			m.stalls++;
			if (now - (best << s) > m.stall_max)
				m.stall_max = now - (best << s);
		}
	}
	m.reap = now;
}

static int m_completed(uint64_t count)
{
	int64_t inflight = (int64_t)(m.queued - m.completed), ov, inprog, prev_inprog, next;
	uint64_t done;
	int all_prev;

	if ((int64_t)count > inflight)
		return -EINVAL;
	done = m.completed + count;
	ov = inflight > m.limit ? inflight - m.limit : 0;
	inprog = (int64_t)(m.queued - done);
	prev_inprog = (int64_t)m.prev_queued - (int64_t)m.completed;
	all_prev = done >= m.prev_queued;
	next = m.limit;
	if ((ov > 0 && inprog == 0) || (m.prev_ov > 0 && all_prev)) {
		next += (all_prev ? (int64_t)(done - m.prev_queued) : 0) + (int64_t)m.prev_ov;
		m.slack_start = now;
		m.lowest = -1;
	} else if (inprog > 0 && prev_inprog > 0 && !all_prev) {
		int64_t slack = m.limit + (int64_t)m.prev_ov - 2 * (int64_t)count;
		int64_t floor = m.prev_ov ? (int64_t)m.prev_last_obj - (int64_t)m.prev_ov : 0;

		if (slack < 0)
			slack = 0;
		if (slack < floor)
			slack = floor;
		if (m.lowest < 0 || slack < m.lowest)
			m.lowest = slack;
		if (now - m.slack_start > m.hold) {
			next -= m.lowest;
			if (next < 0)
				next = 0;
			m.slack_start = now;
			m.lowest = -1;
		}
	}
	next = next < m.min ? m.min : next;
	next = next > m.max ? m.max : next;
	if (next != m.limit) {
		if (next > m.limit)
			m.grows++;
		else
			m.shrinks++;
		m.limit = next;
		ov = 0;
	}
	m.prev_ov = (uint64_t)ov;
	m.prev_last_obj = m.last_obj;
	m.prev_queued = m.queued;
	m.completed = done;
	m_stall();
	return 0;
}

static int m_tx_sent(uint64_t count)
{
	int rc = m_queued(count);

	if (rc < 0 || m_avail() >= 0)
		return rc;
	m.stopped = 1; /* single-threaded: the re-check sees the same numbers */
	m.stops++;
	return TSQ_DQL_STOPPED;
}

static int m_tx_completed(uint64_t count)
{
	int rc;

	if (count == 0)
		return 0;
	rc = m_completed(count);
	if (rc < 0 || !m.stopped || m_avail() < 0)
		return rc;
	m.stopped = 0;
	m.restarts++;
	return TSQ_DQL_RESTART;
}

/* ---- comparison ----------------------------------------------------------------------------- */

static void compare(void)
{
	struct tsq_dql_stats s;

	CHECK(tsq_dql_stats(&q, &s) == 0, "stats");
	CHECK(s.limit == (uint64_t)m.limit, "limit %u, model %" PRId64, s.limit, m.limit);
	CHECK(s.inflight == m.queued - m.completed, "inflight %u, model %" PRIu64, s.inflight,
	      m.queued - m.completed);
	CHECK(s.avail == m_avail(), "avail %" PRId64 ", model %" PRId64, s.avail, m_avail());
	CHECK(tsq_dql_avail(&q) == s.avail && tsq_dql_inflight(&q) == s.inflight &&
		      tsq_dql_limit(&q) == s.limit,
	      "accessors and stats differ");
	CHECK(s.stopped == (m.stopped != 0), "stopped %d, model %d", s.stopped, m.stopped);
	CHECK(s.min_limit == (uint64_t)m.min && s.max_limit == (uint64_t)m.max, "min/max");
	CHECK(s.hold_ns == m.hold && s.stall_thrs_ns == m.thrs, "hold/thrs");
	CHECK(s.stops == m.stops && s.recheck_saves == 0,
	      "stops %" PRIu64 "/%" PRIu64 ", saves %" PRIu64, s.stops, m.stops, s.recheck_saves);
	CHECK(s.restarts == m.restarts, "restarts %" PRIu64 ", model %" PRIu64, s.restarts,
	      m.restarts);
	CHECK(s.grows == m.grows && s.shrinks == m.shrinks,
	      "grows %" PRIu64 "/%" PRIu64 ", shrinks %" PRIu64 "/%" PRIu64, s.grows, m.grows,
	      s.shrinks, m.shrinks);
	CHECK(s.stalls == m.stalls && s.stall_max_ns == m.stall_max,
	      "stalls %" PRIu64 "/%" PRIu64 ", max %" PRIu64 "/%" PRIu64, s.stalls, m.stalls,
	      s.stall_max_ns, m.stall_max);
}

/* ---- the driver ------------------------------------------------------------------------------- */

static uint32_t pick_size(struct reader *r)
{
	switch (get8(r) % 10) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return 1514;
	case 3:
		return 9000;
	case 4:
		return TSQ_DQL_MAX_OBJECT;
	case 5:
		return TSQ_DQL_MAX_OBJECT + 1;
	case 6:
		return (uint32_t)get_bytes(r, 4);
	case 7:
		return (uint32_t)get_bytes(r, 3);
	default:
		return 64 + (uint32_t)get_bytes(r, 2);
	}
}

static uint32_t pick_completion(struct reader *r)
{
	uint64_t inflight = m.queued - m.completed;

	switch (get8(r) % 6) {
	case 0:
		return (uint32_t)inflight;
	case 1:
		return (uint32_t)(inflight + 1); /* one past: -EINVAL */
	case 2:
		return 0;
	case 3:
		return (uint32_t)get_bytes(r, 4);
	default:
		return inflight == 0 ? 0 : (uint32_t)(get_bytes(r, 4) % (inflight + 1));
	}
}

static uint64_t pick_time(struct reader *r)
{
	uint64_t v = get8(r);

	switch (get8(r) % 5) {
	case 0:
		return v;
	case 1:
		return v * 1000;
	case 2:
		return v * 100000;
	case 3:
		return v * 10000000;
	default:
		return (uint64_t)get_bytes(r, 2) << 24;
	}
}

static uint64_t pick_hold(struct reader *r)
{
	switch (get8(r) % 4) {
	case 0:
		return 0;
	case 1:
		return UINT64_MAX;
	default:
		return pick_time(r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	struct tsq_dql_opts cfg;
	uint32_t a, b;
	int rc, mrc;

	memset(&m, 0, sizeof(m));
	memset(&cfg, 0, sizeof(cfg));
	op_no = 0;
	cfg.size = sizeof(cfg);
	now = get_bytes(&r, 1) == 0 ? 0 : get_bytes(&r, 5) << 20; /* below 2^60 */
	cfg.min_limit = get8(&r) % 4 == 0 ? (uint32_t)get_bytes(&r, 2) : 0;
	cfg.max_limit = get8(&r) % 3 == 0 ? (uint32_t)get_bytes(&r, 3) : 0;
	cfg.hold_ns = pick_hold(&r);
	cfg.stall_thrs_ns = get8(&r) % 3 == 0 ? 0 : pick_time(&r);
	rc = tsq_dql_init(&q, &cfg, now);
	m.min = cfg.min_limit;
	m.max = cfg.max_limit != 0 ? cfg.max_limit : TSQ_DQL_MAX_LIMIT;
	m.hold = cfg.hold_ns != 0 ? cfg.hold_ns : TSQ_DQL_HOLD_NS_DEFAULT;
	m.thrs = cfg.stall_thrs_ns;
	mrc = m.min > m.max ? -EINVAL : 0;
	CHECK(rc == mrc, "init: %d, model %d", rc, mrc);
	if (rc < 0)
		return 0;
	m_reset();
	compare();

	while (r.n > 0 && op_no < 4000) {
		op_no++;
		switch (get8(&r) % 14) {
		case 0:
		case 1:
			a = pick_size(&r);
			mrc = m_queued(a);
			rc = tsq_dql_charge(&q, a, now);
			CHECK(rc == mrc, "queued(%u): %d, model %d", a, rc, mrc);
			break;
		case 2:
		case 3:
			a = pick_size(&r);
			mrc = m_tx_sent(a);
			rc = tsq_dql_tx_sent(&q, a, now);
			CHECK(rc == mrc, "tx_sent(%u): %d, model %d", a, rc, mrc);
			break;
		case 4:
			a = pick_completion(&r);
			mrc = m_completed(a);
			rc = tsq_dql_complete(&q, a, now);
			CHECK(rc == mrc, "completed(%u): %d, model %d", a, rc, mrc);
			break;
		case 5:
		case 6:
			a = pick_completion(&r);
			mrc = m_tx_completed(a);
			rc = tsq_dql_tx_completed(&q, a, now);
			CHECK(rc == mrc, "tx_completed(%u): %d, model %d", a, rc, mrc);
			break;
		case 7:
		case 8:
			now += pick_time(&r);
			break;
		case 9:
			a = get8(&r) % 2 ? (uint32_t)get_bytes(&r, 3) : (uint32_t)get_bytes(&r, 4);
			b = get8(&r) % 2 ? (uint32_t)get_bytes(&r, 3) : (uint32_t)get_bytes(&r, 4);
			mrc = a > b || b > TSQ_DQL_MAX_LIMIT ? -EINVAL : 0;
			rc = tsq_dql_set_limits(&q, a, b);
			CHECK(rc == mrc, "set_limits(%u, %u): %d, model %d", a, b, rc, mrc);
			if (rc == 0) {
				m.min = a;
				m.max = b;
			}
			break;
		case 10:
			m.hold = pick_hold(&r);
			tsq_dql_set_hold_time(&q, m.hold);
			break;
		case 11:
			if (get8(&r) % 4 == 0) {
				m.thrs = get8(&r) % 3 == 0 ? 0 : pick_time(&r);
				tsq_dql_set_stall_thrs(&q, m.thrs, now);
				m_hist_reset();
			} else {
				tsq_dql_reset(&q, now);
				m_reset();
			}
			break;
		case 12: /* the largest objects up to the in-flight bound: wraps the u32 counters */
			for (int i = 0; i < 9; i++) {
				mrc = m_queued(TSQ_DQL_MAX_OBJECT);
				rc = tsq_dql_charge(&q, TSQ_DQL_MAX_OBJECT, now);
				CHECK(rc == mrc, "burst queued: %d, model %d", rc, mrc);
			}
			break;
		default:
			a = (uint32_t)(m.queued - m.completed);
			mrc = m_tx_completed(a);
			rc = tsq_dql_tx_completed(&q, a, now);
			CHECK(rc == mrc, "tx_completed(all %u): %d, model %d", a, rc, mrc);
			break;
		}
		compare();
	}
	/* Drain: everything completes, and a stopped queue is restarted. */
	op_no++;
	a = (uint32_t)(m.queued - m.completed);
	mrc = m_tx_completed(a);
	rc = tsq_dql_tx_completed(&q, a, now);
	CHECK(rc == mrc, "final tx_completed(%u): %d, model %d", a, rc, mrc);
	compare();
	CHECK(a == 0 || !m.stopped, "stopped after everything completed");
	return 0;
}

#ifdef TSQ_FUZZ_REPLAY_MAIN
#define TSQ_FUZZ_NAME FUZZ_NAME
#include "replay_main.h"
#endif
