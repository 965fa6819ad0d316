/* httpreq.h - the head of an HTTP/1.1 request to a proxy (RFC 9112 §3),
 * as stp-serve's mixed port reads it: CONNECT host:port, or an
 * absolute-form request (GET http://host/path). The grammar is
 * http-parser's (libhttp-parser, see README "HTTP parser"); this file adds
 * what a proxy must refuse on top of what that library lets through
 * (request smuggling shapes: bare LF, obs-fold, Content-Length with
 * Transfer-Encoding, two Content-Lengths), the limits (head size, header
 * count), the Basic credentials, and the head forwarded to an origin.
 * Pure: bytes in, struct out; no I/O, no allocation. */
#ifndef STP_HTTPREQ_H
#define STP_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/socks.h"

/* The longest request head taken (request line, headers, the empty
 * line): more is 431. Squid takes 64 KiB; browsers send under 8 KiB. */
#define STP_HTTP_HEAD_MAX 32768
/* The most header fields taken: more is 431. */
#define STP_HTTP_HEADERS_MAX 100

struct stp_http_field {
	uint16_t name_off, name_len;    /* offsets into the parsed buffer */
	uint16_t val_off, val_len;
};

struct stp_http_req {
	char method[16];                /* "CONNECT", "GET", ... */
	bool connect;                   /* CONNECT: a tunnel */
	struct stp_addr dst;            /* the target (CONNECT's authority, or
					   the absolute URI's host and port) */
	uint16_t path_off, path_len;    /* absolute-form: path and query
					   ("/" when the URI has none: len 0) */
	int minor;                      /* HTTP/1.minor */
	bool keep_alive;                /* the client wants the connection kept */
	bool body;                      /* a body follows (Content-Length > 0 or chunked) */
	bool expect_continue;           /* Expect: 100-continue */
	bool has_host;                  /* a Host header came */
	/* Proxy-Authorization: Basic, decoded (NUL-terminated; the caller
	 * wipes them); auth false: none given */
	bool auth;
	char user[256], pass[256];
	int nfields;
	struct stp_http_field f[STP_HTTP_HEADERS_MAX];
	size_t head_len;                /* bytes of the head, empty line included */
};

/* Parses the request head at the start of buf[0..len). Returns the head's
 * length (> 0) with *r filled; 0 when more bytes are needed; -1 when the
 * request must be refused, with *status the HTTP status to answer (400,
 * 407 for credentials that are not Basic, 431 for a head over the limits,
 * 501 for an unknown scheme) and *why a static one-line reason. A valid head
 * cut anywhere returns 0, never -1. */
ssize_t stp_http_req_get(const uint8_t *buf, size_t len, struct stp_http_req *r,
			 int *status, const char **why);

/* True when field i of r (parsed from buf) is named name (any case). */
bool stp_http_field_is(const uint8_t *buf, const struct stp_http_req *r, int i,
		       const char *name);

/* http-parser callbacks' common part: a header field's name (at, n bytes
 * into the head at base) starts entry r->nfields, its value fills the last
 * one. Return 0, or -1 (too many fields; a value before any name). */
int stp_http_field_name(struct stp_http_req *r, const uint8_t *base, const char *at, size_t n);
int stp_http_field_value(struct stp_http_req *r, const uint8_t *base, const char *at, size_t n);

/* True when field i of r (parsed from buf) is hop-by-hop (RFC 9110
 * §7.6.1): Connection and the fields it names, Keep-Alive,
 * Proxy-Connection, Proxy-Authorization, Proxy-Authenticate, TE, Trailer,
 * Upgrade. Transfer-Encoding is not among them: it frames the body that
 * is passed on unchanged. */
bool stp_http_hop_by_hop(const uint8_t *buf, const struct stp_http_req *r, int i);

/* Writes the head an absolute-form request r (parsed from buf) is
 * forwarded with: origin-form request line, the fields but the hop-by-hop
 * ones (Connection and what it names, Keep-Alive, Proxy-*, TE, Trailer,
 * Upgrade), Host when the client gave none, "Via: 1.MINOR via" and
 * "Connection: keep-alive" when keep (the proxy may send the origin the
 * next request of the same client), else "Connection: close".
 * Returns the length written into out, or 0 when cap is too small. */
size_t stp_http_forward_head(const uint8_t *buf, const struct stp_http_req *r,
			     const char *via, bool keep, uint8_t *out, size_t cap);

/* The reason phrase of status ("Bad Gateway"), "Error" for an unknown one. */
const char *stp_http_reason(int status);

/* An error answer: status line, Content-Type text/plain, Content-Length,
 * Connection: close, extra header lines (may be NULL; each ending in
 * CRLF), the body text (cut to what fits) and a newline. Returns the
 * length written into out (cap at least 256), 0 when it does not fit. */
size_t stp_http_error_put(uint8_t *out, size_t cap, int status, const char *extra,
			  const char *body);

#endif
