/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/check/dql_model.c - exhaustive check of the dynamic queue limits stop/restart race
 * (tsq/dql.h: tsq_dql_tx_sent vs tsq_dql_tx_completed) over every interleaving, with x86-TSO
 * store buffers. The approach of tests/check/tsq_model.c, for the kernel's
 * netdev_tx_sent_queue / netdev_tx_completed_queue pair.
 *
 * What it is
 *   A small explicit-state model checker. Two threads run the code of dql.h as steps, one
 *   shared-memory access per step, labelled as in the header:
 *     sender     sends `objects` objects of 1 byte, one tsq_dql_tx_sent() each:
 *                Q1 store num_queued + 1 (relaxed: a plain store, into the store buffer)
 *                Q2 relaxed load of the snapshot (limit, completed): avail >= 0 -> next object
 *                S1 SEQ_CST fetch_or STOPPED (a locked RMW: it waits for an empty buffer)
 *                S2 SEQ_CST load of the snapshot (the re-check): room -> X clear STOPPED
 *                   (a locked RMW) and go on (a "re-check save"); over -> stop, and wait
 *                   until STOPPED reads clear (the stack does not feed a stopped queue)
 *     completer  one tsq_dql_tx_completed() per round, for 1 byte or for everything the
 *                device has seen (both are explored: completion batching):
 *                C0 load num_queued (what the device has seen: flushed stores only), the
 *                   new limit (fixed, or grown when the round drained an over-limit queue)
 *                C1 SEQ_CST store of the snapshot (on x86 a store + mfence: the next access
 *                   waits for an empty buffer)
 *                C2 SEQ_CST load of STOPPED: clear -> round over
 *                C3 load num_queued: avail < 0 -> round over (bytes are still in flight)
 *                C4 locked RMW clear STOPPED: it was set -> RESTART
 *   The step names are the model's (the trace prints them); in dql.h's labels (R release,
 *   A acquire, S seq_cst, X acq_rel RMW; the number names the pair) they are: S1 = DQL_S1 (the
 *   sender's RMW), S2 = DQL_S2 (the sender's re-check load), C1 = DQL_S2 (the completion's
 *   store of the snapshot), C2 = DQL_S1 (the completion's load of STOPPED), C4 = DQL_X1;
 *   Q1/Q2/C0/C3 are relaxed accesses.
 *   Memory is x86-TSO: a plain store goes into the thread's FIFO store buffer and reaches
 *   memory at any later interleaving point (a "flush" step); a load reads the thread's own
 *   newest buffered value, else memory; a locked RMW or a fence waits for an empty buffer.
 *   TSO is the weakest model that still exhibits the store-buffering race the pair closes;
 *   the C11 code uses SEQ_CST on all four accesses so that it holds on weaker machines too.
 *   The search (tests/check/tso_check.h) is a depth-first search over all states, every
 *   thread's next step and every buffered store's flush being transitions, with a visited
 *   table (the graph is acyclic). Each model prints its distinct states, transitions, terminal
 *   states and complete interleavings (paths from the initial state to a terminal one, counted
 *   through the table).
 *
 * Property
 *   In every terminal state (no thread can move): every object was sent and completed, the
 *   sender is not waiting, and STOPPED is clear. A sender left waiting when everything has
 *   completed is the lost restart: the queue stopped with room and no completion pending.
 *
 * Negative twins (must FAIL, so the check cannot pass vacuously; the first trace is printed)
 *   (1) no completer barrier: C1 a plain (release) store, no mfence: C2 reads STOPPED from
 *       memory while the snapshot is still buffered, the sender's S2 reads the old snapshot.
 *   (2) no sender barrier: S1 a plain store into the buffer: S2 reads the old snapshot from
 *       memory while STOPPED is still buffered, the completer's C2 misses it.
 *   (3) no re-check: the sender stops right after S1 (the completion may have run between
 *       Q2 and S1): fails even without store buffers.
 *   Control: twins 1 and 2 without store buffers (sequential consistency) pass: their failure
 *   is the store buffer's doing, as the race analysis says.
 *
 * Exit status: 0 only if every correct model passes and every twin fails. `-v` prints the
 * trace of every violation found.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsq/dql.h>

#include "tso_check.h"

enum var { V_NQ, V_SNAP, V_STOP, NVARS };
static const char *const var_name[NVARS] = { "num_queued", "snapshot", "stopped" };

/* The snapshot (completed, limit) in one byte, as dql.h keeps it in one 64-bit word. */
#define SNAP(c, l) ((uint8_t)((c) << 4 | (l)))
#define SNAP_C(s) ((s) >> 4)
#define SNAP_L(s) ((s)&15)

#define NTHR 2

struct thr {
	uint8_t pc;
	uint8_t done;  /* sender: objects sent; completer: bytes completed */
	uint8_t limit; /* completer: its limit */
	uint8_t nq;    /* completer: num_queued read at C0 */
	struct tso_sb sb;
};

/* Only uint8_t members: no padding, so memcmp/hash over the bytes is exact. */
struct state {
	uint8_t mem[NVARS];
	uint8_t waiting;  /* ghost: the sender stopped and waits for STOPPED to clear */
	uint8_t restarts; /* ghost: RESTART returns */
	struct thr t[NTHR];
};

struct model {
	const char *name;
	uint8_t objects, limit0, grow;
	int no_cfence, no_sfence, no_recheck, sc;
};

static const struct model *M;

enum {
	COV_STOP = 1 << 0,       /* the sender stopped (S2 still over) */
	COV_SAVE = 1 << 1,       /* a re-check save */
	COV_RESTART = 1 << 2,    /* a completion restarted a waiting sender */
	COV_SPURIOUS = 1 << 3,   /* a completion cleared STOPPED while the sender runs */
	COV_STILL_OVER = 1 << 4, /* a completion saw STOPPED, but no room yet */
	COV_BATCH = 1 << 5,      /* a completion of more than one byte */
	COV_GROW = 1 << 6,       /* the limit grew */
};
static const char *const cov_name[] = {
	"stop",  "re-check save", "restart", "restart while running", "stopped, still over",
	"batch", "limit grew"
};

#define MAXDEPTH 128
#define LABEL TSO_LABEL

/* ---- TSO memory (tso_check.h) ------------------------------------------------------------ */

TSO_MEMORY_OF(struct state)

/* tsq__dql_avail_of() on the model's small numbers. */
static int avail(uint8_t nq, uint8_t snap)
{
	return (int)SNAP_L(snap) - ((int)nq - (int)SNAP_C(snap));
}

/* ---- the code ---------------------------------------------------------------------------- */

enum { Q1, Q2, S1, S2, X_CLEAR, WAIT, S_DONE };

static void next_object(struct thr *th)
{
	th->done++;
	th->pc = th->done == M->objects ? S_DONE : Q1;
}

static int sender_step(struct state *s, int t, int choice, char *lab)
{
	struct thr *th = &s->t[t];
	uint8_t v, nq;
	int a;

	if (choice != 0)
		return 0;
	switch (th->pc) {
	case Q1:
		if (!can_store(s, t))
			return 0;
		v = load(s, t, V_NQ);
		store(s, t, V_NQ, (uint8_t)(v + 1));
		snprintf(lab, LABEL, "Q1 store num_queued=%u (store buffer)", v + 1);
		th->pc = Q2;
		return 1;
	case Q2:
		v = load(s, t, V_SNAP);
		a = avail(load(s, t, V_NQ), v);
		if (a >= 0) {
			snprintf(lab, LABEL, "Q2 load snapshot (c=%u, l=%u): avail %d -> go",
				 SNAP_C(v), SNAP_L(v), a);
			next_object(th);
		} else {
			snprintf(lab, LABEL, "Q2 load snapshot (c=%u, l=%u): avail %d -> over",
				 SNAP_C(v), SNAP_L(v), a);
			th->pc = S1;
		}
		return 1;
	case S1:
		if (M->no_sfence) {
			if (!can_store(s, t))
				return 0;
			store(s, t, V_STOP, 1);
			snprintf(lab, LABEL,
				 "S1 plain store stopped=1 into the store buffer (twin)");
		} else {
			if (!can_rmw(s, t))
				return 0;
			s->mem[V_STOP] = 1;
			snprintf(lab, LABEL, "S1 SEQ_CST fetch_or STOPPED");
		}
		if (M->no_recheck) {
			strncat(lab, "; no re-check -> stop, wait", LABEL - strlen(lab) - 1);
			th->pc = WAIT;
			s->waiting = 1;
		} else {
			th->pc = S2;
		}
		return 1;
	case S2:
		v = load(s, t, V_SNAP);
		nq = load(s, t, V_NQ);
		a = avail(nq, v);
		if (a < 0) {
			snprintf(lab, LABEL,
				 "S2 load snapshot (c=%u, l=%u): avail %d -> STOPPED, wait",
				 SNAP_C(v), SNAP_L(v), a);
			tso_covered |= COV_STOP;
			th->pc = WAIT;
			s->waiting = 1;
		} else {
			snprintf(lab, LABEL,
				 "S2 load snapshot (c=%u, l=%u): avail %d -> re-check save",
				 SNAP_C(v), SNAP_L(v), a);
			tso_covered |= COV_SAVE;
			th->pc = X_CLEAR;
		}
		return 1;
	case X_CLEAR:
		if (!can_rmw(s, t))
			return 0;
		s->mem[V_STOP] = 0;
		snprintf(lab, LABEL, "clear STOPPED (locked RMW) -> go on");
		next_object(th);
		return 1;
	case WAIT: /* enabled once STOPPED reads clear: the restarted stack feeds the queue again */
		if (load(s, t, V_STOP) != 0)
			return 0;
		snprintf(lab, LABEL, "restarted: STOPPED reads 0");
		s->waiting = 0;
		next_object(th);
		return 1;
	case S_DONE:
		return 0;
	}
	abort();
}

enum { C0, C1, C1F, C2, C3, C4 };

static int completer_step(struct state *s, int t, int choice, char *lab)
{
	struct thr *th = &s->t[t];
	uint8_t nq, inflight, count, ov;

	switch (th->pc) {
	case C0:
		nq = load(s, t, V_NQ);
		inflight = (uint8_t)(nq - th->done);
		if (inflight == 0)
			return 0; /* the device has nothing: wait for a flushed Q1 */
		if (choice == 1 && inflight == 1)
			return 0;
		count = choice == 0 ? 1 : inflight;
		ov = inflight > th->limit ? (uint8_t)(inflight - th->limit) : 0;
		if (M->grow && ov != 0 && count == inflight && th->limit < 3) {
			th->limit = (uint8_t)(th->limit + ov > 3 ? 3 : th->limit + ov);
			tso_covered |= COV_GROW;
		}
		if (count > 1)
			tso_covered |= COV_BATCH;
		th->done = (uint8_t)(th->done + count);
		th->nq = nq;
		snprintf(lab, LABEL, "C0 load num_queued=%u: complete %u, limit %u", nq, count,
			 th->limit);
		th->pc = C1;
		return 1;
	default:
		break;
	}
	if (choice != 0)
		return 0;
	switch (th->pc) {
	case C1:
		if (!can_store(s, t))
			return 0;
		store(s, t, V_SNAP, SNAP(th->done, th->limit));
		if (M->no_cfence) {
			snprintf(lab, LABEL,
				 "C1 plain store snapshot (c=%u, l=%u), no fence (twin)", th->done,
				 th->limit);
			th->pc = C2;
		} else {
			snprintf(lab, LABEL, "C1 SEQ_CST store snapshot (c=%u, l=%u): mov",
				 th->done, th->limit);
			th->pc = C1F;
		}
		return 1;
	case C1F:
		if (!can_rmw(s, t))
			return 0;
		snprintf(lab, LABEL, "C1 ... + mfence");
		th->pc = C2;
		return 1;
	case C2:
		if (load(s, t, V_STOP) == 0) {
			snprintf(lab, LABEL, "C2 load stopped=0 -> round over");
			th->pc = C0;
		} else {
			snprintf(lab, LABEL, "C2 load stopped=1");
			th->pc = C3;
		}
		return 1;
	case C3:
		nq = load(s, t, V_NQ);
		if (avail(nq, SNAP(th->done, th->limit)) < 0) {
			snprintf(lab, LABEL, "C3 load num_queued=%u: avail < 0 -> round over", nq);
			tso_covered |= COV_STILL_OVER;
			th->pc = C0;
		} else {
			snprintf(lab, LABEL, "C3 load num_queued=%u: room", nq);
			th->pc = C4;
		}
		return 1;
	case C4:
		if (!can_rmw(s, t))
			return 0;
		if (s->mem[V_STOP]) {
			s->mem[V_STOP] = 0;
			s->restarts++;
			tso_covered |= s->waiting ? COV_RESTART : COV_SPURIOUS;
			snprintf(lab, LABEL, "C4 clear STOPPED: it was set -> RESTART");
		} else {
			snprintf(lab, LABEL, "C4 clear STOPPED: already clear");
		}
		th->pc = C0;
		return 1;
	}
	abort();
}

static int thread_step(struct state *s, int t, int choice, char *lab)
{
	return t == 0 ? sender_step(s, t, choice, lab) : completer_step(s, t, choice, lab);
}

/* ---- properties and search --------------------------------------------------------------- */

static const char *terminal(const void *v)
{
	const struct state *s = v;

	if (s->waiting)
		return "lost restart: the sender waits on STOPPED, every byte has completed";
	if (s->t[0].pc != S_DONE)
		return "deadlock: the sender did not finish";
	if (s->t[1].done != M->objects || s->t[1].pc != C0)
		return "deadlock: the completer did not finish";
	if (s->mem[V_STOP] != 0)
		return "the queue is left STOPPED";
	return NULL;
}

/* Move k of thread k / 3: its oldest buffered store reaches memory, or step choice 0 or 1. */
static int move(const void *from, void *to, int k, char *lab)
{
	struct state *s = to;
	int t = k / 3, kind = k % 3 - 1;

	(void)from;
	lab += sprintf(lab, "t%d ", t);
	if (kind < 0)
		return tso_flush(s->mem, &s->t[t].sb, var_name, lab);
	return thread_step(s, t, kind, lab);
}

static uint64_t run(const struct model *m)
{
	const struct tso_search search = {
		.name = m->name,
		.size = sizeof(struct state),
		.nmoves = 3 * NTHR,
		.maxdepth = MAXDEPTH,
		.move = move,
		.terminal = terminal,
	};
	struct state s0;
	uint64_t paths;

	M = m;
	tso_sc = m->sc;
	memset(&s0, 0, sizeof(s0));
	s0.mem[V_SNAP] = SNAP(0, m->limit0);
	s0.t[1].limit = m->limit0;
	printf("  %s\n", m->name);
	paths = tso_search(&search, &s0);
	tso_print_counts(paths);
	return tso_st.violations;
}

#define MODEL(nm, n, l, g, cf, sf, rc, sc_)                                                \
	{                                                                                  \
		.name = nm, .objects = (n), .limit0 = (l), .grow = (g), .no_cfence = (cf), \
		.no_sfence = (sf), .no_recheck = (rc), .sc = (sc_)                         \
	}

#define NCONFIGS 7 /* in CONFIGS() */
#define CONFIGS(prefix, cf, sf, rc, sc_)                                                       \
	{                                                                                      \
		MODEL(prefix ": 1 object, limit 0", 1, 0, 0, cf, sf, rc, sc_),                 \
			MODEL(prefix ": 2 objects, limit 0", 2, 0, 0, cf, sf, rc, sc_),        \
			MODEL(prefix ": 2 objects, limit 1", 2, 1, 0, cf, sf, rc, sc_),        \
			MODEL(prefix ": 3 objects, limit 1", 3, 1, 0, cf, sf, rc, sc_),        \
			MODEL(prefix ": 3 objects, limit 2", 3, 2, 0, cf, sf, rc, sc_),        \
			MODEL(prefix ": 3 objects, limit 0, grows", 3, 0, 1, cf, sf, rc, sc_), \
			MODEL(prefix ": 4 objects, limit 1, grows", 4, 1, 1, cf, sf, rc, sc_)  \
	}

/* A group of configurations (tso_check.h: how a group passes or fails as it must). */
TSO_GROUP_OF(struct model, run)

int main(int argc, char **argv)
{
	static const struct group groups[] = {
		{ { "stop/restart, correct code (S1/S2 vs C1/C2, all SEQ_CST)", 0,
		    COV_STOP | COV_SAVE | COV_RESTART | COV_SPURIOUS | COV_STILL_OVER | COV_BATCH |
			    COV_GROW,
		    NCONFIGS },
		  CONFIGS("correct", 0, 0, 0, 0) },
		{ { "twin 1: no completer barrier (C1 a plain store)", 1, 0, NCONFIGS },
		  CONFIGS("no-C-fence", 1, 0, 0, 0) },
		{ { "twin 2: no sender barrier (S1 a plain store)", 1, 0, NCONFIGS },
		  CONFIGS("no-S-fence", 0, 1, 0, 0) },
		{ { "twin 3: no re-check", 1, 0, NCONFIGS }, CONFIGS("no-recheck", 0, 0, 1, 0) },
		{ { "control: twins 1 and 2 without store buffers (SC) pass - the race needs them",
		    0, COV_STOP, 4 },
		  { MODEL("no-C-fence/SC: 2 objects, limit 0", 2, 0, 0, 1, 0, 0, 1),
		    MODEL("no-C-fence/SC: 3 objects, limit 1", 3, 1, 0, 1, 0, 0, 1),
		    MODEL("no-S-fence/SC: 2 objects, limit 0", 2, 0, 0, 0, 1, 0, 1),
		    MODEL("no-S-fence/SC: 3 objects, limit 1", 3, 1, 0, 0, 1, 0, 1) } },
	};

	_Static_assert(TSQ_DQL_STOPPED == 1 && TSQ_DQL_RESTART == 1, "the model's return values");
	return tso_run_groups(argc, argv, &groups[0].g, sizeof(groups) / sizeof(groups[0]),
			      sizeof(groups[0]), run_in, cov_name,
			      sizeof(cov_name) / sizeof(cov_name[0]));
}
