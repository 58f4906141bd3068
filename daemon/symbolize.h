/* symbolize.h: addresses of a process to function names and file:line, with elfutils, cached per build-id. */
#ifndef MEMPROBE_SYMBOLIZE_H
#define MEMPROBE_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "maps.h"

/*
 * An address is turned into a file and an ELF address through its mapping
 * (maps.h), then into frames with libdwfl: the function from the symbol
 * table (.symtab, else .dynsym), file:line from DWARF when the file or its
 * separate debug info (/usr/lib/debug/.build-id/xx/yyyy.debug) has it,
 * and the functions inlined at that address, innermost first.
 *
 * The file is opened through /proc/PID/map_files/START-END, which is the
 * mapped file itself even when deleted or replaced (it needs
 * CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), else through its path (never
 * for a deleted mapping). Its GNU build-id must equal the expected one
 * when the caller knows it.
 *
 * Cache: the files read (their ELF, symbol table and DWARF, parsed by
 * libdw on demand) are kept per build-id (per device, inode, size and
 * mtime for a file without one), so a library mapped by many processes is
 * read once. At most max_files are kept; the least recently used is
 * closed to make room. Memory: each file costs its parsed symbol table
 * and the DWARF units looked up so far (about its debug info's size at
 * worst); the file itself is mapped read-only, not copied.
 *
 * Threads: every function may be called from any thread. One mutex
 * guards the cache and libdw's use, so calls on one cache run one at a
 * time.
 */

#define SYM_CACHE_FILES_DEFAULT 64
#define SYM_MAX_FRAMES 8                /* inlined depth kept per address */
#define SYM_BUILD_ID_MAX 64             /* bytes; GNU build-ids are 20 */

enum sym_status {
	SYM_OK,                         /* frames[0].function at least */
	SYM_NO_MAPPING,                 /* no executable file mapping holds it */
	SYM_NO_FILE,                    /* the file cannot be opened (process gone) */
	SYM_NOT_ELF,                    /* opened, but libelf/libdwfl refuse it */
	SYM_BUILD_ID_MISMATCH,          /* not the file the process mapped */
	SYM_NO_SYMBOL,                  /* in the file, but no symbol covers it */
};

/* One function at an address: the outermost last. Strings are owned by
 * the result. */
struct sym_frame {
	char *function;                 /* as in the symbol table (mangled), or NULL */
	char *file;                     /* source file, or NULL */
	unsigned line;                  /* 0 when unknown */
};

/*
 * What is known of one address. Whatever the status, map (when found),
 * elf_addr and the build-id are filled as far as they are known, so a
 * caller can report the raw address with its mapping.
 */
struct sym_result {
	enum sym_status status;
	const struct maps_entry *map;   /* into the caller's maps, or NULL */
	uint64_t elf_addr;              /* address in the ELF's own vaddr space */
	unsigned char build_id[SYM_BUILD_ID_MAX];
	size_t build_id_len;            /* 0 when none was read */
	size_t nframes;
	struct sym_frame frames[SYM_MAX_FRAMES];
};

struct sym_cache;

/* A cache keeping at most max_files files (0: SYM_CACHE_FILES_DEFAULT).
 * Returns NULL when out of memory. */
struct sym_cache *sym_cache_new(size_t max_files);

/* Closes every cached file and frees the cache. NULL is allowed. */
void sym_cache_free(struct sym_cache *c);

/* The number of files the cache holds now. */
size_t sym_cache_files(struct sym_cache *c);

/*
 * Symbolizes the n addresses addrs[] of process pid, whose executable
 * mappings are maps, into out[0..n) (the caller sym_result_clear()s each).
 * Pass a return address minus one, so that it falls in the call
 * instruction. build_ids, when not NULL, holds for each mapping (same
 * index as maps->v) the expected build-id of build_id_lens[i] bytes (0:
 * unknown). Returns 0, or -ENOMEM (the results so far stay valid). An
 * address that cannot be symbolized is a status in its result, never an
 * error.
 */
int sym_resolve(struct sym_cache *c, pid_t pid, const struct maps *maps,
    const unsigned char *const *build_ids, const size_t *build_id_lens,
    const uint64_t *addrs, size_t n, struct sym_result *out);

/* Frees the strings of r and empties it. */
void sym_result_clear(struct sym_result *r);

/* A short name of a status, such as "no mapping". */
const char *sym_status_name(enum sym_status s);

/*
 * Reads the GNU build-id (the NT_GNU_BUILD_ID note) of the ELF file open
 * on fd into id (size bytes). Returns its length, 0 when the file has
 * none, or -EINVAL when fd is not an ELF file.
 */
int sym_read_build_id(int fd, unsigned char *id, size_t size);

#endif
