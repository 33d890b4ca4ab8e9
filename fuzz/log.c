/*
 * fuzz/log.c - log line values (lib/log.c, log_vformat): the format is
 * ours, the values hostile.
 *
 * The input is split at NUL bytes into three values a, b, c (any other
 * byte allowed) and formatted as log lines would be:
 *   k1=%s k2="%s" k3=<%s>:%zu k4=%s%s
 * followed by a number made of the input's first eight bytes in every
 * integer conversion the programs use, the plain ones (which log.c
 * formats itself) and some that go through printf:
 *   k5=%d k6=%ld k7=%lld k8=%u k9=%lu k10=%llu k11=%zd k12=%zu k13=%05d k14=%hd k15=%x
 * Checked, by reading the line back the way an administrator's parser
 * would (bare values end at a space; quoted ones undo \" \\ \xHH):
 *  - exactly the format's fields, with its keys, in order;
 *  - each value is exactly the text the format and arguments make
 *    (snprintf's, for the numbers);
 *  - no control byte or DEL anywhere in the line.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "fuzz.h"
#include "log.h"
#include "str.h"

static void fmt(struct str *out, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void fmt(struct str *out, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	log_vformat(out, f, ap);
	va_end(ap);
}

static int hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* one field at *pos: key into key, value into val; 0 at the end of the line */
static int next_field(const struct str *l, size_t *pos, struct str *key, struct str *val)
{
	size_t i = *pos;
	if (i >= l->len)
		return 0;
	size_t k = i;
	while (k < l->len && l->s[k] != '=' && l->s[k] != ' ' && l->s[k] != '"')
		k++;
	FUZZ_CHECK(k < l->len && l->s[k] == '='); /* every field of the format has a key */
	str_copyb(key, l->s + i, k - i);
	str_copys(val, "");
	i = k + 1;
	if (i < l->len && l->s[i] == '"') {
		for (i++;; i++) {
			FUZZ_CHECK(i < l->len);
			char c = l->s[i];
			if (c == '"')
				break;
			if (c == '\\') {
				FUZZ_CHECK(i + 1 < l->len);
				char e = l->s[++i];
				if (e == 'x') {
					FUZZ_CHECK(i + 2 < l->len && hex(l->s[i + 1]) >= 0 && hex(l->s[i + 2]) >= 0);
					str_catc(val, (char)(hex(l->s[i + 1]) * 16 + hex(l->s[i + 2])));
					i += 2;
				} else {
					FUZZ_CHECK(e == '"' || e == '\\');
					str_catc(val, e);
				}
			} else {
				str_catc(val, c);
			}
		}
		i++;
	} else {
		while (i < l->len && l->s[i] != ' ')
			str_catc(val, l->s[i++]);
	}
	FUZZ_CHECK(i == l->len || l->s[i] == ' ');
	*pos = i < l->len ? i + 1 : i;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = STR_INIT;
	str_copyb(&in, (const char *)data, size);
	const char *v[3] = { "", "", "" };
	size_t at = 0;
	for (int i = 0; i < 3 && at <= size; i++) {
		v[i] = in.s + at;
		at += strlen(v[i]) + 1;
	}
	uint64_t u = 0;
	for (size_t i = 0; i < 8 && i < size; i++)
		u = u << 8 | data[i];
	long long a = (long long)u;
	struct str line = STR_INIT, key = STR_INIT, val = STR_INIT, want = STR_INIT;
	fmt(&line, "k1=%s k2=\"%s\" k3=<%s>:%zu k4=%s%s", v[0], v[1], v[2], size, v[0], v[2]);
	fmt(&line, " k5=%d k6=%ld k7=%lld k8=%u k9=%lu k10=%llu k11=%zd k12=%zu k13=%05d k14=%hd k15=%x", (int)a,
	    (long)a, a, (unsigned)a, (unsigned long)a, (unsigned long long)a, (ssize_t)a, (size_t)a, (int)a,
	    (short)a, (unsigned)a);
	/* what snprintf makes of the same, field by field */
	char num[11][32];
	snprintf(num[0], sizeof num[0], "%d", (int)a);
	snprintf(num[1], sizeof num[1], "%ld", (long)a);
	snprintf(num[2], sizeof num[2], "%lld", a);
	snprintf(num[3], sizeof num[3], "%u", (unsigned)a);
	snprintf(num[4], sizeof num[4], "%lu", (unsigned long)a);
	snprintf(num[5], sizeof num[5], "%llu", (unsigned long long)a);
	snprintf(num[6], sizeof num[6], "%zd", (ssize_t)a);
	snprintf(num[7], sizeof num[7], "%zu", (size_t)a);
	snprintf(num[8], sizeof num[8], "%05d", (int)a);
	snprintf(num[9], sizeof num[9], "%hd", (short)a);
	snprintf(num[10], sizeof num[10], "%x", (unsigned)a);
	for (size_t i = 0; i < line.len; i++)
		FUZZ_CHECK((unsigned char)line.s[i] >= 0x20 && line.s[i] != 0x7f);
	size_t pos = 0;
	for (int f = 0; f < 4; f++) {
		FUZZ_CHECK(next_field(&line, &pos, &key, &val));
		char k[4];
		snprintf(k, sizeof k, "k%d", f + 1);
		FUZZ_CHECK(strcmp(key.s, k) == 0);
		str_copys(&want, "");
		if (f == 0)
			str_cats(&want, v[0]);
		else if (f == 1)
			str_cats(&want, v[1]);
		else if (f == 2) {
			char n[32];
			snprintf(n, sizeof n, ">:%zu", size);
			str_catc(&want, '<');
			str_cats(&want, v[2]);
			str_cats(&want, n);
		} else {
			str_cats(&want, v[0]);
			str_cats(&want, v[2]);
		}
		FUZZ_CHECK(val.len == want.len && memcmp(val.s, want.s, val.len) == 0);
	}
	for (int f = 4; f < 15; f++) {
		FUZZ_CHECK(next_field(&line, &pos, &key, &val));
		char k[4];
		snprintf(k, sizeof k, "k%d", f + 1);
		FUZZ_CHECK(strcmp(key.s, k) == 0);
		FUZZ_CHECK(strcmp(val.s, num[f - 4]) == 0);
	}
	FUZZ_CHECK(!next_field(&line, &pos, &key, &val));
	str_free(&in);
	str_free(&line);
	str_free(&key);
	str_free(&val);
	str_free(&want);
	return 0;
}
