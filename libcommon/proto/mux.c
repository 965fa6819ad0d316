/* mux.c - MUX frames, TYPE|FLAGS=0|STREAM(4)|LEN(2)|PAYLOAD (PROTOCOL.md §4).
 * Pure functions: no I/O, no malloc.
 *
 * Frames whose payload has a fixed size (WINDOW 4, FIN 0, RST 1, PING and
 * PONG 8) are checked here, so the session code can read those payloads
 * without a length check of its own. */
#include <string.h>
#include "proto/socks.h"

#define ANY_LEN (-1)

/* Payload size a frame type requires, ANY_LEN, or -2 for an unknown type. */
static int mux_fixed_len(uint8_t type)
{
	switch (type) {
	case STP_MUX_OPEN:
	case STP_MUX_REPLY:
	case STP_MUX_DATA:
		return ANY_LEN;
	case STP_MUX_WINDOW:
		return 4;
	case STP_MUX_FIN:
		return 0;
	case STP_MUX_RST:
		return 1;
	case STP_MUX_PING:
	case STP_MUX_PONG:
		return 8;
	default:
		return -2;
	}
}

/* Returns 0 for more, -1 for an unknown TYPE, FLAGS != 0, LEN over 16384 or
 * a LEN the TYPE does not allow. f->payload points into b. */
ssize_t stp_mux_frame_get(const uint8_t *b, size_t n, struct stp_mux_frame *f)
{
	int fixed;
	size_t len;

	if (n < 1)
		return 0;
	fixed = mux_fixed_len(b[0]);
	if (fixed == -2)
		return -1;
	if (n < 2)
		return 0;
	if (b[1] != 0)
		return -1;
	if (n < STP_MUX_HDR)
		return 0;
	len = (size_t)(b[6] << 8 | b[7]);
	if (len > STP_MUX_MAX || (fixed != ANY_LEN && len != (size_t)fixed))
		return -1;
	if (n < STP_MUX_HDR + len)
		return 0;
	f->type = b[0];
	f->stream = (uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 |
		    (uint32_t)b[4] << 8 | b[5];
	f->len = (uint16_t)len;
	f->payload = b + STP_MUX_HDR;
	return (ssize_t)(STP_MUX_HDR + len);
}

/* Returns 0 for an unknown type, a bad len for the type, payload NULL with
 * len > 0, or a short cap. The payload may already sit at out + STP_MUX_HDR
 * (built in place), hence memmove. */
size_t stp_mux_frame_put(uint8_t *out, size_t cap, uint8_t type, uint32_t stream,
			 const uint8_t *payload, uint16_t len)
{
	int fixed = mux_fixed_len(type);

	if (fixed == -2 || (fixed != ANY_LEN && len != fixed) || len > STP_MUX_MAX)
		return 0;
	if ((len && !payload) || cap < STP_MUX_HDR + (size_t)len)
		return 0;
	out[0] = type;
	out[1] = 0;
	out[2] = stream >> 24;
	out[3] = (stream >> 16) & 0xff;
	out[4] = (stream >> 8) & 0xff;
	out[5] = stream & 0xff;
	out[6] = len >> 8;
	out[7] = len & 0xff;
	if (len)
		memmove(out + STP_MUX_HDR, payload, len);
	return STP_MUX_HDR + (size_t)len;
}
