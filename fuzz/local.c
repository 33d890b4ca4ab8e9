/*
 * fuzz/local.c - local recipient resolution (lib/local.c) over tables the
 * input writes into a private SLUICE_CONF.
 *
 * The input is five parts separated by lines "%%": the aliases table, the
 * users table, locals, limits, then addresses to resolve, one a line (at
 * most four).  Checked for each address:
 *  - the result is one of the four codes, the same when resolved twice;
 *  - found: at least one and at most local-destinations destinations, no
 *    two the same, each of a known kind with a non-empty target (a maildir
 *    ending in '/', an mbox not; a forward is a lowercase address);
 *  - not found: why starts with the RFC 3463 class of the code (5.x.x
 *    unknown or broken, 4.x.x temporary);
 *  - local_rcpt_exists agrees with the code.
 * Alias loops and deep or wide alias trees must end within the run's time
 * limit: nesting is bounded by local-alias-depth, the work by
 * local-alias-lookups.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "local.h"

static const char *const files[] = { "aliases", "users", "locals", "limits" };

static int same_dest(const struct local_dest *a, const struct local_dest *b)
{
	return a->kind == b->kind && strcmp(a->target, b->target) == 0 && a->as_user == b->as_user &&
	       (!a->as_user || a->uid == b->uid);
}

static void check(const char *addr)
{
	struct local_result r = LOCAL_RESULT_INIT, r2 = LOCAL_RESULT_INIT;
	int code = local_resolve(addr, &r);
	FUZZ_CHECK(code >= LOCAL_FOUND && code <= LOCAL_TEMP);
	FUZZ_CHECK(r.ext != NULL);
	if (code == LOCAL_FOUND) {
		FUZZ_CHECK(r.n >= 1 && r.n <= 1000);
		for (size_t i = 0; i < r.n; i++) {
			const struct local_dest *d = &r.dest[i];
			FUZZ_CHECK(d->kind >= LOCAL_MAILDIR && d->kind <= LOCAL_FORWARD);
			FUZZ_CHECK(d->user && d->home);
			size_t n = strlen(d->target);
			if (d->kind == LOCAL_MAILDIR)
				FUZZ_CHECK(n && d->target[n - 1] == '/');
			if (d->kind == LOCAL_MBOX)
				FUZZ_CHECK(n && d->target[n - 1] != '/');
			if (d->kind == LOCAL_FORWARD) {
				FUZZ_CHECK(strchr(d->target, '@'));
				for (size_t k = 0; k < n; k++)
					FUZZ_CHECK(!(d->target[k] >= 'A' && d->target[k] <= 'Z'));
			}
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(!same_dest(d, &r.dest[j]));
		}
	} else {
		const char *w = r.why.s ? r.why.s : "";
		FUZZ_CHECK(w[0] == (code == LOCAL_TEMP ? '4' : '5') && w[1] == '.');
	}
	FUZZ_CHECK(local_resolve(addr, &r2) == code && r2.n == r.n);
	int e = local_rcpt_exists(addr);
	FUZZ_CHECK(e == (code == LOCAL_FOUND ? 1 : code == LOCAL_TEMP ? -1 : 0));
	local_result_free(&r);
	local_result_free(&r2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	FUZZ_CHECK(buf);
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *p = buf, *end = buf + size;
	for (size_t i = 0; i < 4; i++) {
		char *sep = NULL;
		for (char *s = p; s + 3 < end && !sep; s++)
			if (memcmp(s, "\n%%\n", 4) == 0)
				sep = s;
		size_t n = sep ? (size_t)(sep - p) + 1 : (size_t)(end - p);
		fuzz_conf_write(files[i], p, n);
		p = sep ? sep + 4 : end;
	}
	for (int k = 0; k < 4 && p < end; k++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl)
			*nl = '\0';
		check(p);
		p = nl ? nl + 1 : end;
	}
	free(buf);
	return 0;
}
