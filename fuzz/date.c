/*
 * fuzz/date.c - date_rfc5322 (lib/date.c), which formats by hand, against
 * strftime.
 *
 * The input's first eight bytes make a time (any, negative and far-off
 * ones included); the next byte picks a time zone from a list (TZ is set
 * and tzset called), so offsets east, west, half-hour and none are all
 * met.  The text must be exactly strftime's "%a, %-d %b %Y %H:%M:%S %z" in
 * the C locale for the same local time, appended to what the str held.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "date.h"
#include "fuzz.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const zones[] = { "UTC0", "CET-1CEST,M3.5.0,M10.5.0/3", "EST5EDT,M3.2.0,M11.1.0",
					     "IST-5:30", "NPT-5:45", "HST10", "NZST-12NZDT,M9.5.0,M4.1.0/3",
					     "<-0330>3:30" };
	struct fuzz_in in = { data, size };
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | fuzz_byte(&in);
	/* years 1..9999, where strftime's %Y and ours write the same digits */
	int64_t t = (int64_t)(u % (253402300799ULL + 62135596800ULL + 1)) - 62135596800LL;
	setenv("TZ", zones[fuzz_byte(&in) % (sizeof zones / sizeof zones[0])], 1);
	tzset();
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
		return 0;
	char want[64];
	size_t n = strftime(want, sizeof want, "%a, %d %b %Y %H:%M:%S %z", &tm);
	FUZZ_CHECK(n > 0);
	/* strftime's %d has a leading zero; RFC 5322's day is 1*2DIGIT, and ours has none */
	if (want[5] == '0')
		memmove(want + 5, want + 6, strlen(want + 5));
	struct str s = STR_INIT;
	str_cats(&s, "Date: ");
	date_rfc5322(tt, &s);
	FUZZ_CHECK(s.len == 6 + strlen(want));
	FUZZ_CHECK(memcmp(s.s, "Date: ", 6) == 0);
	FUZZ_CHECK(memcmp(s.s + 6, want, strlen(want)) == 0);
	FUZZ_CHECK(s.s[s.len] == '\0');
	str_free(&s);
	return 0;
}
