/* dsn.c - RFC 3464 delivery status notifications (see dsn.h). */
#include <string.h>

#include "date.h"
#include "dsn.h"

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1 to 3 digits at s; their count, or 0 */
static size_t digits3(const char *s)
{
	size_t n = 0;
	while (n < 4 && is_digit(s[n]))
		n++;
	return n >= 1 && n <= 3 ? n : 0;
}

void dsn_status(const char *diag, int cls, char out[DSN_STATUS_SIZE])
{
	char c = (char)('0' + cls);
	for (const char *p = diag ? diag : ""; *p; p++) {
		if (*p != c || p[1] != '.')
			continue;
		if (p > diag && (is_digit(p[-1]) || p[-1] == '.'))
			continue;
		size_t a = digits3(p + 2);
		if (!a || p[2 + a] != '.')
			continue;
		size_t b = digits3(p + 3 + a);
		if (!b)
			continue;
		const char *end = p + 3 + a + b;
		if (*end == '.' || is_digit(*end))
			continue;
		memcpy(out, p, (size_t)(end - p));
		out[end - p] = '\0';
		return;
	}
	out[0] = c;
	memcpy(out + 1, ".0.0", 5);
}

size_t dsn_header_len(const char *msg, size_t len)
{
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(msg + i, '\n', len - i);
		if (!nl)
			return len;
		size_t start = i;
		i = (size_t)(nl - msg) + 1;
		if (i - start == 1)
			return i;
	}
	return len;
}

/* printable ASCII only: anything else would break the report's syntax */
static void cat_ascii(struct str *out, const char *s, size_t max)
{
	for (size_t i = 0; s && s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		str_catc(out, (c < 0x20 || c >= 0x7f) ? '?' : (char)c);
	}
}

/*
 * Printable ASCII as cat_ascii, folded onto lines indented by four spaces:
 * a diagnostic is a remote server's text, and RFC 5322 §2.1.1 allows no
 * line longer than 998 octets (receivers, sluice's own included, refuse
 * such a bounce).  Folds at a space past column 72, or anywhere at 900.
 */
static void cat_ascii_folded(struct str *out, const char *s, size_t max)
{
	size_t col = 4;
	for (size_t i = 0; s && s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c == ' ' && col >= 72) || col >= 900) {
			str_cats(out, "\n    ");
			col = 4;
			if (c == ' ')
				continue;
		}
		str_catc(out, (c < 0x20 || c >= 0x7f) ? '?' : (char)c);
		col++;
	}
}

/*
 * An address as an RFC 3464 address-type; value: "rfc822; a@b", or for a
 * UTF-8 address RFC 6533's "utf-8; " with non-ASCII as \x{HEX}.
 */
static void cat_address(struct str *out, const char *a)
{
	int ascii = 1;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = 0;
	if (ascii) {
		str_cats(out, "rfc822; ");
		cat_ascii(out, a, 1000);
		return;
	}
	str_cats(out, "utf-8; ");
	const unsigned char *p = (const unsigned char *)a;
	while (*p) {
		unsigned cp = *p, need = 0;
		if (cp < 0x80) {
			str_catc(out, (cp < 0x20 || cp == 0x7f || cp == '\\') ? '?' : (char)cp);
			p++;
			continue;
		}
		if ((cp & 0xe0) == 0xc0)
			cp &= 0x1f, need = 1;
		else if ((cp & 0xf0) == 0xe0)
			cp &= 0x0f, need = 2;
		else if ((cp & 0xf8) == 0xf0)
			cp &= 0x07, need = 3;
		else {
			str_catc(out, '?');
			p++;
			continue;
		}
		unsigned i = 1;
		for (; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				break;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (i <= need) {
			str_catc(out, '?');
			p++;
			continue;
		}
		str_catf(out, "\\x{%X}", cp);
		p += need + 1;
	}
}

static void human_part(const struct dsn_report *r, struct str *out)
{
	str_catf(out, "This is the mail delivery system at %s.\n\n", r->me);
	if (r->delayed)
		str_cats(out,
			 "Your message has not been delivered yet to the recipients below.\n"
			 "Delivery is still being attempted; there is no need to send it\n"
			 "again.  You will be told if it finally fails.\n\n");
	else
		str_cats(out,
			 "Your message could not be delivered to the recipients below.\n"
			 "This is a permanent error: it will not be attempted again.\n"
			 "The reason is given after each address; the headers of your\n"
			 "message are attached.\n\n");
	for (size_t i = 0; i < r->nrcpt; i++) {
		const char *d = r->rcpt[i].diag;
		str_catc(out, '<');
		cat_ascii(out, r->rcpt[i].addr, 1000);
		str_cats(out, ">:\n    ");
		cat_ascii_folded(out, d && *d ? d : "(no reason given)", 2000);
		str_catc(out, '\n');
	}
}

static void status_part(const struct dsn_report *r, struct str *out)
{
	str_cats(out, "Reporting-MTA: dns; ");
	cat_ascii(out, r->me, 255);
	str_cats(out, "\nX-Sluice-Queue-ID: ");
	cat_ascii(out, r->id, 64);
	str_cats(out, "\nArrival-Date: ");
	date_rfc5322(r->arrival, out);
	str_catc(out, '\n');
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct dsn_rcpt *x = &r->rcpt[i];
		char st[DSN_STATUS_SIZE];
		if (x->status) {
			st[0] = '\0';
			strncat(st, x->status, sizeof st - 1);
		} else
			dsn_status(x->diag, r->delayed ? 4 : 5, st);
		str_cats(out, "\nFinal-Recipient: ");
		cat_address(out, x->addr);
		str_catf(out, "\nAction: %s\nStatus: %s\n", r->delayed ? "delayed" : "failed", st);
		if (x->last) {
			str_cats(out, "Last-Attempt-Date: ");
			date_rfc5322(x->last, out);
			str_catc(out, '\n');
		}
		if (x->diag && *x->diag) {
			str_cats(out, "Diagnostic-Code: smtp; ");
			cat_ascii(out, x->diag, 900);
			str_catc(out, '\n');
		}
	}
}

static int holds(const struct str *part, const char *b)
{
	return part->len && memmem(part->s, part->len, b, strlen(b)) != NULL;
}

void dsn_build(const struct dsn_report *r, struct str *out)
{
	struct str human = STR_INIT, ds = STR_INIT, hdr = STR_INIT, b = STR_INIT;
	human_part(r, &human);
	status_part(r, &ds);
	size_t hl = r->hlen;
	if (hl > DSN_HEADERS_MAX) {
		hl = DSN_HEADERS_MAX;
		while (hl && r->headers[hl - 1] != '\n')
			hl--;
	}
	str_catb(&hdr, r->headers ? r->headers : "", hl);
	if (hdr.len && hdr.s[hdr.len - 1] != '\n')
		str_catc(&hdr, '\n');
	while (hdr.len >= 2 && hdr.s[hdr.len - 1] == '\n' && hdr.s[hdr.len - 2] == '\n')
		hdr.len--; /* the blank line ending the section is not part of it */
	if (hdr.len == 1)
		hdr.len = 0;
	/* a boundary that none of the parts contains (the headers are the sender's) */
	for (unsigned n = 0;; n++) {
		str_copys(&b, "");
		str_catf(&b, "=_sluice_%s_%lld_%u", r->id, (long long)r->now, n);
		if (!holds(&human, b.s) && !holds(&ds, b.s) && !holds(&hdr, b.s))
			break;
	}

	str_cats(out, "From: Mail Delivery System <MAILER-DAEMON@");
	cat_ascii(out, r->me, 255);
	str_cats(out, ">\nTo: <");
	cat_ascii(out, r->to, 1000);
	str_catf(out, ">\nSubject: %s\nDate: ",
		 r->delayed ? "Delayed mail (still being retried)" : "Undelivered mail returned to sender");
	date_rfc5322(r->now, out);
	str_cats(out, "\nMessage-ID: <");
	cat_ascii(out, r->id, 64);
	str_catf(out, ".%s.%lld@", r->delayed ? "delay" : "bounce", (long long)r->now);
	cat_ascii(out, r->me, 255);
	str_catf(out,
		 ">\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
		 "Content-Type: multipart/report; report-type=delivery-status;\n"
		 "\tboundary=\"%s\"\n\n"
		 "This is a MIME-encapsulated delivery status notification.\n\n",
		 b.s);
	str_catf(out, "--%s\nContent-Type: text/plain; charset=us-ascii\n"
		      "Content-Description: Notification\n\n", b.s);
	str_catb(out, human.s, human.len);
	str_catf(out, "\n--%s\nContent-Type: message/delivery-status\n"
		      "Content-Description: Delivery report\n\n", b.s);
	str_catb(out, ds.s, ds.len);
	str_catf(out, "\n--%s\nContent-Type: text/rfc822-headers\n"
		      "Content-Description: Undelivered message headers\n\n", b.s);
	str_catb(out, hdr.s ? hdr.s : "", hdr.len);
	str_catf(out, "\n--%s--\n", b.s);
	str_free(&human);
	str_free(&ds);
	str_free(&hdr);
	str_free(&b);
}
