/*
 * addr.c - RFC 5321 path and mailbox parsing (see addr.h).  Written as a
 * straight recursive-descent walk over the ABNF of RFC 5321 §4.1.2 so it
 * can be checked against the RFC line by line.
 */
#include <arpa/inet.h>
#include <string.h>

#include "addr.h"

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* RFC 5322 atext, plus UTF-8 octets when allowed (RFC 6531 §3.3) */
static int is_atext(unsigned char c, int utf8)
{
	if (is_alpha(c) || is_digit(c))
		return 1;
	if (c >= 0x80)
		return utf8;
	return strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

void addr_init(struct addr *a)
{
	memset(a, 0, sizeof *a);
}

void addr_free(struct addr *a)
{
	str_free(&a->local);
	str_free(&a->domain);
}

int addr_valid_domain(const char *s, size_t len, int utf8)
{
	if (len == 0 || len > ADDR_DOMAIN_MAX)
		return 0;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (c == '-') {
			if (label == 0)
				return 0;
		} else if (!(is_alpha(c) || is_digit(c) || (utf8 && c >= 0x80)))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

int addr_valid_literal(const char *s, size_t len)
{
	char buf[64];
	unsigned char tmp[16];
	if (len < 3 || s[0] != '[' || s[len - 1] != ']' || len - 2 >= sizeof buf)
		return 0;
	/* inet_pton stops at a NUL: "[192.0.2.1\0junk]" must not pass */
	if (memchr(s, '\0', len))
		return 0;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, tmp) == 1;
	/* inet_pton(AF_INET) accepts exactly dotted-quad decimal */
	return inet_pton(AF_INET, buf, tmp) == 1;
}

/* Domain / address-literal starting at s[*i]; appends to out */
static int parse_domain(const char *s, size_t len, size_t *i, int utf8, struct str *out, int *literal)
{
	size_t start = *i;
	if (*i < len && s[*i] == '[') {
		while (*i < len && s[*i] != ']')
			(*i)++;
		if (*i >= len)
			return 0;
		(*i)++;
		if (!addr_valid_literal(s + start, *i - start))
			return 0;
		*literal = 1;
	} else {
		while (*i < len && (is_alpha((unsigned char)s[*i]) || is_digit((unsigned char)s[*i]) ||
				    s[*i] == '-' || s[*i] == '.' || (utf8 && (unsigned char)s[*i] >= 0x80)))
			(*i)++;
		if (!addr_valid_domain(s + start, *i - start, utf8))
			return 0;
		*literal = 0;
	}
	str_catb(out, s + start, *i - start);
	str_lower(out);
	return 1;
}

static int dot_string(const char *s, size_t len, int utf8)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i - 1] == '.')
				return 0;
		} else if (!is_atext((unsigned char)s[i], utf8))
			return 0;
	}
	return 1;
}

/* Local-part at s[*i], canonicalised into a->local */
static int parse_local(const char *s, size_t len, size_t *i, int utf8, struct addr *a)
{
	str_copyb(&a->local, "", 0);
	if (*i < len && s[*i] == '"') {
		struct str raw = STR_INIT;
		(*i)++;
		for (;;) {
			if (*i >= len) {
				str_free(&raw);
				return 0;
			}
			unsigned char c = (unsigned char)s[*i];
			if (c == '"')
				break;
			if (c == '\\') {
				if (*i + 1 >= len || (unsigned char)s[*i + 1] < 32 || (unsigned char)s[*i + 1] > 126) {
					str_free(&raw);
					return 0;
				}
				c = (unsigned char)s[++*i];
			} else if (!((c >= 32 && c <= 126) || (utf8 && c >= 0x80))) {
				str_free(&raw);
				return 0;
			}
			str_catc(&raw, (char)c);
			(*i)++;
		}
		(*i)++;
		if (dot_string(raw.s ? raw.s : "", raw.len, utf8))
			str_copyb(&a->local, raw.s, raw.len);
		else {
			a->quoted = 1;
			str_catc(&a->local, '"');
			for (size_t k = 0; k < raw.len; k++) {
				if (raw.s[k] == '"' || raw.s[k] == '\\')
					str_catc(&a->local, '\\');
				str_catc(&a->local, raw.s[k]);
			}
			str_catc(&a->local, '"');
		}
		str_free(&raw);
	} else {
		size_t start = *i;
		while (*i < len && (s[*i] == '.' || is_atext((unsigned char)s[*i], utf8)))
			(*i)++;
		if (!dot_string(s + start, *i - start, utf8))
			return 0;
		str_copyb(&a->local, s + start, *i - start);
	}
	return a->local.len <= (size_t)ADDR_LOCAL_MAX + (a->quoted ? 2u : 0u);
}

static int has_8bit(const struct str *sa)
{
	for (size_t k = 0; k < sa->len; k++)
		if ((unsigned char)sa->s[k] >= 0x80)
			return 1;
	return 0;
}

/*
 * RFC 6532 §3.1 UTF8-non-ascii is RFC 3629 UTF-8: no stray continuation
 * octets, no overlong forms, no surrogates, nothing past U+10FFFF.
 */
static int utf8_ok(const struct str *sa)
{
	const unsigned char *p = (const unsigned char *)sa->s;
	for (size_t k = 0; k < sa->len;) {
		unsigned c = p[k];
		size_t need;
		unsigned lo = 0x80, hi = 0xbf; /* the range of the second octet */
		if (c < 0x80) {
			k++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (sa->len - k <= need || p[k + 1] < lo || p[k + 1] > hi)
			return 0;
		for (size_t i = 2; i <= need; i++)
			if ((p[k + i] & 0xc0) != 0x80)
				return 0;
		k += need + 1;
	}
	return 1;
}

/* Mailbox at s[*i]: Local-part ["@" domain]; returns 1 on success */
static int parse_mailbox(const char *s, size_t len, size_t *i, unsigned flags, struct addr *a)
{
	int utf8 = (flags & ADDR_UTF8_OK) != 0;
	if (!parse_local(s, len, i, utf8, a))
		return 0;
	str_copyb(&a->domain, "", 0);
	a->literal = 0;
	if (*i < len && s[*i] == '@') {
		(*i)++;
		if (!parse_domain(s, len, i, utf8, &a->domain, &a->literal))
			return 0;
	} else if (!(flags & ADDR_UNQUALIFIED_OK))
		return 0;
	a->utf8 = has_8bit(&a->local) || has_8bit(&a->domain);
	if (a->utf8 && (!utf8_ok(&a->local) || !utf8_ok(&a->domain)))
		return 0;
	return 1;
}

size_t addr_parse_path(const char *s, size_t len, unsigned flags, struct addr *a)
{
	size_t i = 0;
	int utf8 = (flags & ADDR_UTF8_OK) != 0;
	a->routed = a->quoted = a->literal = a->utf8 = 0;
	str_copyb(&a->local, "", 0);
	str_copyb(&a->domain, "", 0);
	if (len < 2 || s[0] != '<')
		return 0;
	i = 1;
	if (s[i] == '>')
		return (flags & ADDR_EMPTY_OK) ? 2 : 0;
	if (s[i] == '@') {
		/* A-d-l ":" : parse each At-domain, keep none */
		struct str skip = STR_INIT;
		int lit;
		for (;;) {
			if (i >= len || s[i] != '@')
				break;
			i++;
			skip.len = 0;
			if (!parse_domain(s, len, &i, utf8, &skip, &lit)) {
				str_free(&skip);
				return 0;
			}
			if (i < len && s[i] == ',')
				i++;
			else
				break;
		}
		str_free(&skip);
		if (i >= len || s[i] != ':')
			return 0;
		i++;
		a->routed = 1;
	}
	size_t start = i;
	if (!parse_mailbox(s, len, &i, flags, a))
		return 0;
	if (i >= len || s[i] != '>' || i - start > ADDR_PATH_MAX)
		return 0;
	return i + 1;
}

int addr_parse_mailbox(const char *s, size_t len, unsigned flags, struct addr *a)
{
	size_t i = 0;
	a->routed = a->quoted = a->literal = a->utf8 = 0;
	if (!parse_mailbox(s, len, &i, flags, a))
		return 0;
	return i == len;
}

void addr_format(const struct addr *a, struct str *out)
{
	out->len = 0;
	str_catb(out, a->local.s ? a->local.s : "", a->local.len);
	if (a->domain.len) {
		str_catc(out, '@');
		str_catb(out, a->domain.s, a->domain.len);
	}
	str_c(out);
}
