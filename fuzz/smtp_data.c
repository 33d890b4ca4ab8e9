/*
 * fuzz/smtp_data.c - the DATA/BDAT decoder (lib/smtp_data.c).
 *
 * The first bytes choose DATA or BDAT, the line, size and Received:
 * limits, and how the input is cut into blocks; the rest is what the
 * client sends after DATA (or the octets of BDAT chunks).  Checked:
 *  - fed in one block or in uneven blocks, the decoder consumes the same
 *    octets and gives the same flags, counts and seen fields, and without
 *    an error flag the same output (the header_end callback's included,
 *    which runs exactly once);
 *  - without an error flag the output holds no CR and no NUL, its length
 *    is the size counted, and it respects the limits; a finished message
 *    ends with LF;
 *  - the input's text, turned into a valid message (CR and NUL removed,
 *    LF line ends) and sent as SMTP would send it (dot-stuffed, CRLF,
 *    ".CRLF"; or BDAT without stuffing), decodes back to exactly itself.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "smtp_data.h"

struct run {
	struct smtp_data d;
	struct str out;
	size_t used;
	int done;
	int calls;
};

static void added(void *arg, unsigned seen, struct str *out)
{
	struct run *r = arg;
	r->calls++;
	str_catf(out, "X-Seen: %u\n", seen);
}

static void decode(struct run *r, int bdat, size_t max_line, unsigned long long max_size,
		   unsigned long max_received, const uint8_t *p, size_t n, size_t piece, uint32_t seed, int cb)
{
	memset(r, 0, sizeof *r);
	smtp_data_init(&r->d, bdat, max_line, max_size, max_received);
	if (cb) {
		r->d.header_end = added;
		r->d.header_end_arg = r;
	}
	struct fuzz_feed f;
	fuzz_feed_init(&f, p, n, piece, seed);
	const uint8_t *blk;
	size_t got;
	while (!r->done && (got = fuzz_feed_next(&f, (size_t)-1, &blk)) > 0) {
		size_t k = smtp_data_feed(&r->d, (const char *)blk, got, &r->out, &r->done);
		FUZZ_CHECK(k == got || (r->done && k < got));
		FUZZ_CHECK(r->done || k == got);
		r->used += k;
	}
	if (bdat) {
		FUZZ_CHECK(!r->done); /* BDAT has no terminator */
		smtp_data_finish(&r->d, &r->out);
	}
	str_c(&r->out);
}

static void check_same(const struct run *a, const struct run *b)
{
	FUZZ_CHECK(a->used == b->used && a->done == b->done);
	FUZZ_CHECK(a->d.flags == b->d.flags && a->d.size == b->d.size);
	FUZZ_CHECK(a->d.received == b->d.received && a->d.seen == b->d.seen);
	FUZZ_CHECK(a->calls == b->calls);
	/* once refused, what was produced so far depends on the blocks, and is dropped */
	if (!a->d.flags)
		FUZZ_CHECK(a->out.len == b->out.len && memcmp(a->out.s, b->out.s, a->out.len) == 0);
}

/* the text of the input as a valid message: no CR, no NUL, LF-terminated lines */
static void clean_message(const uint8_t *p, size_t n, struct str *msg)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '\r' && p[i] != '\0')
			str_catc(msg, (char)p[i]);
	if (msg->len && msg->s[msg->len - 1] != '\n')
		str_catc(msg, '\n');
	str_c(msg);
}

static void smtp_encode(const struct str *msg, int bdat, struct str *wire)
{
	int bol = 1;
	for (size_t i = 0; i < msg->len; i++) {
		char c = msg->s[i];
		if (bol && c == '.' && !bdat)
			str_catc(wire, '.');
		if (c == '\n')
			str_catc(wire, '\r');
		str_catc(wire, c);
		bol = c == '\n';
	}
	if (!bdat)
		str_cats(wire, ".\r\n");
	str_c(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t b0 = fuzz_byte(&in), b1 = fuzz_byte(&in), b2 = fuzz_byte(&in);
	int bdat = b0 & 1;
	size_t max_line = (b0 & 2) ? 0 : (b0 & 4) ? 1000 : (size_t)(b1 & 0x3f);
	unsigned long long max_size = (b0 & 8) ? 0 : (b0 & 16) ? 1000000 : (unsigned long long)(b1 >> 2);
	unsigned long max_received = (b0 >> 5) & 7;
	size_t piece = 1 + (b2 & 0x1f);
	uint32_t seed = (uint32_t)b2 << 8 ^ b1 ^ (uint32_t)in.n;

	struct run whole, split;
	decode(&whole, bdat, max_line, max_size, max_received, in.p, in.n, in.n ? in.n : 1, 1, 1);
	decode(&split, bdat, max_line, max_size, max_received, in.p, in.n, piece, seed, 1);
	check_same(&whole, &split);
	FUZZ_CHECK(whole.used <= in.n);
	if ((whole.done || bdat) && !whole.d.flags)
		FUZZ_CHECK(whole.calls == 1);
	FUZZ_CHECK(whole.calls <= 1);
	str_free(&split.out);
	str_free(&whole.out);

	/* without the callback: the output is the message itself */
	decode(&whole, bdat, max_line, max_size, max_received, in.p, in.n, piece, seed, 0);
	if (!whole.d.flags) {
		FUZZ_CHECK(!memchr(whole.out.s, '\r', whole.out.len) && !memchr(whole.out.s, '\0', whole.out.len));
		FUZZ_CHECK(whole.d.size == whole.out.len);
		FUZZ_CHECK(!max_size || whole.d.size <= max_size);
		FUZZ_CHECK(!max_received || whole.d.received <= max_received);
		if ((whole.done || bdat) && whole.out.len)
			FUZZ_CHECK(whole.out.s[whole.out.len - 1] == '\n');
	}
	str_free(&whole.out);

	/* round trip of a valid message, no limits */
	struct str msg = STR_INIT, wire = STR_INIT;
	clean_message(in.p, in.n, &msg);
	smtp_encode(&msg, bdat, &wire);
	decode(&whole, bdat, 0, 0, 0, (const uint8_t *)wire.s, wire.len, piece, seed, 0);
	FUZZ_CHECK(whole.d.flags == 0);
	FUZZ_CHECK(whole.used == wire.len && whole.done == !bdat);
	FUZZ_CHECK(whole.out.len == msg.len && memcmp(whole.out.s, msg.s, msg.len) == 0);
	str_free(&whole.out);
	str_free(&msg);
	str_free(&wire);
	return 0;
}
