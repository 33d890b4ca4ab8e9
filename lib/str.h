/*
 * str.h - growable byte strings with size_t lengths.
 *
 * s[len] is always NUL once anything was stored, so a str can be handed to
 * C string functions when it holds no NUL of its own; binary data is fine
 * too, len is the truth.  Growth failures die (alloc.h).
 */
#ifndef SLUICE_STR_H
#define SLUICE_STR_H
#include <stdarg.h>
#include <stddef.h>

struct str {
	char *s;
	size_t len;
	size_t cap;
};
#define STR_INIT { NULL, 0, 0 }

void str_ready(struct str *sa, size_t more);
void str_catb(struct str *sa, const void *b, size_t n);
void str_cats(struct str *sa, const char *s);
void str_catc(struct str *sa, char c);
__attribute__((format(printf, 2, 3)))
void str_catf(struct str *sa, const char *fmt, ...);
void str_vcatf(struct str *sa, const char *fmt, va_list ap);
/* v in decimal */
void str_catu(struct str *sa, unsigned long long v);
/*
 * One printf conversion at *pp (a '%', not "%%") with its argument from
 * *ap, appended to out; *pp moved past it, *string set for %s and %c.
 * -1, with nothing taken, for one it does not know (a '*' width or
 * precision, floats, %n): its argument's type is unknown here.
 */
int str_catconv(struct str *out, const char **pp, va_list *ap, int *string);
void str_copyb(struct str *sa, const void *b, size_t n);
void str_copys(struct str *sa, const char *s);
void str_truncate(struct str *sa, size_t len);
/* always returns a NUL-terminated string, "" for an empty str */
const char *str_c(struct str *sa);
void str_lower(struct str *sa);
void str_free(struct str *sa);

#endif
