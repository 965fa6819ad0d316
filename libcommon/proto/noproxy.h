/* noproxy.h - NO_PROXY / no_proxy matching, with curl's meaning: a comma
 * list of host names (matching the name and its subdomains, a leading dot
 * allowed), IP addresses, CIDR ranges, or "*" for everything. */
#ifndef STP_NOPROXY_H
#define STP_NOPROXY_H

#include <stdbool.h>

bool stp_noproxy_match(const char *list, const char *host);

#endif
