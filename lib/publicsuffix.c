/*
 * publicsuffix.c - Public Suffix List rules and the organizational domain
 * (publicsuffix.h).
 *
 * The list is read once per process into one sorted array of rules, so a
 * lookup is a handful of binary searches (one per label of the domain).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "conf.h"
#include "publicsuffix.h"

struct publicsuffix {
	struct str text;   /* the rules, NUL-separated */
	char **rule;
	size_t n;
};

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has(const struct publicsuffix *p, const char *s)
{
	return bsearch(&s, p->rule, p->n, sizeof *p->rule, cmp) != NULL;
}

struct publicsuffix *publicsuffix_load(const char *path)
{
	struct str file = STR_INIT, raw = STR_INIT;
	if (!path) {
		if (conf_line("psl", &file) == 0) {
			struct str r = STR_INIT;
			conf_resolve(file.s, &r);
			str_copys(&file, r.s);
			str_free(&r);
		} else
			str_copys(&file, PUBLICSUFFIX_DEFAULT);
		path = file.s;
	}
	int r = conf_read_path(path, &raw);
	str_free(&file);
	if (r != 0) {
		str_free(&raw);
		if (r > 0)
			errno = ENOENT;
		return NULL;
	}
	struct publicsuffix *p = xmalloc(sizeof *p);
	struct str t = STR_INIT;
	size_t count = 0;
	const char *s = str_c(&raw), *end = s + raw.len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *e = nl ? nl : end;
		size_t n = strcspn(s, " \t\r\n");
		if (n > (size_t)(e - s))
			n = (size_t)(e - s);
		if (n && !(n >= 2 && s[0] == '/' && s[1] == '/')) {
			size_t at = t.len;
			str_catb(&t, s, n);
			for (size_t i = at; i < t.len; i++)
				if (t.s[i] >= 'A' && t.s[i] <= 'Z')
					t.s[i] = (char)(t.s[i] - 'A' + 'a');
			str_catc(&t, 0);
			count++;
		}
		s = e + 1;
	}
	str_free(&raw);
	p->text = t;
	p->rule = xcalloc(count ? count : 1, sizeof *p->rule);
	p->n = 0;
	for (size_t off = 0; off < t.len; off += strlen(t.s + off) + 1)
		p->rule[p->n++] = t.s + off;
	qsort(p->rule, p->n, sizeof *p->rule, cmp);
	return p;
}

void publicsuffix_free(struct publicsuffix *p)
{
	if (!p)
		return;
	str_free(&p->text);
	free(p->rule);
	free(p);
}

void publicsuffix_org_domain(const struct publicsuffix *p, const char *domain, struct str *out)
{
	struct str d = STR_INIT, key = STR_INIT;
	str_copys(&d, domain);
	str_lower(&d);
	while (d.len && d.s[d.len - 1] == '.')
		str_truncate(&d, d.len - 1);
	const char *s = str_c(&d);

	/*
	 * Walk suffixes from the longest (the whole domain) down; the first
	 * rule that matches is the longest, and an exception rule is always
	 * longer than the wildcard it excepts, so it is met first.
	 */
	const char *suffix = NULL; /* the public suffix, inside s */
	for (const char *cand = s; cand && *cand;) {
		const char *parent = strchr(cand, '.');
		parent = parent ? parent + 1 : NULL;
		str_copys(&key, "!");
		str_cats(&key, cand);
		if (has(p, key.s)) {
			suffix = parent;
			break;
		}
		if (has(p, cand)) {
			suffix = cand;
			break;
		}
		if (parent) {
			str_copys(&key, "*.");
			str_cats(&key, parent);
			if (has(p, key.s)) {
				suffix = cand;
				break;
			}
		}
		cand = parent;
	}
	if (!suffix) {
		/* the default rule "*": the last label */
		const char *dot = strrchr(s, '.');
		suffix = dot ? dot + 1 : s;
	}
	/* one more label to the left of the suffix, if there is one */
	const char *org = s;
	if (suffix > s) {
		const char *q = suffix - 1; /* the dot before the suffix */
		org = q;
		while (org > s && org[-1] != '.')
			org--;
	}
	str_copys(out, org);
	str_free(&d);
	str_free(&key);
}
