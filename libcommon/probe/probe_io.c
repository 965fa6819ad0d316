/* probe_io.c - stp-probe's bounded exchanges (probe_io.h). Every wait has
 * a deadline: a port that never answers (an HTTP server waiting for a
 * line, a silent listener) costs at most -w, never forever. */
#include <errno.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/addr.h"
#include "core/evloop.h"
#include "probe/probe_io.h"
#include "client/gssauth.h"
#include "core/sock.h"
#include "core/tls.h"

double probe_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* stp_tls_connect's messages start "TLS to proxy HOST: " (or "TLS: "),
 * HOST without the port, since it is also the name verified; the probe
 * names the proxy as HOST:PORT, once. Returns -1. */
static int tls_err_with_port(const struct probe *p, struct stp_err *e)
{
	char why[sizeof(e->msg)];
	const char *rest = e->msg;
	size_t hl = strlen(p->cfg->proxy.host);

	if (strncmp(rest, "TLS to proxy ", 13) == 0 &&
	    strncmp(rest + 13, p->cfg->proxy.host, hl) == 0 && strncmp(rest + 13 + hl, ": ", 2) == 0)
		rest += 13 + hl + 2;
	else if (strncmp(rest, "TLS: ", 5) == 0)
		rest += 5;
	snprintf(why, sizeof(why), "%s", rest);
	return stp_err_set(e, e->code, "TLS to proxy %s: %s", p->ph, why);
}

/* TLS to the probed proxy over what io->c carries. Returns 0, or -1 with e
 * (io closed). */
static int start_tls(struct probe *p, struct pio *io, struct stp_err *e)
{
	if (!p->cfg->proxy.tls || p->raw)
		return 0;
	if (!p->tls_ctx || io->c->nssl == STP_MAX_HOPS) {
		probe_close(io);
		return stp_err_set(e, STP_EXIT_TLS, "proxy %s: no TLS context", p->ph);
	}
	/* non-blocking: the handshake's deadline works only then, and a
	 * blocking SSL_read would sit in a TLS 1.3 session ticket's wake until
	 * the peer sends data; every read and write here polls with a deadline */
	stp_set_nonblock(io->c->fd, true);
	SSL *ssl = stp_tls_connect(p->tls_ctx, io->c->fd, stp_conn_ssl(io->c), p->cfg->proxy.host,
				   stp_clock_ms() + (uint64_t)p->tmo, e);
	if (!ssl) {
		probe_close(io);
		return tls_err_with_port(p, e);
	}
	io->c->ssl[io->c->nssl++] = ssl;
	return 0;
}

int probe_open(struct probe *p, struct pio *io, double *ms, struct stp_err *e)
{
	const struct stp_probe_cfg *cfg = p->cfg;
	double t0 = probe_now();

	io->inlen = 0;
	io->c = calloc(1, sizeof(*io->c));
	if (!io->c)
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	io->c->fd = -1;
	if (cfg->chain.nhops == 0) {
		uint64_t deadline = stp_clock_ms() + (uint64_t)p->tmo;
		int fd = stp_connect_start((const struct sockaddr *)&p->pa, p->palen), err;
		if (fd < 0) {
			err = errno;
			goto fail_errno;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int rc;
		while ((rc = poll(&pfd, 1, stp_ms_left(deadline))) < 0 && errno == EINTR)
			;
		err = rc == 0 ? ETIMEDOUT : rc < 0 ? errno : stp_connect_result(fd);
		if (err) {
			close(fd);
			goto fail_errno;
		}
		stp_set_nonblock(fd, false);
		stp_set_nodelay(fd);
		io->c->fd = fd;
		if (ms)
			*ms = probe_now() - t0;
		return start_tls(p, io, e);
fail_errno:
		free(io->c);
		io->c = NULL;
		if (err == ETIMEDOUT)
			return stp_err_set(e, STP_EXIT_REACH, "cannot reach proxy %s: timed out after "
					   "%.1f s", p->ph, (double)p->tmo / 1000);
		return stp_err_set(e, STP_EXIT_REACH, "cannot reach proxy %s: %s", p->ph, strerror(err));
	}
	/* through the chain: each hop is asked to CONNECT to the next, the
	 * last to the probed proxy */
	if (stp_client_open(&cfg->chain, STP_CMD_CONNECT, cfg->proxy.host, cfg->proxy.port,
			    io->c, e) < 0) {
		if (e->code >= STP_EXIT_REPLY && io->c->hs.st == HS_FAILED) {
			/* for the probe, the proxy is the last hop's target */
			char last[STP_HOSTPORT_MAX], rc[STP_REP_CODE_MAX];
			stp_proxy_hostport(&cfg->chain.hops[cfg->chain.nhops - 1], last, sizeof(last));
			stp_err_set(e, STP_EXIT_REACH, "cannot reach proxy %s through proxy %s: %s "
				    "(reply %s)", p->ph, last, stp_rep_str(io->c->hs.rep),
				    stp_rep_code(io->c->hs.rep, rc));
		}
		free(io->c);
		io->c = NULL;
		return -1;
	}
	memcpy(io->in, io->c->early, io->c->nearly);
	io->inlen = io->c->nearly;
	io->c->nearly = 0;
	if (ms)
		*ms = probe_now() - t0;
	return start_tls(p, io, e);
}

void probe_close(struct pio *io)
{
	if (!io->c)
		return;
	stp_conn_close(io->c);
	free(io->c);
	io->c = NULL;
	io->inlen = 0;
}

int pio_write(struct pio *io, const void *buf, size_t n, uint64_t deadline)
{
	return stp_conn_write_all(io->c, buf, n, deadline);
}

int pio_fill(struct pio *io, size_t n, uint64_t deadline)
{
	while (io->inlen < n) {
		if (io->inlen == sizeof(io->in)) {
			errno = EMSGSIZE;
			return -1;
		}
		if (!stp_conn_pending(io->c)) {
			struct pollfd pfd = { .fd = io->c->fd, .events = POLLIN };
			int rc = poll(&pfd, 1, stp_ms_left(deadline));
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc < 0)
				return -1;
			if (rc == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
		}
		ssize_t k = stp_conn_read(io->c, io->in + io->inlen, sizeof(io->in) - io->inlen);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k == 0)
			return 1;
		if (k < 0)
			return -1;
		io->inlen += (size_t)k;
	}
	return 0;
}

void pio_eat(struct pio *io, size_t n)
{
	if (n > io->inlen)
		n = io->inlen;
	memmove(io->in, io->in + n, io->inlen - n);
	io->inlen -= n;
}

const char *outcome_str(enum pio_outcome o, uint8_t rep, long wait_ms, char *buf, size_t cap)
{
	switch (o) {
	case PO_REPLY: {
		char rc[STP_REP_CODE_MAX];
		snprintf(buf, cap, "reply %s (%s)", stp_rep_code(rep, rc), stp_rep_str(rep));
		break;
	}
	case PO_CLOSED:
		snprintf(buf, cap, "closed without reply");
		break;
	case PO_TIMEOUT:
		snprintf(buf, cap, "no reply within %.1f s", (double)wait_ms / 1000);
		break;
	case PO_MALFORMED:
		snprintf(buf, cap, "malformed reply");
		break;
	case PO_ERROR:
		snprintf(buf, cap, "%s", strerror(errno));
		break;
	}
	return buf;
}

/* Maps a failed pio_fill to an outcome. */
static enum pio_outcome fill_outcome(int r)
{
	if (r == 1 || (r < 0 && (errno == ECONNRESET || errno == EPIPE)))
		return PO_CLOSED;
	return errno == ETIMEDOUT ? PO_TIMEOUT : PO_ERROR;
}

int s5_hello(struct probe *p, struct s5 *s, struct stp_err *e)
{
	const struct stp_proxy *px = &p->cfg->proxy;
	uint8_t b[600], methods[2] = { STP_METHOD_NONE, STP_METHOD_USERPASS };
	size_t n;
	int r;

	/* --gssapi: X'01' in no-auth's place, as the clients offer it */
	if (px->gssapi)
		methods[0] = STP_METHOD_GSSAPI;

	memset(s, 0, sizeof(*s));
	if (probe_open(p, &s->io, &s->t_connect, e) < 0)
		return -1;
	uint64_t deadline = stp_clock_ms() + (uint64_t)p->tmo;
	double t0 = probe_now();
	n = stp5_greeting_put(b, sizeof(b), methods, p->auth ? 2 : 1);
	if (pio_write(&s->io, b, n, deadline) < 0) {
		stp_err_set(e, STP_EXIT_PROTO, "proxy %s: sending the greeting: %s", p->ph,
			    strerror(errno));
		goto fail;
	}
	if ((r = pio_fill(&s->io, 2, deadline)) != 0) {
		if (r < 0 && errno == ETIMEDOUT)
			stp_err_set(e, STP_EXIT_PROTO, "no answer from proxy %s within %.1f s", p->ph,
				    (double)p->tmo / 1000);
		else
			stp_err_set(e, STP_EXIT_PROTO, "proxy %s closed the connection during the "
				    "greeting", p->ph);
		goto fail;
	}
	if (stp5_method_get(s->io.in, s->io.inlen, &s->method) != 2) {
		stp_err_set(e, STP_EXIT_PROTO, "proxy %s: not a SOCKS5 answer", p->ph);
		goto fail;
	}
	pio_eat(&s->io, 2);
	s->t_greeting = probe_now() - t0;
	if (s->method == STP_METHOD_NOACCEPT) {
		stp_err_set(e, STP_EXIT_AUTH, "proxy %s accepts none of our methods%s", p->ph,
			    px->gssapi ? " (it does not offer GSS-API)" : "");
		goto fail;
	}
	if (s->method == STP_METHOD_USERPASS && p->auth) {
		uint8_t st;
		t0 = probe_now();
		n = stp_userpass_put(b, sizeof(b), px->user, px->has_pass ? px->pass : "");
		if (n == 0 || pio_write(&s->io, b, n, deadline) < 0) {
			OPENSSL_cleanse(b, sizeof(b));
			stp_err_set(e, STP_EXIT_PROTO, "proxy %s: sending the credentials failed", p->ph);
			goto fail;
		}
		OPENSSL_cleanse(b, sizeof(b));
		if (pio_fill(&s->io, 2, deadline) != 0 ||
		    stp_userpass_status_get(s->io.in, s->io.inlen, &st) != 2) {
			stp_err_set(e, STP_EXIT_PROTO, "proxy %s: no authentication status", p->ph);
			goto fail;
		}
		pio_eat(&s->io, 2);
		s->t_auth = probe_now() - t0;
		if (st != 0) {
			stp_err_set(e, STP_EXIT_AUTH, "proxy %s rejected the credentials of user '%s' "
				    "(status %u)", p->ph, px->user, st);
			goto fail;
		}
		return 0;
	}
	if (s->method == STP_METHOD_GSSAPI && px->gssapi) {
		t0 = probe_now();
		if (stp_gss_client_run(s->io.c, &p->cfg->chain.gss, px, s->io.in, &s->io.inlen,
				       sizeof(s->io.in), deadline, p->tmo, NULL, e) < 0)
			goto fail;
		s->t_auth = probe_now() - t0;
		return 0;
	}
	if (s->method != STP_METHOD_NONE || px->gssapi) {
		stp_err_set(e, STP_EXIT_PROTO, "proxy %s chose method %u, which we did not offer",
			    p->ph, s->method);
		goto fail;
	}
	return 0;
fail:
	probe_close(&s->io);
	return -1;
}

enum pio_outcome s5_next(struct s5 *s, uint8_t cmd, long wait_ms, struct stp5_msg *m)
{
	uint64_t deadline = stp_clock_ms() + (uint64_t)wait_ms;

	for (;;) {
		ssize_t k = stp5_reply_get(s->io.in, s->io.inlen, cmd, m);
		if (k > 0) {
			pio_eat(&s->io, (size_t)k);
			return PO_REPLY;
		}
		if (k < 0)
			return PO_MALFORMED;
		int r = pio_fill(&s->io, s->io.inlen + 1, deadline);
		if (r != 0)
			return fill_outcome(r);
	}
}

enum pio_outcome s5_request(struct probe *p, struct s5 *s, uint8_t cmd, const struct stp_addr *dst,
			    const struct stp_opts *opts, long wait_ms, struct stp5_msg *m)
{
	uint8_t b[300 + STP_OPTLEN_MAX];
	size_t n = stp5_request_put(b, sizeof(b), cmd, dst, opts);
	double t0 = probe_now();
	enum pio_outcome o;

	(void)p;
	memset(m, 0, sizeof(*m));
	if (n == 0) {
		errno = EINVAL;
		return PO_ERROR;
	}
	if (pio_write(&s->io, b, n, stp_clock_ms() + (uint64_t)wait_ms) < 0)
		return errno == EPIPE || errno == ECONNRESET ? PO_CLOSED : PO_ERROR;
	o = s5_next(s, cmd, wait_ms, m);
	s->t_request = probe_now() - t0;
	return o;
}

enum pio_outcome s4_request(struct probe *p, struct s5 *s, uint8_t cmd, const struct stp_addr *dst,
			    long wait_ms, uint8_t *cd, struct stp_err *e)
{
	const struct stp_proxy *px = &p->cfg->proxy;
	uint8_t b[600];
	struct stp_addr a;
	size_t n;
	int r;

	memset(s, 0, sizeof(*s));
	if (probe_open(p, &s->io, &s->t_connect, e) < 0) {
		errno = ECONNREFUSED;
		return PO_ERROR;
	}
	n = stp4_request_put(b, sizeof(b), cmd, dst, px->has_user ? px->user : "");
	if (n == 0) {
		errno = EINVAL;
		return PO_ERROR;
	}
	double t0 = probe_now();
	uint64_t deadline = stp_clock_ms() + (uint64_t)wait_ms;
	if (pio_write(&s->io, b, n, deadline) < 0)
		return PO_CLOSED;
	if ((r = pio_fill(&s->io, 8, deadline)) != 0)
		return fill_outcome(r);
	if (stp4_reply_get(s->io.in, s->io.inlen, cd, &a) != 8)
		return PO_MALFORMED;
	pio_eat(&s->io, 8);
	s->t_request = probe_now() - t0;
	return PO_REPLY;
}
