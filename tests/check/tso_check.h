/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/check/tso_check.h - the machinery the explicit-state model checkers share
 * (tsq_model.c, dql_model.c, defer_model.c): x86-TSO store buffers, the visited table, the
 * depth-first search with its counts and trace printing, and the group verdicts.
 *
 * What a checker supplies
 *   Its state: a struct of uint8_t members only (no padding, so its bytes are the state and
 *   memcmp/hash over them is exact), with the shared memory in a `uint8_t mem[]` and one
 *   `struct tso_sb` per thread. Its moves: a `struct tso_search` whose move(from, to, k, lab)
 *   tries move k (0 .. nmoves - 1, in the order the checker wants them explored) on `to`, a
 *   copy of `from`, and returns 1 if the move was enabled, with its label written to lab
 *   (TSO_PATH_LABEL bytes). Optional callbacks name a violation: invariant() in every state
 *   (a violating state is not expanded), edge() on every transition, terminal() in every
 *   state with no enabled move.
 *
 * Memory model (x86-TSO)
 *   A plain or release store goes into the thread's FIFO store buffer (tso_store) and reaches
 *   memory at any later interleaving point (a flush move, tso_flush); a load reads the
 *   thread's own newest buffered value, else memory (tso_load); a locked RMW, a fence or a
 *   SEQ_CST store waits for an empty buffer (tso_can_rmw) and then acts on memory directly.
 *   With tso_sc set (the control runs) every store goes straight to memory.
 *
 * The search
 *   A depth-first search over all states with a visited table that also counts the complete
 *   interleavings through each state (paths from it to a terminal state). The state graph
 *   must be acyclic: a cycle or a path longer than maxdepth ends the run with exit status 2.
 *   tso_stats counts distinct states, transitions (every enabled move of every distinct
 *   state), terminal states (no enabled move, or an invariant violated) and violations. The
 *   first violation of a search prints its trace, every one with tso_verbose.
 *
 * Everything here is static: each checker is one translation unit that includes this once.
 */
#ifndef TSO_CHECK_H
#define TSO_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TSO_SB
#define TSO_SB 4 /* store-buffer depth: more than any thread here has stores between two RMWs */
#endif
#define TSO_LABEL 96                    /* what a step writes: snprintf(lab, TSO_LABEL, ...) */
#define TSO_PATH_LABEL (TSO_LABEL + 16) /* a move's label: room for a "tN " in front */

/* ---- TSO memory ------------------------------------------------------------------------ */

/* One thread's store buffer: variable, value; oldest first; unused entries are 0. */
struct tso_sb {
	uint8_t n;
	uint8_t x[TSO_SB], v[TSO_SB];
};

/* The control runs: no store buffers (sequential consistency). */
static int tso_sc;

static inline uint8_t tso_load(const uint8_t *mem, const struct tso_sb *b, int x)
{
	for (int i = b->n - 1; i >= 0; i--)
		if (b->x[i] == x)
			return b->v[i];
	return mem[x];
}

static inline int tso_can_store(const struct tso_sb *b)
{
	return b->n < TSO_SB;
}

/* A locked RMW (or mfence) may run only with an empty store buffer. */
static inline int tso_can_rmw(const struct tso_sb *b)
{
	return b->n == 0;
}

/* A plain/release store: into the buffer (the caller checks tso_can_store where it may wait). */
static inline void tso_store(uint8_t *mem, struct tso_sb *b, int x, uint8_t v)
{
	if (tso_sc) {
		mem[x] = v;
		return;
	}
	if (b->n == TSO_SB) {
		fprintf(stderr, "store buffer overflow\n");
		exit(2);
	}
	b->x[b->n] = (uint8_t)x;
	b->v[b->n] = v;
	b->n++;
}

/*
 * TSO_MEMORY_OF(state_type): a model's accessors over its state's memory (`mem`) and its
 * threads' store buffers (`t[i].sb`): load, store, can_store and can_rmw on thread t.
 */
#define TSO_MEMORY_OF(state_type)                                 \
	static uint8_t load(const state_type *s, int t, int x)    \
	{                                                         \
		return tso_load(s->mem, &s->t[t].sb, x);          \
	}                                                         \
	static void store(state_type *s, int t, int x, uint8_t v) \
	{                                                         \
		tso_store(s->mem, &s->t[t].sb, x, v);             \
	}                                                         \
	static int can_store(const state_type *s, int t)          \
	{                                                         \
		return tso_can_store(&s->t[t].sb);                \
	}                                                         \
	static int can_rmw(const state_type *s, int t)            \
	{                                                         \
		return tso_can_rmw(&s->t[t].sb);                  \
	}

/*
 * The oldest buffered store reaches memory. Returns 0 if the buffer is empty (no such move).
 * With var_name, writes "flush <name>=<value> to memory" to lab (TSO_LABEL bytes).
 */
static inline int tso_flush(uint8_t *mem, struct tso_sb *b, const char *const *var_name, char *lab)
{
	if (b->n == 0)
		return 0;
	if (var_name != NULL)
		snprintf(lab, TSO_LABEL, "flush %s=%u to memory", var_name[b->x[0]], b->v[0]);
	mem[b->x[0]] = b->v[0];
	memmove(b->x, b->x + 1, TSO_SB - 1);
	memmove(b->v, b->v + 1, TSO_SB - 1);
	b->n--;
	b->x[b->n] = 0;
	b->v[b->n] = 0;
	return 1;
}

/* ---- the search -------------------------------------------------------------------------- */

struct tso_search {
	const char *name; /* for the fatal messages */
	size_t size;      /* sizeof the state */
	int nmoves;       /* moves tried in every state, k = 0 .. nmoves - 1 */
	int maxdepth;     /* a longer path ends the run (exit 2) */
	int (*move)(const void *from, void *to, int k, char *lab);
	const char *(*invariant)(const void *s);               /* NULL: none */
	const char *(*edge)(const void *from, const void *to); /* NULL: none */
	const char *(*terminal)(const void *s);
	/* The first line of a violation's report ("    VIOLATION: " if NULL), then its text. */
	const char *violation_prefix;
	/* Prints step i (1-based) of a trace: its label and the state it led to. NULL: the label. */
	void (*print_step)(int i, const char *lab, const void *s);
};

struct tso_stats {
	uint64_t states, transitions, terminals, violations;
	int paths_saturated;
};

static struct tso_stats tso_st;
static int tso_verbose;      /* print the trace of every violation, not only the first */
static unsigned tso_covered; /* the checker's coverage bits: which steps were reached */

static const struct tso_search *tso__m;

/*
 * The visited table: open addressing, grown at half full. Per slot: the state, its hash (| 1:
 * 0 marks a free slot) and the number of complete interleavings from it.
 */
static uint8_t *tso__states;
static uint64_t *tso__hashes, *tso__paths;
static size_t tso__cap, tso__n;
#define TSO__IN_PROGRESS (UINT64_MAX - 1)

/* The current path: frame i holds the state after step i and the step's label. */
static uint8_t *tso__frames;
static size_t tso__stride;

static inline char *tso__label(int i)
{
	return (char *)tso__frames + (size_t)i * tso__stride;
}

static inline void *tso__state(int i)
{
	return tso__frames + (size_t)i * tso__stride + TSO_PATH_LABEL;
}

static inline uint64_t tso__hash(const void *s)
{
	const uint8_t *p = s;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < tso__m->size; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h | 1;
}

static inline void *tso__alloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

static inline void tso__free(void)
{
	free(tso__states);
	free(tso__hashes);
	free(tso__paths);
	free(tso__frames);
	tso__states = tso__frames = NULL;
	tso__hashes = tso__paths = NULL;
	tso__cap = tso__n = 0;
}

/* The slot where s (hash h) is, or the free slot where it would go. */
static inline size_t tso__slot(const void *s, uint64_t h)
{
	size_t size = tso__m->size, i = h & (tso__cap - 1);

	while (tso__hashes[i] != 0 &&
	       (tso__hashes[i] != h || memcmp(tso__states + i * size, s, size) != 0))
		i = (i + 1) & (tso__cap - 1);
	return i;
}

static inline void tso__grow(void)
{
	uint8_t *states = tso__states;
	uint64_t *hashes = tso__hashes, *paths = tso__paths;
	size_t cap = tso__cap, size = tso__m->size;

	tso__cap = cap ? cap * 2 : (1u << 16);
	tso__states = tso__alloc(tso__cap, size);
	tso__hashes = tso__alloc(tso__cap, sizeof(*tso__hashes));
	tso__paths = tso__alloc(tso__cap, sizeof(*tso__paths));
	for (size_t i = 0; i < cap; i++)
		if (hashes[i] != 0) {
			size_t j = tso__slot(states + i * size, hashes[i]);

			memcpy(tso__states + j * size, states + i * size, size);
			tso__hashes[j] = hashes[i];
			tso__paths[j] = paths[i];
		}
	free(states);
	free(hashes);
	free(paths);
}

/* Inserts s (hash h, not in the table yet); returns its slot. */
static inline size_t tso__insert(const void *s, uint64_t h)
{
	size_t i;

	if ((tso__n + 1) * 2 > tso__cap)
		tso__grow();
	i = tso__slot(s, h);
	memcpy(tso__states + i * tso__m->size, s, tso__m->size);
	tso__hashes[i] = h;
	tso__n++;
	return i;
}

static inline void tso__report(const char *what, int depth)
{
	const struct tso_search *m = tso__m;

	tso_st.violations++;
	if (tso_st.violations > 1 && !tso_verbose)
		return;
	printf("%s%s\n    trace (%d steps):\n",
	       m->violation_prefix ? m->violation_prefix : "    VIOLATION: ", what, depth);
	for (int i = 1; i <= depth; i++) {
		if (m->print_step != NULL)
			m->print_step(i, tso__label(i), tso__state(i));
		else
			printf("      %3d  %s\n", i, tso__label(i));
	}
}

static inline uint64_t tso__add_paths(uint64_t a, uint64_t b)
{
	if (a > UINT64_MAX - 2 - b) {
		tso_st.paths_saturated = 1;
		return UINT64_MAX - 2;
	}
	return a + b;
}

/* The state in frame `depth`: returns the number of complete interleavings from it. */
static inline uint64_t tso__dfs(int depth)
{
	const struct tso_search *m = tso__m;
	const void *s = tso__state(depth);
	uint64_t h = tso__hash(s), paths = 0;
	size_t slot = tso__slot(s, h), cap;
	const char *why = NULL;
	int moves = 0;

	if (tso__hashes[slot] != 0) {
		if (tso__paths[slot] == TSO__IN_PROGRESS) {
			fprintf(stderr, "%s: cycle in the state graph\n", m->name);
			exit(2);
		}
		return tso__paths[slot];
	}
	if (depth >= m->maxdepth) {
		fprintf(stderr, "%s: depth limit\n", m->name);
		exit(2);
	}
	slot = tso__insert(s, h);
	tso__paths[slot] = TSO__IN_PROGRESS;
	cap = tso__cap;
	tso_st.states++;

	if (m->invariant != NULL)
		why = m->invariant(s);
	if (why != NULL) {
		tso__report(why, depth);
		tso_st.terminals++;
		paths = 1;
	} else {
		for (int k = 0; k < m->nmoves; k++) {
			void *n = tso__state(depth + 1);
			char *lab = tso__label(depth + 1);

			memcpy(n, s, m->size);
			lab[0] = '\0';
			if (!m->move(s, n, k, lab))
				continue;
			moves++;
			tso_st.transitions++;
			if (m->edge != NULL && (why = m->edge(s, n)) != NULL)
				tso__report(why, depth + 1);
			paths = tso__add_paths(paths, tso__dfs(depth + 1));
		}
		if (moves == 0) {
			tso_st.terminals++;
			paths = 1;
			why = m->terminal(s);
			if (why != NULL)
				tso__report(why, depth);
		}
	}
	/* The table may have grown during the recursion: then the slot has moved. */
	if (tso__cap != cap)
		slot = tso__slot(s, h);
	tso__paths[slot] = paths;
	return paths;
}

/*
 * Explores every interleaving from s0; tso_st holds the counts afterwards. Returns the number
 * of complete interleavings (saturated: tso_st.paths_saturated). The table lives until the
 * next search or tso_done().
 */
static inline uint64_t tso_search(const struct tso_search *m, const void *s0)
{
	tso__free();
	tso__m = m;
	memset(&tso_st, 0, sizeof(tso_st));
	tso__stride = (TSO_PATH_LABEL + m->size + 7) & ~(size_t)7;
	tso__frames = tso__alloc((size_t)m->maxdepth + 1, tso__stride);
	tso__grow();
	memcpy(tso__state(0), s0, m->size);
	return tso__dfs(0);
}

static inline void tso_done(void)
{
	tso__free();
}

/* ---- the runs of tsq_model.c and dql_model.c ----------------------------------------------- */

/* The line under a model: its counts and whether it violates. */
static inline void tso_print_counts(uint64_t paths)
{
	printf("    %llu states, %llu transitions, %llu terminal states, %s%llu interleavings, "
	       "%llu violations -> %s\n",
	       (unsigned long long)tso_st.states, (unsigned long long)tso_st.transitions,
	       (unsigned long long)tso_st.terminals, tso_st.paths_saturated ? ">= " : "",
	       (unsigned long long)paths, (unsigned long long)tso_st.violations,
	       tso_st.violations ? "FAILS" : "passes");
}

/* `-v` or nothing. Returns 0, or 2 after the usage line. */
static inline int tso_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0) {
			tso_verbose = 1;
		} else {
			fprintf(stderr, "usage: %s [-v]\n", argv[0]);
			return 2;
		}
	}
	return 0;
}

/*
 * A group of configurations: a correct group passes if none violates, a twin group "fails
 * as expected" if at least one configuration exposes the bug; a correct group must also
 * reach the steps in must_cover, or it proves little.
 */
struct tso_group {
	const char *name;
	int expect_fail;
	unsigned must_cover;
	int n; /* configurations: the checker's group struct holds them after this one */
};

/*
 * TSO_GROUP_OF(model_type, run_fn): the checker's group (a tso_group followed by up to 8
 * configurations of model_type) and run_in(), which runs configuration i of a group with
 * run_fn - the glue every checker that uses tso_run_groups() needs.
 */
#define TSO_GROUP_OF(model_type, run_fn)                                       \
	struct group {                                                         \
		struct tso_group g;                                            \
		model_type m[8];                                               \
	};                                                                     \
	static uint64_t run_in(const struct tso_group *g, int i)               \
	{                                                                      \
		return run_fn(&((const struct group *)(const void *)g)->m[i]); \
	}

/* `found` of g->n configurations violated; cov_name names the coverage bits. Returns ok. */
static inline int tso_group_end(const struct tso_group *g, int found, const char *const *cov_name,
				unsigned ncov)
{
	int ok = g->expect_fail ? found > 0 : found == 0;

	printf("   reached:");
	for (unsigned c = 0; c < ncov; c++)
		if (tso_covered & (1u << c))
			printf(" [%s]", cov_name[c]);
	printf("\n");
	if ((tso_covered & g->must_cover) != g->must_cover) {
		printf("   ** the search never reached some step it must exercise (vacuous pass) **\n");
		ok = 0;
	}
	printf("== %s: %d of %d configurations violate -> %s\n\n", g->name, found, g->n,
	       ok ? (g->expect_fail ? "fails, as it must" : "passes") : "** UNEXPECTED **");
	return ok;
}

/*
 * main() of tsq_model.c and dql_model.c: `-v` or nothing, then every group, then the verdict.
 * The checker's group structs, `stride` bytes apart, each start with a struct tso_group;
 * run(g, i) explores configuration i of group g and returns its violations. Returns the exit
 * status: 0 only if every correct group passes and every twin group fails; 2 on a usage error.
 */
static inline int tso_run_groups(int argc, char **argv, const struct tso_group *first,
				 size_t ngroups, size_t stride,
				 uint64_t (*run)(const struct tso_group *g, int i),
				 const char *const *cov_name, unsigned ncov)
{
	int all_ok = 1;

	if (tso_args(argc, argv) != 0)
		return 2;
	for (size_t k = 0; k < ngroups; k++) {
		const struct tso_group *g =
			(const struct tso_group *)((const char *)first + k * stride);
		int found = 0;

		printf("== %s\n", g->name);
		tso_covered = 0;
		for (int i = 0; i < g->n; i++)
			if (run(g, i) != 0)
				found++;
		all_ok &= tso_group_end(g, found, cov_name, ncov);
	}
	tso_done();
	printf("%s\n", all_ok ? "model check: correct code passes, every negative twin fails" :
				"model check FAILED");
	return all_ok ? 0 : 1;
}

#endif /* TSO_CHECK_H */
