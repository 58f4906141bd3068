/* expo.h: the Prometheus exposition of a process-table snapshot and the daemon's own figures. */
#ifndef MEMPROBE_EXPO_H
#define MEMPROBE_EXPO_H

#include "buf.h"
#include "ingest.h"
#include "procfs.h"
#include "ptab.h"

/* Output formats: the Prometheus text format and OpenMetrics 1.0 (TYPE,
 * UNIT, HELP; counters declared without _total; "# EOF" at the end). */
enum expo_format {
	EXPO_TEXT_004,
	EXPO_OPENMETRICS,
};

#define EXPO_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define EXPO_CONTENT_TYPE_OM   "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define EXPO_CONTENT_TYPE_OM001 "application/openmetrics-text; version=0.0.1; charset=utf-8"

/* The daemon's own figures, gathered by the caller for one scrape. */
/* One memprobe_heap_site_inuse_bytes series. */
struct expo_site {
	int pid;
	const char *comm;
	const char *site;               /* a leaf function, "[other]", or 0x.. */
	int64_t inuse_bytes;
};

struct expo_daemon {
	struct ingest_stats ingest;
	double scrape_duration_seconds;         /* of the previous scrape */
	double procfs_seconds;                  /* of the latest /proc refresh */
	unsigned max_connections;               /* agent connection limit */
	int by_command;                         /* series = command: sums per comm */
	const struct procfs_self *self;         /* NULL leaves process_* out */
	uint64_t profile_bytes, profiles_kept;  /* ptab_profile_memory() */
	size_t nsites;                          /* site series; none: the family is left out */
	const struct expo_site *sites;
};

/*
 * Appends the whole exposition of `snap` and `d` to b in format `fmt`: every
 * family once with HELP and TYPE (and UNIT in OpenMetrics), its lines
 * together, per-process series labelled pid and comm (or, with
 * d->by_command, summed per comm as bycmd.h says and labelled comm only),
 * no timestamps. Returns 0 or -ENOMEM (b is then incomplete; the caller
 * frees it).
 */
int expo_render(struct buf *b, enum expo_format fmt, const struct ptab_snap *snap,
    const struct expo_daemon *d);

/* Writes s at p with \\, " and newline escaped as a label value, without
 * quotes; p has room for 2 * strlen(s) bytes. Returns the end. */
char *expo_escape(char *p, const char *s);

/* Writes v the way Prometheus parses it back exactly: the shortest %.*g
 * that round-trips, "NaN", "+Inf", "-Inf". out holds 32 bytes. */
void expo_format_double(double v, char *out);

#endif
