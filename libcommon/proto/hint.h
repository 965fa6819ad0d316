/* hint.h - what a wrong answer says about the server on the proxy's port,
 * and what the user should do about it (the hints of stp-probe, shared
 * with every client): a TLS listener ("use socks5hs://"), an HTTP server
 * or proxy ("use http://"), an SSH server, a SOCKS4 server; and the
 * extended replies X'F0'-X'F7' only Tor sends. Pure: the caller brings the
 * bytes. */
#ifndef STP_HINT_H
#define STP_HINT_H

#include <stddef.h>
#include <stdint.h>

enum stp_answer {
	STP_ANS_SOCKS5,      /* VER 5: a SOCKS5 server */
	STP_ANS_SOCKS4,      /* VN 0 and CD 90-93: a SOCKS4 server */
	STP_ANS_TLS,         /* a TLS record (an alert): a TLS listener */
	STP_ANS_HTTP,        /* "HTTP/" or an HTML page: an HTTP server */
	STP_ANS_HTTP_PROXY,  /* the same with the headers of a proxy (Via, Proxy-*, squid) */
	STP_ANS_SSH,         /* "SSH-": an SSH server's banner */
	STP_ANS_OTHER,
};

/* Classifies the first n (> 0) bytes a server sent on the proxy's port. */
enum stp_answer stp_answer_kind(const uint8_t *b, size_t n);

/* Whether n bytes are enough to judge: a whole HTTP header (or 2 KiB),
 * a line, or a binary answer of at least 2 bytes. */
int stp_answer_complete(const uint8_t *b, size_t n);

/* The first line of what a server said (b, n), made printable, at most 60
 * bytes, into out (cap bytes). Returns out. */
const char *stp_first_line(const uint8_t *b, size_t n, char *out, size_t cap);

/* One line for the user naming what answered, quoting its first line, and
 * what to do, after "not a SOCKS server: " ("an HTTP proxy (it answered 'HTTP/1.0
 * 400 Bad Request'); use http://HOST:PORT"). hostport names the proxy.
 * Returns buf. */
const char *stp_answer_hint(enum stp_answer k, const uint8_t *b, size_t n,
			    const char *hostport, char *buf, size_t cap);

/* Tor's extended SOCKS5 error (X'F0'-X'F7', Tor's ExtendedErrors) as text,
 * or NULL for any other code. */
const char *stp_rep_tor_str(uint8_t rep);

#endif
