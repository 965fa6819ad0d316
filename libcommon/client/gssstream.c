/* gssstream.c - per-message protection (RFC 1961 §5), client side, on
 * core/gssprot.h's reader. */
#include <stdlib.h>
#include <string.h>

#include "client/gssstream.h"
#include "client/gsserr.h"

ssize_t stp_gss_wrap_msg(gss_ctx_id_t ctx, int level, const void *p, size_t n, uint8_t *out,
			 size_t cap, struct stp_err *e)
{
	gss_buffer_desc in = { n, (void *)p }, tok = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min, rel;
	int conf = 0;
	ssize_t k;

	maj = gss_wrap(&min, ctx, level == STP_GSS_LEVEL_CONFIDENTIALITY, GSS_C_QOP_DEFAULT, &in,
		       &conf, &tok);
	if (GSS_ERROR(maj))
		return stp_gss_err(e, STP_EXIT_FAIL, maj, min, "gss_wrap");
	if (level == STP_GSS_LEVEL_CONFIDENTIALITY && !conf) {
		gss_release_buffer(&rel, &tok);
		return stp_err_set(e, STP_EXIT_FAIL, "GSS-API: the context cannot encrypt "
				   "(confidentiality was negotiated)");
	}
	k = stp_gss_build(out, cap, STP_GSS_MT_ENCAP, tok.value, tok.length);
	gss_release_buffer(&rel, &tok);
	if (k < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "GSS-API: a wrapped message does not fit");
	return k;
}

struct stp_gss_stream *stp_gss_stream_new(gss_ctx_id_t ctx, int level)
{
	struct stp_gss_stream *s = malloc(sizeof(*s));

	if (!s)
		return NULL;
	s->ctx = ctx;
	s->level = level;
	/* the proxy's messages are of stp-serve's size, or grow to theirs */
	stp_gssprot_rd_init(&s->rd, ctx, level, STP_GSS_HDR + STP_GSS_CHUNK + 256);
	return s;
}

void stp_gss_stream_free(struct stp_gss_stream *s)
{
	OM_uint32 min;

	if (!s)
		return;
	stp_gssprot_rd_clear(&s->rd);  /* wipes the plaintext: the user's data */
	if (s->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&min, &s->ctx, GSS_C_NO_BUFFER);
	free(s);
}

bool stp_gss_stream_ready(const struct stp_gss_stream *s)
{
	return s->rd.poff < s->rd.plen;
}

size_t stp_gss_stream_take(struct stp_gss_stream *s, void *buf, size_t cap)
{
	const uint8_t *p;
	const char *why;
	size_t n;

	if (!stp_gss_stream_ready(s))
		return 0;
	n = (size_t)stp_gssprot_rd_plain(&s->rd, &p, &why);  /* no unwrap: plaintext waits */
	if (n > cap)
		n = cap;
	memcpy(buf, p, n);
	stp_gssprot_rd_take(&s->rd, n);
	return n;
}

size_t stp_gss_stream_want(const struct stp_gss_stream *s)
{
	return stp_gssprot_rd_want(&s->rd);
}

bool stp_gss_stream_inside(const struct stp_gss_stream *s)
{
	return stp_gssprot_rd_inside(&s->rd);
}

ssize_t stp_gss_stream_feed(struct stp_gss_stream *s, const uint8_t *in, size_t n,
			    struct stp_err *e)
{
	size_t used = 0;

	for (;;) {
		const uint8_t *p;
		const char *why = "malformed";
		uint8_t *at;
		ssize_t r = stp_gssprot_rd_plain(&s->rd, &p, &why);
		if (r < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "GSS-API message from the proxy refused: "
					   "%s", why);
		if (r > 0 || used == n)
			return (ssize_t)used;
		/* only as much as the header says: the rest is the next one's */
		size_t k = stp_gssprot_rd_room(&s->rd, &at, true);
		if (!k)
			return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		if (k > n - used)
			k = n - used;
		memcpy(at, in + used, k);
		stp_gssprot_rd_got(&s->rd, k);
		used += k;
	}
}
