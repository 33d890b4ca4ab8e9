/*
 * fuzz/str.c - str_catf (lib/str.c) against snprintf.
 *
 * str_catf formats plain %s, %c and integers itself, hands other
 * conversions one at a time to vsnprintf, and the rest of a format to
 * vsnprintf from the first conversion it does not know (a '*' width, a
 * float).  Each must make exactly snprintf's text.  The input is split at
 * NUL bytes into two strings a and b (any other byte allowed); a number
 * is made of its first eight bytes; both go through formats that mix
 * literal text, %%, every length modifier the programs use, flags, widths
 * and precisions, with the fall-back conversions first, in the middle
 * and last, onto a str that already holds text (so appending is checked
 * too) and onto an empty one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "fuzz.h"
#include "str.h"

#define CHECK_FMT(out, ...)                                                      \
	do {                                                                     \
		int n_ = snprintf(NULL, 0, __VA_ARGS__);                        \
		FUZZ_CHECK(n_ >= 0);                                             \
		char *w_ = malloc((size_t)n_ + 1);                               \
		FUZZ_CHECK(w_ != NULL);                                          \
		snprintf(w_, (size_t)n_ + 1, __VA_ARGS__);                       \
		size_t before_ = (out)->len;                                     \
		str_catf((out), __VA_ARGS__);                                    \
		FUZZ_CHECK((out)->len == before_ + (size_t)n_);                  \
		FUZZ_CHECK(memcmp((out)->s + before_, w_, (size_t)n_) == 0);     \
		FUZZ_CHECK((out)->s[(out)->len] == '\0');                        \
		free(w_);                                                        \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = STR_INIT;
	str_copyb(&in, (const char *)data, size);
	const char *a = in.s, *b = in.s + strlen(in.s) + (size > strlen(in.s) ? 1 : 0);
	if (b > in.s + size)
		b = "";
	uint64_t u = 0;
	for (size_t i = 0; i < 8 && i < size; i++)
		u = u << 8 | data[i];
	long long v = (long long)u;
	int width = (int)(u % 40) - 20;
	char ch = size ? (char)data[size - 1] : 'x';
	struct str s = STR_INIT, e = STR_INIT;
	str_cats(&s, "kept ");
	CHECK_FMT(&s, "%s", a);
	CHECK_FMT(&e, "%s", "");
	CHECK_FMT(&e, "%s", a);
	CHECK_FMT(&s, "a=%s b=<%s> %% done", a, b);
	CHECK_FMT(&s, "%d %i %ld %lld %u %lu %llu %zd %zu", (int)v, (int)v, (long)v, v, (unsigned)v,
		  (unsigned long)v, (unsigned long long)v, (ssize_t)v, (size_t)v);
	CHECK_FMT(&s, "%c|%5c|%-3c", ch, ch, ch);
	CHECK_FMT(&s, "%x %X %o %#x %05d %-7d| %+d % d %hd %hhu", (unsigned)v, (unsigned)v, (unsigned)v,
		  (unsigned)v, (int)v, (int)v, (int)v, (int)v, (short)v, (unsigned char)v);
	CHECK_FMT(&s, "%10s|%-10s|%.3s|%5.2s", a, b, a, b);
	CHECK_FMT(&s, "%p %s", (void *)(uintptr_t)u, b);
	CHECK_FMT(&s, "%jd %td %ju", (intmax_t)v, (ptrdiff_t)v, (uintmax_t)v);
	/* the fall-back: the rest of the format from an unknown conversion on */
	CHECK_FMT(&s, "%*d and %s %d", width, (int)v, a, (int)v);
	CHECK_FMT(&s, "%s then %.*s then %lld %s", a, width < 0 ? -width : width, b, v, b);
	CHECK_FMT(&s, "%d %s %f", (int)v, a, (double)v / 7);
	CHECK_FMT(&s, "%%%s%%", b);
	str_free(&in);
	str_free(&s);
	str_free(&e);
	return 0;
}
