/*
 * conf.h - the configuration directory (DESIGN.md "Configuration").
 *
 * $SLUICE_CONF, else /etc/sluice (always /etc/sluice in a set-id program).  Files hold one item per line; '#'
 * starts a comment; blank lines are ignored.  A relative path found inside
 * a file is relative to the configuration directory, so a demo conf/ can
 * point at "../run/queue".  Files are read afresh by every process that
 * needs them, so nothing ever needs a reload.

 */
#ifndef SLUICE_CONF_H
#define SLUICE_CONF_H
#include <stddef.h>

#include "str.h"

#ifndef SLUICE_CONF_DEFAULT
#define SLUICE_CONF_DEFAULT "/etc/sluice"
#endif

struct conf_list {
	char **item;
	size_t n;
};
#define CONF_LIST_INIT { NULL, 0 }

const char *conf_dir(void);
void conf_path(const char *name, struct str *out);
/* value as a path: absolute stays, relative is taken from the conf dir */
void conf_resolve(const char *value, struct str *out);
/* whole file: 0 read, 1 missing, -1 error (errno set) */
int conf_read_file(const char *name, struct str *out);
/* the same for a path as it is (conf_resolve it first): 0, 1 missing, -1 error */
int conf_read_path(const char *path, struct str *out);
/* first item: 0 found, 1 missing or empty, -1 error */
int conf_line(const char *name, struct str *out);
/* items, one per line, whitespace trimmed: 0 (a missing file is empty), -1 error */
int conf_list_read(const char *name, struct conf_list *l);
void conf_list_free(struct conf_list *l);
/* "example.com" matches itself, ".example.com" any name below it; no case */
int conf_domain_match(const struct conf_list *l, const char *domain);
/* call fn for each trimmed, uncommented, non-empty line of text */
void conf_each_item(const struct str *text, void (*fn)(void *, const char *, size_t), void *arg);
void conf_trim(const char **s, size_t *n);
/*
 * numeric setting from the "limits" file ("name value" lines); def when
 * absent.  -1 (with a warning) when present but not a number.
 */
int conf_limit(const struct conf_list *limits, const char *key, unsigned long long def,
	       unsigned long long *out);

/* parse an unsigned decimal number filling the whole of s[0..len) */
int scan_ull(const char *s, size_t len, unsigned long long *out);

#endif
