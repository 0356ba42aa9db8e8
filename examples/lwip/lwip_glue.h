/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * lwip_glue.h - tsq inside lwIP as Debian ships it (liblwip 2.1.3, unmodified): a netif whose
 * device is an AF_PACKET socket, one tsq_flow per TCP connection.
 *
 *   budget checked: in the netif's linkoutput, per data segment (ERR_MEM when the flow is
 *                   throttled: lwIP keeps the segment on its unsent queue)
 *   completions:    SO_TIMESTAMPING TX_SOFTWARE on the packet socket's error queue: the frame
 *                   left the qdisc (veth stamps it in its xmit); OPT_ID names the frame
 *   restart:        the device thread owns the one defer shard; it drains after each batch of
 *                   completions and runs tcp_output(pcb) under LOCK_TCPIP_CORE(), or, while
 *                   an application thread owns the connection (lw_conn_enter .. leave), the
 *                   owner's release runs it (tsq_flow_release from the owner's release_cb)
 *   the rate:       lwIP has none; the budget learns the delivery rate from its completions
 *
 * Lock order: a connection's short lock (tsq_owner), then LOCK_TCPIP_CORE(). lwIP's own
 * thread holds only the core lock and never waits for a connection.
 */
#ifndef TSQ_EXAMPLES_LWIP_GLUE_H
#define TSQ_EXAMPLES_LWIP_GLUE_H

#include <stdbool.h>
#include <stdint.h>

#include <lwip/tcp.h>
#include <tsq/flow.h>
#include <tsq/owner.h>

struct lw_conn {
	struct tsq_flow flow; /* first: cache-line aligned */
	struct tsq_owner own; /* the application's ownership; its short lock is the flow's lock */
	struct tcp_pcb *pcb;  /* NULL once detached (written under the core lock) */
	uint16_t port;        /* our TCP port */
	void *app;
};

/* The device: rx_fd an AF_PACKET socket bound to ETH_P_IPV6 on the link, tx_fd one bound with
 * protocol 0 (sends only). mac: ours; peer: the only neighbour. addr: our IPv6 address.
 * Starts lwIP's tcpip thread and the device thread. Return 0 or -1. */
int lw_dev_start(int rx_fd, int tx_fd, const unsigned char mac[6], const unsigned char peer[6],
		 const char *addr);
/* tsq on (budget checked) or off (only counted). Call between rows. */
void lw_dev_set_tsq(bool on);
/* Max bytes charged and not completed, all flows, since the last call. */
uint64_t lw_dev_take_max(void);
/* Stop the device thread (lwIP's tcpip thread has no stop). Then lw_conn_destroy. */
void lw_dev_stop(void);

/* Under the core lock, right after tcp_bind(): the flow (opts: the budget's, NULL for the
 * kernel's defaults), the owner, the port's entry. */
int lw_conn_init(struct lw_conn *c, struct tcp_pcb *pcb, const struct tsq_budget_opts *opts);
/* Under the core lock: forget the pcb (before tcp_close/tcp_abort, or in the err callback,
 * where lwIP has freed it already). */
void lw_conn_detach(struct lw_conn *c);
/* After lw_dev_stop(). */
void lw_conn_destroy(struct lw_conn *c);
/* An application call: own the connection, then the core lock; leave runs what was deferred. */
void lw_conn_enter(struct lw_conn *c);
void lw_conn_leave(struct lw_conn *c);

#endif /* TSQ_EXAMPLES_LWIP_GLUE_H */
