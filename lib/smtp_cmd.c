/* smtp_cmd.c - SMTP command argument parsing for smtp-recv (see smtp_cmd.h). */
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "conf.h"
#include "smtp_cmd.h"

int smtp_helo_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ADDR_DOMAIN_MAX)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._[]:") == n;
}

const char *smtp_path_start(const char *arg, const char *keyword)
{
	size_t kl = strlen(keyword);
	if (strncasecmp(arg, keyword, kl) != 0)
		return NULL;
	arg += kl;
	if (*arg == ' ')
		arg++;
	return arg;
}

const char *smtp_mail_params(const char *q, int ehlo, unsigned long long max_size, int *utf8,
			     unsigned long long *size)
{
	const char *bad = NULL;
	unsigned long long declared = 0;
	*utf8 = 0;
	while (*q && !bad) {
		if (*q != ' ') {
			bad = "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]";
			break;
		}
		if (!ehlo) {
			bad = "555 5.5.4 MAIL parameters need EHLO";
			break;
		}
		while (*q == ' ')
			q++;
		size_t n = strcspn(q, " ");
		unsigned long long n_size;
		if (n > 5 && strncasecmp(q, "SIZE=", 5) == 0) {
			if (!scan_ull(q + 5, n - 5, &n_size))
				bad = "501 5.5.4 Syntax: SIZE=number";
			else if (n_size > max_size)
				bad = "552 5.3.4 Message size exceeds the fixed limit";
			else
				declared = n_size;
		} else if ((n == strlen("BODY=7BIT") && strncasecmp(q, "BODY=7BIT", n) == 0) ||
			   (n == strlen("BODY=8BITMIME") && strncasecmp(q, "BODY=8BITMIME", n) == 0)) {
			/* both arrive the same way: nothing to do */
		} else if (n == strlen("SMTPUTF8") && strncasecmp(q, "SMTPUTF8", n) == 0)
			*utf8 = 1;
		else if (n)
			bad = "555 5.5.4 Unsupported MAIL parameter";
		q += n;
	}
	if (size)
		*size = declared;
	return bad;
}

int smtp_bdat_args(const char *arg, unsigned long long *size, int *last)
{
	size_t dl = strspn(arg, "0123456789");
	*last = 0;
	if (arg[dl] == ' ' && strcasecmp(arg + dl + 1, "LAST") == 0)
		*last = 1;
	if (dl == 0 || dl > 19 || !scan_ull(arg, dl, size) || (arg[dl] && !*last))
		return -1;
	return 0;
}
