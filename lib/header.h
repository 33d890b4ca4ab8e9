/*
 * header.h - reading an RFC 5322 header section held in memory.
 *
 * The message travels with LF line endings (DESIGN.md contract 1); a CR
 * before the LF is tolerated and left in the raw bytes.  A field is a line
 * "name:" followed by continuation lines starting with a space or tab.
 * The header section ends at the first empty line, at the first line that
 * is not a field (no colon, or a bad name: RFC 5322 §3.5 treats that as the
 * start of the body), or at the end of the data.  Nothing is copied: fields
 * point into the caller's buffer.
 */
#ifndef SLUICE_HEADER_H
#define SLUICE_HEADER_H
#include <stddef.h>

#include "str.h"

struct header_field {
	const char *name;  /* field name, without the colon */
	size_t namelen;
	const char *value; /* after the colon, folding and final newline included */
	size_t valuelen;
	const char *raw;   /* the whole field, final newline included */
	size_t rawlen;
};

struct header_iter {
	const char *buf;
	size_t len;
	size_t pos;
};

void header_iter_init(struct header_iter *it, const char *buf, size_t len);
/* 1: *f is the next field; 0: the header section ended at it->pos */
int header_next(struct header_iter *it, struct header_field *f);
/* length of the header section of buf (the offset where the body part starts) */
size_t header_section_len(const char *buf, size_t len);
/* is the field's name `name` (case-insensitive) */
int header_name_is(const struct header_field *f, const char *name);
/* the value unfolded (CR, LF removed; folding white space kept), leading and trailing blanks trimmed */
void header_value(const struct header_field *f, struct str *out);
/* is s a valid field name (RFC 5322 ftext: printable ASCII but ':') */
int header_valid_name(const char *s, size_t len);

#endif
