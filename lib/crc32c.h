/*
 * crc32c.h - CRC-32C of a byte string, computed in pieces:
 *   uint32_t c = 0; c = crc32c(c, a, alen); c = crc32c(c, b, blen);
 * gives the CRC of a followed by b.  crc32c(0, "123456789", 9) is
 * 0xe3069283.
 */
#ifndef SLUICE_CRC32C_H
#define SLUICE_CRC32C_H
#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
