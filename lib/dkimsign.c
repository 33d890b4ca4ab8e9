/* dkimsign.c - one DKIM signature over a message in memory (see dkimsign.h). */
#include <string.h>

#include "conf.h"
#include "dkim.h"
#include "dkimsign.h"
#include "msgfeed.h"

#define MAX_FIELD 65536

static int s_header(void *arg, const char *f, size_t n)
{
	return sdkim_header(arg, f, n);
}

static int s_eoh(void *arg)
{
	return sdkim_eoh(arg);
}

static int s_body(void *arg, const char *b, size_t n)
{
	return sdkim_body(arg, b, n);
}

static const struct msgfeed_ops sign_ops = { s_header, s_eoh, s_body };

int dkimsign_file(const char *domain, const char *selector, const char *keyfile, const char *alg,
		  const char *hdr, size_t hlen, const char *body, size_t blen, struct str *sig, struct str *why)
{
	struct str key = STR_INIT, field = STR_INIT;
	if (conf_read_path(keyfile, &key) != 0) {
		str_free(&key);
		str_copyb(why, "", 0);
		str_catf(why, "unable to read DKIM key %s", keyfile);
		return -1;
	}
	const char *err = "";
	struct sdkim *d = sdkim_sign_new(domain, selector, str_c(&key), key.len, alg, &err);
	if (key.s)
		explicit_bzero(key.s, key.len);
	str_free(&key);
	int r = -1;
	if (d) {
		struct msgfeed f;
		msgfeed_init(&f, &sign_ops, d, MAX_FIELD);
		if (msgfeed_push(&f, hdr ? hdr : "", hlen) < 0 || msgfeed_push(&f, body ? body : "", blen) < 0 ||
		    msgfeed_end(&f) < 0)
			err = "the message cannot be processed";
		else if (sdkim_sign_eom(d, &field, &err) == 0)
			r = 0;
		msgfeed_free(&f);
		sdkim_free(d);
	}
	if (r < 0) {
		str_copyb(why, "", 0);
		str_catf(why, "unable to sign for %s with %s: %s", domain, keyfile, err);
	} else
		str_catb(sig, field.s, field.len);
	str_free(&field);
	return r;
}
