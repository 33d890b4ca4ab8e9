/* fuzz.c - helpers for the libFuzzer harnesses (see fuzz.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "die.h"
#include "fuzz.h"
#include "str.h"

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: property broken: %s\n", file, line, what);
	abort();
}

uint8_t fuzz_byte(struct fuzz_in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

int fuzz_memfd(const void *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		die_sys(EXIT_SYS, "unable to create memfd");
	if (fd_write_all(fd, data, size) < 0)
		die_sys(EXIT_SYS, "unable to write memfd");
	if (lseek(fd, 0, SEEK_SET) < 0)
		die_sys(EXIT_SYS, "unable to seek memfd");
	return fd;
}

size_t fuzz_feed_next(struct fuzz_feed *f, size_t max, const uint8_t **piece)
{
	/* xorshift32: cheap, deterministic for a given input */
	f->state ^= f->state << 13;
	f->state ^= f->state >> 17;
	f->state ^= f->state << 5;
	size_t n = 1 + f->state % f->max_piece;
	size_t left = f->n - f->pos;
	if (n > max)
		n = max;
	if (n > left)
		n = left;
	*piece = f->p + f->pos;
	f->pos += n;
	return n;
}

static ssize_t feed_read(void *ctx, void *buf, size_t n, int timeout_ms)
{
	(void)timeout_ms;
	const uint8_t *piece;
	size_t got = fuzz_feed_next(ctx, n, &piece);
	memcpy(buf, piece, got);
	return (ssize_t)got;
}

static ssize_t feed_write(void *ctx, const void *buf, size_t n, int timeout_ms)
{
	(void)ctx, (void)buf, (void)timeout_ms;
	return (ssize_t)n;
}

const struct bio_ops fuzz_feed_ops = { feed_read, feed_write };

void fuzz_feed_init(struct fuzz_feed *f, const void *data, size_t n, size_t max_piece, uint32_t seed)
{
	f->p = data;
	f->n = n;
	f->pos = 0;
	f->max_piece = max_piece ? max_piece : 1;
	f->state = seed ? seed : 0x9e3779b9u;
}

/* the harness process's one conf dir: harness state, not lib state */
static char conf_dir_path[4096];

static void conf_dir_remove(void)
{
	struct str cmd = STR_INIT;
	str_catf(&cmd, "rm -rf '%s'", conf_dir_path);
	if (system(cmd.s) != 0)
		fprintf(stderr, "fuzz: unable to remove %s\n", conf_dir_path);
	str_free(&cmd);
}

const char *fuzz_conf_dir(void)
{
	if (conf_dir_path[0])
		return conf_dir_path;
	/* fuzz/run points TMPDIR at its work dir, cleaned even after a crash */
	const char *base = getenv("TMPDIR");
	if (!base || !*base || strlen(base) > sizeof conf_dir_path - 24)
		base = "/tmp";
	snprintf(conf_dir_path, sizeof conf_dir_path, "%s/sluice-fuzz.XXXXXX", base);
	if (!mkdtemp(conf_dir_path))
		die_sys(EXIT_SYS, "unable to create %s", conf_dir_path);
	if (setenv("SLUICE_CONF", conf_dir_path, 1) < 0)
		die_sys(EXIT_SYS, "unable to set SLUICE_CONF");
	atexit(conf_dir_remove);
	return conf_dir_path;
}

void fuzz_conf_write(const char *name, const void *data, size_t size)
{
	struct str path = STR_INIT;
	str_catf(&path, "%s/%s", fuzz_conf_dir(), name);
	int fd = open(path.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die_sys(EXIT_SYS, "unable to create %s", path.s);
	if (fd_write_all(fd, data, size) < 0 || close(fd) < 0)
		die_sys(EXIT_SYS, "unable to write %s", path.s);
	str_free(&path);
}
