/* placeholder.c - placeholder addresses <-> numbers (placeholder.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proto/placeholder.h"

#define PH4_BASE 0xC6120000u   /* 198.18.0.0 */
#define PH4_MASK 0xFFFE0000u   /* /15 */

void stp_ph_make(int af, uint32_t n, void *a)
{
	if (af == AF_INET) {
		struct in_addr *in = a;
		in->s_addr = htonl(PH4_BASE + n);
		return;
	}
	uint8_t *b = ((struct in6_addr *)a)->s6_addr;
	memset(b, 0, 16);
	b[0] = 0x01;
	b[12] = (uint8_t)(n >> 24);
	b[13] = (uint8_t)(n >> 16);
	b[14] = (uint8_t)(n >> 8);
	b[15] = (uint8_t)n;
}

static uint32_t valid(uint32_t n)
{
	return n >= 1 && n <= STP_PH_MAX ? n : 0;
}

uint32_t stp_ph_number(int af, const void *a)
{
	if (af == AF_INET) {
		uint32_t v = ntohl(((const struct in_addr *)a)->s_addr);
		return (v & PH4_MASK) == PH4_BASE ? valid(v - PH4_BASE) : 0;
	}
	if (af != AF_INET6)
		return 0;
	const struct in6_addr *in6 = a;
	const uint8_t *b = in6->s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(in6))
		return stp_ph_number(AF_INET, b + 12);
	static const uint8_t pre[12] = { 0x01, 0 };
	if (memcmp(b, pre, 12) != 0)
		return 0;
	return valid((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
}

uint32_t stp_ph_number_sa(const struct sockaddr *sa, socklen_t len)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in))
		return stp_ph_number(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))
		return stp_ph_number(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}
