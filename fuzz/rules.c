/*
 * fuzz/rules.c - smtp-filter's rules language (lib/rules.c): the parser,
 * then the evaluator over facts taken from the input.
 *
 * The input is rules text, then a line "%%", then facts, one a line:
 * client, client-name, reverse-name, helo, sender, two recipients,
 * auth-user, tls-version, spf; the rest is the header section.  The first
 * byte says which facts are missing (NULL, as a policy request may leave
 * them).  Tables are the text tables "t" and "users" in a private
 * SLUICE_CONF; programs are never run (run answers from the command's
 * length) and DNS answers come from the name's length.  Checked:
 *  - a refused text has errors, every one "fuzz.rules:LINE: message" with
 *    LINE inside the text; an accepted one has none;
 *  - every stage evaluates (in order, sharing state) to a decision or
 *    effects of known kinds, a decision carrying its rule's line; reject,
 *    defer and disconnect carry a code of their class (5NN, 4NN, 421/521)
 *    and a one-line reply; a failed stage says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fuzz.h"
#include "rules.h"

static int fake_run(void *arg, const char *cmd, struct str *out)
{
	(void)arg;
	size_t n = strlen(cmd);
	if (n % 7 == 6)
		return -1;
	str_cats(out, "X-Scanned: yes\n");
	return (int)(n % 3);
}

static int fake_resolve(void *arg, const char *name, int type, struct conf_list *out)
{
	(void)arg;
	size_t n = strlen(name);
	switch ((n + (size_t)type) % 4) {
	case 0:
		return 0;
	case 1:
		return -1;
	default:
		out->item = xreallocarray(out->item, out->n + 1, sizeof *out->item);
		out->item[out->n++] = xstrdup(type == RULES_DNS_PTR	 ? "mail.example.com"
					      : type == RULES_DNS_AAAA ? "2001:db8::1"
								 : "127.0.0.2");
		return 1;
	}
}

/* the next line of the facts, NUL-terminated in place; "" once they run out */
static char *next_line(char **p, char *end)
{
	char *s = *p;
	if (s >= end)
		return end;
	char *nl = memchr(s, '\n', (size_t)(end - s));
	if (!nl)
		nl = end;
	*nl = '\0';
	*p = nl < end ? nl + 1 : end;
	return s;
}

static size_t count_lines(const char *s, size_t n)
{
	size_t lines = 1;
	for (size_t i = 0; i < n; i++)
		lines += s[i] == '\n';
	return lines;
}

static void check_errors(const struct str *errors, size_t lines)
{
	const char *p = errors->s, *end = errors->s + errors->len;
	FUZZ_CHECK(errors->len > 0 && end[-1] == '\n');
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		FUZZ_CHECK(nl);
		FUZZ_CHECK((size_t)(nl - p) > strlen("fuzz.rules:") && memcmp(p, "fuzz.rules:", 11) == 0);
		char *after;
		unsigned long line = strtoul(p + 11, &after, 10);
		FUZZ_CHECK(after > p + 11 && after < nl && *after == ':');
		FUZZ_CHECK(line >= 1 && line <= lines);
		p = nl + 1;
	}
}

static void check_verdict(const struct rules_verdict *v, size_t lines)
{
	FUZZ_CHECK(v->decision.kind >= RK_NONE && v->decision.kind <= RK_REDIRECT);
	if (v->decision.kind != RK_NONE)
		FUZZ_CHECK(v->line >= 1 && v->line <= lines);
	enum rules_kind k = v->decision.kind;
	if (k == RK_REJECT || k == RK_DEFER || k == RK_DISCONNECT) {
		/* these go on the wire as the SMTP reply */
		unsigned code = v->decision.code;
		FUZZ_CHECK(k != RK_REJECT || (code >= 500 && code <= 599));
		FUZZ_CHECK(k != RK_DEFER || (code >= 400 && code <= 499));
		FUZZ_CHECK(k != RK_DISCONNECT || code == 421 || code == 521);
		struct str r = STR_INIT;
		rules_reply_format(&v->decision, &r);
		FUZZ_CHECK(r.len >= 3 && !memchr(r.s, '\n', r.len) && !memchr(r.s, '\r', r.len));
		str_free(&r);
	}
	for (size_t i = 0; i < v->neff; i++)
		FUZZ_CHECK(v->eff[i].kind >= RK_ADD_HEADER && v->eff[i].kind <= RK_UNTAG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t missing = fuzz_byte(&in);
	char *buf = malloc(in.n + 1);
	FUZZ_CHECK(buf);
	memcpy(buf, in.p, in.n);
	buf[in.n] = '\0';
	char *end = buf + in.n;
	char *sep = NULL;
	for (char *s = buf; s + 3 < end && !sep; s++)
		if (memcmp(s, "\n%%\n", 4) == 0)
			sep = s;
	size_t textlen = sep ? (size_t)(sep - buf) + 1 : in.n;
	char *facts = sep ? sep + 4 : end;

	fuzz_conf_write("t", "192.0.2.1 x\nexample.com y\na@example.com z\n", 41);
	fuzz_conf_write("users", "u@example.com\n", 14);

	struct str errors = STR_INIT;
	size_t lines = count_lines(buf, textlen);
	struct rules *r = rules_parse("fuzz.rules", buf, textlen, &errors);
	if (!r) {
		check_errors(&errors, lines);
		goto out;
	}
	FUZZ_CHECK(errors.len == 0);

	struct rules_facts f;
	memset(&f, 0, sizeof f);
	const char **slots[] = { &f.client, &f.client_name, &f.reverse_name, &f.helo, &f.sender };
	for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
		char *v = next_line(&facts, end);
		*slots[i] = missing & (1u << i) ? NULL : v;
	}
	const char *rcpt[2];
	rcpt[0] = next_line(&facts, end);
	rcpt[1] = next_line(&facts, end);
	f.auth_user = missing & 0x20 ? NULL : next_line(&facts, end);
	f.tls_version = next_line(&facts, end);
	f.spf = missing & 0x40 ? NULL : next_line(&facts, end);
	f.header = facts;
	f.header_len = (size_t)(end - facts);
	f.have_size = !(missing & 0x80);
	f.size = f.header_len * 1000;
	f.run = fake_run;
	f.resolve = fake_resolve;

	struct rules_state st = RULES_STATE_INIT;
	struct str why = STR_INIT;
	for (int stage = STAGE_CONNECT; stage < STAGE_N; stage++) {
		int times = stage == STAGE_RCPT ? 2 : 1;
		for (int k = 0; k < times; k++) {
			f.rcpt = stage == STAGE_RCPT ? &rcpt[k] : rcpt;
			f.nrcpt = stage == STAGE_RCPT ? 1 : stage == STAGE_EOM ? 2 : 0;
			f.have_rcpt_count = stage >= STAGE_DATA;
			f.rcpt_count = 2;
			struct rules_verdict v;
			memset(&v, 0, sizeof v);
			str_truncate(&why, 0);
			int e = rules_eval(r, (enum rules_stage)stage, &f, &st, &v, &why);
			FUZZ_CHECK(e == 0 || e == -1);
			if (e == 0)
				check_verdict(&v, lines);
			else
				FUZZ_CHECK(why.len > 0);
			rules_verdict_free(&v);
		}
	}
	rules_state_free(&st);
	str_free(&why);
	rules_free(r);
out:
	str_free(&errors);
	free(buf);
	return 0;
}
