/* relay.c - two directions, each OPEN -> DRAIN -> CLOSED. */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include "core/relay.h"
#include "core/tls.h"

enum dstate { D_OPEN, D_DRAIN, D_CLOSED };

#define SPLICE_AFTER (256 * 1024)  /* bytes a direction moves before it gets a pipe */
#define PIPE_WANT (1024 * 1024)    /* pipe size asked for (the default maximum) */
#define PUMP_ROUNDS 8              /* reads per event while both ends keep up */

struct dir {
	int rfd, wfd;
	bool wsock;          /* wfd is a socket: half-close with shutdown() */
	enum dstate state;
	char *buf;           /* buffer mode: allocated while bytes are pending */
	size_t off, len;
	int pipe[2];         /* splice mode: pipe[0] read end, pipe[1] write end */
	size_t inpipe, pipecap;
	SSL *rssl, *wssl;    /* TLS on the reading / writing side */
	bool can_splice;     /* two plain sockets: a pipe may replace the buffer */
	bool borrowed;       /* buf is the loop's scratch, for this callback only */
	unsigned rwant, wwant;  /* the fd event TLS waits for (it may be the other one) */
	uint64_t bytes;
	bool paused;         /* out of budget (rate limit) until limit_timer */
	bool drained;        /* the last read took less than it asked: the
				socket was empty then (level-triggered epoll
				reports what comes later) */
};

struct stp_relay {
	struct stp_loop *loop;
	struct dir d[2];
	int fds[4];          /* the distinct fds, -1 for unused slots */
	bool sock[4];        /* fds[i] is a socket (asked once) */
	bool own;            /* cfg.own_sockets */
	bool b_hangup_fails; /* cfg.b_hangup_fails */
	size_t bufsize;
	uint64_t last;
	stp_relay_done_cb *cb;
	void *arg;
	bool done;
	stp_relay_budget_cb *budget;  /* rate limit, NULL: none */
	stp_relay_spent_cb *spent;
	void *limit_arg;
	struct stp_timer limit_timer; /* ends the pause of paused directions */
};

static bool is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Lets go of the direction's buffer (its own, or the borrowed scratch). */
static void buf_release(struct dir *d)
{
	if (!d->borrowed)
		free(d->buf);
	d->buf = NULL;
	d->off = d->len = 0;
}

/* The one place a direction changes state; only forward moves are legal
 * (a late EOF on a closed direction changes nothing). */
static void dir_set(struct dir *d, enum dstate to)
{
	if (to > d->state)
		d->state = to;
}

/* A non-socket (stdin, stdout) may share its file description with a
 * shell or a sibling: it goes back to blocking before it is let go. */
static void close_fd(int fd, bool sock)
{
	if (!sock) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && (fl & O_NONBLOCK))
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	close(fd);
}

static size_t pending(const struct dir *d)
{
	return d->pipe[0] >= 0 ? d->inpipe : d->len - d->off;
}

static bool wants_read(const struct stp_relay *r, const struct dir *d)
{
	if (d->state != D_OPEN || d->paused)
		return false;
	if (d->pipe[0] >= 0)
		return d->inpipe < d->pipecap;
	return d->len - d->off < r->bufsize;
}

/* The interest fd should have, from the directions' states. */
static unsigned fd_interest(const struct stp_relay *r, int fd)
{
	unsigned m = 0;

	for (int k = 0; k < 2; k++) {
		const struct dir *d = &r->d[k];
		if (d->rfd == fd && wants_read(r, d))
			m |= d->rssl ? d->rwant : STP_EV_READ;
		if (d->wfd == fd && d->state != D_CLOSED && pending(d))
			m |= d->wssl ? d->wwant : STP_EV_WRITE;
	}
	return m;
}

/* Recomputes every fd's interest from the directions' states. */
static void update_masks(struct stp_relay *r)
{
	for (int i = 0; i < 4; i++)
		if (r->fds[i] >= 0)
			stp_loop_set(r->loop, r->fds[i], fd_interest(r, r->fds[i]));
}

static int pass_reset(struct stp_relay *r, int fd, int err);

/* Whether the close(2) that follows at once does what shutdown(SHUT_WR)
 * would: the relay owns the socket (its close is the last reference, made
 * by stp_relay_free from the done callback), and the other direction has
 * read this socket to its EOF and is closed, so no unread byte turns the
 * close into a reset. One system call less at the end of each session. */
static bool close_sends_fin(const struct stp_relay *r, const struct dir *d)
{
	const struct dir *o = &r->d[d == &r->d[0] ? 1 : 0];

	return r->own && o->state == D_CLOSED && o->rfd == d->wfd;
}

/* EOF seen and nothing pending: pass the half-close on. Returns 0, or the
 * reset close_notify's send met (ECONNRESET, EPIPE). */
static int dir_finish(struct stp_relay *r, struct dir *d)
{
	if (d->state != D_DRAIN || pending(d))
		return 0;
	if (d->wssl) {
		/* close_notify ends this direction; the other may still read
		 * (TLS 1.3 half-close). No TCP shutdown: under a nested TLS hop
		 * the socket carries the outer connection too. */
		ERR_clear_error();
		errno = 0;
		if (SSL_shutdown(d->wssl) < 0 && (errno == ECONNRESET || errno == EPIPE)) {
			/* the send took the socket's pending reset: the reader
			 * would now see a plain EOF, so it is reported here */
			int err = errno;
			ERR_clear_error();
			buf_release(d);
			dir_set(d, D_CLOSED);
			return pass_reset(r, d->wfd, err);
		}
		ERR_clear_error();
	} else if (d->wsock) {
		if (!close_sends_fin(r, d))
			shutdown(d->wfd, SHUT_WR);
	} else {
		/* a pipe or file (stdout): closing it is the only EOF it knows,
		 * unless the same fd is also read from */
		bool shared = false;
		for (int k = 0; k < 2; k++)
			if (r->d[k].rfd == d->wfd)
				shared = true;
		if (!shared) {
			for (int i = 0; i < 4; i++)
				if (r->fds[i] == d->wfd) {
					stp_loop_unwatch(r->loop, d->wfd);
					close_fd(d->wfd, r->sock[i]);
					r->fds[i] = -1;
				}
			for (int k = 0; k < 2; k++)
				if (r->d[k].wfd == d->wfd && &r->d[k] != d)
					r->d[k].wfd = -1;
			d->wfd = -1;
		}
	}
	buf_release(d);
	dir_set(d, D_CLOSED);
	return 0;
}

static bool slot_socket(const struct stp_relay *r, int fd);

/* fd was reset by its peer: every other socket of the relay will close
 * with a reset too (SO_LINGER 0), so that the far side sees an error, as
 * it would on a direct connection, and not a clean EOF. Returns err. */
static int pass_reset(struct stp_relay *r, int fd, int err)
{
	static const struct linger rst = { .l_onoff = 1, .l_linger = 0 };

	/* EPIPE: a socket reset earlier (a pipe's reader gone is no reset) */
	if ((err != ECONNRESET && err != EPIPE) || !slot_socket(r, fd))
		return err;
	for (int i = 0; i < 4; i++)
		if (r->fds[i] >= 0 && r->fds[i] != fd && r->sock[i])
			/* refused by a socket that is not TCP (a socketpair):
			 * its close stays a plain one, which is all it has */
			(void)setsockopt(r->fds[i], SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	return err;
}

/* Returns 0, or an errno for a fatal error. */
static int dir_write(struct stp_relay *r, struct dir *d)
{
	while (pending(d)) {
		ssize_t n;
		if (d->wssl) {
			size_t w;
			enum stp_tls_io t = stp_tls_write(d->wssl, d->buf + d->off, d->len - d->off, &w);
			if (t == STP_TLS_WANT_READ || t == STP_TLS_WANT_WRITE) {
				d->wwant = t == STP_TLS_WANT_READ ? STP_EV_READ : STP_EV_WRITE;
				break;
			}
			if (t == STP_TLS_ERROR)
				/* the socket under TLS was reset: passed on too */
				return pass_reset(r, d->wfd, errno);
			if (t != STP_TLS_OK)
				return EPIPE;
			d->wwant = STP_EV_WRITE;
			n = (ssize_t)w;
		} else if (d->pipe[0] >= 0)
			n = splice(d->pipe[0], NULL, d->wfd, NULL, d->inpipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		else if (d->wsock)
			n = send(d->wfd, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
		else
			n = write(d->wfd, d->buf + d->off, d->len - d->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return pass_reset(r, d->wfd, errno);
		}
		if (d->pipe[0] >= 0) {
			d->inpipe -= (size_t)n;
		} else {
			d->off += (size_t)n;
			if (d->off == d->len) {
				/* nothing in flight: give the buffer back */
				buf_release(d);
			}
		}
		d->bytes += (uint64_t)n;
		r->last = stp_loop_now(r->loop);
	}
	return dir_finish(r, d);
}

static size_t lim(size_t n, size_t cap)
{
	return n < cap ? n : cap;
}

/* How much d may read now under the rate limit (SIZE_MAX: no limit). 0
 * pauses d: no read interest until limit_timer, which the earliest wait
 * sets. */
static size_t dir_budget(struct stp_relay *r, struct dir *d, size_t want)
{
	uint64_t wait = 0;
	size_t n;

	if (!r->budget)
		return SIZE_MAX;
	n = r->budget(r->limit_arg, (int)(d - r->d), want, &wait);
	if (n == 0) {
		uint64_t due = stp_loop_now(r->loop) + (wait ? wait : 1);
		d->paused = true;
		if (!stp_timer_armed(&r->limit_timer) || due < r->limit_timer.when)
			stp_timer_start(r->loop, &r->limit_timer, wait ? wait : 1);
	}
	return n;
}

/* Moves a direction that has carried SPLICE_AFTER bytes from its buffer to
 * a pipe (splice(2): no copies through user space), once the buffer is
 * empty. Without a pipe (fd limit) it stays with the buffer. */
static void maybe_splice(struct dir *d)
{
	if (!d->can_splice || d->pipe[0] >= 0 || d->bytes < SPLICE_AFTER || pending(d))
		return;
	d->can_splice = false;
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		d->pipe[0] = d->pipe[1] = -1;
		return;
	}
	/* a bigger pipe means fewer wake-ups per megabyte */
	int cap = fcntl(d->pipe[0], F_SETPIPE_SZ, PIPE_WANT);
	if (cap < 0)
		cap = fcntl(d->pipe[0], F_GETPIPE_SZ);
	d->pipecap = cap > 0 ? (size_t)cap : 65536;
	buf_release(d);
}

static int dir_read_into(struct stp_relay *r, struct dir *d);

/* Reads once into the direction. Without a buffer of its own it reads into
 * the loop's scratch and keeps a copy only of what the writer did not take:
 * an idle session holds no buffer at all. Returns 0 or an errno. */
static int dir_read(struct stp_relay *r, struct dir *d)
{
	int err;

	maybe_splice(d);
	if (d->pipe[0] < 0 && !d->buf && r->bufsize <= STP_LOOP_SCRATCH &&
	    (d->buf = stp_loop_scratch(r->loop)) != NULL)
		d->borrowed = true;
	err = dir_read_into(r, d);
	if (d->borrowed) {
		d->borrowed = false;
		if (d->buf && pending(d)) {
			char *own = malloc(r->bufsize);
			if (!own) {
				d->buf = NULL;
				d->off = d->len = 0;
				return err ? err : ENOMEM;
			}
			memcpy(own, d->buf + d->off, d->len - d->off);
			d->len -= d->off;
			d->off = 0;
			d->buf = own;
		} else {
			d->buf = NULL;
			d->off = d->len = 0;
		}
	}
	return err;
}

/* Returns 0, or an errno for a fatal error. Reads once (level-triggered
 * epoll calls again), then writes at once what it got. */
static int dir_read_into(struct stp_relay *r, struct dir *d)
{
	ssize_t n;

	size_t cap = dir_budget(r, d, d->pipe[0] >= 0 ? d->pipecap - d->inpipe
				: r->bufsize - (d->len - d->off));

	if (cap == 0)
		return 0;

	size_t ask = 0;

	if (d->pipe[0] >= 0) {
		ask = lim(d->pipecap - d->inpipe, cap);
		n = splice(d->rfd, NULL, d->pipe[1], NULL, ask, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	} else {
		if (!d->buf) {
			d->buf = malloc(r->bufsize);
			if (!d->buf)
				return ENOMEM;
		} else if (d->off && d->len == r->bufsize) {
			memmove(d->buf, d->buf + d->off, d->len - d->off);
			d->len -= d->off;
			d->off = 0;
		}
		if (d->rssl) {
			size_t k;
			enum stp_tls_io t = stp_tls_read(d->rssl, d->buf + d->len,
							 lim(r->bufsize - d->len, cap), &k);
			if (t == STP_TLS_WANT_READ || t == STP_TLS_WANT_WRITE) {
				d->rwant = t == STP_TLS_WANT_WRITE ? STP_EV_WRITE : STP_EV_READ;
				return d->len > d->off ? dir_write(r, d) : 0;
			}
			if (t == STP_TLS_ERROR)
				/* ECONNRESET from the socket under TLS is a reset
				 * like a plain one (EPROTO, TLS's own, is not) */
				return pass_reset(r, d->rfd, errno);
			if (t == STP_TLS_OK)
				d->rwant = STP_EV_READ;
			n = (ssize_t)k;  /* 0 at EOF: close_notify, or a plain close */
		} else {
			ask = lim(r->bufsize - d->len, cap);
			n = read(d->rfd, d->buf + d->len, ask);
		}
	}
	/* TLS reads a record at a time: only a plain short read says empty */
	d->drained = n > 0 && ask && (size_t)n < ask;
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		return pass_reset(r, d->rfd, errno);
	}
	if (n > 0 && r->spent)
		r->spent(r->limit_arg, (int)(d - r->d), (size_t)n);
	if (n == 0) {
		if (r->b_hangup_fails && d == &r->d[STP_RELAY_BA] &&
		    r->d[STP_RELAY_AB].state == D_OPEN) {
			struct pollfd p = { .fd = d->rfd, .events = 0 };
			if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP))
				return ECONNRESET;
		}
		dir_set(d, D_DRAIN);
		if (!pending(d)) {
			buf_release(d);
		}
	} else if (d->pipe[0] >= 0) {
		d->inpipe += (size_t)n;
	} else {
		d->len += (size_t)n;
	}
	return dir_write(r, d);
}

static void finish(struct stp_relay *r, int err)
{
	if (r->done)
		return;
	r->done = true;
	/* the interest stays: the callback mostly frees the relay (and
	 * close drops the fds from epoll); an event before that finds done
	 * set and turns its fd's interest off then (on_fd) */
	r->cb(r, r->arg, err);
}

/* TLS keeps bytes of its own: a reader that stopped for lack of room
 * must look again once there is room, whatever the fd says. */
static int drain_tls(struct stp_relay *r)
{
	int err = 0;

	for (int k = 0; k < 2 && !err; k++) {
		struct dir *d = &r->d[k];
		for (int i = 0; i < 64 && !err && d->rssl && wants_read(r, d) &&
		     SSL_pending(d->rssl) > 0; i++)
			err = dir_read(r, d);
	}
	return err;
}

static void on_fd(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct stp_relay *r = arg;
	int err = 0;

	if (r->done) {
		stp_loop_set(l, fd, 0);  /* finished, not yet freed: nothing to do */
		return;
	}
	for (int k = 0; k < 2 && !err; k++) {
		struct dir *d = &r->d[k];
		/* TLS may want the other event than the operation suggests:
		 * with TLS on the fd, any event is a reason to try */
		unsigned wev = d->wssl ? ev : ev & STP_EV_WRITE;
		unsigned rev = d->rssl ? ev : ev & STP_EV_READ;
		if (d->wfd == fd && wev && d->state != D_CLOSED && pending(d))
			err = dir_write(r, d);
		/* while the writer keeps up, read again at once: one wake-up
		 * per event moves up to PUMP_ROUNDS buffers or pipes-full */
		for (int i = 0; !err && i < PUMP_ROUNDS && d->rfd == fd && rev &&
		     wants_read(r, d) && (i == 0 || !pending(d)); i++) {
			uint64_t before = d->bytes;
			err = dir_read(r, d);
			/* a short read emptied the socket: another would say
			 * EAGAIN (a system call per chunk of a chatty session) */
			if (d->bytes == before || d->drained)
				break;
		}
	}
	if (!err)
		err = drain_tls(r);
	if (!err && (ev & STP_EV_ERROR) &&
	    (r->d[0].state != D_CLOSED || r->d[1].state != D_CLOSED)) {
		/* (both directions done: a hang-up is the expected end) */
		/* an error nobody's read or write reported yet (e.g. a reset
		 * while this side was only being written to, with nothing due) */
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
			err = pass_reset(r, fd, soerr);
	}
	if (err) {
		finish(r, err);
		return;
	}
	if (r->d[0].state == D_CLOSED && r->d[1].state == D_CLOSED) {
		finish(r, 0);
		return;
	}
	update_masks(r);
}

/* The rate limit's pause is over: both directions ask for budget again. */
static void on_limit_timer(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stp_relay *r = arg;
	int err;

	(void)l;
	(void)t;
	if (r->done)
		return;
	r->d[0].paused = r->d[1].paused = false;
	err = drain_tls(r);
	if (err) {
		finish(r, err);
		return;
	}
	update_masks(r);
}

static void add_fd(struct stp_relay *r, int fd)
{
	for (int i = 0; i < 4; i++) {
		if (r->fds[i] == fd)
			return;
		if (r->fds[i] < 0) {
			r->fds[i] = fd;
			return;
		}
	}
}

/* Whether fd (one of r->fds) is a socket, as asked once at the start. */
static bool slot_socket(const struct stp_relay *r, int fd)
{
	for (int i = 0; i < 4; i++)
		if (r->fds[i] == fd)
			return r->sock[i];
	return false;
}

static void dir_init(struct stp_relay *r, struct dir *d, int rfd, int wfd, SSL *rssl,
		     SSL *wssl, bool try_splice)
{
	d->rfd = rfd;
	d->wfd = wfd;
	d->rssl = rssl;
	d->wssl = wssl;
	d->rwant = STP_EV_READ;
	d->wwant = STP_EV_WRITE;
	d->wsock = slot_socket(r, wfd);
	d->pipe[0] = d->pipe[1] = -1;
	/* the pipe comes later, once the direction carries a bulk stream:
	 * idle and chatty sessions hold two fds, not six */
	d->can_splice = try_splice && !rssl && !wssl && d->wsock && slot_socket(r, rfd);
	(void)r;
}

/* Queues bytes already read from A (e.g. after a SOCKS request) for B: into
 * the pipe in splice mode (it holds 64 KiB), else into the buffer. Returns
 * 0 or -1. */
static int prefill(struct stp_relay *r, struct dir *d, const void *p, size_t n)
{
	if (d->pipe[0] >= 0) {
		ssize_t w = write(d->pipe[1], p, n);
		if (w != (ssize_t)n)
			return -1;
		d->inpipe = n;
		return 0;
	}
	if (n > r->bufsize || !(d->buf = malloc(r->bufsize)))
		return -1;
	memcpy(d->buf, p, n);
	d->len = n;
	return 0;
}

/* Returns the relay, or NULL with e filled (and every fd closed). */
struct stp_relay *stp_relay_new(struct stp_loop *l, const struct stp_relay_cfg *cfg,
				stp_relay_done_cb *cb, void *arg, struct stp_err *e)
{
	struct stp_relay *r = calloc(1, sizeof(*r));

	if (!r) {
		int fds[4] = { cfg->a_rfd, cfg->a_wfd, cfg->b_rfd, cfg->b_wfd };
		for (int i = 0; i < 4; i++) {
			bool seen = false;
			for (int j = 0; j < i; j++)
				seen |= fds[j] == fds[i];
			if (!seen)
				close(fds[i]);
		}
		stp_err_set(e, STP_EXIT_FAIL, "relay: out of memory");
		return NULL;
	}
	r->loop = l;
	r->cb = cb;
	r->arg = arg;
	r->bufsize = cfg->bufsize ? cfg->bufsize : 16384;
	r->last = stp_loop_now(l);
	r->budget = cfg->budget;
	r->spent = cfg->spent;
	r->limit_arg = cfg->limit_arg;
	stp_timer_init(&r->limit_timer, on_limit_timer, r);
	for (int i = 0; i < 4; i++)
		r->fds[i] = -1;
	add_fd(r, cfg->a_rfd);
	add_fd(r, cfg->a_wfd);
	add_fd(r, cfg->b_rfd);
	add_fd(r, cfg->b_wfd);
	r->own = cfg->own_sockets;
	r->b_hangup_fails = cfg->b_hangup_fails;
	for (int i = 0; i < 4; i++)
		r->sock[i] = r->fds[i] >= 0 && (r->own || is_socket(r->fds[i]));
	dir_init(r, &r->d[STP_RELAY_AB], cfg->a_rfd, cfg->b_wfd, cfg->a_ssl, cfg->b_ssl, cfg->splice);
	dir_init(r, &r->d[STP_RELAY_BA], cfg->b_rfd, cfg->a_wfd, cfg->b_ssl, cfg->a_ssl, cfg->splice);
	if (cfg->ab_prefill_len && prefill(r, &r->d[STP_RELAY_AB], cfg->ab_prefill,
					   cfg->ab_prefill_len) < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "relay: cannot queue %zu early bytes",
			    cfg->ab_prefill_len);
		stp_relay_free(r);
		return NULL;
	}
	for (int i = 0; i < 4; i++) {
		if (r->fds[i] < 0)
			continue;
		/* an fd the caller watched changes hands without a syscall
		 * when its interest stays the same */
		if (stp_loop_watch(l, r->fds[i], fd_interest(r, r->fds[i]), on_fd, r) < 0) {
			stp_err_set(e, STP_EXIT_FAIL, "relay: watch fd %d: %s", r->fds[i],
				    strerror(errno));
			stp_relay_free(r);
			return NULL;
		}
	}
	/* bytes TLS already holds (read with the handshake) wake no fd */
	if (drain_tls(r) != 0) {
		/* reported at the first event instead: nothing is lost */
	}
	return r;
}

void stp_relay_free(struct stp_relay *r)
{
	if (!r)
		return;
	stp_timer_stop(r->loop, &r->limit_timer);
	for (int i = 0; i < 4; i++) {
		if (r->fds[i] < 0)
			continue;
		if (r->own)
			stp_loop_forget(r->loop, r->fds[i]);
		else
			stp_loop_unwatch(r->loop, r->fds[i]);
		close_fd(r->fds[i], r->sock[i]);
	}
	for (int k = 0; k < 2; k++) {
		if (r->d[k].pipe[0] >= 0) {
			close(r->d[k].pipe[0]);
			close(r->d[k].pipe[1]);
		}
		free(r->d[k].buf);
	}
	free(r);
}

uint64_t stp_relay_bytes(const struct stp_relay *r, int dir)
{
	return r->d[dir & 1].bytes;
}

uint64_t stp_relay_last_active(const struct stp_relay *r)
{
	return r->last;
}

