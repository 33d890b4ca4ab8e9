/*
 * fuzz/memcopy.c - the copy behind the musl programs' memcpy and memmove
 * (lib/memcopy.c mem_copy).
 *
 * The first bytes choose a length (0..1023, so every short case and the
 * 16-octet loop in both directions), a source and a destination offset in
 * one buffer (so the two may overlap either way or not at all); the rest
 * fills the buffer.  The result must equal a byte-by-byte copy through a
 * separate buffer (memmove's definition), and nothing outside the
 * destination may change.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "memcopy.h"

#define SPACE 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t n = ((size_t)fuzz_byte(&in) << 8 | fuzz_byte(&in)) % 1024;
	size_t from = ((size_t)fuzz_byte(&in) << 8 | fuzz_byte(&in)) % (SPACE - n + 1);
	size_t to = ((size_t)fuzz_byte(&in) << 8 | fuzz_byte(&in)) % (SPACE - n + 1);

	static uint8_t buf[SPACE], want[SPACE], tmp[1024];
	for (size_t i = 0; i < SPACE; i++)
		buf[i] = in.n ? in.p[i % in.n] ^ (uint8_t)(i * 7) : (uint8_t)i;
	for (size_t i = 0; i < SPACE; i++)
		want[i] = buf[i];
	for (size_t i = 0; i < n; i++)
		tmp[i] = want[from + i];
	for (size_t i = 0; i < n; i++)
		want[to + i] = tmp[i];

	FUZZ_CHECK(mem_copy(buf + to, buf + from, n) == buf + to);
	FUZZ_CHECK(memcmp(buf, want, SPACE) == 0);
	return 0;
}
