/* event.c - event lines, text or JSON. */
#include <stdlib.h>

#include "core/event.h"
#include "core/json.h"

static int print_json(FILE *f, const char *name, const struct stp_event_field *v, size_t n)
{
	json_t *o = json_object();
	int rc = -1;

	if (!o || json_object_set_new(o, "event", stp_json_string(name)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		json_t *val = v[i].str ? stp_json_string(v[i].str) : json_integer(v[i].num);
		if (json_object_set_new(o, v[i].key, val) < 0)
			goto out;
	}
	char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (txt) {
		rc = fprintf(f, "%s\n", txt) < 0 ? -1 : 0;
		free(txt);
	}
out:
	json_decref(o);
	return rc;
}

static int print_text(FILE *f, const char *name, const struct stp_event_field *v, size_t n)
{
	if (fputs(name, f) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int k = v[i].str ? fprintf(f, " %s", v[i].str) : fprintf(f, " %lld", v[i].num);
		if (k < 0)
			return -1;
	}
	return fputc('\n', f) < 0 ? -1 : 0;
}

int stp_event_print(FILE *f, bool json, const char *name, const struct stp_event_field *v,
		    size_t n)
{
	int rc = json ? print_json(f, name, v, n) : print_text(f, name, v, n);

	if (fflush(f) != 0)
		rc = -1;
	return rc;
}
