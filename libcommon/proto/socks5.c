/* socks5.c - SOCKS5 codec (RFC 1928, RFC 1929, Tor RESOLVE, STP framing;
 * PROTOCOL.md §1 and §3). Pure functions: no I/O, no malloc.
 *
 * Parsers decode into a local copy and store it only when the whole message
 * is there, so "need more" (0) never leaves a half-filled struct behind.
 * Malformed input is reported as soon as the bytes seen prove it, so a
 * server can answer a bad VER or ATYP without waiting for more. */
#include <string.h>
#include "proto/socks.h"

#define SOCKS5_VER 5
#define USERPASS_VER 1

/* Network-order 16 bits; the caller has checked that 2 bytes are there. */
static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* Never fails; the caller has checked the room. */
static void put16(uint8_t *b, uint16_t v)
{
	b[0] = v >> 8;
	b[1] = v & 0xff;
}

/* Returns -1 after storing the reply code for the caller (rep may be NULL). */
static ssize_t malformed(uint8_t *rep, uint8_t code)
{
	if (rep)
		*rep = code;
	return -1;
}

/* --- addresses ------------------------------------------------------------ */

/* Returns the length of ATYP|ADDR (no port), or 0 when a cannot be encoded:
 * unknown ATYP, an empty name, or a NUL inside the name (the peer's parser
 * would reject it, so we never send one). */
static size_t addr_body_len(const struct stp_addr *a)
{
	switch (a->atyp) {
	case STP_ATYP_IPV4:
		return 1 + 4;
	case STP_ATYP_IPV6:
		return 1 + 16;
	case STP_ATYP_NAME:
		if (a->namelen == 0 || memchr(a->u.name, 0, a->namelen))
			return 0;
		return 1 + 1 + a->namelen;
	default:
		return 0;
	}
}

/* Returns 0 for an address that cannot be encoded. */
size_t stp_addr_wire_len(const struct stp_addr *a)
{
	size_t k = a ? addr_body_len(a) : 0;

	return k ? k + 2 : 0;
}

/* Returns 0 when a cannot be encoded or cap is too small. */
size_t stp_addr_put(uint8_t *out, size_t cap, const struct stp_addr *a)
{
	size_t len = stp_addr_wire_len(a);

	if (!len || cap < len)
		return 0;
	out[0] = a->atyp;
	switch (a->atyp) {
	case STP_ATYP_IPV4:
		memcpy(out + 1, a->u.v4, 4);
		break;
	case STP_ATYP_IPV6:
		memcpy(out + 1, a->u.v6, 16);
		break;
	default:
		out[1] = a->namelen;
		memcpy(out + 2, a->u.name, a->namelen);
		break;
	}
	put16(out + len - 2, a->port);
	return len;
}

/* Returns 0 for more, -1 with *rep = 8 (unknown ATYP) or 1 (empty name, NUL
 * in the name). */
ssize_t stp_addr_get(const uint8_t *b, size_t n, struct stp_addr *a, uint8_t *rep)
{
	struct stp_addr t;
	size_t len, have;

	if (n < 1)
		return 0;
	switch (b[0]) {
	case STP_ATYP_IPV4:
		len = 1 + 4 + 2;
		break;
	case STP_ATYP_IPV6:
		len = 1 + 16 + 2;
		break;
	case STP_ATYP_NAME:
		if (n < 2)
			return 0;
		if (b[1] == 0)
			return malformed(rep, STP_REP_FAIL);
		/* A name is a C string for everyone after us: an embedded
		 * NUL would make "good.example\0evil" pass a rule for the
		 * first half. */
		have = n - 2 < b[1] ? n - 2 : b[1];
		if (memchr(b + 2, 0, have))
			return malformed(rep, STP_REP_FAIL);
		len = 1 + 1 + b[1] + 2;
		break;
	default:
		return malformed(rep, STP_REP_ATYP_UNSUPPORTED);
	}
	if (n < len)
		return 0;

	memset(&t, 0, sizeof(t));
	t.atyp = b[0];
	switch (t.atyp) {
	case STP_ATYP_IPV4:
		memcpy(t.u.v4, b + 1, 4);
		break;
	case STP_ATYP_IPV6:
		memcpy(t.u.v6, b + 1, 16);
		break;
	default:
		t.namelen = b[1];
		memcpy(t.u.name, b + 2, t.namelen);
		break;
	}
	t.port = get16(b + len - 2);
	*a = t;
	return (ssize_t)len;
}

/* --- greeting and method selection ----------------------------------------- */

/* Returns 0 for more, -1 for VER != 5 or NMETHODS 0. */
ssize_t stp5_greeting_get(const uint8_t *b, size_t n, struct stp5_greeting *g)
{
	size_t len;

	if (n < 1)
		return 0;
	if (b[0] != SOCKS5_VER)
		return -1;
	if (n < 2)
		return 0;
	if (b[1] == 0)
		return -1;
	len = 2 + (size_t)b[1];
	if (n < len)
		return 0;
	memset(g, 0, sizeof(*g));
	g->nmethods = b[1];
	memcpy(g->methods, b + 2, g->nmethods);
	return (ssize_t)len;
}

/* Returns 0 for nmethods outside 1..255 or a short cap. */
size_t stp5_greeting_put(uint8_t *out, size_t cap, const uint8_t *methods, size_t nmethods)
{
	if (!methods || nmethods < 1 || nmethods > 255 || cap < 2 + nmethods)
		return 0;
	out[0] = SOCKS5_VER;
	out[1] = (uint8_t)nmethods;
	memcpy(out + 2, methods, nmethods);
	return 2 + nmethods;
}

/* The two-byte messages VER|VALUE (method selection, RFC 1929 status):
 * 0 for more, -1 for another VER, else 2 with *v set. */
static ssize_t pair_get(const uint8_t *b, size_t n, uint8_t ver, uint8_t *v)
{
	if (n < 1)
		return 0;
	if (b[0] != ver)
		return -1;
	if (n < 2)
		return 0;
	*v = b[1];
	return 2;
}

/* Writes VER|VALUE; 0 for a short cap. */
static size_t pair_put(uint8_t *out, size_t cap, uint8_t ver, uint8_t v)
{
	if (cap < 2)
		return 0;
	out[0] = ver;
	out[1] = v;
	return 2;
}

/* Returns 0 for more, -1 for VER != 5. */
ssize_t stp5_method_get(const uint8_t *b, size_t n, uint8_t *method)
{
	return pair_get(b, n, SOCKS5_VER, method);
}

/* Returns 0 for a short cap. */
size_t stp5_method_put(uint8_t *out, size_t cap, uint8_t method)
{
	return pair_put(out, cap, SOCKS5_VER, method);
}

/* --- RFC 1929 --------------------------------------------------------------- */

/* Returns 0 for more, -1 when the field is empty or holds a NUL. The NUL
 * check matters: user and pass are C strings from here on, and "alice\0x"
 * must not authenticate as "alice". */
static ssize_t lenstr_check(const uint8_t *b, size_t n)
{
	size_t have;

	if (n < 1)
		return 0;
	if (b[0] == 0)
		return -1;
	have = n - 1 < b[0] ? n - 1 : b[0];
	if (memchr(b + 1, 0, have))
		return -1;
	return n - 1 < b[0] ? 0 : 1 + (ssize_t)b[0];
}

/* Returns 0 for more, -1 for VER != 1, an empty or NUL-holding field. */
ssize_t stp_userpass_get(const uint8_t *b, size_t n, struct stp_userpass *up)
{
	ssize_t ku, kp;

	if (n < 1)
		return 0;
	if (b[0] != USERPASS_VER)
		return -1;
	ku = lenstr_check(b + 1, n - 1);
	if (ku <= 0)
		return ku;
	kp = lenstr_check(b + 1 + ku, n - 1 - ku);
	if (kp <= 0)
		return kp;
	/* Copied straight into *up: a local copy would be one more place
	 * holding the password to wipe. */
	memset(up, 0, sizeof(*up));
	up->ulen = b[1];
	memcpy(up->user, b + 2, up->ulen);
	up->plen = b[1 + ku];
	memcpy(up->pass, b + 2 + ku, up->plen);
	return 1 + ku + kp;
}

/* Returns 0 when user or pass is NULL, empty or over 255 bytes, or cap is
 * too small. */
size_t stp_userpass_put(uint8_t *out, size_t cap, const char *user, const char *pass)
{
	size_t ul, pl;

	if (!user || !pass)
		return 0;
	ul = strnlen(user, 256);
	pl = strnlen(pass, 256);
	if (ul < 1 || ul > 255 || pl < 1 || pl > 255 || cap < 3 + ul + pl)
		return 0;
	out[0] = USERPASS_VER;
	out[1] = (uint8_t)ul;
	memcpy(out + 2, user, ul);
	out[2 + ul] = (uint8_t)pl;
	memcpy(out + 3 + ul, pass, pl);
	return 3 + ul + pl;
}

/* Returns 0 for more, -1 for VER != 1. */
ssize_t stp_userpass_status_get(const uint8_t *b, size_t n, uint8_t *status)
{
	return pair_get(b, n, USERPASS_VER, status);
}

/* Returns 0 for a short cap. */
size_t stp_userpass_status_put(uint8_t *out, size_t cap, uint8_t status)
{
	return pair_put(out, cap, USERPASS_VER, status);
}

/* --- requests and replies ----------------------------------------------------- */

/* Parses VER|CODE|RSV|ADDR|PORT[|OPTLEN|OPTIONS]; with_opts < 0 means "decide
 * from CODE" (requests). RSV is not checked: RFC 1928 only tells senders to
 * zero it. Returns 0 for more, -1 with *rep set when malformed. */
static ssize_t msg_get(const uint8_t *b, size_t n, int with_opts,
		       struct stp5_msg *m, uint8_t *rep)
{
	struct stp5_msg t;
	ssize_t k;
	size_t off;

	if (n < 1)
		return 0;
	if (b[0] != SOCKS5_VER)
		return malformed(rep, STP_REP_FAIL);
	if (n < 3)
		return 0;
	memset(&t, 0, sizeof(t));
	t.code = b[1];
	k = stp_addr_get(b + 3, n - 3, &t.addr, rep);
	if (k <= 0)
		return k;
	off = 3 + (size_t)k;
	if (with_opts < 0)
		with_opts = STP_CMD_IS_STP(t.code);
	if (with_opts) {
		k = stp_opts_get(b + off, n - off, &t.opts, rep);
		if (k <= 0)
			return k;
		off += (size_t)k;
		t.has_opts = 1;
	}
	*m = t;
	return (ssize_t)off;
}

/* Returns 0 for more, -1 with *rep = 1 (bad VER, bad name or options) or 8
 * (unknown ATYP). */
ssize_t stp5_request_get(const uint8_t *b, size_t n, struct stp5_msg *m, uint8_t *rep)
{
	return msg_get(b, n, -1, m, rep);
}

/* Returns 0 for more, -1 when malformed. */
ssize_t stp5_reply_get(const uint8_t *b, size_t n, uint8_t stp_cmd, struct stp5_msg *m)
{
	return msg_get(b, n, STP_CMD_IS_STP(stp_cmd), m, NULL);
}

static const struct stp_addr addr_zero = { .atyp = STP_ATYP_IPV4 };

/* Returns 0 when an address or option cannot be encoded or cap is short. */
static size_t msg_put(uint8_t *out, size_t cap, uint8_t code, const struct stp_addr *a,
		      int with_opts, const struct stp_opts *opts)
{
	size_t k, off;

	if (cap < 3)
		return 0;
	out[0] = SOCKS5_VER;
	out[1] = code;
	out[2] = 0;
	k = stp_addr_put(out + 3, cap - 3, a ? a : &addr_zero);
	if (!k)
		return 0;
	off = 3 + k;
	if (with_opts) {
		k = stp_opts_put(out + off, cap - off, opts);
		if (!k)
			return 0;
		off += k;
	}
	return off;
}

/* Returns 0 when dst or opts cannot be encoded or cap is short; dst NULL
 * means 0.0.0.0:0 (FEATURES, DNS, MUX ... send that). */
size_t stp5_request_put(uint8_t *out, size_t cap, uint8_t cmd,
			const struct stp_addr *dst, const struct stp_opts *opts)
{
	return msg_put(out, cap, cmd, dst, STP_CMD_IS_STP(cmd), opts);
}

/* Returns 0 when bnd or opts cannot be encoded or cap is short. */
size_t stp5_reply_put(uint8_t *out, size_t cap, uint8_t stp_cmd, uint8_t rep,
		      const struct stp_addr *bnd, const struct stp_opts *opts)
{
	return msg_put(out, cap, rep, bnd, STP_CMD_IS_STP(stp_cmd), opts);
}

/* --- UDP datagram header ------------------------------------------------------ */

/* Returns 0 when the datagram is too short for a header, -1 for a bad ATYP or
 * name. FRAG is reported, not judged: the relay drops FRAG != 0 itself. */
ssize_t stp_udp_hdr_get(const uint8_t *b, size_t n, struct stp_udp_hdr *h)
{
	struct stp_addr a;
	ssize_t k;

	if (n < 3)
		return 0;
	k = stp_addr_get(b + 3, n - 3, &a, NULL);
	if (k <= 0)
		return k;
	h->frag = b[2];
	h->addr = a;
	return 3 + k;
}

/* Returns 0 when a cannot be encoded or cap is short. Always FRAG 0. */
size_t stp_udp_hdr_put(uint8_t *out, size_t cap, const struct stp_addr *a)
{
	size_t k;

	if (cap < 3)
		return 0;
	out[0] = 0;
	out[1] = 0;
	out[2] = 0;
	k = stp_addr_put(out + 3, cap - 3, a);
	return k ? 3 + k : 0;
}
