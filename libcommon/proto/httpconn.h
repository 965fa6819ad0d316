/* httpconn.h - the client side of an HTTP proxy's CONNECT (RFC 9110
 * §9.3.6) as a pure codec: the request, with Basic credentials
 * (RFC 7617), and the proxy's answer, parsed incrementally by http-parser
 * (Debian libhttp-parser-dev) so that the tunnel's first bytes are never
 * taken for part of the answer. No I/O, no malloc. */
#ifndef STP_HTTPCONN_H
#define STP_HTTPCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <http_parser.h>
#include "proto/addr.h"

/* What of a refusal's body is kept to judge it: the start of an error page
 * names the reason ("Connection refused") well within this. */
#define STP_HTTP_BODY_KEEP 1024

struct stp_http_resp {
	http_parser p;
	int status;               /* 0 until the headers are complete */
	char line[96];            /* "HTTP/1.1 407 Proxy Authentication Required",
				   * printable ASCII only, cut if long */
	char reason[64];          /* the reason phrase as it arrives */
	size_t reason_len;
	char auth[160];           /* Proxy-Authenticate values, joined by ", " */
	char squid_err[64];       /* X-Squid-Error (Squid names the failure) */
	char body[STP_HTTP_BODY_KEEP];
	size_t body_len;
	char field[32];           /* the header name being read, lower case */
	size_t field_len;
	int want;                 /* which value is being read: 0 none, 1 auth, 2 squid */
	bool in_value;            /* the last callback was a value's */
	bool headers_done;        /* status and headers complete */
	bool complete;            /* the whole answer, body too, was read */
};

/* Writes "CONNECT HOST:PORT HTTP/1.1" with Host and, when user is not
 * NULL, Proxy-Authorization: Basic base64(user:pass). Returns the length,
 * or 0 when it does not fit cap or dest cannot be written. */
size_t stp_http_connect_put(uint8_t *out, size_t cap, const struct stp_addr *dest,
			    const char *user, const char *pass);

/* Starts r for a new answer. */
void stp_http_resp_init(struct stp_http_resp *r);

/* Eats n > 0 bytes. Returns bytes consumed (fewer than n only once the
 * answer's headers are complete with a 2xx status: the rest is tunnel
 * data), or -1 when the bytes are not an HTTP answer. After a non-2xx
 * answer it eats the body until complete or until enough is kept. */
ssize_t stp_http_resp_feed(struct stp_http_resp *r, const uint8_t *in, size_t n);

/* Whether the answer has been read far enough to be judged: a 2xx's
 * headers, or a refusal's body (complete, or STP_HTTP_BODY_KEEP of it). */
bool stp_http_resp_ready(const struct stp_http_resp *r);

/* What a non-2xx answer means on the SOCKS5 reply scale (socks.h REP) for
 * SPEC §2.3: 403 not allowed; 500/502/503 connection refused when the status,
 * Squid's X-Squid-Error or the body says so, host unreachable when the
 * name did not resolve, else general failure; 504 TTL expired; 405 and
 * 501 (no CONNECT here) command not supported; anything else general
 * failure. 407 is not a reply (the caller's exit 4): returns 0 for it. */
uint8_t stp_http_resp_rep(const struct stp_http_resp *r);

/* A few words on why, from the answer ("connection refused", "name does
 * not resolve"), or "" when the answer says nothing more than its status. */
const char *stp_http_resp_why(const struct stp_http_resp *r);

/* The authentication schemes of Proxy-Authenticate ("Basic, NTLM"), at
 * most cap bytes; "" when none were offered. */
const char *stp_http_resp_schemes(const struct stp_http_resp *r, char *buf, size_t cap);

/* Whether Proxy-Authenticate offers Basic. */
bool stp_http_resp_offers_basic(const struct stp_http_resp *r);

#endif
