/* qid.c - queue id generation (see qid.h). */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "die.h"
#include "qid.h"

/* fixed-width decimal, most significant digit first */
static void digits(char *out, unsigned long long v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

void qid_make(char out[QID_SIZE])
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		die_sys(EXIT_SYS, "unable to read the clock");
	digits(out, (unsigned long long)ts.tv_sec, 10);
	out[10] = '.';
	digits(out + 11, (unsigned long long)ts.tv_nsec / 1000, 6);
	out[17] = '.';
	digits(out + 18, (unsigned long long)getpid(), 7);
	out[QID_LEN] = '\0';
}

int qid_valid(const char *s)
{
	if (strlen(s) != QID_LEN)
		return 0;
	for (size_t i = 0; i < QID_LEN; i++) {
		if (i == 10 || i == 17) {
			if (s[i] != '.')
				return 0;
		} else if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return 1;
}

time_t qid_time(const char *id)
{
	if (!qid_valid(id))
		return 0;
	time_t t = 0;
	for (size_t i = 0; i < 10; i++)
		t = t * 10 + (id[i] - '0');
	return t;
}
