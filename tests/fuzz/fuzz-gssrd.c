/* fuzz-gssrd.c - libFuzzer target for the reader of RFC 1961 §5's stream
 * (core/gssprot.h, stp_gssprot_rd_*), which stp-serve (sessprot.c) and
 * the clients (client/gssstream.c) share. The first byte sets the sizes
 * of the pieces the rest arrives in; the rest is the stream. It is fed
 * to two readers: one as the server reads (all the room it is given,
 * messages may arrive together) and one as the clients read (exactly what
 * the message being read still wants). Checks: room and want are never 0,
 * an exact read never passes the message's end, the buffer never grows
 * past a message and a start's worth, and both readers end the same way
 * as the framing parser (proto/gssmsg.h) says: need more (with part of a
 * message held, or nothing held), or refused with the same reason. There
 * is no context: a whole encapsulated message never unwraps. */
#include <gssapi/gssapi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "core/gssprot.h"
#include "proto/gssmsg.h"

#define START 1000

/* Feeds s[0..n) in pieces of 1 + (seed * k) % 97 bytes (k the piece's
 * number) until the reader answers; returns its last stp_gssprot_rd_plain
 * answer, *why its reason. */
static ssize_t feed(struct stp_gssprot_rd *r, const uint8_t *s, size_t n, uint8_t seed,
		    bool exact, const char **why)
{
	size_t off = 0;
	unsigned k = 0;

	for (;;) {
		const uint8_t *p;
		uint8_t *at;
		ssize_t a = stp_gssprot_rd_plain(r, &p, why);
		FUZZ_ASSERT(a <= 0);  /* nothing unwraps without a context */
		if (a < 0 || off == n)
			return a;
		size_t want = stp_gssprot_rd_want(r);
		size_t room = stp_gssprot_rd_room(r, &at, exact);
		FUZZ_ASSERT(want > 0 && room > 0);
		FUZZ_ASSERT(!exact || room == want);
		FUZZ_ASSERT(r->cap <= STP_GSS_MSG_MAX + START);
		size_t piece = 1 + (size_t)(seed * ++k) % 97;
		if (piece > room)
			piece = room;
		if (piece > n - off)
			piece = n - off;
		memcpy(at, s + off, piece);
		stp_gssprot_rd_got(r, piece);
		off += piece;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stp_gssprot_rd srv, cli;
	struct stp_gss_msg m;
	const char *ws = NULL, *wc = NULL, *wp = NULL;
	ssize_t as, ac, ap;

	if (size < 1)
		return 0;
	stp_gssprot_rd_init(&srv, GSS_C_NO_CONTEXT, STP_GSS_LEVEL_INTEGRITY, START);
	stp_gssprot_rd_init(&cli, GSS_C_NO_CONTEXT, STP_GSS_LEVEL_INTEGRITY, START);
	as = feed(&srv, data + 1, size - 1, data[0], false, &ws);
	ac = feed(&cli, data + 1, size - 1, data[0], true, &wc);
	ap = stp_gss_parse(data + 1, size - 1, STP_GSS_MT_ENCAP, STP_GSS_TOKEN_MAX, &m, &wp);
	FUZZ_ASSERT(as == ac);
	if (ap == 0) {
		/* a message not whole yet: held, and an EOF would cut it */
		FUZZ_ASSERT(as == 0);
		FUZZ_ASSERT(stp_gssprot_rd_inside(&srv) == (size > 1));
		FUZZ_ASSERT(stp_gssprot_rd_inside(&cli) == (size > 1));
	} else {
		/* malformed, an abort, or a whole message that cannot unwrap */
		FUZZ_ASSERT(as < 0 && ws && wc && !strcmp(ws, wc));
		if (ap < 0)
			FUZZ_ASSERT(!strcmp(ws, wp));
	}
	stp_gssprot_rd_clear(&srv);
	stp_gssprot_rd_clear(&cli);
	FUZZ_ASSERT(!srv.in && !srv.plain && !cli.in && !cli.plain);
	return 0;
}
