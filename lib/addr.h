/*
 * addr.h - RFC 5321 §4.1.2 paths: "<" [source-route ":"] mailbox ">".
 *
 * The source route is parsed and dropped (RFC 5321 §3.6.1 allows, and
 * §C requires, ignoring it).  The domain is lowercased; an address literal
 * ("[192.0.2.1]", "[IPv6:...]") is validated and flagged.  A quoted local
 * part loses its quotes when it does not need them ("\"joe\"" is "joe").
 * Limits are RFC 5321 §4.5.3.1: local part 64, domain 255, path 256.
 */
#ifndef SLUICE_ADDR_H
#define SLUICE_ADDR_H
#include <stddef.h>

#include "str.h"

struct addr {
	struct str local;  /* canonical local part; "" for <> */
	struct str domain; /* lowercased; "" when unqualified or <> */
	int literal;       /* domain is an address literal */
	int routed;        /* a source route was present */
	int quoted;        /* the canonical local part still needs quotes */
	int utf8;          /* holds bytes >= 0x80 (RFC 6531) */
};

enum {
	ADDR_EMPTY_OK = 1,        /* accept "<>" (reverse-path) */
	ADDR_UNQUALIFIED_OK = 2,  /* accept "<postmaster>"-style, no domain */
	ADDR_UTF8_OK = 4,         /* accept UTF-8 (SMTPUTF8 was given) */
};

#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX 256

void addr_init(struct addr *a);
void addr_free(struct addr *a);
/*
 * Parse a path at s (no leading spaces).  Returns the bytes consumed, the
 * closing '>' included, or 0 when s does not hold a valid path.
 */
size_t addr_parse_path(const char *s, size_t len, unsigned flags, struct addr *a);
/* Parse a bare mailbox "local@domain" (whole string), e.g. from a config file. */
int addr_parse_mailbox(const char *s, size_t len, unsigned flags, struct addr *a);
/* "local@domain", "local" or "" */
void addr_format(const struct addr *a, struct str *out);
/* RFC 1035 host name check for a (non-literal) domain, as used by EHLO too */
int addr_valid_domain(const char *s, size_t len, int utf8);
/* is s[0..len) a valid address literal including brackets */
int addr_valid_literal(const char *s, size_t len);

#endif
