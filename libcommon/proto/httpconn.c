/* httpconn.c - CONNECT to an HTTP proxy: the request, and the answer read
 * with http-parser (httpconn.h).
 *
 * Only what judging the answer needs is kept: the status line, the
 * Proxy-Authenticate schemes (for the 407 message), Squid's X-Squid-Error
 * and the start of a refusal's body (both say "connection refused" where
 * the status says only 503). */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "proto/httpconn.h"

/* Whether s may stand in a request line or header unquoted: no space,
 * no control character (CR LF would start a header of the name's choice). */
static bool token_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

size_t stp_http_connect_put(uint8_t *out, size_t cap, const struct stp_addr *dest,
			    const char *user, const char *pass)
{
	char hp[STP_HOSTPORT_MAX], cred[520];
	unsigned char b64[4 * (sizeof(cred) / 3) + 8];
	int n, clen = 0;

	if (dest->atyp != STP_ATYP_IPV4 && dest->atyp != STP_ATYP_IPV6 &&
	    dest->atyp != STP_ATYP_NAME)
		return 0;
	stp_addr_str(dest, hp, sizeof(hp));
	if (!token_ok(hp))
		return 0;
	if (user) {
		clen = snprintf(cred, sizeof(cred), "%s:%s", user, pass ? pass : "");
		if (clen < 0 || (size_t)clen >= sizeof(cred)) {
			OPENSSL_cleanse(cred, sizeof(cred));
			return 0;
		}
		EVP_EncodeBlock(b64, (const unsigned char *)cred, clen);
		OPENSSL_cleanse(cred, sizeof(cred));
		n = snprintf((char *)out, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n"
			     "Proxy-Authorization: Basic %s\r\n\r\n", hp, hp, (char *)b64);
		OPENSSL_cleanse(b64, sizeof(b64));
	} else {
		n = snprintf((char *)out, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", hp, hp);
	}
	if (n < 0 || (size_t)n >= cap) {
		OPENSSL_cleanse(out, cap);
		return 0;
	}
	return (size_t)n;
}

/* Appends s[0..n) to buf (NUL-terminated, cap bytes), printable ASCII
 * only; what does not fit is dropped. */
static void append(char *buf, size_t cap, const char *s, size_t n)
{
	size_t len = strlen(buf);

	for (size_t i = 0; i < n && len + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[len] = '\0';
}

static int on_status(http_parser *p, const char *at, size_t n)
{
	struct stp_http_resp *r = p->data;

	for (size_t i = 0; i < n && r->reason_len + 1 < sizeof(r->reason); i++) {
		unsigned char c = (unsigned char)at[i];
		r->reason[r->reason_len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	r->reason[r->reason_len] = '\0';
	return 0;
}

static int on_field(http_parser *p, const char *at, size_t n)
{
	struct stp_http_resp *r = p->data;

	if (r->in_value) {  /* a new header starts */
		r->in_value = false;
		r->field_len = 0;
		r->want = 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (r->field_len + 1 >= sizeof(r->field)) {
			r->field_len = sizeof(r->field);  /* too long for any we want */
			break;
		}
		char c = at[i];
		r->field[r->field_len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	return 0;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
	struct stp_http_resp *r = p->data;

	if (!r->in_value) {  /* the first piece of this header's value */
		r->in_value = true;
		r->want = 0;
		if (r->field_len < sizeof(r->field)) {
			r->field[r->field_len] = '\0';
			if (!strcmp(r->field, "proxy-authenticate")) {
				r->want = 1;
				if (r->auth[0])
					append(r->auth, sizeof(r->auth), ", ", 2);
			} else if (!strcmp(r->field, "x-squid-error")) {
				r->want = 2;
				r->squid_err[0] = '\0';
			}
		}
	}
	if (r->want == 1)
		append(r->auth, sizeof(r->auth), at, n);
	else if (r->want == 2)
		append(r->squid_err, sizeof(r->squid_err), at, n);
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct stp_http_resp *r = p->data;

	r->status = (int)p->status_code;
	r->headers_done = true;
	snprintf(r->line, sizeof(r->line), "HTTP/%u.%u %d%s%s", p->http_major % 10,
		 p->http_minor % 10, r->status, r->reason[0] ? " " : "", r->reason);
	/* 2: no body, and what follows is another protocol (the tunnel):
	 * http-parser stops right after the empty line */
	return r->status >= 200 && r->status < 300 ? 2 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct stp_http_resp *r = p->data;
	size_t room = sizeof(r->body) - 1 - r->body_len;

	if (n > room)
		n = room;
	memcpy(r->body + r->body_len, at, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

static int on_complete(http_parser *p)
{
	struct stp_http_resp *r = p->data;

	r->complete = true;
	http_parser_pause(p, 1);  /* nothing after this answer is ours */
	return 0;
}

static const http_parser_settings settings = {
	.on_status = on_status,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

void stp_http_resp_init(struct stp_http_resp *r)
{
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->p, HTTP_RESPONSE);
	r->p.data = r;
}

bool stp_http_resp_ready(const struct stp_http_resp *r)
{
	if (!r->headers_done)
		return false;
	if (r->status >= 200 && r->status < 300)
		return true;
	return r->complete || r->body_len + 1 >= sizeof(r->body);
}

ssize_t stp_http_resp_feed(struct stp_http_resp *r, const uint8_t *in, size_t n)
{
	size_t k;

	if (n == 0 || stp_http_resp_ready(r))
		return 0;  /* n == 0 would tell http-parser of an EOF */
	r->p.data = r;  /* the struct may have moved since init */
	k = http_parser_execute(&r->p, &settings, (const char *)in, n);
	enum http_errno err = HTTP_PARSER_ERRNO(&r->p);
	if (err != HPE_OK && err != HPE_PAUSED)
		return -1;
	if (r->headers_done && r->status < 200 && r->status >= 100)
		return -1;  /* an interim answer to CONNECT: nothing sends one */
	return (ssize_t)k;
}

/* Whether s contains needle, ignoring case. */
static bool has(const char *s, const char *needle)
{
	return strcasestr(s, needle) != NULL;
}

const char *stp_http_resp_why(const struct stp_http_resp *r)
{
	/* Squid: "ERR_CONNECT_FAIL 111", the errno of its connect */
	if (has(r->squid_err, "ERR_CONNECT_FAIL 111") || has(r->reason, "refused") ||
	    has(r->body, "connection refused"))
		return "connection refused";
	if (has(r->squid_err, "ERR_DNS_FAIL") || has(r->body, "unable to determine ip"))
		return "name does not resolve";
	if (has(r->squid_err, "ERR_CONNECT_FAIL 113") || has(r->body, "no route to host"))
		return "host unreachable";
	if (has(r->squid_err, "ERR_CONNECT_FAIL 101") || has(r->body, "network is unreachable"))
		return "network unreachable";
	return "";
}

uint8_t stp_http_resp_rep(const struct stp_http_resp *r)
{
	const char *why = stp_http_resp_why(r);

	switch (r->status) {
	case 407:
		return 0;
	case 403:
		return 0x02;
	case 500:  /* tinyproxy's and Squid's for some failures to connect */
	case 502:
	case 503:
		if (!strcmp(why, "connection refused"))
			return 0x05;
		if (!strcmp(why, "name does not resolve") || !strcmp(why, "host unreachable"))
			return 0x04;
		if (!strcmp(why, "network unreachable"))
			return 0x03;
		return 0x01;
	case 504:
		return 0x06;
	case 405:
	case 501:
		return 0x07;
	}
	return 0x01;
}

const char *stp_http_resp_schemes(const struct stp_http_resp *r, char *buf, size_t cap)
{
	const char *s = r->auth;
	size_t len = 0;

	if (!cap)
		return "";
	buf[0] = '\0';
	/* a challenge list: scheme [params], scheme ...; a scheme is a token
	 * that is not followed by '=' (params are name=value) */
	while (*s) {
		s += strspn(s, " ,");
		size_t t = strcspn(s, " ,=");
		if (!t)
			break;
		bool param = s[t] == '=';
		if (!param) {
			int w = snprintf(buf + len, cap - len, "%s%.*s", len ? ", " : "", (int)t, s);
			if (w < 0 || (size_t)w >= cap - len) {
				buf[len] = '\0';
				break;
			}
			len += (size_t)w;
		}
		s += t;
		if (param) {  /* skip the value, quoted or not */
			s++;
			if (*s == '"') {
				s++;
				while (*s && *s != '"')
					s += (*s == '\\' && s[1]) ? 2 : 1;
				if (*s)
					s++;
			} else {
				s += strcspn(s, " ,");
			}
		}
	}
	return buf;
}

bool stp_http_resp_offers_basic(const struct stp_http_resp *r)
{
	char b[160];
	const char *s = stp_http_resp_schemes(r, b, sizeof(b));

	for (;;) {
		if (!strncasecmp(s, "basic", 5) && (s[5] == '\0' || s[5] == ','))
			return true;
		s = strchr(s, ',');
		if (!s)
			return false;
		s += 2;
	}
}
