/* addr.h - address helpers: parse HOST:PORT and [V6]:PORT, turn socket
 * addresses into text and SOCKS addresses, and back. */
#ifndef STP_ADDR_H
#define STP_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "proto/err.h"
#include "proto/socks.h"

/* Longest "[v6]:port" text, NUL included. */
#define STP_ADDRSTRLEN 64

/* Splits "HOST:PORT", "[V6]:PORT" or, when default_port >= 0, "HOST" /
 * "[V6]" / "PORT"-less forms into host (no brackets) and port. When
 * port_only_ok, a bare number is taken as a port with host "" (for -L PORT).
 * Returns 0, or -1 with STP_EXIT_USAGE naming what is wrong. */
int stp_hostport_split(const char *s, char *host, size_t hostcap, uint16_t *port,
		       int default_port, bool port_only_ok, struct stp_err *e);

/* Parses a decimal port 0..65535 (whole string). Returns 0 or -1. */
int stp_port_parse(const char *s, uint16_t *port);

/* Fills a SOCKS address from a host text: an IPv4 or IPv6 literal becomes
 * ATYP 1 / 4, anything else a name (ATYP 3; over 255 bytes: -1). */
int stp_addr_from_host(struct stp_addr *a, const char *host, uint16_t port);

/* SOCKS address (IPv4/IPv6 only) -> sockaddr; returns its length or 0. */
socklen_t stp_addr_to_sa(const struct stp_addr *a, struct sockaddr_storage *ss);
/* sockaddr (AF_INET/AF_INET6; v4-mapped v6 becomes IPv4) -> SOCKS address. */
int stp_addr_from_sa(struct stp_addr *a, const struct sockaddr *sa);

/* Text forms, written into buf (STP_ADDRSTRLEN bytes), returned:
 *   stp_addr_host:     "1.2.3.4", "::1", "example.org" (no port)
 *   stp_addr_str:      "1.2.3.4:80", "[::1]:80", "example.org:80" */
const char *stp_addr_host(const struct stp_addr *a, char *buf, size_t cap);
const char *stp_addr_str(const struct stp_addr *a, char *buf, size_t cap);
const char *stp_sa_host(const struct sockaddr *sa, char *buf, size_t cap);
const char *stp_sa_str(const struct sockaddr *sa, char *buf, size_t cap);
uint16_t stp_sa_port(const struct sockaddr *sa);

/* True for 0.0.0.0, :: (any port): "unspecified" in a request. */
bool stp_addr_is_zero(const struct stp_addr *a);
/* True for an IPv4 address in 224.0.0.0/4 or an IPv6 one in ff00::/8. */
bool stp_mcast_is_group(const struct stp_addr *a);
/* Sets the port of an AF_INET/AF_INET6 sockaddr. */
void stp_sa_set_port(struct sockaddr_storage *ss, uint16_t port);

/* True for loopback addresses (127/8, ::1, v4-mapped 127/8). */
bool stp_sa_is_loopback(const struct sockaddr *sa);
/* The address a connection or datagram to target sa really goes to, in
 * out (port kept): a v4-mapped IPv6 address as IPv4, the unspecified
 * address as the loopback address of its family. Returns out's length, 0
 * when sa is neither IPv4 nor IPv6. */
socklen_t stp_sa_target(const struct sockaddr *sa, struct sockaddr_storage *out);

/* Numeric host (no name lookup) -> sockaddr with port; -1 if not numeric. */
int stp_sa_from_numeric(struct sockaddr_storage *ss, socklen_t *len,
			const char *host, uint16_t port);

#endif
