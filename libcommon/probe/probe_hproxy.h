/* probe_hproxy.h - stp-probe on an HTTP proxy (http://, https://; SPEC
 * §3.7): after reach and tls (probe.c), what answers on the port (an HTTP
 * proxy, a web server, a SOCKS server, a TLS listener), CONNECT without
 * and with credentials, the 407 and its schemes, an absolute-form GET of
 * the probe's own target, latency, and --url through libcurl. Shared by
 * probe*.c only. */
#ifndef STP_PROBE_HPROXY_H
#define STP_PROBE_HPROXY_H

#include <stdarg.h>
#include "probe/probe_io.h"

/* Runs the HTTP proxy's checks after reach and tls. */
void probe_http_proxy(struct probe *p);

/* probe.c's pieces, for the checks in other files: a result (as probe.c's
 * own), one connection accepted on the probe's target listener within
 * wait_ms (the fd, blocking, or -1), every waiting one closed. */
__attribute__((format(printf, 6, 7)))
void probe_result(struct probe *p, enum stp_probe_check c, enum stp_probe_status st, int code,
		  json_t *data, const char *fmt, ...);
int probe_target_accept(struct probe *p, long wait_ms);
void probe_target_drain(struct probe *p);
/* Whether the probed port completes a TLS handshake (probe.c). */
bool probe_speaks_tls(struct probe *p);
/* check_http of probe.c: the --url fetch with libcurl. */
void probe_check_url(struct probe *p);

#endif
