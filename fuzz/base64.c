/*
 * fuzz/base64.c - strict base64 (lib/base64.c), as AUTH uses it.
 *
 * The input is tried both ways.  Checked:
 *  - decode(encode(x)) == x, and the encoding is canonical: length a
 *    multiple of 4, only the alphabet and at most two '=' at the end;
 *  - whatever decoding accepts re-encodes to exactly the same text (so
 *    nothing but the canonical form is accepted), and its length is 3/4
 *    of the input's less the padding;
 *  - a refused input leaves a NUL-terminated output no longer than what a
 *    valid input of its length would give (callers check the result).
 */
#include <stdint.h>
#include <string.h>

#include "base64.h"
#include "fuzz.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str enc = STR_INIT, dec = STR_INIT, again = STR_INIT;

	base64_encode(data, size, &enc);
	FUZZ_CHECK(enc.len == (size + 2) / 3 * 4);
	size_t pad = enc.len - strspn(enc.s, alphabet);
	FUZZ_CHECK(pad == (3 - size % 3) % 3);
	FUZZ_CHECK(strspn(enc.s + enc.len - pad, "=") == pad);
	FUZZ_CHECK(base64_decode(enc.s, enc.len, &dec) == 1);
	FUZZ_CHECK(dec.len == size && (size == 0 || memcmp(dec.s, data, size) == 0));

	/* the input as base64 text */
	int ok = base64_decode((const char *)data, size, &dec);
	FUZZ_CHECK(dec.s && dec.s[dec.len] == '\0');
	if (ok) {
		size_t p = 0;
		while (p < size && p < 2 && data[size - 1 - p] == '=')
			p++;
		FUZZ_CHECK(size % 4 == 0 && dec.len == size / 4 * 3 - p);
		base64_encode(dec.s, dec.len, &again);
		FUZZ_CHECK(again.len == size && memcmp(again.s, data, size) == 0);
	} else
		FUZZ_CHECK(dec.len <= size / 4 * 3);
	str_free(&enc);
	str_free(&dec);
	str_free(&again);
	return 0;
}
