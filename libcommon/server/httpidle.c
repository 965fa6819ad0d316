/* httpidle.c - see httpidle.h. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/addr.h"
#include "server/httpidle.h"
#include "server/server_priv.h"

struct hidle {
	struct session *ss;
	int fd;
	struct stp_addr dst;
};

void httpidle_free(struct session *ss)
{
	struct hidle *h = ss->hidle;

	if (!h)
		return;
	ss->hidle = NULL;
	stp_loop_unwatch(ss->srv->loop, h->fd);
	close(h->fd);
	free(h);
}

/* Anything from an idle origin ends it: its close (it timed out its side),
 * or bytes no request asked for, which would be taken for the next
 * answer. */
static void on_idle(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct hidle *h = arg;

	(void)l;
	(void)fd;
	(void)ev;
	httpidle_free(h->ss);
}

void httpidle_keep(struct session *ss, int fd, const struct stp_addr *dst)
{
	struct stp_loop *l = ss->srv->loop;
	struct hidle *h;

	httpidle_free(ss);
	stp_loop_unwatch(l, fd);
	h = malloc(sizeof(*h));
	if (!h || stp_loop_watch(l, fd, STP_EV_READ, on_idle, h) < 0) {
		free(h);
		close(fd);
		return;
	}
	h->ss = ss;
	h->fd = fd;
	h->dst = *dst;
	ss->hidle = h;
}

/* True when a and b name the same origin. A name is compared without
 * case (DNS names are case-insensitive). */
static bool same(const struct stp_addr *a, const struct stp_addr *b)
{
	if (a->atyp != b->atyp || a->port != b->port)
		return false;
	switch (a->atyp) {
	case STP_ATYP_IPV4:
		return memcmp(a->u.v4, b->u.v4, 4) == 0;
	case STP_ATYP_IPV6:
		return memcmp(a->u.v6, b->u.v6, 16) == 0;
	case STP_ATYP_NAME:
		return a->namelen == b->namelen && strncasecmp(a->u.name, b->u.name, a->namelen) == 0;
	}
	return false;
}

int httpidle_take(struct session *ss, const struct stp_addr *dst)
{
	struct hidle *h = ss->hidle;
	int fd;

	if (!h)
		return -1;
	if (!dst || !same(&h->dst, dst)) {
		httpidle_free(ss);
		return -1;
	}
	fd = h->fd;
	stp_loop_unwatch(ss->srv->loop, fd);
	ss->hidle = NULL;
	free(h);
	return fd;
}

bool httpidle_method_ok(const char *method)
{
	static const char *const idem[] = { "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE" };

	for (size_t i = 0; i < sizeof(idem) / sizeof(idem[0]); i++)
		if (strcmp(method, idem[i]) == 0)
			return true;
	return false;
}
