/* test-target.c - a client's target from its operands: HOST PORT,
 * HOST:PORT, [V6]:PORT, service names. */
#include <string.h>

#include "client/target.h"
#include "tap.h"

static int parse(const char *a, const char *b, char *host, uint16_t *port, struct stp_err *e)
{
	char *args[2] = { (char *)a, (char *)b };

	host[0] = '\0';
	*port = 0;
	return stp_target_parse(b ? 2 : 1, args, "tcp", host, 256, port, e);
}

int main(void)
{
	char host[256];
	uint16_t port;
	struct stp_err e;

	CHECK_INT(parse("example.org", "80", host, &port, &e), 0, "HOST PORT");
	CHECK_STR(host, "example.org", "HOST PORT: host");
	CHECK_INT(port, 80, "HOST PORT: port");
	CHECK_INT(parse("example.org", "ssh", host, &port, &e), 0, "service name ssh");
	CHECK_INT(port, 22, "ssh is 22");
	CHECK_INT(parse("example.org:https", NULL, host, &port, &e), 0, "HOST:service");
	CHECK_INT(port, 443, "https is 443");
	CHECK_INT(parse("127.0.0.1:8080", NULL, host, &port, &e), 0, "HOST:PORT");
	CHECK_STR(host, "127.0.0.1", "HOST:PORT host");
	CHECK_INT(port, 8080, "HOST:PORT port");
	CHECK_INT(parse("[::1]", "22", host, &port, &e), 0, "[V6] PORT");
	CHECK_STR(host, "::1", "[V6] PORT: brackets removed");
	CHECK_INT(parse("::1", "22", host, &port, &e), 0, "bare V6 PORT");
	CHECK_STR(host, "::1", "bare V6 host");
	CHECK_INT(parse("[::1]:22", NULL, host, &port, &e), 0, "[V6]:PORT");
	CHECK_STR(host, "::1", "[V6]:PORT host");
	CHECK_INT(port, 22, "[V6]:PORT port");
	CHECK_INT(parse("[fe80::1%lo]:ssh", NULL, host, &port, &e), 0, "[V6 with zone]:service");
	CHECK_STR(host, "fe80::1%lo", "zone kept");

	CHECK_INT(parse("example.org", "0", host, &port, &e), -1, "port 0 refused");
	CHECK_INT(e.code, STP_EXIT_USAGE, "usage error");
	CHECK_STR(e.msg, "bad port '0' (a number 1-65535 or a service name such as ssh)", "port 0 message");
	CHECK_INT(parse("example.org", "nosuchservice-x", host, &port, &e), -1, "unknown service");
	CHECK_STR(e.msg, "bad port 'nosuchservice-x' (a number 1-65535 or a service name such as ssh)",
		  "unknown service message");
	CHECK_INT(parse("example.org", "65536", host, &port, &e), -1, "65536 refused");
	CHECK_INT(parse("example.org", NULL, host, &port, &e), -1, "one operand without port");
	CHECK_STR(e.msg, "missing PORT after HOST 'example.org' (write HOST PORT or HOST:PORT)",
		  "missing port message");
	CHECK_INT(parse("[::1]", NULL, host, &port, &e), -1, "[V6] alone");
	CHECK_STR(e.msg, "missing PORT after HOST '[::1]' (write [V6]:PORT or HOST PORT)",
		  "[V6] alone message");
	CHECK_INT(parse("::1:22", NULL, host, &port, &e), -1, "bare V6 with port");
	CHECK_STR(e.msg, "'::1:22': an IPv6 address with a port goes in brackets: [V6]:PORT",
		  "brackets hint");
	CHECK_INT(parse("[::1:22", NULL, host, &port, &e), -1, "unclosed bracket");
	CHECK_STR(e.msg, "unclosed '[' in '[::1:22'", "unclosed message");
	CHECK_INT(parse("[::1", "22", host, &port, &e), -1, "unclosed bracket, two operands");
	CHECK_INT(parse(":22", NULL, host, &port, &e), -1, "empty host");
	CHECK_INT(parse("[]:22", NULL, host, &port, &e), -1, "empty brackets");
	CHECK_INT(parse("h:", NULL, host, &port, &e), -1, "empty port");
	return tap_done();
}
