/* dgsess.h - the client's side of a datagram session, one piece for UDP
 * ASSOCIATE and its kin (cmd_udp.c) and MCAST (cmd_mcast.c): the command's
 * state handed to the session, the relay endpoint, datagrams to the client
 * (on UDP, or framed on the control connection), the success reply and the
 * control connection's events. What only one command has (targets and
 * names, groups, its own drop reasons) stays in its file. */
#ifndef STP_DGSESS_H
#define STP_DGSESS_H

#include "core/evloop.h"
#include "proto/socks.h"
#include "server/cmd/dgtx.h"
#include "server/frameq.h"
#include "server/server_priv.h"

#define DGSESS_DROPS_MAX 12

/* The drop reasons the shared code counts. Each command names its own
 * reasons in its own order (that order is the log line's), and maps these
 * onto them. */
enum { DG_MALFORMED, DG_FRAG, DG_OVERSIZE, DG_UNKNOWN, DG_FULL, DG_SENDERR, DG_NSHARED };

struct dgsess;

/* What is fixed for one command. */
struct dgsess_kind {
	const char *name;              /* its debug lines' prefix: "udp", "mcast" */
	void (*release)(struct dgsess *d);  /* the command's own part, at the end */
	size_t size;                   /* of the command's state */
	size_t shared_size;            /* of its loop-wide object */
	const char *const *drop_names;
	int ndrops;                    /* at most DGSESS_DROPS_MAX */
	int drop[DG_NSHARED];          /* the command's index of each shared reason */
	size_t out_max;                /* TCP delivery: bytes queued for the client */
	size_t read_budget;            /* TCP delivery: bytes read per client event */
	stp_frame_cb *from_client;     /* one datagram from the client; arg: the state */
};

/* The first member of a command's state, so that ss->cst points to both. */
struct dgsess {
	struct session *ss;
	const struct dgsess_kind *kind;
	void **shared;                 /* the server's slot of the loop-wide object */
	bool tcp;                      /* datagrams on the control connection */
	int rfd;                       /* the relay endpoint (UDP delivery); -1: none */
	stp_fd_cb *relay_cb;           /* what reads rfd */
	struct sockaddr_storage client_sa;
	socklen_t client_salen;        /* where rfd sends to; 0 until known */
	uint64_t last;                 /* loop time of the last datagram */
	uint64_t drops[DGSESS_DROPS_MAX];
	uint64_t dgrams_up, dgrams_down;
	struct dgtx *tx;               /* set while a received batch is worked
					* through: sends gather there */
	struct stp_framein in;         /* TCP delivery: frames from the client */
	struct stp_frameq oq;          /* TCP delivery: frames for the client */
};

/* The first member of a loop-wide object (s->udp, s->mcast): it lives
 * while any session of its command does. */
struct dgsess_shared {
	long users;
};

/* Makes the command's state (k->size bytes, zeroed but for the dgsess) for
 * ss and takes a use of the loop-wide object in *shared (made zeroed on
 * first use), then hands both to ss: from then on the session's end calls
 * k->release and frees the rest. Returns the state, or NULL with the X'01'
 * reply on its way and nothing held. */
void *dgsess_start(struct session *ss, const struct dgsess_kind *k, void **shared, bool tcp);
/* Unwatches and closes *fd, a socket on the session's loop, and sets it to
 * -1; nothing when it is -1 already. */
void dgsess_close(struct dgsess *d, int *fd);

/* The relay endpoint: a UDP socket on the address the client reached us
 * on, port chosen by the kernel, watched with cb(d). Fills bnd. Returns 0,
 * or -1 with errno (EAFNOSUPPORT: the client did not come over IP). */
int dgsess_relay_open(struct dgsess *d, stp_fd_cb *cb, struct stp_addr *bnd);

/* Parses a datagram from the client (RSV | FRAG | DST | DATA) into h and
 * notes the activity. Returns the header's length, or -1 (counted) when it
 * is malformed or a fragment. */
ssize_t dgsess_hdr_get(struct dgsess *d, const uint8_t *b, size_t n, struct stp_udp_hdr *h);
/* A datagram b[0..n) from the client at the relay endpoint, before
 * anything of it is believed (its port, its header): on a GSS-API
 * protected session (RFC 1961 §5) it must be one sealed message, and is
 * unsealed in place. Returns the plaintext's length (n on a session
 * without protection), or -1 with the drop counted as malformed and a
 * debug line saying why (clear, tampered with, a replay). */
ssize_t dgsess_unseal(struct dgsess *d, uint8_t *b, size_t n);
/* Sends b (n bytes) to to on fd without waiting. Returns true, or false
 * with the drop counted (full, oversize, send error). */
bool dgsess_sendto(struct dgsess *d, int fd, const uint8_t *b, size_t n,
		   const struct sockaddr *to, socklen_t tolen);
/* How dgsess_send counts a datagram sent: towards a target (up) or the
 * client (down); DGS_NOW sends at once, after what is gathered. */
enum { DGS_UP = 1, DGS_DOWN = 2, DGS_NOW = 4 };
/* Like dgsess_sendto, but while a batch is open (dgsess_batch_begin) the
 * datagram joins the batch's sends, and b must stay put until its end.
 * When sent, len bytes and one datagram are counted up or down; a failure
 * is counted as a drop. Returns false when it failed at once. */
bool dgsess_send(struct dgsess *d, int fd, const uint8_t *b, size_t n,
		 const struct sockaddr *to, socklen_t tolen, unsigned how, size_t len);
/* A received batch begins: sends gather in t (empty), until
 * dgsess_batch_end sends them. Nothing in between may end the session. */
void dgsess_batch_begin(struct dgsess *d, struct dgtx *t);
void dgsess_batch_end(struct dgsess *d);
/* Puts the UDP header for sender from right before data, which must have
 * room for it. Returns its length, 0 if it cannot be written. */
size_t dgsess_hdr_put(uint8_t *data, size_t room, const struct stp_addr *from);
/* Delivers a datagram to the client: d points at hl bytes of header and
 * len of data. TCP delivery only queues it (see dgsess_flush). Returns
 * true, or false with the drop counted. Never ends the session. */
bool dgsess_to_client(struct dgsess *d, const uint8_t *dgram, size_t hl, size_t len);
/* TCP delivery: writes the queued frames, leaving the interest at read,
 * plus write while anything waits. Returns 0, or -1 when the client is
 * gone: the session has then ended (d is freed). */
int dgsess_flush(struct dgsess *d);

/* Sends the success reply (BND = bnd, or zeros for TCP delivery; a second
 * one with ext when ext is not NULL), then runs the session as S_CMD and
 * takes the frames the client sent right after its request. The session
 * may have ended when this returns. */
void dgsess_reply(struct dgsess *d, const struct stp_addr *bnd, const struct stp_addr *ext);

/* Room for dgsess_drops_str()'s text. */
#define DGSESS_DROPS_TEXT 300

/* " NAME=COUNT" for each of the command's drop reasons, in buf. */
const char *dgsess_drops_str(const struct dgsess *d, char *buf, size_t cap);

#endif
