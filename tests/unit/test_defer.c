/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for tsq/defer.h: every decision of tsq_defer_push() (inline, queued, fallback),
 * the two kick triggers and their single flight, the batch API, the counters, the default
 * eventfd kick and every documented error return. Single-threaded except where a second
 * thread is the point (a wake-up from another thread); tests/stress/defer.c does the races.
 *
 * A few tests look at private fields (shared.idle) or call tsq__defer_kick(): they say why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <criterion/criterion.h>

/*
 * The eventfd read inside tsq_defer_wait() goes through read_hook() so that one regression
 * test can run code at that exact point (see wait_late_kick_does_not_silence_the_next_one).
 * Every header defer.h includes is already included above, so only defer.h's own call to
 * read() is renamed.
 */
static ssize_t read_hook(int fd, void *buf, size_t len);
#define read read_hook
/*
 * defer.h calls TSQ__DEFER_HOOK at named points of a push or a drain; a test sets hook_point
 * and hook_action to run code there once: a deterministic interleaving ("the producer is
 * preempted here while the owner does X"), without threads.
 */
struct tsq_defer_set;
static void defer_hook(const char *point, struct tsq_defer_set *s, unsigned shard);
#define TSQ__DEFER_HOOK(point, set, shard) defer_hook((point), (set), (shard))
/* A ring allocation fails while ring_alloc_fails is set (the pair must use the list). */
static int ring_alloc_fails;
#define TSQ__DEFER_RING_ALLOC(bytes) (ring_alloc_fails ? NULL : aligned_alloc(64, (bytes)))
#include <tsq/defer.h>
#undef read

#define NSHARDS 3
#define NITEMS 256

/* ---------------------------------------------------------------------------------------- */
/* Fixtures                                                                                   */
/* ---------------------------------------------------------------------------------------- */

struct rec {
	struct tsq_defer_item d;
	int id;
};

/* What ran, in order: the item's id and how it ran. */
static struct {
	int id;
	enum tsq_defer_how how;
} ran[4 * NITEMS];
static int nran;
static struct rec recs[NITEMS];

static void record(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct rec *r = tsq_container_of(it, struct rec, d);

	cr_assert_lt(nran, 4 * NITEMS);
	ran[nran].id = r->id;
	ran[nran].how = how;
	nran++;
}

static void run_other(struct tsq_defer_item *it, enum tsq_defer_how how);

/* Counts runs only (for more items than ran[] records). */
static int counted;

static void count_only(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	(void)it;
	(void)how;
	counted++;
}

/* The custom kick: counts calls and remembers its arguments. */
static struct {
	int calls;
	unsigned shard;
	void *ctx;
} kicks;
static int kick_ctx_cookie;

static void count_kick(void *ctx, unsigned shard)
{
	kicks.calls++;
	kicks.shard = shard;
	kicks.ctx = ctx;
}

static struct tsq_defer_shard *shards;
static struct tsq_defer_set set;

/* The hook's one-shot action (see TSQ__DEFER_HOOK above). */
static const char *hook_point;
static void (*hook_action)(unsigned shard);
static int hook_runs, hook_first, hook_n;
static int hook_results[64];

static void defer_hook(const char *point, struct tsq_defer_set *s, unsigned shard)
{
	(void)s;
	if (hook_point == NULL || strcmp(point, hook_point) != 0)
		return;
	hook_point = NULL;
	hook_runs++;
	hook_action(shard);
}

/* drain_burst's function: records each item as DRAINED, counts the calls. */
static int burst_calls;

static void record_burst(void *ctx, struct tsq_defer_item **items, unsigned n)
{
	(void)ctx;
	burst_calls++;
	cr_assert_leq(n, TSQ_DEFER_BURST);
	for (unsigned i = 0; i < n; i++)
		record(items[i], TSQ_DEFER_DRAINED);
}

/* Hook action: a non-shard producer pushes recs[hook_first .. +hook_n) to `shard`. */
static void push_during_hook(unsigned shard)
{
	for (int i = 0; i < hook_n; i++)
		hook_results[i] =
			tsq_defer_push(&set, shard, TSQ_DEFER_NO_SHARD, &recs[hook_first + i].d);
}

/* Hook action: the owner of `shard` drains it (the producer is preempted meanwhile). */
static void drain_during_hook(unsigned shard)
{
	hook_results[0] = (int)tsq_defer_drain(&set, shard);
}

static void reset_records(void)
{
	nran = 0;
	hook_point = NULL;
	hook_action = NULL;
	hook_runs = 0;
	kicks.calls = 0;
	kicks.shard = ~0u;
	kicks.ctx = NULL;
	for (int i = 0; i < NITEMS; i++) {
		recs[i].id = i;
		tsq_defer_item_init(&recs[i].d, record);
	}
}

/* A set of NSHARDS with the counting kick and the given bound (0: default). */
static void setup_custom(uint32_t bound)
{
	/* The list's semantics: every producer on the shared list (the ring tests reinit). */
	struct tsq_defer_opts o = { .size = sizeof(o),
				    .bound = bound,
				    .kick = count_kick,
				    .kick_ctx = &kick_ctx_cookie,
				    .ring_size = TSQ_DEFER_RINGS_OFF };

	reset_records();
	shards = tsq_defer_shards_alloc(NSHARDS);
	cr_assert_not_null(shards);
	cr_assert_eq(tsq_defer_set_init(&set, shards, NSHARDS, &o), 0);
}

static void setup_eventfd(void)
{
	reset_records();
	shards = tsq_defer_shards_alloc(NSHARDS);
	cr_assert_not_null(shards);
	cr_assert_eq(tsq_defer_set_init(&set, shards, NSHARDS, NULL), 0);
}

static void teardown(void)
{
	tsq_defer_set_destroy(&set);
	free(shards);
	shards = NULL;
}

static void setup_bound16(void)
{
	setup_custom(16);
}

/* Push recs[first .. end) to `target` from `self`; each must queue. */
static void push_queued(unsigned target, unsigned self, int first, int end)
{
	for (int i = first; i < end; i++)
		cr_assert_eq(tsq_defer_push(&set, target, self, &recs[i].d), TSQ_DEFER_QUEUED,
			     "push of item %d to shard %u", i, target);
}

/* Add recs[first .. end) to batch b from `self`; each must stay queued. */
static void batch_add_queued(struct tsq_defer_batch *b, unsigned self, int first, int end)
{
	for (int i = first; i < end; i++)
		cr_assert_eq(tsq_defer_batch_add(&set, b, self, &recs[i].d), TSQ_DEFER_QUEUED,
			     "batch add of item %d", i);
}

/* The fixture's set again, with other options (the shards and records stay). */
static void reinit(const struct tsq_defer_opts *o)
{
	tsq_defer_set_destroy(&set);
	cr_assert_eq(tsq_defer_set_init(&set, shards, NSHARDS, o), 0);
}

static void setup_default_bound(void)
{
	setup_custom(0);
}

static struct tsq_defer_stats stats_of(unsigned shard)
{
	struct tsq_defer_stats st;

	cr_assert_eq(tsq_defer_stats(&set, shard, &st), 0);
	return st;
}

static void assert_ran(int idx, int id, enum tsq_defer_how how)
{
	cr_assert_lt(idx, nran, "only %d items ran, wanted entry %d", nran, idx);
	cr_assert_eq(ran[idx].id, id, "run %d: item %d, expected %d", idx, ran[idx].id, id);
	cr_assert_eq(ran[idx].how, how, "run %d (item %d): how %d, expected %d", idx, id,
		     (int)ran[idx].how, (int)how);
}

/* Whether the eventfd has a kick waiting, without consuming it. */
static bool fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* read_hook: the real read, after an optional test action. */
static void (*before_read)(void);

static ssize_t read_hook(int fd, void *buf, size_t len)
{
	if (before_read != NULL) {
		void (*fn)(void) = before_read;

		before_read = NULL;
		fn();
	}
	return read(fd, buf, len);
}

/* ---------------------------------------------------------------------------------------- */
/* Setup: tsq_defer_shards_alloc, tsq_defer_set_init, tsq_defer_item_init                      */
/* ---------------------------------------------------------------------------------------- */

Test(defer_setup, shards_alloc)
{
	struct tsq_defer_shard *s;

	cr_assert_null(tsq_defer_shards_alloc(0));
	s = tsq_defer_shards_alloc(5);
	cr_assert_not_null(s);
	cr_assert_eq((uintptr_t)s % TSQ_CACHELINE_SIZE, 0, "shards are cache-line aligned");
	free(s);
}

Test(defer_setup, item_init)
{
	struct rec r;

	r.d.node.next = (struct tsq_llist_node *)&r;
	r.d.fn = NULL;
	tsq_defer_item_init(&r.d, record);
	cr_assert_eq(r.d.node.next, TSQ__DEFER_NOT_QUEUED, "marked ready to push");
	cr_assert_eq(r.d.fn, record);
	tsq_defer_item_set_fn(&r.d, run_other);
	cr_assert_eq(r.d.fn, run_other);
}

Test(defer_setup, init_rejects_bad_arguments)
{
	struct tsq_defer_shard *s = tsq_defer_shards_alloc(2);
	struct tsq_defer_set st;
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick };

	cr_assert_not_null(s);
	cr_assert_eq(tsq_defer_set_init(NULL, s, 2, &o), -EINVAL);
	cr_assert_eq(tsq_defer_set_init(&st, NULL, 2, &o), -EINVAL);
	cr_assert_eq(tsq_defer_set_init(&st, s, 0, &o), -EINVAL);
	/* NO_SHARD must stay distinguishable from every shard index. */
	cr_assert_eq(tsq_defer_set_init(&st, s, TSQ_DEFER_NO_SHARD, &o), -EINVAL);

	o.size = 0;
	cr_assert_eq(tsq_defer_set_init(&st, s, 2, &o), -EINVAL, "opts->size 0");
	o.size = offsetof(struct tsq_defer_opts, kick_ctx) + sizeof(void *) - 1;
	cr_assert_eq(tsq_defer_set_init(&st, s, 2, &o), -EINVAL,
		     "opts->size below the first version");
	o.size = sizeof(o);

	o.ring_size = TSQ_DEFER_RING_MAX + 1;
	cr_assert_eq(tsq_defer_set_init(&st, s, 2, &o), -EINVAL, "ring_size above the maximum");
	o.ring_size = 0;

	o.bound = (1u << 31) + 1;
	cr_assert_eq(tsq_defer_set_init(&st, s, 2, &o), -EINVAL, "bound above 2^31");
	o.bound = UINT32_MAX;
	cr_assert_eq(tsq_defer_set_init(&st, s, 2, &o), -EINVAL, "bound UINT32_MAX");
	/* The same with the default kick: the check must come before any eventfd is made. */
	o.kick = NULL;
	cr_assert_eq(tsq_defer_set_init(&st, s, 2, &o), -EINVAL);
	free(s);
}

Test(defer_setup, init_accepts_the_largest_bound)
{
	struct tsq_defer_shard *s = tsq_defer_shards_alloc(1);
	struct tsq_defer_set st;
	struct tsq_defer_opts o = { .size = sizeof(o),
				    .bound = 1u << 31,
				    .kick = count_kick,
				    .ring_size = TSQ_DEFER_RINGS_OFF };

	cr_assert_not_null(s);
	cr_assert_eq(tsq_defer_set_init(&st, s, 1, &o), 0, "2^31 itself is allowed");
	tsq_defer_set_destroy(&st);
	free(s);
}

Test(defer_setup, init_accepts_a_larger_opts_struct)
{
	/* Forward compatibility: a caller built against a newer, longer opts struct. */
	struct {
		struct tsq_defer_opts o;
		uint64_t future[4];
	} big = { .o = { .size = sizeof(big), .kick = count_kick } };
	struct tsq_defer_shard *s = tsq_defer_shards_alloc(1);
	struct tsq_defer_set st;

	cr_assert_not_null(s);
	cr_assert_eq(tsq_defer_set_init(&st, s, 1, &big.o), 0, "unknown tail all zero: accepted");
	tsq_defer_set_destroy(&st);
	big.future[2] = 1;
	cr_assert_eq(tsq_defer_set_init(&st, s, 1, &big.o), -EINVAL,
		     "an option this version does not know is refused, not ignored");
	free(s);
}

Test(defer_setup, init_accepts_an_older_smaller_opts_struct)
{
	/* A caller built against the first version of the struct (no ring_size): its size ends after kick_ctx. */
	struct tsq_defer_opts o = { .kick = count_kick, .ring_size = 1234 /* not read */ };
	struct tsq_defer_shard *s = tsq_defer_shards_alloc(2);
	struct tsq_defer_set st;

	o.size = offsetof(struct tsq_defer_opts, kick_ctx) + sizeof(void *);
	cr_assert_not_null(s);
	cr_assert_eq(tsq_defer_set_init(&st, s, 2, &o), 0);
	cr_assert_not_null(st.rings, "fields past the caller's size read as 0: default rings");
	cr_assert_eq(st.ring_size, TSQ_DEFER_RING_DEFAULT);
	tsq_defer_set_destroy(&st);
	free(s);
}

/* Bound 0 in opts and opts == NULL both mean 128: the 129th push of an epoch falls back. */
static void assert_default_bound(void)
{
	unsigned b = TSQ_DEFER_DEFAULT_BOUND;

	cr_assert_eq(b, 128);
	for (unsigned i = 0; i < b; i++)
		cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[i].d),
			     TSQ_DEFER_QUEUED, "push %u of %u", i + 1, b);
	cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[b].d),
		     TSQ_DEFER_RAN_FALLBACK);
	cr_assert_eq(tsq_defer_drain(&set, 0), (long)b);
}

Test(defer_setup, bound_zero_means_default, .init = setup_default_bound, .fini = teardown)
{
	assert_default_bound();
}

Test(defer_setup, null_opts_means_default_bound, .init = setup_eventfd, .fini = teardown)
{
	assert_default_bound();
}

/* ---------------------------------------------------------------------------------------- */
/* tsq_defer_push: errors, inline, queued                                                      */
/* ---------------------------------------------------------------------------------------- */

TestSuite(defer_push, .init = setup_bound16, .fini = teardown);

static void assert_untouched(void)
{
	cr_assert_eq(nran, 0, "nothing ran");
	cr_assert_eq(kicks.calls, 0, "nobody was kicked");
	for (unsigned sh = 0; sh < NSHARDS; sh++) {
		struct tsq_defer_stats st = stats_of(sh);

		cr_assert_not(tsq_defer_pending(&set, sh), "nothing linked on shard %u", sh);
		cr_assert_eq(st.pushed + st.inline_runs + st.fallback + st.kicks + st.drained +
				     st.drains,
			     0, "counters of shard %u unchanged", sh);
	}
}

Test(defer_push, rejects_bad_arguments)
{
	struct rec nofn = { .id = 999 };

	tsq_defer_item_init(&nofn.d, NULL);
	cr_assert_eq(tsq_defer_push(NULL, 0, 1, &recs[0].d), -EINVAL, "NULL set");
	cr_assert_eq(tsq_defer_push(&set, 0, 1, NULL), -EINVAL, "NULL item");
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &nofn.d), -EINVAL, "item->fn NULL");
	cr_assert_eq(tsq_defer_push(&set, 0, 0, &nofn.d), -EINVAL, "item->fn NULL, to self");
	cr_assert_eq(tsq_defer_push(&set, NSHARDS, 0, &recs[0].d), -EINVAL, "target out of range");
	cr_assert_eq(tsq_defer_push(&set, TSQ_DEFER_NO_SHARD, 0, &recs[0].d), -EINVAL,
		     "NO_SHARD is not a target");
	cr_assert_eq(tsq_defer_push(&set, 0, NSHARDS, &recs[0].d), -EINVAL, "self out of range");
	cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD - 1, &recs[0].d), -EINVAL,
		     "self huge but not NO_SHARD");
	assert_untouched();
}

Test(defer_push, to_self_runs_inline)
{
	struct tsq_defer_stats st;

	cr_assert_eq(tsq_defer_push(&set, 1, 1, &recs[0].d), TSQ_DEFER_RAN_INLINE);
	cr_assert_eq(nran, 1, "ran before push returned");
	assert_ran(0, 0, TSQ_DEFER_INLINE);
	cr_assert_not(tsq_defer_pending(&set, 1));
	st = stats_of(1);
	cr_assert_eq(st.inline_runs, 1);
	cr_assert_eq(st.pushed, 0);
	cr_assert_eq(st.fallback, 0);
	cr_assert_eq(kicks.calls, 0);
	cr_assert_eq(tsq_defer_drain(&set, 1), 0, "nothing was linked");
}

Test(defer_push, inline_ignores_the_bound)
{
	/* The owner runs its own work at once: there is no list to overflow. */
	for (int i = 0; i < 40; i++)
		cr_assert_eq(tsq_defer_push(&set, 2, 2, &recs[i].d), TSQ_DEFER_RAN_INLINE);
	cr_assert_eq(stats_of(2).inline_runs, 40);
	cr_assert_eq(stats_of(2).fallback, 0);
	cr_assert_eq(kicks.calls, 0);
}

Test(defer_push, from_other_shard_or_no_shard_queues)
{
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[1].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_push(&set, 0, 2, &recs[2].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(nran, 0, "queued items do not run on the producer");
	cr_assert(tsq_defer_pending(&set, 0));
	cr_assert_not(tsq_defer_pending(&set, 1));
	cr_assert_eq(stats_of(0).pushed, 3);
	cr_assert_eq(stats_of(0).inline_runs, 0);
	cr_assert_eq(kicks.calls, 0, "below half the bound and not idle: no kick");
}

Test(defer_push, drain_runs_fifo_and_returns_the_count)
{
	struct tsq_defer_stats st;

	for (int i = 0; i < 10; i++)
		cr_assert_eq(tsq_defer_push(&set, 1, (i % 2) ? 0 : TSQ_DEFER_NO_SHARD, &recs[i].d),
			     TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_drain(&set, 2), 0, "another shard's drain does not see them");
	cr_assert_eq(tsq_defer_drain(&set, 1), 10);
	cr_assert_eq(nran, 10);
	for (int i = 0; i < 10; i++)
		assert_ran(i, i, TSQ_DEFER_DRAINED);
	cr_assert_not(tsq_defer_pending(&set, 1));

	cr_assert_eq(tsq_defer_drain(&set, 1), 0, "empty drain");
	st = stats_of(1);
	cr_assert_eq(st.pushed, 10);
	cr_assert_eq(st.drained, 10);
	cr_assert_eq(st.drains, 1, "only non-empty drains are counted");
	cr_assert_eq(st.fallback, 0);
	cr_assert_eq(st.inline_runs, 0);
}

Test(defer_push, drain_rejects_bad_arguments)
{
	cr_assert_eq(tsq_defer_drain(NULL, 0), -EINVAL);
	cr_assert_eq(tsq_defer_drain(&set, NSHARDS), -EINVAL);
	cr_assert_eq(tsq_defer_drain(&set, TSQ_DEFER_NO_SHARD), -EINVAL);
}

/* An item that hands itself back to its shard from inside the drain. */
static int requeues_left;

static void requeue_self(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	record(it, how);
	if (requeues_left > 0) {
		requeues_left--;
		cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, it), TSQ_DEFER_QUEUED);
	}
}

Test(defer_push, item_pushed_during_drain_waits_for_the_next_drain)
{
	/* drain takes one snapshot: an item that re-queues itself cannot keep it looping. */
	tsq_defer_item_init(&recs[0].d, requeue_self);
	requeues_left = 2;
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(tsq_defer_drain(&set, 0), 0);
	cr_assert_eq(nran, 3);
	cr_assert_eq(stats_of(0).pushed, 3);
	cr_assert_eq(stats_of(0).drained, 3);
}

Test(defer_push, item_pushed_to_self_during_drain_runs_inline)
{
	/* The owner running its own items is "self": a nested push runs at once, no recursion. */
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(tsq_defer_push(&set, 0, 0, &recs[1].d), TSQ_DEFER_RAN_INLINE);
	assert_ran(0, 0, TSQ_DEFER_DRAINED);
	assert_ran(1, 1, TSQ_DEFER_INLINE);
}

/* ---------------------------------------------------------------------------------------- */
/* The bound and the fallback                                                                  */
/* ---------------------------------------------------------------------------------------- */

TestSuite(defer_bound, .init = setup_bound16, .fini = teardown);

Test(defer_bound, push_past_the_bound_runs_on_the_caller)
{
	const int B = 16;
	struct tsq_defer_stats st;

	for (int i = 0; i < B; i++)
		cr_assert_eq(tsq_defer_push(&set, 1, TSQ_DEFER_NO_SHARD, &recs[i].d),
			     TSQ_DEFER_QUEUED, "push %d of %d", i + 1, B);
	cr_assert_eq(nran, 0);

	cr_assert_eq(tsq_defer_push(&set, 1, TSQ_DEFER_NO_SHARD, &recs[B].d),
		     TSQ_DEFER_RAN_FALLBACK);
	cr_assert_eq(nran, 1, "the fallback ran before push returned");
	assert_ran(0, B, TSQ_DEFER_FALLBACK);
	cr_assert_eq(tsq_defer_push(&set, 1, 0, &recs[B + 1].d), TSQ_DEFER_RAN_FALLBACK,
		     "a shard producer falls back too");
	assert_ran(1, B + 1, TSQ_DEFER_FALLBACK);

	st = stats_of(1);
	cr_assert_eq(st.fallback, 2);
	cr_assert_eq(st.pushed, (uint64_t)B, "fallbacks are not counted as pushed");

	/* The drain runs exactly the linked ones, oldest first. */
	cr_assert_eq(tsq_defer_drain(&set, 1), B);
	for (int i = 0; i < B; i++)
		assert_ran(2 + i, i, TSQ_DEFER_DRAINED);

	/* A new epoch: B more queue, the next one falls back again. */
	for (int i = 0; i < B; i++)
		cr_assert_eq(tsq_defer_push(&set, 1, 2, &recs[B + 2 + i].d), TSQ_DEFER_QUEUED,
			     "after the drain, push %d queues again", i + 1);
	cr_assert_eq(tsq_defer_push(&set, 1, 2, &recs[2 * B + 2].d), TSQ_DEFER_RAN_FALLBACK);
	st = stats_of(1);
	cr_assert_eq(st.fallback, 3);
	cr_assert_eq(st.pushed, (uint64_t)(2 * B));
	cr_assert_eq(tsq_defer_drain(&set, 1), B);
	st = stats_of(1);
	cr_assert_eq(st.drained, st.pushed);
	cr_assert_eq(st.drains, 2);
}

Test(defer_bound, bound_is_per_shard)
{
	push_queued(0, TSQ_DEFER_NO_SHARD, 0, 16);
	cr_assert_eq(tsq_defer_push(&set, 1, TSQ_DEFER_NO_SHARD, &recs[16].d), TSQ_DEFER_QUEUED,
		     "shard 0 being full does not affect shard 1");
	cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[17].d),
		     TSQ_DEFER_RAN_FALLBACK);
}

Test(defer_bound, bound_one)
{
	struct tsq_defer_opts o = {
		.size = sizeof(o), .bound = 1, .kick = count_kick, .ring_size = TSQ_DEFER_RINGS_OFF
	};

	reinit(&o);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 1, "bound 1: half the bound is crossed by the first push");
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[1].d), TSQ_DEFER_RAN_FALLBACK);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[2].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 2, "one kick per epoch");
}

static void run_other(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	record(it, how);
}

Test(defer_bound, repushed_item_falls_back_alone)
{
	/*
	 * An item is reused without tsq_defer_item_init(): its node.next still points into the
	 * chain of its last drain. The fallback must run that one item, not follow the stale
	 * link into items that belong to someone else (they would run twice).
	 */
	const int B = 16;

	tsq_defer_item_init(&recs[1].d, run_other);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[1].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_drain(&set, 0), 2);
	cr_assert_not_null(recs[1].d.node.next, "precondition: a stale link (to recs[0])");
	nran = 0;

	for (int i = 0; i < B; i++)
		cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[10 + i].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[1].d), TSQ_DEFER_RAN_FALLBACK);
	cr_assert_eq(nran, 1, "exactly the pushed item ran");
	assert_ran(0, 1, TSQ_DEFER_FALLBACK);
	cr_assert_eq(stats_of(0).fallback, 1);
	cr_assert_eq(tsq_defer_drain(&set, 0), B);
}

Test(defer_bound, a_drain_never_takes_more_than_the_bound)
{
	/*
	 * The owner is preempted between taking the list and giving its room back (the hook
	 * runs at that point): the producers keep pushing meanwhile. The taken items still
	 * count, so every such push falls back, and the next drain takes at most the bound.
	 * (A count of attempts per epoch, given back before the take, would let one drain take
	 * up to 2 x bound - 1 items.)
	 */
	const int B = 16;

	push_queued(0, 1, 0, B);
	hook_point = "taken";
	hook_action = push_during_hook;
	hook_first = B;
	hook_n = B;
	cr_assert_eq(tsq_defer_drain(&set, 0), B);
	cr_assert_eq(hook_runs, 1);
	for (int i = 0; i < B; i++)
		cr_assert_eq(hook_results[i], TSQ_DEFER_RAN_FALLBACK,
			     "push %d while the owner holds a full take must fall back", i);
	cr_assert_eq(tsq_defer_drain(&set, 0), 0, "nothing was linked meanwhile");
	for (int i = 0; i < B; i++)
		cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[2 * B + i].d), TSQ_DEFER_QUEUED,
			     "room given back after the drain: push %d queues", i);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[3 * B].d), TSQ_DEFER_RAN_FALLBACK);
	cr_assert_eq(tsq_defer_drain(&set, 0), B);
	cr_assert_eq(stats_of(0).fallback, (uint64_t)B + 1);
}

/* ---------------------------------------------------------------------------------------- */
/* tsq_defer_queue: always linked                                                              */
/* ---------------------------------------------------------------------------------------- */

TestSuite(defer_queue, .init = setup_bound16, .fini = teardown);

Test(defer_queue, rejects_bad_arguments)
{
	struct rec nofn = { .id = 999 };

	tsq_defer_item_init(&nofn.d, NULL);
	cr_assert_eq(tsq_defer_queue(NULL, 0, &recs[0].d), -EINVAL);
	cr_assert_eq(tsq_defer_queue(&set, 0, NULL), -EINVAL);
	cr_assert_eq(tsq_defer_queue(&set, 0, &nofn.d), -EINVAL);
	cr_assert_eq(tsq_defer_queue(&set, NSHARDS, &recs[0].d), -EINVAL);
	cr_assert_eq(tsq_defer_queue(&set, TSQ_DEFER_NO_SHARD, &recs[0].d), -EINVAL);
	assert_untouched();
}

Test(defer_queue, links_past_the_bound_and_runs_drained)
{
	for (int i = 0; i < 40; i++)
		cr_assert_eq(tsq_defer_queue(&set, 1, &recs[i].d), TSQ_DEFER_QUEUED, "queue %d", i);
	cr_assert_eq(nran, 0, "never inline, never a fallback");
	cr_assert_eq(stats_of(1).fallback, 0);
	cr_assert_eq(stats_of(1).pushed, 40);
	cr_assert_eq(kicks.calls, 1, "it kicks like push: once, crossing half the bound");
	cr_assert_eq(tsq_defer_drain(&set, 1), 40);
	for (int i = 0; i < 40; i++)
		assert_ran(i, i, TSQ_DEFER_DRAINED);
}

Test(defer_queue, counts_towards_the_bound)
{
	for (int i = 0; i < 16; i++)
		cr_assert_eq(tsq_defer_queue(&set, 2, &recs[i].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_push(&set, 2, 0, &recs[16].d), TSQ_DEFER_RAN_FALLBACK);
	cr_assert_eq(tsq_defer_queue(&set, 2, &recs[17].d), TSQ_DEFER_QUEUED, "queue still links");
	cr_assert_eq(tsq_defer_drain(&set, 2), 17);
	assert_ran(0, 16, TSQ_DEFER_FALLBACK);
	assert_ran(17, 17, TSQ_DEFER_DRAINED);
}

Test(defer_queue, idle_owner_is_kicked)
{
	cr_assert(tsq_defer_idle_enter(&set, 0));
	cr_assert_eq(tsq_defer_queue(&set, 0, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 1);
	cr_assert_eq(kicks.shard, 0);
	tsq_defer_idle_exit(&set, 0);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Kicks                                                                                      */
/* ---------------------------------------------------------------------------------------- */

TestSuite(defer_kick, .init = setup_bound16, .fini = teardown);

Test(defer_kick, fires_once_when_crossing_half_the_bound)
{
	const int B = 16;
	int n = 0;

	/* Items 1..B/2 fill half the bound; the (B/2 + 1)-th push crosses it. */
	for (; n < B / 2; n++)
		cr_assert_eq(tsq_defer_push(&set, 2, TSQ_DEFER_NO_SHARD, &recs[n].d),
			     TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 0, "no kick up to half the bound");
	cr_assert_eq(tsq_defer_push(&set, 2, 0, &recs[n++].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 1, "crossing half the bound kicks");
	cr_assert_eq(kicks.shard, 2, "the hook is told which shard");
	cr_assert_eq(kicks.ctx, &kick_ctx_cookie, "the hook gets opts->kick_ctx");

	/* Not again in this epoch: neither up to the bound nor past it (fallback). */
	for (; n < B + 4; n++)
		tsq_defer_push(&set, 2, TSQ_DEFER_NO_SHARD, &recs[n].d);
	cr_assert_eq(kicks.calls, 1, "one kick per epoch");
	cr_assert_eq(stats_of(2).kicks, 1);
	cr_assert_eq(stats_of(2).fallback, 4);

	/* The next epoch kicks once again, at the same point. */
	cr_assert_eq(tsq_defer_drain(&set, 2), B);
	for (int i = 0; i < B / 2; i++)
		cr_assert_eq(tsq_defer_push(&set, 2, 1, &recs[n++].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 1);
	cr_assert_eq(tsq_defer_push(&set, 2, 1, &recs[n++].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 2, "one kick in the next epoch");
	for (int i = 0; i < B; i++)
		tsq_defer_push(&set, 2, 1, &recs[n++].d);
	cr_assert_eq(kicks.calls, 2);
	cr_assert_eq(stats_of(2).kicks, 2);
	cr_assert_eq(stats_of(0).kicks + stats_of(1).kicks, 0, "other shards untouched");
}

Test(defer_kick, idle_owner_is_kicked_once_by_a_push_to_the_empty_list)
{
	cr_assert(tsq_defer_idle_enter(&set, 1), "empty list: may sleep");
	cr_assert_eq(tsq_defer_push(&set, 1, TSQ_DEFER_NO_SHARD, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 1, "empty -> non-empty while idle kicks");
	cr_assert_eq(kicks.shard, 1);
	cr_assert_eq(tsq_defer_push(&set, 1, 0, &recs[1].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 1, "the second push does not kick");

	/* Single flight: even crossing half the bound does not kick while one is pending. */
	push_queued(1, 0, 2, 12);
	cr_assert_eq(kicks.calls, 1, "single flight until drain or idle_exit");
	cr_assert_eq(stats_of(1).kicks, 1);

	/* drain re-arms; the owner still says "idle", so the next empty -> non-empty kicks. */
	cr_assert_eq(tsq_defer_drain(&set, 1), 12);
	cr_assert_eq(tsq_defer_push(&set, 1, 0, &recs[12].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 2, "re-armed by the drain");
	tsq_defer_idle_exit(&set, 1);
	cr_assert_eq(tsq_defer_drain(&set, 1), 1);
	cr_assert_eq(stats_of(1).kicks, 2);
}

Test(defer_kick, idle_enter_rearms)
{
	cr_assert(tsq_defer_idle_enter(&set, 0));
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 1);
	/* Pushes 2..8: below half the bound, and a kick is in flight anyway. */
	for (int i = 1; i < 8; i++)
		tsq_defer_push(&set, 0, 1, &recs[i].d);
	cr_assert_eq(kicks.calls, 1);

	/* Woken, the owner drains (re-arms) and goes idle again: the next push kicks. */
	tsq_defer_idle_exit(&set, 0);
	cr_assert_eq(tsq_defer_drain(&set, 0), 8);
	cr_assert(tsq_defer_idle_enter(&set, 0));
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[8].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 2, "idle again: the push to the empty list kicks");

	/* Not idle any more: a push to an empty list does not kick. */
	tsq_defer_idle_exit(&set, 0);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[9].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 2, "no idle kick after idle_exit");
}

/*
 * The lost wake-up of a late kick, replayed step by step (bound 2, so the second push crosses
 * half the bound):
 *   1. a producer links the item that crosses bound/2 and is preempted before its kick
 *      (the hook at "kick");
 *   2. the owner drains that item: the list is empty again (inside the hook);
 *   3. the producer resumes and kicks: kick_pending = 1 with an empty list;
 *   4. the owner snapshots its futex word and calls idle_enter (true): it would sleep;
 *   5. the next push finds the list empty: it must kick, or the owner sleeps with an item
 *      queued. With the re-arm in idle_exit instead, kick_pending would still be 1 here and no
 *      kick would be sent.
 * The kick is a futex-style counter: the owner sleeps only while the counter equals the
 * value it read before idle_enter.
 */
static uint64_t futex_word;

static void futex_kick(void *ctx, unsigned shard)
{
	(void)ctx;
	(void)shard;
	kicks.calls++;
	futex_word++;
}

static void assert_no_lost_wakeup_after_late_kick(unsigned self_of_producer)
{
	/* List: bound 2, half = 1. Ring: 8 slots (the smallest), half = 4. */
	const bool ring = self_of_producer != TSQ_DEFER_NO_SHARD;
	const int half = ring ? 4 : 1;
	struct tsq_defer_opts o = {
		.size = sizeof(o), .bound = 2, .kick = futex_kick, .ring_size = ring ? 8 : 0
	};
	uint64_t snap;

	reinit(&o);
	futex_word = 0;
	push_queued(0, self_of_producer, 0, half);
	cr_assert_eq(kicks.calls, 0);
	/* 1-3 */
	hook_point = "kick";
	hook_action = drain_during_hook;
	cr_assert_eq(tsq_defer_push(&set, 0, self_of_producer, &recs[half].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(hook_runs, 1);
	cr_assert_eq(hook_results[0], half + 1,
		     "the owner drained every item while the producer was out");
	cr_assert_eq(kicks.calls, 1, "the late half-bound kick was sent");
	/* 4 */
	snap = futex_word;
	cr_assert(tsq_defer_idle_enter(&set, 0), "nothing queued: the owner may sleep");
	/* 5 */
	cr_assert_eq(tsq_defer_push(&set, 0, self_of_producer, &recs[half + 1].d),
		     TSQ_DEFER_QUEUED);
	cr_assert_neq(futex_word, snap, "lost wake-up: item queued, owner asleep, no kick");
	tsq_defer_idle_exit(&set, 0);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
}

Test(defer_kick, late_half_bound_kick_does_not_silence_the_idle_kick_list)
{
	assert_no_lost_wakeup_after_late_kick(TSQ_DEFER_NO_SHARD);
}

Test(defer_kick, late_half_bound_kick_does_not_silence_the_idle_kick_ring)
{
	assert_no_lost_wakeup_after_late_kick(1);
}

Test(defer_kick, idle_enter_returns_false_when_work_is_pending)
{
	cr_assert_eq(tsq_defer_push(&set, 2, 0, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 0);
	cr_assert_not(tsq_defer_idle_enter(&set, 2), "work pending: drain instead of sleeping");
	cr_assert_eq(tsq_defer_drain(&set, 2), 1);
	/* The idle mark was withdrawn, so this push to the empty list must not kick. */
	cr_assert_eq(tsq_defer_push(&set, 2, 0, &recs[1].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 0, "a refused idle_enter leaves the owner awake");

	cr_assert_not(tsq_defer_idle_enter(NULL, 0));
	cr_assert_not(tsq_defer_idle_enter(&set, NSHARDS), "bad shard");
	tsq_defer_idle_exit(NULL, 0);
	tsq_defer_idle_exit(&set, NSHARDS);
}

Test(defer_kick, idle_on_one_shard_does_not_kick_another)
{
	cr_assert(tsq_defer_idle_enter(&set, 0));
	cr_assert_eq(tsq_defer_push(&set, 1, 0, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 0);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[1].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 1);
	cr_assert_eq(kicks.shard, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* The batch API                                                                              */
/* ---------------------------------------------------------------------------------------- */

TestSuite(defer_batch, .init = setup_default_bound, .fini = teardown);

Test(defer_batch, flush_of_an_empty_batch_returns_0)
{
	struct tsq_defer_batch b;

	tsq_defer_batch_init(&b, 1);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 0);
	cr_assert_not(tsq_defer_pending(&set, 1));
	cr_assert_eq(stats_of(1).pushed, 0);
}

Test(defer_batch, items_stay_private_until_flush_then_run_in_add_order)
{
	struct tsq_defer_batch b;

	tsq_defer_batch_init(&b, 1);
	batch_add_queued(&b, TSQ_DEFER_NO_SHARD, 0, 5);
	cr_assert_not(tsq_defer_pending(&set, 1), "nothing is shared before the flush");
	cr_assert_eq(stats_of(1).pushed, 0);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 5);
	cr_assert(tsq_defer_pending(&set, 1));
	cr_assert_eq(stats_of(1).pushed, 5);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 0, "the batch is empty after a flush");

	/* A single push after the batch: arrival order across both. */
	cr_assert_eq(tsq_defer_push(&set, 1, 0, &recs[5].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_drain(&set, 1), 6);
	for (int i = 0; i < 6; i++)
		assert_ran(i, i, TSQ_DEFER_DRAINED);
}

Test(defer_batch, splices_by_itself_at_batch_max)
{
	const int max = (int)TSQ_DEFER_BATCH_MAX;
	struct tsq_defer_batch b;

	tsq_defer_batch_init(&b, 0);
	for (int i = 0; i < max - 1; i++)
		cr_assert_eq(tsq_defer_batch_add(&set, &b, 2, &recs[i].d), TSQ_DEFER_QUEUED);
	cr_assert_not(tsq_defer_pending(&set, 0));
	cr_assert_eq(tsq_defer_batch_add(&set, &b, 2, &recs[max - 1].d), TSQ_DEFER_QUEUED);
	cr_assert(tsq_defer_pending(&set, 0), "the %d-th add spliced the chain", max);
	cr_assert_eq(stats_of(0).pushed, (uint64_t)max);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 0, "nothing left to flush");

	/* The batch goes on from empty. */
	cr_assert_eq(tsq_defer_batch_add(&set, &b, 2, &recs[max].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 1);
	cr_assert_eq(tsq_defer_drain(&set, 0), max + 1);
	for (int i = 0; i <= max; i++)
		assert_ran(i, i, TSQ_DEFER_DRAINED);
}

Test(defer_batch, to_self_runs_inline)
{
	struct tsq_defer_batch b;

	tsq_defer_batch_init(&b, 1);
	cr_assert_eq(tsq_defer_batch_add(&set, &b, 1, &recs[0].d), TSQ_DEFER_RAN_INLINE);
	assert_ran(0, 0, TSQ_DEFER_INLINE);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 0, "an inline item is not kept");
	cr_assert_eq(stats_of(1).inline_runs, 1);
	cr_assert_eq(stats_of(1).pushed, 0);
}

Test(defer_batch, over_the_bound_falls_back_as_a_whole)
{
	struct tsq_defer_opts o = {
		.size = sizeof(o), .bound = 16, .kick = count_kick, .ring_size = TSQ_DEFER_RINGS_OFF
	};
	struct tsq_defer_batch b;

	reinit(&o);
	push_queued(2, 0, 0, 16);

	tsq_defer_batch_init(&b, 2);
	batch_add_queued(&b, TSQ_DEFER_NO_SHARD, 16, 21);
	cr_assert_eq(nran, 0);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 0,
		     "the flush reports the items queued: none");
	cr_assert_eq(nran, 5, "the whole batch ran here");
	for (int i = 0; i < 5; i++)
		assert_ran(i, 16 + i, TSQ_DEFER_FALLBACK);
	cr_assert_eq(stats_of(2).fallback, 5);
	cr_assert_eq(stats_of(2).pushed, 16);
	cr_assert_eq(tsq_defer_drain(&set, 2), 16);
}

Test(defer_batch, a_batch_links_what_fits_and_runs_the_rest)
{
	struct tsq_defer_opts o = {
		.size = sizeof(o), .bound = 16, .kick = count_kick, .ring_size = TSQ_DEFER_RINGS_OFF
	};
	struct tsq_defer_batch b;

	reinit(&o);
	push_queued(0, 1, 0, 10);
	tsq_defer_batch_init(&b, 0);
	for (int i = 10; i < 20; i++)
		tsq_defer_batch_add(&set, &b, 1, &recs[i].d);
	/* 10 on the list, bound 16: the 6 oldest of the batch are linked, the 4 newest run here. */
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 6);
	cr_assert_eq(nran, 4);
	for (int i = 0; i < 4; i++)
		assert_ran(i, 16 + i, TSQ_DEFER_FALLBACK);
	cr_assert_eq(stats_of(0).fallback, 4);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[20].d), TSQ_DEFER_RAN_FALLBACK);
	cr_assert_eq(tsq_defer_drain(&set, 0), 16, "never more than the bound");
	for (int i = 0; i < 16; i++)
		assert_ran(5 + i, i, TSQ_DEFER_DRAINED);
}

Test(defer_batch, add_reports_a_fallback_of_its_own_hand_over)
{
	struct tsq_defer_opts o = {
		.size = sizeof(o), .bound = 40, .kick = count_kick, .ring_size = TSQ_DEFER_RINGS_OFF
	};
	struct tsq_defer_batch b;
	int last = -1;

	reinit(&o);
	push_queued(0, 1, 0, 20);
	tsq_defer_batch_init(&b, 0);
	for (unsigned i = 0; i < TSQ_DEFER_BATCH_MAX; i++) {
		last = tsq_defer_batch_add(&set, &b, 2, &recs[20 + i].d);
		if (i + 1 < TSQ_DEFER_BATCH_MAX)
			cr_assert_eq(last, TSQ_DEFER_QUEUED);
	}
	cr_assert_eq(last, TSQ_DEFER_RAN_FALLBACK,
		     "20 of the 32 fitted: the add says some ran here");
	cr_assert_eq(stats_of(0).fallback, TSQ_DEFER_BATCH_MAX - 20);
	cr_assert_eq(tsq_defer_drain(&set, 0), 40);
}

Test(defer_batch, a_batch_crossing_half_the_bound_kicks_once)
{
	struct tsq_defer_opts o = {
		.size = sizeof(o), .bound = 16, .kick = count_kick, .ring_size = TSQ_DEFER_RINGS_OFF
	};
	struct tsq_defer_batch b;

	reinit(&o);
	tsq_defer_batch_init(&b, 1);
	for (int i = 0; i < 12; i++)
		tsq_defer_batch_add(&set, &b, 0, &recs[i].d);
	cr_assert_eq(kicks.calls, 0);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 12);
	cr_assert_eq(kicks.calls, 1, "positions 0..11 contain half the bound once");
	for (int i = 12; i < 16; i++)
		tsq_defer_push(&set, 1, 0, &recs[i].d);
	cr_assert_eq(kicks.calls, 1);
}

Test(defer_batch, rejects_bad_arguments)
{
	struct tsq_defer_batch b, bad;
	struct rec nofn = { .id = 999 };

	tsq_defer_item_init(&nofn.d, NULL);
	tsq_defer_batch_init(&b, 1);
	tsq_defer_batch_init(&bad, NSHARDS);
	cr_assert_eq(tsq_defer_batch_add(NULL, &b, 0, &recs[0].d), -EINVAL);
	cr_assert_eq(tsq_defer_batch_add(&set, NULL, 0, &recs[0].d), -EINVAL);
	cr_assert_eq(tsq_defer_batch_add(&set, &b, 0, NULL), -EINVAL);
	cr_assert_eq(tsq_defer_batch_add(&set, &b, 0, &nofn.d), -EINVAL);
	cr_assert_eq(tsq_defer_batch_add(&set, &b, NSHARDS, &recs[0].d), -EINVAL, "bad self");
	cr_assert_eq(tsq_defer_batch_add(&set, &bad, 0, &recs[0].d), -EINVAL, "bad target");
	cr_assert_eq(tsq_defer_batch_flush(NULL, &b), -EINVAL);
	cr_assert_eq(tsq_defer_batch_flush(&set, NULL), -EINVAL);
	cr_assert_eq(tsq_defer_batch_flush(&set, &bad), -EINVAL);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 0, "the rejected adds kept nothing");
	assert_untouched();
}

Test(defer_batch, flush_to_a_set_without_the_target_keeps_the_chain)
{
	struct tsq_defer_shard *small_shards = tsq_defer_shards_alloc(1);
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick };
	struct tsq_defer_set small;
	struct tsq_defer_batch b;

	cr_assert_not_null(small_shards);
	cr_assert_eq(tsq_defer_set_init(&small, small_shards, 1, &o), 0);
	tsq_defer_batch_init(&b, 2);
	for (int i = 0; i < 3; i++)
		tsq_defer_batch_add(&set, &b, 0, &recs[i].d);
	cr_assert_eq(tsq_defer_batch_flush(&small, &b), -EINVAL,
		     "target 2 is not in a 1-shard set");
	cr_assert_eq(nran, 0);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 3, "the chain was kept");
	cr_assert_eq(tsq_defer_drain(&set, 2), 3);
	tsq_defer_set_destroy(&small);
	free(small_shards);
}

/* ---------------------------------------------------------------------------------------- */
/* Counters                                                                                   */
/* ---------------------------------------------------------------------------------------- */

TestSuite(defer_stats, .init = setup_bound16, .fini = teardown);

Test(defer_stats, rejects_bad_arguments_and_leaves_out_untouched)
{
	struct tsq_defer_stats st;

	memset(&st, 0xa5, sizeof(st));
	cr_assert_eq(tsq_defer_stats(NULL, 0, &st), -EINVAL);
	cr_assert_eq(tsq_defer_stats(&set, 0, NULL), -EINVAL);
	cr_assert_eq(tsq_defer_stats(&set, NSHARDS, &st), -EINVAL);
	cr_assert_eq(st.pushed, 0xa5a5a5a5a5a5a5a5ull);
	cr_assert_eq(st.drains, 0xa5a5a5a5a5a5a5a5ull);
	cr_assert_not(tsq_defer_pending(NULL, 0));
	cr_assert_not(tsq_defer_pending(&set, NSHARDS));
}

Test(defer_stats, fresh_set_is_all_zero)
{
	assert_untouched();
}

Test(defer_stats, account_for_every_item)
{
	/* 16 queued, 3 fallback, 4 inline on shard 0; everything adds up after the drain. */
	int n = 0, inline_n = 4, fb = 3;
	struct tsq_defer_stats st;

	for (int i = 0; i < 16; i++)
		tsq_defer_push(&set, 0, (unsigned)(i % 2 + 1), &recs[n++].d);
	for (int i = 0; i < fb; i++)
		cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[n++].d),
			     TSQ_DEFER_RAN_FALLBACK);
	for (int i = 0; i < inline_n; i++)
		cr_assert_eq(tsq_defer_push(&set, 0, 0, &recs[n++].d), TSQ_DEFER_RAN_INLINE);
	st = stats_of(0);
	cr_assert_eq(st.pushed, 16);
	cr_assert_eq(st.drained, 0);
	cr_assert_eq(tsq_defer_drain(&set, 0), 16);
	st = stats_of(0);
	cr_assert_eq(st.pushed, st.drained);
	cr_assert_eq(st.fallback, (uint64_t)fb);
	cr_assert_eq(st.inline_runs, (uint64_t)inline_n);
	cr_assert_eq(st.kicks, 1);
	cr_assert_eq(st.drains, 1);
	cr_assert_eq(st.drained + st.fallback + st.inline_runs, (uint64_t)n);
	cr_assert_eq(nran, n);
}

/* ---------------------------------------------------------------------------------------- */
/* The default eventfd kick: tsq_defer_fd, tsq_defer_wait, tsq_defer_set_destroy               */
/* ---------------------------------------------------------------------------------------- */

TestSuite(defer_eventfd, .init = setup_eventfd, .fini = teardown, .timeout = 60);

Test(defer_eventfd, fd_per_shard)
{
	int fds[NSHARDS];

	for (unsigned i = 0; i < NSHARDS; i++) {
		fds[i] = tsq_defer_fd(&set, i);
		cr_assert_geq(fds[i], 0);
		cr_assert_neq(fcntl(fds[i], F_GETFD), -1, "an open fd");
		cr_assert(fcntl(fds[i], F_GETFD) & FD_CLOEXEC, "close-on-exec");
		for (unsigned j = 0; j < i; j++)
			cr_assert_neq(fds[i], fds[j]);
	}
	cr_assert_eq(tsq_defer_fd(&set, NSHARDS), -EINVAL);
	cr_assert_eq(tsq_defer_fd(NULL, 0), -EINVAL);
}

Test(defer_eventfd, fd_and_wait_on_a_custom_kick_set_are_not_supported)
{
	struct tsq_defer_shard *s = tsq_defer_shards_alloc(2);
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick };
	struct tsq_defer_set custom;

	cr_assert_not_null(s);
	cr_assert_eq(tsq_defer_set_init(&custom, s, 2, &o), 0);
	cr_assert_eq(tsq_defer_fd(&custom, 0), -ENOTSUP);
	cr_assert_eq(tsq_defer_fd(&custom, 1), -ENOTSUP);
	cr_assert_eq(tsq_defer_wait(&custom, 0, 0), -ENOTSUP);
	tsq_defer_set_destroy(&custom);
	free(s);
}

Test(defer_eventfd, wait_rejects_bad_arguments)
{
	cr_assert_eq(tsq_defer_wait(NULL, 0, 0), -EINVAL);
	cr_assert_eq(tsq_defer_wait(&set, NSHARDS, 0), -EINVAL);
}

Test(defer_eventfd, wait_returns_0_at_once_when_work_is_pending)
{
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	/* No timeout: if it slept, the suite's timeout would fail the test. */
	cr_assert_eq(tsq_defer_wait(&set, 0, -1), 0);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	/* The owner did not stay "idle": the next push to the empty list does not kick. */
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[1].d), TSQ_DEFER_QUEUED);
	cr_assert_not(fd_readable(tsq_defer_fd(&set, 0)));
	cr_assert_eq(stats_of(0).kicks, 0);
}

Test(defer_eventfd, wait_times_out_with_nothing_queued)
{
	cr_assert_eq(tsq_defer_wait(&set, 1, 10), 0);
	cr_assert_eq(tsq_defer_wait(&set, 1, 0), 0);
	/* Awake again after the timeout: no idle kick. */
	cr_assert_eq(tsq_defer_push(&set, 1, 0, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(stats_of(1).kicks, 0);
	cr_assert_eq(tsq_defer_drain(&set, 1), 1);
}

Test(defer_eventfd, idle_kick_makes_the_fd_readable)
{
	int fd = tsq_defer_fd(&set, 2);

	cr_assert_not(fd_readable(fd));
	cr_assert(tsq_defer_idle_enter(&set, 2));
	cr_assert_eq(tsq_defer_push(&set, 2, TSQ_DEFER_NO_SHARD, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert(fd_readable(fd));
	cr_assert_eq(stats_of(2).kicks, 1);
	cr_assert_not(fd_readable(tsq_defer_fd(&set, 1)), "only the target's fd");
	tsq_defer_idle_exit(&set, 2);
	cr_assert_eq(tsq_defer_drain(&set, 2), 1);
}

Test(defer_eventfd, half_bound_kick_makes_the_fd_readable)
{
	int fd = tsq_defer_fd(&set, 0);
	int n = (int)TSQ_DEFER_DEFAULT_BOUND / 2;

	/* A producer that is not a shard: the shared list, whose half is bound / 2. */
	for (int i = 0; i < n; i++)
		tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[i].d);
	cr_assert_not(fd_readable(fd));
	tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[n].d);
	cr_assert(fd_readable(fd));
	cr_assert_eq(tsq_defer_drain(&set, 0), n + 1);
}

struct waker {
	unsigned target;
	int rounds;
};

static void *waker_main(void *arg)
{
	struct waker *w = arg;

	for (int r = 0; r < w->rounds; r++) {
		/*
		 * Push only once the owner has declared itself idle (private field, read for the
		 * test's sake), and give it a moment to get into poll(): a push before that is the
		 * "work pending" case tested above. The owner's loop tolerates the rare push that
		 * still lands between its idle mark and its look at the list.
		 */
		while (!tsq_load(&shards[w->target].wake.idle, TSQ_ACQUIRE))
			sched_yield();
		usleep(1000);
		if (tsq_defer_push(&set, w->target, TSQ_DEFER_NO_SHARD, &recs[r].d) !=
		    TSQ_DEFER_QUEUED)
			return (void *)1;
		/* Let the owner wake and drain before the next round. */
		while (tsq_defer_pending(&set, w->target))
			sched_yield();
	}
	return NULL;
}

Test(defer_eventfd, wait_returns_1_after_a_push_from_another_thread)
{
	struct waker w = { .target = 1, .rounds = 20 };
	int woken = 0, raced = 0, got = 0;
	pthread_t th;
	void *ret;

	cr_assert_eq(pthread_create(&th, NULL, waker_main, &w), 0);
	while (got < w.rounds) {
		/* No timeout: a lost wake-up hangs and the suite's timeout reports it. */
		int r = tsq_defer_wait(&set, 1, -1);

		if (r == 0) {
			cr_assert(tsq_defer_pending(&set, 1),
				  "wait(-1) returned 0 with nothing queued");
			raced++;
		} else {
			cr_assert_eq(r, 1);
			woken++;
		}
		got += (int)tsq_defer_drain(&set, 1);
	}
	cr_assert_eq(pthread_join(th, &ret), 0);
	cr_assert_null(ret);
	cr_assert_eq(got, w.rounds);
	cr_assert_geq(woken, 1, "woken %d times, %d pushes raced the idle mark", woken, raced);
	for (int r = 0; r < w.rounds; r++)
		assert_ran(r, r, TSQ_DEFER_DRAINED);
	if (raced == 0) {
		cr_assert_eq(woken, w.rounds);
		cr_assert_eq(stats_of(1).kicks, (uint64_t)w.rounds);
		cr_assert_not(fd_readable(tsq_defer_fd(&set, 1)), "every kick was consumed");
	}
}

static void late_kick(void)
{
	/*
	 * A producer that linked its item (since drained) and was preempted before its kick:
	 * the kick lands now, inside the owner's wait. tsq__defer_kick() is internal; calling it
	 * is the only way to place it at this point deterministically.
	 */
	tsq__defer_kick(&set, &shards[0], 0);
}

Test(defer_eventfd, wait_late_kick_does_not_silence_the_next_one)
{
	struct tsq_defer_opts o = { .size = sizeof(o),
				    .bound = 2,
				    .ring_size = TSQ_DEFER_RINGS_OFF };
	int fd;

	reinit(&o);
	fd = tsq_defer_fd(&set, 0);

	/* A half-bound kick whose item the owner then drains leaves a stale count in the fd. */
	tsq_defer_push(&set, 0, 1, &recs[0].d);
	tsq_defer_push(&set, 0, 1, &recs[1].d);
	cr_assert(fd_readable(fd));
	cr_assert_eq(tsq_defer_drain(&set, 0), 2);

	/* The stale count wakes the owner at once; the late kick arrives while it reads the fd. */
	before_read = late_kick;
	cr_assert_eq(tsq_defer_wait(&set, 0, -1), 1);
	cr_assert_null(before_read, "the hook ran");
	cr_assert_eq(tsq_defer_drain(&set, 0), 0);

	/* Sleeping again: a push to the empty list must reach the owner. */
	cr_assert(tsq_defer_idle_enter(&set, 0));
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[2].d), TSQ_DEFER_QUEUED);
	cr_assert(fd_readable(fd), "lost wake-up: item queued, owner idle, fd not readable");
	tsq_defer_idle_exit(&set, 0);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
}

Test(defer_eventfd, set_destroy_closes_the_fds)
{
	int fds[NSHARDS];

	for (unsigned i = 0; i < NSHARDS; i++)
		fds[i] = tsq_defer_fd(&set, i);
	tsq_defer_set_destroy(&set);
	for (unsigned i = 0; i < NSHARDS; i++) {
		errno = 0;
		cr_assert_eq(fcntl(fds[i], F_GETFD), -1, "fd %d closed", fds[i]);
		cr_assert_eq(errno, EBADF);
		cr_assert_eq(tsq_defer_fd(&set, i), -EINVAL, "no shards after destroy");
	}
	/* Idempotent, and NULL is ignored (the fixture's teardown destroys once more). */
	tsq_defer_set_destroy(&set);
	tsq_defer_set_destroy(NULL);
}

Test(defer_eventfd, init_failure_leaves_nothing_open)
{
	struct tsq_defer_shard *s = tsq_defer_shards_alloc(8);
	struct rlimit old, rl;
	struct tsq_defer_set st;
	int lowest, again;

	cr_assert_not_null(s);
	/* The lowest free descriptor; with the limit just above it, 8 eventfds cannot all fit. */
	lowest = open("/dev/null", O_RDONLY);
	cr_assert_geq(lowest, 0);
	close(lowest);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)lowest + 2;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);

	cr_assert_eq(tsq_defer_set_init(&st, s, 8, NULL), -EMFILE);
	/* Had the eventfds made before the failure leaked, `lowest` would still be taken. */
	again = open("/dev/null", O_RDONLY);
	cr_assert_eq(again, lowest, "eventfds leaked by the failed init");
	close(again);

	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	free(s);
}

Test(defer_eventfd, current_cpu)
{
	cr_assert_geq(tsq_defer_current_cpu(), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* The header's Usage block, compiled and run; misuse and teardown                             */
/* ---------------------------------------------------------------------------------------- */

struct buf {
	struct tsq_defer_item d;
	unsigned home;
	char data[2048];
};

/* A per-worker pool, as the Usage block assumes: only its worker touches it. */
static struct buf *usage_pool[2][8];
static unsigned usage_pool_len[2];

static void pool_put(unsigned home, struct buf *b)
{
	usage_pool[home][usage_pool_len[home]++] = b;
}

static void usage_recycle(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct buf *b = tsq_container_of(it, struct buf, d);

	if (how == TSQ_DEFER_FALLBACK)
		free(b);
	else
		pool_put(b->home, b);
}

Test(defer_usage, usage_block_runs)
{
	/* The Usage block of defer.h, with nthreads = 2, my_shard = 1, me = 0. */
	const unsigned nthreads = 2, my_shard = 1, me = 0;
	struct buf *b = malloc(sizeof(*b));
	struct tsq_defer_opts o = { .size = sizeof(o), .ring_size = 256 };
	struct tsq_defer_shard *shards = tsq_defer_shards_alloc(nthreads);
	struct tsq_defer_set set;
	bool nothing_else_to_do = false;

	cr_assert_not_null(b);
	b->home = 0;
	usage_pool_len[0] = 0;
	memset(&set, 0, sizeof(set));
	cr_assert_eq(tsq_defer_set_init(&set, shards, nthreads, &o), 0);
	tsq_defer_item_init(&b->d, usage_recycle);
	cr_assert_eq(tsq_defer_push(&set, b->home, my_shard, &b->d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_drain(&set, me), 1);
	if (nothing_else_to_do)
		tsq_defer_wait(&set, me, -1);
	cr_assert_eq(usage_pool_len[0], 1, "the buffer went home");
	cr_assert_eq(usage_pool[0][0], b);
	tsq_defer_set_destroy(&set);
	free(shards);
	free(b);
}

Test(defer_usage, calls_after_destroy_are_einval)
{
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick, .ring_size = 8 };
	struct tsq_defer_shard *sh = tsq_defer_shards_alloc(2);
	struct tsq_defer_set st;
	struct tsq_defer_batch b;
	struct tsq_defer_stats stats;

	reset_records();
	memset(&st, 0, sizeof(st));
	cr_assert_eq(tsq_defer_set_init(&st, sh, 2, &o), 0);
	cr_assert_eq(tsq_defer_nr_shards(&st), 2);
	tsq_defer_set_destroy(&st);
	cr_assert_eq(tsq_defer_nr_shards(&st), 0);
	cr_assert_eq(tsq_defer_nr_shards(NULL), 0);
	cr_assert_eq(tsq_defer_push(&st, 0, 1, &recs[0].d), -EINVAL, "push after destroy");
	cr_assert_eq(tsq_defer_queue(&st, 0, &recs[0].d), -EINVAL);
	tsq_defer_batch_init(&b, 0);
	cr_assert_eq(tsq_defer_batch_add(&st, &b, 1, &recs[0].d), -EINVAL);
	cr_assert_eq(tsq_defer_drain(&st, 0), -EINVAL);
	cr_assert_eq(tsq_defer_stats(&st, 0, &stats), -EINVAL);
	cr_assert_not(tsq_defer_idle_enter(&st, 0));
	cr_assert_eq(nran, 0, "nothing ran");
	tsq_defer_set_destroy(&st); /* a second destroy does nothing */
	/* and the set can be initialised again */
	cr_assert_eq(tsq_defer_set_init(&st, sh, 2, &o), 0);
	tsq_defer_set_destroy(&st);
	free(sh);
}

Test(defer_usage, drain_burst_hands_arrays_in_order, .init = setup_bound16, .fini = teardown)
{
	struct tsq_defer_opts o = {
		.size = sizeof(o), .bound = 64, .kick = count_kick, .ring_size = 16
	};

	reinit(&o);
	/* 12 through the ring from shard 1 (wrapping it once), 3 through the list. */
	push_queued(0, 1, 0, 10);
	cr_assert_eq(tsq_defer_drain(&set, 0), 10);
	nran = 0;
	push_queued(0, 1, 10, 22);
	push_queued(0, TSQ_DEFER_NO_SHARD, 22, 25);
	burst_calls = 0;
	cr_assert_eq(tsq_defer_drain_burst(&set, 0, record_burst, &kick_ctx_cookie), 15);
	cr_assert_eq(nran, 15);
	for (int i = 0; i < 15; i++)
		assert_ran(i, 10 + i, TSQ_DEFER_DRAINED);
	cr_assert_geq(burst_calls, 2, "the ring's wrap splits its run; the list comes apart");
	cr_assert_eq(tsq_defer_drain_burst(&set, 0, record_burst, NULL), 0);
	cr_assert_eq(tsq_defer_drain_burst(&set, 0, NULL, NULL), -EINVAL);
	cr_assert_eq(tsq_defer_drain_burst(NULL, 0, record_burst, NULL), -EINVAL);
	cr_assert_eq(tsq_defer_drain_burst(&set, NSHARDS, record_burst, NULL), -EINVAL);
	cr_assert_eq(stats_of(0).drained, 25);
	cr_assert_eq(stats_of(0).pushed, 25);
}

Test(defer_ring, fifo_fallback_when_full_and_stats, .init = setup_bound16, .fini = teardown)
{
	struct tsq_defer_opts o = {
		.size = sizeof(o), .bound = 4, .kick = count_kick, .ring_size = 8
	};

	reinit(&o);
	/* A full ring (8 slots) spills to the shared list while its bound (4) has room. */
	for (int i = 0; i < 12; i++)
		cr_assert_eq(tsq_defer_push(&set, 2, 0, &recs[i].d), TSQ_DEFER_QUEUED, "push %d",
			     i);
	cr_assert_eq(tsq_defer_push(&set, 2, 0, &recs[12].d), TSQ_DEFER_RAN_FALLBACK,
		     "ring and list full");
	assert_ran(0, 12, TSQ_DEFER_FALLBACK);
	/* Another producer shard has a ring of its own. */
	cr_assert_eq(tsq_defer_push(&set, 2, 1, &recs[13].d), TSQ_DEFER_QUEUED);
	cr_assert(tsq_defer_pending(&set, 2));
	cr_assert_eq(stats_of(2).pushed, 13);
	cr_assert_eq(stats_of(2).fallback, 1);
	cr_assert_eq(stats_of(2).spilled, 5, "4 queued on the list, 1 refused by its bound");
	cr_assert_eq(tsq_defer_drain(&set, 2), 13);
	/* Rings first (producer 0's, then 1's), then the list: producer 0's order holds. */
	for (int i = 0; i < 8; i++)
		assert_ran(1 + i, i, TSQ_DEFER_DRAINED);
	assert_ran(9, 13, TSQ_DEFER_DRAINED);
	for (int i = 8; i < 12; i++)
		assert_ran(2 + i, i, TSQ_DEFER_DRAINED);
	cr_assert_not(tsq_defer_pending(&set, 2));
	cr_assert_eq(kicks.calls, 1, "crossing half the ring kicked once");
	cr_assert_eq(stats_of(2).drained, stats_of(2).pushed);
}

Test(defer_ring, fifo_holds_across_a_spill, .init = setup_bound16, .fini = teardown)
{
	struct tsq_defer_opts o = {
		.size = sizeof(o), .bound = 64, .kick = count_kick, .ring_size = 8
	};

	reinit(&o);
	push_queued(2, 0, 0, 8);
	/* The owner drains the ring while producer 0 is between its full ring and its link. */
	hook_point = "spilling";
	hook_action = drain_during_hook;
	push_queued(2, 0, 8, 12);
	cr_assert_eq(hook_runs, 1);
	cr_assert_eq(hook_results[0], 8);
	/* The ring has room again while 8..11 are on the list: later pushes follow them there. */
	push_queued(2, 0, 12, 16);
	cr_assert_eq(stats_of(2).spilled, 8);
	cr_assert_eq(tsq_defer_drain(&set, 2), 8);
	for (int i = 0; i < 16; i++)
		assert_ran(i, i, TSQ_DEFER_DRAINED);
	/* The list was taken: the producer is back on its ring. */
	push_queued(2, 0, 16, 18);
	cr_assert_eq(stats_of(2).spilled, 8);
	cr_assert_eq(tsq_defer_drain(&set, 2), 2);
	assert_ran(16, 16, TSQ_DEFER_DRAINED);
	assert_ran(17, 17, TSQ_DEFER_DRAINED);
	cr_assert_eq(stats_of(2).pushed, 18);
	cr_assert_eq(stats_of(2).drained, 18);
}

Test(defer_ring, batch_through_the_ring_links_what_fits, .init = setup_bound16, .fini = teardown)
{
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick, .ring_size = 16 };
	struct tsq_defer_batch b;

	reinit(&o);
	push_queued(0, 1, 0, 10);
	tsq_defer_batch_init(&b, 0);
	batch_add_queued(&b, 1, 10, 20);
	cr_assert_eq(tsq_defer_batch_flush(&set, &b), 10, "16 slots, 10 used: 6 fit, 4 spill");
	cr_assert_eq(nran, 0);
	cr_assert_eq(tsq_defer_drain(&set, 0), 20);
	for (int i = 0; i < 20; i++)
		assert_ran(i, i, TSQ_DEFER_DRAINED);
}

Test(defer_ring, idle_owner_is_kicked_by_a_ring_push, .init = setup_bound16, .fini = teardown)
{
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick, .ring_size = 64 };

	reinit(&o);
	cr_assert(tsq_defer_idle_enter(&set, 0));
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 1);
	cr_assert_eq(tsq_defer_push(&set, 0, 2, &recs[1].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(kicks.calls, 1, "single flight");
	cr_assert_not(tsq_defer_idle_enter(&set, 0), "work in a ring: do not sleep");
	tsq_defer_idle_exit(&set, 0);
	cr_assert_eq(tsq_defer_drain(&set, 0), 2);
}

#ifdef TSQ_DEBUG
Test(defer_debug, item_pushed_twice_aborts_list, .init = setup_bound16, .fini = teardown,
     .signal = SIGABRT)
{
	tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[0].d);
	tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[0].d);
}

Test(defer_debug, item_pushed_twice_aborts_ring, .init = setup_bound16, .fini = teardown,
     .signal = SIGABRT)
{
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick, .ring_size = 8 };

	reinit(&o);
	tsq_defer_push(&set, 0, 1, &recs[0].d);
	tsq_defer_push(&set, 0, 2, &recs[0].d);
}

Test(defer_debug, item_added_twice_to_a_batch_aborts, .init = setup_bound16, .fini = teardown,
     .signal = SIGABRT)
{
	struct tsq_defer_batch b;

	tsq_defer_batch_init(&b, 0);
	tsq_defer_batch_add(&set, &b, 1, &recs[0].d);
	tsq_defer_batch_add(&set, &b, 1, &recs[0].d);
}

Test(defer_debug, item_repushed_after_its_drain_is_fine, .init = setup_bound16, .fini = teardown)
{
	tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[0].d);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
}

Test(defer_debug, set_init_twice_aborts, .init = setup_bound16, .fini = teardown, .signal = SIGABRT)
{
	tsq_defer_set_init(&set, shards, NSHARDS, NULL);
}
#endif

Test(defer_bulk, push_bulk_checks_everything_first_then_queues_in_order, .init = setup_bound16,
     .fini = teardown)
{
	struct tsq_defer_item *v[20];
	struct rec nofn = { .id = 999 };

	for (int i = 0; i < 20; i++)
		v[i] = &recs[i].d;
	cr_assert_eq(tsq_defer_push_bulk(NULL, 0, 1, v, 20), -EINVAL);
	cr_assert_eq(tsq_defer_push_bulk(&set, NSHARDS, 1, v, 20), -EINVAL);
	cr_assert_eq(tsq_defer_push_bulk(&set, 0, NSHARDS, v, 20), -EINVAL);
	cr_assert_eq(tsq_defer_push_bulk(&set, 0, 1, NULL, 3), -EINVAL);
	cr_assert_eq(tsq_defer_push_bulk(&set, 0, 1, NULL, 0), 0, "nothing to do");
	v[7] = NULL;
	cr_assert_eq(tsq_defer_push_bulk(&set, 0, 1, v, 20), -EINVAL, "a NULL item");
	v[7] = &nofn.d;
	cr_assert_eq(tsq_defer_push_bulk(&set, 0, 1, v, 20), -EINVAL, "an item without fn");
	v[7] = &recs[7].d;
	cr_assert_eq(nran, 0);
	cr_assert_eq(stats_of(0).pushed, 0, "nothing queued on error");

	/* Bound 16 on the list: 16 queued, 4 fall back (the newest). */
	cr_assert_eq(tsq_defer_push_bulk(&set, 0, TSQ_DEFER_NO_SHARD, v, 20), 16);
	for (int i = 0; i < 4; i++)
		assert_ran(i, 16 + i, TSQ_DEFER_FALLBACK);
	cr_assert_eq(tsq_defer_drain(&set, 0), 16);
	for (int i = 0; i < 16; i++)
		assert_ran(4 + i, i, TSQ_DEFER_DRAINED);

	/* To self: all inline, none queued. */
	nran = 0;
	cr_assert_eq(tsq_defer_push_bulk(&set, 1, 1, v, 3), 0);
	cr_assert_eq(nran, 3);
	assert_ran(2, 2, TSQ_DEFER_INLINE);
	cr_assert_eq(stats_of(1).inline_runs, 3);
}

Test(defer_bulk, push_bulk_through_a_ring, .init = setup_bound16, .fini = teardown)
{
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick, .ring_size = 8 };
	struct tsq_defer_item *v[12];

	reinit(&o);
	for (int i = 0; i < 12; i++)
		v[i] = &recs[i].d;
	cr_assert_eq(tsq_defer_push_bulk(&set, 2, 0, v, 12), 12, "8 slots, 4 spill to the list");
	cr_assert_eq(nran, 0);
	cr_assert_eq(stats_of(2).fallback, 0);
	cr_assert_eq(stats_of(2).spilled, 4);
	cr_assert_eq(kicks.calls, 1, "crossed half the ring once");
	cr_assert_eq(tsq_defer_drain(&set, 2), 12);
	for (int i = 0; i < 12; i++)
		assert_ran(i, i, TSQ_DEFER_DRAINED);
}

/* An item whose function drains its own shard again (re-entry from the owner's drain). */
static int reentry_depth;

static void drain_again(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	record(it, how);
	if (reentry_depth++ == 0)
		tsq_defer_drain(&set, 0);
}

Test(defer_ring, a_drain_called_from_an_item_runs_nothing_twice, .init = setup_bound16,
     .fini = teardown)
{
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick, .ring_size = 8 };

	reinit(&o);
	reentry_depth = 0;
	tsq_defer_item_init(&recs[0].d, drain_again);
	push_queued(0, 1, 0, 4);
	cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[4].d), TSQ_DEFER_QUEUED);
	/* The inner drain (from item 0) takes the list (item 4); the outer one the ring. */
	cr_assert_eq(tsq_defer_drain(&set, 0), 4);
	cr_assert_eq(nran, 5, "every item ran once");
	assert_ran(0, 0, TSQ_DEFER_DRAINED);
	assert_ran(1, 4, TSQ_DEFER_DRAINED);
	for (int i = 1; i < 4; i++)
		assert_ran(1 + i, i, TSQ_DEFER_DRAINED);
	cr_assert_eq(stats_of(0).drained, 5);
}

/* ---- rings by default, allocated per pair; registered producers; the two fences ---- */

static struct tsq__defer_ring *ring_entry(unsigned target, unsigned producer)
{
	/* Private: whether the pair's ring exists is not observable through the API. */
	return set.rings[(size_t)target * set.nr_producers + producer];
}

Test(defer_lazy, default_options_give_a_ring_to_each_pair_that_pushes, .init = setup_eventfd,
     .fini = teardown)
{
	cr_assert_not_null(set.rings, "rings by default");
	cr_assert_eq(set.ring_size, TSQ_DEFER_RING_DEFAULT);
	for (unsigned t = 0; t < NSHARDS; t++)
		for (unsigned p = 0; p < NSHARDS; p++)
			cr_assert_null(ring_entry(t, p), "no ring before the pair pushes");
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_not_null(ring_entry(0, 1), "allocated by the first push");
	cr_assert_null(ring_entry(0, 2));
	cr_assert_null(ring_entry(1, 0));
	cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &recs[1].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_drain(&set, 0), 2);
	assert_ran(0, 0, TSQ_DEFER_DRAINED);
	assert_ran(1, 1, TSQ_DEFER_DRAINED);
	cr_assert_eq(stats_of(0).pushed, 2);
	cr_assert_eq(stats_of(0).ring_nomem, 0);
}

Test(defer_lazy, a_pair_whose_ring_cannot_be_allocated_uses_the_list, .init = setup_eventfd,
     .fini = teardown)
{
	ring_alloc_fails = 1;
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	ring_alloc_fails = 0;
	cr_assert_eq(ring_entry(0, 1), TSQ__DEFER_RING_NOMEM);
	cr_assert_eq(stats_of(0).ring_nomem, 1);
	/* Marked for good: no retry on the push path, and the list keeps its bound. */
	for (int i = 1; i < (int)TSQ_DEFER_DEFAULT_BOUND; i++)
		cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[i].d), TSQ_DEFER_QUEUED, "push %d",
			     i);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[128].d), TSQ_DEFER_RAN_FALLBACK);
	cr_assert_eq(stats_of(0).ring_nomem, 1);
	cr_assert_eq(tsq_defer_drain(&set, 0), 128);
	for (int i = 0; i < 128; i++)
		assert_ran(1 + i, i, TSQ_DEFER_DRAINED);
	/* Another pair still gets its ring. */
	cr_assert_eq(tsq_defer_push(&set, 0, 2, &recs[129].d), TSQ_DEFER_QUEUED);
	cr_assert((uintptr_t)ring_entry(0, 2) > (uintptr_t)TSQ__DEFER_RING_NOMEM);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
}

Test(defer_lazy, defaults_never_fall_back_where_the_list_alone_would_not, .init = setup_eventfd,
     .fini = teardown)
{
	/* The default ring and the list's bound of 128: ring + 128 before the first fallback. */
	static struct rec many[TSQ_DEFER_RING_DEFAULT + TSQ_DEFER_DEFAULT_BOUND + 1];
	unsigned n = TSQ_DEFER_RING_DEFAULT + TSQ_DEFER_DEFAULT_BOUND;

	for (unsigned i = 0; i <= n; i++) {
		many[i].id = (int)i;
		tsq_defer_item_init(&many[i].d, count_only);
	}
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(tsq_defer_push(&set, 0, 1, &many[i].d), TSQ_DEFER_QUEUED, "push %u",
			     i);
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &many[n].d), TSQ_DEFER_RAN_FALLBACK);
	cr_assert_eq(stats_of(0).spilled, TSQ_DEFER_DEFAULT_BOUND + 1);
	cr_assert_eq(counted, 1, "the one fallback ran here");
	cr_assert_eq(tsq_defer_drain(&set, 0), (long)n);
	cr_assert_eq(counted, (int)n + 1);
	cr_assert_eq(stats_of(0).drained, stats_of(0).pushed);
}

Test(defer_producer, registered_threads_get_rings_and_ids_run_out, .init = setup_bound16,
     .fini = teardown)
{
	struct tsq_defer_opts o = {
		.size = sizeof(o), .kick = count_kick, .ring_size = 8, .producers = 2
	};
	int a, b;

	reinit(&o);
	a = tsq_defer_producer_register(&set);
	b = tsq_defer_producer_register(&set);
	cr_assert_eq(a, NSHARDS);
	cr_assert_eq(b, NSHARDS + 1);
	cr_assert_eq(tsq_defer_producer_register(&set), -ENOSPC);
	cr_assert_eq(tsq_defer_producer_register(NULL), -EINVAL);
	cr_assert_eq(tsq_defer_push(&set, 0, (unsigned)a, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_not_null(ring_entry(0, (unsigned)a),
			   "a registered producer pushes through a ring");
	cr_assert_eq(tsq_defer_push(&set, 0, (unsigned)b, &recs[1].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_push(&set, 0, NSHARDS + 2, &recs[2].d), -EINVAL, "not handed out");
	cr_assert_eq(tsq_defer_drain(&set, 0), 2);
	assert_ran(0, 0, TSQ_DEFER_DRAINED);
	assert_ran(1, 1, TSQ_DEFER_DRAINED);
	o.producers = TSQ_DEFER_PRODUCERS_MAX + 1;
	tsq_defer_set_destroy(&set);
	cr_assert_eq(tsq_defer_set_init(&set, shards, NSHARDS, &o), -EINVAL);
	o.producers = 0;
	cr_assert_eq(tsq_defer_set_init(&set, shards, NSHARDS, &o), 0);
	cr_assert_eq(tsq_defer_producer_register(&set), -ENOSPC);
}

/* A kick through the eventfd wakes a waiting owner in either fence mode. */
struct waiter {
	unsigned shard;
	int r;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->r = tsq_defer_wait_ns(&set, w->shard, 10 * 1000000000ll);
	return NULL;
}

static void fence_mode_wakes(uint32_t fence)
{
	struct tsq_defer_opts o = { .size = sizeof(o), .fence = fence };
	struct waiter w = { 0, -1 };
	pthread_t th;

	reinit(&o);
	if (fence == TSQ_DEFER_FENCE_SYMMETRIC)
		cr_assert_eq(set.asym, 0, "the fallback was forced");
	cr_assert_eq(pthread_create(&th, NULL, wait_thread, &w), 0);
	/* Until the owner is idle, a push need not kick; once it is, one must. */
	while (!tsq_load(&shards[0].wake.idle, TSQ_ACQUIRE))
		sched_yield();
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(pthread_join(th, NULL), 0);
	/* 1: slept and was kicked; 0: its look after the fence saw the item (idle is set first). */
	cr_assert(w.r == 1 || w.r == 0, "woken by the kick, or the look saw the work (r = %d)",
		  w.r);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(stats_of(0).fence_errors, 0);
}

Test(defer_fence, symmetric_fallback_wakes_the_owner, .init = setup_eventfd, .fini = teardown)
{
	fence_mode_wakes(TSQ_DEFER_FENCE_SYMMETRIC);
}

Test(defer_fence, auto_mode_wakes_the_owner, .init = setup_eventfd, .fini = teardown)
{
	fence_mode_wakes(TSQ_DEFER_FENCE_AUTO);
#ifdef __linux__
	cr_log_info("fence: %s",
		    set.asym ? "membarrier (asymmetric)" : "SEQ_CST pair (membarrier unavailable)");
#endif
}

Test(defer_fence, unknown_fence_is_einval)
{
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick, .fence = 2 };
	struct tsq_defer_shard *s = tsq_defer_shards_alloc(2);
	struct tsq_defer_set st = { 0 };

	cr_assert_not_null(s);
	cr_assert_eq(tsq_defer_set_init(&st, s, 2, &o), -EINVAL);
	free(s);
}

/* ---- teardown and the nanosecond wait ---- */

Test(defer_destroy, returns_ebusy_when_items_were_dropped_and_destroys_anyway,
     .init = setup_eventfd)
{
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_push(&set, 2, TSQ_DEFER_NO_SHARD, &recs[1].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_set_destroy(&set), -EBUSY, "two items were still queued");
	cr_assert_eq(nran, 0, "dropped, not run");
	cr_assert_eq(tsq_defer_nr_shards(&set), 0, "destroyed all the same");
	cr_assert_eq(tsq_defer_set_destroy(&set), -EINVAL, "a second destroy");
	cr_assert_eq(tsq_defer_set_destroy(NULL), -EINVAL);
	free(shards);
	shards = NULL;
}

Test(defer_destroy, returns_0_once_drained, .init = setup_eventfd)
{
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(tsq_defer_set_destroy(&set), 0);
	free(shards);
	shards = NULL;
}

Test(defer_wait, ns_timeout_and_pending_work, .init = setup_eventfd, .fini = teardown)
{
	cr_assert_eq(tsq_defer_wait_ns(&set, 0, 2000000), 0, "2 ms pass, nothing queued");
	cr_assert_not(tsq_load(&shards[0].wake.idle, TSQ_RELAXED), "idle cleared after the wait");
	cr_assert_eq(tsq_defer_push(&set, 0, 1, &recs[0].d), TSQ_DEFER_QUEUED);
	cr_assert_eq(tsq_defer_wait_ns(&set, 0, -1), 0, "work already queued: no sleep at all");
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(tsq_defer_wait_ns(&set, NSHARDS, 0), -EINVAL);
	cr_assert_eq(tsq_defer_wait_ns(NULL, 0, 0), -EINVAL);
	cr_assert_eq(tsq_defer_wait_ns(&set, 0, 0), 0, "a zero timeout polls once");
}

Test(defer_wait, ns_on_a_custom_kick_is_enotsup, .init = setup_bound16, .fini = teardown)
{
	cr_assert_eq(tsq_defer_wait_ns(&set, 0, 1000), -ENOTSUP);
}

/* A long list: more items than the owner's walk collects at once (the rest from the chain). */
#define LONG_ITEMS 1000
static struct seq_item {
	struct tsq_defer_item d;
	int seq;
} long_items[LONG_ITEMS];
static int long_next;

static void long_check(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct seq_item *s = tsq_container_of(it, struct seq_item, d);

	cr_assert_eq(how, TSQ_DEFER_DRAINED);
	cr_assert_eq(s->seq, long_next, "item %d ran, expected %d", s->seq, long_next);
	long_next++;
}

static void long_check_burst(void *ctx, struct tsq_defer_item **items, unsigned n)
{
	(void)ctx;
	cr_assert_leq(n, TSQ_DEFER_BURST);
	for (unsigned i = 0; i < n; i++)
		long_check(items[i], TSQ_DEFER_DRAINED);
}

/* Queue all LONG_ITEMS on shard 0's list: bulk arrays of 1..37 (hinted chains), then singles. */
static void long_fill(void)
{
	int i = 0;

	for (int k = 0; k < LONG_ITEMS; k++) {
		long_items[k].seq = k;
		tsq_defer_item_init(&long_items[k].d, long_check);
	}
	while (i < LONG_ITEMS / 2) {
		struct tsq_defer_item *arr[37];
		int n = 1 + i % 37;

		n = n < LONG_ITEMS / 2 - i ? n : LONG_ITEMS / 2 - i;
		for (int k = 0; k < n; k++)
			arr[k] = &long_items[i + k].d;
		cr_assert_eq(tsq_defer_push_bulk(&set, 0, TSQ_DEFER_NO_SHARD, arr, (unsigned)n), n);
		i += n;
	}
	for (; i < LONG_ITEMS; i++)
		cr_assert_eq(tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &long_items[i].d),
			     TSQ_DEFER_QUEUED);
	long_next = 0;
}

static void setup_bound_long(void)
{
	setup_custom(2 * LONG_ITEMS);
}

Test(defer_list, a_list_longer_than_the_walk_drains_in_order, .init = setup_bound_long,
     .fini = teardown)
{
	long_fill();
	cr_assert_eq(tsq_defer_drain(&set, 0), LONG_ITEMS);
	cr_assert_eq(long_next, LONG_ITEMS);
	long_fill();
	cr_assert_eq(tsq_defer_drain_burst(&set, 0, long_check_burst, NULL), LONG_ITEMS);
	cr_assert_eq(long_next, LONG_ITEMS);
	cr_assert_eq(stats_of(0).pushed, 2 * LONG_ITEMS);
	cr_assert_eq(stats_of(0).drained, 2 * LONG_ITEMS);
	cr_assert_eq(tsq_defer_drain(&set, 0), 0);
}
