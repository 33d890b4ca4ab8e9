/*
 * auth-check - sluice's built-in checkpassword program.
 *
 *   auth-check prog [args...]
 *
 * Reads user\0password\0[timestamp\0] (at most 512 bytes) on fd 3, looks
 * the user up in the "passwords" table (user  crypt-hash; .cdb or text),
 * and verifies the password with crypt(3) (yescrypt, sha512-crypt, ...).
 * On success it execs prog with AUTH_USER set; a wrong password or an
 * unknown user exits 1; a broken input or table exits 111 or 2.  Unknown
 * users cost one hash computation too, so timing does not tell which
 * users exist.
 */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "die.h"
#include "log.h"
#include "str.h"
#include "table.h"

#define MAX_INPUT 512

/* a real yescrypt hash (of "x"): unknown users are checked against it, never accepted */
#define DUMMY_HASH "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$6foLM1JhGupouWKMU70wxK61Kw9ZnecbACjJwRadqM2"

static int same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die(2, "usage: auth-check prog [args...]");
	char in[MAX_INPUT + 1];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(3, in + len, MAX_INPUT - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die_sys(111, "unable to read fd 3");
		}
		if (r == 0 || (len += (size_t)r) == MAX_INPUT)
			break;
	}
	close(3);
	in[len] = '\0';
	const char *user = in;
	size_t ul = strnlen(in, len);
	if (ul == len)
		die(2, "malformed input on fd 3");
	const char *pass = in + ul + 1;
	size_t pl = strnlen(pass, len - ul - 1);
	if (ul + 1 + pl == len)
		die(2, "malformed input on fd 3");

	struct str key = STR_INIT, hash = STR_INIT;
	str_copys(&key, user);
	str_lower(&key);
	int found = ul > 0 && pl > 0 ? table_lookup("passwords", key.s, &hash) : 0;
	if (found < 0)
		die_sys(111, "unable to read the passwords table");
	/* a locked or empty entry ("!", "*", "") never matches anything */
	int usable = found == 1 && hash.len > 0 && hash.s[0] != '!' && hash.s[0] != '*';
	const char *setting = usable ? hash.s : DUMMY_HASH;

	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	const char *out = crypt_r(pass, setting, cd);
	int ok = usable && out && out[0] != '*' && same(out, hash.s);
	explicit_bzero(in, sizeof in);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	if (!ok) {
		log_line("event=auth result=fail user=%s", key.s);
		str_free(&key);
		str_free(&hash);
		return 1;
	}
	if (setenv("AUTH_USER", key.s, 1) < 0)
		die_sys(111, "unable to set AUTH_USER");
	execvp(argv[1], argv + 1);
	die_sys(111, "unable to run %s", argv[1]);
}
