/*
 * dkim.c - DKIM verify and sign over libopendkim (dkim.h).
 *
 * libopendkim keeps one library handle per configuration; each struct
 * sdkim owns its own, so nothing is shared between messages and no state
 * lives outside the caller's objects.  Key records come from dns_txt
 * (dns.h) via the key lookup callback, never from libopendkim's own
 * resolver.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <opendkim/dkim.h>

#include "alloc.h"
#include "conf.h"
#include "dkim.h"

struct sdkim {
	DKIM_LIB *lib;
	DKIM *dkim;
	struct dns *dns;
	int cr;            /* the last body byte fed was CR */
	int tryagain;      /* a key lookup failed temporarily */
	struct str buf;    /* CRLF conversion */
};

const char *sdkim_result_name(enum sdkim_res r)
{
	static const char *const n[] = { "pass", "fail", "neutral", "temperror", "permerror" };
	return (unsigned)r < 5 ? n[r] : "permerror";
}

static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct sdkim *d = dkim_get_user_context(dkim);
	const char *sel = (const char *)dkim_sig_getselector(sig);
	const char *dom = (const char *)dkim_sig_getdomain(sig);
	if (!d || !sel || !dom || buflen == 0)
		return DKIM_CBSTAT_ERROR;
	struct str name = STR_INIT;
	str_catf(&name, "%s._domainkey.%s", sel, dom);
	struct dns_strs txt = DNS_STRS_INIT;
	struct str err = STR_INIT; /* libopendkim reports the lookup in its own words */
	int st = dns_txt(d->dns, name.s, &txt, &err);
	str_free(&err);
	str_free(&name);
	if (st == DNS_TEMP)
		return DKIM_CBSTAT_TRYAGAIN;
	if (st != DNS_OK || txt.n == 0) {
		dns_strs_free(&txt);
		return DKIM_CBSTAT_NOTFOUND;
	}
	/* RFC 6376 3.6.2.2: several records are for the verifier to choose; take the first */
	size_t len = strlen(txt.s[0]);
	size_t n = len < buflen - 1 ? len : buflen - 1;
	memcpy(buf, txt.s[0], n);
	buf[n] = 0;
	dns_strs_free(&txt);
	return DKIM_CBSTAT_CONTINUE;
}

static struct sdkim *new_ctx(void)
{
	struct sdkim *d = xcalloc(1, sizeof *d);
	d->lib = dkim_init(NULL, NULL);
	if (!d->lib) {
		free(d);
		return NULL;
	}
	return d;
}

struct sdkim *sdkim_verify_new(struct dns *dns)
{
	struct sdkim *d = new_ctx();
	if (!d)
		return NULL;
	d->dns = dns;
	DKIM_STAT st;
	dkim_set_key_lookup(d->lib, key_lookup);
	d->dkim = dkim_verify(d->lib, (const u_char *)"verify", NULL, &st);
	if (!d->dkim) {
		sdkim_free(d);
		return NULL;
	}
	dkim_set_user_context(d->dkim, d);
	return d;
}

/* RFC 6376 5.4.1, plus the fields whose change alters what a reader sees */
static const char *const sign_headers[] = {
	"from", "reply-to", "subject", "date", "to", "cc", "resent-date", "resent-from",
	"resent-to", "resent-cc", "in-reply-to", "references", "list-id", "list-help",
	"list-unsubscribe", "list-subscribe", "list-post", "list-owner", "list-archive",
	"message-id", "mime-version", "content-type", "content-transfer-encoding",
	"sender", "list-unsubscribe-post", NULL,
};
static const char *const oversign_headers[] = { "from", NULL };

struct sdkim *sdkim_sign_new(const char *domain, const char *selector, const char *key, size_t keylen,
			     const char *alg, const char **err)
{
	dkim_alg_t a;
	if (!alg || strcmp(alg, "rsa") == 0)
		a = DKIM_SIGN_RSASHA256;
	else if (strcmp(alg, "ed25519") == 0)
		a = DKIM_SIGN_ED25519SHA256;
	else {
		*err = "unknown algorithm (rsa or ed25519)";
		return NULL;
	}
	struct sdkim *d = new_ctx();
	if (!d) {
		*err = "unable to start libopendkim";
		return NULL;
	}
	if (dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, (void *)sign_headers, sizeof(char **)) !=
		    DKIM_STAT_OK ||
	    dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, (void *)oversign_headers,
			 sizeof(char **)) != DKIM_STAT_OK) {
		*err = "unable to set the header fields to sign";
		sdkim_free(d);
		return NULL;
	}
	/* libopendkim wants the key NUL-terminated */
	str_copyb(&d->buf, key, keylen);
	DKIM_STAT st;
	d->dkim = dkim_sign(d->lib, (const u_char *)"sign", NULL, (dkim_sigkey_t)d->buf.s,
			    (const u_char *)selector, (const u_char *)domain, DKIM_CANON_RELAXED,
			    DKIM_CANON_RELAXED, a, -1, &st);
	/* the key stays out of memory we keep using */
	explicit_bzero(d->buf.s, d->buf.len);
	str_truncate(&d->buf, 0);
	if (!d->dkim) {
		*err = dkim_getresultstr(st);
		sdkim_free(d);
		return NULL;
	}
	return d;
}

void sdkim_free(struct sdkim *d)
{
	if (!d)
		return;
	if (d->dkim)
		dkim_free(d->dkim);
	if (d->lib)
		dkim_close(d->lib);
	str_free(&d->buf);
	free(d);
}

/* LF to CRLF, keeping CRLF as it is; cr carries a CR across calls */
static void crlf(struct str *out, const char *s, size_t n, int *cr)
{
	str_truncate(out, 0);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && !*cr)
			str_catc(out, '\r');
		str_catc(out, s[i]);
		*cr = s[i] == '\r';
	}
}

int sdkim_header(struct sdkim *d, const char *field, size_t len)
{
	int cr = 0;
	while (len && (field[len - 1] == '\n' || field[len - 1] == '\r'))
		len--;
	crlf(&d->buf, field, len, &cr);
	return dkim_header(d->dkim, (u_char *)d->buf.s, d->buf.len) == DKIM_STAT_OK ? 0 : -1;
}

int sdkim_eoh(struct sdkim *d)
{
	DKIM_STAT st = dkim_eoh(d->dkim);
	if (st == DKIM_STAT_CBTRYAGAIN || st == DKIM_STAT_KEYFAIL)
		d->tryagain = 1;
	/* no signature, or no key, is a verdict, not a failure to process */
	return st == DKIM_STAT_SYNTAX || st == DKIM_STAT_NORESOURCE || st == DKIM_STAT_INTERNAL ||
			       st == DKIM_STAT_INVALID
		       ? -1
		       : 0;
}

int sdkim_body(struct sdkim *d, const char *buf, size_t len)
{
	if (len == 0)
		return 0;
	crlf(&d->buf, buf, len, &d->cr);
	DKIM_STAT st = dkim_body(d->dkim, (u_char *)d->buf.s, d->buf.len);
	return st == DKIM_STAT_OK || st == DKIM_STAT_NOSIG ? 0 : -1;
}

static enum sdkim_res classify(DKIM_SIGINFO *sig, int tryagain)
{
	int err = dkim_sig_geterror(sig);
	/* libopendkim leaves no error code on a signature whose key lookup said "try again" */
	if (tryagain && (err == DKIM_SIGERROR_UNKNOWN || !(dkim_sig_getflags(sig) & DKIM_SIGFLAG_KEYLOADED)) &&
	    err != DKIM_SIGERROR_NOKEY)
		return SDKIM_TEMPERROR;
	if (err == DKIM_SIGERROR_OK && (dkim_sig_getflags(sig) & DKIM_SIGFLAG_PASSED) &&
	    dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH)
		return SDKIM_PASS;
	switch (err) {
	case DKIM_SIGERROR_OK:
	case DKIM_SIGERROR_BADSIG:
	case DKIM_SIGERROR_CORRUPT_B:
		return SDKIM_FAIL;
	case DKIM_SIGERROR_KEYFAIL:
		return SDKIM_TEMPERROR;
	case DKIM_SIGERROR_NOKEY:
	case DKIM_SIGERROR_DNSSYNTAX:
	case DKIM_SIGERROR_MULTIREPLY:
	case DKIM_SIGERROR_KEYVERSION:
	case DKIM_SIGERROR_KEYUNKNOWNHASH:
	case DKIM_SIGERROR_KEYHASHMISMATCH:
	case DKIM_SIGERROR_NOTEMAILKEY:
	case DKIM_SIGERROR_KEYTYPEMISSING:
	case DKIM_SIGERROR_KEYTYPEUNKNOWN:
	case DKIM_SIGERROR_KEYREVOKED:
	case DKIM_SIGERROR_KEYDECODE:
	case DKIM_SIGERROR_KEYTOOSMALL:
		return SDKIM_PERMERROR;
	default:
		/* a malformed or expired signature: neither pass nor fail (RFC 8601 2.7.1) */
		return SDKIM_NEUTRAL;
	}
}

static void copy_tag(char *dst, size_t max, const u_char *src)
{
	size_t n = 0;
	for (; src && src[n] && n + 1 < max; n++)
		dst[n] = (char)(src[n] >= ' ' && src[n] < 127 && src[n] != ';' && src[n] != '"' ? src[n] : '?');
	dst[n] = 0;
}

int sdkim_verify_eom(struct sdkim *d, struct sdkim_sig **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DKIM_STAT st = dkim_eom(d->dkim, NULL);
	if (st == DKIM_STAT_NOSIG)
		return 0;
	if (st == DKIM_STAT_CBTRYAGAIN || st == DKIM_STAT_KEYFAIL)
		d->tryagain = 1;
	DKIM_SIGINFO **sigs;
	int nsigs = 0;
	/* a failed key fetch ends dkim_eom early, yet every signature still has its verdict */
	if (dkim_getsiglist(d->dkim, &sigs, &nsigs) != DKIM_STAT_OK || nsigs <= 0)
		return st == DKIM_STAT_OK || st == DKIM_STAT_BADSIG ? 0 : -1;
	*out = xcalloc((size_t)nsigs, sizeof **out);
	for (int i = 0; i < nsigs; i++) {
		DKIM_SIGINFO *sig = sigs[i];
		struct sdkim_sig *s = &(*out)[(*n)++];
		if (!(dkim_sig_getflags(sig) & DKIM_SIGFLAG_PROCESSED))
			dkim_sig_process(d->dkim, sig);
		s->result = classify(sig, d->tryagain);
		copy_tag(s->domain, sizeof s->domain, dkim_sig_getdomain(sig));
		copy_tag(s->selector, sizeof s->selector, dkim_sig_getselector(sig));
		copy_tag(s->identity, sizeof s->identity, dkim_sig_gettagvalue(sig, 0, (u_char *)"i"));
		copy_tag(s->b, 9, dkim_sig_gettagvalue(sig, 0, (u_char *)"b"));
		dkim_alg_t alg;
		s->alg = "unknown";
		if (dkim_sig_getsignalg(sig, &alg) == DKIM_STAT_OK)
			s->alg = alg == DKIM_SIGN_RSASHA1 ? "rsa-sha1"
				 : alg == DKIM_SIGN_RSASHA256 ? "rsa-sha256"
				 : alg == DKIM_SIGN_ED25519SHA256 ? "ed25519-sha256" : "unknown";
		unsigned bits = 0;
		if (dkim_sig_getkeysize(sig, &bits) == DKIM_STAT_OK)
			s->keybits = bits;
		if (s->result == SDKIM_PASS)
			s->reason = "";
		else if (s->result == SDKIM_TEMPERROR)
			s->reason = "key lookup failed temporarily";
		else if (dkim_sig_geterror(sig) == DKIM_SIGERROR_OK && dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH)
			s->reason = "body hash did not verify";
		else
			s->reason = dkim_sig_geterrorstr(dkim_sig_geterror(sig));
		if (!s->reason)
			s->reason = "unknown error";
	}
	return 0;
}

int sdkim_sign_eom(struct sdkim *d, struct str *header, const char **err)
{
	DKIM_STAT st = dkim_eom(d->dkim, NULL);
	if (st != DKIM_STAT_OK) {
		*err = dkim_getresultstr(st);
		return -1;
	}
	u_char *buf;
	size_t len;
	st = dkim_getsighdr_d(d->dkim, strlen(DKIM_SIGNHEADER) + 2, &buf, &len);
	if (st != DKIM_STAT_OK) {
		*err = dkim_getresultstr(st);
		return -1;
	}
	str_copys(header, DKIM_SIGNHEADER ": ");
	for (size_t i = 0; i < len; i++)
		if (buf[i] != '\r')
			str_catc(header, (char)buf[i]);
	str_catc(header, '\n');
	return 0;
}

struct keys_walk {
	const char *domain;
	struct sdkim_key *keys;
	size_t max, n;
};

static void key_line(void *arg, const char *s, size_t len)
{
	struct keys_walk *w = arg;
	char f[4][256];
	size_t nf = 0, i = 0;
	while (i < len && nf < 4) {
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		size_t b = i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		if (i == b)
			break;
		size_t n = i - b < 255 ? i - b : 255;
		memcpy(f[nf], s + b, n);
		f[nf++][n] = 0;
	}
	if (nf < 3 || w->n >= w->max || strcasecmp(f[0], w->domain) != 0)
		return;
	struct sdkim_key *k = &w->keys[w->n];
	if (strlen(f[1]) >= sizeof k->selector)
		return;
	const char *alg = nf > 3 ? f[3] : "rsa";
	if (strcmp(alg, "rsa") != 0 && strcmp(alg, "ed25519") != 0)
		return;
	strcpy(k->selector, f[1]);
	strcpy(k->alg, alg);
	k->keyfile = (struct str)STR_INIT;
	conf_resolve(f[2], &k->keyfile);
	w->n++;
}

size_t sdkim_keys_for(const char *domain, struct sdkim_key *keys, size_t max)
{
	struct str text = STR_INIT;
	struct keys_walk w = { domain, keys, max, 0 };
	if (conf_read_file("dkim", &text) == 0)
		conf_each_item(&text, key_line, &w);
	str_free(&text);
	return w.n;
}

void sdkim_keys_free(struct sdkim_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		str_free(&keys[i].keyfile);
}
