/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for tsq/owner.h: the input bytes are a single-threaded sequence of
 * operations (acquire, try_acquire, release, flush, flush_every, deliver with its cost and
 * queued bytes - and deliveries made from inside process() during a drain, two levels
 * deep, so they land in the second and third rounds of the same drain -, lock_fast /
 * unlock_fast, lock_check, destroy + re-init, the -EINVAL paths). Each operation runs first
 * on a reference model (an owned flag, a FIFO, the backlog length, the limit, the counters)
 * and then on the real object; the two must agree on
 *   - the events, in order: each item processed (id, INLINE/DRAINED), each return code of a
 *     delivery, each release callback;
 *   - the return codes of every call; the -ENOBUFS decisions (computed by the model without
 *     overflow, in 128 bits) and the -E2BIG ones (an owned object, cost alone > limit);
 *   - all counters after every operation; ownership; the cost written into parked items;
 *   - items handed back with -ENOBUFS or -E2BIG: untouched (their poisoned fields intact);
 * and every item is freed exactly once (processed items are freed inside process(), as a
 * receive handler frees a packet: ASan and valgrind see a double processing or a leak).
 * Any divergence abort()s with a line on stderr.
 *
 * Built two ways (tests/owner.cmake):
 *   owner_fuzz         clang -fsanitize=fuzzer,address,undefined (label fuzz);
 *   owner_fuzz_replay  TSQ_FUZZ_REPLAY_MAIN: a main() that feeds N deterministic
 *                      pseudo-random inputs (default 20000), or replays the files named on
 *                      the command line (a crash file from libFuzzer): gcc, valgrind, ASan.
 *
 * Input format: byte 0 picks the limit, then one opcode byte per operation followed by its
 * parameters; reading past the end yields zeros, so every input is valid.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsq/owner.h>

#define MAX_DESC 32768 /* items per input; deliveries beyond are skipped */
#define MAX_EV 262144  /* events per operation */
#define MAX_CHILD 3
#define POISON_NEXT ((struct tsq_owner_work *)(uintptr_t)0x5eed5eedu)
#define POISON_COST 0xfeedfaceu

#define FUZZ_NAME "owner_fuzz"
#include "fuzz_input.h"

/* ---- item descriptors: shared by the model and the real run ------------------------------ */

struct desc {
	uint32_t cost;
	uint64_t queued;
	uint32_t nchild;
	uint32_t child[MAX_CHILD]; /* descriptor ids, delivered by process() as DRAINED */
};

static struct desc descs[MAX_DESC];
static uint32_t ndesc;

/* ---- events ------------------------------------------------------------------------------ */

enum ev_type { EV_PROCESS = 1, EV_RESULT, EV_RELEASE_CB, EV_RET };

struct ev {
	uint32_t type;
	uint32_t id;
	int64_t val;
};

struct evlog {
	struct ev e[MAX_EV];
	uint32_t n;
};

static struct evlog want, got;
static unsigned op_no;

static void ev_add(struct evlog *l, uint32_t type, uint32_t id, int64_t val)
{
	CHECK(l->n < MAX_EV, "event log full");
	l->e[l->n].type = type;
	l->e[l->n].id = id;
	l->e[l->n].val = val;
	l->n++;
}

static const char *ev_name(uint32_t t)
{
	switch (t) {
	case EV_PROCESS:
		return "process";
	case EV_RESULT:
		return "deliver-rc";
	case EV_RELEASE_CB:
		return "release_cb";
	case EV_RET:
		return "return";
	}
	return "?";
}

static void ev_compare(const char *what)
{
	uint32_t n = want.n < got.n ? want.n : got.n;

	for (uint32_t i = 0; i < n; i++)
		CHECK(want.e[i].type == got.e[i].type && want.e[i].id == got.e[i].id &&
			      want.e[i].val == got.e[i].val,
		      "%s: event %u: model %s(id %u, %" PRId64 "), real %s(id %u, %" PRId64 ")",
		      what, i, ev_name(want.e[i].type), want.e[i].id, want.e[i].val,
		      ev_name(got.e[i].type), got.e[i].id, got.e[i].val);
	CHECK(want.n == got.n, "%s: model %u events, real %u", what, want.n, got.n);
	want.n = got.n = 0;
}

/* ---- the reference model ----------------------------------------------------------------- */

static struct model {
	int owned;
	int has_cb;
	uint64_t limit;
	uint32_t fifo[MAX_DESC];
	uint32_t nfifo;
	uint64_t len;
	struct tsq_owner_stats st;
} m;

static uint32_t chain[MAX_DESC]; /* a detached chain during the model's drain */

__extension__ typedef unsigned __int128 m_u128; /* the model's overflow-free arithmetic */

static void m_init(uint64_t limit, int has_cb)
{
	memset(&m, 0, sizeof(m));
	m.limit = limit;
	m.has_cb = has_cb;
}

static int m_deliver(uint32_t id)
{
	const struct desc *d = &descs[id];

	if (!m.owned) {
		m.st.inline_runs++;
		ev_add(&want, EV_PROCESS, id, TSQ_OWNER_INLINE);
		return TSQ_OWNER_PROCESSED;
	}
	/* An item that alone exceeds the limit could never fit: -E2BIG, counted as a drop. */
	if (d->cost > m.limit) {
		m.st.dropped++;
		return -E2BIG;
	}
	/* The contract in plain arithmetic: refuse iff backlog + queued > limit. */
	if ((m_u128)m.len + d->queued > m.limit) {
		m.st.dropped++;
		return -ENOBUFS;
	}
	m.fifo[m.nfifo++] = id;
	m.len += d->cost;
	m.st.backlogged++;
	m.st.backlog_bytes = m.len;
	if (m.len > m.st.max_backlog_bytes)
		m.st.max_backlog_bytes = m.len;
	return TSQ_OWNER_BACKLOGGED;
}

static int m_drain(void)
{
	int ran = 0;

	while (m.nfifo != 0) {
		uint32_t n = m.nfifo;

		memcpy(chain, m.fifo, n * sizeof(chain[0]));
		m.nfifo = 0;
		for (uint32_t i = 0; i < n; i++) {
			const struct desc *d = &descs[chain[i]];

			ev_add(&want, EV_PROCESS, chain[i], TSQ_OWNER_DRAINED);
			for (uint32_t c = 0; c < d->nchild; c++)
				ev_add(&want, EV_RESULT, d->child[c], m_deliver(d->child[c]));
		}
		ran = 1;
	}
	m.len = 0;
	m.st.backlog_bytes = 0;
	return ran;
}

static void m_release(void)
{
	m_drain();
	if (m.has_cb)
		ev_add(&want, EV_RELEASE_CB, 0, 0);
	m.owned = 0;
}

static int m_flush(void)
{
	if (m.nfifo == 0)
		return 0;
	m_drain();
	m.st.flushes++;
	if (m.has_cb)
		ev_add(&want, EV_RELEASE_CB, 0, 0);
	return 1;
}

/* ---- the real object --------------------------------------------------------------------- */

struct ritem {
	struct tsq_owner_work work; /* first: process() casts back */
	uint32_t id;
	uint32_t magic;
};

#define RITEM_MAGIC 0x0a11ce5u

static struct tsq_owner obj;
static long live_items;

static struct ritem *r_new(uint32_t id)
{
	struct ritem *it = malloc(sizeof(*it));

	if (it == NULL)
		abort();
	memset(it, 0, sizeof(*it)); /* TSQ_DEBUG reads the item's private mark: no garbage there */
	it->work.next = POISON_NEXT;
	it->work.cost = POISON_COST;
	it->id = id;
	it->magic = RITEM_MAGIC;
	live_items++;
	return it;
}

static void r_free(struct ritem *it)
{
	it->magic = 0;
	live_items--;
	free(it);
}

static int r_deliver(struct tsq_owner *o, uint32_t id)
{
	struct ritem *it = r_new(id);
	int rc = tsq_owner_deliver(o, &it->work, descs[id].cost, descs[id].queued);

	if (rc == -ENOBUFS || rc == -E2BIG) {
		CHECK(it->work.next == POISON_NEXT && it->work.cost == POISON_COST &&
			      it->id == id && it->magic == RITEM_MAGIC,
		      "item %u handed back modified", id);
		r_free(it);
	}
	/* PROCESSED: freed by process(); BACKLOGGED: owned by the backlog until processed. */
	return rc;
}

static void r_process(struct tsq_owner *o, struct tsq_owner_work *w, enum tsq_owner_how how)
{
	struct ritem *it = (struct ritem *)w;
	const struct desc *d;

	CHECK(o == &obj, "process() got a foreign object");
	CHECK(it->magic == RITEM_MAGIC, "process() got a dead or foreign item");
	CHECK(it->id < ndesc, "process() got item id %u of %u", it->id, ndesc);
	d = &descs[it->id];
	ev_add(&got, EV_PROCESS, it->id, how);
	if (how == TSQ_OWNER_DRAINED) {
		CHECK(w->cost == d->cost, "item %u: cost %u in the backlog, delivered with %u",
		      it->id, w->cost, d->cost);
		/* A producer appending while the owner drains (legal: short lock not held). */
		for (uint32_t c = 0; c < d->nchild; c++)
			ev_add(&got, EV_RESULT, d->child[c], r_deliver(o, d->child[c]));
	}
	r_free(it); /* like a receive handler consuming the packet */
}

static void r_release_cb(struct tsq_owner *o)
{
	CHECK(o == &obj, "release_cb() got a foreign object");
	ev_add(&got, EV_RELEASE_CB, 0, 0);
}

static const struct tsq_owner_ops ops_cb = { r_process, r_release_cb };
static const struct tsq_owner_ops ops_nocb = { r_process, NULL };

/* ---- parameters -------------------------------------------------------------------------- */

static uint64_t pick_limit(struct reader *r)
{
	uint8_t b = get8(r);

	switch (b % 10) {
	case 0:
		return 1;
	case 1:
		return 100;
	case 2:
		return 1500;
	case 3:
		return 65536;
	case 4:
		return UINT32_MAX;
	case 5:
		return UINT64_MAX;
	case 6:
		return UINT64_MAX - get8(r);
	case 7:
		return tsq_owner_tcp_limit(get_bytes(r, 2) << 4, get_bytes(r, 2) << 4);
	default:
		return get_bytes(r, 2) + 1;
	}
}

static uint32_t pick_cost(struct reader *r)
{
	uint8_t b = get8(r);

	switch (b & 7) {
	case 0:
		return 0;
	case 1:
		return 1500;
	case 2:
		return 65536;
	case 3:
		return UINT32_MAX;
	case 4:
		return (uint32_t)get_bytes(r, 4);
	default:
		return (uint32_t)(b >> 3) * 37;
	}
}

static uint64_t pick_queued(struct reader *r)
{
	uint8_t b = get8(r);

	switch (b & 7) {
	case 0:
	case 1:
	case 2:
		return 0;
	case 3:
		return (uint64_t)(b >> 3) * 64;
	case 4:
		return m.limit - (b >> 3);
	case 5:
		return m.limit + (b >> 3);
	case 6:
		return UINT64_MAX - (b >> 3);
	default:
		return get_bytes(r, 8);
	}
}

/*
 * A new descriptor and, recursively, its children: up to MAX_CHILD - depth of them, so a
 * delivery made during a drain can itself deliver during the next round of the same drain
 * (at most 1 + 3 + 3 * 2 = 10 descriptors per top-level delivery). UINT32_MAX when full.
 */
static uint32_t new_desc_at(struct reader *r, uint32_t depth)
{
	uint32_t id = ndesc++, nchild;

	descs[id].cost = pick_cost(r);
	descs[id].queued = pick_queued(r);
	nchild = get8(r) & 7; /* 0 with 5/8, else 1..3 */
	nchild = nchild > MAX_CHILD ? 0 : nchild;
	if (nchild > MAX_CHILD - depth)
		nchild = MAX_CHILD - depth;
	descs[id].nchild = nchild;
	for (uint32_t c = 0; c < nchild; c++)
		descs[id].child[c] = new_desc_at(r, depth + 1);
	return id;
}

static uint32_t new_desc(struct reader *r)
{
	if (ndesc + 10 > MAX_DESC)
		return UINT32_MAX;
	return new_desc_at(r, 0);
}

/* ---- checks after each operation --------------------------------------------------------- */

static void check_state(void)
{
	struct tsq_owner_stats st;
	bool owned;

	CHECK(tsq_owner_stats(&obj, &st) == 0, "stats failed");
	CHECK(st.backlogged == m.st.backlogged, "backlogged %" PRIu64 ", model %" PRIu64,
	      st.backlogged, m.st.backlogged);
	CHECK(st.inline_runs == m.st.inline_runs, "direct %" PRIu64 ", model %" PRIu64,
	      st.inline_runs, m.st.inline_runs);
	CHECK(st.dropped == m.st.dropped, "dropped %" PRIu64 ", model %" PRIu64, st.dropped,
	      m.st.dropped);
	CHECK(st.flushes == m.st.flushes, "flushes %" PRIu64 ", model %" PRIu64, st.flushes,
	      m.st.flushes);
	CHECK(st.max_backlog_bytes == m.st.max_backlog_bytes,
	      "max_backlog_bytes %" PRIu64 ", model %" PRIu64, st.max_backlog_bytes,
	      m.st.max_backlog_bytes);
	CHECK(st.backlog_bytes == m.st.backlog_bytes, "backlog_bytes %" PRIu64 ", model %" PRIu64,
	      st.backlog_bytes, m.st.backlog_bytes);
	owned = tsq_owner_lock_check(&obj);
	tsq_owner_unlock(&obj);
	CHECK(owned == (m.owned != 0), "owned %d, model %d", owned, m.owned);
}

/* ---- one input --------------------------------------------------------------------------- */

enum {
	OP_ACQUIRE,
	OP_TRY_ACQUIRE,
	OP_RELEASE,
	OP_FLUSH,
	OP_FLUSH_EVERY,
	OP_DELIVER,
	OP_DELIVER2,
	OP_DELIVER3,
	OP_LOCK_FAST,
	OP_LOCK_CHECK,
	OP_REINIT,
	OP_EINVAL,
	OP_COUNT
};

static void obj_init(uint64_t limit, int has_cb)
{
	struct tsq_owner_opts opts = { .size = sizeof(opts), .limit = limit };
	int rc = tsq_owner_init(&obj, has_cb ? &ops_cb : &ops_nocb, &opts);

	CHECK(rc == 0, "init(limit %" PRIu64 ") = %d", limit, rc);
	m_init(limit != 0 ? limit : TSQ_OWNER_LIMIT_DEFAULT, has_cb); /* 0: the default */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	unsigned real_ctr = 0, model_ctr = 0;

	ndesc = 0;
	op_no = 0;
	live_items = 0;
	want.n = got.n = 0;
	obj_init(pick_limit(&r), 1);

	while (r.n != 0) {
		uint8_t op = get8(&r) % OP_COUNT;

		op_no++;
		switch (op) {
		case OP_ACQUIRE:
			if (m.owned)
				break; /* not recursive: would wait for itself */
			tsq_owner_acquire(&obj);
			m.owned = 1;
			break;
		case OP_TRY_ACQUIRE: {
			/* By the owner too: a plain "is it free?" under the short lock. */
			bool ok = tsq_owner_try_acquire(&obj);

			CHECK(ok == !m.owned, "try_acquire = %d with owned = %d", ok, m.owned);
			m.owned = 1;
			break;
		}
		case OP_RELEASE:
			if (!m.owned)
				break;
			m_release();
			tsq_owner_release(&obj);
			ev_compare("release");
			break;
		case OP_FLUSH:
			if (!m.owned)
				break;
			ev_add(&want, EV_RET, 0, m_flush());
			ev_add(&got, EV_RET, 0, tsq_owner_flush(&obj));
			ev_compare("flush");
			break;
		case OP_FLUSH_EVERY: {
			unsigned every = get8(&r) % 5; /* 0 and 1: every call */
			int mret = 0;

			if (!m.owned)
				break;
			if (++model_ctr >= every) {
				model_ctr = 0;
				mret = m_flush();
			}
			ev_add(&want, EV_RET, 0, mret);
			ev_add(&got, EV_RET, 0, tsq_owner_flush_every(&obj, &real_ctr, every));
			CHECK(real_ctr == model_ctr, "flush_every counter %u, model %u", real_ctr,
			      model_ctr);
			ev_compare("flush_every");
			break;
		}
		case OP_DELIVER:
		case OP_DELIVER2:
		case OP_DELIVER3: {
			uint32_t id = new_desc(&r);

			if (id == UINT32_MAX)
				break;
			/* Single-threaded, so while "we" own it this models another thread's delivery. */
			ev_add(&want, EV_RESULT, id, m_deliver(id));
			ev_add(&got, EV_RESULT, id, r_deliver(&obj, id));
			ev_compare("deliver");
			break;
		}
		case OP_LOCK_FAST: {
			bool slow;

			if (m.owned)
				break; /* the slow path would wait for ourselves */
			slow = tsq_owner_lock_fast(&obj);
			CHECK(!slow, "lock_fast took the slow path on an unowned object");
			tsq_owner_unlock_fast(&obj, slow);
			break;
		}
		case OP_LOCK_CHECK: {
			bool owned = tsq_owner_lock_check(&obj);

			tsq_owner_unlock(&obj);
			CHECK(owned == (m.owned != 0), "lock_check = %d, model %d", owned, m.owned);
			break;
		}
		case OP_REINIT: {
			int want_rc = (m.owned || m.nfifo != 0) ? -EBUSY : 0;
			int rc = tsq_owner_destroy(&obj);
			uint8_t b = get8(&r);

			CHECK(rc == want_rc, "destroy = %d, model %d", rc, want_rc);
			if (rc == 0)
				obj_init(b & 1 ? 0 : pick_limit(&r), b & 2 ? 0 : 1);
			break;
		}
		case OP_EINVAL: {
			struct tsq_owner_work w = { POISON_NEXT, POISON_COST, 0 };
			struct tsq_owner_stats st;

			CHECK(tsq_owner_deliver(NULL, &w, 1, 0) == -EINVAL, "deliver(NULL o)");
			CHECK(tsq_owner_deliver(&obj, NULL, 1, 0) == -EINVAL, "deliver(NULL w)");
			CHECK(w.next == POISON_NEXT && w.cost == POISON_COST,
			      "-EINVAL touched the item");
			CHECK(tsq_owner_stats(NULL, &st) == -EINVAL, "stats(NULL o)");
			CHECK(tsq_owner_stats(&obj, NULL) == -EINVAL, "stats(NULL out)");
			CHECK(tsq_owner_init(NULL, &ops_cb, NULL) == -EINVAL, "init(NULL o)");
			CHECK(tsq_owner_destroy(NULL) == -EINVAL, "destroy(NULL o)");
			break;
		}
		}
		check_state();
	}
	/* End of input: give up ownership (drains), then everything must be gone. */
	op_no++;
	if (m.owned) {
		m_release();
		tsq_owner_release(&obj);
		ev_compare("final release");
	}
	check_state();
	CHECK(m.nfifo == 0, "model backlog not empty after release");
	CHECK(tsq_owner_destroy(&obj) == 0, "destroy after the final release");
	CHECK(live_items == 0, "%ld items neither processed nor handed back", live_items);
	return 0;
}

#ifdef TSQ_FUZZ_REPLAY_MAIN
#define TSQ_FUZZ_NAME "owner_fuzz_replay"
#include "replay_main.h"
#endif
