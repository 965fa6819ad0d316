/* httpreq.c - a proxy request's head: http-parser for the grammar, the
 * proxy's own refusals and limits around it (httpreq.h). */
#include <ctype.h>
#include <http_parser.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/addr.h"
#include "proto/httpreq.h"

/* What the parser's callbacks collect: offsets into the head. */
struct collect {
	const uint8_t *base;
	struct stp_http_req *r;
	size_t url_off, url_len;
	bool in_value;            /* the last callback was a value */
	bool overflow;            /* more fields than STP_HTTP_HEADERS_MAX */
	bool done;                /* on_headers_complete ran */
	bool chunked, has_len;
	uint64_t len;
};

int stp_http_field_name(struct stp_http_req *r, const uint8_t *base, const char *at, size_t n)
{
	if (r->nfields == STP_HTTP_HEADERS_MAX)
		return -1;
	r->f[r->nfields].name_off = (uint16_t)((const uint8_t *)at - base);
	r->f[r->nfields].name_len = (uint16_t)n;
	r->f[r->nfields].val_off = (uint16_t)((const uint8_t *)at - base + n);
	r->f[r->nfields].val_len = 0;
	r->nfields++;
	return 0;
}

int stp_http_field_value(struct stp_http_req *r, const uint8_t *base, const char *at, size_t n)
{
	if (r->nfields == 0)
		return -1;
	r->f[r->nfields - 1].val_off = (uint16_t)((const uint8_t *)at - base);
	r->f[r->nfields - 1].val_len = (uint16_t)n;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct collect *c = p->data;

	/* the head is parsed in one call: the URL comes in one piece */
	c->url_off = (size_t)((const uint8_t *)at - c->base);
	c->url_len = n;
	return 0;
}

static int on_field(http_parser *p, const char *at, size_t n)
{
	struct collect *c = p->data;
	struct stp_http_req *r = c->r;

	if (stp_http_field_name(r, c->base, at, n) < 0) {
		c->overflow = true;
		return 1;
	}
	c->in_value = false;
	return 0;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
	struct collect *c = p->data;
	struct stp_http_req *r = c->r;

	if (stp_http_field_value(r, c->base, at, n) < 0)
		return 1;
	c->in_value = true;
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct collect *c = p->data;

	c->done = true;
	c->chunked = (p->flags & F_CHUNKED) != 0;
	c->has_len = p->content_length != ULLONG_MAX;
	c->len = c->has_len ? p->content_length : 0;
	c->r->keep_alive = http_should_keep_alive(p) != 0;
	/* the head is all this parser is given: no body is looked for */
	return 1;
}

bool stp_http_field_is(const uint8_t *buf, const struct stp_http_req *r, int i,
		       const char *name)
{
	size_t n = strlen(name);

	return r->f[i].name_len == n &&
	       strncasecmp((const char *)buf + r->f[i].name_off, name, n) == 0;
}

/* Checks the lines of buf[0..len) before any parser sees them: each ends
 * in CRLF (a bare LF, or a CR alone, is how requests get smuggled past a
 * proxy that reads lines differently from the origin), no line but the
 * first starts with a space or tab (obs-fold, RFC 9112 §5.2: a proxy must
 * refuse it), no NUL. Sets *end to the head's length when the empty line
 * is there, else 0. Returns 0, or -1 with *why. */
static int check_lines(const uint8_t *buf, size_t len, size_t *end, int *lines,
		       const char **why)
{
	size_t start = 0;

	*end = 0;
	*lines = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\0') {
			*why = "NUL in the request head";
			return -1;
		}
		if (buf[i] == '\r') {
			if (i + 1 < len && buf[i + 1] != '\n') {
				*why = "CR without LF in the request head";
				return -1;
			}
			continue;
		}
		if (buf[i] != '\n')
			continue;
		if (i == 0 || buf[i - 1] != '\r') {
			*why = "bare LF in the request head";
			return -1;
		}
		if (start > 0 && i - start > 1 && (buf[start] == ' ' || buf[start] == '\t')) {
			*why = "obsolete line folding in a header";
			return -1;
		}
		if (i - start == 1) {  /* "\r\n" alone: the end of the head */
			if (start == 0) {
				*why = "empty request line";
				return -1;
			}
			*end = i + 1;
			return 0;
		}
		(*lines)++;
		start = i + 1;
	}
	return 0;
}

/* RFC 7617 Basic: base64 of "user:pass". Returns 0, or -1 when it is not
 * that (bad base64, no colon, a part too long). */
static int basic_decode(const char *v, size_t n, struct stp_http_req *r)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t out[520];
	size_t o = 0, colon;
	uint32_t acc = 0;
	int bits = 0, pad = 0;

	for (size_t i = 0; i < n; i++) {
		const char *p;
		if (v[i] == '=') {
			pad++;
			continue;
		}
		if (pad || !v[i] || !(p = strchr(tab, v[i])))
			return -1;
		acc = acc << 6 | (uint32_t)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == sizeof(out))
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (pad > 2 || memchr(out, '\0', o))
		return -1;
	for (colon = 0; colon < o && out[colon] != ':'; colon++)
		;
	if (colon == o || colon >= sizeof(r->user) || o - colon - 1 >= sizeof(r->pass))
		return -1;
	memcpy(r->user, out, colon);
	r->user[colon] = '\0';
	memcpy(r->pass, out + colon + 1, o - colon - 1);
	r->pass[o - colon - 1] = '\0';
	memset(out, 0, sizeof(out));  /* a password: not left on the stack */
	r->auth = true;
	return 0;
}

/* Trims spaces and tabs around buf[*off .. *off + *n). */
static void trim(const uint8_t *buf, size_t *off, size_t *n)
{
	while (*n && (buf[*off] == ' ' || buf[*off] == '\t')) {
		(*off)++;
		(*n)--;
	}
	while (*n && (buf[*off + *n - 1] == ' ' || buf[*off + *n - 1] == '\t'))
		(*n)--;
}

/* The fields a proxy looks at: framing (smuggling shapes refused),
 * Expect, Host, Proxy-Authorization. Returns 0, or -1 with status, why. */
static int check_fields(const uint8_t *buf, struct stp_http_req *r, int *status,
			const char **why)
{
	int ncl = 0, nte = 0;

	for (int i = 0; i < r->nfields; i++) {
		size_t off = r->f[i].val_off, n = r->f[i].val_len;
		trim(buf, &off, &n);
		if (stp_http_field_is(buf, r, i, "Content-Length"))
			ncl++;
		else if (stp_http_field_is(buf, r, i, "Transfer-Encoding"))
			nte++;
		else if (stp_http_field_is(buf, r, i, "Host"))
			r->has_host = true;
		else if (stp_http_field_is(buf, r, i, "Expect")) {
			if (n == 12 && strncasecmp((const char *)buf + off, "100-continue", 12) == 0)
				r->expect_continue = true;
		} else if (stp_http_field_is(buf, r, i, "Proxy-Authorization")) {
			if (r->auth) {
				*why = "two Proxy-Authorization fields";
				*status = 400;
				return -1;
			}
			if (n < 6 || strncasecmp((const char *)buf + off, "Basic ", 6) != 0) {
				*why = "Proxy-Authorization is not Basic";
				*status = 407;
				return -1;
			}
			off += 6;
			n -= 6;
			trim(buf, &off, &n);
			if (basic_decode((const char *)buf + off, n, r) < 0) {
				*why = "malformed Basic credentials";
				*status = 400;
				return -1;
			}
		}
	}
	if (ncl > 1) {
		*why = "two Content-Length fields";
		*status = 400;
		return -1;
	}
	if (ncl && nte) {
		*why = "Content-Length with Transfer-Encoding";
		*status = 400;
		return -1;
	}
	return 0;
}

/* The target: CONNECT's authority, or an absolute URI's host, port, path. */
static int parse_target(const uint8_t *buf, const struct collect *c, struct stp_http_req *r,
			int *status, const char **why)
{
	struct http_parser_url u;
	char host[256];
	uint16_t port = 80;

	*status = 400;
	if (c->url_len == 0) {
		*why = "no request target";
		return -1;
	}
	http_parser_url_init(&u);
	if (http_parser_parse_url((const char *)buf + c->url_off, c->url_len, r->connect, &u) != 0) {
		*why = r->connect ? "CONNECT target is not host:port" : "malformed request target";
		return -1;
	}
	if (!r->connect) {
		if (!(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST))) {
			/* origin-form ("GET / HTTP/1.1"): a web server's request */
			*why = "not a proxy request (the target is not an absolute URI)";
			return -1;
		}
		if (u.field_data[UF_SCHEMA].len != 4 ||
		    strncasecmp((const char *)buf + c->url_off + u.field_data[UF_SCHEMA].off,
				"http", 4) != 0) {
			*why = "only http:// URIs are forwarded (use CONNECT for others)";
			*status = 501;
			return -1;
		}
		if (u.field_set & (1 << UF_USERINFO)) {
			*why = "user information in the URI";
			return -1;
		}
		/* path and query: from the path's start to the URI's end, no fragment */
		if (u.field_set & (1 << UF_PATH)) {
			r->path_off = (uint16_t)(c->url_off + u.field_data[UF_PATH].off);
			size_t end = c->url_len;
			if (u.field_set & (1 << UF_FRAGMENT))
				end = (size_t)u.field_data[UF_FRAGMENT].off - 1;
			r->path_len = (uint16_t)(end - u.field_data[UF_PATH].off);
		} else if (u.field_set & (1 << UF_QUERY)) {
			r->path_off = (uint16_t)(c->url_off + u.field_data[UF_QUERY].off - 1);
			size_t end = c->url_len;
			if (u.field_set & (1 << UF_FRAGMENT))
				end = (size_t)u.field_data[UF_FRAGMENT].off - 1;
			r->path_len = (uint16_t)(end - u.field_data[UF_QUERY].off + 1);
		}
	}
	if (u.field_data[UF_HOST].len == 0 || u.field_data[UF_HOST].len >= sizeof(host)) {
		*why = "bad host in the request target";
		return -1;
	}
	memcpy(host, buf + c->url_off + u.field_data[UF_HOST].off, u.field_data[UF_HOST].len);
	host[u.field_data[UF_HOST].len] = '\0';
	if (u.field_set & (1 << UF_PORT))
		port = u.port;
	if (port == 0 || stp_addr_from_host(&r->dst, host, port) < 0) {
		*why = "bad host or port in the request target";
		return -1;
	}
	return 0;
}

ssize_t stp_http_req_get(const uint8_t *buf, size_t len, struct stp_http_req *r,
			 int *status, const char **why)
{
	static const http_parser_settings settings = {
		.on_url = on_url,
		.on_header_field = on_field,
		.on_header_value = on_value,
		.on_headers_complete = on_headers_complete,
	};
	struct collect c = { .base = buf, .r = r };
	http_parser p;
	size_t end, done;
	int lines;

	memset(r, 0, sizeof(*r));
	*status = 400;
	*why = "malformed request";
	if (check_lines(buf, len > STP_HTTP_HEAD_MAX ? STP_HTTP_HEAD_MAX : len, &end, &lines,
			why) < 0)
		return -1;
	if (lines > STP_HTTP_HEADERS_MAX + 1) {
		*status = 431;
		*why = "too many header fields";
		return -1;
	}
	if (end == 0) {
		if (len < STP_HTTP_HEAD_MAX)
			return 0;
		*status = 431;
		*why = "request head too large";
		return -1;
	}
	http_parser_init(&p, HTTP_REQUEST);
	p.data = &c;
	done = http_parser_execute(&p, &settings, (const char *)buf, end);
	if (c.overflow) {
		*status = 431;
		*why = "too many header fields";
		return -1;
	}
	if (!c.done || (HTTP_PARSER_ERRNO(&p) != HPE_OK && done != end)) {
		enum http_errno en = HTTP_PARSER_ERRNO(&p);
		/* the library's own words for the broken piece */
		*why = en != HPE_OK ? http_errno_description(en) : "malformed request";
		if (en == HPE_INVALID_METHOD)
			*status = 501;
		return -1;
	}
	if (p.http_major != 1) {
		*status = 505;
		*why = "only HTTP/1.x is served";
		return -1;
	}
	r->minor = p.http_minor;
	r->connect = p.method == HTTP_CONNECT;
	snprintf(r->method, sizeof(r->method), "%s", http_method_str((enum http_method)p.method));
	if (parse_target(buf, &c, r, status, why) < 0)
		return -1;
	if (check_fields(buf, r, status, why) < 0) {
		memset(r->pass, 0, sizeof(r->pass));
		return -1;
	}
	r->body = c.chunked || (c.has_len && c.len > 0);
	if (r->connect && r->body) {
		/* a CONNECT's bytes after the head are the tunnel's */
		*status = 400;
		*why = "CONNECT with a body";
		return -1;
	}
	r->head_len = end;
	return (ssize_t)end;
}

/* Appends n bytes of s at *o in out (cap). Returns -1 when full. */
static int put(uint8_t *out, size_t cap, size_t *o, const void *s, size_t n)
{
	if (n > cap - *o)
		return -1;
	memcpy(out + *o, s, n);
	*o += n;
	return 0;
}

/* True when field i's name is one of the comma-separated tokens of the
 * Connection fields of r. */
static bool named_by_connection(const uint8_t *buf, const struct stp_http_req *r, int i)
{
	for (int k = 0; k < r->nfields; k++) {
		if (!stp_http_field_is(buf, r, k, "Connection"))
			continue;
		size_t off = r->f[k].val_off, end = off + r->f[k].val_len;
		while (off < end) {
			size_t t = off;
			while (t < end && buf[t] != ',')
				t++;
			size_t s = off, n = t - off;
			trim(buf, &s, &n);
			if (n && n == r->f[i].name_len &&
			    strncasecmp((const char *)buf + s, (const char *)buf + r->f[i].name_off,
					n) == 0)
				return true;
			off = t + 1;
		}
	}
	return false;
}

bool stp_http_hop_by_hop(const uint8_t *buf, const struct stp_http_req *r, int i)
{
	static const char *const names[] = {
		"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
		"Proxy-Authenticate", "TE", "Trailer", "Upgrade",
	};

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (stp_http_field_is(buf, r, i, names[k]))
			return true;
	return named_by_connection(buf, r, i);
}

size_t stp_http_forward_head(const uint8_t *buf, const struct stp_http_req *r,
			     const char *via, bool keep, uint8_t *out, size_t cap)
{
	char line[600], host[STP_ADDRSTRLEN + 256];
	size_t o = 0;
	int n;

	if (put(out, cap, &o, r->method, strlen(r->method)) < 0 || put(out, cap, &o, " ", 1) < 0)
		return 0;
	if (r->path_len == 0 ? put(out, cap, &o, "/", 1) < 0
			     : put(out, cap, &o, buf + r->path_off, r->path_len) < 0)
		return 0;
	n = snprintf(line, sizeof(line), " HTTP/1.%d\r\n", r->minor);
	if (put(out, cap, &o, line, (size_t)n) < 0)
		return 0;
	if (!r->has_host) {
		stp_addr_str(&r->dst, host, sizeof(host));
		if (r->dst.port == 80)
			stp_addr_host(&r->dst, host, sizeof(host));
		n = snprintf(line, sizeof(line), "Host: %s\r\n", host);
		if (n < 0 || (size_t)n >= sizeof(line) || put(out, cap, &o, line, (size_t)n) < 0)
			return 0;
	}
	for (int i = 0; i < r->nfields; i++) {
		if (stp_http_hop_by_hop(buf, r, i))
			continue;
		const struct stp_http_field *f = &r->f[i];
		if (put(out, cap, &o, buf + f->name_off, f->name_len) < 0 ||
		    put(out, cap, &o, ": ", 2) < 0 ||
		    put(out, cap, &o, buf + f->val_off, f->val_len) < 0 ||
		    put(out, cap, &o, "\r\n", 2) < 0)
			return 0;
	}
	n = snprintf(line, sizeof(line), "Via: 1.%d %s\r\nConnection: %s\r\n\r\n", r->minor, via,
		     keep ? "keep-alive" : "close");
	if (n < 0 || (size_t)n >= sizeof(line) || put(out, cap, &o, line, (size_t)n) < 0)
		return 0;
	return o;
}

const char *stp_http_reason(int status)
{
	switch (status) {
	case 200: return "Connection established";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 508: return "Loop Detected";
	default: return "Error";
	}
}

size_t stp_http_error_put(uint8_t *out, size_t cap, int status, const char *extra,
			  const char *body)
{
	char text[160];
	size_t blen;
	int n;

	/* one line of text, printable: what the client sees in its message */
	snprintf(text, sizeof(text), "%s", body ? body : stp_http_reason(status));
	for (char *p = text; *p; p++)
		if (!isprint((unsigned char)*p))
			*p = '?';
	blen = strlen(text);
	for (;;) {
		n = snprintf((char *)out, cap, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
			     "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%.*s\n",
			     status, stp_http_reason(status), blen + 1, extra ? extra : "",
			     (int)blen, text);
		if (n >= 0 && (size_t)n < cap)
			return (size_t)n;
		if (n < 0 || blen == 0)
			return 0;
		/* cut the text to what fits, then try again */
		size_t over = (size_t)n - cap + 1;
		blen = over >= blen ? 0 : blen - over - 2;
		if (blen > sizeof(text))
			blen = 0;
	}
}
