/*
 * fuzz/conf.c - configuration files (lib/conf.c): item lists, the
 * "limits" file, domain lists and numbers.
 *
 * The input is written as a file in a private conf dir and read the way
 * programs read it.  Properties:
 *  - every item is non-empty, trimmed, one line, with no comment in it;
 *  - conf_line gives the first item;
 *  - every item matches itself as a domain list entry ("x" matches "x",
 *    ".x" matches "a.x") and a name never matches an empty list;
 *  - scan_ull agrees with a plain decimal reading;
 *  - conf_limit finds a "key value" line's value, or warns and keeps the
 *    default when the value is not a number.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

/* reference: all decimal digits, and strtoull does not overflow */
static int ref_scan(const char *s, size_t n, unsigned long long *out)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	char *buf = strndup(s, n);
	FUZZ_CHECK(buf != NULL);
	errno = 0;
	*out = strtoull(buf, NULL, 10);
	int ok = errno == 0;
	free(buf);
	return ok;
}

static void check_item(const struct conf_list *l, const char *e)
{
	size_t n = strlen(e);
	if (n == 0)
		return; /* a line starting with a NUL byte: harmless, never matches */
	FUZZ_CHECK(!isspace((unsigned char)e[0]) && !isspace((unsigned char)e[n - 1]));
	FUZZ_CHECK(!strchr(e, '\n') && !strchr(e, '#'));

	struct str d = STR_INIT;
	if (e[0] == '.')
		str_cats(&d, "a");
	str_cats(&d, e);
	FUZZ_CHECK(conf_domain_match(l, d.s));
	str_free(&d);

	unsigned long long v = 0, w = 0;
	int ok = scan_ull(e, n, &v);
	FUZZ_CHECK(ok == ref_scan(e, n, &w));
	FUZZ_CHECK(!ok || v == w);

	/* the item as "key value": the first word is a key with that value */
	size_t k = 0;
	while (k < n && !isspace((unsigned char)e[k]))
		k++;
	if (k == n)
		return;
	char *key = strndup(e, k);
	FUZZ_CHECK(key != NULL);
	unsigned long long got = 0;
	int r = conf_limit(l, key, 7, &got);
	FUZZ_CHECK(r == 0 || r == -1);
	if (r < 0)
		FUZZ_CHECK(got == 7);
	free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_conf_write("list", data, size);
	struct conf_list l = CONF_LIST_INIT;
	FUZZ_CHECK(conf_list_read("list", &l) == 0);
	for (size_t i = 0; i < l.n && i < 16; i++)
		check_item(&l, l.item[i]);

	struct str first = STR_INIT;
	int r = conf_line("list", &first);
	FUZZ_CHECK(r == (l.n ? 0 : 1));
	if (l.n)
		FUZZ_CHECK(strcmp(first.s, l.item[0]) == 0);
	str_free(&first);

	unsigned long long v;
	conf_limit(&l, "message_size", 10, &v);
	conf_limit(&l, "rcpt_max", 10, &v);

	struct conf_list none = CONF_LIST_INIT;
	FUZZ_CHECK(!conf_domain_match(&none, "example.com"));
	conf_list_free(&l);
	return 0;
}
