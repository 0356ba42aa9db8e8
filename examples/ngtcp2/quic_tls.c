// SPDX-License-Identifier: BSD-2-Clause
/*
 * quic_tls.c - TLS 1.3 for the QUIC example: a self-signed ECDSA certificate made in code
 * (no files), a GnuTLS session per connection configured for ngtcp2, and the client's pin
 * (the peer must present exactly that certificate).
 */
#include <string.h>
#include <time.h>

#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "quic.h"

/*
 * TLS 1.3 only. GnuTLS sends a dummy ChangeCipherSpec for middlebox compatibility unless told
 * not to, and QUIC forbids it (RFC 9001, 8.4): %DISABLE_TLS13_COMPAT_MODE.
 */
static const char quic_priority[] =
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%DISABLE_TLS13_COMPAT_MODE";
static const char quic_alpn[] = "tsq";

static int quic_tls_make_cert(struct quic_tls *t)
{
	time_t now = time(NULL);
	unsigned char serial[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	int err;

	err = gnutls_x509_privkey_init(&t->key);
	if (err == 0)
		err = gnutls_x509_privkey_generate(t->key, GNUTLS_PK_ECDSA,
						   GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
						   0);
	if (err == 0)
		err = gnutls_x509_crt_init(&t->crt);
	if (err != 0)
		return err;
	err = gnutls_x509_crt_set_version(t->crt, 3);
	if (err == 0)
		err = gnutls_x509_crt_set_serial(t->crt, serial, sizeof(serial));
	if (err == 0)
		err = gnutls_x509_crt_set_activation_time(t->crt, now - 3600);
	if (err == 0)
		err = gnutls_x509_crt_set_expiration_time(t->crt, now + 86400);
	if (err == 0)
		err = gnutls_x509_crt_set_dn(t->crt, "CN=tsq-quic", NULL);
	if (err == 0)
		err = gnutls_x509_crt_set_subject_alt_name(t->crt, GNUTLS_SAN_DNSNAME, "tsq-quic",
							   strlen("tsq-quic"), GNUTLS_FSAN_SET);
	if (err == 0)
		err = gnutls_x509_crt_set_key(t->crt, t->key);
	if (err == 0)
		err = gnutls_x509_crt_sign2(t->crt, t->crt, t->key, GNUTLS_DIG_SHA256, 0);
	if (err == 0)
		err = gnutls_x509_crt_export2(t->crt, GNUTLS_X509_FMT_DER, &t->der);
	return err;
}

/* Return: 0, or a GnuTLS error (negative). */
int quic_tls_init(struct quic_tls *t)
{
	int err;

	memset(t, 0, sizeof(*t));
	err = quic_tls_make_cert(t);
	if (err == 0)
		err = gnutls_certificate_allocate_credentials(&t->cred);
	if (err == 0)
		err = gnutls_certificate_set_x509_key(t->cred, &t->crt, 1, t->key);
	return err;
}

void quic_tls_destroy(struct quic_tls *t)
{
	if (t->cred != NULL)
		gnutls_certificate_free_credentials(t->cred);
	if (t->crt != NULL)
		gnutls_x509_crt_deinit(t->crt);
	if (t->key != NULL)
		gnutls_x509_privkey_deinit(t->key);
	gnutls_free(t->der.data);
	memset(t, 0, sizeof(*t));
}

static ngtcp2_conn *quic_tls_get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct quic_conn *)ref->user_data)->conn;
}

/*
 * A session for c (server or client) wired to ngtcp2: the session's pointer must be an
 * ngtcp2_crypto_conn_ref (ngtcp2_crypto_gnutls reads it in its callbacks).
 * Return: 0, or a GnuTLS error.
 */
int quic_tls_session(struct quic_conn *c)
{
	unsigned flags = (c->server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_END_OF_EARLY_DATA;
	gnutls_datum_t alpn = { (unsigned char *)quic_alpn, sizeof(quic_alpn) - 1 };
	int err;

	err = gnutls_init(&c->session, flags);
	if (err != 0)
		return err;
	err = c->server ? ngtcp2_crypto_gnutls_configure_server_session(c->session) :
			  ngtcp2_crypto_gnutls_configure_client_session(c->session);
	if (err != 0)
		return GNUTLS_E_INTERNAL_ERROR;
	c->ref.get_conn = quic_tls_get_conn;
	c->ref.user_data = c;
	gnutls_session_set_ptr(c->session, &c->ref);
	err = gnutls_priority_set_direct(c->session, quic_priority, NULL);
	if (err == 0)
		err = gnutls_credentials_set(c->session, GNUTLS_CRD_CERTIFICATE, c->tls->cred);
	if (err == 0)
		err = gnutls_alpn_set_protocols(c->session, &alpn, 1,
						c->server ? GNUTLS_ALPN_MANDATORY : 0);
	if (err == 0 && !c->server)
		err = gnutls_server_name_set(c->session, GNUTLS_NAME_DNS, "tsq-quic", 8);
	return err;
}

/* The client's check: the server presented the certificate made in quic_tls_init(). */
bool quic_tls_peer_pinned(struct quic_conn *c)
{
	unsigned n = 0;
	const gnutls_datum_t *peer = gnutls_certificate_get_peers(c->session, &n);

	return peer != NULL && n == 1 && peer[0].size == c->tls->der.size &&
	       memcmp(peer[0].data, c->tls->der.data, peer[0].size) == 0;
}
