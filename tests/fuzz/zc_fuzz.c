/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for tsq/zc.h: the input bytes are a single-threaded sequence of
 * operations on one flow - send_start (flags 0 / TSQ_ZC_APPEND / TSQ_ZC_APPEND_ONLY / bad
 * flags, sizes around the page and 512 KiB edges), tsq_zc_get from an open call or a frame,
 * tsq_zc_put (copied or not), send_done, send_abort (valid, or -EINVAL for a send that is not
 * the newest), tsq_zc_read with small batches, bursts of appended sends (up to the 65,534
 * cap), the -EINVAL paths, misuse (send_done / send_abort on a context with no open call, a
 * put on a context with no reference left, an uncharge of more than the account holds: each
 * -EINVAL with nothing changed), 0-byte sends (TSQ_ZC_NO_ZEROCOPY: no id, no context) -
 * after a configuration (reserve of 1-8 contexts, merge policy, no
 * account / unlimited / a small pinned-memory limit, ids starting just below 2^32).
 * Each operation runs on a reference model first (per reserve slot: free / live / queued, its
 * ids, references, mark and pin; the notice queue with the model's own merge rule: tail only,
 * exactly adjacent in u32, merged range < 2^32 ids, equal marks unless
 * TSQ_ZC_MERGE_IGNORE_COPIED) and then on the real flow; the two must agree on
 *   - every return code, the id of every send, the context an append extends, and that a
 *     new context comes from a free slot of the reserve;
 *   - every notice read (lo, hi, copied), in order, and tsq_zc_notice_covers on its ends;
 *   - all stats counters, the pinned bytes, the pending count, and (white box: the test reads
 *     private fields) the next id and each slot's references and length, after every op.
 * At the end every call is done and every frame put: all notices read, nothing pinned, and
 * the whole reserve can be taken again. Any divergence abort()s with a line on stderr.
 *
 * Built two ways (tests/zc.cmake):
 *   zc_fuzz         clang -fsanitize=fuzzer,address,undefined (label fuzz);
 *   zc_fuzz_replay  TSQ_FUZZ_REPLAY_MAIN: a main() that feeds N deterministic pseudo-random
 *                   inputs (default 20000), or replays the files named on the command line
 *                   (a crash file from libFuzzer): gcc, valgrind, ASan.
 *
 * Input format: 2 configuration bytes (+1 for a pin limit), then one opcode byte per
 * operation followed by its parameters; reading past the end yields zeros, so every input is
 * valid.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsq/zc.h>

#define NSLOT 8
#define MAX_CALLS 64
#define MAX_FRAMES 1024

#define FUZZ_NAME "zc_fuzz"
#include "fuzz_input.h"

/* ---- the reference model ----------------------------------------------------------------- */

enum { S_FREE = 0, S_LIVE, S_QUEUED };

struct mslot {
	int state;
	uint32_t id, len, bytes, refcnt;
	bool zc;
	uint64_t pinned, span;
};

static struct model {
	unsigned n;
	bool ignore_copied;
	bool has_acct;
	uint64_t limit, pinned;
	uint32_t next_id;
	int newest; /* slot, or -1 */
	struct mslot s[NSLOT];
	int queue[NSLOT];
	unsigned nq;
	struct tsq_zc_stats st;
	uint64_t uncharge_refused;
} m;

/* Open send calls (each holds its call reference) and frames (one reference each). */
static struct call {
	int slot;
	uint64_t seq;
	bool got; /* a frame reference was taken for this send: abort is not allowed */
} calls[MAX_CALLS];
static unsigned ncalls;
static int frames[MAX_FRAMES];
static unsigned nframes;
static uint64_t start_seq; /* sends started; the latest call has seq == start_seq */

/* The real flow. */
static struct tsq_zc_ctx reserve[NSLOT];
static struct tsq_zc_flow zf;
static struct tsq_zc_account acct;
static struct tsq_zc_account_opts ao = { .size = sizeof(struct tsq_zc_account_opts) };
static struct tsq_zc_flow_opts fo = { .size = sizeof(struct tsq_zc_flow_opts) };
static const struct tsq_zc_flow_opts bad_flags = { .size = sizeof(struct tsq_zc_flow_opts),
						   .flags = 2 };
static unsigned op_no;

static unsigned m_free_count(void)
{
	unsigned k = 0;

	for (unsigned i = 0; i < m.n; i++)
		k += m.s[i].state == S_FREE;
	return k;
}

static bool m_charge(uint64_t pin)
{
	if (!m.has_acct)
		return true;
	uint64_t sum;

	/* Written differently from the header (an overflow check, then one comparison). */
	if (__builtin_add_overflow(m.pinned, pin, &sum) || sum > m.limit)
		return false;
	m.pinned += pin;
	return true;
}

static void m_put(int i, bool copied)
{
	struct mslot *c = &m.s[i];

	CHECK(c->state == S_LIVE && c->refcnt > 0, "model: put on slot %d not live", i);
	if (copied)
		c->zc = false;
	if (--c->refcnt != 0)
		return;
	m.pinned -= c->pinned;
	c->pinned = 0;
	if (c->len == 0) {
		c->state = S_FREE;
		return;
	}
	if (!c->zc)
		m.st.copied++;
	if (m.nq > 0) {
		struct mslot *t = &m.s[m.queue[m.nq - 1]];

		if ((uint32_t)(t->id + (uint32_t)t->span) == c->id &&
		    t->span + c->len <= UINT32_MAX && (m.ignore_copied || t->zc == c->zc)) {
			t->span += c->len;
			m.st.notices_merged++;
			c->state = S_FREE;
			return;
		}
	}
	c->span = c->len;
	c->state = S_QUEUED;
	m.queue[m.nq++] = i;
	m.st.notices_queued++;
}

/*
 * The model's send_start: 0 with *slot (the slot extended, or -1: a new context from any free
 * slot), or a negative errno.
 */
static int m_start(uint32_t bytes, unsigned flags, int *slot)
{
	uint64_t pin = tsq_zc_pin_cost(bytes);

	*slot = -1;
	if ((flags & ~(TSQ_ZC_APPEND | TSQ_ZC_APPEND_ONLY)) || bytes > TSQ_ZC_MAX_BYTES)
		return -EINVAL;
	if (bytes == 0) { /* the kernel: MSG_ZEROCOPY && size - nothing zerocopy about it */
		m.st.sends_empty++;
		return TSQ_ZC_NO_ZEROCOPY;
	}
	if (flags & (TSQ_ZC_APPEND | TSQ_ZC_APPEND_ONLY)) {
		int w = m.newest;

		if (w >= 0 && m.s[w].state == S_LIVE &&
		    (uint32_t)(m.s[w].id + m.s[w].len) == m.next_id &&
		    m.s[w].len < TSQ_ZC_MAX_SENDS &&
		    (uint64_t)m.s[w].bytes + bytes <= TSQ_ZC_MAX_BYTES) {
			if (!m_charge(pin)) {
				m.st.refused_pin++;
				return -ENOBUFS;
			}
			if (m.has_acct)
				m.s[w].pinned += pin;
			m.s[w].len++;
			m.s[w].bytes += bytes;
			m.s[w].refcnt++;
			m.next_id++;
			m.st.sends++;
			m.st.sends_appended++;
			*slot = w;
			return 0;
		}
		if (flags & TSQ_ZC_APPEND_ONLY)
			return -EMSGSIZE;
	}
	if (m_free_count() == 0) {
		m.st.refused_reserve++;
		return -ENOBUFS;
	}
	if (!m_charge(pin)) {
		m.st.refused_pin++;
		return -ENOBUFS;
	}
	m.st.sends++;
	return 0; /* the slot is bound by m_bind() once the real call says which */
}

static void m_bind(int i, uint32_t bytes)
{
	struct mslot *c = &m.s[i];

	CHECK(c->state == S_FREE, "a new context came from slot %d, which is %s", i,
	      c->state == S_LIVE ? "live" : "queued");
	c->state = S_LIVE;
	c->id = m.next_id++;
	c->len = 1;
	c->bytes = bytes;
	c->refcnt = 1;
	c->zc = true;
	c->pinned = m.has_acct ? tsq_zc_pin_cost(bytes) : 0;
	c->span = 0;
	m.newest = i;
}

/* ---- checks ------------------------------------------------------------------------------ */

static void check_state(void)
{
	struct tsq_zc_stats st;

	CHECK(tsq_zc_stats(&zf, &st) == 0, "stats");
#define CMP(f) CHECK(st.f == m.st.f, #f " = %" PRIu64 ", model %" PRIu64, st.f, m.st.f)
	CMP(notices_queued);
	CMP(notices_merged);
	CMP(sends);
	CMP(sends_appended);
	CMP(copied);
	CMP(refused_reserve);
	CMP(refused_pin);
	CMP(aborted);
	CMP(sends_empty);
#undef CMP
	if (m.has_acct) {
		struct tsq_zc_account_stats as;

		CHECK(tsq_zc_account_pinned(&acct) == m.pinned && m.pinned <= m.limit,
		      "pinned %" PRIu64 ", model %" PRIu64 " (limit %" PRIu64 ")",
		      tsq_zc_account_pinned(&acct), m.pinned, m.limit);
		CHECK(tsq_zc_account_stats(&acct, &as) == 0 && as.pinned == m.pinned &&
			      as.limit == m.limit && as.uncharge_refused == m.uncharge_refused,
		      "account stats %" PRIu64 "/%" PRIu64 "/%" PRIu64 ", model %" PRIu64
		      "/%" PRIu64 "/%" PRIu64,
		      as.pinned, as.limit, as.uncharge_refused, m.pinned, m.limit,
		      m.uncharge_refused);
	}
	CHECK(tsq_zc_notices_pending(&zf) == m.nq, "pending %" PRIu64 ", model %u",
	      tsq_zc_notices_pending(&zf), m.nq);
	CHECK(zf.next_id == m.next_id, "next id %u, model %u", zf.next_id, m.next_id);
	for (unsigned i = 0; i < m.n; i++) {
		if (m.s[i].state == S_LIVE)
			CHECK(reserve[i].refcnt == m.s[i].refcnt && reserve[i].len == m.s[i].len &&
				      reserve[i].id == m.s[i].id,
			      "slot %u: refcnt %u len %u id %u, model %u %u %u", i,
			      reserve[i].refcnt, reserve[i].len, reserve[i].id, m.s[i].refcnt,
			      m.s[i].len, m.s[i].id);
		else
			CHECK(reserve[i].refcnt == 0, "slot %u: refcnt %u, model none", i,
			      reserve[i].refcnt);
	}
}

static int slot_of(const struct tsq_zc_ctx *c)
{
	CHECK(c >= reserve && c < reserve + m.n, "context %p is not in the reserve",
	      (const void *)c);
	return (int)(c - reserve);
}

/* ---- operations -------------------------------------------------------------------------- */

static uint32_t pick_bytes(struct reader *r)
{
	uint8_t b = get8(r);

	switch (b % 10) {
	case 0:
		return 0;
	case 1:
		return get_bytes(r, 2);
	case 2:
		return TSQ_ZC_MAX_BYTES;
	case 3:
		return b >= 250 ? TSQ_ZC_MAX_BYTES + 1 +
					  (b & 1) * (UINT32_MAX - TSQ_ZC_MAX_BYTES - 1) :
				  4095u + b % 3u; /* page edges: 4095, 4096, 4097 */
	case 4:
		return get_bytes(r, 3) % (TSQ_ZC_MAX_BYTES + 1);
	case 5:
		return TSQ_ZC_MAX_BYTES / 2;
	case 6:
		return 8191u + b % 2u;
	default:
		return (uint32_t)b * 37;
	}
}

/* Start a send on both; returns the rc, and opens a call on success (if track). */
static int do_start(uint32_t bytes, unsigned flags, bool track)
{
	struct tsq_zc_ctx *c = (struct tsq_zc_ctx *)(uintptr_t)0x5eed;
	int slot, want = m_start(bytes, flags, &slot);
	int rc = tsq_zc_send_start(&zf, bytes, flags, &c);

	CHECK(rc == want, "send_start(%u, %#x) = %d, model %d", bytes, flags, rc, want);
	if (rc == TSQ_ZC_NO_ZEROCOPY) {
		CHECK(c == NULL, "TSQ_ZC_NO_ZEROCOPY left *out %p", (void *)c);
		return rc;
	}
	if (rc != 0) {
		CHECK(c == (struct tsq_zc_ctx *)(uintptr_t)0x5eed, "send_start %d wrote *out", rc);
		return rc;
	}
	int got = slot_of(c);

	if (slot >= 0)
		CHECK(got == slot, "append extended slot %d, model %d", got, slot);
	else
		m_bind(got, bytes);
	CHECK(tsq_zc_send_id(c) == (uint32_t)(m.next_id - 1), "send id %u, model %u",
	      tsq_zc_send_id(c), (uint32_t)(m.next_id - 1));
	start_seq++;
	if (track) {
		calls[ncalls].slot = got;
		calls[ncalls].seq = start_seq;
		calls[ncalls].got = false;
		ncalls++;
	}
	return 0;
}

static void do_done(unsigned k)
{
	int slot = calls[k].slot;

	m_put(slot, false);
	CHECK(tsq_zc_send_done(&zf, &reserve[slot]) == 0, "send_done of an open call refused");
	calls[k] = calls[--ncalls];
}

static void do_put(unsigned k, bool copied)
{
	int slot = frames[k];

	m_put(slot, copied);
	CHECK(tsq_zc_put(&zf, &reserve[slot], copied) == 0, "put of a held reference refused");
	frames[k] = frames[--nframes];
}

static void do_read(int max)
{
	struct tsq_zc_notice out[NSLOT + 1];
	int want = (int)m.nq < max ? (int)m.nq : max;
	int rc = tsq_zc_read(&zf, out, max);

	CHECK(rc == want, "read(%d) = %d, model %d", max, rc, want);
	for (int i = 0; i < rc; i++) {
		int slot = m.queue[i];
		struct mslot *c = &m.s[slot];
		uint32_t hi = (uint32_t)(c->id + (uint32_t)c->span - 1);

		CHECK(out[i].lo == c->id && out[i].hi == hi && out[i].copied == !c->zc,
		      "notice %d: [%u, %u] copied %d, model [%u, %u] copied %d", i, out[i].lo,
		      out[i].hi, out[i].copied, c->id, hi, !c->zc);
		CHECK(tsq_zc_notice_covers(&out[i], out[i].lo) && tsq_zc_notice_covers(&out[i], hi),
		      "notice_covers misses an end of [%u, %u]", out[i].lo, hi);
		CHECK(!tsq_zc_notice_covers(&out[i], hi + 1) &&
			      !tsq_zc_notice_covers(&out[i], c->id - 1),
		      "notice_covers past the ends of [%u, %u]", out[i].lo, hi);
		c->state = S_FREE;
	}
	memmove(m.queue, m.queue + rc, (m.nq - (unsigned)rc) * sizeof(m.queue[0]));
	m.nq -= (unsigned)rc;
}

enum {
	OP_START,
	OP_START2,
	OP_GET,
	OP_PUT,
	OP_PUT2,
	OP_DONE,
	OP_ABORT,
	OP_READ,
	OP_BURST,
	OP_EINVAL,
	OP_MISUSE,
	NOPS
};

/* Open calls on slot i (each holds one reference and one `calls` count). */
static unsigned open_calls(int i)
{
	unsigned k = 0;

	for (unsigned j = 0; j < ncalls; j++)
		k += calls[j].slot == i;
	return k;
}

static void setup(struct reader *r, bool *big_bursts)
{
	uint8_t cfg = get8(r), idb = get8(r);
	int rc;

	memset(&m, 0, sizeof(m));
	memset(reserve, 0xa5, sizeof(reserve)); /* the flow must initialise what it reads */
	ncalls = nframes = 0;
	start_seq = 0;
	m.n = 1 + (cfg & 7);
	m.ignore_copied = (cfg >> 3) & 1;
	*big_bursts = (cfg >> 6) == 3;
	switch ((cfg >> 4) & 3) {
	case 0:
		break;
	case 1:
		m.has_acct = true;
		m.limit = TSQ_ZC_UNLIMITED;
		break;
	case 2:
		m.has_acct = true;
		m.limit = (uint64_t)get8(r) * TSQ_ZC_PAGE_SIZE;
		break;
	default:
		m.has_acct = true;
		m.limit = (uint64_t)get8(r) * 16 * TSQ_ZC_PAGE_SIZE + get8(r);
	}
	m.newest = -1;
	if (m.has_acct) {
		ao.limit = m.limit;
		CHECK(tsq_zc_account_init(&acct, &ao) == 0, "account_init");
		if (m.limit == 0)
			m.limit = TSQ_ZC_UNLIMITED; /* limit 0 is the default: none */
	}
	fo.flags = m.ignore_copied ? TSQ_ZC_MERGE_IGNORE_COPIED : 0;
	rc = tsq_zc_flow_init(&zf, reserve, m.n, m.has_acct ? &acct : NULL, &fo);
	CHECK(rc == 0, "flow_init = %d", rc);
	if (idb & 0x80) { /* just below the wrap */
		m.next_id = 0u - (idb & 0x7f);
		tsq_zc_flow_set_next_id(&zf, m.next_id);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	bool big_bursts;

	op_no = 0;
	setup(&r, &big_bursts);
	check_state();
	while (r.n > 0) {
		uint8_t op = get8(&r) % NOPS;

		op_no++;
		switch (op) {
		case OP_START:
		case OP_START2: {
			uint8_t f = get8(&r);
			unsigned flags = f % 3 == 0 ? 0 :
					 f % 3 == 1 ? TSQ_ZC_APPEND :
						      TSQ_ZC_APPEND_ONLY;

			if (f >= 0xf8)
				flags = 4u << (f & 3); /* unknown flags: -EINVAL */
			if (ncalls == MAX_CALLS)
				break;
			do_start(pick_bytes(&r), flags, true);
			break;
		}
		case OP_GET: {
			unsigned k = get8(&r);
			int slot;

			if (ncalls + nframes == 0 || nframes == MAX_FRAMES)
				break;
			k %= ncalls + nframes;
			if (k < ncalls) {
				slot = calls[k].slot;
				calls[k].got = true;
			} else {
				slot = frames[k - ncalls];
			}
			m.s[slot].refcnt++;
			tsq_zc_get(&reserve[slot]);
			frames[nframes++] = slot;
			break;
		}
		case OP_PUT:
		case OP_PUT2: {
			uint8_t b = get8(&r);

			if (nframes > 0)
				do_put((b >> 1) % nframes, b & 1);
			break;
		}
		case OP_DONE: {
			uint8_t b = get8(&r);

			if (ncalls > 0)
				do_done(b % ncalls);
			break;
		}
		case OP_ABORT: {
			uint8_t b = get8(&r);

			if (ncalls == 0)
				break;
			unsigned k = b % ncalls;
			int slot = calls[k].slot;
			struct mslot *c = &m.s[slot];
			bool newest = m.newest == slot && (uint32_t)(c->id + c->len) == m.next_id &&
				      c->len != 0;
			bool latest = calls[k].seq == start_seq;

			if (latest) {
				CHECK(newest, "model: the latest call's send is not the newest");
				if (calls[k].got)
					break; /* references were taken for it: abort is not allowed */
				m.next_id--;
				if (--c->len == 0)
					m.newest = -1;
				m.st.aborted++;
				m_put(slot, false);
				CHECK(tsq_zc_send_abort(&zf, &reserve[slot]) == 0,
				      "abort of the latest send");
				calls[k] = calls[--ncalls];
				start_seq++; /* no call is the latest now */
			} else if (!newest) {
				int rc = tsq_zc_send_abort(&zf, &reserve[slot]);

				CHECK(rc == -EINVAL, "abort of a send that is not the newest = %d",
				      rc);
			}
			/* else: an older call on the newest context - indistinguishable, not allowed */
			break;
		}
		case OP_READ:
			do_read(get8(&r) % (NSLOT + 1));
			break;
		case OP_BURST: {
			/* Appended sends that complete at once; the first keeps a frame. */
			uint8_t b = get8(&r);
			uint32_t k = b % 32;

			if (b == 0xff && big_bursts && get8(&r) == 0xff) {
				/* Reaches the append cap: slow, so rare (two config bits, 0xff 0xff)
				 * and once per input. */
				k = TSQ_ZC_MAX_SENDS;
				big_bursts = false;
			}
			if (nframes == MAX_FRAMES || ncalls == MAX_CALLS)
				break;
			for (uint32_t i = 0; i < k; i++) {
				if (do_start(1, TSQ_ZC_APPEND, true) != 0)
					break;
				if (i == 0) {
					int slot = calls[ncalls - 1].slot;

					m.s[slot].refcnt++;
					tsq_zc_get(&reserve[slot]);
					frames[nframes++] = slot;
				}
				do_done(ncalls - 1);
			}
			break;
		}
		case OP_EINVAL: {
			struct tsq_zc_ctx *c = (struct tsq_zc_ctx *)(uintptr_t)0x5eed;
			struct tsq_zc_notice n[1];
			struct tsq_zc_stats st;
			struct tsq_zc_flow other;

			CHECK(tsq_zc_send_start(NULL, 0, 0, &c) == -EINVAL,
			      "send_start(NULL flow)");
			CHECK(tsq_zc_send_start(&zf, 0, 0, NULL) == -EINVAL,
			      "send_start(NULL out)");
			CHECK(tsq_zc_send_start(&zf, 0, 8, &c) == -EINVAL, "send_start(bad flags)");
			CHECK(tsq_zc_send_start(&zf, TSQ_ZC_MAX_BYTES + 1, TSQ_ZC_APPEND, &c) ==
				      -EINVAL,
			      "send_start(bytes > max)");
			CHECK(c == (struct tsq_zc_ctx *)(uintptr_t)0x5eed, "-EINVAL wrote *out");
			CHECK(tsq_zc_read(NULL, n, 1) == -EINVAL, "read(NULL flow)");
			CHECK(tsq_zc_read(&zf, NULL, 1) == -EINVAL, "read(NULL out)");
			CHECK(tsq_zc_read(&zf, n, -1) == -EINVAL, "read(max < 0)");
			CHECK(tsq_zc_read(&zf, n, 0) == 0, "read(max 0)");
			CHECK(tsq_zc_stats(NULL, &st) == -EINVAL, "stats(NULL flow)");
			CHECK(tsq_zc_stats(&zf, NULL) == -EINVAL, "stats(NULL out)");
			CHECK(tsq_zc_flow_init(&other, NULL, 1, NULL, NULL) == -EINVAL,
			      "flow_init(NULL)");
			CHECK(tsq_zc_flow_init(&other, reserve, 0, NULL, NULL) == -EINVAL,
			      "flow_init(n 0)");
			CHECK(tsq_zc_flow_init(&other, reserve, 1, NULL, &bad_flags) == -EINVAL,
			      "flow_init(flags)");
			CHECK(tsq_zc_account_init(NULL, NULL) == -EINVAL, "account_init(NULL)");
			CHECK(tsq_zc_send_abort(&zf, NULL) == -EINVAL, "send_abort(NULL ctx)");
			CHECK(tsq_zc_send_abort(NULL, reserve) == -EINVAL, "send_abort(NULL flow)");
			CHECK(tsq_zc_send_done(&zf, NULL) == -EINVAL, "send_done(NULL ctx)");
			CHECK(tsq_zc_send_done(NULL, reserve) == -EINVAL, "send_done(NULL flow)");
			CHECK(tsq_zc_put(&zf, NULL, true) == -EINVAL, "put(NULL ctx)");
			CHECK(tsq_zc_put(NULL, reserve, false) == -EINVAL, "put(NULL flow)");
			CHECK(tsq_zc_account_uncharge(NULL, 1) == -EINVAL,
			      "account_uncharge(NULL)");
			CHECK(tsq_zc_account_stats(NULL, NULL) == -EINVAL, "account_stats(NULL)");
			break;
		}
		case OP_MISUSE: {
			/* Misuse table rows: each refused with -EINVAL, nothing changed (check_state). */
			uint8_t b = get8(&r);
			int slot = (int)((b >> 2) % m.n);
			int rc;

			switch (b & 3) {
			case 0: /* send_done / send_abort on a context with no open call */
				if (open_calls(slot) != 0)
					break;
				rc = tsq_zc_send_done(&zf, &reserve[slot]);
				CHECK(rc == -EINVAL, "send_done without an open call = %d", rc);
				rc = tsq_zc_send_abort(&zf, &reserve[slot]);
				CHECK(rc == -EINVAL, "send_abort without an open call = %d", rc);
				break;
			case 1: /* a put on a context with no reference left (free or a notice) */
			case 2:
				if (m.s[slot].state == S_LIVE)
					break;
				rc = tsq_zc_put(&zf, &reserve[slot], b & 1);
				CHECK(rc == -EINVAL, "put on a dead context = %d", rc);
				break;
			default: /* uncharge more than the account holds */
				if (!m.has_acct)
					break;
				rc = tsq_zc_account_uncharge(&acct, m.pinned + 1 + (b >> 2));
				CHECK(rc == -EINVAL, "uncharge past the pinned amount = %d", rc);
				m.uncharge_refused++;
				break;
			}
			break;
		}
		}
		check_state();
	}
	/* End of input: every call returns, every frame completes, every notice is read. */
	op_no++;
	while (ncalls > 0)
		do_done(ncalls - 1);
	while (nframes > 0)
		do_put(nframes - 1, false);
	do_read(NSLOT);
	check_state();
	CHECK(m.nq == 0 && m_free_count() == m.n, "model: %u queued, %u of %u free", m.nq,
	      m_free_count(), m.n);
	CHECK(!m.has_acct || tsq_zc_account_pinned(&acct) == 0,
	      "pinned after everything completed");
	/* The whole reserve again (unlimited pin: the limit is not what this checks). */
	if (m.has_acct) {
		CHECK(tsq_zc_account_init(&acct, NULL) == 0, "account_init");
		m.limit = TSQ_ZC_UNLIMITED;
		m.uncharge_refused = 0;
	}
	for (unsigned i = 0; i < m.n; i++)
		CHECK(do_start(1, 0, true) == 0, "context %u of %u not back in the reserve", i,
		      m.n);
	CHECK(do_start(1, 0, true) == -ENOBUFS, "a context beyond the reserve");
	while (ncalls > 0)
		do_done(0);
	do_read(NSLOT);
	check_state();
	return 0;
}

#ifdef TSQ_FUZZ_REPLAY_MAIN
#define TSQ_FUZZ_NAME "zc_fuzz_replay"
/* Every 64th input reaches the 65,534-send append cap: one big burst. */
#define TSQ_FUZZ_SHAPE_INPUT(buf, len, i)            \
	do {                                         \
		if ((i) % 64 == 63 && (len) > 8) {   \
			(buf)[0] |= 0xc0;            \
			(buf)[(len) / 2] = OP_BURST; \
			(buf)[(len) / 2 + 1] = 0xff; \
			(buf)[(len) / 2 + 2] = 0xff; \
		}                                    \
	} while (0)
#include "replay_main.h"
#endif
