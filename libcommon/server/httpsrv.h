/* httpsrv.h - the HTTP proxy half of stp-serve's mixed port (SPEC §3.6):
 * a connection whose first byte is not X'04' or X'05' is an HTTP/1.1
 * request. CONNECT becomes the CONNECT command (rules, limits, upstreams,
 * logs as for SOCKS) answered with HTTP; an absolute-form request is
 * forwarded to its origin with its head rewritten. */
#ifndef STP_HTTPSRV_H
#define STP_HTTPSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session;

/* The greeting's first byte was not SOCKS: ss becomes an HTTP session
 * (S_HTTP) and its input is read as a request head. May end ss. */
void http_begin(struct session *ss);
/* One step over ss->in in S_HTTP. Returns 1 (like session.c's step(): the
 * session has moved on, or needs input, and may be gone). */
int http_step(struct session *ss);
/* ss->in is full in S_HTTP: grows it up to the head limit. Returns false
 * when it is at the limit already (the parser then answers 431). */
bool http_grow(struct session *ss);
/* The request failed with SOCKS reply rep: the HTTP answer for it
 * (403, 502, 504, ...), then the connection closes. */
void http_reply_error(struct session *ss, uint8_t rep);
/* The target is connected: the bytes to send before the relay starts (200
 * for CONNECT, nothing for a forwarded request, whose rewritten head is
 * ss->in). Returns their length in b. */
size_t http_relay_reply(struct session *ss, uint8_t *b, size_t cap);
/* This process's name in Via fields ("stp-serve-" and 8 hex digits). */
const char *http_via(void);
/* Answers status with a one-line body before any of an answer went out,
 * logs why, and closes. */
void http_answer_error(struct session *ss, int status, const char *body, const char *why);
/* A forwarded request and its answer are done and the connection is
 * kept, and its origin connection closed: logs and counts the request, and
 * reads the next request from ss->in[from..inlen); hw is how far ss->in
 * was ever written (what is wiped of it). May end ss. */
void http_next(struct session *ss, size_t from, size_t hw);
/* True for a kept-alive connection waiting for its next request with no
 * byte of it yet: its end is neither logged nor counted. */
bool http_idle(const struct session *ss);
/* The handshake timer fired while the head was still coming: 408. */
void http_timeout(struct session *ss);
/* An error answer is written: shut the write side and wait (bounded) for
 * the client's close, so that its unread request bytes cannot turn the
 * close into a reset that discards the answer. */
void http_linger(struct session *ss);

#endif
