/* hint.c - what a wrong answer says about the server (hint.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/hint.h"

/* True when the header block b[0..n) has a line starting with name
 * (case-insensitive), value prefix included ("server: squid"). */
static int has_header(const uint8_t *b, size_t n, const char *name)
{
	size_t k = strlen(name);

	for (size_t i = 0; i + 1 + k <= n; i++)
		if (b[i] == '\n' && strncasecmp((const char *)b + i + 1, name, k) == 0)
			return 1;
	return 0;
}

enum stp_answer stp_answer_kind(const uint8_t *b, size_t n)
{
	if (n >= 1 && b[0] == 5)
		return STP_ANS_SOCKS5;
	if (n >= 2 && b[0] == 0 && b[1] >= 90 && b[1] <= 93)
		return STP_ANS_SOCKS4;
	/* a record of type alert (21) or handshake (22), version 3.x */
	if (n >= 2 && (b[0] == 0x15 || b[0] == 0x16) && b[1] == 3)
		return STP_ANS_TLS;
	if (n >= 4 && memcmp(b, "SSH-", 4) == 0)
		return STP_ANS_SSH;
	if ((n >= 5 && memcmp(b, "HTTP/", 5) == 0) || (n >= 1 && b[0] == '<')) {
		/* a forward proxy says so in its headers; a web server does not */
		if (has_header(b, n, "via:") || has_header(b, n, "proxy-") ||
		    has_header(b, n, "x-squid") || has_header(b, n, "server: squid") ||
		    has_header(b, n, "server: tinyproxy") || (n >= 12 && memcmp(b + 9, "407", 3) == 0))
			return STP_ANS_HTTP_PROXY;
		return STP_ANS_HTTP;
	}
	return STP_ANS_OTHER;
}

int stp_answer_complete(const uint8_t *b, size_t n)
{
	if (n >= 2048)
		return 1;
	if (n >= 5 && memcmp(b, "HTTP/", 5) == 0) {
		for (size_t i = 0; i + 1 < n; i++)
			if (b[i] == '\n' && (b[i + 1] == '\n' ||
					     (b[i + 1] == '\r' && i + 2 < n && b[i + 2] == '\n')))
				return 1;
		return 0;
	}
	if (n >= 1 && (b[0] == '<' || b[0] == 'S' || b[0] == 'H'))
		return memchr(b, '\n', n) != NULL;
	return n >= 2;
}

const char *stp_first_line(const uint8_t *b, size_t n, char *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < cap && k < 60; i++) {
		if (b[i] == '\r' || b[i] == '\n')
			break;
		out[k++] = b[i] >= 0x20 && b[i] < 0x7f ? (char)b[i] : '.';
	}
	out[k] = '\0';
	return out;
}

const char *stp_answer_hint(enum stp_answer k, const uint8_t *b, size_t n,
			    const char *hostport, char *buf, size_t cap)
{
	char line[64];

	stp_first_line(b, n, line, sizeof(line));
	switch (k) {
	case STP_ANS_SOCKS5:
		snprintf(buf, cap, "a SOCKS5 server");
		break;
	case STP_ANS_SOCKS4:
		snprintf(buf, cap, "a SOCKS4 server, not SOCKS5: use socks4://%s or socks4a://%s",
			 hostport, hostport);
		break;
	case STP_ANS_TLS:
		snprintf(buf, cap, "a TLS listener; use socks5hs://%s", hostport);
		break;
	case STP_ANS_HTTP_PROXY:
		snprintf(buf, cap, "an HTTP proxy (it answered '%s'); use http://%s", line, hostport);
		break;
	case STP_ANS_HTTP:
		snprintf(buf, cap, "this is an HTTP server, not a proxy (it answered '%s')", line);
		break;
	case STP_ANS_SSH:
		snprintf(buf, cap, "an SSH server (it answered '%s'); for a SOCKS proxy through it "
			 "run ssh -D", line);
		break;
	case STP_ANS_OTHER:
		snprintf(buf, cap, "it answered %02x %02x ('%s')", n ? b[0] : 0, n > 1 ? b[1] : 0, line);
		break;
	}
	return buf;
}

static const char *const tor_text[] = {
	"onion service descriptor can not be found",
	"onion service descriptor is invalid",
	"onion service introduction failed",
	"onion service rendezvous failed",
	"onion service missing client authorization",
	"onion service wrong client authorization",
	"onion service invalid address",
	"onion service introduction timed out",
};

const char *stp_rep_tor_str(uint8_t rep)
{
	if (rep < 0xF0 || rep > 0xF7)
		return NULL;
	return tor_text[rep - 0xF0];
}
