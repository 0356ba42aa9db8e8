/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Stress test for tsq/zc.h: one flow, one sender, several completion threads and a reader.
 *   - The sender starts sends (random sizes, flags 0 / TSQ_ZC_APPEND / TSQ_ZC_APPEND_ONLY)
 *     and hands 0-3 "frames" per send (one tsq_zc_get reference each, random copied flags) to
 *     the completion threads' queues (a tsq_llist each); it ends each call with
 *     tsq_zc_send_done, or tsq_zc_send_abort when the call "sent nothing" (no frame). On
 *     -ENOBUFS (reserve empty or the pinned-memory limit) it retries: nothing changed.
 *     A 0-byte send is TSQ_ZC_NO_ZEROCOPY: no id, no context (counted in sends_empty).
 *     Every 16th send the sender also misuses its context right after send_done, while the
 *     completion threads may be finishing it: a second send_done and a send_abort must both
 *     be -EINVAL and change nothing (the exact accounting below would see any change).
 *   - Completion threads hold frames back and put them in random order; some frames are
 *     cloned or split first (another tsq_zc_get, pushed to a random completion thread).
 *   - The reader calls tsq_zc_read concurrently, in random batch sizes.
 * The ids start 2^32 - sends/2, so the run crosses the u32 wrap. Exact accounting afterwards:
 *   - every id of a send that was not aborted is covered by exactly one notice; no notice
 *     covers any other id (an aborted id is only notified once a later send reused it);
 *   - the sum of the ranges (hi - lo + 1 in u32) equals the number of sends that were not
 *     aborted (the kernel selftest's check, KERNEL-SEMANTICS.md §4.11);
 *   - COPIED exact (default policy): a notice is COPIED iff some frame of a context it covers
 *     was put with copied = true, for every id it covers (a merged notice is homogeneous);
 *     with TSQ_ZC_MERGE_IGNORE_COPIED: the notice carries the mark of its first context;
 *   - the counters: sends, sends_appended, aborted, refused_reserve + refused_pin (the
 *     sender's -ENOBUFS), copied (contexts with a copied frame), notices_queued (notices
 *     read), notices_queued + notices_merged (contexts that ended with a send);
 *   - nothing left: the pinned-memory account is back to 0, and `reserve` new sends start at
 *     once (every context back in the reserve) while one more is refused.
 * The sender reads the private field ctx->id (the context's first id) to know which sends
 * share a context (only the sender writes it); main reads flow.next_id at the end.
 *
 * Usage: stress_zc [sends completion_threads reserve pin_limit_pages exact|ignore]
 *        (defaults 300000 3 64 600 exact; tests/zc.cmake: 600000, 200000 under TSan)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsq/zc.h>

#define MAXC 16

#define FAIL(...)                                     \
	do {                                          \
		fprintf(stderr, "stress.zc: FAIL: "); \
		fprintf(stderr, __VA_ARGS__);         \
		fputc('\n', stderr);                  \
		abort();                              \
	} while (0)

struct frame {
	struct tsq_llist_node node;
	struct tsq_zc_ctx *ctx;
	uint32_t key; /* index (id - base) of the context's first id */
	bool copied;
};

struct completer {
	struct tsq_llist_head q TSQ_CACHELINE_ALIGNED;
	pthread_t th;
	uint64_t seed;
	uint64_t puts, clones;
};

static struct tsq_zc_flow zf;
static struct tsq_zc_ctx *reserve;
static struct tsq_zc_account acct;
static struct tsq_zc_account_opts ao = { .size = sizeof(struct tsq_zc_account_opts) };
static struct tsq_zc_flow_opts fo = { .size = sizeof(struct tsq_zc_flow_opts) };
static unsigned nres, ncomp;
static uint32_t nsends, base;
static bool ignore_copied;
static struct completer comp[MAXC];

static uint32_t *ctx_key;             /* per id index: its context's key (sender-written) */
static uint8_t *key_copied;           /* per context key: some frame was put copied (atomic) */
static int64_t outstanding;           /* frames created and not yet put (atomic) */
static int sender_done;               /* atomic */
static int reader_stop;               /* atomic */
static struct tsq_zc_notice *notices; /* read by the reader, checked by main */
static size_t nnotices, notices_cap;

/* Sender results. */
static uint64_t ok_sends, appended, aborted, enobufs, emsgsize, fresh_ok, fresh_aborted;
static uint64_t empty_sends, misuses;

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: deterministic per thread. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1du;
}

static void push_frame(struct tsq_zc_ctx *c, uint32_t key, bool copied, uint64_t *seed)
{
	struct frame *f = malloc(sizeof(*f));

	if (f == NULL)
		FAIL("out of memory");
	f->ctx = c;
	f->key = key;
	f->copied = copied;
	tsq_fetch_add(&outstanding, 1, TSQ_RELAXED);
	tsq_llist_push(&comp[rnd(seed) % ncomp].q, &f->node);
}

static void *sender(void *arg)
{
	uint64_t seed = 0x1234567u;

	(void)arg;
	while (ok_sends < nsends) {
		uint64_t r = rnd(&seed);
		uint32_t bytes;
		unsigned flags = (r & 3) == 0 ? 0 :
				 (r & 3) == 3 ? TSQ_ZC_APPEND_ONLY :
						TSQ_ZC_APPEND;
		struct tsq_zc_ctx *c;
		int rc;

		r >>= 2;
		switch (r & 7) {
		case 0:
			bytes = (uint32_t)(rnd(&seed) % (TSQ_ZC_MAX_BYTES + 1));
			break;
		case 1:
			bytes = 0;
			break;
		default:
			bytes = (uint32_t)(rnd(&seed) % 65536);
		}
		r >>= 3;
		for (;;) {
			rc = tsq_zc_send_start(&zf, bytes, flags, &c);
			if (rc == 0 || rc == TSQ_ZC_NO_ZEROCOPY)
				break;
			if (rc == -EMSGSIZE && flags == TSQ_ZC_APPEND_ONLY) {
				emsgsize++;
				flags = TSQ_ZC_APPEND; /* the cork is full: start a new one */
				continue;
			}
			if (rc != -ENOBUFS)
				FAIL("send_start(%u, %u) = %d", bytes, flags, rc);
			enobufs++;
			sched_yield();
		}
		if (rc == TSQ_ZC_NO_ZEROCOPY) {
			/* The kernel's rule: a 0-byte send is not zerocopy. No id taken. */
			if (bytes != 0 || c != NULL || zf.next_id != (uint32_t)(base + ok_sends))
				FAIL("TSQ_ZC_NO_ZEROCOPY for %u bytes, ctx %p, next id %u", bytes,
				     (void *)c, zf.next_id);
			empty_sends++;
			continue;
		}
		uint32_t id = tsq_zc_send_id(c);
		uint32_t idx = id - base;
		bool fresh = c->id == id; /* private: the context's first id (sender-written) */

		if (idx != ok_sends)
			FAIL("send %" PRIu64 " got id %u (index %u)", ok_sends, id, idx);
		ctx_key[idx] = c->id - base;
		unsigned nframes = (unsigned)(r % 4);
		r >>= 2;
		if (nframes == 0 && (r & 1)) {
			/* Sent nothing: the id goes back, the next send reuses it. */
			rc = tsq_zc_send_abort(&zf, c);
			if (rc != 0)
				FAIL("abort of the newest send = %d", rc);
			aborted++;
			appended += !fresh; /* sends_appended counts the start */
			fresh_aborted += fresh;
			fresh_ok += fresh;
			continue;
		}
		for (unsigned i = 0; i < nframes; i++) {
			tsq_zc_get(c);
			push_frame(c, ctx_key[idx], (rnd(&seed) % 8) == 0, &seed);
		}
		if (tsq_zc_send_done(&zf, c) != 0)
			FAIL("send_done of send %" PRIu64 " refused", ok_sends);
		if ((ok_sends & 15) == 0) {
			/* Misuse table: send_done twice, abort after done - refused, nothing changed. */
			if ((rc = tsq_zc_send_done(&zf, c)) != -EINVAL)
				FAIL("second send_done = %d", rc);
			if ((rc = tsq_zc_send_abort(&zf, c)) != -EINVAL)
				FAIL("send_abort after send_done = %d", rc);
			misuses++;
		}
		ok_sends++;
		appended += !fresh;
		fresh_ok += fresh;
	}
	tsq_store(&sender_done, 1, TSQ_RELEASE);
	return NULL;
}

static void put_frame(struct completer *me, struct frame *f)
{
	uint64_t r = rnd(&me->seed);

	if ((r & 15) == 0) {
		/* A clone or a split: one more reference, completed by some other thread. */
		tsq_zc_get(f->ctx);
		push_frame(f->ctx, f->key, (r >> 4) % 8 == 0, &me->seed);
		me->clones++;
	}
	if (f->copied)
		tsq_store(&key_copied[f->key], 1, TSQ_RELAXED);
	if (tsq_zc_put(&zf, f->ctx, f->copied) != 0)
		FAIL("a put of a held reference was refused");
	me->puts++;
	free(f);
	tsq_fetch_sub(&outstanding, 1, TSQ_RELEASE);
}

static void *completer(void *arg)
{
	struct completer *me = arg;
	struct frame **held = NULL;
	size_t nheld = 0, cap = 0;

	for (;;) {
		struct tsq_llist_node *n = tsq_llist_take_all(&me->q);
		bool got = n != NULL;

		for (; n != NULL;) {
			struct tsq_llist_node *next = n->next;

			if (nheld == cap) {
				cap = cap ? 2 * cap : 64;
				held = realloc(held, cap * sizeof(*held));
				if (held == NULL)
					FAIL("out of memory");
			}
			held[nheld++] = tsq_container_of(n, struct frame, node);
			n = next;
		}
		if (nheld > 0) {
			/* Random order; keep some back while more arrive (a reordering window). */
			size_t k = got ? 1 + rnd(&me->seed) % nheld : nheld;

			while (k-- > 0) {
				size_t i = rnd(&me->seed) % nheld;
				struct frame *f = held[i];

				held[i] = held[--nheld];
				put_frame(me, f);
			}
			continue;
		}
		if (tsq_load(&sender_done, TSQ_ACQUIRE) && tsq_load(&outstanding, TSQ_ACQUIRE) == 0)
			break;
		sched_yield();
	}
	free(held);
	return NULL;
}

static void store_notices(const struct tsq_zc_notice *n, int k)
{
	for (int i = 0; i < k; i++) {
		if (nnotices == notices_cap)
			FAIL("more notices than sends");
		notices[nnotices++] = n[i];
	}
}

static void *reader(void *arg)
{
	uint64_t seed = 0xabcdefu;
	struct tsq_zc_notice buf[64];

	(void)arg;
	while (!tsq_load(&reader_stop, TSQ_ACQUIRE)) {
		int k = tsq_zc_read(&zf, buf, (int)(1 + rnd(&seed) % 64));

		if (k < 0)
			FAIL("read = %d", k);
		store_notices(buf, k);
		if (k == 0 || rnd(&seed) % 16 == 0)
			for (int i = (int)(rnd(&seed) % 8); i >= 0; i--)
				sched_yield(); /* let notices pile up: the reserve runs dry */
	}
	return NULL;
}

static bool expected_copied(uint32_t idx)
{
	return tsq_load(&key_copied[ctx_key[idx]], TSQ_RELAXED) != 0;
}

int main(int argc, char **argv)
{
	unsigned long pin_pages = 600;
	pthread_t ts, tr;
	struct tsq_zc_stats st;

	nsends = 300000;
	ncomp = 3;
	nres = 64;
	if (argc > 1)
		nsends = (uint32_t)strtoul(argv[1], NULL, 10);
	if (argc > 2)
		ncomp = (unsigned)strtoul(argv[2], NULL, 10);
	if (argc > 3)
		nres = (unsigned)strtoul(argv[3], NULL, 10);
	if (argc > 4)
		pin_pages = strtoul(argv[4], NULL, 10);
	if (argc > 5)
		ignore_copied = strcmp(argv[5], "ignore") == 0;
	if (nsends == 0 || ncomp == 0 || ncomp > MAXC || nres == 0 || pin_pages < 2ul * nres + 130)
		FAIL("usage: stress_zc sends(>0) threads(1..%d) reserve(>0) pin_pages(>=2*reserve+130) "
		     "[exact|ignore]",
		     MAXC);

	reserve = calloc(nres, sizeof(*reserve));
	ctx_key = calloc(nsends, sizeof(*ctx_key));
	key_copied = calloc(nsends, 1);
	notices_cap = nsends;
	notices = calloc(notices_cap, sizeof(*notices));
	if (reserve == NULL || ctx_key == NULL || key_copied == NULL || notices == NULL)
		FAIL("out of memory");
	ao.limit = pin_pages * TSQ_ZC_PAGE_SIZE;
	fo.flags = ignore_copied ? TSQ_ZC_MERGE_IGNORE_COPIED : 0;
	tsq_zc_account_init(&acct, &ao);
	if (tsq_zc_flow_init(&zf, reserve, nres, &acct, &fo))
		FAIL("flow_init");
	base = (uint32_t)(0u - nsends / 2); /* cross the 2^32 wrap half-way */
	tsq_zc_flow_set_next_id(&zf, base);

	for (unsigned i = 0; i < ncomp; i++) {
		tsq_llist_init(&comp[i].q);
		comp[i].seed = 0x9e3779b97f4a7c15u * (i + 1);
		if (pthread_create(&comp[i].th, NULL, completer, &comp[i]))
			FAIL("pthread_create");
	}
	if (pthread_create(&tr, NULL, reader, NULL) || pthread_create(&ts, NULL, sender, NULL))
		FAIL("pthread_create");
	pthread_join(ts, NULL);
	for (unsigned i = 0; i < ncomp; i++)
		pthread_join(comp[i].th, NULL);
	tsq_store(&reader_stop, 1, TSQ_RELEASE);
	pthread_join(tr, NULL);

	/* Everything completed: the rest of the notices are queued. */
	{
		struct tsq_zc_notice buf[64];
		int k;

		while ((k = tsq_zc_read(&zf, buf, 64)) > 0)
			store_notices(buf, k);
		if (k < 0 || tsq_zc_notices_pending(&zf) != 0)
			FAIL("final read = %d, pending %" PRIu64, k, tsq_zc_notices_pending(&zf));
	}

	/* Coverage: every id of a send exactly once, no other id; COPIED per policy. */
	uint8_t *seen = calloc(nsends, 1);
	uint64_t sum = 0, gaps = 0, copied_notices = 0;
	uint32_t next = base;

	if (seen == NULL)
		FAIL("out of memory");
	for (size_t i = 0; i < nnotices; i++) {
		const struct tsq_zc_notice *n = &notices[i];
		uint32_t range = n->hi - n->lo + 1;

		if (range == 0)
			FAIL("notice %zu [%u, %u] covers 2^32 ids", i, n->lo, n->hi);
		if (n->lo != next)
			gaps++; /* out of order: the selftest reports a gap, not an error */
		next = n->hi + 1;
		sum += range;
		copied_notices += n->copied;
		for (uint32_t j = 0; j < range; j++) {
			uint32_t id = n->lo + j, idx = id - base;

			if (!tsq_zc_notice_covers(n, id))
				FAIL("notice_covers([%u, %u], %u) is false", n->lo, n->hi, id);
			if (idx >= ok_sends)
				FAIL("notice [%u, %u] covers id %u: never sent, or aborted", n->lo,
				     n->hi, id);
			if (seen[idx])
				FAIL("id %u notified twice (notice [%u, %u])", id, n->lo, n->hi);
			seen[idx] = 1;
			if (!ignore_copied && expected_copied(idx) != n->copied)
				FAIL("notice [%u, %u] copied=%d but id %u (context %u) %s copied",
				     n->lo, n->hi, n->copied, id, ctx_key[idx] + base,
				     expected_copied(idx) ? "was" : "was not");
		}
		if (ignore_copied && expected_copied(n->lo - base) != n->copied)
			FAIL("notice [%u, %u] copied=%d, its first context's mark is %d", n->lo,
			     n->hi, n->copied, expected_copied(n->lo - base));
	}
	if (sum != ok_sends)
		FAIL("sum of ranges %" PRIu64 " != %" PRIu64 " sends", sum, ok_sends);
	for (uint64_t i = 0; i < ok_sends; i++)
		if (!seen[i])
			FAIL("id %u never notified", (uint32_t)(base + i));

	/* Counters. */
	uint64_t copied_ctx = 0, puts = 0, clones = 0;

	for (uint64_t i = 0; i < ok_sends; i++)
		if (ctx_key[i] == i && key_copied[i])
			copied_ctx++;
	for (unsigned i = 0; i < ncomp; i++) {
		puts += comp[i].puts;
		clones += comp[i].clones;
	}
	tsq_zc_stats(&zf, &st);
	if (st.sends != ok_sends + aborted || st.aborted != aborted ||
	    st.sends_appended != appended)
		FAIL("stats: sends %" PRIu64 " aborted %" PRIu64 " appended %" PRIu64
		     ", want %" PRIu64 " %" PRIu64 " %" PRIu64,
		     st.sends, st.aborted, st.sends_appended, ok_sends + aborted, aborted,
		     appended);
	if (st.sends_empty != empty_sends)
		FAIL("stats: sends_empty %" PRIu64 ", sender saw %" PRIu64, st.sends_empty,
		     empty_sends);
	if (st.refused_reserve + st.refused_pin != enobufs)
		FAIL("stats: refused %" PRIu64 " + %" PRIu64 ", sender saw %" PRIu64 " -ENOBUFS",
		     st.refused_reserve, st.refused_pin, enobufs);
	if (st.notices_queued != nnotices)
		FAIL("stats: notices_queued %" PRIu64 ", %zu read", st.notices_queued, nnotices);
	if (st.notices_queued + st.notices_merged != fresh_ok - fresh_aborted)
		FAIL("stats: queued %" PRIu64 " + merged %" PRIu64 " != %" PRIu64 " contexts",
		     st.notices_queued, st.notices_merged, fresh_ok - fresh_aborted);
	if (st.copied != copied_ctx)
		FAIL("stats: copied %" PRIu64 ", %" PRIu64 " contexts had a copied frame",
		     st.copied, copied_ctx);
	if (tsq_load(&outstanding, TSQ_RELAXED) != 0)
		FAIL("%" PRId64 " frames left", outstanding);

	/* Nothing left: no pin, and every context back in the reserve. */
	if (tsq_zc_account_pinned(&acct) != 0)
		FAIL("%" PRIu64 " bytes still pinned", tsq_zc_account_pinned(&acct));
	{
		struct tsq_zc_ctx **c = calloc(nres, sizeof(*c)), *x;
		struct tsq_zc_notice n[2];
		uint32_t first = zf.next_id;

		if (first != (uint32_t)(base + ok_sends))
			FAIL("next id %u, want %u", first, (uint32_t)(base + ok_sends));
		for (unsigned i = 0; i < nres; i++)
			if (tsq_zc_send_start(&zf, 1, 0, &c[i]) != 0)
				FAIL("context %u of %u not back in the reserve", i, nres);
		if (tsq_zc_send_start(&zf, 1, 0, &x) != -ENOBUFS)
			FAIL("reserve of %u gave one more context", nres);
		for (unsigned i = 0; i < nres; i++)
			tsq_zc_send_done(&zf, c[i]);
		if (tsq_zc_read(&zf, n, 2) != 1 || n[0].lo != first ||
		    n[0].hi != first + nres - 1 || n[0].copied)
			FAIL("final in-order sends: not one notice [%u, %u]", first,
			     first + nres - 1);
		if (tsq_zc_account_pinned(&acct) != 0)
			FAIL("pinned after the final sends");
		free(c);
	}

	printf("stress.zc: %s policy, %u completion threads, reserve %u, pin limit %lu pages\n"
	       "  sends %" PRIu64 " (ids %u..%u), appended %" PRIu64 ", aborted %" PRIu64
	       ", -EMSGSIZE %" PRIu64 ", 0-byte %" PRIu64 ", refused misuses %" PRIu64 "\n"
	       "  frames put %" PRIu64 " (clones %" PRIu64 "), -ENOBUFS %" PRIu64
	       " (reserve %" PRIu64 ", pin %" PRIu64 ")\n"
	       "  notices %zu (copied %" PRIu64 ", gaps %" PRIu64 "), merged %" PRIu64
	       ", copied contexts %" PRIu64 ": every id exactly once, sum of ranges = sends\n",
	       ignore_copied ? "ignore-copied" : "exact", ncomp, nres, pin_pages, ok_sends, base,
	       (uint32_t)(base + ok_sends - 1), appended, aborted, emsgsize, empty_sends, misuses,
	       puts, clones, enobufs, st.refused_reserve, st.refused_pin, nnotices, copied_notices,
	       gaps, st.notices_merged, copied_ctx);
	free(seen);
	free(notices);
	free(key_copied);
	free(ctx_key);
	free(reserve);
	return 0;
}
