/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for tsq/flow.h: init and its errors, then the whole restart cycle single-threaded
 * with fake ops (a lock that returns an "owned" flag the test controls, counted hold/put) and
 * a counting kick hook on a two-shard set:
 *   throttle -> complete (queued on the home shard, never run inline) -> drain of the home
 *   shard -> send_more(DRAINED) with QUEUED already clear -> put;
 *   the same with the flow owned: DEFERRED marked once (one reference), a second restart while
 *   still owned takes none, release runs send_more(DEFERRED) and puts;
 *   user bits through tsq_flow_defer()/tsq_flow_release(); references balance; counters.
 * The concurrent behaviour is covered by tests/stress/flow.c and tests/check/.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

/*
 * A stopped clock: no learning window ever closes, so the limits asserted here are the
 * configured ones whatever the machine's speed. test_budget_rate.c tests the learning.
 */
#define TSQ_CFG_NOW_NS() 0ull
#include <tsq/flow.h>

#define NSHARDS 2u
#define HOME 1u  /* the flows' home shard */
#define OTHER 0u /* the other shard: must never see them */
#define COST 600u
#define CAP 1000u /* limit = min(max(2 x 600, unlimited rate), 1000) = 1000: 0 and 600 < 1000 go */

struct conn {
	struct tsq_flow flow; /* first: aligned like the flow */
	bool owned;           /* what ops->lock reports */
	int locked;           /* the short lock, held? */
	unsigned locks, unlocks, holds, puts;
	unsigned sends_worker, sends_release;
	uint32_t flags_at_send;              /* flags seen by the last send_more */
	unsigned data;                       /* units the connection still has to send */
	unsigned charged;                    /* units charged by send_more (and by the test) */
	void (*during_send)(struct conn *c); /* runs at the end of send_more */
};

static struct conn C;
static struct tsq_defer_shard *shards;
static struct tsq_defer_set set;
static unsigned kicks[NSHARDS];

static void count_kick(void *ctx, unsigned shard)
{
	cr_assert_eq(ctx, &set, "the kick gets its context");
	cr_assert_lt(shard, NSHARDS);
	kicks[shard]++;
}

static struct conn *conn_of(struct tsq_flow *f)
{
	return tsq_container_of(f, struct conn, flow);
}

/* Charge one unit as the sender would, if the budget allows. */
static bool send_one(struct conn *c)
{
	if (c->data == 0 || !tsq_flow_may_send(&c->flow, COST, 0))
		return false;
	tsq_flow_charge(&c->flow, COST);
	c->data--;
	c->charged++;
	return true;
}

static void fake_send_more(struct tsq_flow *f, enum tsq_flow_how how)
{
	struct conn *c = conn_of(f);

	cr_assert_eq(c->locked, 1, "send_more runs under the short lock");
	c->flags_at_send = tsq_flags_load(&f->flags);
	if (how == TSQ_FLOW_DRAINED) {
		cr_assert_not(c->owned, "the worker never sends while the flow is owned");
		cr_assert_eq(c->flags_at_send & TSQ_F_QUEUED, 0u,
			     "QUEUED is clear before send_more");
		c->sends_worker++;
	} else {
		cr_assert_eq(how, TSQ_FLOW_DEFERRED);
		cr_assert(c->owned, "the release runs as the owner");
		c->sends_release++;
	}
	while (send_one(c))
		;
	if (c->during_send != NULL)
		c->during_send(c);
}

static bool fake_lock(struct tsq_flow *f)
{
	struct conn *c = conn_of(f);

	cr_assert_eq(c->locked, 0, "lock is not recursive");
	c->locked = 1;
	c->locks++;
	return c->owned;
}

static void fake_unlock(struct tsq_flow *f)
{
	struct conn *c = conn_of(f);

	cr_assert_eq(c->locked, 1, "unlock without lock");
	c->locked = 0;
	c->unlocks++;
}

static void fake_hold(struct tsq_flow *f)
{
	conn_of(f)->holds++;
}

static void fake_put(struct tsq_flow *f)
{
	struct conn *c = conn_of(f);

	cr_assert_lt(c->puts, c->holds, "put without a reference");
	c->puts++;
}

static const struct tsq_flow_ops ops = {
	.send_more = fake_send_more,
	.lock = fake_lock,
	.unlock = fake_unlock,
	.hold = fake_hold,
	.put = fake_put,
};

static const struct tsq_budget_opts cap_cfg = { .size = sizeof(struct tsq_budget_opts),
						.cap = CAP };

static void setup(void)
{
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = count_kick, .kick_ctx = &set };

	memset(&C, 0, sizeof(C));
	memset(kicks, 0, sizeof(kicks));
	shards = tsq_defer_shards_alloc(NSHARDS);
	cr_assert_not_null(shards);
	cr_assert_eq(tsq_defer_set_init(&set, shards, NSHARDS, &o), 0);
	cr_assert_eq(tsq_flow_init(&C.flow, &set, HOME, &ops, &cap_cfg), 0);
}

static void teardown(void)
{
	tsq_defer_set_destroy(&set);
	free(shards);
}

static struct tsq_flow_stats fstats(void)
{
	struct tsq_flow_stats s;

	cr_assert_eq(tsq_flow_stats(&C.flow, &s), 0);
	return s;
}

static struct tsq_defer_stats dstats(unsigned shard)
{
	struct tsq_defer_stats s;

	cr_assert_eq(tsq_defer_stats(&set, shard, &s), 0);
	return s;
}

/* The sender, from the application: send until the budget stops it. Returns units charged. */
static unsigned send_until_throttled(struct conn *c)
{
	unsigned n = 0;

	while (send_one(c))
		n++;
	return n;
}

/* Complete one unit (a TX completion on any thread). */
static bool complete_one(struct conn *c)
{
	cr_assert_gt(c->charged, 0u, "nothing in flight to complete");
	c->charged--;
	return tsq_flow_complete(&c->flow, COST);
}

/* The owner's release: the short lock is held around tsq_flow_release, as the contract says. */
static uint32_t release(struct conn *c)
{
	uint32_t user;

	c->locked = 1;
	user = tsq_flow_release(&c->flow);
	c->locked = 0;
	return user;
}

TestSuite(flow, .init = setup, .fini = teardown);

/* ---- init -------------------------------------------------------------------------------- */

Test(flow, init_errors)
{
	static struct tsq_flow f;
	struct tsq_flow_ops bad;
	struct tsq_budget_opts cfg = cap_cfg;

	cr_assert_eq(tsq_flow_init(NULL, &set, 0, &ops, NULL), -EINVAL);
	cr_assert_eq(tsq_flow_init(&f, NULL, 0, &ops, NULL), -EINVAL);
	cr_assert_eq(tsq_flow_init(&f, &set, 0, NULL, NULL), -EINVAL);
	bad = ops;
	bad.send_more = NULL;
	cr_assert_eq(tsq_flow_init(&f, &set, 0, &bad, NULL), -EINVAL, "send_more is required");
	bad = ops;
	bad.lock = NULL;
	cr_assert_eq(tsq_flow_init(&f, &set, 0, &bad, NULL), -EINVAL, "lock is required");
	bad = ops;
	bad.unlock = NULL;
	cr_assert_eq(tsq_flow_init(&f, &set, 0, &bad, NULL), -EINVAL, "unlock is required");
	cr_assert_eq(tsq_flow_init(&f, &set, NSHARDS, &ops, NULL), -EINVAL, "home out of range");
	cr_assert_eq(tsq_flow_init(&f, &set, TSQ_DEFER_NO_SHARD, &ops, NULL), -EINVAL);
	cfg.size = offsetof(struct tsq_budget_opts, allow_one);
	cr_assert_eq(tsq_flow_init(&f, &set, 0, &ops, &cfg), -EINVAL,
		     "opts shorter than the first version");
	cfg = cap_cfg;
	cfg.pacing_shift = 64;
	cr_assert_eq(tsq_flow_init(&f, &set, 0, &ops, &cfg), -EINVAL, "bad cfg shift");
	/* hold and put are optional (immortal flows). */
	bad = ops;
	bad.hold = NULL;
	bad.put = NULL;
	cr_assert_eq(tsq_flow_init(&f, &set, NSHARDS - 1, &bad, NULL), 0);
	cr_assert_eq(tsq_flow_init(&f, &set, 0, &ops, NULL), 0);
}

Test(flow, init_state)
{
	struct tsq_flow_stats s = fstats();

	cr_assert_eq(s.flags, 0u);
	cr_assert_eq(s.queued, 0u);
	cr_assert_eq(s.deferred, 0u);
	cr_assert_eq(s.budget.inflight_bytes, 0u);
	cr_assert_eq(s.budget.inflight_units, 0u);
	cr_assert_eq(s.budget.throttles, 0u);
	cr_assert_eq(tsq_budget_limit(&C.flow.budget, COST, 0), CAP, "cfg reaches the budget");
	cr_assert_eq(tsq_flow_stats(NULL, &s), -EINVAL);
	cr_assert_eq(tsq_flow_stats(&C.flow, NULL), -EINVAL);
}

/* Misuse table: a completion twice, seen through the flow (budget.h does the work). */
#ifdef TSQ_DEBUG
Test(flow, debug_complete_twice_aborts, .signal = SIGABRT)
{
	C.data = 1;
	cr_assert_eq(send_until_throttled(&C), 1u);
	cr_assert_not(tsq_flow_complete(&C.flow, COST));
	tsq_flow_complete(&C.flow, COST);
	cr_assert_fail("a second completion of one unit returned");
}
#else
Test(flow, complete_twice_is_clamped_and_shows_in_the_stats)
{
	struct tsq_flow_stats s;

	C.data = 1;
	cr_assert_eq(send_until_throttled(&C), 1u);
	cr_assert_not(tsq_flow_complete(&C.flow, COST));
	cr_assert_not(tsq_flow_complete(&C.flow, COST), "nothing to restart");
	s = fstats();
	cr_assert_eq(s.budget.inflight_units, 0u);
	cr_assert_eq(s.budget.inflight_bytes, 0u);
	cr_assert_eq(s.budget.unmatched_completions, 1u);
	C.charged = 0;
	C.data = 10;
	cr_assert_eq(send_until_throttled(&C), 2u, "the flow still sends: not throttled forever");
}
#endif

Test(flow, may_send_factor)
{
	C.data = 10;
	cr_assert_eq(send_until_throttled(&C), 2u, "1200 > 1000 after two units");
	cr_assert_not(tsq_flow_may_send(&C.flow, COST, 0));
	cr_assert(tsq_flow_may_send(&C.flow, COST, 1), "a retransmit may use twice the limit");
}

/* ---- the restart cycle, flow not owned ----------------------------------------------------- */

Test(flow, restart_through_the_home_worker)
{
	struct tsq_flow_stats s;

	C.data = 5;
	cr_assert_eq(send_until_throttled(&C), 2u);
	s = fstats();
	cr_assert_eq(s.flags, TSQ_F_THROTTLED);
	cr_assert_eq(s.budget.throttles, 1u);
	cr_assert_eq(s.budget.inflight_units, 2u);
	cr_assert_eq(s.budget.inflight_bytes, 2u * COST);

	/* The home worker is going to sleep: the first link must kick it, and only it. */
	cr_assert(tsq_defer_idle_enter(&set, HOME));
	cr_assert(tsq_defer_idle_enter(&set, OTHER));
	cr_assert(complete_one(&C), "the first completion queues the flow");
	s = fstats();
	cr_assert_eq(s.flags, TSQ_F_QUEUED);
	cr_assert_eq(s.queued, 1u);
	cr_assert_eq(C.holds, 1u, "one reference while queued");
	cr_assert_eq(C.sends_worker + C.sends_release, 0u, "never run inline from a completion");
	cr_assert_eq(C.locks, 0u);
	cr_assert(tsq_defer_pending(&set, HOME));
	cr_assert_not(tsq_defer_pending(&set, OTHER));
	cr_assert_eq(kicks[HOME], 1u);
	cr_assert_eq(kicks[OTHER], 0u);
	tsq_defer_idle_exit(&set, HOME);
	tsq_defer_idle_exit(&set, OTHER);

	cr_assert_not(complete_one(&C), "QUEUED: a second completion does not queue again");
	cr_assert_eq(C.holds, 1u);
	cr_assert_eq(fstats().queued, 1u);

	/* The other shard has nothing; the home shard runs the flow. */
	cr_assert_eq(tsq_defer_drain(&set, OTHER), 0);
	cr_assert_eq(C.sends_worker, 0u);
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
	cr_assert_eq(C.sends_worker, 1u);
	cr_assert_eq(C.sends_release, 0u);
	cr_assert_eq(C.flags_at_send & TSQ_F_QUEUED, 0u);
	cr_assert_eq(C.locks, 1u);
	cr_assert_eq(C.unlocks, 1u);
	cr_assert_eq(C.puts, 1u, "the queue reference is dropped");
	cr_assert_eq(C.holds, C.puts);
	/* send_more sent the next two units and throttled again. */
	s = fstats();
	cr_assert_eq(s.budget.inflight_units, 2u);
	cr_assert_eq(C.data, 1u);
	cr_assert_eq(s.flags, TSQ_F_THROTTLED);
	cr_assert_eq(s.budget.throttles, 2u);
	cr_assert_eq(dstats(HOME).pushed, 1u);
	cr_assert_eq(dstats(HOME).drained, 1u);
	cr_assert_eq(dstats(HOME).inline_runs, 0u);
	cr_assert_eq(dstats(HOME).fallback, 0u);
	cr_assert_eq(dstats(OTHER).pushed, 0u);

	/* Second round, to the end of the data. */
	cr_assert(complete_one(&C));
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
	cr_assert_eq(C.data, 0u);
	cr_assert_eq(C.sends_worker, 2u);
	/* No data left: the sender stopped without throttling; completions need no restart. */
	cr_assert_eq(fstats().flags, 0u);
	while (C.charged > 0)
		cr_assert_not(complete_one(&C));
	s = fstats();
	cr_assert_eq(s.budget.inflight_units, 0u);
	cr_assert_eq(s.budget.inflight_bytes, 0u);
	cr_assert_eq(s.queued, 2u);
	cr_assert_eq(s.deferred, 0u);
	cr_assert_eq(C.holds, 2u);
	cr_assert_eq(C.puts, 2u);
	cr_assert_eq(tsq_defer_drain(&set, HOME), 0);
}

/* A completion that lands while the worker's send_more runs re-queues the flow. */
static void complete_during_send(struct conn *c)
{
	c->during_send = NULL;
	cr_assert_eq(tsq_flags_load(&c->flow.flags), TSQ_F_THROTTLED, "send_more throttled again");
	cr_assert(complete_one(c), "QUEUED was cleared before the handler: the flow is re-queued");
}

Test(flow, completion_during_the_handler_requeues)
{
	C.data = 8;
	send_until_throttled(&C);
	cr_assert(complete_one(&C));
	C.during_send = complete_during_send;
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
	cr_assert_eq(fstats().flags, TSQ_F_QUEUED);
	cr_assert(tsq_defer_pending(&set, HOME));
	cr_assert_eq(C.holds, 2u);
	cr_assert_eq(C.puts, 1u);
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1, "the second queueing runs in the next drain");
	cr_assert_eq(C.sends_worker, 2u);
	cr_assert_eq(C.holds, C.puts);
	cr_assert_eq(fstats().queued, 2u);
}

Test(flow, spurious_restart_is_harmless)
{
	/* Queued, then the sender's data runs out: the worker's send_more sends nothing. */
	C.data = 2;
	send_until_throttled(&C);
	cr_assert_eq(C.data, 0u);
	cr_assert_eq(fstats().flags, 0u, "no data left: nothing to restart");
	C.data = 1;
	cr_assert_not(send_one(&C), "1200 > 1000");
	C.data = 0;
	cr_assert(complete_one(&C));
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
	cr_assert_eq(C.sends_worker, 1u);
	cr_assert_eq(fstats().flags, 0u);
	cr_assert_eq(C.holds, C.puts);
}

Test(flow, immortal_flows_without_hold_put)
{
	static struct conn d;
	struct tsq_flow_ops nref = ops;

	nref.hold = NULL;
	nref.put = NULL;
	memset(&d, 0, sizeof(d));
	cr_assert_eq(tsq_flow_init(&d.flow, &set, HOME, &nref, &cap_cfg), 0);
	d.data = 5;
	send_until_throttled(&d);
	cr_assert(complete_one(&d));
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
	cr_assert_eq(d.sends_worker, 1u);
	d.owned = true;
	cr_assert(complete_one(&d));
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
	cr_assert_eq(tsq_flags_load(&d.flow.flags), TSQ_F_DEFERRED);
	cr_assert_eq(release(&d), 0u);
	cr_assert_eq(d.sends_release, 1u);
	cr_assert_eq(d.holds + d.puts, 0u);
}

/* ---- owned: deferral to the owner's release ------------------------------------------------ */

Test(flow, owned_flow_is_deferred_to_release)
{
	struct tsq_flow_stats s;

	C.data = 6;
	send_until_throttled(&C);
	C.owned = true;
	cr_assert(complete_one(&C));
	cr_assert_eq(C.holds, 1u);
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
	cr_assert_eq(C.sends_worker + C.sends_release, 0u, "owned: the worker does not send");
	cr_assert_eq(C.locks, 1u);
	cr_assert_eq(C.unlocks, 1u);
	s = fstats();
	cr_assert_eq(s.flags, TSQ_F_DEFERRED, "QUEUED cleared, DEFERRED set");
	cr_assert_eq(s.deferred, 1u);
	cr_assert_eq(C.holds, 2u, "DEFERRED 0 -> 1 took its own reference");
	cr_assert_eq(C.puts, 1u, "the queue reference is dropped");

	/* A second restart while still owned: the owner sends, throttles, a completion queues. */
	C.locked = 1;
	cr_assert_eq(send_until_throttled(&C), 1u, "600 in flight: one more goes, then over");
	C.locked = 0;
	cr_assert_eq(fstats().flags, TSQ_F_DEFERRED | TSQ_F_THROTTLED);
	cr_assert(complete_one(&C));
	cr_assert_eq(C.holds, 3u);
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
	s = fstats();
	cr_assert_eq(s.flags, TSQ_F_DEFERRED);
	cr_assert_eq(s.deferred, 1u, "DEFERRED was already set: not counted again");
	cr_assert_eq(C.holds, 3u, "no second DEFERRED reference");
	cr_assert_eq(C.puts, 2u);
	cr_assert_eq(C.sends_worker + C.sends_release, 0u);

	/* The owner's release runs send_more once and drops the DEFERRED reference. */
	cr_assert_eq(release(&C), 0u, "no user bits");
	cr_assert_eq(C.sends_release, 1u);
	cr_assert_eq(C.sends_worker, 0u);
	cr_assert_eq(C.holds, 3u);
	cr_assert_eq(C.puts, 3u);
	cr_assert_eq(fstats().flags & TSQ_F_DEFERRED_ALL, 0u);
	cr_assert_eq(fstats().budget.inflight_units, 2u, "send_more from release sent one more");
	cr_assert_eq(fstats().flags, TSQ_F_THROTTLED);
	C.owned = false;

	/* A second release has nothing to do. */
	cr_assert_eq(release(&C), 0u);
	cr_assert_eq(C.sends_release, 1u);
	cr_assert_eq(C.puts, 3u);
}

Test(flow, worker_after_release_sends_itself)
{
	C.data = 4;
	send_until_throttled(&C);
	C.owned = true;
	cr_assert(complete_one(&C));
	/* The owner releases before the worker runs: nothing deferred yet. */
	cr_assert_eq(release(&C), 0u);
	cr_assert_eq(C.sends_release, 0u);
	C.owned = false;
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
	cr_assert_eq(C.sends_worker, 1u);
	cr_assert_eq(fstats().deferred, 0u);
	cr_assert_eq(C.holds, C.puts);
}

Test(flow, release_with_nothing_set_calls_nothing)
{
	cr_assert_eq(release(&C), 0u);
	cr_assert_eq(C.sends_worker + C.sends_release, 0u);
	cr_assert_eq(C.holds + C.puts + C.locks + C.unlocks, 0u);
	/* THROTTLED and QUEUED are not the release's business. */
	C.flow.flags.word = TSQ_F_THROTTLED | TSQ_F_QUEUED;
	cr_assert_eq(release(&C), 0u);
	cr_assert_eq(C.sends_worker + C.sends_release, 0u);
	cr_assert_eq(C.holds + C.puts, 0u);
	cr_assert_eq(tsq_flags_load(&C.flow.flags), TSQ_F_THROTTLED | TSQ_F_QUEUED);
}

/* ---- caller-defined deferred bits -------------------------------------------------------- */

Test(flow, defer_user_bits)
{
	uint32_t user;

	C.owned = true;
	C.locked = 1;
	cr_assert_eq(tsq_flow_defer(&C.flow, TSQ_F_USER(0) | TSQ_F_USER(3)),
		     TSQ_F_USER(0) | TSQ_F_USER(3));
	cr_assert_eq(C.holds, 2u, "one reference per new bit");
	cr_assert_eq(tsq_flow_defer(&C.flow, TSQ_F_USER(0)), 0u, "already set");
	cr_assert_eq(C.holds, 2u);
	cr_assert_eq(tsq_flow_defer(&C.flow, TSQ_F_USER(0) | TSQ_F_USER(23)), TSQ_F_USER(23));
	cr_assert_eq(C.holds, 3u);
	cr_assert_eq(tsq_flow_defer(&C.flow, TSQ_F_DEFERRED | TSQ_F_THROTTLED | TSQ_F_QUEUED), 0u,
		     "only user bits");
	cr_assert_eq(C.holds, 3u);
	cr_assert_eq(tsq_flags_load(&C.flow.flags), TSQ_F_USER(0) | TSQ_F_USER(3) | TSQ_F_USER(23));
	C.locked = 0;

	user = release(&C);
	cr_assert_eq(user, TSQ_F_USER(0) | TSQ_F_USER(3) | TSQ_F_USER(23),
		     "the caller gets its bits");
	cr_assert_eq(C.sends_release, 0u, "no DEFERRED: no send_more");
	cr_assert_eq(C.puts, 0u, "user references are the caller's to drop");
	for (uint32_t b = user; b != 0; b &= b - 1)
		fake_put(&C.flow);
	cr_assert_eq(C.holds, C.puts);
	cr_assert_eq(tsq_flags_load(&C.flow.flags), 0u);
	cr_assert_eq(release(&C), 0u);
}

Test(flow, defer_user_bits_with_deferred)
{
	uint32_t user;

	C.data = 4;
	send_until_throttled(&C);
	C.owned = true;
	cr_assert(complete_one(&C));
	cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
	C.locked = 1;
	cr_assert_eq(tsq_flow_defer(&C.flow, TSQ_F_USER(1)), TSQ_F_USER(1));
	C.locked = 0;
	cr_assert_eq(C.holds, 3u, "queue + DEFERRED + USER(1)");
	user = release(&C);
	cr_assert_eq(user, TSQ_F_USER(1), "DEFERRED is not returned: the release ran it");
	cr_assert_eq(C.sends_release, 1u);
	fake_put(&C.flow);
	cr_assert_eq(C.holds, 3u);
	cr_assert_eq(C.puts, 3u);
	cr_assert_eq(tsq_flags_load(&C.flow.flags) & TSQ_F_DEFERRED_ALL, 0u);
}

/* ---- counters over several cycles -------------------------------------------------------- */

Test(flow, counters_over_many_cycles)
{
	struct tsq_flow_stats s;
	unsigned queued = 0, deferred = 0;

	C.data = 1000;
	send_until_throttled(&C);
	for (int round = 0; round < 100 && C.data > 0; round++) {
		C.owned = (round % 3) == 0;
		cr_assert(complete_one(&C), "round %d", round);
		queued++;
		cr_assert_eq(tsq_defer_drain(&set, HOME), 1);
		if (C.owned) {
			deferred++;
			cr_assert_eq(release(&C), 0u);
			C.owned = false;
		}
	}
	s = fstats();
	cr_assert_eq(s.queued, queued);
	cr_assert_eq(s.deferred, deferred);
	cr_assert_eq(C.sends_worker + C.sends_release, queued);
	cr_assert_eq(C.sends_release, deferred);
	cr_assert_eq(s.budget.throttles, queued + 1, "one throttle per restart, plus the first");
	cr_assert_eq(dstats(HOME).pushed, queued);
	cr_assert_eq(dstats(HOME).drained, queued);
	cr_assert_eq(C.holds, C.puts);
	while (C.charged > 0)
		complete_one(&C);
	cr_assert_eq(fstats().budget.inflight_bytes, 0u);
}

/* ---- the header's Usage block, compiled and run ----------------------------------------- */

/* The block's names, kept; the suite above already has a struct conn, ops and send_more. */
#define conn usage_conn
#define send_more usage_send_more
#define ops usage_ops

struct conn {
	struct tsq_flow tsq;
	unsigned data;    /* units left to send */
	unsigned in_ring; /* units charged and handed down */
	unsigned drained; /* runs of the flow from the home worker (conn_lock calls) */
};

static bool conn_has_data(const struct conn *c)
{
	return c->data > 0;
}

static uint32_t unit_cost(const struct conn *c)
{
	(void)c;
	return 64u << 10;
}

static void conn_xmit_one(struct conn *c)
{
	c->data--;
	c->in_ring++;
}

static bool conn_lock(struct tsq_flow *f)
{
	tsq_container_of(f, struct conn, tsq)->drained++; /* only the worker's run locks */
	return false;                                     /* never owned here */
}

static void conn_unlock(struct tsq_flow *f)
{
	(void)f;
}

static void conn_hold(struct tsq_flow *f)
{
	(void)f;
}

static void conn_put(struct tsq_flow *f)
{
	(void)f;
}

static void send_more(struct tsq_flow *f, enum tsq_flow_how how)
{
	struct conn *c = tsq_container_of(f, struct conn, tsq);
	(void)how; // TSQ_FLOW_DRAINED (the home worker) or TSQ_FLOW_DEFERRED (the release)
	while (conn_has_data(c) && tsq_flow_may_send(f, unit_cost(c), 0)) {
		tsq_flow_charge(f, unit_cost(c));
		conn_xmit_one(c);
	}
}
static const struct tsq_flow_ops ops = { send_more, conn_lock, conn_unlock, conn_hold, conn_put };

Test(flow, usage_block_runs)
{
	/*
	 * The Usage block of flow.h: 64 KiB units under the defaults, with no rate learned (the
	 * clock is stopped): the startup limit, 128 KiB.
	 */
	static struct conn uc;
	struct conn *c = &uc;
	const unsigned home_worker = HOME;

	memset(c, 0, sizeof(*c));
	c->data = 100;
	cr_assert_eq(tsq_flow_init(&c->tsq, &set, home_worker, &ops, NULL), 0);
	send_more(&c->tsq, TSQ_FLOW_DEFERRED); /* the application's first send */
	cr_assert_eq(c->in_ring, 2u, "128 KiB in flight: throttled");
	for (unsigned i = 0, n = c->in_ring; i < n; i++)
		tsq_flow_complete(&c->tsq, unit_cost(c));
	c->in_ring = 0;
	cr_assert_eq(tsq_defer_drain(&set, home_worker), 1, "one completion queued the flow");
	cr_assert_eq(c->drained, 1u);
	cr_assert_eq(c->in_ring, 2u, "the restart sent two more");
	cr_assert_eq(c->data, 96u);
}
#undef conn
#undef send_more
#undef ops
