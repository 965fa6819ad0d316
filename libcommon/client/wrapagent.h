/* wrapagent.h - the agent behind stp-connect --wrap (SPEC §3.1).
 *
 * A wrapped program carries the preload library (libcommon/wrap/), which
 * knows nothing of proxy chains, TLS or client configuration beyond one
 * plain SOCKS5 proxy (STP_WRAP_PROXY below): it hands its sockets to this
 * agent (wraphandoff.h) and talks SOCKS5 to it on a loopback TCP port, and
 * the agent goes through the real chain with everything stp-connect knows
 * (TLS hops, HTTP hops, -U, --config routes, NO_PROXY). So credentials
 * never enter the wrapped program's memory or environment, and the
 * library loads no OpenSSL of its own beside the program's.
 *
 * The port is open to every local user, so the library authenticates with
 * RFC 1929: user "wrap", password a random token that only the wrapped
 * program's environment holds.
 *
 * What the library asks:
 *   CONNECT to an address (a placeholder is turned back into its name);
 *   RESOLVE (X'F0') NAME: the agent answers with the IPv4 placeholder
 *     (proto/placeholder.h) that stands for NAME, nothing is resolved;
 *   RESOLVE_PTR (X'F1') ADDR: a placeholder's name, else reply 4.
 * The name table lives in a shared mapping of the agent, so every process
 * of the wrapped tree (forks, execs) sees the same numbers.
 *
 * The agent is no child of the wrapped program (it would show in its
 * wait()); it ends when the program whose pid it watches (a pidfd) has
 * ended and its last stream is over. Each connection is served by a
 * thread of its own: a slow proxy holds up nobody else. */
#ifndef STP_WRAPAGENT_H
#define STP_WRAPAGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "client/clientopts.h"
#include "proto/err.h"

#define STP_WRAP_TOKEN_LEN 32   /* hex characters */
#define STP_WRAP_DOOR_MAX 48    /* the Unix door's name (wraphandoff.h) */
#define STP_WRAP_PROXY_MAX 80

struct stp_wrap_agent {
	uint16_t port;                       /* on 127.0.0.1 */
	char token[STP_WRAP_TOKEN_LEN + 1];  /* the RFC 1929 password */
	char door[STP_WRAP_DOOR_MAX];        /* "": no Unix door */
	/* STP_WRAP_PROXY, the proxy the library may speak to itself (see
	 * stp_wrap_agent_start); "": none */
	char proxy[STP_WRAP_PROXY_MAX];
};

/* The library's own way (STP_WRAP_PROXY "D,MS,ADDR,PORT"): when the chain
 * is one SOCKS5 proxy at a literal address, without credentials, TLS,
 * GSS-API or --keepalive, the same for every target (no --config routes),
 * and nothing is to be logged (no -v), the preload library speaks SOCKS5
 * to it on the program's socket itself: a connect then costs what the
 * program's own SOCKS client would (no agent, no wakeup, no second hop).
 * D is 'h' when the proxy resolves names (socks5h) else 'l'; MS is -w.
 * Placeholders it has no name for, NO_PROXY targets and all else go to
 * the agent. */

/* Starts the agent for the process watch (the caller, before it execs the
 * wrapped program). co is the chain: finished already (per_target false),
 * or finished again for each target on a copy (per_target: --config
 * routes). Returns 0 once the agent listens, or -1 with e. */
int stp_wrap_agent_start(const struct stp_clientopts *co, bool per_target, pid_t watch,
			 struct stp_wrap_agent *a, struct stp_err *e);

#endif
