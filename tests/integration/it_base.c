/* it_base.c: the paths under test, test selection, the clock and polling. */
#include "it_base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct itest_ctx itest;

static char **selected;
static int nselected;

/* Resolves build/rel into out; complains if it is not there. */
static int resolve(char *out, const char *build, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", build, rel);
	if (realpath(path, out) == NULL) {
		int err = errno;

		fprintf(stderr, "integration: %s: %s\n", path, strerror(err));
		return -err;
	}
	return 0;
}

int it_setup(const char *build)
{
	int rc = 0;

	if (realpath(build, itest.build) == NULL) {
		int err = errno;

		fprintf(stderr, "integration: build dir %s: %s\n", build, strerror(err));
		return -err;
	}
	if (resolve(itest.memprobed, build, "memprobed") < 0)
		rc = -ENOENT;
	if (resolve(itest.agent, build, "libmemprobe.so") < 0)
		rc = -ENOENT;
	if (resolve(itest.alloc_hold, build, "tests/progs/alloc_hold") < 0)
		rc = -ENOENT;
	return rc;
}

void it_select(int n, char **names)
{
	nselected = n;
	selected = names;
}

int it_selected(const char *name)
{
	if (nselected == 0)
		return 1;
	for (int i = 0; i < nselected; i++)
		if (strcmp(selected[i], name) == 0)
			return 1;
	return 0;
}

long long it_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int it_wait_until(int (*cond)(void *), void *arg, int timeout_ms)
{
	long long deadline = it_now_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return 1;
		if (it_now_ms() >= deadline)
			return 0;
		nap_ms(20);
	}
}

uint64_t it_self_start_time(void)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	size_t n;
	FILE *f = fopen("/proc/self/stat", "r");

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: count fields after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p++;
	for (int field = 3; field <= 22 && p != NULL; field++) {
		p = strchr(p + 1, ' ');
		if (field == 21 && p != NULL)
			v = strtoull(p + 1, NULL, 10);
	}
	return v;
}
