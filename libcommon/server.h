/* server.h - stp-serve's engine: listeners, sessions, the SOCKS5/SOCKS4
 * server side, on one event loop. main fills the config and prints. */
#ifndef STP_SERVER_H
#define STP_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "err.h"
#include "msg.h"

#define STP_MAX_LISTEN 16

struct stp_server_cfg {
	const char *listen[STP_MAX_LISTEN];  /* "ADDR:PORT" as given */
	int nlisten;
	const char *users_file;              /* NULL: no authentication */
	char resolvers[1024];                /* c-ares CSV, "" = the system's */
	long handshake_timeout_ms;           /* greeting .. request */
	long connect_timeout_ms;             /* reaching the target */
	long bind_timeout_ms;                /* BIND: waiting for the peer */
	long idle_timeout_ms;                /* 0 = never */
	long drain_timeout_ms;               /* after SIGTERM */
	long max_sessions;
	bool open;                           /* allow non-loopback without auth */
	struct stp_log log;
};

struct stp_server;

/* Binds every listener and loads the users file. Returns NULL with e filled
 * (usage errors: code 2). */
struct stp_server *stp_server_new(const struct stp_server_cfg *cfg, struct stp_err *e);
/* The bound address of listener i (port 0 resolved), for "listening" lines. */
const struct sockaddr *stp_server_listener(const struct stp_server *s, int i);
int stp_server_nlisteners(const struct stp_server *s);
long stp_server_max_sessions(const struct stp_server *s);
/* Serves until SIGTERM/SIGINT and the drain; returns 0, or -1 with e. */
int stp_server_run(struct stp_server *s, struct stp_err *e);
void stp_server_free(struct stp_server *s);

#endif
