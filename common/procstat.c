/* procstat.c: the one parser of a /proc/PID/stat line; pure and async-signal-safe. */
#include "procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

/* The last field read; fields past PROCSTAT_MIN_FIELDS are optional. */
#define PROCSTAT_LAST_FIELD 52
#define PROCSTAT_MIN_FIELDS 24

/* The byte after the last ')' in text, or NULL when there is none. */
static const char *after_comm(const char *text)
{
	const char *last = NULL;

	for (const char *p = text; *p != '\0'; p++)
		if (*p == ')')
			last = p;
	return last != NULL ? last + 1 : NULL;
}

static int is_end(char c)
{
	return c == ' ' || c == '\n' || c == '\0';
}

/*
 * Reads the decimal number at *pp (an optional '-' first) into *v, 0 when
 * negative, and moves *pp past it. Returns 0, or -EINVAL when no digits,
 * trailing junk or a value past 64 bits.
 */
static int read_number(const char **pp, uint64_t *v)
{
	const char *p = *pp;
	int negative = *p == '-';
	uint64_t n = 0;

	if (negative)
		p++;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -EINVAL;
		n = n * 10 + d;
	}
	if (!is_end(*p))
		return -EINVAL;
	*pp = p;
	*v = negative ? 0 : n;
	return 0;
}

/* Stores field number `field` (its value v) where struct procstat keeps it. */
static void keep(struct procstat *out, int field, uint64_t v)
{
	switch (field) {
	case 14: out->utime = v; break;
	case 15: out->stime = v; break;
	case 22: out->starttime = v; break;
	case 23: out->vsize = v; break;
	case 24: out->rss = v; break;
	case 52: out->exit_code = v; out->have_exit_code = 1; break;
	default: break;
	}
}

int procstat_parse(const char *text, struct procstat *out)
{
	const char *p = after_comm(text);

	if (p == NULL || *p != ' ')
		return -EINVAL;
	p++;
	*out = (struct procstat){ 0 };
	for (int field = 3; field <= PROCSTAT_LAST_FIELD; field++) {
		uint64_t v;

		while (*p == ' ')
			p++;
		if (*p == '\0' || *p == '\n')
			return field > PROCSTAT_MIN_FIELDS ? 0 : -EINVAL;
		if (field == 3) {
			/* The state, one character. */
			out->state = *p++;
			if (!is_end(*p))
				return -EINVAL;
			continue;
		}
		if (read_number(&p, &v) < 0)
			return -EINVAL;
		keep(out, field, v);
	}
	return 0;
}

int procstat_read(const char *path, struct procstat *out)
{
	char buf[PROCSTAT_TEXT_MAX];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	return procstat_parse(buf, out);
}
