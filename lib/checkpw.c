/* checkpw.c - running a checkpassword program (see checkpw.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bio.h"
#include "child.h"
#include "checkpw.h"
#include "str.h"

int checkpw_run(char *const argv[], const char *user, const char *pass, int timeout_ms)
{
	if (!argv || !argv[0] || !argv[1])
		return CHECKPW_TEMP; /* no checker, or no program for it to run */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return CHECKPW_TEMP;
	int devnull = openat(AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		close(p[0]);
		close(p[1]);
		return CHECKPW_TEMP;
	}
	/* stdin and stdout to /dev/null: the checker must never speak SMTP */
	struct child_fd map[] = { { devnull, 0 }, { devnull, 1 }, { p[0], 3 } };
	pid_t pid = child_spawn(argv, map, sizeof map / sizeof map[0], NULL);
	close(p[0]);
	close(devnull);
	if (pid < 0) {
		close(p[1]);
		return CHECKPW_TEMP;
	}
	struct str msg = STR_INIT;
	str_cats(&msg, user);
	str_catc(&msg, '\0');
	str_cats(&msg, pass);
	str_catc(&msg, '\0');
	str_catf(&msg, "%lld", (long long)time(NULL));
	str_catc(&msg, '\0');
	/* small enough for the pipe buffer; EPIPE just means the checker quit early */
	(void)fd_write_all(p[1], msg.s, msg.len);
	explicit_bzero(msg.s, msg.len);
	str_free(&msg);
	close(p[1]);
	int status;
	if (child_wait_timeout(pid, timeout_ms, &status) < 0)
		return CHECKPW_TEMP;
	int code = child_exit_code(status);
	return code == 0 ? CHECKPW_OK : code == 1 ? CHECKPW_BAD : CHECKPW_TEMP;
}
