/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq-lwip - lwIP's TCP (Debian's liblwip, unmodified) with and without tsq, through a slow
 * link, beside the kernel's TCP: bulk flows to a sink and a probe's round trips. The
 * experiment and the report are the shared harness's (examples/stacks); the tsq glue is
 * lwip_glue.c. This file is the application: it connects, writes and reads through lwIP's
 * raw API, each call as the connection's owner (lw_conn_enter .. lw_conn_leave).
 */
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <lwip/ip_addr.h>
#include <lwip/tcpip.h>

#include "lwip_glue.h"
#include "probe.h"
#include "stacks.h"
#include "testbed.h"

#define APP_MAX_CONNS 4096 /* every connection of every row: freed at the end */
#define APP_CHUNK 16384

struct app_conn {
	struct lw_conn lc; /* first: cache-line aligned */
	int state;         /* 0 connecting, 1 up, -1 gone (all under app.mu) */
	uint64_t written, acked, limit;
	unsigned char rx[TB_PROBE_BYTES];
	size_t rx_len;
};

static struct app {
	struct tb *tb;
	pthread_mutex_t mu; /* taken inside lwIP's callbacks: never hold it across lw_conn_enter */
	pthread_cond_t cv_w, cv_p; /* the writer's (ACKs), the probe's (its echo, connects) */
	struct app_conn *all[APP_MAX_CONNS], *bulk[16], *probe;
	unsigned nall, nbulk;
	int stop;
	pthread_t writer;
	ip_addr_t me, peer;
	struct tsq_budget_opts opts;
} app = { .mu = PTHREAD_MUTEX_INITIALIZER,
	  .cv_w = PTHREAD_COND_INITIALIZER,
	  .cv_p = PTHREAD_COND_INITIALIZER };

/* lwIP's callbacks: its thread, core lock held. */
static err_t app_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct app_conn *c = arg;

	(void)pcb;
	pthread_mutex_lock(&app.mu);
	c->state = err == ERR_OK ? 1 : -1;
	pthread_cond_broadcast(&app.cv_w), pthread_cond_broadcast(&app.cv_p);
	pthread_mutex_unlock(&app.mu);
	return ERR_OK;
}

static void app_err(void *arg, err_t err)
{
	struct app_conn *c = arg;

	(void)err;
	lw_conn_detach(&c->lc); /* lwIP freed the pcb */
	pthread_mutex_lock(&app.mu);
	c->state = -1;
	pthread_cond_broadcast(&app.cv_w), pthread_cond_broadcast(&app.cv_p);
	pthread_mutex_unlock(&app.mu);
}

static err_t app_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct app_conn *c = arg;

	pthread_mutex_lock(&app.mu);
	c->acked += len;
	/* Wake the writer for a quarter of the send buffer, not for every ACK. */
	if (tcp_sndbuf(pcb) >= TCP_SND_BUF / 4 || c->acked == c->limit)
		pthread_cond_broadcast(&app.cv_w);
	pthread_mutex_unlock(&app.mu);
	return ERR_OK;
}

static err_t app_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct app_conn *c = arg;

	(void)err;
	if (p == NULL)
		return ERR_OK; /* the peer closed: we close ourselves at row_stop */
	pthread_mutex_lock(&app.mu);
	c->rx_len += pbuf_copy_partial(p, c->rx + c->rx_len, (u16_t)(sizeof(c->rx) - c->rx_len), 0);
	pthread_cond_broadcast(&app.cv_p);
	pthread_mutex_unlock(&app.mu);
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

/* Wait (app.mu held) for a broadcast or `ms` milliseconds. */
static void app_wait_ms(pthread_cond_t *cv, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_cond_timedwait(cv, &app.mu, &ts);
}

static struct app_conn *app_connect(uint16_t port, uint64_t limit)
{
	struct app_conn *c = aligned_alloc(TSQ_CACHELINE_SIZE, sizeof(*c));
	struct tcp_pcb *pcb;
	int state;

	if (c == NULL || app.nall == APP_MAX_CONNS) {
		free(c);
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->limit = limit;
	app.all[app.nall++] = c;
	LOCK_TCPIP_CORE();
	pcb = tcp_new_ip_type(IPADDR_TYPE_V6);
	if (pcb != NULL && tcp_bind(pcb, &app.me, 0) == ERR_OK &&
	    lw_conn_init(&c->lc, pcb, &app.opts) == 0) {
		tcp_arg(pcb, c);
		tcp_err(pcb, app_err);
		tcp_sent(pcb, app_sent);
		tcp_recv(pcb, app_recv);
		tcp_nagle_disable(pcb);
		if (tcp_connect(pcb, &app.peer, port, app_connected) != ERR_OK)
			c->state = -1;
	} else {
		c->state = -1;
	}
	UNLOCK_TCPIP_CORE();
	pthread_mutex_lock(&app.mu);
	for (int t = 0; t < 500 && c->state == 0; t++)
		app_wait_ms(&app.cv_p, 10);
	state = c->state;
	pthread_mutex_unlock(&app.mu);
	return state == 1 ? c : NULL;
}

/* Fill lwIP's send buffer from the pattern; true if anything was written. */
static bool app_write_some(struct app_conn *c)
{
	static unsigned char buf[APP_CHUNK];
	bool wrote = false;

	lw_conn_enter(&c->lc);
	while (c->lc.pcb != NULL && (c->limit == 0 || c->written < c->limit)) {
		uint64_t left = c->limit ? c->limit - c->written : APP_CHUNK;
		u16_t n = (u16_t)(left < APP_CHUNK ? left : APP_CHUNK);

		if (tcp_sndbuf(c->lc.pcb) < n)
			n = tcp_sndbuf(c->lc.pcb);
		if (n == 0 || (n < TCP_MSS && left > n))
			break;
		tb_fill_pattern(buf, n, c->written);
		if (tcp_write(c->lc.pcb, buf, n, TCP_WRITE_FLAG_COPY) != ERR_OK)
			break;
		c->written += n;
		wrote = true;
	}
	if (wrote && c->lc.pcb != NULL)
		tcp_output(c->lc.pcb);
	lw_conn_leave(&c->lc);
	return wrote;
}

/* The application's writer: every bulk flow, as owner, whenever lwIP has room. */
static void *app_writer(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&app.stop, __ATOMIC_RELAXED)) {
		bool any = false;

		for (unsigned i = 0; i < app.nbulk; i++)
			any |= app_write_some(app.bulk[i]);
		if (!any) {
			pthread_mutex_lock(&app.mu);
			app_wait_ms(&app.cv_w, 5);
			pthread_mutex_unlock(&app.mu);
		}
	}
	return NULL;
}

static int app_init(void *ctx, struct tb *tb)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = tb->ifindex[TB_A] };
	int rx = tb_socket(tb, TB_A, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IPV6));
	int tx = tb_socket(tb, TB_A, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	(void)ctx;
	app.tb = tb;
	if (rx < 0 || tx < 0 || !ipaddr_aton(TB_ADDR_STACK, &app.me) ||
	    !ipaddr_aton(TB_ADDR_PEER, &app.peer))
		return -1;
	ll.sll_protocol = htons(ETH_P_IPV6);
	if (bind(rx, (struct sockaddr *)&ll, sizeof(ll)) != 0)
		return -1;
	ll.sll_protocol = 0;
	if (bind(tx, (struct sockaddr *)&ll, sizeof(ll)) != 0)
		return -1;
	return lw_dev_start(rx, tx, tb->mac[TB_A], tb->mac[TB_B], TB_ADDR_STACK);
}

static int app_row_start(void *ctx, const struct stack_cfg *cfg)
{
	(void)ctx;
	lw_dev_set_tsq(cfg->tsq);
	app.stop = 0;
	app.nbulk = 0;
	app.probe = app_connect(TB_PORT_ECHO, 0);
	if (app.probe == NULL)
		return -1;
	for (unsigned i = 0; i < cfg->bulk_flows; i++) {
		app.bulk[i] = app_connect(TB_PORT_SINK, cfg->bulk_bytes);
		if (app.bulk[i] == NULL)
			return -1;
		app.nbulk++;
	}
	return pthread_create(&app.writer, NULL, app_writer, NULL) == 0 ? 0 : -1;
}

static void app_window(void *ctx)
{
	(void)ctx;
	lw_dev_take_max();
}

static int app_probe_rt(void *ctx, unsigned char *buf, size_t len)
{
	struct app_conn *c = app.probe;
	err_t err = ERR_CONN;
	int ok;

	(void)ctx;
	lw_conn_enter(&c->lc);
	if (c->lc.pcb != NULL &&
	    (err = tcp_write(c->lc.pcb, buf, (u16_t)len, TCP_WRITE_FLAG_COPY)) == ERR_OK)
		tcp_output(c->lc.pcb);
	lw_conn_leave(&c->lc);
	pthread_mutex_lock(&app.mu);
	for (int t = 0; t < 1000 && err == ERR_OK && c->rx_len < len && c->state == 1; t++)
		app_wait_ms(&app.cv_p, 10);
	ok = err == ERR_OK && c->rx_len >= len;
	if (ok)
		memcpy(buf, c->rx, len);
	c->rx_len = 0;
	pthread_mutex_unlock(&app.mu);
	return ok ? 0 : -1;
}

/* Close one connection: cleanly (FIN) once all is acknowledged in check mode, else reset. */
static void app_close(struct app_conn *c, bool clean)
{
	lw_conn_enter(&c->lc);
	if (c->lc.pcb != NULL) {
		struct tcp_pcb *pcb = c->lc.pcb;

		lw_conn_detach(&c->lc);
		/* lwIP may keep the pcb (FIN_WAIT) past this connection's memory: no callbacks. */
		tcp_arg(pcb, NULL);
		tcp_err(pcb, NULL);
		tcp_sent(pcb, NULL);
		tcp_recv(pcb, NULL);
		if (!clean || tcp_close(pcb) != ERR_OK)
			tcp_abort(pcb);
	}
	lw_conn_leave(&c->lc);
}

static int app_row_stop(void *ctx, struct stack_row_extra *out)
{
	bool check = app.nbulk && app.bulk[0]->limit != 0;
	int failed = 0;

	(void)ctx;
	out->bytes_in_device_max = (int64_t)lw_dev_take_max();
	pthread_mutex_lock(&app.mu);
	for (unsigned i = 0, t = 0; check && i < app.nbulk && t < 3000; t++)
		if (app.bulk[i]->acked >= app.bulk[i]->limit || app.bulk[i]->state < 0)
			i++;
		else
			app_wait_ms(&app.cv_w, 10);
	pthread_mutex_unlock(&app.mu);
	__atomic_store_n(&app.stop, 1, __ATOMIC_RELAXED);
	pthread_join(app.writer, NULL);
	for (unsigned i = 0; i < app.nbulk; i++) {
		struct tsq_flow_stats st;

		memset(&st, 0, sizeof(st));
		failed |= check && app.bulk[i]->acked != app.bulk[i]->limit;
		app_close(app.bulk[i], check);
		tsq_flow_stats(&app.bulk[i]->lc.flow, &st);
		out->throttles += st.budget.throttles;
		out->restarts += st.queued;
		out->deferred += st.deferred;
	}
	app_close(app.probe, check);
	out->failed = failed;
	return 0;
}

static void app_fini(void *ctx)
{
	(void)ctx;
	lw_dev_stop();
	for (unsigned i = 0; i < app.nall; i++) {
		lw_conn_destroy(&app.all[i]->lc);
		free(app.all[i]);
	}
}

static int app_parse(void *ctx, int argc, char **argv, int *i)
{
	(void)ctx;
	if (strcmp(argv[*i], "--pacing-shift") != 0)
		return 0;
	app.opts.pacing_shift = (unsigned)stacks_opt_num(
		"tsq-lwip", argv[*i], *i + 1 < argc ? argv[*i + 1] : NULL, 1, 20);
	(*i)++;
	return 1;
}

int main(int argc, char **argv)
{
	static const struct stack_ops lwip_stack = {
		.name = "lwip",
		.usage =
			"  --pacing-shift N  the budget's limit is the learned rate >> N (1..20, default 10: ~1 ms)\n",
		.parse = app_parse,
		.init = app_init,
		.row_start = app_row_start,
		.probe_rt = app_probe_rt,
		.row_stop = app_row_stop,
		.fini = app_fini,
		.window = app_window,
	};

	app.opts.size = sizeof(app.opts);
	return stacks_main(argc, argv, "tsq-lwip", &lwip_stack);
}
