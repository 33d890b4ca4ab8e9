/*
 * fuzz/crc32c.c - the CRC-32C of a message read in pieces (lib/crc32c.c
 * crc32c_add), as queue-inject and queue-run compute it.
 *
 * The input, repeated up to 256 times (so that a run crosses the 4 KB
 * where crc32c_add may switch to the CPU's instruction), is added in
 * pieces whose sizes come from its first bytes.  The CRC must equal the
 * table-driven crc32c over the whole at once, whichever way it was done.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t reps = (size_t)fuzz_byte(&in) + 1;
	uint8_t piece[4];
	for (size_t i = 0; i < sizeof piece; i++)
		piece[i] = fuzz_byte(&in);

	size_t n = in.n * reps;
	uint8_t *buf = malloc(n ? n : 1);
	FUZZ_CHECK(buf != NULL);
	for (size_t i = 0; i < reps; i++)
		memcpy(buf + i * in.n, in.p, in.n);

	struct crc32c c = CRC32C_INIT;
	size_t pos = 0;
	for (size_t k = 0; pos < n; k++) {
		/* pieces of 0..65535 octets, from tiny to past the switch */
		size_t len = ((size_t)piece[k % 4] << 8 | piece[(k + 1) % 4]) % 65536;
		if (len > n - pos)
			len = n - pos;
		crc32c_add(&c, buf + pos, len);
		pos += len;
		if (len == 0 && k > 8)
			break; /* all-zero sizes: the rest in one piece */
	}
	crc32c_add(&c, buf + pos, n - pos);
	FUZZ_CHECK(c.crc == crc32c(0, buf, n));
	free(buf);
	return 0;
}
