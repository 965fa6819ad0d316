/* event.h - the event lines programs print on stderr for scripts and
 * tests to wait on: "listening 127.0.0.1 1080", or with --json one object
 * {"event":"listening","addr":"127.0.0.1","port":1080}. */
#ifndef STP_EVENT_H
#define STP_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct stp_event_field {
	const char *key;  /* the JSON key */
	const char *str;  /* a string value; NULL: the value is num */
	long long num;
};

/* Writes one event line to f and flushes it: the name then each value,
 * space-separated (text), or an object with "event" first then each key
 * in order (json; strings that are not UTF-8 escaped as stp_json_string
 * does). Returns 0, or -1 if it could not be written. */
int stp_event_print(FILE *f, bool json, const char *name, const struct stp_event_field *v,
		    size_t n);

#endif
