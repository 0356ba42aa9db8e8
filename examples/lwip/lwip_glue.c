/* SPDX-License-Identifier: BSD-2-Clause */
/* lwip_glue.c - see lwip_glue.h. Public lwIP headers only. */
#include "lwip_glue.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <lwip/ip6_addr.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/tcpip.h>
#include <netif/ethernet.h>

#define LW_RING 8192u /* frames charged and not completed, at most (a power of two) */

struct lw_slot {
	struct lw_conn *c; /* release by linkoutput, acquire by the completion */
	uint32_t cost;
};

static struct lw_dev {
	struct netif netif;
	struct eth_addr mac, peer;
	int rx_fd, tx_fd, stop_fd;
	bool tsq;            /* read under the core lock */
	uint32_t key;        /* the next frame's OPT_ID key (core lock) */
	uint32_t done;       /* completed frames (device thread) */
	uint64_t bytes, max; /* charged and not completed: linkoutput adds, completions subtract */
	struct tsq_defer_set set; /* one shard: the device thread's */
	struct tsq_defer_shard *shards;
	pthread_t thr;
	struct lw_slot ring[LW_RING];
	struct lw_conn *by_port[65536]; /* our TCP port -> connection (core lock) */
} lw;

/* The connection of a TCP segment that carries data, or NULL (ACK, SYN, FIN, ND ...). */
static struct lw_conn *lw_frame_conn(const struct pbuf *p)
{
	const uint8_t *f = p->payload;
	unsigned plen, doff;

	if (p->len < 14 + 40 + 20 || f[12] != 0x86 || f[13] != 0xdd || f[20] != IP6_NEXTH_TCP)
		return NULL;
	plen = (unsigned)f[18] << 8 | f[19];
	doff = (unsigned)(f[54 + 12] >> 4) * 4;
	return plen > doff ? lw.by_port[(unsigned)f[54] << 8 | f[55]] : NULL;
}

/* The budget's check: TSQ's place in tcp_write_xmit(). Runs under the core lock, always. */
static err_t lw_linkoutput(struct netif *nif, struct pbuf *p)
{
	struct lw_conn *c = lw_frame_conn(p);
	uint32_t cost = p->tot_len;
	union {
		char buf[CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[16];
	struct msghdr msg = { .msg_iov = iov };
	struct cmsghdr *cm;

	(void)nif;
	for (const struct pbuf *q = p; q != NULL && msg.msg_iovlen < 16; q = q->next)
		iov[msg.msg_iovlen++] = (struct iovec){ q->payload, q->len };
	if (c != NULL) {
		/* Throttled: lwIP keeps the segment unsent; the completion restarts the flow. */
		if (lw.key - __atomic_load_n(&lw.done, __ATOMIC_RELAXED) >= LW_RING - 1 ||
		    (lw.tsq && !tsq_flow_may_send(&c->flow, cost, 0)))
			return ERR_MEM;
		tsq_flow_charge(&c->flow, cost);
		lw.ring[lw.key % LW_RING].cost = cost;
		__atomic_store_n(&lw.ring[lw.key % LW_RING].c, c, __ATOMIC_RELEASE);
		lw.key++;
		cost = (uint32_t)__atomic_add_fetch(&lw.bytes, cost, __ATOMIC_RELAXED);
		if (cost > __atomic_load_n(&lw.max, __ATOMIC_RELAXED))
			__atomic_store_n(&lw.max, cost, __ATOMIC_RELAXED);
		/* Ask for this frame's TX timestamp only: it is the completion. */
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SO_TIMESTAMPING;
		cm->cmsg_len = CMSG_LEN(sizeof(uint32_t));
		*(uint32_t *)CMSG_DATA(cm) = SOF_TIMESTAMPING_TX_SOFTWARE;
	}
	if (sendmsg(lw.tx_fd, &msg, MSG_DONTWAIT) >= 0)
		return ERR_OK;
	if (c != NULL) { /* no stamp will come: complete it here */
		/* ENOBUFS: the qdisc dropped a built frame, its key spent; other errors: none was built. */
		uint32_t key = errno == ENOBUFS ? lw.key - 1 : --lw.key;

		__atomic_store_n(&lw.ring[key % LW_RING].c, NULL, __ATOMIC_RELAXED);
		if (errno == ENOBUFS)
			__atomic_add_fetch(&lw.done, 1, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&lw.bytes, p->tot_len, __ATOMIC_RELAXED);
		tsq_flow_complete(&c->flow, p->tot_len);
	}
	return ERR_IF;
}

/* Every destination is the peer: static neighbour, no ND on this point-to-point link. */
static err_t lw_output6(struct netif *nif, struct pbuf *p, const ip6_addr_t *dst)
{
	(void)dst;
	return ethernet_output(nif, p, &lw.mac, &lw.peer, ETHTYPE_IPV6);
}

static err_t lw_netif_init(struct netif *nif)
{
	nif->name[0] = 't';
	nif->name[1] = 'q';
	nif->mtu = 1500;
	nif->hwaddr_len = ETH_HWADDR_LEN;
	memcpy(nif->hwaddr, lw.mac.addr, ETH_HWADDR_LEN);
	nif->flags = NETIF_FLAG_ETHERNET;
	nif->linkoutput = lw_linkoutput;
	nif->output_ip6 = lw_output6;
	return ERR_OK;
}

/* One frame left the qdisc: uncharge it; the flow's restart goes to the defer shard. */
static void lw_complete(uint32_t key)
{
	struct lw_slot *s = &lw.ring[key % LW_RING];
	struct lw_conn *c = __atomic_exchange_n(&s->c, NULL, __ATOMIC_ACQUIRE);

	if (c == NULL)
		return;
	__atomic_sub_fetch(&lw.bytes, s->cost, __ATOMIC_RELAXED);
	__atomic_add_fetch(&lw.done, 1, __ATOMIC_RELAXED);
	tsq_flow_complete(&c->flow, s->cost);
}

static void lw_reap(void)
{
	char ctl[256];

	for (;;) {
		struct msghdr msg = { .msg_control = ctl, .msg_controllen = sizeof(ctl) };

		if (recvmsg(lw.tx_fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			const struct sock_extended_err *ee = (const void *)CMSG_DATA(cm);

			if (cm->cmsg_level == SOL_PACKET && cm->cmsg_type == PACKET_TX_TIMESTAMP &&
			    ee->ee_origin == SO_EE_ORIGIN_TIMESTAMPING)
				lw_complete(ee->ee_data);
		}
	}
}

static void lw_rx(void)
{
	static unsigned char buf[2048];

	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(lw.rx_fd, buf, sizeof(buf), MSG_DONTWAIT);
		struct pbuf *p;

		if (n <= 0)
			return;
		p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM);
		if (p == NULL)
			continue;
		memcpy(p->payload, buf, (size_t)n);
		if (lw.netif.input(p, &lw.netif) != ERR_OK)
			pbuf_free(p);
	}
}

/* The device thread: completions, then the restarts they queued, then received frames. */
static void *lw_dev_loop(void *arg)
{
	struct pollfd pf[3] = { { lw.rx_fd, POLLIN, 0 },
				{ lw.tx_fd, 0, 0 },
				{ lw.stop_fd, POLLIN, 0 } };

	(void)arg;
	while (!(pf[2].revents & POLLIN)) {
		poll(pf, 3, 100);
		lw_reap();
		tsq_defer_drain(&lw.set, 0);
		lw_rx();
	}
	return NULL;
}

/* The restart: lwIP retries only on an ACK or an RTO; a completion calls tcp_output. */
static void lw_send_more(struct tsq_flow *f, enum tsq_flow_how how)
{
	struct lw_conn *c = tsq_container_of(f, struct lw_conn, flow);

	(void)how;
	LOCK_TCPIP_CORE();
	if (c->pcb != NULL)
		tcp_output(c->pcb);
	UNLOCK_TCPIP_CORE();
}

static bool lw_lock(struct tsq_flow *f)
{
	return tsq_owner_lock_check(&tsq_container_of(f, struct lw_conn, flow)->own);
}

static void lw_unlock(struct tsq_flow *f)
{
	tsq_owner_unlock(&tsq_container_of(f, struct lw_conn, flow)->own);
}

static void lw_release_cb(struct tsq_owner *o)
{
	tsq_flow_release(&tsq_container_of(o, struct lw_conn, own)->flow);
}

/* Nothing is delivered to the backlog: lwIP's thread queues its own input. */
static void lw_process(struct tsq_owner *o, struct tsq_owner_work *w, enum tsq_owner_how how)
{
	(void)o, (void)w, (void)how;
}

static const struct tsq_flow_ops lw_flow_ops = { lw_send_more, lw_lock, lw_unlock, NULL, NULL };
static const struct tsq_owner_ops lw_owner_ops = { lw_process, lw_release_cb };

static void lw_noop_kick(void *ctx, unsigned shard)
{
	(void)ctx, (void)shard; /* the completing thread drains right after: nobody to wake */
}

static void lw_tcpip_ready(void *arg)
{
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
}

int lw_dev_start(int rx_fd, int tx_fd, const unsigned char mac[6], const unsigned char peer[6],
		 const char *addr)
{
	struct tsq_defer_opts o = { .size = sizeof(o), .kick = lw_noop_kick };
	uint32_t ts = SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
		      SOF_TIMESTAMPING_OPT_TSONLY;
	int big = 8 << 20, ready = 0;
	struct timespec ms = { 0, 1000000 };
	ip6_addr_t a6;

	lw.rx_fd = rx_fd, lw.tx_fd = tx_fd;
	memcpy(lw.mac.addr, mac, 6);
	memcpy(lw.peer.addr, peer, 6);
	lw.shards = tsq_defer_shards_alloc(1);
	if (!ip6addr_aton(addr, &a6) || lw.shards == NULL ||
	    tsq_defer_set_init(&lw.set, lw.shards, 1, &o) ||
	    setsockopt(tx_fd, SOL_SOCKET, SO_TIMESTAMPING, &ts, sizeof(ts)) ||
	    setsockopt(tx_fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) ||
	    setsockopt(tx_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)))
		return -1;
	tcpip_init(lw_tcpip_ready, &ready);
	while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
		nanosleep(&ms, NULL);
	LOCK_TCPIP_CORE();
	netif_add(&lw.netif, NULL, NULL, NULL, NULL, lw_netif_init, tcpip_input);
	netif_ip6_addr_set(&lw.netif, 0, &a6);
	netif_ip6_addr_set_state(&lw.netif, 0, IP6_ADDR_PREFERRED);
	lw.netif.rs_count = 0; /* no router solicitations on a link without routers */
	netif_set_default(&lw.netif);
	netif_set_up(&lw.netif);
	netif_set_link_up(&lw.netif);
	UNLOCK_TCPIP_CORE();
	lw.stop_fd = eventfd(0, EFD_CLOEXEC);
	return lw.stop_fd < 0 || pthread_create(&lw.thr, NULL, lw_dev_loop, NULL) != 0 ? -1 : 0;
}

void lw_dev_set_tsq(bool on)
{
	LOCK_TCPIP_CORE();
	lw.tsq = on;
	UNLOCK_TCPIP_CORE();
}

uint64_t lw_dev_take_max(void)
{
	return __atomic_exchange_n(&lw.max, __atomic_load_n(&lw.bytes, __ATOMIC_RELAXED),
				   __ATOMIC_RELAXED);
}

void lw_dev_stop(void)
{
	uint64_t one = 1;

	if (write(lw.stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(lw.thr, NULL);
	close(lw.stop_fd);
	tsq_defer_set_destroy(&lw.set);
	free(lw.shards);
}

int lw_conn_init(struct lw_conn *c, struct tcp_pcb *pcb, const struct tsq_budget_opts *opts)
{
	static const struct tsq_owner_opts own_opts = { .size = sizeof(own_opts), .limit = 1 };

	if (tsq_flow_init(&c->flow, &lw.set, 0, &lw_flow_ops, opts) ||
	    tsq_owner_init(&c->own, &lw_owner_ops, &own_opts))
		return -1;
	c->pcb = pcb;
	c->port = pcb->local_port;
	lw.by_port[c->port] = c;
	return 0;
}

void lw_conn_detach(struct lw_conn *c)
{
	if (lw.by_port[c->port] == c)
		lw.by_port[c->port] = NULL;
	c->pcb = NULL;
}

void lw_conn_destroy(struct lw_conn *c)
{
	tsq_owner_destroy(&c->own);
}

void lw_conn_enter(struct lw_conn *c)
{
	tsq_owner_acquire(&c->own);
	LOCK_TCPIP_CORE();
}

void lw_conn_leave(struct lw_conn *c)
{
	UNLOCK_TCPIP_CORE();
	tsq_owner_release(&c->own);
}
