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

/* What a frame of a stack is. */
enum profsym_kind {
	PROFSYM_NATIVE,                 /* a return address, symbolized from its ELF file */
	PROFSYM_PYTHON,                 /* a Python frame (profile.h): no address, no mapping */
};

struct profsym_addr {
	uint64_t addr;                  /* the return address, or the Python frame as the stack has it */
	enum profsym_kind kind;
	int map;                        /* index into the heapprof's maps, or -1 (always, for Python) */
	unsigned nframes;               /* 0: not symbolized; 1 for a Python frame */
	const struct profsym_frame *frames;     /* owned by the profsym (or the set, for Python) */
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
 * Every distinct frame of hp's stacks, resolved: v[0..n), sorted by their
 * value (return addresses first, then Python frames, whose top bit is
 * set), holding a reference to the profsym and to hp so that their
 * strings stay valid until profsym_set_free().
 *
 * A return address is symbolized as profsym_resolve() does. A Python
 * frame is never looked up in a file (it has no address): it reads as
 * one frame of kind PROFSYM_PYTHON, {function and name: the function's
 * qualified name, file: its file (NULL when unknown), line: the line it
 * was running (0: unknown)}, from hp's Python functions
 * (heapprof_pyfunc(): "[python]" when hp does not have it). Its strings
 * are hp's, equal ones one pointer.
 */
struct profsym_set {
	size_t n;
	struct profsym_addr *v;
	struct profsym *ps;
	struct heapprof *hp;
	struct profsym_frame *py;       /* the Python frames' frames */
};

/* Fills *out for hp; with leaves_only, only the first frame of each stack
 * and its innermost Python frame (what names a site: sites.h). Returns 0
 * or -ENOMEM; the caller profsym_set_free()s *out either way. */
int profsym_set_build(struct profsym *ps, struct sym_cache *sc, pid_t pid,
    const struct heapprof *hp, int leaves_only, struct profsym_set *out);

/* What the set knows of the frame addr (a return address or a Python
 * frame), or NULL when it is not one of the set's. */
const struct profsym_addr *profsym_set_find(const struct profsym_set *s, uint64_t addr);

void profsym_set_free(struct profsym_set *s);

#endif
