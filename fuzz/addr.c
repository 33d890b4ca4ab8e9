/*
 * fuzz/addr.c - RFC 5321 paths and mailboxes (lib/addr.c).
 *
 * The whole input is offered as a path under each of the eight flag
 * combinations, as a bare mailbox, as a domain and as an address literal.
 * Properties checked on every accepted address:
 *  - the path consumed starts with '<' and ends with '>' inside the input;
 *  - the canonical parts hold no NUL, CR, LF or space outside quotes, and
 *    8-bit bytes only when ADDR_UTF8_OK was given (and then a->utf8 says so);
 *  - formatting and re-parsing gives the same address (canonical form is a
 *    fixed point) with no source route, or is refused when a bare mailbox
 *    is longer than a path may be;
 *  - widening the flags never rejects or changes an accepted address;
 *  - a mailbox short enough for a path parses the same way inside <>;
 *  - a valid literal works as the domain of a path.
 */
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "fuzz.h"

static int same(const struct addr *a, const struct addr *b)
{
	return a->local.len == b->local.len && memcmp(a->local.s, b->local.s, a->local.len) == 0 &&
	       a->domain.len == b->domain.len &&
	       memcmp(a->domain.s, b->domain.s, a->domain.len) == 0 && a->literal == b->literal &&
	       a->quoted == b->quoted && a->utf8 == b->utf8;
}

static int has_byte(const struct str *s, int lo, int hi)
{
	for (size_t i = 0; i < s->len; i++)
		if ((unsigned char)s->s[i] >= lo && (unsigned char)s->s[i] <= hi)
			return 1;
	return 0;
}

static void check_parts(const struct addr *a, unsigned flags)
{
	FUZZ_CHECK(a->local.s && a->domain.s);
	FUZZ_CHECK(strlen(a->local.s) == a->local.len);
	FUZZ_CHECK(strlen(a->domain.s) == a->domain.len);
	FUZZ_CHECK(!memchr(a->local.s, '\r', a->local.len) && !memchr(a->local.s, '\n', a->local.len));
	FUZZ_CHECK(!has_byte(&a->domain, 0, 32) && !has_byte(&a->domain, 'A', 'Z'));
	FUZZ_CHECK(a->quoted || !has_byte(&a->local, 0, 32));
	int eight = has_byte(&a->local, 0x80, 0xff) || has_byte(&a->domain, 0x80, 0xff);
	FUZZ_CHECK(a->utf8 == eight);
	FUZZ_CHECK(!eight || (flags & ADDR_UTF8_OK));
	FUZZ_CHECK(a->local.len <= ADDR_LOCAL_MAX + 2u);
	FUZZ_CHECK(a->domain.len <= ADDR_DOMAIN_MAX);
	FUZZ_CHECK(a->domain.len || (flags & ADDR_UNQUALIFIED_OK) || a->local.len == 0);
	FUZZ_CHECK(!a->literal || (a->domain.len && a->domain.s[0] == '['));
}

/* "<" canonical ">" parses back to the same address */
static void check_fixed_point(const struct addr *a, unsigned flags)
{
	struct str f = STR_INIT, path = STR_INIT;
	struct addr b;
	addr_init(&b);
	addr_format(a, &f);
	str_catc(&path, '<');
	str_catb(&path, f.s, f.len);
	str_catc(&path, '>');
	size_t n = addr_parse_path(path.s, path.len, flags, &b);
	if (f.len > ADDR_PATH_MAX) {
		/* a bare mailbox may be longer than any path */
		FUZZ_CHECK(n == 0);
	} else {
		FUZZ_CHECK(n == path.len);
		FUZZ_CHECK(same(a, &b));
		FUZZ_CHECK(!b.routed);
	}
	addr_free(&b);
	str_free(&f);
	str_free(&path);
}

static void fuzz_path(const char *s, size_t len)
{
	struct addr a[8];
	size_t n[8];
	for (unsigned flags = 0; flags < 8; flags++) {
		addr_init(&a[flags]);
		n[flags] = addr_parse_path(s, len, flags, &a[flags]);
		if (n[flags] == 0)
			continue;
		FUZZ_CHECK(n[flags] >= 2 && n[flags] <= len);
		FUZZ_CHECK(s[0] == '<' && s[n[flags] - 1] == '>');
		check_parts(&a[flags], flags);
		check_fixed_point(&a[flags], flags);
	}
	/* more flags accept a superset, and agree where both accept */
	for (unsigned f = 0; f < 8; f++)
		for (unsigned g = 0; g < 8; g++)
			if ((f & g) == f && n[f]) {
				FUZZ_CHECK(n[g] == n[f]);
				FUZZ_CHECK(same(&a[f], &a[g]));
			}
	for (unsigned flags = 0; flags < 8; flags++)
		addr_free(&a[flags]);
}

static void fuzz_mailbox(const char *s, size_t len)
{
	for (unsigned flags = 0; flags < 8; flags++) {
		struct addr a, b;
		addr_init(&a);
		addr_init(&b);
		if (addr_parse_mailbox(s, len, flags, &a)) {
			check_parts(&a, flags | ADDR_EMPTY_OK);
			FUZZ_CHECK(a.local.len > 0);
			check_fixed_point(&a, flags);
			if (len <= ADDR_PATH_MAX) {
				struct str path = STR_INIT;
				str_catc(&path, '<');
				str_catb(&path, s, len);
				str_catc(&path, '>');
				FUZZ_CHECK(addr_parse_path(path.s, path.len, flags, &b) == path.len);
				FUZZ_CHECK(same(&a, &b));
				str_free(&path);
			}
		}
		addr_free(&a);
		addr_free(&b);
	}
}

static void fuzz_domain(const char *s, size_t len)
{
	int ascii = addr_valid_domain(s, len, 0);
	int utf8 = addr_valid_domain(s, len, 1);
	FUZZ_CHECK(!ascii || utf8);
	if (utf8) {
		FUZZ_CHECK(len > 0 && len <= ADDR_DOMAIN_MAX);
		FUZZ_CHECK(s[0] != '.' && s[0] != '-' && s[len - 1] != '.' && s[len - 1] != '-');
		FUZZ_CHECK(!memchr(s, '\0', len) && !memchr(s, '>', len) && !memchr(s, '@', len));
	}
	if (addr_valid_literal(s, len)) {
		FUZZ_CHECK(!memchr(s, '\0', len));
		struct str path = STR_INIT;
		struct addr a;
		addr_init(&a);
		str_cats(&path, "<x@");
		str_catb(&path, s, len);
		str_catc(&path, '>');
		FUZZ_CHECK(addr_parse_path(path.s, path.len, 0, &a) == path.len);
		FUZZ_CHECK(a.literal);
		addr_free(&a);
		str_free(&path);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	fuzz_path(s, size);
	fuzz_mailbox(s, size);
	fuzz_domain(s, size);
	return 0;
}
