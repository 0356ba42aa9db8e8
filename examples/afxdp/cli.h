/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cli.h - the command line's internal header (the tsq-xsk program, not the engine): its
 * arguments (struct cli_args), the exit codes, and what each of its files gives the others.
 * The engine's header is engine.h; libxdp's is <xdp/xsk.h>.
 *
 *   tsq_xsk.c   main: parse, check the system, run one command
 *   cli.c       the options: usage, parsing, validation (every bad value: exit 2), --version
 *   preflight.c before anything runs: the interface, its link, the capabilities
 *   tx.c        tx, compare and matrix: runs of the engine (and the bare sender), figures
 *   bare.c      bare: one socket, one loop, no engine (the xdpsock TX-only pattern)
 *   tx_app.c    the application threads of a run: the bulk sender(s) and the probe
 *   rx.c        rx: the AF_XDP receiver and its owning application thread
 *   peers.c     rx-udp (a kernel UDP socket) and sink (a counting XDP_DROP program)
 *   report.c    percentiles, the JSON writer, tx's table and JSON
 */
#ifndef TSQ_XSK_CLI_H
#define TSQ_XSK_CLI_H

#include <signal.h>
#include <stdio.h>

#include "engine.h"

#define EXIT_USAGE 2
#define EXIT_SKIP 77      /* not possible here (privileges, AF_XDP): test harnesses say "skipped" */
#define MSG_FRAMES 16     /* frames per zerocopy message (a "64 KB send" of MTU-sized frames) */
#define CLI_JSON_SCHEMA 1 /* "schema" of every JSON document; bump when a key changes meaning */
#define CLI_MAX_FLOWS 64
#define CLI_MAX_PROBE_RATE 10000000.0 /* 10 Mpps: a probe period of 100 ns */

enum cli_cmd { CMD_TX, CMD_COMPARE, CMD_MATRIX, CMD_BARE, CMD_RX, CMD_RX_UDP, CMD_SINK };

struct cli_args {
	enum cli_cmd cmd;
	const char *cmd_name, *ifname, *ready_file, *json_file;
	unsigned queue, queues, flows;
	enum xeng_bind bind;
	enum xdp_attach_mode attach;
	bool need_wakeup, tsq, bql, zerocopy, json, quiet, pin;
	enum xeng_qdisc qdisc; /* the workers' queues */
	bool qdisc_both;       /* matrix: TSQ+BQL with a FIFO too (--qdisc both) */
	uint32_t fq_quantum;   /* fq: frames per turn */
	bool build_per_send;   /* bare: build every frame before its send */
	bool build_worker;     /* the worker writes each frame just before the TX ring */
	bool build_both;       /* matrix: TSQ+BQL with frames built by the worker too */
	unsigned rounds;       /* matrix: rounds of the runs */
	uint32_t bql_limit_max;
	uint64_t ret_hold_ns;
	uint32_t frame_size, pkt_size, pool_frames, ring_size;
	uint64_t tsq_limit, count;
	double duration, probe_rate;
	unsigned copy_every, idle_exit_ms, own_us;
	uint32_t zc_first_id;
	uint8_t dst_mac[6];
	uint8_t src_ip[16], dst_ip[16];
	uint16_t port;
};

/* Set by SIGINT/SIGTERM: every loop of every command stops at its next check. */
extern volatile sig_atomic_t cli_interrupted;

/* cli.c. Return: 0 run o->cmd; 1 done (--help, --version: exit 0); EXIT_USAGE (message
 * printed, naming the option). */
int cli_parse(int argc, char **argv, struct cli_args *o);
/* cli.c: the engine settings every command takes from the command line (interface, queues,
 * bind, rings, TSQ budget, port); the command sets the rest. */
struct xeng_cfg cli_engine_cfg(const struct cli_args *o);
/* cli_help.c: --help's text on `out`, --version's line on stdout. */
void cli_usage(FILE *out);
void cli_version(void);

/* preflight.c. Return: 0 go on; 1 the interface is missing or (tx, compare) its link is
 * down; EXIT_SKIP the capabilities are missing. One line on stderr says which. */
int preflight(const struct cli_args *o);
/* The link of `ifname`: 0 up; -ENETDOWN administratively down; -ENOLINK up without carrier;
 * another -errno when it cannot be read (-ENODEV: gone). `why` gets a phrase for a message. */
int link_state(const char *ifname, char *why, size_t size);

/* tx.c */
int cmd_tx(const struct cli_args *o, bool compare);
/* matrix: bare (frames built once, then per send), then TSQ x BQL off/on (TSQ+BQL with a
 * FIFO too with --qdisc both), --rounds times, interleaved. */
int cmd_matrix(const struct cli_args *o);
/* The flows of a tx run (bulk flows, then the probe) and what their UMEM will lock. */
unsigned tx_flow_specs(const struct cli_args *o, struct xflow_spec *specs);
uint64_t tx_umem_bytes(const struct cli_args *o);
/* The interface's MAC (02:00:00:00:00:00 when it cannot be read). */
void read_src_mac(const char *ifname, uint8_t mac[6]);

/* tx_app.c: one application thread per flow of a tx run. */
struct zc_track {
	uint32_t first_id;
	uint64_t sends, copied_sends, notices, notified, dups, copied_ids, copied_notices;
	uint8_t *seen; /* by id - first_id */
	uint64_t cap;
	struct {
		uint32_t id;
		bool busy;
	} * slots; /* arena slots, MSG_FRAMES frames each */
	unsigned nslots;
};

struct app {
	struct xengine *e;
	struct xflow *f;
	const struct cli_args *o;
	unsigned slot;
	pthread_t thread;
	int *done; /* the main thread says: quiesced, reclaim and leave */
	struct zc_track zc;
	uint8_t *heap_msg;          /* a buffer outside the UMEM, for --copy-every */
	uint64_t built, waits;      /* waits: sleeps for frames to come home */
	uint64_t naps;              /* timed sleeps with a long write queue (no wake-up needed) */
	uint32_t queued;            /* the write queue after the last send */
	uint64_t rate_t, rate_done; /* when, and frames completed then (bulk_nap_ns) */
	double rate;                /* frames completed per ns, smoothed */
	bool last_copy;             /* the last message was copied */
};
void *bulk_main(void *arg);
void *probe_main(void *arg);

/* rx.c, peers.c */
int cmd_rx(const struct cli_args *o);
uint64_t rx_umem_bytes(const struct cli_args *o);
int cmd_rx_udp(const struct cli_args *o);
int cmd_sink(const struct cli_args *o);

/* report.c: percentiles; NAN when there is no sample (JSON null, "-" in tables). */
int cmp_u64(const void *a, const void *b);
double pct_sorted(const uint64_t *v, size_t n, double p);
double pct_hist(const uint64_t *h, size_t buckets, double p);

/*
 * A JSON writer just big enough for tsq-xsk: keys are plain ASCII, strings are escaped,
 * numbers that are NaN or infinite come out as null. Every document opens with
 * "schema": CLI_JSON_SCHEMA. Pass key NULL inside arrays.
 */
struct jw {
	FILE *f;
	unsigned depth;
	bool more[8]; /* a value was written at this depth: the next one needs a comma */
};
/* json.c */
void jw_doc_begin(struct jw *j, FILE *f);
void jw_doc_end(struct jw *j);
void jw_obj_begin(struct jw *j, const char *key);
void jw_obj_end(struct jw *j);
void jw_arr_begin(struct jw *j, const char *key);
void jw_arr_end(struct jw *j);
void jw_u64(struct jw *j, const char *key, uint64_t v);
void jw_num(struct jw *j, const char *key, double v, int decimals);
void jw_str(struct jw *j, const char *key, const char *s);
void jw_bool(struct jw *j, const char *key, bool v);

/* Per worker (TX queue) figures of a run. */
struct worker_result {
	unsigned queue;
	struct xworker_stats ws;
	struct tsq_dql_stats bql; /* zero without BQL */
};

/* One tx run's figures (tx.c, bare.c fill it, report.c prints it). NAN: no sample. */
struct run_result {
	bool tsq, bql, bare, zerocopy; /* zerocopy: the bulk flows sent by -z on */
	bool build_per_send;           /* bare: every frame built before its send */
	bool build_worker;             /* engine: frames written by the worker (--build-on) */
	enum xeng_qdisc qdisc;         /* the workers' queues (not the bare sender's) */
	unsigned bulk_flows, queues, round;
	double secs, bulk_pps, bulk_gbps, occ_p50, occ_p99, occ_max;
	/* The sending threads' CPU time during the run (the workers', or the bare sender's),
	 * per bulk frame and as a share of the run's length (below 1: the CPU was shared). */
	double cpu_ns_per_frame, cpu_share;
	double lat_ring_p50, lat_ring_p99, lat_send_p50, lat_send_p99;
	uint64_t probe_samples;
	/* Probe frames' waits in the worker's queues, in frames of other flows sent meanwhile;
	 * qwait_over: waits above fq's bound; others_max: other flows queued at an arrival (fq);
	 * queue_max: the most frames the worker's queues held. NAN/0 without samples. */
	double qwait_p50, qwait_p99, qwait_max;
	uint64_t qwait_over;
	uint32_t qwait_others_max, queue_max;
	double zc_notices_per_send;
	uint64_t zc_sends, zc_notices, zc_notified, zc_dups, zc_missing, zc_copied_sends,
		zc_copied_ids;
	uint64_t bulk_frames, leaked, throttled_idle;
	struct xworker_stats ws;
	uint64_t throttles, recheck_saves, queued, deferred, backlog_flushes;
	const char *bind;
	bool quiesced;
	struct {
		uint64_t sent, bytes;
		int kind;
	} flow[CLI_MAX_FLOWS + 1];
	unsigned nflows;
	/* BQL, summed over the queues (limit: the largest); per queue in w[]. */
	uint64_t bql_stops, bql_restarts, bql_recheck_saves, bql_grows, bql_shrinks;
	uint32_t bql_limit;
	uint64_t app_wakes; /* application threads' sleeps that ended with frames home */
	uint64_t app_naps;  /* their timed sleeps with a long write queue (no wake-up) */
	struct worker_result w[XENG_MAX_WORKERS];
	unsigned nworkers;
};

/* bare.c: the bare sender, one run (-d/-n, first queue only). Return: 0, 1 or EXIT_SKIP. */
int run_bare(const struct cli_args *o, struct run_result *r);
int cmd_bare(const struct cli_args *o);
/* A run's own checks; NULL when they hold, else the reason. */
const char *run_check(const struct run_result *r);
/* "TSQ+BQL", "TSQ+BQL/fifo", "bare", "bare+build", ... */
const char *run_label(const struct run_result *r);
/* {"schema":1,"runs":[...]} */
void report_runs_json(FILE *out, const struct run_result *r, unsigned n);
void report_runs_table(const struct run_result *r, unsigned n);
/* matrix: one row per run, then per round the ratios to TSQ alone and to the bare sender,
 * and their min..max over the rounds. */
void report_matrix_table(const struct run_result *r, unsigned n);

/* A one-line reason; EXIT_SKIP where AF_XDP or the privileges are missing, else 1. */
int setup_error(const struct xengine *e, int err);
/* CPU time of `thread` in ns (0 when it cannot be read). */
uint64_t thread_cpu_ns(pthread_t thread);
/* Create `path` (the --ready-file handshake); NULL: nothing. */
void touch(const char *path);

#endif
