/* tls.c - OpenSSL contexts and handshakes. */
#include <arpa/inet.h>
#include <errno.h>
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

/* Why the handshake failed, in words for the user. */
static void connect_error(SSL *ssl, const char *host, int rc, struct stp_err *e)
{
	long vr = SSL_get_verify_result(ssl);
	int se = SSL_get_error(ssl, rc);
	char eb[200];

	if (vr != X509_V_OK) {
		stp_err_set(e, STP_EXIT_TLS, "TLS to proxy %s: certificate verification failed: %s",
			    host, X509_verify_cert_error_string(vr));
		return;
	}
	if (se == SSL_ERROR_SYSCALL || se == SSL_ERROR_ZERO_RETURN) {
		stp_err_set(e, STP_EXIT_TLS, "TLS to proxy %s: the connection closed during the "
			    "handshake (not a TLS listener?)", host);
		return;
	}
	stp_err_set(e, STP_EXIT_TLS, "TLS to proxy %s: %s", host, stp_tls_error(eb, sizeof(eb)));
}

SSL *stp_tls_connect(SSL_CTX *ctx, int fd, SSL *outer, const char *host,
		     uint64_t deadline_ms, struct stp_err *e)
{
	SSL *ssl = SSL_new(ctx);
	unsigned char ip[16];
	char eb[200];

	if (!ssl) {
		stp_err_set(e, STP_EXIT_TLS, "TLS: %s", stp_tls_error(eb, sizeof(eb)));
		return NULL;
	}
	if (outer) {
		BIO *b = BIO_new(BIO_f_ssl());
		if (!b) {
			SSL_free(ssl);
			stp_err_set(e, STP_EXIT_TLS, "TLS: out of memory");
			return NULL;
		}
		BIO_set_ssl(b, outer, BIO_NOCLOSE);
		SSL_set_bio(ssl, b, b);
	} else if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		stp_err_set(e, STP_EXIT_TLS, "TLS: %s", stp_tls_error(eb, sizeof(eb)));
		return NULL;
	}
	/* verify the name (or address) the user gave for the proxy */
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
	for (;;) {
		int rc = SSL_connect(ssl);
		if (rc == 1)
			return ssl;
		int se = SSL_get_error(ssl, rc);
		if (se != SSL_ERROR_WANT_READ && se != SSL_ERROR_WANT_WRITE) {
			connect_error(ssl, host, rc, e);
			SSL_free(ssl);
			return NULL;
		}
		struct pollfd p = { .fd = fd, .events = se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT };
		uint64_t now = stp_clock_ms();
		int left = now >= deadline_ms ? 0 : (int)(deadline_ms - now);
		int pr = poll(&p, 1, left);
		if (pr == 0) {
			stp_err_set(e, STP_EXIT_PROTO, "TLS to proxy %s: no handshake answer in time", host);
			SSL_free(ssl);
			return NULL;
		}
		if (pr < 0 && errno != EINTR) {
			stp_err_set(e, STP_EXIT_TLS, "TLS to proxy %s: %s", host, strerror(errno));
			SSL_free(ssl);
			return NULL;
		}
	}
}

int stp_tls_accept_step(SSL *ssl, unsigned *want, struct stp_err *e)
{
	int rc = SSL_accept(ssl);
	char eb[200];

	if (rc == 1)
		return 1;
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		*want = STP_EV_READ;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*want = STP_EV_WRITE;
		return 0;
	}
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
