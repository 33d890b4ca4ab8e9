/*
 * heap.c - the memory allocator of the programs linked against musl
 * (smtp-recv, queue-inject, deliver-local, queue-run: lib/build.mk), in
 * place of musl's own.
 *
 * Why: musl's allocator (mallocng) gives a size class's memory back to the
 * kernel as soon as the last block in it is freed.  A connection makes
 * about a hundred short-lived allocations (log lines, replies, paths,
 * header lines), so smtp-recv and queue-inject made some 40 mmap and
 * munmap calls per message, each munmap a TLB flush that on a virtual
 * machine interrupts the other CPU: 15% of the CPU per accepted message
 * (bench/README.md, "Round 3").  These programs are single-threaded and
 * live for one connection, message or delivery, and what they hold at
 * once is bounded by their limits, so this allocator takes memory from
 * the kernel in 1 MiB regions, never gives it back, and keeps freed
 * blocks on a list per size class for the next allocation of that class.
 * queue-run lives on, and so keeps the most it ever held at once (its
 * index of the queue, the messages in delivery) for the messages after.
 *
 * Blocks are powers of two from 32 bytes to 512 KiB, including a 16-byte
 * header; larger ones are mappings of their own, unmapped when freed.
 * Like the allocators it replaces it checks what it is handed: the header
 * carries the block's address mixed with a per-process random secret, and
 * a freed block's link to the next is stored mixed with that secret too,
 * so a double free, a free of a pointer it never returned, or an overflow
 * that rewrote a header or a free list aborts the program instead of
 * handing out memory twice.  Not thread-safe: no program that links it
 * starts a thread (posix_spawn's child does not allocate).
 *
 * This file keeps the process-wide state an allocator needs by nature (the
 * free lists, the current region): the one exception to "no mutable state
 * outside main's file", as in any C library.  Compiled with
 * HEAP_REPLACES_MALLOC it defines malloc, calloc, realloc and free, and
 * musl's internal names for them (the musl archive); without, only
 * heap_alloc and friends (heap.h), which the fuzz harness (fuzz/heap.c)
 * drives under the sanitizers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap.h"

#define HDR 16                      /* header size; blocks stay 16-aligned */
#define MIN_SHIFT 5                 /* smallest block: 32 bytes */
#define NCLASS 15                   /* 32 B .. 512 KiB */
#define REGION ((size_t)1 << 20)    /* taken from the kernel at a time */
#define LARGE NCLASS                /* class of a block with a mapping of its own */
#define INUSE ((size_t)1 << 8)

struct hdr {
	size_t info;  /* class | INUSE; for a large block, its mapping's length << 9 */
	uintptr_t check;  /* the block's address ^ secret */
};

static struct {
	uintptr_t secret;
	char *cur, *end;               /* the unused rest of the current region */
	uintptr_t free[NCLASS];        /* free lists, links mixed with secret */
} h;

static void heap_corrupt(void)
{
	static const char msg[] = "heap: fatal: corrupt heap or bad free\n";
	(void)!write(2, msg, sizeof msg - 1);
	abort();
}

static void heap_init(void)
{
	const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
	uintptr_t s = (uintptr_t)&h ^ (uintptr_t)getpid();
	if (r) {
		uintptr_t x;
		memcpy(&x, r + 8, sizeof x); /* bytes 0-7 are the stack protector's */
		s ^= x;
	}
	h.secret = s | 1; /* never 0, so a zeroed header never checks */
}

static size_t class_of(size_t n, int *cls)
{
	if (n > ((size_t)1 << (MIN_SHIFT + NCLASS - 1)) - HDR) {
		*cls = LARGE;
		return 0;
	}
	int c = 0;
	while (((size_t)1 << (MIN_SHIFT + c)) - HDR < n)
		c++;
	*cls = c;
	return (size_t)1 << (MIN_SHIFT + c);
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void *finish(struct hdr *b, size_t info)
{
	b->info = info | INUSE;
	b->check = (uintptr_t)b ^ h.secret;
	return (char *)b + HDR;
}

void *heap_alloc(size_t n)
{
	if (!h.secret)
		heap_init();
	int c;
	size_t size = class_of(n, &c);
	if (c == LARGE) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		if (n > (SIZE_MAX >> 10) - page) { /* its length must fit in info */
			errno = ENOMEM;
			return NULL;
		}
		size_t len = (n + HDR + page - 1) / page * page;
		struct hdr *b = map(len);
		if (!b) {
			errno = ENOMEM;
			return NULL;
		}
		return finish(b, (len << 9) | LARGE);
	}
	if (h.free[c]) {
		struct hdr *b = (struct hdr *)(h.free[c] ^ h.secret);
		if ((uintptr_t)b % HDR || b->check != ((uintptr_t)b ^ h.secret) ||
		    b->info != (size_t)c)
			heap_corrupt();
		uintptr_t next;
		memcpy(&next, (char *)b + HDR, sizeof next);
		h.free[c] = next;
		return finish(b, (size_t)c);
	}
	if ((size_t)(h.end - h.cur) < size) {
		/* the rest of the old region is given to the free lists, largest first */
		while (h.cur && h.end - h.cur >= (ptrdiff_t)((size_t)1 << MIN_SHIFT)) {
			int k = NCLASS - 1;
			while (((size_t)1 << (MIN_SHIFT + k)) > (size_t)(h.end - h.cur))
				k--;
			struct hdr *b = (struct hdr *)h.cur;
			h.cur += (size_t)1 << (MIN_SHIFT + k);
			finish(b, (size_t)k);
			heap_free((char *)b + HDR);
		}
		char *r = map(REGION);
		if (!r) {
			errno = ENOMEM;
			return NULL;
		}
		h.cur = r;
		h.end = r + REGION;
	}
	struct hdr *b = (struct hdr *)h.cur;
	h.cur += size;
	return finish(b, (size_t)c);
}

/* the header of a block heap_alloc returned, checked */
static struct hdr *header(void *p)
{
	struct hdr *b = (struct hdr *)((char *)p - HDR);
	if ((uintptr_t)p % HDR || b->check != ((uintptr_t)b ^ h.secret) || !(b->info & INUSE))
		heap_corrupt();
	return b;
}

void heap_free(void *p)
{
	if (!p)
		return;
	struct hdr *b = header(p);
	size_t c = b->info & 0xff;
	if (c == LARGE) {
		size_t len = b->info >> 9;
		b->check = 0;
		if (munmap(b, len) < 0)
			heap_corrupt();
		return;
	}
	if (c >= NCLASS)
		heap_corrupt();
	b->info = c;
	memcpy(p, &h.free[c], sizeof h.free[c]);
	h.free[c] = (uintptr_t)b ^ h.secret;
}

size_t heap_usable(void *p)
{
	struct hdr *b = header(p);
	size_t c = b->info & 0xff;
	if (c == LARGE)
		return (b->info >> 9) - HDR;
	return ((size_t)1 << (MIN_SHIFT + c)) - HDR;
}

void *heap_realloc(void *p, size_t n)
{
	if (!p)
		return heap_alloc(n);
	size_t have = heap_usable(p);
	if (n <= have && (have <= 4096 || n > have / 4))
		return p; /* fits, and not so much smaller that keeping it wastes */
	void *q = heap_alloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, n < have ? n : have);
	heap_free(p);
	return q;
}

void *heap_calloc(size_t k, size_t n)
{
	if (n && k > SIZE_MAX / n) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = heap_alloc(k * n);
	if (p)
		memset(p, 0, k * n);
	return p;
}

#ifdef HEAP_REPLACES_MALLOC
#include <malloc.h>

void *malloc(size_t n)
{
	return heap_alloc(n);
}

void free(void *p)
{
	heap_free(p);
}

void *realloc(void *p, size_t n)
{
	return heap_realloc(p, n);
}

void *calloc(size_t k, size_t n)
{
	return heap_calloc(k, n);
}

size_t malloc_usable_size(void *p)
{
	return p ? heap_usable(p) : 0;
}

/*
 * musl's own allocations (posix_spawn's file actions, the time zone) call
 * these internal names, not malloc: without them every spawn would bring
 * in musl's allocator beside this one, which mapped, faulted in and
 * unmapped pages of its own each time.  Should a musl stop using these
 * names, they are merely unused.
 */
void *__libc_malloc(size_t n);
void __libc_free(void *p);
void *__libc_realloc(void *p, size_t n);
void *__libc_calloc(size_t k, size_t n);

void *__libc_malloc(size_t n)
{
	return heap_alloc(n);
}

void __libc_free(void *p)
{
	heap_free(p);
}

void *__libc_realloc(void *p, size_t n)
{
	return heap_realloc(p, n);
}

void *__libc_calloc(size_t k, size_t n)
{
	return heap_calloc(k, n);
}
#endif
