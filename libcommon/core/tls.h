/* tls.h - TLS from OpenSSL, nothing invented: contexts for clients (verify
 * on by default, host name checked) and servers (optionally requiring a
 * client certificate), a blocking client handshake with a deadline, over a
 * socket or inside an outer TLS connection (a TLS hop behind a TLS hop),
 * and the non-blocking server handshake step the event loop drives. */
#ifndef STP_TLS_H
#define STP_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "proto/err.h"

struct stp_tls_client_cfg {
	const char *cacert;   /* PEM trust anchors; NULL: the system's */
	const char *cert;     /* client certificate (PEM), or NULL */
	const char *key;      /* its key; NULL: in cert */
	bool insecure;        /* no verification at all */
};

/* Returns a client context, or NULL with e (code 6, or 2 for a file that
 * cannot be read). */
SSL_CTX *stp_tls_client_ctx(const struct stp_tls_client_cfg *cfg, struct stp_err *e);
/* Returns a server context (TLS 1.2+), or NULL with e (code 2). With
 * client_ca, a client certificate signed by it is required. */
SSL_CTX *stp_tls_server_ctx(const char *cert, const char *key, const char *client_ca,
			    struct stp_err *e);

/* What a TLS read, write or handshake step came to. */
enum stp_tls_io {
	STP_TLS_OK,          /* bytes moved, or the handshake is done */
	STP_TLS_WANT_READ,   /* call again once the socket is readable */
	STP_TLS_WANT_WRITE,  /* call again once the socket is writable */
	STP_TLS_EOF,         /* the peer closed: close_notify, or a close without it */
	STP_TLS_ERROR,       /* errno: the socket's error, or EPROTO for TLS itself;
			      * stp_tls_error() has the reason */
};

/* A client connection to the proxy `host` (a name or an address literal)
 * over fd, or inside outer when not NULL, set to verify that name or address
 * and to send the name as SNI. Returns it (the caller frees it; outer stays
 * the caller's and must outlive it), or NULL with e (code 6) holding the
 * reason alone, for the caller to prefix. */
SSL *stp_tls_client_new(SSL_CTX *ctx, int fd, SSL *outer, const char *host,
			struct stp_err *e);

/* One step of the client handshake of a stp_tls_client_new() connection.
 * STP_TLS_EOF and STP_TLS_ERROR end it: stp_tls_connect_error() says why. */
enum stp_tls_io stp_tls_connect_step(SSL *ssl);

/* A handshake step's result for a loop: 1 done, 0 call again once the
 * socket is ready as *want says (STP_EV_READ or STP_EV_WRITE), -1 failed. */
int stp_tls_step_want(enum stp_tls_io t, unsigned *want);

/* Fills e (code 6) with why the handshake with `proxy` (as the message is to
 * name it) failed, and drains OpenSSL's error queue. Returns -1. */
int stp_tls_connect_error(SSL *ssl, const char *proxy, struct stp_err *e);

/* Reads up to cap bytes; *n is the count when STP_TLS_OK. */
enum stp_tls_io stp_tls_read(SSL *ssl, void *buf, size_t cap, size_t *n);
/* Writes up to len bytes (fewer is no error: partial writes are on); *n is
 * the count when STP_TLS_OK. */
enum stp_tls_io stp_tls_write(SSL *ssl, const void *buf, size_t len, size_t *n);

/* stp_tls_read() with read(2)'s answers: bytes, 0 at EOF, or -1 with errno
 * (EAGAIN: call again once the socket is ready; EPROTO: TLS itself). */
ssize_t stp_tls_recv(SSL *ssl, void *buf, size_t n);
/* stp_tls_write() with send(2)'s answers: bytes, or -1 with errno EAGAIN,
 * or EPIPE for any failure (the stream is over either way). */
ssize_t stp_tls_send(SSL *ssl, const void *buf, size_t n);
/* The same for an event loop: *want is the socket event (STP_EV_READ or
 * STP_EV_WRITE) to wait for before the next call in this direction (a
 * TLS write may need a read first, and a read a write); a failed send
 * keeps the socket's errno (EPROTO: TLS itself; EPIPE: closed). */
ssize_t stp_tls_recv_want(SSL *ssl, void *buf, size_t n, unsigned *want);
ssize_t stp_tls_send_want(SSL *ssl, const void *buf, size_t n, unsigned *want);

/* Handshakes as a client with the proxy `host` (a name or a literal, for
 * verification) over fd, or over outer when not NULL (fd then only tells
 * readiness). Blocks until deadline_ms (stp_clock_ms time). Returns the
 * connection, or NULL with e (code 6: "certificate has expired", "hostname
 * mismatch", ...; code 3 when the connection dropped; 5 for a timeout). */
SSL *stp_tls_connect(SSL_CTX *ctx, int fd, SSL *outer, const char *host,
		     uint64_t deadline_ms, struct stp_err *e);

/* One step of a non-blocking server handshake. Returns 1 when done, 0 when
 * it wants more I/O (*want is STP_EV_READ or STP_EV_WRITE), -1 on failure
 * with e. */
int stp_tls_accept_step(SSL *ssl, unsigned *want, struct stp_err *e);

/* The verified client certificate's subject as one line ("CN=alice,O=x"),
 * or NULL when there is none. */
const char *stp_tls_peer_subject(SSL *ssl, char *buf, size_t cap);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs. */
const char *stp_tls_describe(SSL *ssl, char *buf, size_t cap);

/* The most useful text for the last OpenSSL error (drains the queue). */
const char *stp_tls_error(char *buf, size_t cap);

#endif
