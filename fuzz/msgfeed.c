/*
 * fuzz/msgfeed.c - the streaming header/body splitter (lib/msgfeed.c).
 *
 * The first bytes choose max_field and how the message is cut into
 * pushes; the rest is the message.  It is split twice, pushed whole and
 * pushed in uneven pieces.  Checked:
 *  - both give the same result, the same header fields in the same order,
 *    the same end-of-header count and the same body bytes;
 *  - every field starts with a valid name and a colon, does not end in CR
 *    or LF and fits max_field; the end of the header comes exactly once,
 *    after the last field and before any body byte, when the split worked;
 *  - the fields and the body are no more than the input, and the body is
 *    its tail (a last line without LF gets one);
 *  - msgfeed_is finds each field by its own name; msgfeed_skip_comment
 *    moves forward, and a comment it closes ends in ')'.
 * A header callback fails on a field named "X-Fail", to check that a
 * failure stops the split the same way for both.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "msgfeed.h"

struct seen {
	struct str fields; /* each field, then a NUL */
	struct str body;
	size_t nfields, fieldbytes;
	int eoh;
	size_t max_field;
};

static int on_header(void *arg, const char *field, size_t len)
{
	struct seen *s = arg;
	FUZZ_CHECK(!s->eoh && s->body.len == 0);
	FUZZ_CHECK(len > 0 && len <= s->max_field);
	FUZZ_CHECK(field[len - 1] != '\n' && field[len - 1] != '\r');
	size_t n = msgfeed_name_len(field, len);
	FUZZ_CHECK(n > 0 && field[n] == ':');
	struct str name = STR_INIT;
	str_copyb(&name, field, n);
	if (!memchr(name.s, '\0', n))
		FUZZ_CHECK(msgfeed_is(field, len, name.s));
	str_free(&name);
	for (size_t i = 0; i < len; i++)
		if (field[i] == '(') {
			size_t e = msgfeed_skip_comment(field, len, i);
			FUZZ_CHECK(e > i);
			if (e <= len)
				FUZZ_CHECK(field[e - 1] == ')');
		}
	str_catb(&s->fields, field, len);
	str_catc(&s->fields, '\0');
	s->nfields++;
	s->fieldbytes += len;
	return msgfeed_is(field, len, "X-Fail") ? -1 : 0;
}

static int on_eoh(void *arg)
{
	struct seen *s = arg;
	FUZZ_CHECK(s->body.len == 0);
	s->eoh++;
	return 0;
}

static int on_body(void *arg, const char *buf, size_t len)
{
	struct seen *s = arg;
	FUZZ_CHECK(s->eoh == 1 && len > 0);
	str_catb(&s->body, buf, len);
	return 0;
}

static const struct msgfeed_ops ops = { on_header, on_eoh, on_body };

static int split(struct seen *s, size_t max_field, const uint8_t *p, size_t n, size_t piece, uint32_t seed)
{
	memset(s, 0, sizeof *s);
	s->max_field = max_field;
	struct msgfeed f;
	msgfeed_init(&f, &ops, s, max_field);
	struct fuzz_feed feed;
	fuzz_feed_init(&feed, p, n, piece, seed);
	const uint8_t *blk;
	size_t got;
	int r = 0;
	while (r == 0 && (got = fuzz_feed_next(&feed, (size_t)-1, &blk)) > 0)
		r = msgfeed_push(&f, (const char *)blk, got);
	if (r == 0)
		r = msgfeed_end(&f);
	msgfeed_free(&f);
	str_c(&s->fields);
	str_c(&s->body);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t b0 = fuzz_byte(&in), b1 = fuzz_byte(&in);
	size_t max_field = (b0 & 0x80) ? 65536 : (size_t)(b0 & 0x7f);
	size_t piece = 1 + (b1 & 0x1f);

	struct seen a, b;
	int ra = split(&a, max_field, in.p, in.n, in.n ? in.n : 1, 1);
	int rb = split(&b, max_field, in.p, in.n, piece, b1 ^ (uint32_t)in.n << 8);
	FUZZ_CHECK(ra == rb && (ra == 0 || ra == -1));
	FUZZ_CHECK(a.nfields == b.nfields && a.eoh == b.eoh);
	FUZZ_CHECK(a.fields.len == b.fields.len && memcmp(a.fields.s, b.fields.s, a.fields.len) == 0);
	FUZZ_CHECK(a.body.len == b.body.len && memcmp(a.body.s, b.body.s, a.body.len) == 0);
	FUZZ_CHECK(a.fieldbytes + a.body.len <= in.n + 1); /* + the LF msgfeed_end may add */
	if (ra == 0)
		FUZZ_CHECK(a.eoh == 1);
	FUZZ_CHECK(a.eoh <= 1);
	/* the body is the input's tail, byte for byte (msgfeed_end ends a last line with LF) */
	size_t tail = a.body.len;
	if (tail && a.body.s[tail - 1] == '\n' && (in.n == 0 || in.p[in.n - 1] != '\n'))
		tail--;
	FUZZ_CHECK(tail <= in.n && (tail == 0 || memcmp(in.p + in.n - tail, a.body.s, tail) == 0));
	str_free(&a.fields);
	str_free(&a.body);
	str_free(&b.fields);
	str_free(&b.body);
	return 0;
}
