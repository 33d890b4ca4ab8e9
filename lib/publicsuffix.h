/*
 * publicsuffix.h - organizational domains from the Public Suffix List
 * (RFC 7489 3.2), as DMARC needs them.
 *
 * The list is the file named in the configuration file `psl`, else
 * /usr/share/publicsuffix/public_suffix_list.dat (Debian's publicsuffix).
 * Both the ICANN and the private sections are used.  Rules are matched
 * as written; the list writes internationalized names as U-labels, so a
 * domain in A-label (xn--) form falls to the default rule "*" there.
 */
#ifndef SLUICE_PUBLICSUFFIX_H
#define SLUICE_PUBLICSUFFIX_H

#include "str.h"

#define PUBLICSUFFIX_DEFAULT "/usr/share/publicsuffix/public_suffix_list.dat"

struct publicsuffix;

/* path NULL: from the configuration; NULL with errno when unreadable */
struct publicsuffix *publicsuffix_load(const char *path);
void publicsuffix_free(struct publicsuffix *p);
/* the organizational domain of domain (lowercase, no final dot) into out */
void publicsuffix_org_domain(const struct publicsuffix *p, const char *domain, struct str *out);

#endif
