/* udpio.c - running a UDP association: stdin/stdout datagrams, or a local
 * UDP forward with one association per local sender. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "core/evloop.h"
#include "core/sock.h"
#include "client/udpclient.h"

#define FWD_MAX 64              /* local senders served at once */
#define FWD_IDLE_MS 120000      /* a sender silent this long loses its association */
#define FWD_BATCH 32            /* datagrams read per wake-up, per socket */

/* Where a datagram from stdin goes: its json "to", the target, or the
 * last sender. Returns 0, 1 (nowhere: reported, skip it) or -1 (fatal). */
static int destination(const struct stp_udp_io *io, const struct stp_dgram *d,
		       const struct stp_addr *last, bool have_last, struct stp_addr *to)
{
	struct stp_err e;

	if (d->has_to) {
		char host[STP_HOSTPORT_MAX];
		uint16_t port;
		if (stp_hostport_split(d->to, host, sizeof(host), &port, -1, false, &e) < 0 ||
		    port == 0 || stp_udp_dest(io->client, host, port, to, &e) < 0) {
			stp_log(io->log, STP_LOG_WARN, "stdin: \"to\" %s: %s: datagram skipped",
				d->to, port == 0 && !e.msg[0] ? "port 0" : e.msg);
			return 1;
		}
		return 0;
	}
	if (io->target) {
		*to = *io->target;
		return 0;
	}
	if (io->reply_to_last && have_last) {
		*to = *last;
		return 0;
	}
	stp_log(io->log, STP_LOG_WARN, "stdin: no peer has sent anything yet, so there is "
		"nowhere to send: datagram skipped");
	return 1;
}

int stp_udp_io_run(struct stp_udp_assoc *a, const struct stp_udp_io *io, struct stp_err *e)
{
	struct stp_dgram_reader rd = { io->fmt, false };
	struct stp_dgram d = { 0 };
	uint8_t *in = malloc(STP_DGRAM_BUF), *rx = malloc(STP_DGRAM_MAX);
	size_t outcap = stp_dgram_encoded_max(io->fmt, STP_DGRAM_MAX);
	char *out = malloc(outcap);
	size_t inlen = 0;
	bool eof = false, have_last = false;
	struct stp_addr last;
	uint64_t deadline = 0;
	int rc = -1;

	d.data = malloc(STP_DGRAM_MAX);
	if (!in || !rx || !out || !d.data) {
		stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		goto done;
	}
	for (;;) {
		struct pollfd p[3];
		int np = 0, first_assoc;
		if (!eof)
			p[np++] = (struct pollfd){ .fd = io->in_fd, .events = POLLIN };
		first_assoc = np;
		np += stp_udp_pollfds(a, p + np);
		bool any = stp_udp_pending(a);
		int n = poll(p, (nfds_t)np, any ? 0 : eof ? stp_ms_left(deadline) : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			stp_err_set(e, STP_EXIT_FAIL, "poll: %s", strerror(errno));
			goto done;
		}
		/* datagrams that came back */
		for (int i = first_assoc; i < np; i++)
			any |= p[i].revents != 0;
		if (any) {
			for (int k = 0; k < 64; k++) {
				struct stp_addr from;
				size_t len;
				int r = stp_udp_recv(a, &from, rx, STP_DGRAM_MAX, &len, e);
				if (r < 0)
					goto done;
				if (r == 0)
					break;
				last = from;
				have_last = true;
				size_t ol = stp_dgram_encode(io->fmt, &from, rx, len, out, outcap);
				if (ol && stp_write_all(io->out_fd, out, ol, 0) < 0) {
					stp_err_set(e, STP_EXIT_FAIL, "stdout: %s", strerror(errno));
					goto done;
				}
				if (eof)
					deadline = stp_clock_ms() + (uint64_t)io->wait_ms;
			}
		}
		if (!eof && p[0].revents) {
			if (io->fmt == STP_DGRAM_RAW)
				inlen = 0;  /* one read, one datagram */
			ssize_t k = read(io->in_fd, in + inlen,
					 (io->fmt == STP_DGRAM_RAW ? STP_DGRAM_MAX : STP_DGRAM_BUF) - inlen);
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (k < 0) {
				stp_err_set(e, STP_EXIT_FAIL, "stdin: %s", strerror(errno));
				goto done;
			}
			if (k == 0) {
				eof = true;
				deadline = stp_clock_ms() + (uint64_t)io->wait_ms;
			}
			inlen += (size_t)k;
			size_t off = 0;
			for (;;) {
				int what;
				struct stp_err de = { 0, "" };
				size_t used = stp_dgram_decode(&rd, in + off, inlen - off, eof, &d,
							       &what, &de);
				off += used;
				if (what == STP_DGRAM_BAD)
					stp_log(io->log, STP_LOG_WARN, "stdin: %s: skipped", de.msg);
				if (what == STP_DGRAM_OK) {
					struct stp_addr to;
					int r = destination(io, &d, &last, have_last, &to);
					if (r == 0) {
						r = stp_udp_send(a, &to, d.data, d.len, &de);
						if (r == 1)
							stp_log(io->log, STP_LOG_WARN, "stdin: %s: skipped",
								de.msg);
					}
					if (r < 0) {
						*e = de;
						goto done;
					}
				}
				if (used == 0 || off == inlen)
					break;
			}
			memmove(in, in + off, inlen - off);
			inlen -= off;
		}
		if (eof && stp_clock_ms() >= deadline) {
			rc = 0;
			goto done;
		}
	}
done:
	free(in);
	free(rx);
	free(out);
	free(d.data);
	return rc;
}

/* --- local forward ------------------------------------------------------------ */

struct fwd {
	bool used;
	struct sockaddr_storage peer;
	socklen_t plen;
	uint64_t last;
	struct stp_udp_assoc a;
};

static bool same_peer(const struct fwd *f, const struct sockaddr_storage *s, socklen_t l)
{
	return f->used && f->plen == l && memcmp(&f->peer, s, l) == 0;
}

static void fwd_end(struct fwd *f)
{
	stp_udp_close(&f->a);
	f->used = false;
}

/* The entry for sender s: found, or made with a new association (the
 * least recently used one given up when all are taken). NULL on failure
 * (logged). */
static struct fwd *fwd_get(struct fwd *t, const struct stp_client *c, bool tcp,
			   const struct sockaddr_storage *s, socklen_t l, const struct stp_log *lg)
{
	struct fwd *free_slot = NULL, *lru = NULL;
	struct stp_err e;
	char who[STP_ADDRSTRLEN];

	for (int i = 0; i < FWD_MAX; i++) {
		if (same_peer(&t[i], s, l))
			return &t[i];
		if (!t[i].used && !free_slot)
			free_slot = &t[i];
		if (t[i].used && (!lru || t[i].last < lru->last))
			lru = &t[i];
	}
	if (!free_slot) {
		fwd_end(lru);
		free_slot = lru;
	}
	stp_sa_str((const struct sockaddr *)s, who, sizeof(who));
	if (stp_udp_open(c, false, tcp, &free_slot->a, &e) < 0) {
		stp_log(lg, STP_LOG_WARN, "association for local sender %s: %s", who, e.msg);
		return NULL;
	}
	stp_log(lg, STP_LOG_DEBUG, "local sender %s: association opened", who);
	free_slot->used = true;
	free_slot->peer = *s;
	free_slot->plen = l;
	return free_slot;
}

int stp_udp_forward(const struct stp_client *c, bool tcp, int lfd,
		    const struct stp_addr *target, const struct stp_log *lg, struct stp_err *e)
{
	struct fwd *t = calloc(FWD_MAX, sizeof(*t));
	uint8_t *buf = malloc(STP_DGRAM_MAX);
	struct pollfd p[1 + 2 * FWD_MAX];
	int owner[1 + 2 * FWD_MAX];

	if (!t || !buf) {
		free(t);
		free(buf);
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	}
	for (;;) {
		int np = 0;
		p[np] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		owner[np++] = -1;
		for (int i = 0; i < FWD_MAX; i++) {
			if (!t[i].used)
				continue;
			int k = stp_udp_pollfds(&t[i].a, p + np);
			for (int j = 0; j < k; j++)
				owner[np + j] = i;
			np += k;
		}
		/* what a TLS layer holds already is no fd's news */
		bool held = false;
		for (int i = 0; i < FWD_MAX && !held; i++)
			held = t[i].used && stp_udp_pending(&t[i].a);
		int n = poll(p, (nfds_t)np, held ? 0 : 1000);
		if (n < 0 && errno != EINTR) {
			stp_err_set(e, STP_EXIT_FAIL, "poll: %s", strerror(errno));
			break;
		}
		uint64_t now = stp_clock_ms();
		/* answers: each back to its own sender */
		for (int i = 1; (n > 0 || held) && i < np; i++) {
			struct fwd *f = &t[owner[i]];
			if (!f->used || !(p[i].revents || stp_udp_pending(&f->a)))
				continue;
			for (int k = 0; k < FWD_BATCH; k++) {
				struct stp_addr from;
				size_t len;
				struct stp_err ae;
				int r = stp_udp_recv(&f->a, &from, buf, STP_DGRAM_MAX, &len, &ae);
				if (r < 0) {
					char who[STP_ADDRSTRLEN];
					stp_log(lg, STP_LOG_INFO, "local sender %s: %s",
						stp_sa_str((struct sockaddr *)&f->peer, who, sizeof(who)),
						ae.msg);
					fwd_end(f);
					break;
				}
				if (r == 0)
					break;
				f->last = now;
				/* a full local socket drops, as UDP does */
				while (sendto(lfd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&f->peer,
					      f->plen) < 0 && errno == EINTR)
					;
			}
		}
		/* local senders */
		for (int k = 0; n > 0 && p[0].revents && k < FWD_BATCH; k++) {
			struct sockaddr_storage s;
			socklen_t l = sizeof(s);
			ssize_t len = recvfrom(lfd, buf, STP_DGRAM_MAX, MSG_DONTWAIT,
					       (struct sockaddr *)&s, &l);
			if (len < 0 && errno == EINTR)
				continue;
			if (len < 0 && (errno == EAGAIN || errno == ECONNREFUSED))
				break;
			if (len < 0) {
				stp_err_set(e, STP_EXIT_FAIL, "local UDP socket: %s", strerror(errno));
				goto out;
			}
			struct fwd *f = fwd_get(t, c, tcp, &s, l, lg);
			if (!f)
				continue;
			f->last = now;
			struct stp_err se;
			int r = stp_udp_send(&f->a, target, buf, (size_t)len, &se);
			if (r != 0)
				stp_log(lg, r < 0 ? STP_LOG_INFO : STP_LOG_WARN, "%s", se.msg);
			if (r < 0)
				fwd_end(f);
		}
		for (int i = 0; i < FWD_MAX; i++)
			if (t[i].used && now - t[i].last > FWD_IDLE_MS)
				fwd_end(&t[i]);
	}
out:
	for (int i = 0; i < FWD_MAX; i++)
		if (t[i].used)
			fwd_end(&t[i]);
	free(t);
	free(buf);
	return -1;
}
