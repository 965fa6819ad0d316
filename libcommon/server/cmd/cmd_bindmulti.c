/* cmd_bindmulti.c - BIND_MULTI (X'D1') and ATTACH (X'D2'), PROTOCOL.md §3:
 * one listener, a NOTICE with a fresh single-use ticket per inbound
 * connection on the control channel, each connection fetched by ATTACH on a
 * new connection of the same principal. The data channels stay apart from
 * the control channel; closing the control channel closes the listener and
 * drops every unclaimed connection. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/logesc.h"
#include "proto/addr.h"
#include "server/handoff.h"
#include "server/nat.h"
#include "server/server_priv.h"
#include "core/sock.h"

#define BM_BACKLOG_DEFAULT 16
#define BM_BACKLOG_MAX 128
#define BM_EXPIRY_DEFAULT 30
#define BM_EXPIRY_MAX 600
#define BM_UNCLAIMED_MAX 64     /* per listener */
#define BM_LISTENERS_MAX 16     /* per principal */

struct bm_listener;

struct ticket {
	struct ticket *prev, *next;       /* the server's list */
	uint8_t id[STP_TICKET_LEN];
	int fd;
	struct stp_addr peer;
	struct bm_listener *owner;
	struct stp_timer expiry;
};

struct bm_listener {
	struct session *ctl;
	int lfd;
	struct stp_accept_pause pause;  /* at the fd limit */
	uint64_t last_active;           /* loop time of the last notice or client byte */
	bool restrict_peer;
	struct stp_addr want;
	unsigned expiry_s;
	int unclaimed;
	bool has_at;                    /* --attach-at: named in every notice */
	struct stp_addr at;
	char principal[STP_PRINCIPAL_MAX];
};

static void ticket_drop(struct stp_server *s, struct ticket *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		s->tickets = t->next;
	if (t->next)
		t->next->prev = t->prev;
	stp_timer_stop(s->loop, &t->expiry);
	if (t->owner) {
		t->owner->unclaimed--;
		/* its fd was the control session's; closed here, or an
		 * ATTACH session's target now, counted in that one's two */
		session_fds_give(t->owner->ctl, 1);
	}
	if (t->fd >= 0)
		close(t->fd);
	OPENSSL_cleanse(t->id, sizeof(t->id));
	free(t);
}

static void on_ticket_expired(struct stp_loop *l, struct stp_timer *tm, void *arg)
{
	struct ticket *t = arg;
	struct stp_server *s = t->owner->ctl->srv;

	(void)l;
	(void)tm;
	stp_log(&s->cfg.log, STP_LOG_INFO, "bind-multi: a ticket expired unclaimed");
	ticket_drop(s, t);
}

static int listeners_of(const struct stp_server *s, const char *principal)
{
	int n = 0;

	for (const struct session *ss = s->sessions; ss; ss = ss->next)
		if (ss->cmd == STP_CMD_BIND_MULTI && ss->state == S_CMD && ss->cst &&
		    strcmp(((const struct bm_listener *)ss->cst)->principal, principal) == 0)
			n++;
	return n;
}

static void bm_free(struct session *ss)
{
	struct bm_listener *L = ss->cst;
	struct stp_server *s = ss->srv;

	if (!L)
		return;
	for (struct ticket *t = s->tickets, *next; t; t = next) {
		next = t->next;
		if (t->owner == L)
			ticket_drop(s, t);
	}
	if (L->lfd >= 0) {
		stp_accept_pause_stop(&L->pause);
		stp_loop_unwatch(s->loop, L->lfd);
		close(L->lfd);
	}
	free(L);
	ss->cst = NULL;
}

static bool peer_allowed(const struct bm_listener *L, const struct stp_addr *p)
{
	if (!L->restrict_peer)
		return true;
	if (p->atyp != L->want.atyp)
		return false;
	return memcmp(p->u.v6, L->want.u.v6, p->atyp == STP_ATYP_IPV4 ? 4 : 16) == 0;
}

/* A NOTICE: a reply-shaped message with the peer and its ticket. */
static void notice(struct session *ss, struct ticket *t)
{
	struct stp_opts o;
	uint8_t b[STP_REPLY_MAX];
	size_t n;

	memset(&o, 0, sizeof(o));
	o.present = 1u << STP_OPT_TICKET;
	memcpy(o.ticket, t->id, sizeof(o.ticket));
	if (t->owner->has_at) {
		/* behind a balancer the client's next connection could reach
		 * another instance: name this one */
		o.present |= 1u << STP_OPT_ATTACH_AT;
		o.attach_at = t->owner->at;
	}
	n = stp5_reply_put(b, sizeof(b), STP_CMD_BIND_MULTI, STP_REP_OK, &t->peer, &o);
	OPENSSL_cleanse(&o, sizeof(o));
	if (n == 0 || session_send(ss, b, n) < 0) {
		/* a client that does not read its notices loses the peer, not
		 * the server's memory */
		stp_log(&ss->srv->cfg.log, STP_LOG_WARN, "bind-multi: control channel full, peer dropped");
		ticket_drop(ss->srv, t);
	}
	OPENSSL_cleanse(b, sizeof(b));
}

static void on_listener(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct session *ss = arg;
	struct bm_listener *L = ss->cst;
	struct stp_server *s = ss->srv;

	(void)l;
	(void)ev;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		struct stp_addr pa;
		int afd = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (afd < 0) {
			bind_accept_failed(ss, &L->pause, errno);
			return;
		}
		stp_accept_pause_ok(&L->pause);
		if (stp_addr_from_sa(&pa, (struct sockaddr *)&peer) < 0 || !peer_allowed(L, &pa) ||
		    L->unclaimed >= BM_UNCLAIMED_MAX) {
			close(afd);
			continue;
		}
		/* a waiting peer holds a descriptor the session did not count */
		if (!session_fds_take(ss, 1, "a peer")) {
			close(afd);
			continue;
		}
		struct ticket *t = calloc(1, sizeof(*t));
		if (!t || RAND_bytes(t->id, sizeof(t->id)) != 1) {
			free(t);
			close(afd);
			session_fds_give(ss, 1);
			continue;
		}
		handoff_stamp(s, t->id);  /* --workers: an ATTACH elsewhere finds us */
		stp_set_nodelay(afd);
		t->fd = afd;
		t->peer = pa;
		t->owner = L;
		L->unclaimed++;
		t->next = s->tickets;
		if (s->tickets)
			s->tickets->prev = t;
		s->tickets = t;
		stp_timer_init(&t->expiry, on_ticket_expired, t);
		stp_timer_start(s->loop, &t->expiry, (uint64_t)L->expiry_s * 1000u);
		L->last_active = stp_loop_now(s->loop);
		notice(ss, t);
		if (ss->cst != L)
			return;  /* the control channel went away while sending */
	}
}

static void on_control(struct session *ss, unsigned ev)
{
	uint8_t buf[256];
	ssize_t n;

	if (!(ev & STP_EV_READ))
		return;
	/* nothing is expected from the client here; its close ends it all */
	n = session_recv(ss, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ss->result = "control channel closed";
		session_free(ss);
		return;
	}
	((struct bm_listener *)ss->cst)->last_active = stp_loop_now(ss->srv->loop);
}

/* --idle-timeout: a control channel is idle while no peer connects and the
 * client sends nothing (the connections it attached are sessions of their
 * own, with their own limit). */
static void on_timer(struct session *ss)
{
	session_idle_check(ss, ((struct bm_listener *)ss->cst)->last_active);
}

static const struct cmd_ops bm_ops = { on_control, on_timer, bm_free };

void cmd_bind_multi(struct session *ss, const struct stp5_msg *m)
{
	struct bm_listener *L;
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	struct stp_addr ba;
	uint8_t b[STP_REPLY_MAX], rep = STP_REP_FAIL;
	int backlog = BM_BACKLOG_DEFAULT;
	size_t n;
	char principal[STP_PRINCIPAL_MAX];

	session_principal(ss, principal, sizeof(principal));
	if (listeners_of(ss->srv, principal) >= BM_LISTENERS_MAX) {
		session_reply_error(ss, STP_REP_LIMIT);
		return;
	}
	L = calloc(1, sizeof(*L));
	if (!L) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	if (STP_OPT_HAS(&m->opts, STP_OPT_BACKLOG) && m->opts.backlog)
		backlog = m->opts.backlog < BM_BACKLOG_MAX ? m->opts.backlog : BM_BACKLOG_MAX;
	L->expiry_s = BM_EXPIRY_DEFAULT;
	if (STP_OPT_HAS(&m->opts, STP_OPT_EXPIRY) && m->opts.expiry)
		L->expiry_s = m->opts.expiry < BM_EXPIRY_MAX ? m->opts.expiry : BM_EXPIRY_MAX;
	memcpy(L->principal, principal, sizeof(principal));
	if (ss->srv->cfg.attach_at) {
		char host[256];
		uint16_t port;
		struct stp_err e;
		/* checked by the configuration (config.c) */
		L->has_at = stp_hostport_split(ss->srv->cfg.attach_at, host, sizeof(host), &port,
					       -1, false, &e) == 0 &&
			    stp_addr_from_host(&L->at, host, port) == 0;
	}
	L->ctl = ss;
	L->last_active = stp_loop_now(ss->srv->loop);
	L->lfd = bind_listen(ss, backlog, &rep);
	if (L->lfd < 0 || getsockname(L->lfd, (struct sockaddr *)&bound, &bl) < 0 ||
	    stp_addr_from_sa(&ba, (struct sockaddr *)&bound) < 0) {
		if (L->lfd >= 0)
			close(L->lfd);
		free(L);
		session_reply_error(ss, rep);
		return;
	}
	nat_advertise(&ss->srv->cfg, &ba);  /* behind NAT: where peers really call */
	if (ss->dst.atyp != STP_ATYP_NAME && !stp_addr_is_zero(&ss->dst)) {
		L->restrict_peer = true;
		L->want = ss->dst;
	}
	stp_accept_pause_init(&L->pause, ss->srv->loop, L->lfd);
	ss->cst = L;
	ss->ops = &bm_ops;
	ss->state = S_CMD;
	stp_timer_stop(ss->srv->loop, &ss->timer);
	if (stp_loop_watch(ss->srv->loop, L->lfd, STP_EV_READ, on_listener, ss) < 0) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	n = stp5_reply_put(b, sizeof(b), STP_CMD_BIND_MULTI, STP_REP_OK, &ba, NULL);
	if (session_send(ss, b, n) < 0) {
		session_free(ss);
		return;
	}
	stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ);
	session_idle_check(ss, L->last_active);
}

void cmd_attach(struct session *ss, const struct stp5_msg *m)
{
	struct stp_server *s = ss->srv;
	struct ticket *t;
	char principal[STP_PRINCIPAL_MAX];
	uint8_t b[STP_REPLY_MAX];
	size_t n;

	if (!STP_OPT_HAS(&m->opts, STP_OPT_TICKET)) {
		session_reply_error(ss, STP_REP_BAD_TICKET);
		return;
	}
	if (handoff_attach(ss, m->opts.ticket))  /* another worker's ticket */
		return;
	for (t = s->tickets; t; t = t->next)
		if (CRYPTO_memcmp(t->id, m->opts.ticket, STP_TICKET_LEN) == 0)
			break;
	if (!t) {
		ss->result = "unknown or expired ticket";
		session_reply_error(ss, STP_REP_BAD_TICKET);
		return;
	}
	session_principal(ss, principal, sizeof(principal));
	if (strcmp(principal, t->owner->principal) != 0) {
		/* the ticket stays for its owner */
		/* principals are user names or certificate subjects: escaped */
		char who[STP_LOGESC_SIZE(sizeof(principal))];
		char owner[STP_LOGESC_SIZE(sizeof(t->owner->principal))];
		stp_log(&s->cfg.log, STP_LOG_WARN, "attach: %s tried a ticket of %s",
			stp_logesc(who, sizeof(who), principal, false),
			stp_logesc(owner, sizeof(owner), t->owner->principal, false));
		session_reply_error(ss, STP_REP_FOREIGN_TICKET);
		return;
	}
	ss->tfd = t->fd;
	ss->dst = t->peer;
	t->fd = -1;
	ticket_drop(s, t);  /* single use */
	n = stp5_reply_put(b, sizeof(b), STP_CMD_ATTACH, STP_REP_OK, &ss->dst, NULL);
	session_start_relay(ss, b, n);
}
