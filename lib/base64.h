/*
 * base64.h - RFC 4648 base64, strict: AUTH (RFC 4954) exchanges are
 * decoded with it, and anything but canonical base64 is refused rather
 * than guessed at.
 */
#ifndef SLUICE_BASE64_H
#define SLUICE_BASE64_H
#include <stddef.h>

#include "str.h"

/* append the encoding of b[0..n) to out */
void base64_encode(const void *b, size_t n, struct str *out);
/* decode s[0..n) into out (replacing it); 1 ok, 0 not canonical base64 */
int base64_decode(const char *s, size_t n, struct str *out);

#endif
