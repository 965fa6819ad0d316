/* resolver.h - non-blocking name lookups with c-ares, driven by the event
 * loop (its sockets are loop fds, its timeouts a loop timer). */
#ifndef STP_RESOLVER_H
#define STP_RESOLVER_H

#include <ares.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "proto/err.h"
#include "core/evloop.h"

struct stp_resolver;
struct stp_lookup;

/* status is an ARES_* code; ai (NULL unless ARES_SUCCESS) is valid only
 * during the call. */
typedef void stp_lookup_cb(void *arg, int status, const struct ares_addrinfo *ai);

/* servers: "ADDR[:PORT],..." (c-ares CSV), or NULL for /etc/resolv.conf.
 * Returns NULL with e filled on failure. */
struct stp_resolver *stp_resolver_new(struct stp_loop *l, const char *servers,
				      struct stp_err *e);
void stp_resolver_free(struct stp_resolver *r);

/* Looks name up (family AF_UNSPEC, AF_INET or AF_INET6). cb is called
 * exactly once unless cancelled, possibly before this returns (answers from
 * /etc/hosts, out of memory): then the result is NULL, else a handle. */
struct stp_lookup *stp_lookup_start(struct stp_resolver *r, const char *name, int family,
				    stp_lookup_cb *cb, void *arg);
/* The callback will not be called; the lookup's memory goes when c-ares
 * finishes with it. */
void stp_lookup_cancel(struct stp_lookup *q);

/* Reverse lookup (PTR) of sa (AF_INET or AF_INET6); name (NULL unless
 * ARES_SUCCESS) is valid only during the call. Handle and callback rules
 * as stp_lookup_start(); cancel with stp_lookup_cancel(). */
typedef void stp_name_cb(void *arg, int status, const char *name);
struct stp_lookup *stp_ptr_start(struct stp_resolver *r, const struct sockaddr *sa,
				 stp_name_cb *cb, void *arg);

/* Sends the DNS query q (qlen bytes; c-ares copies it and gives it an ID of
 * its own) to the resolvers. The answer (NULL unless ARES_SUCCESS; any
 * RCODE but SERVFAIL, NOTIMP and REFUSED, which come as ARES_ESERVFAIL,
 * ARES_ENOTIMP, ARES_EREFUSED) carries c-ares's ID and is valid only during
 * the call. Handle and callback rules as stp_lookup_start(). */
typedef void stp_raw_cb(void *arg, int status, const uint8_t *answer, size_t alen);
struct stp_lookup *stp_raw_start(struct stp_resolver *r, const uint8_t *q, size_t qlen,
				 stp_raw_cb *cb, void *arg);

/* The first DNS server c-ares asks (--resolver's first, else the first
 * nameserver of resolv.conf; c-ares's default 127.0.0.1 without one), its
 * TCP port in sa. For a server that must ask it from elsewhere (DNS over
 * TCP through an HTTP proxy: server/upresolve.c). Returns 0, or -1. */
int stp_resolver_first_server(const struct stp_resolver *r, struct sockaddr_storage *sa);

/* How many lookups of any kind were started (for metrics). */
uint64_t stp_resolver_lookups(const struct stp_resolver *r);

#endif
