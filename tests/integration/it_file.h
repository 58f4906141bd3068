/* it_file.h: files for the integration tests: temp dirs, writing, reading, waiting on a log. */
#ifndef MEMPROBE_IT_FILE_H
#define MEMPROBE_IT_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Makes a new directory under /tmp (short, so socket paths fit sun_path).
 * Writes its path to dir. Returns 0 or -errno. */
int it_tmpdir(char *dir, size_t size);

/* Removes dir and everything under it. Empty or NULL dir: nothing. */
void it_rmtree(const char *dir);

/* Writes text to the file at path (created 0644 or truncated; an
 * existing file such as a cgroup's control file is written as it is).
 * Returns 0 or -errno. */
int it_write_file(const char *path, const char *text);

/* it_write_file() of dir/name; path (size bytes) gets the file's path. */
int it_write_file_in(const char *dir, const char *name, const char *text, char *path,
    size_t size);

/* Copies the file at from to to (created with mode, or truncated).
 * Returns 0 or -errno. */
int it_copy_file(const char *from, const char *to, mode_t mode);

/* Reads the file at path into out (NUL-terminated, cut to size - 1; empty
 * if unreadable). */
void it_slurp(const char *path, char *out, size_t size);

/* How many times the file at path contains needle (0 if unreadable), and
 * whether it does at all. */
int it_file_count(const char *path, const char *needle);
int it_file_has(const char *path, const char *needle);

/*
 * Waits until the file at path (a daemon's log) contains needle: a line is
 * written when the daemon gets to it, which may be after the effect a test
 * saw. Returns 1, or 0 after saying so on stderr when the bound passed.
 */
int it_wait_log(const char *path, const char *needle);

#endif
