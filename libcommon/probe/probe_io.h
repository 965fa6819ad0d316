/* probe_io.h - stp-probe's small bounded exchanges with the proxy under
 * test: a connection (direct, or through the -x chain, whose TLS hops its
 * stp_conn carries), reads that never wait past their deadline, and the
 * SOCKS5/SOCKS4 steps with the time each took. Shared by probe*.c only.
 *
 * TLS to the probed proxy itself (socks5s/socks5hs) happens in
 * probe_open(): its SSL is pushed onto io->c->ssl[] (inside the chain's own
 * TLS hops, if any), and every read and write below goes through it. */
#ifndef STP_PROBE_IO_H
#define STP_PROBE_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "client/client.h"
#include "probe/probe.h"
#include "proto/socks.h"

/* A check's detail text built in parts (the report keeps up to 512). */
#define PROBE_DETAIL_MAX 300

struct pio {
	struct stp_conn *c;     /* fd and TLS hops; NULL when closed */
	uint8_t in[8192];       /* read, not yet parsed */
	size_t inlen;
};

/* The outcome of waiting for a reply. */
enum pio_outcome { PO_REPLY, PO_CLOSED, PO_TIMEOUT, PO_MALFORMED, PO_ERROR };

/* One SOCKS session's timings (ms) and state. */
struct s5 {
	struct pio io;
	double t_connect, t_greeting, t_auth, t_request;
	uint8_t method;
};

struct probe {
	const struct stp_probe_cfg *cfg;
	struct stp_probe_report *rep;
	char ph[STP_HOSTPORT_MAX];                    /* "HOST:PORT" of the probed proxy */
	struct sockaddr_storage pa;      /* its address that answered (direct) */
	socklen_t palen;
	struct sockaddr_storage la;      /* our side of the way to it */
	socklen_t lalen;
	bool v6_reached;                 /* an IPv6 address of the proxy answered */
	long tmo;                        /* -w, ms */
	long short_ms;                   /* for optional commands and UDP waits */
	int tfd;                         /* our target listener, or -1 */
	struct stp_addr target;          /* CONNECT's target */
	bool own_target;
	bool auth;                       /* use RFC 1929 */
	bool needs_auth;                 /* the proxy wants user/pass */
	bool socks4;                     /* socks4:// or socks4a:// */
	SSL_CTX *tls_ctx;                /* socks5s/socks5hs: TLS to the proxy */
	struct stp_err tls_err;          /* why there is no tls_ctx */
	bool raw;                        /* probe_open without TLS (reach) */
};

double probe_now(void);
/* Opens a connection to the probed proxy (and TLS to it, with p->tls_ctx);
 * *ms gets the connect time (TLS not included). Returns 0, or -1 with e
 * (3: unreachable, or what the chain said; 6: TLS). */
int probe_open(struct probe *p, struct pio *io, double *ms, struct stp_err *e);
void probe_close(struct pio *io);
/* Writes all of buf before deadline. Returns 0 or -1 (errno). */
int pio_write(struct pio *io, const void *buf, size_t n, uint64_t deadline);
/* Reads until io->in holds n bytes: 0, 1 at EOF, -1 (errno; ETIMEDOUT). */
int pio_fill(struct pio *io, size_t n, uint64_t deadline);
void pio_eat(struct pio *io, size_t n);

/* Greeting (and RFC 1929 when p->auth). Returns 0, or -1 with e. */
int s5_hello(struct probe *p, struct s5 *s, struct stp_err *e);
/* Sends a request and waits up to wait_ms for its reply. */
enum pio_outcome s5_request(struct probe *p, struct s5 *s, uint8_t cmd, const struct stp_addr *dst,
			    const struct stp_opts *opts, long wait_ms, struct stp5_msg *m);
/* Waits for a later reply (BIND's second, a notice). */
enum pio_outcome s5_next(struct s5 *s, uint8_t cmd, long wait_ms, struct stp5_msg *m);
/* SOCKS4/4a CONNECT or BIND: dial, request, reply. *cd gets the code. */
enum pio_outcome s4_request(struct probe *p, struct s5 *s, uint8_t cmd, const struct stp_addr *dst,
			    long wait_ms, uint8_t *cd, struct stp_err *e);
/* "reply 5 (connection refused)", "closed without reply", ... */
const char *outcome_str(enum pio_outcome o, uint8_t rep, long wait_ms, char *buf, size_t cap);

#endif
