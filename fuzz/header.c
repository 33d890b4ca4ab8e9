/*
 * fuzz/header.c - RFC 5322 header sections (lib/header.c): header_len,
 * header_next, header_find, header_unfold, header_addr_list.
 *
 * The input is a message.  Checked:
 *  - header_len ends on a line end inside the input, and is a fixed point
 *    (the header section alone has the same length);
 *  - header_next walks exactly that section: fields follow each other
 *    with no gap or overlap, each has a valid name followed by a colon and
 *    ends in LF, and the value lies inside the field;
 *  - header_find finds the first field of each name, in any case;
 *  - unfolding leaves no CR, LF or tab and no blank at either end, and
 *    unfolding again changes nothing;
 *  - every address header_addr_list reports is non-empty, inside the
 *    value's length and holds no CR or LF.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "header.h"

struct count {
	size_t n, max;
};

static void got_addr(void *arg, const char *a, size_t n)
{
	struct count *c = arg;
	c->n++;
	FUZZ_CHECK(n > 0 && n <= c->max);
	FUZZ_CHECK(!memchr(a, '\r', n) && !memchr(a, '\n', n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	size_t hl = header_len(msg, size);
	FUZZ_CHECK(hl <= size);
	FUZZ_CHECK(hl == 0 || msg[hl - 1] == '\n');
	FUZZ_CHECK(header_len(msg, hl) == hl);

	struct str u = STR_INIT, u2 = STR_INIT;
	struct header_field f, g;
	size_t pos = 0, fields = 0;
	while (header_next(msg, hl, &pos, &f)) {
		fields++;
		FUZZ_CHECK(f.raw == f.name && f.raw + f.rawlen == msg + pos && pos <= hl);
		FUZZ_CHECK(header_valid_name(f.name, f.namelen) && f.name[f.namelen] == ':');
		FUZZ_CHECK(f.value == f.name + f.namelen + 1);
		FUZZ_CHECK(f.value + f.valuelen <= f.raw + f.rawlen);
		FUZZ_CHECK(f.raw[f.rawlen - 1] == '\n');
		FUZZ_CHECK(header_name_is(&f, "") == 0);

		/* the first field of this name is at or before this one, and named the same */
		FUZZ_CHECK(header_find(msg, hl, "", &g) == 0);
		struct str name = STR_INIT;
		str_copyb(&name, f.name, f.namelen);
		if (!memchr(name.s, '\0', name.len)) {
			FUZZ_CHECK(header_find(msg, hl, name.s, &g) == 1);
			FUZZ_CHECK(g.raw <= f.raw && g.namelen == f.namelen &&
				   strncasecmp(g.name, f.name, f.namelen) == 0);
		}
		str_free(&name);

		header_unfold(f.value, f.valuelen, &u);
		FUZZ_CHECK(u.len <= f.valuelen);
		FUZZ_CHECK(!memchr(u.s, '\r', u.len) && !memchr(u.s, '\n', u.len) && !memchr(u.s, '\t', u.len));
		FUZZ_CHECK(u.len == 0 || (u.s[0] != ' ' && u.s[u.len - 1] != ' '));
		header_unfold(u.s, u.len, &u2);
		FUZZ_CHECK(u2.len == u.len && memcmp(u2.s, u.s, u.len) == 0);

		struct count c = { 0, f.valuelen };
		header_addr_list(f.value, f.valuelen, got_addr, &c);
		FUZZ_CHECK(c.n <= f.valuelen + 1);
	}
	FUZZ_CHECK(pos == hl);
	FUZZ_CHECK(fields <= hl / 3 + (hl % 3 != 0));
	str_free(&u);
	str_free(&u2);

	/* the whole input as one field value, too */
	struct count c = { 0, size };
	header_addr_list(msg, size, got_addr, &c);
	return 0;
}
