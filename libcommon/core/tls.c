/* tls.c - OpenSSL contexts and handshakes. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "core/evloop.h"
#include "core/tls.h"

const char *stp_tls_error(char *buf, size_t cap)
{
	unsigned long err, last = 0;

	while ((err = ERR_get_error()) != 0)
		last = err;
	if (!last) {
		snprintf(buf, cap, "%s", errno ? strerror(errno) : "unknown TLS error");
		return buf;
	}
	const char *r = ERR_reason_error_string(last);
	snprintf(buf, cap, "%s", r ? r : "unknown TLS error");
	return buf;
}

/* Why loading a file (certificate, key, CA) failed: the errno text when
 * the file could not be read (OpenSSL's own text is just "system lib"),
 * else OpenSSL's reason. Empties the error queue. */
static const char *load_error(char *buf, size_t cap)
{
	unsigned long err, last = 0, sys = 0;
	const char *r;

	while ((err = ERR_get_error()) != 0) {
		if (ERR_SYSTEM_ERROR(err) && !sys)
			sys = err;
		last = err;
	}
	if (sys)
		r = strerror((int)ERR_GET_REASON(sys));
	else if (last)
		r = ERR_reason_error_string(last);
	else
		r = errno ? strerror(errno) : NULL;
	snprintf(buf, cap, "%s", r ? r : "unknown TLS error");
	return buf;
}

SSL_CTX *stp_tls_client_ctx(const struct stp_tls_client_cfg *cfg, struct stp_err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char eb[200];

	if (!ctx) {
		stp_err_set(e, STP_EXIT_TLS, "TLS: %s", stp_tls_error(eb, sizeof(eb)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* a peer that closes its socket without close_notify has ended its
	 * stream as far as a relay can tell */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cfg->insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (cfg->cacert) {
			if (SSL_CTX_load_verify_locations(ctx, cfg->cacert, NULL) != 1) {
				stp_err_set(e, STP_EXIT_USAGE, "--cacert %s: %s", cfg->cacert,
					    load_error(eb, sizeof(eb)));
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			stp_err_set(e, STP_EXIT_TLS, "TLS: no system trust anchors: %s",
				    stp_tls_error(eb, sizeof(eb)));
			goto fail;
		}
	}
	if (cfg->cert) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1) {
			stp_err_set(e, STP_EXIT_USAGE, "--cert %s: %s", cfg->cert,
				    load_error(eb, sizeof(eb)));
			goto fail;
		}
		const char *key = cfg->key ? cfg->key : cfg->cert;
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			stp_err_set(e, STP_EXIT_USAGE, "--key %s: %s", key,
				    load_error(eb, sizeof(eb)));
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *stp_tls_server_ctx(const char *cert, const char *key, const char *client_ca,
			    struct stp_err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char eb[200];

	if (!ctx) {
		stp_err_set(e, STP_EXIT_FAIL, "TLS: %s", stp_tls_error(eb, sizeof(eb)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_RELEASE_BUFFERS);
	if (!cert || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		stp_err_set(e, STP_EXIT_USAGE, "--cert %s: %s", cert ? cert : "(none)",
			    cert ? load_error(eb, sizeof(eb)) : "a TLS listener needs --cert and --key");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key ? key : cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		stp_err_set(e, STP_EXIT_USAGE, "--key %s: %s", key ? key : cert,
			    load_error(eb, sizeof(eb)));
		goto fail;
	}
	if (client_ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
		if (!names || SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
			stp_err_set(e, STP_EXIT_USAGE, "--client-ca %s: %s", client_ca,
				    load_error(eb, sizeof(eb)));
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Classifies rc, what an SSL_read, SSL_write, SSL_connect or SSL_accept on
 * ssl returned; the call must have run with errno and OpenSSL's error queue
 * cleared (io_begin()), or a stale entry reads as this call's failure. */
static enum stp_tls_io io_result(SSL *ssl, int rc)
{
	if (rc > 0)
		return STP_TLS_OK;
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return STP_TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return STP_TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return STP_TLS_EOF;
	case SSL_ERROR_SYSCALL:
		/* no errno: the socket closed without close_notify */
		return errno ? STP_TLS_ERROR : STP_TLS_EOF;
	}
	errno = EPROTO;
	return STP_TLS_ERROR;
}

/* Before every TLS call whose outcome io_result() is to tell. */
static void io_begin(void)
{
	ERR_clear_error();
	errno = 0;
}

/* Sets what the handshake verifies: the name (also sent as SNI) or the
 * address the user gave for the proxy. Returns 0, or -1 with e. */
static int client_verify_host(SSL *ssl, const char *host, struct stp_err *e)
{
	unsigned char ip[16];
	char eb[200];

	/* "" would switch the name check off rather than fail it */
	if (!*host)
		return stp_err_set(e, STP_EXIT_TLS, "no proxy name to verify");
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1)
			return 0;
	} else if (SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1) {
		return 0;
	}
	return stp_err_set(e, STP_EXIT_TLS, "cannot set the name to verify: %s",
			   stp_tls_error(eb, sizeof(eb)));
}

/* Puts ssl on fd, or inside outer (which stays the caller's). Returns 0 or -1. */
static int client_attach(SSL *ssl, int fd, SSL *outer)
{
	if (!outer)
		return SSL_set_fd(ssl, fd) == 1 ? 0 : -1;
	BIO *b = BIO_new(BIO_f_ssl());
	if (!b)
		return -1;
	BIO_set_ssl(b, outer, BIO_NOCLOSE);
	SSL_set_bio(ssl, b, b);  /* ssl owns b now */
	return 0;
}

SSL *stp_tls_client_new(SSL_CTX *ctx, int fd, SSL *outer, const char *host,
			struct stp_err *e)
{
	char eb[200];
	SSL *ssl;

	io_begin();
	ssl = SSL_new(ctx);
	if (!ssl || client_attach(ssl, fd, outer) < 0) {
		stp_err_set(e, STP_EXIT_TLS, "%s", stp_tls_error(eb, sizeof(eb)));
		SSL_free(ssl);
		return NULL;
	}
	if (client_verify_host(ssl, host, e) < 0) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

enum stp_tls_io stp_tls_connect_step(SSL *ssl)
{
	io_begin();
	return io_result(ssl, SSL_connect(ssl));
}

int stp_tls_connect_error(SSL *ssl, const char *proxy, struct stp_err *e)
{
	long vr = SSL_get_verify_result(ssl);
	bool tls_said = ERR_peek_error() != 0;
	char eb[200];
	const char *why = stp_tls_error(eb, sizeof(eb));

	if (vr != X509_V_OK)
		return stp_err_set(e, STP_EXIT_TLS, "TLS to proxy %s: certificate verification "
				   "failed: %s", proxy, X509_verify_cert_error_string(vr));
	/* nothing from TLS itself: the peer hung up or the socket failed */
	if (!tls_said)
		return stp_err_set(e, STP_EXIT_TLS, "TLS to proxy %s: the connection closed "
				   "during the handshake (not a TLS listener?)", proxy);
	return stp_err_set(e, STP_EXIT_TLS, "TLS to proxy %s: %s", proxy, why);
}

enum stp_tls_io stp_tls_read(SSL *ssl, void *buf, size_t cap, size_t *n)
{
	int k;

	io_begin();
	k = SSL_read(ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
	*n = k > 0 ? (size_t)k : 0;
	return io_result(ssl, k);
}

enum stp_tls_io stp_tls_write(SSL *ssl, const void *buf, size_t len, size_t *n)
{
	int k;

	io_begin();
	k = SSL_write(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	*n = k > 0 ? (size_t)k : 0;
	return io_result(ssl, k);
}

ssize_t stp_tls_recv_want(SSL *ssl, void *buf, size_t n, unsigned *want)
{
	size_t k;
	enum stp_tls_io t = stp_tls_read(ssl, buf, n, &k);

	*want = t == STP_TLS_WANT_WRITE ? STP_EV_WRITE : STP_EV_READ;
	switch (t) {
	case STP_TLS_OK:
		return (ssize_t)k;
	case STP_TLS_EOF:
		return 0;
	case STP_TLS_WANT_READ:
	case STP_TLS_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case STP_TLS_ERROR:
		break;
	}
	return -1;
}

ssize_t stp_tls_recv(SSL *ssl, void *buf, size_t n)
{
	unsigned want;

	return stp_tls_recv_want(ssl, buf, n, &want);
}

ssize_t stp_tls_send_want(SSL *ssl, const void *buf, size_t n, unsigned *want)
{
	size_t k;
	enum stp_tls_io t = stp_tls_write(ssl, buf, n, &k);

	*want = t == STP_TLS_WANT_READ ? STP_EV_READ : STP_EV_WRITE;
	switch (t) {
	case STP_TLS_OK:
		return (ssize_t)k;
	case STP_TLS_WANT_READ:
	case STP_TLS_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case STP_TLS_EOF:
		errno = EPIPE;
		return -1;
	case STP_TLS_ERROR:
		break;
	}
	return -1;
}

ssize_t stp_tls_send(SSL *ssl, const void *buf, size_t n)
{
	unsigned want;
	ssize_t r = stp_tls_send_want(ssl, buf, n, &want);

	if (r < 0 && errno != EAGAIN)
		errno = EPIPE;
	return r;
}

/* Waits until fd is ready for events (POLLIN or POLLOUT) or the deadline
 * passes. Returns 0, or -1 with e. */
static int connect_wait(int fd, short events, uint64_t deadline_ms, const char *host,
			struct stp_err *e)
{
	struct pollfd p = { .fd = fd, .events = events };
	int pr = poll(&p, 1, stp_ms_left(deadline_ms));

	if (pr == 0)
		return stp_err_set(e, STP_EXIT_PROTO, "TLS to proxy %s: no handshake answer in time",
				   host);
	if (pr < 0 && errno != EINTR)
		return stp_err_set(e, STP_EXIT_TLS, "TLS to proxy %s: %s", host, strerror(errno));
	return 0;
}

SSL *stp_tls_connect(SSL_CTX *ctx, int fd, SSL *outer, const char *host,
		     uint64_t deadline_ms, struct stp_err *e)
{
	SSL *ssl = stp_tls_client_new(ctx, fd, outer, host, e);

	if (!ssl) {
		stp_err_prefix(e, "TLS");
		return NULL;
	}
	for (;;) {
		enum stp_tls_io r = stp_tls_connect_step(ssl);
		if (r == STP_TLS_OK)
			return ssl;
		if (r != STP_TLS_WANT_READ && r != STP_TLS_WANT_WRITE) {
			stp_tls_connect_error(ssl, host, e);
			break;
		}
		if (connect_wait(fd, r == STP_TLS_WANT_READ ? POLLIN : POLLOUT, deadline_ms,
				 host, e) < 0)
			break;
	}
	SSL_free(ssl);
	return NULL;
}

int stp_tls_step_want(enum stp_tls_io t, unsigned *want)
{
	switch (t) {
	case STP_TLS_OK:
		return 1;
	case STP_TLS_WANT_READ:
		*want = STP_EV_READ;
		return 0;
	case STP_TLS_WANT_WRITE:
		*want = STP_EV_WRITE;
		return 0;
	case STP_TLS_EOF:
	case STP_TLS_ERROR:
		break;
	}
	return -1;
}

int stp_tls_accept_step(SSL *ssl, unsigned *want, struct stp_err *e)
{
	char eb[200];
	int r;

	io_begin();
	r = stp_tls_step_want(io_result(ssl, SSL_accept(ssl)), want);
	if (r >= 0)
		return r;
	return stp_err_set(e, STP_EXIT_TLS, "TLS handshake: %s", stp_tls_error(eb, sizeof(eb)));
}

const char *stp_tls_peer_subject(SSL *ssl, char *buf, size_t cap)
{
	X509 *c = SSL_get1_peer_certificate(ssl);

	if (!c)
		return NULL;
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		X509_free(c);
		return NULL;
	}
	BIO *m = BIO_new(BIO_s_mem());
	if (!m) {
		X509_free(c);
		return NULL;
	}
	X509_NAME_print_ex(m, X509_get_subject_name(c), 0, XN_FLAG_RFC2253);
	int n = BIO_read(m, buf, (int)cap - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(m);
	X509_free(c);
	return n > 0 ? buf : NULL;
}

const char *stp_tls_describe(SSL *ssl, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	return buf;
}
