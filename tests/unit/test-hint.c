/* test-hint.c - what a wrong answer on the proxy's port says about the
 * server, and Tor's extended replies (proto/hint.c). */
#include <string.h>

#include "proto/hint.h"
#include "tap.h"

#define KIND(s) stp_answer_kind((const uint8_t *)(s), sizeof(s) - 1)

int main(void)
{
	char buf[200];
	static const char squid[] = "HTTP/1.1 400 Bad Request\r\nServer: squid/5.7\r\n"
				    "X-Squid-Error: ERR_INVALID_REQ 0\r\n\r\n";
	static const char web[] = "HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n";

	CHECK_INT(KIND("\x05\x00"), STP_ANS_SOCKS5, "SOCKS5 method selection");
	CHECK_INT(KIND("\x00\x5b\x00\x00\x00\x00\x00\x00"), STP_ANS_SOCKS4, "SOCKS4 reply 91");
	CHECK_INT(KIND("\x15\x03\x03\x00\x02\x02\x32"), STP_ANS_TLS, "TLS alert record");
	CHECK_INT(KIND("SSH-2.0-OpenSSH_9.2p1\r\n"), STP_ANS_SSH, "SSH banner");
	CHECK_INT(KIND("<!DOCTYPE HTML>\n<html>"), STP_ANS_HTTP, "HTTP/0.9 error page");
	CHECK_INT(KIND(web), STP_ANS_HTTP, "a web server's 400");
	CHECK_INT(KIND(squid), STP_ANS_HTTP_PROXY, "squid's 400");
	CHECK_INT(KIND("HTTP/1.0 400 Bad Request\r\nServer: tinyproxy/1.11.1\r\n\r\n"),
		  STP_ANS_HTTP_PROXY, "tinyproxy's 400");
	CHECK_INT(KIND("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"), STP_ANS_HTTP_PROXY,
		  "a 407");
	CHECK_INT(KIND("HTTP/1.1 400 Bad Request\r\nVia: 1.1 gw\r\n\r\n"), STP_ANS_HTTP_PROXY,
		  "a Via header");
	CHECK_INT(KIND("220 mail ESMTP\r\n"), STP_ANS_OTHER, "something else");

	CHECK_INT(stp_answer_complete((const uint8_t *)"HTTP/1.1 400 Bad", 16), 0,
		  "HTTP status line without the header's end: more");
	CHECK_INT(stp_answer_complete((const uint8_t *)web, sizeof(web) - 1), 1, "whole HTTP header");
	CHECK_INT(stp_answer_complete((const uint8_t *)"<!DOC", 5), 0, "HTML without a line end: more");
	CHECK_INT(stp_answer_complete((const uint8_t *)"\x15\x03", 2), 1, "binary: 2 bytes do");

	CHECK_STR(stp_answer_hint(STP_ANS_HTTP_PROXY, (const uint8_t *)squid, sizeof(squid) - 1,
				  "10.0.0.1:3128", buf, sizeof(buf)),
		  "an HTTP proxy (it answered 'HTTP/1.1 400 Bad Request'); use http://10.0.0.1:3128",
		  "HTTP proxy hint");
	CHECK_STR(stp_answer_hint(STP_ANS_TLS, (const uint8_t *)"\x15\x03", 2, "h:1", buf, sizeof(buf)),
		  "a TLS listener; use socks5hs://h:1", "TLS hint");
	CHECK_STR(stp_answer_hint(STP_ANS_OTHER, (const uint8_t *)"220 mail\r\n", 10, "h:1", buf,
				  sizeof(buf)), "it answered 32 32 ('220 mail')", "other: bytes and line");

	CHECK_STR(stp_rep_tor_str(0xF0), "onion service descriptor can not be found", "X'F0'");
	CHECK_STR(stp_rep_tor_str(0xF7), "onion service introduction timed out", "X'F7'");
	CHECK(stp_rep_tor_str(0xEF) == NULL, "X'EF' is not Tor's");
	CHECK(stp_rep_tor_str(0xF8) == NULL, "X'F8' is not Tor's");
	CHECK(stp_rep_tor_str(0x01) == NULL, "X'01' is not Tor's");
	return tap_done();
}
