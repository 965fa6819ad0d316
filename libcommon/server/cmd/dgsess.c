/* dgsess.c - the client's side of a datagram session (UDP ASSOCIATE and its
 * kin, MCAST): see dgsess.h. Nothing here waits: what cannot go now is
 * dropped and counted under the command's own reason. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sock.h"
#include "proto/addr.h"
#include "server/sessprot.h"
#include "server/cmd/dgsess.h"
#include "server/nat.h"

#define DG_HDR_MAX 262               /* RSV FRAG ATYP LEN NAME(255) PORT */
#define DG_PAYLOAD_MAX 65507         /* IPv4's limit; kept for IPv6 too */
#define DG_FRAME_MAX 65535           /* LEN is two bytes */

static void on_client(struct session *ss, unsigned ev);
static void on_timer(struct session *ss);
static void on_free(struct session *ss);

/* Every datagram session's: the control connection (its end ends all; with
 * TCP delivery it carries frames both ways), the idle timer, the end. */
static const struct cmd_ops dgsess_ops = {
	.on_client = on_client,
	.on_timer = on_timer,
	.free = on_free,
};

static void drop(struct dgsess *d, int reason)
{
	d->drops[d->kind->drop[reason]]++;
}

/* --- the state and the loop-wide object ----------------------------------- */

/* One more use of *slot, made zeroed (size bytes) on the first. Returns 0,
 * or -1 out of memory. */
static int shared_take(void **slot, size_t size)
{
	if (!*slot) {
		*slot = calloc(1, size);
		if (!*slot)
			return -1;
	}
	((struct dgsess_shared *)*slot)->users++;
	return 0;
}

static void shared_drop(void **slot)
{
	struct dgsess_shared *sh = *slot;

	if (sh && --sh->users == 0) {
		free(sh);
		*slot = NULL;
	}
}

void *dgsess_start(struct session *ss, const struct dgsess_kind *k, void **shared, bool tcp)
{
	struct dgsess *d = calloc(1, k->size);

	if (!d || shared_take(shared, k->shared_size) < 0) {
		free(d);
		session_reply_error(ss, STP_REP_FAIL);
		return NULL;
	}
	d->ss = ss;
	d->kind = k;
	d->shared = shared;
	d->tcp = tcp;
	d->rfd = -1;
	d->oq.max = k->out_max;
	d->last = stp_loop_now(ss->srv->loop);
	/* from here on the session owns the state: its free releases everything */
	ss->cst = d;
	ss->ops = &dgsess_ops;
	return d;
}

/* The command's part first (it may still use the loop-wide object), then
 * what the dgsess holds; the last user frees the loop-wide object. */
static void on_free(struct session *ss)
{
	struct dgsess *d = ss->cst;

	if (!d)
		return;
	d->kind->release(d);
	dgsess_close(d, &d->rfd);
	stp_framein_free(&d->in);
	stp_frameq_free(&d->oq);
	shared_drop(d->shared);
	free(d);
	ss->cst = NULL;
}

void dgsess_close(struct dgsess *d, int *fd)
{
	if (*fd < 0)
		return;
	stp_loop_unwatch(d->ss->srv->loop, *fd);
	close(*fd);
	*fd = -1;
}

/* --- the relay endpoint ------------------------------------------------------ */

int dgsess_relay_open(struct dgsess *d, stp_fd_cb *cb, struct stp_addr *bnd)
{
	struct session *ss = d->ss;
	struct sockaddr_storage sa, got;
	socklen_t sl = sizeof(sa), gl = sizeof(got);
	int fd;

	/* the address the client reached us on: reachable by it, never a wildcard */
	if (getsockname(ss->cfd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	if (sa.ss_family != AF_INET && sa.ss_family != AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	stp_sa_set_port(&sa, 0);
	fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (nat_udp_bind(ss, fd, &sa, sl) < 0 ||
	    getsockname(fd, (struct sockaddr *)&got, &gl) < 0 ||
	    stp_addr_from_sa(bnd, (struct sockaddr *)&got) < 0 ||
	    stp_loop_watch(ss->srv->loop, fd, STP_EV_READ, cb, d) < 0)
		return stp_close_keep_errno(fd);
	d->rfd = fd;
	d->relay_cb = cb;
	nat_advertise(&ss->srv->cfg, bnd);  /* behind NAT: where the client really sends */
	return 0;
}

/* --- datagrams ---------------------------------------------------------------- */

ssize_t dgsess_hdr_get(struct dgsess *d, const uint8_t *b, size_t n, struct stp_udp_hdr *h)
{
	ssize_t k = stp_udp_hdr_get(b, n, h);

	d->last = stp_loop_now(d->ss->srv->loop);
	if (k <= 0 || b[0] != 0 || b[1] != 0) {
		drop(d, DG_MALFORMED);
		return -1;
	}
	if (h->frag != 0) {
		drop(d, DG_FRAG);
		return -1;
	}
	return k;
}

ssize_t dgsess_unseal(struct dgsess *d, uint8_t *b, size_t n)
{
	const char *why;
	ssize_t k;

	if (!sessgss_prot(d->ss))
		return (ssize_t)n;
	k = sessprot_dgram_open(d->ss, b, n, &why);
	if (k < 0) {
		drop(d, DG_MALFORMED);
		/* debug only: a flood of forgeries makes no flood of warnings */
		stp_log(&d->ss->srv->cfg.log, STP_LOG_DEBUG, "%s: a datagram from the client "
			"dropped: GSS-API: %s", d->kind->name, why);
	}
	return k;
}

bool dgsess_sendto(struct dgsess *d, int fd, const uint8_t *b, size_t n,
		   const struct sockaddr *to, socklen_t tolen)
{
	for (;;) {
		if (sendto(fd, b, n, MSG_NOSIGNAL, to, tolen) >= 0)
			return true;
		if (errno == EINTR)
			continue;
		/* ENOBUFS: the interface queue is full, as good as EAGAIN */
		drop(d, errno == EAGAIN || errno == ENOBUFS ? DG_FULL
			: errno == EMSGSIZE ? DG_OVERSIZE : DG_SENDERR);
		return false;
	}
}

/* A datagram's outcome, sent now or with its batch (dgtx.h): counted as
 * dgsess_sendto counts it, or as sent up or down. */
static void counted(struct dgsess *d, bool up, size_t len, int err)
{
	if (err) {
		drop(d, err == EAGAIN || err == ENOBUFS ? DG_FULL
			: err == EMSGSIZE ? DG_OVERSIZE : DG_SENDERR);
		return;
	}
	if (up) {
		d->ss->bytes_up += len;
		d->dgrams_up++;
	} else {
		d->ss->bytes_down += len;
		d->dgrams_down++;
	}
}

/* dgtx's callbacks, one per direction; owner is the dgsess */
static void done_up(void *owner, size_t len, int err)
{
	counted(owner, true, len, err);
}

static void done_down(void *owner, size_t len, int err)
{
	counted(owner, false, len, err);
}

bool dgsess_send(struct dgsess *d, int fd, const uint8_t *b, size_t n,
		 const struct sockaddr *to, socklen_t tolen, unsigned how, size_t len)
{
	if (d->tx && !(how & DGS_NOW)) {
		dgtx_add(d->tx, fd, b, n, to, tolen, how & DGS_UP ? done_up : done_down, d, len);
		return true;
	}
	if (d->tx)
		dgtx_flush(d->tx);  /* what came before goes first */
	if (!dgsess_sendto(d, fd, b, n, to, tolen))
		return false;
	counted(d, how & DGS_UP, len, 0);
	return true;
}

void dgsess_batch_begin(struct dgsess *d, struct dgtx *t)
{
	d->tx = t;
}

void dgsess_batch_end(struct dgsess *d)
{
	if (d->tx)
		dgtx_flush(d->tx);
	d->tx = NULL;
}

size_t dgsess_hdr_put(uint8_t *data, size_t room, const struct stp_addr *from)
{
	uint8_t hdr[DG_HDR_MAX];
	size_t hl = stp_udp_hdr_put(hdr, sizeof(hdr), from);

	if (!hl || hl > room)
		return 0;
	memcpy(data - hl, hdr, hl);
	return hl;
}

/* TCP delivery: queued as a frame for dgsess_flush. */
static bool to_frame(struct dgsess *d, const uint8_t *dgram, size_t n)
{
	if (n > DG_FRAME_MAX) {
		drop(d, DG_OVERSIZE);
		return false;
	}
	if (!stp_frameq_push(&d->oq, dgram, n)) {
		drop(d, DG_FULL);  /* the client reads too slowly */
		return false;
	}
	return true;
}

/* UDP delivery: sent from the relay endpoint to the client's port. */
static bool to_relay(struct dgsess *d, const uint8_t *dgram, size_t n, size_t len)
{
	if (!d->client_salen) {
		/* the client has not been heard from yet: nowhere to send */
		drop(d, DG_UNKNOWN);
		return false;
	}
	if (n > DG_PAYLOAD_MAX) {
		drop(d, DG_OVERSIZE);
		return false;
	}
	if (sessgss_prot(d->ss)) {
		/* GSS-API protection: sealed into one buffer, so sent now */
		const char *why;
		size_t wn;
		const uint8_t *w = sessprot_dgram_seal(d->ss, dgram, n, &wn, &why);
		if (!w) {
			drop(d, DG_MALFORMED);
			return false;
		}
		return dgsess_send(d, d->rfd, w, wn, (struct sockaddr *)&d->client_sa,
				   d->client_salen, DGS_DOWN | DGS_NOW, len);
	}
	return dgsess_send(d, d->rfd, dgram, n, (struct sockaddr *)&d->client_sa,
			   d->client_salen, DGS_DOWN, len);
}

bool dgsess_to_client(struct dgsess *d, const uint8_t *dgram, size_t hl, size_t len)
{
	bool ok;

	d->last = stp_loop_now(d->ss->srv->loop);
	if (!d->tcp)
		return to_relay(d, dgram, hl + len, len);  /* counts when sent */
	ok = to_frame(d, dgram, hl + len);
	if (!ok)
		return false;
	d->ss->bytes_down += len;
	d->dgrams_down++;
	return true;
}

int dgsess_flush(struct dgsess *d)
{
	if (stp_frameq_flush(&d->oq, d->ss) == 0)
		return 0;
	d->ss->result = "client gone";
	session_free(d->ss);
	return -1;
}

/* --- the reply and the control connection ------------------------------------ */

/* The control connection ended: what the client sent to the relay endpoint
 * before it closed goes on first (stp-mcast --send exits as soon as it has
 * sent; on one host its datagrams are queued before its close arrives). A
 * bounded number of batches: a flood does not hold the end back. */
static void relay_drain(struct dgsess *d)
{
	struct pollfd p = { .fd = d->rfd, .events = POLLIN };

	for (int i = 0; i < 16 && d->rfd >= 0 && d->relay_cb; i++) {
		if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
			return;
		d->relay_cb(d->ss->srv->loop, d->rfd, STP_EV_READ, d);
	}
}

/* The success reply (two with ext) in b. Returns its length, 0 if it does
 * not fit. */
static size_t reply_put(const struct dgsess *d, uint8_t *b, size_t cap,
			const struct stp_addr *bnd, const struct stp_addr *ext)
{
	struct stp_addr none;
	size_t n, n2;

	if (d->tcp) {
		/* no relay endpoint: the datagrams come on this connection */
		memset(&none, 0, sizeof(none));
		none.atyp = STP_ATYP_IPV4;
		bnd = &none;
	}
	n = stp5_reply_put(b, cap, d->ss->cmd, STP_REP_OK, bnd, NULL);
	if (!n || !ext)
		return n;
	n2 = stp5_reply_put(b + n, cap - n, d->ss->cmd, STP_REP_OK, ext, NULL);
	return n2 ? n + n2 : 0;
}

void dgsess_reply(struct dgsess *d, const struct stp_addr *bnd, const struct stp_addr *ext)
{
	struct session *ss = d->ss;
	uint8_t b[STP_REPLY_MAX];
	size_t n = reply_put(d, b, sizeof(b), bnd, ext);

	if (n == 0) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	ss->rep = STP_REP_OK;
	ss->result = "ok";
	ss->state = S_CMD;
	if (session_send(ss, b, n) < 0) {
		ss->result = "client gone before reply";
		session_free(ss);
		return;
	}
	stp_timer_stop(ss->srv->loop, &ss->timer);
	if (session_idle_check(ss, d->last) || !d->tcp)
		return;
	/* frames the client sent right behind its request */
	if (ss->inlen) {
		size_t early = ss->inlen;
		ss->inlen = 0;
		if (stp_framein_put(&d->in, ss->in, early, d->kind->from_client, d) < 0) {
			session_free(ss);
			return;
		}
	}
	dgsess_flush(d);
}

static void on_client(struct session *ss, unsigned ev)
{
	struct dgsess *d = ss->cst;

	/* a hang-up or an error comes as a read too: the read sees it */
	if ((ev & STP_EV_READ) &&
	    stp_control_read(ss, d->tcp ? &d->in : NULL, d->kind->read_budget,
			     d->kind->from_client, d) < 0) {
		if (!d->tcp)
			relay_drain(d);
		session_free(ss);
		return;
	}
	if (d->tcp)
		dgsess_flush(d);
	else if (ss->outlen == 0)
		stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ);
}

static void on_timer(struct session *ss)
{
	struct dgsess *d = ss->cst;

	session_idle_check(ss, d->last);
}

const char *dgsess_drops_str(const struct dgsess *d, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < d->kind->ndrops; i++) {
		int n = snprintf(buf + len, cap - len, " %s=%llu", d->kind->drop_names[i],
				 (unsigned long long)d->drops[i]);
		if (n < 0 || (size_t)n >= cap - len)
			break;
		len += (size_t)n;
	}
	return buf;
}
