/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/check/defer_model.c - exhaustive check of tsq/defer.h's kick / idle protocol and of
 * its list bound, over every interleaving, with x86-TSO store buffers.
 *
 * What it is
 *   A small explicit-state model checker (the same method as tsq_model.c; the store buffers
 *   and the search are tests/check/tso_check.h). Each thread is defer.h's code written as
 *   steps, one shared-memory access per step, labelled as in the header:
 *     list producer  reserve (fetch_add count; over the bound: give back, fall back)
 *                    DEFER_S1 link (SEQ_CST CAS; remembers "was empty")
 *                    half-bound crossing -> kick; else was_empty: DEFER_S3 load idle -> kick
 *     ring producer  (a ring of C slots) full? DEFER_A3 reload head; still full: spill to the list
 *                    (the list producer's steps from the reservation on)
 *                    DEFER_S2 publish (SEQ_CST xchg of the tail; membarrier mode: a release store
 *                    into the store buffer)
 *                    crossing C/2 with its cached head: DEFER_A3 reload head, kick if still over;
 *                    else DEFER_S3 load idle -> kick
 *     kick           load kick_pending (skip if 1); DEFER_A4 CAS 0 -> 1; the hook increments the
 *                    futex word (a locked add: it is the kick a futex-on-counter owner gets)
 *     owner          loop: drain (DEFER_R4 re-arm if kick_pending and work; DEFER_A1 take the list and
 *                    give its room back; DEFER_A2 read the ring tail, DEFER_R3 store the head);
 *                    read the futex word (the snapshot); idle_enter (DEFER_R4 re-arm, DEFER_S3 SEQ_CST
 *                    store idle = 1 - membarrier mode: a plain store, then DEFER_S6 membarrier,
 *                    which waits for the owner's own buffer and then drains every other
 *                    thread's store buffer at once -, DEFER_S1/S2 look at the list and the ring tail: work -> idle = 0,
 *                    loop); sleep until the word differs from the snapshot; idle_exit
 *                    (idle = 0); loop. It stops once every producer is done and it found
 *                    nothing to do, or sleeps for ever.
 *   Memory is x86-TSO: plain and release stores (the re-arm, idle = 0, the ring head) go into
 *   the thread's FIFO store buffer and reach memory at any later point (a "flush" step); a
 *   load reads the thread's newest buffered value, else memory; a locked RMW and a SEQ_CST
 *   store (xchg or mov+mfence on x86) wait for an empty buffer and act on memory.
 *
 * Properties
 *   (a) no lost wake-up: in every terminal state every item was run (drained or fallback)
 *       - in particular the owner never sleeps for ever with work queued;
 *   (b) exact bound: the list never holds more than `bound` items (checked in every state).
 *
 * Negative twins (must FAIL; their first trace is printed)
 *   (1) the old re-arm order: idle_enter does not re-arm, idle_exit does. A producer
 *       preempted between its link and its kick kicks after the owner drained its item;
 *       kick_pending stays 1 and silences the next push's kick: lost wake-up.
 *   (2) no fence: DEFER_S3 is a plain store that sits in the store buffer; the owner reads the
 *       list before its idle mark is visible, the producer reads idle == 0: lost wake-up.
 *   (3) snapshot after idle_enter: a kick that lands between idle_enter and the read of the
 *       futex word is taken as "already seen": lost wake-up (the contract's futex rule).
 *   (4) room given back before the take (the kernel resets its count before llist_del_all):
 *       a push between the two is counted in the new epoch and lands in the old list: the
 *       list exceeds the bound.
 *   (5) membarrier mode without the membarrier: the producer's tail store waits in its
 *       store buffer while it reads idle == 0, the owner's look misses the tail: lost wake-up.
 *
 * Exit status: 0 only if every correct model passes and every twin fails. `-v` prints the
 * trace of every violation found.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tso_check.h"

enum var { V_LIST, V_COUNT, V_KP, V_IDLE, V_WORD, V_TAIL, V_HEAD, NVARS };
static const char *const var_name[NVARS] = { "list", "count", "kick_pending", "idle",
					     "word", "tail",  "head" };

#define MAXT 4

enum role { R_LIST, R_RING, R_OWNER };

struct thr {
	uint8_t pc;
	uint8_t left; /* producer: items still to push */
	uint8_t a, b; /* scratch: old count / was_empty / tail / cached head / snapshot */
	struct tso_sb sb;
};

struct state {
	uint8_t mem[NVARS];
	uint8_t ran;  /* ghost: items drained or run as a fallback */
	uint8_t over; /* ghost: the list held more than the bound */
	struct thr t[MAXT];
};

struct model {
	const char *name;
	int nthreads;
	enum role role[MAXT];
	uint8_t items[MAXT];
	uint8_t bound, ring;
	int old_rearm, no_fence, late_snapshot, early_giveback;
	int expect_fail;
	int asym;          /* membarrier mode: plain tail store and idle store, DEFER_S6 */
	int no_membarrier; /* twin 5: asym without the owner's membarrier */
};

/* ---- memory (tso_check.h) ---------------------------------------------------------------- */

static uint8_t rd(const struct state *s, int t, int v)
{
	return tso_load(s->mem, &s->t[t].sb, v);
}

static void wr_buffered(struct state *s, int t, int v, uint8_t val)
{
	tso_store(s->mem, &s->t[t].sb, v, val);
}

/* ---- steps ----------------------------------------------------------------------------- */

enum {
	/* producers */
	P_START,
	P_LINK,
	P_DECIDE,
	P_IDLE,
	P_KICK,
	P_KICK_CAS,
	P_KICK_HOOK,
	P_DONE,
	P_RING_FULL,
	P_RING_PUB,
	P_RING_HALF,
	P_RESERVE,
	/* owner */
	O_DRAIN,
	O_TAKE,
	O_GIVEBACK,
	O_RING,
	O_SNAP,
	O_REARM,
	O_IDLE_STORE,
	O_MEMBARRIER,
	O_LOOK,
	O_SLEEP,
	O_EXIT,
	O_STOP
};

static int total_items(const struct model *m)
{
	int n = 0;

	for (int i = 0; i < m->nthreads; i++)
		if (m->role[i] != R_OWNER)
			n += m->items[i];
	return n;
}

static int producers_done(const struct model *m, const struct state *s)
{
	for (int i = 0; i < m->nthreads; i++)
		if (m->role[i] != R_OWNER && s->t[i].pc != P_DONE)
			return 0;
	return 1;
}

/* The kick decision's tail: go to the kick, or finish this item. */
static void next_item(struct thr *th)
{
	th->left--;
	th->pc = th->left ? P_START : P_DONE;
}

/*
 * Try thread t's next step from s into *n. Returns 1 if the step is enabled. The label of
 * the step is written to *what for traces.
 */
static int step(const struct model *m, const struct state *s, int t, struct state *n,
		const char **what)
{
	const struct thr *th = &s->t[t];
	struct thr *nt;
	int sb_empty = th->sb.n == 0;

	*n = *s;
	nt = &n->t[t];
	switch (th->pc) {
	/* ---- list producer ---- */
	case P_START:
		if (m->role[t] == R_RING) {
			*what = "ring: full? (own tail vs cached head)";
			nt->pc = (uint8_t)((uint8_t)(rd(s, t, V_TAIL) - th->b) + 1 > m->ring ?
						   P_RING_FULL :
						   P_RING_PUB);
			return 1;
		}
		/* A list producer reserves at once. */
		/* fall through */
	case P_RESERVE:
		if (!sb_empty)
			return 0;
		*what = "reserve: fetch_add count";
		nt->a = n->mem[V_COUNT];
		if (nt->a + 1 > m->bound) {
			/* give back (another locked RMW, same step: nothing observable between) */
			n->ran++;
			next_item(nt);
			*what = "reserve: over the bound, give back, fall back";
			return 1;
		}
		n->mem[V_COUNT]++;
		nt->pc = P_LINK;
		return 1;
	case P_LINK:
		if (!sb_empty)
			return 0;
		*what = "DEFER_S1 link (SEQ_CST CAS)";
		nt->b = n->mem[V_LIST] == 0;
		n->mem[V_LIST]++;
		if (n->mem[V_LIST] > m->bound)
			n->over = 1;
		nt->pc = P_DECIDE;
		return 1;
	case P_DECIDE:
		*what = "decide: half-bound crossing or was_empty";
		if (th->a <= m->bound / 2 && m->bound / 2 < th->a + 1)
			nt->pc = P_KICK;
		else if (th->b)
			nt->pc = P_IDLE;
		else
			next_item(nt);
		return 1;
	case P_IDLE:
		*what = "DEFER_S3 load idle";
		if (rd(s, t, V_IDLE))
			nt->pc = P_KICK;
		else
			next_item(nt);
		return 1;
	/* ---- ring producer ---- */
	case P_RING_FULL:
		*what = "DEFER_A3 reload head (ring looked full)";
		nt->b = rd(s, t, V_HEAD);
		if ((uint8_t)(rd(s, t, V_TAIL) - nt->b) + 1 > m->ring) {
			nt->pc = P_RESERVE; /* spill to the shared list (bounded there) */
		} else {
			nt->pc = P_RING_PUB;
		}
		return 1;
	case P_RING_PUB: {
		uint8_t used;

		if (m->asym) {
			/* DEFER_S2, asymmetric: a release store, into the store buffer */
			if (!tso_can_store(&th->sb))
				return 0;
			*what = "DEFER_S2 publish (release store of tail)";
			nt->a = rd(s, t, V_TAIL);
			used = (uint8_t)(nt->a - th->b);
			wr_buffered(n, t, V_TAIL, (uint8_t)(nt->a + 1));
		} else {
			if (!sb_empty)
				return 0;
			*what = "DEFER_S2 publish (SEQ_CST xchg tail)";
			used = (uint8_t)(n->mem[V_TAIL] - th->b);
			nt->a = n->mem[V_TAIL];
			n->mem[V_TAIL]++;
		}
		nt->pc = used <= m->ring / 2 && m->ring / 2 < used + 1 ? P_RING_HALF : P_IDLE;
		return 1;
	}
	case P_RING_HALF:
		*what = "DEFER_A3 reload head (crossing half)";
		nt->b = rd(s, t, V_HEAD);
		nt->pc = (uint8_t)(th->a + 1 - nt->b) > m->ring / 2 ? P_KICK : P_IDLE;
		return 1;
	/* ---- the kick ---- */
	case P_KICK:
		*what = "kick: load kick_pending";
		if (rd(s, t, V_KP))
			next_item(nt); /* a kick is in flight */
		else
			nt->pc = P_KICK_CAS;
		return 1;
	case P_KICK_CAS:
		if (!sb_empty)
			return 0;
		*what = "DEFER_A4 CAS kick_pending 0 -> 1";
		if (n->mem[V_KP]) {
			next_item(nt);
			return 1;
		}
		n->mem[V_KP] = 1;
		nt->pc = P_KICK_HOOK;
		return 1;
	case P_KICK_HOOK:
		if (!sb_empty)
			return 0;
		*what = "hook: futex word += 1 (wake)";
		n->mem[V_WORD]++;
		next_item(nt);
		return 1;
	case P_DONE:
		return 0;

	/* ---- the owner ---- */
	case O_DRAIN:
		*what = "drain: DEFER_R4 re-arm if kick_pending and work";
		if (rd(s, t, V_KP) &&
		    (rd(s, t, V_LIST) || (m->ring && rd(s, t, V_TAIL) != rd(s, t, V_HEAD))))
			wr_buffered(n, t, V_KP, 0);
		nt->pc = m->early_giveback ? O_GIVEBACK : O_TAKE;
		return 1;
	case O_TAKE:
		if (!sb_empty)
			return 0;
		*what = "DEFER_A1 take the list (xchg)";
		nt->a = n->mem[V_LIST];
		n->ran += n->mem[V_LIST];
		n->mem[V_LIST] = 0;
		nt->pc = m->early_giveback ? O_RING : O_GIVEBACK;
		return 1;
	case O_GIVEBACK:
		if (!sb_empty)
			return 0;
		if (m->early_giveback) {
			/* twin 4: give back what the list holds now, before the take */
			*what = "give back (before the take!)";
			nt->a = n->mem[V_LIST];
			n->mem[V_COUNT] = (uint8_t)(n->mem[V_COUNT] - nt->a);
			nt->pc = O_TAKE;
			return 1;
		}
		*what = "give back the taken room (fetch_sub count)";
		n->mem[V_COUNT] = (uint8_t)(n->mem[V_COUNT] - th->a);
		nt->pc = O_RING;
		return 1;
	case O_RING: {
		uint8_t tail = rd(s, t, V_TAIL), head = rd(s, t, V_HEAD);

		*what = "DEFER_A2 read ring tail, DEFER_R3 store head";
		if (m->ring && tail != head) {
			n->ran = (uint8_t)(n->ran + (uint8_t)(tail - head));
			wr_buffered(n, t, V_HEAD, tail);
		}
		nt->pc = m->late_snapshot ? O_REARM : O_SNAP;
		return 1;
	}
	case O_SNAP:
		*what = "snapshot the futex word";
		nt->b = rd(s, t, V_WORD);
		nt->pc = m->late_snapshot ? O_SLEEP : O_REARM;
		return 1;
	case O_REARM:
		*what = "idle_enter: DEFER_R4 re-arm";
		if (!m->old_rearm && rd(s, t, V_KP))
			wr_buffered(n, t, V_KP, 0);
		nt->pc = O_IDLE_STORE;
		return 1;
	case O_IDLE_STORE:
		*what = m->no_fence ? "DEFER_S3 idle = 1 (plain store: twin 2)" :
			m->asym     ? "DEFER_S3 idle = 1 (plain store, membarrier next)" :
				      "DEFER_S3 idle = 1 (SEQ_CST)";
		if (m->no_fence || m->asym) {
			if (!tso_can_store(&th->sb))
				return 0;
			wr_buffered(n, t, V_IDLE, 1);
		} else {
			if (!sb_empty)
				return 0;
			n->mem[V_IDLE] = 1;
		}
		nt->pc = m->asym && !m->no_membarrier ? O_MEMBARRIER : O_LOOK;
		return 1;
	case O_MEMBARRIER:
		/*
		 * DEFER_S6: the syscall is a full barrier for the caller (its buffer drains first)
		 * and runs one on every other thread: every store buffer reaches memory.
		 */
		if (!sb_empty)
			return 0;
		*what = "DEFER_S6 membarrier: every store buffer drains";
		for (int i = 0; i < m->nthreads; i++)
			while (tso_flush(n->mem, &n->t[i].sb, NULL, NULL))
				;
		nt->pc = O_LOOK;
		return 1;
	case O_LOOK:
		*what = "DEFER_S1/S2 look for work (list, ring tail)";
		if (rd(s, t, V_LIST) || (m->ring && rd(s, t, V_TAIL) != rd(s, t, V_HEAD))) {
			wr_buffered(n, t, V_IDLE, 0);
			nt->pc = O_DRAIN;
		} else if (producers_done(m, s) && s->ran == total_items(m)) {
			nt->pc = O_STOP; /* nothing left anywhere: the run is over */
		} else {
			nt->pc = m->late_snapshot ? O_SNAP : O_SLEEP;
		}
		return 1;
	case O_SLEEP:
		/* futex_wait(word, snapshot): returns once the word differs */
		if (rd(s, t, V_WORD) == th->b)
			return 0;
		*what = "woken (word != snapshot)";
		nt->pc = O_EXIT;
		return 1;
	case O_EXIT:
		*what = "idle_exit: idle = 0";
		wr_buffered(n, t, V_IDLE, 0);
		if (m->old_rearm && rd(s, t, V_KP))
			wr_buffered(n, t, V_KP, 0); /* twin 1: the old re-arm (K3) */
		nt->pc = O_DRAIN;
		return 1;
	case O_STOP:
		return 0;
	}
	return 0;
}

/* ---- search (tso_check.h) ---------------------------------------------------------------- */

static const struct model *M;

/* Moves 0 .. nthreads - 1: each thread's next step; then each thread's oldest buffered store. */
static int move(const void *from, void *to, int k, char *lab)
{
	struct state *n = to;
	const char *what = NULL;

	if (k < M->nthreads) {
		if (!step(M, from, k, n, &what))
			return 0;
		strcpy(lab, what); /* a short literal */
		return 1;
	}
	strcpy(lab, "(store buffer flush)");
	return tso_flush(n->mem, &n->t[k - M->nthreads].sb, NULL, lab);
}

/* The bound, on every transition: the list holds more than `bound` items. */
static const char *edge(const void *from, const void *to)
{
	const struct state *s = from, *n = to;
	static char why[96];

	if (!n->over || s->over)
		return NULL;
	snprintf(why, sizeof(why), "the list holds %u items, bound %u", n->mem[V_LIST], M->bound);
	return why;
}

/* No lost wake-up: no step and no flush enabled, and every item has run. */
static const char *terminal(const void *v)
{
	const struct state *s = v;
	static char why[96];

	if (s->ran == total_items(M))
		return NULL;
	snprintf(why, sizeof(why), "terminal with %u of %d items run (owner asleep, work queued)",
		 s->ran, total_items(M));
	return why;
}

static void print_step(int i, const char *lab, const void *v)
{
	const struct state *s = v;

	printf("      %2d: %-44s", i, lab);
	for (int x = 0; x < NVARS; x++)
		if (x != V_TAIL && x != V_HEAD ? 1 : M->ring != 0)
			printf(" %s=%u", var_name[x], s->mem[x]);
	printf(" ran=%u\n", s->ran);
}

/* Depth-first search; returns the number of violations. */
static uint64_t search(const struct model *m)
{
	const struct tso_search search = {
		.name = m->name,
		.size = sizeof(struct state),
		.nmoves = 2 * m->nthreads,
		.maxdepth = 4096,
		.move = move,
		.edge = edge,
		.terminal = terminal,
		.violation_prefix = "  violation: ",
		.print_step = print_step,
	};
	struct state s0;

	M = m;
	memset(&s0, 0, sizeof(s0));
	for (int i = 0; i < m->nthreads; i++) {
		s0.t[i].left = m->items[i];
		s0.t[i].pc = m->role[i] == R_OWNER ? O_DRAIN : (m->items[i] ? P_START : P_DONE);
	}
	tso_search(&search, &s0);
	return tso_st.violations;
}

int main(int argc, char **argv)
{
	const struct model models[] = {
		{ "two list producers x2 items, bound 2",
		  3,
		  { R_OWNER, R_LIST, R_LIST },
		  { 0, 2, 2 },
		  2,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0 },
		{ "three list producers x1 item, bound 2",
		  4,
		  { R_OWNER, R_LIST, R_LIST, R_LIST },
		  { 0, 1, 1, 1 },
		  2,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0 },
		{ "list producer x3, bound 4",
		  2,
		  { R_OWNER, R_LIST },
		  { 0, 3 },
		  4,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0 },
		{ "ring producer x3 (2 slots) + list producer x2",
		  3,
		  { R_OWNER, R_RING, R_LIST },
		  { 0, 3, 2 },
		  2,
		  2,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0 },
		{ "ring producer x4 (4 slots)",
		  2,
		  { R_OWNER, R_RING },
		  { 0, 4 },
		  2,
		  4,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0 },
		{ "twin 1: old re-arm order (idle_exit, not idle_enter)",
		  3,
		  { R_OWNER, R_LIST, R_LIST },
		  { 0, 2, 2 },
		  2,
		  0,
		  1,
		  0,
		  0,
		  0,
		  1,
		  0,
		  0 },
		{ "twin 1 on the ring path",
		  2,
		  { R_OWNER, R_RING },
		  { 0, 4 },
		  2,
		  2,
		  1,
		  0,
		  0,
		  0,
		  1,
		  0,
		  0 },
		{ "twin 2: DEFER_S3 (idle store) without a fence",
		  2,
		  { R_OWNER, R_LIST },
		  { 0, 2 },
		  2,
		  0,
		  0,
		  1,
		  0,
		  0,
		  1,
		  0,
		  0 },
		{ "twin 2 on the ring path",
		  2,
		  { R_OWNER, R_RING },
		  { 0, 2 },
		  2,
		  4,
		  0,
		  1,
		  0,
		  0,
		  1,
		  0,
		  0 },
		{ "twin 3: futex word read after idle_enter",
		  2,
		  { R_OWNER, R_LIST },
		  { 0, 2 },
		  2,
		  0,
		  0,
		  0,
		  1,
		  0,
		  1,
		  0,
		  0 },
		{ "twin 4: room given back before the take",
		  3,
		  { R_OWNER, R_LIST, R_LIST },
		  { 0, 2, 2 },
		  2,
		  0,
		  0,
		  0,
		  0,
		  1,
		  1,
		  0,
		  0 },
		{ "membarrier: ring producer x3 (2 slots, spills) + list producer x2",
		  3,
		  { R_OWNER, R_RING, R_LIST },
		  { 0, 3, 2 },
		  2,
		  2,
		  0,
		  0,
		  0,
		  0,
		  0,
		  1,
		  0 },
		{ "membarrier: ring producer x4 (4 slots)",
		  2,
		  { R_OWNER, R_RING },
		  { 0, 4 },
		  2,
		  4,
		  0,
		  0,
		  0,
		  0,
		  0,
		  1,
		  0 },
		{ "membarrier: two list producers x2 items, bound 2",
		  3,
		  { R_OWNER, R_LIST, R_LIST },
		  { 0, 2, 2 },
		  2,
		  0,
		  0,
		  0,
		  0,
		  0,
		  0,
		  1,
		  0 },
		{ "twin 5: membarrier mode without the membarrier (ring path)",
		  2,
		  { R_OWNER, R_RING },
		  { 0, 2 },
		  2,
		  4,
		  0,
		  0,
		  0,
		  0,
		  1,
		  1,
		  1 },
	};
	int failed = 0;

	tso_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		const struct model *m = &models[i];
		unsigned long long bad;

		printf("%s:\n", m->name);
		bad = search(m);
		printf("  %llu states, %llu transitions, %llu terminal; %llu violations -> %s\n",
		       (unsigned long long)tso_st.states, (unsigned long long)tso_st.transitions,
		       (unsigned long long)tso_st.terminals, bad,
		       m->expect_fail ?
			       (bad ? "fails, as it must" : "PASSES: the twin should fail!") :
			       (bad ? "FAILED" : "ok"));
		if ((bad != 0) != (m->expect_fail != 0))
			failed++;
	}
	tso_done();
	printf("%s\n", failed ? "defer model check: FAILED" :
				"defer model check: all models ok, all twins fail");
	return failed ? 1 : 0;
}
