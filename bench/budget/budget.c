/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/budget/budget.c - budget/...: the TSQ completion fast path (flow not throttled)
 * against a plain atomic.
 *
 * tsq_budget_complete() is one SEQ_CST fetch_sub on the in-flight word and one load of the
 * flags (a plain mov on x86). Each iteration charges the unit back (a relaxed fetch_add) so
 * the counter stays bounded; the baseline does exactly the same pair with bare atomics, so
 * the difference is what TSQ adds on the path every TX completion takes. `tsq` has a pacing
 * rate set; `tsq_learning` is the default (no rate: the completion reads the clock and adds
 * its bytes to the rate estimate); `tsq_learning_at` passes the caller's clock, read once
 * per 64 completions.
 */
#include <tsq/budget.h>

#include "gbench.h"

#define BUDGET_UNIT 1500 /* one MTU-sized frame */

/* A budget with one unit in flight; pacing_rate 0: none set, the rate is learned (default). */
static void budget_start(struct tsq_budget *b, uint64_t pacing_rate)
{
	tsq_budget_init(b, NULL);
	if (pacing_rate != 0)
		tsq_budget_set_pacing_rate(b, pacing_rate);
	tsq_budget_charge(b, BUDGET_UNIT);
}

/* How the completion is called: a rate set (no learning), learning with the library's clock,
 * learning with the caller's (one clock read per 64 completions, as per NAPI-sized batch). */
enum complete_mode { RATE_SET, LEARN, LEARN_AT };

/* items/s, and ns per operation (the rate inverted). */
static void budget_report(struct gbench_state *st, int64_t n)
{
	gbench_set_items_processed(st, n);
	gbench_counter(st, "ns_per_op", (double)n, GBENCH_COUNTER_RATE | GBENCH_COUNTER_INVERT);
}

static void bm_complete(struct gbench_state *st, const void *arg)
{
	enum complete_mode mode = (enum complete_mode)(uintptr_t)arg;
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;
	uint64_t now = 0;
	int64_t n = 0;
	bool queued;

	budget_start(&b, mode == RATE_SET ? 125000000 : 0);
	while (gbench_keep_running(st)) {
		if (mode == LEARN_AT) {
			if ((n & 63) == 0)
				now = TSQ_CFG_NOW_NS();
			queued = tsq_budget_complete_at(&b, &f, BUDGET_UNIT, now);
		} else {
			queued = tsq_budget_complete(&b, &f, BUDGET_UNIT);
		}
		if (queued)
			gbench_skip_with_error(st, "completion queued an unthrottled flow");
		tsq_budget_charge(&b, BUDGET_UNIT);
		n++;
	}
	budget_report(st, n);
}

static void bm_atomic(struct gbench_state *st, const void *arg)
{
	uint64_t inflight = BUDGET_UNIT;
	int64_t n = 0;

	(void)arg;
	while (gbench_keep_running(st)) {
		tsq_fetch_sub(&inflight, BUDGET_UNIT, TSQ_SEQ_CST);
		tsq_fetch_add(&inflight, BUDGET_UNIT, TSQ_RELAXED);
		n++;
	}
	budget_report(st, n);
}

static void bm_check(struct gbench_state *st, const void *arg)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;
	int64_t n = 0;

	(void)arg;
	budget_start(&b, 125000000); /* 1 Gbit/s: limit ~122 KB */
	while (gbench_keep_running(st)) {
		if (!tsq_budget_may_send(&b, &f, BUDGET_UNIT, 0))
			gbench_skip_with_error(st, "under-limit check throttled");
		n++;
	}
	budget_report(st, n);
}

static void register_budget(void)
{
	gbench_register("budget/complete_fastpath/tsq", bm_complete,
			(const void *)(uintptr_t)RATE_SET);
	gbench_register("budget/complete_fastpath/tsq_learning", bm_complete,
			(const void *)(uintptr_t)LEARN);
	gbench_register("budget/complete_fastpath/tsq_learning_at", bm_complete,
			(const void *)(uintptr_t)LEARN_AT);
	gbench_register("budget/complete_fastpath/atomic_fetch_sub", bm_atomic, NULL);
	gbench_register("budget/check_under_limit/tsq", bm_check, NULL);
}
GBENCH_REGISTRAR(register_budget)
