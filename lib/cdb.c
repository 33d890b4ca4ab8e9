/*
 * cdb.c - read a constant database (D. J. Bernstein's cdb format, as
 * tinycdb's `cdb -c` writes it).  Our own reader rather than tinycdb's
 * library: a lookup is a few preads, and a program that needs nothing else
 * can then be linked statically against musl (lib/build.mk).
 *
 * The file is untrusted in the sense that a truncated or corrupt one must
 * give an error, never a read outside it or an allocation it cannot back:
 * every offset and length is checked against the file's size.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdb.h"

#define CDB_HEADER 2048u

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t cdb_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint32_t h = 5381;
	while (len--)
		h = ((h << 5) + h) ^ *p++;
	return h;
}

/* read exactly n bytes at off, all inside the file; -1 with errno */
static int read_at(int fd, uint64_t size, uint64_t off, void *buf, size_t n)
{
	if (off > size || n > size - off) {
		errno = EPROTO;
		return -1;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) { /* shrank under us: not a file we can trust */
			errno = EPROTO;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* does the record at pos hold key?  1 yes (value set), 0 no, -1 error */
static int record(int fd, uint64_t size, uint32_t pos, const char *key, size_t klen,
		  struct str *value)
{
	unsigned char h[8];
	if (read_at(fd, size, pos, h, sizeof h) < 0)
		return -1;
	uint32_t rk = get32(h), rd = get32(h + 4);
	if (rk != klen)
		return 0;
	char kbuf[256];
	for (size_t done = 0; done < klen;) { /* compare in pieces: keys can be long */
		size_t n = klen - done < sizeof kbuf ? klen - done : sizeof kbuf;
		if (read_at(fd, size, (uint64_t)pos + 8 + done, kbuf, n) < 0)
			return -1;
		if (memcmp(kbuf, key + done, n) != 0)
			return 0;
		done += n;
	}
	uint64_t doff = (uint64_t)pos + 8 + klen;
	if (doff > size || rd > size - doff) {
		errno = EPROTO;
		return -1;
	}
	str_copyb(value, "", 0);
	str_ready(value, rd);
	if (read_at(fd, size, doff, value->s, rd) < 0)
		return -1;
	value->len = rd;
	value->s[rd] = '\0';
	return 1;
}

int cdb_find(int fd, const void *key, size_t klen, struct str *value)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	uint64_t size = (uint64_t)st.st_size;
	if (klen > UINT32_MAX)
		return 0;
	uint32_t h = cdb_hash(key, klen);
	unsigned char e[8];
	if (read_at(fd, size, (uint64_t)(h & 255) * 8, e, sizeof e) < 0)
		return -1;
	uint32_t tpos = get32(e), slots = get32(e + 4);
	if (slots == 0)
		return 0;
	if (tpos < CDB_HEADER || (uint64_t)slots * 8 > size - (tpos <= size ? tpos : size)) {
		errno = EPROTO;
		return -1;
	}
	uint32_t slot = (h >> 8) % slots;
	for (uint32_t tried = 0; tried < slots; tried++) {
		unsigned char s[8];
		if (read_at(fd, size, (uint64_t)tpos + (uint64_t)slot * 8, s, sizeof s) < 0)
			return -1;
		uint32_t sh = get32(s), spos = get32(s + 4);
		if (spos == 0)
			return 0;
		if (sh == h) {
			int r = record(fd, size, spos, key, klen, value);
			if (r != 0)
				return r;
		}
		if (++slot == slots)
			slot = 0;
	}
	return 0;
}
