/* muxmaster.c - stp-connect --mux-master (see muxmaster.h): one MUX
 * session to the proxy, opened with the blocking client (client.c), then
 * an event loop that hands every connection on the Unix socket to the MUX
 * engine (muxlink.c, muxconn.c) as a stream.
 *
 * A stream that ends normally has its local connection shut down one way
 * at a time (FIN from the proxy: shutdown(SHUT_WR)), and closed only once
 * the local client has sent its EOF too; a reset stream, or every stream
 * when the master ends, is closed at once. That is how a `--mux` client
 * tells "the master is gone" (a hang-up while it still sends: exit 1) from
 * "the target closed" (an EOF).
 *
 * When the MUX connection is lost (the proxy restarts), the streams on it
 * end, and the master opens a new one after a backoff (RETRY_MIN_MS,
 * doubling up to RETRY_MAX_MS) instead of exiting: the same Unix socket
 * keeps working. Meanwhile it accepts nobody; new local clients wait in
 * the socket's backlog. Only the first open decides the exit status. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client.h"
#include "core/event.h"
#include "mux/muxconn.h"
#include "mux/muxlink.h"
#include "mux/muxmaster.h"
#include "core/unixsock.h"

#define KEEPALIVE_MS 30000
#define ACCEPT_PAUSE_MS 100
#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 8000

struct master {
	struct stp_loop *l;
	struct stp_muxlink *link;
	int lfd;
	struct stp_timer pause;   /* accept paused after EMFILE */
	struct stp_timer retry;   /* the next try at a new MUX connection */
	uint64_t backoff_ms;      /* the wait before the try after that */
	struct stp_muxlink *dead; /* the lost link, freed outside its callback */
	struct stp_clientopts *co;
	const struct stp_log *log;
};

static void link_done(void *arg, int err, const char *why)
{
	struct master *ms = arg;

	if (err == 0)
		stp_log(ms->log, STP_LOG_WARN, "the proxy closed the MUX connection; reconnecting");
	else
		stp_log(ms->log, STP_LOG_WARN, "MUX connection to the proxy lost: %s%s%s; reconnecting",
			why, err == EPROTO || err == ETIMEDOUT ? "" : ": ",
			err == EPROTO || err == ETIMEDOUT ? "" : strerror(err));
	ms->dead = ms->link;
	ms->link = NULL;
	stp_loop_set(ms->l, ms->lfd, 0);  /* clients wait in the backlog */
	stp_timer_stop(ms->l, &ms->pause);
	ms->backoff_ms = RETRY_MIN_MS;
	stp_timer_start(ms->l, &ms->retry, RETRY_MIN_MS);
}

/* A new MUX connection, with the blocking client (bounded by -w): the
 * loop has nothing else to do meanwhile. On failure, the next try after
 * twice the wait, up to RETRY_MAX_MS. */
static void on_retry(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct master *ms = arg;
	struct stp_conn conn = { .fd = -1 };
	struct stp_err e = { 0 };

	(void)t;
	stp_muxlink_free(ms->dead);
	ms->dead = NULL;
	/* a GSS-API protected session too: the link wraps (muxlink.c) */
	if (stp_client_open_opts(&ms->co->client, STP_CMD_MUX, "0.0.0.0", 0, NULL, &conn, &e) == 0) {
		ms->link = stp_muxlink_new(l, &conn, KEEPALIVE_MS, link_done, ms);
		if (ms->link) {
			stp_log(ms->log, STP_LOG_INFO, "MUX connection to the proxy open again");
			stp_loop_set(l, ms->lfd, STP_EV_READ);
			return;
		}
		stp_conn_close(&conn);
		stp_err_set(&e, STP_EXIT_FAIL, "MUX session: %s", strerror(errno ? errno : ENOMEM));
	}
	stp_log(ms->log, STP_LOG_WARN, "reconnecting: %s; next try in %.1f s", e.msg,
		(double)ms->backoff_ms * 2 / 1000);
	ms->backoff_ms = ms->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : ms->backoff_ms * 2;
	stp_timer_start(l, &ms->retry, ms->backoff_ms);
}

static void on_accept(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct master *ms = arg;

	(void)ev;
	if (!ms->link)
		return;  /* reconnecting: an event of the same batch as the loss */
	for (int i = 0; i < 64; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				stp_log(ms->log, STP_LOG_WARN, "accept: %s: pausing", strerror(errno));
				stp_loop_set(l, fd, 0);
				stp_timer_start(l, &ms->pause, ACCEPT_PAUSE_MS);
			}
			return;
		}
		if (stp_muxlink_attach(ms->link, c) < 0)
			stp_log(ms->log, STP_LOG_WARN, "local client refused: %d streams open",
				STP_MUX_STREAMS_MAX);
	}
}

static void on_pause(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct master *ms = arg;

	(void)t;
	stp_loop_set(l, ms->lfd, STP_EV_READ);
}

static void on_signal(struct stp_loop *l, int signo, void *arg)
{
	struct master *ms = arg;

	stp_log(ms->log, STP_LOG_INFO, "%s: stopping", strsignal(signo));
	stp_loop_stop(l);
}

static void announce(const struct stp_clientopts *co, const char *path)
{
	struct stp_event_field v[] = { { "path", path, 0 } };

	stp_event_print(stderr, co->json, "listening", v, 1);
}

int stp_mux_master_run(struct stp_clientopts *co, const char *path, struct stp_err *e)
{
	struct master *ms = calloc(1, sizeof(*ms));
	struct stp_conn conn = { .fd = -1 };
	int rc = -1;

	if (!ms)
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	ms->log = &co->log;
	ms->co = co;
	ms->lfd = stp_unix_listen(path, e);
	if (ms->lfd < 0) {
		free(ms);
		return -1;
	}
	if (stp_client_open_opts(&co->client, STP_CMD_MUX, "0.0.0.0", 0, NULL, &conn, e) < 0)
		goto out;
	ms->l = stp_loop_new(4096, e);
	if (!ms->l || stp_loop_watch(ms->l, ms->lfd, STP_EV_READ, on_accept, ms) < 0 ||
	    stp_loop_signal(ms->l, SIGTERM, on_signal, ms) < 0 ||
	    stp_loop_signal(ms->l, SIGINT, on_signal, ms) < 0 ||
	    stp_loop_signal(ms->l, SIGHUP, on_signal, ms) < 0) {
		if (ms->l)
			stp_err_set(e, STP_EXIT_FAIL, "event loop: %s", strerror(errno));
		goto out;
	}
	stp_timer_init(&ms->pause, on_pause, ms);
	stp_timer_init(&ms->retry, on_retry, ms);
	ms->link = stp_muxlink_new(ms->l, &conn, KEEPALIVE_MS, link_done, ms);
	if (!ms->link) {
		stp_err_set(e, STP_EXIT_FAIL, "MUX session: %s", strerror(errno ? errno : ENOMEM));
		stp_conn_close(&conn);
		goto out;
	}
	announce(co, path);
	if (stp_loop_run(ms->l) < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "event loop: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	unlink(path);
	stp_muxlink_free(ms->link);  /* every stream's client sees a hang-up */
	stp_muxlink_free(ms->dead);
	if (ms->l) {
		stp_timer_stop(ms->l, &ms->pause);
		stp_timer_stop(ms->l, &ms->retry);
		stp_loop_unwatch(ms->l, ms->lfd);
	}
	close(ms->lfd);
	stp_loop_free(ms->l);
	free(ms);
	return rc;
}
