/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cli.c - tsq-xsk's options. Every value is checked here, before anything touches the
 * system: a bad one exits 2 with one line that names the option (as -s/--long or --long)
 * and the range it takes - also without privileges, and for the values the engine would
 * refuse later (frame size, ring size, queues).
 */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DURATION_S 1000000.0 /* ~11.6 days; keeps duration * 1e9 inside a u64 */
#define MAX_COUNT (1ull << 48)

enum {
	O_QUEUES = 256,
	O_ATTACH,
	O_NOWAKE,
	O_LIMIT,
	O_COPYEVERY,
	O_FIRSTID,
	O_POOL,
	O_RING,
	O_DMAC,
	O_SIP,
	O_DIP,
	O_PORT,
	O_PIN,
	O_READY,
	O_IDLE,
	O_OWN,
	O_JSON,
	O_QUIET,
	O_VERSION,
	O_BQL,
	O_ROUNDS,
	O_RETHOLD,
	O_JSONFILE,
	O_QDISC,
	O_BUILD,
	O_QUANTUM,
	O_BUILDON
};

static const struct option long_opts[] = { { "iface", 1, 0, 'i' },
					   { "queue", 1, 0, 'q' },
					   { "queues", 1, 0, O_QUEUES },
					   { "mode", 1, 0, 'm' },
					   { "attach", 1, 0, O_ATTACH },
					   { "no-need-wakeup", 0, 0, O_NOWAKE },
					   { "frame-size", 1, 0, 'f' },
					   { "pkt-size", 1, 0, 's' },
					   { "flows", 1, 0, 'F' },
					   { "bulk-flows", 1, 0, 'F' },
					   { "bql", 1, 0, O_BQL },
					   { "rounds", 1, 0, O_ROUNDS },
					   { "ret-hold-us", 1, 0, O_RETHOLD },
					   { "json-file", 1, 0, O_JSONFILE },
					   { "qdisc", 1, 0, O_QDISC },
					   { "build-per-send", 0, 0, O_BUILD },
					   { "fq-quantum", 1, 0, O_QUANTUM },
					   { "build-on", 1, 0, O_BUILDON },
					   { "probe-rate", 1, 0, 'r' },
					   { "duration", 1, 0, 'd' },
					   { "count", 1, 0, 'n' },
					   { "tsq", 1, 0, 't' },
					   { "tsq-limit", 1, 0, O_LIMIT },
					   { "zerocopy", 1, 0, 'z' },
					   { "copy-every", 1, 0, O_COPYEVERY },
					   { "zc-first-id", 1, 0, O_FIRSTID },
					   { "pool-frames", 1, 0, O_POOL },
					   { "ring-size", 1, 0, O_RING },
					   { "dst-mac", 1, 0, O_DMAC },
					   { "src-ip", 1, 0, O_SIP },
					   { "dst-ip", 1, 0, O_DIP },
					   { "port", 1, 0, O_PORT },
					   { "no-pin", 0, 0, O_PIN },
					   { "ready-file", 1, 0, O_READY },
					   { "idle-exit", 1, 0, O_IDLE },
					   { "own-us", 1, 0, O_OWN },
					   { "json", 0, 0, O_JSON },
					   { "quiet", 0, 0, O_QUIET },
					   { "version", 0, 0, O_VERSION },
					   { "help", 0, 0, 'h' },
					   { 0, 0, 0, 0 } };

/* Leading ':': a missing value comes back as ':' (our message), not as getopt's own. */
static const char short_opts[] = ":i:q:m:f:s:F:r:d:n:t:z:h";

static const struct {
	const char *name;
	enum cli_cmd cmd;
} commands[] = { { "tx", CMD_TX },     { "compare", CMD_COMPARE }, { "matrix", CMD_MATRIX },
		 { "bare", CMD_BARE }, { "rx", CMD_RX },           { "rx-udp", CMD_RX_UDP },
		 { "sink", CMD_SINK } };

/* "-q/--queue" or "--queues": how the user may have spelt option `c`. */
static const char *opt_name(int c)
{
	static char buf[48];

	for (const struct option *lo = long_opts; lo->name != NULL; lo++) {
		if (lo->val != c)
			continue;
		if (c < 256)
			snprintf(buf, sizeof(buf), "-%c/--%s", c, lo->name);
		else
			snprintf(buf, sizeof(buf), "--%s", lo->name);
		return buf;
	}
	snprintf(buf, sizeof(buf), "-%c", c);
	return buf;
}

static int bad(int c, const char *fmt, const char *val, const char *range)
{
	fprintf(stderr, "tsq-xsk: %s: ", opt_name(c));
	fprintf(stderr, fmt, val, range);
	fprintf(stderr, "\n");
	return EXIT_USAGE;
}

/*
 * An unsigned integer in [min, max]: decimal, or hex with 0x. No sign, no blanks, no
 * suffix, no octal ("010" is ten). Return: 0, or EXIT_USAGE with the message printed.
 */
static int parse_u64(int c, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char range[64], *end;
	unsigned long long v;
	int base = 10;

	snprintf(range, sizeof(range), "%llu..%llu", (unsigned long long)min,
		 (unsigned long long)max);
	if (s[0] == '-' && s[1] >= '0' && s[1] <= '9')
		return bad(c, "'%s' is out of range (%s)", s, range);
	if (s[0] < '0' || s[0] > '9')
		return bad(c, "'%s' is not a number (%s)", s, range);
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16;
	errno = 0;
	v = strtoull(s, &end, base);
	if (*end != '\0' || end == s + (base == 16 ? 2 : 0))
		return bad(c, "'%s' is not a number (%s)", s, range);
	if (errno == ERANGE || v < min || v > max)
		return bad(c, "'%s' is out of range (%s)", s, range);
	*out = v;
	return 0;
}

static int parse_u32(int c, const char *s, uint64_t min, uint64_t max, uint32_t *out)
{
	uint64_t v;
	int rc = parse_u64(c, s, min, max, &v);

	if (rc == 0)
		*out = (uint32_t)v; /* max <= UINT32_MAX at every call */
	return rc;
}

static int parse_unsigned(int c, const char *s, uint64_t min, uint64_t max, unsigned *out)
{
	uint64_t v;
	int rc = parse_u64(c, s, min, max, &v);

	if (rc == 0)
		*out = (unsigned)v;
	return rc;
}

/* A finite number in [min, max], or (min, max] when min_open; `range` says so in words. */
static int parse_double(int c, const char *s, double min, double max, bool min_open,
			const char *range, double *out)
{
	char *end;
	double v;

	if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '.' || s[0] == '-' || s[0] == '+'))
		return bad(c, "'%s' is not a number (%s)", s, range);
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || !isfinite(v))
		return bad(c, "'%s' is not a number (%s)", s, range);
	if (v < min || (min_open && v <= min) || v > max)
		return bad(c, "'%s' is out of range (%s)", s, range);
	*out = v;
	return 0;
}

static int parse_onoff(int c, const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "1") || !strcmp(s, "yes"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "0") || !strcmp(s, "no"))
		*out = false;
	else
		return bad(c, "'%s' is not %s", s, "on or off");
	return 0;
}

/* Exactly six fields of one or two hex digits, colon-separated. */
static int parse_mac(int c, const char *s, uint8_t mac[6])
{
	const char *p = s;

	for (int i = 0; i < 6; i++) {
		char *end;
		unsigned long v;

		if (!((p[0] >= '0' && p[0] <= '9') || (p[0] >= 'a' && p[0] <= 'f') ||
		      (p[0] >= 'A' && p[0] <= 'F')))
			break;
		v = strtoul(p, &end, 16);
		if (end - p > 2 || *end != (i == 5 ? '\0' : ':'))
			break;
		mac[i] = (uint8_t)v;
		if (i == 5)
			return 0;
		p = end + 1;
	}
	return bad(c, "'%s' is not a MAC address (%s)", s, "six hex bytes, 02:00:00:00:00:0b");
}

static int parse_enum(int c, const char *s, const char *const *names, unsigned n, int *out)
{
	char list[64] = "";

	for (unsigned i = 0; i < n; i++) {
		if (!strcmp(s, names[i])) {
			*out = (int)i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 names[i]);
	}
	return bad(c, "'%s' is not one of %s", s, list);
}

static int parse_ip6(int c, const char *s, uint8_t ip[16])
{
	if (inet_pton(AF_INET6, s, ip) == 1)
		return 0;
	return bad(c, "'%s' is not an IPv6 address (%s)", s, "e.g. fd00:7473:7100::a");
}

/* The options that take one of a few words. Return: 0 or EXIT_USAGE. */
static int parse_choice(int c, const char *v, struct cli_args *o)
{
	static const char *const modes[] = { "auto", "copy", "zerocopy" };
	static const char *const attaches[] = { "auto", "native", "generic" };
	static const char *const qdiscs[] = { "fq", "fifo", "both" };
	static const char *const whos[] = { "app", "worker", "both" };
	const char *const *words = c == 'm'      ? modes :
				   c == O_ATTACH ? attaches :
				   c == O_QDISC  ? qdiscs :
						   whos;
	int e = 0;

	if (parse_enum(c, v, words, 3, &e) != 0)
		return EXIT_USAGE;
	if (c == 'm') {
		o->bind = e == 0 ? XENG_BIND_AUTO : e == 1 ? XENG_BIND_COPY : XENG_BIND_ZEROCOPY;
	} else if (c == O_ATTACH) {
		o->attach = e == 0 ? XDP_ATTACH_AUTO :
			    e == 1 ? XDP_ATTACH_NATIVE :
				     XDP_ATTACH_GENERIC;
	} else if (c == O_QDISC) {
		o->qdisc = e == 1 ? XENG_QDISC_FIFO : XENG_QDISC_FQ;
		o->qdisc_both = e == 2;
	} else { /* O_BUILDON */
		o->build_worker = e == 1;
		o->build_both = e == 2;
	}
	return 0;
}

/* The numbers with a shape beyond a range, or a unit. Return: 0 or EXIT_USAGE. */
static int parse_shaped(int c, const char *v, struct cli_args *o)
{
	uint64_t n;

	switch (c) {
	case 'f':
		if (parse_u32(c, v, 0, UINT32_MAX, &o->frame_size) != 0)
			return EXIT_USAGE;
		if (o->frame_size != 2048 && o->frame_size != 4096)
			return bad(c, "%s must be %s", v, "2048 or 4096");
		return 0;
	case O_RING:
		if (parse_u32(c, v, 64, 65536, &o->ring_size) != 0)
			return EXIT_USAGE;
		return (o->ring_size & (o->ring_size - 1)) == 0 ?
			       0 :
			       bad(c, "%s is not %s", v, "a power of two (64, 128, ... 65536)");
	case O_RETHOLD:
		if (parse_u64(c, v, 0, 10000, &n) != 0)
			return EXIT_USAGE;
		o->ret_hold_ns = n * 1000;
		return 0;
	case O_PORT:
		if (parse_u64(c, v, 1, 65535, &n) != 0)
			return EXIT_USAGE;
		o->port = (uint16_t)n;
		return 0;
	default:
		return EXIT_USAGE;
	}
}

/* Options without a value, paths, --help and --version; the rest to parse_shaped(). */
static int parse_flag(int c, const char *v, struct cli_args *o)
{
	switch (c) {
	case O_NOWAKE:
		o->need_wakeup = false;
		return 0;
	case O_BUILD:
		o->build_per_send = true;
		return 0;
	case O_PIN:
		o->pin = false;
		return 0;
	case O_READY:
		o->ready_file = v;
		return v[0] ? 0 : bad(c, "'%s' is %s", v, "an empty path");
	case O_JSON:
		o->json = true;
		return 0;
	case O_JSONFILE:
		o->json_file = v;
		return v[0] ? 0 : bad(c, "'%s' is %s", v, "an empty path");
	case O_QUIET:
		o->quiet = true;
		return 0;
	case O_VERSION:
		cli_version();
		return 1;
	case 'h':
		cli_usage(stdout);
		return 1;
	default:
		return parse_shaped(c, v, o);
	}
}

/* One option and its value. Return: 0, 1 (--help, --version: done) or EXIT_USAGE. */
static int parse_one(int c, const char *v, struct cli_args *o)
{
	switch (c) {
	case 'i':
		o->ifname = v;
		return 0;
	case 'q':
		return parse_unsigned(c, v, 0, 65535, &o->queue);
	case O_QUEUES:
		return parse_unsigned(c, v, 1, XENG_MAX_WORKERS, &o->queues);
	case 'm':
	case O_ATTACH:
	case O_QDISC:
	case O_BUILDON:
		return parse_choice(c, v, o);
	case 's':
		return parse_u32(c, v, XENG_MIN_LEN, 4096, &o->pkt_size); /* then <= -f */
	case 'F':
		return parse_unsigned(c, v, 1, CLI_MAX_FLOWS, &o->flows);
	case 'r':
		return parse_double(c, v, 0, CLI_MAX_PROBE_RATE, false, "0..10000000",
				    &o->probe_rate);
	case 'd':
		return parse_double(c, v, 0, MAX_DURATION_S, true, "> 0, at most 1000000",
				    &o->duration);
	case 'n':
		return parse_u64(c, v, 0, MAX_COUNT, &o->count);
	case 't':
		return parse_onoff(c, v, &o->tsq);
	case O_BQL:
		return parse_onoff(c, v, &o->bql);
	case O_QUANTUM:
		return parse_u32(c, v, 1, 256, &o->fq_quantum);
	case O_ROUNDS:
		return parse_unsigned(c, v, 1, 100, &o->rounds);
	case O_LIMIT:
		return parse_u64(c, v, 1, TSQ_BUDGET_MAX_INFLIGHT, &o->tsq_limit);
	case 'z':
		return parse_onoff(c, v, &o->zerocopy);
	case O_COPYEVERY:
		return parse_unsigned(c, v, 0, 1000000000, &o->copy_every);
	case O_FIRSTID:
		return parse_u32(c, v, 0, UINT32_MAX, &o->zc_first_id);
	case O_POOL:
		return parse_u32(c, v, 64, 1u << 20, &o->pool_frames);
	case O_DMAC:
		return parse_mac(c, v, o->dst_mac);
	case O_SIP:
		return parse_ip6(c, v, o->src_ip);
	case O_DIP:
		return parse_ip6(c, v, o->dst_ip);
	case O_IDLE:
		return parse_unsigned(c, v, 1, 86400000, &o->idle_exit_ms);
	case O_OWN:
		return parse_unsigned(c, v, 0, 1000, &o->own_us);
	default:
		return parse_flag(c, v, o);
	}
}

/* What only the whole command line can say. */
static int check_combinations(struct cli_args *o)
{
	if (o->cmd != CMD_RX_UDP && o->ifname == NULL) {
		fprintf(stderr, "tsq-xsk: %s needs -i/--iface\n", o->cmd_name);
		return EXIT_USAGE;
	}
	if (o->ifname != NULL && (o->ifname[0] == '\0' || strlen(o->ifname) >= IFNAMSIZ))
		return bad('i', "'%s' is not an interface name (%s)", o->ifname,
			   "1 to 15 characters");
	if (o->pkt_size > o->frame_size) {
		fprintf(stderr,
			"tsq-xsk: -s/--pkt-size: %u does not fit a frame of %u (-f/--frame-size)\n",
			o->pkt_size, o->frame_size);
		return EXIT_USAGE;
	}
	if ((uint64_t)o->queue + o->queues > 65536) {
		fprintf(stderr, "tsq-xsk: -q/--queue: %u plus --queues %u goes past queue 65535\n",
			o->queue, o->queues);
		return EXIT_USAGE;
	}
	if (o->qdisc_both && o->cmd != CMD_MATRIX) {
		fprintf(stderr, "tsq-xsk: --qdisc: both is for matrix only (fq or fifo)\n");
		return EXIT_USAGE;
	}
	if (o->build_both && o->cmd != CMD_MATRIX) {
		fprintf(stderr, "tsq-xsk: --build-on: both is for matrix only (app or worker)\n");
		return EXIT_USAGE;
	}
	if ((o->build_worker || o->build_both) && o->zerocopy) {
		fprintf(stderr,
			"tsq-xsk: --build-on: zerocopy messages (-z on) are the application's "
			"own buffers: app only\n");
		return EXIT_USAGE;
	}
	if (o->copy_every && !o->zerocopy) {
		fprintf(stderr, "tsq-xsk: --copy-every: needs -z/--zerocopy on\n");
		return EXIT_USAGE;
	}
	return 0;
}

static void defaults(struct cli_args *o)
{
	*o = (struct cli_args){ .queues = 1,
				.flows = 1,
				.bind = XENG_BIND_AUTO,
				.attach = XDP_ATTACH_AUTO,
				.need_wakeup = true,
				.tsq = true,
				.bql = true,
				.pin = true,
				.frame_size = 2048,
				.pkt_size = 80,
				.pool_frames = 4096,
				.ring_size = 2048,
				.tsq_limit = 131072,
				.duration = 3,
				.probe_rate = 5000,
				.idle_exit_ms = 1000,
				.rounds = 3,
				.ret_hold_ns = XENG_RET_HOLD_NS_DEFAULT,
				.fq_quantum = 1,
				.own_us = 200,
				.port = XENG_UDP_PORT,
				.dst_mac = { 2, 0, 0, 0, 0, 0x0b } };
	inet_pton(AF_INET6, "fd00:7473:7100::a", o->src_ip);
	inet_pton(AF_INET6, "fd00:7473:7100::b", o->dst_ip);
}

/* The command: argv[1]. Return: 0, 1 (--help, --version) or EXIT_USAGE. */
static int parse_command(int argc, char **argv, struct cli_args *o)
{
	if (argc < 2) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		cli_usage(stdout);
		return 1;
	}
	if (!strcmp(argv[1], "--version")) {
		cli_version();
		return 1;
	}
	for (unsigned i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			o->cmd = commands[i].cmd;
			o->cmd_name = commands[i].name;
			return 0;
		}
	}
	fprintf(stderr,
		"tsq-xsk: unknown command '%s' (tx, compare, matrix, bare, rx, rx-udp, sink; "
		"try --help)\n",
		argv[1]);
	return EXIT_USAGE;
}

struct xeng_cfg cli_engine_cfg(const struct cli_args *o)
{
	struct xeng_cfg cfg = { .ifname = o->ifname,
				.queue = o->queue,
				.nr_queues = o->queues,
				.bind = o->bind,
				.attach = o->attach,
				.need_wakeup = o->need_wakeup,
				.pin_cpus = o->pin,
				.frame_size = o->frame_size,
				.ring_size = o->ring_size,
				.tsq_limit = o->tsq_limit,
				.port = o->port };

	return cfg;
}

int cli_parse(int argc, char **argv, struct cli_args *o)
{
	int c, rc;

	defaults(o);
	rc = parse_command(argc, argv, o);
	if (rc != 0)
		return rc;
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		if (c == ':') {
			fprintf(stderr, "tsq-xsk: %s needs a value\n", opt_name(optopt));
			return EXIT_USAGE;
		}
		if (c == '?') {
			if (optopt != 0)
				fprintf(stderr, "tsq-xsk: unknown option '-%c' (try --help)\n",
					optopt);
			else
				fprintf(stderr, "tsq-xsk: unknown option '%s' (try --help)\n",
					argv[optind - 1]);
			return EXIT_USAGE;
		}
		rc = parse_one(c, optarg, o);
		if (rc != 0)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "tsq-xsk: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	return check_combinations(o);
}
