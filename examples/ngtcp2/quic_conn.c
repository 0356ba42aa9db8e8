// SPDX-License-Identifier: BSD-2-Clause
/*
 * quic_conn.c - the QUIC connections of the example on ngtcp2 0.12: set-up (client, and the
 * server from the client's first datagram), receive, timers, the client's writes, the
 * receiver's in-order content check, and a clean close. Nothing here knows about tsq: the
 * server's writes go through quic_tsq.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "quic.h"

#define QUIC_WINDOW (16u << 20) /* flow-control window: never the bottleneck on these links */

uint64_t quic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The stream's content: a function of the connection and the offset, checked byte by byte. */
uint8_t quic_pattern(unsigned index, uint64_t off)
{
	uint64_t x;

	off %= QUIC_DATA_PERIOD;
	x = (off / 8 + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)index << 56);

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 32;
	return (uint8_t)(x >> (8 * (off % 8)));
}

static void quic_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	(void)ctx;
	gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
}

static int quic_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
			void *user)
{
	(void)conn;
	(void)user;
	cid->datalen = cidlen;
	if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) != 0 ||
	    gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/* The receiver: data arrives in order (ngtcp2 reassembles); check each byte, open the window. */
static int quic_recv_stream(ngtcp2_conn *conn, uint32_t flags, int64_t stream, uint64_t off,
			    const uint8_t *data, size_t len, void *user, void *stream_user)
{
	struct quic_conn *c = user;

	(void)stream_user;
	if (off != c->offset)
		c->out_of_order++;
	for (size_t i = 0; i < len; i++)
		if (data[i] != quic_pattern(c->index, off + i))
			c->bad_bytes++;
	c->offset = off + len;
	if (flags & NGTCP2_STREAM_DATA_FLAG_FIN)
		c->fin_seen = true;
	ngtcp2_conn_extend_max_stream_offset(conn, stream, len);
	ngtcp2_conn_extend_max_offset(conn, len);
	return 0;
}

static void quic_callbacks(ngtcp2_callbacks *cb, bool server)
{
	memset(cb, 0, sizeof(*cb));
	if (server)
		cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
	else
		cb->client_initial = ngtcp2_crypto_client_initial_cb;
	cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
	cb->encrypt = ngtcp2_crypto_encrypt_cb;
	cb->decrypt = ngtcp2_crypto_decrypt_cb;
	cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
	cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
	cb->update_key = ngtcp2_crypto_update_key_cb;
	cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
	cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
	cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
	cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
	cb->rand = quic_rand;
	cb->get_new_connection_id = quic_new_cid;
	cb->recv_stream_data = quic_recv_stream;
}

static ngtcp2_path quic_path(struct quic_conn *c)
{
	ngtcp2_path p = {
		.local = { (struct sockaddr *)&c->local, sizeof(c->local) },
		.remote = { (struct sockaddr *)&c->remote, sizeof(c->remote) },
	};

	return p;
}

static int quic_new(struct quic_conn *c, const ngtcp2_pkt_hd *hd)
{
	ngtcp2_callbacks cb;
	ngtcp2_settings s;
	ngtcp2_transport_params p;
	ngtcp2_cid scid, dcid;
	ngtcp2_path path = quic_path(c);

	quic_callbacks(&cb, c->server);
	ngtcp2_settings_default(&s);
	s.initial_ts = quic_now();
	s.max_window = s.max_stream_window = 4 * (uint64_t)QUIC_WINDOW;
	s.handshake_timeout = 5 * NGTCP2_SECONDS; /* a peer that never answers ends the row */
	ngtcp2_transport_params_default(&p);
	p.initial_max_data = QUIC_WINDOW;
	p.initial_max_stream_data_uni = QUIC_WINDOW;
	p.initial_max_streams_uni = c->server ? 0 : 1;
	p.max_idle_timeout = 10 * NGTCP2_SECONDS;
	scid.datalen = 16;
	gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen);
	if (c->server) {
		p.original_dcid = hd->dcid;
		return ngtcp2_conn_server_new(&c->conn, &hd->scid, &scid, &path, hd->version, &cb,
					      &s, &p, NULL, c);
	}
	dcid.datalen = 18;
	gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen);
	return ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &s,
				      &p, NULL, c);
}

/* Feed one received datagram; ngtcp2's terminal states become flags, not errors. */
static int quic_feed(struct quic_conn *c, const uint8_t *buf, size_t len)
{
	ngtcp2_path path = quic_path(c);
	ngtcp2_pkt_info pi = { 0 };
	int rv = ngtcp2_conn_read_pkt(c->conn, &path, &pi, buf, len, quic_now());
	ngtcp2_connection_close_error ce;

	if (rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_CLOSING) {
		ngtcp2_conn_get_connection_close_error(c->conn, &ce);
		c->peer_closed = rv == NGTCP2_ERR_DRAINING;
		c->peer_close_code = ce.error_code;
		c->draining = true;
		return 0;
	}
	return rv == 0 || !ngtcp2_err_is_fatal(rv) ? 0 : -EPROTO;
}

/*
 * Set up c: a client starts its handshake; a server accepts the client's first datagram
 * (c->fd already connected to the client). Return: 0, -EPROTO, -ENOMEM.
 */
int quic_conn_start(struct quic_conn *c, const uint8_t *first, size_t len)
{
	socklen_t sl = sizeof(c->local);
	ngtcp2_pkt_hd hd;

	c->stream = -1;
	if (getsockname(c->fd, (struct sockaddr *)&c->local, &sl) != 0)
		return -errno;
	sl = sizeof(c->remote);
	if (getpeername(c->fd, (struct sockaddr *)&c->remote, &sl) != 0)
		return -errno;
	if (c->server && ngtcp2_accept(&hd, first, len) != 0)
		return -EPROTO;
	if (quic_new(c, &hd) != 0)
		return -ENOMEM;
	if (quic_tls_session(c) != 0)
		return -EPROTO;
	ngtcp2_conn_set_tls_native_handle(c->conn, c->session);
	if (!c->server)
		return quic_conn_write(c);
	c->data = malloc(QUIC_DATA_PERIOD + QUIC_CHUNK);
	if (c->data == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < QUIC_DATA_PERIOD + QUIC_CHUNK; i++)
		c->data[i] = quic_pattern(c->index, i);
	return quic_feed(c, first, len);
}

/* Read what the socket holds (bounded per call). Return: 0, or -EPROTO on a fatal error. */
int quic_conn_read(struct quic_conn *c)
{
	uint8_t buf[65536];

	for (int i = 0; i < 64 && !c->draining; i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNREFUSED ?
				       0 :
				       -errno;
		if (quic_feed(c, buf, (size_t)n) != 0)
			return -EPROTO;
	}
	return 0;
}

/* Run ngtcp2's timers if due. Return: 0, or -ETIMEDOUT when the connection gave up. */
int quic_conn_expiry(struct quic_conn *c)
{
	uint64_t now = quic_now();

	if (c->conn == NULL || c->draining || ngtcp2_conn_get_expiry(c->conn) > now)
		return 0;
	if (ngtcp2_conn_handle_expiry(c->conn, now) != 0) {
		c->draining = true;
		return -ETIMEDOUT;
	}
	return 0;
}

/*
 * Hand a datagram to the socket; the server's cost is charged by quic_tsq.c. EAGAIN keeps
 * the datagram for POLLOUT. Return: 0, -EAGAIN (kept), or -errno (dropped: QUIC's loss
 * recovery resends what it carried).
 */
int quic_send_datagram(struct quic_conn *c, const uint8_t *buf, size_t len)
{
	uint32_t cost = (uint32_t)len + QUIC_WIRE_OVERHEAD;

	if (c->server)
		quic_tsq_charge(c, cost);
	if (send(c->fd, buf, len, MSG_DONTWAIT) == (ssize_t)len) {
		c->sent_pkts++;
		if (c->server)
			quic_tsq_sent(c, cost);
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		memcpy(c->pending, buf, len);
		c->pending_len = len;
		return -EAGAIN;
	}
	c->send_errors++;
	if (c->server)
		quic_tsq_unsent(c, cost);
	return -errno;
}

/* Retry the datagram the socket refused. Return: 0 (sent or dropped), -EAGAIN (still full). */
int quic_conn_flush_pending(struct quic_conn *c)
{
	size_t len = c->pending_len;
	uint32_t cost = (uint32_t)len + QUIC_WIRE_OVERHEAD;

	if (len == 0)
		return 0;
	if (send(c->fd, c->pending, len, MSG_DONTWAIT) == (ssize_t)len) {
		c->pending_len = 0;
		c->sent_pkts++;
		if (c->server)
			quic_tsq_sent(c, cost);
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -EAGAIN;
	c->pending_len = 0;
	c->send_errors++;
	if (c->server)
		quic_tsq_unsent(c, cost);
	return 0;
}

/*
 * The server's stream: the next piece of the pattern, pointing into c->data (one period,
 * computed at the start: ngtcp2 needs the bytes intact until they are acknowledged).
 * Return: 1 with *v and *flags set, 0 when nothing is left to write (FIN sent).
 */
int quic_conn_stream_data(struct quic_conn *c, ngtcp2_vec *v, uint32_t *flags)
{
	uint64_t left = c->send_bytes - c->offset;
	bool stop = c->stop != NULL && __atomic_load_n(c->stop, __ATOMIC_RELAXED);

	if (c->fin_sent || c->stream < 0)
		return 0;
	if (stop && c->send_bytes == UINT64_MAX) {
		c->send_bytes = c->offset; /* end the stream where it is */
		left = 0;
	}
	*flags = NGTCP2_WRITE_STREAM_FLAG_NONE;
	if (left <= QUIC_CHUNK)
		*flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
	v->base = c->data + c->offset % QUIC_DATA_PERIOD;
	v->len = (size_t)(left < QUIC_CHUNK ? left : QUIC_CHUNK);
	return 1;
}

/* The client writes ACKs, the handshake and the close: never stream data. */
static int quic_client_write(struct quic_conn *c)
{
	uint8_t buf[QUIC_PKT_MAX];
	uint64_t now = quic_now();

	for (int i = 0; i < 64; i++) {
		ngtcp2_ssize n;

		if (c->pending_len != 0)
			return 0;
		n = ngtcp2_conn_write_pkt(c->conn, NULL, NULL, buf, sizeof(buf), now);
		if (n < 0)
			return ngtcp2_err_is_fatal((int)n) ? -EPROTO : 0;
		if (n == 0)
			break;
		quic_send_datagram(c, buf, (size_t)n);
	}
	ngtcp2_conn_update_pkt_tx_time(c->conn, now);
	return 0;
}

int quic_conn_write(struct quic_conn *c)
{
	if (c->pending_len != 0 && quic_conn_flush_pending(c) == -EAGAIN)
		return 0;
	if (c->conn == NULL || c->draining || c->closed)
		return 0;
	if (!c->server)
		return quic_client_write(c);
	if (c->stream < 0 && ngtcp2_conn_get_handshake_completed(c->conn) &&
	    ngtcp2_conn_open_uni_stream(c->conn, &c->stream, NULL) != 0)
		return -EPROTO;
	return quic_tsq_write(c);
}

/* Close with NO_ERROR (the client, once the stream ended). Return: 0 or -EPROTO. */
int quic_conn_close(struct quic_conn *c)
{
	uint8_t buf[QUIC_PKT_MAX];
	ngtcp2_connection_close_error ce;
	ngtcp2_ssize n;

	if (c->closed || c->draining)
		return 0;
	ngtcp2_connection_close_error_default(&ce);
	n = ngtcp2_conn_write_connection_close(c->conn, NULL, NULL, buf, sizeof(buf), &ce,
					       quic_now());
	c->closed = true;
	if (n < 0)
		return -EPROTO;
	quic_send_datagram(c, buf, (size_t)n); /* -EAGAIN: kept, flushed on POLLOUT */
	return 0;
}

/* The connection has nothing more to do (closed by us, or the peer's close received). */
bool quic_conn_done(const struct quic_conn *c)
{
	return c->closed || c->draining;
}

void quic_conn_free(struct quic_conn *c)
{
	if (c->conn != NULL)
		ngtcp2_conn_del(c->conn);
	if (c->session != NULL)
		gnutls_deinit(c->session);
	free(c->data);
	c->conn = NULL;
	c->session = NULL;
	c->data = NULL;
}
