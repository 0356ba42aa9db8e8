/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * quic.h - a QUIC bulk sender and receiver on ngtcp2 0.12 + GnuTLS (Debian 12's packages,
 * unmodified), with tsq's small-queue budget on the sender.
 *
 *   quic_tls.c   a self-signed certificate made in code; GnuTLS sessions for both ends
 *   quic_conn.c  ngtcp2 connections: callbacks, handshake, receive, the receiver's checks
 *   quic_tsq.c   the glue: the budget check before stream data, completions from the UDP
 *                socket's error queue, the restart through defer.h, owner.h's release
 *
 * One server connection sends one unidirectional stream of a known byte pattern; the client
 * checks every byte in order and closes the connection when the stream ends.
 */
#ifndef TSQ_EXAMPLE_QUIC_H
#define TSQ_EXAMPLE_QUIC_H

#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <stdbool.h>
#include <stdint.h>

#include <tsq/tsq.h>

#define QUIC_PKT_MAX 1452         /* ngtcp2's largest UDP payload for IPv6 on a 1500-byte link */
#define QUIC_WIRE_OVERHEAD 48     /* IPv6 + UDP headers: the unit's cost is what the link carries */
#define QUIC_TXQ_SLOTS 65536      /* datagrams awaiting their completion, per connection */
#define QUIC_DATA_PERIOD 1000003u /* the pattern repeats after a prime number of bytes */
#define QUIC_CHUNK 16384u         /* stream bytes offered to ngtcp2 per call */

/* The credentials both ends share: the server presents the certificate, the client pins it. */
struct quic_tls {
	gnutls_certificate_credentials_t cred;
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	gnutls_datum_t der; /* the certificate, DER: what the client expects to see */
};

/* Bytes below all of a sender's connections (one thread writes it). */
struct quic_tally {
	uint64_t inflight, max;
};

/* One datagram handed down and not yet completed (OPT_ID key, cost). */
struct quic_txrec {
	uint32_t key;
	uint32_t cost;
};

struct quic_conn {
	/* Set by the caller before quic_conn_start(). */
	int fd; /* UDP socket, IPv6, connected to the peer */
	bool server;
	unsigned index;      /* the pattern's seed; also names the connection */
	uint64_t send_bytes; /* server: stream bytes to send; UINT64_MAX: until stopped */
	const bool *stop;    /* server: set to end the stream early (FIN) */
	struct quic_tls *tls;
	bool tsq; /* server: check the budget before stream data */

	/* ngtcp2 and GnuTLS state. */
	ngtcp2_conn *conn;
	gnutls_session_t session;
	ngtcp2_crypto_conn_ref ref;
	struct sockaddr_in6 local, remote;
	uint8_t *data;   /* server: one period of the pattern + QUIC_CHUNK */
	int64_t stream;  /* the server's unidirectional stream, -1 before it opens */
	uint64_t offset; /* server: stream bytes written; client: bytes checked */
	bool fin_sent, fin_seen, closed, draining;
	uint64_t peer_close_code; /* the peer's CONNECTION_CLOSE error code */
	bool peer_closed;
	bool pinned; /* client: the server showed the certificate made for it */
	uint64_t bad_bytes, out_of_order; /* client: content or order errors */
	uint8_t pending[QUIC_PKT_MAX]; /* a datagram the socket refused (EAGAIN), sent on POLLOUT */
	size_t pending_len;
	uint64_t sent_pkts, send_errors;
	bool write_more;          /* the write loop stopped at its bound, not for want of room */
	bool write_failed;        /* a restart's write failed: the thread closes the conn */
	uint64_t delivered;       /* client: bytes checked (atomic store: main reads it) */
	struct quic_tally *tally; /* server: the sender's total in flight (its thread only) */

	/* tsq (server only; quic_tsq.c). */
	struct tsq_flow flow;
	struct tsq_owner own;
	struct quic_txrec *txq;      /* FIFO of datagrams awaiting completion */
	uint32_t txq_head, txq_tail; /* indices, free-running */
	uint32_t next_key;           /* the kernel's OPT_ID counter, as we expect it */
	uint64_t inflight_bytes;     /* every datagram handed down, tsq on or off */
	uint64_t inflight_max;
	uint64_t completions, completion_msgs, txq_overflows, flushed;
	uint64_t restarts; /* send_more() runs */
};

/* quic_tls.c */
int quic_tls_init(struct quic_tls *t);
void quic_tls_destroy(struct quic_tls *t);
int quic_tls_session(struct quic_conn *c);
bool quic_tls_peer_pinned(struct quic_conn *c);

/* quic_conn.c */
uint64_t quic_now(void);
uint8_t quic_pattern(unsigned index, uint64_t off);
int quic_conn_start(struct quic_conn *c, const uint8_t *first, size_t len);
int quic_conn_read(struct quic_conn *c);
int quic_conn_expiry(struct quic_conn *c);
int quic_conn_write(struct quic_conn *c);
int quic_conn_close(struct quic_conn *c);
bool quic_conn_done(const struct quic_conn *c);
void quic_conn_free(struct quic_conn *c);
int quic_send_datagram(struct quic_conn *c, const uint8_t *buf, size_t len);
int quic_conn_flush_pending(struct quic_conn *c);
int quic_conn_stream_data(struct quic_conn *c, ngtcp2_vec *v, uint32_t *flags);

/* quic_tsq.c */
int quic_tsq_init(struct quic_conn *c, struct tsq_defer_set *set, unsigned home,
		  const struct tsq_budget_opts *opts);
void quic_tsq_destroy(struct quic_conn *c);
int quic_tsq_write(struct quic_conn *c);
int quic_tsq_completions(struct quic_conn *c);
void quic_tsq_charge(struct quic_conn *c, uint32_t cost);
void quic_tsq_sent(struct quic_conn *c, uint32_t cost);
void quic_tsq_unsent(struct quic_conn *c, uint32_t cost);
void quic_tsq_flush(struct quic_conn *c);

#endif /* TSQ_EXAMPLE_QUIC_H */
