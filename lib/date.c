/* date.c - RFC 5322 dates (see date.h).  Day and month names are fixed
 * English (RFC 5322 §3.3), never the locale's. */
#include <stdlib.h>

#include "date.h"

void date_rfc5322(time_t t, struct str *out)
{
	static const char *const day[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	if (!localtime_r(&t, &tm))
		gmtime_r(&t, &tm);
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	off = labs(off);
	str_catf(out, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", day[tm.tm_wday], tm.tm_mday,
		 mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60,
		 off % 60);
}
