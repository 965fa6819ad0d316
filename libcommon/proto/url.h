/* url.h - proxy URLs (SPEC §2.1):
 *   [SCHEME://][USER[:PASSWORD]@]HOST[:PORT]
 * IPv6 hosts in brackets; user and password percent-decoded; default port
 * 1080; default scheme socks5h. */
#ifndef STP_URL_H
#define STP_URL_H

#include <stdbool.h>
#include <stdint.h>
#include "proto/err.h"

/* STP_PROTO_HTTP: an HTTP proxy's CONNECT (schemes http, https) */
enum stp_proto { STP_PROTO_SOCKS4 = 4, STP_PROTO_SOCKS5 = 5, STP_PROTO_HTTP = 80 };

struct stp_proxy {
	enum stp_proto proto;
	bool remote_dns;     /* socks4a, socks5h, socks5hs, http, https: the proxy resolves */
	bool tls;            /* socks5s, socks5hs, https */
	char scheme[10];     /* as given, lower case, or "socks5h" by default */
	char host[256];      /* without brackets; a name, IPv4 or IPv6 literal */
	uint16_t port;
	bool has_user;       /* USER (and maybe PASSWORD) were in the URL */
	bool has_pass;
	char user[256];
	char pass[256];      /* wipe with stp_proxy_wipe() when done */
	bool gssapi;         /* offer GSS-API (RFC 1961) to this hop: the
			      * client layer runs its exchange (HS_GSS) */
};

/* Parses s into p. Returns 0, or -1 with e->code = STP_EXIT_USAGE and a
 * message naming the offending part ("unknown scheme 'ftp'", "bad port
 * '99999'", "unclosed '[' in host", "empty host", "bad percent-escape"). */
int stp_url_parse(const char *s, struct stp_proxy *p, struct stp_err *e);

/* Writes "HOST:PORT" (IPv6 in brackets) for messages; never the password. */
const char *stp_proxy_hostport(const struct stp_proxy *p, char *buf, size_t cap);

/* Overwrites the credentials in p (OPENSSL_cleanse). */
void stp_proxy_wipe(struct stp_proxy *p);

/* Overwrites the PASSWORD of a URL's USER:PASSWORD@ in place with '*', so
 * that ps(1) and /proc/PID/cmdline do not show it when url is in argv (keep
 * a copy first if the URL is still needed). A proxy URL's password ends at
 * its last '@', as stp_url_parse reads it; an http(s) URL's at the last '@'
 * before its path. Returns true if there was a password to overwrite. */
bool stp_url_scrub(char *url);

/* The value of hex digit c (0..15), or -1 when c is not one. */
int stp_hexval(int c);

#endif
