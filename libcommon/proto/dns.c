/* dns.c - DNS message helpers (dns.h). Every offset is checked against the
 * message length before a byte is read; names go through c-ares's
 * ares_expand_name, which bounds compression pointers and loops. */
#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/dns.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Expands the name at off into out (presentation form, no trailing dot;
 * "" for the root). Returns 0 with *next after its encoding, or -1. */
static int get_name(const uint8_t *b, size_t n, size_t off, char *out, size_t cap,
		    size_t *next)
{
	char *s = NULL;
	long enclen = 0;

	if (off >= n || n > INT_MAX)
		return -1;
	if (ares_expand_name(b + off, b, (int)n, &s, &enclen) != ARES_SUCCESS)
		return -1;
	size_t sl = strlen(s);
	if (enclen <= 0 || (size_t)enclen > n - off || sl >= cap) {
		ares_free_string(s);
		return -1;
	}
	memcpy(out, s, sl + 1);
	ares_free_string(s);
	*next = off + (size_t)enclen;
	return 0;
}

int stp_dns_parse(const uint8_t *b, size_t n, struct stp_dns_msg *m)
{
	size_t off = STP_DNS_HDR;

	memset(m, 0, sizeof(*m));
	if (n >= 2)
		m->id = get16(b);
	if (n >= 4)
		m->flags = get16(b + 2);
	if (n < STP_DNS_HDR)
		return -1;
	m->qdcount = get16(b + 4);
	m->ancount = get16(b + 6);
	m->nscount = get16(b + 8);
	m->arcount = get16(b + 10);
	for (unsigned i = 0; i < m->qdcount; i++) {
		char name[STP_DNS_NAMESTR];
		if (get_name(b, n, off, name, sizeof(name), &off) < 0 || n - off < 4)
			return -1;
		if (i == 0) {
			memcpy(m->qname, name, sizeof(name));
			m->qtype = get16(b + off);
			m->qclass = get16(b + off + 2);
		}
		off += 4;
	}
	m->qend = off;
	return 0;
}

int stp_dns_next_rr(const uint8_t *b, size_t n, size_t *off, struct stp_dns_rr *rr)
{
	size_t o;

	if (get_name(b, n, *off, rr->name, sizeof(rr->name), &o) < 0 || n - o < 10)
		return -1;
	rr->type = get16(b + o);
	rr->cls = get16(b + o + 2);
	rr->ttl = get32(b + o + 4);
	rr->rdlen = get16(b + o + 8);
	o += 10;
	if (rr->rdlen > n - o)
		return -1;
	rr->rdoff = o;
	*off = o + rr->rdlen;
	return 0;
}

/* True when the name at off is written out label by label, without a
 * compression pointer, and ends inside the message. */
static bool plain_name(const uint8_t *b, size_t n, size_t off)
{
	while (off < n) {
		if (b[off] == 0)
			return true;
		if (b[off] >= 64)
			return false;
		off += 1u + b[off];
	}
	return false;
}

int stp_dns_check_query(const uint8_t *b, size_t n, struct stp_dns_msg *m)
{
	int ok = stp_dns_parse(b, n, m);
	/* an error answer carries the question only when it stands alone: a
	 * compression pointer in it could only point into the header or
	 * forward, out of the header+question the answer copies */
	bool keepq = ok == 0 && m->qdcount == 1 && plain_name(b, n, STP_DNS_HDR);

	if (n < STP_DNS_HDR || STP_DNS_QR(m->flags))
		return -1;
	if (!keepq)
		m->qend = STP_DNS_HDR;
	if (STP_DNS_OPCODE(m->flags) != 0)
		return STP_DNS_NOTIMP;
	if (!keepq)
		return STP_DNS_FORMERR;
	/* the rest must walk too (an EDNS OPT record, usually) */
	size_t off = m->qend;
	unsigned rest = (unsigned)m->ancount + m->nscount + m->arcount;
	for (unsigned i = 0; i < rest; i++) {
		struct stp_dns_rr rr;
		if (stp_dns_next_rr(b, n, &off, &rr) < 0)
			return STP_DNS_FORMERR;
	}
	return 0;
}

size_t stp_dns_error_reply(uint8_t *out, size_t cap, const uint8_t *q, size_t qlen, int rcode)
{
	uint16_t f;

	if (qlen < STP_DNS_HDR || qlen > cap)
		return 0;
	memcpy(out, q, qlen);
	f = get16(q + 2);
	/* QR, the query's opcode and RD, RA; no AA, TC, Z */
	f = (uint16_t)(0x8000u | (f & 0x7800u) | (f & 0x0100u) | 0x0080u | (rcode & 0xF));
	put16(out + 2, f);
	put16(out + 4, qlen > STP_DNS_HDR ? 1 : 0);
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	return qlen;
}

unsigned stp_dns_udp_size(const uint8_t *b, size_t n)
{
	struct stp_dns_msg m;
	struct stp_dns_rr rr;
	size_t off;

	if (stp_dns_parse(b, n, &m) < 0)
		return STP_DNS_UDP_MIN;
	off = m.qend;
	unsigned skip = (unsigned)m.ancount + m.nscount;
	for (unsigned i = 0; i < skip + m.arcount; i++) {
		if (stp_dns_next_rr(b, n, &off, &rr) < 0)
			return STP_DNS_UDP_MIN;
		if (i >= skip && rr.type == STP_DNS_T_OPT)
			return rr.cls > STP_DNS_UDP_MIN ? rr.cls : STP_DNS_UDP_MIN;
	}
	return STP_DNS_UDP_MIN;
}

size_t stp_dns_truncate(uint8_t *out, size_t cap, const uint8_t *a, size_t alen, size_t limit)
{
	struct stp_dns_msg m;

	if (alen <= limit)
		return alen;
	if (stp_dns_parse(a, alen, &m) < 0 || m.qend > cap || m.qend > limit)
		return 0;
	memcpy(out, a, m.qend);
	put16(out + 2, (uint16_t)(get16(a + 2) | STP_DNS_TC));
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	return m.qend;
}

/* --- text ------------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t cap, len;
	bool over;
};

static void sb_printf(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (s->over)
		return;
	va_start(ap, fmt);
	k = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= s->cap - s->len) {
		s->over = true;
		s->p[s->len] = '\0';
		return;
	}
	s->len += (size_t)k;
}

/* A character-string as dig quotes it: '"' and '\' escaped, others outside
 * printable ASCII as \DDD. */
static void sb_quoted(struct sbuf *s, const uint8_t *p, size_t len)
{
	sb_printf(s, "\"");
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			sb_printf(s, "\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] > 0x7e)
			sb_printf(s, "\\%03u", p[i]);
		else
			sb_printf(s, "%c", p[i]);
	}
	sb_printf(s, "\"");
}

static void sb_generic(struct sbuf *s, const uint8_t *p, size_t len)
{
	s->len = 0;
	s->over = false;
	s->p[0] = '\0';
	sb_printf(s, "\\# %zu", len);
	if (len)
		sb_printf(s, " ");
	for (size_t i = 0; i < len; i++)
		sb_printf(s, "%02X", p[i]);
}

/* Appends the name at off as "name." and checks it ends at end (end 0:
 * anywhere). Returns the offset after it, or 0. */
static size_t sb_name(struct sbuf *s, const uint8_t *b, size_t n, size_t off, size_t end)
{
	char name[STP_DNS_NAMESTR];
	size_t next;

	if (get_name(b, n, off, name, sizeof(name), &next) < 0 || (end && next != end) ||
	    (end == 0 && next > n))
		return 0;
	sb_printf(s, "%s.", name);
	return next;
}

int stp_dns_rdata_str(const uint8_t *b, size_t n, const struct stp_dns_rr *rr,
		      char *buf, size_t cap)
{
	struct sbuf s = { buf, cap, 0, false };
	const uint8_t *p = b + rr->rdoff;
	size_t len = rr->rdlen, end = rr->rdoff + rr->rdlen, off;
	char a[INET6_ADDRSTRLEN];
	bool ok = true;

	if (cap == 0)
		return -1;
	buf[0] = '\0';
	if (rr->rdoff > n || len > n - rr->rdoff)
		return -1;
	switch (rr->type) {
	case STP_DNS_T_A:
		ok = len == 4 && inet_ntop(AF_INET, p, a, sizeof(a));
		if (ok)
			sb_printf(&s, "%s", a);
		break;
	case STP_DNS_T_AAAA:
		ok = len == 16 && inet_ntop(AF_INET6, p, a, sizeof(a));
		if (ok)
			sb_printf(&s, "%s", a);
		break;
	case STP_DNS_T_NS:
	case STP_DNS_T_CNAME:
	case STP_DNS_T_PTR:
	case 39: /* DNAME */
		ok = len > 0 && sb_name(&s, b, n, rr->rdoff, end) != 0;
		break;
	case STP_DNS_T_MX:
		ok = len > 2;
		if (ok) {
			sb_printf(&s, "%u ", get16(p));
			ok = sb_name(&s, b, n, rr->rdoff + 2, end) != 0;
		}
		break;
	case STP_DNS_T_SRV:
		ok = len > 6;
		if (ok) {
			sb_printf(&s, "%u %u %u ", get16(p), get16(p + 2), get16(p + 4));
			ok = sb_name(&s, b, n, rr->rdoff + 6, end) != 0;
		}
		break;
	case STP_DNS_T_SOA:
		off = len ? sb_name(&s, b, n, rr->rdoff, 0) : 0;
		ok = off != 0 && off < end;
		if (ok) {
			sb_printf(&s, " ");
			off = sb_name(&s, b, n, off, 0);
			ok = off != 0 && off <= end && end - off == 20;
		}
		if (ok)
			sb_printf(&s, " %u %u %u %u %u", get32(b + off), get32(b + off + 4),
				  get32(b + off + 8), get32(b + off + 12), get32(b + off + 16));
		break;
	case STP_DNS_T_TXT:
		ok = len > 0;
		for (size_t i = 0; ok && i < len;) {
			size_t sl = p[i];
			if (sl > len - i - 1) {
				ok = false;
				break;
			}
			if (i)
				sb_printf(&s, " ");
			sb_quoted(&s, p + i + 1, sl);
			i += 1 + sl;
		}
		break;
	case STP_DNS_T_CAA:
		ok = len >= 2 && p[1] > 0 && (size_t)p[1] <= len - 2;
		if (ok) {
			sb_printf(&s, "%u %.*s ", p[0], (int)p[1], (const char *)p + 2);
			for (size_t i = 0; i < p[1]; i++)
				ok = ok && isalnum(p[2 + i]);
			sb_quoted(&s, p + 2 + p[1], len - 2 - p[1]);
		}
		break;
	default:
		sb_generic(&s, p, len);
		return s.over ? -1 : 0;
	}
	if (!ok || s.over) {
		sb_generic(&s, p, len);
		return -1;
	}
	return 0;
}

static const struct {
	uint16_t type;
	const char *name;
} types[] = {
	{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" },
	{ 13, "HINFO" }, { 15, "MX" }, { 16, "TXT" }, { 17, "RP" }, { 28, "AAAA" },
	{ 29, "LOC" }, { 33, "SRV" }, { 35, "NAPTR" }, { 39, "DNAME" }, { 41, "OPT" },
	{ 43, "DS" }, { 44, "SSHFP" }, { 46, "RRSIG" }, { 47, "NSEC" }, { 48, "DNSKEY" },
	{ 50, "NSEC3" }, { 52, "TLSA" }, { 64, "SVCB" }, { 65, "HTTPS" },
	{ 99, "SPF" }, { 255, "ANY" }, { 257, "CAA" },
};

const char *stp_dns_type_str(uint16_t type, char *buf, size_t cap)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return types[i].name;
	snprintf(buf, cap, "TYPE%u", type);
	return buf;
}

const char *stp_dns_class_str(uint16_t cls, char *buf, size_t cap)
{
	switch (cls) {
	case 1: return "IN";
	case 3: return "CH";
	case 4: return "HS";
	}
	snprintf(buf, cap, "CLASS%u", cls);
	return buf;
}

int stp_dns_type_parse(const char *s, uint16_t *type)
{
	const char *num = NULL;
	char *end;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(s, types[i].name) && types[i].type != STP_DNS_T_OPT) {
			*type = types[i].type;
			return 0;
		}
	if (!strncasecmp(s, "TYPE", 4))
		num = s + 4;
	else if (isdigit((unsigned char)s[0]))
		num = s;
	if (!num || !isdigit((unsigned char)num[0]))
		return -1;
	unsigned long v = strtoul(num, &end, 10);
	if (*end || v == 0 || v > 65535)
		return -1;
	*type = (uint16_t)v;
	return 0;
}

const char *stp_dns_rcode_str(int rcode)
{
	switch (rcode) {
	case STP_DNS_NOERROR: return "NOERROR";
	case STP_DNS_FORMERR: return "FORMERR";
	case STP_DNS_SERVFAIL: return "SERVFAIL";
	case STP_DNS_NXDOMAIN: return "NXDOMAIN";
	case STP_DNS_NOTIMP: return "NOTIMP";
	case STP_DNS_REFUSED: return "REFUSED";
	}
	return "an unknown error";
}

size_t stp_dns_query_put(uint8_t *out, size_t cap, uint16_t id, const char *name,
			 uint16_t type)
{
	unsigned char *q = NULL;
	int qlen = 0;

	if (ares_create_query(name, 1 /* IN */, type, id, 1, &q, &qlen, 0) != ARES_SUCCESS)
		return 0;
	if (qlen <= 0 || (size_t)qlen > cap) {
		ares_free_string(q);
		return 0;
	}
	memcpy(out, q, (size_t)qlen);
	ares_free_string(q);
	return (size_t)qlen;
}

int stp_dns_ptr_name(const char *addr, char *buf, size_t cap)
{
	uint8_t a[16];
	struct sbuf s = { buf, cap, 0, false };

	if (cap)
		buf[0] = '\0';
	if (inet_pton(AF_INET, addr, a) == 1) {
		sb_printf(&s, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		for (int i = 15; i >= 0; i--)
			sb_printf(&s, "%x.%x.", a[i] & 0xF, a[i] >> 4);
		sb_printf(&s, "ip6.arpa");
	} else {
		return -1;
	}
	return s.over ? -1 : 0;
}

ssize_t stp_dns_unframe(uint8_t *in, size_t *inlen, uint8_t *msg, size_t cap)
{
	size_t len;

	/* an empty frame is dropped here: returning 0 for it would read as
	 * "need more" and strand the frames already behind it */
	do {
		if (*inlen < 2)
			return 0;
		len = (size_t)in[0] << 8 | in[1];
		if (*inlen < 2 + len)
			return 0;
		if (len > cap)
			return -1;
		memcpy(msg, in + 2, len);
		memmove(in, in + 2 + len, *inlen - 2 - len);
		*inlen -= 2 + len;
	} while (len == 0);
	return (ssize_t)len;
}

/* --- the answers of a response (stp-resolve -t) -------------------------- */

size_t stp_dns_query_for(uint8_t *out, size_t cap, uint16_t id, const char *name, uint16_t type)
{
	char qname[STP_DNS_NAMESTR];

	if (type != STP_DNS_T_PTR || stp_dns_ptr_name(name, qname, sizeof(qname)) < 0)
		return stp_dns_query_put(out, cap, id, name, type);
	return stp_dns_query_put(out, cap, id, qname, type);
}

const char *stp_dns_rcode_text(int rcode)
{
	switch (rcode) {
	case STP_DNS_NXDOMAIN: return "no such name";
	case STP_DNS_SERVFAIL: return "the resolver failed";
	case STP_DNS_REFUSED: return "the resolver refused";
	}
	return "the resolver answered an error";
}

/* Fills one answer from the record at *off (advanced past it). */
static int answer_at(const uint8_t *b, size_t n, size_t *off, struct stp_dns_answer *a,
		     char *data, size_t cap)
{
	if (stp_dns_next_rr(b, n, off, &a->rr) < 0)
		return -1;
	/* dig's presentation: the owner fully qualified */
	snprintf(a->owner, sizeof(a->owner), "%s.", a->rr.name);
	a->type = stp_dns_type_str(a->rr.type, a->tbuf, sizeof(a->tbuf));
	a->cls = stp_dns_class_str(a->rr.cls, a->cbuf, sizeof(a->cbuf));
	stp_dns_rdata_str(b, n, &a->rr, data, cap);
	a->data = data;
	return 0;
}

int stp_dns_answers(const uint8_t *b, size_t n, uint16_t want, char *data, size_t cap,
		    int *rcode, stp_dns_answer_fn *fn, void *arg)
{
	struct stp_dns_msg m;
	struct stp_dns_answer a;
	size_t off;
	int matched = 0;

	*rcode = -1;
	if (stp_dns_parse(b, n, &m) < 0)
		return -1;
	*rcode = (int)STP_DNS_RCODE(m.flags);
	if (*rcode != STP_DNS_NOERROR)
		return 0;
	off = m.qend;
	for (unsigned i = 0; i < m.ancount; i++) {
		if (answer_at(b, n, &off, &a, data, cap) < 0)
			return -1;
		fn(arg, &a);
		if (a.rr.type == want || want == STP_DNS_T_ANY)
			matched++;
	}
	return matched;
}
