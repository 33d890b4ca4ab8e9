/*
 * sendmail - the sendmail(8) command line that cron, mail(1) and scripts
 * expect, feeding the queue program (DESIGN.md contract 1).
 *
 *   sendmail [-t] [-i|-oi] [-f sender] [-F name] [-bm] [--] [recipient ...]
 *
 * The message comes on stdin with LF line endings (a CR before an LF is
 * dropped).  Unless -i or -oi is given, a line holding only "." ends it.
 * A leading mbox "From " line is dropped.  Date:, Message-ID: and From:
 * are added when the message has none; Bcc: is always removed.  With -t
 * the recipients of To:, Cc: and Bcc: (Resent-To:, Resent-Cc:,
 * Resent-Bcc: when the message has any of them) are added to those on
 * the command line.
 *
 * The default domain (for the default sender, From: and unqualified
 * recipients) is the first plain domain in `locals`, else `me`; so mail to
 * "root" stays on this host.  Exit codes are sysexits(3), as callers of
 * sendmail expect: 0 queued, 64 usage, 65 bad address or header, 69 refused
 * permanently by the queue, 74 input error, 75 temporary failure.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "alloc.h"
#include "bio.h"
#include "conf.h"
#include "date.h"
#include "die.h"
#include "envelope.h"
#include "header.h"
#include "chain.h"
#include "child.h"
#include "qid.h"
#include "str.h"

#define HEADER_MAX (1u << 20)
#define CHUNK (64u << 10) /* longer lines pass in pieces */

struct opts {
	int t, i;
	const char *sender; /* -f, NULL for the default */
	const char *name;   /* -F */
	char **rcpt;
	int nrcpt;
};

/* stdin as lines, with CRLF made LF and the lone-dot end applied */
struct reader {
	struct bio in;
	int dot_ends;
	int bol;
	int done;
};

/* next line (or CHUNK-sized piece of one) into line; 0 at the end of input */
static int next_line(struct reader *r, struct str *line)
{
	str_copys(line, "");
	if (r->done)
		return 0;
	for (;;) {
		if (bio_buffered(&r->in) == 0) {
			ssize_t n = bio_fill(&r->in);
			if (n < 0)
				die_sys(EX_IOERR, "unable to read the message");
			if (n == 0) {
				r->done = 1;
				break;
			}
		}
		const char *p = bio_peek(&r->in);
		size_t avail = bio_buffered(&r->in);
		size_t want = CHUNK - line->len;
		const char *lf = memchr(p, '\n', avail < want ? avail : want);
		size_t take = lf ? (size_t)(lf - p) + 1 : (avail < want ? avail : want);
		str_catb(line, p, take);
		bio_skip(&r->in, take);
		if (lf || line->len >= CHUNK)
			break;
	}
	int whole = line->len && line->s[line->len - 1] == '\n';
	if (whole && line->len >= 2 && line->s[line->len - 2] == '\r') {
		line->s[line->len - 2] = '\n';
		str_truncate(line, line->len - 1);
	}
	if (r->bol && r->dot_ends && (strcmp(line->s, ".\n") == 0 || strcmp(line->s, ".") == 0)) {
		r->done = 1;
		str_copys(line, "");
		return 0;
	}
	r->bol = whole;
	return line->len > 0;
}

__attribute__((noreturn))
static void usage(const char *why)
{
	fprintf(stderr, "sendmail: fatal: %s\n"
			"usage: sendmail [-t] [-i] [-oi] [-f sender] [-F name] [--] [recipient ...]\n",
		why);
	exit(EX_USAGE);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int k = 1;
	for (; k < argc && argv[k][0] == '-' && argv[k][1]; k++) {
		const char *a = argv[k];
		if (strcmp(a, "--") == 0) {
			k++;
			break;
		}
		switch (a[1]) {
		case 't':
		case 'i':
		case 'v':
		case 'U':
		case 'G':
			if (a[2])
				goto bad;
			if (a[1] == 't')
				o->t = 1;
			if (a[1] == 'i')
				o->i = 1;
			break;
		case 'o':
			/* -oi as -i; delivery mode and error mode options mean nothing here */
			if (strcmp(a, "-oi") == 0)
				o->i = 1;
			else if (a[2] != 'd' && a[2] != 'e' && strcmp(a, "-om") != 0 &&
				 strcmp(a, "-oem") != 0)
				goto bad;
			break;
		case 'b':
			if (strcmp(a, "-bm") == 0)
				break;
			if (strcmp(a, "-bi") == 0) { /* newaliases */
				execlp("sluice-tables", "sluice-tables", (char *)NULL);
				die_sys(EX_UNAVAILABLE, "unable to run sluice-tables");
			}
			usage("only -bm (and -bi) modes are supported");
		case 'f':
		case 'r':
		case 'F':
		case 'B':
		case 'N':
		case 'R':
		case 'V':
		case 'L': {
			const char *v = a[2] ? a + 2 : (k + 1 < argc ? argv[++k] : NULL);
			if (!v)
				usage("option needs an argument");
			if (a[1] == 'f' || a[1] == 'r')
				o->sender = v;
			else if (a[1] == 'F')
				o->name = v;
			break; /* -B, -N, -R, -V, -L: body type, DSN and labels are ignored */
		}
		default:
			goto bad;
		}
		continue;
bad:
		fprintf(stderr, "sendmail: fatal: unsupported option %s (see sendmail(8))\n", a);
		exit(EX_USAGE);
	}
	o->rcpt = argv + k;
	o->nrcpt = argc - k;
}

/* first plain (not ".sub") domain of locals, else me */
static void default_domain(struct str *out)
{
	struct conf_list l;
	if (conf_list_read("locals", &l) < 0)
		die_sys(EX_TEMPFAIL, "unable to read locals");
	for (size_t i = 0; i < l.n; i++)
		if (l.item[i][0] != '.') {
			str_copys(out, l.item[i]);
			conf_list_free(&l);
			return;
		}
	conf_list_free(&l);
	int r = conf_line("me", out);
	if (r < 0)
		die_sys(EX_TEMPFAIL, "unable to read me");
	if (r > 0)
		die(EX_TEMPFAIL, "no domain: %s/locals and %s/me are empty", conf_dir(), conf_dir());
}

struct rcpts {
	struct envelope *env;
	const char *domain;
};

static void add_rcpt(void *arg, const char *s, size_t n)
{
	struct rcpts *r = arg;
	struct str a = STR_INIT;
	str_catb(&a, s, n);
	if (!memchr(s, '@', n))
		str_catf(&a, "@%s", r->domain);
	struct addr parsed;
	addr_init(&parsed);
	if (!addr_parse_mailbox(a.s, a.len, ADDR_UTF8_OK, &parsed))
		die(EX_DATAERR, "bad recipient address: %s", a.s);
	addr_free(&parsed);
	envelope_add_rcpt(r->env, a.s);
	str_free(&a);
}

/* a display name as a quoted-string, or an RFC 2047 word when not ASCII */
static void display_name(const char *name, struct str *out)
{
	int ascii = 1;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = 0;
	if (ascii) {
		str_catc(out, '"');
		for (const char *p = name; *p; p++) {
			if (*p == '\r' || *p == '\n')
				continue;
			if (*p == '"' || *p == '\\')
				str_catc(out, '\\');
			str_catc(out, *p);
		}
		str_catc(out, '"');
		return;
	}
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)name;
	size_t n = strlen(name);
	str_cats(out, "=?UTF-8?B?");
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		str_catc(out, b64[v >> 18 & 63]);
		str_catc(out, b64[v >> 12 & 63]);
		str_catc(out, i + 1 < n ? b64[v >> 6 & 63] : '=');
		str_catc(out, i + 2 < n ? b64[v & 63] : '=');
	}
	str_cats(out, "?=");
}

static int is_bcc(const struct header_field *f)
{
	return header_name_is(f, "Bcc") || header_name_is(f, "Resent-Bcc");
}

int main(int argc, char **argv)
{
	struct opts o;
	memset(&o, 0, sizeof o);
	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);

	struct str domain = STR_INIT, me = STR_INIT;
	default_domain(&domain);
	if (conf_line("me", &me) != 0)
		str_copys(&me, domain.s);
	struct passwd *pw = getpwuid(getuid());
	struct str login = STR_INIT;
	if (pw)
		str_copys(&login, pw->pw_name);
	else
		str_catf(&login, "uid%ld", (long)getuid());

	struct envelope env = ENVELOPE_INIT;
	struct str sender = STR_INIT;
	if (o.sender) {
		const char *s = o.sender;
		size_t n = strlen(s);
		if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
			s++, n -= 2;
		str_catb(&sender, s, n);
		if (n && !memchr(s, '@', n))
			str_catf(&sender, "@%s", domain.s);
		struct addr a;
		addr_init(&a);
		if (sender.len && !addr_parse_mailbox(sender.s, sender.len, ADDR_UTF8_OK, &a))
			die(EX_DATAERR, "bad sender address: %s", sender.s);
		addr_free(&a);
	} else {
		str_catf(&sender, "%s@%s", login.s, domain.s);
	}
	envelope_set_sender(&env, sender.len ? sender.s : "");

	/* the header, up to the first line that is not part of it */
	struct reader r;
	memset(&r, 0, sizeof r);
	bio_init(&r.in, 0, 65536, -1);
	r.dot_ends = !o.i;
	r.bol = 1;
	struct str hdr = STR_INIT, line = STR_INIT;
	int more;
	int first = 1, in_field = 0;
	str_copys(&hdr, "");
	while ((more = next_line(&r, &line))) {
		if (first && strncmp(line.s, "From ", 5) == 0) {
			first = 0;
			continue; /* an mbox separator, not a header field */
		}
		first = 0;
		int cont = in_field && (line.s[0] == ' ' || line.s[0] == '\t');
		if (!cont && !header_is_field(line.s, line.len))
			break;
		if (hdr.len + line.len > HEADER_MAX)
			die(EX_DATAERR, "the header is longer than %u bytes", HEADER_MAX);
		in_field = 1;
		str_catb(&hdr, line.s, line.len);
	}

	/* what is there, who it goes to, and the header without Bcc */
	int has_date = 0, has_from = 0, has_msgid = 0, resent = 0;
	struct header_field f;
	size_t pos = 0;
	while (header_next(hdr.s, hdr.len, &pos, &f)) {
		has_date |= header_name_is(&f, "Date");
		has_from |= header_name_is(&f, "From");
		has_msgid |= header_name_is(&f, "Message-ID");
		resent |= header_name_is(&f, "Resent-To") || header_name_is(&f, "Resent-Cc") ||
			  header_name_is(&f, "Resent-Bcc");
	}
	struct rcpts rc = { &env, domain.s };
	for (int k = 0; k < o.nrcpt; k++)
		if (header_addr_list(o.rcpt[k], strlen(o.rcpt[k]), add_rcpt, &rc) < 0)
			die(EX_DATAERR, "bad recipient list: %s", o.rcpt[k]);
	struct str out = STR_INIT;
	str_copys(&out, "");
	pos = 0;
	while (header_next(hdr.s, hdr.len, &pos, &f)) {
		static const char *const plain[] = { "To", "Cc", "Bcc" };
		static const char *const re[] = { "Resent-To", "Resent-Cc", "Resent-Bcc" };
		for (int k = 0; o.t && k < 3; k++)
			if (header_name_is(&f, resent ? re[k] : plain[k]) &&
			    header_addr_list(f.value, f.valuelen, add_rcpt, &rc) < 0)
				die(EX_DATAERR, "bad address list in %s:", resent ? re[k] : plain[k]);
		if (!is_bcc(&f))
			str_catb(&out, f.raw, f.rawlen);
	}
	if (env.nrcpt == 0)
		usage("no recipients");
	if (!has_from) {
		const char *name = o.name;
		if (!name || !*name)
			name = getenv("NAME");
		struct str gecos = STR_INIT;
		if ((!name || !*name) && pw && pw->pw_gecos) {
			str_catb(&gecos, pw->pw_gecos, strcspn(pw->pw_gecos, ","));
			name = gecos.s;
		}
		str_cats(&out, "From: ");
		if (name && *name) {
			display_name(name, &out);
			str_catf(&out, " <%s@%s>\n", login.s, domain.s);
		} else {
			str_catf(&out, "%s@%s\n", login.s, domain.s);
		}
		str_free(&gecos);
	}
	if (!has_date) {
		str_cats(&out, "Date: ");
		date_rfc5322(time(NULL), &out);
		str_catc(&out, '\n');
	}
	if (!has_msgid) {
		char id[QID_SIZE];
		qid_make(id);
		str_catf(&out, "Message-ID: <%s@%s>\n", id, me.s);
	}
	/* the line that ended the header; a body with no empty line before it gets one */
	if (more && strcmp(line.s, "\n") != 0)
		str_catc(&out, '\n');
	if (more)
		str_catb(&out, line.s, line.len);

	struct chain q;
	char **qargv = chain_argv_queue();
	if (chain_start(&q, qargv, -1) < 0)
		die_sys(EX_TEMPFAIL, "unable to start the queue program");
	child_argv_free(qargv);
	int ok = chain_write(&q, out.s, out.len) == 0;
	while (ok && next_line(&r, &line))
		ok = chain_write(&q, line.s, line.len) == 0;
	struct str why = STR_INIT, custom = STR_INIT;
	int code = chain_finish(&q, &env, &custom);
	int permanent = chain_explain(code, &custom, &why);
	if (code != 0)
		die(permanent ? EX_UNAVAILABLE : EX_TEMPFAIL, "%s: message not sent", why.s);
	str_free(&why);
	str_free(&custom);
	str_free(&out);
	str_free(&hdr);
	str_free(&line);
	bio_free(&r.in);
	envelope_free(&env);
	str_free(&sender);
	str_free(&login);
	str_free(&me);
	str_free(&domain);
	return 0;
}
