/*
 * header.h - RFC 5322 header sections held in memory.
 *
 * A header section is a run of fields, each "name:" then a value that may
 * be folded onto continuation lines starting with a space or a tab.  It
 * ends at the first line that is neither (normally the empty line before
 * the body).  Lines end in LF (DESIGN.md: messages travel with LF); a CR
 * before the LF is kept as part of the value.  Everything here works on
 * bounded buffers the caller already holds, so a hostile header can cost
 * no more than the caller chose to read.
 */
#ifndef SLUICE_HEADER_H
#define SLUICE_HEADER_H
#include <stddef.h>

#include "str.h"

struct header_field {
	const char *name;  /* field name, without the colon */
	size_t namelen;
	const char *value; /* after the colon, folding kept, final LF dropped */
	size_t valuelen;
	const char *raw;   /* the whole field, final LF included */
	size_t rawlen;
};

/* is s[0..len) a valid field name (RFC 5322 ftext: printable ASCII but ':') */
int header_valid_name(const char *s, size_t len);
/* does the line at s (len bytes, up to and maybe including LF) start a field */
int header_is_field(const char *s, size_t len);
/*
 * Length of the header section at the start of msg: the bytes of its
 * fields, not counting the empty line that ends it.  Fields that run past
 * len (a truncated buffer) are not counted.
 */
size_t header_len(const char *msg, size_t len);
/* next field of hdr[0..len) from *pos (start at 0): 1 and f filled, 0 at the end */
int header_next(const char *hdr, size_t len, size_t *pos, struct header_field *f);
/* case-insensitive name comparison */
int header_name_is(const struct header_field *f, const char *name);
/* first field named name in hdr: 1 and f filled, else 0 */
int header_find(const char *hdr, size_t len, const char *name, struct header_field *f);
/* value with folding undone and surrounding white space trimmed */
void header_unfold(const char *v, size_t n, struct str *out);
/*
 * Split an RFC 5322 address-list (To:, Cc:, ...) into addr-specs: display
 * names, comments and group syntax are dropped, "Name <a@b>" gives "a@b".
 * fn is called once per address with its bytes.  Returns 0, or -1 when the
 * list is malformed (unbalanced quotes, comments or angle brackets); the
 * addresses found before the error have been reported.
 */
int header_addr_list(const char *v, size_t n, void (*fn)(void *, const char *, size_t), void *arg);

#endif
