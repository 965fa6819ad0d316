/* upmux.c - stp-serve --upstream-mux: every upstream connection is a stream
 * of one MUX session to the first --upstream proxy (a laptop's stp-serve
 * carrying every application's connections over one authenticated TLS
 * connection to a remote one).
 *
 * A session's upstream side is one end of a socketpair; the other end is a
 * stream of the MUX session (muxlink.c), whose local end speaks SOCKS5, so
 * upstream.c runs its usual handshake over it (an in-process first hop,
 * then the configured hops after the first).
 *
 * The MUX session is opened on demand by the blocking client (client.c:
 * name lookup, TLS, authentication, the MUX request) on a thread of its
 * own, so the loop never waits; streams asked for meanwhile wait in their
 * socketpairs. When it fails or is lost, the waiting and open streams
 * close (their sessions answer X'01' or end) and the next request tries
 * again. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client.h"
#include "mux/muxlink.h"
#include "server/server_priv.h"
#include "server/upmux.h"
#include "server/upstream.h"

#define KEEPALIVE_MS 30000

enum ustate { U_IDLE, U_CONNECTING, U_UP };

struct upmux {
	struct stp_server *s;
	enum ustate st;
	struct stp_client client;   /* the first --upstream hop alone */
	pthread_t th;
	int pipe[2];                /* the thread's "done" */
	struct stp_conn conn;       /* the thread's result ... */
	struct stp_err err;
	int rc;
	struct stp_muxlink *link;   /* U_UP */
	int *pending;               /* stream ends waiting for U_UP */
	size_t npending, cappending;
};

static void close_pending(struct upmux *u)
{
	for (size_t i = 0; i < u->npending; i++)
		close(u->pending[i]);
	u->npending = 0;
}

static void *connect_thread(void *arg)
{
	struct upmux *u = arg;
	ssize_t w;

	u->rc = stp_client_open_opts(&u->client, STP_CMD_MUX, "0.0.0.0", 0, NULL, &u->conn,
				     &u->err);
	do
		w = write(u->pipe[1], "", 1);
	while (w < 0 && errno == EINTR);
	return NULL;
}

static void link_done(void *arg, int err, const char *why)
{
	struct upmux *u = arg;

	stp_log(&u->s->cfg.log, STP_LOG_WARN, "upstream MUX session to %s:%u %s%s",
		u->client.hops[0].host, u->client.hops[0].port,
		err ? "lost: " : "closed by the proxy", err ? why : "");
	stp_muxlink_free(u->link);  /* its streams close: their sessions end */
	u->link = NULL;
	u->st = U_IDLE;
}

static void on_ready(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct upmux *u = arg;
	char b;

	(void)ev;
	if (read(fd, &b, 1) != 1)
		return;
	pthread_join(u->th, NULL);
	stp_loop_unwatch(l, fd);
	close(u->pipe[0]);
	close(u->pipe[1]);
	u->pipe[0] = u->pipe[1] = -1;
	if (u->rc == 0)
		u->link = stp_muxlink_new(l, &u->conn, KEEPALIVE_MS, link_done, u);
	if (!u->link) {
		if (u->rc == 0) {
			stp_conn_close(&u->conn);
			stp_err_set(&u->err, STP_EXIT_FAIL, "%s", strerror(errno ? errno : ENOMEM));
		}
		stp_log(&u->s->cfg.log, STP_LOG_WARN, "upstream MUX session to %s:%u: %s",
			u->client.hops[0].host, u->client.hops[0].port, u->err.msg);
		close_pending(u);  /* their sessions answer X'01' */
		u->st = U_IDLE;
		return;
	}
	stp_log(&u->s->cfg.log, STP_LOG_INFO, "upstream MUX session to %s:%u open",
		u->client.hops[0].host, u->client.hops[0].port);
	u->st = U_UP;
	for (size_t i = 0; i < u->npending; i++)
		stp_muxlink_attach(u->link, u->pending[i]);  /* closes the fd on failure */
	u->npending = 0;
}

static int start_connecting(struct upmux *u)
{
	struct stp_loop *l = u->s->loop;

	if (pipe2(u->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	if (stp_loop_watch(l, u->pipe[0], STP_EV_READ, on_ready, u) < 0)
		goto fail;
	memset(&u->conn, 0, sizeof(u->conn));
	u->conn.fd = -1;
	if ((errno = pthread_create(&u->th, NULL, connect_thread, u)) != 0) {
		stp_loop_unwatch(l, u->pipe[0]);
		goto fail;
	}
	u->st = U_CONNECTING;
	return 0;
fail:
	close(u->pipe[0]);
	close(u->pipe[1]);
	u->pipe[0] = u->pipe[1] = -1;
	return -1;
}

static struct upmux *upmux_get(struct stp_server *s)
{
	struct upmux *u = s->upmux;
	struct stp_proxy hops[STP_MAX_HOPS];

	if (u)
		return u;
	if (upstream_config_hops(s, hops, STP_MAX_HOPS) < 1 || !(u = calloc(1, sizeof(*u))))
		return NULL;
	u->s = s;
	u->pipe[0] = u->pipe[1] = -1;
	u->client.hops[0] = hops[0];
	u->client.nhops = 1;
	u->client.family = AF_UNSPEC;
	u->client.timeout_ms = s->cfg.connect_timeout_ms;
	u->client.tls.cacert = s->cfg.upstream_cacert;
	for (int i = 0; i < STP_MAX_HOPS; i++)
		stp_proxy_wipe(&hops[i]);
	s->upmux = u;
	return u;
}

/* One more stream end for the MUX session: now, or once it is up. */
static int attach(struct upmux *u, int fd)
{
	if (u->st == U_UP)
		return stp_muxlink_attach(u->link, fd);
	if (u->npending == u->cappending) {
		size_t cap = u->cappending ? 2 * u->cappending : 16;
		int *p = realloc(u->pending, cap * sizeof(*p));
		if (!p)
			goto fail;
		u->pending = p;
		u->cappending = cap;
	}
	if (u->st == U_IDLE && start_connecting(u) < 0)
		goto fail;
	u->pending[u->npending++] = fd;
	return 0;
fail:
	close(fd);
	return -1;
}

static void upmux_start(struct session *ss)
{
	struct stp_server *s = ss->srv;
	struct upmux *u = upmux_get(s);
	struct stp_proxy hops[STP_MAX_HOPS];
	int n = upstream_config_hops(s, hops, STP_MAX_HOPS), sv[2];

	if (!u || n < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		stp_log(&s->cfg.log, STP_LOG_WARN, "upstream MUX: %s", strerror(errno ? errno : ENOMEM));
		session_reply_error(ss, STP_REP_FAIL);
	} else if (attach(u, sv[0]) < 0) {
		close(sv[1]);
		session_reply_error(ss, STP_REP_FAIL);
	} else {
		/* the first hop is the stream; the hops after it go inside */
		upstream_inproc_hop(&hops[0], "upstream-mux");
		upstream_start_on_fd(ss, sv[1], hops, n);
	}
	for (int i = 0; i < STP_MAX_HOPS; i++)
		stp_proxy_wipe(&hops[i]);
}

void upmux_route(struct session *ss)
{
	if (ss->srv->cfg.upstream_mux)
		upmux_start(ss);
	else
		upstream_start(ss);
}

void upmux_free(struct stp_server *s)
{
	struct upmux *u = s->upmux;

	if (!u)
		return;
	if (u->st == U_CONNECTING) {
		pthread_join(u->th, NULL);  /* bounded by the connect timeout */
		stp_loop_unwatch(s->loop, u->pipe[0]);
		close(u->pipe[0]);
		close(u->pipe[1]);
		if (u->rc == 0)
			stp_conn_close(&u->conn);
	}
	stp_muxlink_free(u->link);
	close_pending(u);
	free(u->pending);
	stp_proxy_wipe(&u->client.hops[0]);
	free(u);
	s->upmux = NULL;
}
