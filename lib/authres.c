/*
 * authres.c - build and recognize Authentication-Results (authres.h).
 */
#include <string.h>
#include <strings.h>

#include "authres.h"
#include "msgfeed.h"

/* RFC 2045 token characters: anything else is written as a quoted-string */
static void value(struct str *out, const char *v)
{
	int token = *v != 0;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127 || strchr("()<>@,;:\\\"/[]?=", *p))
			token = 0;
	/* a domain or address (with '@') reads fine as it is in pvalue (RFC 8601 2.2) */
	if (!token && *v && !strpbrk(v, " \t\"\\()<>,;:[]?=/") && strchr(v, '@'))
		token = 1;
	if (token) {
		str_cats(out, v);
		return;
	}
	str_catc(out, '"');
	for (const char *p = v; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			str_catc(out, '\\');
		str_catc(out, c >= ' ' && c < 127 ? (char)c : '?');
	}
	str_catc(out, '"');
}

static void prop(struct str *out, const char *name, const char *v)
{
	str_catf(out, " %s=", name);
	value(out, v);
}

/* a comment: parentheses and backslashes inside would break it */
static void comment(struct str *out, const char *text)
{
	str_cats(out, " (");
	for (const char *p = text; *p; p++)
		str_catc(out, *p == '(' || *p == ')' || *p == '\\' || (unsigned char)*p < ' ' ? '_' : *p);
	str_catc(out, ')');
}

void authres_header(const char *authserv_id, const struct authres_in *in, struct str *out)
{
	str_copys(out, "Authentication-Results: ");
	value(out, authserv_id);
	int any = 0;
	if (in->spf) {
		str_catf(out, ";\n\tspf=%s", spf_result_name(in->spf->result));
		if (in->spf->problem.len && (in->spf->result == SPFR_TEMPERROR || in->spf->result == SPFR_PERMERROR))
			comment(out, in->spf->problem.s);
		if (in->spf->domain.len)
			prop(out, strcmp(in->spf->identity, "helo") == 0 ? "smtp.helo" : "smtp.mailfrom",
			     in->spf->domain.s);
		any = 1;
	}
	if (in->dkim_checked) {
		if (in->n_dkim == 0)
			str_cats(out, ";\n\tdkim=none");
		for (size_t i = 0; i < in->n_dkim; i++) {
			const struct sdkim_sig *s = &in->dkim[i];
			str_catf(out, ";\n\tdkim=%s", sdkim_result_name(s->result));
			if (s->result != SDKIM_PASS && s->reason && *s->reason)
				comment(out, s->reason);
			else if (s->keybits)
				str_catf(out, " (%u-bit key)", s->keybits);
			if (*s->domain)
				prop(out, "header.d", s->domain);
			if (*s->identity)
				prop(out, "header.i", s->identity);
			if (*s->selector)
				prop(out, "header.s", s->selector);
			prop(out, "header.a", s->alg);
			if (*s->b)
				prop(out, "header.b", s->b);
		}
		any = 1;
	}
	if (in->dmarc) {
		const struct dmarc_eval *d = in->dmarc;
		str_catf(out, ";\n\tdmarc=%s", dmarc_result_name(d->result));
		if (d->result == DMARCR_PASS || d->result == DMARCR_FAIL) {
			struct str c = STR_INIT;
			str_catf(&c, "p=%s dis=%s", dmarc_policy_name(d->policy), dmarc_policy_name(d->disposition));
			comment(out, c.s);
			str_free(&c);
		} else if (d->problem && *d->problem) {
			comment(out, d->problem);
		}
		if (d->from_domain.len)
			prop(out, "header.from", d->from_domain.s);
		any = 1;
	}
	if (!any)
		str_cats(out, "; none");
	str_catc(out, '\n');
}

int authres_is_ours(const char *field, size_t len, const char *authserv_id)
{
	size_t i = msgfeed_name_len(field, len);
	if (!i)
		return 0;
	i++;
	/* CFWS before the authserv-id: whitespace, folding and comments */
	for (;;) {
		while (i < len && (field[i] == ' ' || field[i] == '\t' || field[i] == '\r' || field[i] == '\n'))
			i++;
		if (i < len && field[i] == '(') {
			i = msgfeed_skip_comment(field, len, i);
			continue;
		}
		break;
	}
	if (i >= len)
		return 0;
	struct str id = STR_INIT;
	if (field[i] == '"') {
		for (i++; i < len && field[i] != '"'; i++) {
			if (field[i] == '\\' && i + 1 < len)
				i++;
			str_catc(&id, field[i]);
		}
	} else {
		for (; i < len && !strchr(" \t\r\n;(", field[i]); i++)
			str_catc(&id, field[i]);
	}
	int ours = id.len && strcasecmp(str_c(&id), authserv_id) == 0;
	str_free(&id);
	return ours;
}
