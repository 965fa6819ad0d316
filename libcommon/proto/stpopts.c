/* stpopts.c - STP option blocks, OPTLEN(2) | { KIND(2) | LEN(2) | VALUE }*
 * (PROTOCOL.md §3, §3.2). Pure functions: no I/O, no malloc.
 *
 * Strictness, and why: a known kind with a VALUE of the wrong size, a known
 * kind given twice (which copy would a rule have looked at?) and text that
 * is not printable ASCII (FEATURES and SERVER end up on terminals) are
 * malformed. Unknown kinds are skipped, so newer peers can add options. */
#include <string.h>
#include "proto/socks.h"

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

/* Returns -1 after storing rep 1 (general failure) when rep is not NULL. */
static int opt_bad(uint8_t *rep)
{
	if (rep)
		*rep = STP_REP_FAIL;
	return -1;
}

/* Largest ATYP|ADDR|PORT: a 255-byte name. */
#define ADDR_WIRE_MAX (1 + 1 + 255 + 2)

/* Decodes an ADDR value (with_port: ADDR|PORT) that must fill exactly len
 * bytes. Returns 0, or -1 with *rep set (8 for an unknown ATYP). */
static int opt_addr_get(const uint8_t *v, size_t len, int with_port,
			struct stp_addr *a, uint8_t *rep)
{
	uint8_t tmp[ADDR_WIRE_MAX];
	ssize_t k;

	if (len == 0)
		return opt_bad(rep);
	if (!with_port) {
		/* SOURCE has no PORT: lend it a zero one so the one
		 * address parser can do the work. */
		if (len > sizeof(tmp) - 2)
			return opt_bad(rep);
		memcpy(tmp, v, len);
		put16(tmp + len, 0);
		v = tmp;
		len += 2;
	}
	k = stp_addr_get(v, len, a, rep);
	if (k < 0)
		return -1;
	if (k == 0 || (size_t)k != len)    /* cut short, or too long */
		return opt_bad(rep);
	return 0;
}

/* Copies printable ASCII into a NUL-terminated field of size cap. Returns 0,
 * or -1 when too long or not printable. */
static int opt_text_get(const uint8_t *v, size_t len, char *out, size_t cap)
{
	size_t i;

	if (len >= cap)
		return -1;
	for (i = 0; i < len; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return -1;
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

/* Decodes one option into o. Returns 0 (also for an unknown kind, which is
 * skipped), or -1 with *rep set. */
static int opt_decode(struct stp_opts *o, unsigned kind, const uint8_t *v,
		      size_t len, uint8_t *rep)
{
	int bad = 0;

	switch (kind) {
	case STP_OPT_TICKET:
	case STP_OPT_TCP_DELIVERY:
	case STP_OPT_SOURCE:
	case STP_OPT_TTL:
	case STP_OPT_DIRECTION:
	case STP_OPT_BACKLOG:
	case STP_OPT_EXPIRY:
	case STP_OPT_ATTACH_AT:
	case STP_OPT_FEATURES:
	case STP_OPT_SERVER:
		break;
	default:
		return 0;
	}
	if (STP_OPT_HAS(o, kind))
		return opt_bad(rep);

	switch (kind) {
	case STP_OPT_TICKET:
		bad = len != STP_TICKET_LEN;
		if (!bad)
			memcpy(o->ticket, v, STP_TICKET_LEN);
		break;
	case STP_OPT_TCP_DELIVERY:
		bad = len != 0;
		break;
	case STP_OPT_SOURCE:
		if (opt_addr_get(v, len, 0, &o->source, rep) < 0)
			return -1;
		break;
	case STP_OPT_TTL:
	case STP_OPT_DIRECTION:
		bad = len != 1;
		if (!bad)
			*(kind == STP_OPT_TTL ? &o->ttl : &o->direction) = v[0];
		break;
	case STP_OPT_BACKLOG:
	case STP_OPT_EXPIRY:
		bad = len != 2;
		if (!bad)
			*(kind == STP_OPT_BACKLOG ? &o->backlog : &o->expiry) = get16(v);
		break;
	case STP_OPT_ATTACH_AT:
		if (opt_addr_get(v, len, 1, &o->attach_at, rep) < 0)
			return -1;
		break;
	case STP_OPT_FEATURES:
		bad = opt_text_get(v, len, o->features, sizeof(o->features)) < 0;
		break;
	case STP_OPT_SERVER:
		bad = opt_text_get(v, len, o->server, sizeof(o->server)) < 0;
		break;
	}
	if (bad)
		return opt_bad(rep);
	o->present |= 1u << kind;
	return 0;
}

/* Returns 0 for more, -1 with *rep = 1 (OPTLEN over 4096, an option past
 * OPTLEN, a bad known option) or 8 (unknown ATYP in SOURCE/ATTACH_AT). */
ssize_t stp_opts_get(const uint8_t *b, size_t n, struct stp_opts *o, uint8_t *rep)
{
	struct stp_opts t;
	size_t optlen, end, off, len;
	unsigned kind;

	if (n < 2)
		return 0;
	optlen = get16(b);
	if (optlen > STP_OPTLEN_MAX)
		return opt_bad(rep);
	end = 2 + optlen;
	if (n < end)
		return 0;

	memset(&t, 0, sizeof(t));
	for (off = 2; off < end; off += len) {
		if (end - off < 4)
			return opt_bad(rep);
		kind = get16(b + off);
		len = get16(b + off + 2);
		off += 4;
		if (len > end - off)
			return opt_bad(rep);
		if (opt_decode(&t, kind, b + off, len, rep) < 0)
			return -1;
	}
	*o = t;
	return (ssize_t)end;
}

/* Appends KIND|LEN|VALUE at out + *off. Returns 0, or -1 when cap is short. */
static int opt_put(uint8_t *out, size_t cap, size_t *off, unsigned kind,
		   const void *v, size_t len)
{
	if (cap - *off < 4 || cap - *off - 4 < len)
		return -1;
	put16(out + *off, (uint16_t)kind);
	put16(out + *off + 2, (uint16_t)len);
	if (len)
		memcpy(out + *off + 4, v, len);
	*off += 4 + len;
	return 0;
}

/* Length of a NUL-terminated printable-ASCII field, or -1 when the field is
 * unterminated or holds anything our own parser would refuse. */
static ssize_t opt_text_len(const char *s, size_t cap)
{
	size_t len = strnlen(s, cap), i;

	if (len == cap)
		return -1;
	for (i = 0; i < len; i++)
		if ((uint8_t)s[i] < 0x20 || (uint8_t)s[i] > 0x7e)
			return -1;
	return (ssize_t)len;
}

/* Appends the option of one kind present in o. Returns 0, or -1 when its
 * value cannot be encoded or cap is short. Kinds without a meaning here are
 * not written. */
static int opt_encode(uint8_t *out, size_t cap, size_t *off,
		      const struct stp_opts *o, unsigned kind)
{
	uint8_t tmp[ADDR_WIRE_MAX];
	size_t k;
	ssize_t t;

	switch (kind) {
	case STP_OPT_TICKET:
		return opt_put(out, cap, off, kind, o->ticket, STP_TICKET_LEN);
	case STP_OPT_TCP_DELIVERY:
		return opt_put(out, cap, off, kind, NULL, 0);
	case STP_OPT_SOURCE:
	case STP_OPT_ATTACH_AT:
		k = stp_addr_put(tmp, sizeof(tmp),
				 kind == STP_OPT_SOURCE ? &o->source : &o->attach_at);
		if (!k)
			return -1;
		/* SOURCE is ATYP|ADDR only: drop the PORT. */
		return opt_put(out, cap, off, kind, tmp,
			       kind == STP_OPT_SOURCE ? k - 2 : k);
	case STP_OPT_TTL:
		return opt_put(out, cap, off, kind, &o->ttl, 1);
	case STP_OPT_DIRECTION:
		return opt_put(out, cap, off, kind, &o->direction, 1);
	case STP_OPT_BACKLOG:
	case STP_OPT_EXPIRY:
		put16(tmp, kind == STP_OPT_BACKLOG ? o->backlog : o->expiry);
		return opt_put(out, cap, off, kind, tmp, 2);
	case STP_OPT_FEATURES:
		t = opt_text_len(o->features, sizeof(o->features));
		return t < 0 ? -1 : opt_put(out, cap, off, kind, o->features, t);
	case STP_OPT_SERVER:
		t = opt_text_len(o->server, sizeof(o->server));
		return t < 0 ? -1 : opt_put(out, cap, off, kind, o->server, t);
	default:
		return 0;
	}
}

/* Returns 0 when an option cannot be encoded or cap is short. Options go out
 * in ascending KIND order; present bits of unknown kinds are ignored. */
size_t stp_opts_put(uint8_t *out, size_t cap, const struct stp_opts *o)
{
	size_t off = 2;
	unsigned kind;

	if (cap < 2)
		return 0;
	for (kind = 0; o && kind < 32; kind++)
		if (STP_OPT_HAS(o, kind) && opt_encode(out, cap, &off, o, kind) < 0)
			return 0;
	/* Cannot happen with today's kinds (their sum is ~1.2 KiB), but the
	 * limit is the peer's, so keep it checked here. */
	if (off - 2 > STP_OPTLEN_MAX)
		return 0;
	put16(out, (uint16_t)(off - 2));
	return off;
}
