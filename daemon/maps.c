/* maps.c: a process's executable file mappings, from /proc/PID/maps. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maps.h"
#include "procfs.h"

static const char deleted_suffix[] = " (deleted)";

/*
 * Parses one line, "start-end perms offset dev inode   path", into *e
 * (path not copied: *path and *plen point into line). Returns 1 for an
 * executable file mapping, 0 for a line to skip, -EINVAL when malformed.
 */
static int parse_line(const char *line, size_t len, struct maps_entry *e,
    const char **path, size_t *plen)
{
	char perms[5];
	int used = 0;

	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %*x:%*x %" SCNu64 "%n",
	    &e->start, &e->end, perms, &e->offset, &e->inode, &used) != 5 || used <= 0 ||
	    (size_t)used > len || e->end <= e->start)
		return -EINVAL;
	if (strlen(perms) != 4 || perms[2] != 'x')
		return 0;
	while ((size_t)used < len && line[used] == ' ')
		used++;
	if ((size_t)used == len || line[used] != '/')
		return 0;
	*path = line + used;
	*plen = len - (size_t)used;
	e->deleted = false;
	if (*plen > sizeof(deleted_suffix) - 1 &&
	    memcmp(*path + *plen - (sizeof(deleted_suffix) - 1), deleted_suffix,
	    sizeof(deleted_suffix) - 1) == 0) {
		*plen -= sizeof(deleted_suffix) - 1;
		e->deleted = true;
	}
	return 1;
}

/* Appends e with a copy of path to m. Returns 0 or -ENOMEM. */
static int append(struct maps *m, size_t *cap, struct maps_entry *e, const char *path,
    size_t plen)
{
	if (m->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct maps_entry *v = realloc(m->v, ncap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		m->v = v;
		*cap = ncap;
	}
	e->path = strndup(path, plen);
	if (e->path == NULL)
		return -ENOMEM;
	m->v[m->n++] = *e;
	return 0;
}

int maps_parse(const char *text, struct maps *out)
{
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	while (*text != '\0') {
		const char *nl = strchr(text, '\n');
		size_t len = nl != NULL ? (size_t)(nl - text) : strlen(text);
		struct maps_entry e;
		const char *path = NULL;
		size_t plen = 0;
		int rc = len > 0 ? parse_line(text, len, &e, &path, &plen) : 0;

		if (rc < 0)
			return rc;
		if (rc > 0) {
			if (out->n >= MAPS_MAX_ENTRIES || plen >= MAPS_PATH_MAX)
				out->dropped++;
			else if ((rc = append(out, &cap, &e, path, plen)) < 0)
				return rc;
		}
		text += len + (nl != NULL);
	}
	return 0;
}

int maps_read(pid_t pid, struct maps *out)
{
	char path[64], *text;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if ((rc = procfs_read_all(path, &text, NULL)) < 0)
		return rc;
	rc = maps_parse(text, out);
	free(text);
	return rc;
}

void maps_free(struct maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

const struct maps_entry *maps_find(const struct maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->v[mid].start)
			hi = mid;
		else if (addr >= m->v[mid].end)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}
