/* qstate.c - queue-run's append-only per-message record (see qstate.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "bio.h"
#include "conf.h"
#include "qstate.h"

void qstate_init(struct qstate *st, size_t nrcpt)
{
	memset(st, 0, sizeof *st);
	st->n = nrcpt;
	st->r = xcalloc(nrcpt ? nrcpt : 1, sizeof *st->r);
}

void qstate_free(struct qstate *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->r[i].text);
	free(st->r);
	memset(st, 0, sizeof *st);
}

/* next space-separated word of [*p, end) as a number; 0 if none */
static int word_num(const char **p, const char *end, unsigned long long *v)
{
	const char *s = *p;
	while (s < end && *s == ' ')
		s++;
	const char *w = s;
	while (s < end && *s != ' ')
		s++;
	*p = s;
	return scan_ull(w, (size_t)(s - w), v);
}

static int keyword(const char **p, const char *end, const char *kw)
{
	size_t n = strlen(kw);
	if ((size_t)(end - *p) < n || memcmp(*p, kw, n) != 0)
		return 0;
	if (*p + n < end && (*p)[n] != ' ')
		return 0;
	*p += n;
	return 1;
}

static void set_rcpt(struct qstate *st, int state, const char *p, const char *end)
{
	unsigned long long idx, t;
	if (!word_num(&p, end, &idx) || !word_num(&p, end, &t) || idx >= st->n)
		return;
	struct qstate_rcpt *r = &st->r[idx];
	/* delivered and bounced are final: a late line cannot revive them */
	if (r->state == QR_DONE || r->state == QR_BOUNCED)
		return;
	if (p < end && *p == ' ')
		p++;
	r->state = state;
	r->when = (time_t)t;
	if (state == QR_BOUNCED)
		return;
	free(r->text);
	r->text = xstrndup(p, (size_t)(end - p));
}

static void parse_line(struct qstate *st, const char *p, const char *end)
{
	unsigned long long a, b, c;
	if (keyword(&p, end, "ok"))
		set_rcpt(st, QR_DONE, p, end);
	else if (keyword(&p, end, "defer"))
		set_rcpt(st, QR_PENDING, p, end);
	else if (keyword(&p, end, "fail"))
		set_rcpt(st, QR_FAILED, p, end);
	else if (keyword(&p, end, "bounced"))
		set_rcpt(st, QR_BOUNCED, p, end);
	else if (keyword(&p, end, "try")) {
		if (!word_num(&p, end, &a) || !word_num(&p, end, &b) || !word_num(&p, end, &c))
			return;
		if (!st->first)
			st->first = (time_t)a;
		st->last = (time_t)a;
		st->attempts = (unsigned long)b;
		st->next = (time_t)c;
	} else if (keyword(&p, end, "warned")) {
		if (word_num(&p, end, &a))
			st->warned = (time_t)a;
	}
}

void qstate_parse(struct qstate *st, const char *buf, size_t len)
{
	size_t i = 0;
	for (;;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		if (!nl)
			break; /* a torn tail: ignored, and not counted as valid */
		parse_line(st, buf + i, nl);
		i = (size_t)(nl - buf) + 1;
	}
	st->valid += (off_t)i;
}

int qstate_read(int fd, struct qstate *st)
{
	struct str buf = STR_INIT;
	off_t off = 0;
	for (;;) {
		str_ready(&buf, 65536);
		ssize_t r = pread(fd, buf.s + buf.len, 65536, off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			str_free(&buf);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		buf.len += (size_t)r;
		off += r;
		if (buf.len > QSTATE_FILE_MAX) {
			str_free(&buf);
			errno = EFBIG;
			return -1;
		}
	}
	st->valid = 0;
	qstate_parse(st, buf.s ? buf.s : "", buf.len);
	str_free(&buf);
	return 0;
}

int qstate_store(int fd, off_t at, const struct str *lines)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return -1;
	/* cut a torn last line off, or the next record would be glued to it */
	if (sb.st_size != at && ftruncate(fd, at) < 0)
		return -1;
	return fd_pwrite_all(fd, lines->s, lines->len, at);
}

int qstate_write(int fd, struct qstate *st, const struct str *lines)
{
	if (qstate_store(fd, st->valid, lines) < 0)
		return -1;
	qstate_parse(st, lines->s, lines->len);
	return 0;
}

int qstate_append(int fd, struct qstate *st, const struct str *lines)
{
	return qstate_write(fd, st, lines) < 0 || fdatasync(fd) < 0 ? -1 : 0;
}

void qstate_clean_text(struct str *out, const char *text, size_t len, size_t max)
{
	size_t start = out->len, n = len < max ? len : max;
	str_catb(out, text, n); /* at once, then cleaned in place: every result passes here */
	for (size_t i = start; i < start + n; i++) {
		unsigned char c = (unsigned char)out->s[i];
		if (c < 0x20 || c == 0x7f)
			out->s[i] = ' ';
	}
	/* trailing blanks from a CRLF or LF add nothing */
	while (out->len > start && out->s[out->len - 1] == ' ')
		out->len--;
	str_c(out);
}

void qstate_rcpt_line(struct str *out, const char *kw, size_t idx, time_t t, const char *text)
{
	str_catf(out, "%s %zu %lld", kw, idx, (long long)t);
	if (text && *text) {
		str_catc(out, ' ');
		qstate_clean_text(out, text, strlen(text), QSTATE_TEXT_MAX);
	}
	str_catc(out, '\n');
}

void qstate_summary(const struct qstate *st, struct str *out)
{
	static const char *const kw[] = { "defer", "ok", "fail", "bounced" };
	for (size_t i = 0; i < st->n; i++) {
		const struct qstate_rcpt *r = &st->r[i];
		if (r->state != QR_PENDING || r->text)
			qstate_rcpt_line(out, kw[r->state], i, r->when, r->text);
	}
	/* the first "try" keeps the first attempt's time; the last wins the rest */
	if (st->first && st->first != st->last)
		str_catf(out, "try %lld %lu %lld\n", (long long)st->first, st->attempts, (long long)st->next);
	if (st->last)
		str_catf(out, "try %lld %lu %lld\n", (long long)st->last, st->attempts, (long long)st->next);
	if (st->warned)
		str_catf(out, "warned %lld\n", (long long)st->warned);
}

size_t qstate_pending(const struct qstate *st)
{
	size_t n = 0;
	for (size_t i = 0; i < st->n; i++)
		n += st->r[i].state == QR_PENDING;
	return n;
}

size_t qstate_owed(const struct qstate *st)
{
	size_t n = 0;
	for (size_t i = 0; i < st->n; i++)
		n += st->r[i].state == QR_FAILED;
	return n;
}
