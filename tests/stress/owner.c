/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Stress test for tsq/owner.h: producers hammer a few objects with tsq_owner_deliver() while
 * owner threads take them (acquire, try_acquire, lock_fast), run "long operations" that
 * flush the backlog every few steps (tsq_owner_flush_every, tsq_owner_flush), and release.
 * The limit is small, so -ENOBUFS happens. Exact accounting at the end:
 *   - every item (producer, sequence) is either processed exactly once or was handed back
 *     with -ENOBUFS, never both, never neither (a per-item state, set by compare-and-swap);
 *   - per (object, producer), processed sequence numbers strictly increase: INLINE and
 *     DRAINED processing together keep each producer's FIFO order;
 *   - processed INLINE only by producers while no owner holds the object; DRAINED only by
 *     the thread that owns it; release_cb only by the owner; never two owners at once;
 *   - per object: stats.inline_runs == INLINE callbacks, stats.backlogged == DRAINED callbacks,
 *     stats.dropped == -ENOBUFS returns, stats.flushes == flush calls that returned true,
 *     backlog_bytes == 0 after the last release, max_backlog_bytes <= limit + largest cost;
 *   - every owner thread completes all its acquisitions (at least acquisitions_per_owner,
 *     and on until the producers finish; a waiter is always woken): a watchdog aborts if
 *     nothing at all progresses for 120 s (a hang, not a slow machine).
 *
 * Two progress couplings (never timings) keep the run meaningful on two loaded CPUs, where
 * the scheduler otherwise tends to run the producers only while no owner holds anything (a
 * pthread mutex is not fair either): producers stay at most 4 items per owner step ahead,
 * and each step of a long operation waits for one delivery while producers remain. A run
 * in which nothing was ever parked fails. Runtime: ~2-4 s in Debug on 2 cores, similar
 * under TSan with the sizes tests/owner.cmake registers there.
 *
 * Usage: stress.owner [producers owners objects items_per_producer acquisitions_per_owner]
 *        (defaults 3 3 2 1000000 50000; the TSan build registers 3 3 2 500000 25000)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tsq/owner.h>

#define MAXP 16
#define MAXO 16
#define MAXK 8
#define LIMIT 16384u /* bytes: small, so the backlog fills and -ENOBUFS happens */
#define MAX_COST 2048u

#define FAIL(...)                                        \
	do {                                             \
		fprintf(stderr, "stress.owner: FAIL: "); \
		fprintf(stderr, __VA_ARGS__);            \
		fputc('\n', stderr);                     \
		abort();                                 \
	} while (0)

enum { ST_NEW = 0, ST_PROCESSED = 1, ST_REFUSED = 2 };

struct item {
	struct tsq_owner_work work; /* first: process() casts back */
	uint32_t producer;
	uint32_t seq;
	uint32_t obj;
	int state; /* ST_*, atomic */
};

struct object {
	struct tsq_owner o;
	int idx;
	int cur_owner;          /* owner thread id + 1 while owned, else 0 (atomic) */
	uint64_t cb_direct;     /* INLINE callbacks (atomic) */
	uint64_t cb_backlog;    /* DRAINED callbacks (atomic) */
	uint64_t release_cbs;   /* (atomic) */
	uint64_t flushes_ran;   /* flush/flush_every calls that returned true (atomic) */
	uint64_t refused[MAXP]; /* -ENOBUFS per producer (atomic) */
	int64_t last_seq[MAXP]; /* ordered by the owner protocol itself: plain accesses */
	uint64_t acquisitions;  /* (atomic) */
	uint64_t fast_sections; /* (atomic) */
};

static unsigned nprod = 3, nown = 3, nobj = 2;
static unsigned long nitems = 1000000, nacq = 50000;
static struct object objs[MAXK];
static struct item *items[MAXP];
static uint64_t progress;              /* anything happened (atomic) */
static int done;                       /* all workers joined (atomic) */
static int start_gate;                 /* (atomic) */
static unsigned long owner_done[MAXO]; /* acquisitions + fast sections per owner thread */
static unsigned producers_left;        /* (atomic) */
static uint64_t owner_steps;           /* steps of owner operations, all threads (atomic) */
static uint64_t delivered;             /* deliver calls returned, all producers (atomic) */

/* Which thread is this, and which object does it own right now (thread-local). */
static __thread int tl_owner_id = -1; /* owner threads: 0..nown-1 */
static __thread int tl_owning = -1;   /* object index owned by this thread, or -1 */

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static struct object *obj_of(struct tsq_owner *o)
{
	return (struct object *)((char *)o - offsetof(struct object, o));
}

static void process(struct tsq_owner *o, struct tsq_owner_work *w, enum tsq_owner_how how)
{
	struct object *ob = obj_of(o);
	struct item *it = (struct item *)w;
	int expected = ST_NEW;

	if (it->obj != (uint32_t)ob->idx)
		FAIL("item p%u#%u of object %u processed by object %d", it->producer, it->seq,
		     it->obj, ob->idx);
	if (!tsq_cmpxchg(&it->state, &expected, ST_PROCESSED, TSQ_RELAXED, TSQ_RELAXED))
		FAIL("item p%u#%u processed twice or after a refusal (state %d)", it->producer,
		     it->seq, expected);
	if ((int64_t)it->seq <= ob->last_seq[it->producer])
		FAIL("object %d: producer %u seq %u processed after seq %" PRId64 " (FIFO broken)",
		     ob->idx, it->producer, it->seq, ob->last_seq[it->producer]);
	ob->last_seq[it->producer] = it->seq;
	if (how == TSQ_OWNER_INLINE) {
		/* Run by the producer under the short lock: nobody may own the object. */
		if (tl_owner_id >= 0)
			FAIL("INLINE processing in owner thread %d", tl_owner_id);
		if (tsq_load(&ob->cur_owner, TSQ_RELAXED) != 0)
			FAIL("object %d: INLINE processing while owner %d holds it", ob->idx,
			     tsq_load(&ob->cur_owner, TSQ_RELAXED) - 1);
		tsq_counter_add_shared(&ob->cb_direct, 1);
	} else if (how == TSQ_OWNER_DRAINED) {
		if (tl_owning != ob->idx)
			FAIL("object %d: DRAINED processing by a thread that does not own it (%d, owner "
			     "thread %d)",
			     ob->idx, tl_owning, tl_owner_id);
		tsq_counter_add_shared(&ob->cb_backlog, 1);
	} else {
		FAIL("bad how %d", (int)how);
	}
}

static void release_cb(struct tsq_owner *o)
{
	struct object *ob = obj_of(o);

	if (tl_owning != ob->idx)
		FAIL("object %d: release_cb by a thread that does not own it", ob->idx);
	tsq_counter_add_shared(&ob->release_cbs, 1);
}

static const struct tsq_owner_ops ops = { process, release_cb };
static const struct tsq_owner_opts opts = { .size = sizeof(struct tsq_owner_opts), .limit = LIMIT };

/* n rounds of work the compiler cannot drop (~1-4 ns each). */
static uint64_t work_unit_n(uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		v = v * 6364136223846793005ull + 1442695040888963407ull;
	return v;
}

/* A unit of the long operation (~0.3-1 us). */
static uint64_t work_unit(uint64_t v)
{
	return work_unit_n(v, 256);
}

static void *producer(void *arg)
{
	unsigned p = (unsigned)(uintptr_t)arg;
	uint64_t rs = 0x1234567ull * (p + 1) | 1, sink = 0;

	while (!tsq_load(&start_gate, TSQ_ACQUIRE))
		sched_yield();
	for (unsigned long s = 0; s < nitems; s++) {
		uint64_t x = xorshift(&rs);
		struct item *it = &items[p][s];
		struct object *ob = &objs[x % nobj];
		uint32_t cost = 64 + (uint32_t)((x >> 8) % (MAX_COST - 64 + 1));
		uint64_t queued = (x >> 24) & 3 ? 0 :
						  (x >> 32) % LIMIT; /* the caller's rcv queue */
		int rc;

		/*
		 * Stay at most 4 items per step of the owners' long operations ahead of them: a
		 * pthread mutex is not fair, and on two CPUs producers that keep taking the short
		 * lock can starve the owners' acquire until they are done - then nothing is ever
		 * parked. Counted in steps, not operations, so producers move while an operation
		 * is under way (counting releases would line deliveries up with the moments the
		 * objects are free). A progress coupling, not a timing: it only waits for owners.
		 */
		while (tsq_load(&owner_steps, TSQ_RELAXED) * 4 + 256 < s)
			sched_yield();
		it->producer = p;
		it->seq = (uint32_t)s;
		it->obj = (uint32_t)ob->idx;
		it->state = ST_NEW;
		rc = tsq_owner_deliver(&ob->o, &it->work, cost, queued);
		tsq_counter_add_shared(&delivered, 1);
		if (rc == -ENOBUFS) {
			int expected = ST_NEW;

			/* Handed back untouched: it must not have been processed, nor be processed. */
			if (!tsq_cmpxchg(&it->state, &expected, ST_REFUSED, TSQ_RELAXED,
					 TSQ_RELAXED))
				FAIL("item p%u#%lu refused but processed", p, s);
			tsq_counter_add_shared(&ob->refused[p], 1);
			sched_yield(); /* backlog full: let the owner (maybe on this CPU) drain it */
		} else if (rc == TSQ_OWNER_PROCESSED) {
			if (tsq_load(&it->state, TSQ_RELAXED) != ST_PROCESSED)
				FAIL("item p%u#%lu: PROCESSED returned, not processed", p, s);
		} else if (rc != TSQ_OWNER_BACKLOGGED) {
			FAIL("deliver returned %d", rc);
		}
		if ((s & 255) == 0)
			tsq_counter_add_shared(&progress, 1);
		/*
		 * Some work outside the lock between deliveries (a receiver parsing the next
		 * packet): a producer that only ever held the short lock would starve the owners
		 * on two CPUs, since a pthread mutex is not fair, and nothing would get parked.
		 */
		sink += work_unit_n(x, (unsigned)(x >> 48) % 128);
	}
	tsq_fetch_sub(&producers_left, 1, TSQ_RELAXED);
	return (void *)(uintptr_t)(sink & 1); /* keeps the work */
}

static void become_owner(struct object *ob, int me)
{
	int prev = tsq_xchg(&ob->cur_owner, me + 1, TSQ_RELAXED);

	if (prev != 0)
		FAIL("object %d: owner thread %d got it while thread %d owns it", ob->idx, me,
		     prev - 1);
	tl_owning = ob->idx;
	tsq_counter_add_shared(&ob->acquisitions, 1);
}

/* Called before giving ownership up: the release may hand the object to someone at once. */
static void stop_owning(struct object *ob, int me)
{
	int prev = tsq_xchg(&ob->cur_owner, 0, TSQ_RELAXED);

	if (prev != me + 1)
		FAIL("object %d: owner thread %d releasing, but owner is %d", ob->idx, me,
		     prev - 1);
}

static uint64_t long_operation(struct object *ob, uint64_t *rs)
{
	static const unsigned every_choice[] = { 1, 4, 16 };
	uint64_t x = xorshift(rs), v = x;
	unsigned steps = 1 + (unsigned)(x % 48), every = every_choice[(x >> 8) % 3], ctr = 0;
	bool plain_flush = (x >> 16) % 4 == 0;

	for (unsigned i = 0; i < steps; i++) {
		uint64_t d0 = tsq_load(&delivered, TSQ_RELAXED);

		/*
		 * Each step lets producers move first (the counter), then waits for one delivery
		 * to anyone, so deliveries really happen while objects are owned: on a loaded
		 * two-CPU machine the scheduler otherwise tends to run producers only while no
		 * owner holds anything, and the backlog stays empty for a whole run.
		 */
		tsq_counter_add_shared(&owner_steps, 1);
		while (tsq_load(&delivered, TSQ_RELAXED) == d0 &&
		       tsq_load(&producers_left, TSQ_RELAXED) != 0)
			sched_yield();
		v = work_unit(v);
		if (plain_flush ? tsq_owner_flush(&ob->o) :
				  tsq_owner_flush_every(&ob->o, &ctr, every))
			tsq_counter_add_shared(&ob->flushes_ran, 1);
	}
	return v;
}

static void *owner(void *arg)
{
	int me = (int)(uintptr_t)arg;
	uint64_t rs = 0xabcdef12345ull * (uint64_t)(me + 1) | 1, sink = 0;

	tl_owner_id = me;
	while (!tsq_load(&start_gate, TSQ_ACQUIRE))
		sched_yield();
	/* At least nacq, and on until the producers are done, so the whole run is contended. */
	for (unsigned long a = 0; a < nacq || tsq_load(&producers_left, TSQ_RELAXED) != 0; a++) {
		uint64_t x = xorshift(&rs);
		struct object *ob = &objs[x % nobj];
		bool via_lock_fast = false;

		switch ((x >> 40) % 4) {
		case 0:
		case 1:
			tsq_owner_acquire(&ob->o);
			break;
		case 2:
			while (!tsq_owner_try_acquire(&ob->o))
				sched_yield();
			break;
		case 3:
			if (!tsq_owner_lock_fast(&ob->o)) {
				/* Fast path: short lock only; the object is not owned by anyone. */
				if (tsq_load(&ob->cur_owner, TSQ_RELAXED) != 0)
					FAIL("object %d: lock_fast fast path while owned", ob->idx);
				sink += work_unit(x);
				tsq_counter_add_shared(&ob->fast_sections, 1);
				tsq_owner_unlock_fast(&ob->o, false);
				goto next;
			}
			/* Slow path: owns it; released below by unlock_fast(true). */
			via_lock_fast = true;
			break;
		}
		become_owner(ob, me);
		sink += long_operation(ob, &rs);
		stop_owning(ob, me);
		if (via_lock_fast)
			tsq_owner_unlock_fast(&ob->o, true);
		else
			tsq_owner_release(&ob->o);
		tl_owning = -1;
next:
		tsq_store(&owner_done[me], a + 1, TSQ_RELAXED);
		tsq_counter_add_shared(&owner_steps, 1);
		tsq_counter_add_shared(&progress, 1);
		if ((x >> 50) % 8 == 0)
			sched_yield(); /* let producers see the object unowned, too */
	}
	return (void *)(uintptr_t)(sink & 1);
}

static void *watchdog(void *arg)
{
	uint64_t last = ~0ull;
	unsigned idle = 0;

	(void)arg;
	while (!tsq_load(&done, TSQ_ACQUIRE)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		uint64_t now = tsq_load(&progress, TSQ_RELAXED);

		nanosleep(&ts, NULL);
		idle = now == last ? idle + 1 : 0;
		last = now;
		if (idle == 1200) {
			fprintf(stderr, "stress.owner: no progress for 120 s; owner acquisitions:");
			for (unsigned j = 0; j < nown; j++)
				fprintf(stderr, " %lu/%lu", tsq_load(&owner_done[j], TSQ_RELAXED),
					nacq);
			fputc('\n', stderr);
			FAIL("hang: a waiter was not woken, or a deliver never returned");
		}
	}
	return NULL;
}

static unsigned long arg_ul(int argc, char **argv, int i, unsigned long def, unsigned long max)
{
	unsigned long v;
	char *end;

	if (argc <= i)
		return def;
	v = strtoul(argv[i], &end, 10);
	if (*end != '\0' || v == 0 || v > max) {
		fprintf(stderr,
			"usage: %s [producers<=%d owners<=%d objects<=%d items acquisitions]\n",
			argv[0], MAXP, MAXO, MAXK);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	pthread_t pt[MAXP], ot[MAXO], wd;
	struct timespec t0, t1;
	uint64_t tot_direct = 0, tot_backlog = 0, tot_dropped = 0, tot_flushes = 0, tot_acq = 0;
	uint64_t tot_fast = 0, tot_max = 0, processed = 0, refused = 0, tot_owner_done = 0;

	nprod = (unsigned)arg_ul(argc, argv, 1, nprod, MAXP);
	nown = (unsigned)arg_ul(argc, argv, 2, nown, MAXO);
	nobj = (unsigned)arg_ul(argc, argv, 3, nobj, MAXK);
	nitems = arg_ul(argc, argv, 4, nitems, UINT32_MAX);
	nacq = arg_ul(argc, argv, 5, nacq, UINT32_MAX);

	for (unsigned k = 0; k < nobj; k++) {
		objs[k].idx = (int)k;
		for (unsigned p = 0; p < MAXP; p++)
			objs[k].last_seq[p] = -1;
		if (tsq_owner_init(&objs[k].o, &ops, &opts) != 0)
			FAIL("init");
	}
	for (unsigned p = 0; p < nprod; p++) {
		items[p] = calloc(nitems, sizeof(struct item));
		if (items[p] == NULL)
			FAIL("out of memory");
	}
	producers_left = nprod;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pthread_create(&wd, NULL, watchdog, NULL) != 0)
		FAIL("pthread_create");
	for (unsigned p = 0; p < nprod; p++)
		if (pthread_create(&pt[p], NULL, producer, (void *)(uintptr_t)p) != 0)
			FAIL("pthread_create");
	for (unsigned j = 0; j < nown; j++)
		if (pthread_create(&ot[j], NULL, owner, (void *)(uintptr_t)j) != 0)
			FAIL("pthread_create");
	tsq_store(&start_gate, 1, TSQ_RELEASE);
	for (unsigned p = 0; p < nprod; p++)
		pthread_join(pt[p], NULL);
	for (unsigned j = 0; j < nown; j++) {
		pthread_join(ot[j], NULL);
		if (owner_done[j] < nacq)
			FAIL("owner thread %u completed %lu of %lu acquisitions", j, owner_done[j],
			     nacq);
		tot_owner_done += owner_done[j];
	}
	tsq_store(&done, 1, TSQ_RELEASE);
	pthread_join(wd, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	/* Every item: processed once or refused, never neither (the CAS ruled out both). */
	for (unsigned p = 0; p < nprod; p++)
		for (unsigned long s = 0; s < nitems; s++) {
			if (items[p][s].state == ST_PROCESSED)
				processed++;
			else if (items[p][s].state == ST_REFUSED)
				refused++;
			else
				FAIL("item p%u#%lu lost: neither processed nor handed back", p, s);
		}
	for (unsigned k = 0; k < nobj; k++) {
		struct object *ob = &objs[k];
		struct tsq_owner_stats st;
		uint64_t ref = 0;

		tsq_owner_stats(&ob->o, &st);
		for (unsigned p = 0; p < nprod; p++)
			ref += ob->refused[p];
		if (st.inline_runs != ob->cb_direct)
			FAIL("object %u: stats.inline_runs %" PRIu64
			     " != INLINE callbacks %" PRIu64,
			     k, st.inline_runs, ob->cb_direct);
		if (st.backlogged != ob->cb_backlog)
			FAIL("object %u: stats.backlogged %" PRIu64
			     " != DRAINED callbacks %" PRIu64,
			     k, st.backlogged, ob->cb_backlog);
		if (st.dropped != ref)
			FAIL("object %u: stats.dropped %" PRIu64 " != -ENOBUFS returns %" PRIu64, k,
			     st.dropped, ref);
		if (st.flushes != ob->flushes_ran)
			FAIL("object %u: stats.flushes %" PRIu64 " != flushes that ran %" PRIu64, k,
			     st.flushes, ob->flushes_ran);
		if (st.backlog_bytes != 0)
			FAIL("object %u: backlog_bytes %" PRIu64 " after the last release", k,
			     st.backlog_bytes);
		if (st.max_backlog_bytes > (uint64_t)LIMIT + MAX_COST)
			FAIL("object %u: backlog reached %" PRIu64 " > limit + largest cost", k,
			     st.max_backlog_bytes);
		/* Each release runs release_cb once, each flush that ran work once more. */
		if (ob->release_cbs != ob->acquisitions + ob->flushes_ran)
			FAIL("object %u: %" PRIu64 " release_cb calls, expected %" PRIu64, k,
			     ob->release_cbs, ob->acquisitions + ob->flushes_ran);
		if (tsq_owner_destroy(&ob->o) != 0)
			FAIL("object %u: destroy refused after the run", k);
		tot_direct += st.inline_runs;
		tot_backlog += st.backlogged;
		tot_dropped += st.dropped;
		tot_flushes += st.flushes;
		tot_acq += ob->acquisitions;
		tot_fast += ob->fast_sections;
		tot_max = st.max_backlog_bytes > tot_max ? st.max_backlog_bytes : tot_max;
	}
	if (tot_direct + tot_backlog != processed || tot_dropped != refused)
		FAIL("totals: direct %" PRIu64 " + backlogged %" PRIu64 " != processed %" PRIu64
		     " or dropped %" PRIu64 " != refused %" PRIu64,
		     tot_direct, tot_backlog, processed, tot_dropped, refused);
	if (tot_backlog == 0)
		FAIL("nothing was ever parked: the run did not test the backlog");
	if (tot_acq + tot_fast != tot_owner_done)
		FAIL("acquisitions %" PRIu64 " + fast sections %" PRIu64 " != %" PRIu64
		     " done by owners",
		     tot_acq, tot_fast, tot_owner_done);
	printf("stress.owner: OK %up x %uo on %u objects: %" PRIu64 " items: %" PRIu64
	       " direct, %" PRIu64 " backlogged, %" PRIu64 " ENOBUFS; %" PRIu64
	       " acquisitions + %" PRIu64 " fast sections, %" PRIu64
	       " flushes ran, max backlog %" PRIu64 " B; %.2f s%s\n",
	       nprod, nown, nobj, processed + refused, tot_direct, tot_backlog, tot_dropped,
	       tot_acq, tot_fast, tot_flushes, tot_max,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       tot_dropped == 0 ? " (note: no -ENOBUFS this run)" : "");
	for (unsigned p = 0; p < nprod; p++)
		free(items[p]);
	return 0;
}
