/* nbconnect HOST PORT - a test peer for tests/wrap.bats: what an event-loop
 * program does. Looks HOST up with getaddrinfo, connects a non-blocking
 * socket, waits with epoll for it to become writable, reads SO_ERROR, then
 * sends an HTTP/1.0 GET and prints the status line. Prints
 *   connect: done at once | in progress
 *   error: ENAME            (and exits 1) when the connect fails
 *   HTTP/1.0 200 OK         (the status line) on success. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *ename(int e)
{
	switch (e) {
	case ECONNREFUSED: return "ECONNREFUSED";
	case EACCES: return "EACCES";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	default: return strerror(e);
	}
}

/* Waits up to 20 s for ev on fd; returns 1, or 0 on timeout. */
static int wait_ev(int ep, int fd, unsigned ev)
{
	struct epoll_event e = { .events = ev, .data.fd = fd }, out;

	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) < 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
		return 0;
	return epoll_wait(ep, &out, 1, 20000) == 1;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char buf[256];
	int fd, ep, err = 0, r;
	socklen_t el = sizeof(err);

	if (argc != 3)
		return 2;
	if ((r = getaddrinfo(argv[1], argv[2], &hints, &ai)) != 0) {
		printf("getaddrinfo: %s\n", gai_strerror(r));
		return 1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ep = epoll_create1(0);
	if (fd < 0 || ep < 0)
		return 1;
	r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (r < 0 && errno != EINPROGRESS) {
		printf("error: %s\n", ename(errno));
		return 1;
	}
	printf("connect: %s\n", r == 0 ? "done at once" : "in progress");
	if (!wait_ev(ep, fd, EPOLLOUT) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) {
		printf("error: no answer\n");
		return 1;
	}
	if (err) {
		printf("error: %s\n", ename(err));
		return 1;
	}
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
		return 1;
	size_t got = 0;
	while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
		if (!wait_ev(ep, fd, EPOLLIN))
			return 1;
		ssize_t k = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (k < 0 && errno == EAGAIN)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	buf[got] = 0;
	char *nl = strpbrk(buf, "\r\n");
	if (nl)
		*nl = 0;
	printf("%s\n", buf);
	close(fd);
	close(ep);
	return got ? 0 : 1;
}
