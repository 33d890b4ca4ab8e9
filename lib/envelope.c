/* envelope.c - the queue protocol envelope codec (see envelope.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "envelope.h"

void envelope_set_sender(struct envelope *env, const char *sender)
{
	free(env->sender);
	env->sender = xstrdup(sender);
}

void envelope_add_rcpt(struct envelope *env, const char *rcpt)
{
	env->rcpt = xgrow(env->rcpt, &env->cap, env->nrcpt, sizeof *env->rcpt, 8);
	env->rcpt[env->nrcpt++] = xstrdup(rcpt);
}

void envelope_free(struct envelope *env)
{
	free(env->sender);
	for (size_t i = 0; i < env->nrcpt; i++)
		free(env->rcpt[i]);
	free(env->rcpt);
	env->sender = NULL;
	env->rcpt = NULL;
	env->nrcpt = env->cap = 0;
}

/* one NUL-terminated field; ENV_OK, or the failure kind */
static int field(struct bio *in, struct str *f, size_t max)
{
	f->len = 0;
	for (;;) {
		if (bio_buffered(in) == 0) {
			ssize_t r = bio_fill(in);
			if (r == 0)
				errno = EPROTO; /* ended early: no stale errno in the caller's message */
			if (r <= 0)
				return ENV_READ;
		}
		const char *p = bio_peek(in);
		size_t have = bio_buffered(in);
		const char *z = memchr(p, '\0', have);
		size_t take = z ? (size_t)(z - p) : have;
		if (f->len + take > max + 1) /* +1: the type letter */
			return ENV_LIMIT;
		str_catb(f, p, take);
		bio_skip(in, take + (z ? 1 : 0));
		if (z)
			return ENV_OK;
	}
}

static int clean(const struct str *f)
{
	return memchr(f->s, '\r', f->len) == NULL && memchr(f->s, '\n', f->len) == NULL;
}

int envelope_read(struct bio *in, struct envelope *env, size_t max_addr, size_t max_rcpt)
{
	struct str f = STR_INIT;
	int r = field(in, &f, max_addr);
	if (r != ENV_OK)
		goto out;
	r = ENV_FORMAT;
	if (f.len < 1 || f.s[0] != 'F' || !clean(&f))
		goto out;
	envelope_set_sender(env, str_c(&f) + 1);
	for (;;) {
		r = field(in, &f, max_addr);
		if (r != ENV_OK)
			goto out;
		if (f.len == 0)
			break;
		r = ENV_FORMAT;
		if (f.s[0] != 'T' || f.len < 2 || !clean(&f))
			goto out;
		if (env->nrcpt >= max_rcpt) {
			r = ENV_LIMIT;
			goto out;
		}
		envelope_add_rcpt(env, str_c(&f) + 1);
	}
	r = env->nrcpt ? ENV_OK : ENV_FORMAT;
out:
	str_free(&f);
	return r;
}

void envelope_encode_sep(const struct envelope *env, char sep, struct str *out)
{
	str_catc(out, 'F');
	str_cats(out, env->sender ? env->sender : "");
	str_catc(out, sep);
	for (size_t i = 0; i < env->nrcpt; i++) {
		str_catc(out, 'T');
		str_cats(out, env->rcpt[i]);
		str_catc(out, sep);
	}
	str_catc(out, sep);
}

void envelope_encode(const struct envelope *env, struct str *out)
{
	envelope_encode_sep(env, '\0', out);
}
