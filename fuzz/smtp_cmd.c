/*
 * fuzz/smtp_cmd.c - smtp-recv's command argument parsing (lib/smtp_cmd.c)
 * on a command line as smtp-recv hands it over: bounded, cut at the first
 * CR, LF or NUL, the verb split off at the first space.
 *
 * The first byte says whether the client said EHLO and chooses the SIZE
 * limit.  Each parser is checked against an independent reading of its
 * RFC:
 *  - HELO/EHLO: accepted iff 1..255 octets of letters, digits, "-._[]:";
 *  - MAIL/RCPT: the path starts right after "FROM:"/"TO:" (any case) and
 *    at most one space; MAIL parameters are accepted iff the path is
 *    followed by nothing, or (after EHLO) by space-separated SIZE=N with
 *    N within the limit, BODY=7BIT, BODY=8BITMIME or SMTPUTF8, and
 *    SMTPUTF8 is reported exactly when given and SIZE's value (the last
 *    one) is reported; a refusal is "NNN X.Y.Z ...";
 *  - BDAT: accepted iff 1..19 digits, optionally " LAST" (any case).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "conf.h"
#include "fuzz.h"
#include "smtp_cmd.h"

static int is_reply(const char *r)
{
	return r[0] >= '4' && r[0] <= '5' && r[1] >= '0' && r[1] <= '9' && r[2] >= '0' && r[2] <= '9' &&
	       r[3] == ' ' && r[4] == r[0] && r[5] == '.' && !strpbrk(r, "\r\n");
}

/* what smtp_mail_params should say, worked out token by token */
static int params_ok(const char *q, int ehlo, unsigned long long max, int *utf8, unsigned long long *size)
{
	*utf8 = 0;
	*size = 0;
	if (!*q)
		return 1;
	if (*q != ' ' || !ehlo)
		return 0;
	int ok = 1;
	char *copy = strdup(q), *save = NULL;
	FUZZ_CHECK(copy);
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		unsigned long long n;
		if (strncasecmp(t, "SIZE=", 5) == 0 && t[5]) {
			ok &= scan_ull(t + 5, strlen(t + 5), &n) && n <= max;
			if (ok)
				*size = n;
		} else if (strcasecmp(t, "SMTPUTF8") == 0) {
			*utf8 = 1;
		} else if (strcasecmp(t, "BODY=7BIT") != 0 && strcasecmp(t, "BODY=8BITMIME") != 0) {
			ok = 0;
		}
	}
	free(copy);
	return ok;
}

static void check_path(const char *arg, const char *kw, int mail, int ehlo, unsigned long long max)
{
	const char *p = smtp_path_start(arg, kw);
	size_t kl = strlen(kw);
	if (strncasecmp(arg, kw, kl) != 0) {
		FUZZ_CHECK(p == NULL);
		return;
	}
	FUZZ_CHECK(p == arg + kl + (arg[kl] == ' '));
	struct addr a;
	addr_init(&a);
	unsigned flags = mail ? ADDR_EMPTY_OK | ADDR_UTF8_OK : ADDR_UNQUALIFIED_OK | ADDR_UTF8_OK;
	size_t used = addr_parse_path(p, strlen(p), flags, &a);
	if (used && mail) {
		FUZZ_CHECK(used <= strlen(p));
		int utf8 = -1, want_utf8;
		unsigned long long declared = 1, want_size;
		const char *bad = smtp_mail_params(p + used, ehlo, max, &utf8, &declared);
		int want = params_ok(p + used, ehlo, max, &want_utf8, &want_size);
		FUZZ_CHECK((bad == NULL) == want);
		if (bad)
			FUZZ_CHECK(is_reply(bad));
		else
			FUZZ_CHECK(utf8 == want_utf8 && declared == want_size && declared <= max);
	}
	addr_free(&a);
}

static void check_bdat(const char *arg)
{
	unsigned long long n = 12345;
	int last = -1;
	int r = smtp_bdat_args(arg, &n, &last);
	size_t dl = strspn(arg, "0123456789");
	int want_last = arg[dl] == ' ' && strcasecmp(arg + dl + 1, "LAST") == 0;
	int want = dl >= 1 && dl <= 19 && (arg[dl] == '\0' || want_last);
	FUZZ_CHECK((r == 0) == want);
	if (r == 0) {
		FUZZ_CHECK(last == want_last);
		FUZZ_CHECK(n == strtoull(arg, NULL, 10));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t b0 = fuzz_byte(&in);
	int ehlo = b0 & 1;
	unsigned long long max = (b0 & 2) ? 10485760 : (unsigned long long)(b0 >> 2) * 1000;
	size_t n = 0;
	while (n < in.n && n < 1000 && in.p[n] != '\r' && in.p[n] != '\n' && in.p[n] != '\0')
		n++;
	char *line = malloc(n + 1);
	FUZZ_CHECK(line);
	memcpy(line, in.p, n);
	line[n] = '\0';

	char *arg = line + strcspn(line, " ");
	size_t vl = (size_t)(arg - line);
	if (*arg)
		arg++;
	if (vl == 4 && (strncasecmp(line, "HELO", 4) == 0 || strncasecmp(line, "EHLO", 4) == 0)) {
		size_t al = strlen(arg);
		int want = al >= 1 && al <= 255 &&
			   strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._[]:") == al;
		FUZZ_CHECK(smtp_helo_ok(arg) == want);
	} else if (vl == 4 && strncasecmp(line, "MAIL", 4) == 0)
		check_path(arg, "FROM:", 1, ehlo, max);
	else if (vl == 4 && strncasecmp(line, "RCPT", 4) == 0)
		check_path(arg, "TO:", 0, ehlo, max);
	else if (vl == 4 && strncasecmp(line, "BDAT", 4) == 0)
		check_bdat(arg);
	else {
		/* any other line: every parser must still hold up */
		int u;
		(void)smtp_helo_ok(line);
		(void)smtp_mail_params(line, ehlo, max, &u, NULL);
		check_bdat(line);
		check_path(line, "FROM:", 1, ehlo, max);
	}
	free(line);
	return 0;
}
