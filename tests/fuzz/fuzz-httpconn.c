/* fuzz-httpconn.c - libFuzzer target for an HTTP proxy's answer to
 * CONNECT (proto/httpconn.h). The answer is fed whole and a byte at a
 * time: both eat the same bytes and judge it the same (the tunnel's first
 * bytes are never eaten); what is kept stays NUL-terminated and bounded;
 * the handshake machine never reads past its input and always ends a
 * refusal with a code of SPEC 2.3. */
#include <string.h>
#include "fuzz.h"
#include "proto/addr.h"
#include "proto/handshake.h"
#include "proto/httpconn.h"

/* Feeds b[0..n) in pieces of step; returns bytes eaten, -1 when refused. */
static ssize_t feed(struct stp_http_resp *r, const uint8_t *b, size_t n, size_t step)
{
	size_t used = 0, off = 0;

	stp_http_resp_init(r);
	while (off < n) {
		size_t k = n - off < step ? n - off : step;
		ssize_t got = stp_http_resp_feed(r, b + off, k);
		if (got < 0)
			return -1;
		FUZZ_ASSERT((size_t)got <= k);
		used += (size_t)got;
		if ((size_t)got < k)
			break;
		off += k;
	}
	FUZZ_ASSERT(strlen(r->line) < sizeof(r->line) && strlen(r->auth) < sizeof(r->auth) &&
		    r->body_len < sizeof(r->body));
	return (ssize_t)used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct stp_http_resp a, b;
	ssize_t whole = feed(&a, data, size, size ? size : 1);
	ssize_t bytes = feed(&b, data, size, 1);

	if (whole >= 0 && bytes >= 0) {
		FUZZ_ASSERT(a.status == b.status && stp_http_resp_ready(&a) == stp_http_resp_ready(&b));
		/* The same bytes eaten, except past a refusal whose body filled
		 * what is kept: fed whole, http-parser runs on through the rest
		 * of that body, a byte at a time stops at the full buffer. Both
		 * end the connection there, so nothing after it is ever read. */
		if (!(stp_http_resp_ready(&a) && a.status / 100 != 2 && !a.complete))
			FUZZ_ASSERT(whole == bytes);
	}
	if (whole >= 0 && stp_http_resp_ready(&a) && a.status / 100 != 2) {
		char sch[64];
		stp_http_resp_schemes(&a, sch, sizeof(sch));
		FUZZ_ASSERT(strlen(sch) < sizeof(sch));
		(void)stp_http_resp_rep(&a);
		(void)stp_http_resp_offers_basic(&a);
	}
	/* the machine: one HTTP hop, CONNECT */
	static struct stp_hs h;
	struct stp_proxy p;
	struct stp_addr d;
	struct stp_err e;
	if (stp_url_parse("http://u:p@proxy:3128", &p, &e) < 0)
		abort();
	stp_addr_from_host(&d, "example.org", 443);
	if (stp_hs_init(&h, &p, 1, &d, 1, &e) < 0)
		abort();
	ssize_t k = stp_hs_feed(&h, data, size, &e);
	FUZZ_ASSERT(k <= (ssize_t)size);
	if (k < 0)
		FUZZ_ASSERT(e.code >= 4 && e.code <= 18);
	if (h.st == HS_HTTP)
		stp_hs_fail_eof(&h, false, 0, &e);
	return 0;
}
