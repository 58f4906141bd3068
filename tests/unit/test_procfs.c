/* test_procfs.c: /proc files are read whole, however long, and parsed from any length. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "procfs.h"

#define NGROUPS_TEST 2000

/* A status text as the kernel writes it for a process in NGROUPS_TEST
 * supplementary groups: the Groups: line (about 12 KiB) comes before the
 * Vm* lines. The caller free()s it. */
static char *status_text(size_t *len)
{
	size_t cap = 64 + NGROUPS_TEST * 8 + 512, n = 0;
	char *t = malloc(cap);

	if (t == NULL)
		return NULL;
	n += (size_t)snprintf(t + n, cap - n, "Name:\tbig\nUmask:\t0022\nUid:\t0\t0\t0\t0\nGroups:\t");
	for (int g = 0; g < NGROUPS_TEST; g++)
		n += (size_t)snprintf(t + n, cap - n, "%d ", 100000 + g);
	n += (size_t)snprintf(t + n, cap - n, "\nVmPeak:\t    9000 kB\nVmHWM:\t    8200 kB\n"
	    "VmRSS:\t    8100 kB\nVmData:\t    4000 kB\nVmStk:\t     136 kB\nThreads:\t3\n");
	*len = n;
	return t;
}

static void parse_long_groups_line(void)
{
	struct procfs_status st;
	size_t len;
	char *t = status_text(&len);

	if (t == NULL) {
		CHECK(0);
		return;
	}
	CHECK(len > 3 * 4096);
	memset(&st, 0, sizeof(st));
	CHECK(procfs_parse_status(t, &st) == 0);
	CHECK_U64(st.resident, ==, 8100 * 1024);
	CHECK_U64(st.resident_peak, ==, 8200 * 1024);
	CHECK_U64(st.data, ==, 4000 * 1024);
	CHECK_U64(st.stack_mapped, ==, 136 * 1024);
	CHECK_U64(st.threads, ==, 3);
	/* Cut where a single 4 KiB read would have cut it: no figures. */
	t[4095] = '\0';
	CHECK(procfs_parse_status(t, &st) == -EINVAL);
	free(t);
}

/* Writes len bytes of text to a new temp file; returns its path in path. */
static int write_temp(char *path, size_t size, const char *text, size_t len)
{
	int fd;

	snprintf(path, size, "/tmp/memprobe-test-procfs.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

static void read_all_whole(void)
{
	char path[64], *got = NULL;
	size_t len, got_len = 0;
	char *t = status_text(&len);
	struct procfs_status st;

	if (t == NULL || write_temp(path, sizeof(path), t, len) < 0) {
		CHECK(0);
		free(t);
		return;
	}
	CHECK(procfs_read_all(path, &got, &got_len) == 0);
	CHECK_U64(got_len, ==, len);
	CHECK(got != NULL && memcmp(got, t, len) == 0 && got[len] == '\0');
	CHECK(got != NULL && procfs_parse_status(got, &st) == 0 && st.resident == 8100 * 1024);
	free(got);
	unlink(path);

	/* Empty, and missing. */
	CHECK(write_temp(path, sizeof(path), "", 0) == 0);
	got = NULL;
	CHECK(procfs_read_all(path, &got, &got_len) == 0);
	CHECK_U64(got_len, ==, 0);
	CHECK(got != NULL && got[0] == '\0');
	free(got);
	unlink(path);
	got = NULL;
	CHECK(procfs_read_all(path, &got, NULL) == -ENOENT);
	CHECK(got == NULL);
	free(t);
}

/*
 * The real file: a child in NGROUPS_TEST groups has a /proc/PID/status
 * longer than 4 KiB, and its figures are read. Needs root (setgroups).
 */
static void status_of_process_in_many_groups(void)
{
	gid_t groups[NGROUPS_TEST];
	struct procfs_status st;
	char path[64], *text = NULL;
	size_t len = 0;
	int p[2], status;
	pid_t child;
	char c;

	if (geteuid() != 0) {
		printf("info status_of_process_in_many_groups: not root (setgroups); skipped\n");
		return;
	}
	if (pipe(p) < 0) {
		CHECK(0);
		return;
	}
	for (int i = 0; i < NGROUPS_TEST; i++)
		groups[i] = (gid_t)(100000 + i);
	child = fork();
	if (child == 0) {
		close(p[0]);
		c = setgroups(NGROUPS_TEST, groups) == 0 ? 'y' : 'n';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (child < 0 || read(p[0], &c, 1) != 1 || c != 'y') {
		CHECK(0);
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/status", (int)child);
	CHECK(procfs_read_all(path, &text, &len) == 0);
	CHECK(len > 4096);
	free(text);
	memset(&st, 0, sizeof(st));
	CHECK(procfs_status(child, &st) == 0);
	CHECK(st.resident > 0);
	/* One thread of its own; a sanitizer's runtime (TSan) may add one. */
	CHECK(st.threads >= 1 && st.threads <= 2);
out:
	close(p[0]);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
}

/* The THP mode is the bracketed word. */
static void parse_thp_mode(void)
{
	CHECK(procfs_parse_thp("[always] madvise never\n") == PROCFS_THP_ALWAYS);
	CHECK(procfs_parse_thp("always [madvise] never\n") == PROCFS_THP_MADVISE);
	CHECK(procfs_parse_thp("always madvise [never]\n") == PROCFS_THP_NEVER);
	CHECK(procfs_parse_thp("") == PROCFS_THP_UNKNOWN);
}

static const char smaps_text[] =
    "55d0a0000000-55d0a0021000 rw-p 00000000 00:00 0                          [heap]\n"
    "Size:                132 kB\n"
    "Anonymous:            12 kB\n"
    "AnonHugePages:         0 kB\n"
    "VmFlags: rd wr mr mw me ac sd\n"
    "7f3a40000000-7f3a40801000 rw-p 00000000 00:00 0 \n"
    "Size:               8196 kB\n"
    "Anonymous:          4100 kB\n"
    "AnonHugePages:      2048 kB\n"
    "VmFlags: rd wr mr mw me ac hg\n"
    "7ffc10000000-7ffc10021000 rw-p 00000000 00:00 0                          [stack]\n"
    "Size:                132 kB\n"
    "VmFlags: rd wr mr mw me gd ac\n";

/* AnonHugePages of the mapping holding an address; none (0) when the
 * mapping has no such line; -ESRCH outside every mapping. */
static void parse_smaps_huge(void)
{
	uint64_t v = 1;

	CHECK(procfs_parse_smaps_huge(smaps_text, 0x7f3a40400000ull, &v) == 0);
	CHECK_U64(v, ==, 2048 * 1024);
	CHECK(procfs_parse_smaps_huge(smaps_text, 0x55d0a0000000ull, &v) == 0);
	CHECK_U64(v, ==, 0);
	v = 1;
	CHECK(procfs_parse_smaps_huge(smaps_text, 0x7ffc10020fffull, &v) == 0);
	CHECK_U64(v, ==, 0);
	CHECK(procfs_parse_smaps_huge(smaps_text, 0x7f3a40801000ull, &v) == -ESRCH);
	CHECK(procfs_parse_smaps_huge("", 0x1000, &v) == -ESRCH);
}

/* This process's own pagemap: the page of a local variable is present. */
static void pagemap_of_self(void)
{
	volatile char here = 1;
	uint64_t w[2] = { 0, 0 };
	int fd = procfs_pagemap_open(getpid());

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(procfs_pagemap_read(fd, (uint64_t)(uintptr_t)&here / PROCFS_PAGE, w, 2) == 0);
	CHECK(w[0] & PROCFS_PM_PRESENT);
	close(fd);
	CHECK(procfs_pagemap_open(0x3fffffff) == -ENOENT);
}

int main(void)
{
	RUN_TEST(parse_long_groups_line);
	RUN_TEST(read_all_whole);
	RUN_TEST(status_of_process_in_many_groups);
	RUN_TEST(parse_thp_mode);
	RUN_TEST(parse_smaps_huge);
	RUN_TEST(pagemap_of_self);
	return HARNESS_EXIT();
}
