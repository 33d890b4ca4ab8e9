/*
 * dkim.h - DKIM (RFC 6376, RFC 8463) verification and signing on
 * libopendkim, with keys fetched through dns.h.
 *
 * A message is fed the same way for both: each header field whole (its
 * folded lines included, without the final line end), then the end of the
 * header, then the body in any number of pieces.  LF or CRLF line ends
 * both work (sluice carries LF; DKIM hashes CRLF, added here).  So the
 * caller can be a program reading a file, a filter reading a pipe, or
 * smtp-filter holding the message in memory.
 *
 * Signing: relaxed/relaxed, the RFC 6376 5.4 recommended header fields
 * that are present, From signed once more than it appears (oversigned) so
 * no From can be added; rsa-sha256 (RSA 2048 keys) or ed25519-sha256.
 */
#ifndef SLUICE_DKIM_H
#define SLUICE_DKIM_H
#include <stddef.h>

#include "dns.h"
#include "str.h"

enum sdkim_res { SDKIM_PASS, SDKIM_FAIL, SDKIM_NEUTRAL, SDKIM_TEMPERROR, SDKIM_PERMERROR };

struct sdkim_sig {
	enum sdkim_res result;
	char domain[256];      /* d= */
	char selector[256];    /* s= */
	char identity[256];    /* i= (may be empty) */
	char b[16];            /* the first 8 characters of b=, for header.b */
	const char *alg;       /* "rsa-sha256", "rsa-sha1", "ed25519-sha256", "unknown" */
	unsigned keybits;
	const char *reason;    /* libopendkim's words for a failure, "" on pass */
};

struct sdkim;                  /* one message being verified or signed */

/* a verifier; NULL on failure.  dns must outlive it. */
struct sdkim *sdkim_verify_new(struct dns *dns);
/*
 * a signer with key (PEM text) for domain/selector; alg "rsa" or
 * "ed25519".  NULL with *err set on failure.
 */
struct sdkim *sdkim_sign_new(const char *domain, const char *selector, const char *key, size_t keylen,
			     const char *alg, const char **err);
void sdkim_free(struct sdkim *d);

/* feeding; each returns 0, or -1 once the message cannot be handled */
int sdkim_header(struct sdkim *d, const char *field, size_t len);
int sdkim_eoh(struct sdkim *d);
int sdkim_body(struct sdkim *d, const char *buf, size_t len);

/*
 * Verifier at end of message: the signatures in order of appearance
 * (*sigs malloc'd, *n of them; 0 when the message carries none).
 * 0, or -1 on an internal failure.
 */
int sdkim_verify_eom(struct sdkim *d, struct sdkim_sig **sigs, size_t *n);
/* signer at end of message: "DKIM-Signature: ..." folded with LF, final LF */
int sdkim_sign_eom(struct sdkim *d, struct str *header, const char **err);

const char *sdkim_result_name(enum sdkim_res r);

/*
 * Keys to sign with for domain from the configuration file `dkim`
 * ("domain selector keyfile [rsa|ed25519]" lines, keyfile relative to
 * the configuration directory).  Fills up to max entries; returns how many
 * (a domain may have two keys, RSA and Ed25519, to sign twice).
 */
struct sdkim_key {
	char selector[64];
	char alg[8];
	struct str keyfile;
};
size_t sdkim_keys_for(const char *domain, struct sdkim_key *keys, size_t max);
void sdkim_keys_free(struct sdkim_key *keys, size_t n);

#endif
