/* rules.h - stp-serve's access rules (SPEC §3.6): a list of
 *   {"action":"allow|deny", "from":"CIDR", "user":"NAME",
 *    "command":"connect|bind|udp|mcast|resolve|dns|mux",
 *    "to":"CIDR|*.domain|name|*", "ports":"80,443,1024-65535",
 *    "egress":"ADDR"}
 * parsed from JSON (jansson), matched first-match-wins; when rules exist
 * and none matches, the answer is deny. Pure: no I/O, no clock. */
#ifndef STP_RULES_H
#define STP_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "proto/err.h"

/* The command classes a rule can name (a rule may name several, "connect,bind"). */
enum {
	STP_RC_CONNECT = 1 << 0,
	STP_RC_BIND = 1 << 1,     /* BIND, BIND_MULTI */
	STP_RC_UDP = 1 << 2,      /* UDP ASSOCIATE, UDP_BIND, UDP_TCP */
	STP_RC_MCAST = 1 << 3,
	STP_RC_RESOLVE = 1 << 4,  /* RESOLVE, RESOLVE_PTR */
	STP_RC_DNS = 1 << 5,
	STP_RC_MUX = 1 << 6,
};

struct stp_rules;

/* What a request is matched against. */
struct stp_rule_req {
	const struct sockaddr *client;  /* the client's address */
	const char *user;               /* authenticated user; NULL: none */
	bool principal;                 /* user is a GSS-API principal NAME@REALM:
					   a rule's "user" without '@' matches its
					   NAME in any realm */
	unsigned cmd;                   /* one STP_RC_* */
	const char *name;               /* target name (ATYP 3), or NULL */
	const struct sockaddr *addr;    /* target address, or NULL: not known (yet) */
	uint16_t port;                  /* target port */
	bool any_target;                /* the targets come later (UDP): a rule
					   limited by "to" or "ports" matches
					   if it allows (some target may pass,
					   each is checked then), not if it denies */
};

/* Parses j: an array of rule objects, or one object. where names the
 * source in messages ("rules", "--rules"), e.g. "rules[2].ports: '70000'
 * is not a port". Returns the rules (possibly zero of them), or NULL with
 * e filled (code 2). */
struct stp_rules *stp_rules_parse(const json_t *j, const char *where, struct stp_err *e);
void stp_rules_free(struct stp_rules *r);
size_t stp_rules_count(const struct stp_rules *r);
/* Rule i as compact JSON text, for log lines. */
const char *stp_rules_text(const struct stp_rules *r, size_t i);

/* The decision for q: true = allow. NULL or empty rules allow everything;
 * else the first matching rule decides and no match denies. A CONNECT or
 * UDP target address is judged as the one the kernel will use: v4-mapped
 * IPv6 as IPv4, unspecified as loopback; a deny rule's "to" also matches
 * it as given. *idx (may be
 * NULL) gets the deciding rule's index, or -1 for "no rule matched". */
bool stp_rules_allow(const struct stp_rules *r, const struct stp_rule_req *q, int *idx);

/* The "egress" address of rule idx (from stp_rules_allow) if it names one
 * of family fam (AF_INET, AF_INET6): true with *out (port 0), else false. */
bool stp_rules_egress(const struct stp_rules *r, int idx, int fam, struct sockaddr_storage *out);
/* True when rule idx is limited by "to" or "ports" (it decided a request
 * with any_target only because it might allow some target). */
bool stp_rules_names_target(const struct stp_rules *r, int idx);

/* True when target (an address a client asked to reach, judged as in
 * stp_rules_allow) is on the proxy's own host or link-local: loopback,
 * unspecified, 169.254.0.0/16, fe80::/10. */
bool stp_rules_protected(const struct sockaddr *target);
/* True when rule idx (from stp_rules_allow) allows such a target on
 * purpose: an allow rule whose "to" is a network inside those. */
bool stp_rules_unlocks(const struct stp_rules *r, int idx);

/* The STP_RC_* class of a SOCKS command (ver 4 or 5), or 0 for commands
 * rules do not govern (FEATURES, CONFIG, ATTACH: its control channel was
 * checked when it was made). */
unsigned stp_rule_cmd_of(uint8_t ver, uint8_t cmd);
/* "connect", "bind", ... for one STP_RC_* bit. */
const char *stp_rule_cmd_name(unsigned rc);

#endif
