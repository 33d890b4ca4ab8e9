/*
 * smtp_reply.c - reading SMTP replies and EHLO keywords (see smtp_reply.h).
 *
 * A reply line is "NNN" then " " (the last line), "-" (more follow) or
 * nothing (RFC 5321 §4.2.1 allows a bare code on the last line).  Every
 * line of a multi-line reply must carry the same code; anything else is a
 * malformed reply rather than something to guess at.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "smtp_reply.h"

void smtp_text_clean(struct str *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		str_catc(out, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c);
	}
}

int smtp_reply_read(struct bio *in, struct str *text, struct str *lines)
{
	struct str line = STR_INIT;
	str_truncate(text, 0);
	str_truncate(lines, 0);
	int code = SMTP_REPLY_BAD;
	for (size_t n = 0;; n++) {
		int r = bio_getline(in, &line, SMTP_REPLY_LINE_MAX);
		if (r == BIO_EOF || r == BIO_ERR) {
			code = r == BIO_EOF ? SMTP_REPLY_EOF : SMTP_REPLY_ERR;
			break;
		}
		while (line.len && (line.s[line.len - 1] == '\n' || line.s[line.len - 1] == '\r'))
			line.len--;
		int c = -1;
		if (line.len >= 3 && line.s[0] >= '1' && line.s[0] <= '5' && line.s[1] >= '0' && line.s[1] <= '9' &&
		    line.s[2] >= '0' && line.s[2] <= '9' && (line.len == 3 || line.s[3] == ' ' || line.s[3] == '-'))
			c = (line.s[0] - '0') * 100 + (line.s[1] - '0') * 10 + (line.s[2] - '0');
		if (c < 0 || (n && c != code) || n >= SMTP_REPLY_LINES_MAX) {
			code = SMTP_REPLY_BAD;
			break;
		}
		code = c;
		if (text->len < SMTP_REPLY_TEXT_MAX) {
			if (n)
				str_catc(text, ' ');
			smtp_text_clean(text, line.s, line.len);
		}
		if (lines->len < SMTP_REPLY_LINES_KEEP) {
			smtp_text_clean(lines, line.s, line.len);
			str_catc(lines, '\n');
		}
		if (line.len == 3 || line.s[3] == ' ')
			break;
	}
	int e = errno;
	str_free(&line);
	str_c(text); /* never NULL, even for a reply that never came */
	str_c(lines);
	errno = e;
	return code;
}

void smtp_ehlo_parse(const char *lines, struct smtp_ehlo *e)
{
	memset(e, 0, sizeof *e);
	const char *p = lines;
	int first = 1; /* the greeting line names the server, it is no keyword */
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (!first && len > 4) {
			char kw[64];
			const char *t = p + 4;
			size_t k = 0;
			while (k < sizeof kw - 1 && t + k < p + len && t[k] != ' ' && t[k] != '=') {
				kw[k] = (char)(t[k] >= 'a' && t[k] <= 'z' ? t[k] - 32 : t[k]);
				k++;
			}
			kw[k] = '\0';
			const char *arg = t + k;
			size_t arglen = (size_t)(p + len - arg);
			if (arglen && (*arg == ' ' || *arg == '=')) {
				arg++;
				arglen--;
			}
			if (!strcmp(kw, "PIPELINING"))
				e->pipelining = 1;
			else if (!strcmp(kw, "8BITMIME"))
				e->eightbitmime = 1;
			else if (!strcmp(kw, "SMTPUTF8"))
				e->smtputf8 = 1;
			else if (!strcmp(kw, "STARTTLS"))
				e->starttls = 1;
			else if (!strcmp(kw, "SIZE")) {
				e->has_size = 1;
				size_t dl = 0;
				while (dl < arglen && arg[dl] >= '0' && arg[dl] <= '9')
					dl++;
				if (!dl || !scan_ull(arg, dl, &e->size))
					e->size = 0; /* no limit announced */
			} else if (!strcmp(kw, "AUTH")) {
				for (size_t i = 0; i < arglen;) {
					size_t x = i;
					while (x < arglen && arg[x] != ' ')
						x++;
					if (x - i == 5 && !strncasecmp(arg + i, "PLAIN", 5))
						e->auth_plain = 1;
					if (x - i == 5 && !strncasecmp(arg + i, "LOGIN", 5))
						e->auth_login = 1;
					i = x + 1;
				}
			}
		}
		first = 0;
		p = nl ? nl + 1 : NULL;
	}
}
