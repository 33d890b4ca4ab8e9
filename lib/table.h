/*
 * table.h - lookup tables in the configuration directory.
 *
 * A table is text, "key value" per line ("key: value" also works, for
 * aliases); '#' comments.  When NAME.cdb exists (tinycdb, built from the
 * text with `sluice-tables` or `cdb -c -m`) it is used instead, so large
 * tables cost one seek.  Both are opened afresh per lookup: replacing a file
 * atomically takes effect at once, with no reload.
 */
#ifndef SLUICE_TABLE_H
#define SLUICE_TABLE_H

#include "str.h"

/*
 * Look key up (compared exactly: callers lowercase what is
 * case-insensitive).  1 found (value set, trimmed), 0 absent, -1 error.
 */
int table_lookup(const char *table, const char *key, struct str *value);

#endif
