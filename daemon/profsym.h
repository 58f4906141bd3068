/* profsym.h: one process's profile addresses symbolized once and kept, so scrapes and requests do not symbolize again. */
#ifndef MEMPROBE_PROFSYM_H
#define MEMPROBE_PROFSYM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "heapprof.h"
#include "symbolize.h"

/*
 * A process's return addresses, symbolized with symbolize.h through the
 * mappings of its profile (heapprof.h, each with its build-id as the
 * expected one), and kept per address: a later request symbolizes only
 * addresses it has not seen. Names stay as the symbol table has them
 * (C++ names mangled: elfutils has no demangler; pprof demangles them
 * itself). An address that cannot be symbolized (the process is gone and
 * its file unreadable, a build-id mismatch, no symbol) is kept as such,
 * with no frames: callers show the raw address with its mapping.
 *
 * One per program image: an exec starts a new one. Bounded: at most
 * PROFSYM_MAX_ADDRS addresses, 512 Ki frames and 8 MiB of names are kept
 * (about 30 MiB at worst; 8 MiB for 4096 stacks of 64 distinct addresses
 * that have no symbol); past them, new addresses come back unsymbolized. Shared by reference count; its functions may be called
 * from any thread (a mutex inside).
 */

#define PROFSYM_MAX_ADDRS (1u << 18)

struct profsym;

/* One function at an address (innermost inlined first, the real function
 * last). Strings belong to the profsym and live as long as it does. */
struct profsym_frame {
	const char *function;           /* as the symbol table has it; NULL when unknown */
	const char *name;               /* for people: demangled (demangle.h), else function */
	const char *file;               /* NULL when unknown */
	unsigned line;                  /* 0 when unknown */
};

struct profsym_addr {
	uint64_t addr;                  /* the return address */
	int map;                        /* index into the heapprof's maps, or -1 */
	unsigned nframes;               /* 0: not symbolized */
	const struct profsym_frame *frames;     /* owned by the profsym */
};

/* A new, empty cache with one reference; NULL when out of memory. */
struct profsym *profsym_new(void);

/* Another reference to ps (may be NULL); returns ps. */
struct profsym *profsym_ref(struct profsym *ps);

/* Drops a reference; the last frees the cache. NULL is allowed. */
void profsym_unref(struct profsym *ps);

/* Bytes the cache holds (entries and strings). */
size_t profsym_memory(struct profsym *ps);

/*
 * Symbolizes the n return addresses addrs[] of the process whose profile
 * is hp into out[0..n), with sc for the files. pid > 0: the process is
 * alive and its files are read through /proc/PID/map_files first; 0: it
 * is gone, its files are read by path. Returns 0, or -ENOMEM (out[] then
 * holds what is known, the rest unsymbolized).
 */
int profsym_resolve(struct profsym *ps, struct sym_cache *sc, pid_t pid,
    const struct heapprof *hp, const uint64_t *addrs, size_t n, struct profsym_addr *out);

/*
 * Every distinct address of hp's stacks, symbolized: v[0..n), sorted by
 * address, holding a reference to the profsym so its strings stay valid
 * until profsym_set_free().
 */
struct profsym_set {
	size_t n;
	struct profsym_addr *v;
	struct profsym *ps;
};

/* Fills *out for hp as profsym_resolve() would; with leaves_only, the
 * first frame of each stack only. Returns 0 or -ENOMEM; the caller
 * profsym_set_free()s *out either way. */
int profsym_set_build(struct profsym *ps, struct sym_cache *sc, pid_t pid,
    const struct heapprof *hp, int leaves_only, struct profsym_set *out);

/* What the set knows of addr, or NULL when it is not one of hp's. */
const struct profsym_addr *profsym_set_find(const struct profsym_set *s, uint64_t addr);

void profsym_set_free(struct profsym_set *s);

#endif
