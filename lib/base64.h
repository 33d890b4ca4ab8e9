/*
 * base64.h - RFC 4648 base64, as SMTP AUTH (RFC 4954) carries it.
 */
#ifndef SLUICE_BASE64_H
#define SLUICE_BASE64_H
#include <stddef.h>

#include "str.h"

/* append the encoding of data to out */
void base64_encode(const void *data, size_t len, struct str *out);
/* append the decoding of s[0..len) to out: 0, or -1 when s is not base64 */
int base64_decode(const char *s, size_t len, struct str *out);

#endif
