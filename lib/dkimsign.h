/*
 * dkimsign.h - sign a message held in memory with one key file: the
 * glue between dkim.h (libopendkim) and msgfeed.h that mail-auth sign
 * and smtp-filter's dkim-sign share.
 */
#ifndef SLUICE_DKIMSIGN_H
#define SLUICE_DKIMSIGN_H
#include <stddef.h>

#include "str.h"

/*
 * Sign the message hdr + body (body may start with the empty line; either
 * may be empty) for domain with selector and the PEM key in keyfile, alg
 * "rsa" or "ed25519".  The DKIM-Signature field (LF line ends) is appended
 * to sig.  0, or -1 with why (unreadable key, unusable key, a message
 * libopendkim cannot take).  The key is wiped from memory after use.
 */
int dkimsign_file(const char *domain, const char *selector, const char *keyfile, const char *alg,
		  const char *hdr, size_t hlen, const char *body, size_t blen, struct str *sig, struct str *why);

#endif
