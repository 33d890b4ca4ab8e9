/*
 * fuzz/heap.c - the musl programs' allocator (lib/heap.c), driven by a
 * random sequence of allocations, reallocations and frees.
 *
 * Each input byte triple is one operation on one of 32 slots: allocate
 * (heap_alloc or heap_calloc) a size from the input, reallocate it, or free
 * it; sizes reach past the largest size class, so blocks with a mapping of
 * their own come and go too.  Every live block is filled with a byte of
 * its own and checked before it is freed or moved.  Checked: a block holds
 * at least what was asked (heap_usable), calloc's block is zeroed, realloc
 * keeps the old contents up to the smaller size, and no two live blocks
 * overlap (a fill would overwrite the other's byte).  heap.c aborts on a
 * header or free list it finds broken, which libFuzzer records as a crash.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "heap.h"

#define SLOTS 32

struct slot {
	unsigned char *p;
	size_t n;
	unsigned char fill;
};

/* s's first n bytes all hold its fill byte */
static void check_n(const struct slot *s, const unsigned char *p, size_t n)
{
	unsigned char want[4096];
	memset(want, s->fill, sizeof want);
	for (size_t i = 0; i < n; i += sizeof want) {
		size_t k = n - i < sizeof want ? n - i : sizeof want;
		FUZZ_CHECK(memcmp(p + i, want, k) == 0);
	}
}

static void check(const struct slot *s)
{
	check_n(s, s->p, s->n);
}

static void fill(struct slot *s, unsigned char b)
{
	s->fill = b;
	memset(s->p, b, s->n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slot sl[SLOTS] = { 0 };
	struct fuzz_in in = { data, size };
	unsigned char next_fill = 1;
	while (in.n >= 3) {
		uint8_t op = fuzz_byte(&in);
		struct slot *s = &sl[op % SLOTS];
		size_t n = (size_t)fuzz_byte(&in) << 4 | fuzz_byte(&in);
		if ((op & 0x80) && (n & 0xf) == 0xf)
			n <<= 8; /* now and then up to 1 MiB: past the largest class */
		switch (op >> 5 & 3) {
		case 0:
		case 1:
			if (s->p) {
				check(s);
				heap_free(s->p);
			}
			if (op >> 5 & 1) {
				s->p = heap_calloc(n, 1);
				FUZZ_CHECK(s->p);
				struct slot zero = { .fill = 0 };
				check_n(&zero, s->p, n);
			} else
				s->p = heap_alloc(n);
			FUZZ_CHECK(s->p && heap_usable(s->p) >= n && (uintptr_t)s->p % 16 == 0);
			s->n = n;
			fill(s, next_fill++);
			break;
		case 2: {
			if (s->p)
				check(s);
			unsigned char *q = heap_realloc(s->p, n);
			FUZZ_CHECK(q && heap_usable(q) >= n && (uintptr_t)q % 16 == 0);
			check_n(s, q, s->n < n ? s->n : n);
			s->p = q;
			s->n = n;
			fill(s, next_fill++);
			break;
		}
		default:
			if (s->p) {
				check(s);
				heap_free(s->p);
			}
			s->p = NULL;
			s->n = 0;
		}
		if (!next_fill)
			next_fill = 1;
	}
	for (size_t i = 0; i < SLOTS; i++)
		if (sl[i].p) {
			check(&sl[i]);
			heap_free(sl[i].p);
		}
	return 0;
}
