/* gssprot.c - RFC 1961 §4 and §5 over an established GSS-API context:
 * gss_wrap / gss_unwrap around proto/gssmsg.h's framing. */
#include <string.h>

#include "core/gssprot.h"
#include "proto/gssmsg.h"

static ssize_t fail(const char **why, const char *text)
{
	*why = text;
	return -1;
}

/* Frames w (a wrapped token) as a message of type mtyp into out. */
static ssize_t frame(uint8_t mtyp, gss_buffer_t w, uint8_t *out, size_t cap, const char **why)
{
	OM_uint32 m;
	ssize_t n = stp_gss_build(out, cap, mtyp, w->value, w->length);

	gss_release_buffer(&m, w);
	if (n < 0)
		return fail(why, "the wrapped message does not fit");
	return n;
}

ssize_t stp_gssprot_level_msg(gss_ctx_id_t ctx, int level, bool clear, uint8_t *out,
			      size_t cap, const char **why)
{
	uint8_t lv = (uint8_t)level;
	gss_buffer_desc in = { .length = 1, .value = &lv }, w = GSS_C_EMPTY_BUFFER;
	OM_uint32 minor;

	if (level < STP_GSS_LEVEL_NONE || level > STP_GSS_LEVEL_SELECTIVE)
		return fail(why, "not a protection level");
	if (clear) {
		ssize_t n = stp_gss_build(out, cap, STP_GSS_MT_PROT, &lv, 1);
		return n < 0 ? fail(why, "no room for the protection-level message") : n;
	}
	if (GSS_ERROR(gss_wrap(&minor, ctx, 0, GSS_C_QOP_DEFAULT, &in, NULL, &w)))
		return fail(why, "cannot wrap the protection level");
	return frame(STP_GSS_MT_PROT, &w, out, cap, why);
}

int stp_gssprot_level_read(gss_ctx_id_t ctx, const uint8_t *token, size_t n, bool allow_clear,
			   bool *clear, const char **why)
{
	gss_buffer_desc in = { .length = n, .value = (void *)token }, p = GSS_C_EMPTY_BUFFER;
	OM_uint32 minor, m;
	int level;

	*clear = false;
	if (GSS_ERROR(gss_unwrap(&minor, ctx, &in, &p, NULL, NULL))) {
		if (!allow_clear || n != 1)
			return (int)fail(why, "the protection-level message does not unwrap");
		/* one clear octet: the unprotected form */
		*clear = true;
		level = token[0];
	} else {
		level = p.length == 1 ? ((const uint8_t *)p.value)[0] : -1;
		gss_release_buffer(&m, &p);
	}
	if (level < STP_GSS_LEVEL_NONE || level > STP_GSS_LEVEL_SELECTIVE)
		return (int)fail(why, "the protection-level message is not one octet of 0 to 3");
	return level;
}

ssize_t stp_gssprot_wrap(gss_ctx_id_t ctx, int level, const uint8_t *plain, size_t n,
			 uint8_t *out, size_t cap, const char **why)
{
	gss_buffer_desc in = { .length = n, .value = (void *)plain }, w = GSS_C_EMPTY_BUFFER;
	OM_uint32 minor;
	int conf = 0;

	if (level != STP_GSS_LEVEL_INTEGRITY && level != STP_GSS_LEVEL_CONFIDENTIALITY)
		return fail(why, "no per-message protection at this level");
	if (GSS_ERROR(gss_wrap(&minor, ctx, level == STP_GSS_LEVEL_CONFIDENTIALITY,
			       GSS_C_QOP_DEFAULT, &in, &conf, &w)))
		return fail(why, "gss_wrap failed");
	if (level == STP_GSS_LEVEL_CONFIDENTIALITY && !conf) {
		OM_uint32 m;
		gss_release_buffer(&m, &w);
		return fail(why, "the context cannot encrypt");
	}
	return frame(STP_GSS_MT_ENCAP, &w, out, cap, why);
}

/* Both unwraps: refuse names the supplementary statuses that refuse a
 * message. */
static ssize_t unwrap(gss_ctx_id_t ctx, int level, const uint8_t *token, size_t n, uint8_t *out,
		      size_t cap, OM_uint32 refuse, const char **why)
{
	gss_buffer_desc in = { .length = n, .value = (void *)token }, p = GSS_C_EMPTY_BUFFER;
	OM_uint32 major, minor, m;
	int conf = 0;
	ssize_t len;

	if (level != STP_GSS_LEVEL_INTEGRITY && level != STP_GSS_LEVEL_CONFIDENTIALITY)
		return fail(why, "no per-message protection at this level");
	major = gss_unwrap(&minor, ctx, &in, &p, &conf, NULL);
	if (GSS_ERROR(major))
		return fail(why, major == GSS_S_BAD_SIG ? "bad MIC" : "gss_unwrap failed "
			    "(a forged, damaged or undecryptable message)");
	/* a replayed, duplicated or out-of-order message is a supplementary
	 * status, not an error: on a TCP stream it is an attack */
	if (major & refuse) {
		gss_release_buffer(&m, &p);
		return fail(why, "a replayed or reordered message");
	}
	if (level == STP_GSS_LEVEL_CONFIDENTIALITY && !conf) {
		gss_release_buffer(&m, &p);
		return fail(why, "a message not encrypted at level confidentiality");
	}
	if (p.length > cap) {
		gss_release_buffer(&m, &p);
		return fail(why, "the unwrapped message does not fit");
	}
	memcpy(out, p.value, p.length);
	len = (ssize_t)p.length;
	gss_release_buffer(&m, &p);
	return len;
}

ssize_t stp_gssprot_unwrap(gss_ctx_id_t ctx, int level, const uint8_t *token, size_t n,
			   uint8_t *out, size_t cap, const char **why)
{
	return unwrap(ctx, level, token, n, out, cap, GSS_S_DUPLICATE_TOKEN | GSS_S_OLD_TOKEN |
		      GSS_S_UNSEQ_TOKEN | GSS_S_GAP_TOKEN, why);
}

ssize_t stp_gssprot_unwrap_dgram(gss_ctx_id_t ctx, int level, const uint8_t *token, size_t n,
				 uint8_t *out, size_t cap, const char **why)
{
	return unwrap(ctx, level, token, n, out, cap, GSS_S_DUPLICATE_TOKEN | GSS_S_OLD_TOKEN,
		      why);
}

size_t stp_gssprot_plain_max(gss_ctx_id_t ctx, int level)
{
	OM_uint32 minor, max = 0;

	if (GSS_ERROR(gss_wrap_size_limit(&minor, ctx, level == STP_GSS_LEVEL_CONFIDENTIALITY,
					  GSS_C_QOP_DEFAULT, STP_GSS_TOKEN_MAX, &max)))
		return 0;
	return max;
}
