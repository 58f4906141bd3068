/* procfs.c: what the daemon reads from /proc, about itself and about agents. */
#include "procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int procfs_read_all(const char *path, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *grown;
	ssize_t r;
	int fd, err;

	if (buf == NULL)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(buf);
		return err;
	}
	/* A /proc file has no size to ask for: read until the end, growing
	 * the buffer (/proc/PID/status with thousands of supplementary groups
	 * is tens of KiB; /proc/stat's intr line on a large host as much). */
	for (;;) {
		if (cap - n < 2) {
			if (cap > PROCFS_READ_MAX / 2) {
				err = -EFBIG;
				goto fail;
			}
			grown = realloc(buf, cap * 2);
			if (grown == NULL) {
				err = -ENOMEM;
				goto fail;
			}
			buf = grown;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	if (len != NULL)
		*len = n;
	return 0;
fail:
	close(fd);
	free(buf);
	return err;
}

/* The number after "\nName:" in a status text, times `scale`. */
static int procfs_field(const char *text, const char *name, uint64_t scale, uint64_t *out)
{
	size_t n = strlen(name);
	const char *p = text;
	char *end;
	unsigned long long v;

	for (;;) {
		p = strstr(p, name);
		if (p == NULL)
			return -EINVAL;
		if ((p == text || p[-1] == '\n') && p[n] == ':')
			break;
		p += n;
	}
	p += n + 1;
	while (*p == ' ' || *p == '\t')
		p++;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (end == p || errno != 0)
		return -EINVAL;
	*out = (uint64_t)v * scale;
	return 0;
}

int procfs_parse_status(const char *text, struct procfs_status *out)
{
	if (procfs_field(text, "VmRSS", 1024, &out->resident) < 0 ||
	    procfs_field(text, "VmHWM", 1024, &out->resident_peak) < 0 ||
	    procfs_field(text, "VmStk", 1024, &out->stack_mapped) < 0 ||
	    procfs_field(text, "VmData", 1024, &out->data) < 0 ||
	    procfs_field(text, "Threads", 1, &out->threads) < 0)
		return -EINVAL;
	return 0;
}

/* Reads the file at path and parses it as a stat file into *stat, or as a
 * status file into *status when stat is NULL. */
static int procfs_parse_file(const char *path, struct procstat *stat,
    struct procfs_status *status)
{
	char *text;
	int r;

	r = procfs_read_all(path, &text, NULL);
	if (r < 0)
		return r;
	r = stat != NULL ? procstat_parse(text, stat) : procfs_parse_status(text, status);
	free(text);
	return r;
}

int procfs_status(pid_t pid, struct procfs_status *out)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	return procfs_parse_file(path, NULL, out);
}

int procfs_stat(pid_t pid, struct procstat *out)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return procfs_parse_file(path, out, NULL);
}

int procfs_start_time(pid_t pid, uint64_t *out)
{
	struct procstat st;
	int r = procfs_stat(pid, &st);

	if (r < 0)
		return r;
	*out = st.starttime;
	return 0;
}

int procfs_names(pid_t pid, char *comm, size_t csize, char *exe, size_t esize)
{
	char path[64];
	ssize_t n;
	size_t len;
	int r;

	char *text;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	r = procfs_read_all(path, &text, NULL);
	if (r < 0)
		return r;
	snprintf(comm, csize, "%s", text);
	free(text);
	len = strlen(comm);
	while (len > 0 && comm[len - 1] == '\n')
		comm[--len] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, esize - 1);
	exe[n > 0 ? n : 0] = '\0';
	return 0;
}

/* Boot time in seconds since the epoch, from the btime line of /proc/stat;
 * it does not change, so it is read once. */
static int procfs_boot_time(uint64_t *out)
{
	static uint64_t cached;
	static int have;
	char *text;
	const char *p;
	uint64_t v;
	int r;

	/* HTTP workers may race to fill it: each writes the same value, as
	 * an atomic store. */
	if (__atomic_load_n(&have, __ATOMIC_ACQUIRE)) {
		*out = __atomic_load_n(&cached, __ATOMIC_RELAXED);
		return 0;
	}
	r = procfs_read_all("/proc/stat", &text, NULL);
	if (r < 0)
		return r;
	p = strstr(text, "\nbtime ");
	v = p != NULL ? strtoull(p + 7, NULL, 10) : 0;
	free(text);
	if (p == NULL)
		return -EINVAL;
	__atomic_store_n(&cached, v, __ATOMIC_RELAXED);
	__atomic_store_n(&have, 1, __ATOMIC_RELEASE);
	*out = v;
	return 0;
}

static int procfs_count_fds(uint64_t *out)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	uint64_t n = 0;

	/* Since Linux 6.2 the size of /proc/PID/fd is the number of open
	 * descriptors: one stat() instead of listing ten thousand agent
	 * sockets at every scrape. Older kernels say 0: count them. */
	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0) {
		*out = (uint64_t)st.st_size;
		return 0;
	}
	d = opendir("/proc/self/fd");
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	/* The directory stream's own descriptor was counted too. */
	*out = n > 0 ? n - 1 : 0;
	return 0;
}

int procfs_self(struct procfs_self *out)
{
	struct procstat st;
	struct rlimit rl;
	uint64_t btime;
	long tck = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	int r;

	if (tck <= 0 || page <= 0)
		return -EINVAL;
	r = procfs_parse_file("/proc/self/stat", &st, NULL);
	if (r < 0)
		return r;
	r = procfs_boot_time(&btime);
	if (r < 0)
		return r;
	r = procfs_count_fds(&out->open_fds);
	if (r < 0)
		return r;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	out->cpu_seconds = (double)(st.utime + st.stime) / (double)tck;
	out->resident_bytes = st.rss * (uint64_t)page;
	out->virtual_bytes = st.vsize;
	out->start_time_seconds = (double)btime + (double)st.starttime / (double)tck;
	out->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	return 0;
}

int procfs_pagemap_open(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int procfs_pagemap_read(int fd, uint64_t vpn, uint64_t *words, size_t n)
{
	size_t want = n * sizeof(*words), got = 0;

	if (vpn > UINT64_MAX / sizeof(*words) || vpn * sizeof(*words) > (uint64_t)INT64_MAX)
		return -EINVAL;
	while (got < want) {
		ssize_t r = pread(fd, (char *)words + got, want - got,
		    (off_t)(vpn * sizeof(*words) + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		got += (size_t)r;
	}
	return 0;
}

enum procfs_thp procfs_parse_thp(const char *text)
{
	static const struct {
		const char *word;
		enum procfs_thp mode;
	} modes[] = {
		{ "[always]", PROCFS_THP_ALWAYS },
		{ "[madvise]", PROCFS_THP_MADVISE },
		{ "[never]", PROCFS_THP_NEVER },
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strstr(text, modes[i].word) != NULL)
			return modes[i].mode;
	return PROCFS_THP_UNKNOWN;
}

enum procfs_thp procfs_thp_mode(void)
{
	char *text;
	enum procfs_thp m;

	if (procfs_read_all("/sys/kernel/mm/transparent_hugepage/enabled", &text, NULL) < 0)
		return PROCFS_THP_UNKNOWN;
	m = procfs_parse_thp(text);
	free(text);
	return m;
}

int procfs_parse_smaps_huge(const char *text, uint64_t addr, uint64_t *out)
{
	const char *line = text;
	int inside = 0;

	/* A mapping's header line is "START-END PERMS ..." in hex; its fields
	 * ("Name:   N kB") follow until the next header. */
	while (line != NULL && *line != '\0') {
		const char *nl = strchr(line, '\n');
		char *end;
		unsigned long long lo, hi;

		errno = 0;
		lo = strtoull(line, &end, 16);
		if (end != line && *end == '-' && errno == 0) {
			hi = strtoull(end + 1, &end, 16);
			if (*end == ' ' && errno == 0) {
				if (inside)
					break;  /* the mapping had no AnonHugePages line */
				inside = lo <= addr && addr < hi;
			}
		} else if (inside && strncmp(line, "AnonHugePages:", 14) == 0) {
			unsigned long long kb;

			errno = 0;
			kb = strtoull(line + 14, &end, 10);
			if (end == line + 14 || errno != 0)
				return -EINVAL;
			*out = (uint64_t)kb * 1024;
			return 0;
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	if (inside) {
		*out = 0;
		return 0;
	}
	return -ESRCH;
}

int procfs_smaps_huge(pid_t pid, uint64_t addr, uint64_t *out)
{
	char path[64], *text;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	r = procfs_read_all(path, &text, NULL);
	if (r < 0)
		return r;
	r = procfs_parse_smaps_huge(text, addr, out);
	free(text);
	return r;
}
