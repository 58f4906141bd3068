/* maps.h: a process's executable file mappings, from /proc/PID/maps. */
#ifndef MEMPROBE_MAPS_H
#define MEMPROBE_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* At most this many executable mappings are kept per process; the rest
 * are dropped and counted in maps.dropped. A program with this many
 * executable mappings (shared objects) is unheard of. */
#define MAPS_MAX_ENTRIES 4096
/* A mapping's path longer than this (PATH_MAX) is dropped like an extra
 * mapping. */
#define MAPS_PATH_MAX 4096

/* One executable mapping of a file. */
struct maps_entry {
	uint64_t start, end;            /* [start, end) in the process */
	uint64_t offset;                /* file offset mapped at start */
	uint64_t inode;
	bool deleted;                   /* the kernel added " (deleted)" */
	char *path;                     /* without " (deleted)"; owned by the maps */
};

/* A process's executable mappings, sorted by start as the kernel lists
 * them. Freed with maps_free(). */
struct maps {
	struct maps_entry *v;
	size_t n;
	size_t dropped;                 /* beyond MAPS_MAX_ENTRIES or too long */
};

/*
 * Parses the text of a /proc/PID/maps file: keeps the mappings that are
 * executable and name a file (an absolute path; [vdso] and anonymous
 * mappings are left out). A path may hold spaces; a trailing " (deleted)"
 * sets deleted. Returns 0 and fills *out (the caller maps_free()s it, also
 * on failure), -EINVAL for a malformed line, or -ENOMEM.
 */
int maps_parse(const char *text, struct maps *out);

/* Reads and parses /proc/PID/maps. Returns 0, -ENOENT or -ESRCH when the
 * process is gone, or another negative errno. */
int maps_read(pid_t pid, struct maps *out);

/* Frees what maps_parse() or maps_read() filled, and empties *m. */
void maps_free(struct maps *m);

/* The mapping that holds addr, or NULL. */
const struct maps_entry *maps_find(const struct maps *m, uint64_t addr);

#endif
