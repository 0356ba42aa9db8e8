/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for TSQ_FLOW_OPS_SINGLE_THREAD (tsq/flow.h): one thread sends and is the flow's
 * home worker, with no owner lock. A throttled flow is restarted through the defer list by a
 * completion on the same thread or on another one, send_more runs from the drain, nothing is
 * ever deferred to an owner, and tsq_flow_release() has nothing to do. Also the multi-unit
 * completions (tsq_flow_complete_n and _n_at) on such a flow.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <tsq/flow.h>

#define COST 1500u

static struct tsq_flow flow;
static struct tsq_defer_set set;
static struct tsq_defer_shard *shards;
static unsigned send_more_runs, to_send;

/* The sender's loop: the application calls it, and send_more() from the drain. */
static void pump(struct tsq_flow *f)
{
	while (to_send > 0 && tsq_flow_may_send(f, COST, 0)) {
		tsq_flow_charge(f, COST);
		to_send--;
	}
}

static void send_more(struct tsq_flow *f, enum tsq_flow_how how)
{
	(void)how;
	send_more_runs++;
	pump(f);
}

static const struct tsq_flow_ops ops = TSQ_FLOW_OPS_SINGLE_THREAD(send_more);

static void setup(void)
{
	/* Rate 0: the limit is the floor, two units. */
	shards = tsq_defer_shards_alloc(1);
	cr_assert_not_null(shards);
	memset(&set, 0, sizeof(set));
	cr_assert_eq(tsq_defer_set_init(&set, shards, 1, NULL), 0);
	cr_assert_eq(tsq_flow_init(&flow, &set, 0, &ops, NULL), 0);
	tsq_flow_set_pacing_rate(&flow, 0);
	send_more_runs = 0;
	to_send = 0;
}

static void teardown(void)
{
	tsq_defer_set_destroy(&set);
	free(shards);
}

TestSuite(flow_single_thread, .init = setup, .fini = teardown);

Test(flow_single_thread, the_ops_are_accepted_and_say_never_owned)
{
	cr_assert_eq(ops.lock, tsq_flow_single_thread_lock);
	cr_assert_eq(ops.unlock, tsq_flow_single_thread_unlock);
	cr_assert_null(ops.hold);
	cr_assert_null(ops.put);
	cr_assert_not(tsq_flow_single_thread_lock(&flow));
}

/* tsq_flow_complete_n(_at): several units in one uncharge queue the flow once, as one would. */
Test(flow_single_thread, a_multi_unit_completion_restarts_through_the_drain)
{
	struct tsq_flow_stats st;

	to_send = 10;
	pump(&flow);
	cr_assert_eq(to_send, 8, "the floor: two units");
	cr_assert(tsq_flow_complete_n(&flow, 2 * COST, 2), "both units at once queue the flow");
	cr_assert_not(tsq_flow_complete_n_at(&flow, COST, 0, 7), "0 units: nothing happens");
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(send_more_runs, 1);
	cr_assert_eq(to_send, 6, "the restart sent two more");
	cr_assert(tsq_flow_complete_n_at(&flow, 2 * COST, 2, 1000), "and again, with a clock");
	cr_assert_eq(tsq_flow_stats(&flow, &st), 0);
	cr_assert_eq(st.queued, 2u);
	cr_assert_eq(st.budget.inflight_units, 0u);
	cr_assert_eq(st.budget.unmatched_completions, 0u);
}

Test(flow_single_thread, a_completion_on_the_same_thread_restarts_through_the_drain)
{
	struct tsq_flow_stats st;

	to_send = 10;
	pump(&flow); /* the application's own first send */
	cr_assert_eq(to_send, 8, "the floor: two units");
	cr_assert(tsq_flow_complete(&flow, COST), "the first completion queues the flow");
	cr_assert_eq(send_more_runs, 0, "never inline: only the drain runs it");
	cr_assert_eq(tsq_defer_drain(&set, 0), 1);
	cr_assert_eq(send_more_runs, 1);
	cr_assert_eq(to_send, 7);
	while (tsq_flow_inflight(&flow) != 0) {
		tsq_flow_complete(&flow, COST);
		tsq_defer_drain(&set, 0);
	}
	cr_assert_eq(to_send, 0, "everything went out");
	cr_assert_eq(tsq_flow_stats(&flow, &st), 0);
	cr_assert_eq(st.deferred, 0, "never deferred to an owner");
	cr_assert_eq(st.queued, st.budget.throttles);
	cr_assert_eq(tsq_flow_release(&flow), 0, "nothing for a release to run");
	cr_assert_eq(st.flags & TSQ_F_QUEUED, 0);
}

static void *complete_one(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)tsq_flow_complete(&flow, COST);
}

Test(flow_single_thread, completions_from_another_thread)
{
	struct tsq_flow_stats st;
	unsigned restarts = 0;

	to_send = 1000;
	pump(&flow);
	while (tsq_flow_inflight(&flow) != 0) {
		pthread_t t;
		void *won;

		cr_assert_eq(pthread_create(&t, NULL, complete_one, NULL), 0);
		cr_assert_eq(pthread_join(t, &won), 0);
		restarts += won != NULL;
		tsq_defer_drain(&set, 0); /* this thread is the home worker */
	}
	cr_assert_eq(to_send, 0);
	cr_assert_eq(tsq_flow_stats(&flow, &st), 0);
	cr_assert_eq(st.queued, restarts);
	cr_assert_eq(send_more_runs, restarts);
	cr_assert_eq(st.deferred, 0);
	cr_assert_eq(st.budget.inflight_units, 0);
}
