/* proxyproto.h - the PROXY protocol header a load balancer (HAProxy, a cloud
 * LB) puts before a connection's own bytes to name the client it relays
 * (HAProxy's doc/proxy-protocol.txt): version 1, one text line
 *   "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN ...\r\n",
 * and version 2, binary: a 12-byte signature, version/command, family/
 * transport, a 2-byte length, the addresses, then TLVs (skipped here).
 * Pure: bytes in, struct out; no I/O, no allocation. */
#ifndef STP_PROXYPROTO_H
#define STP_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define STP_PP_V1_MAX 107        /* the longest v1 line, CRLF included */
#define STP_PP_V2_HDR 16         /* signature, ver/cmd, fam, length */
/* v2's length may say 65535; a balancer sends addresses and a few TLVs,
 * so more than this is refused rather than buffered */
#define STP_PP_V2_LEN_MAX 4096
#define STP_PP_MAX (STP_PP_V2_HDR + STP_PP_V2_LEN_MAX)

enum stp_pp_cmd {
	STP_PP_LOCAL,   /* v2 LOCAL: the balancer's own connection (a health check) */
	STP_PP_PROXY,   /* relayed for a client (every v1 header) */
};

struct stp_pp_hdr {
	int version;                    /* 1 or 2 */
	enum stp_pp_cmd cmd;
	/* AF_INET or AF_INET6: src and dst are the client's and the address
	 * it connected to (ports included); AF_UNSPEC (v1 UNKNOWN, v2 LOCAL or
	 * UNSPEC) or AF_UNIX: no usable address, keep the connection's own */
	int family;
	struct sockaddr_storage src, dst;
	size_t len;                     /* header bytes, TLVs included */
};

/* Parses the header at the start of buf[0..len) (bytes after it are the
 * connection's own and are not looked at). Returns the header's length
 * (> 0) with *h filled; 0 when buf is a proper beginning of a header and
 * more bytes are needed; -1 when it is not a valid header (or one longer
 * than STP_PP_MAX), with *why a static one-line reason. A valid header
 * cut anywhere returns 0, never -1. */
ssize_t stp_pp_parse(const uint8_t *buf, size_t len, struct stp_pp_hdr *h, const char **why);

#endif
