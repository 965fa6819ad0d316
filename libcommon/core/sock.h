/* sock.h - socket set-up shared by server and clients. */
#ifndef STP_SOCK_H
#define STP_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "core/evloop.h"
#include "proto/err.h"

/* Non-blocking, close-on-exec listener on sa (SO_REUSEADDR; IPv6 only for
 * IPv6). Returns the fd, or -1 with e filled ("listen 127.0.0.1:1080:
 * Address already in use"). */
int stp_listen_sa(const struct sockaddr *sa, socklen_t len, int backlog, struct stp_err *e);
/* The same with SO_REUSEPORT, so that several sockets share the address
 * (stp-serve --workers: one per worker, the kernel spreads connections). */
int stp_listen_reuseport(const struct sockaddr *sa, socklen_t len, int backlog,
			 struct stp_err *e);

/* Splits a local address "[ADDR:]PORT" (host "" when only a port is
 * given) for the option label names ("-L"). Returns 0, or -1 with e
 * (usage: "LABEL: why"). */
int stp_local_spec(const char *label, const char *spec, char *host, size_t hostcap,
		   uint16_t *port, struct stp_err *e);

/* The local socket of a forward: spec is "[ADDR:]PORT" (ADDR default
 * 127.0.0.1, a name is resolved); SOCK_STREAM gives a non-blocking
 * listener, SOCK_DGRAM a bound blocking UDP socket. Returns the fd (the
 * caller's) with *bound its address, or -1 with e: usage "LABEL: why" or
 * "LABEL SPEC: why" for a bad spec; else code 1, "listen ADDR: why" (TCP)
 * or "LABEL SPEC: why" (UDP). */
int stp_listen_local(const char *label, const char *spec, int socktype,
		     struct sockaddr_storage *bound, struct stp_err *e);

/* Starts a non-blocking connect to sa. Returns the fd (connected or in
 * progress), or -1 with errno set. */
int stp_connect_start(const struct sockaddr *sa, socklen_t len);

/* The pending error of a non-blocking connect (0 = connected). */
int stp_connect_result(int fd);

int stp_set_nonblock(int fd, bool on);
void stp_set_nodelay(int fd);

/* --keepalive SECS: TCP_KEEPIDLE's limit */
#define STP_KEEPALIVE_MAX 32767
/* TCP keepalive on fd: first probe after secs idle (0: leave fd as it is).
 * Returns 0, or -1 with errno (not TCP: ENOPROTOOPT or EOPNOTSUPP). */
int stp_set_keepalive(int fd, long secs);

/* Writes all of buf to a blocking or non-blocking fd, waiting with poll up
 * to deadline_ms (stp_clock_ms() time; 0 = none). Returns 0, or -1 with errno
 * (ETIMEDOUT when the deadline passed). */
int stp_write_all(int fd, const void *buf, size_t len, uint64_t deadline_ms);
/* Reads exactly n bytes from fd (blocking or not) before deadline_ms
 * (stp_clock_ms time). Returns 0, or -1 with errno (ETIMEDOUT; ECONNRESET
 * for an end before n bytes). */
int stp_read_exact(int fd, void *buf, size_t n, uint64_t deadline_ms);

/* An accepting socket at the fd limit: accept4 fails, the client stays
 * queued, and a level-triggered listener would be reported ready again at
 * once (a busy loop). The pause takes the socket's read interest away for
 * STP_ACCEPT_PAUSE_MS and gives it back on a timer. */
#define STP_ACCEPT_PAUSE_MS 100
struct stp_accept_pause {
	struct stp_loop *l;
	int fd;
	bool warned;            /* said since the last accepted connection */
	struct stp_timer timer;
};

/* True for accept4 errors that only pass once fds or memory free up. */
bool stp_accept_exhausted(int err);
/* Prepares p for listener fd (watched on l); nothing is armed. */
void stp_accept_pause_init(struct stp_accept_pause *p, struct stp_loop *l, int fd);
/* After accept4 failed with err: when it is exhaustion, pauses fd (read
 * interest back after STP_ACCEPT_PAUSE_MS) and returns true. *warn is set
 * the first time since the last stp_accept_pause_ok: the caller logs then. */
bool stp_accept_pause(struct stp_accept_pause *p, int err, bool *warn);
/* A connection was accepted: the next exhaustion is worth a warning again. */
void stp_accept_pause_ok(struct stp_accept_pause *p);
/* Disarms the timer; call before unwatching and closing fd. */
void stp_accept_pause_stop(struct stp_accept_pause *p);

/* Closes fd on a failure path and returns -1 with errno still the
 * failure's (close may change it): `return stp_close_keep_errno(fd);`. */
int stp_close_keep_errno(int fd);

#endif
