/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/zc.h - zerocopy completion ranges: MSG_ZEROCOPY's refcounted contexts, [lo, hi]
 * notices and tail coalescing.
 *
 * Overview
 *   A stack that sends application buffers without copying must tell the application when
 *   each buffer may be reused. Each zerocopy send takes the next 32-bit id of its flow
 *   (wrapping). A *context* covers one or more consecutive sends: every buffer that carries
 *   their data holds a reference, and the send call holds one until it returns. When the last
 *   reference goes, the context becomes a *notice* [lo, hi]; a notice exactly adjacent to the
 *   tail of the flow's notice queue is merged into it, so an in-order stream costs few
 *   notices (io_uring posts one per request).
 *
 *   - Memory: the caller gives each flow an array of contexts, its *reserve* (the kernel's
 *     optmem budget for notification skbs). A context is taken when a send starts and comes
 *     back when its notice is merged away or read, so completion never allocates and cannot
 *     fail; when the reserve is empty, starting a send fails with -ENOBUFS and nothing changes.
 *   - Append: a send may extend the newest context while it is still the newest and alive,
 *     within 65,534 sends and 512 KiB (the kernel's caps). A stream caller then falls back to
 *     a new context; a datagram caller that must append (a corked message) gets -EMSGSIZE.
 *   - COPIED: a completion that had to copy marks the context; the notice says COPIED.
 *     The kernel merges notices without comparing that mark, so COPIED is a hint for a whole
 *     merged range. tsq merges only notices with the same mark, so COPIED is exact per range;
 *     the cost is one more notice each time a stream switches between copied and zerocopy
 *     (TSQ_ZC_MERGE_IGNORE_COPIED restores the kernel's behaviour).
 *   - Coalescing can be turned off per flow (TSQ_ZC_NO_COALESCE): one notice per completed
 *     context, the baseline the benchmarks compare against.
 *   - Pinned memory: an account shared by flows (the kernel's per-user RLIMIT_MEMLOCK charge,
 *     pages + 2 per send), charged with a CAS loop that never overshoots its limit.
 *   - A 0-byte send is not a zerocopy send (the kernel tests `MSG_ZEROCOPY && size`): it
 *     takes no id, no context and no charge, and no notice will ever cover it;
 *     tsq_zc_send_start() says so with TSQ_ZC_NO_ZEROCOPY.
 *
 * Misuse and bad input (tests/README.md has the table)
 *   - NULL flow or context: -EINVAL from every call that returns int.
 *   - send_done twice on one send, or send_abort after send_done: -EINVAL, nothing changed
 *     (each context counts the send calls it has open, a sender-only field). A put on a
 *     context with no reference left: -EINVAL, nothing changed (the value its decrement
 *     returned is checked). Neither can tell a context that a later send took from the
 *     reserve again: keep references exact.
 *   - Uncharging more than an account holds: refused (-EINVAL, nothing uncharged), counted in
 *     the account's uncharge_refused, instead of wrapping to ~2^64 (every send refused).
 *   - tsq_zc_get on a context with no reference left: TSQ_DEBUG aborts.
 *
 * Usage
 *     static struct tsq_zc_account acct;
 *     static struct tsq_zc_flow zf;
 *     static struct tsq_zc_ctx reserve[64];
 *     struct tsq_zc_account_opts ao = { .size = sizeof(ao), .limit = 64 << 20 };
 *     tsq_zc_account_init(&acct, &ao);
 *     tsq_zc_flow_init(&zf, reserve, 64, &acct, NULL);  // NULL: the default merge rule
 *     // sender (flow owner), per send call of `len` bytes in `nframes` frames:
 *     struct tsq_zc_ctx *c;
 *     int rc = tsq_zc_send_start(&zf, len, TSQ_ZC_APPEND, &c);
 *     if (rc < 0) {
 *         copy_instead();                           // -ENOBUFS: reserve or pinned memory
 *     } else if (rc == TSQ_ZC_NO_ZEROCOPY) {
 *         send_normally();                          // len 0: no id, no notice, no c
 *     } else {
 *         for (unsigned i = 0; i < nframes; i++) {  // each frame carrying the data
 *             tsq_zc_get(c);
 *             frames[i].zc = c;                     // its completion: tsq_zc_put(&zf, c, copied)
 *         }
 *         tsq_zc_send_done(&zf, c);   // or tsq_zc_send_abort(&zf, c) if nothing was sent
 *     }
 *     // completion context, per frame: tsq_zc_put(&zf, frames[i].zc, frame_was_copied);
 *     // application:
 *     struct tsq_zc_notice n[16];
 *     int k = tsq_zc_read(&zf, n, 16);   // [lo, hi] ranges; buffers with those ids are free
 *   (tests/unit/test_zc.c compiles and runs this block as `usage_block_runs`.)
 *
 * Synchronization table ('-': safe concurrently, 'X': the caller must serialise)
 *                                  send_*,      get  put  read  pending,  account_*  init
 *                                  set_next_id                  covers,
 *                                                               stats
 *     send_*, set_next_id               X        -    -    -       -          -       X
 *     get                               -        -    -    -       -          -       X
 *     put                               -        -    -    -       -          -       X
 *     read                              -        -    -    X       -          -       X
 *     pending, covers, stats            -        -    -    -       -          -       X
 *     account_charge/uncharge/...       -        -    -    -       -          -       X
 *     flow_init, account_init           X        X    X    X       X          X       X
 *   send_start/done/abort, send_id and flow_set_next_id: the flow's sender only (one thread
 *   at a time, e.g. the owner). get: a holder of a reference (the sender, or whoever clones a
 *   frame). put: any thread. read: one reader at a time (the application). The account's
 *   charge, uncharge, pinned and stats may run anywhere, for any number of flows; pin_cost
 *   and notice_covers are pure functions. The notice queue itself is protected by a short
 *   spin lock, held for a few instructions by the completion that queues or merges.
 *
 * Memory ordering (labels: R release, A acquire, S seq_cst or fence, X acq_rel RMW)
 *   ZC_A1/ZC_R1 the notice queue's spin lock: the acquire CAS that takes it, the release store
 *      that drops it (in the last put and in read).
 *   ZC_R2 send_start's release store of refcnt = 1 publishes a new context's fields; ZC_X2, the
 *      ACQ_REL decrement in put, releases each holder's writes (len, bytes, the COPIED mark)
 *      and, in the last put, acquires all of them (and ZC_R2) before the notice is built;
 *      ZC_A2, the acquire CAS of an append (refcnt > 0 only), orders the sender's updates of
 *      the context after the puts that came before it.
 *   Relaxed, by design: get (the caller's own reference keeps the context alive), the COPIED
 *   mark (ordered by ZC_X2), the account (a counter, no publication), `pending` (a hint read
 *   before taking the lock), the counters. The reserve's free list is llist.h's
 *   (LLIST_R1/LLIST_A1).
 *
 * Limitations
 *   Merging looks at the tail only: completions out of order produce separate notices (a
 *   reader sees them as gaps, not errors, as the kernel's selftest does). Contexts live in
 *   the flow's reserve; the flow must outlive every reference.
 */
#ifndef TSQ_ZC_H
#define TSQ_ZC_H

#include <errno.h>

#include "atomic.h"
#include "llist.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel's append caps (msg_zerocopy_realloc): 65,534 sends, 512 KiB per context. */
#define TSQ_ZC_MAX_SENDS 65534u
#define TSQ_ZC_MAX_BYTES (512u << 10)
/* Pinned memory is charged in pages, (bytes / page) + 2 per send (unaligned ends). */
#define TSQ_ZC_PAGE_SIZE 4096u
#define TSQ_ZC_UNLIMITED UINT64_MAX

/* What tsq_zc_send_start() did (non-negative returns). */
enum tsq_zc_send_result {
	TSQ_ZC_STARTED = 0,     /* a zerocopy send: *out is its context, it has an id */
	TSQ_ZC_NO_ZEROCOPY = 1, /* a 0-byte send, not zerocopy: no id, no context, no notice */
};

/*
 * Flags. The two calls that take flags use distinct bit ranges, so that a flag passed to the
 * wrong call is refused (-EINVAL), never taken for another: tsq_zc_send_start() flags are in
 * bits 0-7 (TSQ_ZC_SEND_FLAGS), tsq_zc_flow_init() flags in bits 8-15 (TSQ_ZC_FLOW_FLAGS).
 */
#define TSQ_ZC_SEND_FLAGS 0x00ffu
#define TSQ_ZC_FLOW_FLAGS 0xff00u

/* tsq_zc_send_start() flags. */
#define TSQ_ZC_APPEND 0x0001u /* extend the newest context if possible, else start a new one */
#define TSQ_ZC_APPEND_ONLY \
	0x0002u /* datagram cork: extend the newest context or fail (-EMSGSIZE) */

/* tsq_zc_flow_init() flags (struct tsq_zc_flow_opts). */
#define TSQ_ZC_MERGE_IGNORE_COPIED 0x0100u /* merge like the kernel: COPIED becomes a range hint */
/*
 * Never merge into the tail notice: one notice per completed context (with no appends, one
 * per send - io_uring's model). The baseline that measures what coalescing saves
 * (bench/zc.c); it costs a context per unread notice, so size the reserve for it. Overrides
 * TSQ_ZC_MERGE_IGNORE_COPIED, which only says what a merge compares.
 */
#define TSQ_ZC_NO_COALESCE 0x0200u

/* A notice as the application reads it: ids lo..hi inclusive (u32, may wrap). */
struct tsq_zc_notice {
	uint32_t lo;
	uint32_t hi;
	bool copied; /* some data of these sends was copied instead of sent from the buffer */
};

/*
 * Options of tsq_zc_account_init() and tsq_zc_flow_init() (NULL: the defaults). Set size to
 * the struct's sizeof: an older, smaller struct reads the fields it lacks as zero; a newer,
 * larger one is refused (-EINVAL) if its unknown tail is not zero.
 */
struct tsq_zc_account_opts {
	size_t size;    /* sizeof(struct tsq_zc_account_opts): forward compatibility */
	uint64_t limit; /* bytes that may be pinned; 0 means TSQ_ZC_UNLIMITED (like CAP_IPC_LOCK) */
};

/* Options of tsq_zc_flow_init(), as above. */
struct tsq_zc_flow_opts {
	size_t size;    /* sizeof(struct tsq_zc_flow_opts): forward compatibility */
	unsigned flags; /* tsq_zc_flow_init() flags (TSQ_ZC_FLOW_FLAGS); 0: merge on equal COPIED */
};

/* Pinned-memory account shared by flows. Fields are private. */
struct tsq_zc_account {
	uint64_t pinned; /* bytes, in whole pages */
	uint64_t limit;
	uint64_t uncharge_refused; /* any thread, atomic add */
};

struct tsq_zc_account_stats {
	uint64_t pinned;           /* bytes charged now */
	uint64_t limit;            /* as set by tsq_zc_account_init() */
	uint64_t uncharge_refused; /* uncharges of more than was charged, refused (-EINVAL) */
};

struct tsq_zc_flow;

/* A context (the kernel's ubuf_info_msgzc). Lives in a flow's reserve; fields are private. */
struct tsq_zc_ctx {
	struct tsq_llist_node free_node; /* on the reserve's free list */
	struct tsq_zc_ctx *next;         /* in the notice queue */
	struct tsq_zc_flow *flow;
	uint32_t id;       /* first send id */
	uint32_t len;      /* sends covered (sender-written while referenced) */
	uint32_t bytes;    /* bytes covered */
	uint32_t refcnt;   /* atomic */
	uint32_t zerocopy; /* 1 until a completion reports a copy (atomic AND) */
	uint32_t calls;    /* send calls started and not yet done/aborted (sender only) */
	uint64_t span;     /* ids covered by this notice after merges */
	uint64_t pinned;   /* bytes charged to the account */
};

/*
 * Counters (all uint64_t: tsq_zc_stats() copies the flow's twin field by field). sends,
 * sends_appended, refused_*, aborted and sends_empty are written by the sender only (a
 * relaxed load + store, no read-modify-write: the sender's own calls are serialised); the
 * others by completions on any thread (relaxed fetch_add). Readers see each field atomically.
 */
struct tsq_zc_stats {
	uint64_t notices_queued;  /* notices appended to the queue */
	uint64_t notices_merged;  /* completions merged into the tail notice */
	uint64_t sends;           /* sends started */
	uint64_t sends_appended;  /* sends that extended an existing context */
	uint64_t copied;          /* contexts completed with COPIED */
	uint64_t refused_reserve; /* -ENOBUFS: reserve empty */
	uint64_t refused_pin;     /* -ENOBUFS: pinned-memory limit */
	uint64_t aborted;         /* sends given back with tsq_zc_send_abort() */
	uint64_t sends_empty;     /* 0-byte sends: TSQ_ZC_NO_ZEROCOPY, no id (not in sends) */
};

/* A flow's zerocopy state. Fields are private: use the functions below. */
struct tsq_zc_flow {
	/* Sender-owned. */
	uint32_t next_id;
	unsigned flags;
	struct tsq_zc_ctx *newest;
	struct tsq_llist_node *cache; /* private free contexts, taken from free_list in bulk */
	struct tsq_zc_account *account;
	/* Any thread returns contexts here (completions that merged, the reader). */
	struct tsq_llist_head free_list TSQ_CACHELINE_ALIGNED;
	/* The notice queue, under a short spin lock. */
	uint32_t lock TSQ_CACHELINE_ALIGNED;
	struct tsq_zc_ctx *head, *tail;
	uint64_t pending; /* notices queued, readable without the lock */
	struct tsq_zc_stats st;
};

/* ---- the short lock of the notice queue (held for a few instructions) ---- */
static inline void tsq__zc_lock(struct tsq_zc_flow *f)
{
	for (;;) {
		uint32_t zero = 0;

		/* ZC_A1, pairs with ZC_R1 */
		if (tsq_cmpxchg_weak(&f->lock, &zero, 1u, TSQ_ACQUIRE, TSQ_RELAXED))
			return;
		while (tsq_load(&f->lock, TSQ_RELAXED) != 0)
			tsq_cpu_relax();
	}
}

static inline void tsq__zc_unlock(struct tsq_zc_flow *f)
{
	tsq_store(&f->lock, 0u, TSQ_RELEASE); /* ZC_R1, pairs with ZC_A1 in tsq__zc_lock() */
}

/*
 * tsq_zc_account_init - a pinned-memory account limited to opts->limit bytes (opts NULL or
 * limit 0: TSQ_ZC_UNLIMITED, no limit, like CAP_IPC_LOCK).
 * Context: before the account is shared. Blocks: never.
 * Ordering: none (plain stores); publish the account the usual way.
 * Return: 0; -EINVAL for NULL, or opts->size smaller than the first version of the struct or
 * larger with non-zero unknown bytes (nothing changed).
 */
static inline int tsq_zc_account_init(struct tsq_zc_account *a,
				      const struct tsq_zc_account_opts *opts)
{
	const size_t v1 = offsetof(struct tsq_zc_account_opts, limit) + sizeof(uint64_t);
	struct tsq_zc_account_opts o;

	if (a == NULL || !tsq__opts_read(opts, v1, &o, sizeof(o)))
		return -EINVAL;
	a->pinned = 0;
	a->limit = o.limit != 0 ? o.limit : TSQ_ZC_UNLIMITED;
	a->uncharge_refused = 0;
	return 0;
}

/*
 * tsq_zc_pin_cost - the bytes a send of `bytes` pins: whole pages, plus two for unaligned
 * ends (the kernel's charge per send).
 * Context: any thread. Blocks: never. Ordering: none (no shared memory).
 * Return: the cost in bytes, a multiple of TSQ_ZC_PAGE_SIZE.
 */
static inline uint64_t tsq_zc_pin_cost(uint32_t bytes)
{
	return ((uint64_t)(bytes / TSQ_ZC_PAGE_SIZE) + 2) * TSQ_ZC_PAGE_SIZE;
}

/*
 * tsq_zc_account_charge - add `bytes` (already in pages) unless that would pass the limit.
 * Context: any thread. Blocks: never (lock-free CAS loop).
 * Ordering: relaxed CAS: the account is a counter, it orders nothing else.
 * Return: 0, or -ENOBUFS (over the limit: nothing charged).
 */
static inline int tsq_zc_account_charge(struct tsq_zc_account *a, uint64_t bytes)
{
	uint64_t old = tsq_load(&a->pinned, TSQ_RELAXED);

	do {
		if (bytes > a->limit || old > a->limit - bytes)
			return -ENOBUFS;
	} while (!tsq_cmpxchg_weak(&a->pinned, &old, old + bytes, TSQ_RELAXED, TSQ_RELAXED));
	return 0;
}

/*
 * tsq_zc_account_uncharge - give back what a charge took.
 * Context: any thread. Blocks: never (one atomic subtraction; a second one when refused).
 * Ordering: relaxed RMW: the account is a counter.
 * Return: 0; -EINVAL for NULL, or for more than the account holds (nothing uncharged in the
 * end, counted in uncharge_refused: a wrap would refuse every later send with -ENOBUFS).
 * The test is on the value the subtraction returned (no extra RMW on the completion path);
 * a refused uncharge is undone at once, and a charge that runs in that instant may see the
 * wrapped value and be refused with -ENOBUFS (only ever next to this misuse).
 */
static inline int tsq_zc_account_uncharge(struct tsq_zc_account *a, uint64_t bytes)
{
	uint64_t old;

	if (a == NULL)
		return -EINVAL;
	old = tsq_fetch_sub(&a->pinned, bytes, TSQ_RELAXED);
	if (tsq_unlikely(bytes > old)) {
		tsq_fetch_add(&a->pinned, bytes, TSQ_RELAXED); /* undo: add and sub commute */
		tsq_counter_add_shared(&a->uncharge_refused, 1);
		return -EINVAL;
	}
	return 0;
}

/*
 * tsq_zc_account_pinned - bytes currently charged.
 * Context: any thread. Blocks: never. Ordering: a relaxed load (a hint).
 * Return: the bytes charged.
 */
static inline uint64_t tsq_zc_account_pinned(const struct tsq_zc_account *a)
{
	return tsq_load(&a->pinned, TSQ_RELAXED);
}

/*
 * tsq_zc_account_stats - read the account.
 * Context: any thread. Blocks: never. Ordering: relaxed loads, field by field.
 * Return: 0; -EINVAL for NULL arguments (out untouched).
 */
static inline int tsq_zc_account_stats(const struct tsq_zc_account *a,
				       struct tsq_zc_account_stats *out)
{
	if (a == NULL || out == NULL)
		return -EINVAL;
	out->pinned = tsq_load(&a->pinned, TSQ_RELAXED);
	out->limit = a->limit;
	out->uncharge_refused = tsq_load(&a->uncharge_refused, TSQ_RELAXED);
	return 0;
}

/*
 * tsq_zc_flow_init - a flow with `n` contexts of reserve (caller memory, living as long as
 * the flow), charging `account` (NULL: no pinned-memory limit). ids start at 0.
 * opts->flags: 0 (merge adjacent notices with the same COPIED mark; also for opts NULL),
 * TSQ_ZC_MERGE_IGNORE_COPIED (merge adjacent notices whatever their mark), TSQ_ZC_NO_COALESCE
 * (never merge).
 * Context: before the flow is shared. Blocks: never.
 * Ordering: none (plain stores); publish the flow the usual way.
 * Return: 0; -EINVAL for NULL flow/reserve, n == 0, flags other than the two above - a send
 * flag (TSQ_ZC_APPEND, TSQ_ZC_APPEND_ONLY) included - or opts->size smaller than the first
 * version of the struct or larger with non-zero unknown bytes (nothing changed).
 */
static inline int tsq_zc_flow_init(struct tsq_zc_flow *f, struct tsq_zc_ctx *reserve, unsigned n,
				   struct tsq_zc_account *account,
				   const struct tsq_zc_flow_opts *opts)
{
	const size_t v1 = offsetof(struct tsq_zc_flow_opts, flags) + sizeof(unsigned);
	struct tsq_zc_flow_opts o;

	if (f == NULL || reserve == NULL || n == 0 || !tsq__opts_read(opts, v1, &o, sizeof(o)) ||
	    (o.flags & ~(TSQ_ZC_MERGE_IGNORE_COPIED | TSQ_ZC_NO_COALESCE)) != 0)
		return -EINVAL;
	f->next_id = 0;
	f->flags = o.flags;
	f->newest = NULL;
	f->cache = NULL;
	f->account = account;
	tsq_llist_init(&f->free_list);
	f->lock = 0;
	f->head = f->tail = NULL;
	f->pending = 0;
	f->st.notices_queued = f->st.notices_merged = f->st.sends = f->st.sends_appended = 0;
	f->st.copied = f->st.refused_reserve = f->st.refused_pin = f->st.aborted = 0;
	f->st.sends_empty = 0;
	for (unsigned i = 0; i < n; i++) {
		reserve[i].flow = f;
		reserve[i].refcnt = 0;
		reserve[i].calls = 0;
		reserve[i].next = NULL;
		reserve[i].free_node.next = f->cache;
		f->cache = &reserve[i].free_node;
	}
	return 0;
}

/* A context back to the reserve, from any thread. */
static inline void tsq__zc_free(struct tsq_zc_flow *f, struct tsq_zc_ctx *c)
{
	tsq_llist_push(&f->free_list, &c->free_node);
}

/* Sender: a context from the reserve, or NULL when it is empty. */
static inline struct tsq_zc_ctx *tsq__zc_alloc(struct tsq_zc_flow *f)
{
	struct tsq_llist_node *n = f->cache;

	if (n == NULL)
		n = f->cache = tsq_llist_take_all(&f->free_list);
	if (n == NULL)
		return NULL;
	f->cache = n->next;
	return tsq_container_of(n, struct tsq_zc_ctx, free_node);
}

/* Take a reference only if the context is still alive (refcnt > 0): ZC_A2. */
static inline bool tsq__zc_get_not_zero(struct tsq_zc_ctx *c)
{
	uint32_t r = tsq_load(&c->refcnt, TSQ_RELAXED);

	do {
		if (r == 0)
			return false;
		/* ZC_A2, pairs with ZC_X2 */
	} while (!tsq_cmpxchg_weak(&c->refcnt, &r, r + 1, TSQ_ACQUIRE, TSQ_RELAXED));
	return true;
}

static inline void tsq__zc_complete(struct tsq_zc_flow *f, struct tsq_zc_ctx *c);
static inline int tsq_zc_put(struct tsq_zc_flow *f, struct tsq_zc_ctx *c, bool copied);

/*
 * tsq_zc_send_start - give a zerocopy send of `bytes` its id and a context.
 * flags: 0 (always a new context), TSQ_ZC_APPEND (extend the newest context when it is still
 * the newest, alive and within the caps; else a new one), TSQ_ZC_APPEND_ONLY (extend or fail).
 * On success *out holds the context with one reference for this call: take one more per
 * buffer that carries the data (tsq_zc_get), and end the call with tsq_zc_send_done (or
 * tsq_zc_send_abort if nothing was sent). The send's id is tsq_zc_send_id(*out).
 * Context: the flow's sender. Blocks: never.
 * Ordering: a new context is published by ZC_R2, a release store of its first reference; an
 * append takes its reference with ZC_A2, an acquire CAS that succeeds only on a live context,
 * so no completion can finish it meanwhile.
 * Return: TSQ_ZC_STARTED (0); TSQ_ZC_NO_ZEROCOPY (bytes == 0, whatever the append flags: no
 * zerocopy, as in the kernel - no id taken, no context, no charge, no notice; *out is set to
 * NULL; counted in sends_empty); -ENOBUFS (reserve empty, or the pinned-memory limit: nothing
 * changed, counted); -EMSGSIZE (TSQ_ZC_APPEND_ONLY and the newest context cannot take it);
 * -EINVAL for NULL arguments, flags other than the two above - a tsq_zc_flow_init() flag
 * included - or bytes > TSQ_ZC_MAX_BYTES (nothing changed).
 */
static inline int tsq_zc_send_start(struct tsq_zc_flow *f, uint32_t bytes, unsigned flags,
				    struct tsq_zc_ctx **out)
{
	struct tsq_zc_ctx *c = NULL;
	uint64_t pin = tsq_zc_pin_cost(bytes);

	if (f == NULL || out == NULL || (flags & ~(TSQ_ZC_APPEND | TSQ_ZC_APPEND_ONLY)) != 0 ||
	    bytes > TSQ_ZC_MAX_BYTES)
		return -EINVAL;
	if (tsq_unlikely(bytes == 0)) { /* the kernel's `(flags & MSG_ZEROCOPY) && size` */
		*out = NULL;
		tsq_counter_add_owner(&f->st.sends_empty, 1);
		return TSQ_ZC_NO_ZEROCOPY;
	}
	if (flags & (TSQ_ZC_APPEND | TSQ_ZC_APPEND_ONLY)) {
		struct tsq_zc_ctx *n = f->newest;

		/* Still the newest (u32 ids), within the caps, and not completed meanwhile. */
		if (n != NULL && (uint32_t)(n->id + n->len) == f->next_id &&
		    n->len < TSQ_ZC_MAX_SENDS && n->bytes + (uint64_t)bytes <= TSQ_ZC_MAX_BYTES &&
		    tsq__zc_get_not_zero(n)) {
			if (f->account != NULL && tsq_zc_account_charge(f->account, pin) != 0) {
				tsq_counter_add_owner(&f->st.refused_pin, 1);
				tsq_zc_put(f, n, false);
				return -ENOBUFS;
			}
			if (f->account != NULL)
				n->pinned += pin;
			n->calls++;
			n->len++;
			n->bytes += bytes;
			f->next_id++;
			tsq_counter_add_owner(&f->st.sends, 1);
			tsq_counter_add_owner(&f->st.sends_appended, 1);
			*out = n;
			return TSQ_ZC_STARTED;
		}
		if (flags & TSQ_ZC_APPEND_ONLY)
			return -EMSGSIZE;
	}
	c = tsq__zc_alloc(f);
	if (c == NULL) {
		tsq_counter_add_owner(&f->st.refused_reserve, 1);
		return -ENOBUFS;
	}
	if (f->account != NULL && tsq_zc_account_charge(f->account, pin) != 0) {
		c->free_node.next = f->cache; /* straight back to the private cache */
		f->cache = &c->free_node;
		tsq_counter_add_owner(&f->st.refused_pin, 1);
		return -ENOBUFS;
	}
	c->next = NULL;
	c->id = f->next_id++;
	c->len = 1;
	c->bytes = bytes;
	c->zerocopy = 1;
	c->calls = 1;
	c->span = 0;
	c->pinned = f->account != NULL ? pin : 0;
	/* Publishes the fields above to whoever drops the last reference. */
	tsq_store(&c->refcnt, 1u, TSQ_RELEASE); /* ZC_R2, pairs with ZC_X2 in tsq_zc_put() */
	f->newest = c;
	tsq_counter_add_owner(&f->st.sends, 1);
	*out = c;
	return TSQ_ZC_STARTED;
}

/*
 * tsq_zc_send_id - the id of the send that started (or last appended to) `c`.
 * Context: the flow's sender, while it holds the send call's reference. Blocks: never.
 * Ordering: none (sender-written fields).
 * Return: the send's 32-bit id.
 */
static inline uint32_t tsq_zc_send_id(const struct tsq_zc_ctx *c)
{
	return (uint32_t)(c->id + c->len - 1);
}

/*
 * tsq_zc_get - one more reference for a buffer that carries the context's data (a frame, a
 * clone, a split, a retransmit copy).
 * Context: a thread that holds a reference (TSQ_DEBUG aborts on a context with none left).
 * Blocks: never. Ordering: relaxed (the caller's own reference keeps the context alive).
 */
static inline void tsq_zc_get(struct tsq_zc_ctx *c)
{
	uint32_t old = tsq_fetch_add(&c->refcnt, 1u, TSQ_RELAXED);

	TSQ__MISUSE_IF(old == 0, "tsq_zc_get", "context has no reference left (completed)");
	(void)old;
}

/*
 * tsq_zc_put - drop a reference; `copied` says this part of the data was copied rather than
 * sent from the application's buffer. The last reference turns the context into a notice
 * (merged into the queue's tail when adjacent) - without allocating.
 * Context: any thread (completion context). Blocks: never; the last put takes the notice
 * queue's short spin lock for a few instructions.
 * Ordering: ZC_X2, an ACQ_REL decrement: release for every put, acquire for the last one, so
 * everything the sender and other holders wrote (len, bytes, copied) is seen by the thread
 * that completes; the notice is queued under the spin lock (ZC_A1/ZC_R1).
 * Return: 0; -EINVAL for NULL arguments, or a context with no reference left (a put too many:
 * nothing changed - the decrement that found 0 is undone before anyone can act on it, and the
 * copied mark is not touched). A put too many on a context that a later send already took
 * from the reserve again cannot be told apart from a good one.
 */
static inline int tsq_zc_put(struct tsq_zc_flow *f, struct tsq_zc_ctx *c, bool copied)
{
	uint32_t old;

	if (f == NULL || c == NULL)
		return -EINVAL;
	if (copied) {
		/* Mark first: the holder's last write before the decrement; not on a dead one. */
		if (tsq_unlikely(tsq_load(&c->refcnt, TSQ_RELAXED) == 0))
			return -EINVAL;
		tsq_fetch_and(&c->zerocopy, 0u, TSQ_RELAXED);
	}
	/* ZC_X2, pairs with ZC_R2, ZC_A2 and ZC_X2 */
	old = tsq_fetch_sub(&c->refcnt, 1u, TSQ_ACQ_REL);
	if (tsq_likely(old > 1))
		return 0;
	if (tsq_unlikely(old == 0)) {
		/* No reference was left: undo (nobody holding one sees the wrapped count). */
		tsq_fetch_add(&c->refcnt, 1u, TSQ_RELAXED);
		return -EINVAL;
	}
	tsq__zc_complete(f, c);
	return 0;
}

/*
 * tsq_zc_send_done - the send call returns: drop its reference.
 * Context: the sender. Blocks: as tsq_zc_put(). Ordering: as tsq_zc_put() (ZC_X2).
 * Return: 0; -EINVAL for NULL arguments, or a context with no send call open (send_done or
 * send_abort already ended it): nothing changed.
 */
static inline int tsq_zc_send_done(struct tsq_zc_flow *f, struct tsq_zc_ctx *c)
{
	if (f == NULL || c == NULL || tsq_unlikely(c->calls == 0))
		return -EINVAL;
	c->calls--;
	return tsq_zc_put(f, c, false);
}

/*
 * tsq_zc_send_abort - the send call sent nothing: give its id back (the kernel's put_abort)
 * and drop its reference. A context left covering no send produces no notice.
 * Only valid while no buffer references were taken for this send, and before another send
 * started on the flow.
 * Context: the sender. Blocks: as tsq_zc_put(). Ordering: as tsq_zc_put() (ZC_X2).
 * Return: 0; -EINVAL (nothing changed) for NULL arguments, if the send is no longer the flow's
 * newest, or if its call has ended already (send_done or send_abort ran: its id may already be
 * in a notice, or taken by a later send).
 */
static inline int tsq_zc_send_abort(struct tsq_zc_flow *f, struct tsq_zc_ctx *c)
{
	if (f == NULL || c == NULL || f->newest != c || (uint32_t)(c->id + c->len) != f->next_id ||
	    c->len == 0 || c->calls == 0)
		return -EINVAL;
	f->next_id--;
	c->len--;
	c->calls--;
	if (c->len == 0)
		f->newest = NULL;
	tsq_counter_add_owner(&f->st.aborted, 1);
	tsq_zc_put(f, c, false);
	return 0;
}

/* Whether notice `tail` and ids [lo, lo + len) can become one range. */
static inline bool tsq__zc_mergeable(const struct tsq_zc_flow *f, const struct tsq_zc_ctx *tail,
				     uint32_t lo, uint32_t len, uint32_t zerocopy)
{
	if (f->flags & TSQ_ZC_NO_COALESCE) /* the one-notice-per-context baseline */
		return false;
	if ((uint32_t)(tail->id + (uint32_t)tail->span) != lo) /* exactly adjacent, u32 */
		return false;
	if (tail->span + len > UINT32_MAX) /* the merged range must fit in 32 bits */
		return false;
	return (f->flags & TSQ_ZC_MERGE_IGNORE_COPIED) || tail->zerocopy == zerocopy;
}

/* The last reference went: unpin, then queue a notice or merge it into the tail. */
static inline void tsq__zc_complete(struct tsq_zc_flow *f, struct tsq_zc_ctx *c)
{
	uint32_t zerocopy = tsq_load(&c->zerocopy, TSQ_RELAXED);

	if (c->pinned != 0 && f->account != NULL)
		tsq_zc_account_uncharge(f->account, c->pinned);
	c->pinned = 0;
	if (c->len == 0) { /* every send was aborted: no notice */
		tsq__zc_free(f, c);
		return;
	}
	if (!zerocopy)
		tsq_counter_add_shared(&f->st.copied, 1);
	tsq__zc_lock(f);
	if (f->tail != NULL && tsq__zc_mergeable(f, f->tail, c->id, c->len, zerocopy)) {
		f->tail->span += c->len;
		tsq__zc_unlock(f);
		tsq_counter_add_shared(&f->st.notices_merged, 1);
		tsq__zc_free(f, c); /* its notice memory was reserved but is not needed */
		return;
	}
	c->span = c->len;
	c->next = NULL;
	if (f->tail != NULL)
		f->tail->next = c;
	else
		f->head = c;
	f->tail = c;
	tsq_store(&f->pending, tsq_load(&f->pending, TSQ_RELAXED) + 1, TSQ_RELAXED);
	tsq__zc_unlock(f);
	tsq_counter_add_shared(&f->st.notices_queued, 1);
}

/*
 * tsq_zc_read - take up to `max` notices, oldest first, without blocking; their contexts
 * return to the reserve.
 * Context: the reader (one at a time). Blocks: never (the short spin lock, briefly).
 * Ordering: ZC_A1/ZC_R1, the spin lock: a notice's range is final when it is read. `pending` is
 * looked at first with a relaxed load (a hint: a notice queued right after is read next time).
 * Return: the number of notices written to out (0 if none); -EINVAL for NULL arguments.
 */
static inline int tsq_zc_read(struct tsq_zc_flow *f, struct tsq_zc_notice *out, int max)
{
	struct tsq_zc_ctx *chain;
	int n = 0;

	if (f == NULL || out == NULL || max < 0)
		return -EINVAL;
	if (max == 0 || tsq_load(&f->pending, TSQ_RELAXED) == 0)
		return 0;
	tsq__zc_lock(f);
	chain = f->head;
	while (f->head != NULL && n < max) {
		struct tsq_zc_ctx *c = f->head;

		out[n].lo = c->id;
		out[n].hi = (uint32_t)(c->id + (uint32_t)c->span - 1);
		out[n].copied = !c->zerocopy;
		f->head = c->next;
		n++;
	}
	if (f->head == NULL)
		f->tail = NULL;
	tsq_store(&f->pending, tsq_load(&f->pending, TSQ_RELAXED) - (uint64_t)n, TSQ_RELAXED);
	tsq__zc_unlock(f);
	/* Out of the queue: nobody else can reach these n contexts now. */
	for (int i = 0; i < n; i++) {
		struct tsq_zc_ctx *next = chain->next;

		tsq__zc_free(f, chain);
		chain = next;
	}
	return n;
}

/*
 * tsq_zc_notices_pending - notices waiting to be read (a hint).
 * Context: any thread. Blocks: never. Ordering: a relaxed load.
 * Return: the count.
 */
static inline uint64_t tsq_zc_notices_pending(const struct tsq_zc_flow *f)
{
	return tsq_load(&f->pending, TSQ_RELAXED);
}

/*
 * tsq_zc_notice_covers - whether notice n covers send id `id`, correct across the 2^32 wrap.
 * Context: any thread. Blocks: never. Ordering: none (the caller's copy of the notice).
 * Return: true if lo <= id <= hi in u32 modular order; false otherwise.
 */
static inline bool tsq_zc_notice_covers(const struct tsq_zc_notice *n, uint32_t id)
{
	return (uint32_t)(id - n->lo) <= (uint32_t)(n->hi - n->lo);
}

/*
 * tsq_zc_flow_set_next_id - start ids at `id` (tests of the 2^32 wrap; restoring a flow).
 * Context: the sender, with no context outstanding. Blocks: never.
 * Ordering: none (sender-owned fields).
 */
static inline void tsq_zc_flow_set_next_id(struct tsq_zc_flow *f, uint32_t id)
{
	f->next_id = id;
	f->newest = NULL;
}

/*
 * tsq_zc_stats - read the flow's counters.
 * Context: any thread. Blocks: never. Ordering: relaxed loads, field by field.
 * Return: 0; -EINVAL for NULL arguments (out untouched).
 */
static inline int tsq_zc_stats(const struct tsq_zc_flow *f, struct tsq_zc_stats *out)
{
	return f != NULL && tsq__counters_read(out, &f->st, sizeof(*out)) ? 0 : -EINVAL;
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_ZC_H */
