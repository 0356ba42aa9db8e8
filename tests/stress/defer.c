/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Stress test for tsq/defer.h: S owner threads (one per shard) and P non-shard producers,
 * exact accounting, lost wake-ups detected rather than hidden.
 *
 * Every thread pushes M items to random shards (an owner also to itself: inline); in single
 * mode one in 16 goes through tsq_defer_queue() (always linked). Each item carries (target,
 * pusher, unique id); its function checks the thread it runs on against the contract -
 * INLINE and DRAINED on the target's owner, FALLBACK on the pushing thread - and counts its
 * runs. The bound is small (16 by default) so fallbacks happen all the time.
 * Owners loop: push a few, drain, and when there is nothing to do sleep in tsq_defer_wait()
 * with a long timeout. A wait that sleeps its whole timeout while the shard has work queued
 * is a lost wake-up: the test fails instead of carrying on.
 * The end: a stop item to each shard (through the same push path), the owners drain and
 * exit, then every item must have run exactly once, inline + drained + fallback == total,
 * every shard's counters must match the items that targeted it (pushed == drained,
 * fallback, inline, kicks >= 1), and a probe push to each shard must queue again (a shard
 * whose list is empty must not stay over its bound).
 *
 * Each round starts a fresh set and fresh threads (so start-up and shutdown repeat too).
 *
 * With a ring size, owners push to each other through the per-pair rings (non-shard
 * producers still take the list). The exact bound is checked at every drain: the items an
 * owner takes from its shared list in one drain (not counting tsq_defer_queue() ones) never
 * exceed `bound`. Producers pause now and then (bursts), so owners run dry and sleep.
 * Sleep primitive: "eventfd" (tsq_defer_wait) or "futex" - a custom kick that increments a
 * per-shard counter and FUTEX_WAKEs it; the owner reads the counter before idle_enter and
 * FUTEX_WAITs on that value (the contract's rule). A futex wait that times out with work
 * queued is a lost wake-up, as for eventfd.
 *
 * Usage: stress_defer [single|batch] [items_per_thread [rounds [bound [shards [producers
 *                     [wait_ms [ring_size|off [eventfd|futex [auto|symmetric [register]]]]]]]]]]
 *   defaults: single 50000 1 16 3 3 5000 0 eventfd auto. "batch" pushes through
 *   tsq_defer_batch_add/flush. ring_size 0 is the default rings, "off" lists only; the
 *   fence: "auto" (membarrier where available) or "symmetric" (the forced fallback);
 *   "register": producer threads push with tsq_defer_producer_register() ids (rings).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <tsq/defer.h>

#define MAX_SHARDS 64
#define MAX_PRODUCERS 64

enum item_kind { KIND_WORK, KIND_STOP, KIND_PROBE };

struct sitem {
	struct tsq_defer_item d;
	uint32_t id;
	uint16_t target;
	uint16_t pusher; /* thread index: owners 0..S-1, producers S.. , main S+P */
	uint8_t kind;
	uint8_t queued; /* sent with tsq_defer_queue(): always linked */
	/* Written by the run (exactly once), read by main after the joins. */
	uint32_t runs; /* atomic */
	uint8_t how;
	uint16_t ran_on;
};

static struct tsq_defer_set set;
static struct tsq_defer_shard *shards;
static struct sitem *items;
static unsigned nshards = 3, nprod = 3;
static uint32_t per = 50000, bound = 16;
static int wait_ms = 5000;
static int batch_mode;
static uint32_t ring_size; /* 0: the default rings; TSQ_DEFER_RINGS_OFF ("off"): lists only */
static int futex_mode;
static uint32_t fence = TSQ_DEFER_FENCE_AUTO;
static int register_mode; /* producer threads register (rings) instead of NO_SHARD (list) */
/* futex mode: the kick's counter per shard (what the owner sleeps on). */
static uint32_t futex_word[MAX_SHARDS];
/* tsq_defer_queue() items the owner ran in its current drain (they may exceed the bound). */
static _Thread_local uint32_t tl_queued_items;

static uint32_t stop_flag[MAX_SHARDS]; /* set by the stop item; atomic */
static uint32_t pushers_done;          /* threads that pushed all their items; atomic */

/* Who am I: the shard (NO_SHARD for producers and main) and the thread index. */
static _Thread_local unsigned tl_shard = TSQ_DEFER_NO_SHARD;
static _Thread_local unsigned tl_tid;

struct owner_stats {
	uint64_t waits, woken, not_slept, timeouts, drains_nonempty;
};
static struct owner_stats ostats[MAX_SHARDS];

static void fail(const char *msg, uint64_t a, uint64_t b)
{
	fprintf(stderr, "stress_defer: FAIL: %s (%" PRIu64 ", %" PRIu64 ")\n", msg, a, b);
	fflush(stderr);
	exit(1);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void item_fn(struct tsq_defer_item *d, enum tsq_defer_how how)
{
	struct sitem *it = tsq_container_of(d, struct sitem, d);
	unsigned owner_tid = it->target; /* owner i is thread i */

	if (tsq_fetch_add(&it->runs, 1u, TSQ_RELAXED) != 0)
		fail("item ran twice (id, how)", it->id, how);
	switch (how) {
	case TSQ_DEFER_INLINE:
		if (tl_shard != it->target || tl_tid != owner_tid || it->pusher != owner_tid)
			fail("INLINE run off the target's owner (id, running thread)", it->id,
			     tl_tid);
		break;
	case TSQ_DEFER_DRAINED:
		if (tl_shard != it->target || tl_tid != owner_tid)
			fail("DRAINED run off the target's owner (id, running thread)", it->id,
			     tl_tid);
		if (it->pusher == owner_tid && !it->queued)
			fail("the owner's push to itself was queued (id, shard)", it->id,
			     it->target);
		break;
	case TSQ_DEFER_FALLBACK:
		if (tl_tid != it->pusher)
			fail("FALLBACK run off the pushing thread (id, running thread)", it->id,
			     tl_tid);
		break;
	default:
		fail("unknown how (id, how)", it->id, how);
	}
	if (how == TSQ_DEFER_DRAINED && it->queued)
		tl_queued_items++;
	if (it->queued && how != TSQ_DEFER_DRAINED)
		fail("tsq_defer_queue() item not run by a drain (id, how)", it->id, how);
	it->how = (uint8_t)how;
	it->ran_on = (uint16_t)tl_tid;
	if (it->kind == KIND_STOP)
		tsq_store(&stop_flag[it->target], 1u, TSQ_RELEASE);
}

static void prepare(struct sitem *it, unsigned target)
{
	it->target = (uint16_t)target;
	it->pusher = (uint16_t)tl_tid;
	tsq_defer_item_init(&it->d, item_fn);
}

/* Push items [base, base + per) from this thread, each to a random shard. */
static void push_all(uint64_t base, uint64_t *rng, uint32_t *done, uint32_t chunk)
{
	static _Thread_local struct tsq_defer_batch b[MAX_SHARDS];
	static _Thread_local uint32_t until_flush;
	uint32_t end = *done + chunk < per ? *done + chunk : per;

	if (*done == 0)
		for (unsigned s = 0; s < nshards; s++)
			tsq_defer_batch_init(&b[s], s);
	for (; *done < end; (*done)++) {
		struct sitem *it = &items[base + *done];
		unsigned target = (unsigned)(xorshift(rng) % nshards);
		int r;

		prepare(it, target);
		if (!batch_mode && (xorshift(rng) & 15) == 0) {
			/* Some items take the always-linked route, an owner's to itself included. */
			it->queued = 1;
			r = tsq_defer_queue(&set, target, &it->d);
			if (r != TSQ_DEFER_QUEUED)
				fail("queue returned (result, target)", (uint64_t)(int64_t)r,
				     target);
		} else if (!batch_mode) {
			r = tsq_defer_push(&set, target, tl_shard, &it->d);
			if (r != (target == tl_shard ? TSQ_DEFER_RAN_INLINE : TSQ_DEFER_QUEUED) &&
			    !(r == TSQ_DEFER_RAN_FALLBACK && target != tl_shard))
				fail("push returned (result, target)", (uint64_t)(int64_t)r,
				     target);
		} else {
			r = tsq_defer_batch_add(&set, &b[target], tl_shard, &it->d);
			if (r != (target == tl_shard ? TSQ_DEFER_RAN_INLINE : TSQ_DEFER_QUEUED) &&
			    !(r == TSQ_DEFER_RAN_FALLBACK && target != tl_shard))
				fail("batch_add returned (result, target)", (uint64_t)(int64_t)r,
				     target);
			if (until_flush == 0 || --until_flush == 0) {
				for (unsigned s = 0; s < nshards; s++)
					if (tsq_defer_batch_flush(&set, &b[s]) < 0)
						fail("batch_flush failed (shard)", s, 0);
				until_flush = (uint32_t)(xorshift(rng) % 48) + 1;
			}
		}
		/* Pace now and then, so owners run dry, sleep and need waking. */
		if ((xorshift(rng) & 255) == 0)
			sched_yield();
		if ((xorshift(rng) & 4095) == 0)
			usleep(200); /* a gap between bursts: owners go to sleep */
	}
	if (batch_mode && *done == per)
		for (unsigned s = 0; s < nshards; s++)
			if (tsq_defer_batch_flush(&set, &b[s]) < 0)
				fail("batch_flush failed (shard)", s, 0);
}

static void *producer_main(void *arg)
{
	unsigned p = (unsigned)(uintptr_t)arg;
	uint64_t rng = 0x9e3779b97f4a7c15ull * (p + 101);
	uint32_t done = 0;

	tl_shard = TSQ_DEFER_NO_SHARD;
	if (register_mode) {
		int id = tsq_defer_producer_register(&set);

		if (id < 0)
			fail("producer_register (producer, error)", p, (uint64_t)-id);
		tl_shard = (unsigned)id;
	}
	tl_tid = nshards + p;
	push_all((uint64_t)(nshards + p) * per, &rng, &done, per);
	tsq_fetch_add(&pushers_done, 1u, TSQ_RELEASE);
	return NULL;
}

/* futex mode's kick: count, then wake (thread-safe: two producers may kick at once). */
static void futex_kick(void *ctx, unsigned shard)
{
	(void)ctx;
	tsq_fetch_add(&futex_word[shard], 1u, TSQ_SEQ_CST);
	syscall(SYS_futex, &futex_word[shard], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* futex mode's wait, with tsq_defer_wait()'s return values: 1 woken, 0 not slept/timeout. */
static int futex_sleep(unsigned me)
{
	/* The counter is read BEFORE idle_enter: a kick after this read changes it. */
	uint32_t snap = tsq_load(&futex_word[me], TSQ_SEQ_CST);
	struct timespec ts = { wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L };
	long r;

	if (!tsq_defer_idle_enter(&set, me))
		return 0;
	r = syscall(SYS_futex, &futex_word[me], FUTEX_WAIT_PRIVATE, snap, &ts, NULL, 0);
	tsq_defer_idle_exit(&set, me);
	if (r == 0 || errno == EAGAIN || errno == EINTR)
		return 1; /* woken, or the counter moved before we slept */
	if (errno != ETIMEDOUT)
		fail("futex wait (shard, errno)", me, (uint64_t)errno);
	return 0;
}

static void *owner_main(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	struct owner_stats *st = &ostats[me];
	uint64_t rng = 0x9e3779b97f4a7c15ull * (me + 1);
	uint32_t done = 0;
	uint64_t list0;
	long n;

	tl_shard = me;
	tl_tid = me;
	for (;;) {
		if (done < per) {
			push_all((uint64_t)me * per, &rng, &done, 8);
			if (done == per)
				tsq_fetch_add(&pushers_done, 1u, TSQ_RELEASE);
		}
		/* Private field, read by its writer: what this drain took from the shared list. */
		list0 = shards[me].owner.list_drained;
		tl_queued_items = 0;
		n = tsq_defer_drain(&set, me);
		if (n < 0)
			fail("drain failed (shard, error)", me, (uint64_t)-n);
		if (shards[me].owner.list_drained - list0 - tl_queued_items > bound)
			fail("one drain took more than the bound from the list (items, bound)",
			     shards[me].owner.list_drained - list0 - tl_queued_items, bound);
		st->drains_nonempty += n > 0;
		if (tsq_load(&stop_flag[me], TSQ_ACQUIRE)) {
			/* Everyone has stopped pushing before the stop item was sent. */
			while ((n = tsq_defer_drain(&set, me)) > 0)
				st->drains_nonempty++;
			break;
		}
		if (n == 0 && done == per) {
			double t0 = now_ms();
			int r = futex_mode ? futex_sleep(me) : tsq_defer_wait(&set, me, wait_ms);
			double slept = now_ms() - t0;

			st->waits++;
			if (r < 0)
				fail("wait failed (shard, error)", me, (uint64_t)-r);
			if (r == 1) {
				st->woken++;
			} else if (slept < 0.9 * wait_ms) {
				st->not_slept++; /* work was already queued */
			} else {
				st->timeouts++;
				if (tsq_defer_pending(&set, me))
					fail("lost wake-up: wait timed out with work queued (shard, waits)",
					     me, st->waits);
			}
		}
	}
	return NULL;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [single|batch] [items_per_thread [rounds [bound [shards [producers "
		"[wait_ms [ring_size|off [eventfd|futex [auto|symmetric [register]]]]]]]]]]\n",
		argv0);
	exit(2);
}

/* Totals over all rounds, for the summary line. */
static uint64_t sum_how[3], sum_kicks, sum_drains, sum_waits, sum_woken, sum_timeouts;

static void run_round(void)
{
	struct tsq_defer_opts opts = { .size = sizeof(opts),
				       .bound = bound,
				       .ring_size = ring_size,
				       .kick = futex_mode ? futex_kick : NULL,
				       .fence = fence,
				       .producers = register_mode ? nprod : 0 };
	pthread_t owners[MAX_SHARDS], prods[MAX_PRODUCERS];
	unsigned nthreads = nshards + nprod;
	uint64_t work = (uint64_t)nthreads * per;
	/* Work items, then one stop and one probe item per shard. */
	uint64_t total = work + 2 * (uint64_t)nshards, by_how[3] = { 0, 0, 0 };

	memset(items, 0, total * sizeof(*items));
	memset(ostats, 0, sizeof(ostats));
	memset(stop_flag, 0, sizeof(stop_flag));
	memset(futex_word, 0, sizeof(futex_word));
	pushers_done = 0;
	for (uint64_t i = 0; i < total; i++) {
		items[i].id = (uint32_t)i;
		items[i].kind = i < work ? KIND_WORK : i < work + nshards ? KIND_STOP : KIND_PROBE;
	}
	if (tsq_defer_set_init(&set, shards, nshards, &opts) != 0)
		fail("set_init", 0, 0);

	tl_shard = TSQ_DEFER_NO_SHARD;
	tl_tid = nthreads; /* main */
	for (unsigned s = 0; s < nshards; s++)
		if (pthread_create(&owners[s], NULL, owner_main, (void *)(uintptr_t)s) != 0)
			fail("pthread_create owner", s, 0);
	for (unsigned p = 0; p < nprod; p++)
		if (pthread_create(&prods[p], NULL, producer_main, (void *)(uintptr_t)p) != 0)
			fail("pthread_create producer", p, 0);
	for (unsigned p = 0; p < nprod; p++)
		pthread_join(prods[p], NULL);
	while (tsq_load(&pushers_done, TSQ_ACQUIRE) != nthreads)
		usleep(1000);

	/* Stop through the normal path; a stop that falls back is still seen after a drain. */
	for (unsigned s = 0; s < nshards; s++) {
		struct sitem *it = &items[work + s];
		int r;

		prepare(it, s);
		r = tsq_defer_push(&set, s, TSQ_DEFER_NO_SHARD, &it->d);
		if (r != TSQ_DEFER_QUEUED && r != TSQ_DEFER_RAN_FALLBACK)
			fail("stop push returned (result, shard)", (uint64_t)(int64_t)r, s);
	}
	for (unsigned s = 0; s < nshards; s++)
		pthread_join(owners[s], NULL);

	/* The owners are gone: main may act as each owner now (owner-only calls need one thread). */
	for (unsigned s = 0; s < nshards; s++) {
		struct sitem *it = &items[work + nshards + s];

		if (tsq_defer_pending(&set, s))
			fail("items left after the last drain (shard)", s, 0);
		tl_shard = TSQ_DEFER_NO_SHARD;
		prepare(it, s);
		if (tsq_defer_push(&set, s, TSQ_DEFER_NO_SHARD, &it->d) != TSQ_DEFER_QUEUED)
			fail("probe push to a drained, empty shard did not queue (shard)", s, 0);
		/* Drain as the owner: thread index s is what item_fn expects of the owner. */
		tl_shard = s;
		tl_tid = s;
		if (tsq_defer_drain(&set, s) != 1)
			fail("probe drain (shard)", s, 0);
		tl_tid = nthreads;
	}

	/* Every item exactly once; per-shard counters match the items. */
	for (unsigned s = 0; s < nshards; s++) {
		uint64_t cnt[3] = { 0, 0, 0 };
		struct tsq_defer_stats st;

		for (uint64_t i = 0; i < total; i++) {
			struct sitem *it = &items[i];

			if (it->target != s)
				continue;
			if (tsq_load(&it->runs, TSQ_RELAXED) != 1)
				fail("item did not run exactly once (id, runs)", it->id, it->runs);
			cnt[it->how]++;
		}
		if (tsq_defer_stats(&set, s, &st) != 0)
			fail("stats", s, 0);
		if (st.pushed != st.drained)
			fail("pushed != drained (pushed, drained)", st.pushed, st.drained);
		if (st.drained != cnt[TSQ_DEFER_DRAINED])
			fail("drained counter != items run as DRAINED (counter, items)", st.drained,
			     cnt[TSQ_DEFER_DRAINED]);
		if (st.fallback != cnt[TSQ_DEFER_FALLBACK])
			fail("fallback counter != items run as FALLBACK (counter, items)",
			     st.fallback, cnt[TSQ_DEFER_FALLBACK]);
		if (st.inline_runs != cnt[TSQ_DEFER_INLINE])
			fail("inline counter != items run INLINE (counter, items)", st.inline_runs,
			     cnt[TSQ_DEFER_INLINE]);
		if (st.kicks < 1)
			fail("shard never kicked (shard, pushed)", s, st.pushed);
		for (int h = 0; h < 3; h++)
			by_how[h] += cnt[h];
		sum_kicks += st.kicks;
		sum_drains += st.drains;
		sum_waits += ostats[s].waits;
		sum_woken += ostats[s].woken;
		sum_timeouts += ostats[s].timeouts;
	}
	if (by_how[0] + by_how[1] + by_how[2] != total)
		fail("inline + drained + fallback != total", by_how[0] + by_how[1] + by_how[2],
		     total);
	for (int h = 0; h < 3; h++)
		sum_how[h] += by_how[h];
	tsq_defer_set_destroy(&set);
}

int main(int argc, char **argv)
{
	unsigned long rounds = 1;
	double t0 = now_ms();
	int a = 1;

	if (a < argc && (strcmp(argv[a], "single") == 0 || strcmp(argv[a], "batch") == 0))
		batch_mode = strcmp(argv[a++], "batch") == 0;
	if (a < argc)
		per = (uint32_t)strtoul(argv[a++], NULL, 10);
	if (a < argc)
		rounds = strtoul(argv[a++], NULL, 10);
	if (a < argc)
		bound = (uint32_t)strtoul(argv[a++], NULL, 10);
	if (a < argc)
		nshards = (unsigned)strtoul(argv[a++], NULL, 10);
	if (a < argc)
		nprod = (unsigned)strtoul(argv[a++], NULL, 10);
	if (a < argc)
		wait_ms = atoi(argv[a++]);
	if (a < argc && strcmp(argv[a], "off") == 0 && a++)
		ring_size = TSQ_DEFER_RINGS_OFF;
	else if (a < argc)
		ring_size = (uint32_t)strtoul(argv[a++], NULL, 10);
	if (a < argc && (strcmp(argv[a], "eventfd") == 0 || strcmp(argv[a], "futex") == 0))
		futex_mode = strcmp(argv[a++], "futex") == 0;
	if (a < argc && (strcmp(argv[a], "auto") == 0 || strcmp(argv[a], "symmetric") == 0))
		fence = strcmp(argv[a++], "symmetric") == 0 ? TSQ_DEFER_FENCE_SYMMETRIC :
							      TSQ_DEFER_FENCE_AUTO;
	if (a < argc && strcmp(argv[a], "register") == 0 && a++)
		register_mode = 1;
	if (a < argc || (ring_size > TSQ_DEFER_RING_MAX && ring_size != TSQ_DEFER_RINGS_OFF) ||
	    per == 0 || per > 10000000 || rounds == 0 || rounds > 100000 || bound == 0 ||
	    nshards < 2 || nshards > MAX_SHARDS || nprod > MAX_PRODUCERS || wait_ms <= 0)
		usage(argv[0]);

	items = calloc((uint64_t)(nshards + nprod) * per + 2 * (uint64_t)nshards, sizeof(*items));
	shards = tsq_defer_shards_alloc(nshards);
	if (items == NULL || shards == NULL)
		fail("out of memory", 0, 0);
	for (unsigned long r = 0; r < rounds; r++)
		run_round();

	printf("stress_defer: %s %s %s%s ring=%" PRIu32 " shards=%u producers=%u bound=%" PRIu32
	       " rounds=%lu items=%" PRIu64 " inline=%" PRIu64 " drained=%" PRIu64
	       " fallback=%" PRIu64 " kicks=%" PRIu64 " drains=%" PRIu64 " waits=%" PRIu64
	       " woken=%" PRIu64 " idle_timeouts=%" PRIu64 " %.2fs OK\n",
	       batch_mode ? "batch" : "single", futex_mode ? "futex" : "eventfd",
	       fence == TSQ_DEFER_FENCE_SYMMETRIC ? "symmetric" :
	       set.asym                           ? "membarrier" :
						    "auto(seq_cst)",
	       register_mode ? " registered" : "", ring_size, nshards, nprod, bound, rounds,
	       sum_how[0] + sum_how[1] + sum_how[2], sum_how[TSQ_DEFER_INLINE],
	       sum_how[TSQ_DEFER_DRAINED], sum_how[TSQ_DEFER_FALLBACK], sum_kicks, sum_drains,
	       sum_waits, sum_woken, sum_timeouts, (now_ms() - t0) / 1e3);
	free(shards);
	free(items);
	return 0;
}
