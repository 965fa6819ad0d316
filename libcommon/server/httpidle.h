/* httpidle.h - the origin connection a kept-alive HTTP client's next
 * forwarded request may use again (SPEC §3.6: keep-alive on both sides).
 * At most one per client connection: the last origin, kept when its
 * answer allowed it (httpfwd.c decides); taken by the next request to the
 * same host:port, closed when the next request goes elsewhere, when the
 * origin closes or sends anything while idle, and with the client's
 * connection (whose idle limit, the handshake timeout, bounds it). */
#ifndef STP_HTTPIDLE_H
#define STP_HTTPIDLE_H

#include <stdbool.h>

struct session;
struct stp_addr;

/* Keeps fd (connected to dst, ownership passes here, watched by this code
 * from now on) as ss's idle origin connection, closing any other one. On
 * failure fd is closed. */
void httpidle_keep(struct session *ss, int fd, const struct stp_addr *dst);

/* The idle origin connection to dst (same name or address, same port),
 * no longer watched, its ownership to the caller; -1 when there is none
 * (one to another origin is closed then; dst NULL: closed in any case). */
int httpidle_take(struct session *ss, const struct stp_addr *dst);

/* True for a method the idle connection may carry: an idempotent one
 * (RFC 9110 §9.2.2), which may be sent again on a new connection when the
 * origin closed the kept one just as it went out (RFC 9112 §9.3.1). */
bool httpidle_method_ok(const char *method);

/* Closes the idle origin connection, if any (session end). */
void httpidle_free(struct session *ss);

#endif
