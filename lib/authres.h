/*
 * authres.h - the Authentication-Results header field (RFC 8601).
 *
 * One field carries the spf, dkim (one result per signature) and dmarc
 * results under this host's authserv-id (the configuration file `me`).
 * Fields that arrive claiming our authserv-id are forgeries or leftovers
 * and must be removed before ours is added (RFC 8601 5); authres_is_ours
 * recognizes them.
 */
#ifndef SLUICE_AUTHRES_H
#define SLUICE_AUTHRES_H
#include <stddef.h>

#include "dkim.h"
#include "dmarc.h"
#include "spf.h"
#include "str.h"

struct authres_in {
	const struct spf_check *spf;       /* NULL: SPF not checked, left out */
	const struct sdkim_sig *dkim;      /* n_dkim of them; 0 writes dkim=none */
	size_t n_dkim;
	int dkim_checked;                  /* 0: DKIM left out */
	const struct dmarc_eval *dmarc;    /* NULL: left out */
};

/* "Authentication-Results: ...", folded with LF, final LF */
void authres_header(const char *authserv_id, const struct authres_in *in, struct str *out);

/*
 * field is a whole Authentication-Results header field (name included);
 * 1 when its authserv-id is ours (case-insensitive), else 0.
 */
int authres_is_ours(const char *field, size_t len, const char *authserv_id);

#endif
