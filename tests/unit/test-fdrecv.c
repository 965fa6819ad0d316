/* test-fdrecv.c - stp_fdrecv (core/fdrecv.c): one descriptor kept, every
 * other one a message brings closed, also past the control buffer
 * (MSG_CTRUNC), so a sender cannot leak descriptors into the receiver. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fdrecv.h"
#include "tap.h"

/* The descriptors open in this process. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;  /* the directory's own */
}

/* Sends "hello" with nfd copies of /dev/null's descriptor (each one a
 * descriptor of its own at the receiver) on sock; the sender's copies are
 * closed. Returns 0 or -1. */
static int send_with(int sock, int nfd, const char *data, size_t len)
{
	int fds[64];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(64 * sizeof(int))];
	} cm;
	struct iovec iov = { (void *)data, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int rc;

	for (int i = 0; i < nfd; i++)
		if ((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
			return -1;
	if (nfd) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfd * sizeof(int));
	}
	rc = sendmsg(sock, &mh, 0) < 0 ? -1 : 0;
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
	return rc;
}

int main(void)
{
	int sp[2], before, fd;
	bool bad;
	char buf[64];
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		DIAG("socketpair: %s", strerror(errno));
		return 1;
	}
	before = open_fds();

	/* one descriptor: kept, the data whole */
	CHECK(send_with(sp[1], 1, "hello", 5) == 0, "send 1 fd");
	n = stp_fdrecv(sp[0], buf, sizeof(buf), &fd, &bad);
	CHECK_INT((int)n, 5, "one fd: the message's length");
	CHECK(fd >= 0 && !bad, "one fd: kept, not bad");
	CHECK_INT(open_fds(), before + 1, "one fd: one more open");
	if (fd >= 0)
		close(fd);
	CHECK_INT(open_fds(), before, "one fd: closed by the caller, none left");

	/* several that fit the buffer, and more than fit (MSG_CTRUNC: the
	 * kernel drops what did not fit, we close what did) */
	int counts[] = { 2, 3, STP_FDRECV_MAX, STP_FDRECV_MAX + 1, 40 };
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		CHECK(send_with(sp[1], counts[k], "hello", 5) == 0, "send %d fds", counts[k]);
		n = stp_fdrecv(sp[0], buf, sizeof(buf), &fd, &bad);
		CHECK_INT((int)n, 5, "%d fds: the message's length", counts[k]);
		CHECK(fd == -1 && bad, "%d fds: none kept, bad", counts[k]);
		CHECK_INT(open_fds(), before, "%d fds: none left open", counts[k]);
	}

	/* none: bad, nothing to close */
	CHECK(send_with(sp[1], 0, "hello", 5) == 0, "send no fd");
	n = stp_fdrecv(sp[0], buf, sizeof(buf), &fd, &bad);
	CHECK(n == 5 && fd == -1 && bad, "no fd: bad");

	/* data longer than the buffer (MSG_TRUNC) with one descriptor: closed */
	CHECK(send_with(sp[1], 1, "a message longer than eight bytes", 33) == 0, "send long");
	n = stp_fdrecv(sp[0], buf, 8, &fd, &bad);
	CHECK(fd == -1 && bad, "truncated data: the fd not kept, bad");
	CHECK_INT(open_fds(), before, "truncated data: none left open");

	/* an empty message with a descriptor: closed, bad */
	CHECK(send_with(sp[1], 1, "", 0) == 0, "send empty with fd");
	n = stp_fdrecv(sp[0], buf, sizeof(buf), &fd, &bad);
	CHECK(n == 0 && fd == -1 && bad, "empty with fd: bad");
	CHECK_INT(open_fds(), before, "empty with fd: none left open");

	/* nothing waiting: EAGAIN, not bad */
	n = stp_fdrecv(sp[0], buf, sizeof(buf), &fd, &bad);
	CHECK(n < 0 && errno == EAGAIN && !bad && fd == -1, "nothing: EAGAIN");

	/* the end: 0, not bad */
	close(sp[1]);
	n = stp_fdrecv(sp[0], buf, sizeof(buf), &fd, &bad);
	CHECK(n == 0 && !bad && fd == -1, "the end: 0, not bad");
	close(sp[0]);
	return tap_done();
}
