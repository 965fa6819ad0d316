/* gsserr.c - GSS-API status text. */
#include <stdio.h>
#include <string.h>

#include "client/gsserr.h"

/* Appends the texts of status code (of type GSS_C_GSS_CODE or
 * GSS_C_MECH_CODE) to buf, "; " between them. */
static void status_text(OM_uint32 code, int type, char *buf, size_t cap)
{
	OM_uint32 more = 0, min, rel;
	gss_buffer_desc t;
	int rounds = 0;

	do {
		/* bounded: a mechanism could keep saying there is more */
		if (GSS_ERROR(gss_display_status(&min, code, type, GSS_C_NO_OID, &more, &t)))
			return;
		size_t len = strlen(buf);
		snprintf(buf + len, cap - len, "%s%.*s", len ? "; " : "", (int)t.length,
			 (const char *)t.value);
		gss_release_buffer(&rel, &t);
	} while (more && ++rounds < 4);
}

const char *stp_gss_minor_text(OM_uint32 maj, OM_uint32 min, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (min)
		status_text(min, GSS_C_MECH_CODE, buf, cap);
	if (!buf[0])
		status_text(maj, GSS_C_GSS_CODE, buf, cap);
	return buf;
}

int stp_gss_err(struct stp_err *e, int code, OM_uint32 maj, OM_uint32 min, const char *what)
{
	char mj[120] = "", mn[160] = "";

	status_text(maj, GSS_C_GSS_CODE, mj, sizeof(mj));
	if (min)
		status_text(min, GSS_C_MECH_CODE, mn, sizeof(mn));
	return stp_err_set(e, code, "GSS-API %s: %s%s%s%s", what, mj, mn[0] ? " (" : "", mn,
			   mn[0] ? ")" : "");
}
