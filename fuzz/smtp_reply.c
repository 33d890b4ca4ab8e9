/*
 * fuzz/smtp_reply.c - SMTP replies as deliver-remote reads them, and the
 * EHLO keywords (lib/smtp_reply.c).
 *
 * The first byte chooses the read buffer and how the stream is cut into
 * reads; the rest is what a remote server sends.  Replies are read until
 * the stream ends or one is refused.  Checked for every reply read:
 *  - the code is 100..599 or one of the SMTP_REPLY_* errors;
 *  - the kept text and lines hold no control character but tab, stay
 *    within their bounds, and every kept line starts with the code, all
 *    but the last with "NNN-", the last with "NNN " or being just "NNN";
 *  - at most SMTP_REPLY_LINES_MAX lines;
 *  - for a 2xx reply, smtp_ehlo_parse agrees with an independent reading
 *    of the keywords (one per line after the first, up to a space or '=')
 *    and SIZE's limit is the number given.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "smtp_reply.h"

static int has_keyword(const char *lines, const char *kw)
{
	const char *p = strchr(lines, '\n');
	size_t kl = strlen(kw);
	while (p && *++p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > 4 && len - 4 >= kl && strncasecmp(p + 4, kw, kl) == 0 &&
		    (len - 4 == kl || p[4 + kl] == ' ' || p[4 + kl] == '='))
			return 1;
		p = nl;
	}
	return 0;
}

static void check_ehlo(const char *lines)
{
	struct smtp_ehlo e;
	smtp_ehlo_parse(lines, &e);
	FUZZ_CHECK(e.pipelining == has_keyword(lines, "PIPELINING"));
	FUZZ_CHECK(e.starttls == has_keyword(lines, "STARTTLS"));
	FUZZ_CHECK(e.eightbitmime == has_keyword(lines, "8BITMIME"));
	FUZZ_CHECK(e.smtputf8 == has_keyword(lines, "SMTPUTF8"));
	FUZZ_CHECK(e.has_size == has_keyword(lines, "SIZE"));
	FUZZ_CHECK(!e.size || e.has_size);
	FUZZ_CHECK(!(e.auth_plain || e.auth_login) || has_keyword(lines, "AUTH"));
}

static void check_reply(int code, const struct str *text, const struct str *lines)
{
	FUZZ_CHECK((code >= 100 && code <= 599) || code == SMTP_REPLY_EOF || code == SMTP_REPLY_ERR ||
		   code == SMTP_REPLY_BAD);
	FUZZ_CHECK(code != SMTP_REPLY_ERR); /* the feed never fails */
	FUZZ_CHECK(text->s && text->s[text->len] == '\0' && lines->s && lines->s[lines->len] == '\0');
	FUZZ_CHECK(text->len <= SMTP_REPLY_TEXT_MAX + SMTP_REPLY_LINE_MAX + 1);
	FUZZ_CHECK(lines->len <= SMTP_REPLY_LINES_KEEP + SMTP_REPLY_LINE_MAX + 1);
	for (size_t i = 0; i < text->len; i++) {
		unsigned char c = (unsigned char)text->s[i];
		FUZZ_CHECK((c >= 0x20 || c == '\t') && c != 0x7f);
	}
	size_t nlines = 0;
	for (size_t i = 0; i < lines->len; i++) {
		unsigned char c = (unsigned char)lines->s[i];
		FUZZ_CHECK((c >= 0x20 || c == '\t' || c == '\n') && c != 0x7f);
		nlines += c == '\n';
	}
	FUZZ_CHECK(nlines <= SMTP_REPLY_LINES_MAX);
	if (code < 0)
		return;
	FUZZ_CHECK(nlines >= 1 && lines->s[lines->len - 1] == '\n');
	char digits[4];
	digits[0] = (char)('0' + code / 100);
	digits[1] = (char)('0' + code / 10 % 10);
	digits[2] = (char)('0' + code % 10);
	digits[3] = '\0';
	FUZZ_CHECK(strncmp(text->s, digits, 3) == 0);
	const char *p = lines->s;
	for (size_t k = 0; k < nlines && (size_t)(p - lines->s) < SMTP_REPLY_LINES_KEEP; k++) {
		const char *nl = strchr(p, '\n');
		FUZZ_CHECK(nl && nl - p >= 3 && strncmp(p, digits, 3) == 0);
		if (k + 1 < nlines)
			FUZZ_CHECK(p[3] == '-');
		else
			FUZZ_CHECK(nl - p == 3 || p[3] == ' ');
		p = nl + 1;
	}
	if (code / 100 == 2)
		check_ehlo(lines->s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t b0 = fuzz_byte(&in);
	size_t bufsize = (b0 & 0x80) ? 65536 : 1 + (b0 & 0x1f);
	size_t piece = 1 + ((b0 >> 5) & 3) * 9;

	struct fuzz_feed f;
	struct bio b;
	fuzz_feed_init(&f, in.p, in.n, piece, b0 ^ (uint32_t)in.n << 8);
	bio_init(&b, -1, bufsize, -1);
	bio_set_ops(&b, &fuzz_feed_ops, &f);
	struct str text = STR_INIT, lines = STR_INIT;
	int code;
	size_t replies = 0;
	do {
		code = smtp_reply_read(&b, &text, &lines);
		check_reply(code, &text, &lines);
		FUZZ_CHECK(++replies <= in.n + 1);
	} while (code > 0);
	bio_free(&b);

	/* the raw input as EHLO lines: no crash, flags 0 or 1 */
	char *raw = malloc(in.n + 1);
	FUZZ_CHECK(raw);
	memcpy(raw, in.p, in.n);
	raw[in.n] = '\0';
	struct smtp_ehlo e;
	smtp_ehlo_parse(raw, &e);
	FUZZ_CHECK((e.pipelining | e.eightbitmime | e.smtputf8 | e.starttls | e.auth_plain | e.auth_login |
		    e.has_size) <= 1);
	free(raw);
	str_free(&text);
	str_free(&lines);
	return 0;
}
