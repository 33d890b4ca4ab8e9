/*
 * tlsio.h - TLS over libtls as a bio transport (STARTTLS for both sides).
 *
 * After a STARTTLS exchange the caller hands the connection's fds to
 * tlsio_client or tlsio_accept, then plugs the result under its bios with
 * tlsio_attach; protocol code keeps calling bio_getline/bio_put unchanged.
 * The fds are made non-blocking so every TLS wait is bounded by the bio's
 * timeout (and the handshake by its own).  Anything still buffered in the
 * plaintext bio at that moment must be thrown away by the caller (the
 * STARTTLS command-injection attack, CVE-2011-0411): tlsio_attach does so.
 *
 * Only programs that speak TLS link this file (and -ltls), since an exec of
 * a binary linked with libcrypto costs several times a plain one.  Two
 * files implement this header, chosen at link time: tlsio.c (libtls) and
 * tlsio_absent.c (no TLS library: tlsio_available() is 0, every set-up
 * fails), which the musl build of smtp-recv links; that program hands a
 * connection that wants TLS to its TLS image (smtp-recv(8)).
 */
#ifndef SLUICE_TLSIO_H
#define SLUICE_TLSIO_H
#include <stddef.h>

#include "bio.h"
#include "str.h"

struct tlsio;        /* one TLS connection */
struct tlsio_server; /* a server configuration (certificate and key loaded) */

#define TLSIO_PROTOCOLS "tlsv1.2,tlsv1.3"
#define TLSIO_CIPHERS "secure"

struct tlsio_client_opts {
	int verify;             /* 0: encrypt without checking (RFC 7435 opportunistic) */
	const char *ca_file;    /* verify: CA bundle; NULL for the system's */
	const char *servername; /* SNI, and the name checked when verifying */
	const char *protocols;  /* libtls syntax; NULL: TLSIO_PROTOCOLS */
	const char *ciphers;    /* libtls syntax; NULL: TLSIO_CIPHERS */
};

/* 1: TLS is linked into this program; 0: tlsio_absent.c, nothing works */
int tlsio_available(void);

/*
 * Client handshake on the connection fd within timeout_ms.  NULL with the
 * reason in err on failure (the connection is then unusable for SMTP).
 */
struct tlsio *tlsio_client(int fd, const struct tlsio_client_opts *o, int timeout_ms, struct str *err);

/*
 * Server side: load certificate chain and key once (at startup, so a
 * broken configuration shows before any client does).  protocols/ciphers
 * NULL for the defaults above.
 */
struct tlsio_server *tlsio_server_new(const char *cert_file, const char *key_file, const char *protocols,
				      const char *ciphers, struct str *err);
void tlsio_server_free(struct tlsio_server *s);
/* handshake with a client on rfd/wfd (fd 0 and 1 under tcpserver) */
struct tlsio *tlsio_accept(struct tlsio_server *s, int rfd, int wfd, int timeout_ms, struct str *err);

/* route the bios through t (either may be NULL), dropping buffered plaintext */
void tlsio_attach(struct tlsio *t, struct bio *in, struct bio *out);
extern const struct bio_ops tlsio_bio_ops;

const char *tlsio_version(struct tlsio *t);  /* "TLSv1.3" */
const char *tlsio_cipher(struct tlsio *t);   /* "TLS_AES_256_GCM_SHA384" */
const char *tlsio_error(struct tlsio *t);    /* the last I/O failure's reason */
/* close_notify (bounded by timeout_ms), then free; the fds stay open */
void tlsio_close(struct tlsio *t, int timeout_ms);

#endif
