/* socks.h - the pure protocol codec: SOCKS5 (RFC 1928), username/password
 * (RFC 1929), SOCKS4/4a, Tor's RESOLVE commands and STP option blocks
 * (PROTOCOL.md §1-3). No I/O, no DNS, no malloc.
 *
 * Every parser takes (buf, len) and returns
 *   > 0  bytes consumed; the struct is filled,
 *   0    need more bytes (nothing is filled; call again with more),
 *   < 0  malformed; where the protocol has a reply for it, *rep holds it.
 * Input may arrive split at any byte and several messages may be in one
 * buffer: a parser consumes exactly one message.
 *
 * Every builder writes into (out, cap) and returns the length written, or 0
 * when cap is too small or an argument is out of range. */
#ifndef STP_SOCKS_H
#define STP_SOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* --- addresses ------------------------------------------------------------ */
enum { STP_ATYP_IPV4 = 1, STP_ATYP_NAME = 3, STP_ATYP_IPV6 = 4 };

/* A SOCKS address plus port. For names, name is NUL-terminated and
 * namelen is its length (1..255); names never contain NUL. */
struct stp_addr {
	uint8_t atyp;
	uint8_t namelen;
	uint16_t port;           /* host byte order */
	union {
		uint8_t v4[4];
		uint8_t v6[16];
		char name[256];
	} u;
};

/* Encoded size of ADDR+PORT for a, or 0 if atyp is invalid. */
size_t stp_addr_wire_len(const struct stp_addr *a);
/* Writes ATYP|ADDR|PORT; returns length or 0. */
size_t stp_addr_put(uint8_t *out, size_t cap, const struct stp_addr *a);
/* Parses ATYP|ADDR|PORT. rep = 8 for an unknown ATYP; a zero-length name is
 * malformed (rep 1). */
ssize_t stp_addr_get(const uint8_t *b, size_t n, struct stp_addr *a, uint8_t *rep);

/* --- SOCKS5 constants ----------------------------------------------------- */
enum {
	STP_METHOD_NONE = 0x00,
	STP_METHOD_GSSAPI = 0x01,
	STP_METHOD_USERPASS = 0x02,
	STP_METHOD_NOACCEPT = 0xFF,
};

enum {
	STP_CMD_CONNECT = 0x01,
	STP_CMD_BIND = 0x02,
	STP_CMD_UDP = 0x03,
	STP_CMD_RESOLVE = 0xF0,
	STP_CMD_RESOLVE_PTR = 0xF1,
	STP_CMD_FEATURES = 0xD0,
	STP_CMD_BIND_MULTI = 0xD1,
	STP_CMD_ATTACH = 0xD2,
	STP_CMD_UDP_BIND = 0xD3,
	STP_CMD_MCAST = 0xD4,
	STP_CMD_DNS = 0xD5,
	STP_CMD_MUX = 0xD6,
	STP_CMD_UDP_TCP = 0xD7,
	STP_CMD_CONFIG = 0xD8,
};
/* STP commands (X'D0'-X'DF') carry an OPTLEN|OPTIONS block after the
 * request and after each reply. */
#define STP_CMD_IS_STP(c) ((c) >= 0xD0 && (c) <= 0xDF)

enum {
	STP_REP_OK = 0x00,
	STP_REP_FAIL = 0x01,
	STP_REP_NOT_ALLOWED = 0x02,
	STP_REP_NET_UNREACH = 0x03,
	STP_REP_HOST_UNREACH = 0x04,
	STP_REP_REFUSED = 0x05,
	STP_REP_TTL = 0x06,
	STP_REP_CMD_UNSUPPORTED = 0x07,
	STP_REP_ATYP_UNSUPPORTED = 0x08,
	STP_REP_BAD_TICKET = 0xC0,
	STP_REP_LIMIT = 0xC1,
	STP_REP_MCAST_DENIED = 0xC2,
	STP_REP_POLICY = 0xC3,
	STP_REP_FOREIGN_TICKET = 0xC4,
	STP_REP_IN_USE = 0xC5,
};

/* Human text for a SOCKS5/STP reply code ("connection refused"). Never NULL. */
const char *stp_rep_str(uint8_t rep);
/* The code as messages write it: RFC 1928's X'00'-X'08' as "5", every other
 * (STP's X'C0'-X'C5', unknown ones) as "X'C3'" (never "195"), so that a
 * message names the code the way the man pages do. Returns buf. */
#define STP_REP_CODE_MAX 8
const char *stp_rep_code(uint8_t rep, char buf[STP_REP_CODE_MAX]);
/* SOCKS5 reply code for a connect()/socket errno (ECONNREFUSED -> 5 ...). */
uint8_t stp_rep_from_errno(int err);
/* Exit code of SPEC §2.3 for a refusal with reply rep (10+rep; C2-C4 -> 12;
 * other STP replies -> 11; 7 -> 7). */
int stp_rep_exit(uint8_t rep);

/* --- STP option blocks ---------------------------------------------------- */
enum {
	STP_OPT_TICKET = 1,
	STP_OPT_TCP_DELIVERY = 2,
	STP_OPT_SOURCE = 3,
	STP_OPT_TTL = 4,
	STP_OPT_DIRECTION = 5,
	STP_OPT_BACKLOG = 6,
	STP_OPT_EXPIRY = 7,
	STP_OPT_ATTACH_AT = 8,
	STP_OPT_FEATURES = 16,
	STP_OPT_SERVER = 17,
};
#define STP_OPTLEN_MAX 4096

/* Text of "HOST:PORT" or "[V6]:PORT": a 255-byte name, brackets, colon,
 * five digits and the NUL are 264 bytes; rounded up. */
#define STP_HOSTPORT_MAX 300
/* A request's reply as sent before any STP options: VER REP RSV ATYP, a
 * 255-byte name, PORT and an empty options block are 264 bytes. */
#define STP_REPLY_MAX 300
#define STP_TICKET_LEN 16

/* Known options, decoded. `present` has bit (1u << KIND) set for each kind
 * seen (kinds < 32); unknown kinds are skipped. A known kind with a wrong
 * VALUE length is malformed. */
struct stp_opts {
	uint32_t present;
	uint8_t ticket[STP_TICKET_LEN];
	struct stp_addr source;    /* SOURCE: ATYP+ADDR, port 0 */
	uint8_t ttl;
	uint8_t direction;
	uint16_t backlog;
	uint16_t expiry;
	struct stp_addr attach_at; /* ATTACH_AT: ADDR+PORT */
	char features[512];        /* NUL-terminated; longer values are malformed */
	char server[128];          /* NUL-terminated; longer values are malformed */
};
#define STP_OPT_HAS(o, kind) (((o)->present >> (kind)) & 1u)

/* Parses OPTLEN|OPTIONS. OPTLEN > 4096 or an option running past OPTLEN is
 * malformed (rep 1). */
ssize_t stp_opts_get(const uint8_t *b, size_t n, struct stp_opts *o, uint8_t *rep);
/* Writes OPTLEN|OPTIONS for every kind present in o (NULL: an empty block). */
size_t stp_opts_put(uint8_t *out, size_t cap, const struct stp_opts *o);

/* --- SOCKS5 greeting and method selection ----------------------------------- */
struct stp5_greeting {
	uint8_t nmethods;
	uint8_t methods[255];
};
/* Client greeting VER=5|NMETHODS|METHODS. NMETHODS=0 or VER!=5: malformed. */
ssize_t stp5_greeting_get(const uint8_t *b, size_t n, struct stp5_greeting *g);
size_t stp5_greeting_put(uint8_t *out, size_t cap, const uint8_t *methods, size_t nmethods);
/* Server's choice VER=5|METHOD. */
ssize_t stp5_method_get(const uint8_t *b, size_t n, uint8_t *method);
size_t stp5_method_put(uint8_t *out, size_t cap, uint8_t method);

/* --- RFC 1929 --------------------------------------------------------------- */
struct stp_userpass {
	uint8_t ulen, plen;
	char user[256];   /* NUL-terminated */
	char pass[256];   /* NUL-terminated; wipe after use */
};
/* VER=1|ULEN|UNAME|PLEN|PASSWD; ULEN or PLEN 0, or VER!=1: malformed. */
ssize_t stp_userpass_get(const uint8_t *b, size_t n, struct stp_userpass *up);
size_t stp_userpass_put(uint8_t *out, size_t cap, const char *user, const char *pass);
/* VER=1|STATUS */
ssize_t stp_userpass_status_get(const uint8_t *b, size_t n, uint8_t *status);
size_t stp_userpass_status_put(uint8_t *out, size_t cap, uint8_t status);

/* --- SOCKS5 requests and replies ----------------------------------------- */
/* VER=5|CMD|RSV|DST.ADDR|DST.PORT, plus OPTLEN|OPTIONS when CMD is an STP
 * command. Used for both requests (addr = DST) and replies (code = REP,
 * addr = BND). VER!=5 is malformed (rep 1); an unknown ATYP gives rep 8.
 * The parser does not judge CMD: unknown commands parse fine, and the
 * server answers them with reply 7. */
struct stp5_msg {
	uint8_t code;          /* CMD in a request, REP in a reply */
	struct stp_addr addr;
	int has_opts;          /* the OPTLEN block was present */
	struct stp_opts opts;
};
/* stp_cmd: the request's command, which tells whether the reply carries
 * options (replies do not repeat it). Pass the CMD being answered. */
ssize_t stp5_request_get(const uint8_t *b, size_t n, struct stp5_msg *m, uint8_t *rep);
ssize_t stp5_reply_get(const uint8_t *b, size_t n, uint8_t stp_cmd, struct stp5_msg *m);
/* Writes a request (opts used iff STP_CMD_IS_STP(cmd); NULL = empty block). */
size_t stp5_request_put(uint8_t *out, size_t cap, uint8_t cmd,
			const struct stp_addr *dst, const struct stp_opts *opts);
/* Writes a reply; options block iff STP_CMD_IS_STP(stp_cmd). bnd NULL means
 * 0.0.0.0:0. */
size_t stp5_reply_put(uint8_t *out, size_t cap, uint8_t stp_cmd, uint8_t rep,
		      const struct stp_addr *bnd, const struct stp_opts *opts);

/* --- UDP datagram header (PROTOCOL.md §1) ----------------------------------- */
struct stp_udp_hdr {
	uint8_t frag;
	struct stp_addr addr;
};
/* RSV(2)|FRAG|ADDR|PORT; returns header length (DATA follows), 0 if the
 * datagram is too short to hold a header, < 0 malformed. */
ssize_t stp_udp_hdr_get(const uint8_t *b, size_t n, struct stp_udp_hdr *h);
size_t stp_udp_hdr_put(uint8_t *out, size_t cap, const struct stp_addr *a);

/* --- SOCKS4 / SOCKS4a --------------------------------------------------------- */
enum { STP4_CONNECT = 1, STP4_BIND = 2 };
enum { STP4_GRANTED = 90, STP4_REJECTED = 91, STP4_IDENTD = 92, STP4_IDENTD_MISMATCH = 93 };
struct stp4_request {
	uint8_t cmd;
	struct stp_addr addr;   /* IPv4, or a name for 4a */
	char userid[256];       /* NUL-terminated */
};
/* VN=4|CD|PORT|IP|USERID NUL [HOSTNAME NUL]; USERID or HOSTNAME over 255
 * bytes, or an empty 4a hostname: malformed. */
ssize_t stp4_request_get(const uint8_t *b, size_t n, struct stp4_request *r);
/* addr IPv4 (SOCKS4) or a name (SOCKS4a: DSTIP 0.0.0.1). */
size_t stp4_request_put(uint8_t *out, size_t cap, uint8_t cmd,
			const struct stp_addr *dst, const char *userid);
/* VN=0|CD|PORT|IP (8 bytes). VN!=0 is malformed. addr gets IPv4 + port. */
ssize_t stp4_reply_get(const uint8_t *b, size_t n, uint8_t *cd, struct stp_addr *addr);
size_t stp4_reply_put(uint8_t *out, size_t cap, uint8_t cd, const struct stp_addr *addr);

/* --- MUX frames (PROTOCOL.md §4) -------------------------------------------- */
#define STP_MUX_HDR 8
#define STP_MUX_MAX 16384
enum { STP_MUX_OPEN = 1, STP_MUX_REPLY, STP_MUX_DATA, STP_MUX_WINDOW,
       STP_MUX_FIN, STP_MUX_RST, STP_MUX_PING, STP_MUX_PONG };
struct stp_mux_frame {
	uint8_t type;
	uint32_t stream;
	uint16_t len;
	const uint8_t *payload;  /* points into the input buffer */
};
/* TYPE|FLAGS=0|STREAM|LEN|PAYLOAD; FLAGS!=0, unknown TYPE or LEN>16384:
 * malformed. */
ssize_t stp_mux_frame_get(const uint8_t *b, size_t n, struct stp_mux_frame *f);
size_t stp_mux_frame_put(uint8_t *out, size_t cap, uint8_t type, uint32_t stream,
			 const uint8_t *payload, uint16_t len);

#endif
