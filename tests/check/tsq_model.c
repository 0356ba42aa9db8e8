/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/check/tsq_model.c - exhaustive check of the TCP Small Queues restart protocol
 * (tsq/budget.h, tsq/flags.h, tsq/flow.h) over every interleaving, with x86-TSO store buffers.
 *
 * What it is
 *   A small explicit-state model checker. Each thread is the code of budget.h/flags.h/flow.h
 *   written as steps, one shared-memory access per step, labelled as in the headers:
 *     sender     S0 relaxed load of in-flight (the fast path)
 *                F1 SEQ_CST fetch_or THROTTLED   (tsq_flags_throttle; a locked RMW = full fence)
 *                B1 SEQ_CST load of in-flight     (the re-check)
 *                   over: STOP;  room: clear THROTTLED (relaxed RMW) and GO (a "re-check save")
 *     completer  C1 SEQ_CST fetch_sub in-flight; C2 SEQ_CST load of the flags;
 *                F2 CAS THROTTLED -> QUEUED (one atomic step: a CAS loop that retries only on
 *                interference has the same outcomes); the winner links the flow (L1, SEQ_CST)
 *     worker     D2 take the list (the flow's node is unlinked), F3 SEQ_CST clear QUEUED, then
 *                under the flow's short lock: owned ? F4 mark DEFERRED : send (S0/F1/B1 ...)
 *     owner      lock, owned = 1, unlock; send as owner (S0/F1/B1 ...); lock; F5 take the
 *                deferred bits (a plain load when none is set, an RMW otherwise); if DEFERRED:
 *                send (send_more from release); owned = 0; unlock
 *   The step names are the model's (the trace prints them); in the headers' labels (R release,
 *   A acquire, S seq_cst, X acq_rel RMW; the number names the pair) they are:
 *   F1 = FLAGS_S1 (tsq_flags_throttle), B1 = BUDGET_S2 (the sender's re-check load),
 *   C1 = BUDGET_S2 (the completion's uncharge), C2 = FLAGS_S1 (tsq_flags_load_seqcst),
 *   F2 = FLAGS_X3 (tsq_flags_throttled_to_queued), F3 = FLAGS_S3 (tsq_flags_unqueue),
 *   F4 = FLAGS_X4 (tsq_flags_mark_deferred), F5 = FLAGS_A4 then FLAGS_X4
 *   (tsq_flags_take_deferred: an acquire load, then an ACQ_REL CAS); L1 and D2 are defer.h's
 *   list push and drain take (DEFER_S1, DEFER_A1).
 *   Memory is x86-TSO: every plain/release store (owned, the unlock) goes into the thread's
 *   FIFO store buffer and reaches memory at any later interleaving point (a "flush" step); a
 *   load reads the thread's own newest buffered value, else memory; a locked RMW (every
 *   SEQ_CST or ACQ_REL read-modify-write, the lock's CAS) waits until the thread's buffer is
 *   empty and then acts on memory. SEQ_CST loads are plain loads on x86. TSO is enough to
 *   exhibit the store-buffering (Dekker) race; the C11 model is weaker still, which is why the
 *   code uses SEQ_CST on all four accesses rather than relying on x86. What TSO cannot show:
 *   on x86 the completer's C1 is a locked RMW whatever its C11 order, so weakening C2 (or C1)
 *   makes no difference here; that half of the argument rests on budget.h's SEQ_CST pair.
 *
 *   The checker (the store buffers and the search are tests/check/tso_check.h, shared with
 *   dql_model.c and defer_model.c) runs a depth-first search over all states, every thread's
 *   next step and every thread's flush being a separate transition, with a visited table (the
 *   state graph is acyclic; a cycle would abort the run). For each model it prints the number
 *   of distinct states, transitions, terminal states and complete interleavings (paths from
 *   the initial state to a terminal state, counted through the table).
 *
 * Models and properties
 *   (a) lost wake-up: the sender has k units of 1 byte in flight (k = 1, 2, 3), a limit <= k
 *       (so it is over at first: budget.h stops at in_flight >= limit, never with nothing in
 *       flight; one configuration with allow_one); one, two or three completers complete the
 *       k units. Property, in every terminal state: if the sender stopped, the flow was queued
 *       (every completion has run, so "a completion still to run" cannot be what restarts it).
 *       Also in every state: at most one F2 winner.
 *   (b) QUEUED single membership: two or three completers (one unit each, the flow initially
 *       THROTTLED with all units in flight), the home worker (any number of rounds) and the
 *       application owner described above (one or two own/release cycles). Property: the flow
 *       is never linked while it is already on the list (checked at each link); in every
 *       terminal state the list is empty, QUEUED and DEFERRED are clear, the flow's last
 *       budget check did not leave it stopped (no lost wake-up; a stale THROTTLED alone is
 *       harmless), nobody holds the lock or the ownership and every thread has finished.
 *
 *   (c) the learned limit moves: as (a), but the sender reads the limit (L0, relaxed, as
 *       tsq_budget_limit() reads the learned rate; the initial limit plays the startup limit
 *       before the first sample) once per check and uses it for S0 and B1,
 *       and every completion, after C2/F2, stores a new one (E1, relaxed, through the store
 *       buffer: the learning step of tsq_budget_complete()) - completer 1 lowers it to 1,
 *       the others raise it to 255. Property as (a): no restart depends on the limit's value.
 *       Its twin (no fence) must fail, as twin 1 does.
 *
 *   (d) multi-unit completions (tsq_budget_complete_n): as (a), but a completer uncharges
 *       two or three units in one C1 (the whole batch in one SEQ_CST RMW, then one C2); with
 *       a second completer of one unit in some. Property as (a). Its twin (no fence) fails.
 *
 * Negative twins (must FAIL, so the check cannot pass vacuously; their first trace is printed)
 *   (1) no fence: F1 is a plain store that sits in the store buffer, B1 a plain load. The
 *       sender reads the old in-flight from memory while its THROTTLED is still buffered, the
 *       last completion reads the flags from memory without THROTTLED: lost wake-up.
 *   (2) no re-check: the sender stops right after F1 (the 2012 code). The last completion can
 *       run between S0 and F1: lost wake-up, even without store buffers.
 *   (3) clear QUEUED before unlinking: the worker runs F3 while the node is still on the list;
 *       the owner re-throttles, a completion wins F2 and links the node a second time.
 *   (4) clear QUEUED after the handler (not asked for, kept as documentation of flow.h's
 *       order): the handler stops over budget while QUEUED is still set, the last completion
 *       sees QUEUED and leaves, F3 then clears it: lost wake-up.
 *   Control: twin 1 with the store buffers switched off (sequential consistency) passes, so
 *   twin 1's failure is the store buffer's doing, as the race analysis says.
 *
 * Exit status: 0 only if every correct model passes and every twin fails. `-v` prints the
 * trace of every violation found (by default only the first of each twin's violations).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsq/flags.h>

#include "tso_check.h"

/* Bits as in tsq/flags.h (the model keeps them in one byte). */
#define F_T 1u /* THROTTLED */
#define F_Q 2u /* QUEUED */
#define F_D 4u /* DEFERRED */
_Static_assert(F_T == TSQ_F_THROTTLED && F_Q == TSQ_F_QUEUED && F_D == TSQ_F_DEFERRED,
	       "the model's flag bits are flags.h's");

enum var { V_INFL, V_FLAGS, V_LINKS, V_LOCK, V_OWNED, V_LIMIT, NVARS };
static const char *const var_name[NVARS] = {
	"inflight", "flags", "links", "lock", "owned", "limit"
};

#define MAXT 5

enum { GO = 1, STOP = 2 };

struct thr {
	uint8_t pc;
	uint8_t sub; /* 0, or the step of the budget check in progress */
	uint8_t r;   /* last check result (GO/STOP), or a loaded value */
	uint8_t aux; /* units left to complete */
	uint8_t lim; /* model (c): the limit this check read */
	struct tso_sb sb;
};

/* Only uint8_t members: no padding, so memcmp/hash over the bytes is exact. */
struct state {
	uint8_t mem[NVARS];
	uint8_t queued;  /* ghost: F2 winners */
	uint8_t bad;     /* ghost: a link while already linked */
	uint8_t stops;   /* ghost: checks that returned STOP */
	uint8_t waiting; /* ghost: the flow's last check returned STOP (it waits for a restart) */
	struct thr t[MAXT];
};

enum role { R_SENDER, R_COMP, R_WORKER, R_OWNER };

struct model {
	const char *name;
	int nthreads;
	enum role role[MAXT];
	uint8_t units[MAXT]; /* per completer: units; for the owner: own/release cycles */
	uint8_t inflight0, flags0, limit;
	int membership;   /* model (b) */
	int no_fence;     /* twin 1 */
	int no_recheck;   /* twin 2 */
	int queued_early; /* twin 3: F3 before the unlink */
	int queued_late;  /* twin 4: F3 after the handler */
	int sc;           /* control: no store buffers (sequential consistency) */
	int allow_one;    /* budget cfg: one unit in flight may always be joined */
	int moving_limit; /* model (c): completers store a new (learned) limit, relaxed */
	uint8_t batch;    /* model (d): units per completion (C1), 0 means 1 */
};

static const struct model *M;

/* Coverage: which interesting steps the search reached at least once (not part of a state). */
enum {
	COV_STOP = 1 << 0,    /* a check stopped (B1 over) */
	COV_SAVE = 1 << 1,    /* a re-check save (B1 room after F1) */
	COV_F2 = 1 << 2,      /* a completion won THROTTLED -> QUEUED */
	COV_F2_LOST = 1 << 3, /* a completion saw THROTTLED at C2 and lost the CAS */
	COV_REQUEUE = 1 << 4, /* the flow was linked a second time (after a drain) */
	COV_F4 = 1 << 5,      /* the worker found the flow owned and marked DEFERRED */
	COV_F5 = 1 << 6,      /* the owner's release took DEFERRED and sent */
};
static const char *const cov_name[] = { "stop",     "re-check save",   "F2 won",      "F2 lost",
					"re-queue", "DEFERRED marked", "DEFERRED run" };

#define MAXDEPTH 256
#define LABEL TSO_LABEL

/* ---- TSO memory (tso_check.h) ------------------------------------------------------------ */

TSO_MEMORY_OF(struct state)

static const char *flags_str(unsigned f)
{
	static const char *const names[8] = { "0", "T", "Q", "T|Q", "D", "T|D", "Q|D", "T|Q|D" };

	return names[f & 7];
}

/* ---- the code ---------------------------------------------------------------------------- */

/*
 * tsq__budget_over() with units of 1 byte (so bytes == units): never with nothing in flight,
 * otherwise in_flight >= limit, except a single unit with allow_one.
 */
static int over(uint8_t inflight, uint8_t limit)
{
	if (inflight == 0 || inflight < limit)
		return 0;
	return !(M->allow_one && inflight <= 1);
}

/*
 * tsq_budget_may_send(): one step per call. th->sub: 0/1 S0, 2 F1, 3 B1, 4 clear THROTTLED.
 * Returns 0 if the next step cannot run now, 1 if it ran. When the check is over, th->sub is
 * 0 and th->r is GO or STOP.
 */
static int check_step(struct state *s, int t, char *lab)
{
	struct thr *th = &s->t[t];
	uint8_t v, lim = M->moving_limit ? th->lim : M->limit;

	switch (th->sub) {
	case 0:
		if (M->moving_limit) { /* L0: tsq_budget_limit()'s relaxed load of the rate */
			th->lim = load(s, t, V_LIMIT);
			snprintf(lab, LABEL, "L0 load limit=%u", th->lim);
			th->sub = 1;
			return 1;
		}
		/* fall through */
	case 1: /* S0: the fast path, relaxed */
		v = load(s, t, V_INFL);
		if (!over(v, lim)) {
			snprintf(lab, LABEL, "S0 load inflight=%u: room -> GO", v);
			th->sub = 0;
			th->r = GO;
			s->waiting = 0;
			return 1;
		}
		snprintf(lab, LABEL, "S0 load inflight=%u: over", v);
		th->sub = 2;
		return 1;
	case 2: /* F1 */
		if (M->no_fence) {
			if (!can_store(s, t))
				return 0;
			v = load(s, t, V_FLAGS);
			store(s, t, V_FLAGS, (uint8_t)(v | F_T));
			snprintf(lab, LABEL,
				 "F1 plain store flags=%s into the store buffer (no fence)",
				 flags_str(v | F_T));
		} else {
			if (!can_rmw(s, t))
				return 0;
			s->mem[V_FLAGS] |= F_T;
			snprintf(lab, LABEL, "F1 SEQ_CST fetch_or THROTTLED: flags=%s",
				 flags_str(s->mem[V_FLAGS]));
		}
		if (M->no_recheck) {
			strncat(lab, "; no re-check -> STOP", LABEL - strlen(lab) - 1);
			th->sub = 0;
			th->r = STOP;
			s->stops++;
			s->waiting = 1;
			return 1;
		}
		th->sub = 3;
		return 1;
	case 3: /* B1: the re-check, with the limit S0 used */
		v = load(s, t, V_INFL);
		if (over(v, lim)) {
			snprintf(lab, LABEL, "B1 load inflight=%u: still over -> STOP", v);
			tso_covered |= COV_STOP;
			th->sub = 0;
			th->r = STOP;
			s->stops++;
			s->waiting = 1;
			return 1;
		}
		snprintf(lab, LABEL, "B1 load inflight=%u: room (re-check save)", v);
		tso_covered |= COV_SAVE;
		th->sub = 4;
		return 1;
	case 4: /* tsq_flags_clear_throttled: a relaxed RMW is still a locked op on x86 */
		if (!can_rmw(s, t))
			return 0;
		s->mem[V_FLAGS] &= (uint8_t)~F_T;
		snprintf(lab, LABEL, "clear THROTTLED: flags=%s -> GO", flags_str(s->mem[V_FLAGS]));
		th->sub = 0;
		th->r = GO;
		s->waiting = 0;
		return 1;
	}
	abort();
}

/* Run the check at pc `at`, continue at `next` once it is over. */
#define CHECK_AT(at, next)                  \
	case at:                            \
		if (!check_step(s, t, lab)) \
			return 0;           \
		if (th->sub == 0)           \
			th->pc = (next);    \
		return 1

/* The sender of model (a): one budget check. */
static int sender_step(struct state *s, int t, char *lab)
{
	struct thr *th = &s->t[t];

	switch (th->pc) {
		CHECK_AT(0, 1);
	case 1:
		return 0; /* done */
	}
	abort();
}

/* tsq_flow_complete() for th->aux units: C1, C2, F2 and, in model (b), the link. */
static int completer_step(struct state *s, int t, char *lab)
{
	struct thr *th = &s->t[t];
	uint8_t v;

	switch (th->pc) {
	case 0: /* C1; th->r: the units this completion uncharges (model (d): several) */
		if (th->aux == 0)
			return 0;
		if (!can_rmw(s, t))
			return 0;
		th->r = M->batch > 1 && th->aux > 1 ? (th->aux < M->batch ? th->aux : M->batch) : 1;
		s->mem[V_INFL] = (uint8_t)(s->mem[V_INFL] - th->r);
		snprintf(lab, LABEL, "C1 SEQ_CST fetch_sub %u: inflight=%u", th->r, s->mem[V_INFL]);
		th->pc = 1;
		return 1;
	case 1: /* C2 */
		v = load(s, t, V_FLAGS);
		if ((v & F_T) && !(v & F_Q)) {
			snprintf(lab, LABEL, "C2 load flags=%s: throttled", flags_str(v));
			th->pc = 2;
		} else {
			snprintf(lab, LABEL, "C2 load flags=%s: nothing to do", flags_str(v));
			th->aux = (uint8_t)(th->aux - th->r);
			th->pc = M->moving_limit ? 4 : 0;
		}
		return 1;
	case 2: /* F2 */
		if (!can_rmw(s, t))
			return 0;
		v = s->mem[V_FLAGS];
		if ((v & F_T) && !(v & F_Q)) {
			s->mem[V_FLAGS] = (uint8_t)((v & ~F_T) | F_Q);
			s->queued++;
			tso_covered |= COV_F2 | (s->queued > 1 ? COV_REQUEUE : 0);
			snprintf(lab, LABEL, "F2 CAS THROTTLED->QUEUED won: flags=%s",
				 flags_str(s->mem[V_FLAGS]));
			th->pc = M->membership ? 3 : M->moving_limit ? 4 : 0;
			if (!M->membership)
				th->aux = (uint8_t)(th->aux - th->r);
		} else {
			snprintf(lab, LABEL, "F2 CAS lost: flags=%s", flags_str(v));
			tso_covered |= COV_F2_LOST;
			th->aux = (uint8_t)(th->aux - th->r);
			th->pc = M->moving_limit ? 4 : 0;
		}
		return 1;
	case 4: /* E1, model (c): the learning step stores a new rate, relaxed (store buffer) */
		if (!can_store(s, t))
			return 0;
		/* Completer 1 lowers it to 1 (any unit in flight is over), the others raise it. */
		store(s, t, V_LIMIT, t == 1 ? 1 : 255);
		snprintf(lab, LABEL, "E1 store limit=%u (store buffer)", t == 1 ? 1 : 255);
		th->pc = 0;
		return 1;
	case 3: /* L1: tsq_defer_queue's SEQ_CST splice of the flow's node */
		if (!can_rmw(s, t))
			return 0;
		if (s->mem[V_LINKS] != 0) {
			s->bad = 1;
			snprintf(lab, LABEL, "L1 link the flow: ALREADY ON THE LIST (links=%u)",
				 s->mem[V_LINKS]);
		} else {
			snprintf(lab, LABEL, "L1 link the flow on its home list");
		}
		s->mem[V_LINKS]++;
		th->aux = (uint8_t)(th->aux - th->r);
		th->pc = 0;
		return 1;
	}
	abort();
}

/* The home worker: tsq_defer_drain() + tsq__flow_run(), any number of rounds. */
static int worker_step(struct state *s, int t, char *lab)
{
	struct thr *th = &s->t[t];
	uint8_t v;

	switch (th->pc) {
	case 0:
		if (!M->queued_early) { /* D2: take the list; the node is unlinked */
			if (!can_rmw(s, t) || s->mem[V_LINKS] == 0)
				return 0;
			s->mem[V_LINKS] = 0;
			snprintf(lab, LABEL, "D2 take the list: the flow is unlinked");
			th->pc = M->queued_late ? 2 : 1;
		} else { /* twin 3: F3 while the node is still linked */
			if (!can_rmw(s, t) || load(s, t, V_LINKS) == 0)
				return 0;
			s->mem[V_FLAGS] &= (uint8_t)~F_Q;
			snprintf(lab, LABEL, "F3 clear QUEUED while still linked (twin): flags=%s",
				 flags_str(s->mem[V_FLAGS]));
			th->pc = 1;
		}
		return 1;
	case 1:
		if (!can_rmw(s, t))
			return 0;
		if (!M->queued_early) {
			s->mem[V_FLAGS] &= (uint8_t)~F_Q;
			snprintf(lab, LABEL, "F3 SEQ_CST clear QUEUED: flags=%s",
				 flags_str(s->mem[V_FLAGS]));
		} else {
			s->mem[V_LINKS] = 0;
			snprintf(lab, LABEL, "D2 take the list (twin: after F3)");
		}
		th->pc = 2;
		return 1;
	case 7: /* twin 4: F3 only after the handler */
		if (!can_rmw(s, t))
			return 0;
		s->mem[V_FLAGS] &= (uint8_t)~F_Q;
		snprintf(lab, LABEL, "F3 clear QUEUED after the handler (twin): flags=%s",
			 flags_str(s->mem[V_FLAGS]));
		th->pc = 0;
		return 1;
	case 2: /* ops->lock: CAS 0 -> 1 */
		if (!can_rmw(s, t) || s->mem[V_LOCK] != 0)
			return 0;
		s->mem[V_LOCK] = 1;
		snprintf(lab, LABEL, "worker: lock");
		th->pc = 3;
		return 1;
	case 3:
		v = load(s, t, V_OWNED);
		snprintf(lab, LABEL, "worker: load owned=%u", v);
		th->pc = v ? 4 : 5;
		return 1;
	case 4: /* F4: tsq_flags_mark_deferred */
		if (!can_rmw(s, t))
			return 0;
		s->mem[V_FLAGS] |= F_D;
		tso_covered |= COV_F4;
		snprintf(lab, LABEL, "F4 mark DEFERRED: flags=%s", flags_str(s->mem[V_FLAGS]));
		th->pc = 6;
		return 1;
		CHECK_AT(5, 6); /* send_more(FROM_WORKER) */
	case 6:                 /* ops->unlock: a plain store on x86 */
		if (!can_store(s, t))
			return 0;
		store(s, t, V_LOCK, 0);
		snprintf(lab, LABEL, "worker: unlock (store buffer)");
		th->pc = M->queued_late ? 7 : 0;
		return 1;
	}
	abort();
}

/* The application owner: own, send, release (tsq_flow_release under the short lock). */
static int owner_step(struct state *s, int t, char *lab)
{
	struct thr *th = &s->t[t];
	uint8_t v;

	switch (th->pc) {
	case 0:
	case 4: /* lock */
		if (!can_rmw(s, t) || s->mem[V_LOCK] != 0)
			return 0;
		s->mem[V_LOCK] = 1;
		snprintf(lab, LABEL, "owner: lock");
		th->pc++;
		return 1;
	case 1:
	case 7: /* owned = 1 / owned = 0 */
		if (!can_store(s, t))
			return 0;
		store(s, t, V_OWNED, th->pc == 1);
		snprintf(lab, LABEL, "owner: owned=%d (store buffer)", th->pc == 1);
		th->pc++;
		return 1;
	case 2:
	case 8: /* unlock */
		if (!can_store(s, t))
			return 0;
		store(s, t, V_LOCK, 0);
		snprintf(lab, LABEL, "owner: unlock (store buffer)");
		if (th->pc == 8 && --th->aux != 0)
			th->pc = 0; /* own it again */
		else
			th->pc++;
		return 1;
		CHECK_AT(3, 4); /* the owner sends */
	case 5: /* F5: tsq_flags_take_deferred - a load, an RMW only if something is set */
		v = load(s, t, V_FLAGS);
		if (!(v & F_D)) {
			snprintf(lab, LABEL, "F5 load flags=%s: nothing deferred", flags_str(v));
			th->pc = 7;
			return 1;
		}
		if (!can_rmw(s, t))
			return 0;
		s->mem[V_FLAGS] &= (uint8_t)~F_D;
		tso_covered |= COV_F5;
		snprintf(lab, LABEL, "F5 take DEFERRED: flags=%s", flags_str(s->mem[V_FLAGS]));
		th->pc = 6;
		return 1;
		CHECK_AT(6, 7); /* send_more(FROM_RELEASE) */
	case 9:
		return 0; /* done */
	}
	abort();
}

static int thread_step(struct state *s, int t, char *lab)
{
	switch (M->role[t]) {
	case R_SENDER:
		return sender_step(s, t, lab);
	case R_COMP:
		return completer_step(s, t, lab);
	case R_WORKER:
		return worker_step(s, t, lab);
	case R_OWNER:
		return owner_step(s, t, lab);
	}
	abort();
}

/* ---- properties ---------------------------------------------------------------------------- */

/* Checked in every state. NULL: fine. */
static const char *invariant(const void *v)
{
	const struct state *s = v;

	if (s->bad)
		return "the flow was linked while already on the list (QUEUED single membership)";
	if (!M->membership && s->queued > 1)
		return "two F2 winners for one throttle";
	return NULL;
}

/* Checked in terminal states (no step and no flush possible). */
static const char *terminal(const void *v)
{
	const struct state *s = v;

	if (!M->membership) {
		if (s->t[0].r == STOP && s->queued == 0)
			return "lost wake-up: the sender stopped, every completion has run, none queued the flow";
		return NULL;
	}
	/* THROTTLED itself may be left set (a stale one is harmless: the sender went on). */
	if (s->waiting)
		return "lost wake-up: the flow's last check stopped it, nothing is queued or in flight";
	if (s->mem[V_LINKS] != 0 || (s->mem[V_FLAGS] & F_Q))
		return "the flow is left queued";
	if (s->mem[V_FLAGS] & F_D)
		return "DEFERRED left set after the owner's release";
	if (s->mem[V_LOCK] != 0 || s->mem[V_OWNED] != 0)
		return "deadlock: the lock or the ownership is still held";
	for (int t = 0; t < M->nthreads; t++) {
		if (M->role[t] == R_OWNER && s->t[t].pc != 9)
			return "deadlock: the owner did not finish";
		if (M->role[t] == R_COMP && s->t[t].aux != 0)
			return "deadlock: a completer did not finish";
		if (M->role[t] == R_WORKER && s->t[t].pc != 0)
			return "deadlock: the worker is stuck inside a round";
	}
	return NULL;
}

/* Move k: thread k / 2's oldest buffered store reaches memory (even k), or its next step. */
static int move(const void *from, void *to, int k, char *lab)
{
	struct state *s = to;
	int t = k / 2;

	(void)from;
	lab += sprintf(lab, "t%d ", t);
	if (k % 2 == 0)
		return tso_flush(s->mem, &s->t[t].sb, var_name, lab);
	return thread_step(s, t, lab);
}

/* ---- the runs ---------------------------------------------------------------------------- */

/* Explores every interleaving of one model; returns the number of violations found. */
static uint64_t run(const struct model *m)
{
	const struct tso_search search = {
		.name = m->name,
		.size = sizeof(struct state),
		.nmoves = 2 * m->nthreads,
		.maxdepth = MAXDEPTH,
		.move = move,
		.invariant = invariant,
		.terminal = terminal,
	};
	struct state s0;
	uint64_t paths;

	M = m;
	tso_sc = m->sc;
	memset(&s0, 0, sizeof(s0));
	s0.mem[V_INFL] = m->inflight0;
	s0.mem[V_FLAGS] = m->flags0;
	s0.mem[V_LIMIT] = m->limit;
	for (int t = 0; t < m->nthreads; t++)
		s0.t[t].aux = m->units[t];

	printf("  %s\n", m->name);
	paths = tso_search(&search, &s0);
	tso_print_counts(paths);
	return tso_st.violations;
}

#define A_MODEL(nm, k, lim, ncomp, twin_fence, twin_recheck)                                    \
	{                                                                                       \
		.name = nm, .nthreads = 1 + (ncomp), .role = { R_SENDER, R_COMP, R_COMP },      \
		.units = { 0, (ncomp) == 1 ? (k) : 1, (ncomp) == 1 ? 0 : 1 }, .inflight0 = (k), \
		.flags0 = 0, .limit = (lim), .no_fence = (twin_fence),                          \
		.no_recheck = (twin_recheck)                                                    \
	}

#define A_ALLOW1(nm, k, lim)                                                           \
	{                                                                              \
		.name = nm, .nthreads = 3, .role = { R_SENDER, R_COMP, R_COMP },       \
		.units = { 0, 1, 1 }, .inflight0 = (k), .limit = (lim), .allow_one = 1 \
	}

#define A_MODEL3(nm, lim)                                                                \
	{                                                                                \
		.name = nm, .nthreads = 4, .role = { R_SENDER, R_COMP, R_COMP, R_COMP }, \
		.units = { 0, 1, 1, 1 }, .inflight0 = 3, .limit = (lim)                  \
	}

#define A_SC(nm, k, lim, ncomp)                                                                 \
	{                                                                                       \
		.name = nm, .nthreads = 1 + (ncomp), .role = { R_SENDER, R_COMP, R_COMP },      \
		.units = { 0, (ncomp) == 1 ? (k) : 1, (ncomp) == 1 ? 0 : 1 }, .inflight0 = (k), \
		.flags0 = 0, .limit = (lim), .no_fence = 1, .sc = 1                             \
	}

/* Model (d): completer 1 completes u1 units in batches of `batch`, completer 2 (if any) u2. */
#define D_MODEL_F(nm, k, lim, u1, u2, bat, twin_fence)                                        \
	{                                                                                     \
		.name = nm, .nthreads = (u2) ? 3 : 2, .role = { R_SENDER, R_COMP, R_COMP },   \
		.units = { 0, (u1), (u2) }, .inflight0 = (k), .limit = (lim), .batch = (bat), \
		.no_fence = (twin_fence)                                                      \
	}
#define D_MODEL(nm, k, lim, u1, u2, bat) D_MODEL_F(nm, k, lim, u1, u2, bat, 0)

/* Model (c): as (a), and every completion then stores a new limit (1, or 255 = never over). */
#define C_MODEL_F(nm, k, lim, ncomp, twin_fence)                                                   \
	{                                                                                          \
		.name = nm, .nthreads = 1 + (ncomp), .role = { R_SENDER, R_COMP, R_COMP, R_COMP }, \
		.units = { 0, (ncomp) == 1 ? (k) : 1, (ncomp) >= 2 ? 1 : 0,                        \
			   (ncomp) == 3 ? 1 : 0 },                                                 \
		.inflight0 = (k), .limit = (lim), .moving_limit = 1, .no_fence = (twin_fence)      \
	}
#define C_MODEL(nm, k, lim, ncomp) C_MODEL_F(nm, k, lim, ncomp, 0)

#define B_MODEL(nm, lim, early, late) B_MODEL_N(nm, 2, 1, lim, early, late)
/* n completers (one unit each, n in flight, THROTTLED), the owner owns and releases `cycles` times. */
#define B_MODEL_N(nm, n, cycles, lim, early, late)                                              \
	{                                                                                       \
		.name = nm, .nthreads = 2 + (n),                                                \
		.role = { R_OWNER, R_WORKER, R_COMP, R_COMP, R_COMP },                          \
		.units = { (cycles), 0, 1, 1, 1 }, .inflight0 = (n), .flags0 = F_T,             \
		.limit = (lim), .membership = 1, .queued_early = (early), .queued_late = (late) \
	}

/* A group of configurations (tso_check.h: how a group passes or fails as it must). */
TSO_GROUP_OF(struct model, run)

int main(int argc, char **argv)
{
	static const struct group groups[] = {
		{ { "(a) lost wake-up, correct code", 0, COV_STOP | COV_SAVE | COV_F2, 8 },
		  { A_MODEL("a: k=1 limit=1, 1 completer", 1, 1, 1, 0, 0),
		    A_MODEL("a: k=2 limit=1, 1 completer", 2, 1, 1, 0, 0),
		    A_MODEL("a: k=2 limit=2, 1 completer", 2, 2, 1, 0, 0),
		    A_MODEL("a: k=2 limit=1, 2 completers", 2, 1, 2, 0, 0),
		    A_MODEL("a: k=2 limit=2, 2 completers", 2, 2, 2, 0, 0),
		    A_ALLOW1("a: k=2 limit=1 allow_one, 2 completers", 2, 1),
		    A_MODEL3("a: k=3 limit=1, 3 completers", 1),
		    A_MODEL3("a: k=3 limit=3, 3 completers", 3) } },
		{ { "(c) the learned limit moves while the sender checks, correct code", 0,
		    COV_STOP | COV_SAVE | COV_F2, 5 },
		  { C_MODEL("c: k=1 limit=1, 1 completer", 1, 1, 1),
		    C_MODEL("c: k=2 limit=1, 1 completer", 2, 1, 1),
		    C_MODEL("c: k=2 limit=2, 2 completers", 2, 2, 2),
		    C_MODEL("c: k=2 limit=255, 2 completers", 2, 255, 2),
		    C_MODEL("c: k=3 limit=3, 3 completers", 3, 3, 3) } },
		{ { "(c) twin 1 with the moving limit: no fence", 1, 0, 2 },
		  { C_MODEL_F("c/no-fence: k=1 limit=1, 1 completer", 1, 1, 1, 1),
		    C_MODEL_F("c/no-fence: k=2 limit=2, 2 completers", 2, 2, 2, 1) } },
		{ { "(d) multi-unit completions, correct code", 0, COV_STOP | COV_SAVE | COV_F2,
		    5 },
		  { D_MODEL("d: k=2 limit=1, 1 completer of 2 at once", 2, 1, 2, 0, 2),
		    D_MODEL("d: k=2 limit=2, 1 completer of 2 at once", 2, 2, 2, 0, 2),
		    D_MODEL("d: k=3 limit=1, 1 completer of 3 at once", 3, 1, 3, 0, 3),
		    D_MODEL("d: k=3 limit=2, 2 at once + 1", 3, 2, 2, 1, 2),
		    D_MODEL("d: k=3 limit=3, 2 at once + 1", 3, 3, 2, 1, 2) } },
		{ { "(d) twin 1 with multi-unit completions: no fence", 1, 0, 2 },
		  { D_MODEL_F("d/no-fence: k=2 limit=2, 1 completer of 2 at once", 2, 2, 2, 0, 2, 1),
		    D_MODEL_F("d/no-fence: k=3 limit=3, 2 at once + 1", 3, 3, 2, 1, 2, 1) } },
		{ { "(a) twin 1: F1 a plain store, no fence", 1, 0, 5 },
		  { A_MODEL("a/no-fence: k=1 limit=1, 1 completer", 1, 1, 1, 1, 0),
		    A_MODEL("a/no-fence: k=2 limit=1, 1 completer", 2, 1, 1, 1, 0),
		    A_MODEL("a/no-fence: k=2 limit=2, 1 completer", 2, 2, 1, 1, 0),
		    A_MODEL("a/no-fence: k=2 limit=1, 2 completers", 2, 1, 2, 1, 0),
		    A_MODEL("a/no-fence: k=2 limit=2, 2 completers", 2, 2, 2, 1, 0) } },
		{ { "(a) control: twin 1 without store buffers (SC) passes - the race needs them",
		    0, COV_STOP, 2 },
		  { A_SC("a/no-fence/SC: k=1 limit=1, 1 completer", 1, 1, 1),
		    A_SC("a/no-fence/SC: k=2 limit=1, 2 completers", 2, 1, 2) } },
		{ { "(a) twin 2: no re-check", 1, 0, 5 },
		  { A_MODEL("a/no-recheck: k=1 limit=1, 1 completer", 1, 1, 1, 0, 1),
		    A_MODEL("a/no-recheck: k=2 limit=1, 1 completer", 2, 1, 1, 0, 1),
		    A_MODEL("a/no-recheck: k=2 limit=2, 1 completer", 2, 2, 1, 0, 1),
		    A_MODEL("a/no-recheck: k=2 limit=1, 2 completers", 2, 1, 2, 0, 1),
		    A_MODEL("a/no-recheck: k=2 limit=2, 2 completers", 2, 2, 2, 0, 1) } },
		{ { "(b) QUEUED single membership, correct code", 0,
		    COV_STOP | COV_SAVE | COV_F2 | COV_F2_LOST | COV_REQUEUE | COV_F4 | COV_F5, 7 },
		  { B_MODEL("b: owner + worker + 2 completers, limit=1", 1, 0, 0),
		    B_MODEL("b: owner + worker + 2 completers, limit=2", 2, 0, 0),
		    B_MODEL_N("b: owner (2 cycles) + worker + 2 completers, limit=1", 2, 2, 1, 0, 0),
		    B_MODEL_N("b: owner + worker + 3 completers, limit=1", 3, 1, 1, 0, 0),
		    B_MODEL_N("b: owner + worker + 3 completers, limit=2", 3, 1, 2, 0, 0),
		    B_MODEL_N("b: owner (2 cycles) + worker + 3 completers, limit=2", 3, 2, 2, 0, 0),
		    B_MODEL_N("b: owner (2 cycles) + worker + 3 completers, limit=3", 3, 2, 3, 0,
			      0) } },
		{ { "(b) twin 3: clear QUEUED before unlinking", 1, 0, 2 },
		  { B_MODEL("b/queued-early: limit=1", 1, 1, 0),
		    B_MODEL("b/queued-early: limit=2", 2, 1, 0) } },
		{ { "(b) twin 4: clear QUEUED after the handler", 1, 0, 2 },
		  { B_MODEL("b/queued-late: limit=1", 1, 0, 1),
		    B_MODEL("b/queued-late: limit=2", 2, 0, 1) } },
	};

	return tso_run_groups(argc, argv, &groups[0].g, sizeof(groups) / sizeof(groups[0]),
			      sizeof(groups[0]), run_in, cov_name,
			      sizeof(cov_name) / sizeof(cov_name[0]));
}
