/* handoff.c - an ATTACH handed to the worker that holds its ticket
 * (handoff.h). */
#include <errno.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/addr.h"
#include "core/fdrecv.h"
#include "core/sock.h"
#include "server/handoff.h"
#include "server/server_priv.h"
#include "server/workers.h"

#define HO_MAGIC 0x73747068u   /* "stph": a message of this build's layout */
#define HO_BATCH 16            /* messages taken per inbox event */
#define HO_WORKER_BITS 0x3f    /* of the ticket's first byte: STP_MAX_WORKERS 64 */

struct hmsg;

struct handoff {
	int n;
	int sp[STP_MAX_WORKERS][2];  /* worker k's inbox: [0] it reads, [1] others send */
	bool started;
	struct hmsg *in;             /* the inbox's message buffer, made once */
};

/* One handed-over client. Sent as far as in[nin]; both ends are this
 * program, built once: no byte order or versions to mind beyond magic. */
struct hmsg {
	uint32_t magic;
	int32_t from;                  /* the sending worker, 0-based (for the log) */
	int32_t listener;
	uint16_t nin;
	struct sockaddr_storage peer;
	struct sess_creds who;
	uint8_t ticket[STP_TICKET_LEN];
	uint8_t in[SESS_IN_MAX];       /* the client's bytes after its request */
};

int handoff_init(struct stp_server *s, struct stp_err *e)
{
	struct handoff *h = calloc(1, sizeof(*h));

	if (!h)
		return stp_err_set(e, STP_EXIT_FAIL, "--workers: out of memory");
	for (int k = 0; k < STP_MAX_WORKERS; k++)
		h->sp[k][0] = h->sp[k][1] = -1;
	s->handoff = h;
	h->n = s->nworkers;
	for (int k = 0; k < h->n; k++)
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
			       h->sp[k]) < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "--workers: socketpair: %s",
					   strerror(errno));
	return 0;
}

void handoff_free(struct stp_server *s)
{
	struct handoff *h = s->handoff;

	if (!h)
		return;
	for (int k = 0; k < h->n; k++)
		for (int j = 0; j < 2; j++)
			if (h->sp[k][j] >= 0) {
				if (j == 0 && h->started && k == s->worker && s->loop)
					stp_loop_unwatch(s->loop, h->sp[k][0]);
				close(h->sp[k][j]);
			}
	if (h->in) {
		OPENSSL_cleanse(h->in, sizeof(*h->in));
		free(h->in);
	}
	free(h);
	s->handoff = NULL;
}

void handoff_stamp(const struct stp_server *s, uint8_t ticket[STP_TICKET_LEN])
{
	if (s->handoff)
		ticket[0] = (uint8_t)((ticket[0] & ~HO_WORKER_BITS) | (s->worker & HO_WORKER_BITS));
}

/* Takes one message off the inbox: a client for this worker. */
static void take_one(struct stp_server *s, struct hmsg *m, ssize_t n, int fd)
{
	uint8_t req[SESS_IN_MAX + 64];
	struct stp_opts o;
	struct stp_addr any;
	size_t rl;

	if (n < (ssize_t)offsetof(struct hmsg, in) || m->magic != HO_MAGIC ||
	    (size_t)n != offsetof(struct hmsg, in) + m->nin || m->listener < -1 ||
	    m->listener >= s->nls) {
		stp_log(&s->cfg.log, STP_LOG_WARN, "attach hand-over: a malformed message dropped");
		close(fd);
		return;
	}
	/* the request again, as the client sent it, then what followed it */
	memset(&o, 0, sizeof(o));
	memset(&any, 0, sizeof(any));
	any.atyp = STP_ATYP_IPV4;
	o.present = 1u << STP_OPT_TICKET;
	memcpy(o.ticket, m->ticket, STP_TICKET_LEN);
	rl = stp5_request_put(req, sizeof(req), STP_CMD_ATTACH, &any, &o);
	OPENSSL_cleanse(&o, sizeof(o));
	if (!rl || rl + m->nin > sizeof(req)) {
		close(fd);
		return;
	}
	memcpy(req + rl, m->in, m->nin);
	m->who.user[sizeof(m->who.user) - 1] = '\0';
	stp_log(&s->cfg.log, STP_LOG_DEBUG, "attach: a client handed over by worker %d",
		m->from + 1);
	session_adopt(s, fd, &m->peer, m->listener, &m->who, req, rl + m->nin);
	OPENSSL_cleanse(req, sizeof(req));
}

/* The inbox: up to HO_BATCH messages, each with exactly one descriptor;
 * any other descriptor a message brings is closed (stp_fdrecv). */
static void on_inbox(struct stp_loop *l, int ifd, unsigned ev, void *arg)
{
	struct stp_server *s = arg;
	struct handoff *h = s->handoff;
	struct hmsg *m = h->in;

	(void)l;
	(void)ev;
	for (int i = 0; i < HO_BATCH; i++) {
		int fd;
		bool bad;
		ssize_t n = stp_fdrecv(ifd, m, sizeof(*m), &fd, &bad);

		if (bad) {
			/* its descriptors are closed already */
			stp_log(&s->cfg.log, STP_LOG_WARN, "attach hand-over: a malformed message dropped");
			continue;
		}
		if (n <= 0)
			break;  /* EAGAIN; nothing else can come from a pair we hold */
		if (stp_set_nonblock(fd, true) < 0) {
			close(fd);
			continue;
		}
		take_one(s, m, n, fd);
		/* the client's bytes and credentials: not left in the buffer */
		OPENSSL_cleanse(m, (size_t)n < sizeof(*m) ? (size_t)n : sizeof(*m));
	}
}

int handoff_start(struct stp_server *s, struct stp_err *e)
{
	struct handoff *h = s->handoff;

	if (!h || h->started)
		return 0;
	/* one buffer for every wake-up: an hmsg is about 4 KiB */
	if (!h->in && !(h->in = malloc(sizeof(*h->in))))
		return stp_err_set(e, STP_EXIT_FAIL, "worker %d: out of memory", s->worker + 1);
	for (int k = 0; k < h->n; k++) {
		int *mine = &h->sp[k][k == s->worker ? 1 : 0];  /* not this worker's end */
		if (*mine >= 0 && close(*mine) < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "worker %d: close: %s", s->worker + 1,
					   strerror(errno));
		*mine = -1;
	}
	if (stp_loop_watch(s->loop, h->sp[s->worker][0], STP_EV_READ, on_inbox, s) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "worker %d: watch inbox: %s", s->worker + 1,
				   strerror(errno));
	h->started = true;
	return 0;
}

/* Sends fd and ss's state to worker k's inbox, with in[nin] after the
 * request. Returns 0, or -1 with errno (EAGAIN: the inbox is full). */
static int send_to(struct session *ss, int k, int fd, const uint8_t ticket[STP_TICKET_LEN],
		   const uint8_t *in, size_t nin)
{
	struct stp_server *s = ss->srv;
	struct handoff *h = s->handoff;
	struct hmsg *m = calloc(1, sizeof(*m));
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
	struct cmsghdr *c;
	ssize_t n;

	if (!m)
		return -1;
	if (nin > sizeof(m->in)) {
		free(m);
		errno = EMSGSIZE;
		return -1;
	}
	m->magic = HO_MAGIC;
	m->from = s->worker;
	m->listener = ss->listener;
	m->nin = (uint16_t)nin;
	m->peer = ss->peer;
	memcpy(m->who.user, ss->user, sizeof(m->who.user));
	m->who.authenticated = ss->authenticated;
	m->who.cert_auth = ss->cert_auth;
	m->who.gss_auth = ss->gss_auth;
	memcpy(m->ticket, ticket, STP_TICKET_LEN);
	if (nin)
		memcpy(m->in, in, nin);
	iov.iov_base = m;
	iov.iov_len = offsetof(struct hmsg, in) + nin;
	memset(&cm, 0, sizeof(cm));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(h->sp[k][1], &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	OPENSSL_cleanse(m, sizeof(*m));
	free(m);
	/* a seqpacket message goes whole or not at all */
	return n < 0 ? -1 : 0;
}

bool handoff_attach(struct session *ss, const uint8_t ticket[STP_TICKET_LEN])
{
	static const uint8_t none[1];
	struct stp_server *s = ss->srv;
	int k = ticket[0] & HO_WORKER_BITS, p[2];

	if (!s->handoff || k == s->worker)
		return false;
	if (k >= s->nworkers) {
		/* no worker made it: no such ticket */
		ss->result = "unknown or expired ticket";
		session_reply_error(ss, STP_REP_BAD_TICKET);
		return true;
	}
	if (!ss->ssl && !ss->gss) {
		/* the socket itself moves, with the bytes read past the request */
		if (send_to(ss, k, ss->cfd, ticket, ss->in, ss->inlen) < 0)
			goto fail;
		stp_log(&s->cfg.log, STP_LOG_INFO, "attach: ticket of worker %d handed over "
			"from worker %d", k + 1, s->worker + 1);
		ss->handed = true;
		session_free(ss);  /* this worker's copy of the socket; the client stays */
		return true;
	}
	/* TLS or GSS-API state lives in this process: relay to worker k,
	 * which sees a plain client on the other end of a socketpair */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p) < 0)
		goto fail;
	if (send_to(ss, k, p[1], ticket, NULL, 0) < 0) {
		int err = errno;
		close(p[0]);
		close(p[1]);
		errno = err;
		goto fail;
	}
	close(p[1]);
	stp_log(&s->cfg.log, STP_LOG_INFO, "attach: ticket of worker %d relayed from worker %d",
		k + 1, s->worker + 1);
	ss->tfd = p[0];
	session_start_relay(ss, none, 0);  /* worker k sends the reply */
	return true;
fail:
	stp_log(&s->cfg.log, STP_LOG_WARN, "attach: cannot hand the client to worker %d: %s",
		k + 1, errno == EAGAIN ? "its inbox is full" : strerror(errno));
	ss->result = "hand-over to another worker failed";
	session_reply_error(ss, STP_REP_FAIL);
	return true;
}
