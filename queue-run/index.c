/* index.c - the messages queue-run knows: a hash by id and a heap by due time (see sched.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sched.h"

static size_t id_hash(const char *id)
{
	size_t h = 14695981039346656037ull & SIZE_MAX;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * (1099511628211ull & SIZE_MAX);
	return h;
}

struct entry *hash_find(struct sched *s, const char *id)
{
	if (!s->hcap)
		return NULL;
	for (size_t i = id_hash(id) & (s->hcap - 1);; i = (i + 1) & (s->hcap - 1)) {
		if (!s->hash[i])
			return NULL;
		if (strcmp(s->hash[i]->id, id) == 0)
			return s->hash[i];
	}
}

static void hash_put(struct entry **tab, size_t cap, struct entry *e)
{
	size_t i = id_hash(e->id) & (cap - 1);
	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = e;
}

static void hash_add(struct sched *s, struct entry *e)
{
	if ((s->hcount + 1) * 2 > s->hcap) {
		size_t cap = s->hcap ? s->hcap * 2 : 1024;
		struct entry **t = xcalloc(cap, sizeof *t);
		for (size_t i = 0; i < s->hcap; i++)
			if (s->hash[i])
				hash_put(t, cap, s->hash[i]);
		free(s->hash);
		s->hash = t;
		s->hcap = cap;
	}
	hash_put(s->hash, s->hcap, e);
	s->hcount++;
}

/* linear probing deletion: shift later members of the cluster back */
static void hash_del(struct sched *s, struct entry *e)
{
	size_t mask = s->hcap - 1, i = id_hash(e->id) & mask;
	while (s->hash[i] != e)
		i = (i + 1) & mask;
	s->hash[i] = NULL;
	s->hcount--;
	for (size_t j = (i + 1) & mask; s->hash[j]; j = (j + 1) & mask) {
		struct entry *x = s->hash[j];
		s->hash[j] = NULL;
		hash_put(s->hash, s->hcap, x);
	}
}

static int earlier(const struct entry *a, const struct entry *b)
{
	return a->due != b->due ? a->due < b->due : strcmp(a->id, b->id) < 0;
}

static void heap_set(struct sched *s, size_t i, struct entry *e)
{
	s->heap[i] = e;
	e->hpos = i;
}

static void heap_up(struct sched *s, size_t i)
{
	struct entry *e = s->heap[i];
	while (i > 0 && earlier(e, s->heap[(i - 1) / 2])) {
		heap_set(s, i, s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(s, i, e);
}

static void heap_down(struct sched *s, size_t i)
{
	struct entry *e = s->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->hn)
			break;
		if (c + 1 < s->hn && earlier(s->heap[c + 1], s->heap[c]))
			c++;
		if (!earlier(s->heap[c], e))
			break;
		heap_set(s, i, s->heap[c]);
		i = c;
	}
	heap_set(s, i, e);
}

void heap_push(struct sched *s, struct entry *e)
{
	if (e->inheap) {
		heap_up(s, e->hpos);
		heap_down(s, e->hpos);
		return;
	}
	if (s->hn == s->hmax) {
		s->hmax = s->hmax ? s->hmax * 2 : 1024;
		s->heap = xreallocarray(s->heap, s->hmax, sizeof *s->heap);
	}
	e->inheap = 1;
	heap_set(s, s->hn++, e);
	heap_up(s, e->hpos);
}

void heap_remove(struct sched *s, struct entry *e)
{
	if (!e->inheap)
		return;
	size_t i = e->hpos;
	e->inheap = 0;
	struct entry *last = s->heap[--s->hn];
	if (i == s->hn)
		return;
	heap_set(s, i, last);
	heap_up(s, i);
	heap_down(s, last->hpos);
}

struct entry *entry_get(struct sched *s, const char *id)
{
	struct entry *e = hash_find(s, id);
	if (!e) {
		e = xcalloc(1, sizeof *e);
		memcpy(e->id, id, QID_SIZE);
		hash_add(s, e);
	}
	return e;
}

void entry_forget(struct sched *s, struct entry *e)
{
	heap_remove(s, e);
	hash_del(s, e);
	free(e);
}

/* flush: everything waiting is due now */
void flush_all(struct sched *s)
{
	for (size_t i = 0; i < s->hn; i++)
		s->heap[i]->due = 0;
	for (size_t i = s->hn / 2 + 1; i-- > 0;)
		if (i < s->hn)
			heap_down(s, i);
}

/* at exit: every entry, the hash and the heap (active messages first: round_free) */
void index_free(struct sched *s)
{
	for (size_t i = 0; i < s->hcap; i++)
		free(s->hash[i]);
	free(s->hash);
	free(s->heap);
	s->hash = s->heap = NULL;
	s->hcap = s->hcount = s->hn = s->hmax = 0;
}
