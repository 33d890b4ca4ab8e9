/*
 * rules.c - the rules language (rules(5)): lexer, parser, evaluator.
 *
 * A rule is "stage [condition] action [arguments]" on one line; a line
 * that starts with a blank continues the rule above.  The lexer turns the
 * whole file into tokens (each knows its line and whether it starts a
 * rule), the parser reads one rule from each run of tokens, and every
 * error names file:line and skips to the next rule, so `smtp-filter -n`
 * reports all mistakes at once.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "alloc.h"
#include "conf.h"
#include "header.h"
#include "log.h"
#include "rules.h"
#include "table.h"

#define TEXT_MAX 400 /* reply texts and header fields written by a rule */

/* ---------- tokens ---------- */

enum { TK_WORD, TK_STRING, TK_REGEX, TK_OP };

struct tok {
	int type;
	char *s;
	int icase; /* regex flag i */
	size_t line;
	int bol;   /* first token of a line that starts in column 1: a new rule */
};

struct lexer {
	const char *name;
	struct tok *t;
	size_t n, cap;
	struct str *errors;
	int nerr;
	size_t *badline; /* lines with a lexical error: their rule is not parsed */
	size_t nbad;
};

__attribute__((format(printf, 3, 4)))
static void lex_error(struct lexer *lx, size_t line, const char *fmt, ...)
{
	va_list ap;
	if (lx->nbad && lx->badline[lx->nbad - 1] == line)
		return; /* one message per line */
	str_catf(lx->errors, "%s:%zu: ", lx->name, line);
	va_start(ap, fmt);
	str_vcatf(lx->errors, fmt, ap);
	va_end(ap);
	str_catc(lx->errors, '\n');
	lx->nerr++;
	lx->badline = xreallocarray(lx->badline, lx->nbad + 1, sizeof *lx->badline);
	lx->badline[lx->nbad++] = line;
}

static int line_bad(const struct lexer *lx, size_t from, size_t to)
{
	for (size_t i = 0; i < lx->nbad; i++)
		if (lx->badline[i] >= from && lx->badline[i] <= to)
			return 1;
	return 0;
}

static void push(struct lexer *lx, int type, char *s, size_t line, int bol, int icase)
{
	lx->t = xgrow(lx->t, &lx->cap, lx->n, sizeof *lx->t, 64);
	lx->t[lx->n++] = (struct tok){ type, s, icase, line, bol };
}

static int word_char(char c)
{
	return !isspace((unsigned char)c) && !strchr("\"()!&|=<>#", c) && c != '\0';
}

static int prev_is_match(const struct lexer *lx)
{
	if (!lx->n || lx->t[lx->n - 1].type != TK_OP)
		return 0;
	const char *s = lx->t[lx->n - 1].s;
	return strcmp(s, "=~") == 0 || strcmp(s, "!~") == 0;
}

static void lex(struct lexer *lx, const char *p, size_t len)
{
	size_t i = 0, line = 1;
	int at_bol = 1, indented = 0;
	while (i < len) {
		char c = p[i];
		if (c == '\n') {
			line++, i++, at_bol = 1, indented = 0;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r') {
			if (at_bol)
				indented = 1;
			i++;
			continue;
		}
		if (c == '#') {
			while (i < len && p[i] != '\n')
				i++;
			continue;
		}
		int bol = at_bol && !indented;
		at_bol = 0;
		struct str t = STR_INIT;
		if (c == '"' || (c == '/' && prev_is_match(lx))) {
			char q = c;
			int ok = 0;
			for (i++; i < len && p[i] != '\n'; i++) {
				if (p[i] == q) {
					ok = 1;
					i++;
					break;
				}
				if (p[i] == '\\' && i + 1 < len && p[i + 1] != '\n') {
					i++;
					if (q == '"' && p[i] != '"' && p[i] != '\\') {
						lex_error(lx, line, "unknown escape \\%c in a string", p[i]);
					}
					if (q == '/' && p[i] != '/')
						str_catc(&t, '\\');
				} else if ((unsigned char)p[i] < 0x20 && p[i] != '\t') {
					break;
				}
				str_catc(&t, p[i]);
			}
			if (!ok) {
				lex_error(lx, line, "unterminated %s", q == '"' ? "string" : "regular expression");
				str_free(&t);
				while (i < len && p[i] != '\n')
					i++;
				continue;
			}
			int icase = 0;
			while (q == '/' && i < len && isalpha((unsigned char)p[i])) {
				if (p[i] != 'i') {
					lex_error(lx, line, "unknown regular expression flag '%c'", p[i]);
				}
				icase = 1;
				i++;
			}
			str_c(&t);
			push(lx, q == '"' ? TK_STRING : TK_REGEX, t.s, line, bol, icase);
			continue;
		}
		if (c == '<' && i + 1 < len && p[i + 1] == '>') { /* the null sender */
			push(lx, TK_WORD, xstrdup("<>"), line, bol, 0);
			i += 2;
			continue;
		}
		static const char *const ops[] = { "&&", "||", "!=", "!~", "=~", "<=", ">=", "!", "=", "<", ">", "(", ")" };
		size_t k;
		for (k = 0; k < sizeof ops / sizeof ops[0]; k++)
			if (strncmp(p + i, ops[k], strlen(ops[k])) == 0 && strlen(ops[k]) <= len - i)
				break;
		if (k < sizeof ops / sizeof ops[0]) {
			push(lx, TK_OP, xstrdup(ops[k]), line, bol, 0);
			i += strlen(ops[k]);
			continue;
		}
		if (!word_char(c)) {
			lex_error(lx, line, "unexpected character '%c'", c);
			i++;
			continue;
		}
		size_t s = i;
		while (i < len && word_char(p[i]))
			i++;
		push(lx, TK_WORD, xstrndup(p + s, i - s), line, bol, 0);
	}
}

/* ---------- the parsed form ---------- */

enum { N_AND, N_OR, N_NOT, N_PRED, N_TAGGED, N_HEADER, N_RUN, N_FIELD, N_DNSLIST };
enum { OP_EXISTS, OP_EQ, OP_NE, OP_MATCH, OP_NOMATCH, OP_IN, OP_LT, OP_LE, OP_GT, OP_GE };
enum { P_HELO_FQDN, P_AUTH, P_TLS, P_RDNS, P_FCRDNS, P_NULL_MX };
enum field {
	F_CLIENT, F_CLIENT_NAME, F_REVERSE_NAME, F_HELO, F_SENDER, F_SENDER_DOMAIN, F_RCPT,
	F_RCPT_DOMAIN, F_AUTH_USER, F_TLS_VERSION, F_SPF, F_SIZE, F_RCPT_COUNT, F_DKIM, F_DMARC, F_DMARC_POLICY
};
/* how a field's value is looked up in a table (rules(5) "Tables") */
enum { K_EXACT, K_IP, K_DOMAIN, K_ADDRESS };

static const struct {
	const char *name;
	int earliest;
	int numeric;
	int keys;
} fields[] = {
	[F_CLIENT] = { "client", STAGE_CONNECT, 0, K_IP },
	[F_CLIENT_NAME] = { "client-name", STAGE_CONNECT, 0, K_DOMAIN },
	[F_REVERSE_NAME] = { "reverse-name", STAGE_CONNECT, 0, K_DOMAIN },
	[F_HELO] = { "helo", STAGE_HELO, 0, K_DOMAIN },
	[F_SENDER] = { "sender", STAGE_MAIL, 0, K_ADDRESS },
	[F_SENDER_DOMAIN] = { "sender-domain", STAGE_MAIL, 0, K_DOMAIN },
	[F_RCPT] = { "rcpt", STAGE_RCPT, 0, K_ADDRESS },
	[F_RCPT_DOMAIN] = { "rcpt-domain", STAGE_RCPT, 0, K_DOMAIN },
	[F_AUTH_USER] = { "auth-user", STAGE_CONNECT, 0, K_EXACT },
	[F_TLS_VERSION] = { "tls-version", STAGE_CONNECT, 0, K_EXACT },
	[F_SPF] = { "spf", STAGE_MAIL, 0, K_EXACT },
	[F_SIZE] = { "size", STAGE_MAIL, 1, K_EXACT },
	[F_RCPT_COUNT] = { "rcpt-count", STAGE_DATA, 1, K_EXACT },
	[F_DKIM] = { "dkim", STAGE_EOM, 0, K_EXACT },
	[F_DMARC] = { "dmarc", STAGE_EOM, 0, K_EXACT },
	[F_DMARC_POLICY] = { "dmarc-policy", STAGE_EOM, 0, K_EXACT },
};

/* the results an authentication field can have: "spf fail" is "spf = fail" */
static const char *const auth_values[][8] = {
	[F_SPF] = { "pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", NULL },
	[F_DKIM] = { "pass", "fail", "neutral", "none", "temperror", "permerror", NULL },
	[F_DMARC] = { "pass", "fail", "none", "temperror", "permerror", NULL },
	[F_DMARC_POLICY] = { "reject", "quarantine", "none", NULL },
};

static int auth_field(int f)
{
	return f == F_SPF || f == F_DKIM || f == F_DMARC || f == F_DMARC_POLICY;
}

static const struct {
	const char *name;
	int earliest;
} preds[] = {
	[P_HELO_FQDN] = { "helo-fqdn", STAGE_HELO },
	[P_AUTH] = { "authenticated", STAGE_CONNECT },
	[P_TLS] = { "tls", STAGE_CONNECT },
	[P_RDNS] = { "rdns", STAGE_CONNECT },
	[P_FCRDNS] = { "fcrdns", STAGE_CONNECT },
	[P_NULL_MX] = { "sender-null-mx", STAGE_MAIL },
};

struct cidr {
	int family;
	unsigned char addr[16];
	unsigned bits;
};

struct node {
	int type, what, op;
	char *s;       /* string, table name, tag, header name, command */
	char *val;     /* =, != : the value compared with */
	char *table;   /* OP_IN: table name */
	int has_re;
	regex_t re;
	int has_cidr;
	struct cidr cidr;
	unsigned long long num;
	struct node *a, *b;
};

static const struct {
	const char *name;
	enum rules_kind kind;
	int eom_only;
} actions[] = {
	{ "accept", RK_ACCEPT, 0 }, { "reject", RK_REJECT, 0 }, { "defer", RK_DEFER, 0 },
	{ "disconnect", RK_DISCONNECT, 0 }, { "quarantine", RK_QUARANTINE, 0 },
	{ "discard", RK_DISCARD, 0 }, { "redirect", RK_REDIRECT, 0 },
	{ "add-header", RK_ADD_HEADER, 0 }, { "remove-header", RK_REMOVE_HEADER, 1 },
	{ "replace-header", RK_REPLACE_HEADER, 1 }, { "rewrite-sender", RK_REWRITE_SENDER, 1 },
	{ "bcc", RK_BCC, 0 }, { "export", RK_EXPORT, 1 }, { "warn", RK_WARN, 0 },
	{ "tag", RK_TAG, 0 }, { "untag", RK_UNTAG, 0 }, { "dkim-sign", RK_DKIM_SIGN, 1 },
	{ "add-auth-results", RK_AUTH_RESULTS, 1 },
};

static const char *const stages[STAGE_N] = { "connect", "helo", "mail", "rcpt", "data", "eom" };

struct rule {
	int stage;
	size_t line;
	struct node *cond; /* NULL: always */
	struct rules_reply reply;
	char *arg;
	int at; /* -1, or the stage a decision waits for */
};

struct rules {
	struct rule *r;
	size_t n;
};

const char *rules_stage_name(enum rules_stage s)
{
	return s < STAGE_N ? stages[s] : "?";
}

static int stage_of(const char *w)
{
	for (int i = 0; i < STAGE_N; i++)
		if (strcmp(w, stages[i]) == 0)
			return i;
	return -1;
}

static int action_of(const char *w)
{
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(w, actions[i].name) == 0)
			return (int)i;
	return -1;
}

static void node_free(struct node *n)
{
	if (!n)
		return;
	node_free(n->a);
	node_free(n->b);
	if (n->has_re)
		regfree(&n->re);
	free(n->s);
	free(n->table);
	free(n->val);
	free(n);
}

/* ---------- parser ---------- */

struct parser {
	const char *name;
	struct tok *t;
	size_t i, end;
	int stage;
	struct str *errors;
	int failed;
};

__attribute__((format(printf, 2, 3)))
static void perr(struct parser *ps, const char *fmt, ...)
{
	if (ps->failed)
		return; /* one message per rule: the rest would only echo the first */
	size_t line = ps->i < ps->end ? ps->t[ps->i].line : ps->t[ps->end - 1].line;
	str_catf(ps->errors, "%s:%zu: ", ps->name, line);
	va_list ap;
	va_start(ap, fmt);
	str_vcatf(ps->errors, fmt, ap);
	va_end(ap);
	str_catc(ps->errors, '\n');
	ps->failed = 1;
}

static const struct tok *peek(const struct parser *ps)
{
	return ps->i < ps->end ? &ps->t[ps->i] : NULL;
}

static int is_op(const struct tok *t, const char *op)
{
	return t && t->type == TK_OP && strcmp(t->s, op) == 0;
}

static const char *describe(const struct tok *t)
{
	return t ? t->s : "end of rule";
}

/* a word or a quoted string */
static char *take_text(struct parser *ps, const char *what)
{
	const struct tok *t = peek(ps);
	if (!t || (t->type != TK_WORD && t->type != TK_STRING)) {
		perr(ps, "expected %s, found '%s'", what, describe(t));
		return NULL;
	}
	ps->i++;
	return xstrdup(t->s);
}

static int parse_cidr(const char *s, struct cidr *c)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof buf)
		return 0;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1)
		c->family = AF_INET, c->bits = 32;
	else if (inet_pton(AF_INET6, buf, c->addr) == 1)
		c->family = AF_INET6, c->bits = 128;
	else
		return 0;
	if (slash) {
		unsigned long long b;
		if (!scan_ull(slash + 1, strlen(slash + 1), &b) || b > c->bits)
			return 0;
		c->bits = (unsigned)b;
	}
	return 1;
}

static int cidr_match(const struct cidr *c, const char *ip)
{
	unsigned char a[16];
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (fam != c->family || inet_pton(fam, ip, a) != 1)
		return 0;
	unsigned full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(a, c->addr, full) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		return (a[full] & mask) == (c->addr[full] & mask);
	}
	return 1;
}

static int parse_number(const char *s, unsigned long long *out)
{
	size_t n = strlen(s);
	unsigned long long mult = 1;
	if (n && strchr("kKmMgG", s[n - 1])) {
		char u = (char)tolower((unsigned char)s[n - 1]);
		mult = u == 'k' ? 1024ULL : u == 'm' ? 1024ULL * 1024 : 1024ULL * 1024 * 1024;
		n--;
	}
	unsigned long long v;
	if (!scan_ull(s, n, &v) || v > ~0ULL / mult)
		return 0;
	*out = v * mult;
	return 1;
}

static int compile_re(struct parser *ps, struct node *n)
{
	const struct tok *t = peek(ps);
	if (!t || t->type != TK_REGEX) {
		perr(ps, "expected a /regular expression/, found '%s'", describe(t));
		return 0;
	}
	/* glibc takes \1..\9 in an ERE too; with them a hostile header can take exponential time */
	for (const char *p = t->s; *p; p++)
		if (*p == '\\' && p[1]) {
			if (p[1] >= '1' && p[1] <= '9') {
				perr(ps, "bad regular expression /%s/: back-references are not allowed (no bound on matching time)", t->s);
				return 0;
			}
			p++;
		}
	int e = regcomp(&n->re, t->s, REG_EXTENDED | REG_NOSUB | (t->icase ? REG_ICASE : 0));
	if (e) {
		char msg[128];
		regerror(e, &n->re, msg, sizeof msg);
		perr(ps, "bad regular expression /%s/: %s", t->s, msg);
		return 0;
	}
	n->has_re = 1;
	ps->i++;
	return 1;
}

static int parse_table(struct parser *ps, struct node *n, const char *w)
{
	const char *name = strncmp(w, "cdb:", 4) == 0 ? w + 4 : strncmp(w, "file:", 5) == 0 ? w + 5 : NULL;
	if (!name)
		return 0;
	if (!*name || name[0] == '.' || strstr(name, "/../") || strncmp(name, "../", 3) == 0) {
		perr(ps, "bad table name '%s'", w);
		return 1;
	}
	n->table = xstrdup(name);
	return 1;
}

/* the comparison after a field (or header NAME): op and value */
static void parse_compare(struct parser *ps, struct node *n, int numeric, int is_client)
{
	const struct tok *t = peek(ps);
	static const struct {
		const char *op;
		int code;
	} cmp[] = { { "=", OP_EQ }, { "!=", OP_NE }, { "=~", OP_MATCH }, { "!~", OP_NOMATCH },
		    { "<", OP_LT }, { "<=", OP_LE }, { ">", OP_GT }, { ">=", OP_GE } };
	n->op = -1;
	if (t && t->type == TK_WORD && strcmp(t->s, "in") == 0)
		n->op = OP_IN;
	else if (t && t->type == TK_OP)
		for (size_t k = 0; k < sizeof cmp / sizeof cmp[0]; k++)
			if (strcmp(t->s, cmp[k].op) == 0)
				n->op = cmp[k].code;
	if (n->op < 0) {
		perr(ps, "expected a comparison (=, !=, =~, !~, in%s) after '%s', found '%s'",
		     numeric ? ", <, <=, >, >=" : "", ps->t[ps->i - 1].s, describe(t));
		return;
	}
	ps->i++;
	if (numeric) {
		if (n->op == OP_MATCH || n->op == OP_NOMATCH || n->op == OP_IN) {
			perr(ps, "'%s' compares numbers: use =, !=, <, <=, >, >=", ps->t[ps->i - 2].s);
			return;
		}
		t = peek(ps);
		if (!t || t->type != TK_WORD || !parse_number(t->s, &n->num)) {
			perr(ps, "expected a number, found '%s'", describe(t));
			return;
		}
		ps->i++;
		return;
	}
	if (n->op >= OP_LT) {
		perr(ps, "'%s' is not a number: use =, !=, =~, !~ or in", ps->t[ps->i - 2].s);
		return;
	}
	if (n->op == OP_MATCH || n->op == OP_NOMATCH) {
		compile_re(ps, n);
		return;
	}
	char *v = take_text(ps, "a value");
	if (!v)
		return;
	if (n->op == OP_IN) {
		if (parse_table(ps, n, v))
			;
		else if (is_client && parse_cidr(v, &n->cidr))
			n->has_cidr = 1;
		else if (is_client && strpbrk(v, ".:"))
			perr(ps, "'%s' is not an address range (192.0.2.0/24, 2001:db8::/32)", v);
		else
			perr(ps, "expected cdb:NAME or file:NAME%s after 'in', found '%s'",
			     is_client ? " or an address range" : "", v);
		free(v);
		return;
	}
	if (is_client) {
		if (!parse_cidr(v, &n->cidr) || strchr(v, '/'))
			perr(ps, "'%s' is not an IP address", v);
		n->has_cidr = 1;
	}
	n->val = v;
}

static struct node *parse_or(struct parser *ps);

/* "spf fail", "dkim pass [DOMAIN]", "dmarc fail", "dmarc-policy reject" */
static void parse_auth_value(struct parser *ps, struct node *n)
{
	const struct tok *t = peek(ps);
	const char *const *ok = auth_values[n->what];
	size_t k;
	for (k = 0; ok[k] && strcasecmp(ok[k], t->s) != 0; k++)
		;
	if (!ok[k]) {
		struct str list = STR_INIT;
		for (size_t i = 0; ok[i]; i++)
			str_catf(&list, "%s%s", i ? ", " : "", ok[i]);
		perr(ps, "'%s' is not a %s result (%s)", t->s, fields[n->what].name, list.s);
		str_free(&list);
		return;
	}
	ps->i++;
	n->op = OP_EQ;
	n->val = xstrdup(ok[k]);
	t = peek(ps);
	if (n->what == F_DKIM && t && t->type == TK_WORD && action_of(t->s) < 0) {
		if (!addr_valid_domain(t->s, strlen(t->s), 0) || !strchr(t->s, '.')) {
			perr(ps, "'%s' is not a signing domain", t->s);
			return;
		}
		n->s = xstrdup(t->s);
		ps->i++;
	}
}

static struct node *new_node(int type)
{
	struct node *n = xcalloc(1, sizeof *n);
	n->type = type;
	return n;
}

static void need_stage(struct parser *ps, const char *what, int earliest)
{
	if (ps->stage < earliest)
		perr(ps, "'%s' is not known before the %s stage", what, stages[earliest]);
}

static struct node *parse_factor(struct parser *ps)
{
	const struct tok *t = peek(ps);
	if (is_op(t, "!")) {
		ps->i++;
		struct node *n = new_node(N_NOT);
		n->a = parse_factor(ps);
		return n;
	}
	if (is_op(t, "(")) {
		ps->i++;
		struct node *n = parse_or(ps);
		if (!is_op(peek(ps), ")"))
			perr(ps, "expected ')', found '%s'", describe(peek(ps)));
		else
			ps->i++;
		return n;
	}
	if (!t || t->type != TK_WORD) {
		perr(ps, "expected a condition, found '%s'", describe(t));
		return NULL;
	}
	const char *w = t->s;
	ps->i++;
	for (size_t k = 0; k < sizeof preds / sizeof preds[0]; k++)
		if (strcmp(w, preds[k].name) == 0) {
			need_stage(ps, w, preds[k].earliest);
			struct node *n = new_node(N_PRED);
			n->what = (int)k;
			return n;
		}
	if (strcmp(w, "tagged") == 0) {
		struct node *n = new_node(N_TAGGED);
		n->s = take_text(ps, "a tag name");
		return n;
	}
	if (strcmp(w, "header") == 0) {
		need_stage(ps, w, STAGE_EOM);
		struct node *n = new_node(N_HEADER);
		n->s = take_text(ps, "a header field name");
		if (n->s && !header_valid_name(n->s, strlen(n->s)))
			perr(ps, "'%s' is not a header field name", n->s);
		const struct tok *c = peek(ps);
		if (c && (c->type == TK_OP && !is_op(c, "!") && !is_op(c, "(") && !is_op(c, ")") &&
			  !is_op(c, "&&") && !is_op(c, "||")))
			parse_compare(ps, n, 0, 0);
		else if (c && c->type == TK_WORD && strcmp(c->s, "in") == 0)
			perr(ps, "header values are matched with =, !=, =~ or !~");
		else
			n->op = OP_EXISTS;
		return n;
	}
	if (strcmp(w, "dnsbl") == 0 || strcmp(w, "dnswl") == 0) {
		struct node *n = new_node(N_DNSLIST);
		n->what = w[3] == 'w'; /* 1: a white list (only the log line differs) */
		n->s = take_text(ps, "a DNS list zone");
		if (n->s && (!addr_valid_domain(n->s, strlen(n->s), 0) || !strchr(n->s, '.')))
			perr(ps, "'%s' is not a DNS zone name", n->s);
		if (is_op(peek(ps), "=")) {
			ps->i++;
			n->val = take_text(ps, "an address");
			struct cidr c;
			if (n->val && (!parse_cidr(n->val, &c) || c.family != AF_INET || strchr(n->val, '/')))
				perr(ps, "'%s' is not an IPv4 address", n->val);
		}
		return n;
	}
	if (strcmp(w, "run") == 0) {
		need_stage(ps, w, STAGE_EOM);
		struct node *n = new_node(N_RUN);
		const struct tok *c = peek(ps);
		if (!c || c->type != TK_STRING) {
			perr(ps, "expected a quoted command after 'run', found '%s'", describe(c));
			return n;
		}
		n->s = xstrdup(c->s);
		ps->i++;
		n->op = OP_NE; /* default: true when the program exits non-zero */
		c = peek(ps);
		if (c && c->type == TK_WORD && strcmp(c->s, "exit") == 0) {
			ps->i++;
			c = peek(ps);
			if (!c || c->type != TK_WORD || !scan_ull(c->s, strlen(c->s), &n->num) || n->num > 255)
				perr(ps, "expected an exit code (0-255) after 'exit', found '%s'", describe(c));
			else
				ps->i++;
			n->op = OP_EQ;
		}
		return n;
	}
	for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
		if (strcmp(w, fields[k].name) == 0) {
			need_stage(ps, w, fields[k].earliest);
			struct node *n = new_node(N_FIELD);
			n->what = (int)k;
			const struct tok *c = peek(ps);
			if (auth_field((int)k) && c && c->type == TK_WORD && strcmp(c->s, "in") != 0)
				parse_auth_value(ps, n);
			else
				parse_compare(ps, n, fields[k].numeric, k == F_CLIENT);
			return n;
		}
	ps->i--;
	perr(ps, action_of(w) >= 0 ? "a condition is missing before '%s'" : "unknown condition '%s'", w);
	ps->i++;
	return NULL;
}

static struct node *parse_and(struct parser *ps)
{
	struct node *l = parse_factor(ps);
	while (!ps->failed && is_op(peek(ps), "&&")) {
		ps->i++;
		struct node *n = new_node(N_AND);
		n->a = l;
		n->b = parse_factor(ps);
		l = n;
	}
	return l;
}

static struct node *parse_or(struct parser *ps)
{
	struct node *l = parse_and(ps);
	while (!ps->failed && is_op(peek(ps), "||")) {
		ps->i++;
		struct node *n = new_node(N_OR);
		n->a = l;
		n->b = parse_and(ps);
		l = n;
	}
	return l;
}

static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

int rules_valid_mailbox(const char *s)
{
	struct addr a;
	addr_init(&a);
	int ok = addr_parse_mailbox(s, strlen(s), ADDR_UTF8_OK, &a) && a.domain.len > 0;
	addr_free(&a);
	return ok;
}

static int valid_name(const char *s)
{
	if (!*s || *s == '.' || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return 0;
	return 1;
}

/* [CODE [ENHANCED]] ["text"] [at STAGE] of reject, defer and disconnect */
static void parse_reply(struct parser *ps, struct rule *r)
{
	unsigned def = r->reply.kind == RK_REJECT ? 550 : r->reply.kind == RK_DEFER ? 451 : 421;
	const char *defe = r->reply.kind == RK_REJECT ? "5.7.1" : r->reply.kind == RK_DEFER ? "4.7.1" : "4.7.0";
	const char *deft = r->reply.kind == RK_REJECT ? "rejected by policy"
			 : r->reply.kind == RK_DEFER ? "try again later" : "closing connection";
	const struct tok *t = peek(ps);
	r->reply.code = def;
	if (t && t->type == TK_WORD && isdigit((unsigned char)t->s[0])) {
		unsigned long long c;
		char cls = r->reply.kind == RK_REJECT ? '5' : r->reply.kind == RK_DEFER ? '4' : 0;
		if (!scan_ull(t->s, strlen(t->s), &c) || c < 400 || c > 599 || (cls && t->s[0] != cls) ||
		    (!cls && c != 421 && c != 521)) {
			perr(ps, "bad reply code '%s' (want %s)", t->s, cls == '5' ? "5NN" : cls == '4' ? "4NN" : "421 or 521");
			return;
		}
		r->reply.code = (unsigned)c;
		ps->i++;
		t = peek(ps);
	}
	snprintf(r->reply.ecode, sizeof r->reply.ecode, "%c%s", '0' + (int)(r->reply.code / 100), defe + 1);
	if (t && t->type == TK_WORD && isdigit((unsigned char)t->s[0])) {
		unsigned a, b, c;
		char extra;
		if (sscanf(t->s, "%u.%u.%u%c", &a, &b, &c, &extra) != 3 || a != r->reply.code / 100 || b > 999 ||
		    c > 999 || strlen(t->s) >= sizeof r->reply.ecode) {
			perr(ps, "bad enhanced status code '%s' (want %u.X.Y)", t->s, r->reply.code / 100);
			return;
		}
		snprintf(r->reply.ecode, sizeof r->reply.ecode, "%s", t->s);
		ps->i++;
		t = peek(ps);
	}
	if (t && t->type == TK_STRING) {
		if (!printable(t->s) || strlen(t->s) > TEXT_MAX) {
			perr(ps, "reply text must be one printable line of at most %d bytes", TEXT_MAX);
			return;
		}
		r->reply.text = xstrdup(t->s);
		ps->i++;
		t = peek(ps);
	} else
		r->reply.text = xstrdup(deft);
	if (t && t->type == TK_WORD && strcmp(t->s, "at") == 0) {
		ps->i++;
		t = peek(ps);
		int s = t && t->type == TK_WORD ? stage_of(t->s) : -1;
		if (s < 0) {
			perr(ps, "expected a stage after 'at', found '%s'", describe(t));
			return;
		}
		if (s <= r->stage) {
			perr(ps, "'at %s' must name a stage after %s", t->s, stages[r->stage]);
			return;
		}
		r->at = s;
		ps->i++;
	}
}

static void parse_header_field(struct parser *ps, struct rule *r)
{
	char *v = take_text(ps, "a header field \"Name: value\"");
	if (!v)
		return;
	const char *colon = strchr(v, ':');
	if (!colon || !header_valid_name(v, (size_t)(colon - v)) || !printable(v) || strlen(v) > TEXT_MAX)
		perr(ps, "'%s' is not a one-line header field \"Name: value\"", v);
	r->arg = v;
}

static void parse_action(struct parser *ps, struct rule *r)
{
	const struct tok *t = peek(ps);
	int a = t && t->type == TK_WORD ? action_of(t->s) : -1;
	if (a < 0) {
		perr(ps, t ? "expected an action, found '%s'" : "the rule has no action", describe(t));
		return;
	}
	ps->i++;
	r->reply.kind = actions[a].kind;
	if (actions[a].eom_only && r->stage != STAGE_EOM) {
		ps->i--;
		perr(ps, "'%s' works on the message: only at the eom stage", actions[a].name);
		return;
	}
	char *v;
	switch (r->reply.kind) {
	case RK_REJECT:
	case RK_DEFER:
	case RK_DISCONNECT:
		parse_reply(ps, r);
		break;
	case RK_QUARANTINE:
	case RK_TAG:
	case RK_UNTAG:
		v = take_text(ps, r->reply.kind == RK_QUARANTINE ? "a quarantine name" : "a tag name");
		if (v && !valid_name(v))
			perr(ps, "'%s' is not a name (letters, digits, '.', '_', '-')", v);
		r->arg = v;
		break;
	case RK_REDIRECT:
	case RK_BCC:
	case RK_REWRITE_SENDER:
		v = take_text(ps, "an address");
		if (v && !(r->reply.kind == RK_REWRITE_SENDER && strcmp(v, "<>") == 0) && !rules_valid_mailbox(v))
			perr(ps, "'%s' is not an address (local@domain)", v);
		r->arg = v;
		break;
	case RK_ADD_HEADER:
	case RK_REPLACE_HEADER:
		parse_header_field(ps, r);
		break;
	case RK_REMOVE_HEADER:
		v = take_text(ps, "a header field name");
		if (v && !header_valid_name(v, strlen(v)))
			perr(ps, "'%s' is not a header field name", v);
		r->arg = v;
		break;
	case RK_EXPORT:
		r->arg = take_text(ps, "a directory");
		break;
	case RK_WARN:
	case RK_DISCARD:
		t = peek(ps);
		if (t && t->type == TK_STRING) {
			if (!printable(t->s) || strlen(t->s) > TEXT_MAX)
				perr(ps, "text must be one printable line of at most %d bytes", TEXT_MAX);
			r->arg = xstrdup(t->s);
			ps->i++;
		} else if (r->reply.kind == RK_WARN)
			perr(ps, "expected a quoted text after 'warn', found '%s'", describe(t));
		break;
	default:
		break;
	}
	if (ps->i < ps->end)
		perr(ps, "unexpected '%s' after the action", ps->t[ps->i].s);
}

static void rule_free(struct rule *r)
{
	node_free(r->cond);
	free(r->reply.text);
	free(r->arg);
}

struct msgline {
	size_t line, seq;
	const char *s;
	size_t len;
};

static int msgline_cmp(const void *a, const void *b)
{
	const struct msgline *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* the lexer reports before the parser: put messages from `from` on in line order */
static void sort_errors(struct str *errors, size_t from, size_t namelen)
{
	struct msgline *m = NULL;
	size_t n = 0;
	if (errors->len <= from)
		return;
	for (size_t i = from; i < errors->len;) {
		const char *nl = memchr(errors->s + i, '\n', errors->len - i);
		size_t end = nl ? (size_t)(nl - errors->s) + 1 : errors->len;
		m = xreallocarray(m, n + 1, sizeof *m);
		m[n] = (struct msgline){ strtoul(errors->s + i + namelen + 1, NULL, 10), n, errors->s + i, end - i };
		n++;
		i = end;
	}
	qsort(m, n, sizeof *m, msgline_cmp);
	struct str sorted = STR_INIT;
	for (size_t i = 0; i < n; i++)
		str_catb(&sorted, m[i].s, m[i].len);
	str_truncate(errors, from);
	if (sorted.len)
		str_catb(errors, sorted.s, sorted.len);
	str_free(&sorted);
	free(m);
}

struct rules *rules_parse(const char *name, const char *text, size_t len, struct str *errors)
{
	size_t errors_from = errors->len;
	struct lexer lx = { name, NULL, 0, 0, errors, 0, NULL, 0 };
	lex(&lx, text, len);
	struct rules *rs = xcalloc(1, sizeof *rs);
	int bad = lx.nerr;
	size_t i = 0;
	while (i < lx.n) {
		size_t end = i + 1;
		while (end < lx.n && !lx.t[end].bol)
			end++;
		struct parser ps = { name, lx.t, i, end, -1, errors, 0 };
		if (line_bad(&lx, lx.t[i].line, lx.t[end - 1].line)) {
			i = end; /* already reported by the lexer */
			continue;
		}
		if (!lx.t[i].bol) {
			perr(&ps, "a continuation line with no rule above it");
			bad = 1;
			i = end;
			continue;
		}
		struct rule r = { 0, lx.t[i].line, NULL, { RK_NONE, 0, "", NULL }, NULL, -1 };
		r.stage = lx.t[i].type == TK_WORD ? stage_of(lx.t[i].s) : -1;
		if (r.stage < 0) {
			perr(&ps, "unknown stage '%s' (connect, helo, mail, rcpt, data or eom)", lx.t[i].s);
		} else {
			ps.stage = r.stage;
			ps.i++;
			const struct tok *t = peek(&ps);
			if (!(t && t->type == TK_WORD && action_of(t->s) >= 0))
				r.cond = parse_or(&ps);
			if (!ps.failed)
				parse_action(&ps, &r);
		}
		if (ps.failed) {
			bad = 1;
			rule_free(&r);
		} else {
			rs->r = xreallocarray(rs->r, rs->n + 1, sizeof *rs->r);
			rs->r[rs->n++] = r;
		}
		i = end;
	}
	for (size_t k = 0; k < lx.n; k++)
		free(lx.t[k].s);
	free(lx.t);
	free(lx.badline);
	sort_errors(errors, errors_from, strlen(name));
	if (bad) {
		rules_free(rs);
		return NULL;
	}
	return rs;
}

void rules_free(struct rules *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_free(&rs->r[i]);
	free(rs->r);
	free(rs);
}

int rules_has_stage(const struct rules *rs, enum rules_stage stage)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->r[i].stage == (int)stage)
			return 1;
	return 0;
}

/* ---------- evaluation ---------- */

struct eval {
	const struct rules_facts *f;
	struct rules_state *st;
	struct rules_verdict *v;
	struct str *why;
	unsigned long long regex_used; /* bytes handed to regexec so far */
};

static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

static void add_key(struct conf_list *keys, const char *k)
{
	keys->item = xreallocarray(keys->item, keys->n + 1, sizeof *keys->item);
	keys->item[keys->n++] = xstrdup(k);
}

/* the keys a value is looked up under, most specific first (rules(5) "Tables") */
static void table_keys(int kind, const char *value, struct conf_list *keys)
{
	struct str k = STR_INIT;
	keys->item = NULL;
	keys->n = 0;
	str_copys(&k, value);
	if (kind != K_EXACT && kind != K_IP)
		str_lower(&k);
	if (kind == K_ADDRESS && k.len == 0)
		str_copys(&k, "<>");
	add_key(keys, k.s);
	if (kind == K_IP && !strchr(value, ':')) {
		while (k.len && strrchr(k.s, '.')) {
			str_truncate(&k, (size_t)(strrchr(k.s, '.') - k.s));
			add_key(keys, k.s);
		}
	}
	if (kind == K_ADDRESS && strchr(k.s, '@')) {
		const char *at = strrchr(k.s, '@');
		struct str local = STR_INIT;
		str_copyb(&local, k.s, (size_t)(at - k.s) + 1);
		char *dom = xstrdup(at + 1);
		add_key(keys, dom);
		for (const char *d = strchr(dom, '.'); d; d = strchr(d + 1, '.'))
			add_key(keys, d);
		add_key(keys, local.s);
		free(dom);
		str_free(&local);
	}
	if (kind == K_DOMAIN)
		for (const char *d = strchr(value, '.'); d; d = strchr(d + 1, '.')) {
			str_copys(&k, d);
			str_lower(&k);
			add_key(keys, k.s);
		}
	str_free(&k);
}

static int in_table(struct eval *e, const char *table, int kind, const char *value)
{
	struct conf_list keys;
	struct str out = STR_INIT;
	table_keys(kind, value, &keys);
	int r = 0;
	for (size_t i = 0; i < keys.n && r == 0; i++)
		r = table_lookup(table, keys.item[i], &out);
	if (r < 0) {
		str_copyb(e->why, "", 0);
		str_catf(e->why, "unable to read table %s", table);
	}
	conf_list_free(&keys);
	str_free(&out);
	return r;
}

/*
 * =~ on the first regex_bytes bytes of value, within the budget (see
 * rules.h); 1 match, 0 not, -1 over the budget (e->why says so).
 */
static int match_re(struct eval *e, const struct node *n, const char *value)
{
	unsigned long long cap = e->f->regex_bytes ? e->f->regex_bytes : RULES_REGEX_BYTES;
	unsigned long long budget = e->f->regex_budget ? e->f->regex_budget : RULES_REGEX_BUDGET;
	size_t len = strlen(value);
	struct str cut = STR_INIT;
	int eflags = 0;
	if (len > cap) {
		len = (size_t)cap;
		str_copyb(&cut, value, len);
		value = cut.s;
		eflags = REG_NOTEOL; /* the value goes on: its cut is no end for $ */
	}
	if (len > budget - e->regex_used) {
		str_copyb(e->why, "", 0);
		str_catf(e->why, "regular expressions would match more than %llu bytes here "
				 "(limits: rules-regex-budget)", budget);
		str_free(&cut);
		return -1;
	}
	e->regex_used += len;
	int hit = regexec(&n->re, value, 0, NULL, eflags) == 0;
	str_free(&cut);
	return hit;
}

/* positive string comparison (=, =~, in) of one value */
static int match_value(struct eval *e, const struct node *n, int kind, const char *value)
{
	switch (n->op) {
	case OP_EQ:
	case OP_NE:
		if (n->has_cidr)
			return cidr_match(&n->cidr, value);
		if (strcmp(n->val, "<>") == 0 && kind == K_ADDRESS)
			return *value == '\0'; /* "<>" names the null sender */
		return strcasecmp(n->val, value) == 0;
	case OP_MATCH:
	case OP_NOMATCH:
		return match_re(e, n, value);
	case OP_IN:
		if (n->has_cidr)
			return cidr_match(&n->cidr, value);
		return in_table(e, n->table, kind, value);
	}
	return 0;
}

static int negated(int op)
{
	return op == OP_NE || op == OP_NOMATCH;
}

static int compare_num(int op, unsigned long long a, unsigned long long b)
{
	switch (op) {
	case OP_EQ: return a == b;
	case OP_NE: return a != b;
	case OP_LT: return a < b;
	case OP_LE: return a <= b;
	case OP_GT: return a > b;
	case OP_GE: return a >= b;
	}
	return 0;
}

/* spf, dkim, dmarc, dmarc-policy: ask rules_facts.auth, any value may match */
static int eval_auth(struct eval *e, const struct node *n)
{
	static const int what[] = { [F_SPF] = RULES_AUTH_SPF, [F_DKIM] = RULES_AUTH_DKIM,
				    [F_DMARC] = RULES_AUTH_DMARC, [F_DMARC_POLICY] = RULES_AUTH_DMARC_POLICY };
	struct conf_list vals = CONF_LIST_INIT;
	if (!e->f->auth) {
		if (n->what == F_SPF) /* nothing known: no value compares equal */
			return negated(n->op);
		str_copyb(e->why, "", 0);
		str_catf(e->why, "no %s result here", fields[n->what].name);
		return -1;
	}
	if (e->f->auth(e->f->auth_arg, what[n->what], n->s, &vals, e->why) < 0) {
		conf_list_free(&vals);
		return -1;
	}
	int hit = 0;
	for (size_t i = 0; i < vals.n && hit == 0; i++)
		hit = match_value(e, n, K_EXACT, vals.item[i]);
	conf_list_free(&vals);
	if (hit < 0)
		return -1;
	return negated(n->op) ? !hit : hit;
}

/* the sender domain publishes a Null MX (RFC 7505 4.2) */
static int eval_null_mx(struct eval *e)
{
	const char *s = e->f->sender;
	if (!s || !*s || !*domain_of(s))
		return 0;
	if (!e->f->auth) {
		str_copys(e->why, "no DNS resolver");
		return -1;
	}
	struct conf_list vals = CONF_LIST_INIT;
	int r = e->f->auth(e->f->auth_arg, RULES_AUTH_NULL_MX, domain_of(s), &vals, e->why);
	int hit = r == 0 && vals.n && strcmp(vals.item[0], "yes") == 0;
	conf_list_free(&vals);
	return r < 0 ? -1 : hit;
}

static int eval_field(struct eval *e, const struct node *n)
{
	const struct rules_facts *f = e->f;
	if (fields[n->what].numeric) {
		int have = n->what == F_SIZE ? f->have_size : f->have_rcpt_count;
		unsigned long long v = n->what == F_SIZE ? f->size : f->rcpt_count;
		return have && compare_num(n->op, v, n->num);
	}
	const char *one = NULL;
	int multi = 0;
	switch (n->what) {
	case F_CLIENT: one = f->client; break;
	case F_CLIENT_NAME: one = f->client_name; break;
	case F_REVERSE_NAME: one = f->reverse_name; break;
	case F_HELO: one = f->helo; break;
	case F_SENDER: one = f->sender; break;
	case F_SENDER_DOMAIN: one = f->sender ? domain_of(f->sender) : NULL; break;
	case F_RCPT:
	case F_RCPT_DOMAIN: multi = 1; break;
	case F_AUTH_USER: one = f->auth_user && *f->auth_user ? f->auth_user : NULL; break;
	case F_TLS_VERSION: one = f->tls_version && *f->tls_version ? f->tls_version : NULL; break;
	case F_SPF:
	case F_DKIM:
	case F_DMARC:
	case F_DMARC_POLICY:
		if (n->what != F_SPF || !f->spf)
			return eval_auth(e, n);
		one = f->spf;
		break;
	}
	int hit = 0;
	if (multi) {
		/* at eom: true when any recipient matches */
		for (size_t i = 0; i < f->nrcpt && !hit; i++) {
			const char *v = n->what == F_RCPT ? f->rcpt[i] : domain_of(f->rcpt[i]);
			hit = match_value(e, n, fields[n->what].keys, v);
			if (hit < 0)
				return -1;
		}
	} else if (one) {
		hit = match_value(e, n, fields[n->what].keys, one);
		if (hit < 0)
			return -1;
	}
	return negated(n->op) ? !hit : hit;
}

static int eval_header(struct eval *e, const struct node *n)
{
	size_t hpos = 0;
	struct header_field hf;
	struct str val = STR_INIT;
	int hit = 0;
	if (!e->f->header)
		return negated(n->op);
	const char *hbuf = e->f->header;
	size_t hlen = e->f->header_len;
	while (!hit && header_next(hbuf, hlen, &hpos, &hf)) {
		if (!header_name_is(&hf, n->s))
			continue;
		if (n->op == OP_EXISTS) {
			hit = 1;
			break;
		}
		header_unfold(hf.value, hf.valuelen, &val);
		/* a NUL inside a field would end the string early: it cannot match */
		hit = memchr(val.s, '\0', val.len) ? 0 : match_value(e, n, K_EXACT, val.s);
	}
	str_free(&val);
	if (hit < 0)
		return -1;
	return negated(n->op) ? !hit : hit;
}

static void add_effect(struct rules_verdict *v, enum rules_kind kind, const char *arg, size_t len)
{
	v->eff = xreallocarray(v->eff, v->neff + 1, sizeof *v->eff);
	v->eff[v->neff].kind = kind;
	v->eff[v->neff].arg = xstrndup(arg, len);
	v->neff++;
}

static int eval_run(struct eval *e, const struct node *n)
{
	if (!e->f->run) {
		str_copys(e->why, "no message to run a program on");
		return -1;
	}
	struct str out = STR_INIT;
	int code = e->f->run(e->f->run_arg, n->s, &out);
	if (code < 0) {
		str_copyb(e->why, "", 0);
		str_catf(e->why, "unable to run \"%s\"", n->s);
		str_free(&out);
		return -1;
	}
	/* header fields the program printed join the message */
	size_t hpos = 0;
	struct header_field hf;
	const char *hbuf = out.s ? out.s : "";
	size_t hlen = out.len;
	while (header_next(hbuf, hlen, &hpos, &hf)) {
		size_t l = hf.rawlen;
		while (l && (hf.raw[l - 1] == '\n' || hf.raw[l - 1] == '\r'))
			l--;
		if (!memchr(hf.raw, '\0', l))
			add_effect(e->v, RK_ADD_HEADER, hf.raw, l);
	}
	str_free(&out);
	return n->op == OP_EQ ? (unsigned long long)code == n->num : code != 0;
}

/* d.c.b.a.SUFFIX, or the nibbles of an IPv6 address (RFC 3596 §2.5); 0 if ip is no address */
static int reverse_ip(const char *ip, const char *suffix, struct str *out)
{
	unsigned char a[16];
	str_copyb(out, "", 0);
	if (inet_pton(AF_INET, ip, a) == 1)
		str_catf(out, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], suffix);
	else if (inet_pton(AF_INET6, ip, a) == 1) {
		for (int i = 15; i >= 0; i--)
			str_catf(out, "%x.%x.", a[i] & 15, a[i] >> 4);
		str_cats(out, suffix);
	} else
		return 0;
	return 1;
}

static int same_ip(const char *x, const char *y)
{
	unsigned char a[16], b[16];
	int fa = strchr(x, ':') ? AF_INET6 : AF_INET, fb = strchr(y, ':') ? AF_INET6 : AF_INET;
	return fa == fb && inet_pton(fa, x, a) == 1 && inet_pton(fb, y, b) == 1 &&
	       memcmp(a, b, fa == AF_INET ? 4 : 16) == 0;
}

static int no_resolver(struct eval *e)
{
	str_copys(e->why, "no DNS resolver");
	return -1;
}

static int eval_dnslist(struct eval *e, const struct node *n)
{
	const struct rules_facts *f = e->f;
	struct str name = STR_INIT;
	struct conf_list ans = CONF_LIST_INIT;
	if (!f->client || !reverse_ip(f->client, n->s, &name)) {
		str_free(&name);
		return 0;
	}
	if (!f->resolve) {
		str_free(&name);
		return no_resolver(e);
	}
	int r = f->resolve(f->resolve_arg, name.s, RULES_DNS_A, &ans), hit = 0;
	if (r < 0) /* a list that does not answer lists nobody: log it, go on */
		log_line("event=dnslist-fail zone=%s client=%s", n->s, f->client);
	for (size_t i = 0; r > 0 && i < ans.n && !hit; i++) {
		hit = n->val ? strcmp(ans.item[i], n->val) == 0 : strncmp(ans.item[i], "127.", 4) == 0;
		if (hit)
			log_line("event=%s zone=%s client=%s answer=%s", n->what ? "dnswl" : "dnsbl", n->s, f->client,
				 ans.item[i]);
	}
	conf_list_free(&ans);
	str_free(&name);
	return hit;
}

/* the client's PTR names; -1 on a DNS failure */
static int ptr_names(struct eval *e, struct conf_list *names)
{
	struct str q = STR_INIT;
	const char *ip = e->f->client;
	int r = 0;
	if (ip && reverse_ip(ip, "", &q)) { /* only checks that it is an address */
		if (!e->f->resolve)
			r = no_resolver(e);
		else if ((r = e->f->resolve(e->f->resolve_arg, ip, RULES_DNS_PTR, names)) < 0) {
			str_copyb(e->why, "", 0);
			str_catf(e->why, "reverse DNS lookup of %s failed", ip);
		}
	}
	str_free(&q);
	return r;
}

static int eval_rdns(struct eval *e, int confirmed)
{
	const struct rules_facts *f = e->f;
	const char *given = confirmed ? f->client_name : f->reverse_name;
	if (given) /* the client (Postfix, smtp-recv) looked it up already */
		return *given && strcmp(given, "unknown") != 0;
	struct conf_list names = CONF_LIST_INIT;
	int r = ptr_names(e, &names);
	if (r > 0 && confirmed) {
		int hit = 0;
		int type = strchr(f->client, ':') ? RULES_DNS_AAAA : RULES_DNS_A;
		for (size_t i = 0; i < names.n && i < 4 && !hit; i++) {
			struct conf_list addrs = CONF_LIST_INIT;
			int a = f->resolve(f->resolve_arg, names.item[i], type, &addrs);
			if (a < 0) {
				str_copyb(e->why, "", 0);
				str_catf(e->why, "forward DNS lookup of %s failed", names.item[i]);
				hit = -1;
			}
			for (size_t k = 0; a > 0 && k < addrs.n && !hit; k++)
				hit = same_ip(addrs.item[k], f->client);
			conf_list_free(&addrs);
		}
		r = hit;
	}
	conf_list_free(&names);
	return r < 0 ? -1 : r > 0;
}

static int has_tag(const struct rules_state *st, const char *tag)
{
	for (size_t i = 0; i < st->ntag; i++)
		if (strcmp(st->tag[i], tag) == 0)
			return 1;
	return 0;
}

static int eval_node(struct eval *e, const struct node *n)
{
	int a;
	switch (n->type) {
	case N_AND:
		a = eval_node(e, n->a);
		return a <= 0 ? a : eval_node(e, n->b);
	case N_OR:
		a = eval_node(e, n->a);
		return a != 0 ? a : eval_node(e, n->b);
	case N_NOT:
		a = eval_node(e, n->a);
		return a < 0 ? a : !a;
	case N_PRED:
		if (n->what == P_AUTH)
			return e->f->auth_user && *e->f->auth_user;
		if (n->what == P_TLS)
			return e->f->tls_version && *e->f->tls_version;
		if (n->what == P_RDNS || n->what == P_FCRDNS)
			return eval_rdns(e, n->what == P_FCRDNS);
		if (n->what == P_NULL_MX)
			return eval_null_mx(e);
		return e->f->helo && !addr_valid_literal(e->f->helo, strlen(e->f->helo)) &&
		       addr_valid_domain(e->f->helo, strlen(e->f->helo), 1) && strchr(e->f->helo, '.') &&
		       e->f->helo[strlen(e->f->helo) - 1] != '.';
	case N_TAGGED:
		return has_tag(e->st, n->s);
	case N_HEADER:
		return eval_header(e, n);
	case N_RUN:
		return eval_run(e, n);
	case N_FIELD:
		return eval_field(e, n);
	case N_DNSLIST:
		return eval_dnslist(e, n);
	}
	return 0;
}

static void reply_copy(struct rules_reply *dst, const struct rules_reply *src)
{
	*dst = *src;
	dst->text = src->text ? xstrdup(src->text) : NULL;
}

static void tag_set(struct rules_state *st, const char *tag, int on)
{
	for (size_t i = 0; i < st->ntag; i++)
		if (strcmp(st->tag[i], tag) == 0) {
			if (!on) {
				free(st->tag[i]);
				st->tag[i] = st->tag[--st->ntag];
			}
			return;
		}
	if (on) {
		st->tag = xreallocarray(st->tag, st->ntag + 1, sizeof *st->tag);
		st->tag[st->ntag++] = xstrdup(tag);
	}
}

static void pending_clear(struct rules_state *st)
{
	free(st->pending.text);
	st->pending.text = NULL;
	st->pending.kind = RK_NONE;
	st->pending_stage = -1;
}

int rules_eval(const struct rules *rs, enum rules_stage stage, const struct rules_facts *f,
	       struct rules_state *st, struct rules_verdict *v, struct str *why)
{
	struct eval e = { f, st, v, why, 0 };
	memset(v, 0, sizeof *v);
	if (st->pending_stage >= 0 && f->auth_user && *f->auth_user) {
		/* qpsmtpd's naughty: a client that authenticates is forgiven */
		log_line("event=rule-forgiven line=%zu stage=%s", st->pending_line, stages[stage]);
		pending_clear(st);
	}
	if (st->pending_stage >= 0 && (int)stage >= st->pending_stage) {
		/* it stays: every later recipient is refused the same way */
		reply_copy(&v->decision, &st->pending);
		v->line = st->pending_line;
		return 0;
	}
	for (size_t i = 0; i < rs->n; i++) {
		const struct rule *r = &rs->r[i];
		if (r->stage != (int)stage)
			continue;
		int hit = r->cond ? eval_node(&e, r->cond) : 1;
		if (hit < 0) {
			str_catf(why, " (rule at line %zu)", r->line);
			return -1;
		}
		if (!hit)
			continue;
		enum rules_kind k = r->reply.kind;
		if (k == RK_TAG || k == RK_UNTAG) {
			tag_set(st, r->arg, k == RK_TAG);
		} else if (k >= RK_ADD_HEADER) {
			add_effect(v, k, r->arg ? r->arg : "", r->arg ? strlen(r->arg) : 0);
		} else if (r->at >= 0) {
			if (st->pending_stage < 0) {
				reply_copy(&st->pending, &r->reply);
				st->pending_stage = r->at;
				st->pending_line = r->line;
			}
		} else {
			reply_copy(&v->decision, &r->reply);
			v->arg = r->arg ? xstrdup(r->arg) : NULL;
			v->line = r->line;
			return 0;
		}
	}
	return 0;
}

void rules_verdict_free(struct rules_verdict *v)
{
	free(v->decision.text);
	free(v->arg);
	for (size_t i = 0; i < v->neff; i++)
		free(v->eff[i].arg);
	free(v->eff);
	memset(v, 0, sizeof *v);
}

void rules_state_free(struct rules_state *st)
{
	for (size_t i = 0; i < st->ntag; i++)
		free(st->tag[i]);
	free(st->tag);
	st->tag = NULL;
	st->ntag = 0;
	pending_clear(st);
}

void rules_reply_format(const struct rules_reply *r, struct str *out)
{
	str_catf(out, "%u", r->code);
	if (r->ecode[0])
		str_catf(out, " %s", r->ecode);
	if (r->text && *r->text)
		str_catf(out, " %s", r->text);
}
