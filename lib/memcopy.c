/*
 * memcopy.c - memcpy and memmove for the programs linked against musl
 * (lib/build.mk), in place of musl's own.
 *
 * Why: musl's x86-64 memcpy aligns with single-byte moves and copies with
 * rep movsq, whose start-up costs about 40 ns on this VM whatever the
 * length (glibc: 1.5 ns for 72 octets; bench/README.md, "Round 4").
 * Most copies in these programs are short: pieces of replies and log
 * lines, printf's output, environment strings.  Here every length up to
 * 32 is two loads and two stores, possibly overlapping, and longer ones
 * go sixteen octets at a time.
 *
 * Every load of a step happens before its stores, and the loop runs away
 * from the side the destination overlaps, so the same code is memmove.
 * Compiled with MEMCOPY_REPLACES_LIBC (the musl archive) it also defines
 * memcpy and memmove, linked before musl's (musl_link), with loop-idiom
 * recognition off so the compiler cannot turn the loops back into a call
 * to memcpy; without, only mem_copy (memcopy.h), which fuzz/memcopy.c
 * checks against a byte loop.
 */
#include <stdint.h>

#include "memcopy.h"

/* unaligned loads and stores that may alias anything */
typedef uint64_t u64u __attribute__((may_alias, aligned(1)));
typedef uint32_t u32u __attribute__((may_alias, aligned(1)));
typedef uint16_t u16u __attribute__((may_alias, aligned(1)));

struct chunk {
	uint64_t a, b;
};

static struct chunk load16(const unsigned char *p)
{
	struct chunk c = { *(const u64u *)p, *(const u64u *)(p + 8) };
	return c;
}

static void store16(unsigned char *p, struct chunk c)
{
	*(u64u *)p = c.a;
	*(u64u *)(p + 8) = c.b;
}

void *mem_copy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	if (n <= 32) {
		/* head and tail, overlapping in the middle: all loads first */
		if (n > 16) {
			struct chunk h = load16(s), t = load16(s + n - 16);
			store16(d, h);
			store16(d + n - 16, t);
		} else if (n >= 8) {
			uint64_t h = *(const u64u *)s, t = *(const u64u *)(s + n - 8);
			*(u64u *)d = h;
			*(u64u *)(d + n - 8) = t;
		} else if (n >= 4) {
			uint32_t h = *(const u32u *)s, t = *(const u32u *)(s + n - 4);
			*(u32u *)d = h;
			*(u32u *)(d + n - 4) = t;
		} else if (n >= 2) {
			uint16_t h = *(const u16u *)s, t = *(const u16u *)(s + n - 2);
			*(u16u *)d = h;
			*(u16u *)(d + n - 2) = t;
		} else if (n == 1) {
			*d = *s;
		}
		return dst;
	}
	if ((uintptr_t)d - (uintptr_t)s >= n) {
		/* forward: d is below s or clear of it */
		struct chunk t = load16(s + n - 16);
		for (size_t i = 0; i + 16 < n; i += 16)
			store16(d + i, load16(s + i));
		store16(d + n - 16, t);
	} else {
		/* backward: d overlaps s from above */
		struct chunk h = load16(s);
		for (size_t i = n; i > 16;) {
			i -= 16;
			store16(d + i, load16(s + i));
		}
		store16(d, h);
	}
	return dst;
}

#ifdef MEMCOPY_REPLACES_LIBC
#include <string.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	return mem_copy(dst, src, n);
}

void *memmove(void *dst, const void *src, size_t n)
{
	return mem_copy(dst, src, n);
}
#endif
