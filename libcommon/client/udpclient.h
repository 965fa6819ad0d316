/* udpclient.h - the client side of a UDP association through a proxy
 * chain (PROTOCOL.md §1, §3): UDP ASSOCIATE, UDP_BIND (with or without
 * TCP_DELIVERY) and UDP_TCP; sending and receiving datagrams; and the two
 * ways stp-udp runs one: datagrams on stdin/stdout (udpio.c), or a local
 * UDP port forward with an association per local sender (udpio.c).
 *
 * The control connection (client.c; plain or TLS) and the UDP socket are
 * non-blocking once open; the caller polls the fds stp_udp_pollfds gives,
 * without waiting while stp_udp_pending says data is held already. */
#ifndef STP_UDPCLIENT_H
#define STP_UDPCLIENT_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client/client.h"
#include "proto/dgram.h"
#include "proto/err.h"
#include "core/msg.h"

struct stp_udp_assoc {
	struct stp_conn conn;       /* the control connection (conn.fd) */
	struct stp_opts req_opts;   /* the request's options (the machine points here) */
	int ufd;                    /* UDP socket connected to the relay; -1 with TCP delivery */
	bool tcp, bind;
	bool ctl_want_write;        /* the TLS layer must write before it reads on */
	struct stp_addr relay;      /* where datagrams go (UDP delivery) */
	struct stp_addr ext;        /* UDP_BIND: the address any peer may send to */
	long timeout_ms;            /* -w: bounds a blocking write of a TCP frame */
	uint8_t *buf;               /* STP_UDP_BUF bytes: datagrams in and out */
	uint8_t *in;                /* TCP delivery: frames read, not yet taken */
	size_t inlen;
	uint64_t dropped;           /* datagrams from the relay that were malformed */
	uint8_t *gbuf;              /* GSS-API protected session (conn.gss), UDP
				     * delivery: one protected datagram (gssudp.h) */
	size_t gss_max;             /* the most header + data one of them carries */
	const struct stp_log *log;  /* -v: a datagram dropped, and why */
	char proxy[STP_HOSTPORT_MAX]; /* the last hop, for messages */
};

/* A header, the largest UDP payload, and a TCP frame's length. */
#define STP_UDP_BUF (2 + 262 + 65536)

/* Opens an association through the chain: UDP ASSOCIATE, or UDP_BIND when
 * bind; with tcp, UDP_TCP (or UDP_BIND with TCP_DELIVERY). Where the
 * proxy's reply names 0.0.0.0 (or ::) as its relay, the proxy's own
 * address is used. Returns 0, or -1 with e (SPEC §2.3 codes: 7 when the
 * proxy does not have the command). */
int stp_udp_open(const struct stp_client *c, bool bind, bool tcp, struct stp_udp_assoc *a,
		 struct stp_err *e);
/* The options of an MCAST request: DIRECTION from send (to the group)
 * and recv (from it); TTL (0-255; -1: the proxy's default) when sending;
 * SOURCE (an address literal, NULL: any source); TCP_DELIVERY with tcp.
 * Returns 0 with req filled, or -1 with e (usage: source not a literal). */
int stp_mcast_request(struct stp_opts *req, bool send, bool recv, bool tcp, int ttl,
		      const char *source, struct stp_err *e);
/* Joins multicast group (address and port) through the chain with MCAST;
 * opts carries DIRECTION, TTL, SOURCE and TCP_DELIVERY. With UDP delivery
 * an empty datagram to the group tells the relay where we are. Then use
 * a as an association: datagrams to the group go out with stp_udp_send,
 * the group's come in with stp_udp_recv (from = the sender). Returns 0,
 * or -1 with e (7 naming the feature when the proxy has no MCAST). */
int stp_mcast_open(const struct stp_client *c, const struct stp_addr *group,
		   const struct stp_opts *opts, struct stp_udp_assoc *a, struct stp_err *e);
/* Closes both sockets and frees the buffers; a is zeroed (-1 fds). */
void stp_udp_close(struct stp_udp_assoc *a);

/* The fds to poll for input (POLLIN): the UDP socket if any, and the
 * control connection. Returns how many were filled (at most 2). */
int stp_udp_pollfds(const struct stp_udp_assoc *a, struct pollfd *p);
/* True when stp_udp_recv has something to take that no fd would report:
 * a whole frame read already, or bytes held in a TLS layer. */
bool stp_udp_pending(const struct stp_udp_assoc *a);

/* Sends one datagram to `to`. Returns 0 when sent (or dropped because the
 * socket buffer is full, as UDP does), 1 when this datagram cannot be
 * sent (too big: e says so; go on), -1 when the association failed (e). */
int stp_udp_send(struct stp_udp_assoc *a, const struct stp_addr *to, const uint8_t *data,
		 size_t len, struct stp_err *e);

/* Takes one datagram that has arrived, without waiting: returns 1 with
 * *from, data copied to buf (cap bytes) and *len; 0 when there is none
 * now; -1 when the proxy closed the association (or it failed), with e
 * (code 1). Malformed datagrams from the relay are skipped and counted. */
int stp_udp_recv(struct stp_udp_assoc *a, struct stp_addr *from, uint8_t *buf, size_t cap,
		 size_t *len, struct stp_err *e);

/* The address for HOST:PORT in datagram headers: a literal, or a name the
 * last hop resolves (socks5h); resolved here where it does not (socks5).
 * Returns 0, or -1 with e (14: the name does not resolve). */
int stp_udp_dest(const struct stp_client *c, const char *host, uint16_t port,
		 struct stp_addr *out, struct stp_err *e);

/* --- running one (udpio.c) ---------------------------------------------- */

struct stp_udp_io {
	enum stp_dgram_fmt fmt;
	int in_fd, out_fd;               /* stdin, stdout */
	const struct stp_addr *target;   /* where stdin's datagrams go; NULL: none */
	bool reply_to_last;              /* no target: answer the last sender */
	long wait_ms;                    /* after stdin's end, wait this long for more */
	const struct stp_client *client; /* to resolve json "to" */
	const struct stp_log *log;       /* bad input lines are reported here */
};

/* Sends each datagram of in_fd, writes each one received to out_fd, until
 * in_fd has ended and wait_ms passed with nothing received. Returns 0, or
 * -1 with e (the proxy closed the association: code 1). */
int stp_udp_io_run(struct stp_udp_assoc *a, const struct stp_udp_io *io, struct stp_err *e);

/* Local forward: datagrams arriving on lfd (a bound UDP socket) go to
 * target, each local sender through an association of its own, and the
 * answers back to that sender. Runs until a fatal error: returns -1 with
 * e. Failures of one sender's association are logged through lg. */
int stp_udp_forward(const struct stp_client *c, bool tcp, int lfd,
		    const struct stp_addr *target, const struct stp_log *lg, struct stp_err *e);

#endif
