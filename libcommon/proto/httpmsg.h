/* httpmsg.h - the framing of HTTP/1.1 messages a proxy passes on (RFC 9112
 * §6): where a forwarded request's body ends (so that the next request on
 * a kept-alive connection can be read), where an origin's response head
 * ends and its body ends, and the response head as the client gets it
 * (hop-by-hop fields removed, Via added, Connection as the proxy decides).
 * The grammar is http-parser's, as in httpreq.c. Bodies pass unchanged,
 * framing included (Content-Length, chunked): this file only counts them.
 * Pure: bytes in, events and counts out; no I/O, no allocation. */
#ifndef STP_HTTPMSG_H
#define STP_HTTPMSG_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The longest response head taken from an origin: more is 502. */
#define STP_HTTP_RESP_HEAD_MAX 32768

enum stp_http_ev {
	STP_HTTP_EV_NONE,   /* all given bytes were taken; more are needed */
	STP_HTTP_EV_HEAD,   /* the head is whole (see stp_http_msg_feed) */
	STP_HTTP_EV_DONE,   /* the message is whole */
};

/* One message stream in one direction. */
struct stp_http_msg {
	http_parser p;
	bool skip_body;     /* a response to HEAD: no body whatever it says */
	bool head_seen;     /* EV_HEAD was given for the current message */
	bool eof_body;      /* the body runs until the origin's close */
	bool chunked;
	int status;         /* a response's status, once its head is seen */
	int minor;          /* HTTP/1.minor of the message */
	bool keep_alive;    /* http-parser's reading of Connection */
};

/* Starts a stream of requests (request true) or responses. */
void stp_http_msg_init(struct stp_http_msg *m, bool request);

/* Reads buf[0..len) of the stream. Returns the number of bytes taken
 * (0..len) and sets *ev: EV_HEAD when the head ends at byte (returned + 1)
 * of buf (http-parser stops before the head's last LF, which the next call
 * must be given again: callers pass buf + returned next time); EV_DONE
 * when the message ended with the byte before buf + returned (the rest is
 * the next message's); EV_NONE when all was taken. Returns -1 for bytes
 * that are not HTTP, or that switch protocols (the connection must end).
 * After EV_DONE the next call starts the next message. */
ssize_t stp_http_msg_feed(struct stp_http_msg *m, const uint8_t *buf, size_t len,
			  enum stp_http_ev *ev);

/* An origin closed its connection: true when that ends the current
 * response properly (a body delimited by the close, or no message begun). */
bool stp_http_msg_eof_ok(struct stp_http_msg *m);

/* Writes the response head in head[0..len) (whole, as EV_HEAD gave it) as
 * a proxy passes it on: "HTTP/1.1 STATUS REASON", the fields but the
 * hop-by-hop ones (httpreq.h: stp_http_hop_by_hop; Content-Length and
 * Transfer-Encoding stay), "Via: 1.MINOR via", and "Connection: keep-alive"
 * or "Connection: close" (conn 1 or 0; -1: none, for an interim 1xx).
 * Returns the length written into out, or 0 when the head is malformed,
 * over the limits, or does not fit cap. */
size_t stp_http_resp_rewrite(const uint8_t *head, size_t len, const char *via, int conn,
			     uint8_t *out, size_t cap);

#endif
