/* test-socks.c - unit tests of the protocol codec (libcommon/proto/socks.h):
 * every parser is fed its messages split at every byte and glued to a
 * second message, every builder is checked against bytes written out by
 * hand from PROTOCOL.md and against every too-small cap, and everything
 * goes round put -> get. Buffers are malloc'd to their exact size so that
 * AddressSanitizer sees any read or write past them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proto/err.h"
#include "proto/socks.h"
#include "tap.h"

/* --- a uniform view of every parser ---------------------------------------- */
struct parser {
	const char *name;
	ssize_t (*get)(const uint8_t *b, size_t n, void *out, uint8_t *rep);
	size_t size;
};

static uint8_t reply_cmd;   /* the stp_cmd the reply adapter passes */

struct s4reply {
	uint8_t cd;
	struct stp_addr addr;
};

static ssize_t p_addr(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	return stp_addr_get(b, n, o, rep);
}

static ssize_t p_greeting(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	(void)rep;
	return stp5_greeting_get(b, n, o);
}

static ssize_t p_method(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	(void)rep;
	return stp5_method_get(b, n, o);
}

static ssize_t p_userpass(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	(void)rep;
	return stp_userpass_get(b, n, o);
}

static ssize_t p_status(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	(void)rep;
	return stp_userpass_status_get(b, n, o);
}

static ssize_t p_request(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	return stp5_request_get(b, n, o, rep);
}

static ssize_t p_reply(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	(void)rep;
	return stp5_reply_get(b, n, reply_cmd, o);
}

static ssize_t p_opts(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	return stp_opts_get(b, n, o, rep);
}

static ssize_t p_udp(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	(void)rep;
	return stp_udp_hdr_get(b, n, o);
}

static ssize_t p_s4req(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	(void)rep;
	return stp4_request_get(b, n, o);
}

static ssize_t p_s4rep(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	struct s4reply *r = o;

	(void)rep;
	return stp4_reply_get(b, n, &r->cd, &r->addr);
}

static ssize_t p_mux(const uint8_t *b, size_t n, void *o, uint8_t *rep)
{
	(void)rep;
	return stp_mux_frame_get(b, n, o);
}

static const struct parser P_ADDR = { "addr", p_addr, sizeof(struct stp_addr) };
static const struct parser P_GREETING = { "greeting", p_greeting, sizeof(struct stp5_greeting) };
static const struct parser P_METHOD = { "method", p_method, sizeof(uint8_t) };
static const struct parser P_USERPASS = { "userpass", p_userpass, sizeof(struct stp_userpass) };
static const struct parser P_STATUS = { "status", p_status, sizeof(uint8_t) };
static const struct parser P_REQUEST = { "request", p_request, sizeof(struct stp5_msg) };
static const struct parser P_REPLY = { "reply", p_reply, sizeof(struct stp5_msg) };
static const struct parser P_OPTS = { "opts", p_opts, sizeof(struct stp_opts) };
static const struct parser P_UDP = { "udp", p_udp, sizeof(struct stp_udp_hdr) };
static const struct parser P_S4REQ = { "socks4 request", p_s4req, sizeof(struct stp4_request) };
static const struct parser P_S4REP = { "socks4 reply", p_s4rep, sizeof(struct s4reply) };
static const struct parser P_MUX = { "mux", p_mux, sizeof(struct stp_mux_frame) };

static uint8_t *dup_bytes(const uint8_t *b, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	if (!d)
		abort();
	memcpy(d, b, n);
	return d;
}

/* Feeds msg (one complete message of len bytes) split at every byte: each
 * prefix must ask for more and leave out untouched; the whole must consume
 * len; msg twice in a row must consume only the first. out receives the
 * parse of msg itself (so pointers into the input stay valid). */
static void check_message(const struct parser *p, const uint8_t *msg, size_t len,
			  void *out, const char *what)
{
	unsigned char *o = malloc(p->size), *sentinel = malloc(p->size);
	uint8_t *buf, rep;
	int prefixes_ok = 1;
	ssize_t r;
	size_t k;

	if (!o || !sentinel)
		abort();
	memset(sentinel, 0xA5, p->size);
	for (k = 0; k < len; k++) {
		buf = dup_bytes(msg, k);
		memset(o, 0xA5, p->size);
		r = p->get(buf, k, o, &rep);
		if (prefixes_ok && (r != 0 || memcmp(o, sentinel, p->size))) {
			DIAG("%s %s: prefix of %zu bytes gave %zd%s", p->name, what, k, r,
			     r == 0 ? " and wrote into the output" : "");
			prefixes_ok = 0;
		}
		free(buf);
	}
	CHECK(prefixes_ok, "%s %s: each of its %zu prefixes needs more", p->name, what, len);

	buf = dup_bytes(msg, len);
	r = p->get(buf, len, o, &rep);
	CHECK_INT(r, len, "%s %s: consumes the whole message", p->name, what);
	free(buf);

	buf = malloc(2 * len);
	if (!buf)
		abort();
	memcpy(buf, msg, len);
	memcpy(buf + len, msg, len);
	r = p->get(buf, 2 * len, o, &rep);
	CHECK_INT(r, len, "%s %s: of two messages consumes only the first", p->name, what);
	free(buf);

	r = p->get(msg, len, out, &rep);
	if (r != (ssize_t)len)
		DIAG("%s %s: final parse gave %zd", p->name, what, r);
	free(o);
	free(sentinel);
}

/* Expects msg to be malformed with reply want_rep (< 0: any or none). */
static void check_bad(const struct parser *p, const uint8_t *msg, size_t len,
		      int want_rep, const char *what)
{
	unsigned char *o = malloc(p->size);
	uint8_t *buf = dup_bytes(msg, len), rep = 0xEE;
	ssize_t r;

	if (!o)
		abort();
	r = p->get(buf, len, o, &rep);
	CHECK(r < 0 && (want_rep < 0 || rep == want_rep), "%s %s: malformed%s", p->name, what,
	      want_rep < 0 ? "" : want_rep == 8 ? ", reply 8" : ", reply 1");
	if (r >= 0 || (want_rep >= 0 && rep != want_rep))
		DIAG("  returned %zd, rep %u", r, rep);
	free(buf);
	free(o);
}

/* Expects every cap below len to make the builder return 0, and the exact
 * cap to work. OUT and CAP name the buffer and its size inside expr. */
#define CHECK_CAPS(expr, len, what) do { \
	size_t CAP, caps_bad_ = 0, want_ = (len); \
	uint8_t *OUT; \
	for (CAP = 0; CAP <= want_; CAP++) { \
		OUT = malloc(CAP ? CAP : 1); \
		if (!OUT) \
			abort(); \
		if ((expr) != (CAP == want_ ? want_ : 0)) \
			caps_bad_++; \
		free(OUT); \
	} \
	CHECK(caps_bad_ == 0, "%s: 0 for each cap below %zu, %zu at it", what, want_, want_); \
} while (0)

#define BYTES(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

/* --- addresses ------------------------------------------------------------ */
static struct stp_addr a4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct stp_addr x = { .atyp = STP_ATYP_IPV4, .port = port };

	x.u.v4[0] = a;
	x.u.v4[1] = b;
	x.u.v4[2] = c;
	x.u.v4[3] = d;
	return x;
}

static struct stp_addr a6(uint8_t last, uint16_t port)
{
	struct stp_addr x = { .atyp = STP_ATYP_IPV6, .port = port };

	x.u.v6[0] = 0x20;
	x.u.v6[1] = 0x01;
	x.u.v6[2] = 0x0d;
	x.u.v6[3] = 0xb8;
	x.u.v6[15] = last;
	return x;
}

static struct stp_addr aname(const char *name, uint16_t port)
{
	struct stp_addr x = { .atyp = STP_ATYP_NAME, .port = port };

	x.namelen = (uint8_t)strlen(name);
	memcpy(x.u.name, name, x.namelen);
	return x;
}

static int addr_eq(const struct stp_addr *a, const struct stp_addr *b)
{
	if (a->atyp != b->atyp || a->port != b->port)
		return 0;
	switch (a->atyp) {
	case STP_ATYP_IPV4:
		return !memcmp(a->u.v4, b->u.v4, 4);
	case STP_ATYP_IPV6:
		return !memcmp(a->u.v6, b->u.v6, 16);
	default:
		return a->namelen == b->namelen && !memcmp(a->u.name, b->u.name, a->namelen) &&
		       a->u.name[a->namelen] == '\0' && b->u.name[b->namelen] == '\0';
	}
}

static int opts_eq(const struct stp_opts *a, const struct stp_opts *b)
{
	if (a->present != b->present)
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_TICKET) && memcmp(a->ticket, b->ticket, STP_TICKET_LEN))
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_SOURCE) && !addr_eq(&a->source, &b->source))
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_TTL) && a->ttl != b->ttl)
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_DIRECTION) && a->direction != b->direction)
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_BACKLOG) && a->backlog != b->backlog)
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_EXPIRY) && a->expiry != b->expiry)
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_ATTACH_AT) && !addr_eq(&a->attach_at, &b->attach_at))
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_FEATURES) && strcmp(a->features, b->features))
		return 0;
	if (STP_OPT_HAS(a, STP_OPT_SERVER) && strcmp(a->server, b->server))
		return 0;
	return 1;
}

static void test_addr(void)
{
	struct stp_addr a, b, big;
	uint8_t buf[300], rep;
	char name[256];
	size_t n;

	a = a4(192, 0, 2, 1, 80);
	n = stp_addr_put(buf, sizeof(buf), &a);
	CHECK(n == 7 && !memcmp(buf, "\x01\xc0\x00\x02\x01\x00\x50", 7), "addr put IPv4 bytes");
	CHECK_INT(stp_addr_wire_len(&a), 7, "addr wire len IPv4");
	check_message(&P_ADDR, buf, n, &b, "IPv4");
	CHECK(addr_eq(&a, &b), "addr IPv4 round trip");
	CHECK_CAPS(stp_addr_put(OUT, CAP, &a), 7, "addr put IPv4");

	a = a6(1, 443);
	n = stp_addr_put(buf, sizeof(buf), &a);
	CHECK(n == 19 && buf[0] == 4 && buf[1] == 0x20 && buf[16] == 1 &&
	      buf[17] == 0x01 && buf[18] == 0xbb, "addr put IPv6 bytes");
	CHECK_INT(stp_addr_wire_len(&a), 19, "addr wire len IPv6");
	check_message(&P_ADDR, buf, n, &b, "IPv6");
	CHECK(addr_eq(&a, &b), "addr IPv6 round trip");

	a = aname("example.org", 8080);
	n = stp_addr_put(buf, sizeof(buf), &a);
	CHECK(n == 15 && !memcmp(buf, "\x03\x0b" "example.org" "\x1f\x90", 15), "addr put name bytes");
	CHECK_INT(stp_addr_wire_len(&a), 15, "addr wire len name");
	check_message(&P_ADDR, buf, n, &b, "name");
	CHECK(addr_eq(&a, &b) && b.namelen == 11 && !strcmp(b.u.name, "example.org"),
	      "addr name round trip, NUL-terminated");
	CHECK_CAPS(stp_addr_put(OUT, CAP, &a), 15, "addr put name");

	memset(name, 'n', 255);
	name[255] = '\0';
	big = aname(name, 1);
	n = stp_addr_put(buf, sizeof(buf), &big);
	CHECK_INT(n, 259, "addr put 255-byte name");
	check_message(&P_ADDR, buf, n, &b, "255-byte name");
	CHECK(addr_eq(&big, &b) && strlen(b.u.name) == 255, "addr 255-byte name round trip");

	rep = 0;
	CHECK(stp_addr_get(BYTES(2), &b, &rep) < 0 && rep == 8,
	      "addr ATYP 2 is reply 8 from its first byte");
	check_bad(&P_ADDR, BYTES(0, 1, 2, 3, 4, 0, 80), 8, "ATYP 0");
	check_bad(&P_ADDR, BYTES(5, 1, 2, 3, 4, 0, 80), 8, "ATYP 5");
	check_bad(&P_ADDR, BYTES(0xff), 8, "ATYP 255");
	check_bad(&P_ADDR, BYTES(3, 0, 0, 80), 1, "zero-length name");
	check_bad(&P_ADDR, BYTES(3, 3, 'a', 0, 'b', 0, 80), 1, "NUL inside name");
	CHECK(stp_addr_get(BYTES(3, 5, 'a', 0), &b, &rep) < 0,
	      "addr NUL in a name is malformed before the name is complete");

	a = aname("x", 1);
	a.namelen = 0;
	CHECK(stp_addr_put(buf, sizeof(buf), &a) == 0 && stp_addr_wire_len(&a) == 0,
	      "addr put refuses an empty name");
	a = aname("abc", 1);
	a.u.name[1] = '\0';
	CHECK(stp_addr_put(buf, sizeof(buf), &a) == 0, "addr put refuses a NUL inside a name");
	a.atyp = 2;
	CHECK(stp_addr_put(buf, sizeof(buf), &a) == 0 && stp_addr_wire_len(&a) == 0,
	      "addr put refuses ATYP 2");
}

/* --- greeting, method, RFC 1929 -------------------------------------------- */
static void test_greeting(void)
{
	static const uint8_t np[] = { STP_METHOD_NONE, STP_METHOD_USERPASS };
	struct stp5_greeting g;
	uint8_t buf[300], methods[255], m;
	size_t n, i;

	n = stp5_greeting_put(buf, sizeof(buf), np, 2);
	CHECK(n == 4 && !memcmp(buf, "\x05\x02\x00\x02", 4), "greeting put bytes");
	check_message(&P_GREETING, buf, n, &g, "none+userpass");
	CHECK(g.nmethods == 2 && g.methods[0] == 0 && g.methods[1] == 2, "greeting fields");
	CHECK_CAPS(stp5_greeting_put(OUT, CAP, np, 2), 4, "greeting put");

	for (i = 0; i < 255; i++)
		methods[i] = (uint8_t)i;
	n = stp5_greeting_put(buf, sizeof(buf), methods, 255);
	CHECK_INT(n, 257, "greeting put 255 methods");
	check_message(&P_GREETING, buf, n, &g, "255 methods");
	CHECK(g.nmethods == 255 && !memcmp(g.methods, methods, 255), "greeting 255 methods round trip");

	check_bad(&P_GREETING, BYTES(4, 1, 0), -1, "VER 4");
	check_bad(&P_GREETING, BYTES(4), -1, "VER 4 (first byte only)");
	check_bad(&P_GREETING, BYTES(5, 0), -1, "NMETHODS 0");
	CHECK(stp5_greeting_put(buf, sizeof(buf), methods, 0) == 0, "greeting put 0 methods refused");
	CHECK(stp5_greeting_put(buf, sizeof(buf), methods, 256) == 0,
	      "greeting put 256 methods refused");

	n = stp5_method_put(buf, sizeof(buf), STP_METHOD_USERPASS);
	CHECK(n == 2 && buf[0] == 5 && buf[1] == 2, "method put bytes");
	check_message(&P_METHOD, buf, n, &m, "userpass");
	CHECK_INT(m, 2, "method value");
	n = stp5_method_put(buf, sizeof(buf), STP_METHOD_NOACCEPT);
	check_message(&P_METHOD, buf, n, &m, "no acceptable");
	CHECK_INT(m, 0xff, "method X'FF'");
	check_bad(&P_METHOD, BYTES(1, 0), -1, "VER 1");
	CHECK_CAPS(stp5_method_put(OUT, CAP, 0), 2, "method put");
}

static void test_userpass(void)
{
	struct stp_userpass up;
	uint8_t buf[600], st;
	char u[257], p[257];
	size_t n;

	n = stp_userpass_put(buf, sizeof(buf), "alice", "s3cret");
	CHECK(n == 14 && !memcmp(buf, "\x01\x05" "alice" "\x06" "s3cret", 14), "userpass put bytes");
	check_message(&P_USERPASS, buf, n, &up, "alice");
	CHECK(up.ulen == 5 && up.plen == 6 && !strcmp(up.user, "alice") && !strcmp(up.pass, "s3cret"),
	      "userpass fields");
	CHECK_CAPS(stp_userpass_put(OUT, CAP, "alice", "s3cret"), 14, "userpass put");

	memset(u, 'u', 255);
	u[255] = '\0';
	memset(p, 'p', 255);
	p[255] = '\0';
	n = stp_userpass_put(buf, sizeof(buf), u, p);
	CHECK_INT(n, 513, "userpass put 255-byte user and password");
	check_message(&P_USERPASS, buf, n, &up, "255+255");
	CHECK(up.ulen == 255 && up.plen == 255 && !strcmp(up.user, u) && !strcmp(up.pass, p),
	      "userpass 255-byte user and password round trip");

	u[255] = 'u';
	u[256] = '\0';
	CHECK(stp_userpass_put(buf, sizeof(buf), u, "x") == 0, "userpass put 256-byte user refused");
	CHECK(stp_userpass_put(buf, sizeof(buf), "x", "") == 0, "userpass put empty password refused");
	CHECK(stp_userpass_put(buf, sizeof(buf), "", "x") == 0, "userpass put empty user refused");
	CHECK(stp_userpass_put(buf, sizeof(buf), NULL, "x") == 0, "userpass put NULL user refused");

	check_bad(&P_USERPASS, BYTES(5, 1, 'a', 1, 'b'), -1, "VER 5");
	check_bad(&P_USERPASS, BYTES(1, 0, 1, 'b'), -1, "ULEN 0");
	check_bad(&P_USERPASS, BYTES(1, 1, 'a', 0), -1, "PLEN 0");
	check_bad(&P_USERPASS, BYTES(1, 3, 'a', 0, 'b', 1, 'p'), -1, "NUL in user");
	check_bad(&P_USERPASS, BYTES(1, 1, 'a', 3, 'p', 0, 'q'), -1, "NUL in password");

	n = stp_userpass_status_put(buf, sizeof(buf), 0);
	CHECK(n == 2 && buf[0] == 1 && buf[1] == 0, "status put bytes");
	check_message(&P_STATUS, buf, n, &st, "success");
	CHECK_INT(st, 0, "status success");
	n = stp_userpass_status_put(buf, sizeof(buf), 1);
	check_message(&P_STATUS, buf, n, &st, "failure");
	CHECK_INT(st, 1, "status failure");
	check_bad(&P_STATUS, BYTES(5, 0), -1, "VER 5");
	CHECK_CAPS(stp_userpass_status_put(OUT, CAP, 0), 2, "status put");
}

/* --- requests and replies ---------------------------------------------------- */

/* Builds a request, runs it through check_message and compares. */
static void request_round_trip(uint8_t cmd, const struct stp_addr *dst,
			       const struct stp_opts *opts, const char *what)
{
	uint8_t buf[8192];
	struct stp5_msg m;
	struct stp_opts empty = { 0 };
	size_t n = stp5_request_put(buf, sizeof(buf), cmd, dst, opts);

	if (!CHECK(n > 0, "request put %s", what))
		return;
	check_message(&P_REQUEST, buf, n, &m, what);
	CHECK(m.code == cmd && addr_eq(&m.addr, dst) &&
	      m.has_opts == !!STP_CMD_IS_STP(cmd) &&
	      opts_eq(&m.opts, STP_CMD_IS_STP(cmd) && opts ? opts : &empty),
	      "request %s round trip", what);
	CHECK_CAPS(stp5_request_put(OUT, CAP, cmd, dst, opts), n, what);
}

static void reply_round_trip(uint8_t stp_cmd, uint8_t rep, const struct stp_addr *bnd,
			     const struct stp_opts *opts, const char *what)
{
	uint8_t buf[8192];
	struct stp5_msg m;
	struct stp_opts empty = { 0 };
	size_t n = stp5_reply_put(buf, sizeof(buf), stp_cmd, rep, bnd, opts);

	if (!CHECK(n > 0, "reply put %s", what))
		return;
	reply_cmd = stp_cmd;
	check_message(&P_REPLY, buf, n, &m, what);
	CHECK(m.code == rep && addr_eq(&m.addr, bnd) &&
	      m.has_opts == !!STP_CMD_IS_STP(stp_cmd) &&
	      opts_eq(&m.opts, STP_CMD_IS_STP(stp_cmd) && opts ? opts : &empty),
	      "reply %s round trip", what);
	CHECK_CAPS(stp5_reply_put(OUT, CAP, stp_cmd, rep, bnd, opts), n, what);
}

static void test_request(void)
{
	struct stp_addr v4 = a4(192, 0, 2, 7, 22), v6 = a6(9, 53), nm = aname("example.org", 80);
	struct stp_addr any = a4(0, 0, 0, 0, 0);
	struct stp_opts o;
	struct stp5_msg m;
	uint8_t buf[8192], rep;
	size_t n;

	memset(&o, 0, sizeof(o));
	n = stp5_request_put(buf, sizeof(buf), STP_CMD_CONNECT, &nm, NULL);
	CHECK(n == 18 && !memcmp(buf, "\x05\x01\x00\x03\x0b" "example.org" "\x00\x50", 18),
	      "request CONNECT example.org:80 bytes (RFC 1928)");

	request_round_trip(STP_CMD_CONNECT, &v4, NULL, "CONNECT IPv4");
	request_round_trip(STP_CMD_CONNECT, &v6, NULL, "CONNECT IPv6");
	request_round_trip(STP_CMD_CONNECT, &nm, NULL, "CONNECT name");
	request_round_trip(STP_CMD_BIND, &v4, NULL, "BIND");
	request_round_trip(STP_CMD_UDP, &any, NULL, "UDP ASSOCIATE");
	request_round_trip(STP_CMD_RESOLVE, &nm, NULL, "RESOLVE");
	request_round_trip(STP_CMD_RESOLVE_PTR, &v6, NULL, "RESOLVE_PTR");
	request_round_trip(0x7f, &v4, NULL, "unknown command 0x7f");
	request_round_trip(STP_CMD_FEATURES, &any, NULL, "FEATURES, NULL opts");

	n = stp5_request_put(buf, sizeof(buf), STP_CMD_FEATURES, NULL, NULL);
	CHECK(n == 12 && !memcmp(buf, "\x05\xd0\x00\x01\0\0\0\0\0\0\0\0", 12),
	      "request FEATURES with dst NULL is 0.0.0.0:0 and OPTLEN 0");
	n = stp5_request_put(buf, sizeof(buf), STP_CMD_CONNECT, &v4, &o);
	CHECK_INT(n, 10, "request CONNECT ignores opts");

	memset(&o, 0, sizeof(o));
	o.present = 1u << STP_OPT_BACKLOG | 1u << STP_OPT_EXPIRY;
	o.backlog = 128;
	o.expiry = 30;
	request_round_trip(STP_CMD_BIND_MULTI, &any, &o, "BIND_MULTI BACKLOG EXPIRY");
	n = stp5_request_put(buf, sizeof(buf), STP_CMD_BIND_MULTI, &any, &o);
	CHECK(n == 24 && !memcmp(buf + 10, "\x00\x0c\x00\x06\x00\x02\x00\x80\x00\x07\x00\x02\x00\x1e", 14),
	      "request BIND_MULTI option bytes");

	memset(&o, 0, sizeof(o));
	o.present = 1u << STP_OPT_TICKET;
	memcpy(o.ticket, "0123456789abcdef", 16);
	request_round_trip(STP_CMD_ATTACH, &any, &o, "ATTACH TICKET");

	memset(&o, 0, sizeof(o));
	o.present = 1u << STP_OPT_SOURCE | 1u << STP_OPT_TTL | 1u << STP_OPT_DIRECTION |
		    1u << STP_OPT_TCP_DELIVERY;
	o.source = a4(198, 51, 100, 1, 0);
	o.ttl = 4;
	o.direction = 3;
	request_round_trip(STP_CMD_MCAST, &(struct stp_addr){ .atyp = 1, .port = 5000,
			   .u.v4 = { 239, 1, 2, 3 } }, &o, "MCAST SOURCE TTL DIRECTION TCP_DELIVERY");
	o.source = a6(7, 0);
	request_round_trip(STP_CMD_MCAST, &v6, &o, "MCAST IPv6 SOURCE");
	o.source = aname("src.example", 0);
	request_round_trip(STP_CMD_MCAST, &v6, &o, "MCAST name SOURCE");

	memset(&o, 0, sizeof(o));
	o.present = 1u << STP_OPT_TCP_DELIVERY;
	request_round_trip(STP_CMD_UDP_BIND, &any, &o, "UDP_BIND TCP_DELIVERY");
	request_round_trip(STP_CMD_DNS, &any, NULL, "DNS");
	request_round_trip(STP_CMD_MUX, &any, NULL, "MUX");
	request_round_trip(STP_CMD_UDP_TCP, &any, NULL, "UDP_TCP");
	request_round_trip(STP_CMD_CONFIG, &any, NULL, "CONFIG");
	request_round_trip(0xDF, &any, NULL, "reserved STP command 0xDF");

	/* An unknown option kind (99) between known ones is skipped. */
	{
		static const uint8_t msg[] = {
			5, 0xD1, 0, 1, 0, 0, 0, 0, 0, 0,
			0, 19,
			0, 6, 0, 2, 0, 5,
			0, 99, 0, 3, 'x', 'y', 'z',
			0, 7, 0, 2, 0, 60,
		};

		check_message(&P_REQUEST, msg, sizeof(msg), &m, "unknown option kind 99");
		CHECK(m.opts.present == (1u << STP_OPT_BACKLOG | 1u << STP_OPT_EXPIRY) &&
		      m.opts.backlog == 5 && m.opts.expiry == 60,
		      "request unknown option kind 99 skipped, the others kept");
	}
	/* An unknown kind that would set a bit below 32 is skipped too. */
	{
		static const uint8_t msg[] = {
			5, 0xD1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 20, 0, 1, 0xAA,
		};

		check_message(&P_REQUEST, msg, sizeof(msg), &m, "unknown option kind 20");
		CHECK_INT(m.opts.present, 0, "request unknown kind 20 sets no present bit");
	}

	check_bad(&P_REQUEST, BYTES(4, 1, 0, 1, 1, 2, 3, 4, 0, 80), 1, "VER 4");
	check_bad(&P_REQUEST, BYTES(4), 1, "VER 4 (first byte only)");
	check_bad(&P_REQUEST, BYTES(5, 1, 0, 2, 1, 2, 3, 4, 0, 80), 8, "ATYP 2");
	check_bad(&P_REQUEST, BYTES(5, 1, 0, 2), 8, "ATYP 2 (before the address)");
	check_bad(&P_REQUEST, BYTES(5, 1, 0, 3, 0, 0, 80), 1, "zero-length name");
	check_bad(&P_REQUEST, BYTES(5, 0xD0, 0, 1, 0, 0, 0, 0, 0, 0, 0x10, 0x01), 1, "OPTLEN 4097");
	check_bad(&P_REQUEST, BYTES(5, 0xD0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 4, 0, 2, 1), 1,
		  "option running past OPTLEN");
	check_bad(&P_REQUEST, BYTES(5, 0xD0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 4, 0), 1,
		  "option header cut by OPTLEN");
	check_bad(&P_REQUEST, BYTES(5, 0xD2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 19, 0, 1, 0, 15,
				    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1,
		  "TICKET of 15 bytes");
	check_bad(&P_REQUEST, BYTES(5, 0xD4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 10, 0, 4, 0, 1, 1,
				    0, 4, 0, 1, 2), 1, "TTL given twice");
	check_bad(&P_REQUEST, BYTES(5, 0xD4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 6, 0, 4, 0, 2, 1, 1), 1,
		  "TTL of 2 bytes");
	check_bad(&P_REQUEST, BYTES(5, 0xD3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 2, 0, 1, 0), 1,
		  "TCP_DELIVERY with a value");
	check_bad(&P_REQUEST, BYTES(5, 0xD4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 3, 0, 5,
				    2, 1, 2, 3, 4), 8, "SOURCE with ATYP 2");
	check_bad(&P_REQUEST, BYTES(5, 0xD4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 11, 0, 3, 0, 7,
				    1, 1, 2, 3, 4, 0, 80), 1, "SOURCE with a port");
	check_bad(&P_REQUEST, BYTES(5, 0xD4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 3, 0, 3,
				    1, 1, 2), 1, "SOURCE cut short");
	check_bad(&P_REQUEST, BYTES(5, 0xD1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 8, 0, 0), 1,
		  "empty ATTACH_AT");
	check_bad(&P_REQUEST, BYTES(5, 0xD4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0), 1,
		  "empty SOURCE");
	check_bad(&P_REQUEST, BYTES(5, 0xD1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 8, 0, 5,
				    1, 1, 2, 3, 4), 1, "ATTACH_AT without a port");
	check_bad(&P_REQUEST, BYTES(5, 0xD0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 16, 0, 3,
				    'a', 27, 'b'), 1, "FEATURES with ESC");

	/* OPTLEN 4096 is the limit, not over it. */
	{
		static uint8_t msg[10 + 2 + 4096];

		memcpy(msg, "\x05\xd0\x00\x01\0\0\0\0\0\0\x10\x00\x00\x63\x0f\xfc", 16);
		check_message(&P_REQUEST, msg, sizeof(msg), &m, "OPTLEN 4096");
		CHECK(m.has_opts && m.opts.present == 0, "request OPTLEN 4096 accepted");
	}

	rep = 0;
	CHECK(stp5_request_get(BYTES(5, 0xD0, 0, 1, 0, 0, 0, 0, 0, 0, 0x10, 0x01), &m, &rep) < 0 &&
	      rep == 1, "request OPTLEN 4097 refused before the options arrive");
	CHECK(stp5_request_get(BYTES(5, 1, 0, 2), &m, NULL) < 0, "request get with rep NULL");
}

static void test_opts(void)
{
	struct stp_opts o, p;
	uint8_t buf[8192];
	char f[600];
	size_t n;

	n = stp_opts_put(buf, sizeof(buf), NULL);
	CHECK(n == 2 && buf[0] == 0 && buf[1] == 0, "opts put NULL is an empty block");
	check_message(&P_OPTS, buf, n, &p, "empty");
	CHECK_INT(p.present, 0, "opts empty: nothing present");

	memset(&o, 0, sizeof(o));
	o.present = 1u << 20 | 1u << 0;
	n = stp_opts_put(buf, sizeof(buf), &o);
	CHECK_INT(n, 2, "opts put ignores present bits of unknown kinds");

	memset(&o, 0, sizeof(o));
	o.present = 1u << STP_OPT_TICKET | 1u << STP_OPT_TCP_DELIVERY | 1u << STP_OPT_SOURCE |
		    1u << STP_OPT_TTL | 1u << STP_OPT_DIRECTION | 1u << STP_OPT_BACKLOG |
		    1u << STP_OPT_EXPIRY | 1u << STP_OPT_ATTACH_AT | 1u << STP_OPT_FEATURES |
		    1u << STP_OPT_SERVER;
	memset(o.ticket, 0x5a, sizeof(o.ticket));
	o.source = aname("s", 0);
	o.ttl = 255;
	o.direction = 1;
	o.backlog = 65535;
	o.expiry = 1;
	o.attach_at = a6(2, 1080);
	memset(o.features, 'f', 511);
	memset(o.server, 's', 127);
	n = stp_opts_put(buf, sizeof(buf), &o);
	CHECK_INT(n, 2 + 10 * 4 + 16 + 0 + 3 + 1 + 1 + 2 + 2 + 19 + 511 + 127, "opts put every kind");
	check_message(&P_OPTS, buf, n, &p, "every kind");
	CHECK(opts_eq(&o, &p), "opts every kind round trip");
	CHECK_CAPS(stp_opts_put(OUT, CAP, &o), n, "opts put every kind");

	o.features[511] = 'f';
	CHECK(stp_opts_put(buf, sizeof(buf), &o) == 0, "opts put unterminated FEATURES refused");
	o.features[511] = '\0';
	o.server[3] = '\n';
	CHECK(stp_opts_put(buf, sizeof(buf), &o) == 0, "opts put SERVER with a newline refused");
	o.server[3] = 's';
	o.source.namelen = 0;
	CHECK(stp_opts_put(buf, sizeof(buf), &o) == 0, "opts put empty SOURCE name refused");

	/* FEATURES of 511 bytes fits the field; 512 does not. */
	memset(f, 'a', sizeof(f));
	buf[0] = (515 >> 8);
	buf[1] = 515 & 0xff;
	memcpy(buf + 2, "\x00\x10\x01\xff", 4);
	memcpy(buf + 6, f, 511);
	check_message(&P_OPTS, buf, 517, &p, "FEATURES 511 bytes");
	CHECK_INT(strlen(p.features), 511, "opts FEATURES 511 bytes kept");
	buf[1] = 516 & 0xff;
	buf[5] = 0x00;
	buf[4] = 0x02;
	memcpy(buf + 6, f, 512);
	check_bad(&P_OPTS, buf, 518, 1, "FEATURES 512 bytes");
	check_bad(&P_OPTS, BYTES(0, 132, 0, 17, 0, 128,
				 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
				 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
				 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
				 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
				 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
				 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
				 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
				 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'),
		  1, "SERVER 128 bytes");
	check_bad(&P_OPTS, BYTES(0x10, 0x01), 1, "OPTLEN 4097 alone");
	check_bad(&P_OPTS, BYTES(0xff, 0xff), 1, "OPTLEN 65535");
	check_bad(&P_OPTS, BYTES(0, 6, 0, 17, 0, 3, 'a', 0, 'b'), 1, "SERVER with a NUL");
	check_bad(&P_OPTS, BYTES(0, 4, 0, 99, 0, 1), 1, "unknown kind running past OPTLEN");
	check_bad(&P_OPTS, BYTES(0, 6, 0, 6, 0, 1, 0, 0), 1, "BACKLOG of 1 byte");
	check_bad(&P_OPTS, BYTES(0, 6, 0, 7, 0, 3, 0, 0, 0), 1, "EXPIRY of 3 bytes");
	check_bad(&P_OPTS, BYTES(0, 5, 0, 5, 0, 0, 0), 1, "DIRECTION of 0 bytes");
}

static void test_reply(void)
{
	struct stp_addr v4 = a4(203, 0, 113, 5, 40000), v6 = a6(3, 1), nm = aname("host.example", 0);
	struct stp_addr zero = a4(0, 0, 0, 0, 0);
	struct stp_opts o;
	struct stp5_msg m;
	uint8_t buf[8192];
	size_t n;

	n = stp5_reply_put(buf, sizeof(buf), STP_CMD_CONNECT, STP_REP_OK, &v4, NULL);
	CHECK(n == 10 && !memcmp(buf, "\x05\x00\x00\x01\xcb\x00\x71\x05\x9c\x40", 10),
	      "reply CONNECT bytes");
	n = stp5_reply_put(buf, sizeof(buf), STP_CMD_CONNECT, STP_REP_REFUSED, NULL, NULL);
	CHECK(n == 10 && !memcmp(buf, "\x05\x05\x00\x01\0\0\0\0\0\0", 10),
	      "reply with bnd NULL is 0.0.0.0:0");

	reply_round_trip(STP_CMD_CONNECT, STP_REP_OK, &v4, NULL, "CONNECT ok");
	reply_round_trip(STP_CMD_CONNECT, STP_REP_HOST_UNREACH, &zero, NULL, "CONNECT refused");
	reply_round_trip(STP_CMD_RESOLVE, STP_REP_OK, &v6, NULL, "RESOLVE");
	reply_round_trip(STP_CMD_RESOLVE_PTR, STP_REP_OK, &nm, NULL, "RESOLVE_PTR");
	reply_round_trip(STP_CMD_MUX, STP_REP_OK, &zero, NULL, "MUX, NULL opts");

	memset(&o, 0, sizeof(o));
	o.present = 1u << STP_OPT_FEATURES | 1u << STP_OPT_SERVER;
	strcpy(o.features, "stp/1 bind-multi udp-bind udp-tcp mcast dns mux config resolve resolve-ptr");
	strcpy(o.server, "stp-serve/1.0");
	reply_round_trip(STP_CMD_FEATURES, STP_REP_OK, &v4, &o, "FEATURES");

	memset(&o, 0, sizeof(o));
	o.present = 1u << STP_OPT_TICKET | 1u << STP_OPT_ATTACH_AT;
	memset(o.ticket, 0xC3, sizeof(o.ticket));
	o.attach_at = aname("node2.example", 1080);
	reply_round_trip(STP_CMD_BIND_MULTI, STP_REP_OK, &v6, &o, "BIND_MULTI NOTICE");
	reply_round_trip(STP_CMD_ATTACH, STP_REP_BAD_TICKET, &zero, NULL, "ATTACH C0");

	/* A plain reply followed by bytes that look like OPTLEN: the reply
	 * to CONNECT must not take them. */
	n = stp5_reply_put(buf, sizeof(buf), STP_CMD_CONNECT, 0, &v4, NULL);
	buf[n] = 0;
	buf[n + 1] = 0;
	CHECK_INT(stp5_reply_get(buf, n + 2, STP_CMD_CONNECT, &m), n,
		  "reply to CONNECT reads no OPTLEN");
	CHECK_INT(stp5_reply_get(buf, n + 2, STP_CMD_FEATURES, &m), n + 2,
		  "reply to FEATURES reads the OPTLEN");
	CHECK_INT(stp5_reply_get(buf, n + 1, STP_CMD_FEATURES, &m), 0,
		  "reply to FEATURES waits for the OPTLEN");

	reply_cmd = STP_CMD_CONNECT;
	check_bad(&P_REPLY, BYTES(4, 0, 0, 1, 1, 2, 3, 4, 0, 80), -1, "VER 4");
	check_bad(&P_REPLY, BYTES(0, 90, 0, 80, 1, 2, 3, 4), -1, "a SOCKS4 reply");
	check_bad(&P_REPLY, BYTES(5, 0, 0, 6, 1, 2, 3, 4, 0, 80), -1, "ATYP 6");
	reply_cmd = STP_CMD_FEATURES;
	check_bad(&P_REPLY, BYTES(5, 0, 0, 1, 1, 2, 3, 4, 0, 80, 0x20, 0), -1, "OPTLEN 8192");
}

/* --- UDP -------------------------------------------------------------------- */
static void test_udp(void)
{
	struct stp_addr v4 = a4(192, 0, 2, 9, 53), nm = aname("dns.example", 53);
	struct stp_udp_hdr h;
	uint8_t buf[600];
	size_t n;

	n = stp_udp_hdr_put(buf, sizeof(buf), &v4);
	CHECK(n == 10 && !memcmp(buf, "\x00\x00\x00\x01\xc0\x00\x02\x09\x00\x35", 10),
	      "udp header put bytes");
	check_message(&P_UDP, buf, n, &h, "IPv4");
	CHECK(h.frag == 0 && addr_eq(&h.addr, &v4), "udp header IPv4 round trip");
	CHECK_CAPS(stp_udp_hdr_put(OUT, CAP, &v4), 10, "udp header put");

	n = stp_udp_hdr_put(buf, sizeof(buf), &nm);
	memcpy(buf + n, "payload", 7);
	CHECK_INT(stp_udp_hdr_get(buf, n + 7, &h), n, "udp header length excludes DATA");
	CHECK(addr_eq(&h.addr, &nm), "udp header name");

	memcpy(buf, "\x00\x00\x01\x01\x7f\x00\x00\x01\x00\x35", 10);
	CHECK(stp_udp_hdr_get(buf, 10, &h) == 10 && h.frag == 1, "udp header FRAG 1 is reported");
	CHECK_INT(stp_udp_hdr_get(buf, 9, &h), 0, "udp datagram too short for a header");
	CHECK_INT(stp_udp_hdr_get(buf, 2, &h), 0, "udp datagram of 2 bytes");
	check_bad(&P_UDP, BYTES(0, 0, 0, 2, 1, 2, 3, 4, 0, 53), -1, "ATYP 2");
	check_bad(&P_UDP, BYTES(0, 0, 0, 3, 0, 0, 53), -1, "zero-length name");
	CHECK(stp_udp_hdr_put(buf, sizeof(buf), NULL) == 0, "udp header put NULL refused");
}

/* --- SOCKS4 ------------------------------------------------------------------- */
static void test_socks4(void)
{
	struct stp_addr v4 = a4(192, 0, 2, 1, 80), nm = aname("example.org", 443), v6 = a6(1, 1);
	struct stp4_request r;
	struct s4reply rp;
	uint8_t buf[1024], *msg;
	char uid[300];
	size_t n;

	n = stp4_request_put(buf, sizeof(buf), STP4_CONNECT, &v4, "bob");
	CHECK(n == 12 && !memcmp(buf, "\x04\x01\x00\x50\xc0\x00\x02\x01" "bob", 12) && buf[11] == 0,
	      "socks4 request put bytes");
	check_message(&P_S4REQ, buf, n, &r, "IPv4");
	CHECK(r.cmd == 1 && addr_eq(&r.addr, &v4) && !strcmp(r.userid, "bob"),
	      "socks4 request round trip");
	CHECK_CAPS(stp4_request_put(OUT, CAP, STP4_CONNECT, &v4, "bob"), 12, "socks4 request put");

	n = stp4_request_put(buf, sizeof(buf), STP4_BIND, &v4, NULL);
	check_message(&P_S4REQ, buf, n, &r, "empty USERID");
	CHECK(n == 9 && r.cmd == 2 && r.userid[0] == '\0', "socks4 BIND with empty USERID");

	n = stp4_request_put(buf, sizeof(buf), STP4_CONNECT, &nm, "");
	CHECK(n == 21 && !memcmp(buf, "\x04\x01\x01\xbb\x00\x00\x00\x01\x00" "example.org", 20) &&
	      buf[20] == 0, "socks4a request put bytes");
	check_message(&P_S4REQ, buf, n, &r, "4a");
	CHECK(addr_eq(&r.addr, &nm), "socks4a request round trip");
	CHECK_CAPS(stp4_request_put(OUT, CAP, STP4_CONNECT, &nm, "u"), 22, "socks4a request put");

	n = stp4_request_put(buf, sizeof(buf), STP4_CONNECT, &nm, "u");
	buf[7] = 0x2a;         /* 0.0.0.42 is just as much 4a as 0.0.0.1 */
	check_message(&P_S4REQ, buf, n, &r, "4a with 0.0.0.42");
	CHECK(addr_eq(&r.addr, &nm), "socks4a with DSTIP 0.0.0.42");
	buf[7] = 0;             /* 0.0.0.0 is not 4a: the name is not read */
	CHECK(stp4_request_get(buf, n, &r) == 10 && r.addr.atyp == STP_ATYP_IPV4,
	      "socks4 with DSTIP 0.0.0.0 is not 4a");

	/* USERID of 255 bytes is the limit. */
	msg = malloc(8 + 257);
	if (!msg)
		abort();
	memcpy(msg, "\x04\x01\x00\x50\x0a\x00\x00\x01", 8);
	memset(msg + 8, 'u', 255);
	msg[8 + 255] = 0;
	check_message(&P_S4REQ, msg, 8 + 256, &r, "USERID 255 bytes");
	CHECK_INT(strlen(r.userid), 255, "socks4 USERID 255 bytes kept");
	msg[8 + 255] = 'u';
	msg[8 + 256] = 0;
	check_bad(&P_S4REQ, msg, 8 + 257, -1, "USERID 256 bytes");
	check_bad(&P_S4REQ, msg, 8 + 256, -1, "USERID 256 bytes, NUL not yet there");
	free(msg);

	/* HOSTNAME likewise. */
	msg = malloc(9 + 257);
	if (!msg)
		abort();
	memcpy(msg, "\x04\x01\x00\x50\x00\x00\x00\x01\x00", 9);
	memset(msg + 9, 'h', 255);
	msg[9 + 255] = 0;
	check_message(&P_S4REQ, msg, 9 + 256, &r, "HOSTNAME 255 bytes");
	CHECK(r.addr.atyp == STP_ATYP_NAME && r.addr.namelen == 255, "socks4a HOSTNAME 255 bytes kept");
	msg[9 + 255] = 'h';
	msg[9 + 256] = 0;
	check_bad(&P_S4REQ, msg, 9 + 257, -1, "HOSTNAME 256 bytes");
	free(msg);

	check_bad(&P_S4REQ, BYTES(4, 1, 0, 80, 0, 0, 0, 1, 'u', 0, 0), -1, "empty 4a hostname");
	check_bad(&P_S4REQ, BYTES(5, 1, 0, 80, 1, 2, 3, 4, 0), -1, "VN 5");
	check_bad(&P_S4REQ, BYTES(5), -1, "VN 5 (first byte only)");

	memset(uid, 'x', 256);
	uid[256] = '\0';
	CHECK(stp4_request_put(buf, sizeof(buf), 1, &v4, uid) == 0,
	      "socks4 request put 256-byte USERID refused");
	uid[255] = '\0';
	CHECK_INT(stp4_request_put(buf, sizeof(buf), 1, &v4, uid), 8 + 256,
		  "socks4 request put 255-byte USERID");
	CHECK(stp4_request_put(buf, sizeof(buf), 1, &v6, "") == 0,
	      "socks4 request put IPv6 refused");
	CHECK(stp4_request_put(buf, sizeof(buf), 1, NULL, "") == 0,
	      "socks4 request put NULL dst refused");

	n = stp4_reply_put(buf, sizeof(buf), STP4_GRANTED, &v4);
	CHECK(n == 8 && !memcmp(buf, "\x00\x5a\x00\x50\xc0\x00\x02\x01", 8), "socks4 reply put bytes");
	check_message(&P_S4REP, buf, n, &rp, "granted");
	CHECK(rp.cd == 90 && addr_eq(&rp.addr, &v4), "socks4 reply round trip");
	n = stp4_reply_put(buf, sizeof(buf), STP4_REJECTED, NULL);
	CHECK(n == 8 && !memcmp(buf, "\x00\x5b\0\0\0\0\0\0", 8), "socks4 reply with NULL addr");
	CHECK(stp4_reply_get(buf, 8, NULL, NULL) == 8, "socks4 reply get with NULL outputs");
	CHECK_CAPS(stp4_reply_put(OUT, CAP, STP4_GRANTED, &v4), 8, "socks4 reply put");
	CHECK(stp4_reply_put(buf, sizeof(buf), STP4_GRANTED, &nm) == 0,
	      "socks4 reply put of a name refused");
	check_bad(&P_S4REP, BYTES(4, 90, 0, 80, 1, 2, 3, 4), -1, "VN 4");
	check_bad(&P_S4REP, BYTES(5, 0, 0, 1, 1, 2, 3, 4), -1, "a SOCKS5 reply");
}

/* --- MUX ---------------------------------------------------------------------- */
static void test_mux(void)
{
	static uint8_t big[STP_MUX_MAX + 1];
	static uint8_t buf[STP_MUX_HDR + STP_MUX_MAX + 16];
	static const struct {
		uint8_t type;
		uint16_t len;
		const char *name;
	} frames[] = {
		{ STP_MUX_OPEN, 10, "OPEN" }, { STP_MUX_REPLY, 8, "REPLY" },
		{ STP_MUX_DATA, 0, "empty DATA" }, { STP_MUX_DATA, 100, "DATA" },
		{ STP_MUX_DATA, STP_MUX_MAX, "DATA of 16384" },
		{ STP_MUX_WINDOW, 4, "WINDOW" }, { STP_MUX_FIN, 0, "FIN" },
		{ STP_MUX_RST, 1, "RST" }, { STP_MUX_PING, 8, "PING" }, { STP_MUX_PONG, 8, "PONG" },
	};
	struct stp_mux_frame f;
	size_t i, n;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		n = stp_mux_frame_put(buf, sizeof(buf), frames[i].type, 0x01020305,
				      big, frames[i].len);
		if (!CHECK(n == STP_MUX_HDR + (size_t)frames[i].len, "mux put %s", frames[i].name))
			continue;
		check_message(&P_MUX, buf, n, &f, frames[i].name);
		CHECK(f.type == frames[i].type && f.stream == 0x01020305 && f.len == frames[i].len &&
		      f.payload == buf + STP_MUX_HDR && !memcmp(f.payload, big, f.len),
		      "mux %s round trip", frames[i].name);
	}
	n = stp_mux_frame_put(buf, sizeof(buf), STP_MUX_RST, 0xfffffffe, (const uint8_t *)"\x07", 1);
	CHECK(n == 9 && !memcmp(buf, "\x06\x00\xff\xff\xff\xfe\x00\x01\x07", 9), "mux put RST bytes");
	CHECK_CAPS(stp_mux_frame_put(OUT, CAP, STP_MUX_PING, 1, big, 8), 16, "mux put PING");

	memcpy(buf + STP_MUX_HDR, "in place", 8);
	n = stp_mux_frame_put(buf, sizeof(buf), STP_MUX_DATA, 3, buf + STP_MUX_HDR, 8);
	CHECK(n == 16 && !memcmp(buf + STP_MUX_HDR, "in place", 8), "mux put with payload in place");

	check_bad(&P_MUX, BYTES(3, 0, 0, 0, 0, 1, 0x40, 0x01), -1, "LEN 16385");
	check_bad(&P_MUX, BYTES(3, 1, 0, 0, 0, 1, 0, 0), -1, "FLAGS 1");
	check_bad(&P_MUX, BYTES(3, 0x80), -1, "FLAGS 0x80 (header incomplete)");
	check_bad(&P_MUX, BYTES(0, 0, 0, 0, 0, 1, 0, 0), -1, "TYPE 0");
	check_bad(&P_MUX, BYTES(9), -1, "TYPE 9");
	check_bad(&P_MUX, BYTES(4, 0, 0, 0, 0, 1, 0, 3, 0, 0, 1), -1, "WINDOW of 3 bytes");
	check_bad(&P_MUX, BYTES(5, 0, 0, 0, 0, 1, 0, 1, 0), -1, "FIN with a payload");
	check_bad(&P_MUX, BYTES(6, 0, 0, 0, 0, 1, 0, 0), -1, "RST without a code");
	check_bad(&P_MUX, BYTES(7, 0, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4), -1, "PING of 4 bytes");
	CHECK(stp_mux_frame_put(buf, sizeof(buf), STP_MUX_DATA, 1, big, STP_MUX_MAX + 1) == 0,
	      "mux put of 16385 bytes refused");
	CHECK(stp_mux_frame_put(buf, sizeof(buf), 9, 1, big, 1) == 0, "mux put TYPE 9 refused");
	CHECK(stp_mux_frame_put(buf, sizeof(buf), STP_MUX_WINDOW, 1, big, 2) == 0,
	      "mux put WINDOW of 2 bytes refused");
	CHECK(stp_mux_frame_put(buf, sizeof(buf), STP_MUX_DATA, 1, NULL, 2) == 0,
	      "mux put NULL payload refused");
}

/* --- reply codes, errors ------------------------------------------------------ */
static void test_replies(void)
{
	static const struct {
		uint8_t rep;
		int exit;
		const char *text;
	} t[] = {
		{ 0x01, 11, "general failure" },
		{ 0x02, 12, "not allowed by ruleset" },
		{ 0x03, 13, "network unreachable" },
		{ 0x04, 14, "host unreachable" },
		{ 0x05, 15, "connection refused" },
		{ 0x06, 16, "TTL expired" },
		{ 0x07, 7, "command not supported" },
		{ 0x08, 18, "address type not supported" },
		{ 0xC0, 11, "unknown or expired ticket" },
		{ 0xC1, 11, "session or stream limit reached" },
		{ 0xC2, 12, "multicast group or source not permitted" },
		{ 0xC3, 12, "feature disabled by policy" },
		{ 0xC4, 12, "ticket belongs to another principal" },
		{ 0xC5, 11, "address in use" },
		{ 0x09, 11, "unknown reply" },
		{ 0x5b, 11, "unknown reply" },
		{ 0xBF, 11, "unknown reply" },
		{ 0xC6, 11, "unknown reply" },
		{ 0xFF, 11, "unknown reply" },
	};
	size_t i;

	CHECK_STR(stp_rep_str(0), "succeeded", "rep_str 0");
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK_STR(stp_rep_str(t[i].rep), t[i].text, "rep_str 0x%02X", t[i].rep);
		CHECK_INT(stp_rep_exit(t[i].rep), t[i].exit, "rep_exit 0x%02X", t[i].rep);
	}
	for (i = 0; i < 256; i++)
		if (!stp_rep_str((uint8_t)i))
			break;
	CHECK(i == 256, "rep_str never NULL");

	CHECK_INT(stp_rep_from_errno(ECONNREFUSED), 5, "errno ECONNREFUSED");
	CHECK_INT(stp_rep_from_errno(ENETUNREACH), 3, "errno ENETUNREACH");
	CHECK_INT(stp_rep_from_errno(ENETDOWN), 3, "errno ENETDOWN");
	CHECK_INT(stp_rep_from_errno(EHOSTUNREACH), 4, "errno EHOSTUNREACH");
	CHECK_INT(stp_rep_from_errno(EHOSTDOWN), 4, "errno EHOSTDOWN");
	CHECK_INT(stp_rep_from_errno(ETIMEDOUT), 6, "errno ETIMEDOUT");
	CHECK_INT(stp_rep_from_errno(EACCES), 2, "errno EACCES");
	CHECK_INT(stp_rep_from_errno(EPERM), 2, "errno EPERM");
	CHECK_INT(stp_rep_from_errno(EAFNOSUPPORT), 8, "errno EAFNOSUPPORT");
	CHECK_INT(stp_rep_from_errno(ENOMEM), 1, "errno ENOMEM");
	CHECK_INT(stp_rep_from_errno(0), 1, "errno 0");
}

static void test_err(void)
{
	struct stp_err e = { 0 };
	char long_text[400];

	CHECK_INT(stp_err_set(&e, STP_EXIT_USAGE, "bad %s %d", "port", 7), -1, "err_set returns -1");
	CHECK(e.code == 2 && !strcmp(e.msg, "bad port 7"), "err_set fills code and message");
	CHECK_INT(stp_err_prefix(&e, "hop %d", 2), -1, "err_prefix returns -1");
	CHECK_STR(e.msg, "hop 2: bad port 7", "err_prefix");
	CHECK_INT(e.code, 2, "err_prefix keeps the code");
	CHECK_INT(stp_err_set(NULL, 1, "x"), -1, "err_set with NULL");
	CHECK_INT(stp_err_prefix(NULL, "x"), -1, "err_prefix with NULL");

	memset(long_text, 'a', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	stp_err_set(&e, 5, "%s", long_text);
	CHECK_INT(strlen(e.msg), sizeof(e.msg) - 1, "err_set truncates");
	stp_err_prefix(&e, "p");
	CHECK(strlen(e.msg) == sizeof(e.msg) - 1 && !strncmp(e.msg, "p: aaa", 6),
	      "err_prefix truncates the end");
	stp_err_prefix(&e, "%s", long_text);
	CHECK(strlen(e.msg) == sizeof(e.msg) - 1 && e.msg[0] == 'a', "err_prefix with a long prefix");
	stp_err_set(&e, 1, "two\nlines\r");
	CHECK_STR(e.msg, "two lines ", "err_set keeps one line");
}

int main(void)
{
	test_addr();
	test_greeting();
	test_userpass();
	test_request();
	test_opts();
	test_reply();
	test_udp();
	test_socks4();
	test_mux();
	test_replies();
	test_err();
	return tap_done();
}
