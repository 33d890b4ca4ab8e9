/* date.c - RFC 5322 dates (see date.h).  Day and month names are fixed
 * English (RFC 5322 §3.3), never the locale's. */
#include <stdlib.h>
#include <time.h>

#include "date.h"

/* n (0..99) as two digits */
static void two(char *p, long n)
{
	p[0] = (char)('0' + n / 10 % 10);
	p[1] = (char)('0' + n % 10);
}

void date_rfc5322(time_t t, struct str *out)
{
	static const char day[][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char mon[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	if (!localtime_r(&t, &tm))
		gmtime_r(&t, &tm);
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	off = labs(off);
	/* by hand, not printf: a Received: field per message, a Date: for many */
	char clock[15];
	clock[0] = ' ';
	two(clock + 1, tm.tm_hour);
	clock[3] = ':';
	two(clock + 4, tm.tm_min);
	clock[6] = ':';
	two(clock + 7, tm.tm_sec);
	clock[9] = ' ';
	clock[10] = sign;
	two(clock + 11, off / 60 % 100);
	two(clock + 13, off % 60);
	str_catb(out, day[tm.tm_wday], 3);
	str_cats(out, ", ");
	str_catu(out, (unsigned long long)tm.tm_mday);
	str_catc(out, ' ');
	str_catb(out, mon[tm.tm_mon], 3);
	str_catc(out, ' ');
	if (tm.tm_year + 1900 < 0) {
		str_catc(out, '-');
		str_catu(out, (unsigned long long)-(long long)(tm.tm_year + 1900));
	} else {
		str_catu(out, (unsigned long long)(tm.tm_year + 1900));
	}
	str_catb(out, clock, sizeof clock);
}
