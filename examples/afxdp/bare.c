/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bare.c - the bare sender: the in-tree anchor for the engine's throughput. No engine, no
 * tsq, no defer, no application thread: one socket, one UMEM, one loop - the kernel's
 * xdpsock TX-only pattern (samples/bpf, now in bpf-examples/AF_XDP-example):
 *     reap the completion ring -> fill the TX ring with what came back -> kick (sendto)
 * Frames are built once, before the loop (xdpsock's pre-generated packets), in the same
 * format as the engine's (IPv6/UDP, the tsq-xsk payload, flow 0, bulk). With
 * --build-per-send every frame is built again just before it goes into the TX ring, with the
 * next sequence number - the work the engine's applications do per frame, but on the
 * sending CPU, so the kernel's copy finds it in cache. What the engine does on top -
 * per-flow budgets, hand-offs between threads, frames built on another CPU - is the
 * difference the matrix measures against each.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_xdp.h>

#define BARE_BATCH 64 /* xdpsock's default batch */

struct bare {
	void *area;
	size_t area_size;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp;
	uint64_t *free_addr;
	uint32_t nfree, nframes, outstanding;
	bool zerocopy;
	struct xeng_cfg cfg; /* the frame format's addresses */
	uint64_t seq;        /* --build-per-send: the next frame's sequence number */
	uint64_t *occ_hist;
	uint32_t occ_max;
	struct xworker_stats st;
};

static void bare_close(struct bare *b)
{
	if (b->xsk)
		xsk_socket__delete(b->xsk);
	if (b->umem)
		xsk_umem__delete(b->umem);
	if (b->area)
		munmap(b->area, b->area_size);
	free(b->free_addr);
	free(b->occ_hist);
}

static int bare_bind(const struct cli_args *o, struct bare *b, bool zc)
{
	struct xsk_socket_config scfg = {
		.rx_size = o->ring_size,
		.tx_size = o->ring_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = 0,
		.bind_flags = (uint16_t)((zc ? XDP_ZEROCOPY : XDP_COPY) |
					 (o->need_wakeup ? XDP_USE_NEED_WAKEUP : 0))
	};
	int err = -EBUSY;

	for (int tries = 0; tries < 50 && err == -EBUSY; tries++) { /* as the engine's bind */
		if (tries)
			usleep(20000);
		err = xsk_socket__create(&b->xsk, o->ifname, o->queue, b->umem, NULL, &b->tx,
					 &scfg);
	}
	if (err == 0)
		b->zerocopy = zc;
	return err;
}

/* The UMEM (twice the ring: the ring can be full while frames come back), the socket, and
 * every frame built once. Return: 0 or -errno, with a message printed. */
static int bare_open(const struct cli_args *o, struct bare *b)
{
	struct xsk_umem_config ucfg = { .fill_size = o->ring_size,
					.comp_size = o->ring_size,
					.frame_size = o->frame_size,
					.frame_headroom = 0,
					.flags = 0 };
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	struct xeng_cfg *cfg = &b->cfg;
	int err = -EINVAL;

	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0 && getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}
	b->nframes = 2 * o->ring_size;
	b->area_size = (size_t)b->nframes * o->frame_size;
	b->area = mmap(NULL, b->area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	b->free_addr = calloc(b->nframes, sizeof(uint64_t));
	b->occ_hist = calloc(2 * o->ring_size + 1, sizeof(uint64_t));
	if (b->area == MAP_FAILED || b->free_addr == NULL || b->occ_hist == NULL) {
		if (b->area == MAP_FAILED)
			b->area = NULL;
		fprintf(stderr, "tsq-xsk: bare: out of memory\n");
		return -ENOMEM;
	}
	err = xsk_umem__create(&b->umem, b->area, b->area_size, &b->fill, &b->comp, &ucfg);
	if (err) {
		fprintf(stderr, "tsq-xsk: bare: registering the UMEM failed (%s)\n",
			strerror(-err));
		return err;
	}
	if (o->bind != XENG_BIND_COPY)
		err = bare_bind(o, b, true);
	if ((o->bind == XENG_BIND_COPY || err != 0) && o->bind != XENG_BIND_ZEROCOPY)
		err = bare_bind(o, b, false);
	if (err) {
		fprintf(stderr,
			"tsq-xsk: bare: binding an AF_XDP socket to %s queue %u failed (%s)\n",
			o->ifname, o->queue, strerror(-err));
		return err;
	}
	cfg->port = o->port;
	read_src_mac(o->ifname, cfg->src_mac);
	memcpy(cfg->dst_mac, o->dst_mac, 6);
	memcpy(cfg->src_ip, o->src_ip, 16);
	memcpy(cfg->dst_ip, o->dst_ip, 16);
	for (uint32_t i = 0; i < b->nframes; i++) {
		uint64_t addr = (uint64_t)i * o->frame_size;

		xeng_frame_build(cfg, (uint8_t *)b->area + addr, o->pkt_size, 0, XFLOW_BULK, i);
		b->free_addr[b->nfree++] = addr;
	}
	b->seq = b->nframes;
	return 0;
}

static unsigned bare_complete(struct bare *b, uint32_t max)
{
	uint32_t idx, n = xsk_ring_cons__peek(&b->comp, max, &idx);

	for (uint32_t i = 0; i < n; i++)
		b->free_addr[b->nfree++] = *xsk_ring_cons__comp_addr(&b->comp, idx + i);
	if (n) {
		xsk_ring_cons__release(&b->comp, n);
		b->outstanding -= n;
		b->st.tx_completed += n;
	}
	return n;
}

static unsigned bare_fill(const struct cli_args *o, struct bare *b)
{
	uint32_t idx, n = b->nfree < BARE_BATCH ? b->nfree : BARE_BATCH, max = 2 * o->ring_size;

	n = n ? xsk_prod_nb_free(&b->tx, n) : 0;
	if (n > BARE_BATCH)
		n = BARE_BATCH;
	if (n > b->nfree)
		n = b->nfree;
	if (n == 0 || xsk_ring_prod__reserve(&b->tx, n, &idx) != n) {
		b->st.ring_full++;
		return 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&b->tx, idx + i);

		d->addr = b->free_addr[--b->nfree];
		d->len = o->pkt_size;
		d->options = 0;
		if (o->build_per_send)
			xeng_frame_build(&b->cfg, (uint8_t *)b->area + d->addr, o->pkt_size, 0,
					 XFLOW_BULK, b->seq++);
	}
	xsk_ring_prod__submit(&b->tx, n);
	b->outstanding += n;
	b->st.tx_submitted += n;
	b->occ_hist[b->outstanding < max ? b->outstanding : max]++;
	if (b->outstanding > b->occ_max)
		b->occ_max = b->outstanding;
	return n;
}

/* Return: 0, or the errno of a kick that failed for good (ENETDOWN, ENXIO, ...). */
static int bare_kick(struct bare *b)
{
	if (b->zerocopy && !xsk_ring_prod__needs_wakeup(&b->tx))
		return 0;
	b->st.kicks++;
	if (sendto(xsk_socket__fd(b->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS || errno == EINTR) {
		b->st.kick_again++;
		return 0;
	}
	b->st.kick_errors++;
	return errno;
}

static void bare_pin(const struct cli_args *o)
{
	cpu_set_t set;

	if (!o->pin || sysconf(_SC_NPROCESSORS_ONLN) < 1)
		return;
	CPU_ZERO(&set);
	CPU_SET(0, &set); /* where the engine's worker 0 runs */
	sched_setaffinity(0, sizeof(set), &set);
}

int run_bare(const struct cli_args *o, struct run_result *r)
{
	struct bare b;
	uint64_t t0, t1, cpu0, cpu1, deadline, want = o->count;
	cpu_set_t old;
	int err = 0, rc = 0;

	memset(r, 0, sizeof(*r));
	memset(&b, 0, sizeof(b));
	r->bare = true;
	r->build_per_send = o->build_per_send;
	r->bulk_flows = 1;
	r->queues = 1;
	if (bare_open(o, &b) != 0) {
		bare_close(&b);
		return 1;
	}
	r->bind = b.zerocopy ? "zerocopy" : "copy";
	sched_getaffinity(0, sizeof(old), &old);
	bare_pin(o);
	t0 = xeng_now_ns();
	cpu0 = thread_cpu_ns(pthread_self());
	deadline = t0 + (uint64_t)(o->duration * 1e9);
	for (unsigned loop = 0;; loop++) {
		bare_complete(&b, o->ring_size);
		if (want == 0 || b.st.tx_submitted < want)
			bare_fill(o, &b);
		err = bare_kick(&b);
		if (err != 0 && err != EAGAIN)
			break;
		if (want != 0 && b.st.tx_completed >= want)
			break;
		if ((loop & 63) == 0 && (cli_interrupted || xeng_now_ns() >= deadline))
			break;
	}
	t1 = xeng_now_ns();
	cpu1 = thread_cpu_ns(pthread_self());
	r->bulk_frames = b.st.tx_completed;
	/* What is still in the ring completes within a few kicks (bounded: 5 s). */
	for (uint64_t end = t1 + 5000000000ull;
	     b.outstanding != 0 && err == 0 && xeng_now_ns() < end;) {
		bare_kick(&b);
		bare_complete(&b, o->ring_size);
	}
	sched_setaffinity(0, sizeof(old), &old);
	r->secs = (double)(t1 - t0) / 1e9;
	r->bulk_pps = (double)r->bulk_frames / r->secs;
	r->bulk_gbps = (double)r->bulk_frames * o->pkt_size * 8 / r->secs / 1e9;
	r->cpu_ns_per_frame = r->bulk_frames ? (double)(cpu1 - cpu0) / r->bulk_frames : NAN;
	r->cpu_share = (double)(cpu1 - cpu0) / (double)(t1 - t0);
	r->occ_p50 = pct_hist(b.occ_hist, 2 * o->ring_size + 1, 50);
	r->occ_p99 = pct_hist(b.occ_hist, 2 * o->ring_size + 1, 99);
	r->occ_max = isnan(r->occ_p50) ? NAN : b.occ_max;
	r->lat_ring_p50 = r->lat_ring_p99 = r->lat_send_p50 = r->lat_send_p99 = NAN;
	r->qwait_p50 = r->qwait_p99 = r->qwait_max = NAN;
	r->zc_notices_per_send = NAN;
	r->ws = b.st;
	r->nworkers = 1;
	r->w[0].queue = o->queue;
	r->w[0].ws = b.st;
	r->quiesced = b.outstanding == 0;
	r->leaked = b.nframes - b.nfree;
	r->nflows = 1;
	r->flow[0].sent = b.st.tx_completed;
	r->flow[0].bytes = b.st.tx_completed * o->pkt_size;
	r->flow[0].kind = XFLOW_BULK;
	if (err != 0) {
		fprintf(stderr, "tsq-xsk: bare: the kernel refuses to send on %s (%s)\n", o->ifname,
			strerror(err));
		rc = 1;
	}
	bare_close(&b);
	return rc;
}

int cmd_bare(const struct cli_args *o)
{
	struct run_result r;
	int rc = run_bare(o, &r);
	const char *why;

	if (rc != 0)
		return rc;
	if (o->json) {
		report_runs_json(stdout, &r, 1);
	} else {
		printf("bare sender (one socket, one loop, frames built %s): %.3f Mpps, %.3f Gbit/s, TX outstanding "
		       "p50 %.0f p99 %.0f, kicks %llu\n",
		       o->build_per_send ? "per send" : "once", r.bulk_pps / 1e6, r.bulk_gbps,
		       r.occ_p50, r.occ_p99, (unsigned long long)r.ws.kicks);
		printf("bind: %s; frames leaked: %llu\n", r.bind, (unsigned long long)r.leaked);
	}
	if (o->json_file != NULL) {
		FILE *f = fopen(o->json_file, "w");

		if (f == NULL) {
			fprintf(stderr, "tsq-xsk: --json-file %s: %s\n", o->json_file,
				strerror(errno));
			return 1;
		}
		report_runs_json(f, &r, 1);
		fclose(f);
	}
	why = run_check(&r);
	if (why != NULL) {
		fprintf(stderr, "tsq-xsk: bare run failed its checks: %s\n", why);
		return 1;
	}
	return 0;
}
