/* wrap.h - the preload library of stp-connect --wrap (libstp-wrap.so),
 * loaded into the wrapped program by LD_PRELOAD. It interposes the libc
 * calls that open TCP connections and look up names. A connect goes
 * through the chain on the program's own socket: the library speaks
 * SOCKS5 to a plain proxy itself (STP_WRAP_PROXY), or hands the socket to
 * the agent of stp-connect (client/wrapagent.h) at its Unix door
 * (client/wraphandoff.h), which connects it; only a chain the agent must
 * carry (TLS, GSS-API) has the socket connected to the agent's loopback
 * port, where the agent relays. Lookups and UDP talk SOCKS5 to that port,
 * with the token of STP_WRAP_TOKEN.
 *
 * This layer may include only proto/ and itself: it is built a second time
 * as position-independent code, without OpenSSL, c-ares or the loop.
 *
 * A connect() to a proxied target is done before it returns, also on a
 * non-blocking socket: connect() returns 0 (POSIX lets a non-blocking
 * connect complete at once), or -1 with the errno a direct connection
 * would give. The SOCKS5 exchange runs on the program's own socket with
 * poll() and a deadline, reading no further than the reply and leaving
 * its flags as they were; so poll/epoll users find a connected socket,
 * SO_ERROR 0, and every byte after the reply is theirs. */
#ifndef STP_WRAP_H
#define STP_WRAP_H

#include <stdbool.h>
#include <stdint.h>
#include <netdb.h>
#include <sys/socket.h>

/* The real libc functions (dlsym RTLD_NEXT), set once. */
struct wrap_real {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*close)(int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
			   struct addrinfo **);
	int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *,
			   socklen_t, int);
	struct hostent *(*gethostbyname)(const char *);
	struct hostent *(*gethostbyname2)(const char *, int);
	int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t,
			       struct hostent **, int *);
	int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t,
				struct hostent **, int *);
	struct hostent *(*gethostbyaddr)(const void *, socklen_t, int);
	int (*gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *, char *, size_t,
			       struct hostent **, int *);
};

extern struct wrap_real wrap_real;

/* Whether an agent is configured (STP_WRAP, STP_WRAP_TOKEN); loads
 * wrap_real on first use. */
bool wrap_on(void);

/* Runs one request with the agent on fd, a TCP socket of family af not
 * yet connected (the program's own for CONNECT, a fresh one otherwise):
 * connects it to the agent, sends cmd for the address (atyp 1 or 4: a,
 * 4 or 16 bytes) or name, and reads the reply. Returns the reply code
 * (0: success) with the reply's IPv4 address in *a4 or its name in name
 * (cap bytes) where given, or -1 with errno when the agent cannot be
 * reached or answers wrongly. */
int wrap_request(int fd, int af, uint8_t cmd, uint8_t atyp, const void *a, const char *name,
		 uint16_t port, uint32_t *a4, char *namebuf, size_t cap);

/* CONNECT on fd (family af) by the library itself, with the proxy of
 * STP_WRAP_PROXY (client/wrapagent.h), for the address (atyp 1 or 4) or
 * name. Returns the reply code (0: connected through the proxy); 5 when
 * the proxy cannot be reached; STP_WRAP_REP_RELAY when it is not the
 * library's to do (no such proxy, a name it does not resolve, NO_PROXY, a
 * socket of the other family): nothing was done with fd; -1 with errno. */
int wrap_fast_connect(int fd, int af, uint8_t atyp, const void *a, const char *name,
		      uint16_t port);
/* The name this process was given placeholder n for (wrap_name_number),
 * into buf; NULL when it has none kept. */
const char *wrap_kept_name(uint32_t n, char *buf, size_t cap);

/* CONNECT at the agent's Unix door (client/wraphandoff.h): fd, the
 * program's TCP socket not yet connected, is sent along, and the agent
 * connects it through the chain itself. Returns the reply code (0: fd is
 * connected and through the handshake); STP_WRAP_REP_RELAY when there is
 * no door or the agent does not take it there (nothing was done with fd:
 * ask wrap_request); -1 with errno. */
int wrap_handoff(int fd, uint8_t atyp, const void *a, uint16_t port);

/* UDP ASSOCIATE for the address (atyp 1 or 4) and port on ctl, a TCP
 * socket: the first request connects it to the agent and logs in; later
 * ones name further destinations of the same socket. Returns the reply
 * code with *bport, the agent's loopback port that stands for this
 * destination, and the reply's address in *ratyp (1, 4) and raddr (16
 * bytes); or -1 with errno. STP_WRAP_REP_DIRECT (proto/wrapdirect.h):
 * the destination goes direct, to raddr:bport. */
int wrap_udp_request(int ctl, bool first, uint8_t atyp, const void *a, uint16_t port,
		     uint16_t *bport, uint8_t *ratyp, uint8_t *raddr);

/* Whether sa (len bytes) is a target for the chain on fd, a socket of
 * type want (SOCK_STREAM, SOCK_DGRAM) over IPv4/IPv6 that is not
 * loopback, unspecified or link-local; fills the SOCKS5 address type (1,
 * 4), address and port. */
bool wrap_target(int fd, int want, const struct sockaddr *sa, socklen_t len, uint8_t *atyp,
		 const void **addr, uint16_t *port);

/* connect() of a UDP socket to a proxied target (udp.c): true when it was
 * one, with connect's result in *r. */
bool wrap_udp_connect(int fd, const struct sockaddr *sa, socklen_t len, int *r);
/* getpeername() of a UDP socket connected through the agent: true with
 * the target filled in. */
bool wrap_udp_peer(int fd, struct sockaddr *sa, socklen_t *len);

/* The errno a direct connection gives for the SOCKS5 reply code rep. */
int wrap_errno(int rep);

/* Whether name is to be looked up by the program's own libc: NULL, a
 * numeric address, or localhost (and names below it). */
bool wrap_local_name(const char *name);

/* The placeholder number standing for name (asking the agent), or 0 with
 * errno. */
uint32_t wrap_name_number(const char *name);
/* The name behind placeholder n into buf, or -1. */
int wrap_number_name(uint32_t n, char *buf, size_t cap);

#endif
