/* dns.h - DNS messages (RFC 1035) for the DNS channel (PROTOCOL.md §3,
 * X'D5'), stp-resolve and its local stub: check a query, answer one with an
 * error, truncate an answer for UDP, walk the records of an answer and
 * print them as dig does, cut LEN-framed messages out of the channel's
 * stream. Pure functions over (buf, len): no I/O. Names are
 * expanded with c-ares (ares_expand_name, which bounds compression loops);
 * everything else is bounds-checked here and fuzzed by tests/fuzz/fuzz-dns.c. */
#ifndef STP_DNS_H
#define STP_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define STP_DNS_HDR 12
#define STP_DNS_MAX 65535      /* largest message LEN(2) can frame */
#define STP_DNS_UDP_MIN 512    /* RFC 1035's UDP limit without EDNS */
#define STP_DNS_NAMESTR 1025   /* a presentation name: 255 bytes, escaped \DDD */

enum {
	STP_DNS_NOERROR = 0, STP_DNS_FORMERR = 1, STP_DNS_SERVFAIL = 2,
	STP_DNS_NXDOMAIN = 3, STP_DNS_NOTIMP = 4, STP_DNS_REFUSED = 5,
};

enum {
	STP_DNS_T_A = 1, STP_DNS_T_NS = 2, STP_DNS_T_CNAME = 5, STP_DNS_T_SOA = 6,
	STP_DNS_T_PTR = 12, STP_DNS_T_MX = 15, STP_DNS_T_TXT = 16,
	STP_DNS_T_AAAA = 28, STP_DNS_T_SRV = 33, STP_DNS_T_OPT = 41,
	STP_DNS_T_CAA = 257,
};

/* The header of a message, and where its question ends. */
struct stp_dns_msg {
	uint16_t id, flags;
	uint16_t qdcount, ancount, nscount, arcount;
	uint16_t qtype, qclass;        /* of the first question, if any */
	char qname[STP_DNS_NAMESTR];   /* of the first question ("" = root) */
	size_t qend;                   /* offset after the question section */
};
#define STP_DNS_QR(f) (((f) >> 15) & 1u)
#define STP_DNS_OPCODE(f) (((f) >> 11) & 0xFu)
#define STP_DNS_TC 0x0200u
#define STP_DNS_RCODE(f) ((f) & 0xFu)

/* One resource record. rdata points into the message. */
struct stp_dns_rr {
	char name[STP_DNS_NAMESTR];
	uint16_t type, cls;
	uint32_t ttl;
	size_t rdoff;                  /* offset of RDATA in the message */
	uint16_t rdlen;
};

/* Parses the header and the question section. Returns 0, or -1 when the
 * message is shorter than a header or a question is malformed (m->id and
 * m->flags are still set when n >= 2 and n >= 4). */
int stp_dns_parse(const uint8_t *b, size_t n, struct stp_dns_msg *m);

/* Judges a query for the DNS channel: 0 to forward it; an RCODE to answer
 * it with at once (FORMERR: malformed or not exactly one question; NOTIMP:
 * an opcode other than QUERY); -1 to drop it (shorter than a header, or a
 * response). m is filled as far as parsing got. */
int stp_dns_check_query(const uint8_t *b, size_t n, struct stp_dns_msg *m);

/* Writes the answer to query q (its first qlen bytes: header and question,
 * qlen = m.qend, or just the 12-byte header) carrying rcode and no records:
 * QR set, RD copied, RA set, QDCOUNT 1 when the question is included.
 * Returns the length, or 0 when cap is too small or qlen < 12. */
size_t stp_dns_error_reply(uint8_t *out, size_t cap, const uint8_t *q, size_t qlen, int rcode);

/* The UDP payload size a query's EDNS OPT record offers (at least 512), or
 * 512 without one or when the message cannot be walked. */
unsigned stp_dns_udp_size(const uint8_t *b, size_t n);

/* Fits answer a into limit bytes for UDP: returns alen when it fits; else
 * writes the header and question with TC set and no records into out and
 * returns that length (0 when a is malformed or cap too small). */
size_t stp_dns_truncate(uint8_t *out, size_t cap, const uint8_t *a, size_t alen, size_t limit);

/* Reads the record at *off (advanced past it). Returns 0, or -1 when it is
 * malformed or runs past n. */
int stp_dns_next_rr(const uint8_t *b, size_t n, size_t *off, struct stp_dns_rr *rr);

/* Writes rr's RDATA as dig shows it ("10 mail.example.", "\"text\"", an
 * address; RFC 3597 "\# LEN HEX" for unknown types). Returns 0, or -1 when
 * the RDATA is malformed (buf then holds the generic form). */
int stp_dns_rdata_str(const uint8_t *b, size_t n, const struct stp_dns_rr *rr,
		      char *buf, size_t cap);

/* "A", "MX", ... or "TYPE123". */
const char *stp_dns_type_str(uint16_t type, char *buf, size_t cap);
/* "IN", "CH", ... or "CLASS3". */
const char *stp_dns_class_str(uint16_t cls, char *buf, size_t cap);
/* Parses "MX", "mx", "TYPE15" or "15". Returns 0, or -1. */
int stp_dns_type_parse(const char *s, uint16_t *type);
/* "NXDOMAIN", "SERVFAIL", ... */
const char *stp_dns_rcode_str(int rcode);

/* Writes a query for name/type/IN with id and RD set. Returns its length,
 * or 0 when the name is not valid or cap too small. */
size_t stp_dns_query_put(uint8_t *out, size_t cap, uint16_t id, const char *name,
			 uint16_t type);

/* The reverse-lookup name of an IPv4/IPv6 literal ("4.3.2.1.in-addr.arpa").
 * Returns 0, or -1 when addr is not a literal. */
int stp_dns_ptr_name(const char *addr, char *buf, size_t cap);

/* Takes the next complete LEN(2) | message frame of the DNS channel out of
 * in[0..*inlen) (the rest moves to the front) into msg (cap bytes),
 * passing over empty frames. Returns its length, 0 when more bytes are
 * needed, or -1 when it does not fit in cap (that frame is left in in).
 * The stub and the blocking channel share it. */
ssize_t stp_dns_unframe(uint8_t *in, size_t *inlen, uint8_t *msg, size_t cap);

/* --- the answers of a response (stp-resolve -t) -------------------------- */

#define STP_DNS_T_ANY 255

/* stp_dns_query_put, except that for PTR an address literal is asked by
 * its reverse name (192.0.2.1: 1.2.0.192.in-addr.arpa), as dig -x does. */
size_t stp_dns_query_for(uint8_t *out, size_t cap, uint16_t id, const char *name, uint16_t type);

/* What an error RCODE means, in words ("no such name" for NXDOMAIN). */
const char *stp_dns_rcode_text(int rcode);

/* One record of an answer section, ready to show as dig does. */
struct stp_dns_answer {
	struct stp_dns_rr rr;
	char owner[STP_DNS_NAMESTR + 1];  /* rr.name with the root's dot */
	const char *type, *cls;           /* "MX", "IN"; "TYPE123", "CLASS3" */
	const char *data;                 /* RDATA as text, in the caller's buffer */
	char tbuf[16], cbuf[16];          /* where type and cls are made when not static */
};

/* Called for each record; a and its strings last only for the call. */
typedef void stp_dns_answer_fn(void *arg, const struct stp_dns_answer *a);

/* Walks the answer section of response b (n bytes), calling fn for each
 * record, its RDATA written into data (cap bytes; 4 * STP_DNS_MAX + 64
 * holds any). *rcode gets the response's RCODE (-1 when the header does
 * not parse); an error RCODE walks nothing and returns 0. Returns how many
 * records are of type want (STP_DNS_T_ANY: all), or -1 when the message is
 * malformed (fn has seen the records before the bad one). */
int stp_dns_answers(const uint8_t *b, size_t n, uint16_t want, char *data, size_t cap,
		    int *rcode, stp_dns_answer_fn *fn, void *arg);

#endif
