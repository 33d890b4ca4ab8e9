/*
 * duty.h - the duties of the benchmark's "duties" server: the floor's
 * programs (floor.h) with FLOOR_CONF set in their environment do, besides
 * the floor's steps, what sluice does for every message because DESIGN.md
 * or an RFC asks it (bench/README.md, "The floor with sluice's duties"):
 * configuration files read afresh per connection and per delivery, a log
 * line per event on stderr, the relay check, a Received: field, a check
 * line in the queue file.  Each is done plainly: fixed buffers for its own
 * work, one write per log line.  A benchmark instrument, not part of
 * sluice.
 */
#include <stdarg.h>
#include <stdint.h>
#include <strings.h>
#include <sys/types.h>
#ifdef __SSE4_2__
#include <nmmintrin.h>
#endif

/* One log line, "prog=PROG pid=N " and the rest, with one write to fd 2;
 * a line that does not fit is cut, as a log line may be. */
__attribute__((format(printf, 1, 2)))
static inline void duty_log(const char *fmt, ...)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "prog=" PROG " pid=%ld ", (long)getpid());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	size_t len = (size_t)n + ((size_t)m < sizeof line - (size_t)n - 1 ? (size_t)m : sizeof line - (size_t)n - 2);
	line[len++] = '\n';
	if (put(2, line, len) < 0)
		fail("write the log");
}

/* DIR/NAME into PATH, of 4096 bytes */
static inline void duty_path(char *path, const char *dir, const char *name)
{
	if ((size_t)snprintf(path, 4096, "%s/%s", dir, name) >= 4096) {
		errno = ENAMETOOLONG;
		fail("name a configuration file");
	}
}

/* DIR/NAME into B (at most CAP - 1 bytes, NUL-terminated); its length, or
 * -1 if there is no such file. */
static inline ssize_t duty_read(const char *dir, const char *name, char *b, size_t cap)
{
	char path[4096];
	duty_path(path, dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return -1;
		fail("open a configuration file");
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, b + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("read a configuration file");
		if (r == 0 || (n += (size_t)r) == cap - 1)
			break;
	}
	if (close(fd) < 0)
		fail("close a configuration file");
	b[n] = '\0';
	return (ssize_t)n;
}

/* whether the optional file DIR/NAME exists (a feature switched on) */
static inline int duty_has(const char *dir, const char *name)
{
	char path[4096];
	duty_path(path, dir, name);
	if (access(path, F_OK) == 0)
		return 1;
	if (errno != ENOENT)
		fail("look for a configuration file");
	return 0;
}

/* The first word of the line of LIST (a file's text) whose first word is
 * KEY, compared without case, and its length in *N; NULL if none. */
static inline const char *duty_find(const char *list, const char *key, size_t klen, size_t *n)
{
	const char *p = list;
	while (*p) {
		const char *e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		size_t w = strcspn(p, " \t\n");
		if (w == klen && strncasecmp(p, key, klen) == 0) {
			const char *v = p + w;
			v += strspn(v, " \t");
			*n = (size_t)(e - v);
			while (*n > 0 && (v[*n - 1] == ' ' || v[*n - 1] == '\t' || v[*n - 1] == '\r'))
				(*n)--;
			return v;
		}
		p = *e ? e + 1 : e;
	}
	return NULL;
}

/* CRC-32C, as sluice's check line (doc/durability.md, "Accept"): the
 * SSE4.2 instruction where the build allows it, else a table. */
static inline uint32_t duty_crc(uint32_t crc, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	crc = ~crc;
#ifdef __SSE4_2__
	uint64_t c = crc;
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
	}
	crc = (uint32_t)c;
	for (; n > 0; n--)
		crc = _mm_crc32_u8(crc, *p++);
#else
	static uint32_t t[256];
	if (!t[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t r = i;
			for (int k = 0; k < 8; k++)
				r = r & 1 ? (r >> 1) ^ 0x82f63b78u : r >> 1;
			t[i] = r;
		}
	for (; n > 0; n--)
		crc = t[(crc ^ *p++) & 0xff] ^ (crc >> 8);
#endif
	return ~crc;
}
