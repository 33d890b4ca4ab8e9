/*
 * fuzz/getline.c - bio_getline (lib/bio.c), the line reader under every
 * line-based protocol and file.
 *
 * The first bytes choose the buffer size (tiny ones force refills inside
 * a line), the line limit and how the transport splits the input; the
 * rest is read line by line to the end and compared with the contract in
 * bio.h, worked out directly on the input:
 *  - BIO_OK: one whole line, LF included, at most max bytes;
 *  - BIO_LONG: the line's first max bytes, the rest of it skipped;
 *  - BIO_EOF: whatever followed the last LF (possibly nothing).
 */
#include <stdint.h>
#include <string.h>

#include "bio.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t b0 = fuzz_byte(&in), b1 = fuzz_byte(&in), b2 = fuzz_byte(&in);
	size_t bufsize = (b0 & 0x80) ? 8192 : 1 + (b0 & 0x1f);
	size_t max = (b1 & 0x80) ? 1000 : (b1 & 0x3f);
	struct fuzz_feed feed;
	fuzz_feed_init(&feed, in.p, in.n, 1 + (b2 & 0x3f), (uint32_t)b0 << 16 | (uint32_t)b2 << 8 | b1);
	struct bio bio;
	bio_init(&bio, -1, bufsize, -1);
	bio_set_ops(&bio, &fuzz_feed_ops, &feed);

	struct str line = STR_INIT;
	size_t pos = 0;
	for (;;) {
		int r = bio_getline(&bio, &line, max);
		FUZZ_CHECK(line.s && line.s[line.len] == '\0');
		const uint8_t *p = in.p + pos;
		size_t left = in.n - pos;
		const uint8_t *nl = memchr(p, '\n', left);
		if (!nl) {
			FUZZ_CHECK(r == BIO_EOF);
			/* an unterminated tail longer than max is cut at max */
			size_t want = left < max ? left : max;
			FUZZ_CHECK(line.len == want && memcmp(line.s, p, want) == 0);
			break;
		}
		size_t whole = (size_t)(nl - p) + 1;
		if (whole <= max) {
			FUZZ_CHECK(r == BIO_OK);
			FUZZ_CHECK(line.len == whole && memcmp(line.s, p, whole) == 0);
		} else {
			FUZZ_CHECK(r == BIO_LONG);
			FUZZ_CHECK(line.len == max && memcmp(line.s, p, max) == 0);
		}
		pos += whole;
	}
	FUZZ_CHECK(feed.pos == in.n && bio_buffered(&bio) == 0);
	str_free(&line);
	bio_free(&bio);
	return 0;
}
