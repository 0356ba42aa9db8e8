// SPDX-License-Identifier: BSD-2-Clause
//
// bench/common/gbench.cc - the C API of gbench.h over Google Benchmark, and tsq-bench's main().
//
// Everything here is glue: each C function forwards to the matching benchmark:: call. Two
// pieces have a reason to exist beyond that:
//   - a reporter that sits in front of Google Benchmark's own (console/json/csv, chosen by
//     the usual flags). It drops the "/real_time" suffix Google Benchmark appends to the
//     names of UseRealTime benchmarks, so reports carry the documented names
//     (handoff/tsq_llist/producers:1), and it keeps a copy of every result for --tsq_tables;
//   - main(), which takes tsq's own flags out of argv before Google Benchmark sees them, and
//     runs --tsq_rounds=N rounds: every selected benchmark once per round, in order, so that
//     the tables can compare implementations within a round (this machine's speed swings by
//     several times from one round to the next; a ratio taken within one round does not).
//     With rounds, Google Benchmark is called once per round, so the --benchmark_out file is
//     written here (one report for all rounds), not by Google Benchmark (which would truncate
//     it each round).

#include "gbench.h"
#include "stats.h"

#include <benchmark/benchmark.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

benchmark::State *S(struct gbench_state *st) { return reinterpret_cast<benchmark::State *>(st); }
const benchmark::State *S(const struct gbench_state *st)
{
	return reinterpret_cast<const benchmark::State *>(st);
}
benchmark::internal::Benchmark *B(struct gbench_bench *b)
{
	return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}
struct gbench_bench *C(benchmark::internal::Benchmark *b)
{
	return reinterpret_cast<struct gbench_bench *>(b);
}

// Function-local statics: constructors in the C files call in here before main(), in an
// order the linker chooses, so nothing may rely on namespace-scope initialisation order.
std::vector<gbench_registrar_fn *> &registrars()
{
	static std::vector<gbench_registrar_fn *> v;
	return v;
}
struct Printer {
	int rank;
	gbench_tables_fn *fn;
};
std::vector<Printer> &tables_printers()
{
	static std::vector<Printer> v;
	return v;
}

unsigned g_max_producers;
unsigned g_nr_cpus;
unsigned g_rounds = 1; // --tsq_rounds
unsigned g_round;      // the round now running
// gbench_fail() calls: the run exits non-zero and names them at the end.
std::vector<std::string> g_failures;
std::string g_current; // name of the benchmark function running now (the main thread's)

struct Result {
	int64_t family;   // registration order of the benchmark
	int64_t instance; // its argument set within the family
	std::string name;
	std::string error_message;
	gbench_result c; // points into the strings above once the results are final
	std::map<std::string, double> counters;
	std::vector<double> round_ips; // items/s per round; NAN: failed or not run that round
};
std::vector<Result> g_results;

double to_ns(double t, benchmark::TimeUnit u)
{
	switch (u) {
	case benchmark::kNanosecond:
		return t;
	case benchmark::kMicrosecond:
		return t * 1e3;
	case benchmark::kMillisecond:
		return t * 1e6;
	case benchmark::kSecond:
		return t * 1e9;
	}
	return t;
}

// Forwards to Google Benchmark's reporter of the requested format (and to the file reporter
// of --benchmark_out, if any); renames and records. Over several rounds, the context is
// reported once and Finalize() waits for the last round (finish()).
class TsqReporter : public benchmark::BenchmarkReporter {
public:
	TsqReporter(benchmark::BenchmarkReporter *inner, benchmark::BenchmarkReporter *file, bool record)
		: inner_(inner), file_(file), record_(record)
	{
	}

	bool ReportContext(const Context &context) override
	{
		if (context_done_)
			return true;
		context_done_ = true;
		inner_->SetOutputStream(&GetOutputStream());
		inner_->SetErrorStream(&GetErrorStream());
		if (file_ != nullptr)
			file_->ReportContext(context);
		return inner_->ReportContext(context);
	}

	void ReportRuns(const std::vector<Run> &reports) override
	{
		std::vector<Run> renamed(reports);

		for (Run &r : renamed)
			r.run_name.time_type.clear();
		inner_->ReportRuns(renamed);
		if (file_ != nullptr)
			file_->ReportRuns(renamed);
		if (record_)
			for (const Run &r : renamed)
				Record(r);
	}

	void Finalize() override {}

	void finish()
	{
		inner_->Finalize();
		if (file_ != nullptr)
			file_->Finalize();
	}

private:
	static void Record(const Run &r)
	{
		const std::string name = r.run_name.str();
		bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";

		// Keep plain iterations (the last repetition wins) until a median arrives; other
		// aggregates (mean, stddev, cv) are not what a side-by-side table shows.
		if (r.run_type == Run::RT_Aggregate && !median)
			return;
		Result *slot = nullptr;
		for (Result &x : g_results)
			if (x.name == name)
				slot = &x;
		if (slot == nullptr) {
			g_results.emplace_back();
			slot = &g_results.back();
			slot->name = name;
			slot->family = r.family_index;
			slot->instance = r.per_family_instance_index;
		}
		// An error in any round marks the result (the first message is kept).
		if (r.error_occurred && !slot->c.error) {
			slot->error_message = r.error_message;
			slot->c.error = true;
		}
		slot->c.real_time_ns = to_ns(r.GetAdjustedRealTime(), r.time_unit);
		slot->counters.clear();
		for (const auto &kv : r.counters)
			slot->counters[kv.first] = kv.second.value;
		auto it = slot->counters.find("items_per_second");
		double ips = it != slot->counters.end() ? it->second : 0.0;
		if (slot->round_ips.size() < g_round + 1)
			slot->round_ips.resize(g_round + 1, NAN);
		slot->round_ips[g_round] = r.error_occurred ? NAN : ips;
	}

	benchmark::BenchmarkReporter *inner_;
	benchmark::BenchmarkReporter *file_;
	bool record_;
	bool context_done_ = false;
};

// Median of the finite values (stats.h; 0 when there are none).
double median_of(std::vector<double> v)
{
	struct bench_summary s;

	return bench_summary_f64(v.data(), v.size(), &s) ? s.median : 0.0;
}

// The reporter Google Benchmark would create for --benchmark_out_format (it does not export
// that factory for file output, so the three formats are spelled out here).
std::unique_ptr<benchmark::BenchmarkReporter> make_file_reporter(const std::string &format)
{
	if (format == "console")
		return std::unique_ptr<benchmark::BenchmarkReporter>(
			new benchmark::ConsoleReporter(benchmark::ConsoleReporter::OO_None));
	if (format == "csv") {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		return std::unique_ptr<benchmark::BenchmarkReporter>(new benchmark::CSVReporter());
#pragma GCC diagnostic pop
	}
	return std::unique_ptr<benchmark::BenchmarkReporter>(new benchmark::JSONReporter());
}

unsigned count_cpus()
{
	cpu_set_t set;

	// The affinity mask, not the machine: taskset and cgroup cpusets shrink what we may use.
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1u;
}

bool parse_uint(const char *s, unsigned *out, long max)
{
	char *end = nullptr;
	long v = std::strtol(s, &end, 10);

	if (end == s || *end != '\0' || v < 1 || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

bool parse_producers(const char *s, unsigned *out) { return parse_uint(s, out, 256); }

// Reports drop "/real_time" (TsqReporter), but --benchmark_filter still matches Google
// Benchmark's own names, which end in it: an end anchor would never match. Let "$" mean the
// end of the name as reported.
std::string filter_for_reported_names(const std::string &f)
{
	std::string out;

	for (size_t i = 0; i < f.size(); i++) {
		if (f[i] == '\\' && i + 1 < f.size()) {
			out += f.substr(i, 2);
			i++;
		} else if (f[i] == '$') {
			out += "(/real_time)?$";
		} else {
			out += f[i];
		}
	}
	return out;
}

void print_help()
{
	benchmark::PrintDefaultHelp();
	std::fprintf(stdout,
		     "tsq-bench flags:\n"
		     "  [--tsq_max_producers=<1..256>]  largest producer count (default: nproc - 1;\n"
		     "                                  env TSQ_BENCH_MAX_PRODUCERS)\n"
		     "  [--tsq_tables]                  print side-by-side tables after the run\n"
		     "  [--tsq_rounds=<1..1000>]        run every selected benchmark once per round,\n"
		     "                                  N rounds; tables give same-round ratios\n"
		     "                                  (median [min..max] over the rounds)\n");
}

} // namespace

extern "C" {

bool gbench_keep_running(struct gbench_state *st) { return S(st)->KeepRunning(); }
int64_t gbench_iterations(const struct gbench_state *st) { return (int64_t)S(st)->iterations(); }
int64_t gbench_range(const struct gbench_state *st, unsigned i) { return S(st)->range(i); }
void gbench_pause_timing(struct gbench_state *st) { S(st)->PauseTiming(); }
void gbench_resume_timing(struct gbench_state *st) { S(st)->ResumeTiming(); }
void gbench_set_items_processed(struct gbench_state *st, int64_t items)
{
	S(st)->SetItemsProcessed(items);
}
void gbench_set_label(struct gbench_state *st, const char *label) { S(st)->SetLabel(label); }
void gbench_skip_with_error(struct gbench_state *st, const char *msg) { S(st)->SkipWithError(msg); }
void gbench_fail(struct gbench_state *st, const char *msg)
{
	std::string m = std::string("FAILED: ") + msg;

	g_failures.push_back(g_current + ": " + msg);
	S(st)->SkipWithError(m.c_str());
}
bool gbench_error_occurred(const struct gbench_state *st) { return S(st)->error_occurred(); }

void gbench_counter(struct gbench_state *st, const char *name, double value, unsigned flags)
{
	S(st)->counters[name] = benchmark::Counter(value, (benchmark::Counter::Flags)flags);
}

struct gbench_bench *gbench_register(const char *name, gbench_fn *fn, const void *arg)
{
	std::string copy(name);

	return C(benchmark::RegisterBenchmark(name, [fn, arg, copy](benchmark::State &st) {
		g_current = copy;
		fn(reinterpret_cast<struct gbench_state *>(&st), arg);
		// Which round this run belongs to, in every report (the JSON has one entry per round).
		if (g_rounds > 1)
			st.counters["tsq_round"] = benchmark::Counter((double)g_round);
	}));
}
struct gbench_bench *gbench_arg(struct gbench_bench *b, int64_t a) { return C(B(b)->Arg(a)); }
struct gbench_bench *gbench_args(struct gbench_bench *b, const int64_t *a, size_t n)
{
	return C(B(b)->Args(std::vector<int64_t>(a, a + n)));
}
struct gbench_bench *gbench_use_real_time(struct gbench_bench *b) { return C(B(b)->UseRealTime()); }
struct gbench_bench *gbench_unit(struct gbench_bench *b, enum gbench_unit u)
{
	static const benchmark::TimeUnit units[] = {benchmark::kNanosecond, benchmark::kMicrosecond,
						    benchmark::kMillisecond, benchmark::kSecond};
	return C(B(b)->Unit(units[u]));
}
struct gbench_bench *gbench_min_time(struct gbench_bench *b, double seconds)
{
	return C(B(b)->MinTime(seconds));
}

void gbench_add_registrar(gbench_registrar_fn *fn) { registrars().push_back(fn); }
void gbench_add_tables_printer(gbench_tables_fn *fn, int rank) { tables_printers().push_back({rank, fn}); }

unsigned gbench_max_producers(void) { return g_max_producers; }
unsigned gbench_nr_cpus(void) { return g_nr_cpus; }
unsigned gbench_rounds(void) { return g_rounds; }

size_t gbench_result_count(void) { return g_results.size(); }
const struct gbench_result *gbench_result_at(size_t i)
{
	return i < g_results.size() ? &g_results[i].c : nullptr;
}
double gbench_result_counter(size_t i, const char *name, double dflt)
{
	if (i >= g_results.size())
		return dflt;
	auto it = g_results[i].counters.find(name);
	return it != g_results[i].counters.end() ? it->second : dflt;
}
double gbench_result_round_ips(size_t i, unsigned round)
{
	if (i >= g_results.size() || round >= g_results[i].round_ips.size())
		return NAN;
	return g_results[i].round_ips[round];
}
const struct gbench_result *gbench_result_find(const char *name, size_t *index)
{
	for (size_t i = 0; i < g_results.size(); i++)
		if (g_results[i].name == name) {
			if (index != nullptr)
				*index = i;
			return &g_results[i].c;
		}
	return nullptr;
}

} // extern "C"

int main(int argc, char **argv)
{
	bool tables = false;
	std::string out_file, out_format = "json";
	int kept = 1;

	g_nr_cpus = count_cpus();
	g_max_producers = g_nr_cpus > 1 ? g_nr_cpus - 1 : 1;
	if (const char *env = std::getenv("TSQ_BENCH_MAX_PRODUCERS")) {
		if (!parse_producers(env, &g_max_producers)) {
			std::fprintf(stderr, "tsq-bench: TSQ_BENCH_MAX_PRODUCERS=%s: want 1..256\n", env);
			return 1;
		}
	}
	// Take tsq's flags out, and the two --benchmark_out ones: that file is written here.
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (std::strcmp(a, "--tsq_tables") == 0 || std::strcmp(a, "--tsq_tables=true") == 0) {
			tables = true;
			continue;
		}
		if (std::strncmp(a, "--tsq_rounds=", 13) == 0) {
			if (!parse_uint(a + 13, &g_rounds, 1000)) {
				std::fprintf(stderr, "tsq-bench: %s: want 1..1000\n", a);
				return 1;
			}
			continue;
		}
		if (std::strncmp(a, "--tsq_max_producers=", 20) == 0) {
			if (!parse_producers(a + 20, &g_max_producers)) {
				std::fprintf(stderr, "tsq-bench: %s: want 1..256\n", a);
				return 1;
			}
			continue;
		}
		if (std::strncmp(a, "--benchmark_out=", 16) == 0) {
			out_file = a + 16;
			continue;
		}
		if (std::strncmp(a, "--benchmark_out_format=", 23) == 0) {
			out_format = a + 23;
			if (out_format != "json" && out_format != "csv" && out_format != "console") {
				std::fprintf(stderr, "tsq-bench: %s: want json, csv or console\n", a);
				return 1;
			}
			continue;
		}
		argv[kept++] = argv[i];
	}
	argc = kept;
	argv[argc] = nullptr;

	benchmark::Initialize(&argc, argv, print_help);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::SetBenchmarkFilter(filter_for_reported_names(benchmark::GetBenchmarkFilter()));
	benchmark::AddCustomContext("tsq_max_producers", std::to_string(g_max_producers));
	benchmark::AddCustomContext("tsq_cpus_usable", std::to_string(g_nr_cpus));

	for (gbench_registrar_fn *fn : registrars())
		fn();

	benchmark::AddCustomContext("tsq_rounds", std::to_string(g_rounds));

	benchmark::BenchmarkReporter *shown = benchmark::CreateDefaultDisplayReporter();
	std::unique_ptr<benchmark::BenchmarkReporter> file_inner;
	std::ofstream out_stream;
	if (!out_file.empty()) {
		out_stream.open(out_file);
		if (!out_stream.good()) {
			std::fprintf(stderr, "tsq-bench: cannot open %s for writing\n", out_file.c_str());
			return 1;
		}
		file_inner = make_file_reporter(out_format);
		file_inner->SetOutputStream(&out_stream);
		file_inner->SetErrorStream(&std::cerr);
	}
	TsqReporter display(shown, file_inner.get(), true);
	for (g_round = 0; g_round < g_rounds; g_round++)
		if (benchmark::RunSpecifiedBenchmarks(&display) == 0)
			break;
	display.finish();
	out_stream.close();
	// A benchmark that ran in some rounds only has NAN in the others. items/s: the median over
	// the rounds; with one round, that round's (the tables printed 0.0M without --tsq_rounds).
	for (Result &r : g_results) {
		r.round_ips.resize(g_rounds, NAN);
		r.c.items_per_second = median_of(r.round_ips);
	}
	// Registration order, whatever order they ran in (--benchmark_enable_random_interleaving):
	// the tables list implementations in the order the benchmark files give them.
	std::stable_sort(g_results.begin(), g_results.end(), [](const Result &a, const Result &b) {
		return a.family != b.family ? a.family < b.family : a.instance < b.instance;
	});
	// The vector no longer moves: the C view may point into it now.
	for (Result &r : g_results) {
		r.c.name = r.name.c_str();
		r.c.error_message = r.error_message.c_str();
	}

	if (tables && !g_results.empty()) {
		// Keep --benchmark_format=json|csv on stdout parseable.
		FILE *out = dynamic_cast<benchmark::ConsoleReporter *>(shown) != nullptr ? stdout : stderr;

		std::fflush(stdout);
		std::stable_sort(tables_printers().begin(), tables_printers().end(),
				 [](const Printer &a, const Printer &b) { return a.rank < b.rank; });
		for (const Printer &p : tables_printers())
			p.fn(out);
		std::fflush(out);
	}
	benchmark::Shutdown();
	if (!g_failures.empty()) {
		std::fprintf(stderr, "tsq-bench: %zu check(s) FAILED:\n", g_failures.size());
		for (const std::string &f : g_failures)
			std::fprintf(stderr, "  %s\n", f.c_str());
		return 1;
	}
	return 0;
}
