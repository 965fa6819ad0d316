/* test-mcastpol.c - unit tests of the multicast policy (libcommon/server/policy/mcastpol.h):
 * what a group is, --mcast-allow parsing and its messages, and the
 * directions a list grants. */
#include <string.h>
#include "proto/addr.h"
#include "server/policy/mcastpol.h"
#include "tap.h"

static struct stp_addr A(const char *host, uint16_t port)
{
	struct stp_addr a;

	stp_addr_from_host(&a, host, port);
	return a;
}

static void bad(const char *s, const char *want)
{
	struct stp_mcast_rule r;
	struct stp_err e = { 0 };

	CHECK(stp_mcast_rule_parse(s, &r, "--mcast-allow", &e) < 0 && e.code == STP_EXIT_USAGE,
	      "refused: %s", s);
	CHECK_HAS(e.msg, want, "message for %s", s);
}

/* The directions n entries (texts) grant to host:port. */
static unsigned grant(const char *const *texts, int n, const char *host, uint16_t port)
{
	struct stp_mcast_rule r[8];
	struct stp_err e;
	struct stp_addr g = A(host, port);

	for (int i = 0; i < n; i++)
		if (stp_mcast_rule_parse(texts[i], &r[i], "t", &e) < 0)
			DIAG("bad test entry %s: %s", texts[i], e.msg);
	return stp_mcast_granted(r, n, &g);
}

int main(void)
{
	struct stp_addr g;

	g = A("224.0.0.1", 1);
	CHECK(stp_mcast_is_group(&g), "224.0.0.1 is a group");
	g = A("239.255.255.255", 1);
	CHECK(stp_mcast_is_group(&g), "239.255.255.255 is a group");
	g = A("240.0.0.1", 1);
	CHECK(!stp_mcast_is_group(&g), "240.0.0.1 is not");
	g = A("223.255.255.255", 1);
	CHECK(!stp_mcast_is_group(&g), "223.255.255.255 is not");
	g = A("ff02::1", 1);
	CHECK(stp_mcast_is_group(&g), "ff02::1 is a group");
	g = A("fe80::1", 1);
	CHECK(!stp_mcast_is_group(&g), "fe80::1 is not");
	g = A("example.org", 1);
	CHECK(!stp_mcast_is_group(&g), "a name is not");

	static const char *const none[1];
	CHECK_INT(grant(none, 0, "239.1.1.1", 5), STP_MC_RECV | STP_MC_SEND, "no list: both");

	static const char *const l1[] = { "239.1.0.0/16", "239.9.0.0/16:7000-7010/recv",
					  "239.9.1.1:7005/send", "[ff15::/16]:9000/recv",
					  "ff18::/16/both" };
	CHECK_INT(grant(l1, 5, "239.1.200.3", 1), 3, "in a /16 without ports or mode: both");
	CHECK_INT(grant(l1, 5, "239.2.0.1", 1), 0, "outside every entry: nothing");
	CHECK_INT(grant(l1, 5, "239.9.0.1", 7000), STP_MC_RECV, "recv entry, low port");
	CHECK_INT(grant(l1, 5, "239.9.0.1", 7010), STP_MC_RECV, "recv entry, high port");
	CHECK_INT(grant(l1, 5, "239.9.0.1", 7011), 0, "port out of range");
	CHECK_INT(grant(l1, 5, "239.9.1.1", 7005), 3, "two entries grant together");
	CHECK_INT(grant(l1, 5, "ff15::1", 9000), STP_MC_RECV, "IPv6 in brackets with ports");
	CHECK_INT(grant(l1, 5, "ff15::1", 9001), 0, "IPv6 port out of range");
	CHECK_INT(grant(l1, 5, "ff18::abcd", 1), 3, "bare IPv6 CIDR with a mode");
	static const char *const l2[] = { "239.128.0.0/9" };
	CHECK_INT(grant(l2, 1, "239.200.0.1", 1), 3, "prefix not on a byte boundary: in");
	CHECK_INT(grant(l2, 1, "239.127.0.1", 1), 0, "prefix not on a byte boundary: out");

	bad("239.1.0.0/33", "'239.1.0.0/33': bad prefix length");
	bad("239.1.0.0/", "bad prefix length");
	bad("239.1.0.0/16/sometimes", "expected recv, send or both");
	bad("239.1.0.0:99999", "expected PORT or PORT-PORT");
	bad("239.1.0.0:10-5", "expected PORT or PORT-PORT");
	bad("239.1.0.0:", "expected PORT or PORT-PORT");
	bad("[ff15::/16", "expected [CIDR] or [CIDR]:PORTS");
	bad("group", "expected a numeric address or CIDR");
	bad("", "expected a numeric address or CIDR");
	return tap_done();
}
