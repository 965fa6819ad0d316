/* gsswire.c - wrapped messages onto a non-blocking wire (gsswire.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/gssstream.h"
#include "client/gsswire.h"
#include "core/gssprot.h"

int stp_gss_wire_init(struct stp_gss_wire *w, gss_ctx_id_t ctx, int level,
		      stp_gss_wire_send_fn *send, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->ctx = ctx;
	w->level = level;
	w->send = send;
	w->arg = arg;
	w->msg = malloc(STP_GSS_MSG_MAX);
	if (!w->msg) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void stp_gss_wire_free(struct stp_gss_wire *w)
{
	free(w->msg);
	w->msg = NULL;
	w->off = w->len = 0;
}

bool stp_gss_wire_held(const struct stp_gss_wire *w)
{
	return w->off < w->len;
}

int stp_gss_wire_flush(struct stp_gss_wire *w)
{
	while (w->off < w->len) {
		ssize_t n = w->send(w->arg, w->msg + w->off, w->len - w->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 1;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return -1;
		}
		w->off += (size_t)n;
	}
	w->off = w->len = 0;
	return 0;
}

ssize_t stp_gss_wire_send(struct stp_gss_wire *w, const void *buf, size_t n)
{
	const char *why;
	int rc = stp_gss_wire_flush(w);

	if (rc != 0) {
		if (rc > 0)
			errno = EAGAIN;
		return -1;
	}
	if (n == 0)
		return 0;
	if (n > STP_GSS_CHUNK)
		n = STP_GSS_CHUNK;
	ssize_t k = stp_gssprot_wrap(w->ctx, w->level, buf, n, w->msg, STP_GSS_MSG_MAX, &why);
	if (k < 0) {
		errno = EPROTO;
		return -1;
	}
	w->off = 0;
	w->len = (size_t)k;
	/* the message is ours now: the caller's bytes are taken even if the
	 * wire takes none of it yet */
	if (stp_gss_wire_flush(w) < 0)
		return -1;
	return (ssize_t)n;
}
