/* test-httpconn.c - HTTP hops: the CONNECT request, the answer read by
 * http-parser at any split, and what each refusal means (SPEC 2.3). */
#include <string.h>

#include "proto/addr.h"
#include "proto/handshake.h"
#include "proto/httpconn.h"
#include "tap.h"

static struct stp_proxy hop(const char *url)
{
	struct stp_proxy p;
	struct stp_err e;

	if (stp_url_parse(url, &p, &e) < 0)
		DIAG("bad url in test: %s", e.msg);
	return p;
}

#define S(x) (const uint8_t *)(x), sizeof(x) - 1

static void request(void)
{
	struct stp_addr d;
	uint8_t out[1400];
	size_t n;

	stp_addr_from_host(&d, "example.org", 443);
	n = stp_http_connect_put(out, sizeof(out), &d, NULL, NULL);
	CHECK(n && !memcmp(out, "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", n),
	      "CONNECT without credentials");
	n = stp_http_connect_put(out, sizeof(out), &d, "alice", "s3cret");
	out[n] = 0;
	CHECK_HAS((char *)out, "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n",
		  "Basic credentials (RFC 7617)");
	stp_addr_from_host(&d, "::1", 22);
	n = stp_http_connect_put(out, sizeof(out), &d, NULL, NULL);
	out[n] = 0;
	CHECK_HAS((char *)out, "CONNECT [::1]:22 HTTP/1.1\r\n", "IPv6 in brackets");
	stp_addr_from_host(&d, "a\r\nX-Evil: 1", 80);
	CHECK_INT(stp_http_connect_put(out, sizeof(out), &d, NULL, NULL), 0,
		  "a name with CR LF is refused, not sent");
	stp_addr_from_host(&d, "example.org", 443);
	CHECK_INT(stp_http_connect_put(out, 40, &d, NULL, NULL), 0, "too small a buffer: 0");
}

static void answer_split(void)
{
	static const char a[] = "HTTP/1.0 200 Connection established\r\n"
				"Proxy-agent: tinyproxy/1.11.1\r\n\r\nSSH-2.0-x\r\n";
	size_t hdr = strstr(a, "\r\n\r\n") + 4 - a;
	struct stp_http_resp r;
	size_t used = 0;
	int bad = 0;

	/* a byte at a time: every byte eaten until the empty line, none after */
	stp_http_resp_init(&r);
	for (size_t i = 0; i < sizeof(a) - 1; i++) {
		ssize_t k = stp_http_resp_feed(&r, (const uint8_t *)a + i, 1);
		if (k < 0)
			bad++;
		used += (size_t)(k > 0 ? k : 0);
	}
	CHECK(!bad && used == hdr && r.status == 200 && stp_http_resp_ready(&r),
	      "byte at a time: %zu of %zu bytes eaten, status %d", used, hdr, r.status);
	CHECK_STR(r.line, "HTTP/1.0 200 Connection established", "status line");
	/* all at once: the tunnel's bytes are left */
	stp_http_resp_init(&r);
	CHECK_INT(stp_http_resp_feed(&r, S(a)), (ssize_t)hdr, "at once: only the header eaten");
	stp_http_resp_init(&r);
	CHECK_INT(stp_http_resp_feed(&r, S("SSH-2.0-OpenSSH\r\n")), -1, "not HTTP: -1");
	stp_http_resp_init(&r);
	CHECK_INT(stp_http_resp_feed(&r, S("\x05\x00")), -1, "a SOCKS5 answer: -1");
}

/* Feeds a whole answer to a one-hop machine asked for CONNECT; returns the
 * feed's result with e filled. */
static ssize_t judge(const char *url, const char *ans, struct stp_err *e, struct stp_hs *h)
{
	static struct stp_proxy p;
	static struct stp_addr d;

	p = hop(url);
	stp_addr_from_host(&d, "10.0.0.1", 9);
	if (stp_hs_init(h, &p, 1, &d, STP_CMD_CONNECT, e) < 0)
		return -2;
	return stp_hs_feed(h, (const uint8_t *)ans, strlen(ans), e);
}

static void refusals(void)
{
	struct stp_err e;
	struct stp_hs h;

	judge("http://p:3128", "HTTP/1.1 407 Proxy Authentication Required\r\n"
	      "Proxy-Authenticate: Basic realm=\"stp\"\r\nProxy-Authenticate: NTLM\r\n"
	      "Content-Length: 0\r\n\r\n", &e, &h);
	CHECK_INT(e.code, STP_EXIT_AUTH, "407: exit 4");
	CHECK_HAS(e.msg, "requires authentication (HTTP/1.1 407 Proxy Authentication Required, "
		  "it offers Basic, NTLM); give -U USER", "407 names the schemes");
	judge("http://alice:pw@p:3128", "HTTP/1.1 407 Nope\r\nProxy-Authenticate: Basic "
	      "realm=\"x\"\r\nContent-Length: 0\r\n\r\n", &e, &h);
	CHECK_HAS(e.msg, "rejected the credentials of user 'alice' (HTTP/1.1 407 Nope)",
		  "407 with credentials");
	CHECK(!strstr(e.msg, "pw"), "never the password");
	judge("http://p:3128", "HTTP/1.1 407 X\r\nProxy-Authenticate: Negotiate\r\n"
	      "Content-Length: 0\r\n\r\n", &e, &h);
	CHECK_HAS(e.msg, "by Negotiate, which stp does not speak", "no Basic offered");
	judge("http://p:3128", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", &e, &h);
	CHECK_INT(e.code, STP_EXIT_REPLY + 2, "403: exit 12");
	CHECK_STR(e.msg, "proxy p:3128 refused CONNECT 10.0.0.1:9: HTTP/1.1 403 Forbidden",
		  "403 message");
	judge("http://p:3128", "HTTP/1.1 503 Service Unavailable\r\nX-Squid-Error: "
	      "ERR_CONNECT_FAIL 111\r\nContent-Length: 0\r\n\r\n", &e, &h);
	CHECK_INT(e.code, STP_EXIT_REPLY + 5, "503 with Squid's errno 111: exit 15");
	judge("http://p:3128", "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 27\r\n\r\n"
	      "connect: Connection refused", &e, &h);
	CHECK_INT(e.code, STP_EXIT_REPLY + 5, "502 whose body says refused: exit 15");
	judge("http://p:3128", "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nno!", &e, &h);
	CHECK_INT(e.code, STP_EXIT_REPLY + 1, "502 otherwise: exit 11");
	judge("http://p:3128", "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n", &e, &h);
	CHECK_INT(e.code, STP_EXIT_REPLY + 6, "504: exit 16");
	CHECK_INT(h.rep, 6, "504 is reply 6 for the server's upstream");
	judge("http://p:3128", "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n", &e, &h);
	CHECK_INT(e.code, STP_EXIT_UNSUPPORTED, "405: exit 7");
	/* a body still to come: need more, then the close judges it */
	CHECK_INT(judge("http://p:3128", "HTTP/1.1 503 Service Unavailable\r\n\r\nCon", &e, &h) > 0,
		  1, "a body until close: need more");
	stp_hs_feed(&h, S("nection refused"), &e);
	CHECK_INT(stp_hs_fail_eof(&h, false, 0, &e), -1, "close");
	CHECK_INT(e.code, STP_EXIT_REPLY + 5, "the close judges the body: exit 15");
	CHECK_INT(judge("http://p:3128", "HTTP/1.1 200 OK\r\n\r\n", &e, &h), 19, "200: done");
	CHECK_INT(h.st, HS_DONE, "done");
}

static void commands(void)
{
	struct stp_proxy p[2] = { hop("socks5h://s:1080"), hop("https://p:443") };
	struct stp_addr d[2];
	struct stp_hs h;
	struct stp_err e;

	stp_addr_from_host(&d[0], "p", 443);
	stp_addr_from_host(&d[1], "10.0.0.1", 80);
	CHECK_INT(stp_hs_init(&h, p, 2, d, STP_CMD_BIND, &e), -1, "BIND with an HTTP hop last");
	CHECK_INT(e.code, STP_EXIT_UNSUPPORTED, "exit 7");
	CHECK_HAS(e.msg, "proxy p:443 is an HTTP proxy, which carries only TCP streams (CONNECT), "
		  "not BIND", "says so");
	CHECK_INT(h.outlen, 0, "nothing to send");
	/* http first, socks5 last: BIND is fine, the HTTP hop CONNECTs */
	struct stp_proxy q[2] = { hop("http://p:3128"), hop("socks5h://s:1080") };
	stp_addr_from_host(&d[0], "s", 1080);
	CHECK_INT(stp_hs_init(&h, q, 2, d, STP_CMD_BIND, &e), 0, "BIND with a SOCKS5 hop last");
	CHECK(h.outlen > 8 && !memcmp(h.out, "CONNECT s:1080 ", 15), "hop 0 gets CONNECT s:1080");
	CHECK(stp_hs_feed(&h, S("HTTP/1.1 200 OK\r\n\r\n\x05\x00"), &e) == 19 &&
	      h.st == HS_METHOD && h.outlen == 3, "then the SOCKS5 greeting to hop 1");
	/* a 502 from hop 0 reaching hop 1: hop 1 is unreachable (exit 3) */
	stp_hs_init(&h, q, 2, d, STP_CMD_CONNECT, &e);
	stp_hs_feed(&h, S("HTTP/1.1 503 X\r\nX-Squid-Error: ERR_CONNECT_FAIL 111\r\n"
			  "Content-Length: 0\r\n\r\n"), &e);
	CHECK_INT(e.code, STP_EXIT_REACH, "the next proxy refused: exit 3");
}

int main(void)
{
	request();
	answer_split();
	refusals();
	commands();
	return tap_done();
}
