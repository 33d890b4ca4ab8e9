/*
 * memcopy.h - the copy behind memcpy and memmove in the musl programs
 * (memcopy.c says why).  mem_copy(d, s, n) copies n octets from s to d
 * and returns d; s and d may overlap, as for memmove.
 */
#ifndef SLUICE_MEMCOPY_H
#define SLUICE_MEMCOPY_H
#include <stddef.h>

void *mem_copy(void *dst, const void *src, size_t n);

#endif
