/* sock.h - socket set-up shared by server and clients. */
#ifndef STP_SOCK_H
#define STP_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
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

/* Writes all of buf to a blocking or non-blocking fd, waiting with poll up
 * to deadline_ms (stp_clock_ms() time; 0 = none). Returns 0, or -1 with errno
 * (ETIMEDOUT when the deadline passed). */
int stp_write_all(int fd, const void *buf, size_t len, uint64_t deadline_ms);

#endif
