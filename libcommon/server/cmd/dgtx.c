/* dgtx.c - datagrams sent in batches: see dgtx.h. The relay used to make
 * one sendto(2) per datagram; on loopback that syscall and the trip down
 * the stack per datagram were most of its cost per echo. */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "server/cmd/dgtx.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103              /* linux/udp.h, Linux 4.18 */
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* A GSO send's whole payload must fit one IP packet's length field; this
 * leaves room for the IPv6 and UDP headers. */
#define DGTX_GSO_BYTES 65000

static void report(struct dgtx *t, unsigned i, int err)
{
	t->meta[i].done(t->meta[i].owner, t->meta[i].len, err);
}

/* Entries [i, i + cnt) with sendmmsg: as many calls as it takes, an entry
 * that fails reported with its errno and passed over. */
static void send_mm(struct dgtx *t, unsigned i, unsigned cnt)
{
	unsigned k = i, end = i + cnt;

	while (k < end) {
		int r = sendmmsg(t->fd, &t->m[k], end - k, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* the error belongs to the first one not sent */
			report(t, k, r < 0 ? errno : EAGAIN);
			k++;
			continue;
		}
		for (int j = 0; j < r; j++)
			report(t, k + (unsigned)j, 0);
		k += (unsigned)r;
	}
}

static bool same_dest(const struct msghdr *a, const struct msghdr *b)
{
	return a->msg_namelen == b->msg_namelen &&
	       memcmp(a->msg_name, b->msg_name, a->msg_namelen) == 0;
}

/* How many entries from i on one GSO send can carry: one destination, one
 * size (the last may be shorter), within the byte bound. */
static unsigned gso_run(const struct dgtx *t, unsigned i)
{
	size_t seg = t->iov[i].iov_len, total = seg;
	unsigned k = i + 1;

	if (seg == 0 || seg > UINT16_MAX)
		return 1;
	while (k < t->n && same_dest(&t->m[i].msg_hdr, &t->m[k].msg_hdr) &&
	       t->iov[k].iov_len <= seg && t->iov[k].iov_len > 0 &&
	       total + t->iov[k].iov_len <= DGTX_GSO_BYTES) {
		total += t->iov[k].iov_len;
		if (t->iov[k++].iov_len < seg)
			break;  /* a shorter one ends the run */
	}
	return k - i;
}

/* Entries [i, i + cnt), alike, as one GSO send; when the kernel or the
 * route will not have it, one by one after all (and no GSO from then on
 * when it is the kernel or the device that cannot). */
static void send_gso(struct dgtx *t, unsigned i, unsigned cnt)
{
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = t->m[i].msg_hdr;
	struct cmsghdr *cm;
	uint16_t seg = (uint16_t)t->iov[i].iov_len;

	memset(&ctl, 0, sizeof(ctl));
	mh.msg_iov = &t->iov[i];
	mh.msg_iovlen = cnt;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	for (;;) {
		if (sendmsg(t->fd, &mh, MSG_NOSIGNAL) >= 0) {
			for (unsigned k = 0; k < cnt; k++)
				report(t, i + k, 0);
			return;
		}
		if (errno != EINTR)
			break;
	}
	/* EIO: no checksum offload on the way out; ENOPROTOOPT/EOPNOTSUPP: no
	 * UDP GSO in this kernel. Anything else (EMSGSIZE past the MTU, a full
	 * buffer) is this batch's, and sending one by one sorts out which. */
	if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP)
		t->gso_off = true;
	send_mm(t, i, cnt);
}

void dgtx_flush(struct dgtx *t)
{
	unsigned i = 0;

	while (i < t->n) {
		unsigned r = t->gso_off ? 1 : gso_run(t, i), j;
		if (r >= 2) {
			send_gso(t, i, r);
			i += r;
			continue;
		}
		/* up to the next run worth a GSO send, in one sendmmsg */
		for (j = i + 1; j < t->n && (t->gso_off || gso_run(t, j) < 2); j++)
			;
		send_mm(t, i, j - i);
		i = j;
	}
	t->n = 0;
}

void dgtx_add(struct dgtx *t, int fd, const void *b, size_t n, const struct sockaddr *to,
	      socklen_t tolen, dgtx_done_fn *done, void *owner, size_t len)
{
	struct msghdr *mh;
	unsigned i;

	if (t->n && (t->fd != fd || t->n == DGTX_MAX))
		dgtx_flush(t);
	if (tolen > sizeof(t->to[0])) {
		done(owner, len, EINVAL);
		return;
	}
	i = t->n++;
	t->fd = fd;
	memcpy(&t->to[i], to, tolen);
	t->iov[i].iov_base = (void *)b;
	t->iov[i].iov_len = n;
	mh = &t->m[i].msg_hdr;
	memset(mh, 0, sizeof(*mh));
	mh->msg_name = &t->to[i];
	mh->msg_namelen = tolen;
	mh->msg_iov = &t->iov[i];
	mh->msg_iovlen = 1;
	t->meta[i] = (struct dgtx_meta){ done, owner, len };
}
