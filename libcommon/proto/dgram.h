/* dgram.h - datagrams on stdin/stdout (SPEC §2.4): each datagram framed as
 * `line` (one per line, the newline not part of it), `raw` (each read is
 * one datagram, each datagram written as is), `hex` (one line of hex
 * digits each) or `json` ({"from":"ADDR:PORT","data":"BASE64"} per line;
 * read back with "to" optional). Pure: bytes in, datagrams out; no I/O.
 * stp-udp uses it, stp-mcast will. */
#ifndef STP_DGRAM_H
#define STP_DGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/err.h"
#include "proto/socks.h"

enum stp_dgram_fmt { STP_DGRAM_LINE, STP_DGRAM_RAW, STP_DGRAM_HEX, STP_DGRAM_JSON };

/* The largest payload a datagram framing carries (a UDP payload fits). */
#define STP_DGRAM_MAX 65535
/* The longest input line any format accepts: json's base64 of the largest
 * datagram, plus room for the rest of the object. */
#define STP_DGRAM_LINE_MAX ((STP_DGRAM_MAX + 2) / 3 * 4 + 1024)
/* The input buffer a caller of stp_dgram_decode needs to tell any line
 * that is too long from one that is not complete yet (hex may put a blank
 * between bytes). */
#define STP_DGRAM_BUF (3 * STP_DGRAM_MAX + 2)

/* "line", "raw", "hex", "json" -> *f. Returns 0, or -1 for anything else. */
int stp_dgram_fmt_parse(const char *s, enum stp_dgram_fmt *f);

/* One decoded input datagram; data is the caller's buffer of
 * STP_DGRAM_MAX bytes. */
struct stp_dgram {
	uint8_t *data;
	size_t len;
	bool has_to;         /* json: "to" was given */
	char to[STP_HOSTPORT_MAX];        /* "HOST:PORT" as written, NUL-terminated */
};

/* The decoder's state across calls: an over-long line is dropped whole. */
struct stp_dgram_reader {
	enum stp_dgram_fmt fmt;
	bool skipping;       /* inside a line that was too long */
};

enum { STP_DGRAM_MORE = 0, STP_DGRAM_OK = 1, STP_DGRAM_BAD = 2 };

/* Decodes the next datagram from in[0..n). eof: no more input will come
 * (a last line without a newline still counts). Returns the bytes
 * consumed and sets *what: STP_DGRAM_OK (d filled), STP_DGRAM_BAD (a bad
 * line was consumed; e says why), or STP_DGRAM_MORE (need more input;
 * consumed may still be > 0 while an over-long line is skipped). For
 * `raw`, all of in[0..n) is one datagram (at most STP_DGRAM_MAX bytes; the
 * caller reads one chunk at a time). Blank lines in `json` are skipped. */
size_t stp_dgram_decode(struct stp_dgram_reader *r, const uint8_t *in, size_t n, bool eof,
			struct stp_dgram *d, int *what, struct stp_err *e);

/* Bytes stp_dgram_encode needs for a datagram of len bytes. */
size_t stp_dgram_encoded_max(enum stp_dgram_fmt f, size_t len);
/* Writes one datagram (from: its sender, for json; NULL = none) in the
 * framing f into out. Returns the length, or 0 if cap is too small (or
 * for an empty `raw` datagram, which is nothing). */
size_t stp_dgram_encode(enum stp_dgram_fmt f, const struct stp_addr *from,
			const uint8_t *data, size_t len, char *out, size_t cap);

/* Base64 (RFC 4648, padded). encode returns the length written (no NUL
 * added), 0 if cap is short (and len > 0). decode returns the bytes
 * written, or -1 for bad input or a short cap. */
size_t stp_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
ssize_t stp_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

#endif
