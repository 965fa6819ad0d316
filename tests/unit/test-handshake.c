/* test-handshake.c - the client handshake machine, fed like a server would. */
#include <string.h>

#include "proto/addr.h"
#include "proto/handshake.h"
#include "tap.h"

static struct stp_proxy hop(const char *url)
{
	struct stp_proxy p;
	struct stp_err e;

	if (stp_url_parse(url, &p, &e) < 0)
		DIAG("bad url in test: %s", e.msg);
	return p;
}

#define OUT_IS(h, bytes, name) \
	CHECK((h).outlen == sizeof(bytes) - 1 && memcmp((h).out, bytes, sizeof(bytes) - 1) == 0, name)
#define FEED(h, bytes, e) stp_hs_feed(&(h), (const uint8_t *)(bytes), sizeof(bytes) - 1, &(e))

static void plain(void)
{
	struct stp_proxy p = hop("socks5://127.0.0.1:1080");
	struct stp_addr d;
	struct stp_hs h;
	struct stp_err e;

	stp_addr_from_host(&d, "10.0.0.1", 80);
	CHECK_INT(stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e), 0, "init");
	OUT_IS(h, "\x05\x01\x00", "greeting offers no-auth only");
	CHECK_INT(FEED(h, "\x05\x00", e), 2, "method consumed");
	OUT_IS(h, "\x05\x01\x00\x01\x0a\x00\x00\x01\x00\x50", "CONNECT request");
	/* the reply, a byte at a time, followed by stream data */
	const uint8_t rep[] = "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38" "SSH-2.0";
	size_t have = 0;
	ssize_t k = 0;
	for (have = 1; have <= 10; have++) {
		k = stp_hs_feed(&h, rep, have, &e);
		if (k)
			break;
	}
	CHECK_INT(k, 10, "reply needs all 10 bytes, and consumes only them");
	k = stp_hs_feed(&h, rep, sizeof(rep) - 1, &e);
	CHECK_INT(h.st, HS_DONE, "done");
	CHECK_INT(h.bnd.port, 1080, "BND port");
}

static void auth(void)
{
	struct stp_proxy p = hop("socks5h://alice:s3cret@proxy:1080");
	struct stp_addr d;
	struct stp_hs h;
	struct stp_err e;

	stp_addr_from_host(&d, "example.org", 443);
	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	OUT_IS(h, "\x05\x02\x00\x02", "offers no-auth and user/pass");
	CHECK_INT(FEED(h, "\x05\x02", e), 2, "server picks user/pass");
	OUT_IS(h, "\x01\x05" "alice" "\x06" "s3cret", "RFC 1929 request");
	CHECK_INT(FEED(h, "\x01\x01", e), -1, "credentials rejected");
	CHECK_INT(e.code, STP_EXIT_AUTH, "exit 4");
	CHECK_HAS(e.msg, "rejected the credentials of user 'alice'", "names the user");
	CHECK(strstr(e.msg, "s3cret") == NULL, "never the password");

	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	CHECK_INT(FEED(h, "\x05\xff", e), -1, "no acceptable method");
	CHECK_INT(e.code, STP_EXIT_AUTH, "exit 4 for X'FF'");

	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	FEED(h, "\x05\x02", e);
	FEED(h, "\x01\x00", e);
	OUT_IS(h, "\x05\x01\x00\x03\x0b" "example.org" "\x01\xbb", "name passed untouched (socks5h)");
}

static void refusals(void)
{
	struct stp_proxy p = hop("127.0.0.1:1080");
	struct stp_addr d;
	struct stp_hs h;
	struct stp_err e;

	stp_addr_from_host(&d, "127.0.0.1", 9);
	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	FEED(h, "\x05\x00", e);
	CHECK_INT(FEED(h, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", e), -1, "refused");
	CHECK_INT(e.code, 15, "exit 10 + 5");
	CHECK_STR(e.msg, "proxy 127.0.0.1:1080 refused CONNECT 127.0.0.1:9: connection refused (reply 5)",
		  "SPEC §2.3 message");

	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	FEED(h, "\x05\x00", e);
	FEED(h, "\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00", e);
	CHECK_INT(e.code, STP_EXIT_UNSUPPORTED, "reply 7 -> exit 7");

	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	CHECK_INT(FEED(h, "HTTP/1.1 400 Bad Request\r\n", e), -1, "an HTTP server");
	CHECK_INT(e.code, STP_EXIT_PROTO, "exit 5");

	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	CHECK_INT(stp_hs_fail_eof(&h, false, 1000, &e), -1, "closed during greeting");
	CHECK_INT(e.code, STP_EXIT_PROTO, "exit 5");
	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	stp_hs_fail_eof(&h, true, 3000, &e);
	CHECK_INT(e.code, STP_EXIT_PROTO, "no first answer in time: exit 5");
	CHECK_HAS(e.msg, "no answer from proxy 127.0.0.1:1080 within 3 s", "timeout message");

	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	FEED(h, "\x05\x00", e);
	stp_hs_fail_eof(&h, false, 1000, &e);
	CHECK_INT(e.code, 11, "closed without reply to CONNECT: exit 11, not unsupported");
	CHECK_HAS(e.msg, "without a reply to CONNECT", "names the command");
	CHECK_HAS(e.msg, "ssh -D does that when it cannot reach the target", "says why");
	stp_hs_init(&h, &p, 1, &d, STP_CMD_BIND, &e);
	FEED(h, "\x05\x00", e);
	stp_hs_fail_eof(&h, false, 1000, &e);
	CHECK_INT(e.code, STP_EXIT_UNSUPPORTED, "closed without reply to BIND: exit 7");
	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	FEED(h, "\x05\x00", e);
	stp_hs_fail_eof(&h, true, 2000, &e);
	CHECK_INT(e.code, 16, "target not reached in time: exit 16");
}

static void socks4(void)
{
	struct stp_proxy p4 = hop("socks4://127.0.0.1:1080"), p4a = hop("socks4a://127.0.0.1:1080");
	struct stp_addr d, n, v6;
	struct stp_hs h;
	struct stp_err e;

	stp_addr_from_host(&d, "10.0.0.2", 22);
	stp_addr_from_host(&n, "host.example", 22);
	stp_addr_from_host(&v6, "::1", 22);
	stp_hs_init(&h, &p4, 1, &d, STP_CMD_CONNECT, &e);
	OUT_IS(h, "\x04\x01\x00\x16\x0a\x00\x00\x02\x00", "SOCKS4 request");
	FEED(h, "\x00\x5a\x00\x00\x00\x00\x00\x00", e);
	CHECK_INT(h.st, HS_DONE, "granted");
	stp_hs_init(&h, &p4a, 1, &n, STP_CMD_CONNECT, &e);
	OUT_IS(h, "\x04\x01\x00\x16\x00\x00\x00\x01\x00" "host.example\x00", "SOCKS4a request");
	CHECK_INT(FEED(h, "\x00\x5b\x00\x00\x00\x00\x00\x00", e), -1, "rejected");
	CHECK_INT(e.code, 12, "91 -> 12");
	CHECK_HAS(e.msg, "(SOCKS4 reply 91)", "the reply SOCKS4 sent");
	stp_hs_init(&h, &p4, 1, &d, STP_CMD_CONNECT, &e);
	FEED(h, "\x00\x5c\x00\x00\x00\x00\x00\x00", e);
	CHECK_INT(e.code, STP_EXIT_AUTH, "92 -> 4");
	CHECK_INT(stp_hs_init(&h, &p4, 1, &v6, STP_CMD_CONNECT, &e), -1, "SOCKS4 cannot do IPv6");
	CHECK_INT(stp_hs_init(&h, &p4, 1, &d, STP_CMD_UDP, &e), -1, "SOCKS4 has no UDP");
	CHECK_INT(e.code, STP_EXIT_UNSUPPORTED, "exit 7");
}

static void chain(void)
{
	struct stp_proxy p[2] = { hop("socks5://10.0.0.1:1080"), hop("socks5h://u:p@10.0.0.2:1081") };
	struct stp_addr d[2];
	struct stp_hs h;
	struct stp_err e;

	stp_addr_from_host(&d[0], "10.0.0.2", 1081);
	stp_addr_from_host(&d[1], "target.example", 80);
	stp_hs_init(&h, p, 2, d, STP_CMD_CONNECT, &e);
	FEED(h, "\x05\x00", e);
	OUT_IS(h, "\x05\x01\x00\x01\x0a\x00\x00\x02\x04\x39", "hop 0 is asked for hop 1");
	FEED(h, "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", e);
	CHECK_INT(h.hop, 1, "on to hop 1");
	OUT_IS(h, "\x05\x02\x00\x02", "hop 1 greeting with its own credentials");
	FEED(h, "\x05\x02", e);
	FEED(h, "\x01\x00", e);
	CHECK_INT(FEED(h, "\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00", e), -1, "hop 1 refuses");
	CHECK_HAS(e.msg, "proxy 10.0.0.2:1081 refused CONNECT target.example:80", "names the hop that failed");
	CHECK_INT(e.code, 14, "exit 14");

	/* hop 0 cannot reach hop 1: that proxy is unreachable, exit 3 */
	stp_hs_init(&h, p, 2, d, STP_CMD_CONNECT, &e);
	FEED(h, "\x05\x00", e);
	CHECK_INT(FEED(h, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", e), -1, "hop 0 refuses hop 1");
	CHECK_INT(e.code, STP_EXIT_REACH, "exit 3 for an unreachable later proxy");
	CHECK_STR(e.msg, "cannot reach proxy 10.0.0.2:1081 through proxy 10.0.0.1:1080: connection refused (reply 5)",
		  "names both proxies");
}

/* --gssapi: X'01' offered instead of no-auth; the machine stops in
 * HS_GSS for the driver, queues the request once told the exchange is
 * done, and names a proxy that does not offer GSS-API. */
static void gssapi(void)
{
	struct stp_proxy p = hop("socks5h://proxy:1080");
	struct stp_addr d;
	struct stp_hs h;
	struct stp_err e;

	p.gssapi = true;
	stp_addr_from_host(&d, "10.0.0.1", 80);
	CHECK_INT(stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e), 0, "gss: init");
	OUT_IS(h, "\x05\x01\x01", "gss: greeting offers GSS-API only");
	CHECK_INT(FEED(h, "\x05\x01" "\x01\x01", e), 2, "gss: method consumed, not the token after");
	CHECK_INT(h.st, HS_GSS, "gss: the driver's turn");
	CHECK_INT((int)h.outlen, 0, "gss: nothing to send from the machine");
	CHECK_INT(FEED(h, "\x01\x01", e), 0, "gss: the machine eats nothing meanwhile");
	CHECK_INT(stp_hs_gss_done(&h, &e), 0, "gss: done");
	OUT_IS(h, "\x05\x01\x00\x01\x0a\x00\x00\x01\x00\x50", "gss: then the CONNECT request");
	CHECK_INT(h.st, HS_REPLY, "gss: waiting for the reply");

	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	CHECK_INT(FEED(h, "\x05\xff", e), -1, "gss: X'FF' refused");
	CHECK_INT(e.code, STP_EXIT_AUTH, "gss: exit 4");
	CHECK_STR(e.msg, "proxy proxy:1080 does not offer GSS-API (it accepts none of: GSS-API)",
		  "gss: message");
	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	CHECK_INT(FEED(h, "\x05\x00", e), -1, "gss: no-auth chosen though not offered");
	CHECK_INT(e.code, STP_EXIT_PROTO, "gss: exit 5");
	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	CHECK_INT(stp_hs_gss_done(&h, &e), -1, "gss: done out of turn is refused");

	p = hop("socks5h://alice:pw@proxy:1080");
	p.gssapi = true;
	stp_hs_init(&h, &p, 1, &d, STP_CMD_CONNECT, &e);
	OUT_IS(h, "\x05\x02\x01\x02", "gss: with credentials, GSS-API and user/pass");
}

int main(void)
{
	plain();
	gssapi();
	auth();
	refusals();
	socks4();
	chain();
	return tap_done();
}
