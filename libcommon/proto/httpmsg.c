/* httpmsg.c - where forwarded HTTP messages begin and end, and a
 * response head as the proxy passes it on (httpmsg.h). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "proto/httpmsg.h"
#include "proto/httpreq.h"

/* The parser stops (pauses) at the end of each head and each message, so
 * that the caller learns exactly where they are. */
static int on_headers_complete(http_parser *p)
{
	struct stp_http_msg *m = p->data;

	m->head_seen = true;
	m->status = (int)p->status_code;
	m->minor = p->http_minor;
	m->keep_alive = http_should_keep_alive(p) != 0;
	m->chunked = (p->flags & F_CHUNKED) != 0;
	http_parser_pause(p, 1);
	if (p->type == HTTP_RESPONSE && (m->skip_body || m->status / 100 == 1 ||
					 m->status == 204 || m->status == 304)) {
		m->eof_body = false;
		return 1;  /* no body, whatever the fields say (RFC 9112 §6.3) */
	}
	/* a response without Content-Length or chunked runs to the close */
	m->eof_body = p->type == HTTP_RESPONSE && !m->chunked && p->content_length == ULLONG_MAX;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings msg_settings = {
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

void stp_http_msg_init(struct stp_http_msg *m, bool request)
{
	memset(m, 0, sizeof(*m));
	http_parser_init(&m->p, request ? HTTP_REQUEST : HTTP_RESPONSE);
	m->p.data = m;
}

ssize_t stp_http_msg_feed(struct stp_http_msg *m, const uint8_t *buf, size_t len,
			  enum stp_http_ev *ev)
{
	bool had_head = m->head_seen;
	size_t n;

	*ev = STP_HTTP_EV_NONE;
	if (len == 0)
		return 0;
	m->p.data = m;  /* the struct may have been copied */
	http_parser_pause(&m->p, 0);
	n = http_parser_execute(&m->p, &msg_settings, (const char *)buf, len);
	enum http_errno err = HTTP_PARSER_ERRNO(&m->p);
	if (err == HPE_OK)
		/* short only after an upgrade (101, CONNECT): not forwarded here */
		return n == len ? (ssize_t)n : -1;
	if (err != HPE_PAUSED)
		return -1;
	if (!had_head && m->head_seen) {
		*ev = STP_HTTP_EV_HEAD;
		return (ssize_t)n;
	}
	/* the message is whole: the next call reads the next one */
	*ev = STP_HTTP_EV_DONE;
	m->head_seen = false;
	m->eof_body = false;
	return (ssize_t)n;
}

bool stp_http_msg_eof_ok(struct stp_http_msg *m)
{
	if (!m->head_seen)
		return m->p.nread == 0;  /* between messages: not inside a head */
	return m->eof_body;
}

/* --- the response head, rewritten ------------------------------------------ */

struct rcollect {
	const uint8_t *base;
	struct stp_http_req *r;    /* only nfields and f[] are used */
	size_t reason_off, reason_len;
	bool overflow, done;
};

static int rc_status(http_parser *p, const char *at, size_t n)
{
	struct rcollect *c = p->data;

	c->reason_off = (size_t)((const uint8_t *)at - c->base);
	c->reason_len = n;
	return 0;
}

static int rc_field(http_parser *p, const char *at, size_t n)
{
	struct rcollect *c = p->data;
	struct stp_http_req *r = c->r;

	if (stp_http_field_name(r, c->base, at, n) < 0) {
		c->overflow = true;
		return 1;
	}
	return 0;
}

static int rc_value(http_parser *p, const char *at, size_t n)
{
	struct rcollect *c = p->data;
	struct stp_http_req *r = c->r;

	return stp_http_field_value(r, c->base, at, n) < 0 ? 1 : 0;
}

static int rc_headers_complete(http_parser *p)
{
	struct rcollect *c = p->data;

	c->done = true;
	return 1;
}

static const http_parser_settings rc_settings = {
	.on_status = rc_status,
	.on_header_field = rc_field,
	.on_header_value = rc_value,
	.on_headers_complete = rc_headers_complete,
};

static int put(uint8_t *out, size_t cap, size_t *o, const void *s, size_t n)
{
	if (n > cap - *o)
		return -1;
	memcpy(out + *o, s, n);
	*o += n;
	return 0;
}

size_t stp_http_resp_rewrite(const uint8_t *head, size_t len, const char *via, int conn,
			     uint8_t *out, size_t cap)
{
	/* ~1 KiB of offsets: the struct the request's head uses */
	struct stp_http_req r;
	struct rcollect c = { .base = head, .r = &r };
	http_parser p;
	char line[200];
	size_t o = 0;
	int n;

	if (len == 0 || len > STP_HTTP_RESP_HEAD_MAX)
		return 0;
	r.nfields = 0;
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &c;
	/* the head alone, parsed in one call: each piece comes whole */
	http_parser_execute(&p, &rc_settings, (const char *)head, len);
	if (!c.done || c.overflow)
		return 0;
	/* the reason phrase is the origin's text: only printable bytes pass */
	n = snprintf(line, sizeof(line), "HTTP/1.1 %u ", p.status_code);
	if (n < 0 || put(out, cap, &o, line, (size_t)n) < 0)
		return 0;
	for (size_t k = 0; k < c.reason_len && k < 100; k++) {
		uint8_t ch = head[c.reason_off + k];
		if (put(out, cap, &o, ch >= 0x20 && ch < 0x7f ? &ch : (const uint8_t *)"?", 1) < 0)
			return 0;
	}
	if (put(out, cap, &o, "\r\n", 2) < 0)
		return 0;
	for (int i = 0; i < r.nfields; i++) {
		if (stp_http_hop_by_hop(head, &r, i))
			continue;
		const struct stp_http_field *f = &r.f[i];
		if (put(out, cap, &o, head + f->name_off, f->name_len) < 0 ||
		    put(out, cap, &o, ": ", 2) < 0 ||
		    put(out, cap, &o, head + f->val_off, f->val_len) < 0 ||
		    put(out, cap, &o, "\r\n", 2) < 0)
			return 0;
	}
	n = snprintf(line, sizeof(line), "Via: 1.%u %s\r\n%s\r\n", p.http_minor, via,
		     conn < 0 ? "" : conn ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
	if (n < 0 || (size_t)n >= sizeof(line) || put(out, cap, &o, line, (size_t)n) < 0)
		return 0;
	return o;
}
