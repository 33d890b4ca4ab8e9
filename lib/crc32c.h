/*
 * crc32c.h - CRC-32C of a byte string, computed in pieces:
 *   uint32_t c = 0; c = crc32c(c, a, alen); c = crc32c(c, b, blen);
 * gives the CRC of a followed by b.  crc32c(0, "123456789", 9) is
 * 0xe3069283.  Always the tables: for short strings and as the reference.
 */
#ifndef SLUICE_CRC32C_H
#define SLUICE_CRC32C_H
#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * The same, for a message read in pieces: the CPU's CRC instruction once
 * the pieces add up to enough to pay for asking whether it has one
 * (crc32c.c).  struct crc32c c = CRC32C_INIT; crc32c_add(&c, a, alen);
 * ... then c.crc is the CRC, as crc32c would give it.
 */
struct crc32c {
	uint32_t crc;  /* of the octets added so far */
	int hw;        /* -1: not asked yet; 0: the tables; 1: the instruction */
	size_t added;  /* octets added before asking */
};
#define CRC32C_INIT { 0, -1, 0 }
void crc32c_add(struct crc32c *c, const void *buf, size_t len);

#endif
