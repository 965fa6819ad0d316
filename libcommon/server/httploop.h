/* httploop.h - a proxy request whose target is this stp-serve itself by
 * name or by its advertised address (SPEC §3.6: 508, never a request sent
 * round into the proxy again). httpsrv.c checks addresses of its own
 * listeners and its Via name; these are the names. */
#ifndef STP_HTTPLOOP_H
#define STP_HTTPLOOP_H

#include <stdbool.h>

struct stp_server;
struct stp_addr;

/* True when dst names one of s's listeners: its port is a listener's and
 * its host is "localhost" (or a name under .localhost) for a loopback or
 * wildcard listener, this machine's host name (gethostname, with or
 * without a trailing dot) for any listener, or an --advertise address. */
bool http_loops_by_name(const struct stp_server *s, const struct stp_addr *dst);

#endif
