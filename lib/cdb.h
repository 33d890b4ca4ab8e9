/*
 * cdb.h - lookups in a constant database file (the format tinycdb's
 * `cdb -c` and sluice-tables write).
 */
#ifndef SLUICE_CDB_H
#define SLUICE_CDB_H

#include <stddef.h>
#include <stdint.h>

#include "str.h"

/*
 * Find the first record whose key is key[0..klen) in the cdb open on fd.
 * 1 found (value holds the data, NUL-terminated), 0 absent, -1 error with
 * errno (EPROTO: the file is not a well-formed cdb).
 */
int cdb_find(int fd, const void *key, size_t klen, struct str *value);

/* the cdb hash function, for tests and writers */
uint32_t cdb_hash(const void *key, size_t len);

#endif
