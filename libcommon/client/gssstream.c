/* gssstream.c - per-message protection (RFC 1961 §5), client side. */
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

ssize_t stp_gss_unwrap_msg(gss_ctx_id_t ctx, int level, const uint8_t *buf, size_t len,
			   uint8_t *out, size_t cap, size_t *outlen, struct stp_err *e)
{
	struct stp_gss_msg m;
	const char *why = "";
	gss_buffer_desc in, pt = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min, rel;
	int conf = 0;
	ssize_t k = stp_gss_parse(buf, len, STP_GSS_MT_ENCAP, STP_GSS_TOKEN_MAX, &m, &why);

	if (k <= 0)
		return k == 0 ? 0 : stp_err_set(e, STP_EXIT_PROTO, "GSS-API message: %s", why);
	if (m.mtyp == STP_GSS_MT_ABORT)
		return stp_err_set(e, STP_EXIT_FAIL, "GSS-API: the proxy aborted the session (X'FF')");
	in.length = m.token_len;
	in.value = (void *)m.token;
	maj = gss_unwrap(&min, ctx, &in, &pt, &conf, NULL);
	if (GSS_ERROR(maj))
		return stp_gss_err(e, STP_EXIT_FAIL, maj, min, "gss_unwrap");
	if ((level == STP_GSS_LEVEL_CONFIDENTIALITY && !conf) || pt.length > cap) {
		gss_release_buffer(&rel, &pt);
		return stp_err_set(e, STP_EXIT_FAIL, "GSS-API: %s",
				   pt.length > cap ? "an unwrapped message is too long"
				   : "a message came unencrypted at level confidentiality");
	}
	memcpy(out, pt.value, pt.length);
	*outlen = pt.length;
	gss_release_buffer(&rel, &pt);
	return k;
}

struct stp_gss_stream *stp_gss_stream_new(gss_ctx_id_t ctx, int level)
{
	struct stp_gss_stream *s = malloc(sizeof(*s));

	if (!s)
		return NULL;
	s->ctx = ctx;
	s->level = level;
	s->inlen = s->plen = s->poff = 0;
	return s;
}

void stp_gss_stream_free(struct stp_gss_stream *s)
{
	OM_uint32 min;

	if (!s)
		return;
	if (s->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&min, &s->ctx, GSS_C_NO_BUFFER);
	/* the plaintext was the user's data */
	memset(s->plain, 0, sizeof(s->plain));
	free(s);
}

bool stp_gss_stream_ready(const struct stp_gss_stream *s)
{
	return s->poff < s->plen;
}

size_t stp_gss_stream_take(struct stp_gss_stream *s, void *buf, size_t cap)
{
	size_t n = s->plen - s->poff;

	if (n > cap)
		n = cap;
	memcpy(buf, s->plain + s->poff, n);
	s->poff += n;
	if (s->poff == s->plen)
		s->poff = s->plen = 0;
	return n;
}

/* The length of the message whose first inlen bytes are in[], as far as
 * they tell: its header's, or the abort's. */
static size_t msg_len(const uint8_t *in, size_t inlen)
{
	if (inlen >= STP_GSS_HDR)
		return STP_GSS_HDR + (((size_t)in[2] << 8) | in[3]);
	if (inlen >= 2 && in[1] != STP_GSS_MT_ABORT)
		return STP_GSS_HDR;
	return STP_GSS_ABORT_LEN;
}

size_t stp_gss_stream_want(const struct stp_gss_stream *s)
{
	return msg_len(s->in, s->inlen) - s->inlen;
}

ssize_t stp_gss_stream_feed(struct stp_gss_stream *s, const uint8_t *in, size_t n,
			    struct stp_err *e)
{
	size_t used = 0;

	while (used < n && !stp_gss_stream_ready(s)) {
		/* only as much as the header says: the rest is the next one's */
		size_t k = stp_gss_stream_want(s);
		if (k > n - used)
			k = n - used;
		memcpy(s->in + s->inlen, in + used, k);
		s->inlen += k;
		used += k;
		size_t plen = 0;
		ssize_t r = stp_gss_unwrap_msg(s->ctx, s->level, s->in, s->inlen, s->plain,
					       sizeof(s->plain), &plen, e);
		if (r < 0)
			return -1;
		if (r > 0) {
			s->inlen = 0;
			s->plen = plen;
			s->poff = 0;
		}
	}
	return (ssize_t)used;
}
