/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq-xsk - tsq's AF_XDP reference sender/receiver (see engine.h for the design).
 *
 *   tsq-xsk tx      send a bulk flow (or several) and a probe flow, measure, report
 *   tsq-xsk compare the same, TSQ off then on, side by side: {"runs":[...]}
 *   tsq-xsk rx      receive with AF_XDP: per-flow exactly-once accounting
 *   tsq-xsk rx-udp  receive with a kernel UDP socket (the independent peer)
 *   tsq-xsk sink    a counting XDP_DROP program on an interface (the cheapest peer)
 *
 * Exit status: 0 success, 1 runtime failure (the reason on stderr), 2 bad usage,
 * 77 not possible here (no privileges / no AF_XDP), for test harnesses to report "skipped".
 */
#include "engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_xdp.h>

#define EXIT_SKIP 77
#define MSG_FRAMES 16 /* frames per zerocopy message (a "64 KB send" of MTU-sized frames) */

struct opts {
	const char *cmd, *ifname, *ready_file;
	unsigned queue, queues, flows;
	enum xeng_bind bind;
	enum xdp_attach_mode attach;
	bool need_wakeup, tsq, zerocopy, json, quiet, pin;
	uint32_t frame_size, pkt_size, pool_frames, ring_size;
	uint64_t tsq_limit, count;
	double duration, probe_rate;
	unsigned copy_every, idle_exit_ms, own_us;
	uint32_t zc_first_id;
	uint8_t dst_mac[6];
	uint8_t src_ip[16], dst_ip[16];
	uint16_t port;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: tsq-xsk tx|compare|rx|rx-udp|sink [options]\n"
		"\n"
		"  tx       bulk flow(s) plus a probe flow over AF_XDP; prints a table (--json: JSON)\n"
		"  compare  tx twice, TSQ off then on, side by side; --json prints {\"runs\":[...]}\n"
		"  rx       AF_XDP receiver: per-flow exactly-once accounting\n"
		"  rx-udp   kernel UDP socket receiver on --port (the independent peer)\n"
		"  sink     counting XDP_DROP program on the interface for --duration seconds\n"
		"\n"
		"  -i, --iface IF          interface (required except rx-udp)\n"
		"  -q, --queue Q           first queue (default 0)\n"
		"      --queues N          queues, one worker each (default 1)\n"
		"  -m, --mode M            auto|copy|zerocopy: XDP bind mode (default auto: zero-copy\n"
		"                          where the driver supports it, else copy; veth is copy)\n"
		"      --attach A          auto|native|generic XDP attach for rx/sink (default auto)\n"
		"      --no-need-wakeup    do not bind with XDP_USE_NEED_WAKEUP (default: on)\n"
		"  -f, --frame-size N      UMEM frame size, 2048 or 4096 (default 2048)\n"
		"  -s, --pkt-size N        frame length on the wire, %d..frame size (default 80)\n"
		"  -F, --flows N           bulk flows (default 1)\n"
		"  -r, --probe-rate PPS    probe frames per second (default 5000; 0: no probe)\n"
		"  -d, --duration S        seconds of traffic (default 3)\n"
		"  -n, --count N           frames per bulk flow, then stop (default 0: until duration)\n"
		"  -t, --tsq on|off        TCP Small Queues budget (default on)\n"
		"      --tsq-limit BYTES   bytes in flight per flow; frames count their frame size\n"
		"                          (default 131072: 64 frames of 2 KB, the seed's 128 KB)\n"
		"  -z, --zerocopy on|off   bulk flow sends application buffers from the UMEM with\n"
		"                          tsq zerocopy ids and notices (default off)\n"
		"      --copy-every N      with -z: every Nth message comes from outside the UMEM and\n"
		"                          is copied; its notice says COPIED (default 0: never)\n"
		"      --zc-first-id ID    first zerocopy id (test the 2^32 wrap: 4294967200)\n"
		"      --pool-frames N     TX frames per bulk flow (default 4096)\n"
		"      --ring-size N       entries of each xsk ring (default 2048)\n"
		"      --dst-mac MAC       (default 02:00:00:00:00:0b, the test bed's peer)\n"
		"      --src-ip IP6 / --dst-ip IP6   (default fd00:7473:7100::a / ::b)\n"
		"      --port N            UDP port (default %d)\n"
		"      --no-pin            do not pin worker i to CPU i (default: pinned when\n"
		"                          that CPU exists)\n"
		"      --ready-file PATH   rx/rx-udp/sink: create PATH once receiving\n"
		"      --idle-exit MS      rx/rx-udp: stop MS ms after the last frame (default 1000)\n"
		"      --own-us N          rx: the application owns each flow for N us every ms, so\n"
		"                          frames go through the owner backlog (default 200)\n"
		"      --json              JSON on stdout instead of the table\n"
		"      --quiet             no progress lines\n"
		"  -h, --help\n"
		"\n"
		"Exit: 0 ok, 1 failure, 2 usage, 77 not possible here (no root / no AF_XDP).\n",
		XENG_MIN_LEN, XENG_UDP_PORT);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static bool parse_onoff(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "1") || !strcmp(s, "yes"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "0") || !strcmp(s, "no"))
		*out = false;
	else
		return false;
	return true;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_QUEUES = 256, O_ATTACH, O_NOWAKE, O_LIMIT, O_COPYEVERY, O_FIRSTID, O_POOL, O_RING,
	       O_DMAC, O_SIP, O_DIP, O_PORT, O_PIN, O_READY, O_IDLE, O_OWN, O_JSON, O_QUIET };
	static const struct option lo[] = {
		{"iface", 1, 0, 'i'}, {"queue", 1, 0, 'q'}, {"queues", 1, 0, O_QUEUES},
		{"mode", 1, 0, 'm'}, {"attach", 1, 0, O_ATTACH}, {"no-need-wakeup", 0, 0, O_NOWAKE},
		{"frame-size", 1, 0, 'f'}, {"pkt-size", 1, 0, 's'}, {"flows", 1, 0, 'F'},
		{"probe-rate", 1, 0, 'r'}, {"duration", 1, 0, 'd'}, {"count", 1, 0, 'n'},
		{"tsq", 1, 0, 't'}, {"tsq-limit", 1, 0, O_LIMIT}, {"zerocopy", 1, 0, 'z'},
		{"copy-every", 1, 0, O_COPYEVERY}, {"zc-first-id", 1, 0, O_FIRSTID},
		{"pool-frames", 1, 0, O_POOL}, {"ring-size", 1, 0, O_RING}, {"dst-mac", 1, 0, O_DMAC},
		{"src-ip", 1, 0, O_SIP}, {"dst-ip", 1, 0, O_DIP}, {"port", 1, 0, O_PORT},
		{"no-pin", 0, 0, O_PIN}, {"ready-file", 1, 0, O_READY}, {"idle-exit", 1, 0, O_IDLE},
		{"own-us", 1, 0, O_OWN}, {"json", 0, 0, O_JSON}, {"quiet", 0, 0, O_QUIET},
		{"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	int c;

	*o = (struct opts){.queues = 1, .flows = 1, .bind = XENG_BIND_AUTO, .attach = XDP_ATTACH_AUTO,
			   .need_wakeup = true, .tsq = true, .pin = true, .frame_size = 2048, .pkt_size = 80,
			   .pool_frames = 4096, .ring_size = 2048, .tsq_limit = 131072, .duration = 3,
			   .probe_rate = 5000, .idle_exit_ms = 1000, .own_us = 200, .port = XENG_UDP_PORT,
			   .dst_mac = {2, 0, 0, 0, 0, 0x0b}};
	inet_pton(AF_INET6, "fd00:7473:7100::a", o->src_ip);
	inet_pton(AF_INET6, "fd00:7473:7100::b", o->dst_ip);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 1;
	}
	o->cmd = argv[1];
	if (strcmp(o->cmd, "tx") && strcmp(o->cmd, "compare") && strcmp(o->cmd, "rx") &&
	    strcmp(o->cmd, "rx-udp") && strcmp(o->cmd, "sink")) {
		fprintf(stderr, "tsq-xsk: unknown command '%s' (try --help)\n", o->cmd);
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "i:q:m:f:s:F:r:d:n:t:z:h", lo, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 'i': o->ifname = optarg; break;
		case 'q': o->queue = (unsigned)strtoul(optarg, NULL, 0); break;
		case O_QUEUES: o->queues = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'm':
			if (!strcmp(optarg, "auto")) o->bind = XENG_BIND_AUTO;
			else if (!strcmp(optarg, "copy")) o->bind = XENG_BIND_COPY;
			else if (!strcmp(optarg, "zerocopy")) o->bind = XENG_BIND_ZEROCOPY;
			else ok = false;
			break;
		case O_ATTACH:
			if (!strcmp(optarg, "auto")) o->attach = XDP_ATTACH_AUTO;
			else if (!strcmp(optarg, "native")) o->attach = XDP_ATTACH_NATIVE;
			else if (!strcmp(optarg, "generic")) o->attach = XDP_ATTACH_GENERIC;
			else ok = false;
			break;
		case O_NOWAKE: o->need_wakeup = false; break;
		case 'f': o->frame_size = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 's': o->pkt_size = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'F': o->flows = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': o->probe_rate = strtod(optarg, NULL); break;
		case 'd': o->duration = strtod(optarg, NULL); break;
		case 'n': o->count = strtoull(optarg, NULL, 0); break;
		case 't': ok = parse_onoff(optarg, &o->tsq); break;
		case O_LIMIT: o->tsq_limit = strtoull(optarg, NULL, 0); break;
		case 'z': ok = parse_onoff(optarg, &o->zerocopy); break;
		case O_COPYEVERY: o->copy_every = (unsigned)strtoul(optarg, NULL, 0); break;
		case O_FIRSTID: o->zc_first_id = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_POOL: o->pool_frames = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_RING: o->ring_size = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_DMAC: ok = parse_mac(optarg, o->dst_mac) == 0; break;
		case O_SIP: ok = inet_pton(AF_INET6, optarg, o->src_ip) == 1; break;
		case O_DIP: ok = inet_pton(AF_INET6, optarg, o->dst_ip) == 1; break;
		case O_PORT: o->port = (uint16_t)strtoul(optarg, NULL, 0); break;
		case O_PIN: o->pin = false; break;
		case O_READY: o->ready_file = optarg; break;
		case O_IDLE: o->idle_exit_ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case O_OWN: o->own_us = (unsigned)strtoul(optarg, NULL, 0); break;
		case O_JSON: o->json = true; break;
		case O_QUIET: o->quiet = true; break;
		case 'h': usage(stdout); return 1;
		default: return 2;
		}
		if (!ok) {
			fprintf(stderr, "tsq-xsk: bad value '%s' for option %s\n", optarg, argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tsq-xsk: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (strcmp(o->cmd, "rx-udp") && o->ifname == NULL) {
		fprintf(stderr, "tsq-xsk: --iface is required\n");
		return 2;
	}
	if (o->pkt_size < XENG_MIN_LEN || o->pkt_size > o->frame_size) {
		fprintf(stderr, "tsq-xsk: --pkt-size must be %d..%u\n", XENG_MIN_LEN, o->frame_size);
		return 2;
	}
	if (o->flows == 0 || o->flows > 64 || o->duration <= 0 || o->pool_frames < 64) {
		fprintf(stderr, "tsq-xsk: need 1..64 flows, a positive duration, >= 64 pool frames\n");
		return 2;
	}
	return 0;
}

/* A one-line reason and exit 77 where AF_XDP or the privileges are missing. */
static int setup_error(const struct xengine *e, int err)
{
	fprintf(stderr, "tsq-xsk: %s\n", e->err);
	if (err == -EPERM || err == -EACCES || err == -EAFNOSUPPORT || err == -EPROTONOSUPPORT)
		return EXIT_SKIP;
	return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Percentiles                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_sorted(const uint64_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return (double)v[i < n ? i : n - 1];
}

static double pct_hist(const uint64_t *h, size_t buckets, double p)
{
	uint64_t total = 0, seen = 0, want;

	for (size_t i = 0; i < buckets; i++)
		total += h[i];
	if (total == 0)
		return 0;
	want = (uint64_t)(p / 100.0 * (double)total);
	for (size_t i = 0; i < buckets; i++) {
		seen += h[i];
		if (seen > want)
			return (double)i;
	}
	return (double)(buckets - 1);
}

/* ------------------------------------------------------------------------------------------ */
/* tx: the application threads                                                                 */
/* ------------------------------------------------------------------------------------------ */

struct zc_track {
	uint32_t first_id;
	uint64_t sends, copied_sends, notices, notified, dups, copied_ids, copied_notices;
	uint8_t *seen; /* by id - first_id */
	uint64_t cap;
	struct { uint32_t id; bool busy; } *slots;
	unsigned nslots;
};

struct app {
	struct xengine *e;
	struct xflow *f;
	const struct opts *o;
	unsigned slot;
	pthread_t thread;
	int *done; /* the main thread says: quiesced, reclaim and leave */
	struct zc_track zc;
	uint8_t *heap_msg; /* a buffer outside the UMEM, for --copy-every */
	uint64_t built;
	bool last_copy; /* the last message was copied */
};

static void zc_mark(struct zc_track *t, uint32_t id, bool copied)
{
	uint64_t k = (uint32_t)(id - t->first_id); /* u32: correct across the 2^32 wrap */

	if (k >= t->cap) {
		uint64_t cap = t->cap ? t->cap : 4096;
		uint8_t *n;

		while (cap <= k)
			cap *= 2;
		n = realloc(t->seen, cap);
		if (n == NULL)
			return;
		memset(n + t->cap, 0, cap - t->cap);
		t->seen = n;
		t->cap = cap;
	}
	if (t->seen[k])
		t->dups++;
	t->seen[k] = 1;
	t->notified++;
	if (copied)
		t->copied_ids++;
}

/* Read notices, mark ids, free the arena slots they cover. */
static void zc_poll(struct app *a)
{
	struct tsq_zc_notice n[32];
	int got;

	while ((got = tsq_zc_read(&a->f->zc, n, 32)) > 0) {
		for (int i = 0; i < got; i++) {
			a->zc.notices++;
			if (n[i].copied)
				a->zc.copied_notices++;
			for (uint32_t id = n[i].lo;; id++) {
				zc_mark(&a->zc, id, n[i].copied);
				if (id == n[i].hi)
					break;
			}
			for (unsigned s = 0; s < a->zc.nslots; s++)
				if (a->zc.slots[s].busy && tsq_zc_notice_covers(&n[i], a->zc.slots[s].id))
					a->zc.slots[s].busy = false;
		}
	}
}

/* One zerocopy message of MSG_FRAMES frames from arena slot s (or copied from the heap). */
static unsigned zc_send_message(struct app *a, unsigned s, bool copy)
{
	struct xflow *f = a->f;
	struct xframe *fr[MSG_FRAMES];
	struct tsq_zc_ctx *ctx;
	uint32_t len = a->o->pkt_size;

	for (unsigned k = 0; k < MSG_FRAMES; k++) {
		if (copy) {
			/* Outside the UMEM: the stack copies it into its own frames. */
			fr[k] = xflow_frame_get(f);
			if (fr[k] == NULL) {
				while (k--) /* not enough frames: put the taken ones back */
					f->pool[f->pool_free++] = fr[k];
				return 0;
			}
		} else {
			fr[k] = &f->w->frames[f->arena_first + s * MSG_FRAMES + k];
		}
	}
	/*
	 * Append to the newest context only when this message is of the same kind as the last:
	 * a context's COPIED mark covers all its sends, so a copied message never shares a
	 * context with zerocopy ones - that keeps COPIED exact per notice (zc.h merges notices
	 * only with equal marks).
	 */
	if (tsq_zc_send_start(&f->zc, MSG_FRAMES * len, copy == a->last_copy ? TSQ_ZC_APPEND : 0,
			      &ctx) != 0) {
		if (copy)
			for (unsigned k = 0; k < MSG_FRAMES; k++)
				f->pool[f->pool_free++] = fr[k];
		return 0; /* reserve empty: read notices first */
	}
	for (unsigned k = 0; k < MSG_FRAMES; k++) {
		if (copy) {
			/* The application's buffer is on the heap: the stack copies it in. */
			xflow_build(f, fr[k], len);
			memcpy(a->heap_msg + k * len, xframe_data(fr[k]), len);
		} else {
			xflow_build(f, fr[k], len); /* the application writes its (UMEM) buffer */
		}
		fr[k]->copied = copy;
		tsq_zc_get(ctx);
		fr[k]->zc = ctx;
		xflow_queue(f, fr[k]);
	}
	a->zc.sends++;
	if (copy)
		a->zc.copied_sends++;
	if (!copy) {
		a->zc.slots[s].id = tsq_zc_send_id(ctx);
		a->zc.slots[s].busy = true;
	}
	tsq_zc_send_done(&f->zc, ctx);
	return MSG_FRAMES;
}

static bool bulk_wants_more(const struct app *a)
{
	if (tsq_load(&a->e->app_stopped, TSQ_ACQUIRE) || interrupted)
		return false;
	return a->o->count == 0 || a->f->next_seq < a->o->count;
}

static void *bulk_main(void *arg)
{
	struct app *a = arg;
	struct xflow *f = a->f;
	const struct opts *o = a->o;
	unsigned flush_ctr = 0;

	xeng_app_enter(a->e, a->slot);
	while (!tsq_load(a->done, TSQ_ACQUIRE)) {
		unsigned built = 0;

		xeng_app_reclaim(a->e);
		if (o->zerocopy)
			zc_poll(a);
		if (bulk_wants_more(a)) {
			xflow_lock(f);
			while (built < 64 && bulk_wants_more(a)) {
				unsigned n = 0;

				if (o->zerocopy) {
					bool copy = o->copy_every && (a->zc.sends + 1) % o->copy_every == 0;
					unsigned s = 0;

					while (!copy && s < a->zc.nslots && a->zc.slots[s].busy)
						s++;
					if (copy || s < a->zc.nslots)
						n = zc_send_message(a, s, copy);
					a->last_copy = n ? copy : a->last_copy;
				} else {
					struct xframe *fr = xflow_frame_get(f);

					if (fr != NULL) {
						xflow_build(f, fr, o->pkt_size);
						xflow_queue(f, fr);
						n = 1;
					}
				}
				if (n == 0)
					break;
				built += n;
				/* The long send's rhythm: push, and let parked work in, every 16 frames. */
				if (built % 16 == 0) {
					xflow_push(f);
					tsq_owner_flush_every(&f->own, &flush_ctr, 1);
				}
			}
			xflow_push(f);
			xflow_unlock(f);
		}
		a->built += built;
		if (built == 0)
			xeng_app_wait(a->e, 5);
	}
	xeng_app_reclaim(a->e);
	if (o->zerocopy)
		zc_poll(a);
	xeng_app_leave();
	return NULL;
}

static void *probe_main(void *arg)
{
	struct app *a = arg;
	struct xflow *f = a->f;
	uint64_t period = (uint64_t)(1e9 / a->o->probe_rate);
	struct timespec next;

	xeng_app_enter(a->e, a->slot);
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!tsq_load(&a->e->app_stopped, TSQ_ACQUIRE) && !interrupted) {
		struct xframe *fr;

		xeng_app_reclaim(a->e);
		fr = xflow_frame_get(f);
		if (fr != NULL) {
			xflow_lock(f);
			xflow_build(f, fr, a->o->pkt_size);
			fr->t_send = xeng_now_ns();
			xflow_queue(f, fr);
			xflow_push(f);
			xflow_unlock(f);
			a->built++;
		}
		next.tv_nsec += (long)period;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	while (!tsq_load(a->done, TSQ_ACQUIRE)) {
		xeng_app_reclaim(a->e);
		xeng_app_wait(a->e, 5);
	}
	xeng_app_reclaim(a->e);
	xeng_app_leave();
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* tx: one run                                                                                 */
/* ------------------------------------------------------------------------------------------ */

struct run_result {
	bool tsq;
	double secs, bulk_pps, bulk_gbps, occ_p50, occ_p99, occ_max;
	double lat_ring_p50, lat_ring_p99, lat_send_p50, lat_send_p99;
	uint64_t probe_samples;
	double zc_notices_per_send;
	uint64_t zc_sends, zc_notices, zc_notified, zc_dups, zc_missing, zc_copied_sends, zc_copied_ids;
	uint64_t bulk_frames, leaked, throttled_idle;
	struct xworker_stats ws;
	uint64_t throttles, recheck_saves, queued, deferred, backlog_flushes;
	const char *bind;
	bool quiesced;
	struct { uint64_t sent, bytes; int kind; } flow[65];
	unsigned nflows;
};

static void read_src_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);

	memset(mac, 0, 6);
	mac[0] = 2;
	if (fd < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
}

static uint64_t bulk_completed(const struct xengine *e)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < e->nr_flows; i++)
		if (e->flows[i]->kind == XFLOW_BULK)
			n += tsq_load(&e->flows[i]->completed, TSQ_RELAXED);
	return n;
}

static int run_tx(const struct opts *o, bool tsq, struct run_result *r)
{
	struct xengine e;
	struct xeng_cfg cfg = {
		.ifname = o->ifname, .queue = o->queue, .nr_queues = o->queues, .bind = o->bind,
		.attach = o->attach, .need_wakeup = o->need_wakeup, .rx = false, .pin_cpus = o->pin,
		.frame_size = o->frame_size, .ring_size = o->ring_size, .rx_frames = 0, .tsq = tsq,
		.tsq_limit = o->tsq_limit, .backlog_limit = 1 << 20, .port = o->port};
	unsigned nflows = o->flows + (o->probe_rate > 0);
	struct xflow_spec specs[65];
	struct app apps[65];
	int done = 0, err, rc = 0;
	uint64_t t0, t1, c0, last = 0, lastt;
	bool tty = isatty(STDERR_FILENO);

	memset(r, 0, sizeof(*r));
	r->tsq = tsq;
	read_src_mac(o->ifname, cfg.src_mac);
	memcpy(cfg.dst_mac, o->dst_mac, 6);
	memcpy(cfg.src_ip, o->src_ip, 16);
	memcpy(cfg.dst_ip, o->dst_ip, 16);
	cfg.nr_app_shards = nflows;
	for (unsigned i = 0; i < nflows; i++) {
		bool probe = i == o->flows;

		specs[i] = (struct xflow_spec){
			.kind = probe ? XFLOW_PROBE : XFLOW_BULK,
			.pool_frames = probe ? 256 : o->pool_frames,
			.arena_frames = (!probe && o->zerocopy) ? 128 * MSG_FRAMES : 0, .app_slot = i};
	}
	err = xeng_create(&e, &cfg, specs, nflows);
	if (err) {
		rc = setup_error(&e, err);
		xeng_destroy(&e);
		return rc;
	}
	r->bind = xeng_bind_name(&e);
	memset(apps, 0, sizeof(apps));
	for (unsigned i = 0; i < nflows; i++) {
		struct app *a = &apps[i];

		a->e = &e;
		a->f = e.flows[i];
		a->o = o;
		a->slot = i;
		a->done = &done;
		a->zc.first_id = o->zc_first_id;
		tsq_zc_flow_set_next_id(&a->f->zc, o->zc_first_id);
		if (specs[i].arena_frames) {
			a->zc.nslots = specs[i].arena_frames / MSG_FRAMES;
			a->zc.slots = calloc(a->zc.nslots, sizeof(*a->zc.slots));
			a->heap_msg = malloc((size_t)MSG_FRAMES * o->pkt_size);
		}
	}
	err = xeng_start(&e);
	if (err) {
		fprintf(stderr, "tsq-xsk: %s\n", e.err);
		xeng_destroy(&e);
		return 1;
	}
	t0 = xeng_now_ns();
	c0 = bulk_completed(&e);
	lastt = t0;
	for (unsigned i = 0; i < nflows; i++)
		pthread_create(&apps[i].thread, NULL, specs[i].kind == XFLOW_PROBE ? probe_main : bulk_main,
			       &apps[i]);
	/* Progress, once a second: rewritten in place on a terminal, plain lines otherwise. */
	for (;;) {
		uint64_t now = xeng_now_ns(), c;
		bool counted_out = o->count && bulk_completed(&e) >= o->count * o->flows;

		if (interrupted || counted_out || now - t0 >= (uint64_t)(o->duration * 1e9))
			break;
		usleep(10000);
		if (now - lastt >= 1000000000ull && !o->quiet) {
			c = bulk_completed(&e);
			fprintf(stderr, "%s[tsq %s] t=%.0fs bulk %.3f Mpps  outstanding %u%s",
				tty ? "\r" : "", tsq ? "on " : "off", (double)(now - t0) / 1e9,
				(double)(c - last) / ((double)(now - lastt) / 1e3), e.workers[0].outstanding,
				tty ? "   " : "\n");
			last = c;
			lastt = now;
		}
		if (last == 0)
			last = c0;
	}
	if (!o->quiet && tty)
		fprintf(stderr, "\n");
	t1 = xeng_now_ns();
	r->bulk_frames = bulk_completed(&e) - c0;
	r->secs = (double)(t1 - t0) / 1e9;
	r->quiesced = xeng_quiesce(&e, 5000) == 0;
	tsq_store(&done, 1, TSQ_RELEASE);
	for (unsigned i = 0; i < nflows; i++)
		pthread_join(apps[i].thread, NULL);
	xeng_stop(&e);
	for (unsigned i = 0; i < e.nr_workers; i++) {
		pthread_join(e.workers[i].thread, NULL);
		e.workers[i].started = false;
	}

	/* Figures. */
	{
		struct xworker *w = &e.workers[0];
		uint64_t bytes = 0;

		for (unsigned i = 0; i < nflows; i++)
			if (e.flows[i]->kind == XFLOW_BULK)
				bytes += e.flows[i]->completed_bytes;
		r->bulk_pps = (double)r->bulk_frames / r->secs;
		r->bulk_gbps = (double)bytes * 8 / r->secs / 1e9;
		r->occ_p50 = pct_hist(w->occ_hist, 2 * o->ring_size + 1, 50);
		r->occ_p99 = pct_hist(w->occ_hist, 2 * o->ring_size + 1, 99);
		r->occ_max = w->occ_max;
		qsort(w->lat_ring, w->nlat, sizeof(uint64_t), cmp_u64);
		qsort(w->lat_send, w->nlat, sizeof(uint64_t), cmp_u64);
		r->probe_samples = w->nlat;
		r->lat_ring_p50 = pct_sorted(w->lat_ring, w->nlat, 50) / 1e3;
		r->lat_ring_p99 = pct_sorted(w->lat_ring, w->nlat, 99) / 1e3;
		r->lat_send_p50 = pct_sorted(w->lat_send, w->nlat, 50) / 1e3;
		r->lat_send_p99 = pct_sorted(w->lat_send, w->nlat, 99) / 1e3;
		r->ws = w->st;
	}
	r->nflows = nflows;
	for (unsigned i = 0; i < nflows; i++) {
		struct xflow *f = e.flows[i];
		struct tsq_flow_stats fs = {0};
		struct tsq_owner_stats os = {0};
		struct app *a = &apps[i];

		tsq_flow_stats(&f->tsq, &fs);
		tsq_owner_stats(&f->own, &os);
		r->flow[i].sent = f->completed;
		r->flow[i].bytes = f->completed_bytes;
		r->flow[i].kind = f->kind;
		r->throttles += fs.budget.throttles;
		r->recheck_saves += fs.budget.recheck_saves;
		r->queued += fs.queued;
		r->deferred += fs.deferred;
		r->backlog_flushes += os.flushes;
		/* Every TX frame home, every arena slot free. */
		r->leaked += f->pool_frames - f->pool_free;
		for (unsigned s = 0; s < a->zc.nslots; s++)
			r->leaked += a->zc.slots[s].busy ? MSG_FRAMES : 0;
		if ((fs.flags & TSQ_F_THROTTLED) && tsq_budget_inflight(&f->tsq.budget) == 0)
			r->throttled_idle++;
		if (o->zerocopy && f->kind == XFLOW_BULK) {
			r->zc_sends += a->zc.sends;
			r->zc_notices += a->zc.notices;
			r->zc_notified += a->zc.notified;
			r->zc_dups += a->zc.dups;
			r->zc_copied_sends += a->zc.copied_sends;
			r->zc_copied_ids += a->zc.copied_ids;
			for (uint64_t k = 0; k < a->zc.sends; k++)
				if (k >= a->zc.cap || !a->zc.seen[k])
					r->zc_missing++;
		}
		free(a->zc.slots);
		free(a->zc.seen);
		free(a->heap_msg);
	}
	r->zc_notices_per_send = r->zc_sends ? (double)r->zc_notices / (double)r->zc_sends : 0;
	xeng_destroy(&e);
	return 0;
}

static void print_run_json(const struct run_result *r, bool last)
{
	printf("{\"tsq\":%s,\"bind\":\"%s\",\"seconds\":%.3f,\"bulk_pps\":%.0f,\"bulk_gbps\":%.4f,"
	       "\"txring_occupancy_p50\":%.0f,\"txring_occupancy_p99\":%.0f,\"txring_occupancy_max\":%.0f,"
	       "\"probe_latency_us_p50\":%.1f,\"probe_latency_us_p99\":%.1f,"
	       "\"probe_send_latency_us_p50\":%.1f,\"probe_send_latency_us_p99\":%.1f,\"probe_samples\":%llu,"
	       "\"zc_notices_per_send\":%.4f,\"zc\":{\"sends\":%llu,\"notices\":%llu,\"ids_notified\":%llu,"
	       "\"ids_duplicate\":%llu,\"ids_missing\":%llu,\"copied_sends\":%llu,\"copied_ids\":%llu},"
	       "\"tsq_throttles\":%llu,\"tsq_recheck_saves\":%llu,\"tsq_restarts_queued\":%llu,"
	       "\"tsq_restarts_deferred\":%llu,\"backlog_flushes\":%llu,"
	       "\"worker\":{\"tx_submitted\":%llu,\"tx_completed\":%llu,\"kicks\":%llu,\"kick_again\":%llu,"
	       "\"kick_errors\":%llu,\"ring_full\":%llu,\"restarts\":%llu,\"defer_requeued\":%llu},"
	       "\"quiesced\":%s,\"umem_frames_leaked\":%llu,\"throttled_idle_flows\":%llu,\"flows\":[",
	       r->tsq ? "true" : "false", r->bind, r->secs, r->bulk_pps, r->bulk_gbps, r->occ_p50,
	       r->occ_p99, r->occ_max, r->lat_ring_p50, r->lat_ring_p99, r->lat_send_p50, r->lat_send_p99,
	       (unsigned long long)r->probe_samples, r->zc_notices_per_send,
	       (unsigned long long)r->zc_sends, (unsigned long long)r->zc_notices,
	       (unsigned long long)r->zc_notified, (unsigned long long)r->zc_dups,
	       (unsigned long long)r->zc_missing, (unsigned long long)r->zc_copied_sends,
	       (unsigned long long)r->zc_copied_ids, (unsigned long long)r->throttles,
	       (unsigned long long)r->recheck_saves, (unsigned long long)r->queued,
	       (unsigned long long)r->deferred, (unsigned long long)r->backlog_flushes,
	       (unsigned long long)r->ws.tx_submitted, (unsigned long long)r->ws.tx_completed,
	       (unsigned long long)r->ws.kicks, (unsigned long long)r->ws.kick_again,
	       (unsigned long long)r->ws.kick_errors, (unsigned long long)r->ws.ring_full,
	       (unsigned long long)r->ws.restarts, (unsigned long long)r->ws.defer_requeued,
	       r->quiesced ? "true" : "false", (unsigned long long)r->leaked,
	       (unsigned long long)r->throttled_idle);
	for (unsigned i = 0; i < r->nflows; i++)
		printf("%s{\"id\":%u,\"kind\":\"%s\",\"sent\":%llu,\"bytes\":%llu}", i ? "," : "", i,
		       r->flow[i].kind == XFLOW_PROBE ? "probe" : "bulk", (unsigned long long)r->flow[i].sent,
		       (unsigned long long)r->flow[i].bytes);
	printf("]}%s", last ? "" : ",");
}

static void print_table(const struct run_result *r, unsigned n)
{
	const char *rows[] = {"bulk Mpps", "bulk Gbit/s", "TX outstanding p50", "TX outstanding p99",
			      "probe ring->completion p50 us", "probe ring->completion p99 us",
			      "probe send->completion p50 us", "probe send->completion p99 us",
			      "zc notices per send", "tsq throttles", "restarts queued / deferred"};

	printf("%-32s", "");
	for (unsigned k = 0; k < n; k++)
		printf(" %14s", r[k].tsq ? "TSQ on" : "TSQ off");
	printf("\n");
	for (unsigned row = 0; row < sizeof(rows) / sizeof(rows[0]); row++) {
		printf("%-32s", rows[row]);
		for (unsigned k = 0; k < n; k++) {
			const struct run_result *x = &r[k];
			char buf[64];

			switch (row) {
			case 0: snprintf(buf, sizeof(buf), "%.3f", x->bulk_pps / 1e6); break;
			case 1: snprintf(buf, sizeof(buf), "%.3f", x->bulk_gbps); break;
			case 2: snprintf(buf, sizeof(buf), "%.0f", x->occ_p50); break;
			case 3: snprintf(buf, sizeof(buf), "%.0f", x->occ_p99); break;
			case 4: snprintf(buf, sizeof(buf), "%.1f", x->lat_ring_p50); break;
			case 5: snprintf(buf, sizeof(buf), "%.1f", x->lat_ring_p99); break;
			case 6: snprintf(buf, sizeof(buf), "%.1f", x->lat_send_p50); break;
			case 7: snprintf(buf, sizeof(buf), "%.1f", x->lat_send_p99); break;
			case 8: snprintf(buf, sizeof(buf), x->zc_sends ? "%.4f" : "-", x->zc_notices_per_send); break;
			case 9: snprintf(buf, sizeof(buf), "%llu", (unsigned long long)x->throttles); break;
			default:
				snprintf(buf, sizeof(buf), "%llu / %llu", (unsigned long long)x->queued,
					 (unsigned long long)x->deferred);
			}
			printf(" %14s", buf);
		}
		printf("\n");
	}
	if (n == 2 && r[1].lat_ring_p99 > 0)
		printf("probe p99 ratio off/on: %.1fx; bulk throughput on/off: %.1f%%\n",
		       r[0].lat_ring_p99 / r[1].lat_ring_p99, 100.0 * r[1].bulk_pps / r[0].bulk_pps);
	printf("bind: %s; frames leaked: %llu; flows throttled with nothing in flight: %llu\n", r[0].bind,
	       (unsigned long long)(r[0].leaked + (n > 1 ? r[1].leaked : 0)),
	       (unsigned long long)(r[0].throttled_idle + (n > 1 ? r[1].throttled_idle : 0)));
}

static int cmd_tx(const struct opts *o, bool compare)
{
	struct run_result r[2];
	unsigned n = 0;
	int rc;

	if (compare) {
		rc = run_tx(o, false, &r[n++]);
		if (rc == 0)
			rc = run_tx(o, true, &r[n++]);
	} else {
		rc = run_tx(o, o->tsq, &r[n++]);
	}
	if (rc != 0)
		return rc;
	if (o->json) {
		printf("{\"runs\":[");
		for (unsigned k = 0; k < n; k++)
			print_run_json(&r[k], k + 1 == n);
		printf("]}\n");
	} else {
		print_table(r, n);
	}
	for (unsigned k = 0; k < n; k++)
		if (!r[k].quiesced || r[k].leaked || r[k].throttled_idle || r[k].zc_dups || r[k].zc_missing)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Receivers                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void touch(const char *path)
{
	FILE *f;

	if (path != NULL && (f = fopen(path, "w")) != NULL)
		fclose(f);
}

struct rx_owner_app {
	struct xengine *e;
	const struct opts *o;
	int stop;
};

/* The receiving application: owns each flow for a "long operation" every millisecond, in
 * steps, flushing the backlog every 16 steps - frames arriving meanwhile go to the backlog. */
static void *rx_owner_main(void *arg)
{
	struct rx_owner_app *a = arg;
	struct cds_lfht_iter it;
	struct xflow *f;

	xeng_app_enter(a->e, 0);
	while (!tsq_load(&a->stop, TSQ_ACQUIRE)) {
		rcu_read_lock();
		cds_lfht_for_each_entry(a->e->table, &it, f, hnode) {
			unsigned ctr = 0;
			uint64_t end = xeng_now_ns() + (uint64_t)a->o->own_us * 1000;

			xflow_lock(f);
			while (xeng_now_ns() < end)
				tsq_owner_flush_every(&f->own, &ctr, 16);
			xflow_unlock(f);
		}
		rcu_read_unlock();
		xeng_app_reclaim(a->e);
		usleep(1000);
	}
	xeng_app_reclaim(a->e);
	xeng_app_leave();
	return NULL;
}

static int cmd_rx(const struct opts *o)
{
	struct xengine e;
	struct xeng_cfg cfg = {
		.ifname = o->ifname, .queue = o->queue, .nr_queues = o->queues, .bind = o->bind,
		.attach = o->attach, .need_wakeup = o->need_wakeup, .rx = true, .pin_cpus = o->pin,
		.frame_size = o->frame_size, .ring_size = o->ring_size, .rx_frames = 2 * o->ring_size,
		.tsq = false, .tsq_limit = o->tsq_limit, .backlog_limit = 256 * 1024,
		.nr_app_shards = 1, .port = o->port};
	struct rx_owner_app app = {&e, o, 0};
	pthread_t th;
	uint64_t t0, last_rx = 0, last_change, rx_total = 0, rx = 0, dups = 0, missing = 0;
	struct xdp_statistics xs = {0};
	struct cds_lfht_iter it;
	struct xflow *f;
	int err;
	bool first = true;

	err = xeng_create(&e, &cfg, NULL, 0);
	if (err) {
		int rc = setup_error(&e, err);

		xeng_destroy(&e);
		return rc;
	}
	if (xeng_start(&e) != 0) {
		fprintf(stderr, "tsq-xsk: %s\n", e.err);
		xeng_destroy(&e);
		return 1;
	}
	pthread_create(&th, NULL, rx_owner_main, &app);
	touch(o->ready_file);
	t0 = last_change = xeng_now_ns();
	while (!interrupted) {
		uint64_t now = xeng_now_ns(), n = 0;

		usleep(10000);
		for (unsigned i = 0; i < e.nr_workers; i++)
			n += tsq_load(&e.workers[i].st.rx_frames, TSQ_RELAXED);
		if (n != last_rx) {
			last_rx = n;
			last_change = now;
		}
		if (now - t0 >= (uint64_t)(o->duration * 1e9))
			break;
		if (last_rx != 0 && now - last_change >= (uint64_t)o->idle_exit_ms * 1000000ull)
			break;
	}
	tsq_store(&app.stop, 1, TSQ_RELEASE);
	pthread_join(th, NULL);
	xeng_stop(&e);
	for (unsigned i = 0; i < e.nr_workers; i++) {
		socklen_t len = sizeof(struct xdp_statistics);
		struct xdp_statistics s;

		pthread_join(e.workers[i].thread, NULL);
		e.workers[i].started = false;
		if (getsockopt(xsk_socket__fd(e.workers[i].xsk), SOL_XDP, XDP_STATISTICS, &s, &len) == 0) {
			xs.rx_dropped += s.rx_dropped;
			xs.rx_invalid_descs += s.rx_invalid_descs;
			xs.rx_ring_full += s.rx_ring_full;
			xs.rx_fill_ring_empty_descs += s.rx_fill_ring_empty_descs;
		}
		rx_total += e.workers[i].st.rx_frames;
	}
	if (o->json)
		printf("{\"role\":\"rx\",\"bind\":\"%s\",\"attach\":\"%s\",\"flows\":[", xeng_bind_name(&e),
		       xdp_prog_mode_name(&e.prog));
	else
		printf("rx: bind %s, XDP %s\n%6s %12s %10s %12s %10s\n", xeng_bind_name(&e),
		       xdp_prog_mode_name(&e.prog), "flow", "received", "dups", "max_seq", "missing");
	rcu_read_lock();
	cds_lfht_for_each_entry(e.table, &it, f, hnode) {
		uint64_t distinct = 0, miss;

		for (uint64_t k = 0; k < f->seen_cap; k++)
			distinct += f->seen[k];
		miss = f->rx_frames ? f->rx_max_seq + 1 - distinct : 0;
		rx += f->rx_frames;
		dups += f->rx_dups;
		missing += miss;
		if (o->json)
			printf("%s{\"id\":%u,\"received\":%llu,\"duplicates\":%llu,\"max_seq\":%llu,\"missing\":%llu}",
			       first ? "" : ",", f->id, (unsigned long long)f->rx_frames,
			       (unsigned long long)f->rx_dups, (unsigned long long)f->rx_max_seq,
			       (unsigned long long)miss);
		else
			printf("%6u %12llu %10llu %12llu %10llu\n", f->id, (unsigned long long)f->rx_frames,
			       (unsigned long long)f->rx_dups, (unsigned long long)f->rx_max_seq,
			       (unsigned long long)miss);
		first = false;
	}
	rcu_read_unlock();
	{
		struct xworker_stats s = {0};

		for (unsigned i = 0; i < e.nr_workers; i++) {
			s.rx_invalid += e.workers[i].st.rx_invalid;
			s.rx_direct += e.workers[i].st.rx_direct;
			s.rx_backlogged += e.workers[i].st.rx_backlogged;
			s.rx_backlog_drops += e.workers[i].st.rx_backlog_drops;
			s.defer_requeued += e.workers[i].st.defer_requeued;
		}
		if (o->json)
			printf("],\"received\":%llu,\"duplicates\":%llu,\"missing\":%llu,\"frames_seen\":%llu,"
			       "\"not_ours\":%llu,\"direct\":%llu,\"backlogged\":%llu,\"backlog_drops\":%llu,"
			       "\"xdp_rx_dropped\":%llu,\"xdp_rx_ring_full\":%llu,\"xdp_rx_invalid\":%llu,"
			       "\"xdp_fill_ring_empty\":%llu,\"drops\":%llu}\n",
			       (unsigned long long)rx, (unsigned long long)dups, (unsigned long long)missing,
			       (unsigned long long)rx_total, (unsigned long long)s.rx_invalid,
			       (unsigned long long)s.rx_direct, (unsigned long long)s.rx_backlogged,
			       (unsigned long long)s.rx_backlog_drops, (unsigned long long)xs.rx_dropped,
			       (unsigned long long)xs.rx_ring_full, (unsigned long long)xs.rx_invalid_descs,
			       (unsigned long long)xs.rx_fill_ring_empty_descs,
			       (unsigned long long)(xs.rx_dropped + xs.rx_ring_full + s.rx_backlog_drops));
		else
			printf("received %llu (direct %llu, via backlog %llu), duplicates %llu, missing %llu; "
			       "drops: backlog %llu, xsk rx_dropped %llu, rx_ring_full %llu\n",
			       (unsigned long long)rx, (unsigned long long)s.rx_direct,
			       (unsigned long long)s.rx_backlogged, (unsigned long long)dups,
			       (unsigned long long)missing, (unsigned long long)s.rx_backlog_drops,
			       (unsigned long long)xs.rx_dropped, (unsigned long long)xs.rx_ring_full);
	}
	xeng_destroy(&e);
	return dups ? 1 : 0;
}

static uint64_t snmp6(const char *key)
{
	char name[128];
	unsigned long long v;
	uint64_t out = 0;
	FILE *f = fopen("/proc/net/snmp6", "r");

	if (f == NULL)
		return 0;
	while (fscanf(f, "%127s %llu", name, &v) == 2)
		if (!strcmp(name, key))
			out = v;
	fclose(f);
	return out;
}

/* Frames the kernel dropped before any socket saw them: the per-CPU backlog (netif_rx). */
static uint64_t softnet_drops(void)
{
	char line[512];
	uint64_t sum = 0;
	FILE *f = fopen("/proc/net/softnet_stat", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long processed, dropped;

		if (sscanf(line, "%lx %lx", &processed, &dropped) == 2)
			sum += dropped;
	}
	fclose(f);
	return sum;
}

static int cmd_rx_udp(const struct opts *o)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(o->port)};
	int fd = socket(AF_INET6, SOCK_DGRAM, 0), big = 8 << 20;
	uint64_t t0, last_change, rx = 0, dups = 0, missing = 0, e0, e1;
	struct { uint8_t *seen; uint64_t cap, n, max; } fl[256];
	struct timeval tv = {0, 100000};
	uint8_t buf[64][2048];
	struct mmsghdr msgs[64];
	struct iovec iov[64];

	memset(fl, 0, sizeof(fl));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "tsq-xsk: UDP socket on port %u: %s\n", o->port, strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	e0 = snmp6("Udp6InErrors") + softnet_drops();
	touch(o->ready_file);
	t0 = last_change = xeng_now_ns();
	while (!interrupted) {
		uint64_t now;
		int n;

		for (int i = 0; i < 64; i++) {
			iov[i] = (struct iovec){buf[i], sizeof(buf[i])};
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, msgs, 64, 0, NULL);
		now = xeng_now_ns();
		for (int i = 0; i < n; i++) {
			struct xeng_payload pl;

			if (msgs[i].msg_len < sizeof(pl))
				continue;
			memcpy(&pl, buf[i], sizeof(pl));
			if (pl.magic != XENG_MAGIC || pl.flow >= 256)
				continue;
			if (pl.seq >= fl[pl.flow].cap) {
				uint64_t cap = fl[pl.flow].cap ? fl[pl.flow].cap : 4096;
				uint8_t *nb;

				while (cap <= pl.seq)
					cap *= 2;
				nb = realloc(fl[pl.flow].seen, cap);
				if (nb == NULL)
					continue;
				memset(nb + fl[pl.flow].cap, 0, cap - fl[pl.flow].cap);
				fl[pl.flow].seen = nb;
				fl[pl.flow].cap = cap;
			}
			dups += fl[pl.flow].seen[pl.seq];
			fl[pl.flow].seen[pl.seq] = 1;
			if (pl.seq > fl[pl.flow].max || fl[pl.flow].n == 0)
				fl[pl.flow].max = pl.seq;
			fl[pl.flow].n++;
			rx++;
		}
		if (n > 0)
			last_change = now;
		if (now - t0 >= (uint64_t)(o->duration * 1e9))
			break;
		if (rx && now - last_change >= (uint64_t)o->idle_exit_ms * 1000000ull)
			break;
	}
	e1 = snmp6("Udp6InErrors") + softnet_drops();
	close(fd);
	if (o->json)
		printf("{\"role\":\"rx-udp\",\"flows\":[");
	else
		printf("%6s %12s %12s %10s\n", "flow", "received", "max_seq", "missing");
	for (unsigned i = 0, first = 1; i < 256; i++) {
		uint64_t distinct = 0, miss;

		if (fl[i].n == 0)
			continue;
		for (uint64_t k = 0; k < fl[i].cap; k++)
			distinct += fl[i].seen[k];
		miss = fl[i].max + 1 - distinct;
		missing += miss;
		if (o->json)
			printf("%s{\"id\":%u,\"received\":%llu,\"max_seq\":%llu,\"missing\":%llu}", first ? "" : ",",
			       i, (unsigned long long)fl[i].n, (unsigned long long)fl[i].max,
			       (unsigned long long)miss);
		else
			printf("%6u %12llu %12llu %10llu\n", i, (unsigned long long)fl[i].n,
			       (unsigned long long)fl[i].max, (unsigned long long)miss);
		first = 0;
		free(fl[i].seen);
	}
	if (o->json)
		printf("],\"received\":%llu,\"duplicates\":%llu,\"missing\":%llu,\"drops\":%llu}\n",
		       (unsigned long long)rx, (unsigned long long)dups, (unsigned long long)missing,
		       (unsigned long long)(e1 - e0));
	else
		printf("received %llu, duplicates %llu, missing %llu, UDP receive errors %llu\n",
		       (unsigned long long)rx, (unsigned long long)dups, (unsigned long long)missing,
		       (unsigned long long)(e1 - e0));
	return dups ? 1 : 0;
}

static int cmd_sink(const struct opts *o)
{
	struct xdp_prog p;
	int ifindex = (int)if_nametoindex(o->ifname), err;
	uint64_t frames = 0, t0;

	if (ifindex == 0) {
		fprintf(stderr, "tsq-xsk: no interface '%s'\n", o->ifname);
		return 1;
	}
	err = xdp_prog_load_sink(&p);
	if (err == 0)
		err = xdp_prog_attach(&p, ifindex, o->attach);
	if (err) {
		fprintf(stderr, "tsq-xsk: XDP sink on %s: %s\n", o->ifname, strerror(-err));
		xdp_prog_destroy(&p);
		return err == -EPERM ? EXIT_SKIP : 1;
	}
	touch(o->ready_file);
	t0 = xeng_now_ns();
	while (!interrupted && xeng_now_ns() - t0 < (uint64_t)(o->duration * 1e9))
		usleep(10000);
	xdp_prog_sink_count(&p, &frames);
	if (o->json)
		printf("{\"role\":\"sink\",\"attach\":\"%s\",\"frames\":%llu}\n", xdp_prog_mode_name(&p),
		       (unsigned long long)frames);
	else
		printf("sink (%s XDP): %llu frames\n", xdp_prog_mode_name(&p), (unsigned long long)frames);
	xdp_prog_destroy(&p);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	int rc = parse_opts(argc, argv, &o);

	if (rc == 1)
		return 0; /* --help */
	if (rc != 0)
		return rc;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (strcmp(o.cmd, "rx-udp") && geteuid() != 0) {
		fprintf(stderr, "tsq-xsk: AF_XDP needs root (CAP_NET_ADMIN, CAP_BPF): skipped\n");
		return EXIT_SKIP;
	}
	rcu_register_thread();
	if (!strcmp(o.cmd, "tx"))
		rc = cmd_tx(&o, false);
	else if (!strcmp(o.cmd, "compare"))
		rc = cmd_tx(&o, true);
	else if (!strcmp(o.cmd, "rx"))
		rc = cmd_rx(&o);
	else if (!strcmp(o.cmd, "rx-udp"))
		rc = cmd_rx_udp(&o);
	else
		rc = cmd_sink(&o);
	rcu_unregister_thread();
	return rc;
}
