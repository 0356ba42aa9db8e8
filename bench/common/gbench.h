/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/common/gbench.h - a small C API over Google Benchmark, so that tsq's benchmark bodies are C.
 *
 * Overview
 *   Google Benchmark is C++; tsq is C. This header exposes the part of it the benchmarks
 *   use - the state loop, arguments, counters, items processed, error skips, registration
 *   with real-time measurement - as plain C functions, implemented in gbench.cc. The
 *   same file provides main(), which accepts every usual --benchmark_* flag plus:
 *     --tsq_max_producers=N   largest producer count registered (default: nproc - 1, at
 *                             least 1; the environment variable TSQ_BENCH_MAX_PRODUCERS
 *                             does the same, the flag wins)
 *     --tsq_rounds=N          run every selected benchmark once per round, N rounds
 *                             (the --benchmark_out file gets every round); the tables
 *                             then compare implementations within each round and print
 *                             the median and [min..max] of those same-round ratios
 *     --tsq_tables            after the normal report, print side-by-side tables (the
 *                             printers the scenarios installed with
 *                             GBENCH_TABLES_PRINTER); they go to stdout with the
 *                             console format and to stderr with json/csv, so that the
 *                             machine-readable output stays valid
 *
 * Usage
 *     static void bm_thing(struct gbench_state *st, const void *arg)
 *     {
 *         while (gbench_keep_running(st))
 *             do_work(arg);
 *         gbench_set_items_processed(st, gbench_iterations(st) * ITEMS);
 *     }
 *     static void register_thing(void)
 *     {
 *         gbench_use_real_time(gbench_register("thing/impl", bm_thing, NULL));
 *     }
 *     GBENCH_REGISTRAR(register_thing)
 *
 * Registrars run from main() after the flags are parsed, so they may read
 * gbench_max_producers(). Names and arguments are copied; `arg` is kept as given and must
 * outlive the run (static storage in practice).
 *
 * Threading: a gbench_state belongs to the thread that runs the benchmark function; the
 * benchmarks here start their own helper threads and only the calling thread touches st.
 */
#ifndef TSQ_BENCH_GBENCH_H
#define TSQ_BENCH_GBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gbench_state; /* benchmark::State */
struct gbench_bench; /* benchmark::internal::Benchmark */

typedef void gbench_fn(struct gbench_state *st, const void *arg);

/* ---- inside a benchmark function ------------------------------------------------------- */

/* True while another timed iteration should run (State::KeepRunning). */
bool gbench_keep_running(struct gbench_state *st);
/* Number of iterations run so far (after the loop: all of them). */
int64_t gbench_iterations(const struct gbench_state *st);
/* The i-th argument given with gbench_arg() / gbench_args(). */
int64_t gbench_range(const struct gbench_state *st, unsigned i);
/* Stop / restart the clock around work that must not be measured. */
void gbench_pause_timing(struct gbench_state *st);
void gbench_resume_timing(struct gbench_state *st);
/* Total items over all iterations: reported as items_per_second (real time with UseRealTime). */
void gbench_set_items_processed(struct gbench_state *st, int64_t items);
void gbench_set_label(struct gbench_state *st, const char *label);
/* Mark the run as failed; the loop then ends at once and the report shows msg. */
void gbench_skip_with_error(struct gbench_state *st, const char *msg);
/*
 * A failed check (a miscount, a checksum): as gbench_skip_with_error(), and tsq-bench then
 * exits with status 1, naming every failure on stderr. Skips (a peer that cannot run) are
 * not failures.
 */
void gbench_fail(struct gbench_state *st, const char *msg);
bool gbench_error_occurred(const struct gbench_state *st);

/* Counter flags: the values of benchmark::Counter::Flags (macros: 1 << 31 is no C enum). */
#define GBENCH_COUNTER_DEFAULT 0u
#define GBENCH_COUNTER_RATE (1u << 0)           /* divided by the measured time */
#define GBENCH_COUNTER_AVG_ITERATIONS (1u << 3) /* divided by the iteration count */
#define GBENCH_COUNTER_INVERT (1u << 31)        /* inverted last: a rate becomes time per unit */
void gbench_counter(struct gbench_state *st, const char *name, double value, unsigned flags);

/* ---- registration ---------------------------------------------------------------------- */

struct gbench_bench *gbench_register(const char *name, gbench_fn *fn, const void *arg);
struct gbench_bench *gbench_arg(struct gbench_bench *b, int64_t a);
struct gbench_bench *gbench_args(struct gbench_bench *b, const int64_t *a, size_t n);
/* Measure wall-clock time of the calling thread's loop (needed whenever helper threads work). */
struct gbench_bench *gbench_use_real_time(struct gbench_bench *b);
enum gbench_unit { GBENCH_NS, GBENCH_US, GBENCH_MS, GBENCH_S };
struct gbench_bench *gbench_unit(struct gbench_bench *b, enum gbench_unit u);
struct gbench_bench *gbench_min_time(struct gbench_bench *b, double seconds);

typedef void gbench_registrar_fn(void);
/* Called before main() by GBENCH_REGISTRAR; the registrar itself runs after flag parsing. */
void gbench_add_registrar(gbench_registrar_fn *fn);
#define GBENCH_REGISTRAR(fn)                                                  \
	__attribute__((constructor)) static void gbench__registrar_##fn(void) \
	{                                                                     \
		gbench_add_registrar(fn);                                     \
	}

/* ---- flags ----------------------------------------------------------------------------- */

/* --tsq_max_producers / TSQ_BENCH_MAX_PRODUCERS / nproc - 1 (at least 1). */
unsigned gbench_max_producers(void);
/* Online CPUs, as the benchmarks use for thread placement. */
unsigned gbench_nr_cpus(void);
/* --tsq_rounds (1 without it). */
unsigned gbench_rounds(void);

/* ---- results, for --tsq_tables --------------------------------------------------------- */

/*
 * One line of the report. With --benchmark_repetitions the median aggregate replaces the
 * individual repetitions (the name stays the benchmark's own name, without "_median").
 * With --tsq_rounds, items_per_second is the median over the rounds and error is set if
 * any round failed (error_message: the first).
 */
struct gbench_result {
	const char *name;
	bool error;
	const char *error_message;
	double items_per_second; /* 0 when not reported */
	double real_time_ns;     /* per iteration */
};
size_t gbench_result_count(void);
const struct gbench_result *gbench_result_at(size_t i);
/* A user counter of result i; `dflt` when it has none of that name. */
double gbench_result_counter(size_t i, const char *name, double dflt);
/* items/s of result i in round r (0 .. gbench_rounds() - 1); NAN if it failed or did not run. */
double gbench_result_round_ips(size_t i, unsigned round);
/* The first result with exactly this name, or NULL. */
const struct gbench_result *gbench_result_find(const char *name, size_t *index);

typedef void gbench_tables_fn(FILE *out);
/*
 * Install a printer for --tsq_tables: each scenario prints its own tables (the shared pieces
 * are in tables.h). Printers run by ascending rank, whatever order the linker ran the
 * constructors in; the ranks in use, which give the order of the report:
 *   10 calibrate   20 single   30 handoff   40 remote_free   50 zc
 */
void gbench_add_tables_printer(gbench_tables_fn *fn, int rank);
#define GBENCH_TABLES_PRINTER(fn, rank)                                    \
	__attribute__((constructor)) static void gbench__tables_##fn(void) \
	{                                                                  \
		gbench_add_tables_printer(fn, rank);                       \
	}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_BENCH_GBENCH_H */
