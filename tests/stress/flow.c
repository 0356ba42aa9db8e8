/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/stress/flow.c - TCP Small Queues under concurrency, with exact accounting.
 *
 *   usage: stress_flow [flows [bytes_per_flow [completers [shards [seed [stall_ms]]]]]]
 *
 * Threads
 *   sender      starts every flow once: under the flow's short lock (a pthread mutex), if the
 *               flow is not owned, sends while tsq_flow_may_send() allows (tsq_flow_charge,
 *               then the unit goes to a random completion thread's tsq_llist). After that it
 *               exits: from then on every byte must be sent by a restart, so a lost wake-up
 *               is a stall, not something the next application write papers over.
 *   completers  take their list, and for each unit call tsq_flow_complete() (the flows'
 *               units complete out of order, on several threads at once). Now and then one
 *               plays a timer: under the short lock, if the flow is owned, tsq_flow_defer()
 *               a user bit.
 *   workers     one per shard: tsq_defer_drain() (which runs tsq__flow_run, wrapped below),
 *               tsq_defer_wait() when idle. Their send_more(DRAINED) sends more.
 *   owner       the application: takes ownership of a random flow (owned = true under the
 *               short lock), maybe sends as owner (only while units are in flight, so that it
 *               never restarts a flow whose wake-up was lost), lets time pass, then under the short lock
 *               calls tsq_flow_release() (send_more(DEFERRED), user bits) and drops the
 *               ownership - the kernel's release_sock().
 *   main        watches progress; no progress for stall_ms while bytes remain: "stall", and a
 *               dump of every unfinished flow.
 *
 * Checked at run time: at most one sender at a time per flow; send_more(DRAINED) only when
 * not owned, DEFERRED only by the owner; the flow is never queued twice (a per-flow
 * "on list" count, raised by the reference the F2 winner takes before linking and lowered by
 * the drain's call, before F3, must stay 0/1; QUEUED is set at both points); a put never
 * exceeds the holds.
 * Checked at the end, per flow: quota sent and completed, byte for byte and unit for unit;
 * nothing in flight; QUEUED and every deferred bit clear, THROTTLED clear unless it is the
 * known stale bit (see the end of main); holds == puts; user bits marked == run; queued ==
 * queue references == drained runs; deferred == DEFERRED references == release runs; per
 * shard pushed == drained, no fallback, no inline run.
 * Prints one accounting line and exits 0, or a message and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tsq/flow.h>

/* ---- plumbing ---------------------------------------------------------------------------- */

#define STRESS_NAME "stress_flow"
#include "stress_fail.h"

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	/* xorshift64* */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ull;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void nap_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

#define LD(p) tsq_load((p), TSQ_RELAXED)
#define ADD(p, v) ((void)tsq_fetch_add((p), (v), TSQ_RELAXED))

/* ---- the flows ----------------------------------------------------------------------------- */

enum role { ROLE_MAIN, ROLE_SENDER, ROLE_COMPLETER, ROLE_WORKER, ROLE_OWNER };
static _Thread_local enum role tl_role;
static _Thread_local bool tl_timer; /* a completer playing a timer (tsq_flow_defer) */

struct sflow {
	struct tsq_flow flow; /* first: cache-line aligned */
	pthread_mutex_t lock; /* the short lock */
	bool owned;           /* written under lock; mirrored in owned_seen for the dump */
	uint32_t owned_seen;
	uint32_t id;
	uint64_t quota;
	/* Written by the flow's current sender only (exclusion: the lock or the ownership). */
	struct rng cost_rng;
	uint64_t sent, units_sent; /* atomics: main reads them */
	uint32_t in_send;          /* exclusion check */
	uint32_t end_flags;        /* flags when the last byte went (sender-written) */
	enum role end_role;        /* who sent the last byte */
	/* Any thread (relaxed atomics). */
	uint64_t completed, units_completed;
	int64_t refs;
	uint64_t holds, puts, queue_holds, deferred_holds, user_holds;
	int32_t on_list;
	uint64_t runs; /* drained runs (the wrapped tsq__flow_run) */
	uint64_t sends_worker, sends_release, sends_owner, sends_initial;
	uint64_t user_marked, user_run;
};

struct unit {
	struct tsq_llist_node node;
	struct sflow *f;
	uint32_t cost;
};

struct completer {
	struct tsq_llist_head list TSQ_CACHELINE_ALIGNED;
	pthread_t tid;
	unsigned idx;
};

static unsigned nflows, ncomp, nshards;
static uint64_t quota, seed;
static uint64_t stall_ms;
static struct sflow *flows;
static struct completer *comps;
static struct tsq_defer_shard *shards;
static struct tsq_defer_set set;

static uint32_t stop_owner, stop_completers, stop_workers;
static uint64_t progress;      /* units sent + units completed */
static uint64_t owner_cycles;  /* owner-thread only */
static uint32_t owner_current; /* 1 + the flow the owner works on, 0 between flows (a hint) */

static struct sflow *sflow_of(struct tsq_flow *f)
{
	return tsq_container_of(f, struct sflow, flow);
}

/* Send while the budget allows. The caller has exclusion (the short lock, or owns the flow). */
static void flow_send(struct sflow *f, struct rng *r)
{
	CHECK(tsq_xchg(&f->in_send, 1u, TSQ_ACQ_REL) == 0, "flow %u: two senders at once", f->id);
	while (LD(&f->sent) < f->quota) {
		uint64_t left = f->quota - LD(&f->sent);
		uint32_t cost = 64 + (uint32_t)(rnd(&f->cost_rng) % 2937);
		unsigned factor = (rnd(r) & 7) == 0; /* now and then a "retransmit" */
		struct unit *u;

		if (cost > left)
			cost = (uint32_t)left;
		if (!tsq_flow_may_send(&f->flow, cost, factor))
			break;
		tsq_flow_charge(&f->flow, cost); /* before the unit can complete */
		u = malloc(sizeof(*u));
		CHECK(u != NULL, "out of memory");
		u->f = f;
		u->cost = cost;
		tsq_store(&f->sent, LD(&f->sent) + cost, TSQ_RELAXED);
		tsq_store(&f->units_sent, LD(&f->units_sent) + 1, TSQ_RELAXED);
		ADD(&progress, 1);
		tsq_llist_push(&comps[rnd(r) % ncomp].list, &u->node);
		if (LD(&f->sent) == f->quota) {
			f->end_flags = tsq_flags_load(&f->flow.flags);
			f->end_role = tl_role;
		}
	}
	tsq_store(&f->in_send, 0u, TSQ_RELEASE);
}

/* ---- ops --------------------------------------------------------------------------------- */

static _Thread_local struct rng tl_rng;

/*
 * Widen the race windows a little: the hooks run inside the protocol's critical stretches
 * (between the F2 win and the link, between the handler's budget check and the drain's next
 * item, between a DEFERRED mark and the unlock), so a yield there lets the other threads in.
 */
static void jitter(unsigned one_in)
{
	if (rnd(&tl_rng) % one_in == 0)
		sched_yield();
}

static void op_send_more(struct tsq_flow *flow, enum tsq_flow_how how)
{
	struct sflow *f = sflow_of(flow);

	if (how == TSQ_FLOW_DRAINED) {
		CHECK(tl_role == ROLE_WORKER, "flow %u: DRAINED outside a worker", f->id);
		CHECK(!f->owned, "flow %u: the worker sends while the flow is owned", f->id);
		ADD(&f->sends_worker, 1);
	} else {
		CHECK(how == TSQ_FLOW_DEFERRED, "flow %u: bad how %d", f->id, (int)how);
		CHECK(tl_role == ROLE_OWNER && f->owned, "flow %u: DEFERRED not by the owner",
		      f->id);
		ADD(&f->sends_release, 1);
	}
	flow_send(f, &tl_rng);
	jitter(4);
}

static bool op_lock(struct tsq_flow *flow)
{
	struct sflow *f = sflow_of(flow);

	CHECK(tl_role == ROLE_WORKER, "flow %u: ops->lock outside a worker", f->id);
	pthread_mutex_lock(&f->lock);
	return f->owned;
}

static void op_unlock(struct tsq_flow *flow)
{
	pthread_mutex_unlock(&sflow_of(flow)->lock);
}

static void op_hold(struct tsq_flow *flow)
{
	struct sflow *f = sflow_of(flow);

	tsq_fetch_add(&f->refs, 1, TSQ_RELAXED);
	ADD(&f->holds, 1);
	if (tl_role == ROLE_COMPLETER && !tl_timer) {
		/* The F2 winner's reference, taken before tsq_defer_queue() links the node. */
		int32_t was = tsq_fetch_add(&f->on_list, 1, TSQ_ACQ_REL);

		CHECK(was == 0, "flow %u queued twice (on_list was %d)", f->id, (int)was);
		CHECK(tsq_flags_load(&flow->flags) & TSQ_F_QUEUED, "flow %u linked without QUEUED",
		      f->id);
		ADD(&f->queue_holds, 1);
		jitter(16);
	} else if (tl_role == ROLE_WORKER) {
		ADD(&f->deferred_holds, 1); /* DEFERRED 0 -> 1 */
	} else {
		CHECK(tl_role == ROLE_COMPLETER && tl_timer, "flow %u: unexpected hold", f->id);
		ADD(&f->user_holds, 1);
	}
}

static void op_put(struct tsq_flow *flow)
{
	struct sflow *f = sflow_of(flow);
	int64_t was = tsq_fetch_sub(&f->refs, 1, TSQ_RELAXED);

	CHECK(was > 0, "flow %u: put without a reference", f->id);
	ADD(&f->puts, 1);
	jitter(8);
}

static const struct tsq_flow_ops ops = {
	.send_more = op_send_more,
	.lock = op_lock,
	.unlock = op_unlock,
	.hold = op_hold,
	.put = op_put,
};

/*
 * The drain calls this instead of tsq__flow_run: the node is off the list (the drain read its
 * ->next) and QUEUED still set (F3 is the first thing tsq__flow_run does). Lowering on_list
 * here, before F3, means a correct protocol can never see it above 1.
 */
static void run_wrapped(struct tsq_defer_item *item, enum tsq_defer_how how)
{
	struct sflow *f = sflow_of(tsq_container_of(item, struct tsq_flow, work));
	int32_t was;

	CHECK(how == TSQ_DEFER_DRAINED, "flow %u ran with how %d", f->id, (int)how);
	CHECK(tl_role == ROLE_WORKER, "flow %u ran outside a worker", f->id);
	CHECK(tsq_flags_load(&f->flow.flags) & TSQ_F_QUEUED, "flow %u drained without QUEUED",
	      f->id);
	was = tsq_fetch_sub(&f->on_list, 1, TSQ_ACQ_REL);
	CHECK(was == 1, "flow %u drained with on_list %d", f->id, (int)was);
	ADD(&f->runs, 1);
	tsq__flow_run(item, how);
}

/* ---- threads ----------------------------------------------------------------------------- */

static void *sender_main(void *arg)
{
	unsigned started = 0;
	bool *done = calloc(nflows, sizeof(*done));

	(void)arg;
	tl_role = ROLE_SENDER;
	tl_rng.s = seed * 0x9e3779b97f4a7c15ull + 1;
	CHECK(done != NULL, "out of memory");
	while (started < nflows) {
		for (unsigned i = 0; i < nflows; i++) {
			struct sflow *f = &flows[i];

			if (done[i])
				continue;
			pthread_mutex_lock(&f->lock);
			if (!f->owned) { /* owned: the owner will send; try again later anyway */
				flow_send(f, &tl_rng);
				ADD(&f->sends_initial, 1);
				done[i] = true;
				started++;
			}
			pthread_mutex_unlock(&f->lock);
		}
		sched_yield();
	}
	free(done);
	return NULL;
}

static void *completer_main(void *arg)
{
	struct completer *c = (struct completer *)arg;
	unsigned idle = 0;

	tl_role = ROLE_COMPLETER;
	tl_rng.s = seed * 0x2545f4914f6cdd1dull + 7 * c->idx + 3;
	for (;;) {
		struct tsq_llist_node *n, *next;

		n = tsq_llist_reverse(tsq_llist_take_all(&c->list));
		if (n == NULL) {
			if (tsq_load(&stop_completers, TSQ_ACQUIRE) && tsq_llist_empty(&c->list))
				break;
			if (++idle < 16)
				sched_yield();
			else
				nap_us(50);
			continue;
		}
		idle = 0;
		tsq_llist_for_each_safe(n, next, n) {
			struct unit *u = tsq_container_of(n, struct unit, node);
			struct sflow *f = u->f;
			uint64_t r = rnd(&tl_rng);

			if ((r & 15) == 0) {
				/* A timer fires: for this unit's flow, or for the one the owner holds. */
				uint32_t cur = tsq_load(&owner_current, TSQ_RELAXED);
				struct sflow *tf = (r & 16) && cur != 0 ? &flows[cur - 1] : f;

				pthread_mutex_lock(&tf->lock);
				if (tf->owned) { /* owned: defer to the release (else it would just run) */
					uint32_t fresh;

					tl_timer = true;
					fresh = tsq_flow_defer(
						&tf->flow,
						tsq_flags_user((unsigned)((r >> 8) % 3)));
					tl_timer = false;
					ADD(&tf->user_marked, (uint64_t)__builtin_popcount(fresh));
				}
				pthread_mutex_unlock(&tf->lock);
			}
			if ((r & 0x300) == 0)
				sched_yield(); /* spread the completions out */
			tsq_flow_complete(&f->flow, u->cost);
			ADD(&f->completed, u->cost);
			ADD(&f->units_completed, 1);
			ADD(&progress, 1);
			free(u);
		}
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;

	tl_role = ROLE_WORKER;
	tl_rng.s = seed * 0xbf58476d1ce4e5b9ull + 11 * me + 5;
	while (!tsq_load(&stop_workers, TSQ_ACQUIRE)) {
		long n = tsq_defer_drain(&set, me);

		CHECK(n >= 0, "drain: %ld", n);
		if (n == 0) {
			int w = tsq_defer_wait(&set, me, 2);

			CHECK(w >= 0, "wait: %d", w);
		}
	}
	while (tsq_defer_drain(&set, me) > 0)
		;
	return NULL;
}

static void *owner_main(void *arg)
{
	(void)arg;
	tl_role = ROLE_OWNER;
	tl_rng.s = seed * 0x94d049bb133111ebull + 13;
	while (!tsq_load(&stop_owner, TSQ_ACQUIRE)) {
		struct sflow *f = &flows[rnd(&tl_rng) % nflows];
		uint64_t r = rnd(&tl_rng);
		uint32_t user;

		pthread_mutex_lock(&f->lock);
		f->owned = true;
		tsq_store(&f->owned_seen, 1u, TSQ_RELAXED);
		pthread_mutex_unlock(&f->lock);
		tsq_store(&owner_current, f->id + 1, TSQ_RELAXED);

		/*
		 * The application writes: send as owner, until the budget says stop. Only while
		 * something is in flight, i.e. while a completion will come anyway: sending on an
		 * idle flow would restart a flow whose wake-up was lost and hide the bug.
		 */
		if ((r & 1) && tsq_budget_inflight(&f->flow.budget) > 0) {
			flow_send(f, &tl_rng);
			ADD(&f->sends_owner, 1);
		}
		for (unsigned i = 0; i < ((r >> 1) & 7); i++)
			sched_yield(); /* keep it owned a while: restarts get deferred to us */
		if ((r & 0x30) == 0)
			nap_us(100);

		/* release_sock(): under the short lock, still owner, then drop the ownership. */
		pthread_mutex_lock(&f->lock);
		user = tsq_flow_release(&f->flow);
		for (uint32_t b = user; b != 0; b &= b - 1) {
			CHECK((b & -b) & TSQ_F_USER_ALL, "flow %u: release returned %#x", f->id,
			      user);
			ADD(&f->user_run, 1);
			op_put(&f->flow); /* the reference tsq_flow_defer() took for the bit */
		}
		f->owned = false;
		tsq_store(&f->owned_seen, 0u, TSQ_RELAXED);
		pthread_mutex_unlock(&f->lock);
		tsq_store(&owner_current, 0u, TSQ_RELAXED);
		owner_cycles++;
		if ((r & 0xc0) == 0)
			nap_us(20);
	}
	return NULL;
}

/* ---- main -------------------------------------------------------------------------------- */

static bool all_done(void)
{
	for (unsigned i = 0; i < nflows; i++)
		if (LD(&flows[i].sent) != flows[i].quota ||
		    LD(&flows[i].completed) != flows[i].quota)
			return false;
	return true;
}

static void dump_and_fail(const char *why)
{
	fprintf(stderr, "stress_flow: FAIL: %s; unfinished flows:\n", why);
	for (unsigned i = 0; i < nflows; i++) {
		struct sflow *f = &flows[i];
		struct tsq_flow_stats s = { 0 };

		if (LD(&f->sent) == f->quota && LD(&f->completed) == f->quota)
			continue;
		tsq_flow_stats(&f->flow, &s);
		fprintf(stderr,
			"  flow %u: flags %#x inflight %llu B / %llu units, sent %llu completed %llu of %llu, "
			"owned %u on_list %d home %u pending %d, queued %llu deferred %llu throttles %llu "
			"saves %llu\n",
			f->id, s.flags, (unsigned long long)s.budget.inflight_bytes,
			(unsigned long long)s.budget.inflight_units,
			(unsigned long long)LD(&f->sent), (unsigned long long)LD(&f->completed),
			(unsigned long long)f->quota, LD(&f->owned_seen), (int)LD(&f->on_list),
			f->flow.home, (int)tsq_defer_pending(&set, f->flow.home),
			(unsigned long long)s.queued, (unsigned long long)s.deferred,
			(unsigned long long)s.budget.throttles,
			(unsigned long long)s.budget.recheck_saves);
	}
	exit(1);
}

static unsigned long arg_or(int argc, char **argv, int i, unsigned long def)
{
	char *end;
	unsigned long v;

	if (argc <= i)
		return def;
	errno = 0;
	v = strtoul(argv[i], &end, 0);
	if (errno != 0 || *end != '\0') {
		fprintf(stderr,
			"usage: %s [flows [bytes_per_flow [completers [shards [seed [stall_ms]]]]]]\n",
			argv[0]);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	pthread_t sender, owner, *workers;
	uint64_t t0 = now_ms(), last_change, last_progress = 0;
	uint64_t tot_units = 0, tot_throttles = 0, tot_saves = 0, tot_queued = 0, tot_deferred = 0;
	uint64_t tot_user = 0, tot_kicks = 0, tot_owner_sends = 0, tot_release_sends = 0;
	unsigned stale = 0;
	struct rng cfg_rng;

	nflows = (unsigned)arg_or(argc, argv, 1, 64);
	quota = arg_or(argc, argv, 2, 1048576);
	ncomp = (unsigned)arg_or(argc, argv, 3, 3);
	nshards = (unsigned)arg_or(argc, argv, 4, 2);
	seed = arg_or(argc, argv, 5, 1);
	stall_ms = arg_or(argc, argv, 6, 5000);
	if (nflows == 0 || ncomp == 0 || nshards == 0 || quota == 0 || nshards > 64) {
		fprintf(stderr,
			"stress_flow: flows, bytes, completers and shards must be > 0 (shards <= 64)\n");
		return 2;
	}
	cfg_rng.s = seed * 0xd6e8feb86659fd93ull + 17;

	shards = tsq_defer_shards_alloc(nshards);
	CHECK(shards != NULL, "out of memory");
	CHECK(tsq_defer_set_init(&set, shards, nshards, NULL) == 0, "defer set init");
	flows = aligned_alloc(TSQ_CACHELINE_SIZE, nflows * sizeof(*flows));
	comps = aligned_alloc(TSQ_CACHELINE_SIZE, ncomp * sizeof(*comps));
	workers = calloc(nshards, sizeof(*workers));
	CHECK(flows != NULL && comps != NULL && workers != NULL, "out of memory");
	memset(flows, 0, nflows * sizeof(*flows));
	memset(comps, 0, ncomp * sizeof(*comps));

	for (unsigned i = 0; i < nflows; i++) {
		struct sflow *f = &flows[i];
		uint64_t r = rnd(&cfg_rng);
		struct tsq_budget_opts cfg = { .size = sizeof(cfg) };

		/* Small caps so that flows throttle all the time; a quarter with the relaxation. */
		cfg.cap = 64u << (r & 7); /* 64 B .. 8 KiB: often a single unit in flight */
		cfg.allow_one = ((r >> 2) & 3) == 0;
		CHECK(tsq_flow_init(&f->flow, &set, i % nshards, &ops, &cfg) == 0, "flow init");
		if (((r >> 4) & 3) == 0)
			tsq_budget_set_pacing_rate(&f->flow.budget,
						   3000ull << 10); /* ~3000 B per ms */
		/* Instrument the drain's call (see run_wrapped). */
		tsq_defer_item_init(&f->flow.work, run_wrapped);
		pthread_mutex_init(&f->lock, NULL);
		f->id = i;
		f->quota = quota;
		f->cost_rng.s = (r | 1) ^ 0x5851f42d4c957f2dull;
	}
	for (unsigned i = 0; i < ncomp; i++) {
		tsq_llist_init(&comps[i].list);
		comps[i].idx = i;
	}

	for (unsigned i = 0; i < nshards; i++)
		CHECK(pthread_create(&workers[i], NULL, worker_main, (void *)(uintptr_t)i) == 0,
		      "thread");
	for (unsigned i = 0; i < ncomp; i++)
		CHECK(pthread_create(&comps[i].tid, NULL, completer_main, &comps[i]) == 0,
		      "thread");
	CHECK(pthread_create(&owner, NULL, owner_main, NULL) == 0, "thread");
	CHECK(pthread_create(&sender, NULL, sender_main, NULL) == 0, "thread");

	/* Watch: done, or a stall. */
	last_change = now_ms();
	while (!all_done()) {
		uint64_t p;

		nap_us(10000);
		p = LD(&progress);
		if (p != last_progress) {
			last_progress = p;
			last_change = now_ms();
		} else if (now_ms() - last_change > stall_ms) {
			dump_and_fail("stall: no unit sent or completed for the stall timeout");
		}
	}
	pthread_join(sender, NULL);
	tsq_store(&stop_owner, 1u, TSQ_RELEASE);
	pthread_join(owner, NULL);
	tsq_store(&stop_completers, 1u, TSQ_RELEASE);
	for (unsigned i = 0; i < ncomp; i++)
		pthread_join(comps[i].tid, NULL);
	tsq_store(&stop_workers, 1u, TSQ_RELEASE);
	for (unsigned i = 0; i < nshards; i++)
		pthread_join(workers[i], NULL);

	/* ---- the accounting ---- */
	for (unsigned i = 0; i < nflows; i++) {
		struct sflow *f = &flows[i];
		struct tsq_flow_stats s;

		CHECK(tsq_flow_stats(&f->flow, &s) == 0, "flow stats");
		CHECK(f->sent == quota && f->completed == quota,
		      "flow %u: sent %llu completed %llu of %llu", i, (unsigned long long)f->sent,
		      (unsigned long long)f->completed, (unsigned long long)quota);
		CHECK(f->units_sent == f->units_completed,
		      "flow %u: %llu units sent, %llu completed", i,
		      (unsigned long long)f->units_sent, (unsigned long long)f->units_completed);
		CHECK(s.budget.inflight_bytes == 0 && s.budget.inflight_units == 0,
		      "flow %u: %llu bytes / %llu units still charged", i,
		      (unsigned long long)s.budget.inflight_bytes,
		      (unsigned long long)s.budget.inflight_units);
		CHECK((s.flags & ~TSQ_F_THROTTLED) == 0,
		      "flow %u: flags %#x at the end (QUEUED/deferred left)", i, s.flags);
		if (s.flags & TSQ_F_THROTTLED) {
			/*
			 * A stale THROTTLED, harmless by design (the kernel's too): the flow stopped
			 * while a restart was already queued (THROTTLED|QUEUED), then the owner sent
			 * its last bytes through the fast path, which leaves the bit; the last
			 * completions saw QUEUED and left it, and the restart found nothing to send.
			 * Nobody waits on it: all data is sent and nothing is in flight (checked above).
			 */
			CHECK(f->end_flags & TSQ_F_THROTTLED,
			      "flow %u: THROTTLED left, but clear when the last byte went "
			      "(by role %d)",
			      i, (int)f->end_role);
			stale++;
		}
		CHECK(f->on_list == 0, "flow %u: on_list %d at the end", i, (int)f->on_list);
		CHECK(f->refs == 0 && f->holds == f->puts, "flow %u: %llu holds, %llu puts", i,
		      (unsigned long long)f->holds, (unsigned long long)f->puts);
		CHECK(f->holds == f->queue_holds + f->deferred_holds + f->user_holds,
		      "flow %u: hold kinds", i);
		CHECK(s.queued == f->queue_holds && s.queued == f->runs,
		      "flow %u: queued %llu, queue references %llu, drained runs %llu", i,
		      (unsigned long long)s.queued, (unsigned long long)f->queue_holds,
		      (unsigned long long)f->runs);
		CHECK(s.deferred == f->deferred_holds && s.deferred == f->sends_release,
		      "flow %u: deferred %llu, DEFERRED references %llu, release runs %llu", i,
		      (unsigned long long)s.deferred, (unsigned long long)f->deferred_holds,
		      (unsigned long long)f->sends_release);
		CHECK(f->user_marked == f->user_run && f->user_marked == f->user_holds,
		      "flow %u: user bits marked %llu, run %llu", i,
		      (unsigned long long)f->user_marked, (unsigned long long)f->user_run);
		CHECK(f->sends_initial == 1, "flow %u: started %llu times", i,
		      (unsigned long long)f->sends_initial);
		CHECK(f->sends_worker <= f->runs, "flow %u: more worker sends than runs", i);
		tot_units += f->units_sent;
		tot_throttles += s.budget.throttles;
		tot_saves += s.budget.recheck_saves;
		tot_queued += s.queued;
		tot_deferred += s.deferred;
		tot_user += f->user_run;
		tot_owner_sends += f->sends_owner;
		tot_release_sends += f->sends_release;
	}
	{
		uint64_t pushed = 0;

		for (unsigned i = 0; i < nshards; i++) {
			struct tsq_defer_stats d;

			CHECK(tsq_defer_stats(&set, i, &d) == 0, "defer stats");
			CHECK(d.pushed == d.drained, "shard %u: pushed %llu drained %llu", i,
			      (unsigned long long)d.pushed, (unsigned long long)d.drained);
			CHECK(d.fallback == 0 && d.inline_runs == 0,
			      "shard %u: fallback %llu inline %llu", i,
			      (unsigned long long)d.fallback, (unsigned long long)d.inline_runs);
			CHECK(!tsq_defer_pending(&set, i), "shard %u: items left", i);
			pushed += d.pushed;
			tot_kicks += d.kicks;
		}
		CHECK(pushed == tot_queued, "shards pushed %llu, flows queued %llu",
		      (unsigned long long)pushed, (unsigned long long)tot_queued);
	}

	printf("stress_flow: ok: %u flows x %llu B, %u completers, %u shards, seed %llu: %llu units, "
	       "%llu throttles, %llu re-check saves, %llu restarts queued, %llu deferred to the owner, "
	       "%llu owner cycles (%llu owner sends), %llu user bits, %llu kicks, %u stale THROTTLED, "
	       "%.2f s\n",
	       nflows, (unsigned long long)quota, ncomp, nshards, (unsigned long long)seed,
	       (unsigned long long)tot_units, (unsigned long long)tot_throttles,
	       (unsigned long long)tot_saves, (unsigned long long)tot_queued,
	       (unsigned long long)tot_deferred, (unsigned long long)owner_cycles,
	       (unsigned long long)tot_owner_sends, (unsigned long long)tot_user,
	       (unsigned long long)tot_kicks, stale, (double)(now_ms() - t0) / 1000.0);
	(void)tot_release_sends;

	for (unsigned i = 0; i < nflows; i++)
		pthread_mutex_destroy(&flows[i].lock);
	tsq_defer_set_destroy(&set);
	free(workers);
	free(comps);
	free(flows);
	free(shards);
	return 0;
}
