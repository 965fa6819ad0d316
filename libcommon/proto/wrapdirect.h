/* wrapdirect.h - the one word the --wrap agent and its preload library
 * share beyond SOCKS5 (client/wrapagent.c, wrap/udp.c): the answer to a
 * UDP destination that goes out directly (a --config route says direct,
 * or NO_PROXY names it). Its BND.ADDR:BND.PORT is where the program's own
 * socket sends: the same address, or the one a name resolved to. A code
 * above SOCKS5's (0-8), seen only on the agent's loopback connection. */
#ifndef STP_WRAPDIRECT_H
#define STP_WRAPDIRECT_H

#define STP_WRAP_REP_DIRECT 0x80

/* The answer at the agent's Unix door (client/wraphandoff.h) to a CONNECT
 * it does not take there: the chain needs the agent on the data path (TLS,
 * GSS-API), or the program's socket cannot reach the proxy (its family).
 * Nothing was done with the socket; the library asks at the TCP door. */
#define STP_WRAP_REP_RELAY 0x81

#endif
