/* test-addr.c - address helpers, NO_PROXY matching, checked numbers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proto/addr.h"
#include "proto/noproxy.h"
#include "core/opts.h"
#include "tap.h"

static void hostport(void)
{
	char host[256];
	uint16_t port = 0;
	struct stp_err e;

	CHECK_INT(stp_hostport_split("127.0.0.1:1080", host, sizeof(host), &port, -1, false, &e), 0, "v4:port");
	CHECK_STR(host, "127.0.0.1", "v4 host");
	CHECK_INT(port, 1080, "v4 port");
	CHECK_INT(stp_hostport_split("[::1]:53", host, sizeof(host), &port, -1, false, &e), 0, "[v6]:port");
	CHECK_STR(host, "::1", "v6 host without brackets");
	CHECK_INT(port, 53, "v6 port");
	CHECK_INT(stp_hostport_split("example.org", host, sizeof(host), &port, 53, false, &e), 0, "default port");
	CHECK_INT(port, 53, "default port used");
	CHECK_INT(stp_hostport_split("8080", host, sizeof(host), &port, -1, true, &e), 0, "bare port");
	CHECK_STR(host, "", "bare port: empty host");
	CHECK_INT(port, 8080, "bare port value");
	CHECK_INT(stp_hostport_split("example.org", host, sizeof(host), &port, -1, false, &e), -1, "missing port");
	CHECK_HAS(e.msg, "missing port", "missing port message");
	CHECK_INT(e.code, STP_EXIT_USAGE, "usage code");
	CHECK_INT(stp_hostport_split("h:99999", host, sizeof(host), &port, -1, false, &e), -1, "port out of range");
	CHECK_HAS(e.msg, "bad port '99999'", "bad port message names it");
	CHECK_INT(stp_hostport_split("[::1:80", host, sizeof(host), &port, -1, false, &e), -1, "unclosed bracket");
	CHECK_INT(stp_hostport_split("::1:80", host, sizeof(host), &port, -1, false, &e), -1, "v6 without brackets");
	CHECK_HAS(e.msg, "brackets", "v6 brackets hint");
	CHECK_INT(stp_hostport_split(":80", host, sizeof(host), &port, -1, false, &e), -1, "empty host");
	CHECK_INT(stp_port_parse("65535", &port), 0, "65535 ok");
	CHECK_INT(stp_port_parse("65536", &port), -1, "65536 refused");
	CHECK_INT(stp_port_parse("8a", &port), -1, "junk refused");
	CHECK_INT(stp_port_parse("", &port), -1, "empty refused");
}

static void conversions(void)
{
	struct stp_addr a, b;
	struct sockaddr_storage ss;
	char buf[STP_ADDRSTRLEN];

	CHECK_INT(stp_addr_from_host(&a, "10.1.2.3", 80), 0, "v4 literal");
	CHECK_INT(a.atyp, STP_ATYP_IPV4, "atyp 1");
	CHECK_STR(stp_addr_str(&a, buf, sizeof(buf)), "10.1.2.3:80", "v4 text");
	CHECK_INT(stp_addr_from_host(&a, "2001:db8::1", 443), 0, "v6 literal");
	CHECK_INT(a.atyp, STP_ATYP_IPV6, "atyp 4");
	CHECK_STR(stp_addr_str(&a, buf, sizeof(buf)), "[2001:db8::1]:443", "v6 text in brackets");
	CHECK(stp_addr_to_sa(&a, &ss) == sizeof(struct sockaddr_in6), "v6 to sockaddr");
	CHECK_INT(stp_addr_from_sa(&b, (struct sockaddr *)&ss), 0, "back from sockaddr");
	CHECK(memcmp(a.u.v6, b.u.v6, 16) == 0 && b.port == 443, "v6 round trip");
	CHECK_INT(stp_addr_from_host(&a, "example.org", 1), 0, "name");
	CHECK_INT(a.atyp, STP_ATYP_NAME, "atyp 3");
	CHECK_INT(a.namelen, 11, "name length");
	CHECK(stp_addr_to_sa(&a, &ss) == 0, "a name has no sockaddr");
	char longname[300];
	memset(longname, 'a', 256);
	longname[256] = '\0';
	CHECK_INT(stp_addr_from_host(&a, longname, 1), -1, "256-byte name refused");
	longname[255] = '\0';
	CHECK_INT(stp_addr_from_host(&a, longname, 1), 0, "255-byte name taken");

	/* v4-mapped v6 is shown as the IPv4 it is */
	struct sockaddr_in6 m = { .sin6_family = AF_INET6, .sin6_port = htons(7) };
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &m.sin6_addr);
	CHECK_STR(stp_sa_str((struct sockaddr *)&m, buf, sizeof(buf)), "127.0.0.1:7", "v4-mapped text");
	CHECK(stp_sa_is_loopback((struct sockaddr *)&m), "v4-mapped loopback");
	struct sockaddr_in any = { .sin_family = AF_INET };
	CHECK(!stp_sa_is_loopback((struct sockaddr *)&any), "0.0.0.0 is not loopback");
	/* where the kernel really sends */
	struct sockaddr_storage t;
	any.sin_port = htons(9);
	CHECK(stp_sa_target((struct sockaddr *)&any, &t) == sizeof(struct sockaddr_in) &&
	      stp_sa_is_loopback((struct sockaddr *)&t) && stp_sa_port((struct sockaddr *)&t) == 9,
	      "0.0.0.0 goes to 127.0.0.1, port kept");
	CHECK_STR(stp_sa_host((struct sockaddr *)&t, buf, sizeof(buf)), "127.0.0.1", "0.0.0.0 target");
	inet_pton(AF_INET6, "::ffff:0.0.0.0", &m.sin6_addr);
	CHECK(stp_sa_target((struct sockaddr *)&m, &t) == sizeof(struct sockaddr_in) &&
	      t.ss_family == AF_INET, "::ffff:0.0.0.0 is IPv4");
	CHECK_STR(stp_sa_host((struct sockaddr *)&t, buf, sizeof(buf)), "127.0.0.1", "its target");
	memset(&m.sin6_addr, 0, sizeof(m.sin6_addr));
	CHECK(stp_sa_target((struct sockaddr *)&m, &t) == sizeof(struct sockaddr_in6), ":: stays IPv6");
	CHECK_STR(stp_sa_host((struct sockaddr *)&t, buf, sizeof(buf)), "::1", ":: goes to ::1");
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &m.sin6_addr);
	stp_sa_target((struct sockaddr *)&m, &t);
	CHECK_STR(stp_sa_str((struct sockaddr *)&t, buf, sizeof(buf)), "10.1.2.3:7", "v4-mapped as IPv4");
	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	CHECK(stp_sa_target((struct sockaddr *)&un, &t) == 0, "not IP: 0");
}

static void noproxy(void)
{
	CHECK(stp_noproxy_match("localhost,127.0.0.1", "127.0.0.1"), "exact ip");
	CHECK(stp_noproxy_match("example.org", "www.example.org"), "subdomain");
	CHECK(stp_noproxy_match(".example.org", "example.org"), "leading dot matches the domain");
	CHECK(!stp_noproxy_match("example.org", "badexample.org"), "no suffix without a dot");
	CHECK(stp_noproxy_match(" a , b.c ", "x.b.c"), "spaces trimmed");
	CHECK(stp_noproxy_match("*", "anything"), "star");
	CHECK(stp_noproxy_match("10.0.0.0/8", "10.9.8.7"), "cidr v4");
	CHECK(!stp_noproxy_match("10.0.0.0/8", "11.0.0.1"), "cidr v4 outside");
	CHECK(stp_noproxy_match("fd00::/8", "fd12::1"), "cidr v6");
	CHECK(!stp_noproxy_match("", "x"), "empty list");
	CHECK(stp_noproxy_match("EXAMPLE.org", "example.ORG"), "case-insensitive");
}

static void numbers(void)
{
	struct stp_err e;
	long v;

	CHECK_INT(stp_parse_long("42", 1, 100, &v, "--n", &e), 0, "number");
	CHECK_INT(v, 42, "number value");
	CHECK_INT(stp_parse_long("101", 1, 100, &v, "--n", &e), -1, "out of range");
	CHECK_HAS(e.msg, "--n", "message names the option");
	CHECK_INT(stp_parse_long("4x", 1, 100, &v, "--n", &e), -1, "junk");
	CHECK_INT(stp_parse_secs("2.5", 10, &v, "-w", &e), 0, "fractional seconds");
	CHECK_INT(v, 2500, "in ms");
	CHECK_INT(stp_parse_secs("-1", 10, &v, "-w", &e), -1, "negative seconds");
	CHECK_INT(stp_parse_secs("nan", 10, &v, "-w", &e), -1, "nan");
}

int main(void)
{
	hostport();
	conversions();
	noproxy();
	numbers();
	return tap_done();
}
