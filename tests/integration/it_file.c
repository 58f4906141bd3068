/* it_file.c: temp dirs, writing and reading files, waiting on a log. */
#include "it_file.h"
#include "it_base.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int it_tmpdir(char *dir, size_t size)
{
	if (size < sizeof("/tmp/memprobe-it.XXXXXX"))
		return -ENAMETOOLONG;
	snprintf(dir, size, "/tmp/memprobe-it.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		int err = errno;

		dir[0] = '\0';
		return -err;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void it_rmtree(const char *dir)
{
	if (dir == NULL || dir[0] == '\0')
		return;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes the len bytes at p to fd. Returns 0 or -errno. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int it_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc;

	if (fd < 0)
		return -errno;
	rc = write_all(fd, text, strlen(text));
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

int it_write_file_in(const char *dir, const char *name, const char *text, char *path,
    size_t size)
{
	if (snprintf(path, size, "%s/%s", dir, name) >= (int)size)
		return -ENAMETOOLONG;
	return it_write_file(path, text);
}

int it_copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out, rc = 0;
	ssize_t n;

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0) {
		rc = -errno;
		close(in);
		return rc;
	}
	while (rc == 0 && (n = read(in, buf, sizeof(buf))) != 0)
		rc = n < 0 ? -errno : write_all(out, buf, (size_t)n);
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

int it_file_count(const char *path, const char *needle)
{
	char *text = NULL, buf[8192];
	size_t len = 0, n, nlen = strlen(needle);
	FILE *f = fopen(path, "r"), *m;
	int count = 0;

	if (f == NULL || nlen == 0) {
		if (f != NULL)
			fclose(f);
		return 0;
	}
	m = open_memstream(&text, &len);
	if (m != NULL) {
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, m);
		if (fclose(m) == 0) {
			for (const char *at = text; (at = memmem(at, len - (size_t)(at - text),
			    needle,
			    nlen)) != NULL; at += nlen)
				count++;
		}
	}
	free(text);
	fclose(f);
	return count;
}

int it_file_has(const char *path, const char *needle)
{
	return it_file_count(path, needle) > 0;
}

void it_slurp(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(out, 1, size - 1, f);
		fclose(f);
	}
	out[n] = '\0';
}

struct file_wait {
	const char *path;
	const char *needle;
};

static int file_has_cond(void *arg)
{
	struct file_wait *w = arg;

	return it_file_has(w->path, w->needle);
}

int it_wait_log(const char *path, const char *needle)
{
	struct file_wait w = { path, needle };

	if (it_wait_until(file_has_cond, &w, IT_TIMEOUT_MS))
		return 1;
	fprintf(stderr, "  %s never said \"%s\"\n", path, needle);
	return 0;
}
