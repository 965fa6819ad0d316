/* gssmsg.h - the framing of RFC 1961 (GSS-API authentication for SOCKS5):
 * after the method X'01' is chosen, both sides exchange messages
 *   +------+------+------+.......................+
 *   | ver  | mtyp | len  |       token           |
 *   | X'01'|  1   |  2   |  up to 65535 bytes    |
 * where mtyp is X'01' for context establishment (§3), X'02' for the
 * protection-level subnegotiation (§4), X'03' for an encapsulated message
 * once a protection level other than none holds (§5), and a two-byte
 * X'01' X'FF' (no length, no token) aborts the exchange (§3.5).
 * Pure: bytes in, struct out; no I/O, no allocation. What the tokens mean
 * is GSS-API's business (core/gss*, not here). */
#ifndef STP_GSSMSG_H
#define STP_GSSMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STP_GSS_VER 0x01
#define STP_GSS_HDR 4            /* ver, mtyp, 2-byte length */
#define STP_GSS_ABORT_LEN 2      /* ver, X'FF' */
#define STP_GSS_TOKEN_MAX 65535  /* what the 2-byte length can say */
#define STP_GSS_MSG_MAX (STP_GSS_HDR + STP_GSS_TOKEN_MAX)

enum stp_gss_mtyp {
	STP_GSS_MT_AUTH = 0x01,
	STP_GSS_MT_PROT = 0x02,
	STP_GSS_MT_ENCAP = 0x03,
	STP_GSS_MT_ABORT = 0xFF,
};

/* The protection levels of §4. RFC 1961 defines 1..3; X'00' (no
 * per-message protection) is the convention of Dante and curl, and the
 * only level curl accepts. */
enum stp_gss_level {
	STP_GSS_LEVEL_NONE = 0x00,
	STP_GSS_LEVEL_INTEGRITY = 0x01,
	STP_GSS_LEVEL_CONFIDENTIALITY = 0x02,
	STP_GSS_LEVEL_SELECTIVE = 0x03,
};

struct stp_gss_msg {
	uint8_t mtyp;           /* one of enum stp_gss_mtyp */
	const uint8_t *token;   /* points into the parsed buffer; NULL on abort */
	size_t token_len;
};

/* Parses the message at the start of buf[0..len) (later bytes are not
 * looked at). expect is the message type the state allows; an abort is
 * always allowed. token_max (<= STP_GSS_TOKEN_MAX) bounds the token a
 * caller is willing to hold. Returns the message's length (> 0) with *m
 * filled; 0 when buf is a proper beginning of a valid message and more
 * bytes are needed; -1 when it cannot be one (wrong version, unexpected
 * type, an empty token, a length over token_max), with *why a static
 * one-line reason. A valid message cut anywhere returns 0, never -1. */
ssize_t stp_gss_parse(const uint8_t *buf, size_t len, uint8_t expect, size_t token_max,
		      struct stp_gss_msg *m, const char **why);

/* Writes a message of type mtyp (AUTH, PROT or ENCAP) carrying
 * token[0..token_len) into out[0..cap). Returns its length, or -1 when the
 * token is empty, longer than STP_GSS_TOKEN_MAX, or does not fit. */
ssize_t stp_gss_build(uint8_t *out, size_t cap, uint8_t mtyp, const uint8_t *token, size_t token_len);

/* Writes the two-byte abort message; returns STP_GSS_ABORT_LEN. */
size_t stp_gss_build_abort(uint8_t out[STP_GSS_ABORT_LEN]);

/* "none", "integrity", "confidentiality", "selective" or NULL. */
const char *stp_gss_level_name(int level);
/* The level named by s (the names above), or -1. */
int stp_gss_level_parse(const char *s);

#endif
