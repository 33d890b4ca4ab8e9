/*
 * fuzz/cdb.c - the cdb reader (lib/cdb.c).
 *
 * Two properties.  Any bytes at all, read as a cdb file: every lookup ends
 * with found, absent or an error, and a value found lies inside the file.
 * And a well-formed cdb, written here from "key value" lines of the input by
 * an independent writer of the format: every key is found with the value of
 * its first record, and a key not written is absent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdb.h"
#include "fuzz.h"
#include "str.h"

#define MAX_RECS 64

struct rec {
	const uint8_t *k, *v;
	size_t kn, vn;
	uint32_t h, pos;
};

static void put32(struct str *out, size_t at, uint32_t x)
{
	unsigned char b[4] = { (unsigned char)x, (unsigned char)(x >> 8), (unsigned char)(x >> 16),
			       (unsigned char)(x >> 24) };
	memcpy(out->s + at, b, 4);
}

static void cat32(struct str *out, uint32_t x)
{
	str_catb(out, "\0\0\0\0", 4);
	put32(out, out->len - 4, x);
}

/* cdb as D. J. Bernstein's cdbmake lays it out: records, then the 256 hash tables */
static void write_cdb(struct rec *r, size_t n, struct str *out)
{
	str_copyb(out, "", 0);
	for (size_t i = 0; i < 2048; i++)
		str_catc(out, 0);
	for (size_t i = 0; i < n; i++) {
		r[i].pos = (uint32_t)out->len;
		r[i].h = cdb_hash(r[i].k, r[i].kn);
		cat32(out, (uint32_t)r[i].kn);
		cat32(out, (uint32_t)r[i].vn);
		str_catb(out, r[i].k, r[i].kn);
		str_catb(out, r[i].v, r[i].vn);
	}
	for (uint32_t t = 0; t < 256; t++) {
		uint32_t count = 0;
		for (size_t i = 0; i < n; i++)
			count += (r[i].h & 255) == t;
		uint32_t slots = count * 2;
		put32(out, t * 8, (uint32_t)out->len);
		put32(out, t * 8 + 4, slots);
		size_t base = out->len;
		for (uint32_t s = 0; s < slots * 8; s++)
			str_catc(out, 0);
		for (size_t i = 0; i < n; i++) {
			if ((r[i].h & 255) != t)
				continue;
			uint32_t s = (r[i].h >> 8) % slots;
			while (memcmp(out->s + base + s * 8 + 4, "\0\0\0\0", 4) != 0)
				s = (s + 1) % slots;
			put32(out, base + s * 8, r[i].h);
			put32(out, base + s * 8 + 4, r[i].pos);
		}
	}
}

static void check_lookup(int fd, const void *key, size_t kn, size_t filesize)
{
	struct str v = STR_INIT;
	int r = cdb_find(fd, key, kn, &v);
	FUZZ_CHECK(r == -1 || r == 0 || r == 1);
	if (r == 1)
		FUZZ_CHECK(v.len <= filesize);
	str_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1) { /* raw bytes as a cdb file */
		int fd = fuzz_memfd(data + 1, size - 1);
		check_lookup(fd, "", 0, size);
		check_lookup(fd, "postmaster", 10, size);
		for (size_t i = 1; i + 4 <= size && i < 64; i += 4)
			check_lookup(fd, data + i, 4, size);
		close(fd);
		return 0;
	}
	struct rec r[MAX_RECS];
	size_t n = 0;
	const uint8_t *p = data + 1, *end = data + size;
	while (p < end && n < MAX_RECS) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *e = nl ? nl : end;
		const uint8_t *sp = memchr(p, ' ', (size_t)(e - p));
		r[n].k = p;
		r[n].kn = sp ? (size_t)(sp - p) : (size_t)(e - p);
		r[n].v = sp ? sp + 1 : e;
		r[n].vn = sp ? (size_t)(e - sp - 1) : 0;
		n++;
		p = nl ? nl + 1 : end;
	}
	struct str file = STR_INIT;
	write_cdb(r, n, &file);
	int fd = fuzz_memfd(file.s, file.len);
	struct str v = STR_INIT;
	for (size_t i = 0; i < n; i++) {
		size_t first = i;
		for (size_t j = 0; j < i; j++)
			if (r[j].kn == r[i].kn && memcmp(r[j].k, r[i].k, r[i].kn) == 0) {
				first = j;
				break;
			}
		FUZZ_CHECK(cdb_find(fd, r[i].k, r[i].kn, &v) == 1);
		FUZZ_CHECK(v.len == r[first].vn && memcmp(v.s, r[first].v, v.len) == 0);
	}
	/* a key longer than any written is never found */
	static const char absent[] = "a key longer than any line of the input can be, since lines are shorter";
	int r_absent = cdb_find(fd, absent, sizeof absent - 1, &v);
	FUZZ_CHECK(r_absent == 0 || size > sizeof absent);
	str_free(&v);
	str_free(&file);
	close(fd);
	return 0;
}
