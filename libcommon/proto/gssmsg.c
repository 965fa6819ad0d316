/* gssmsg.c - RFC 1961's message framing, parsed strictly: a peer that
 * says anything else is refused before a byte reaches GSS-API. */
#include <string.h>

#include "proto/gssmsg.h"

static ssize_t fail(const char **why, const char *text)
{
	*why = text;
	return -1;
}

ssize_t stp_gss_parse(const uint8_t *buf, size_t len, uint8_t expect, size_t token_max,
		      struct stp_gss_msg *m, const char **why)
{
	size_t tlen;

	if (token_max > STP_GSS_TOKEN_MAX)
		token_max = STP_GSS_TOKEN_MAX;
	if (len < 1)
		return 0;
	if (buf[0] != STP_GSS_VER)
		return fail(why, "GSS-API message version is not 1");
	if (len < 2)
		return 0;
	if (buf[1] == STP_GSS_MT_ABORT) {
		m->mtyp = STP_GSS_MT_ABORT;
		m->token = NULL;
		m->token_len = 0;
		return STP_GSS_ABORT_LEN;
	}
	if (buf[1] != expect)
		return fail(why, "unexpected GSS-API message type");
	if (len < STP_GSS_HDR)
		return 0;
	tlen = (size_t)buf[2] << 8 | buf[3];
	if (tlen == 0)
		return fail(why, "empty GSS-API token");
	if (tlen > token_max)
		return fail(why, "GSS-API token too long");
	if (len < STP_GSS_HDR + tlen)
		return 0;
	m->mtyp = buf[1];
	m->token = buf + STP_GSS_HDR;
	m->token_len = tlen;
	return (ssize_t)(STP_GSS_HDR + tlen);
}

ssize_t stp_gss_build(uint8_t *out, size_t cap, uint8_t mtyp, const uint8_t *token, size_t token_len)
{
	if (mtyp != STP_GSS_MT_AUTH && mtyp != STP_GSS_MT_PROT && mtyp != STP_GSS_MT_ENCAP)
		return -1;
	if (token_len == 0 || token_len > STP_GSS_TOKEN_MAX || cap < STP_GSS_HDR + token_len)
		return -1;
	out[0] = STP_GSS_VER;
	out[1] = mtyp;
	out[2] = (uint8_t)(token_len >> 8);
	out[3] = (uint8_t)token_len;
	memcpy(out + STP_GSS_HDR, token, token_len);
	return (ssize_t)(STP_GSS_HDR + token_len);
}

size_t stp_gss_build_abort(uint8_t out[STP_GSS_ABORT_LEN])
{
	out[0] = STP_GSS_VER;
	out[1] = STP_GSS_MT_ABORT;
	return STP_GSS_ABORT_LEN;
}

static const char *const level_names[] = { "none", "integrity", "confidentiality", "selective" };

const char *stp_gss_level_name(int level)
{
	if (level < 0 || level > STP_GSS_LEVEL_SELECTIVE)
		return NULL;
	return level_names[level];
}

int stp_gss_level_parse(const char *s)
{
	for (int i = 0; i <= STP_GSS_LEVEL_SELECTIVE; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}
