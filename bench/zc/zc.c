/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/zc/zc.c - zerocopy completion ranges (tsq/zc.h): what coalescing saves, and
 * what a sender spends per byte when it copies versus when it hands its buffer over.
 *
 * Every benchmark here is single-threaded: the sender, the "TX completion" and the
 * application reading notices are one thread, taking turns, so the notice queue's lock is
 * never contended and the numbers are the path lengths. Every one reports
 *   notices_per_send   notices the application read / application sends
 *   ns_per_send        wall-clock ns per application send (everything the thread did)
 * and the cycles benchmarks also cycles_per_byte (TSC ticks; see zc_cycles_now()).
 *
 * zc/inorder/append:A/coalesce:C, zc/outoforder/append:A/coalesce:C
 *   64 KiB sends, each split into 46 frames of at most 1448 bytes (an MSS at MTU 1500,
 *   no TSO: what an AF_XDP stack sends) with one tsq_zc_get() per frame, then
 *   tsq_zc_send_done(). append:1 passes TSQ_ZC_APPEND (the kernel's TCP: extend the newest
 *   context, here 8 sends of 64 KiB until the 512 KiB cap); coalesce:0 makes the flow with
 *   TSQ_ZC_NO_COALESCE. The completion ring is processed once ZC_WINDOW (16) sends are in
 *   flight - every frame of those sends is put, in send order (inorder) or with the sends in
 *   a pseudo-random permutation (outoforder; each send's frames in order; permutations drawn
 *   before the clock starts). The application reads every notice every ZC_READ_EVERY (64)
 *   sends, and at once if a send is refused for an empty reserve (counted). It checks the
 *   kernel selftest's invariant: the ranges read add up to the sends made.
 * zc/tso/inorder/..., zc/tso/outoforder/..., zc/tso/baseline/...
 *   The same with one reference per send (one 64 KiB TSO frame, about what the kernel's TCP
 *   takes per 64 KB send), so that the notice path is not hidden behind 92 refcount
 *   operations per send.
 * zc/baseline/one_notice_per_send
 *   io_uring's model written by hand with the same refcount per frame: a request slot per
 *   send whose last reference posts one CQE (the send's id) to a single-producer CQ ring the
 *   application reaps every 64 sends - no notice lock, no context reserve, no counters. It
 *   counts only the notification CQE (IORING_OP_SEND_ZC posts two per request: the result,
 *   then the IORING_CQE_F_NOTIF one). zc/inorder/append:0/coalesce:0 is the same model in tsq.
 * zc/cycles/copy/src:{hot,cold}/bytes:N, zc/cycles/zerocopy/bytes:N (N = 4 KiB .. 1 MiB)
 *   The seed's table (netperf process cycles, copy vs MSG_ZEROCOPY) in userspace, see
 *   zc_cycles_* below.
 *
 * Not modelled: syscalls, TCP, the driver, page pinning (gup) - the kernel's zerocopy pays
 * get_user_pages per send, which an AF_XDP stack whose buffers already live in the UMEM
 * does not.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <tsq/zc.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define ZC_HAVE_TSC 1
#else
#define ZC_HAVE_TSC 0
#endif

#define ZC_MSS 1448u         /* payload per frame: TCP MSS at MTU 1500 */
#define ZC_SEND_BYTES 65536u /* the 64 KB sends */
#define ZC_FRAMES_PER_SEND ((ZC_SEND_BYTES + ZC_MSS - 1) / ZC_MSS) /* 46 */
#define ZC_WINDOW 16u     /* sends in flight when the completion ring is processed */
#define ZC_READ_EVERY 64u /* application sends between two reads of the notices */
#define ZC_PER_ITER 1024u /* sends per timed iteration (multiple of the two above) */
#define ZC_PERMS 256u     /* precomputed permutations of a window */
#define ZC_RESERVE 256u   /* contexts: >= ZC_WINDOW in flight + ZC_READ_EVERY unread */
#define ZC_NOTICE_BATCH 32

_Static_assert(ZC_PER_ITER % ZC_READ_EVERY == 0 && ZC_READ_EVERY % ZC_WINDOW == 0,
	       "an iteration ends with every send completed and every notice read");
_Static_assert(ZC_RESERVE >= ZC_WINDOW + ZC_READ_EVERY, "the reserve covers the worst case");

/* xorshift64*: deterministic, so every run completes the same permutations. */
static uint64_t zc_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* Read every notice; adds the ranges' lengths to *ids. Returns the number of notices. */
static uint64_t zc_read_all(struct tsq_zc_flow *f, uint64_t *ids)
{
	struct tsq_zc_notice n[ZC_NOTICE_BATCH];
	uint64_t got = 0;
	int k;

	while ((k = tsq_zc_read(f, n, ZC_NOTICE_BATCH)) > 0) {
		for (int i = 0; i < k; i++)
			*ids += (uint32_t)(n[i].hi - n[i].lo) + 1u;
		got += (uint64_t)k;
	}
	return got;
}

static void zc_report(struct gbench_state *st, uint64_t sends, uint64_t notices, uint64_t ns)
{
	gbench_set_items_processed(st, (int64_t)sends);
	gbench_counter(st, "notices_per_send", sends != 0 ? (double)notices / (double)sends : 0.0,
		       GBENCH_COUNTER_DEFAULT);
	gbench_counter(st, "ns_per_send", sends != 0 ? (double)ns / (double)sends : 0.0,
		       GBENCH_COUNTER_DEFAULT);
}

/* ---- zc/inorder, zc/outoforder ------------------------------------------------------- */

struct zc_order_cfg {
	unsigned send_flags; /* 0 or TSQ_ZC_APPEND */
	unsigned flow_flags; /* 0 or TSQ_ZC_NO_COALESCE */
	bool shuffle;
	unsigned frames; /* references per send: ZC_FRAMES_PER_SEND, or 1 (zc/tso/...) */
};

struct zc_order_run {
	struct tsq_zc_flow zf;
	struct tsq_zc_account acct;
	struct tsq_zc_ctx reserve[ZC_RESERVE];
	struct tsq_zc_ctx *win[ZC_WINDOW];
	uint8_t perm[ZC_PERMS][ZC_WINDOW];
};

static void bm_zc_order(struct gbench_state *st, const void *arg)
{
	const struct zc_order_cfg *cfg = arg;
	const unsigned frames = cfg->frames;
	struct zc_order_run *r = bench_alloc_lines(sizeof(*r));
	uint64_t sends = 0, notices = 0, ids = 0, forced = 0, t0, seed = 0x9e3779b97f4a7c15ull;
	unsigned nwin = 0, nperm = 0;
	struct tsq_zc_stats zs;

	if (r == NULL) {
		gbench_skip_with_error(st, "out of memory");
		return;
	}
	/* The pinned-memory charge is on the path of every send, as in the kernel; no limit. */
	struct tsq_zc_flow_opts fo = { .size = sizeof(fo), .flags = cfg->flow_flags };

	tsq_zc_account_init(&r->acct, NULL);
	if (tsq_zc_flow_init(&r->zf, r->reserve, ZC_RESERVE, &r->acct, &fo) != 0) {
		gbench_skip_with_error(st, "tsq_zc_flow_init failed");
		free(r);
		return;
	}
	for (unsigned p = 0; p < ZC_PERMS; p++) {
		for (unsigned i = 0; i < ZC_WINDOW; i++)
			r->perm[p][i] = (uint8_t)i;
		for (unsigned i = ZC_WINDOW - 1; cfg->shuffle && i > 0; i--) {
			unsigned j = (unsigned)(zc_rand(&seed) % (i + 1));
			uint8_t t = r->perm[p][i];

			r->perm[p][i] = r->perm[p][j];
			r->perm[p][j] = t;
		}
	}

	t0 = bench_now_ns();
	while (gbench_keep_running(st)) {
		for (unsigned i = 0; i < ZC_PER_ITER; i++) {
			struct tsq_zc_ctx *c;
			int rc;

			while ((rc = tsq_zc_send_start(&r->zf, ZC_SEND_BYTES, cfg->send_flags,
						       &c)) == -ENOBUFS) {
				uint64_t k = zc_read_all(&r->zf, &ids);

				forced++;
				notices += k;
				if (k == 0)
					break; /* every context in flight: a reserve too small */
			}
			if (tsq_unlikely(rc != 0)) {
				gbench_skip_with_error(st, "tsq_zc_send_start failed");
				goto out;
			}
			for (unsigned f = 0; f < frames; f++)
				tsq_zc_get(c);
			tsq_zc_send_done(&r->zf, c);
			r->win[nwin++] = c;
			if (nwin == ZC_WINDOW) {
				const uint8_t *p = r->perm[nperm++ % ZC_PERMS];

				for (unsigned s = 0; s < ZC_WINDOW; s++)
					for (unsigned f = 0; f < frames; f++)
						tsq_zc_put(&r->zf, r->win[p[s]], false);
				nwin = 0;
			}
			if ((i + 1) % ZC_READ_EVERY == 0)
				notices += zc_read_all(&r->zf, &ids);
		}
		sends += ZC_PER_ITER;
	}
	zc_report(st, sends, notices, bench_now_ns() - t0);
	tsq_zc_stats(&r->zf, &zs);
	/* The selftest's check: every send counted once in the sum of the ranges. */
	if (ids != sends || zs.sends != sends || zs.notices_queued != notices)
		gbench_skip_with_error(st, "notices do not add up to the sends");
	gbench_counter(st, "contexts_per_send",
		       sends != 0 ? (double)(zs.sends - zs.sends_appended) / (double)sends : 0.0,
		       GBENCH_COUNTER_DEFAULT);
	gbench_counter(st, "forced_reads", (double)forced, GBENCH_COUNTER_DEFAULT);
out:
	free(r);
}

/* ---- zc/baseline/one_notice_per_send: io_uring's model, by hand --------------------------- */

#define ZC_CQ_SLOTS 256u /* >= ZC_READ_EVERY: one CQE per send between two reaps */

struct zc_req {
	uint32_t refcnt; /* atomic, as the notification's ubuf refcount */
	uint32_t id;
};

struct zc_uring {
	struct zc_req req[ZC_RESERVE];
	uint32_t free[ZC_RESERVE]; /* stack of free request slots */
	unsigned nfree;
	uint32_t next_id;
	/* CQ ring: the completion posts with a release store of tail, the reaper acquires. */
	_Alignas(TSQ_CACHELINE_SIZE) uint32_t cq_tail;
	_Alignas(TSQ_CACHELINE_SIZE) uint32_t cq_head;
	uint64_t cqe[ZC_CQ_SLOTS]; /* user_data: the send's id */
};

BENCH_INLINE void zc_uring_put(struct zc_uring *u, uint32_t slot)
{
	struct zc_req *q = &u->req[slot];

	if (tsq_fetch_sub(&q->refcnt, 1u, TSQ_ACQ_REL) == 1) {
		uint32_t t = u->cq_tail;

		u->cqe[t % ZC_CQ_SLOTS] = q->id;
		tsq_store(&u->cq_tail, t + 1, TSQ_RELEASE);
		u->free[u->nfree++] = slot;
	}
}

static void bm_zc_baseline(struct gbench_state *st, const void *arg)
{
	const unsigned frames = *(const unsigned *)arg;
	struct zc_uring *u = bench_alloc_lines(sizeof(*u));
	uint32_t win[ZC_WINDOW];
	uint64_t sends = 0, notices = 0, ids = 0, t0;
	unsigned nwin = 0;

	if (u == NULL) {
		gbench_skip_with_error(st, "out of memory");
		return;
	}
	for (unsigned i = 0; i < ZC_RESERVE; i++)
		u->free[u->nfree++] = ZC_RESERVE - 1 - i;

	t0 = bench_now_ns();
	while (gbench_keep_running(st)) {
		for (unsigned i = 0; i < ZC_PER_ITER; i++) {
			uint32_t slot = u->free[--u->nfree]; /* never empty: ZC_WINDOW in flight */
			struct zc_req *q = &u->req[slot];

			q->id = u->next_id++;
			tsq_store(&q->refcnt, 1u, TSQ_RELEASE); /* the send call's reference */
			for (unsigned f = 0; f < frames; f++)
				tsq_fetch_add(&q->refcnt, 1u, TSQ_RELAXED);
			zc_uring_put(u, slot);
			win[nwin++] = slot;
			if (nwin == ZC_WINDOW) {
				for (unsigned s = 0; s < ZC_WINDOW; s++)
					for (unsigned f = 0; f < frames; f++)
						zc_uring_put(u, win[s]);
				nwin = 0;
			}
			if ((i + 1) % ZC_READ_EVERY == 0) {
				uint32_t h = u->cq_head, t = tsq_load(&u->cq_tail, TSQ_ACQUIRE);

				/* ids counts the CQEs that carried the next id in order. */
				for (; h != t; h++, notices++)
					if ((uint32_t)u->cqe[h % ZC_CQ_SLOTS] == (uint32_t)ids)
						ids++;
				tsq_store(&u->cq_head, h, TSQ_RELEASE);
			}
		}
		sends += ZC_PER_ITER;
	}
	zc_report(st, sends, notices, bench_now_ns() - t0);
	/* In order, one CQE per send: each CQE carried the next id. */
	if (ids != sends || notices != sends)
		gbench_skip_with_error(st, "CQEs do not match the sends");
	gbench_counter(st, "contexts_per_send", 1.0, GBENCH_COUNTER_DEFAULT);
	gbench_counter(st, "forced_reads", 0.0, GBENCH_COUNTER_DEFAULT);
	free(u);
}

/* ---- zc/cycles: copy into the stack's frames vs zerocopy, per byte ----------------------- */
/*
 * One application send of N bytes, as a userspace stack without TSO would do it:
 *   both paths   per frame of at most ZC_MSS payload bytes: take a 2 KiB frame from the
 *                pool, write a 64-byte header (Ethernet + IPv4 + TCP from a template, then
 *                sequence and length), write a TX descriptor. Frames come from a LIFO stack
 *                of ZC_POOL_FRAMES (8 MiB), as the xdp-tutorial's free-frame stack: the
 *                most recently completed - warmest - frame is reused first, which favours
 *                the copy path.
 *   copy         memcpy() the payload into the frame after the header; the application's
 *                buffer is free when the send returns. No notices.
 *   zerocopy     the descriptor points at the application's bytes (never read by the CPU:
 *                checksums offloaded, as in the seed's runs); tsq_zc_send_start(TSQ_ZC_APPEND)
 *                per send (two for 1 MiB: tsq caps one send at TSQ_ZC_MAX_BYTES, 512 KiB),
 *                tsq_zc_get() per frame, tsq_zc_send_done(); at completion tsq_zc_put() per
 *                frame; the application reads notices every ZC_READ_EVERY sends.
 *   completion   after each send, every frame but the newest ZC_INFLIGHT_FRAMES (256 KiB of
 *                payload, tcp_limit_output_bytes' former default) completes: its frame goes
 *                back to the pool (and, zerocopy, its reference is put).
 * Sources: src:hot sends the same N-byte buffer every time (in cache after the first send);
 * src:cold walks a ZC_COLD_BYTES region (8x this machine's 32 MiB L3), N bytes further
 * each send, so the copy reads from DRAM. zerocopy walks the cold region too (it never
 * reads it). cycles_per_byte = TSC ticks / payload bytes over the whole loop.
 */
#define ZC_FRAME 2048u
#define ZC_HDR 64u
#define ZC_POOL_FRAMES 4096u
#define ZC_TX_SLOTS 2048u /* >= ZC_INFLIGHT_FRAMES + the frames of a 1 MiB send (725) */
#define ZC_INFLIGHT_FRAMES ((256u * 1024u + ZC_MSS - 1) / ZC_MSS)
#define ZC_COLD_BYTES (256u << 20)
#define ZC_CYCLES_SENDS_PER_ITER ZC_READ_EVERY
#define ZC_MAX_SEND (1u << 20)

_Static_assert(ZC_INFLIGHT_FRAMES + (ZC_MAX_SEND + ZC_MSS - 1) / ZC_MSS <= ZC_TX_SLOTS,
	       "the TX ring holds what is in flight after the largest send");
_Static_assert(ZC_TX_SLOTS <= ZC_POOL_FRAMES, "a frame per descriptor");

enum zc_cycles_mode { ZC_COPY_HOT, ZC_COPY_COLD, ZC_ZEROCOPY };

struct zc_cycles_cfg {
	enum zc_cycles_mode mode;
	uint32_t bytes;
};

struct zc_desc {
	unsigned char *hdr;
	const unsigned char *payload;
	uint32_t len;   /* payload bytes */
	uint32_t frame; /* pool index, back to the stack at completion */
	struct tsq_zc_ctx *ctx;
};

struct zc_hdr {
	unsigned char l2l3[40]; /* Ethernet + IPv4 + the TCP ports, from the template */
	uint32_t seq;
	uint32_t ack;
	uint16_t len;
	unsigned char rest[14];
};
_Static_assert(sizeof(struct zc_hdr) == ZC_HDR, "one header line");

struct zc_cycles_run {
	struct tsq_zc_flow zf;
	struct tsq_zc_account acct;
	struct tsq_zc_ctx reserve[ZC_RESERVE];
	struct zc_hdr tmpl;
	uint32_t free[ZC_POOL_FRAMES];
	unsigned nfree;
	uint64_t tx_head, tx_tail;
	struct zc_desc tx[ZC_TX_SLOTS];
	unsigned char *frames; /* ZC_POOL_FRAMES * ZC_FRAME, page-aligned */
	unsigned char *hot;    /* ZC_MAX_SEND bytes */
	uint32_t seq;
};

/* The cold source: allocated and written once per process (faulted in before any clock). */
static unsigned char *zc_cold_region(void)
{
	static unsigned char *region;

	if (region == NULL) {
		region = aligned_alloc(4096, ZC_COLD_BYTES);
		if (region != NULL)
			for (size_t i = 0; i < ZC_COLD_BYTES; i++)
				region[i] = (unsigned char)(i * 131u + 7u);
	}
	return region;
}

static inline uint64_t zc_cycles_now(void)
{
#if ZC_HAVE_TSC
	/* The TSC: constant-rate reference ticks (nominal frequency), not core clock cycles. */
	return __rdtsc();
#else
	return 0;
#endif
}

/* TSC ticks per ns, measured once against CLOCK_MONOTONIC over ~20 ms. */
static double zc_tsc_per_ns(void)
{
	static double rate;

	if (rate == 0 && ZC_HAVE_TSC) {
		uint64_t n0 = bench_now_ns(), c0 = zc_cycles_now(), n1;

		while ((n1 = bench_now_ns()) - n0 < 20000000u)
			;
		rate = (double)(zc_cycles_now() - c0) / (double)(n1 - n0);
	}
	return rate;
}

BENCH_INLINE unsigned char *zc_frame_get(struct zc_cycles_run *r, uint32_t *idx)
{
	*idx = r->free[--r->nfree];
	return r->frames + (size_t)*idx * ZC_FRAME;
}

BENCH_INLINE void zc_hdr_write(struct zc_cycles_run *r, unsigned char *frame, uint32_t len)
{
	struct zc_hdr *h = (struct zc_hdr *)(void *)frame;

	*h = r->tmpl;
	h->seq = r->seq;
	h->len = (uint16_t)len;
	r->seq += len;
}

/* Complete every descriptor but the newest `keep`: frames back to the pool, refs put. */
BENCH_INLINE void zc_tx_complete(struct zc_cycles_run *r, uint64_t keep, bool zerocopy)
{
	while (r->tx_tail - r->tx_head > keep) {
		const struct zc_desc *d = &r->tx[r->tx_head++ % ZC_TX_SLOTS];

		r->free[r->nfree++] = d->frame;
		if (zerocopy)
			tsq_zc_put(&r->zf, d->ctx, false);
	}
}

/*
 * The frames of src[off .. end): per frame, take one from the pool, write its header and a
 * TX descriptor. Copy (c == NULL, a constant where inlined): the payload is copied after the
 * header. Zerocopy: the descriptor points at src and the frame takes a reference on c.
 */
BENCH_INLINE void zc_frames(struct zc_cycles_run *r, const unsigned char *src, uint32_t off,
			    uint32_t end, struct tsq_zc_ctx *c)
{
	while (off < end) {
		uint32_t len = end - off < ZC_MSS ? end - off : ZC_MSS, idx;
		unsigned char *fr = zc_frame_get(r, &idx);
		struct zc_desc *d = &r->tx[r->tx_tail++ % ZC_TX_SLOTS];

		zc_hdr_write(r, fr, len);
		if (c == NULL) {
			memcpy(fr + ZC_HDR, src + off, len);
			d->payload = fr + ZC_HDR;
		} else {
			tsq_zc_get(c);
			d->payload = src + off;
		}
		d->hdr = fr;
		d->len = len;
		d->frame = idx;
		d->ctx = c;
		off += len;
	}
}

BENCH_INLINE void zc_send_copy(struct zc_cycles_run *r, const unsigned char *src, uint32_t n)
{
	zc_frames(r, src, 0, n, NULL);
	zc_tx_complete(r, ZC_INFLIGHT_FRAMES, false);
}

/* 0, or -ENOBUFS with nothing to read (the reserve is too small: a bug here). */
BENCH_INLINE int zc_send_zerocopy(struct zc_cycles_run *r, const unsigned char *src, uint32_t n,
				  uint64_t *notices, uint64_t *ids)
{
	for (uint32_t part = 0; part < n; part += TSQ_ZC_MAX_BYTES) {
		uint32_t pn = n - part < TSQ_ZC_MAX_BYTES ? n - part : TSQ_ZC_MAX_BYTES;
		struct tsq_zc_ctx *c;
		int rc;

		while ((rc = tsq_zc_send_start(&r->zf, pn, TSQ_ZC_APPEND, &c)) == -ENOBUFS) {
			uint64_t k = zc_read_all(&r->zf, ids);

			*notices += k;
			if (k == 0)
				return -ENOBUFS;
		}
		if (rc != 0)
			return rc;
		zc_frames(r, src, part, part + pn, c);
		tsq_zc_send_done(&r->zf, c);
	}
	zc_tx_complete(r, ZC_INFLIGHT_FRAMES, true);
	return 0;
}

static void bm_zc_cycles(struct gbench_state *st, const void *arg)
{
	const struct zc_cycles_cfg *cfg = arg;
	const bool zerocopy = cfg->mode == ZC_ZEROCOPY;
	struct zc_cycles_run *r = bench_alloc_lines(sizeof(*r));
	unsigned char *cold = cfg->mode == ZC_COPY_HOT ? NULL : zc_cold_region();
	uint64_t sends = 0, notices = 0, ids = 0, zc_sends = 0, pos = 0, t0, c0, c1;
	const double tsc_per_ns = zc_tsc_per_ns();
	struct tsq_zc_stats zs;

	if (r == NULL || (cfg->mode != ZC_COPY_HOT && cold == NULL) ||
	    (r->frames = aligned_alloc(4096, (size_t)ZC_POOL_FRAMES * ZC_FRAME)) == NULL ||
	    (r->hot = aligned_alloc(4096, ZC_MAX_SEND)) == NULL) {
		gbench_skip_with_error(st, "out of memory");
		goto out;
	}
	/* Fault every page in now; a first touch inside the loop would be counted. */
	memset(r->frames, 0, (size_t)ZC_POOL_FRAMES * ZC_FRAME);
	memset(r->hot, 0x5a, ZC_MAX_SEND);
	memset(&r->tmpl, 0x11, sizeof(r->tmpl));
	for (unsigned i = 0; i < ZC_POOL_FRAMES; i++)
		r->free[r->nfree++] = ZC_POOL_FRAMES - 1 - i;
	tsq_zc_account_init(&r->acct, NULL); /* no limit */
	tsq_zc_flow_init(&r->zf, r->reserve, ZC_RESERVE, &r->acct, NULL);

	t0 = bench_now_ns();
	c0 = zc_cycles_now();
	while (gbench_keep_running(st)) {
		for (unsigned i = 0; i < ZC_CYCLES_SENDS_PER_ITER; i++) {
			const unsigned char *src = r->hot;

			if (cold != NULL) {
				if (pos + cfg->bytes > ZC_COLD_BYTES)
					pos = 0;
				src = cold + pos;
				pos += cfg->bytes;
			}
			if (!zerocopy) {
				zc_send_copy(r, src, cfg->bytes);
			} else if (zc_send_zerocopy(r, src, cfg->bytes, &notices, &ids) != 0) {
				gbench_skip_with_error(st, "tsq_zc_send_start failed");
				goto out;
			}
		}
		if (zerocopy)
			notices += zc_read_all(&r->zf, &ids);
		sends += ZC_CYCLES_SENDS_PER_ITER;
	}
	c1 = zc_cycles_now();
	zc_report(st, sends, notices, bench_now_ns() - t0);
	gbench_set_items_processed(st, (int64_t)(sends * cfg->bytes)); /* bytes per second */
	if (ZC_HAVE_TSC) {
		gbench_counter(st, "cycles_per_byte",
			       sends != 0 ? (double)(c1 - c0) / ((double)sends * cfg->bytes) : 0.0,
			       GBENCH_COUNTER_DEFAULT);
		gbench_counter(st, "tsc_ghz", tsc_per_ns, GBENCH_COUNTER_DEFAULT);
	} else {
		gbench_set_label(st, "no TSC on this architecture: cycles_per_byte not reported");
	}
	if (zerocopy) {
		/* Drain: everything completes, every id is read exactly once in the sum. */
		zc_tx_complete(r, 0, true);
		notices += zc_read_all(&r->zf, &ids);
		tsq_zc_stats(&r->zf, &zs);
		zc_sends = zs.sends;
		if (ids != zc_sends || tsq_zc_account_pinned(&r->acct) != 0)
			gbench_skip_with_error(st, "notices do not add up to the sends");
	}
out:
	if (r != NULL) {
		free(r->frames);
		free(r->hot);
	}
	free(r);
}

/* ---- registration and the --tsq_tables printer --------------------------------------------- */

/* [tso][shuffle][append][coalesce], filled by zc_register(). */
static struct zc_order_cfg zc_order_cfgs[2][2][2][2];
static const unsigned zc_baseline_frames[2] = { ZC_FRAMES_PER_SEND, 1 };
static const char *const zc_order_prefix[2] = { "zc/", "zc/tso/" };

static const uint32_t zc_sizes[] = { 4096, 16384, 65536, 262144, 1048576 };
#define ZC_NSIZES (sizeof(zc_sizes) / sizeof(zc_sizes[0]))
static struct zc_cycles_cfg zc_cycles_cfgs[3][ZC_NSIZES];
static const char *const zc_cycles_names[3] = { "copy/src:hot", "copy/src:cold", "zerocopy" };

static void zc_register(void)
{
	char name[96];

	for (int t = 0; t < 2; t++) {
		for (int o = 0; o < 2; o++)
			for (int a = 0; a < 2; a++)
				for (int c = 0; c < 2; c++) {
					struct zc_order_cfg *cfg = &zc_order_cfgs[t][o][a][c];

					cfg->send_flags = a ? TSQ_ZC_APPEND : 0;
					cfg->flow_flags = c ? 0 : TSQ_ZC_NO_COALESCE;
					cfg->shuffle = o;
					cfg->frames = zc_baseline_frames[t];
					snprintf(name, sizeof(name), "%s%s/append:%d/coalesce:%d",
						 zc_order_prefix[t], o ? "outoforder" : "inorder",
						 a, c);
					gbench_use_real_time(
						gbench_register(name, bm_zc_order, cfg));
				}
		snprintf(name, sizeof(name), "%sbaseline/one_notice_per_send", zc_order_prefix[t]);
		gbench_use_real_time(gbench_register(name, bm_zc_baseline, &zc_baseline_frames[t]));
	}
	for (int m = 0; m < 3; m++)
		for (size_t s = 0; s < ZC_NSIZES; s++) {
			zc_cycles_cfgs[m][s].mode = (enum zc_cycles_mode)m;
			zc_cycles_cfgs[m][s].bytes = zc_sizes[s];
			snprintf(name, sizeof(name), "zc/cycles/%s/bytes:%u", zc_cycles_names[m],
				 zc_sizes[s]);
			gbench_unit(gbench_use_real_time(gbench_register(name, bm_zc_cycles,
									 &zc_cycles_cfgs[m][s])),
				    GBENCH_US);
		}
}
GBENCH_REGISTRAR(zc_register)

/* A counter of the result named `name`; -1 when it did not run, failed or lacks it. */
static double zc_result(const char *name, const char *counter)
{
	size_t i;
	const struct gbench_result *r = gbench_result_find(name, &i);

	if (r == NULL || r->error)
		return -1.0;
	return gbench_result_counter(i, counter, -1.0);
}

/* One cell; fmt ends in " |" (the row's newline is the caller's). */
static void zc_cell(FILE *out, const char *fmt, double v)
{
	if (v < 0)
		fprintf(out, " - |");
	else
		fprintf(out, fmt, v);
}

/* Markdown tables (medians with --benchmark_repetitions), as bench/RESULTS.md shows them. */
static void zc_tables(FILE *out)
{
	char name[96];
	bool any = false;

	for (size_t i = 0; i < gbench_result_count(); i++)
		any |= strncmp(gbench_result_at(i)->name, "zc/", 3) == 0;
	if (!any)
		return;
	fprintf(out,
		"\nzerocopy notices: 64 KiB sends, notices read every 64 sends; references per send:"
		" 46 (one per 1448-byte frame) | 1 (zc/tso/: one 64 KiB TSO frame)\n\n");
	fprintf(out,
		"| variant | notices_per_send | contexts_per_send | ns_per_send, 46 refs | ns_per_send, 1 ref |\n");
	fprintf(out, "|---|---:|---:|---:|---:|\n");
	for (int row = 0; row < 9; row++) {
		char variant[64];

		if (row < 8)
			snprintf(variant, sizeof(variant), "%s/append:%d/coalesce:%d",
				 row & 4 ? "outoforder" : "inorder", (row >> 1) & 1, row & 1);
		else
			snprintf(variant, sizeof(variant), "baseline/one_notice_per_send");
		fprintf(out, "| `%s` |", variant);
		snprintf(name, sizeof(name), "zc/%s", variant);
		zc_cell(out, " %.4f |", zc_result(name, "notices_per_send"));
		zc_cell(out, " %.4f |", zc_result(name, "contexts_per_send"));
		zc_cell(out, " %.0f |", zc_result(name, "ns_per_send"));
		snprintf(name, sizeof(name), "zc/tso/%s", variant);
		zc_cell(out, " %.0f |", zc_result(name, "ns_per_send"));
		fprintf(out, "\n");
	}

	fprintf(out, "\nzerocopy vs copy: TSC cycles per payload byte (ns per send)\n\n");
	fprintf(out,
		"| send size | copy, src hot | copy, src cold | zerocopy | zerocopy notices/send |\n");
	fprintf(out, "|---|---:|---:|---:|---:|\n");
	for (size_t s = 0; s < ZC_NSIZES; s++) {
		fprintf(out, "| %u KiB |", zc_sizes[s] >> 10);
		for (int m = 0; m < 3; m++) {
			double cpb, ns;

			snprintf(name, sizeof(name), "zc/cycles/%s/bytes:%u", zc_cycles_names[m],
				 zc_sizes[s]);
			cpb = zc_result(name, "cycles_per_byte");
			ns = zc_result(name, "ns_per_send");
			if (cpb < 0 || ns < 0)
				fprintf(out, " - |");
			else
				fprintf(out, " %.3f (%.0f ns) |", cpb, ns);
		}
		snprintf(name, sizeof(name), "zc/cycles/zerocopy/bytes:%u", zc_sizes[s]);
		zc_cell(out, " %.4f |", zc_result(name, "notices_per_send"));
		fprintf(out, "\n");
	}
}
GBENCH_TABLES_PRINTER(zc_tables, 50)
