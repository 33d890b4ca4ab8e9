/*
 * tlsio_absent.c - tlsio.h for a program linked without a TLS library
 * (the musl build of smtp-recv, lib/build.mk): tlsio_available() says so
 * and every set-up fails with that reason, so the program links and runs
 * its plain-text paths unchanged, and asks tlsio_available() before
 * promising TLS to anyone.  No struct tlsio can exist here, so the
 * functions that take one are never reached.
 */
#include <errno.h>

#include "tlsio.h"

#define ABSENT "TLS is not linked into this program"

int tlsio_available(void)
{
	return 0;
}

struct tlsio *tlsio_client(int fd, const struct tlsio_client_opts *o, int timeout_ms, struct str *err)
{
	(void)fd, (void)o, (void)timeout_ms;
	str_cats(err, ABSENT);
	return NULL;
}

struct tlsio_server *tlsio_server_new(const char *cert_file, const char *key_file, const char *protocols,
				      const char *ciphers, struct str *err)
{
	(void)cert_file, (void)key_file, (void)protocols, (void)ciphers;
	str_cats(err, ABSENT);
	return NULL;
}

void tlsio_server_free(struct tlsio_server *s)
{
	(void)s;
}

struct tlsio *tlsio_accept(struct tlsio_server *s, int rfd, int wfd, int timeout_ms, struct str *err)
{
	(void)s, (void)rfd, (void)wfd, (void)timeout_ms;
	str_cats(err, ABSENT);
	return NULL;
}

static ssize_t absent_read(void *ctx, void *buf, size_t n, int timeout_ms)
{
	(void)ctx, (void)buf, (void)n, (void)timeout_ms;
	errno = EPROTO;
	return -1;
}

static ssize_t absent_write(void *ctx, const void *buf, size_t n, int timeout_ms)
{
	(void)ctx, (void)buf, (void)n, (void)timeout_ms;
	errno = EPROTO;
	return -1;
}

const struct bio_ops tlsio_bio_ops = { absent_read, absent_write };

void tlsio_attach(struct tlsio *t, struct bio *in, struct bio *out)
{
	(void)t, (void)in, (void)out;
}

const char *tlsio_version(struct tlsio *t)
{
	(void)t;
	return "none";
}

const char *tlsio_cipher(struct tlsio *t)
{
	(void)t;
	return "none";
}

const char *tlsio_error(struct tlsio *t)
{
	(void)t;
	return ABSENT;
}

void tlsio_close(struct tlsio *t, int timeout_ms)
{
	(void)t, (void)timeout_ms;
}
