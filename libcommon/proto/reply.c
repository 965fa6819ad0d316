/* reply.c - the one table of SOCKS5/STP reply codes: their text, the errno
 * that produces them and the exit status they become (SPEC §2.3). */
#include <errno.h>
#include <stdio.h>
#include "proto/err.h"
#include "proto/socks.h"

static const char *const rep_text[] = {
	[STP_REP_OK] = "succeeded",
	[STP_REP_FAIL] = "general failure",
	[STP_REP_NOT_ALLOWED] = "not allowed by ruleset",
	[STP_REP_NET_UNREACH] = "network unreachable",
	[STP_REP_HOST_UNREACH] = "host unreachable",
	[STP_REP_REFUSED] = "connection refused",
	[STP_REP_TTL] = "TTL expired",
	[STP_REP_CMD_UNSUPPORTED] = "command not supported",
	[STP_REP_ATYP_UNSUPPORTED] = "address type not supported",
};

static const char *const rep_stp_text[] = {
	[STP_REP_BAD_TICKET - 0xC0] = "unknown or expired ticket",
	[STP_REP_LIMIT - 0xC0] = "session or stream limit reached",
	[STP_REP_MCAST_DENIED - 0xC0] = "multicast group or source not permitted",
	[STP_REP_POLICY - 0xC0] = "feature disabled by policy",
	[STP_REP_FOREIGN_TICKET - 0xC0] = "ticket belongs to another principal",
	[STP_REP_IN_USE - 0xC0] = "address in use",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Never fails: unassigned codes read "unknown reply". */
const char *stp_rep_str(uint8_t rep)
{
	if (rep < NELEM(rep_text))
		return rep_text[rep];
	if (rep >= 0xC0 && rep - 0xC0 < (int)NELEM(rep_stp_text))
		return rep_stp_text[rep - 0xC0];
	return "unknown reply";
}

const char *stp_rep_code(uint8_t rep, char buf[STP_REP_CODE_MAX])
{
	if (rep <= STP_REP_ATYP_UNSUPPORTED)
		snprintf(buf, STP_REP_CODE_MAX, "%u", rep);
	else
		snprintf(buf, STP_REP_CODE_MAX, "X'%02X'", rep);
	return buf;
}

/* Never fails: an errno without a closer meaning is a general failure. */
uint8_t stp_rep_from_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return STP_REP_REFUSED;
	case ENETUNREACH:
	case ENETDOWN:
		return STP_REP_NET_UNREACH;
	case EHOSTUNREACH:
	case EHOSTDOWN:
		return STP_REP_HOST_UNREACH;
	case ETIMEDOUT:
		return STP_REP_TTL;
	case EACCES:
	case EPERM:
		return STP_REP_NOT_ALLOWED;
	case EAFNOSUPPORT:
		return STP_REP_ATYP_UNSUPPORTED;
	default:
		return STP_REP_FAIL;
	}
}

/* Never fails. Reply 0 is not a refusal; should a caller pass it anyway it
 * gets 11 rather than a success status. */
int stp_rep_exit(uint8_t rep)
{
	switch (rep) {
	case STP_REP_CMD_UNSUPPORTED:
		return STP_EXIT_UNSUPPORTED;
	case STP_REP_FAIL:
	case STP_REP_NOT_ALLOWED:
	case STP_REP_NET_UNREACH:
	case STP_REP_HOST_UNREACH:
	case STP_REP_REFUSED:
	case STP_REP_TTL:
	case STP_REP_ATYP_UNSUPPORTED:
		return STP_EXIT_REPLY + rep;
	case STP_REP_MCAST_DENIED:
	case STP_REP_POLICY:
	case STP_REP_FOREIGN_TICKET:
		return STP_EXIT_REPLY + STP_REP_NOT_ALLOWED;
	default:
		return STP_EXIT_REPLY + STP_REP_FAIL;
	}
}
