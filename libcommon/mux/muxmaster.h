/* muxmaster.h - stp-connect --mux-master: one (TLS) MUX session to the proxy
 * (PROTOCOL.md §4), shared by every `stp-connect --mux PATH` through a Unix
 * socket at PATH. On that socket the master speaks plain SOCKS5 without
 * authentication (method X'00'): each CONNECT, RESOLVE, RESOLVE_PTR or DNS
 * request a local client sends becomes one MUX stream, and its reply the
 * stream's REPLY. So a local client is any SOCKS5 client that can reach a
 * Unix socket. */
#ifndef STP_MUXMASTER_H
#define STP_MUXMASTER_H

#include "client/clientopts.h"
#include "proto/err.h"

/* Connects to the proxy chain of co, opens the MUX session, listens on
 * path (mode 0600; refuses a path owned by someone else or a live master),
 * prints `listening PATH` on stderr once ready, and serves until SIGTERM or
 * SIGINT (then removes path, returns 0) or until the proxy connection is
 * lost (returns -1 with e: STP_EXIT_REACH, or the code of the failed set-up). */
int stp_mux_master_run(struct stp_clientopts *co, const char *path, struct stp_err *e);

#endif
