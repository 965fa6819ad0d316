/* fdrecv.c - one message and its descriptor, the rest closed (fdrecv.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fdrecv.h"

ssize_t stp_fdrecv(int sock, void *buf, size_t cap, int *fd, bool *bad)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(STP_FDRECV_MAX * sizeof(int))];
	} cm;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
	int first = -1, nfd = 0;
	ssize_t n;

	*fd = -1;
	*bad = false;
	do
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	/* every SCM_RIGHTS block, every descriptor in it: the first is kept
	 * for now, any other is closed at once */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t j = 0; j < k; j++) {
			int d;
			memcpy(&d, CMSG_DATA(c) + j * sizeof(int), sizeof(int));
			if (nfd++ == 0)
				first = d;
			else
				close(d);
		}
	}
	if (n == 0 || nfd != 1 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		/* not the one descriptor a message carries (or an empty
		 * message, or the end): none of it is used */
		if (first >= 0)
			close(first);
		*bad = n > 0 || nfd > 0;  /* the end, with nothing, is no fault */
		return n;
	}
	*fd = first;
	return n;
}
