/* pprof.h: a pprof profile (profile.proto) built in memory, then encoded with protobuf-c and gzipped. */
#ifndef MEMPROBE_PPROF_H
#define MEMPROBE_PPROF_H

#include <stddef.h>
#include <stdint.h>

/*
 * A builder for one profile in pprof's format (daemon/profile.proto): the
 * caller declares sample types, then adds mappings, functions, locations
 * and samples, and encodes the whole. Strings go into one table, each kept
 * once; functions and locations that are added again get the id they got
 * first. Ids start at 1 (0 means "none" in the format).
 *
 * One thread at a time; a struct pprof owns copies of every string it is
 * given, so callers may free theirs at once.
 *
 * Every function returns a negative errno on failure and then adds no
 * type, mapping, function, location or sample (a string added on the
 * way may stay in the table, unused): -EINVAL for an argument the format
 * cannot hold (an unknown id, a NULL where a string is needed, a sample
 * before its types), -E2BIG past one of the limits below, -ENOMEM.
 */
struct pprof;

/* Limits, so that a profile's memory is bounded whatever its input:
 * with every table full it holds about 200 MiB, and as much again while
 * encoding; callers size their inputs far below them. */
#define PPROF_MAX_TYPES         8               /* sample types */
#define PPROF_MAX_STRINGS       (1u << 20)      /* distinct strings, "" included */
#define PPROF_MAX_STRLEN        4096            /* bytes of one string */
#define PPROF_MAX_STRBYTES      (64u << 20)     /* bytes of all strings */
#define PPROF_MAX_MAPPINGS      4096
#define PPROF_MAX_FUNCTIONS     (1u << 18)
#define PPROF_MAX_LOCATIONS     (1u << 18)
#define PPROF_MAX_LINES         32              /* lines of one location (inline depth) */
#define PPROF_MAX_DEPTH         256             /* locations of one sample */
#define PPROF_MAX_ALL_LINES     (1u << 20)      /* lines of all locations */
#define PPROF_MAX_SAMPLES       (1u << 17)
#define PPROF_MAX_ALL_FRAMES    (1u << 22)      /* location ids of all samples */

/* Returns an empty profile whose string table holds "" at index 0;
 * pprof_free() it. NULL when out of memory. */
struct pprof *pprof_new(void);

/* Frees p and everything it holds; p may be NULL. */
void pprof_free(struct pprof *p);

/* Index of s in the string table, adding it if new: >= 0, or a negative
 * errno. "" is always 0. */
int pprof_string(struct pprof *p, const char *s);

/*
 * Declares the next sample type (type and unit, e.g. "inuse_space",
 * "bytes"); every sample then carries one value per type, in the order
 * declared. Go's heap profiles have alloc_objects/count,
 * alloc_space/bytes, inuse_objects/count and inuse_space/bytes. Only
 * before the first sample (-EINVAL after). Returns 0 or a negative errno.
 */
int pprof_sample_type(struct pprof *p, const char *type, const char *unit);

/* The events between samples (e.g. "space", "bytes") and their mean
 * number (the sampling rate in bytes). Returns 0 or a negative errno. */
int pprof_period(struct pprof *p, const char *type, const char *unit, int64_t period);

/* When the profile was taken, in ns since the epoch, and over how long
 * (0 when a duration makes no sense). */
void pprof_time(struct pprof *p, int64_t time_nanos, int64_t duration_nanos);

/* A mapped file, as in /proc/PID/maps. flags say how far its locations
 * are symbolized (pprof leaves those alone). filename and build_id may
 * be NULL or "" when unknown. */
#define PPROF_HAS_FUNCTIONS     0x1u
#define PPROF_HAS_FILENAMES     0x2u
#define PPROF_HAS_LINE_NUMBERS  0x4u
#define PPROF_HAS_INLINE_FRAMES 0x8u
struct pprof_map {
	uint64_t start, limit;          /* [start, limit) in the process */
	uint64_t offset;                /* file offset of start */
	const char *filename;
	const char *build_id;           /* hex, e.g. the GNU build-id */
	unsigned flags;                 /* PPROF_HAS_* */
};

/* Adds a mapping (never merged with another). Returns its id (>= 1) or a
 * negative errno. The first mapping added should be the main binary. */
int pprof_mapping(struct pprof *p, const struct pprof_map *m);

/* A function: name (required), system_name (e.g. mangled; NULL or ""
 * when unknown), source file (NULL or "") and first line (0 when
 * unknown). Returns its id (>= 1, the same for the same four) or a
 * negative errno. */
int pprof_function(struct pprof *p, const char *name, const char *system_name,
    const char *filename, int64_t start_line);

/* One source line of a location: a function id and a line (0 when
 * unknown). */
struct pprof_line {
	int function_id;
	int64_t line;
};

/*
 * A code address: mapping_id (0 for none), the address, and its source
 * lines, innermost inlined callee first and the real function last; n
 * may be 0 for an address not symbolized. Returns its id (>= 1, the same
 * for the same mapping, address and lines) or a negative errno.
 */
int pprof_location(struct pprof *p, int mapping_id, uint64_t address,
    const struct pprof_line *lines, size_t n);

/* A sample: n location ids, leaf first (n may be 0), and one value per
 * declared sample type. Samples are kept as given, never merged. Returns
 * 0 or a negative errno. */
int pprof_sample(struct pprof *p, const int *location_ids, size_t n, const int64_t *values);

/*
 * Serializes p as profile.proto into a new buffer, gzipped when gzip is
 * nonzero (what pprof tools expect over HTTP and on disk). On success
 * *out is the caller's to free() and *len its length; returns 0, or
 * -ENOMEM, or -EIO when zlib fails. p is unchanged and may grow further.
 */
int pprof_encode(const struct pprof *p, int gzip, unsigned char **out, size_t *len);

#endif
