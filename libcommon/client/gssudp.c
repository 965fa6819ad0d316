/* gssudp.c - protected datagrams (RFC 1961 §5) of a UDP association. */
#include <string.h>

#include "client/gssudp.h"
#include "core/gssprot.h"
#include "proto/gssmsg.h"

static ssize_t fail(const char **why, const char *text)
{
	*why = text;
	return -1;
}

size_t stp_gss_udp_plain_max(gss_ctx_id_t ctx, int level)
{
	OM_uint32 minor, max = 0;

	if (GSS_ERROR(gss_wrap_size_limit(&minor, ctx, level == STP_GSS_LEVEL_CONFIDENTIALITY,
					  GSS_C_QOP_DEFAULT, STP_GSS_UDP_MAX - STP_GSS_HDR, &max)))
		return 0;
	return max;
}

ssize_t stp_gss_udp_seal(gss_ctx_id_t ctx, int level, const uint8_t *plain, size_t n,
			 uint8_t *out, size_t cap, const char **why)
{
	/* the same wrapping as a stream's message (conf_req per level) */
	ssize_t k = stp_gssprot_wrap(ctx, level, plain, n, out, cap, why);

	if (k > STP_GSS_UDP_MAX)
		return fail(why, "the protected datagram is larger than UDP carries");
	return k;
}

ssize_t stp_gss_udp_token(const uint8_t *d, size_t n, const uint8_t **tok, const char **why)
{
	struct stp_gss_msg m;
	ssize_t k = stp_gss_parse(d, n, STP_GSS_MT_ENCAP, STP_GSS_TOKEN_MAX, &m, why);

	if (k == 0)
		return fail(why, "a datagram shorter than its GSS-API message");
	if (k < 0)
		return -1;
	if (m.mtyp != STP_GSS_MT_ENCAP)
		return fail(why, "not an encapsulated message (X'03')");
	/* a datagram is one message: bytes after it are no part of it */
	if ((size_t)k != n)
		return fail(why, "bytes after the GSS-API message in a datagram");
	*tok = m.token;
	return (ssize_t)m.token_len;
}

ssize_t stp_gss_udp_open(gss_ctx_id_t ctx, int level, const uint8_t *d, size_t n, uint8_t *out,
			 size_t cap, const char **why)
{
	const uint8_t *tok;
	ssize_t tl = stp_gss_udp_token(d, n, &tok, why);
	gss_buffer_desc in, p = GSS_C_EMPTY_BUFFER;
	OM_uint32 major, minor, m;
	int conf = 0;
	ssize_t len;

	if (tl < 0)
		return -1;
	if (level != STP_GSS_LEVEL_INTEGRITY && level != STP_GSS_LEVEL_CONFIDENTIALITY)
		return fail(why, "no per-message protection at this level");
	in.length = (size_t)tl;
	in.value = (void *)tok;
	/* not stp_gssprot_unwrap: a stream refuses any token out of
	 * sequence, but datagrams are lost and reordered on their own */
	major = gss_unwrap(&minor, ctx, &in, &p, &conf, NULL);
	if (GSS_ERROR(major))
		return fail(why, major == GSS_S_BAD_SIG ? "bad MIC (tampered with, or not ours)"
			    : "does not unwrap (forged, damaged or not ours)");
	if (major & (GSS_S_DUPLICATE_TOKEN | GSS_S_OLD_TOKEN)) {
		gss_release_buffer(&m, &p);
		return fail(why, "a replayed datagram");
	}
	if (level == STP_GSS_LEVEL_CONFIDENTIALITY && !conf) {
		gss_release_buffer(&m, &p);
		return fail(why, "not encrypted at level confidentiality");
	}
	if (p.length > cap) {
		gss_release_buffer(&m, &p);
		return fail(why, "the unwrapped datagram does not fit");
	}
	memcpy(out, p.value, p.length);
	len = (ssize_t)p.length;
	gss_release_buffer(&m, &p);
	return len;
}
