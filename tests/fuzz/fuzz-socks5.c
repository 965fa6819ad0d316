/* fuzz-socks5.c - libFuzzer target for the SOCKS5 side of the codec:
 * addresses, greeting, method, RFC 1929 userpass and status, requests,
 * replies (the first input byte is the stp_cmd being answered) and STP
 * option blocks. Whatever parses must re-encode, re-parse to the same
 * struct, encode again to the very same bytes, and parse identically from
 * an exact-size copy, while one byte less must only ask for more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "proto/socks.h"

#define OUT_MAX 8192

/* An exact-size heap copy, so ASan sees reads past n. */
static uint8_t *exact(const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, b, n);
	return c;
}

static void fuzz_addr(const uint8_t *b, size_t n)
{
	struct stp_addr a, a2;
	uint8_t out[OUT_MAX], out2[OUT_MAX], rep = 0, *c;
	ssize_t k = stp_addr_get(b, n, &a, &rep);
	size_t m;

	if (k < 0)
		FUZZ_ASSERT(rep == STP_REP_FAIL || rep == STP_REP_ATYP_UNSUPPORTED);
	if (k <= 0)
		return;
	FUZZ_ASSERT((size_t)k <= n);
	c = exact(b, k);
	FUZZ_ASSERT(stp_addr_get(c, k, &a2, NULL) == k && fuzz_addr_eq(&a, &a2));
	FUZZ_ASSERT(stp_addr_get(c, k - 1, &a2, NULL) == 0);
	free(c);
	m = stp_addr_put(out, sizeof(out), &a);
	FUZZ_ASSERT(m == (size_t)k && m == stp_addr_wire_len(&a));
	FUZZ_ASSERT(!memcmp(out, b, m));
	FUZZ_ASSERT(stp_addr_get(out, m, &a2, NULL) == (ssize_t)m && fuzz_addr_eq(&a, &a2));
	FUZZ_ASSERT(stp_addr_put(out2, sizeof(out2), &a2) == m && !memcmp(out, out2, m));
}

static void fuzz_greeting(const uint8_t *b, size_t n)
{
	struct stp5_greeting g, g2;
	uint8_t out[OUT_MAX], *c;
	ssize_t k = stp5_greeting_get(b, n, &g);
	size_t m;

	if (k <= 0)
		return;
	c = exact(b, k);
	FUZZ_ASSERT(stp5_greeting_get(c, k - 1, &g2) == 0);
	free(c);
	m = stp5_greeting_put(out, sizeof(out), g.methods, g.nmethods);
	FUZZ_ASSERT(m == (size_t)k && !memcmp(out, b, m));
	FUZZ_ASSERT(stp5_greeting_get(out, m, &g2) == (ssize_t)m);
	FUZZ_ASSERT(g2.nmethods == g.nmethods && !memcmp(g.methods, g2.methods, g.nmethods));
}

static void fuzz_method(const uint8_t *b, size_t n)
{
	uint8_t out[4], method, m2;
	ssize_t k = stp5_method_get(b, n, &method);

	if (k <= 0)
		return;
	FUZZ_ASSERT(k == 2 && stp5_method_put(out, sizeof(out), method) == 2);
	FUZZ_ASSERT(stp5_method_get(out, 2, &m2) == 2 && m2 == method);
}

static void fuzz_userpass(const uint8_t *b, size_t n)
{
	struct stp_userpass up, up2;
	uint8_t out[OUT_MAX], *c;
	ssize_t k = stp_userpass_get(b, n, &up);
	size_t m;

	if (k <= 0)
		return;
	FUZZ_ASSERT(strlen(up.user) == up.ulen && strlen(up.pass) == up.plen);
	c = exact(b, k);
	FUZZ_ASSERT(stp_userpass_get(c, k - 1, &up2) == 0);
	free(c);
	m = stp_userpass_put(out, sizeof(out), up.user, up.pass);
	FUZZ_ASSERT(m == (size_t)k && !memcmp(out, b, m));
	FUZZ_ASSERT(stp_userpass_get(out, m, &up2) == (ssize_t)m);
	FUZZ_ASSERT(!strcmp(up.user, up2.user) && !strcmp(up.pass, up2.pass));
}

static void fuzz_status(const uint8_t *b, size_t n)
{
	uint8_t out[4], st, st2;
	ssize_t k = stp_userpass_status_get(b, n, &st);

	if (k <= 0)
		return;
	FUZZ_ASSERT(k == 2 && stp_userpass_status_put(out, sizeof(out), st) == 2);
	FUZZ_ASSERT(stp_userpass_status_get(out, 2, &st2) == 2 && st2 == st);
}

static int msg_eq(const struct stp5_msg *a, const struct stp5_msg *b)
{
	return a->code == b->code && fuzz_addr_eq(&a->addr, &b->addr) &&
	       a->has_opts == b->has_opts && fuzz_opts_eq(&a->opts, &b->opts);
}

static void fuzz_request(const uint8_t *b, size_t n)
{
	static struct stp5_msg r, r2;
	uint8_t out[OUT_MAX], out2[OUT_MAX], rep = 0, *c;
	ssize_t k = stp5_request_get(b, n, &r, &rep);
	size_t m;

	if (k < 0)
		FUZZ_ASSERT(rep == STP_REP_FAIL || rep == STP_REP_ATYP_UNSUPPORTED);
	if (k <= 0)
		return;
	FUZZ_ASSERT(r.has_opts == !!STP_CMD_IS_STP(r.code));
	c = exact(b, k);
	FUZZ_ASSERT(stp5_request_get(c, k, &r2, NULL) == k && msg_eq(&r, &r2));
	FUZZ_ASSERT(stp5_request_get(c, k - 1, &r2, NULL) == 0);
	FUZZ_ASSERT(stp5_request_get(c, k / 2, &r2, NULL) == 0);
	free(c);
	m = stp5_request_put(out, sizeof(out), r.code, &r.addr, &r.opts);
	FUZZ_ASSERT(m > 0 && m <= (size_t)k);
	FUZZ_ASSERT(stp5_request_get(out, m, &r2, NULL) == (ssize_t)m && msg_eq(&r, &r2));
	FUZZ_ASSERT(stp5_request_put(out2, sizeof(out2), r2.code, &r2.addr, &r2.opts) == m);
	FUZZ_ASSERT(!memcmp(out, out2, m));
	/* The same message answered as a reply: the prefix is identical. */
	FUZZ_ASSERT(stp5_reply_get(out, m, r.code, &r2) == (ssize_t)m && msg_eq(&r, &r2));
}

static void fuzz_reply(const uint8_t *b, size_t n, uint8_t stp_cmd)
{
	static struct stp5_msg r, r2;
	uint8_t out[OUT_MAX], out2[OUT_MAX], *c;
	ssize_t k = stp5_reply_get(b, n, stp_cmd, &r);
	size_t m;

	if (k <= 0)
		return;
	FUZZ_ASSERT(r.has_opts == !!STP_CMD_IS_STP(stp_cmd));
	c = exact(b, k);
	FUZZ_ASSERT(stp5_reply_get(c, k, stp_cmd, &r2) == k && msg_eq(&r, &r2));
	FUZZ_ASSERT(stp5_reply_get(c, k - 1, stp_cmd, &r2) == 0);
	free(c);
	m = stp5_reply_put(out, sizeof(out), stp_cmd, r.code, &r.addr, &r.opts);
	FUZZ_ASSERT(m > 0 && m <= (size_t)k);
	FUZZ_ASSERT(stp5_reply_get(out, m, stp_cmd, &r2) == (ssize_t)m && msg_eq(&r, &r2));
	FUZZ_ASSERT(stp5_reply_put(out2, sizeof(out2), stp_cmd, r2.code, &r2.addr, &r2.opts) == m);
	FUZZ_ASSERT(!memcmp(out, out2, m));
	/* Builders must refuse a cap one byte short rather than overflow. */
	c = malloc(m - 1 ? m - 1 : 1);
	if (!c)
		abort();
	FUZZ_ASSERT(stp5_reply_put(c, m - 1, stp_cmd, r.code, &r.addr, &r.opts) == 0);
	free(c);
}

static void fuzz_opts(const uint8_t *b, size_t n)
{
	static struct stp_opts o, o2;
	uint8_t out[OUT_MAX], out2[OUT_MAX], rep = 0, *c;
	ssize_t k = stp_opts_get(b, n, &o, &rep);
	size_t m;

	if (k < 0)
		FUZZ_ASSERT(rep == STP_REP_FAIL || rep == STP_REP_ATYP_UNSUPPORTED);
	if (k <= 0)
		return;
	FUZZ_ASSERT(k >= 2 && k <= 2 + STP_OPTLEN_MAX);
	c = exact(b, k);
	FUZZ_ASSERT(stp_opts_get(c, k - 1, &o2, NULL) == 0);
	free(c);
	m = stp_opts_put(out, sizeof(out), &o);
	FUZZ_ASSERT(m >= 2 && m <= (size_t)k);
	FUZZ_ASSERT(stp_opts_get(out, m, &o2, NULL) == (ssize_t)m && fuzz_opts_eq(&o, &o2));
	FUZZ_ASSERT(stp_opts_put(out2, sizeof(out2), &o2) == m && !memcmp(out, out2, m));
}

/* What a server reads in order: greeting, then (maybe) userpass, then a
 * request, each starting where the last one ended. */
static void fuzz_session(const uint8_t *b, size_t n)
{
	static struct stp5_msg r;
	struct stp5_greeting g;
	struct stp_userpass up;
	uint8_t rep;
	ssize_t k;
	size_t off = 0;

	k = stp5_greeting_get(b, n, &g);
	if (k <= 0)
		return;
	off += (size_t)k;
	if (memchr(g.methods, STP_METHOD_USERPASS, g.nmethods)) {
		k = stp_userpass_get(b + off, n - off, &up);
		if (k <= 0)
			return;
		off += (size_t)k;
	}
	while (off < n && (k = stp5_request_get(b + off, n - off, &r, &rep)) > 0)
		off += (size_t)k;
	FUZZ_ASSERT(off <= n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *b = data + 1;
	size_t n;

	if (size < 1)
		return 0;
	n = size - 1;
	(void)stp_rep_str(data[0]);
	FUZZ_ASSERT(stp_rep_exit(data[0]) >= 7 && stp_rep_exit(data[0]) <= 18);

	fuzz_addr(b, n);
	fuzz_greeting(b, n);
	fuzz_method(b, n);
	fuzz_userpass(b, n);
	fuzz_status(b, n);
	fuzz_request(b, n);
	fuzz_reply(b, n, data[0]);
	fuzz_opts(b, n);
	fuzz_session(b, n);
	return 0;
}
