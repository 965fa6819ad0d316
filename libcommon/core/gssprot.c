/* gssprot.c - RFC 1961 §4 and §5 over an established GSS-API context:
 * gss_wrap / gss_unwrap around proto/gssmsg.h's framing. */
#include <openssl/crypto.h>
#include <stdlib.h>
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

void stp_gssprot_rd_init(struct stp_gssprot_rd *r, gss_ctx_id_t ctx, int level, size_t start)
{
	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->level = level;
	r->start = start < STP_GSS_HDR ? STP_GSS_HDR : start > STP_GSS_MSG_MAX ? STP_GSS_MSG_MAX
		: start;
}

static void plain_drop(struct stp_gssprot_rd *r)
{
	if (r->plain)
		OPENSSL_cleanse(r->plain, r->pcap);  /* it was the user's data */
	free(r->plain);
	r->plain = NULL;
	r->pcap = r->poff = r->plen = 0;
}

static void in_drop(struct stp_gssprot_rd *r)
{
	free(r->in);
	r->in = NULL;
	r->cap = r->off = r->len = 0;
}

void stp_gssprot_rd_clear(struct stp_gssprot_rd *r)
{
	plain_drop(r);
	in_drop(r);
}

/* The length of the message at in[off..len) as far as its bytes tell:
 * its header's, or the abort's. */
static size_t msg_len(const struct stp_gssprot_rd *r)
{
	size_t n = r->len - r->off;
	const uint8_t *b;

	if (n == 0)
		return STP_GSS_ABORT_LEN;  /* and in may be NULL: no pointer to it */
	b = r->in + r->off;
	if (n >= STP_GSS_HDR)
		return STP_GSS_HDR + ((size_t)b[2] << 8 | b[3]);
	if (n >= 2 && b[1] != STP_GSS_MT_ABORT)
		return STP_GSS_HDR;
	return STP_GSS_ABORT_LEN;  /* two bytes first: an abort is no more */
}

size_t stp_gssprot_rd_room(struct stp_gssprot_rd *r, uint8_t **at, bool exact)
{
	size_t need, want;

	if (r->off) {
		memmove(r->in, r->in + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	want = msg_len(r);
	if (want <= r->len)
		want = r->len + r->start;  /* a whole one waits: room for the next */
	need = want > r->start ? want : r->start;
	if (r->cap < need) {
		uint8_t *b = realloc(r->in, need);
		if (!b)
			return 0;
		r->in = b;
		r->cap = need;
	}
	*at = r->in + r->len;
	return exact ? want - r->len : r->cap - r->len;
}

void stp_gssprot_rd_got(struct stp_gssprot_rd *r, size_t n)
{
	r->len += n;
	if (r->len == 0)
		in_drop(r);  /* nothing came: waiting holds no buffer */
}

/* The message at in[off..len) as a parse sees it. */
static ssize_t next_msg(const struct stp_gssprot_rd *r, struct stp_gss_msg *m, const char **why)
{
	if (!r->in)
		return 0;
	return stp_gss_parse(r->in + r->off, r->len - r->off, STP_GSS_MT_ENCAP,
			     STP_GSS_TOKEN_MAX, m, why);
}

ssize_t stp_gssprot_rd_plain(struct stp_gssprot_rd *r, const uint8_t **p, const char **why)
{
	while (r->poff == r->plen) {
		struct stp_gss_msg m;
		ssize_t k = next_msg(r, &m, why), n;
		if (k <= 0)
			return k;
		if (m.mtyp == STP_GSS_MT_ABORT)
			return fail(why, "the peer aborted (X'01' X'FF')");
		/* the plaintext is shorter than its token */
		if (!(r->plain = malloc(m.token_len)))
			return fail(why, "out of memory");
		r->pcap = m.token_len;
		n = stp_gssprot_unwrap(r->ctx, r->level, m.token, m.token_len, r->plain, r->pcap,
				       why);
		if (n < 0)
			return -1;
		r->off += (size_t)k;
		if (r->off == r->len)
			in_drop(r);
		r->poff = 0;
		r->plen = (size_t)n;
		if (n == 0)
			plain_drop(r);  /* an empty message: nothing to hold */
	}
	*p = r->plain + r->poff;
	return (ssize_t)(r->plen - r->poff);
}

void stp_gssprot_rd_take(struct stp_gssprot_rd *r, size_t n)
{
	r->poff += n;
	if (r->poff >= r->plen)
		plain_drop(r);
}

bool stp_gssprot_rd_ready(const struct stp_gssprot_rd *r)
{
	struct stp_gss_msg m;
	const char *why;

	/* a malformed one counts too: the reader says why */
	return r->poff < r->plen || (r->off < r->len && next_msg(r, &m, &why) != 0);
}

size_t stp_gssprot_rd_want(const struct stp_gssprot_rd *r)
{
	return r->in ? msg_len(r) - (r->len - r->off) : STP_GSS_ABORT_LEN;
}

bool stp_gssprot_rd_inside(const struct stp_gssprot_rd *r)
{
	return r->off < r->len;
}
