/* client.h - a client connection through a proxy chain, for programs that
 * do one thing at a time (blocking socket, poll-based deadline). Resolves
 * what the client must resolve (getaddrinfo), connects to the first hop,
 * runs the handshake machine, and returns a connected socket. */
#ifndef STP_CLIENT_H
#define STP_CLIENT_H

#include <stdint.h>
#include "proto/err.h"
#include "proto/handshake.h"
#include "core/msg.h"
#include "core/tls.h"
#include "proto/url.h"

/* --gssapi and its options (SPEC 2.2): GSS-API (RFC 1961) to the last
 * SOCKS5 hop, with the user's Kerberos credentials cache. */
struct stp_gss_cfg {
	bool on;
	const char *service;  /* NULL: "rcmd"; with a '/': a whole principal */
	int level;            /* the least protection taken (gssmsg.h levels) */
};

struct stp_gss_stream;  /* client/gssstream.h */

struct stp_client {
	struct stp_proxy hops[STP_MAX_HOPS];
	int nhops;
	int family;          /* AF_UNSPEC, AF_INET (-4) or AF_INET6 (-6) */
	long timeout_ms;     /* -w, for each of: reaching the proxy, the handshake */
	long keepalive_s;    /* --keepalive: TCP keepalive to the first hop; 0: off */
	struct stp_tls_client_cfg tls;  /* for socks5s/socks5hs hops */
	const struct stp_log *log;      /* -v, -vv: each step (hslog.h); NULL: none */
	struct stp_gss_cfg gss;         /* hops[].gssapi says which hop */
};

struct stp_conn {
	int fd;                  /* connected, blocking */
	SSL *ssl[STP_MAX_HOPS];  /* TLS hops, outermost first; I/O goes */
	int nssl;                /* through the innermost (ssl[nssl - 1]) */
	struct stp_addr bnd;     /* BND of the final reply */
	struct stp_opts opts;    /* options of the final reply (STP commands) */
	uint8_t early[4096];     /* bytes after the reply, not yet used: stream */
	size_t nearly;           /* data, or the start of a later reply */
	struct stp_hs hs;        /* the finished handshake, to judge later replies */
	struct stp_addr dest[STP_MAX_HOPS];
	bool gss_done;           /* a hop authenticated us by GSS-API: */
	int gss_level;           /* the protection level it granted, */
	char gss_principal[256]; /* and who we are to it */
	struct stp_gss_stream *gss;  /* level above none: I/O through it */
};

/* Opens a stream to host:port through the chain with cmd. Returns 0, or -1
 * with e filled (code per SPEC §2.3). */
int stp_client_open(const struct stp_client *c, uint8_t cmd, const char *host,
		    uint16_t port, struct stp_conn *out, struct stp_err *e);
/* The same with options for an STP command (NULL: an empty block). */
int stp_client_open_opts(const struct stp_client *c, uint8_t cmd, const char *host,
			 uint16_t port, const struct stp_opts *opts, struct stp_conn *out,
			 struct stp_err *e);

/* Waits up to timeout_ms (< 0: forever) for one more reply on conn (BIND's
 * second reply, a BIND_MULTI notice), parsed as a reply to the request's
 * command. Returns 0 with m filled (any REP: judge it with
 * stp_hs_judge_reply(&conn->hs, ...)), 1 when the proxy closed the
 * connection, or -1 with e (timeout: STP_EXIT_REPLY + 6; malformed: 5). */
int stp_conn_next_reply(struct stp_conn *conn, long timeout_ms, struct stp5_msg *m,
			struct stp_err *e);

/* I/O on the connection, through its innermost TLS hop if any: reads what
 * is there (after the early bytes), returns bytes, 0 at EOF, -1 with errno;
 * writes all of buf before deadline_ms (0: none). */
ssize_t stp_conn_read(struct stp_conn *conn, void *buf, size_t n);
int stp_conn_write_all(struct stp_conn *conn, const void *buf, size_t n, uint64_t deadline_ms);
/* Whether stp_conn_read has bytes without waiting (TLS or GSS-API ones). */
bool stp_conn_pending(const struct stp_conn *conn);
/* Fails with e (exit 7) when conn's bytes are GSS-API protected (§5), for
 * what reads the socket itself (what names it): they would not be the
 * stream's. Returns 0 or -1. */
int stp_conn_need_plain(const struct stp_conn *conn, const char *what, struct stp_err *e);
/* The innermost TLS connection, or NULL. */
SSL *stp_conn_ssl(const struct stp_conn *conn);
/* Frees the TLS hops and closes fd (if >= 0). */
void stp_conn_close(struct stp_conn *conn);

/* Makes c a chain of one hop: the SOCKS5 server without authentication that
 * listens on the Unix socket path (an stp-connect --mux-master; it resolves
 * names), with the timeout and family of how. Messages name the hop
 * "unix:PATH". c must outlive the connections opened through it. Returns 0,
 * or -1 with e (a path too long: STP_EXIT_USAGE). */
int stp_client_unix(struct stp_client *c, const struct stp_client *how, const char *path,
		    struct stp_err *e);
/* stp_client_open through a chain made by stp_client_unix; returns 0, -1
 * with e, or -2 with e ("mux master at PATH: not running (...)", code
 * STP_EXIT_REACH) when nothing listens at the path (ENOENT, ECONNREFUSED). */
int stp_client_open_unix(const struct stp_client *c, uint8_t cmd, const char *host,
			 uint16_t port, struct stp_conn *out, struct stp_err *e);

/* Opens a plain TCP connection (NO_PROXY). Returns 0 or -1 with e. */
int stp_client_direct(const struct stp_client *c, const char *host, uint16_t port,
		      struct stp_conn *out, struct stp_err *e);

/* Whether the chain carries the stream as it is once the handshake is
 * over: no TLS hop, no GSS-API, no Unix socket hop. */
bool stp_client_plain_stream(const struct stp_client *c);

/* stp_client_open (CONNECT) and stp_client_direct on a socket of the
 * caller's (stp-connect --wrap: the wrapped program's own, so it keeps its
 * options, binding and family): given is a TCP socket not yet connected,
 * IPv4 or IPv6 (IPv4 addresses are reached v4-mapped). Only for a plain
 * stream chain; the proxy's answers are read no further than the final
 * reply, so the target's first bytes stay on the socket. On success
 * out->fd is given, left blocking (close one of them, once); given is
 * never closed. Returns 0, -1 with e, or -3 with e when the socket cannot
 * serve (no address of its family, or a chain that is not a plain stream):
 * then nothing was done with it. */
int stp_client_open_on(const struct stp_client *c, int given, const char *host,
		       uint16_t port, struct stp_conn *out, struct stp_err *e);
int stp_client_direct_on(const struct stp_client *c, int given, const char *host,
			 uint16_t port, struct stp_conn *out, struct stp_err *e);

#endif
