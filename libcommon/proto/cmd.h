/* cmd.h - the one table of request commands (SOCKS5, SOCKS4 and the STP
 * extensions): their wire names for messages and their labels for logs
 * and metrics. */
#ifndef STP_CMD_H
#define STP_CMD_H

#include <stdint.h>

/* Known commands; stp_cmd_index() answers 0 .. STP_NCMDS - 1. */
#define STP_NCMDS 14

/* The index of command cmd of a SOCKS version ver request (SOCKS4's
 * CONNECT and BIND share SOCKS5's slots), or -1 for an unknown one. */
int stp_cmd_index(uint8_t ver, uint8_t cmd);
/* "connect", "resolve-ptr", ... for logs and metrics; "-" for no request
 * (cmd 0), "unknown" for a command not in the table. */
const char *stp_cmd_label(uint8_t ver, uint8_t cmd);
/* The label of index i (0 .. STP_NCMDS - 1). */
const char *stp_cmd_label_at(int i);
/* "CONNECT", "UDP ASSOCIATE", ... for messages; "command" if unknown. */
const char *stp_cmd_str(uint8_t cmd);

#endif
