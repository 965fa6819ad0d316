/* stream.c - one relay on its own loop; the -L forwarder (a thread per
 * connection); a command on a stream (stp-bind -e) and a child per stream. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/addr.h"
#include "core/evloop.h"
#include "core/relay.h"
#include "core/sock.h"
#include "client/gssrelay.h"
#include "client/stream.h"

#define FORWARD_STACK (1024 * 1024)  /* a TLS hop's handshake is the deepest */

struct run {
	struct stp_loop *loop;
	int err;
};

static void on_done(struct stp_relay *r, void *arg, int err)
{
	struct run *st = arg;

	(void)r;
	st->err = err;
	stp_loop_stop(st->loop);
}

/* A Unix socket is a --mux master's: it hangs up (closes both ways) only
 * when it is gone or the stream was reset (muxmaster.c). */
static bool is_unix(int fd)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);

	return getsockname(fd, (struct sockaddr *)&sa, &len) == 0 && sa.ss_family == AF_UNIX;
}

/* Whether fd's reader is gone: a pipe with no reader left (POLLERR), a
 * socket closed by its peer (POLLHUP). What an EPIPE means when it is
 * fd's: `stp-connect ... | head -c 5` ending, a normal end as for nc. */
static bool reader_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

/* rfd and wfd closed (once when they are one), blocking again first: a
 * stdin/stdout may be shared with a shell. For the paths where the relay
 * never took them. */
static void close_ends(int rfd, int wfd)
{
	stp_set_nonblock(rfd, false);
	close(rfd);
	if (wfd != rfd) {
		stp_set_nonblock(wfd, false);
		close(wfd);
	}
}

int stp_stream_run(int rfd, int wfd, struct stp_conn *conn, struct stp_err *e)
{
	int sock = conn->fd;
	const uint8_t *early = conn->early;
	size_t nearly = conn->nearly;
	struct stp_loop *l;
	struct stp_relay *r;
	struct run st = { NULL, 0 };

	signal(SIGPIPE, SIG_IGN);
	if (nearly && stp_write_all(wfd, early, nearly, 0) < 0) {
		int err = errno;
		stp_conn_close(conn);
		close_ends(rfd, wfd);
		if (err == EPIPE)
			return 0;  /* the reader took what it wanted and left */
		return stp_err_set(e, STP_EXIT_FAIL, "write: %s", strerror(err));
	}
	if (conn->gss)  /* RFC 1961 section 5: every byte wrapped */
		return stp_gss_relay_run(rfd, wfd, conn, e);
	l = stp_loop_new(sock > wfd ? (sock > rfd ? sock : rfd) + 16 : (wfd > rfd ? wfd : rfd) + 16, e);
	if (!l) {
		stp_conn_close(conn);
		close_ends(rfd, wfd);
		return -1;
	}
	/* the relay puts non-sockets back to blocking before it closes them:
	 * stdin/stdout may be shared with a shell */
	st.loop = l;
	stp_set_nonblock(rfd, true);
	stp_set_nonblock(wfd, true);
	stp_set_nonblock(sock, true);
	bool mux = is_unix(sock);
	struct stp_relay_cfg cfg = { .a_rfd = rfd, .a_wfd = wfd, .b_rfd = sock, .b_wfd = sock,
				     .b_ssl = stp_conn_ssl(conn), .b_hangup_fails = mux };
	conn->fd = -1;  /* the relay's now */
	r = stp_relay_new(l, &cfg, on_done, &st, e);
	if (!r) {
		stp_conn_close(conn);
		stp_loop_free(l);
		close_ends(rfd, wfd);
		return -1;
	}
	if (stp_loop_run(l) < 0)
		st.err = errno;
	/* asked before the relay closes wfd: whose EPIPE it was */
	if (st.err == EPIPE && reader_gone(wfd))
		st.err = 0;
	stp_relay_free(r);  /* closes sock, and rfd/wfd where still open */
	stp_conn_close(conn);  /* the TLS hops */
	stp_loop_free(l);
	if (st.err == ECONNRESET && mux)
		return stp_err_set(e, STP_EXIT_FAIL, "mux master gone, or the stream was reset");
	if (st.err)
		return stp_err_set(e, STP_EXIT_FAIL, "connection: %s", strerror(st.err));
	return 0;
}

/* One forwarded connection: connect onward, relay, end. */
struct fwd_job {
	int cfd;
	stp_forward_open *open_fn;
	void *arg;
	const struct stp_log *lg;
};

static void *forward_thread(void *p)
{
	struct fwd_job *j = p;
	struct stp_conn conn;
	struct stp_err e = { 0, "" };

	if (j->open_fn(j->arg, &conn, &e) < 0) {
		stp_log(j->lg, STP_LOG_ERR, "%s", e.msg);
		close(j->cfd);
	} else if (stp_stream_run(j->cfd, j->cfd, &conn, &e) < 0) {
		stp_log(j->lg, STP_LOG_INFO, "%s", e.msg);
	}
	free(j);
	return NULL;
}

/* A thread per connection, as the --wrap agent does: a slow proxy holds up
 * nobody else, and no fork (its page-table copy and copy-on-write faults)
 * is on a connection's path. */
static void forward_spawn(int cfd, stp_forward_open *open_fn, void *arg,
			  const struct stp_log *lg, const pthread_attr_t *attr)
{
	struct fwd_job *j = malloc(sizeof(*j));
	pthread_t t;
	int rc;

	if (!j) {
		stp_log(lg, STP_LOG_WARN, "accept: %s", strerror(ENOMEM));
		close(cfd);
		return;
	}
	*j = (struct fwd_job){ cfd, open_fn, arg, lg };
	rc = pthread_create(&t, attr, forward_thread, j);
	if (rc != 0) {
		stp_log(lg, STP_LOG_WARN, "thread: %s", strerror(rc));
		close(cfd);
		free(j);
	}
}

int stp_forward_serve(int lfd, stp_forward_open *open_fn, void *arg,
		      const struct stp_log *lg, struct stp_err *e)
{
	pthread_attr_t attr;
	struct rlimit rl;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* two descriptors per connection, all in this one process */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((rc = pthread_attr_init(&attr)) != 0)
		return stp_err_set(e, STP_EXIT_FAIL, "thread: %s", strerror(rc));
	if ((rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED)) != 0 ||
	    (rc = pthread_attr_setstacksize(&attr, FORWARD_STACK)) != 0) {
		pthread_attr_destroy(&attr);
		return stp_err_set(e, STP_EXIT_FAIL, "thread: %s", strerror(rc));
	}
	stp_set_nonblock(lfd, false);
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int cfd = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
		char ps[STP_ADDRSTRLEN];

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (stp_accept_exhausted(errno)) {
				stp_log(lg, STP_LOG_WARN, "accept: %s", strerror(errno));
				usleep(100000);
				continue;
			}
			rc = errno;
			pthread_attr_destroy(&attr);
			return stp_err_set(e, STP_EXIT_FAIL, "accept: %s", strerror(rc));
		}
		stp_log(lg, STP_LOG_DEBUG, "accepted %s",
			stp_sa_str((struct sockaddr *)&peer, ps, sizeof(ps)));
		forward_spawn(cfd, open_fn, arg, lg, &attr);
	}
}

int stp_stream_run_dup(int rfd, int wfd, struct stp_conn *conn, struct stp_err *e)
{
	int in = dup(rfd), out = in < 0 ? -1 : dup(wfd);

	if (out < 0) {
		int err = errno;
		if (in >= 0)
			close(in);
		stp_conn_close(conn);
		return stp_err_set(e, STP_EXIT_FAIL, "%s", strerror(err));
	}
	return stp_stream_run(in, out, conn, e);
}

pid_t stp_run_child(stp_child_fn *fn, void *arg, struct stp_err *e)
{
	pid_t pid = fork();

	if (pid < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int stp_exec_on(const char *cmd, int fd, struct stp_err *e)
{
	const char *what = "dup2";

	/* close-on-exec rather than closed: on failure fd is still the caller's */
	if (dup2(fd, 0) >= 0 && dup2(fd, 1) >= 0 && (fd <= 1 || fcntl(fd, F_SETFD, FD_CLOEXEC) == 0)) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		what = "/bin/sh";
	}
	int err = errno;
	/* 127: what sh itself exits with when it cannot run a command */
	stp_err_set(e, 127, "%s: %s", what, strerror(err));
	errno = err;
	return -1;
}

/* The child of stp_exec_attached: CMD on sock; an errno that stops it
 * goes up the close-on-exec pipe, which only closes when exec works. */
static void exec_child(const char *cmd, int sock, int errfd)
{
	struct stp_err e;

	stp_exec_on(cmd, sock, &e);
	int err = errno;
	if (write(errfd, &err, sizeof(err)) != (ssize_t)sizeof(err)) {
		/* nothing more to do: the parent sees the pipe close and
		 * takes the exec as done; this child's 127 still tells */
	}
	_exit(127);
}

/* Waits for the pipe of exec_child to close (exec worked: 0) or to carry
 * an errno (-1 with e). */
static int exec_result(int errfd, struct stp_err *e)
{
	int err = 0;
	ssize_t n;

	do
		n = read(errfd, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "read: %s", strerror(errno));
	if (n == (ssize_t)sizeof(err))
		return stp_err_set(e, 127, "/bin/sh: %s", strerror(err));  /* or dup2's */
	return 0;
}

int stp_exec_attached(const char *cmd, int *fd, pid_t *pid, struct stp_err *e)
{
	int sp[2], ep[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "socketpair: %s", strerror(errno));
	if (pipe2(ep, O_CLOEXEC) < 0) {
		int err = errno;
		close(sp[0]);
		close(sp[1]);
		return stp_err_set(e, STP_EXIT_FAIL, "pipe: %s", strerror(err));
	}
	*pid = fork();
	if (*pid == 0) {
		close(sp[0]);
		close(ep[0]);
		exec_child(cmd, sp[1], ep[1]);
	}
	int err = errno;
	close(sp[1]);
	close(ep[1]);
	if (*pid < 0) {
		close(sp[0]);
		close(ep[0]);
		return stp_err_set(e, STP_EXIT_FAIL, "fork: %s", strerror(err));
	}
	int rc = exec_result(ep[0], e);
	close(ep[0]);
	if (rc < 0) {
		close(sp[0]);
		waitpid(*pid, NULL, 0);  /* ECHILD under SA_NOCLDWAIT: reaped already */
		return -1;
	}
	*fd = sp[0];
	return 0;
}
