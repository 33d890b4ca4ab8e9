/*
 * envset.h - the environment a program hands to the programs it starts,
 * edited in place.
 *
 * smtp-recv tells its queue program, policy program and checkpassword
 * program about the connection through the environment
 * (doc/environment.md): seventeen names set or cleared per connection,
 * some again per message.  libc's unsetenv and setenv each walk the whole
 * environment comparing every entry, and setenv walks it again; an envset
 * keeps its own array, made once from environ, and installs it as
 * environ, so getenv, execv and posix_spawn see every change, and a
 * change is one walk.  env_get reads the environment the same way, for
 * programs with or without an envset.
 */
#ifndef SLUICE_ENVSET_H
#define SLUICE_ENVSET_H
#include <stddef.h>

struct envset {
	char **v;           /* NULL-terminated; environ from envset_init on */
	unsigned char *own; /* own[i]: v[i] was allocated here */
	size_t n, cap;
};

/* take over the process's environment (its strings stay where they are) */
void envset_init(struct envset *e);
/*
 * NAME=value in place of every NAME= entry; with value NULL or empty,
 * none at all (an environment built by hand may hold a name twice, and a
 * child must never see an inherited one).
 */
void envset_put(struct envset *e, const char *name, const char *value);

/*
 * getenv(name) without a call per entry: musl's getenv calls strncmp on
 * every entry, and smtp-recv asks for some thirty names per connection
 * in an environment of twenty-five or more.
 */
const char *env_get(const char *name);
/* env_get, but NULL in a set-id program, as secure_getenv */
const char *env_get_secure(const char *name);

#endif
