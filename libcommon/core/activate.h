/* activate.h - systemd socket activation (sd_listen_fds(3) without
 * libsystemd): the listening sockets a service manager handed over. */
#ifndef STP_ACTIVATE_H
#define STP_ACTIVATE_H

#include <stdbool.h>

/* The first inherited fd (SD_LISTEN_FDS_START). */
#define STP_LISTEN_FDS_START 3

/* How many listeners were passed (fds 3 .. 3+N-1): N when LISTEN_PID is
 * this process and LISTEN_FDS is a number N > 0, else 0; -1 when the
 * variables are meant for this process but LISTEN_FDS is malformed. With
 * unset, LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are removed from the
 * environment in every case, so that children do not inherit them. */
int stp_listen_fds(bool unset);

/* --inetd: stdout and stderr that are the client socket of stdin (inetd
 * gives it as all three) are pointed at /dev/null, so that only the
 * session's bytes reach the client and closing stdin ends the connection.
 * Returns which were: 1 stdout, 2 stderr (or'ed); -1 with errno. */
int stp_inetd_stdio(void);

#endif
