/* upcarry.h - with --upstream, the commands beyond CONNECT, RESOLVE and
 * RESOLVE_PTR: carried through the chain where it can carry them, refused
 * with X'07' where it cannot, and carried out by this server itself only
 * where --upstream-local allows it (see upcarry.c). */
#ifndef STP_UPCARRY_H
#define STP_UPCARRY_H

#include <stdbool.h>

struct session;
struct stp5_msg;

/* Decides for a session whose request is parsed and allowed by the rules
 * (ss->cmd, ss->dst; m: the SOCKS5 request with its options, NULL for
 * SOCKS4). Returns false when this server carries the command out itself
 * (no --upstream, a command the upstream code already takes, or one that
 * --upstream-local names); true when it took the session: through the
 * chain (upstream_start_opts) or refused with X'07' and a log line (ss
 * may be gone then). */
bool upcarry_take(struct session *ss, const struct stp5_msg *m);

#endif
