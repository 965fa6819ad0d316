/* gsserr.h - GSS-API status codes as one line of text for stp's messages. */
#ifndef STP_GSSERR_H
#define STP_GSSERR_H

#include <gssapi/gssapi.h>
#include <stddef.h>
#include "proto/err.h"

/* Writes the minor status text (the mechanism's: Kerberos says what is
 * wrong there) to buf, else the major one. Returns buf. */
const char *stp_gss_minor_text(OM_uint32 maj, OM_uint32 min, char *buf, size_t cap);
/* Fills e with code and "GSS-API WHAT: MAJOR TEXT (MINOR TEXT)"; returns -1. */
int stp_gss_err(struct stp_err *e, int code, OM_uint32 maj, OM_uint32 min, const char *what);

#endif
