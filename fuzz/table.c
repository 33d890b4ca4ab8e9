/*
 * fuzz/table.c - text lookup tables (lib/table.c), e.g. aliases and
 * users.
 *
 * The input is written as a table in a private conf dir.  Each line's
 * first word (less a trailing ':') is looked up, and the answer must be
 * the first line with that key, its value trimmed, exactly as a reader of
 * table.h would expect; keys holding a space are never found.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"
#include "table.h"

#define MAX_KEYS 16

struct expect {
	char *key[MAX_KEYS];
	struct str value[MAX_KEYS];
	size_t n;
};

/* the documented format, read independently of table.c */
static void note_line(void *arg, const char *s, size_t n)
{
	struct expect *x = arg;
	size_t k = 0;
	while (k < n && !isspace((unsigned char)s[k]))
		k++;
	size_t kl = k;
	if (kl && s[kl - 1] == ':')
		kl--;
	if (kl == 0 || memchr(s, '\0', kl))
		return;
	for (size_t i = 0; i < x->n; i++)
		if (strlen(x->key[i]) == kl && memcmp(x->key[i], s, kl) == 0)
			return; /* the first line with a key wins */
	if (x->n == MAX_KEYS)
		return;
	x->key[x->n] = strndup(s, kl);
	FUZZ_CHECK(x->key[x->n] != NULL);
	const char *v = s + k;
	size_t vn = n - k;
	while (vn && isspace((unsigned char)*v))
		v++, vn--;
	while (vn && isspace((unsigned char)v[vn - 1]))
		vn--;
	struct str *val = &x->value[x->n];
	*val = (struct str)STR_INIT;
	str_copyb(val, v, vn);
	x->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_conf_write("table", data, size);
	struct str text = STR_INIT;
	str_copyb(&text, data, size);
	struct expect x = { .n = 0 };
	conf_each_item(&text, note_line, &x);

	struct str value = STR_INIT;
	for (size_t i = 0; i < x.n; i++) {
		FUZZ_CHECK(table_lookup("table", x.key[i], &value) == 1);
		FUZZ_CHECK(value.len == x.value[i].len);
		FUZZ_CHECK(memcmp(value.s, x.value[i].s, value.len) == 0);
		free(x.key[i]);
		str_free(&x.value[i]);
	}
	FUZZ_CHECK(table_lookup("table", "no such key", &value) == 0);
	FUZZ_CHECK(table_lookup("absent-table", "postmaster", &value) == 0);
	str_free(&value);
	str_free(&text);
	return 0;
}
