/*
 * dns-query - print what lib/dns answers, for the tests of lib/dns.c.
 *   dns-query mx|addrs|a|aaaa|txt|ptr NAME
 * First line: ok, perm or temp (and the error text); then one line per
 * record.  The tests compile it themselves; it is not installed.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"
#include "die.h"
#include "dns.h"
#include "str.h"

int main(int argc, char **argv)
{
	if (argc != 3)
		die(EXIT_USAGE, "usage: dns-query mx|addrs|a|aaaa|txt|ptr NAME");
	struct conf_list limits = CONF_LIST_INIT;
	struct str err = STR_INIT;
	if (conf_list_read("limits", &limits) < 0)
		die_sys(EXIT_SYS, "unable to read limits");
	struct dns *d = dns_open(&limits, &err);
	if (!d)
		die(EXIT_SYS, "%s", err.s);
	const char *t = argv[1], *name = argv[2];
	struct dns_mxs mx = DNS_MXS_INIT;
	struct dns_ips ips = DNS_IPS_INIT;
	struct dns_strs strs = DNS_STRS_INIT;
	int r;
	if (!strcmp(t, "mx"))
		r = dns_mx(d, name, &mx, &err);
	else if (!strcmp(t, "txt"))
		r = dns_txt(d, name, &strs, &err);
	else if (!strcmp(t, "ptr")) {
		struct dns_ip ip;
		if (dns_ip_parse(name, &ip) < 0)
			die(EXIT_USAGE, "not an address: %s", name);
		r = dns_ptr(d, &ip, &strs, &err);
	} else
		r = dns_addrs(d, name, !strcmp(t, "a") ? AF_INET : !strcmp(t, "aaaa") ? AF_INET6 : AF_UNSPEC, &ips,
			      &err);
	printf("%s%s%s\n", r == DNS_OK ? "ok" : r == DNS_PERM ? "perm" : "temp", err.len ? " " : "", str_c(&err));
	for (size_t i = 0; i < mx.n; i++)
		printf("%u %s%s\n", mx.mx[i].pref, mx.mx[i].host, mx.implicit ? " implicit" : "");
	for (size_t i = 0; i < ips.n; i++) {
		char buf[46];
		dns_ip_format(&ips.ip[i], buf);
		printf("%s\n", buf);
	}
	for (size_t i = 0; i < strs.n; i++)
		printf("%s\n", strs.s[i]);
	dns_mxs_free(&mx);
	dns_ips_free(&ips);
	dns_strs_free(&strs);
	dns_close(d);
	conf_list_free(&limits);
	str_free(&err);
	return 0;
}
