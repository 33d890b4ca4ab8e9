/*
 * tlsio.c - libtls under struct bio (see tlsio.h; not named tls.h, which
 * would hide libtls's own <tls.h> behind -Ilib).
 *
 * libtls reports TLS_WANT_POLLIN/POLLOUT on a non-blocking fd; each such
 * wait goes through poll with the caller's timeout, so a peer that stalls
 * mid-record cannot hold us longer than a plain read would.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tls.h>

#include "bio.h"
#include "alloc.h"
#include "tlsio.h"

struct tlsio {
	struct tls *ctx;     /* the connection */
	struct tls *client;  /* client side: the same; server side: NULL */
	struct tls_config *cfg; /* client side: owned here */
	int rfd, wfd;
	struct str err;
};

struct tlsio_server {
	struct tls *ctx;
	struct tls_config *cfg;
};

int tlsio_available(void)
{
	return 1;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return (fl & O_NONBLOCK) ? 0 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* wait for what libtls wants; 0 or -1 with errno (ETIMEDOUT) */
static int wait_want(struct tlsio *t, ssize_t want, int timeout_ms)
{
	if (want == TLS_WANT_POLLIN)
		return fd_wait(t->rfd, POLLIN, timeout_ms);
	return fd_wait(t->wfd, POLLOUT, timeout_ms);
}

static void set_err(struct tlsio *t, const char *what)
{
	const char *e = tls_error(t->ctx);
	str_copys(&t->err, what);
	str_cats(&t->err, ": ");
	str_cats(&t->err, e ? e : "unknown error");
}

static int handshake(struct tlsio *t, int timeout_ms, struct str *err)
{
	long long deadline = clock_ms() + timeout_ms;
	for (;;) {
		int r = tls_handshake(t->ctx);
		if (r == 0)
			return 0;
		if (r != TLS_WANT_POLLIN && r != TLS_WANT_POLLOUT) {
			const char *e = tls_error(t->ctx);
			str_catf(err, "TLS handshake failed: %s", e ? e : "unknown error");
			return -1;
		}
		long long left = timeout_ms < 0 ? -1 : deadline - clock_ms();
		if (timeout_ms >= 0 && left <= 0)
			left = 0;
		if (wait_want(t, r, (int)left) < 0) {
			str_catf(err, "TLS handshake failed: %s", strerror(errno));
			return -1;
		}
	}
}

static struct tlsio *tlsio_new(int rfd, int wfd)
{
	struct tlsio *t = xcalloc(1, sizeof *t);
	t->rfd = rfd;
	t->wfd = wfd;
	return t;
}

static void tlsio_free(struct tlsio *t)
{
	if (t->ctx)
		tls_free(t->ctx);
	if (t->cfg)
		tls_config_free(t->cfg);
	str_free(&t->err);
	free(t);
}

/* the end of connect or accept: t when set up and shaken hands, else NULL */
static struct tlsio *established(struct tlsio *t, int setup_ok, struct tls *errctx, const char *what,
				 int timeout_ms, struct str *err)
{
	if (!setup_ok) {
		const char *e = errctx ? tls_error(errctx) : "out of memory";
		str_catf(err, "%s: %s", what, e ? e : "unknown error");
	}
	if (!setup_ok || handshake(t, timeout_ms, err) < 0) {
		tlsio_free(t);
		return NULL;
	}
	return t;
}

static int configure_common(struct tls_config *cfg, const char *protocols, const char *ciphers, struct str *err)
{
	uint32_t proto;
	if (tls_config_parse_protocols(&proto, protocols ? protocols : TLSIO_PROTOCOLS) < 0) {
		str_catf(err, "bad TLS protocols: %s", protocols ? protocols : TLSIO_PROTOCOLS);
		return -1;
	}
	if (tls_config_set_protocols(cfg, proto) < 0 ||
	    tls_config_set_ciphers(cfg, ciphers ? ciphers : TLSIO_CIPHERS) < 0) {
		str_catf(err, "TLS configuration: %s", tls_config_error(cfg));
		return -1;
	}
	return 0;
}

struct tlsio *tlsio_client(int fd, const struct tlsio_client_opts *o, int timeout_ms, struct str *err)
{
	if (tls_init() < 0) {
		str_cats(err, "TLS initialisation failed");
		return NULL;
	}
	if (set_nonblock(fd) < 0) {
		str_catf(err, "unable to set non-blocking mode: %s", strerror(errno));
		return NULL;
	}
	struct tlsio *t = tlsio_new(fd, fd);
	t->cfg = tls_config_new();
	if (!t->cfg) {
		str_cats(err, "TLS configuration: out of memory");
		tlsio_free(t);
		return NULL;
	}
	if (configure_common(t->cfg, o->protocols, o->ciphers, err) < 0) {
		tlsio_free(t);
		return NULL;
	}
	if (o->verify) {
		if (o->ca_file && tls_config_set_ca_file(t->cfg, o->ca_file) < 0) {
			str_catf(err, "TLS CA file %s: %s", o->ca_file, tls_config_error(t->cfg));
			tlsio_free(t);
			return NULL;
		}
	} else {
		tls_config_insecure_noverifycert(t->cfg);
		tls_config_insecure_noverifyname(t->cfg);
	}
	t->ctx = tls_client();
	int ok = t->ctx && tls_configure(t->ctx, t->cfg) == 0 && tls_connect_socket(t->ctx, fd, o->servername) == 0;
	return established(t, ok, t->ctx, "TLS setup failed", timeout_ms, err);
}

struct tlsio_server *tlsio_server_new(const char *cert_file, const char *key_file, const char *protocols,
				      const char *ciphers, struct str *err)
{
	if (tls_init() < 0) {
		str_cats(err, "TLS initialisation failed");
		return NULL;
	}
	struct tlsio_server *s = xcalloc(1, sizeof *s);
	s->cfg = tls_config_new();
	if (!s->cfg) {
		str_cats(err, "TLS configuration: out of memory");
		free(s);
		return NULL;
	}
	if (configure_common(s->cfg, protocols, ciphers, err) < 0)
		goto fail;
	if (tls_config_set_cert_file(s->cfg, cert_file) < 0 || tls_config_set_key_file(s->cfg, key_file) < 0) {
		str_catf(err, "TLS certificate or key: %s", tls_config_error(s->cfg));
		goto fail;
	}
	tls_config_prefer_ciphers_server(s->cfg);
	s->ctx = tls_server();
	if (!s->ctx || tls_configure(s->ctx, s->cfg) < 0) {
		const char *e = s->ctx ? tls_error(s->ctx) : "out of memory";
		str_catf(err, "TLS server setup: %s", e ? e : "unknown error");
		goto fail;
	}
	return s;
fail:
	tlsio_server_free(s);
	return NULL;
}

void tlsio_server_free(struct tlsio_server *s)
{
	if (!s)
		return;
	if (s->ctx)
		tls_free(s->ctx);
	if (s->cfg)
		tls_config_free(s->cfg);
	free(s);
}

struct tlsio *tlsio_accept(struct tlsio_server *s, int rfd, int wfd, int timeout_ms, struct str *err)
{
	if (set_nonblock(rfd) < 0 || set_nonblock(wfd) < 0) {
		str_catf(err, "unable to set non-blocking mode: %s", strerror(errno));
		return NULL;
	}
	struct tlsio *t = tlsio_new(rfd, wfd);
	int ok = tls_accept_fds(s->ctx, &t->ctx, rfd, wfd) == 0;
	return established(t, ok, s->ctx, "TLS accept failed", timeout_ms, err);
}

/* one tls_read or tls_write, waiting as libtls asks, each wait bounded */
static ssize_t tls_io(struct tlsio *t, void *rbuf, const void *wbuf, size_t n, int timeout_ms)
{
	for (;;) {
		ssize_t r = rbuf ? tls_read(t->ctx, rbuf, n) : tls_write(t->ctx, wbuf, n);
		if (r >= 0)
			return r;
		if (r != TLS_WANT_POLLIN && r != TLS_WANT_POLLOUT) {
			set_err(t, rbuf ? "TLS read" : "TLS write");
			errno = EPROTO;
			return -1;
		}
		if (wait_want(t, r, timeout_ms) < 0) {
			str_copys(&t->err, strerror(errno));
			return -1;
		}
	}
}

static ssize_t tls_bio_read(void *ctx, void *buf, size_t n, int timeout_ms)
{
	return tls_io(ctx, buf, NULL, n, timeout_ms);
}

static ssize_t tls_bio_write(void *ctx, const void *buf, size_t n, int timeout_ms)
{
	return tls_io(ctx, NULL, buf, n, timeout_ms);
}

const struct bio_ops tlsio_bio_ops = { tls_bio_read, tls_bio_write };

void tlsio_attach(struct tlsio *t, struct bio *in, struct bio *out)
{
	if (in) {
		bio_drop(in);
		bio_set_ops(in, &tlsio_bio_ops, t);
	}
	if (out)
		bio_set_ops(out, &tlsio_bio_ops, t);
}

const char *tlsio_version(struct tlsio *t)
{
	const char *v = tls_conn_version(t->ctx);
	return v ? v : "unknown";
}

const char *tlsio_cipher(struct tlsio *t)
{
	const char *c = tls_conn_cipher(t->ctx);
	return c ? c : "unknown";
}

const char *tlsio_error(struct tlsio *t)
{
	return t->err.len ? t->err.s : "no error";
}

void tlsio_close(struct tlsio *t, int timeout_ms)
{
	if (!t)
		return;
	long long deadline = clock_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	for (;;) {
		int r = tls_close(t->ctx);
		if (r != TLS_WANT_POLLIN && r != TLS_WANT_POLLOUT)
			break;
		long long left = deadline - clock_ms();
		if (left <= 0 || wait_want(t, r, (int)left) < 0)
			break;
	}
	tlsio_free(t);
}
