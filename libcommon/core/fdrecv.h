/* fdrecv.h - one message and the descriptor that came with it, from a Unix
 * socket whose sender is not trusted to send only that: every descriptor
 * beyond the one wanted is closed here, so nothing leaks into the
 * receiver (stp-serve --workers: the hand-over inbox, handoff.c). */
#ifndef STP_FDRECV_H
#define STP_FDRECV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Descriptors received per message before the kernel truncates the
 * control data (MSG_CTRUNC; the kernel itself drops what did not fit). */
#define STP_FDRECV_MAX 8

/* Receives one message of at most cap bytes into buf on sock, without
 * blocking (close-on-exec on what arrives). Returns its length, 0 at EOF,
 * or -1 with errno (EAGAIN: nothing now). With a length: *fd is the
 * message's one descriptor (the caller's), or -1 when the message came
 * with none, with more than one, or truncated (data or control), or is
 * empty: then every descriptor it brought is closed and *bad says so
 * (false at the end: 0 with no descriptor). */
ssize_t stp_fdrecv(int sock, void *buf, size_t cap, int *fd, bool *bad);

#endif
