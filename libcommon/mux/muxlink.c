/* muxlink.c - a client-role MUX engine over a client.c connection (see
 * muxlink.h). */
#include <errno.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "client/gssstream.h"
#include "client/gsswire.h"
#include "mux/muxconn.h"
#include "mux/muxlink.h"
#include "core/sock.h"
#include "core/tls.h"

struct stp_muxlink {
	struct stp_loop *l;
	struct stp_conn conn;
	struct stp_mux *m;
	bool over;               /* done: the connection is not watched any more */
	unsigned mask;           /* the engine's interest */
	unsigned applied;        /* the loop's: mask, and WRITE while gw holds bytes */
	struct stp_gss_wire *gw; /* GSS-API protection (RFC 1961 section 5): frames
				  * go out wrapped; NULL: none */
	stp_muxlink_done_cb *done;
	void *arg;
};

static ssize_t k_recv(void *arg, void *buf, size_t n)
{
	struct stp_muxlink *k = arg;

	return stp_conn_read(&k->conn, buf, n);
}

/* The wire: the socket, or its TLS hop. */
static ssize_t k_raw_send(void *arg, const void *buf, size_t n)
{
	struct stp_muxlink *k = arg;
	SSL *ssl = stp_conn_ssl(&k->conn);

	if (!ssl)
		return send(k->conn.fd, buf, n, MSG_NOSIGNAL);
	return stp_tls_send(ssl, buf, n);
}

/* The loop's interest: the engine's, and writability while part of a
 * wrapped message waits (the engine knows nothing of it). */
static void k_apply(struct stp_muxlink *k)
{
	unsigned mask = k->mask | (k->gw && stp_gss_wire_held(k->gw) ? STP_EV_WRITE : 0);

	if (!k->over && mask != k->applied) {
		k->applied = mask;
		stp_loop_set(k->l, k->conn.fd, mask);
	}
}

static ssize_t k_send(void *arg, const void *buf, size_t n)
{
	struct stp_muxlink *k = arg;

	if (!k->gw)
		return k_raw_send(k, buf, n);
	/* one wrapped message per write chunk */
	ssize_t r = stp_gss_wire_send(k->gw, buf, n);
	int err = errno;
	k_apply(k);
	errno = err;
	return r;
}

static bool k_pending(void *arg)
{
	struct stp_muxlink *k = arg;

	/* TLS bytes, or GSS-API plaintext unwrapped already */
	return stp_conn_pending(&k->conn);
}

static void k_want(void *arg, unsigned mask)
{
	struct stp_muxlink *k = arg;

	k->mask = mask;
	k_apply(k);
}

static void k_done(void *arg, int err, const char *why)
{
	struct stp_muxlink *k = arg;

	k->over = true;
	stp_loop_unwatch(k->l, k->conn.fd);
	k->done(k->arg, err, why);  /* may free k */
}

static void on_conn(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct stp_muxlink *k = arg;

	(void)l;
	(void)fd;
	if (k->over)
		return;
	if (k->gw && (ev & STP_EV_WRITE) && stp_gss_wire_flush(k->gw) < 0)
		ev |= STP_EV_READ;  /* the read meets the connection's end */
	k_apply(k);
	stp_mux_on_io(k->m, ev);
}

static void gw_free(struct stp_muxlink *k)
{
	if (k->gw)
		stp_gss_wire_free(k->gw);
	free(k->gw);
	k->gw = NULL;
}

struct stp_muxlink *stp_muxlink_new(struct stp_loop *l, struct stp_conn *conn,
				    uint64_t keepalive_ms, stp_muxlink_done_cb *done, void *arg)
{
	struct stp_muxlink *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->l = l;
	k->done = done;
	k->arg = arg;
	k->conn = *conn;
	if (k->conn.gss) {
		k->gw = malloc(sizeof(*k->gw));
		if (!k->gw || stp_gss_wire_init(k->gw, k->conn.gss->ctx, k->conn.gss->level,
						k_raw_send, k) < 0) {
			free(k->gw);
			free(k);
			return NULL;
		}
	}
	const struct stp_mux_ops ops = {
		.recv = k_recv, .send = k_send, .pending = k_pending, .want = k_want,
		.done = k_done, .arg = k,
	};
	if (stp_set_nonblock(k->conn.fd, true) < 0 ||
	    stp_loop_watch(l, k->conn.fd, 0, on_conn, k) < 0) {
		gw_free(k);
		free(k);
		return NULL;
	}
	k->m = stp_mux_new(l, STP_MUX_CLIENT, &ops, k->conn.early, k->conn.nearly, keepalive_ms);
	if (!k->m) {
		stp_loop_unwatch(l, k->conn.fd);
		gw_free(k);
		free(k);
		return NULL;
	}
	return k;
}

int stp_muxlink_attach(struct stp_muxlink *k, int fd)
{
	return stp_mux_attach(k->m, fd);
}

void stp_muxlink_free(struct stp_muxlink *k)
{
	if (!k)
		return;
	stp_mux_free(k->m);
	if (!k->over)
		stp_loop_unwatch(k->l, k->conn.fd);
	stp_conn_close(&k->conn);
	gw_free(k);
	free(k);
}
