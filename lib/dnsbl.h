/*
 * dnsbl.h - the DNS lookups behind the rules' dnsbl, dnswl, rdns and
 * fcrdns conditions: a thin ldns resolver with a per-process answer cache
 * (one connection's rules ask the same names at several stages).
 *
 * The resolver is configured by the conf dir's resolv.conf when it exists,
 * else /etc/resolv.conf; each query waits at most DNSBL_TIMEOUT seconds per
 * try.  Kept in its own file so only programs that ask DNS link ldns.
 */
#ifndef SLUICE_DNSBL_H
#define SLUICE_DNSBL_H

#include "conf.h"

#define DNSBL_TIMEOUT 5
#define DNSBL_ANSWERS_MAX 16

struct dnsbl;

struct dnsbl *dnsbl_new(void);
void dnsbl_free(struct dnsbl *d);
/*
 * rules_facts.resolve: the A, AAAA or PTR records of name, one per item
 * (PTR names without the final dot).  1 found, 0 no such record or name,
 * -1 no usable answer (timeout, SERVFAIL, no resolver).
 */
int dnsbl_resolve(void *arg, const char *name, int type, struct conf_list *out);

#endif
