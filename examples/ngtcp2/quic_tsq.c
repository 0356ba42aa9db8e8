// SPDX-License-Identifier: BSD-2-Clause
/*
 * quic_tsq.c - the glue between ngtcp2 and tsq on the sender: everything tsq needs, and all
 * of it (docs/porting.md, "ngtcp2").
 *
 *   budget      quic_tsq_write(): tsq_flow_may_send() before ngtcp2_conn_writev_stream() is
 *               offered stream data. ACKs, the handshake and ngtcp2's own retransmissions are
 *               written with stream id -1 and are never held back; every datagram is charged.
 *   completions the UDP socket's error queue: SO_TIMESTAMPING's software TX stamp (taken when
 *               the device takes the datagram, after the qdisc) with OPT_ID keys; TSONLY, so a
 *               notice carries no payload. A stamp completes every datagram up to its key:
 *               datagrams leave in order, so a lost notice (a full error queue, a qdisc drop)
 *               is made good by the next one.
 *   restart     tsq_flow_complete() queues the flow to its home shard (defer.h); the
 *               connection's thread drains it and, under owner.h's short lock, either writes
 *               (send_more) or, while the connection is owned, leaves it to the release.
 *   rate        ngtcp2 0.12 gives no pacing rate with CUBIC (conn_stat.pacing_rate is 0):
 *               the budget's limit then comes from the rate tsq learns from the completions.
 */
#include <errno.h>
#include <time.h> /* before linux/errqueue.h: struct timespec */
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "quic.h"

#define QUIC_TSQ_UNIT (QUIC_PKT_MAX + QUIC_WIRE_OVERHEAD) /* what may_send asks room for */

static struct quic_conn *quic_of_flow(struct tsq_flow *f)
{
	return tsq_container_of(f, struct quic_conn, flow);
}

static struct quic_conn *quic_of_owner(struct tsq_owner *o)
{
	return tsq_container_of(o, struct quic_conn, own);
}

/* The restart: the home worker's drain (not owned) or the owner's release (DEFERRED). */
static void quic_send_more(struct tsq_flow *f, enum tsq_flow_how how)
{
	struct quic_conn *c = quic_of_flow(f);

	(void)how;
	c->restarts++;
	if (quic_tsq_write(c) != 0)
		c->write_failed = true; /* the connection's thread closes it at its next look */
}

static bool quic_flow_lock(struct tsq_flow *f)
{
	return tsq_owner_lock_check(&quic_of_flow(f)->own);
}

static void quic_flow_unlock(struct tsq_flow *f)
{
	tsq_owner_unlock(&quic_of_flow(f)->own);
}

/* Connections outlive every thread that could hold them: no references needed. */
static const struct tsq_flow_ops quic_flow_ops = { quic_send_more, quic_flow_lock, quic_flow_unlock,
						   NULL, NULL };

/* Datagrams are read by the owner itself, never delivered to a backlog. */
static void quic_own_process(struct tsq_owner *o, struct tsq_owner_work *w, enum tsq_owner_how how)
{
	(void)o;
	(void)w;
	(void)how;
}

static void quic_own_release(struct tsq_owner *o)
{
	tsq_flow_release(&quic_of_owner(o)->flow); /* DEFERRED: the write the drain left us */
}

static const struct tsq_owner_ops quic_own_ops = { quic_own_process, quic_own_release };
static const struct tsq_owner_opts quic_own_opts = { .size = sizeof(quic_own_opts),
						     .limit = 1u << 20 };

/* Return: 0, or -errno (socket options, memory, bad arguments). */
int quic_tsq_init(struct quic_conn *c, struct tsq_defer_set *set, unsigned home,
		  const struct tsq_budget_opts *opts)
{
	int ts = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
		 SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;
	int rcvbuf = 8 << 20; /* notices are charged to the receive buffer: room for them */
	int err;

	if (setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPING, &ts, sizeof(ts)) != 0)
		return -errno;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	c->txq = calloc(QUIC_TXQ_SLOTS, sizeof(*c->txq));
	if (c->txq == NULL)
		return -ENOMEM;
	err = tsq_flow_init(&c->flow, set, home, &quic_flow_ops, opts);
	if (err == 0)
		err = tsq_owner_init(&c->own, &quic_own_ops, &quic_own_opts);
	return err;
}

void quic_tsq_destroy(struct quic_conn *c)
{
	tsq_owner_destroy(&c->own);
	free(c->txq);
	c->txq = NULL;
}

/* Every datagram, tsq on or off: off, the same count is the figure "bytes in the device". */
void quic_tsq_charge(struct quic_conn *c, uint32_t cost)
{
	tsq_flow_charge(&c->flow, cost);
	c->inflight_bytes += cost;
	if (c->inflight_bytes > c->inflight_max)
		c->inflight_max = c->inflight_bytes;
	if (c->tally != NULL && (c->tally->inflight += cost) > c->tally->max)
		c->tally->max = c->tally->inflight;
}

static void quic_tsq_uncharge(struct quic_conn *c, uint32_t cost)
{
	c->inflight_bytes -= cost;
	if (c->tally != NULL)
		c->tally->inflight -= cost;
	c->completions++;
	tsq_flow_complete(&c->flow, cost); /* may queue the flow to its home shard */
}

/* The socket took the datagram: it has the next OPT_ID key. */
void quic_tsq_sent(struct quic_conn *c, uint32_t cost)
{
	if (c->txq_tail - c->txq_head ==
	    QUIC_TXQ_SLOTS) { /* no room to wait: complete the oldest */
		c->txq_overflows++;
		quic_tsq_uncharge(c, c->txq[c->txq_head++ % QUIC_TXQ_SLOTS].cost);
	}
	c->txq[c->txq_tail++ % QUIC_TXQ_SLOTS] = (struct quic_txrec){ c->next_key++, cost };
}

/* The socket refused it for good (no key taken): nothing will complete it. */
void quic_tsq_unsent(struct quic_conn *c, uint32_t cost)
{
	quic_tsq_uncharge(c, cost);
}

static void quic_tsq_complete_upto(struct quic_conn *c, uint32_t key)
{
	while (c->txq_head != c->txq_tail &&
	       (int32_t)(c->txq[c->txq_head % QUIC_TXQ_SLOTS].key - key) <= 0)
		quic_tsq_uncharge(c, c->txq[c->txq_head++ % QUIC_TXQ_SLOTS].cost);
}

/* One error-queue message: the OPT_ID key of a software TX stamp, or -1. */
static int64_t quic_tsq_key(struct msghdr *m)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm != NULL; cm = CMSG_NXTHDR(m, cm)) {
		struct sock_extended_err ee;

		if (!((cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR) ||
		      (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR)))
			continue;
		memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
		if (ee.ee_errno == ENOMSG && ee.ee_origin == SO_EE_ORIGIN_TIMESTAMPING &&
		    ee.ee_info == SCM_TSTAMP_SND)
			return ee.ee_data;
	}
	return -1;
}

/*
 * Read the completions waiting on the error queue (bounded per call) and uncharge them.
 * Context: any thread that may read the socket; here the connection's thread.
 * Return: the number of notices read.
 */
int quic_tsq_completions(struct quic_conn *c)
{
	int got = 0;

	for (; got < 256; got++) {
		char ctl[256];
		struct msghdr m = { .msg_control = ctl, .msg_controllen = sizeof(ctl) };
		int64_t key;

		if (recvmsg(c->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
		c->completion_msgs++;
		key = quic_tsq_key(&m);
		if (key >= 0)
			quic_tsq_complete_upto(c, (uint32_t)key);
	}
	return got;
}

/* At the end: what never got a notice (a datagram dropped by the qdisc) is completed here. */
void quic_tsq_flush(struct quic_conn *c)
{
	while (c->txq_head != c->txq_tail) {
		c->flushed++;
		quic_tsq_uncharge(c, c->txq[c->txq_head++ % QUIC_TXQ_SLOTS].cost);
	}
}

/*
 * The server's write loop. Stream data only while the budget allows it; with the budget
 * closed (THROTTLED set, a completion restarts us) ngtcp2 is asked for control packets only.
 * Context: the connection's exclusion (owner, or send_more under the short lock).
 * Return: 0, or -EPROTO (a fatal ngtcp2 error).
 */
int quic_tsq_write(struct quic_conn *c)
{
	uint8_t buf[QUIC_PKT_MAX];
	uint64_t now = quic_now();
	bool blocked = false;
	int i;

	for (i = 0; i < 1024 && c->pending_len == 0; i++) {
		ngtcp2_vec v;
		uint32_t flags = 0;
		ngtcp2_ssize n, len = -1;
		int64_t sid = -1;

		if (!blocked && quic_conn_stream_data(c, &v, &flags) &&
		    (!c->tsq || tsq_flow_may_send(&c->flow, QUIC_TSQ_UNIT, 0)))
			sid = c->stream;
		n = ngtcp2_conn_writev_stream(c->conn, NULL, NULL, buf, sizeof(buf), &len, flags,
					      sid, sid >= 0 ? &v : NULL, sid >= 0 ? 1 : 0, now);
		if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR) {
			blocked = true; /* flow control: write the rest without stream data */
			continue;
		}
		if (n < 0)
			return ngtcp2_err_is_fatal((int)n) ? -EPROTO : 0;
		if (len > 0)
			c->offset += (uint64_t)len;
		if (sid >= 0 && len >= 0 && (flags & NGTCP2_WRITE_STREAM_FLAG_FIN) &&
		    (size_t)len == v.len)
			c->fin_sent = true;
		if (n == 0)
			break;
		quic_send_datagram(c, buf, (size_t)n);
	}
	c->write_more = i == 1024;
	ngtcp2_conn_update_pkt_tx_time(c->conn, now);
	return 0;
}
