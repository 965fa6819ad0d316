/* test-tls.c - the TLS client set-up and the one reading of OpenSSL's
 * results (core/tls.c), over a socket pair with a certificate made here:
 * what gets verified, handshakes that pass and fail, and what reads and
 * writes come to (data, waiting, close_notify, a plain close, garbage). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/tls.h"
#include "tap.h"

static EVP_PKEY *key;
static X509 *cert;  /* self-signed, for DNS:localhost */

/* Makes the key and certificate the server shows. Returns 0 or -1. */
static int make_cert(void)
{
	X509_EXTENSION *san;
	X509V3_CTX v3;

	key = EVP_EC_gen("P-256");
	cert = X509_new();
	if (!key || !cert)
		return -1;
	X509_set_version(cert, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	X509_set_pubkey(cert, key);
	X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
	san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
	if (!san || !X509_add_ext(cert, san, -1)) {
		X509_EXTENSION_free(san);
		return -1;
	}
	X509_EXTENSION_free(san);
	return X509_sign(cert, key, EVP_sha256()) > 0 ? 0 : -1;
}

/* The client context stp uses (no files), trusting only our certificate. */
static SSL_CTX *client_ctx(void)
{
	struct stp_tls_client_cfg cfg = { .insecure = true };
	struct stp_err e = { 0 };
	SSL_CTX *ctx = stp_tls_client_ctx(&cfg, &e);

	if (!ctx)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert);
	return ctx;
}

static SSL_CTX *server_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Both ends of a handshake over a non-blocking socket pair. */
struct pair {
	int fd[2];   /* client, server */
	SSL *c, *s;
	struct stp_err e;
};

/* Sets p up for the proxy name host. Returns 0, or -1 (p->e says why when
 * the client set-up refused). */
static int pair_open(struct pair *p, SSL_CTX *cctx, SSL_CTX *sctx, const char *host)
{
	memset(p, 0, sizeof(*p));
	p->fd[0] = p->fd[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd) < 0)
		return -1;
	p->c = stp_tls_client_new(cctx, p->fd[0], NULL, host, &p->e);
	p->s = SSL_new(sctx);
	if (!p->c || !p->s || SSL_set_fd(p->s, p->fd[1]) != 1)
		return -1;
	SSL_set_accept_state(p->s);
	return 0;
}

static void pair_close(struct pair *p)
{
	SSL_free(p->c);
	SSL_free(p->s);
	for (int i = 0; i < 2; i++)
		if (p->fd[i] >= 0)
			close(p->fd[i]);
	memset(p, 0, sizeof(*p));
	p->fd[0] = p->fd[1] = -1;
}

/* Steps both ends in turn (a socket pair needs no waiting). Returns 0 when
 * both are done, or -1 with p->e from the client's side of the failure. */
static int pair_handshake(struct pair *p)
{
	bool cdone = false, sdone = false;
	struct stp_err se = { 0 };

	for (int round = 0; round < 50 && !(cdone && sdone); round++) {
		if (!cdone) {
			enum stp_tls_io r = stp_tls_connect_step(p->c);
			if (r == STP_TLS_EOF || r == STP_TLS_ERROR)
				return stp_tls_connect_error(p->c, "localhost:1080", &p->e);
			cdone = r == STP_TLS_OK;
		}
		if (!sdone) {
			unsigned want;
			int r = stp_tls_accept_step(p->s, &want, &se);
			if (r < 0) {
				/* the client's account is the one under test */
				sdone = true;
				continue;
			}
			sdone = r == 1;
		}
	}
	return cdone && sdone ? 0 : -1;
}

/* A handshaken pair for the test named `what`. Returns 0, or -1 (reported). */
static int pair_ready(struct pair *p, SSL_CTX *cctx, SSL_CTX *sctx, const char *what)
{
	return CHECK(pair_open(p, cctx, sctx, "localhost") == 0 && pair_handshake(p) == 0,
		     "a connection for %s", what) ? 0 : -1;
}

/* The server's socket goes away without a word from TLS. */
static void pair_hangup(struct pair *p)
{
	close(p->fd[1]);
	p->fd[1] = -1;
}

static void test_client_new(SSL_CTX *cctx)
{
	struct stp_err e = { 0 };
	SSL *ssl;
	char *ip;

	ssl = stp_tls_client_new(cctx, -1, NULL, "", &e);
	CHECK(ssl == NULL, "an empty proxy name is refused, not left unverified");
	CHECK_INT(e.code, STP_EXIT_TLS, "... with code 6");
	CHECK_STR(e.msg, "no proxy name to verify", "... and says so");

	ssl = stp_tls_client_new(cctx, 0, NULL, "proxy.example", &e);
	CHECK(ssl != NULL, "a name: a connection");
	if (ssl) {
		const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
		const char *h = X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0);
		CHECK_STR(sni ? sni : "(none)", "proxy.example", "a name is sent as SNI");
		CHECK_STR(h ? h : "(none)", "proxy.example", "a name is what the certificate must carry");
		CHECK(SSL_is_server(ssl) == 0, "set up as the client end");
		SSL_free(ssl);
	}

	ssl = stp_tls_client_new(cctx, 0, NULL, "2001:db8::1", &e);
	CHECK(ssl != NULL, "an address: a connection");
	if (ssl) {
		ip = X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(ssl));
		CHECK_STR(ip ? ip : "(none)", "2001:DB8:0:0:0:0:0:1",
			  "an address is what the certificate must carry");
		CHECK(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) == NULL,
		      "an address is not sent as SNI");
		CHECK(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0) == NULL,
		      "... nor checked as a name");
		OPENSSL_free(ip);
		SSL_free(ssl);
	}
}

static void test_handshakes(SSL_CTX *cctx, SSL_CTX *sctx)
{
	struct pair p;

	CHECK(pair_open(&p, cctx, sctx, "localhost") == 0 && pair_handshake(&p) == 0,
	      "a handshake with the name the certificate carries succeeds");
	pair_close(&p);

	CHECK(pair_open(&p, cctx, sctx, "other.example") == 0 && pair_handshake(&p) < 0,
	      "a handshake with another name fails");
	CHECK_STR(p.e.msg, "TLS to proxy localhost:1080: certificate verification failed: "
		  "hostname mismatch", "... as a hostname mismatch");
	pair_close(&p);

	CHECK(pair_open(&p, cctx, sctx, "127.0.0.1") == 0 && pair_handshake(&p) < 0,
	      "a handshake with an address the certificate lacks fails");
	CHECK_STR(p.e.msg, "TLS to proxy localhost:1080: certificate verification failed: "
		  "IP address mismatch", "... as an address mismatch");
	pair_close(&p);

	/* a peer that is not TLS at all: it hangs up on the ClientHello */
	CHECK(pair_open(&p, cctx, sctx, "localhost") == 0, "a pair for a hang-up");
	CHECK_INT(stp_tls_connect_step(p.c), STP_TLS_WANT_READ, "the client waits for an answer");
	pair_hangup(&p);
	enum stp_tls_io r = stp_tls_connect_step(p.c);
	CHECK(r == STP_TLS_EOF || r == STP_TLS_ERROR, "a hang-up ends the handshake (%d)", r);
	stp_tls_connect_error(p.c, "localhost:1080", &p.e);
	CHECK_STR(p.e.msg, "TLS to proxy localhost:1080: the connection closed during the "
		  "handshake (not a TLS listener?)", "... as a closed connection");
	CHECK(ERR_peek_error() == 0, "... and the error queue is left empty");
	pair_close(&p);
}

static void test_io(SSL_CTX *cctx, SSL_CTX *sctx)
{
	struct pair p;
	char buf[64];
	size_t n;

	if (pair_ready(&p, cctx, sctx, "reads and writes") < 0)
		return;
	CHECK_INT(stp_tls_read(p.c, buf, sizeof(buf), &n), STP_TLS_WANT_READ,
		  "nothing sent yet: wait for readable");
	/* another connection's failure left behind must not read as ours */
	ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
	CHECK_INT(stp_tls_read(p.c, buf, sizeof(buf), &n), STP_TLS_WANT_READ,
		  "a stale entry in the error queue is not this read's failure");
	errno = 0;
	CHECK(stp_tls_recv(p.c, buf, sizeof(buf)) == -1 && errno == EAGAIN,
	      "stp_tls_recv: -1 with EAGAIN to wait");

	CHECK_INT(stp_tls_write(p.s, "hello", 5, &n), STP_TLS_OK, "a write");
	CHECK_INT((int)n, 5, "... takes all 5 bytes");
	CHECK_INT(stp_tls_read(p.c, buf, sizeof(buf), &n), STP_TLS_OK, "a read");
	CHECK(n == 5 && memcmp(buf, "hello", 5) == 0, "... gets them");

	CHECK(SSL_shutdown(p.s) >= 0, "the server sends close_notify");
	CHECK_INT(stp_tls_read(p.c, buf, sizeof(buf), &n), STP_TLS_EOF,
		  "close_notify reads as EOF");
	CHECK(stp_tls_recv(p.c, buf, sizeof(buf)) == 0, "stp_tls_recv: 0 at EOF");
	pair_close(&p);

	if (pair_ready(&p, cctx, sctx, "a plain close") < 0)
		return;
	pair_hangup(&p);
	CHECK_INT(stp_tls_read(p.c, buf, sizeof(buf), &n), STP_TLS_EOF,
		  "a close without close_notify reads as EOF");
	CHECK_INT(stp_tls_write(p.c, "x", 1, &n), STP_TLS_EOF,
		  "once EOF was read, a write fails as EOF too");
	pair_close(&p);

	if (pair_ready(&p, cctx, sctx, "a write to a closed peer") < 0)
		return;
	pair_hangup(&p);
	CHECK_INT(stp_tls_write(p.c, "x", 1, &n), STP_TLS_ERROR,
		  "a write to a peer that closed fails");
	CHECK_INT(errno, EPIPE, "... with the socket's errno");
	errno = 0;
	CHECK(stp_tls_send(p.c, "x", 1) == -1 && errno == EPIPE, "stp_tls_send: -1 with EPIPE");
	pair_close(&p);

	if (pair_ready(&p, cctx, sctx, "garbage") < 0)
		return;
	static const char junk[] = "\x17\x03\x03\x00\x20 not a record of this session...";
	CHECK(write(p.fd[1], junk, sizeof(junk) - 1) == (ssize_t)sizeof(junk) - 1,
	      "garbage written under the server's TLS");
	CHECK_INT(stp_tls_read(p.c, buf, sizeof(buf), &n), STP_TLS_ERROR,
		  "a record that does not decrypt is an error");
	CHECK_INT(errno, EPROTO, "... EPROTO, TLS itself");
	char eb[200];
	const char *why = stp_tls_error(eb, sizeof(eb));
	CHECK(strcmp(why, "unknown TLS error") != 0 && strcmp(why, strerror(EPROTO)) != 0,
	      "... with OpenSSL's reason (%s)", why);
	CHECK(ERR_peek_error() == 0, "stp_tls_error() drains the queue");
	pair_close(&p);
}

int main(void)
{
	SSL_CTX *cctx = NULL, *sctx = NULL;

	signal(SIGPIPE, SIG_IGN);
	if (!CHECK(make_cert() == 0 && (cctx = client_ctx()) && (sctx = server_ctx()),
		   "a certificate and both contexts"))
		return tap_done();
	test_client_new(cctx);
	test_handshakes(cctx, sctx);
	test_io(cctx, sctx);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	return tap_done();
}
