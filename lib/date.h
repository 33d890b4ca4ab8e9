/* date.h - RFC 5322 §3.3 date-time, as used in Received:, Date: and mbox. */
#ifndef SLUICE_DATE_H
#define SLUICE_DATE_H
#include <time.h>

#include "str.h"

/* append e.g. "Sun, 22 Nov 2026 03:04:05 +0000" (local time, numeric zone) */
void date_rfc5322(time_t t, struct str *out);

#endif
