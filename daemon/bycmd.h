/* bycmd.h: series = command: a snapshot's processes summed into one row per command. */
#ifndef MEMPROBE_BYCMD_H
#define MEMPROBE_BYCMD_H

#include <stddef.h>
#include <stdint.h>

#include "ptab.h"

/*
 * One row per comm, sorted by comm. Counters (of live, exited and retired
 * processes) sum; of live processes only, sizes sum, peaks and limits take
 * the largest and program gauges of one name sum. A row's comm and gauge
 * names point into the snapshot, which must outlive the rows.
 */
struct bycmd {
	size_t n;
	const struct ptab_view *v;              /* the summed rows */
	const unsigned *nlive, *nexited;        /* processes of each row */
	void *mem;                              /* owned: everything above */
};

/* Sums snap into *out. Returns 0 (free with bycmd_free()) or -ENOMEM. */
int bycmd_build(const struct ptab_snap *snap, struct bycmd *out);

void bycmd_free(struct bycmd *bc);

/* Adds the counter fields of s (sections in `have`) into d: the one rule
 * for what of a sample sums across processes. */
void bycmd_add_counters(struct proto_sample *d, const struct proto_sample *s, uint32_t have);

#endif
